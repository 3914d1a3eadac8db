"""Batch (call) auction on a price-level grid, in exact integer arithmetic.

One book is a flat list of ``n`` orders on a grid of ``n_levels`` price levels. Clearing
(DESIGN.md section 2):

* ``D(l)`` = buy lots with limit level >= l, ``S(l)`` = sell lots with limit level <= l.
* The clearing level maximises ``min(D, S)``; among those, only levels where every order
  strictly better than the level fits in the volume are kept (so that "strictly better
  fills fully" holds even on flat stretches); ties go to the smallest ``|D - S|``, then to
  the level nearest the reference level, then to the lowest level.
* Allocation: price priority; at the marginal level older orders (larger ``age``) before
  newer ones; pro-rata within one age, with integer remainders by *cumulative rounding* in
  order index: order ``i`` of a class receives ``floor(R*Q_i/V) - floor(R*Q_{i-1}/V)``
  where ``R`` is the lots the class receives, ``V`` the class volume and ``Q_i`` the class
  lots up to and including order ``i``. Each order gets at most its quantity and the
  class gets exactly ``R``.

Everything is loop-free array code; it jits and vmaps. Limits: total lots in one book
< 2**26 (so that the pro-rata arithmetic stays exact in int32).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.market.auction_inputs import check_auction_inputs

MAX_BOOK_LOTS = 1 << 26
_BIG = jnp.iinfo(jnp.int32).max


class AuctionResult(NamedTuple):
    """Outcome of one batch auction.

    Attributes:
        level: int32[] clearing level, -1 when nothing trades.
        volume: int32[] lots traded (each side).
        filled: int32[n] lots filled per order, 0 <= filled <= qty.
    """

    level: jnp.ndarray
    volume: jnp.ndarray
    filled: jnp.ndarray


class LevelTotals(NamedTuple):
    """Per-level sums of one book, int32[n_levels] lots each."""

    buy: jnp.ndarray
    sell: jnp.ndarray


def muldiv(a, b, c):
    """Exact ``floor(a * b / c)`` for int32 ``0 <= a, b <= c < 2**26`` (c > 0).

    A float32 estimate is off by a few units at most; the residual ``a*b - e*c`` is then
    small enough that int32 wrap-around arithmetic gives it exactly. Its quotient by ``c``
    is again estimated in float32 (off by at most one, as the residual is small) and one
    compare-and-step makes it exact. No integer division: CPUs have no vector instruction
    for it, so it would run one element at a time.
    """
    a, b, c = (jnp.asarray(x, jnp.int32) for x in (a, b, c))
    c_safe = jnp.maximum(c, 1)
    c_float = c_safe.astype(jnp.float32)
    estimate = jnp.floor(a.astype(jnp.float32) * (b.astype(jnp.float32) / c_float))
    estimate = estimate.astype(jnp.int32)
    residual = a * b - estimate * c_safe  # exact: wraps back into range
    step = jnp.floor(residual.astype(jnp.float32) / c_float).astype(jnp.int32)
    rest = residual - step * c_safe  # in [-c, 2c)
    step = step - (rest < 0).astype(jnp.int32) + (rest >= c_safe).astype(jnp.int32)
    return estimate + step


def level_totals(level, qty, is_buy, n_levels: int) -> LevelTotals:
    """Lots per level and side (orders with qty 0 or off the grid count nothing).

    One scatter-add into ``2 * n_levels`` bins (buys, then sells) serves both sides.
    """
    on_grid = (level >= 0) & (level < n_levels)
    qty = jnp.where(on_grid, qty, 0)
    idx = jnp.clip(level, 0, n_levels - 1) + jnp.where(is_buy, 0, n_levels)
    both = jax.ops.segment_sum(qty, idx, 2 * n_levels)
    return LevelTotals(both[:n_levels], both[n_levels:])


def materialise(x):
    """Integer ``x`` itself, computed once into a buffer that its consumers read.

    XLA:CPU fuses cheap elementwise producers into every consumer, so a value that feeds
    many consumers (the fills feed settlement, fees, records...) would be recomputed in
    each; ``optimization_barrier`` does not stop this on CPU. A reduction is never fused
    into its consumers, so ``x`` is written as the bitwise or of itself and a zero slice
    over a new leading axis of size two. XLA does not fold it away, the reduction keeps the
    producer's vectorised loop (an identity gather would run it element by element), and
    an or, unlike a sum, is not merged with the consumers' own sums (which would bring the
    two-slice array back as a buffer).
    """
    first = jax.lax.broadcasted_iota(jnp.int32, (2, *x.shape), 0) == 0
    both = jnp.where(first, x[None], jnp.zeros((), x.dtype))
    return jax.lax.reduce(both, jnp.zeros((), x.dtype), jax.lax.bitwise_or, (0,))


SHORT_SCAN = 8  # integer prefix sums over at most this many elements are summed directly


def prefix_sum(x, axis: int = -1, reverse: bool = False):
    """Inclusive prefix sum along ``axis``, exact for integers.

    A parallel (associative) scan: on CPU, XLA lowers ``jnp.cumsum`` to a blocked
    reduce-window that costs several times more on the vectors the auction scans. An
    integer axis of at most :data:`SHORT_SCAN` elements (a family's slots across venues)
    is summed directly, element ``k`` the sum of each element ``j <= k`` broadcast along
    the axis: one elementwise loop, where the scan's slices, pads and concatenations (or a
    reduction) would be fused into every consumer and break XLA's vectorised loops over
    the orders.
    """
    axis = axis % jnp.ndim(x)
    n = x.shape[axis]
    if n <= SHORT_SCAN and jnp.issubdtype(x.dtype, jnp.integer):
        k = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis)
        out = jnp.zeros_like(x)
        for j in range(n):
            part = jax.lax.slice_in_dim(x, j, j + 1, axis=axis)
            out = out + jnp.where((k <= j) if reverse else (k >= j), part, 0)
        return out
    return jax.lax.associative_scan(jnp.add, x, reverse=reverse, axis=axis)


def demand_supply(totals: LevelTotals):
    """``D(l)`` (buy lots with limit >= l) and ``S(l)`` (sell lots with limit <= l)."""
    demand = prefix_sum(totals.buy, reverse=True)
    supply = prefix_sum(totals.sell)
    return demand, supply


def clearing_level(totals: LevelTotals, ref_level=None):
    """Clearing level and volume of one book (see module docstring). Returns int32 scalars."""
    n_levels = totals.buy.shape[-1]
    demand, supply = demand_supply(totals)
    executed = jnp.minimum(demand, supply)
    volume = jnp.max(executed)
    fits = ((demand - totals.buy) <= volume) & ((supply - totals.sell) <= volume)
    candidate = (executed == volume) & fits
    candidate = _keep_smallest(candidate, jnp.abs(demand - supply))
    levels = jnp.arange(n_levels, dtype=jnp.int32)
    ref = jnp.int32(0) if ref_level is None else jnp.asarray(ref_level, jnp.int32)
    candidate = _keep_smallest(candidate, jnp.abs(levels - ref))
    level = jnp.argmax(candidate).astype(jnp.int32)
    traded = volume > 0
    return jnp.where(traded, level, -1), jnp.where(traded, volume, 0)


def _keep_smallest(mask, key):
    best = jnp.min(jnp.where(mask, key, _BIG))
    return mask & (key == best)


def level_allotment(totals: LevelTotals, volume):
    """Lots each (level, side) receives under price priority: int32[n_levels] buy, sell."""
    demand, supply = demand_supply(totals)
    buy = jnp.clip(volume - (demand - totals.buy), 0, totals.buy)
    sell = jnp.clip(volume - (supply - totals.sell), 0, totals.sell)
    return LevelTotals(buy, sell)


def prorata_fill(class_received, class_lots_through, qty, class_volume):
    """Cumulative-rounding pro-rata: lots for an order given its class running total."""
    upto = muldiv(class_received, class_lots_through, class_volume)
    before = muldiv(class_received, class_lots_through - qty, class_volume)
    return upto - before


def allocate_sorted(level, qty, is_buy, age, allot: LevelTotals):
    """Fills for arbitrary int32 ages: one sort by (side, level, -age, index)."""
    n = qty.shape[0]
    index = jnp.arange(n, dtype=jnp.int32)
    order = jnp.lexsort((index, -age, level, ~is_buy))
    s_level, s_qty, s_buy, s_age = level[order], qty[order], is_buy[order], age[order]
    through = jnp.cumsum(s_qty)
    before = through - s_qty
    new_level = _starts(s_level) | _starts(s_buy)
    new_class = new_level | _starts(s_age)
    level_start = _broadcast_start(new_level, before)
    class_start = _broadcast_start(new_class, before)
    class_end = _broadcast_end(new_class, through)
    older = class_start - level_start
    class_volume = class_end - class_start
    level_received = jnp.where(s_buy, allot.buy[s_level], allot.sell[s_level])
    class_received = jnp.clip(level_received - older, 0, class_volume)
    s_fill = prorata_fill(class_received, through - class_start, s_qty, class_volume)
    return jnp.zeros(n, jnp.int32).at[order].set(s_fill)


def _starts(x):
    return jnp.concatenate([jnp.ones(1, bool), x[1:] != x[:-1]])


def _broadcast_start(is_start, values):
    """Value at the start of each run, broadcast over the run."""
    idx = jnp.where(is_start, jnp.arange(values.shape[0]), 0)
    return values[jax.lax.cummax(idx)]


def _broadcast_end(is_start, values):
    """Value at the end of each run, broadcast over the run."""
    n = values.shape[0]
    is_end = jnp.concatenate([is_start[1:], jnp.ones(1, bool)])
    idx = jnp.where(is_end, jnp.arange(n), n - 1)
    return values[jax.lax.cummin(idx, reverse=True)]


def allocate_age_classes(level, qty, is_buy, age, allot: LevelTotals, n_ages: int):
    """Fills when ages lie in [0, n_ages): no sort, O(n * n_ages). Same result as sorting.

    Only the one rationed level per side needs pro-rata; every other order fills fully or
    not at all.
    """
    n_levels = allot.buy.shape[0]
    on_grid = (level >= 0) & (level < n_levels)
    qty = jnp.where(on_grid, qty, 0)
    lvl = jnp.clip(level, 0, n_levels - 1)
    side = jnp.where(is_buy, 0, 1)
    cls = side * n_ages + age  # class id in [0, 2*n_ages)
    per_class = jax.ops.segment_sum(qty, (lvl * 2 * n_ages) + cls, n_levels * 2 * n_ages)
    per_class = per_class.reshape(n_levels, 2, n_ages)
    older_by_age = jnp.cumsum(per_class[..., ::-1], axis=-1)[..., ::-1] - per_class
    class_volume = per_class[lvl, side, age]
    older = older_by_age[lvl, side, age]
    received = jnp.where(is_buy, allot.buy[lvl], allot.sell[lvl])
    level_volume = jnp.where(is_buy, per_class[lvl, 0].sum(-1), per_class[lvl, 1].sum(-1))
    rationed = (received > 0) & (received < level_volume)
    class_received = jnp.clip(received - older, 0, class_volume)
    onehot = (cls[:, None] == jnp.arange(2 * n_ages)) & rationed[:, None]
    running = jnp.cumsum(jnp.where(onehot, qty[:, None], 0), axis=0)
    through = jnp.take_along_axis(running, cls[:, None], axis=1)[:, 0]
    partial = prorata_fill(class_received, through, qty, class_volume)
    full = jnp.where(received > 0, qty, 0)
    return jnp.where(rationed, partial, full)


class Marginal(NamedTuple):
    """The one rationed slice of a cleared book (int32 scalars).

    At the clearing level at most one side is rationed (both would need
    ``volume < min(D, S)``); on that side older classes are served first, so the ages
    ``>= full_from`` fill fully, age ``full_from - 1`` is cut pro-rata (it receives
    ``received`` of its ``class_volume`` lots) and younger ages get nothing.

    Attributes:
        level: clearing level, -1 when nothing trades.
        cut_buy: bool, the rationed side is the buy side.
        cut: bool, one side is rationed.
        full_from: ages >= this fill fully on the rationed side.
        received: lots the pro-rata class receives.
        class_volume: lots of the pro-rata class.
    """

    level: jnp.ndarray
    cut_buy: jnp.ndarray
    cut: jnp.ndarray
    full_from: jnp.ndarray
    received: jnp.ndarray
    class_volume: jnp.ndarray


class RationedSide(NamedTuple):
    """Which side of a cleared book is rationed at the clearing level (int32/bool scalars).

    Attributes:
        level: clearing level, -1 when nothing trades.
        cut_buy: the rationed side is the buy side.
        cut: one side is rationed.
        received: lots the rationed side receives at the clearing level.
    """

    level: jnp.ndarray
    cut_buy: jnp.ndarray
    cut: jnp.ndarray
    received: jnp.ndarray


def rationed_side(totals: LevelTotals, clear_at, volume) -> RationedSide:
    """The rationed side of one book from its per-level totals and clearing result."""
    demand, supply = demand_supply(totals)
    m = jnp.maximum(clear_at, 0)
    traded = volume > 0
    cut_buy = traded & (volume < demand[m])
    cut = cut_buy | (traded & (volume < supply[m]))
    received = jnp.where(
        cut_buy, volume - (demand[m] - totals.buy[m]), volume - (supply[m] - totals.sell[m])
    )
    return RationedSide(clear_at, cut_buy, cut, received)


def on_rationed_side(level, is_buy, side: RationedSide):
    """bool: the order rests at the clearing level on the rationed side (elementwise)."""
    return side.cut & (level == side.level) & (is_buy == side.cut_buy)


def rationed_class(side: RationedSide, class_volume) -> Marginal:
    """The pro-rata age class, from the rationed side's lots per age ``int32[n_ages]``."""
    older_incl = jnp.cumsum(class_volume[::-1])[::-1]  # lots of ages >= a
    full_from = jnp.sum(older_incl > side.received).astype(jnp.int32)
    older = jnp.concatenate([older_incl[1:], jnp.zeros(1, jnp.int32)])
    boundary = jnp.maximum(full_from - 1, 0)
    return Marginal(
        level=side.level,
        cut_buy=side.cut_buy,
        cut=side.cut,
        full_from=full_from,
        received=jnp.where(full_from > 0, side.received - older[boundary], 0),
        class_volume=class_volume[boundary],
    )


