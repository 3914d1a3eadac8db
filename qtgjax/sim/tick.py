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
from qtgjax.sim import book
from qtgjax.sim.fundamentals import accrue, dividend_ticks, ex_dividend, step_fundamentals
from qtgjax.sim.settle import (
    borrow_costs,
    charge,
    credit_external,
    pay_dividends,
    settle_fills,
    trading_fees,
)
from qtgjax.sim.signals import indicator_view, update_indicators
from qtgjax.sim.types import MarketState, SimParams, SimState, SimStatic, TickRecord


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
    )


def act_all(static: SimStatic, params: SimParams, state: SimState, view: MarketView, key):
    """Every family's orders for this tick merged with its resting orders."""
    orders, extras, _ = act_detail(static, params, state, view, key)
    return orders, extras


def act_detail(static: SimStatic, params: SimParams, state: SimState, view: MarketView, key):
    """:func:`act_all`, also returning per family int32[N, S, O]: the lots of an order that
    the position limit cut to nothing, else 0 (what ``fills.parquet`` reports as rejected)."""
    keys = jax.random.split(key, len(static.families))
    orders, extras, limited = [], [], []
    for i, spec in enumerate(static.families):
        acct, limits = state.accounts[i], params.accounts[i]
        intent, extra = get_family(spec.kind).act(
            spec, params.strategies[i], state.extras[i], acct, view, keys[i]
        )
        merged = book.merge_intent(acct.orders, intent, acct.position, limits.max_position)
        orders.append(jax.tree.map(materialise, merged))  # computed once, read by many
        extras.append(extra)
        want = jnp.where(intent.replace, intent.qty, acct.orders.qty)
        limited.append(jnp.where(merged.qty == 0, want, 0))
    return tuple(orders), tuple(extras), tuple(limited)


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


