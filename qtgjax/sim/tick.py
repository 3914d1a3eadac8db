"""One tick of one scenario: observe, act, aggregate, clear, allocate, settle, update, record."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.market import money
from qtgjax.market.auction import (
    LevelTotals,
    clearing_level,
    fill_roles,
    level_allotment,
    marginal_fills,
    materialise,
    on_rationed_side,
    rationed_class,
    rationed_side,
)
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.market.types import MarketView, Orders
from qtgjax.ml.features import feature_inputs, update_features
from qtgjax.sim import book, order_flow
from qtgjax.sim.fundamentals import accrue, dividend_ticks, ex_dividend, step_fundamentals
from qtgjax.sim.latency import (
    LatencyRecord,
    LatencyState,
    direct_counts,
    no_transit,
    push_view,
    send_and_deliver,
    stale_view,
)
from qtgjax.sim.settle import borrow_costs, charge, credit_external, pay_dividends
from qtgjax.sim.signals import indicator_view, update_indicators
from qtgjax.sim.types import MarketState, SimParams, SimState, SimStatic, TickRecord
from qtgjax.sim.venues import (
    VenueMarket,
    VenueParams,
    VenueRecord,
    as_books,
    as_slots,
    book_order,
    clears_now,
    consolidate,
    fold_orders,
    limit_total,
    per_venue,
    route,
    settle_on_venues,
    venue_limits,
    venue_major,
)

LATENCY_STREAM = 0x1A7E  # fold_in tag of the latency draws: the other keys stay as they were


def observe(state: SimState, params: SimParams) -> MarketView:
    """What every agent sees at the start of the tick (one place computes features)."""
    m = state.market
    return MarketView(
        tick=state.tick,
        last_price=m.last_price,
        best_bid=m.best_bid,
        best_ask=m.best_ask,
        anchor=m.anchor,
        fundamental=state.fundamentals.value,
        ema_fast=m.ema_fast,
        ema_slow=m.ema_slow,
        volatility=m.volatility,
        news=state.fundamentals.news,
        volume=m.volume,
        sector=params.fundamentals.sector,
        indicators=indicator_view(m.indicators, params.market.indicators),
        venues=m.venues,
        features=m.features.value,
    )


def venue_params(static: SimStatic, params: SimParams) -> VenueParams:
    """The market's venues (one plain venue when the config has no ``venues`` section)."""
    if params.venues is None:
        return VenueParams.single(len(static.families))
    return params.venues


def act_all(static: SimStatic, params: SimParams, state: SimState, view: MarketView, key):
    """Every family's orders for this tick, routed to the venues and merged with its
    resting orders (see :func:`act_detail`)."""
    orders, extras, latency, _, _ = act_detail(static, params, state, view, key)
    return orders, extras, latency