def marginal_slice(level, qty, is_buy, age, totals: LevelTotals, clear_at, volume, n_ages):
    """The rationed side and age class at the clearing level (see :class:`Marginal`).

    Args:
        level, qty, is_buy, age: int32/bool[n] orders (levels clipped to the grid, qty 0
            off the grid, ages in [0, n_ages)).
        totals: per-level lots of the book. clear_at, volume: from :func:`clearing_level`.
        n_ages: number of age classes (static).
    """
    side = rationed_side(totals, clear_at, volume)
    on_cut = on_rationed_side(level, is_buy, side)
    class_volume = jax.ops.segment_sum(jnp.where(on_cut, qty, 0), age, n_ages)
    return rationed_class(side, class_volume)


def fill_roles(level, is_buy, age, marginal: Marginal):
    """Elementwise (prorated, full): the order is in the pro-rata class / fills fully.

    Orders strictly better than the clearing level fill fully, worse ones not at all, the
    unrationed side of the clearing level fully; on the rationed side ages
    ``>= full_from`` fully, age ``full_from - 1`` pro-rata, younger ages not at all.
    ``marginal``'s fields broadcast against the orders.
    """
    m = marginal
    traded = m.level >= 0
    at_level = traded & (level == m.level)
    better = traded & jnp.where(is_buy, level > m.level, level < m.level)
    on_cut = at_level & m.cut & (is_buy == m.cut_buy)
    prorated = on_cut & (age == m.full_from - 1)
    full = better | (at_level & ~on_cut) | (on_cut & (age >= m.full_from))
    return prorated, full


