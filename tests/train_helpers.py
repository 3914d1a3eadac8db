"""A tiny gymnax-style env on which PPO provably learns, independent of the market.

``ContextBandit``: each step shows a random context ``c`` (one-hot over ``n`` classes) and
pays 1 for the action that matches it (Discrete), or ``1 - |a - t(c)|`` for a Box action near
the context's target ``t(c) = -1 + 2c/(n-1)``. Episodes last ``horizon`` steps; auto-reset.
A uniformly random Discrete policy earns ``horizon / n`` per episode; the optimum is ``horizon``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Box:
    low: float
    high: float
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Discrete:
    n: int

    @property
    def shape(self) -> tuple[int, ...]:
        return ()


class BanditParams(NamedTuple):
    max_steps_in_episode: int = 8


class BanditState(NamedTuple):
    context: jax.Array
    t: jax.Array


@dataclass(frozen=True)
class ContextBandit:
    n: int = 4
    continuous: bool = False

    def default_params(self) -> BanditParams:
        return BanditParams()

    def observation_space(self, params) -> Box:
        return Box(0.0, 1.0, (self.n,))

    def action_space(self, params):
        return Box(-2.0, 2.0, (1,)) if self.continuous else Discrete(self.n)

    def _obs(self, state: BanditState) -> jax.Array:
        return jax.nn.one_hot(state.context, self.n, dtype=jnp.float32)

    def reset(self, key, params):
        state = BanditState(jax.random.randint(key, (), 0, self.n), jnp.int32(0))
        return self._obs(state), state

    def _reward(self, state: BanditState, action) -> jax.Array:
        if self.continuous:
            target = -1.0 + 2.0 * state.context / (self.n - 1)
            return 1.0 - jnp.abs(action[0] - target)
        return (action == state.context).astype(jnp.float32)

    def step(self, key, state: BanditState, action, params):
        reward = self._reward(state, action)
        t = state.t + 1
        done = t >= params.max_steps_in_episode
        context = jax.random.randint(key, (), 0, self.n)
        nxt = BanditState(context, jnp.where(done, 0, t))
        info = {"hit": reward > 0.5, "context": state.context.astype(jnp.float32)}
        return self._obs(nxt), nxt, reward, done, info


def random_policy(key, obs, state, params):
    """The uniform random baseline of the Discrete bandit."""
    return jax.random.randint(key, (), 0, obs.shape[-1])


def oracle_policy(key, obs, state, params):
    """The optimal baseline of the Discrete bandit."""
    return state.context


@dataclass(frozen=True)
class MultiDiscrete:
    nvec: tuple

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.nvec), len(self.nvec[0]))


@dataclass(frozen=True)
class RivalBandit:
    """Two learners see the SAME observation ``[2, n]`` (a shared random context, one-hot)
    but learner l is paid 1 per step for action l (MultiDiscrete ``[[2], [2]]``). One shared
    policy plays both learners alike and earns ``horizon / 2`` per learner and episode
    whatever it does; separate policies reach ``horizon``."""

    n: int = 4

    def default_params(self) -> BanditParams:
        return BanditParams()

    def observation_space(self, params) -> Box:
        return Box(0.0, 1.0, (2, self.n))

    def action_space(self, params) -> MultiDiscrete:
        return MultiDiscrete(((2,), (2,)))

    def _obs(self, state: BanditState) -> jax.Array:
        return jnp.tile(jax.nn.one_hot(state.context, self.n, dtype=jnp.float32), (2, 1))

    def reset(self, key, params):
        state = BanditState(jax.random.randint(key, (), 0, self.n), jnp.int32(0))
        return self._obs(state), state

    def step(self, key, state: BanditState, action, params):
        reward = (action[:, 0] == jnp.arange(2)).astype(jnp.float32)
        t = state.t + 1
        done = t >= params.max_steps_in_episode
        nxt = BanditState(jax.random.randint(key, (), 0, self.n), jnp.where(done, 0, t))
        return self._obs(nxt), nxt, reward, done, {"hit": reward > 0.5}
