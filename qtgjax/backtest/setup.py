"""A backtest config -> validated family, grid points, columns and market arrays.

Everything is checked before anything compiles; errors are :class:`ConfigError` naming
the key (``grid.fast[2]: 0 is out of range 1..4096``) or :class:`~qtgjax.data.DataError`
naming the file, row and column.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import OmegaConf

from qtgjax.agents.strategy import SignalStrategy
from qtgjax.agents.types import FamilySpec
from qtgjax.backtest.engine import Column, Market
from qtgjax.backtest.fills import FILL_AT, IMPACT, FillParams
from qtgjax.backtest.strategies import DIRECTIONS, strategy_family
from qtgjax.backtest.views import INDICATOR_FIELDS, MARKET_FIELDS, view_tables
from qtgjax.config.build import (
    INDICATOR_SCHEMA,
    MARKET_SCHEMA,
    ConfigError,
    build_family,
    number,
)
from qtgjax.data import Bars, auto_tick_size, load_bars
from qtgjax.sim.signals import IndicatorParams
from qtgjax.sim.types import MarketParams

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
ALIASES = {"fast": "sma_fast", "slow": "sma_slow"}  # grid names -> market.indicators keys
SPEC_LEVELS = 8192  # a bar has no grid; families' reach is checked against this
FILL_SCHEMA = {
    "spread_bps": (0.0, 10_000.0),
    "taker_bps": (-100.0, 100.0),
    "maker_bps": (-100.0, 100.0),
    "impact_coef": (0.0, 1e6),
    "participation": (0.0, 1.0),
}


@dataclass(frozen=True)
class Setup:
    """A validated backtest.

    Attributes:
        family: the strategy family (restricted to ``direction`` where it has signals).
        spec: its FamilySpec (1 agent, S symbols per column).
        points: one {grid key: value} dict per grid point, in grid order.
        grid_keys: the swept names (as given in ``grid``).
        bars: the symbols' bars; groups: symbol indices of each column group.
        columns: Column with a leading axis B = points x groups (point-major).
        market: bar arrays and view tables.
        tick_size, lot_size: currency per tick, data units per lot.
        cash: starting cash per column, cash units.
    """

    family: object
    spec: FamilySpec
    points: list
    grid_keys: list
    bars: list
    groups: list
    columns: Column
    market: Market
    tick_size: float
    lot_size: float
    cash: int


def family_config(kind: str, cfg: Mapping) -> dict:
    """The family's defaults (``conf/agents/KIND.yaml``), the backtest's presets for its
    kind (``strategies.KIND``, plus ``signal_defaults`` for signal families, plus
    ``size``), then ``params`` overrides."""
    path = CONF_DIR / "agents" / f"{kind}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (CONF_DIR / "agents").glob("*.yaml"))
        raise ConfigError(f"strategy: unknown strategy {kind!r}; known: {known}")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    params = dict(raw.get("params") or {})
    family = strategy_family(kind)
    if isinstance(family, SignalStrategy):
        params.update(cfg.get("signal_defaults") or {})
        params["size"] = cfg["size"]
    params.update((cfg.get("strategies") or {}).get(kind) or {})
    overrides = dict(cfg.get("params") or {})
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ConfigError(
            f"params.{unknown[0]}: not a parameter of {kind}; it has {sorted(params)}"
        )
    params.update(overrides)
    return {
        "kind": kind,
        "n_agents": 1,
        "cash": cfg["cash"],
        "position": 0,
        "max_position": cfg["max_position"],
        "maker_bps": 0.0,
        "taker_bps": 0.0,
        "borrow_bps": 0.0,
        "params": params,
    }


def expand_grid(grid: Mapping) -> tuple[list[str], list[dict]]:
    """The cartesian product of ``grid`` (key -> list of values), in key order."""
    keys = list(grid)
    values = []
    for k in keys:
        v = grid[k]
        v = list(v) if isinstance(v, list | tuple) else [v]
        if not v:
            raise ConfigError(f"grid.{k}: empty list of values")
        values.append(v)
    return keys, [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def market_params(cfg: Mapping, points: list[dict], keys: list[str]):
    """Base MarketParams, each point's market values {name: value}, and the history H."""
    market = cfg.get("market") or {}
    ind_cfg = dict(market.get("indicators") or {})
    for k in INDICATOR_SCHEMA:
        number(ind_cfg, k, INDICATOR_SCHEMA[k], "market.indicators")
    top = {k: number(market, k, MARKET_SCHEMA[k], "market") for k in MARKET_FIELDS}
    per_point = []
    for i, p in enumerate(points):
        values = {}
        for k in keys:
            name = ALIASES.get(k, k)
            if name in INDICATOR_SCHEMA:
                values[name] = _grid_number(p[k], k, INDICATOR_SCHEMA[name], i)
            elif name in MARKET_FIELDS:
                values[name] = _grid_number(p[k], k, MARKET_SCHEMA[name], i)
        per_point.append(values)
    windows = [ind_cfg[k] for k in ("sma_fast", "sma_slow", "bollinger")] + [ind_cfg["range"] + 1]
    for v in per_point:
        windows += [v[k] for k in ("sma_fast", "sma_slow", "bollinger") if k in v]
        windows += [v["range"] + 1] if "range" in v else []
    history = int(max(64, max(windows)))
    if history > MARKET_SCHEMA["history"][1]:
        raise ConfigError(f"grid: windows up to {history} exceed the longest history 4096")
    base = MarketParams(
        initial_price=jnp.zeros((1,), jnp.int32),
        ema_fast=jnp.float32(top["ema_fast"]),
        ema_slow=jnp.float32(top["ema_slow"]),
        vol_smoothing=jnp.float32(top["vol_smoothing"]),
        recentre=jnp.int32(1),
        indicators=IndicatorParams(**{
            k: jnp.float32(ind_cfg[k]) if k == "bollinger_k" else jnp.int32(ind_cfg[k])
            for k in INDICATOR_FIELDS
        }),
    )
    return base, per_point, history


