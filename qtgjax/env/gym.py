"""Gymnasium wrappers (numpy in, numpy out) for users of other RL libraries.

:class:`MarketVectorEnv` steps ``num_envs`` environments with one jitted, vmapped call
(same-step auto-reset: a finished env's returned obs is the first obs of its next episode;
its last obs is in ``infos["final_obs"]``). :class:`MarketGymEnv` is one env without
auto-reset (for ``gymnasium.utils.env_checker.check_env`` and single-env code). Both need
``n_learners`` = 1. Episodes end by ``terminated`` (the task's done); ``truncated`` is
always False (the horizon is part of the task, observed as ``time_left``).
"""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector.vector_env import AutoresetMode

from qtgjax.env import spaces
from qtgjax.env.registry import make


def to_gymnasium(space) -> gymnasium.spaces.Space:
    """The gymnasium space equal to a :mod:`qtgjax.env.spaces` space."""
    if isinstance(space, spaces.Box):
        return gymnasium.spaces.Box(space.low, space.high, space.shape, np.float32)
    if isinstance(space, spaces.MultiDiscrete):
        return gymnasium.spaces.MultiDiscrete(np.asarray(space.nvec, np.int64))
    if isinstance(space, spaces.Discrete):
        return gymnasium.spaces.Discrete(space.n)
    raise TypeError(f"no gymnasium equivalent of {space!r}")


def _env(name, env, params, make_kwargs):
    if env is None:
        env, default = make(name, **make_kwargs)
        params = default if params is None else params
    if env.n_learners != 1:
        raise ValueError("the gymnasium wrappers drive one learner per env (n_learners=1)")
    return env, params


def _numpy(tree):
    """Host copies (fresh arrays every call: gymnasium checks that data is not reused)."""
    return jax.tree.map(lambda x: np.array(x), tree)


class MarketGymEnv(gymnasium.Env):
    """One qtgjax env as a ``gymnasium.Env`` (reset after each episode yourself).

    Args:
        name: task name for :func:`qtgjax.env.make` (ignored when ``env`` is given).
        env, params: an existing env and its params.
        **make_kwargs: passed to :func:`qtgjax.env.make`.
    """

    metadata = {"render_modes": []}

    def __init__(self, name: str = "execution", env=None, params=None, **make_kwargs):
        self.env, self.params = _env(name, env, params, make_kwargs)
        self.observation_space = to_gymnasium(self.env.observation_space(self.params))
        self.action_space = to_gymnasium(self.env.action_space(self.params))
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self._transition)
        self._state = None

    def _transition(self, key, state, action, params):
        state, reward, done, info = self.env.transition(key, state, action, params)
        return self.env.get_obs(state, params), state, reward[0], done, info

    def _key(self):
        return jax.random.key(int(self.np_random.integers(2**31)))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, self._state = self._reset(self._key(), self.params)
        return np.array(obs), {}

    def step(self, action):
        out = self._step(self._key(), self._state, jnp.asarray(action), self.params)
        obs, self._state, reward, done, info = out
        return np.array(obs), float(reward), bool(done), False, _numpy(info)


class MarketVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` qtgjax envs stepped by one jitted ``vmap`` call.

    Args:
        name: task name for :func:`qtgjax.env.make` (ignored when ``env`` is given).
        num_envs: B environments (independent markets).
        env, params: an existing env and its params.
        batched_params: params carry a leading axis B (each env its own numbers); else
            every env shares them.
        **make_kwargs: passed to :func:`qtgjax.env.make`.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        name: str = "execution",
        num_envs: int = 8,
        env=None,
        params=None,
        batched_params: bool = False,
        **make_kwargs,
    ):
        self.env, params = _env(name, env, params, make_kwargs)
        self.num_envs = int(num_envs)
        self.params = params
        self._axes = 0 if batched_params else None
        self.single_observation_space = to_gymnasium(self.env.observation_space(params))
        self.single_action_space = to_gymnasium(self.env.action_space(params))
        self.observation_space = gymnasium.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gymnasium.vector.utils.batch_space(
            self.single_action_space, self.num_envs
        )
        self._reset = jax.jit(jax.vmap(self.env.reset, in_axes=(0, self._axes)))
        self._step = jax.jit(jax.vmap(self._step_one, in_axes=(0, 0, 0, self._axes)))
        self._rng = np.random.default_rng()
        self._state = None

    def _step_one(self, key, state, action, params):
        k_tick, k_task = jax.random.split(key)
        state, reward, done, info = self.env.transition(k_tick, state, action, params)
        final_obs = self.env.get_obs(state, params)
        fresh = self.env.reset_episode(k_task, state, params)
        state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, state)
        return self.env.get_obs(state, params), state, reward[0], done, info, final_obs

    def _keys(self):
        seeds = self._rng.integers(2**31, size=self.num_envs)
        return jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        obs, self._state = self._reset(self._keys(), self.params)
        return np.array(obs), {}

    def step(self, actions):
        actions = jnp.asarray(np.asarray(actions), jnp.int32)
        obs, self._state, reward, done, info, final = self._step(
            self._keys(), self._state, actions, self.params
        )
        done = np.array(done)
        infos = {k: np.array(v) for k, v in info.items()}
        infos.update({f"_{k}": np.ones(self.num_envs, bool) for k in info})
        infos["final_obs"], infos["_final_obs"] = np.array(final), done.copy()
        return np.array(obs), np.array(reward), done, np.zeros(self.num_envs, bool), infos
