"""The order types in the tick: before the auction (stop triggers, pegs, what each order
offers), the auction with fill-or-kill passes, and after it (cancelled rests, post-only
orders joining the book, iceberg refills). Rules: :mod:`qtgjax.market.order_types`.

Compiled only when ``SimStatic.order_types`` is not empty (a market of limit orders has
none of it in its tick), and each part only when a type that needs it is used. Per book:
with venues the orders are read as S * V books (:func:`qtgjax.sim.venues.as_books`) and
every per-symbol input here is per book. ``clears`` (bool[S * V], None = every book) says
which books hold their auction this tick (a periodic venue's do not between its
auctions): there, stops do not fire and market / IOC / FOK orders and fired stops are not
cancelled; they wait in the book for their venue's next auction.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.market import order_types as ot
from qtgjax.market.auction import LevelTotals
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.market.types import Orders
from qtgjax.sim import book

FOK_PASSES = 2  # re-clearing passes that drop fill-or-kill orders not filled in full


def activate(
    orders: Orders, last_price, best_bid, best_ask, clears=None
) -> tuple[Orders, jnp.ndarray]:
    """One family's orders [N, S, O] as they stand in this tick (stops triggered by the
    last price, pegs re-priced on the previous auction's quotes; int32[S] each) and the
    lots each offers in the auction (:func:`qtgjax.market.order_types.offered_lots`)."""
    order_type, age = ot.trigger(orders, last_price, clears)
    price = ot.peg_price(
        order_type, orders.price, orders.is_buy, orders.peg_offset, last_price, best_bid, best_ask
    )
    price = ot.auction_price(order_type, price, orders.is_buy)
    now = orders.replace(order_type=order_type, age=age, price=price)
    return now, ot.offered_lots(order_type, orders.qty, age)


def clear_typed(
    orders: tuple[Orders, ...], offered: tuple, anchor, last_price, static, clear, clears=None
):
    """The tick's auction of typed orders: ``clear(orders, anchor, last_price, static)`` is
    :func:`qtgjax.sim.tick.clear_book`, ``offered`` the lots each order offers. Returns
    (Cleared, the lots each order had in the last pass). An FOK order in a book that holds
    no auction (``clears``) is not judged: it waits.

    Fill-or-kill: the book is cleared with every FOK order; then, ``FOK_PASSES`` times, the
    FOK orders not filled in full are removed and the book is cleared again; last, in a
    book where an FOK order is still not filled in full, every FOK order is removed and
    that book is cleared once more. Each pass is an ordinary auction of a sub-book (so
    buys and sells fill the same lots and its residual is uncrossed), the removed FOK
    orders fill nothing, and in the last pass every FOK order left fills in full.
    Without FOK orders in the market this is one auction.
    """
    auction = tuple(o.replace(qty=q) for o, q in zip(orders, offered, strict=True))
    cleared = clear(auction, anchor, last_price, static)
    if ot.FOK not in static.order_types:
        return cleared, offered
    fok = tuple((o.order_type == ot.FOK) & (o.qty > 0) & _in(clears) for o in auction)
    alive = fok
    for _ in range(FOK_PASSES):
        alive = tuple(
            a & (f == o.qty) for a, f, o in zip(alive, cleared.fills, auction, strict=True)
        )
        cleared = clear(_without(auction, fok, alive), anchor, last_price, static)
    short = [
        (a & (f < o.qty)).any((0, 2)) for a, f, o in zip(alive, cleared.fills, auction, strict=True)
    ]
    bad = jnp.stack(short).any(0)[None, :, None]  # [1, S, 1]: a book with an FOK short
    alive = tuple(a & ~bad for a in alive)
    final = _without(auction, fok, alive)
    return clear(final, anchor, last_price, static), tuple(o.qty for o in final)


def _in(clears):
    """bool[1, S, 1] (or True): the book holds its auction this tick."""
    return True if clears is None else clears[None, :, None]


def _without(auction, fok, alive):
    """The auction's orders with the removed FOK orders offering nothing."""
    return tuple(
        o.replace(qty=jnp.where(f & ~a, 0, o.qty))
        for o, f, a in zip(auction, fok, alive, strict=True)
    )


class AfterAuction(NamedTuple):
    """What the order types do after the auction, per family [N, S, O] or per symbol.

    Attributes:
        kept: per family, int32 lots that rest before the fills are taken off (the
            settlement's ``qty``): 0 for a cancelled order, the fill for a cancelled rest.
        dropped: per family, bool: the order was cancelled off the grid.
        cancelled: per family, int32 lots cancelled by their type: the unfilled rest of
            market / IOC / FOK orders and post-only orders that would cross.
        would_cross: per family, bool: a new post-only order cancelled as crossing.
        shown: per family, int32 lots an iceberg shows after the auction.
        refilled: per family, bool: an iceberg refilled (it loses its time priority).
        residual: LevelTotals int32[S, K], the book after the auction as market data
            shows it: with the post-only orders that joined, without icebergs' hidden lots.
    """

    kept: tuple
    dropped: tuple
    cancelled: tuple
    would_cross: tuple
    shown: tuple
    refilled: tuple
    residual: LevelTotals