def act_detail(static: SimStatic, params: SimParams, state: SimState, view: MarketView, key):
    """Every family's orders for this tick, routed to the venues ([N, S, V * O] slots,
    :mod:`qtgjax.sim.venues`) and merged with its resting orders. A family sees its own
    resting orders folded over the venues ([N, S, O]). Also returns, per family,
    int32[N, S, V * O]: the lots of an order that the position limit cut to nothing, else 0
    (what ``fills.parquet`` reports as rejected), and, with latency, per family the
    :class:`~qtgjax.sim.latency.Transit` of its messages (None without latency)."""
    keys = jax.random.split(key, len(static.families))
    venues, n_venues, delay = venue_params(static, params), static.n_venues, static.max_delay
    if delay:  # orders in flight and stale views (qtgjax.sim.latency)
        lat_keys = jax.random.split(jax.random.fold_in(key, LATENCY_STREAM), len(static.families))
        views = push_view(state.latency.views, view, state.tick, delay)
    orders, extras, flights, counts, limited, transit = [], [], [], [], [], []
    for i, spec in enumerate(static.families):
        acct, limits = state.accounts[i], params.accounts[i]
        own = acct.replace(orders=fold_orders(acct.orders, n_venues))
        ringed = static.in_flight(i)
        if ringed:
            lat = jax.tree.map(lambda x, i=i: x[i], params.latency)
            seen = stale_view(views, state.tick, lat.data_delay, delay)
        else:
            seen = view
        family = get_family(spec.kind)
        chosen = family.venue_choice(spec, state.extras[i]) if n_venues > 1 else None
        intent, extra = family.act(spec, params.strategies[i], state.extras[i], own, seen, keys[i])
        intent = route(
            intent, static.route(i), venues.home[i], seen, venues.taker_bps, n_venues, chosen
        )
        if ringed:
            intent, flight, count, lost = send_and_deliver(
                state.latency.inflight[i],
                intent,
                state.tick,
                lat,
                view.volatility,
                n_venues,
                delay,
                lat_keys[i],
            )
            flights.append(flight)
            counts.append(count)
            transit.append(lost)
        elif delay:  # no profile: at the venues at once, nothing in the rings
            flights.append(None)
            counts.append(direct_counts(intent, n_venues))
            transit.append(no_transit(intent))
        merged = book.merge_intent(acct.orders, intent, acct.position, limits.max_position)
        merged = jax.tree.map(materialise, merged)  # computed once, read by many
        if n_venues > 1:  # the limit on all venues together reads the buffers above
            merged = limit_total(merged, acct.position, limits.max_position, n_venues)
            merged = merged.replace(qty=materialise(merged.qty))
        orders.append(merged)
        extras.append(extra)
        want = jnp.where(intent.replace, intent.qty, acct.orders.qty)
        limited.append(jnp.where(merged.qty == 0, want, 0))
    if not delay:
        return tuple(orders), tuple(extras), None, tuple(limited), None
    record = LatencyRecord(*(jnp.stack([c[k] for c in counts]) for k in range(4)))  # [F, V]
    return (
        tuple(orders),
        tuple(extras),
        (LatencyState(tuple(flights), views), record),
        tuple(limited),
        tuple(transit),
    )


class Cleared(NamedTuple):
    """Outcome of one tick's auctions, per family [N_f, S, O_f] or per symbol [S].

    Attributes:
        fills: per family, int32 lots each order filled.
        price: int32[S] clearing price, ticks (0 when nothing traded).
        volume: int32[S] lots traded.
        residual: LevelTotals int32[S, K] lots left on the grid after the auction.
        kept: per family, int32 order lots with orders off the grid cancelled (0).
        dropped: int32[S] orders cancelled this tick because they fell off the grid.
    """

    fills: tuple
    price: jnp.ndarray
    volume: jnp.ndarray
    residual: LevelTotals
    kept: tuple
    dropped: jnp.ndarray


