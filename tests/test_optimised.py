"""The optimised paths against the straightforward ones they replace.

* ``clear_levels`` (the engine's auction: one scatter per side, one pro-rata class, one
  prefix sum) against ``allocate_sorted`` (one full sort) and ``allocate_age_classes``, and
  against the brute-force NumPy reference, on adversarial small books (hypothesis) and on
  engine-sized books (hundreds of orders, 128 levels).
* ``prefix_sum`` against ``jnp.cumsum``; the cheap per-agent random bits: deterministic,
  uniform and independent across agents, bits and keys.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference_auction as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtgjax.agents.common import random_bits
from qtgjax.bench.workloads import load_workload, sim_config
from qtgjax.config.build import build
from qtgjax.market.auction import (
    allocate_age_classes,
    allocate_sorted,
    clear_levels,
    clearing_level,
    level_allotment,
    level_totals,
    prefix_sum,
)
from qtgjax.sim import book
from qtgjax.sim.rollout import init_state
from qtgjax.sim.tick import act_all, clear_book, observe, step

MAX_N = 40

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def jit_both(n_levels: int, n_ages: int):
    """(fast, by sort, by age classes) for a batch of books on the grid."""

    def one(level, qty, is_buy, age, ref_level):
        fast, residual = clear_levels(level, qty, is_buy, age, ref_level, n_levels, n_ages)
        totals = level_totals(level, qty, is_buy, n_levels)
        clear_at, volume = clearing_level(totals, ref_level)
        allot = level_allotment(totals, volume)
        by_sort = allocate_sorted(level, qty, is_buy, age, allot)
        by_class = allocate_age_classes(level, qty, is_buy, age, allot, n_ages)
        want_residual = (totals.buy - allot.buy, totals.sell - allot.sell)
        return (fast.level, fast.volume, fast.filled, residual), (
            clear_at,
            volume,
            by_sort,
            by_class,
            want_residual,
        )

    return jax.jit(jax.vmap(one))


def check_batch(level, qty, is_buy, age, ref_level, n_levels, n_ages):
    fast, slow = jit_both(n_levels, n_ages)(level, qty, is_buy, age, ref_level)
    (f_level, f_volume, f_filled, f_residual) = fast
    (s_level, s_volume, by_sort, by_class, s_residual) = slow
    np.testing.assert_array_equal(f_level, s_level)
    np.testing.assert_array_equal(f_volume, s_volume)
    np.testing.assert_array_equal(f_filled, by_sort)
    np.testing.assert_array_equal(f_filled, by_class)
    np.testing.assert_array_equal(f_residual[0], s_residual[0])
    np.testing.assert_array_equal(f_residual[1], s_residual[1])
    return f_level, f_volume, f_filled


@st.composite
def grid_books(draw):
    """One book already on a grid (levels clipped, qty 0 off grid), padded to MAX_N."""
    k, a = draw(st.sampled_from([(1, 1), (4, 2), (8, 4), (16, 4), (16, 16)]))
    n = draw(st.integers(0, MAX_N))
    mode = draw(st.sampled_from(["uniform", "one", "window"]))
    lo = draw(st.integers(0, k - 1))
    hi = {"uniform": k - 1, "one": lo, "window": min(k - 1, lo + 1)}[mode]
    if mode == "uniform":
        lo = 0
    qmax = draw(st.sampled_from([1, 4, 1000, 1 << 20]))
    level = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    qty = draw(st.lists(st.integers(0, qmax), min_size=n, max_size=n))
    is_buy = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    age = draw(st.lists(st.integers(0, draw(st.integers(0, a - 1))), min_size=n, max_size=n))
    mirror = draw(st.integers(0, n // 2))  # equal lots on both sides: ties in D = S
    is_buy[mirror : 2 * mirror] = [not b for b in is_buy[:mirror]]
    qty[mirror : 2 * mirror] = qty[:mirror]
    ref_level = draw(st.integers(-2, k + 2))
    pad = MAX_N - n
    book = dict(
        level=np.array(level + [0] * pad, np.int32),
        qty=np.array(qty + [0] * pad, np.int32),
        is_buy=np.array(is_buy + [False] * pad, bool),
        age=np.array(age + [0] * pad, np.int32),
        ref_level=np.int32(ref_level),
    )
    return book, k, a


@SETTINGS
@given(grid_books())
def test_fast_clear_matches_sort_classes_and_reference(case):
    book, k, a = case
    batch = {key: np.asarray(v)[None] for key, v in book.items()}
    level, volume, filled = check_batch(**batch, n_levels=k, n_ages=a)
    want = ref.clear_batch_auction(
        book["level"].tolist(),
        book["qty"].tolist(),
        book["is_buy"].tolist(),
        book["age"].tolist(),
        int(book["ref_level"]),
        n_levels=k,
    )
    assert int(level[0]) == want.level
    assert int(volume[0]) == want.volume
    assert filled[0].tolist() == list(want.filled)


def engine_books(seed: int, n_books: int, n_orders: int, n_levels: int, n_ages: int):
    """Books shaped like the engine's: many small orders near the mid, a few big ones."""
    rng = np.random.default_rng(seed)
    shape = (n_books, n_orders)
    mid = rng.integers(n_levels // 4, 3 * n_levels // 4, (n_books, 1))
    spread = rng.integers(1, n_levels // 4, (n_books, 1))
    level = np.clip(
        mid + rng.integers(-1, 2, shape) * rng.integers(0, spread + 1, shape), 0, n_levels - 1
    )
    qty = np.where(rng.random(shape) < 0.1, 0, rng.integers(1, 11, shape))
    qty = np.where(rng.random(shape) < 0.02, rng.integers(100, 5000, shape), qty)
    is_buy = rng.random(shape) < rng.uniform(0.3, 0.7, (n_books, 1))
    age = np.minimum(rng.geometric(0.5, shape) - 1, n_ages - 1)
    ref_level = rng.integers(0, n_levels, n_books)
    return (
        level.astype(np.int32),
        qty.astype(np.int32),
        is_buy,
        age.astype(np.int32),
        ref_level.astype(np.int32),
    )


@pytest.mark.parametrize(
    ("n_orders", "n_levels", "n_ages"), [(296, 128, 4), (1000, 64, 4), (500, 256, 1), (64, 8, 8)]
)
def test_fast_clear_matches_on_engine_sized_books(n_orders, n_levels, n_ages):
    books = engine_books(n_orders + n_levels, 256, n_orders, n_levels, n_ages)
    level, volume, filled = check_batch(*books, n_levels=n_levels, n_ages=n_ages)
    assert (volume > 0).mean() > 0.5, "most books must trade for the comparison to bite"
    prorated = (filled > 0) & (filled < books[1])
    assert prorated.any(), "some orders must be partly filled"


# (4, 8, 9): an axis at SHORT_SCAN (summed directly) and one above it (scanned)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 128), (5, 296), (2, 3, 33), (4, 8, 9)])
def test_prefix_sum_is_cumsum(shape):
    x = jnp.asarray(np.random.default_rng(0).integers(-1000, 1000, shape), jnp.int32)
    for axis in range(len(shape)):
        np.testing.assert_array_equal(prefix_sum(x, axis), jnp.cumsum(x, axis))
        np.testing.assert_array_equal(
            prefix_sum(x, axis, reverse=True), jnp.flip(jnp.cumsum(jnp.flip(x, axis), axis), axis)
        )


# --------------------------------------------------------------------------- the engine's book


def reference_clear(orders, anchor, last_price, static):
    """The straightforward engine auction: one flat book per symbol, allocation by sort."""
    n_levels, n_ages = static.n_levels, static.n_ages
    flat = book.flatten(orders)
    level, inside = book.grid_levels(flat.price, flat.is_buy, anchor, n_levels)
    qty = jnp.where(inside, flat.qty, 0)
    age = jnp.minimum(flat.age, n_ages - 1)
    ref = last_price - (anchor - n_levels // 2)

    def one_symbol(level, qty, is_buy, age, ref):
        totals = level_totals(level, qty, is_buy, n_levels)
        clear_at, volume = clearing_level(totals, ref)
        allot = level_allotment(totals, volume)
        filled = allocate_sorted(level, qty, is_buy, age, allot)
        return filled, clear_at, volume, (totals.buy - allot.buy, totals.sell - allot.sell)

    filled, clear_at, volume, residual = jax.vmap(one_symbol)(level, qty, flat.is_buy, age, ref)
    dropped = (flat.qty > 0) & ~inside
    price = jnp.where(volume > 0, anchor - n_levels // 2 + clear_at, 0)
    kept = book.split(jnp.where(dropped, 0, flat.qty), orders)
    return book.split(filled, orders), price, volume, residual, kept, dropped.sum(-1)


def engine_mismatches(static, params, key, n_ticks: int):
    """Run the engine; each tick, count where clear_book and reference_clear differ."""

    def tick(state, key):
        k_act, _ = jax.random.split(key)
        orders, *_ = act_all(static, params, state, observe(state, params), k_act)
        anchor, last = state.market.anchor, state.market.last_price
        fast = clear_book(orders, anchor, last, static)
        want = reference_clear(orders, anchor, last, static)
        got = (fast.fills, fast.price, fast.volume, tuple(fast.residual), fast.kept, fast.dropped)
        diffs = [
            jnp.sum(a != b)
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
        ]
        prorated = sum(
            jnp.sum((f > 0) & (f < o.qty)) for f, o in zip(fast.fills, orders, strict=True)
        )
        return step(static, params, state, key)[0], (sum(diffs), prorated, fast.volume.sum())

    state = init_state(static, params, key)
    keys = jax.random.split(jax.random.fold_in(key, 1), n_ticks)
    return jax.jit(lambda s, k: jax.lax.scan(tick, s, k)[1])(state, keys)


@pytest.mark.parametrize(
    ("workload", "agents", "levels", "ages"),
    [("kineticsim", 300, 32, 4), ("default", 400, 64, 4), ("default", 200, 32, 1)],
)
def test_engine_book_matches_flat_reference(workload, agents, levels, ages):
    cfg = sim_config(load_workload(workload), scenarios=1, agents=agents, ticks=1, levels=levels)
    cfg["market"]["age_classes"] = ages
    built = build(cfg)
    diffs, prorated, volume = engine_mismatches(built.static, built.params, jax.random.key(3), 80)
    assert int(np.sum(diffs)) == 0
    assert int(np.sum(volume)) > 0 and int(np.sum(prorated)) > 0, "the test must exercise pro-rata"


# --------------------------------------------------------------------------- random bits


def test_random_bits_deterministic_and_key_dependent():
    key = jax.random.key(7)
    a = np.asarray(random_bits(key, (1000, 3)))
    assert a.dtype == np.uint32 and a.shape == (1000, 3)
    np.testing.assert_array_equal(a, jax.jit(lambda k: random_bits(k, (1000, 3)))(key))
    b = np.asarray(random_bits(jax.random.fold_in(key, 1), (1000, 3)))
    assert (a != b).mean() > 0.99
    assert len(np.unique(a)) == a.size, "one key's draws are a bijection of the index"


def test_random_bits_are_uniform_and_uncorrelated():
    keys = jax.random.split(jax.random.key(11), 64)
    bits = np.asarray(jax.vmap(lambda k: random_bits(k, (4096,)))(keys))  # (64 keys, 4096)
    ones = np.unpackbits(bits.view(np.uint8), bitorder="little").reshape(-1, 32).mean(0)
    assert np.all(np.abs(ones - 0.5) < 0.004), ones  # 262,144 draws: sd 0.001 per bit
    u = bits.astype(np.float64) / 2**32
    for a, b in [(u[:, :-1], u[:, 1:]), (u[:-1], u[1:])]:  # next agent, next key (tick)
        corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(corr) < 0.01, corr
    p = 0.05  # the families' activity draw: 16 bits against a threshold
    active = ((bits & 0xFFFF) < round(p * 65536)).mean()
    assert abs(active - p) < 0.002
