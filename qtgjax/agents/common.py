"""Helpers that families share: cheap random fields, position limits, grid prices."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from qtgjax.market.money import MAX_PRICE_TICKS

_GOLDEN = 0x9E3779B9  # 2**32 / golden ratio: a Weyl sequence over the element index
_MIX_1, _MIX_2 = 0x7FEB352D, 0x846CA68B  # lowbias32 multipliers (C. Wellons' hash prospector)
_SALT = 0x5851F42D  # keeps the all-zero key off the hash's fixed point at 0


def random_bits(key: jax.Array, shape) -> jnp.ndarray:
    """One uint32 of random bits per element: several small random fields from one draw.

    A counter-based generator: the key's first two 32-bit words seed two rounds of the
    ``lowbias32`` integer hash of the element's index (about a dozen vectorised integer ops
    per element, where ``jax.random.bits``' threefry runs 20 rounds in a loop XLA cannot
    fuse). Same key, same bits; the engine gives every family a fresh key every tick.
    """
    words = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    words = words.reshape(-1).astype(jnp.uint32)
    size = math.prod(shape)
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    x = _lowbias32(index * jnp.uint32(_GOLDEN) + (words[0] ^ jnp.uint32(_SALT)))
    return _lowbias32(x ^ words[1])


def _lowbias32(x: jnp.ndarray) -> jnp.ndarray:
    """A bijective 32-bit integer hash with low bias (xorshift-multiply, two rounds)."""
    x = (x ^ (x >> 16)) * jnp.uint32(_MIX_1)
    x = (x ^ (x >> 15)) * jnp.uint32(_MIX_2)
    return x ^ (x >> 16)


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


def order_expired(orders, ttl) -> jnp.ndarray:
    """The order-expiry rule, written once (every family with a ``ttl`` uses it through
    :meth:`qtgjax.agents.types.Family.expired`, and ``fills.parquet`` reports its
    cancellations as ``expired``): bool, same shape as ``orders.qty``, a live order (qty > 0)
    that has rested ``ttl`` ticks or more; ``ttl`` 0 never expires."""
    ttl = jnp.asarray(ttl, jnp.int32)
    return (ttl > 0) & (orders.qty > 0) & (orders.age >= ttl)


def clip_price(price) -> jnp.ndarray:
    """int32 price in the representable range [1, MAX_PRICE_TICKS]."""
    return jnp.clip(price, 1, MAX_PRICE_TICKS).astype(jnp.int32)