def clear_book(
    orders: tuple[Orders, ...], anchor, last_price, static: SimStatic, clears=None
) -> Cleared:
    """Batch auction of every symbol's book, straight from each family's [N, S, O] orders.

    ``clears`` (bool[S], None = all) says which books hold their auction: the others trade
    nothing and keep every order (a periodic venue between its auctions).

    The same auction as :func:`qtgjax.market.auction.clear_levels` on the flat book of all
    families (``tests/test_optimised.py`` checks it every tick), without copying the book:
    per-level totals and the rationed class's lots are scatter-added family by family, the
    pro-rata running totals come from one scan over the families' pro-rata lots, and the
    fills are computed in each family's own layout.
    """
    n_levels, n_ages, n_symbols = static.n_levels, static.n_ages, static.n_symbols
    # Per-book values are written to buffers before the per-order loops read them: fused
    # into those loops, XLA:CPU would recompute them for every order.
    anchor = materialise(anchor)
    grid = tuple(book.on_grid(o, anchor, n_levels, n_ages) for o in orders)
    totals, dropped = book.book_totals(grid, n_symbols, n_levels)
    ref = last_price - (anchor - n_levels // 2)
    clear_at, volume = jax.vmap(clearing_level)(totals, ref)
    if clears is not None:
        clear_at, volume = jnp.where(clears, clear_at, -1), jnp.where(clears, volume, 0)
    clear_at, volume = materialise(clear_at), materialise(volume)
    allot = jax.vmap(level_allotment)(totals, volume)
    side = jax.tree.map(materialise, jax.vmap(rationed_side)(totals, clear_at, volume))
    on_cut = tuple(
        on_rationed_side(g.level, g.is_buy, jax.tree.map(_per_symbol, side)) for g in grid
    )
    volumes = book.class_volumes(grid, on_cut, n_symbols, n_ages)
    marginal = jax.vmap(rationed_class)(side, volumes)
    marginal = jax.tree.map(lambda x: _per_symbol(materialise(x)), marginal)
    roles = [fill_roles(g.level, g.is_buy, g.age, marginal) for g in grid]
    pro_rata = [jnp.where(prorated, g.qty, 0) for g, (prorated, _) in zip(grid, roles, strict=True)]
    through = book.book_prefix(tuple(pro_rata))
    fills = tuple(
        marginal_fills(g.qty, run, prorated, full, marginal)
        for g, run, (prorated, full) in zip(grid, through, roles, strict=True)
    )
    price = materialise(jnp.where(volume > 0, anchor - n_levels // 2 + clear_at, 0))
    residual = LevelTotals(totals.buy - allot.buy, totals.sell - allot.sell)
    kept = tuple(jnp.where(g.dropped, 0, o.qty) for g, o in zip(grid, orders, strict=True))
    return Cleared(fills, price, volume, residual, kept, dropped)


def clear_typed_tick(static: SimStatic, params: SimParams, state: SimState, orders, anchor):
    """The auctions of a market with order types, every family's [N, S, V * O] slots read
    as S * V books (:mod:`qtgjax.sim.venues`): stops and pegs act on their own venue's last
    price and quotes. Returns (Cleared per book, with the residual as market data shows
    it; this tick's activated orders and the :class:`~qtgjax.sim.order_flow.AfterAuction`,
    both in book layout [N, S * V, O])."""
    n_venues, vm = static.n_venues, state.market.venues
    by_book = static.replace(n_symbols=n_venues * static.n_symbols)
    clears = None
    if params.venues is not None:
        clears = clears_now(state.tick, params.venues, static.n_symbols)
    last, bid, ask = (book_order(x) for x in (vm.last_price, vm.best_bid, vm.best_ask))
    books = [jax.tree.map(lambda x: as_books(x, n_venues), o) for o in orders]
    active = [order_flow.activate(o, last, bid, ask, clears) for o in books]
    books, offered = tuple(a[0] for a in active), tuple(a[1] for a in active)

    def clear(orders, anchor, last_price, static):
        return clear_book(orders, anchor, last_price, static, clears)

    cleared, last_pass = order_flow.clear_typed(
        books, offered, anchor, last, by_book, clear, clears
    )
    after = order_flow.after_auction(
        books, last_pass, cleared.fills, cleared.residual, cleared.price, cleared.volume,
        anchor, by_book, clears,
    )
    return cleared._replace(residual=after.residual), books, after


def _per_symbol(x):
    """[S] -> [1, S, 1]: a per-symbol value against [N, S, O] orders."""
    return x[None, :, None]


def best_quotes(residual: LevelTotals, anchor, n_levels: int):
    """Best residual bid and ask prices per symbol (0 where a side is empty)."""
    levels = jnp.arange(n_levels)
    has_bid, has_ask = residual.buy > 0, residual.sell > 0
    bid_level = jnp.max(jnp.where(has_bid, levels, -1), axis=-1)
    ask_level = jnp.min(jnp.where(has_ask, levels, n_levels), axis=-1)
    base = anchor - n_levels // 2
    best_bid = jnp.where(has_bid.any(-1), base + bid_level, 0)
    best_ask = jnp.where(has_ask.any(-1), base + ask_level, 0)
    return best_bid, best_ask


def update_market(
    m: MarketState, params: SimParams, clear_price, volume, residual, dropped, static
) -> MarketState:
    """Last price, EMAs, volatility, best quotes and the grid anchor after the auction of
    a one-venue market (``dropped``: int32[S, 1] orders cancelled off the grid)."""
    return update_books(m, params, clear_price, volume, residual, dropped.sum(-1), static)[0]


def update_books(m: MarketState, params: SimParams, price, volume, residual, dropped, static):
    """Venues' and consolidated last price, EMAs, volatility, best quotes and grid anchors
    after the auctions of the S * V books (book order, :mod:`qtgjax.sim.venues`: ``price``,
    ``volume``, ``dropped`` [S * V], ``residual`` [S * V, K]). Returns (MarketState,
    consolidated clearing price int32[S], 0 where nothing traded)."""
    cleared = Cleared((), price, volume, residual, (), dropped)
    mp, n_venues = params.market, static.n_venues
    vm = m.venues
    v_last = jnp.where(cleared.volume > 0, cleared.price, book_order(vm.last_price))
    v_anchor = book_order(vm.anchor)
    best_bid, best_ask = best_quotes(cleared.residual, v_anchor, static.n_levels)
    half = static.n_levels // 2
    moved = jnp.abs(v_last - v_anchor) > mp.recentre
    v_anchor = jnp.clip(jnp.where(moved, v_last, v_anchor), half + 1, MAX_PRICE_TICKS - half)
    venues = VenueMarket(
        *(
            per_venue(x, n_venues)
            for x in (
                v_last,
                v_anchor,
                best_bid,
                best_ask,
                cleared.volume,
                cleared.residual.buy.sum(-1),
                cleared.residual.sell.sum(-1),
            )
        )
    )
    per_book = per_venue(cleared.price, n_venues), per_venue(cleared.volume, n_venues)
    clear_price, volume, best_bid, best_ask = consolidate(venues, per_book[1], per_book[0])
    last = jnp.where(volume > 0, clear_price, m.last_price)
    price = last.astype(jnp.float32)
    ret = jnp.log(price / m.last_price.astype(jnp.float32))
    dropped = per_venue(cleared.dropped, n_venues).sum(0)
    return MarketState(
        last_price=last,
        anchor=venues.anchor[0],
        best_bid=best_bid,
        best_ask=best_ask,
        ema_fast=m.ema_fast + mp.ema_fast * (price - m.ema_fast),
        ema_slow=m.ema_slow + mp.ema_slow * (price - m.ema_slow),
        volatility=m.volatility + mp.vol_smoothing * (ret * ret - m.volatility),
        off_grid=m.off_grid + dropped.astype(jnp.int32),
        volume=volume,
        indicators=update_indicators(m.indicators, last, mp.indicators),
        venues=venues,
        features=m.features,  # updated from the tick's record (step_detail)
    ), clear_price


def taker_flow(orders, fills) -> jnp.ndarray:
    """int32[S] lots bought minus lots sold by orders new in this auction (age 0)."""
    signed = [
        jnp.where(o.age == 0, jnp.where(o.is_buy, f, -f), 0).sum((0, 2))
        for o, f in zip(orders, fills, strict=True)
    ]
    return jnp.sum(jnp.stack(signed), axis=0).astype(jnp.int32)


def record_tick(before: MarketState, state: SimState, cleared: Cleared, flow, fills, flows, static):
    """The tick's record: consolidated per symbol, and per venue when V > 1."""
    accounts, n_venues = state.accounts, static.n_venues
    open_, close = before.last_price, state.market.last_price
    bid_depth = per_venue(cleared.residual.buy.sum(-1), n_venues)
    ask_depth = per_venue(cleared.residual.sell.sum(-1), n_venues)
    flow = per_venue(flow, n_venues)
    clear_price = jnp.where(state.market.volume > 0, state.market.last_price, 0)
    return TickRecord(
        open=open_,
        high=jnp.maximum(open_, close),
        low=jnp.minimum(open_, close),
        close=close,
        volume=state.market.volume,
        taker_flow=flow.sum(0),
        clear_price=clear_price,
        best_bid=state.market.best_bid,
        best_ask=state.market.best_ask,
        bid_depth=bid_depth.sum(0),
        ask_depth=ask_depth.sum(0),
        fundamental=state.fundamentals.value,
        news=state.fundamentals.news,
        cash=_stack_money([money.sum_exact(a.cash, 0) for a in accounts]),
        external=_stack_money([money.sum_exact(a.external, 0) for a in accounts]),
        position=jnp.stack([a.position.sum(0) for a in accounts]),
        traded=jnp.stack([f.sum() for f in fills]),
        fills=jnp.stack([(f > 0).sum() for f in fills]),
        fees=flows.fees,
        dividends=flows.dividends,
        borrow=flows.borrow,
        venues=None if n_venues == 1 else venue_record(before.venues, state.market.venues, flow),
    )


def venue_record(before: VenueMarket, after: VenueMarket, flow) -> VenueRecord:
    """Per (venue, symbol) bars, quotes and depth of one tick."""
    open_, close = before.last_price, after.last_price
    return VenueRecord(
        open=open_,
        high=jnp.maximum(open_, close),
        low=jnp.minimum(open_, close),
        close=close,
        volume=after.volume,
        taker_flow=flow,
        clear_price=jnp.where(after.volume > 0, after.last_price, 0),
        best_bid=after.best_bid,
        best_ask=after.best_ask,
        bid_depth=after.bid_depth,
        ask_depth=after.ask_depth,
    )


def _stack_money(items) -> money.Money:
    return money.Money(jnp.stack([m.hi for m in items]), jnp.stack([m.lo for m in items]))


def settle_all(
    static: SimStatic, params: SimParams, state: SimState, orders, fills, price, fund, mark
):
    """Every family's fills, fees, borrow costs and dividends; fees go to the fee account.
    Returns the new accounts and the :class:`Flows` of each family, Money[F].

    ``price``: int32[S * V] clearing price of each book (book order); ``mark``: int32[S] the
    consolidated price short positions are valued at. Fees are each family's rates plus
    the venue's. Borrow costs are charged, and dividends paid, every ``dividend_period``
    ticks.
    """
    is_payday = (state.tick + 1) % params.fundamentals.dividend_period == 0
    dividend = dividend_ticks(fund)
    n_symbols, n_venues = static.n_symbols, static.n_venues
    accounts, paid, received, borrowed = [], [], [], []
    for acct, o, f, limits in zip(state.accounts, orders, fills, params.accounts, strict=True):
        rates = venue_limits(limits, params.venues, n_symbols)
        fees, acct = settle_on_venues(acct, o, f, price, rates, n_venues)
        paid.append(money.sum_exact(money.from_int(fees), 0))
        borrow = borrow_costs(acct.position, mark, limits, is_payday)
        borrowed.append(money.sum_exact(money.from_int(borrow), 0))
        acct = charge(acct, fees + borrow)
        before = acct.external
        acct = pay_dividends(acct, dividend, is_payday)
        received.append(money.sum_exact(money.sub(acct.external, before), 0))
        accounts.append(acct)
    paid = _stack_money(paid)  # Money[F]
    house = fee_account_index(static)
    if house is not None:
        collected = money.sum_small(paid, 0)
        accounts[house] = credit_external(
            accounts[house], money.Money(*(x[None] for x in collected))
        )
    return tuple(accounts), Flows(paid, _stack_money(received), _stack_money(borrowed))


class Flows(NamedTuple):
    """Cash that crossed the traded market's boundary in one tick, Money[F] per family.

    Attributes:
        fees: trading fees paid (negative = net rebates); the fee account's collection is
            not in here (it is credited as external cash).
        dividends: dividends received (shorts pay them: negative).
        borrow: borrow costs of short positions paid.
    """

    fees: money.Money
    dividends: money.Money
    borrow: money.Money


def fee_account_index(static: SimStatic) -> int | None:
    """Index of the family that collects fees (``Family.collects_fees``), if any."""
    houses = [i for i, spec in enumerate(static.families) if get_family(spec.kind).collects_fees]
    return houses[0] if houses else None


def step(static: SimStatic, params: SimParams, state: SimState, key) -> tuple[SimState, TickRecord]:
    """Advance one scenario by one tick. Pure; loop-free over agents."""
    new_state, record, _ = step_book(static, params, state, key)
    return new_state, record


def step_book(static: SimStatic, params: SimParams, state: SimState, key):
    """:func:`step`, also returning ``(residual, anchor)``: the residual books after the
    auctions (LevelTotals int32[V * S, K], venue-major) and the anchors of the grids they
    were cleared on (int32[V * S]) — what the per-level depth record
    (:mod:`qtgjax.sim.depth`) reads."""
    new_state, record, detail = step_detail(static, params, state, key)
    return new_state, record, (detail.residual, detail.anchor)


class TickDetail(NamedTuple):
    """What the optional records read of one tick besides its :class:`TickRecord`.

    Attributes:
        residual: LevelTotals int32[V * S, K] the books after the auctions (venue-major).
        anchor: int32[V * S] the anchors of the grids they were cleared on.
        resting: per family, the :class:`Orders` [N, S, V * O] that rested before this tick.
        orders: per family, this tick's :class:`Orders` in the auction (off-grid qty 0).
        fills: per family, int32[N, S, V * O] lots filled.
        price: int32[V * S] clearing price of each book (0 when nothing traded).
        dropped: per family, int32[N, S, V * O] lots of orders cancelled as off the grid.
        limited: per family, int32[N, S, V * O] lots the position limit cut to nothing.
        transit: per family, the :class:`~qtgjax.sim.latency.Transit` of its messages
            (None without latency).
        placed: per family, bool[N, S, O] the slot took a new order this tick (its age
            before stop triggers is 0); None in a market of limit orders (then ``age == 0``
            in ``orders`` says it).
        killed: per family, int32[N, S, O] lots cancelled by their order type after the
            auction (:attr:`~qtgjax.sim.order_flow.AfterAuction.cancelled`: the unfilled
            rest of market / IOC / FOK / fired stop orders, crossing post-only orders);
            None in a market of limit orders.
    """

    residual: LevelTotals
    anchor: jnp.ndarray
    resting: tuple
    orders: tuple
    fills: tuple
    price: jnp.ndarray
    dropped: tuple
    limited: tuple
    transit: tuple | None = None
    placed: tuple | None = None
    killed: tuple | None = None


def step_detail(static: SimStatic, params: SimParams, state: SimState, key):
    """:func:`step`, also returning its :class:`TickDetail` (unused parts compile out)."""
    k_act, k_fund = jax.random.split(key)
    n_venues = static.n_venues
    view = observe(state, params)
    orders, extras, latency, limited, transit = act_detail(static, params, state, view, k_act)
    vm = state.market.venues
    anchor = book_order(vm.anchor)  # per book, book order
    placed = killed = None
    if static.order_types:  # typed orders: qtgjax.sim.order_flow
        placed = tuple(o.age == 0 for o in orders)
        cleared, books, after = clear_typed_tick(static, params, state, orders, anchor)
        after = jax.tree.map(lambda x: as_slots(x, n_venues), after._replace(residual=None))
        orders = tuple(jax.tree.map(lambda x: as_slots(x, n_venues), o) for o in books)
        fills = tuple(as_slots(f, n_venues) for f in cleared.fills)
        kept = after.kept
        off_grid = tuple(jnp.where(d, o.qty, 0) for o, d in zip(orders, after.dropped, strict=True))
        killed = after.cancelled
    else:
        books = tuple(jax.tree.map(lambda x: as_books(x, n_venues), o) for o in orders)
        by_book = static.replace(n_symbols=n_venues * static.n_symbols)
        clears = None
        if params.venues is not None:
            clears = clears_now(state.tick, params.venues, static.n_symbols)
        cleared = clear_book(books, anchor, book_order(vm.last_price), by_book, clears)
        fills = tuple(as_slots(f, n_venues) for f in cleared.fills)
        kept = tuple(as_slots(q, n_venues) for q in cleared.kept)
        off_grid = tuple(jnp.where(k == 0, o.qty, 0) for o, k in zip(orders, kept, strict=True))
    fundamentals = step_fundamentals(state.fundamentals, params.fundamentals, k_fund)
    fundamentals = accrue(fundamentals, params.fundamentals, state.tick + 1)
    orders = tuple(o.replace(qty=q) for o, q in zip(orders, kept, strict=True))
    market, clear_price = update_books(
        state.market,
        params,
        cleared.price,
        cleared.volume,
        cleared.residual,
        cleared.dropped,
        static,
    )
    mark = jnp.where(clear_price > 0, clear_price, state.market.last_price)  # (S,) ticks
    accounts, flows = settle_all(
        static, params, state, orders, fills, cleared.price, fundamentals, mark
    )
    if static.order_types:  # icebergs' shown lots and refills' lost time priority
        accounts = tuple(
            a.replace(orders=order_flow.settled(a.orders, after, i))
            for i, a in enumerate(accounts)
        )
    lat_state, lat_record = (None, None) if latency is None else latency
    new_state = SimState(state.tick + 1, market, fundamentals, accounts, extras, lat_state)
    flow = taker_flow(books, cleared.fills)
    record = record_tick(state.market, new_state, cleared, flow, fills, flows, static)
    record = record.replace(latency=lat_record)
    features = update_features(market.features, feature_inputs(record), market.indicators.view)
    new_state = new_state.replace(market=market.replace(features=features))
    new_state = ex_dividend(new_state, params)  # after the record: the close is the trade
    resting = tuple(a.orders for a in state.accounts)
    detail = TickDetail(  # per-book arrays venue-major, as the records hold them
        jax.tree.map(lambda x: venue_major(x, n_venues), cleared.residual),
        vm.anchor.reshape(-1),
        resting,
        orders,
        fills,
        venue_major(cleared.price, n_venues),
        off_grid,
        limited,
        transit,
        placed,
        killed,
    )
    return new_state, record, detail
