"""Venues: V exchanges, each with its own book per symbol, fees and batch interval.

Every family's orders live in ``[N, S, V * O]`` slots: slot ``v * O + o`` is the family's
order slot ``o`` on venue ``v``. For clearing, the same memory is read as ``S * V`` books
(:func:`as_books`, a reshape: book ``s * V + v`` is symbol ``s`` on venue ``v``, the *book
order*) and cleared by the one per-book auction of :func:`qtgjax.sim.tick.clear_book`;
settlement reads the books the same way, so accounts stay one per agent (cash and lots
fungible across venues, position limits on the total). No order-sized array is ever
transposed: only the small per-book arrays change between the book order and the
``[V, S]`` (venue-major) layout of market data and records (:func:`per_venue`,
:func:`book_order`). With one venue every reshape is the identity: the engine is the
single-venue engine bit for bit (``tests/test_venues.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.types import AccountParams
from qtgjax.market.auction import prefix_sum
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.market.types import Accounts, OrderIntent, Orders
from qtgjax.sim.settle import order_fees, settle_fills, trading_fees
from qtgjax.tree import pytree

ROUTES = ("fixed", "best", "all", "smart")  # a family's routing rule (SimStatic.routes)


@pytree
class VenueParams:
    """Per-venue numbers, and where each family's orders go.

    Attributes:
        batch_interval: int32[V] ticks between a venue's auctions: venue ``v`` clears on
            ticks ``t`` with ``t % batch_interval[v] == 0`` (1 = every tick); orders rest
            and accumulate in between (a periodic call market).
        maker_bps: float32[V] added to each family's own maker rate on this venue, bps.
        taker_bps: float32[V] added to each family's own taker rate on this venue, bps.
        home: int32[F] each family's venue for the ``fixed`` route (the fallback of the
            others when no venue shows a price).
    """

    batch_interval: jnp.ndarray
    maker_bps: jnp.ndarray
    taker_bps: jnp.ndarray
    home: jnp.ndarray

    @staticmethod
    def single(n_families: int) -> VenueParams:
        """One venue clearing every tick with no fees of its own."""
        return VenueParams(
            batch_interval=jnp.ones(1, jnp.int32),
            maker_bps=jnp.zeros(1, jnp.float32),
            taker_bps=jnp.zeros(1, jnp.float32),
            home=jnp.zeros(n_families, jnp.int32),
        )


@pytree
class VenueMarket:
    """Per-(venue, symbol) market state, int32[V, S] each.

    Attributes:
        last_price: last clearing price on the venue, ticks.
        anchor: price at the centre of the venue's grid (level K // 2), ticks.
        best_bid, best_ask: best residual quotes after the venue's last auction (0 = none).
        volume: lots traded in the venue's last auction.
        bid_depth, ask_depth: residual lots on the venue's grid per side.
    """

    last_price: jnp.ndarray
    anchor: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    volume: jnp.ndarray
    bid_depth: jnp.ndarray
    ask_depth: jnp.ndarray

    @staticmethod
    def start(price, n_venues: int) -> VenueMarket:
        """Every venue at the initial price int32[S], books empty."""
        full = jnp.broadcast_to(price, (n_venues, *price.shape))
        zeros = jnp.zeros_like(full)
        return VenueMarket(full, full, zeros, zeros, zeros, zeros, zeros)


@pytree
class VenueRecord:
    """What one tick records per (venue, symbol), int32[V, S] each (only when V > 1; with
    one venue the consolidated fields of the TickRecord are the venue's).

    Attributes:
        open, high, low, close, volume, taker_flow, clear_price, best_bid, best_ask,
        bid_depth, ask_depth: as in :class:`~qtgjax.sim.types.TickRecord`, per venue.
    """

    open: jnp.ndarray
    high: jnp.ndarray
    low: jnp.ndarray
    close: jnp.ndarray
    volume: jnp.ndarray
    taker_flow: jnp.ndarray
    clear_price: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    bid_depth: jnp.ndarray
    ask_depth: jnp.ndarray


def as_books(x, n_venues: int):
    """[N, S, V * O] slots -> [N, S * V, O] books in the book order (a reshape)."""
    if n_venues == 1:
        return x
    n, s, vo = x.shape
    return x.reshape(n, s * n_venues, vo // n_venues)


def as_slots(x, n_venues: int):
    """[N, S * V, O] books -> [N, S, V * O] slots (inverse of :func:`as_books`)."""
    if n_venues == 1:
        return x
    n, sv, o = x.shape
    return x.reshape(n, sv // n_venues, n_venues * o)


def per_venue(x, n_venues: int):
    """[S * V, ...] per book (book order) -> [V, S, ...]."""
    if n_venues == 1:
        return x.reshape(1, *x.shape)
    return jnp.swapaxes(x.reshape(-1, n_venues, *x.shape[1:]), 0, 1)


def book_order(x):
    """[V, S, ...] -> [S * V, ...] per book (inverse of :func:`per_venue`)."""
    if x.shape[0] == 1:
        return x.reshape(-1, *x.shape[2:])
    return jnp.swapaxes(x, 0, 1).reshape(-1, *x.shape[2:])


def venue_major(x, n_venues: int):
    """[S * V, ...] per book (book order) -> [V * S, ...] (book ``v * S + s``): the layout
    of the per-book records (depth, fills' clearing prices)."""
    return per_venue(x, n_venues).reshape(-1, *x.shape[1:])


def from_venue_major(x, n_venues: int):
    """[V * S, ...] venue-major -> [S * V, ...] book order (inverse of :func:`venue_major`)."""
    return book_order(x.reshape(n_venues, -1, *x.shape[1:]))


def fold_orders(orders: Orders, n_venues: int) -> Orders:
    """A family's resting orders [N, S, V * O] as it thinks of them, [N, S, O]: lots summed
    over venues, price, side and age of the slot on its first venue with lots."""
    if n_venues == 1:
        return orders
    n, s, vo = orders.qty.shape
    split = jax.tree.map(lambda x: x.reshape(n, s, n_venues, vo // n_venues), orders)
    lots = [split.qty[:, :, v] for v in range(n_venues)]

    def pick(x):  # elementwise over the venues' slices: no reduction, no gather
        out = x[:, :, 0]
        for v in reversed(range(1, n_venues)):
            out = jnp.where((lots[v] > 0) & (lots[0] == 0), x[:, :, v], out)
        return out

    return jax.tree.map(pick, split).replace(qty=sum(lots[1:], lots[0]))


def route(
    intent: OrderIntent, rule: str, home, view, taker_bps, n_venues: int, chosen=None
) -> OrderIntent:
    """Where a family's intent [N, S, O] goes: its [N, S, V * O] slots on the venues.

    Rules: ``fixed`` (the family's home venue), ``best`` (the venue with the best visible
    price on the order's side in the family's own view: lowest ask for a buy, highest bid
    for a sell; the home venue when none shows one), ``all`` (the same order on every
    venue: quoting everywhere), ``smart`` (split the lots over the venues by the depth
    each shows on the other side at a price within the order's limit after the venue's
    taker fee; the best-price venue when none does). A replaced slot is cancelled on the
    venues it does not go to. ``chosen`` (int32[N, S, O] or None, from
    :meth:`~qtgjax.agents.types.Family.venue_choice`): an order whose chosen venue is in
    [0, V) goes there whole, whatever the rule; the others follow the rule.
    """
    if n_venues == 1:
        return intent
    lots = venue_lots(intent, rule, home, view, taker_bps, n_venues)  # [N, S, V, O]
    if chosen is not None:
        lots = chosen_lots(intent.qty, chosen, lots, n_venues)
    n, s, o = intent.qty.shape

    def spread(x):  # the same value on every venue (None: a field the family leaves unset)
        if x is None:
            return None
        x = jnp.broadcast_to(x, (n, s, o))
        return jnp.broadcast_to(x[:, :, None, :], (n, s, n_venues, o)).reshape(n, s, -1)

    return OrderIntent(
        price=spread(intent.price),
        qty=lots.reshape(n, s, -1),
        is_buy=spread(intent.is_buy),
        replace=spread(intent.replace),
        order_type=spread(intent.order_type),
        stop_price=spread(intent.stop_price),
        peg_offset=spread(intent.peg_offset),
        display=spread(intent.display),
    )


def venue_lots(intent: OrderIntent, rule: str, home, view, taker_bps, n_venues: int):
    """int32[N, S, V, O] lots of each order sent to each venue (they sum to its lots)."""
    venues = jnp.arange(n_venues, dtype=jnp.int32)[None, None, :, None]
    qty = intent.qty[:, :, None, :]
    if rule == "all":
        return jnp.broadcast_to(qty, (*intent.qty.shape[:2], n_venues, intent.qty.shape[2]))
    if rule == "fixed":
        return jnp.where(venues == home, qty, 0)
    best = best_venue(intent.is_buy, home, view)
    if rule == "best":
        return jnp.where(venues == best[:, :, None, :], qty, 0)
    return smart_split(intent, best, view, taker_bps, n_venues)


def chosen_lots(qty, chosen, routed, n_venues: int):
    """int32[N, S, V, O]: all of an order's lots ``qty`` [N, S, O] on its chosen venue
    (``chosen`` int32[N, S, O] in [0, V)); ``routed`` lots where the choice is outside
    [0, V) (-1: no choice)."""
    venues = jnp.arange(n_venues, dtype=jnp.int32)[None, None, :, None]
    pick = chosen[:, :, None, :]
    whole = jnp.where(venues == pick, qty[:, :, None, :], 0)
    return jnp.where((pick >= 0) & (pick < n_venues), whole, routed)


def best_venue(is_buy, home, view):
    """int32[N, S, O]: the venue with the best visible price on each order's side."""
    bid = view.venues.best_bid  # [V, S]
    ask = jnp.where(view.venues.best_ask > 0, view.venues.best_ask, MAX_PRICE_TICKS + 1)
    best_buy, best_sell = jnp.argmin(ask, 0), jnp.argmax(bid, 0)  # [S]
    any_ask, any_bid = (view.venues.best_ask > 0).any(0), (bid > 0).any(0)
    buy = jnp.where(any_ask, best_buy, home)[None, :, None]
    sell = jnp.where(any_bid, best_sell, home)[None, :, None]
    return jnp.where(is_buy, buy, sell).astype(jnp.int32)


def smart_split(intent: OrderIntent, best, view, taker_bps, n_venues: int):
    """Lots per venue in proportion to the visible depth on the other side of each venue
    whose best price, with the venue's taker fee, is within the order's limit (integer
    lots by cumulative rounding, so they sum to the order's lots); the best-price venue
    when no venue qualifies."""
    v = view.venues

    def nsvo(x):  # [V, S] -> [1, S, V, 1], against orders [N, S, V, O]
        return x.T[None, :, :, None]

    fee = 1.0 + taker_bps[:, None] * 1e-4  # [V, 1]
    price = intent.price[:, :, None, :].astype(jnp.float32)
    is_buy = intent.is_buy[:, :, None, :]
    ok_buy = nsvo(v.best_ask > 0) & (nsvo(v.best_ask.astype(jnp.float32) * fee) <= price)
    ok_sell = nsvo(v.best_bid > 0) & (nsvo(v.best_bid.astype(jnp.float32) / fee) >= price)
    depth = jnp.where(is_buy, nsvo(v.ask_depth), nsvo(v.bid_depth))
    weight = jnp.where(jnp.where(is_buy, ok_buy, ok_sell), depth, 0)  # [N, S, V, O]
    total = weight.sum(2, keepdims=True)
    qty = intent.qty[:, :, None, :]
    through = prefix_sum(weight, axis=2).astype(jnp.float32) / jnp.maximum(total, 1)
    upto = jnp.floor(qty * through).astype(jnp.int32)
    venues = jnp.arange(n_venues, dtype=jnp.int32)[None, None, :, None]
    upto = jnp.where(venues == n_venues - 1, qty, upto)
    # minus the lots up to the venue before (0 for the first): slices, not a shifted copy
    before = sum(jnp.where(venues == v + 1, upto[:, :, v : v + 1], 0) for v in range(n_venues - 1))
    split = upto - before
    fallback = jnp.where(venues == best[:, :, None, :], qty, 0)
    return jnp.where(total > 0, split, fallback)


def limit_total(orders: Orders, position, max_position, n_venues: int) -> Orders:
    """Cut a family's orders [N, S, V * O] so that all its orders on one side, on every
    venue together, keep |position| <= max_position if they all fill (slots in order)."""
    if n_venues == 1:
        return orders
    room = jnp.where(
        orders.is_buy, max_position - position[..., None], max_position + position[..., None]
    )
    room = jnp.maximum(room, 0)
    buys = prefix_sum(jnp.where(orders.is_buy, orders.qty, 0))
    sells = prefix_sum(jnp.where(orders.is_buy, 0, orders.qty))
    before = jnp.where(orders.is_buy, buys, sells) - orders.qty
    qty = jnp.clip(room - before, 0, orders.qty)
    if orders.shown is None:
        return orders.replace(qty=qty)
    return orders.replace(qty=qty, shown=jnp.minimum(orders.shown, qty))  # icebergs show <= qty


def clears_now(tick, params: VenueParams, n_symbols: int):
    """bool[S * V] (book order): the venue of each book holds its auction this tick."""
    return jnp.tile(tick % params.batch_interval == 0, n_symbols)


def venue_limits(limits: AccountParams, params: VenueParams, n_symbols: int) -> AccountParams:
    """A family's fee rates per book [1, S * V, 1] (book order): its own rates plus each
    venue's (its own rates alone when the market has no ``venues`` section)."""
    if params is None:
        return limits
    return limits.replace(
        maker_bps=limits.maker_bps + jnp.tile(params.maker_bps, n_symbols)[None, :, None],
        taker_bps=limits.taker_bps + jnp.tile(params.taker_bps, n_symbols)[None, :, None],
    )


def settle_on_venues(acct: Accounts, orders: Orders, filled, price, limits, n_venues: int):
    """Fees (int32[N]) and fills of a family's [N, S, V * O] orders at the clearing prices
    int32[S * V] of the books (book order): one account per agent, lots summed over
    venues."""
    if n_venues == 1:
        return trading_fees(orders, filled, price, limits), settle_fills(
            acct, orders, filled, price
        )
    books = jax.tree.map(lambda x: as_books(x, n_venues), orders)
    f = as_books(filled, n_venues)
    fees = trading_fees(books, f, price, limits)
    n, s = acct.position.shape
    flat = acct.replace(position=jnp.zeros((n, s * n_venues), jnp.int32), orders=books)
    done = settle_fills(flat, books, f, price)
    return fees, acct.replace(
        cash=done.cash,
        position=acct.position + done.position.reshape(n, s, n_venues).sum(2),
        orders=jax.tree.map(lambda x: as_slots(x, n_venues), done.orders),
    )


def fees_per_order(orders: Orders, filled, price, limits, n_venues: int):
    """int32[N, S, V * O] fee of each of a family's orders' fills at the clearing prices
    int32[V * S] of the books (venue-major, as the records hold them), ``limits`` its
    :func:`venue_limits` (what :func:`settle_on_venues` charges, order by order)."""
    books = jax.tree.map(lambda x: as_books(x, n_venues), orders)
    price = from_venue_major(price, n_venues)
    fees = order_fees(books, as_books(filled, n_venues), price, limits)
    return as_slots(fees, n_venues)


def consolidate(vm: VenueMarket, volume, price):
    """Consolidated tape per symbol from the venues: (price, volume, best_bid, best_ask).

    The consolidated trade price is that of the venue that traded most lots (the lowest
    venue on a tie; 0 when none traded); the consolidated best bid is the highest venue
    bid, the best ask the lowest venue ask (0 where no venue shows one)."""
    if volume.shape[0] == 1:  # one venue: its tape (the same numbers, no reductions)
        return price[0], volume[0], vm.best_bid[0], vm.best_ask[0]
    top = jnp.argmax(volume, axis=0)[None]
    price = jnp.take_along_axis(price, top, 0)[0]
    total = volume.sum(0)
    ask = jnp.where(vm.best_ask > 0, vm.best_ask, MAX_PRICE_TICKS + 1).min(0)
    return (
        jnp.where(total > 0, price, 0),
        total,
        vm.best_bid.max(0),
        jnp.where(ask > MAX_PRICE_TICKS, 0, ask),
    )
