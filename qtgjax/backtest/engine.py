"""Bar replay: a strategy family trades against historical bars, many columns at once.

A *column* is one grid point on one symbol group (S symbols; S = 1 unless the backtest is
a portfolio). One ``lax.scan`` over bars runs every column side by side (``vmap``): each
bar, resting orders trade against the bar (:func:`qtgjax.backtest.fills.during_bar`), the
family's own ``act`` decides on the bar's :class:`~qtgjax.market.types.MarketView`, its
intent is merged exactly as in the simulator (:func:`qtgjax.sim.book.merge_intent`) and
fills at the close where ``fill=close``. Money is exact (:mod:`qtgjax.market.money`).

Columns are cut into chunks by the simulator's memory model (:mod:`qtgjax.sim.chunk`:
initial and final state, records, and ``WORKING_SET_STATES`` copies of the state).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.agents.types import Family, FamilySpec
from qtgjax.backtest.fills import Bar, FillParams, at_close, during_bar, settle
from qtgjax.backtest.views import gather_indicators
from qtgjax.market import money
from qtgjax.market.types import Accounts, MarketView
from qtgjax.sim.book import merge_intent
from qtgjax.sim.chunk import (
    CPU_COMPILER_OPTIONS,
    WORKING_SET_STATES,
    ChunkPlan,
    chunk_inputs,
    free_device_bytes,
    tree_bytes,
)
from qtgjax.sim.rollout import init_accounts
from qtgjax.tree import pytree

log = logging.getLogger("qtgjax.backtest")


@pytree
class Column:
    """What one column trades with (a leading column axis B when batched).

    Attributes:
        strategy: the family's ``Params`` (scalars).
        account: :class:`~qtgjax.agents.types.AccountParams` (cash, max_position...).
        fill: :class:`~qtgjax.backtest.fills.FillParams`.
        group: int32[] symbol group the column trades.
        rows: {field: int32[]} the column's rows in the view tables.
        warm_up: int32[] closes after which its indicators are ready.
    """

    strategy: Any
    account: Any
    fill: FillParams
    group: jnp.ndarray
    rows: dict
    warm_up: jnp.ndarray


@pytree
class BarRecord:
    """What a column records each bar (a leading bar axis T, then column B, when stacked).

    Attributes:
        cash: Money[N] cash units after the bar.
        equity: Money[N] cash + positions at the close, cash units.
        position: int32[N, S] lots.
        fill_open, price_open: int32[N, S, O] lots filled during the bar (phase A) and their
            prices (ticks).
        taker_open: bool[N, S, O] phase A fills that were takers.
        buy_open: bool[N, S, O] side of the orders of phase A.
        fill_close, price_close: int32[N, S, O] lots filled at the close (phase B), ticks.
        buy_close: bool[N, S, O] side of the orders of phase B.
        fees: int32[N] fees paid in the bar, cash units.
    """

    cash: money.Money
    equity: money.Money
    position: jnp.ndarray
    fill_open: jnp.ndarray
    price_open: jnp.ndarray
    taker_open: jnp.ndarray
    buy_open: jnp.ndarray
    fill_close: jnp.ndarray
    price_close: jnp.ndarray
    buy_close: jnp.ndarray
    fees: jnp.ndarray


@pytree
class EquityRecord:
    """The light record (``record=summary``): what the summary needs, per bar.

    Attributes:
        equity: Money[N] cash + positions at the close, cash units.
        fills: int32[N] orders that (partly) filled in the bar.
        notional: float32[N] cash units traded in the bar (both sides, absolute).
    """

    equity: money.Money
    fills: jnp.ndarray
    notional: jnp.ndarray


def light(record: BarRecord) -> EquityRecord:
    """The summary's part of a full record."""
    def traded(q, p):
        return (q.astype(jnp.float32) * p.astype(jnp.float32)).sum((1, 2))

    return EquityRecord(
        equity=record.equity,
        fills=((record.fill_open > 0).sum((1, 2)) + (record.fill_close > 0).sum((1, 2))),
        notional=traded(record.fill_open, record.price_open)
        + traded(record.fill_close, record.price_close),
    )


