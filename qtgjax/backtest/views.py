"""The market view of historical bars, computed by the simulator's own market update.

Every field a family reads (last price, EMAs, volatility, SMA/RSI/MACD/Bollinger/range/ATR/
pair z-score) comes from :func:`qtgjax.sim.tick.update_market` scanned over the closes,
exactly as in a simulated market whose auction cleared at each close. A parameter grid
varies some market parameters (e.g. ``sma_fast``, ``sma_slow``); each view field is
computed once per distinct value of the parameters it depends on (:data:`DEPENDS`) and
every grid point gathers its own, so a 1,000-point SMA grid runs the streams for the
distinct windows only (in one batch padded to a power of two, at least 32 rows, so that
grids of different sizes share one compiled scan).
"""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.market.auction import LevelTotals
from qtgjax.market.types import Indicators
from qtgjax.sim.rollout import init_state
from qtgjax.sim.signals import IndicatorParams, warm_up
from qtgjax.sim.tick import update_market
from qtgjax.sim.types import FundamentalParams, MarketParams, SimParams, SimStatic

# View field -> the market parameters it depends on (MarketParams / IndicatorParams names).
DEPENDS = {
    "ema_fast": ("ema_fast",),
    "ema_slow": ("ema_slow",),
    "volatility": ("vol_smoothing",),
    "sma_fast": ("sma_fast",),
    "sma_slow": ("sma_slow",),
    "rsi": ("rsi",),
    "macd": ("macd_fast", "macd_slow"),
    "macd_signal": ("macd_fast", "macd_slow", "macd_signal"),
    "bb_mid": ("bollinger",),
    "bb_upper": ("bollinger", "bollinger_k"),
    "bb_lower": ("bollinger", "bollinger_k"),
    "range_high": ("range",),
    "range_low": ("range",),
    "atr": ("atr",),
    "pair_z": ("pair",),
}
MARKET_FIELDS = ("ema_fast", "ema_slow", "vol_smoothing")
INDICATOR_FIELDS = tuple(f.name for f in fields(IndicatorParams))
_DUMMY_LEVELS = 8  # update_market needs a grid; bars have no book


class ViewTables(NamedTuple):
    """Per-field tables of view values and each column's row in them.

    Attributes:
        values: {field: float32[T, U_f, G, S]} the field at every bar for U_f distinct
            parameter values, G symbol groups, S symbols per group.
        rows: {field: int32[P]} which of the U_f rows grid point p reads.
        warm_up: int32[P] closes after which point p's indicators are ready.
    """

    values: dict
    rows: dict
    warm_up: jnp.ndarray


def market_value(market: MarketParams, name: str):
    return getattr(market, name) if name in MARKET_FIELDS else getattr(market.indicators, name)


def with_values(market: MarketParams, names, values) -> MarketParams:
    """``market`` with the named parameters replaced (scalars)."""
    top = {n: v for n, v in zip(names, values, strict=True) if n in MARKET_FIELDS}
    ind = {n: v for n, v in zip(names, values, strict=True) if n not in MARKET_FIELDS}
    return market.replace(indicators=market.indicators.replace(**ind), **top)


def _fundamentals(n_symbols: int) -> FundamentalParams:
    one = jnp.float32(0.0)
    return FundamentalParams(jnp.float32(0.02), one, one, one, one, jnp.int32(10**9),
                             jnp.arange(n_symbols, dtype=jnp.int32), one, one)


def stream_fields(market: MarketParams, close, volume, history: int):
    """Scan ``update_market`` over bars: {field: float32[T, S]} for one group.

    close, volume: int32[T, S] ticks and lots. The state before bar 0 is the simulator's
    initial market at close[0] (its indicators have seen close[0]); bar t's view is the
    state after close[t].
    """
    n_symbols = close.shape[1]
    static = SimStatic(n_symbols, _DUMMY_LEVELS, 1, (), history)
    params = SimParams(market.replace(initial_price=close[0]), _fundamentals(n_symbols), (), ())
    state0 = init_state(static, params, jax.random.key(0)).market
    residual = LevelTotals(*(jnp.zeros((n_symbols, _DUMMY_LEVELS), jnp.int32),) * 2)
    dropped = jnp.zeros((n_symbols, 1), jnp.int32)

    def pick(m):
        ind = m.indicators.view
        out = {n: getattr(m, n) for n in ("ema_fast", "ema_slow", "volatility")}
        out.update({n: getattr(ind, n) for n in DEPENDS if hasattr(ind, n)})
        return out

    def step(m, bar):
        c, v = bar
        m = update_market(m, params, c, v, residual, dropped, static)
        return m, pick(m)

    _, rest = jax.lax.scan(step, state0, (close[1:], volume[1:]))
    first = pick(state0)
    return {k: jnp.concatenate([first[k][None], rest[k]]) for k in first}


