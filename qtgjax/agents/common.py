"""Helpers that families share: cheap random fields, position limits, grid prices."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.market.money import MAX_PRICE_TICKS


def random_bits(key: jax.Array, shape) -> jnp.ndarray:
    """One uint32 of random bits per element: several small random fields from one draw."""
    return jax.random.bits(key, shape, jnp.uint32)


def bit_field(bits: jnp.ndarray, shift: int, width: int) -> jnp.ndarray:
    """int32 value of ``width`` bits of ``bits`` starting at bit ``shift``."""
    return ((bits >> shift) & ((1 << width) - 1)).astype(jnp.int32)


def bernoulli_from_bits(bits: jnp.ndarray, prob, shift: int = 0) -> jnp.ndarray:
    """True with probability ``prob`` (resolution 2**-16) from 16 bits at ``shift``."""
    threshold = jnp.round(jnp.asarray(prob, jnp.float32) * 65536.0).astype(jnp.int32)
    return bit_field(bits, shift, 16) < threshold


def scaled_field(bits: jnp.ndarray, shift: int, width: int, low, high) -> jnp.ndarray:
    """Integer roughly uniform on [low, high] from ``width`` random bits (int32)."""
    raw = bit_field(bits, shift, width)
    span = jnp.asarray(high, jnp.int32) - jnp.asarray(low, jnp.int32) + 1
    return low + ((raw * span) >> width)


def limit_to_position(qty, is_buy, position, max_position) -> jnp.ndarray:
    """Cut ``qty`` so that a full fill keeps |position| <= max_position (per slot)."""
    room = jnp.where(is_buy, max_position - position, max_position + position)
    return jnp.clip(qty, 0, jnp.maximum(room, 0))


def clip_price(price) -> jnp.ndarray:
    """int32 price in the representable range [1, MAX_PRICE_TICKS]."""
    return jnp.clip(price, 1, MAX_PRICE_TICKS).astype(jnp.int32)
