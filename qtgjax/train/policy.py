"""A trained PPO policy as a jittable function of one env's observation.

:func:`act` is pure (parameters in, action out) so that evaluation can ``vmap`` it over
episodes and over trained seeds; :class:`Policy` bundles one seed's parameters with what is
needed to use them, and is what :func:`qtgjax.train.load_policy` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax

from qtgjax.train import distributions as dist
from qtgjax.train.adapter import AgentLayout, env_actions
from qtgjax.train.networks import apply_actor_critic, log_std_of, normalize_obs
from qtgjax.train.types import ObsStats, Params


def _choose(spec, params, key, out, deterministic: bool) -> jax.Array:
    """Raw actions ``[R, A]`` from actor outputs ``[R, n_outputs]``: mode or a sample."""
    if deterministic:
        return dist.mode(spec, out)
    return dist.sample(spec, key, out, log_std_of(params))


def act(
    params: Params,
    obs_stats: ObsStats,
    key: jax.Array,
    obs: jax.Array,
    layout: AgentLayout,
    activation: str,
    normalize: bool,
    deterministic: bool,
    shared: bool = True,
) -> jax.Array:
    """The action of ONE env for its observation (``[L, F]`` or the env's own obs shape).

    Deterministic: the distribution's mode (Gaussian mean, clipped; categorical argmax).
    ``shared=False``: ``params`` carry a leading ``[L]`` axis, learner l acts with its own.
    """
    rows = obs.reshape(layout.learners, layout.obs_dim).astype("float32")
    rows = normalize_obs(obs_stats, rows, normalize)

    def one(p, x, k):
        out, _ = apply_actor_critic(p, x, activation)
        return _choose(layout.spec, p, k, out, deterministic)

    if shared:
        raw = one(params, rows, key)
    else:
        keys = jax.random.split(key, layout.learners)
        raw = jax.vmap(one)(params, rows[:, None], keys)[:, 0]
    return env_actions(raw, layout)[0]


@dataclass(frozen=True)
class Policy:
    """One trained seed's policy; ``policy(key, obs)`` acts like a baseline does.

    Attributes:
        params: actor-critic parameters (see :mod:`qtgjax.train.networks`); with a leading
            ``[L]`` axis when ``shared`` is False (one policy per learner).
        obs_stats: observation normalisation moments.
        layout: learners per env, observation width and action space of one learner.
        activation: hidden activation name.
        normalize: whether observations are standardised with ``obs_stats``.
        task: the task it was trained on; env_overrides: the ``qtgjax.env.make`` overrides.
        shared: whether one set of ``params`` serves every learner.
    """

    params: Params
    obs_stats: ObsStats
    layout: AgentLayout
    activation: str
    normalize: bool
    task: str = ""
    env_overrides: tuple = ()
    shared: bool = True

    def act(self, key: jax.Array, obs: jax.Array, deterministic: bool = True) -> jax.Array:
        """The env action for one env's observation (jittable; vmap it over envs)."""
        return act(
            self.params,
            self.obs_stats,
            key,
            obs,
            self.layout,
            self.activation,
            self.normalize,
            deterministic,
            self.shared,
        )

    def __call__(self, key, obs, state=None, params=None) -> jax.Array:
        """Baseline signature ``policy(key, obs, state, params) -> action`` (mode action)."""
        return self.act(key, obs)