class Market(NamedTuple):
    """The bars every column sees, time-major (scan's xs).

    Attributes:
        open, high, low, close: int32[T, G, S] ticks; volume: int32[T, G, S] lots.
        valid: bool[T, G] bar t exists for group g (shorter groups are padded at the end).
        tables: {field: float32[T, U_f, G, S]} view tables (:mod:`qtgjax.backtest.views`).
    """

    open: jnp.ndarray
    high: jnp.ndarray
    low: jnp.ndarray
    close: jnp.ndarray
    volume: jnp.ndarray
    valid: jnp.ndarray
    tables: dict


def bar_view(t, close, volume, fields: dict, indicators, spread_bps) -> MarketView:
    """The view of one column at bar t: quotes half the spread around the close."""
    price = close.astype(jnp.float32)
    half = price * spread_bps * 0.5e-4
    return MarketView(
        tick=t,
        last_price=close,
        best_bid=jnp.floor(price - half + 1e-3).astype(jnp.int32),
        best_ask=jnp.ceil(price + half - 1e-3).astype(jnp.int32),
        anchor=close,
        fundamental=price,
        ema_fast=fields["ema_fast"],
        ema_slow=fields["ema_slow"],
        volatility=fields["volatility"],
        news=jnp.zeros_like(price),
        volume=volume,
        sector=jnp.arange(close.shape[0], dtype=jnp.int32),
        indicators=indicators,
    )


def equity_of(accounts: Accounts, close) -> money.Money:
    """Money[N] cash plus positions at the close, exact."""
    value = money.sum_small(money.product(accounts.position, close[None, :]), axis=1)
    return money.add(accounts.cash, value)


def column_step(family: Family, spec: FamilySpec, col: Column, carry, bar_in, key,
                full: bool = True):
    """One bar of one column. ``bar_in`` = (t, open, high, low, close, volume [G, S],
    valid [G], tables_t)."""
    accounts, extra = carry
    accounts_before_orders = accounts.orders
    t, o, h, low, c, v, valid, tables_t = bar_in
    g = col.group
    fields, ind = gather_indicators(tables_t, col.rows, g, t + 1, col.warm_up)
    sigma = jnp.sqrt(jnp.maximum(fields["volatility"], 0.0))
    bar = Bar(o[g], h[g], low[g], c[g], v[g], sigma)
    fp = col.fill
    none_yet = jnp.zeros_like(accounts.position)
    fill_a, price_a, taker_a = during_bar(fp, accounts.orders, bar, none_yet)
    acc, fee_a = settle(fp, accounts, accounts.orders, fill_a, price_a, taker_a)
    view = bar_view(t, bar.close, bar.volume, fields, ind, fp.spread_bps)
    intent, new_extra = family.act(spec, col.strategy, extra, acc, view, jax.random.fold_in(key, t))
    orders = merge_intent(acc.orders, intent, acc.position, col.account.max_position)
    fill_b, price_b, taker_b = at_close(fp, orders, bar, fill_a.sum(-1))
    acc, fee_b = settle(fp, acc.replace(orders=orders), orders, fill_b, price_b, taker_b)
    ok = valid[g]
    accounts, extra = jax.tree.map(
        lambda new, old: jnp.where(ok, new, old), (acc, new_extra), (accounts, extra)
    )
    zero = jnp.zeros_like(fill_a)
    record = BarRecord(
        cash=accounts.cash,
        equity=equity_of(accounts, bar.close),
        position=accounts.position,
        fill_open=jnp.where(ok, fill_a, zero),
        price_open=price_a,
        taker_open=taker_a,
        buy_open=accounts_before_orders.is_buy,
        fill_close=jnp.where(ok, fill_b, zero),
        price_close=price_b,
        buy_close=orders.is_buy,
        fees=jnp.where(ok, fee_a + fee_b, 0),
    )
    return (accounts, extra), (record if full else light(record))


def init_column(family: Family, spec: FamilySpec, col: Column, key):
    accounts = init_accounts(spec, col.account, family.n_slots(spec))
    return accounts, family.init_extra(spec, col.strategy, key)