def marginal_fills(qty, through, prorated, full, marginal: Marginal):
    """Lots each order fills (materialised): cumulative-rounding pro-rata in the pro-rata
    class, where ``through`` is the class's running total up to and including the order."""
    m = marginal
    partial = prorata_fill(m.received, jnp.where(prorated, through, qty), qty, m.class_volume)
    return materialise(jnp.where(prorated, partial, jnp.where(full, qty, 0)))


def allocate_marginal(level, qty, is_buy, age, marginal: Marginal):
    """Fills per order from the book's :class:`Marginal`: the same result as
    :func:`allocate_sorted` and :func:`allocate_age_classes`, with no per-order gather
    and one prefix sum over the book (see :func:`fill_roles`)."""
    prorated, full = fill_roles(level, is_buy, age, marginal)
    through = prefix_sum(jnp.where(prorated, qty, 0))
    return marginal_fills(qty, through, prorated, full, marginal)


def clear_levels(level, qty, is_buy, age, ref_level, n_levels: int, n_ages: int):
    """Clear one book whose orders are already on the grid: the engine's fast path.

    Args:
        level: int32[n] levels clipped to [0, n_levels). qty: int32[n] lots, 0 off the
            grid. is_buy: bool[n]. age: int32[n] in [0, n_ages). ref_level: int32[].

    Returns:
        (AuctionResult, residual LevelTotals after the auction).
    """
    totals = level_totals(level, qty, is_buy, n_levels)
    clear_at, volume = clearing_level(totals, ref_level)
    allot = level_allotment(totals, volume)
    marginal = marginal_slice(level, qty, is_buy, age, totals, clear_at, volume, n_ages)
    filled = allocate_marginal(level, qty, is_buy, age, marginal)
    residual = LevelTotals(totals.buy - allot.buy, totals.sell - allot.sell)
    return AuctionResult(clear_at, volume, filled), residual


