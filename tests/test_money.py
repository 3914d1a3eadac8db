"""Exact two-limb money: hypothesis tests against Python ints.

The JAX functions are jitted once (fixed shapes), so examples do not re-trace.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from qtgjax.market import money
from qtgjax.market.money import LIMB, LIMB_BITS, MAX_PRICE_TICKS, Money

LIMIT = 1 << 46  # Money is exact for -2**46 <= value < 2**46 (hi fits in int32)
SETTINGS = settings(max_examples=200, deadline=None)

values = st.one_of(
    st.integers(-LIMIT, LIMIT - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-3 * LIMB, 3 * LIMB),
    st.sampled_from([0, 1, -1, LIMB - 1, LIMB, -LIMB, -LIMB - 1, LIMIT - 1, -LIMIT, 1 - LIMIT]),
)
lots = st.one_of(
    st.integers(-(2**31) + 1, 2**31 - 1),
    st.integers(-(2 * LIMB), 2 * LIMB),
    st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31) + 1, LIMB, -LIMB, LIMB - 1, 1 - LIMB]),
)
prices = st.one_of(st.integers(0, LIMB - 1), st.sampled_from([0, 1, MAX_PRICE_TICKS]))


def value_of(m: Money) -> int:
    return int(money.to_int64(m))


def normalised(m: Money) -> bool:
    lo = np.asarray(m.lo)
    return bool(np.all((lo >= 0) & (lo < LIMB)))


def mk(v: int) -> Money:
    return money.from_int64(v)


_product = jax.jit(money.product)
_add = jax.jit(money.add)
_sub = jax.jit(money.sub)
_negate = jax.jit(money.negate)
_from_int = jax.jit(money.from_int)


@SETTINGS
@given(values)
def test_int64_round_trip(v):
    m = mk(v)
    assert m.hi.dtype == jnp.int32 and m.lo.dtype == jnp.int32
    assert normalised(m)
    assert value_of(m) == v
    assert int(m.hi) == v >> LIMB_BITS and int(m.lo) == v % LIMB


@SETTINGS
@given(st.lists(values, min_size=0, max_size=20))
def test_int64_round_trip_arrays(vs):
    arr = np.array(vs, np.int64)
    m = money.from_int64(arr)
    assert money.to_int64(m).tolist() == vs
    assert normalised(m)


@SETTINGS
@given(st.integers(-(2**31), 2**31 - 1))
def test_from_int32(v):
    m = _from_int(np.int32(v))
    assert normalised(m)
    assert value_of(m) == v


@SETTINGS
@given(lots, prices)
@example(2**31 - 1, LIMB - 1)
@example(-(2**31) + 1, LIMB - 1)
@example(-1, 1)
@example(-LIMB, 1)
@example(0, 0)
def test_product_exact(q, p):
    m = _product(np.int32(q), np.int32(p))
    assert normalised(m)
    assert value_of(m) == q * p


def test_product_exact_bulk():
    rng = np.random.default_rng(1)
    q = rng.integers(-(2**31) + 1, 2**31, 100_000, dtype=np.int64)
    p = rng.integers(0, LIMB, 100_000, dtype=np.int64)
    m = _product(q.astype(np.int32), p.astype(np.int32))
    assert normalised(m)
    np.testing.assert_array_equal(money.to_int64(m), q * p)


@SETTINGS
@given(values, values)
@example(LIMIT - 1, -(LIMIT - 1))
@example(-LIMIT, LIMIT - 1)
@example(LIMIT // 2, LIMIT // 2 - 1)  # the sum's hi limb is 2**31 - 1
@example(-(2**45) + 2**14, -(2**45) - 2**14)  # hi limbs sum to -2**31 - 1 (wraps), carry 1
def test_add_exact(a, b):
    total = a + b
    if not -LIMIT <= total < LIMIT:
        # keep the example: replace b by -a (clamped), so that the sum is 0 or -1
        b = max(-LIMIT, min(LIMIT - 1, -a))
        total = a + b
    m = _add(mk(a), mk(b))
    assert normalised(m)
    assert value_of(m) == total


@SETTINGS
@given(values, values)
@example(0, -(LIMIT - 1))
@example(-1, LIMIT - 1)
@example(LIMIT - 1, 0)
def test_sub_exact(a, b):
    if b == -LIMIT:
        b += 1  # -b must be representable
    diff = a - b
    if not -LIMIT <= diff < LIMIT:
        a = b  # still exercises the limb arithmetic near the edges
        diff = 0
    m = _sub(mk(a), mk(b))
    assert normalised(m)
    assert value_of(m) == diff


@SETTINGS
@given(values)
def test_negate_exact(v):
    if v == -LIMIT:
        v += 1
    m = _negate(mk(v))
    assert normalised(m)
    assert value_of(m) == -v


SUM_LEN = 64


@jax.jit
def _sum_small(m):
    return money.sum_small(m, axis=-1)


@SETTINGS
@given(st.lists(st.integers(-(2**39), 2**39), min_size=0, max_size=SUM_LEN))
def test_sum_small_exact(vs):
    padded = np.array(vs + [0] * (SUM_LEN - len(vs)), np.int64)
    m = _sum_small(money.from_int64(padded))
    assert normalised(m)
    assert value_of(m) == sum(vs)


@st.composite
def cancelling_lists(draw):
    """Up to 63 entries whose partial sums leave the range but whose total fits."""
    xs = draw(st.lists(values, min_size=1, max_size=SUM_LEN // 2))
    xs = [max(x, 1 - LIMIT) for x in xs[:-1]] + xs[-1:]  # so that -x is representable
    vs = xs + [-x for x in xs[:-1]]
    vs = draw(st.permutations(vs))
    return list(vs)


@SETTINGS
@given(cancelling_lists())
def test_sum_small_exact_when_total_fits(vs):
    """Partial sums may leave the range; only the total has to fit (limbs wrap exactly)."""
    total = sum(vs)
    assert -LIMIT <= total < LIMIT
    padded = np.array(vs + [0] * (SUM_LEN - len(vs)), np.int64)
    m = _sum_small(money.from_int64(padded))
    assert normalised(m)
    assert value_of(m) == total


def test_sum_small_many_entries_and_axis():
    n = (1 << 16) - 1  # the documented bound: fewer than 2**16 entries
    lo_max = np.full(n, LIMB - 1, np.int64)  # every low limb at its maximum
    m = money.sum_small(money.from_int64(lo_max), axis=0)
    assert value_of(m) == n * (LIMB - 1)
    rng = np.random.default_rng(2)
    v = rng.integers(-(2**30), 2**30, (3, 1000), dtype=np.int64)
    m = money.sum_small(money.from_int64(v), axis=1)
    np.testing.assert_array_equal(money.to_int64(m), v.sum(axis=1))
    m0 = money.sum_small(money.from_int64(v), axis=0)
    np.testing.assert_array_equal(money.to_int64(m0), v.sum(axis=0))


def test_sum_exact_many_entries():
    n = 1 << 20
    lo_max = np.full(n, LIMB - 1, np.int64)
    m = money.sum_exact(money.from_int64(lo_max), axis=0)
    assert normalised(m)
    assert value_of(m) == n * (LIMB - 1)
    rng = np.random.default_rng(3)
    v = rng.integers(-(2**25), 2**25, n, dtype=np.int64)
    assert value_of(money.sum_exact(money.from_int64(v), axis=0)) == int(v.sum())


def test_zeros_where_and_float():
    z = money.zeros((2, 3))
    assert money.to_int64(z).tolist() == [[0] * 3] * 2
    a, b = mk(12345678901), mk(-98765)
    assert value_of(money.where(True, a, b)) == 12345678901
    assert value_of(money.where(False, a, b)) == -98765
    assert abs(float(money.to_float(a)) - 12345678901) / 12345678901 < 1e-6
