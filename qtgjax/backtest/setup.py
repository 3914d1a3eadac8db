"""A backtest config -> validated family, grid points, columns and market arrays.

Everything is checked before anything compiles; errors are :class:`ConfigError` naming
the key (``grid.fast[2]: 0 is out of range 1..4096``) or :class:`~qtgjax.data.DataError`
naming the file, row and column.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.agents.registry import known_kinds
from qtgjax.agents.strategy import SignalStrategy
from qtgjax.agents.types import FamilySpec
from qtgjax.backtest.engine import Column, Market
from qtgjax.backtest.fills import FILL_AT, IMPACT, FillParams
from qtgjax.backtest.strategies import DIRECTIONS, POLICY, strategy_family
from qtgjax.backtest.views import INDICATOR_FIELDS, MARKET_FIELDS, view_tables
from qtgjax.config.build import (
    INDICATOR_SCHEMA,
    MARKET_SCHEMA,
    ConfigError,
    build_family,
    number,
)
from qtgjax.data import Bars, auto_tick_size, load_bars
from qtgjax.plugins import family_defaults
from qtgjax.sim.signals import IndicatorParams
from qtgjax.sim.types import MarketParams

ALIASES = {"fast": "sma_fast", "slow": "sma_slow"}  # grid names -> market.indicators keys
RECORDS = ("trades", "equity", "summary")  # record=: which tables a run keeps
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
        tick_sizes: currency per tick of each symbol (in ``bars`` order).
        lot_size: data units per lot.
        cash: starting cash per column, cash units.
        first_point: the global index of ``points[0]`` (a sweep chunk holds a slice).
    """

    family: object
    spec: FamilySpec
    points: list
    grid_keys: list
    bars: list
    groups: list
    columns: Column
    market: Market
    tick_sizes: tuple
    lot_size: float
    cash: int
    first_point: int = 0

    @property
    def tick_size(self) -> float:
        """The tick size shared by every symbol (ValueError where symbols have their own)."""
        if len(set(self.tick_sizes)) != 1:
            raise ValueError(f"symbols have their own tick sizes {self.tick_sizes}")
        return self.tick_sizes[0]

    def ticks_text(self) -> str:
        """``tick 0.1``, or each symbol's tick where they differ."""
        if len(set(self.tick_sizes)) == 1:
            return f"tick {self.tick_sizes[0]:g}"
        return "ticks " + ", ".join(f"{b.symbol} {t:g}"
                                    for b, t in zip(self.bars, self.tick_sizes, strict=True))

    def points_slice(self, start: int, stop: int) -> Setup:
        """The setup of points [start, stop) alone (their columns; the same market)."""
        n_groups = len(self.groups)
        take = slice(start * n_groups, stop * n_groups)
        return replace(self, points=self.points[start:stop], first_point=self.first_point + start,
                       columns=jax.tree.map(lambda x: x[take], self.columns))


def family_config(kind: str, cfg: Mapping) -> dict:
    """The family's defaults (``conf/agents/KIND.yaml``), the backtest's presets for its
    kind (``strategies.KIND``, plus ``signal_defaults`` for signal families, plus
    ``size``), then ``params`` overrides."""
    raw = family_defaults(kind) if kind in known_kinds() else None
    if raw is None:  # conf/agents/KIND.yaml, or the family's default_config (SDK, plugins)
        known = sorted(k for k in known_kinds() if family_defaults(k) is not None)
        raise ConfigError(f"strategy: {kind!r} is not a strategy family (driven from outside, "
                          f"or unknown); use one of {[*known, POLICY]}")
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


@dataclass(frozen=True)
class Strategy:
    """How a backtest builds its family's params.

    Attributes:
        family: the family.
        names: the parameters ``params`` and ``grid`` may set.
        account: the column's :class:`~qtgjax.agents.types.AccountParams`.
        build: ``{name: value}`` (a point's swept values) -> the family's Params.
    """

    family: object
    names: tuple
    account: object
    build: object