def _grid_number(value, key: str, bounds, index: int):
    try:
        return number({key: value}, key, bounds, "grid")
    except ConfigError as err:
        raise ConfigError(f"{err} (grid point {index})") from None


def strategy_points(family, fcfg: dict, points: list[dict], keys: list[str]):
    """Family params stacked over points (grid keys that are the family's parameters)."""
    names = [f.name for f in fields(family.Params)]
    swept = [k for k in keys if k in names]
    rows = []
    _, account, base = build_family("strategy", fcfg, 1, SPEC_LEVELS)
    if not swept:
        return account, jax.tree.map(lambda x: jnp.broadcast_to(x, (len(points),)), base), base
    cache = {}
    for i, p in enumerate(points):
        combo = tuple(p[k] for k in swept)
        if combo not in cache:
            cfg = {**fcfg, "params": {**fcfg["params"], **{k: p[k] for k in swept}}}
            try:
                cache[combo] = build_family("strategy", cfg, 1, SPEC_LEVELS)[2]
            except ConfigError as err:
                raise ConfigError(f"{err} (grid point {i}: {p})") from None
        rows.append(cache[combo])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *rows)
    return account, stacked, base


def check_keys_known(keys, family) -> None:
    names = {f.name for f in fields(family.Params)}
    for k in keys:
        name = ALIASES.get(k, k)
        if name not in names and name not in INDICATOR_SCHEMA and name not in MARKET_FIELDS:
            raise ConfigError(
                f"grid.{k}: not a parameter of {family.kind} nor a market parameter; use "
                f"{sorted(names)} or {sorted(set(INDICATOR_SCHEMA) | set(MARKET_FIELDS))} "
                f"(fast/slow = sma_fast/sma_slow)"
            )


def fill_params(cfg: Mapping) -> FillParams:
    fill = cfg.get("fill") or {}
    at = fill.get("at") if isinstance(fill, Mapping) else fill
    if at not in FILL_AT:
        raise ConfigError(f"fill: {at!r} is not one of {list(FILL_AT)}")
    costs = cfg.get("costs")
    if not isinstance(costs, Mapping):
        raise ConfigError(f"costs: {costs!r} is not a cost model (conf/backtest/costs/*.yaml)")
    values = {k: number(costs, k, b, "costs") for k, b in FILL_SCHEMA.items()}
    impact = costs.get("impact", "none")
    if impact not in IMPACT:
        raise ConfigError(f"costs.impact: {impact!r} is not one of {list(IMPACT)}")
    return FillParams(
        at_close=jnp.bool_(FILL_AT[at] == 0),
        impact=jnp.int32(IMPACT[impact]),
        **{k: jnp.float32(v) for k, v in values.items()},
    )