def clear_batch_auction(
    level, qty, is_buy, age=None, ref_level=None, *, n_levels: int | None = None
) -> AuctionResult:
    """Clear one book of individual orders by batch auction.

    Args:
        level: int32[n] limit price level of each order on the grid [0, n_levels).
            Orders off the grid take no part (filled 0).
        qty: int32[n] lots, >= 0 (0 = no order). Total lots on the grid < 2**26.
        is_buy: bool[n] side.
        age: int32[n] >= 0, larger is older (time priority); None means all equal.
        ref_level: int32 reference level for the last tie-break (usually the last
            price); None means the lowest level wins remaining ties.
        n_levels: grid size (static). Required under ``jit``/``vmap``; when omitted it is
            inferred from the concrete inputs as ``max(level) + 1``.

    Returns:
        AuctionResult(level, volume, filled).

    Raises:
        ValueError: naming the argument, before anything is traced: inputs that are not
            1-D or differ in length, float or boolean levels, quantities or ages,
            ``n_levels`` < 1; for concrete (eager) inputs also negative quantities or ages,
            values outside int32 and 2**26 or more lots on the grid. Under ``jit``/``vmap``
            values cannot be checked: negative quantities then count as no order, and the
            caller keeps books below 2**26 lots (the engine's configs are checked for it).

    Example:
        >>> import jax.numpy as jnp, qtgjax
        >>> r = qtgjax.clear_batch_auction(
        ...     jnp.array([5, 4, 3, 4]), jnp.array([10, 5, 8, 4]),
        ...     jnp.array([True, True, False, False]), n_levels=8)
        >>> int(r.level), int(r.volume), r.filled.tolist()
        (4, 12, [10, 2, 8, 4])
    """
    check_auction_inputs(level, qty, is_buy, age, ref_level, n_levels, MAX_BOOK_LOTS)
    level = jnp.asarray(level, jnp.int32)
    qty = jnp.asarray(qty, jnp.int32)
    is_buy = jnp.asarray(is_buy, bool)
    age = jnp.zeros_like(level) if age is None else jnp.asarray(age, jnp.int32)
    if n_levels is None:
        n_levels = _infer_levels(level, ref_level)
    on_grid = (level >= 0) & (level < n_levels)
    qty = jnp.where(on_grid, jnp.maximum(qty, 0), 0)
    totals = level_totals(level, qty, is_buy, n_levels)
    clear_at, volume = clearing_level(totals, ref_level)
    allot = level_allotment(totals, volume)
    filled = allocate_sorted(jnp.clip(level, 0, n_levels - 1), qty, is_buy, age, allot)
    return AuctionResult(clear_at, volume, filled)


def _infer_levels(level, ref_level) -> int:
    try:
        top = int(jnp.max(level)) if level.size else 0
        if ref_level is not None:
            top = max(top, int(ref_level))
    except jax.errors.ConcretizationTypeError as err:
        raise ValueError(
            "clear_batch_auction: pass n_levels=K (a Python int) when calling under jit/vmap"
        ) from err
    return top + 1