def clear_book(orders: tuple[Orders, ...], anchor, last_price, static: SimStatic) -> Cleared:
    """Batch auction of every symbol's book, straight from each family's [N, S, O] orders.

    The same auction as :func:`qtgjax.market.auction.clear_levels` on the flat book of all
    families (``tests/test_optimised.py`` checks it every tick), without copying the book:
    per-level totals and the rationed class's lots are scatter-added family by family, the
    pro-rata running totals come from one scan over the families' pro-rata lots, and the
    fills are computed in each family's own layout.
    """
    n_levels, n_ages, n_symbols = static.n_levels, static.n_ages, static.n_symbols
    grid = tuple(book.on_grid(o, anchor, n_levels, n_ages) for o in orders)
    totals, dropped = book.book_totals(grid, n_symbols, n_levels)
    ref = last_price - (anchor - n_levels // 2)
    clear_at, volume = jax.vmap(clearing_level)(totals, ref)
    allot = jax.vmap(level_allotment)(totals, volume)
    side = jax.vmap(rationed_side)(totals, clear_at, volume)
    on_cut = tuple(
        on_rationed_side(g.level, g.is_buy, jax.tree.map(_per_symbol, side)) for g in grid
    )
    volumes = book.class_volumes(grid, on_cut, n_symbols, n_ages)
    marginal = jax.tree.map(_per_symbol, jax.vmap(rationed_class)(side, volumes))
    roles = [fill_roles(g.level, g.is_buy, g.age, marginal) for g in grid]
    pro_rata = [jnp.where(prorated, g.qty, 0) for g, (prorated, _) in zip(grid, roles, strict=True)]
    through = book.book_prefix(tuple(pro_rata))
    fills = tuple(
        marginal_fills(g.qty, run, prorated, full, marginal)
        for g, run, (prorated, full) in zip(grid, through, roles, strict=True)
    )
    price = jnp.where(volume > 0, anchor - n_levels // 2 + clear_at, 0)
    residual = LevelTotals(totals.buy - allot.buy, totals.sell - allot.sell)
    kept = tuple(jnp.where(g.dropped, 0, o.qty) for g, o in zip(grid, orders, strict=True))
    return Cleared(fills, price, volume, residual, kept, dropped)


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
):
    """Last price, EMAs, volatility, best quotes and the grid anchor after the auction."""
    mp = params.market
    last = jnp.where(volume > 0, clear_price, m.last_price)
    price = last.astype(jnp.float32)
    ret = jnp.log(price / m.last_price.astype(jnp.float32))
    best_bid, best_ask = best_quotes(residual, m.anchor, static.n_levels)
    half = static.n_levels // 2
    moved = jnp.abs(last - m.anchor) > mp.recentre
    anchor = jnp.clip(jnp.where(moved, last, m.anchor), half + 1, MAX_PRICE_TICKS - half)
    return MarketState(
        last_price=last,
        anchor=anchor,
        best_bid=best_bid,
        best_ask=best_ask,
        ema_fast=m.ema_fast + mp.ema_fast * (price - m.ema_fast),
        ema_slow=m.ema_slow + mp.ema_slow * (price - m.ema_slow),
        volatility=m.volatility + mp.vol_smoothing * (ret * ret - m.volatility),
        off_grid=m.off_grid + dropped.sum(-1).astype(jnp.int32),
        volume=volume,
        indicators=update_indicators(m.indicators, last, mp.indicators),
    )


def taker_flow(orders, fills) -> jnp.ndarray:
    """int32[S] lots bought minus lots sold by orders new in this auction (age 0)."""
    signed = [
        jnp.where(o.age == 0, jnp.where(o.is_buy, f, -f), 0).sum((0, 2))
        for o, f in zip(orders, fills, strict=True)
    ]
    return jnp.sum(jnp.stack(signed), axis=0).astype(jnp.int32)


def record_tick(
    before: MarketState, state: SimState, volume, flow, clear_price, residual, fills, flows
):
    accounts = state.accounts
    open_, close = before.last_price, state.market.last_price
    return TickRecord(
        open=open_,
        high=jnp.maximum(open_, close),
        low=jnp.minimum(open_, close),
        close=close,
        volume=volume,
        taker_flow=flow,
        clear_price=clear_price,
        best_bid=state.market.best_bid,
        best_ask=state.market.best_ask,
        bid_depth=residual.buy.sum(-1),
        ask_depth=residual.sell.sum(-1),
        fundamental=state.fundamentals.value,
        cash=_stack_money([money.sum_exact(a.cash, 0) for a in accounts]),
        external=_stack_money([money.sum_exact(a.external, 0) for a in accounts]),
        position=jnp.stack([a.position.sum(0) for a in accounts]),
        traded=jnp.stack([f.sum() for f in fills]),
        fills=jnp.stack([(f > 0).sum() for f in fills]),
        fees=flows.fees,
        dividends=flows.dividends,
        borrow=flows.borrow,
    )


def _stack_money(items) -> money.Money:
    return money.Money(jnp.stack([m.hi for m in items]), jnp.stack([m.lo for m in items]))


def settle_all(static: SimStatic, params: SimParams, state: SimState, orders, fills, price, fund):
    """Every family's fills, fees, borrow costs and dividends; fees go to the fee account.
    Returns the new accounts and the :class:`Flows` of each family, Money[F].

    Borrow costs are charged, and dividends paid, every ``dividend_period`` ticks.
    """
    is_payday = (state.tick + 1) % params.fundamentals.dividend_period == 0
    dividend = dividend_ticks(fund)
    mark = jnp.where(price > 0, price, state.market.last_price)  # (S,) ticks
    accounts, paid, received, borrowed = [], [], [], []
    for acct, o, f, limits in zip(state.accounts, orders, fills, params.accounts, strict=True):
        fees = trading_fees(o, f, price, limits)
        paid.append(money.sum_exact(money.from_int(fees), 0))
        acct = settle_fills(acct, o, f, price)
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
    """Index of the family that collects fees (kind ``fee_account``), if any."""
    kinds = [spec.kind for spec in static.families]
    return kinds.index("fee_account") if "fee_account" in kinds else None


def step(static: SimStatic, params: SimParams, state: SimState, key) -> tuple[SimState, TickRecord]:
    """Advance one scenario by one tick. Pure; loop-free over agents."""
    new_state, record, _ = step_book(static, params, state, key)
    return new_state, record


def step_book(static: SimStatic, params: SimParams, state: SimState, key):
    """:func:`step`, also returning ``(residual, anchor)``: the residual book after the
    auction (LevelTotals int32[S, K]) and the anchor of the grid it was cleared on (int32[S])
    — what the per-level depth record (:mod:`qtgjax.sim.depth`) reads."""
    new_state, record, detail = step_detail(static, params, state, key)
    return new_state, record, (detail.residual, detail.anchor)


class TickDetail(NamedTuple):
    """What the optional records read of one tick besides its :class:`TickRecord`.

    Attributes:
        residual: LevelTotals int32[S, K] the book after the auction.
        anchor: int32[S] the anchor of the grid it was cleared on.
        resting: per family, the :class:`Orders` [N, S, O] that rested before this tick.
        orders: per family, this tick's :class:`Orders` in the auction (off-grid qty 0).
        fills: per family, int32[N, S, O] lots filled.
        price: int32[S] clearing price (0 when nothing traded).
        dropped: per family, int32[N, S, O] lots of orders cancelled as off the grid.
        limited: per family, int32[N, S, O] lots of orders the position limit cut to nothing.
    """

    residual: LevelTotals
    anchor: jnp.ndarray
    resting: tuple
    orders: tuple
    fills: tuple
    price: jnp.ndarray
    dropped: tuple
    limited: tuple


def step_detail(static: SimStatic, params: SimParams, state: SimState, key):
    """:func:`step`, also returning its :class:`TickDetail` (unused parts compile out)."""
    k_act, k_fund = jax.random.split(key)
    view = observe(state, params)
    orders, extras, limited = act_detail(static, params, state, view, k_act)
    cleared = clear_book(orders, state.market.anchor, state.market.last_price, static)
    off_grid = tuple(jnp.where(k == 0, o.qty, 0) for o, k in zip(orders, cleared.kept, strict=True))
    fills, clear_price, volume = cleared.fills, cleared.price, cleared.volume
    residual = cleared.residual
    fundamentals = step_fundamentals(state.fundamentals, params.fundamentals, k_fund)
    fundamentals = accrue(fundamentals, params.fundamentals, state.tick + 1)
    orders = tuple(o.replace(qty=q) for o, q in zip(orders, cleared.kept, strict=True))
    accounts, flows = settle_all(static, params, state, orders, fills, clear_price, fundamentals)
    dropped = cleared.dropped[:, None]  # [S, 1]: update_market counts dropped.sum(-1)
    market = update_market(state.market, params, clear_price, volume, residual, dropped, static)
    new_state = SimState(state.tick + 1, market, fundamentals, accounts, extras)
    flow = taker_flow(orders, fills)
    record = record_tick(state.market, new_state, volume, flow, clear_price, residual, fills, flows)
    new_state = ex_dividend(new_state, params)  # after the record: the close is the trade
    resting = tuple(a.orders for a in state.accounts)
    detail = TickDetail(
        residual, state.market.anchor, resting, orders, fills, clear_price, off_grid, limited
    )
    return new_state, record, detail