def load_data(cfg: Mapping) -> list[Bars]:
    options = {k: cfg.get(k) for k in ("columns", "symbol_column", "time_format", "max_gap")}
    options["columns"] = dict(options["columns"] or {})
    options = {k: v for k, v in options.items() if v not in (None, {})}
    data = cfg.get("data")
    specs = data if isinstance(data, list | tuple) else [data]
    bars = []
    for spec in specs:
        bars += load_bars(spec, cfg.get("format", "auto"), **options)
    symbols = cfg.get("symbols")
    if symbols:
        by_name = {b.symbol: b for b in bars}
        missing = [s for s in symbols if s not in by_name]
        if missing:
            raise ConfigError(f"symbols: {missing[0]!r} not in the data ({list(by_name)})")
        bars = [by_name[s] for s in symbols]
    return bars


def market_arrays(bars: list[Bars], groups: list[list[int]], tick_size: float, lot: float):
    """int32[T, G, S] open/high/low/close/volume and bool[T, G] valid, padded at the end."""
    ticks = [b.in_ticks(tick_size, lot) for b in bars]
    n_bars = max(len(b) for b in bars)
    arrays = {k: np.zeros((n_bars, len(groups), len(groups[0])), np.int32)
              for k in ("open", "high", "low", "close", "volume")}
    valid = np.zeros((n_bars, len(groups)), bool)
    for g, members in enumerate(groups):
        length = len(bars[members[0]])
        valid[:length, g] = True
        for s, i in enumerate(members):
            for k in arrays:
                x = ticks[i][k]
                pad = 0 if k == "volume" else x[-1]
                arrays[k][:, g, s] = np.concatenate([x, np.full(n_bars - len(x), pad, np.int32)])
    return {k: jnp.asarray(v) for k, v in arrays.items()}, jnp.asarray(valid)


def symbol_groups(bars: list[Bars], portfolio: bool) -> list[list[int]]:
    if not portfolio:
        return [[i] for i in range(len(bars))]
    first = bars[0]
    for b in bars[1:]:
        if len(b) != len(first) or not np.array_equal(b.time, first.time):
            raise ConfigError(
                f"portfolio: {b.symbol} and {first.symbol} have different time indexes; a "
                "portfolio needs aligned bars"
            )
    return [list(range(len(bars)))]


def make_setup(cfg: Mapping, bars: list[Bars] | None = None) -> Setup:
    """Validate the config, read the data and build every column."""
    cfg = dict(cfg)
    for key, bounds in (("cash", (1, 2**31 - 1)), ("size", (1, 65_535)),
                        ("max_position", (1, 2**30))):
        number(cfg, key, bounds, "")
    direction = cfg.get("direction", "both")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction: {direction!r} is not one of {list(DIRECTIONS)}")
    kind = cfg.get("strategy")
    fcfg = family_config(kind, cfg)
    family = strategy_family(kind, direction)
    grid = dict(cfg.get("grid") or {})
    keys, points = expand_grid(grid)
    check_keys_known(keys, family)
    fill = fill_params(cfg)
    bars = bars if bars is not None else load_data(cfg)
    if not bars:
        raise ConfigError("data: no symbols")
    groups = symbol_groups(bars, bool(cfg.get("portfolio", False)))
    tick = cfg.get("tick_size")
    tick = float(tick) if tick else auto_tick_size(np.concatenate([b.high for b in bars]))
    lot = float(cfg.get("lot_size") or 1.0)
    base, per_point, history = market_params(cfg, points, keys)
    account, strategy, _ = strategy_points(family, fcfg, points, keys)
    arrays, valid = market_arrays(bars, groups, tick, lot)
    tables = view_tables(base, per_point, arrays["close"], arrays["volume"], history)
    n_points, n_groups = len(points), len(groups)
    point = np.repeat(np.arange(n_points), n_groups)
    group = np.tile(np.arange(n_groups), n_points)
    take = jnp.asarray(point)
    columns = Column(
        strategy=jax.tree.map(lambda x: x[take], strategy),
        account=jax.tree.map(lambda x: jnp.broadcast_to(x, (len(point),)), account),
        fill=jax.tree.map(lambda x: jnp.broadcast_to(x, (len(point),)), fill),
        group=jnp.asarray(group, jnp.int32),
        rows={k: v[take] for k, v in tables.rows.items()},
        warm_up=tables.warm_up[take],
    )
    market = Market(valid=valid, tables=tables.values, **arrays)
    spec = FamilySpec(kind, kind, 1, len(groups[0]), SPEC_LEVELS)
    return Setup(family, spec, points, keys, bars, groups, columns, market, tick, lot,
                 int(cfg["cash"]))