def run_columns(family: Family, spec: FamilySpec, cols: Column, keys, market: Market,
                full: bool = True):
    """Every column over every bar: (final (accounts, extra), records [T, B, ...]):
    :class:`BarRecord` where ``full``, else :class:`EquityRecord`."""
    carry = jax.vmap(functools.partial(init_column, family, spec))(cols, keys)
    n_bars = market.close.shape[0]
    step = jax.vmap(functools.partial(column_step, family, spec, full=full),
                    in_axes=(0, 0, None, 0))

    def body(carry, xs):
        return step(cols, carry, xs, keys)

    xs = (jnp.arange(n_bars, dtype=jnp.int32), market.open, market.high, market.low,
          market.close, market.volume, market.valid, market.tables)
    return jax.lax.scan(body, carry, xs)


_STATIC = ("family", "spec", "full")
_run_cpu = jax.jit(run_columns, static_argnames=_STATIC, compiler_options=CPU_COMPILER_OPTIONS)
_run = jax.jit(run_columns, static_argnames=_STATIC)


def runner(device: jax.Device):
    """The jitted :func:`run_columns` with the device's compiler options."""
    return _run_cpu if device.platform == "cpu" else _run


def column_bytes(family: Family, spec: FamilySpec, one: Column, market: Market,
                 full: bool = True) -> int:
    """Estimated bytes of one column, by :mod:`qtgjax.sim.chunk`'s model: initial and final
    state, records, and ``WORKING_SET_STATES`` states of working set."""
    key = jax.random.key(0)
    state = jax.eval_shape(lambda c, k: init_column(family, spec, c, k), one, key)
    bar_in = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype),
                          (jnp.zeros((1,), jnp.int32), market.open, market.high, market.low,
                           market.close, market.volume, market.valid, market.tables))
    _, record = jax.eval_shape(
        lambda c, s, b, k: column_step(family, spec, c, s, b, k, full), one, state, bar_in, key
    )
    n_bars = market.close.shape[0]
    return (2 + WORKING_SET_STATES) * tree_bytes(state) + n_bars * tree_bytes(record)


def plan_columns(family, spec, cols: Column, market: Market, *, chunk=None, budget_bytes=None,
                 memory_fraction: float = 0.5, full: bool = True) -> ChunkPlan:
    """How many columns one compiled call runs (a :class:`~qtgjax.sim.chunk.ChunkPlan`)."""
    device = jax.devices()[0]
    n = int(cols.group.shape[0])
    one = jax.tree.map(lambda x: x[0], cols)
    per = column_bytes(family, spec, one, market, full)
    tables = tree_bytes(market)
    if budget_bytes is None:
        budget_bytes = int(memory_fraction * free_device_bytes(device)) - tables
    budget = max(int(budget_bytes), per)
    size = chunk if chunk is not None else max(1, budget // max(per, 1))
    size = int(min(max(size, 1), n))
    return ChunkPlan(n, size, per, budget, f"{device.platform}:{device}")


def run_chunked(family, spec, cols: Column, keys, market: Market, plan: ChunkPlan,
                full: bool = True):
    """All columns chunk by chunk (each chunk padded to the plan's size: one compile);
    returns the final state and records as NumPy arrays with the column axis first."""
    run = runner(jax.devices()[0])
    finals, records = [], []
    if plan.n_chunks > 1:
        log.warning(plan.describe().replace("scenarios", "columns"))
    for index in range(plan.n_chunks):
        part, part_keys, used = chunk_inputs(cols, keys, plan, index)
        final, rec = run(family, spec, part, part_keys, market, full)
        finals.append(jax.tree.map(lambda x, used=used: np.asarray(x)[:used], final))
        records.append(jax.tree.map(lambda x, used=used: np.swapaxes(np.asarray(x), 0, 1)[:used],
                                    rec))
    if len(finals) == 1:
        return finals[0], records[0]
    join = functools.partial(jax.tree.map, lambda *xs: np.concatenate(xs))
    return join(*finals), join(*records)
