"""Exact integer money without 64-bit JAX types.

Cash is counted in *cash units* of one price tick times one lot. A 100k-agent market's
accounts overflow int32, and JAX's 64-bit mode is a global switch that qtgjax must not flip
for its users, so cash is held as two int32 limbs::

    value = hi * 2**LIMB_BITS + lo,        0 <= lo < 2**LIMB_BITS

which is exact for |value| < 2**46 (about 7e13 cash units). Prices are bounded by
``MAX_PRICE_TICKS`` so that one fill's notional (lots < 2**31 times price < 2**15) splits into
limbs without any intermediate overflow. Conversion to Python/NumPy int64 happens only when
results leave the engine (:func:`to_int64`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

LIMB_BITS = 15
LIMB = 1 << LIMB_BITS
LIMB_MASK = LIMB - 1
MAX_PRICE_TICKS = LIMB - 1  # prices are ints in [1, 32767] ticks


class Money(NamedTuple):
    """Exact cash amounts of any shape.

    Attributes:
        hi: int32[...] high limb, in units of 2**15 cash units (signed).
        lo: int32[...] low limb, cash units in [0, 2**15).
    """

    hi: jnp.ndarray
    lo: jnp.ndarray


def zeros(shape) -> Money:
    return Money(jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.int32))


def from_int(value) -> Money:
    """Money from int32 cash units (any sign)."""
    value = jnp.asarray(value, jnp.int32)
    return Money(value >> LIMB_BITS, value & LIMB_MASK)


def from_int64(value) -> Money:
    """Money from a Python/NumPy integer (exact, for |value| < 2**46)."""
    value = np.asarray(value, np.int64)
    return Money(
        jnp.asarray(value >> LIMB_BITS, jnp.int32), jnp.asarray(value & LIMB_MASK, jnp.int32)
    )


def normalise(hi, lo) -> Money:
    """Carry ``lo`` (any int32, either sign) into ``hi`` so that 0 <= lo < 2**15."""
    return Money(hi + (lo >> LIMB_BITS), lo & LIMB_MASK)


def product(lots, price) -> Money:
    """Exact ``lots * price`` for int32 lots (|lots| < 2**31) and 0 <= price < 2**15."""
    lots = jnp.asarray(lots, jnp.int32)
    price = jnp.asarray(price, jnp.int32)
    sign = jnp.where(lots < 0, -1, 1)
    mag = jnp.abs(lots)
    hi = (mag >> LIMB_BITS) * price  # < 2**16 * 2**15
    lo = (mag & LIMB_MASK) * price  # < 2**30
    pos = normalise(hi, lo)
    return normalise(pos.hi * sign, pos.lo * sign)


def negate(m: Money) -> Money:
    return normalise(-m.hi, -m.lo)


def add(a: Money, b: Money) -> Money:
    return normalise(a.hi + b.hi, a.lo + b.lo)


def sub(a: Money, b: Money) -> Money:
    return add(a, negate(b))


def sum_small(m: Money, axis) -> Money:
    """Exact sum over ``axis`` when it has fewer than 2**16 entries and the total fits."""
    return normalise(jnp.sum(m.hi, axis=axis), jnp.sum(m.lo, axis=axis))


def sum_exact(m: Money, axis) -> Money:
    """Exact sum over ``axis`` with up to 2**23 entries (the low limb is summed in halves)."""
    hi = jnp.sum(m.hi, axis=axis)
    mid = jnp.sum(m.lo >> 8, axis=axis)  # each < 2**7
    low = jnp.sum(m.lo & 0xFF, axis=axis)  # each < 2**8
    return normalise(hi + (mid >> 7), ((mid & 0x7F) << 8) + low)


def where(cond, a: Money, b: Money) -> Money:
    return Money(jnp.where(cond, a.hi, b.hi), jnp.where(cond, a.lo, b.lo))


def to_float(m: Money) -> jnp.ndarray:
    """float32 approximation, for signals and observations only."""
    return m.hi.astype(jnp.float32) * float(LIMB) + m.lo.astype(jnp.float32)


def to_int64(m: Money) -> np.ndarray:
    """Exact NumPy int64 value (host side, for reporting and tests)."""
    return np.asarray(m.hi, np.int64) * LIMB + np.asarray(m.lo, np.int64)