def after_auction(
    orders, offered, fills, residual: LevelTotals, price, volume, anchor, static, clears=None
):
    """:class:`AfterAuction` from this tick's activated ``orders``, the lots they had in
    the auction's last pass (``offered``), their ``fills`` and the auction's residual book,
    price and volume [S]; ``clears`` as in the module docstring.

    First the rests of market / IOC / FOK orders leave the residual (the book that rests);
    the new post-only orders are judged against it; market data then shows it with the
    post-only orders that joined and without icebergs' hidden lots."""
    n_levels, n_symbols = static.n_levels, static.n_symbols
    base = anchor - n_levels // 2
    grid = [book.grid_level(o.price, o.is_buy, anchor, n_levels) for o in orders]
    fresh_po = [(o.order_type == ot.POST_ONLY) & (o.age == 0) & (o.qty > 0) for o in orders]
    cut, in_book = [], []
    for o, q, f, (level, inside) in zip(orders, offered, fills, grid, strict=True):
        left = jnp.where(inside, q, 0) - f  # lots of the order in the residual
        cut.append(ot.is_any(o.order_type, ot.CANCEL_REST) & _in(clears))
        in_book.append((level, jnp.where(cut[-1], -left, 0), o.is_buy))
    resting = _add_lots(residual, in_book, n_symbols, n_levels)
    # The post-only bounds per symbol: the clearing price, the resting book's best quotes
    # and the other side's new post-only orders.
    levels = jnp.arange(n_levels)
    ask = jnp.min(jnp.where(resting.sell > 0, levels, MAX_PRICE_TICKS), -1) + base
    bid = jnp.max(jnp.where(resting.buy > 0, levels, -MAX_PRICE_TICKS), -1) + base
    traded = volume > 0
    po_sell = _reduce(jnp.min, orders, fresh_po, False, MAX_PRICE_TICKS + 1)
    po_buy = _reduce(jnp.max, orders, fresh_po, True, 0)
    buy_cap = jnp.minimum(jnp.minimum(ask, po_sell), jnp.where(traded, price, MAX_PRICE_TICKS + 1))
    sell_floor = jnp.maximum(jnp.maximum(bid, po_buy), jnp.where(traded, price, 0))
    kept, dropped, cancelled, crossing, shown, refilled, added = [], [], [], [], [], [], []
    for o, q, f, po, rest_cut, (level, inside) in zip(
        orders, offered, fills, fresh_po, cut, grid, strict=True
    ):
        cap = jnp.where(o.is_buy, buy_cap[None, :, None], sell_floor[None, :, None])
        off = ((q > 0) | po) & ~inside
        cross = po & ~off & jnp.where(o.is_buy, o.price >= cap, o.price <= cap)
        k = jnp.where(off | cross, 0, jnp.where(rest_cut, f, o.qty))
        new_shown, refill = ot.refill(o.order_type, o.shown, o.display, f, k - f)
        hidden = jnp.where(o.order_type == ot.ICEBERG, k - f - new_shown, 0)
        join = jnp.where(po & ~cross & ~off, o.qty, 0) - hidden
        kept.append(k)
        dropped.append(off & (o.qty > 0))
        cancelled.append(jnp.where(cross | (rest_cut & ~off), o.qty - f, 0))
        crossing.append(cross)
        shown.append(new_shown)
        refilled.append(refill)
        added.append((level, join, o.is_buy))
    return AfterAuction(
        tuple(kept),
        tuple(dropped),
        tuple(cancelled),
        tuple(crossing),
        tuple(shown),
        tuple(refilled),
        _add_lots(resting, added, n_symbols, n_levels),
    )


def _reduce(fn, orders, mask, buys: bool, empty):
    """Per symbol: ``fn`` of the prices of the masked orders of one side (``empty`` if none)."""
    parts = [
        fn(jnp.where(m & (o.is_buy == buys), o.price, empty), axis=(0, 2), initial=empty)
        for o, m in zip(orders, mask, strict=True)
    ]
    return fn(jnp.stack(parts), axis=0)


def _add_lots(residual: LevelTotals, added, n_symbols: int, n_levels: int) -> LevelTotals:
    """``residual`` with ``lots`` [N, S, O] (negative: taken off) added at their grid
    levels, family by family."""
    bins = jnp.concatenate([residual.buy, residual.sell], axis=1).reshape(-1)
    for level, lots, is_buy in added:
        symbol = jax.lax.broadcasted_iota(jnp.int32, lots.shape, 1) * (2 * n_levels)
        index = symbol + jnp.where(is_buy, 0, n_levels) + level
        bins = bins.at[index.reshape(-1)].add(lots.reshape(-1), mode="promise_in_bounds")
    bins = bins.reshape(n_symbols, 2 * n_levels)
    return LevelTotals(bins[:, :n_levels], bins[:, n_levels:])


def settled(orders: Orders, after: AfterAuction, i: int) -> Orders:
    """Family ``i``'s resting orders after settlement with its icebergs' shown lots; a
    refilled iceberg ranks as an order placed in this tick (age 0 now, 1 next tick)."""
    return orders.replace(shown=after.shown[i], age=jnp.where(after.refilled[i], 0, orders.age))