def registry_strategy(kind: str, cfg: Mapping, direction: str) -> Strategy:
    """A family of the registry (``conf/agents/KIND.yaml`` and the backtest's presets)."""
    fcfg = family_config(kind, cfg)
    family = strategy_family(kind, direction)
    _, account, _ = build_family("strategy", fcfg, 1, SPEC_LEVELS)

    def build(values: dict):
        one = {**fcfg, "params": {**fcfg["params"], **values}}
        return build_family("strategy", one, 1, SPEC_LEVELS)[2]

    return Strategy(family, tuple(f.name for f in fields(family.Params)), account, build)


def policy_strategy(cfg: Mapping, n_symbols: int) -> Strategy:
    """``strategy=policy``: a policy saved by ``qtgjax-train`` (:mod:`qtgjax.backtest.policy`)."""
    from qtgjax.backtest.policy import load_bar_policy, policy_account

    loaded = load_bar_policy(dict(cfg), n_symbols)
    fixed = dict(cfg.get("params") or {})
    unknown = sorted(set(fixed) - set(loaded.task_names))
    if unknown:
        raise ConfigError(f"params.{unknown[0]}: not a parameter of the policy's task "
                          f"{loaded.family.task.name}; it has {sorted(loaded.task_names)}")
    return Strategy(loaded.family, loaded.task_names, policy_account(cfg),
                    lambda values: loaded.params({**fixed, **values}))


def strategy_points(strategy: Strategy, points: list[dict], keys: list[str]):
    """The family's params stacked over points (grid keys that are its parameters)."""
    swept = [k for k in keys if k in strategy.names]
    cache, rows = {}, []
    for i, p in enumerate(points):
        combo = tuple(p[k] for k in swept)
        if combo not in cache:
            try:
                cache[combo] = strategy.build({k: p[k] for k in swept})
            except ConfigError as err:
                raise ConfigError(f"{err} (grid point {i}: {p})") from None
        rows.append(cache[combo])
    if len(cache) == 1:
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (len(points), *jnp.shape(x))), rows[0])
    return jax.tree.map(lambda *xs: jnp.stack(xs), *rows)


