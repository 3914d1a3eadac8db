"""A gymnax-style env seen as rows of agents, so that PPO never cares about learner axes.

Market tasks have L learners per env: observations float32 ``[L, F]``, actions ``[L, A]``,
rewards ``[L]``, a shared ``done`` ``[]`` and metrics ``[L]``. The trainer works on N = E * L
*rows* (row ``e * L + l`` is learner l of env e): observations ``[N, D]``, raw actions
``[N, A]``, rewards, dones and metrics ``[N]``; with one policy per learner,
:func:`to_learners` groups the rows by learner. An env whose observation space is 1-D (e.g.
the tests' bandit) is one agent per env (L = 1, no axis).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.train import distributions as dist


@dataclass(frozen=True)
class AgentLayout:
    """How one env maps to rows.

    Attributes:
        learners: L rows per env.
        has_axis: whether the env's arrays carry the learner axis (obs ``[L, F]``).
        obs_dim: D, features per row.
        spec: the action space of one row.
    """

    learners: int
    has_axis: bool
    obs_dim: int
    spec: dist.ActionSpec


def _row_space(space, learners: int):
    """The action space of one learner from a space over ``[L, ...]``."""
    if hasattr(space, "nvec"):
        nvec = np.asarray(space.nvec)
        if not (nvec == nvec[:1]).all():
            raise ValueError(f"learners with different action spaces are not supported: {nvec}")
        return dist.ActionSpec("multidiscrete", tuple(nvec.shape[1:]), tuple(map(int, nvec[0])))
    spec = dist.action_spec(space)
    if spec.kind != "box" or spec.shape[:1] != (learners,):
        raise ValueError(f"action space {space!r} has no leading learner axis of {learners}")
    row = spec.shape[1:]
    size = int(np.prod(row, dtype=np.int64))
    return dist.ActionSpec("box", row, (), spec.low[:size], spec.high[:size])


def agent_layout(env, env_params) -> AgentLayout:
    """Read the learner axis off the spaces: a 2-D observation space is ``[L, F]``."""
    obs_shape = tuple(env.observation_space(env_params).shape)
    space = env.action_space(env_params)
    if len(obs_shape) == 2:
        learners = obs_shape[0]
        return AgentLayout(learners, True, obs_shape[1], _row_space(space, learners))
    obs_dim = int(np.prod(obs_shape, dtype=np.int64))
    return AgentLayout(1, False, obs_dim, dist.action_spec(space))


def _rows(x: jax.Array, n_env: int, layout: AgentLayout) -> jax.Array:
    """``[E, L, ...]`` (or ``[E, ...]`` broadcast over learners) -> ``[E * L, ...]``."""
    if layout.has_axis and (x.ndim < 2 or x.shape[1] != layout.learners):
        x = jnp.broadcast_to(x[:, None], (n_env, layout.learners) + x.shape[1:])
    return x.reshape((n_env * layout.learners,) + x.shape[1 + layout.has_axis :])


def obs_rows(obs: jax.Array, layout: AgentLayout) -> jax.Array:
    """Observations of E envs -> float32 ``[E * L, D]``."""
    return obs.reshape(obs.shape[0] * layout.learners, layout.obs_dim).astype(jnp.float32)


def env_actions(raw: jax.Array, layout: AgentLayout) -> jax.Array:
    """Raw actions of rows ``[E * L, A]`` -> the env actions of E envs."""
    action = dist.to_env(layout.spec, raw)
    if not layout.has_axis:
        return action
    return action.reshape((-1, layout.learners) + action.shape[1:])


def to_learners(x: jax.Array, learners: int) -> jax.Array:
    """Rows ``[M * L, ...]`` (learner innermost) -> ``[L, M, ...]``, one slab per learner."""
    return jnp.swapaxes(x.reshape((-1, learners) + x.shape[1:]), 0, 1)


def from_learners(x: jax.Array) -> jax.Array:
    """``[L, M, ...]`` -> rows ``[M * L, ...]`` (the inverse of :func:`to_learners`)."""
    return jnp.swapaxes(x, 0, 1).reshape((-1,) + x.shape[2:])


def make_vec_env(env, env_params, layout: AgentLayout):
    """``(reset(keys[E]) -> (obs [N, D], state), step(keys, state, raw [N, A]) ->
    (obs [N, D], state, reward [N], done [N], info {k: [N]}))`` over E = len(keys) envs."""
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def reset(keys):
        obs, state = v_reset(keys, env_params)
        return obs_rows(obs, layout), state

    def step(keys, state, raw):
        n_env = keys.shape[0]
        obs, state, reward, done, info = v_step(keys, state, env_actions(raw, layout), env_params)
        rows = {k: _rows(jnp.asarray(v), n_env, layout) for k, v in info.items()}
        return (
            obs_rows(obs, layout),
            state,
            _rows(reward, n_env, layout).astype(jnp.float32),
            _rows(done, n_env, layout),
            rows,
        )

    return reset, step
