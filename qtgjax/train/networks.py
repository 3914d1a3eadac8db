"""Plain-JAX actor-critic: two MLPs (actor, critic) as nested dicts of arrays.

Parameters are ``{"actor": {"layer0": {"w", "b"}, ..., "out": {...}}, "critic": {...}}`` plus
``"log_std"`` ``[A]`` for Box actions; nested string keys, so they save as flat ``a/b/c`` names.
Orthogonal initialisation as in PPO's reference implementations (gain sqrt(2) in hidden
layers, 0.01 on the policy output, 1 on the value output).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from qtgjax.train.distributions import ActionSpec
from qtgjax.train.types import ObsStats, Params

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def _dense(key: jax.Array, n_in: int, n_out: int, gain: float) -> dict:
    w = jax.nn.initializers.orthogonal(gain)(key, (n_in, n_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((n_out,), jnp.float32)}


def init_mlp(key: jax.Array, n_in: int, hidden: tuple[int, ...], n_out: int, gain: float) -> dict:
    """An MLP ``n_in -> hidden... -> n_out``; the last layer initialised with ``gain``."""
    keys = jax.random.split(key, len(hidden) + 1)
    sizes = (n_in, *hidden)
    layers = {
        f"layer{i}": _dense(keys[i], sizes[i], sizes[i + 1], math.sqrt(2.0))
        for i in range(len(hidden))
    }
    layers["out"] = _dense(keys[-1], sizes[-1], n_out, gain)
    return layers


def mlp(layers: dict, x: jax.Array, activation: str) -> jax.Array:
    """Apply an :func:`init_mlp` network to ``x`` ``[..., n_in]`` -> ``[..., n_out]``."""
    act = ACTIVATIONS[activation]
    n_hidden = len(layers) - 1
    for i in range(n_hidden):
        x = act(x @ layers[f"layer{i}"]["w"] + layers[f"layer{i}"]["b"])
    return x @ layers["out"]["w"] + layers["out"]["b"]


def init_actor_critic(
    key: jax.Array,
    obs_dim: int,
    spec: ActionSpec,
    hidden: tuple[int, ...],
    init_log_std: float,
) -> Params:
    """Fresh actor-critic parameters for observations ``[obs_dim]`` and actions ``spec``."""
    k_actor, k_critic = jax.random.split(key)
    params = {
        "actor": init_mlp(k_actor, obs_dim, hidden, spec.n_outputs, 0.01),
        "critic": init_mlp(k_critic, obs_dim, hidden, 1, 1.0),
    }
    if spec.kind == "box":
        params["log_std"] = jnp.full((spec.size,), init_log_std, jnp.float32)
    return params


def log_std_of(params: Params) -> jax.Array:
    """The Gaussian head's ``log_std`` ``[A]`` (a dummy 0 for categorical heads)."""
    return params.get("log_std", jnp.zeros((0,), jnp.float32))


def apply_actor_critic(
    params: Params, obs: jax.Array, activation: str
) -> tuple[jax.Array, jax.Array]:
    """Normalised ``obs`` ``[..., obs_dim]`` -> (actor output ``[..., n_outputs]``,
    value ``[...]``)."""
    out = mlp(params["actor"], obs, activation)
    value = mlp(params["critic"], obs, activation)[..., 0]
    return out, value


def init_obs_stats(obs_dim: int) -> ObsStats:
    return ObsStats(
        jnp.zeros((obs_dim,), jnp.float32), jnp.ones((obs_dim,), jnp.float32), jnp.float32(1e-4)
    )


def update_obs_stats(stats: ObsStats, batch: jax.Array) -> ObsStats:
    """Merge a batch ``[N, obs_dim]`` into the running moments (parallel variance formula)."""
    n = jnp.float32(batch.shape[0])
    b_mean = jnp.mean(batch, axis=0)
    b_var = jnp.var(batch, axis=0)
    delta = b_mean - stats.mean
    total = stats.count + n
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + b_var * n + delta**2 * stats.count * n / total
    return ObsStats(mean, m2 / total, total)


def normalize_obs(stats: ObsStats, obs: jax.Array, enabled: bool) -> jax.Array:
    """Standardised and clipped to [-10, 10] when ``enabled``; ``obs`` unchanged otherwise."""
    if not enabled:
        return obs
    return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -10.0, 10.0)