@functools.partial(jax.jit, static_argnames=("history",))
def _stream_batch(batch: MarketParams, close, volume, history: int):
    """stream_fields for U parameter sets [U] x G groups (close, volume [T, G, S])."""
    one = functools.partial(stream_fields, history=history)
    per_group = jax.vmap(one, in_axes=(None, 1, 1), out_axes=1)
    return jax.vmap(per_group, in_axes=(0, None, None))(batch, close, volume)


def distinct_rows(points: list[dict], defaults: dict, names) -> tuple[list[tuple], np.ndarray]:
    """Distinct value tuples of ``names`` over the points (a point's missing name takes
    its default), and each point's row."""
    values = [tuple(float(p.get(n, defaults[n])) for n in names) for p in points]
    distinct = sorted(set(values))
    index = {v: i for i, v in enumerate(distinct)}
    return distinct, np.array([index[v] for v in values], np.int32)


def batch_rows(n: int) -> int:
    """Rows of the view batch for n distinct parameter sets: the next power of two, at
    least 32, so that grids of different sizes share a compiled view scan."""
    return max(32, 1 << (n - 1).bit_length())


def view_tables(base: MarketParams, points: list[dict], close, volume, history: int) -> ViewTables:
    """Tables for ``points`` (each a {market parameter: value} dict of what it varies).

    close, volume: int32[T, G, S].
    """
    names = MARKET_FIELDS + INDICATOR_FIELDS
    defaults = {n: float(market_value(base, n)) for n in names}
    dtypes = {n: np.dtype(market_value(base, n).dtype) for n in names}
    fields_by_deps: dict[tuple, list[str]] = {}
    for name, deps in DEPENDS.items():
        fields_by_deps.setdefault(deps, []).append(name)
    values, rows, parts, offset = {}, {}, [], 0
    for deps, group in fields_by_deps.items():  # one batch row per distinct value tuple
        distinct, row = distinct_rows(points, defaults, deps)
        columns = {n: np.full(len(distinct), defaults[n], dtypes[n]) for n in names}
        for i, n in enumerate(deps):
            columns[n] = np.array([v[i] for v in distinct], dtypes[n])
        parts.append((group, columns, offset, len(distinct), row))
        offset += len(distinct)
    rows_total = batch_rows(offset)  # padded with copies of row 0: few compiled shapes
    stacked = {n: np.concatenate([c[n] for _, c, _, _, _ in parts]) for n in names}
    stacked = {n: np.concatenate([v, np.repeat(v[:1], rows_total - offset)])
               for n, v in stacked.items()}
    batch = with_values(base, names, [jnp.asarray(stacked[n]) for n in names])
    batch = batch.replace(
        initial_price=jnp.zeros((rows_total, *base.initial_price.shape), jnp.int32),
        recentre=jnp.broadcast_to(base.recentre, (rows_total,)))
    out = _stream_batch(batch, close, volume, history=history)  # {f: [U, T, G, S]}, one scan
    for group, _, start, count, row in parts:
        for n in group:
            values[n] = jnp.moveaxis(out[n][start : start + count], 1, 0)  # [T, U_f, G, S]
            rows[n] = jnp.asarray(row)
    n = len(points)
    per_point = {k: np.full(n, defaults[k], dtypes[k]) for k in INDICATOR_FIELDS}
    for k in INDICATOR_FIELDS:
        if any(k in p for p in points):
            per_point[k] = np.array([p.get(k, defaults[k]) for p in points], dtypes[k])
    ind = IndicatorParams(**{k: jnp.asarray(v) for k, v in per_point.items()})
    warm = jax.vmap(warm_up)(ind)
    return ViewTables(values, rows, warm.astype(jnp.int32))


def gather_indicators(tables_t: dict, rows: dict, group, count, warm) -> tuple[dict, Indicators]:
    """One column's view fields at one bar: (ema/volatility fields, Indicators)."""
    get = {n: tables_t[n][rows[n], group] for n in tables_t}
    ind = Indicators(
        **{n: get[n] for n in DEPENDS if n not in ("ema_fast", "ema_slow", "volatility")},
        ready=count > warm,
    )
    return {n: get[n] for n in ("ema_fast", "ema_slow", "volatility")}, ind
