"""Property tests of the batch auction against the brute-force reference.

Every JAX call goes through a function jitted once per static configuration (grid size,
number of ages, ...) and books are padded to a fixed number of orders with off-grid,
zero-lot orders, so hypothesis examples do not re-trace.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference_auction as ref
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qtgjax.market.auction import (
    MAX_BOOK_LOTS,
    LevelTotals,
    allocate_age_classes,
    allocate_sorted,
    clear_batch_auction,
    clearing_level,
    level_allotment,
    level_totals,
    muldiv,
)

MAX_N = 40  # orders per generated book; JAX calls see books padded to this size
# Grid sizes drawn by the generic strategy: each costs one XLA compile (1-2 s on CPU), so a
# few small sizes plus larger ones rather than all of 1..16.
GRID_SIZES = (1, 2, 3, 5, 8, 16)
BIG_QTY = 1 << 20  # 40 * 2**20 < 2**26 = MAX_BOOK_LOTS

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- strategies


@st.composite
def books(draw, n_levels=None, n_ages=None, max_n=MAX_N, min_n=0):
    """One book: dict(level, qty, is_buy, age, ref_level, n_levels) of Python lists/ints.

    Mixes random books with adversarial ones: all orders at one level or in a two-level
    window, off-grid orders, zero and tiny quantities (many ties), huge quantities, one-sided
    books, many equal ages.
    """
    k = draw(st.sampled_from(GRID_SIZES)) if n_levels is None else n_levels
    n = draw(st.integers(min_n, max_n))

    side_mode = draw(st.sampled_from(["random"] * 6 + ["buys", "sells", "lopsided", "lopsided"]))
    if side_mode == "random":
        sv = st.booleans()
    elif side_mode == "lopsided":
        major = draw(st.booleans())
        sv = st.sampled_from([major] * 9 + [not major])
    else:
        sv = st.just(side_mode == "buys")

    level_mode = draw(
        st.sampled_from(["uniform", "one", "window", "few", "crossed", "crossed", "offgrid"])
    )
    buy_lv = None  # a side-specific level strategy for buys (sell_lv for sells) if set
    if level_mode == "uniform":
        lv = st.integers(0, k - 1)
    elif level_mode == "one":
        lv = st.just(draw(st.integers(0, k - 1)))
    elif level_mode == "window":
        lo = draw(st.integers(0, k - 1))
        lv = st.integers(lo, min(k - 1, lo + 1))
    elif level_mode == "few":  # a few distinct levels with gaps: flat stretches of exec(l)
        lv = st.sampled_from(draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=3)))
    elif level_mode == "crossed":  # buys at or above a pivot, sells at or below it
        pivot = draw(st.integers(0, k - 1))
        buy_lv, sell_lv = st.integers(pivot, k - 1), st.integers(0, pivot)
        if draw(st.booleans()):  # sparse: only the extremes and the pivot
            buy_lv = st.sampled_from([pivot, k - 1])
            sell_lv = st.sampled_from([0, pivot])
    else:
        lv = st.integers(-3, k + 2)

    qty_mode = draw(st.sampled_from(["tiny", "medium", "mixed", "big", "equal"]))
    if qty_mode == "tiny":
        qv = st.integers(0, 4)
    elif qty_mode == "medium":
        qv = st.integers(0, 1000)
    elif qty_mode == "mixed":
        qv = st.one_of(st.integers(0, 3), st.integers(0, 1000), st.integers(0, BIG_QTY))
    elif qty_mode == "big":
        qv = st.integers(BIG_QTY // 2, BIG_QTY)
    else:
        qv = st.just(draw(st.integers(1, 1000)))

    av = age_values(draw, n_ages)

    def column(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    is_buy, qty = column(sv), column(qv)
    # Mirrored orders (same lots, other side) make D(l) == S(l) exactly on whole stretches,
    # so several levels survive the volume and consistency filters and the tie-breaks count.
    m = draw(st.integers(0, n // 2)) if draw(st.booleans()) else 0
    is_buy[m : 2 * m] = [not b for b in is_buy[:m]]
    qty[m : 2 * m] = qty[:m]
    level = column(lv) if buy_lv is None else [draw(buy_lv if b else sell_lv) for b in is_buy]
    ref_level = draw(st.one_of(st.none(), st.integers(-3, k + 3), st.integers(-(10**6), 10**6)))
    return dict(
        level=level,
        qty=qty,
        is_buy=is_buy,
        age=column(av),
        ref_level=ref_level,
        n_levels=k,
    )


def age_values(draw, n_ages=None):
    """Ages for one book: often all equal or two/three values (many ties), sometimes wide."""
    if n_ages is None:
        span = draw(st.sampled_from([1, 2, 3, 50, 2**31 - 1]))
    else:
        span = draw(st.sampled_from(sorted({1, 2, n_ages})))
        span = min(span, n_ages)
    return st.integers(0, span - 1)


@st.composite
def plateau_books(draw, n_levels=None, n_ages=None):
    """A book whose volume-maximising levels form a plateau [l1, l2]: buys of total V at
    levels >= l2 and sells of the same lots at levels <= l1, non-crossing noise outside, and
    either extra buys at l1 / extra sells at l2 (every plateau level passes the consistency
    filter; imbalance at the ends: exercises the |D - S| and reference-level tie-breaks) or
    extra sells at l1 / extra buys at l2 (only one end passes the filter)."""
    k = draw(st.sampled_from(GRID_SIZES[1:])) if n_levels is None else n_levels
    if k < 2:
        return draw(books(n_levels=k, n_ages=n_ages))
    l1 = draw(st.integers(0, k - 2))
    l2 = draw(st.integers(l1 + 1, k - 1))
    qv = st.one_of(st.integers(1, 20), st.integers(0, 1000), st.integers(1, BIG_QTY))
    core = draw(st.lists(qv, min_size=1, max_size=8))
    orders = [(draw(st.integers(l2, k - 1)), q, True) for q in core]
    orders += [(draw(st.integers(0, l1)), q, False) for q in draw(st.permutations(core))]
    variant = draw(st.sampled_from(["balanced", "sells_at_l1", "buys_at_l2"]))
    extra = st.lists(qv, max_size=4)
    if variant != "sells_at_l1":
        orders += [(l1, q, True) for q in draw(extra)]
    if variant != "buys_at_l2":
        orders += [(l2, q, False) for q in draw(extra)]
    if variant == "sells_at_l1":  # exec stays V on [l1, l2] but only l1 passes the filter
        orders += [(l1, q, False) for q in draw(st.lists(qv, min_size=1, max_size=4))]
    if variant == "buys_at_l2":  # only l2 passes the filter
        orders += [(l2, q, True) for q in draw(st.lists(qv, min_size=1, max_size=4))]
    if l1 > 0:
        orders += [(draw(st.integers(0, l1 - 1)), q, True) for q in draw(st.lists(qv, max_size=4))]
    if l2 < k - 1:
        orders += [
            (draw(st.integers(l2 + 1, k - 1)), q, False) for q in draw(st.lists(qv, max_size=4))
        ]
    orders = draw(st.permutations(orders))
    av = age_values(draw, n_ages)
    ref_level = draw(st.one_of(st.none(), st.integers(-3, k + 3)))
    return dict(
        level=[o[0] for o in orders],
        qty=[o[1] for o in orders],
        is_buy=[o[2] for o in orders],
        age=[draw(av) for _ in orders],
        ref_level=ref_level,
        n_levels=k,
    )


def any_books(n_levels=None, n_ages=None):
    return st.one_of(books(n_levels, n_ages), plateau_books(n_levels, n_ages))


def pad(book, size=MAX_N):
    """NumPy int32/bool arrays padded with off-grid zero-lot orders to ``size``."""
    n = len(book["level"])
    extra = size - n
    assert extra >= 0
    return (
        np.array(book["level"] + [-1] * extra, np.int32),
        np.array(book["qty"] + [0] * extra, np.int32),
        np.array(book["is_buy"] + [False] * extra, bool),
        np.array(book["age"] + [0] * extra, np.int32),
    )


# --------------------------------------------------------------------------- jitted entry points


@functools.cache
def jit_clear(n_levels: int, ref_is_none: bool):
    if ref_is_none:
        return jax.jit(
            lambda lv, q, b, a: clear_batch_auction(lv, q, b, a, None, n_levels=n_levels)
        )
    return jax.jit(functools.partial(clear_batch_auction, n_levels=n_levels))


NONE_TRACE_LEVELS = frozenset({1, 5})  # grid sizes whose ref_level=None trace is run


def run_clear(book):
    level, qty, is_buy, age = pad(book)
    k, r = book["n_levels"], book["ref_level"]
    if r is None and k in NONE_TRACE_LEVELS:
        out = jit_clear(k, True)(level, qty, is_buy, age)
    elif r is None:
        # None means reference level 0 (spec); tracing the None path for every grid size
        # would double the compile time, so elsewhere it goes through the traced-ref trace.
        out = jit_clear(k, False)(level, qty, is_buy, age, np.int32(0))
    else:
        out = jit_clear(k, False)(level, qty, is_buy, age, np.int32(r))
    n = len(book["level"])
    filled = np.asarray(out.filled)
    assert not filled[n:].any(), "padding orders must not fill"
    return int(out.level), int(out.volume), filled[:n].tolist()


def ref_clear(book):
    return ref.clear_batch_auction(
        book["level"],
        book["qty"],
        book["is_buy"],
        book["age"],
        book["ref_level"],
        n_levels=book["n_levels"],
    )


# --------------------------------------------------------------------------- 1. vs reference


@FAST
@given(any_books())
def test_clear_matches_reference(book):
    got = run_clear(book)
    want = ref_clear(book)
    assert got == (want.level, want.volume, want.filled)


@FEW
@given(books(n_levels=6, max_n=7, min_n=7))
def test_unpadded_eager_matches_reference(book):
    """No jit, no padding, ages and ref as given (None included)."""
    out = clear_batch_auction(
        book["level"],
        book["qty"],
        book["is_buy"],
        book["age"],
        book["ref_level"],
        n_levels=book["n_levels"],
    )
    want = ref_clear(book)
    assert (int(out.level), int(out.volume), np.asarray(out.filled).tolist()) == (
        want.level,
        want.volume,
        want.filled,
    )


# --------------------------------------------------------------------------- 2. invariants


def check_invariants(book, level, volume, filled):
    k = book["n_levels"]
    rows = list(zip(book["level"], book["qty"], book["is_buy"], filled, strict=True))
    part = [(lv, q, b, f) for lv, q, b, f in rows if 0 <= lv < k and q > 0]
    for lv, q, _, f in rows:
        assert 0 <= f <= max(q, 0)
        if not (0 <= lv < k and q > 0):
            assert f == 0
    assert sum(f for _, _, b, f in rows if b) == volume
    assert sum(f for _, _, b, f in rows if not b) == volume
    if volume == 0:
        assert level == -1
    else:
        assert 0 <= level < k
    for lv, q, b, f in part:
        if f > 0:
            assert (lv >= level) if b else (lv <= level)
        if volume > 0 and ((b and lv > level) or (not b and lv < level)):
            assert f == q, "an order strictly better than the clearing level must fill fully"
    resid_buys = [lv for lv, q, b, f in part if b and q > f]
    resid_sells = [lv for lv, q, b, f in part if not b and q > f]
    if resid_buys and resid_sells:
        assert max(resid_buys) < min(resid_sells), "residual book is crossed"


@FAST
@given(any_books())
def test_invariants(book):
    check_invariants(book, *run_clear(book))
    want = ref_clear(book)
    check_invariants(book, want.level, want.volume, want.filled)


# --------------------------------------------------------------------------- 3. age classes


@functools.cache
def jit_allocations(n_levels: int, n_ages: int):
    """Both allocators for one book and an arbitrary traded volume (same for both sides)."""

    def fn(level, qty, is_buy, age, volume):
        on_grid = (level >= 0) & (level < n_levels)
        qty = jnp.where(on_grid, jnp.maximum(qty, 0), 0)
        totals = level_totals(level, qty, is_buy, n_levels)
        _, clear_volume = clearing_level(totals, None)
        volume = jnp.where(volume < 0, clear_volume, volume)
        allot = level_allotment(totals, volume)
        clipped = jnp.clip(level, 0, n_levels - 1)
        by_sort = allocate_sorted(clipped, qty, is_buy, age, allot)
        by_class = allocate_age_classes(level, qty, is_buy, age, allot, n_ages)
        return by_sort, by_class, allot

    return jax.jit(fn)


AGE_CONFIGS = [(1, 1), (5, 3), (16, 16)]  # (n_levels, n_ages)


@st.composite
def age_class_cases(draw):
    k, a = draw(st.sampled_from(AGE_CONFIGS))
    book = draw(any_books(n_levels=k, n_ages=a))
    # -1: the clearing volume; otherwise any volume (the larger side may be partly filled).
    volume = draw(st.one_of(st.just(-1), st.integers(0, 3000), st.integers(0, 40 * BIG_QTY)))
    return book, a, volume


@FAST
@given(age_class_cases())
def test_age_classes_match_sorted(case):
    book, n_ages, volume = case
    k = book["n_levels"]
    n = len(book["level"])
    level, qty, is_buy, age = pad(book)
    by_sort, by_class, allot = (
        np.asarray(x) if not isinstance(x, LevelTotals) else x
        for x in jit_allocations(k, n_ages)(level, qty, is_buy, age, np.int32(volume))
    )
    np.testing.assert_array_equal(by_class, by_sort)
    buy_vol, sell_vol = int(np.sum(allot.buy)), int(np.sum(allot.sell))
    want = ref.allocate(
        book["level"], book["qty"], book["is_buy"], book["age"], k, buy_vol, sell_vol
    )
    assert by_sort[:n].tolist() == want
    assert not by_sort[n:].any()
    if volume >= 0:
        side_total = [
            sum(
                q
                for lv, q, b in zip(book["level"], book["qty"], book["is_buy"], strict=True)
                if b == side and 0 <= lv < k and q > 0
            )
            for side in (True, False)
        ]
        assert (buy_vol, sell_vol) == (min(volume, side_total[0]), min(volume, side_total[1]))


# --------------------------------------------------------------------------- 4. jit and vmap

BATCH = 6
VMAP_CONFIGS = [(1, False), (5, True), (16, False)]  # (n_levels, ref_level is None)


@functools.cache
def jit_vmapped(n_levels: int, ref_is_none: bool):
    one = functools.partial(clear_batch_auction, n_levels=n_levels)
    if ref_is_none:
        return jax.jit(jax.vmap(lambda lv, q, b, a: one(lv, q, b, a, None)))
    return jax.jit(jax.vmap(one))


@st.composite
def batches(draw):
    k, ref_is_none = draw(st.sampled_from(VMAP_CONFIGS))
    group = draw(st.lists(any_books(n_levels=k), min_size=BATCH, max_size=BATCH))
    for b in group:
        if ref_is_none:
            b["ref_level"] = None
        elif b["ref_level"] is None:
            b["ref_level"] = 0
    return k, ref_is_none, group


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batches())
def test_jit_vmap_matches_one_by_one(case):
    k, ref_is_none, group = case
    cols = [np.stack(c) for c in zip(*(pad(b) for b in group), strict=True)]
    if ref_is_none:
        out = jit_vmapped(k, True)(*cols)
    else:
        refs = np.array([b["ref_level"] for b in group], np.int32)
        out = jit_vmapped(k, False)(*cols, refs)
    for i, b in enumerate(group):
        n = len(b["level"])
        single = run_clear(b)
        batched = (int(out.level[i]), int(out.volume[i]), np.asarray(out.filled[i])[:n].tolist())
        assert batched == single
        want = ref_clear(b)
        assert batched == (want.level, want.volume, want.filled)
        assert not np.asarray(out.filled[i])[n:].any()


def test_jit_without_n_levels_raises():
    f = jax.jit(clear_batch_auction)
    with pytest.raises(ValueError, match="n_levels"):
        f(jnp.array([1, 2]), jnp.array([3, 4]), jnp.array([True, False]))


# --------------------------------------------------------------------------- 5. muldiv

MULDIV_MAX = (1 << 26) - 1
_muldiv_jit = jax.jit(muldiv)


@st.composite
def muldiv_args(draw):
    c = draw(st.one_of(st.integers(1, MULDIV_MAX), st.sampled_from([1, 2, 3, MULDIV_MAX])))
    kind = draw(st.sampled_from(["any", "edge", "near_multiple"]))
    if kind == "any":
        a, b = draw(st.integers(0, c)), draw(st.integers(0, c))
    elif kind == "edge":
        a = draw(st.sampled_from([0, 1, c - 1, c]))
        b = draw(st.one_of(st.sampled_from([0, 1, c - 1, c]), st.integers(0, c)))
    else:
        # a*b = -1, 0 or +1 (mod c): the floor is most sensitive to the float estimate there.
        a = draw(st.integers(1, c))
        if math.gcd(a, c) != 1:
            a = 1 if c == 1 else next(x for x in range(c - 1, 0, -1) if math.gcd(x, c) == 1)
        inv = pow(a, -1, c) if c > 1 else 0
        b = draw(st.sampled_from([inv, (c - inv) % c, c - 1]))
    return a, b, c


@settings(max_examples=300, deadline=None)
@given(muldiv_args())
@example((0, 0, 1))
@example((1, 1, 1))
@example((MULDIV_MAX, MULDIV_MAX, MULDIV_MAX))
@example((MULDIV_MAX - 1, MULDIV_MAX - 1, MULDIV_MAX))
@example((MULDIV_MAX - 1, MULDIV_MAX, MULDIV_MAX))
@example((0, MULDIV_MAX, MULDIV_MAX))
def test_muldiv_exact(args):
    a, b, c = args
    assert int(_muldiv_jit(np.int32(a), np.int32(b), np.int32(c))) == a * b // c


def test_muldiv_exact_bulk():
    rng = np.random.default_rng(0)
    m = 200_000
    c = np.concatenate(
        [rng.integers(1, MULDIV_MAX + 1, m), rng.integers(MULDIV_MAX - 1000, MULDIV_MAX + 1, m)]
    )
    a = (rng.random(2 * m) * (c + 1)).astype(np.int64).clip(0, c)
    b = (rng.random(2 * m) * (c + 1)).astype(np.int64).clip(0, c)
    a[::7], b[::11] = c[::7], c[::11]
    want = a * b // c  # < 2**52: exact in int64
    got = np.asarray(jax.jit(muldiv)(a.astype(np.int32), b.astype(np.int32), c.astype(np.int32)))
    np.testing.assert_array_equal(got, want)
    # eager (un-jitted) path too
    got_eager = np.asarray(muldiv(a[:1000], b[:1000], c[:1000]))
    np.testing.assert_array_equal(got_eager, want[:1000])


# --------------------------------------------------------------------------- 6. hand examples


def _clear(level, qty, is_buy, age=None, ref_level=None, n_levels=None):
    """Eager call (n_levels inferred, or an empty book); otherwise the padded jitted one."""
    if n_levels is None or not level:
        out = clear_batch_auction(
            jnp.array(level, jnp.int32),
            jnp.array(qty, jnp.int32),
            jnp.array(is_buy, bool),
            None if age is None else jnp.array(age, jnp.int32),
            ref_level,
            n_levels=n_levels,
        )
        return int(out.level), int(out.volume), np.asarray(out.filled).tolist()
    book = dict(
        level=list(level),
        qty=list(qty),
        is_buy=list(is_buy),
        age=[0] * len(level) if age is None else list(age),
        ref_level=ref_level,
        n_levels=n_levels,
    )
    return run_clear(book)


def _ref(level, qty, is_buy, age=None, ref_level=None, n_levels=None):
    r = ref.clear_batch_auction(level, qty, is_buy, age, ref_level, n_levels=n_levels)
    return r.level, r.volume, r.filled


HAND_CASES = [
    # (kwargs, expected (level, volume, filled))
    pytest.param(
        dict(level=[5, 4, 3, 4], qty=[10, 5, 8, 4], is_buy=[True, True, False, False], n_levels=8),
        (4, 12, [10, 2, 8, 4]),
        id="docstring",
    ),
    pytest.param(
        # exec = 10 on levels 2..5, but at 3..5 the sells strictly better (20 lots at level 2)
        # do not fit in 10: the filter keeps level 2, where the sells are rationed.
        dict(level=[5, 2], qty=[10, 20], is_buy=[True, False], n_levels=8),
        (2, 10, [10, 10]),
        id="flat-stretch-sells-rationed",
    ),
    pytest.param(
        # same, with the reference level at the far end of the flat stretch: still level 2.
        dict(level=[5, 2], qty=[10, 20], is_buy=[True, False], ref_level=5, n_levels=8),
        (2, 10, [10, 10]),
        id="flat-stretch-filter-beats-ref",
    ),
    pytest.param(
        # plateau 2..4 (exec 10): |D-S| = 5, 0, 1 -> level 3 although ref 0 is nearer to 2.
        dict(
            level=[4, 2, 2, 4],
            qty=[10, 5, 10, 1],
            is_buy=[True, True, False, False],
            ref_level=0,
            n_levels=6,
        ),
        (3, 10, [10, 0, 10, 0]),
        id="imbalance-beats-ref",
    ),
    pytest.param(
        # mirror image: buys strictly better than 3..5 do not fit; clear at 5, buys rationed.
        dict(level=[5, 2], qty=[20, 10], is_buy=[True, False], n_levels=8),
        (5, 10, [10, 10]),
        id="flat-stretch-buys-rationed",
    ),
    pytest.param(
        # both sides equal: |D-S| = 0 on 2..5; ref picks the nearest level.
        dict(level=[5, 2], qty=[10, 10], is_buy=[True, False], ref_level=4, n_levels=8),
        (4, 10, [10, 10]),
        id="flat-stretch-ref",
    ),
    pytest.param(
        dict(level=[5, 2], qty=[10, 10], is_buy=[True, False], ref_level=7, n_levels=8),
        (5, 10, [10, 10]),
        id="flat-stretch-ref-above",
    ),
    pytest.param(
        dict(level=[5, 2], qty=[10, 10], is_buy=[True, False], n_levels=8),
        (2, 10, [10, 10]),
        id="flat-stretch-ref-none-lowest",
    ),
    pytest.param(
        dict(level=[5, 2], qty=[10, 10], is_buy=[True, False], ref_level=-100, n_levels=8),
        (2, 10, [10, 10]),
        id="flat-stretch-ref-far-below",
    ),
    pytest.param(
        dict(level=[3, 4], qty=[10, 10], is_buy=[True, False], n_levels=8),
        (-1, 0, [0, 0]),
        id="uncrossed",
    ),
    pytest.param(
        dict(level=[3, 3, 3], qty=[5, 6, 7], is_buy=[True, True, True], n_levels=8),
        (-1, 0, [0, 0, 0]),
        id="one-sided",
    ),
    pytest.param(
        dict(level=[], qty=[], is_buy=[], n_levels=4),
        (-1, 0, []),
        id="empty",
    ),
    pytest.param(
        # pro-rata at one level and one age: 3 sell lots over buys 1, 1, 1, 1 (4 lots):
        # cumulative rounding floor(3*Q/4): 0, 1, 2, 3 -> fills 0, 1, 1, 1.
        dict(level=[2, 2, 2, 2, 2], qty=[1, 1, 1, 1, 3], is_buy=[True] * 4 + [False], n_levels=4),
        (2, 3, [0, 1, 1, 1, 3]),
        id="prorata-cumulative-rounding",
    ),
    pytest.param(
        # time priority: the oldest buy (age 9) is served first, then age 5 pro-rata.
        dict(
            level=[2, 2, 2, 2],
            qty=[4, 4, 4, 6],
            is_buy=[True, True, True, False],
            age=[5, 9, 5, 0],
            n_levels=4,
        ),
        (2, 6, [1, 4, 1, 6]),
        id="age-priority",
    ),
    pytest.param(
        # off-grid and zero-qty orders take no part.
        dict(
            level=[-1, 8, 3, 3, 3],
            qty=[100, 100, 0, 7, 7],
            is_buy=[True, False, True, True, False],
            n_levels=8,
        ),
        (3, 7, [0, 0, 0, 7, 7]),
        id="off-grid-and-zero",
    ),
    pytest.param(
        # a negative quantity counts as no order.
        dict(level=[3, 3, 3], qty=[-5, 7, 7], is_buy=[True, True, False], n_levels=8),
        (3, 7, [0, 7, 7]),
        id="negative-qty",
    ),
    pytest.param(
        # price priority: the better buy (level 6) fills fully before the level-4 buys.
        dict(level=[6, 4, 4, 1], qty=[5, 5, 5, 8], is_buy=[True, True, True, False], n_levels=8),
        (4, 8, [5, 1, 2, 8]),
        id="price-priority",
    ),
    pytest.param(
        # n_levels inferred from the data (max level + 1 = 6).
        dict(level=[5, 4, 3, 4], qty=[10, 5, 8, 4], is_buy=[True, True, False, False]),
        (4, 12, [10, 2, 8, 4]),
        id="inferred-levels",
    ),
    pytest.param(
        dict(level=[0, 0], qty=[BIG_QTY, 3], is_buy=[True, False], n_levels=1),
        (0, 3, [3, 3]),
        id="single-level-grid",
    ),
]


@pytest.mark.parametrize("kwargs, expected", HAND_CASES)
def test_hand_examples(kwargs, expected):
    kw = dict(kwargs)
    n_levels = kw.pop("n_levels", None)
    assert _clear(**kw, n_levels=n_levels) == expected
    ref_levels = n_levels if n_levels is not None else max(kw["level"]) + 1
    assert _ref(**kw, n_levels=ref_levels) == expected


def test_max_book_lots_constant():
    assert MAX_BOOK_LOTS == 1 << 26
    assert MAX_N * BIG_QTY < MAX_BOOK_LOTS
