"""Config (a plain nested dict, e.g. from Hydra) -> validated ``SimStatic`` and ``SimParams``.

Everything is checked before anything compiles; a bad key or value raises
:class:`ConfigError` naming the key and the allowed range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family, known_kinds
from qtgjax.agents.types import AccountParams, FamilySpec
from qtgjax.config.checks import ConfigError, check_keys, number
from qtgjax.config.order_types import ORDER_KEYS, market_order_types, read_order_types
from qtgjax.config.records import build_records
from qtgjax.market.auction import MAX_BOOK_LOTS
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.sim.signals import IndicatorParams
from qtgjax.sim.types import FundamentalParams, MarketParams, SimParams, SimStatic

FAMILY_VENUE_KEYS = ("venue", "route", "latency")  # read by qtgjax.config.venues, .latency

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class RunSpec:
    """What a run does besides the market itself.

    Attributes:
        scenarios: B, scenarios run side by side (each its own seed).
        ticks: T, ticks per scenario.
        seed: base seed; scenario b uses key fold_in(seed, b).
        tick_size: currency per price tick (reporting only).
    """

    scenarios: int
    ticks: int
    seed: int
    tick_size: float


@dataclass(frozen=True)
class Built:
    static: SimStatic
    params: SimParams
    run: RunSpec


MARKET_SCHEMA = {
    "symbols": (1, 1024),
    "levels": (8, 8192),
    "age_classes": (1, 64),
    "ema_fast": (1e-6, 1.0),
    "ema_slow": (1e-6, 1.0),
    "vol_smoothing": (1e-6, 1.0),
    "recentre": (1, 4096),
    "tick_size": (1e-12, 1e12),
    "history": (2, 4096),
}
INDICATOR_SCHEMA = {
    "sma_fast": (1, 4096),
    "sma_slow": (1, 4096),
    "bollinger": (2, 4096),
    "range": (1, 4095),
    "rsi": (1, 100_000),
    "atr": (1, 100_000),
    "macd_fast": (2, 100_000),
    "macd_slow": (2, 100_000),
    "macd_signal": (1, 100_000),
    "bollinger_k": (0.0, 100.0),
    "pair": (1, 1_000_000),
}
FUNDAMENTAL_SCHEMA = {
    "discount_rate": (1e-6, 1.0),
    "growth": (-0.5, 0.99),
    "dividend_vol": (0.0, 1.0),
    "news_rate": (0.0, 1.0),
    "news_size": (0.0, 2.0),
    "dividend_period": (1, 10**9),
    "sector_weight": (0.0, 1.0),
    "sector_news_rate": (0.0, 1.0),
}
RUN_SCHEMA = {"scenarios": (1, 10**7), "ticks": (1, 10**9), "seed": (0, 2**31 - 1)}
# Top-level keys of a config: the run, the market's sections, and the output settings that
# qtgjax-run reads (qtgjax.io.runs). Anything else (a typo, a stray +key=value) is refused.
TOP_LEVEL_KEYS = (
    *RUN_SCHEMA,
    "market",
    "fundamentals",
    "families",
    "costs",
    "record",
    "out",
    "overwrite",
    "chunk_size",
    "chunk_memory",
    "venues",
    "latency",
)
SPREAD = "position_spread"  # optional account key (0 when absent)
COSTS_KEYS = ("maker_bps", "taker_bps", "borrow_bps")
ACCOUNT_SCHEMA = {
    "n_agents": (1, 10**8),
    "cash": (-(2**31) + 1, INT32_MAX),
    "position": (-(2**30), 2**30),
    "max_position": (0, 2**30),
    "maker_bps": (-100.0, 100.0),
    "taker_bps": (-100.0, 100.0),
    "borrow_bps": (0.0, 10_000.0),
}


def section(cfg: Mapping, key: str, path: str = "") -> Mapping:
    value = cfg.get(key)
    if not isinstance(value, Mapping):
        where = f"{path}.{key}" if path else key
        raise ConfigError(f"{where}: missing section (expected a mapping)")
    return value


def read_schema(cfg: Mapping, schema: dict, path: str, extra_keys=()) -> dict[str, Any]:
    check_keys(cfg, set(schema) | set(extra_keys), path)
    return {k: number(cfg, k, b, path) for k, b in schema.items()}


def initial_prices(market: Mapping, n_symbols: int, n_levels: int) -> list[int]:
    raw = market.get("initial_price")
    prices = list(raw) if isinstance(raw, list | tuple) else [raw] * n_symbols
    if len(prices) != n_symbols:
        raise ConfigError(
            f"market.initial_price: {len(prices)} prices given for market.symbols={n_symbols}"
        )
    half = n_levels // 2
    bounds = (half + 1, MAX_PRICE_TICKS - half)
    return [_price(p, i, bounds) for i, p in enumerate(prices)]


def _price(value, i: int, bounds) -> int:
    try:
        return number({"initial_price": value}, "initial_price", bounds, "market")
    except ConfigError as err:
        raise ConfigError(
            f"market.initial_price[{i}]: {value!r} must be an integer tick price in "
            f"{bounds[0]}..{bounds[1]} (the grid of market.levels must fit in 1..{MAX_PRICE_TICKS})"
        ) from err


def build_market(cfg: Mapping):
    market = section(cfg, "market")
    values = read_schema(
        market, MARKET_SCHEMA, "market", extra_keys=("initial_price", "sectors", "indicators")
    )
    if values["levels"] % 2:
        raise ConfigError(f"market.levels: {values['levels']} must be even")
    if values["recentre"] >= values["levels"] // 2:
        raise ConfigError(
            f"market.recentre: {values['recentre']} must be below market.levels / 2 = "
            f"{values['levels'] // 2}"
        )
    prices = initial_prices(market, values["symbols"], values["levels"])
    values["sectors"] = sectors(market, values["symbols"])
    params = MarketParams(
        initial_price=jnp.asarray(prices, jnp.int32),
        ema_fast=jnp.float32(values["ema_fast"]),
        ema_slow=jnp.float32(values["ema_slow"]),
        vol_smoothing=jnp.float32(values["vol_smoothing"]),
        recentre=jnp.int32(values["recentre"]),
        indicators=build_indicators(market, values["history"]),
    )
    return values, params


def sectors(market: Mapping, n_symbols: int) -> list[int]:
    """Sector id per symbol (default: every symbol its own sector)."""
    raw = market.get("sectors")
    if raw is None:
        return list(range(n_symbols))
    if not isinstance(raw, list | tuple) or len(raw) != n_symbols:
        raise ConfigError(
            f"market.sectors: give one sector id per symbol ({n_symbols}), got {raw!r}"
        )
    for i, sector in enumerate(raw):
        number({"sectors": sector}, "sectors", (0, n_symbols - 1), f"market.sectors[{i}]")
    return [int(x) for x in raw]


def build_indicators(market: Mapping, history: int) -> IndicatorParams:
    values = read_schema(
        section(market, "indicators", "market"), INDICATOR_SCHEMA, "market.indicators"
    )
    for key in ("sma_fast", "sma_slow", "bollinger"):
        if values[key] > history:
            raise ConfigError(
                f"market.indicators.{key}: window {values[key]} exceeds market.history={history}"
            )
    if values["range"] >= history:
        raise ConfigError(
            f"market.indicators.range: window {values['range']} must be below "
            f"market.history={history}"
        )
    return IndicatorParams(
        **{k: jnp.float32(v) if k == "bollinger_k" else jnp.int32(v) for k, v in values.items()}
    )


def build_fundamentals(cfg: Mapping, sector_ids: list[int]) -> FundamentalParams:
    values = read_schema(section(cfg, "fundamentals"), FUNDAMENTAL_SCHEMA, "fundamentals")
    if values["growth"] >= values["discount_rate"]:
        raise ConfigError(
            f"fundamentals.growth: {values['growth']} must be below fundamentals.discount_rate "
            f"= {values['discount_rate']} (Gordon growth)"
        )
    return FundamentalParams(
        **{
            k: (jnp.int32(v) if k == "dividend_period" else jnp.float32(v))
            for k, v in values.items()
        },
        sector=jnp.asarray(sector_ids, jnp.int32),
    )


def build_family(name: str, cfg: Mapping, n_symbols: int, n_levels: int):
    path = f"families.{name}"
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{path}: expected a mapping with kind, n_agents, ... ")
    kind = cfg.get("kind")
    if kind not in known_kinds(include_external=True):
        known = known_kinds(include_external=True)
        raise ConfigError(f"{path}.kind: unknown family kind {kind!r}; known: {known}")
    family = get_family(kind)
    extra = ("kind", "params", SPREAD, *FAMILY_VENUE_KEYS, *ORDER_KEYS)
    account = read_schema(cfg, ACCOUNT_SCHEMA, path, extra_keys=extra)
    account[SPREAD] = number({SPREAD: cfg.get(SPREAD, 0)}, SPREAD, (0, 2**30), path)
    if abs(account["position"]) + account[SPREAD] > account["max_position"]:
        raise ConfigError(
            f"{path}.{SPREAD}: starting positions |position| + {SPREAD} = "
            f"{abs(account['position']) + account[SPREAD]} exceed max_position "
            f"{account['max_position']}"
        )
    params = cfg.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{path}.params: expected a mapping of the family's parameters")
    strategy_cfg = named_choices(family, dict(params), f"{path}.params")
    arrays = family.array_params(strategy_cfg, f"{path}.params")
    strategy = read_schema(strategy_cfg, family.config_schema, f"{path}.params")
    types = read_order_types(family, cfg, path, n_levels)
    spec = FamilySpec(name, kind, account["n_agents"], n_symbols, n_levels, **types)
    check_family_fits(family, spec, strategy, account, path)
    account_params = AccountParams(
        cash=jnp.int32(account["cash"]),
        position=jnp.int32(account["position"]),
        max_position=jnp.int32(account["max_position"]),
        maker_bps=jnp.float32(account["maker_bps"]),
        taker_bps=jnp.float32(account["taker_bps"]),
        borrow_bps=jnp.float32(account["borrow_bps"]),
        position_spread=jnp.int32(account[SPREAD]),
    )
    names = [f.name for f in fields(family.Params)]
    strategy_params = family.Params(
        **{k: arrays[k] if k in arrays else _scalar(strategy[k]) for k in names}
    )
    family.validate(spec, strategy_params)
    return spec, account_params, strategy_params


def named_choices(family, params: dict, path: str) -> dict:
    """Replace names of choices (e.g. sizing: kelly) by their numbers."""
    for key, choices in family.config_choices.items():
        value = params.get(key)
        if isinstance(value, str):
            if value not in choices:
                raise ConfigError(f"{path}.{key}: {value!r} is not one of {sorted(choices)}")
            params[key] = choices[value]
    return params


def check_family_fits(family, spec: FamilySpec, strategy: dict, account: dict, path: str) -> None:
    reach = family.grid_reach(strategy)
    if reach >= spec.n_levels // 2:
        raise ConfigError(
            f"{path}.params: quotes reach {reach:g} ticks from the mid but market.levels="
            f"{spec.n_levels} gives only {spec.n_levels // 2} on each side; raise market.levels"
        )
    if abs(account["position"]) > account["max_position"]:
        raise ConfigError(
            f"{path}.position: {account['position']} exceeds {path}.max_position="
            f"{account['max_position']}"
        )


def check_fee_account(families_cfg: Mapping) -> None:
    """Fees need exactly one fee account (``Family.collects_fees``, one agent) to collect them."""
    houses = [n for n, c in families_cfg.items() if get_family(c["kind"]).collects_fees]
    if len(houses) > 1:
        raise ConfigError(f"families: {len(houses)} fee_account families {houses}; use one")
    if houses and families_cfg[houses[0]]["n_agents"] != 1:
        raise ConfigError(f"families.{houses[0]}.n_agents: a fee_account has exactly 1 agent")
    for name, c in families_cfg.items():
        charged = any(c.get(k, 0) != 0 for k in ("maker_bps", "taker_bps"))
        if charged and not houses:
            raise ConfigError(
                f"families.{name}.taker_bps: fees are charged but no family of kind "
                "fee_account collects them; add +agents@families.exchange=fee_account"
            )


def _scalar(value):
    return jnp.int32(value) if isinstance(value, int) else jnp.float32(value)


def book_lots_bound(static: SimStatic, cfgs: Mapping) -> int:
    """Most lots one book can hold: every slot of every family at its largest order."""
    total = 0
    for spec in static.families:
        family = get_family(spec.kind)
        cfg = cfgs[spec.name]
        per_order = min(family.max_order_lots(cfg.get("params") or {}), 2 * cfg["max_position"])
        total += spec.n_agents * family.n_slots(spec) * per_order
    return total


def build(cfg: Mapping) -> Built:
    """Validate ``cfg`` and build (SimStatic, SimParams, RunSpec). Raises ConfigError."""
    check_keys(cfg, TOP_LEVEL_KEYS, "")
    if isinstance(cfg.get("costs"), Mapping):
        check_keys(cfg["costs"], COSTS_KEYS, "costs")
    run = {k: number(cfg, k, b, "") for k, b in RUN_SCHEMA.items()}
    market_values, market = build_market(cfg)
    fundamentals = build_fundamentals(cfg, market_values["sectors"])
    families_cfg = section(cfg, "families")
    if not families_cfg:
        raise ConfigError("families: at least one family is needed")
    n_symbols, n_levels = market_values["symbols"], market_values["levels"]
    built = [build_family(n, c, n_symbols, n_levels) for n, c in families_cfg.items()]
    check_fee_account(families_cfg)
    from qtgjax.config.latency import build_latency
    from qtgjax.config.venues import build_venues, venue_names

    n_venues, routes, venues = build_venues(cfg, families_cfg)
    max_delay, latency, delayed = build_latency(cfg, families_cfg, venue_names(cfg))
    records = build_records(cfg, n_levels, run["ticks"], [b[0] for b in built])
    order_types = market_order_types([b[0] for b in built])
    static = SimStatic(
        n_symbols=n_symbols,
        n_levels=n_levels,
        n_ages=market_values["age_classes"],
        families=tuple(b[0] for b in built),
        history=market_values["history"],
        n_venues=n_venues,
        routes=routes if venues is not None else (),
        max_delay=max_delay,
        delayed=delayed,
        order_types=order_types,
        **records,
    )
    bound = book_lots_bound(static, families_cfg)
    if bound >= MAX_BOOK_LOTS:
        raise ConfigError(
            f"families: up to {bound} lots could rest in one book, above the exact-arithmetic "
            f"limit {MAX_BOOK_LOTS}; lower n_agents, order sizes or max_position"
        )
    accounts, strategies = tuple(b[1] for b in built), tuple(b[2] for b in built)
    params = SimParams(market, fundamentals, accounts, strategies, venues, latency)
    spec = RunSpec(run["scenarios"], run["ticks"], run["seed"], market_values["tick_size"])
    return Built(static, params, spec)


def scenario_params(params: SimParams, n_scenarios: int) -> SimParams:
    """Give every leaf a leading scenario axis of size ``n_scenarios`` (same values)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n_scenarios, *jnp.shape(x))), params)


def scenario_keys(seed: int, n_scenarios: int, first: int = 0):
    """Key of scenario b = fold_in(key(seed), first + b): a scenario's path depends only on
    its seed and index, not on how scenarios are batched."""
    base = jax.random.key(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(first, first + n_scenarios))