def check_keys_known(keys, strategy: Strategy) -> None:
    for k in keys:
        name = ALIASES.get(k, k)
        if (name not in strategy.names and name not in INDICATOR_SCHEMA
                and name not in MARKET_FIELDS):
            raise ConfigError(
                f"grid.{k}: not a parameter of {strategy.family.kind} nor a market parameter; "
                f"use {sorted(strategy.names)} or "
                f"{sorted(set(INDICATOR_SCHEMA) | set(MARKET_FIELDS))} "
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


def market_arrays(bars: list[Bars], groups: list[list[int]], ticks: tuple, lot: float):
    """int32[T, G, S] open/high/low/close/volume and bool[T, G] valid, padded at the end;
    ``ticks`` is each symbol's tick size."""
    in_ticks = [b.in_ticks(t, lot) for b, t in zip(bars, ticks, strict=True)]
    n_bars = max(len(b) for b in bars)
    arrays = {k: np.zeros((n_bars, len(groups), len(groups[0])), np.int32)
              for k in ("open", "high", "low", "close", "volume")}
    valid = np.zeros((n_bars, len(groups)), bool)
    for g, members in enumerate(groups):
        length = len(bars[members[0]])
        valid[:length, g] = True
        for s, i in enumerate(members):
            for k in arrays:
                x = in_ticks[i][k]
                pad = 0 if k == "volume" else x[-1]
                arrays[k][:, g, s] = np.concatenate([x, np.full(n_bars - len(x), pad, np.int32)])
    return {k: jnp.asarray(v) for k, v in arrays.items()}, jnp.asarray(valid)


def tick_sizes(cfg: Mapping, bars: list[Bars], groups: list[list[int]]) -> tuple:
    """Each symbol's tick size: ``tick_size`` a number (every symbol), a mapping
    {symbol: tick} or null; a symbol without one gets :func:`~qtgjax.data.auto_tick_size`
    of its own prices. The symbols of a portfolio share one tick (the one of their highest
    price unless given): one account's cash is counted in ticks x lots, and the families'
    wealth, sizing and kill switch add positions of every symbol in those units."""
    given = cfg.get("tick_size")
    names = [b.symbol for b in bars]
    if isinstance(given, Mapping):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigError(f"tick_size.{unknown[0]}: no such symbol in the data ({names})")
        chosen = {k: number(given, k, (1e-12, 1e12), "tick_size") for k in given}
    elif given is None:
        chosen = {}
    else:
        value = number({"tick_size": given}, "tick_size", (1e-12, 1e12), "")
        chosen = dict.fromkeys(names, value)
    ticks = [0.0] * len(bars)
    for members in groups:
        mine = {chosen[names[i]] for i in members if names[i] in chosen}
        if len(mine) > 1:
            raise ConfigError(
                f"tick_size: a portfolio trades its symbols from one account in one cash unit "
                f"(ticks x lots); give its symbols {[names[i] for i in members]} one tick size"
            )
        tick = mine.pop() if mine else auto_tick_size(
            np.concatenate([bars[i].high for i in members]))
        for i in members:
            ticks[i] = float(tick)
    return tuple(ticks)


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


def make_setup(cfg: Mapping, bars: list[Bars] | None = None,
               points: list[dict] | None = None) -> Setup:
    """Validate the config, read the data and build every column. ``points`` (one
    {grid key: value} dict per point) replaces the cartesian product of ``grid``."""
    cfg = dict(cfg)
    for key, bounds in (("cash", (1, 2**31 - 1)), ("size", (1, 65_535)),
                        ("max_position", (1, 2**30))):
        number(cfg, key, bounds, "")
    if cfg.get("record", "trades") not in RECORDS:
        raise ConfigError(f"record: {cfg.get('record')!r} is not one of {list(RECORDS)}")
    direction = cfg.get("direction", "both")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction: {direction!r} is not one of {list(DIRECTIONS)}")
    kind = cfg.get("strategy")
    if points is None:
        keys, points = expand_grid(dict(cfg.get("grid") or {}))
    else:
        keys = list(dict.fromkeys(k for p in points for k in p))
    fill = fill_params(cfg)
    if kind != POLICY:  # refuse a bad strategy before reading data
        strategy = registry_strategy(kind, cfg, direction)
        check_keys_known(keys, strategy)
    bars = bars if bars is not None else load_data(cfg)
    if not bars:
        raise ConfigError("data: no symbols")
    groups = symbol_groups(bars, bool(cfg.get("portfolio", False)))
    if kind == POLICY:
        strategy = policy_strategy(cfg, len(groups[0]))
        check_keys_known(keys, strategy)
    ticks = tick_sizes(cfg, bars, groups)
    lot = float(cfg.get("lot_size") or 1.0)
    base, per_point, history = market_params(cfg, points, keys)
    params = strategy_points(strategy, points, keys)
    arrays, valid = market_arrays(bars, groups, ticks, lot)
    tables = view_tables(base, per_point, arrays["close"], arrays["volume"], history)
    n_points, n_groups = len(points), len(groups)
    point = np.repeat(np.arange(n_points), n_groups)
    group = np.tile(np.arange(n_groups), n_points)
    take = jnp.asarray(point)
    columns = Column(
        strategy=jax.tree.map(lambda x: x[take], params),
        account=jax.tree.map(lambda x: jnp.broadcast_to(x, (len(point),)), strategy.account),
        fill=jax.tree.map(lambda x: jnp.broadcast_to(x, (len(point),)), fill),
        group=jnp.asarray(group, jnp.int32),
        rows={k: v[take] for k, v in tables.rows.items()},
        warm_up=tables.warm_up[take],
    )
    market = Market(valid=valid, tables=tables.values, **arrays)
    spec = FamilySpec(kind, kind, 1, len(groups[0]), SPEC_LEVELS)
    return Setup(strategy.family, spec, points, keys, bars, groups, columns, market, ticks, lot,
                 int(cfg["cash"]))
