"""Action distributions for Box (diagonal Gaussian) and (Multi)Discrete (categorical) spaces.

Plain functions of the actor's output; every function takes arrays with any leading batch
shape ``[...]``. A *raw* action is what the distribution samples (float32 ``[..., A]`` for a
Box, int32 ``[..., m]`` for m categorical components); :func:`to_env` turns it into what
``env.step`` takes (clipped to the Box, reshaped to the space's shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class ActionSpec:
    """Static description of an action space (hashable: usable as a jit constant).

    Attributes:
        kind: ``box``, ``discrete`` or ``multidiscrete``.
        shape: the action shape the env takes (``()`` for Discrete).
        nvec: categories per component (Discrete: ``(n,)``; Box: ``()``).
        low: Box lower bounds, flattened (``()`` otherwise).
        high: Box upper bounds, flattened.
    """

    kind: str
    shape: tuple[int, ...]
    nvec: tuple[int, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        """A, Box dimensions, or m, categorical components."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.kind == "box" else len(self.nvec)

    @property
    def n_outputs(self) -> int:
        """Width of the actor's output layer (means, or concatenated logits)."""
        return self.size if self.kind == "box" else int(sum(self.nvec))

    def to_dict(self) -> dict:
        return {k: list(getattr(self, k)) for k in ("shape", "nvec", "low", "high")} | {
            "kind": self.kind
        }

    @classmethod
    def from_dict(cls, d: dict) -> ActionSpec:
        return cls(d["kind"], *(tuple(d[k]) for k in ("shape", "nvec", "low", "high")))


def action_spec(space) -> ActionSpec:
    """An :class:`ActionSpec` from a gymnax-style Box / Discrete / MultiDiscrete space."""
    if hasattr(space, "low"):
        shape = tuple(int(s) for s in space.shape)
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape).ravel()
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape).ravel()
        return ActionSpec("box", shape, (), tuple(map(float, low)), tuple(map(float, high)))
    if hasattr(space, "nvec"):
        nvec = np.asarray(space.nvec, np.int64)
        return ActionSpec("multidiscrete", tuple(nvec.shape), tuple(int(n) for n in nvec.ravel()))
    if hasattr(space, "n"):
        return ActionSpec("discrete", (), (int(space.n),))
    raise TypeError(f"unsupported action space {space!r} (Box, Discrete or MultiDiscrete)")


def _split_logits(spec: ActionSpec, logits: jax.Array) -> list[jax.Array]:
    edges = np.cumsum(spec.nvec)[:-1].tolist()
    return jnp.split(logits, edges, axis=-1)


def sample(spec: ActionSpec, key: jax.Array, out: jax.Array, log_std: jax.Array) -> jax.Array:
    """Draw a raw action; ``out``: actor output ``[..., n_outputs]``; ``log_std``: ``[A]``."""
    if spec.kind == "box":
        return out + jnp.exp(log_std) * jax.random.normal(key, out.shape, out.dtype)
    keys = jax.random.split(key, len(spec.nvec))
    parts = [
        jax.random.categorical(k, lg) for k, lg in zip(keys, _split_logits(spec, out), strict=True)
    ]
    return jnp.stack(parts, axis=-1).astype(jnp.int32)


def mode(spec: ActionSpec, out: jax.Array) -> jax.Array:
    """The most likely raw action (Gaussian mean, categorical argmax)."""
    if spec.kind == "box":
        return out
    parts = [jnp.argmax(lg, axis=-1) for lg in _split_logits(spec, out)]
    return jnp.stack(parts, axis=-1).astype(jnp.int32)


def log_prob(spec: ActionSpec, out: jax.Array, log_std: jax.Array, raw: jax.Array) -> jax.Array:
    """Log density / mass of a raw action, summed over components: float32 ``[...]``."""
    if spec.kind == "box":
        z = (raw - out) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z * z - log_std - 0.5 * LOG_2PI, axis=-1)
    total = 0.0
    for i, lg in enumerate(_split_logits(spec, out)):
        logp = jax.nn.log_softmax(lg, axis=-1)
        total = total + jnp.take_along_axis(logp, raw[..., i : i + 1], axis=-1)[..., 0]
    return total


def entropy(spec: ActionSpec, out: jax.Array, log_std: jax.Array) -> jax.Array:
    """Entropy summed over components: float32 ``[...]``."""
    if spec.kind == "box":
        ent = jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI))
        return jnp.broadcast_to(ent, out.shape[:-1])
    total = 0.0
    for lg in _split_logits(spec, out):
        logp = jax.nn.log_softmax(lg, axis=-1)
        total = total - jnp.sum(jnp.exp(logp) * logp, axis=-1)
    return total


def to_env(spec: ActionSpec, raw: jax.Array) -> jax.Array:
    """The env's action for a raw action ``[..., A or m]``: clipped Box / int categories."""
    batch = raw.shape[:-1]
    if spec.kind == "box":
        low = jnp.asarray(spec.low, jnp.float32)
        high = jnp.asarray(spec.high, jnp.float32)
        return jnp.clip(raw, low, high).reshape(batch + spec.shape)
    if spec.kind == "discrete":
        return raw[..., 0]
    return raw.reshape(batch + spec.shape)
