"""Observation and action spaces (gymnax-like; jittable ``sample`` and ``contains``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class Discrete:
    """Integers 0..n-1 (int32[])."""

    def __init__(self, n: int):
        self.n = int(n)
        self.shape: tuple[int, ...] = ()
        self.dtype = jnp.int32

    def sample(self, key: jax.Array) -> jnp.ndarray:
        return jax.random.randint(key, self.shape, 0, self.n, self.dtype)

    def contains(self, x) -> jnp.ndarray:
        x = jnp.asarray(x)
        return (x.shape == self.shape) & jnp.all((x >= 0) & (x < self.n))

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


class MultiDiscrete:
    """Integers 0..nvec[i]-1 per element (int32[nvec.shape]); ``nvec`` may be 2-D
    ([n_learners, n_choices])."""

    def __init__(self, nvec):
        self.nvec = np.asarray(nvec, np.int32)
        self.shape = tuple(self.nvec.shape)
        self.dtype = jnp.int32

    def sample(self, key: jax.Array) -> jnp.ndarray:
        u = jax.random.uniform(key, self.shape)
        return jnp.minimum(jnp.floor(u * self.nvec), self.nvec - 1).astype(self.dtype)

    def contains(self, x) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.bool_(False)
        return jnp.all((x >= 0) & (x < self.nvec))

    def __repr__(self) -> str:
        return f"MultiDiscrete({self.nvec.tolist()})"


class Box:
    """Real vectors in [low, high] (float32 by default)."""

    def __init__(self, low, high, shape: tuple[int, ...], dtype=jnp.float32):
        self.low, self.high = low, high
        self.shape = tuple(shape)
        self.dtype = dtype

    def sample(self, key: jax.Array) -> jnp.ndarray:
        low = jnp.broadcast_to(jnp.asarray(self.low, self.dtype), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, self.dtype), self.shape)
        bounded = jnp.isfinite(low) & jnp.isfinite(high)
        u = jax.random.uniform(key, self.shape, self.dtype)
        normal = jax.random.normal(key, self.shape, self.dtype)
        return jnp.where(bounded, low + u * (high - low), jnp.clip(normal, low, high))

    def contains(self, x) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.bool_(False)
        return jnp.all((x >= self.low) & (x <= self.high))

    def __repr__(self) -> str:
        return f"Box({self.low}, {self.high}, {self.shape}, {jnp.dtype(self.dtype).name})"
