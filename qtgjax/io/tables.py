"""Results as Polars tables (the Parquet schemas documented in the README).

Cash columns are exact Int64 in *cash units* (one price tick times one lot); multiply by
``tick_size`` for currency. Prices in currency are Float64, quantities Int64 lots.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import polars as pl

from qtgjax import risk
from qtgjax.agents.registry import get_family
from qtgjax.io.price_limits import at_price_limit
from qtgjax.market import money
from qtgjax.sim import agent_risk
from qtgjax.sim.rollout import Rollout
from qtgjax.sim.tick import fee_account_index
from qtgjax.sim.types import SimStatic


def _grid(*sizes):
    """Index columns of a C-ordered (B, T, S)-style grid, as flat int arrays."""
    return [a.ravel() for a in np.meshgrid(*(np.arange(n) for n in sizes), indexing="ij")]


def ticks_table(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """One row per (scenario, venue, symbol, tick); ``venue`` is 0 with one venue. With
    several venues the prices, quotes, volume, flow and depth are the venue's own."""
    rec = out.records
    bars = rec if rec.venues is None else rec.venues
    shape = np.shape(bars.close)
    n_b, n_t, n_s = shape[0], shape[1], shape[-1]
    n_v = 1 if rec.venues is None else shape[2]
    scen, tick, ven, sym = _grid(n_b, n_t, n_v, n_s)

    def col(x):
        return np.asarray(x).reshape(-1)

    def price(x):
        return col(x).astype(np.float64) * tick_size

    fundamental = np.broadcast_to(
        np.asarray(rec.fundamental)[:, :, None, :], (n_b, n_t, n_v, n_s)
    )
    news = np.broadcast_to(np.asarray(rec.news)[:, :, None, :], (n_b, n_t, n_v, n_s))
    volume = col(bars.volume).astype(np.int64)
    df = pl.DataFrame(
        {
            "scenario": (scen + first_scenario).astype(np.int64),
            "venue": ven.astype(np.int32),
            "symbol": sym.astype(np.int32),
            "tick": tick.astype(np.int64),
            "open": price(bars.open),
            "high": price(bars.high),
            "low": price(bars.low),
            "close": price(bars.close),
            "volume": volume,
            "taker_flow": col(bars.taker_flow).astype(np.int64),
            "vwap": _masked(col(bars.clear_price) * tick_size, volume == 0),
            "best_bid": _masked(col(bars.best_bid) * tick_size, col(bars.best_bid) == 0),
            "best_ask": _masked(col(bars.best_ask) * tick_size, col(bars.best_ask) == 0),
            "bid_depth": col(bars.bid_depth).astype(np.int64),
            "ask_depth": col(bars.ask_depth).astype(np.int64),
            "fundamental": col(fundamental).astype(np.float64) * tick_size,
            "news": col(news).astype(np.float64),
            "at_price_limit": at_price_limit(col(bars.close)),
        }
    )
    return df.sort("scenario", "venue", "symbol", "tick")


def _masked(values, missing) -> pl.Series:
    return pl.Series(np.asarray(values, np.float64)).set(pl.Series(missing), None)


def family_wealth(out: Rollout) -> np.ndarray:
    """int64[B, T + 1, F] exact wealth of each family: cash + positions at the close,
    cash units; index 0 is the start."""
    rec = out.records
    close = np.asarray(rec.close, np.int64)  # (B, T, S)
    value = (np.asarray(rec.position, np.int64) * close[:, :, None, :]).sum(-1)  # (B, T, F)
    wealth = money.to_int64(rec.cash) + value
    start = np.stack(
        [
            money.to_int64(a.cash).sum(-1)
            + (
                np.asarray(a.position, np.int64).sum(1) * np.asarray(out.initial.market.last_price)
            ).sum(-1)
            for a in out.initial.accounts
        ],
        axis=-1,
    )  # (B, F)
    return np.concatenate([start[:, None, :], wealth], axis=1)


TICKS_PER_YEAR = 252 * 390  # a tick read as one minute of a US trading day


def risk_metrics(wealth: np.ndarray, periods: float = TICKS_PER_YEAR) -> dict[str, np.ndarray]:
    """Annualised Sharpe and Sortino, max drawdown and 95% historical VaR per family,
    float64[B, F] each, from :mod:`qtgjax.risk` (empyrical's conventions).

    Returns are simple per-tick returns of the family's wealth curve; a family whose
    wealth is ever non-positive (the pool and the fee account start at 0) gets NaN.
    """
    wealth = np.moveaxis(wealth, 1, -1).astype(np.float64)  # (B, F, T + 1)
    valid = np.all(wealth > 0, axis=-1)
    safe = np.where(valid[..., None], wealth, 1.0)
    returns = jnp.asarray(safe[..., 1:] / safe[..., :-1] - 1.0, jnp.float32)
    metrics = {
        "sharpe": risk.sharpe(returns, annualization=periods),
        "sortino": risk.sortino(returns, annualization=periods),
        "max_drawdown": risk.max_drawdown(returns),
        "var_95": risk.var(returns, 0.05),
    }
    return {k: np.where(valid, np.asarray(v, np.float64), np.nan) for k, v in metrics.items()}


def pnl_parts(static: SimStatic, out: Rollout) -> dict[str, np.ndarray]:
    """The exact split of each family's ``pnl``, int64[B, F] cash units each:
    ``pnl_trading + pnl_holding + dividends - fees - borrow == pnl``.

    * ``pnl_trading``: the cash of its fills (sales in, purchases out) plus the lots it
      traded since the start (``position_end - position_start``) at the last close.
    * ``pnl_holding``: the starting endowment revalued, ``position_start * (last - initial
      price)``.
    * ``dividends``: received (shorts pay them). ``borrow``: borrow costs paid.
    * ``fees``: trading fees paid net of rebates; the fee account's is minus what it collected.
    """
    rec = out.records
    dividends = money.to_int64(rec.dividends).sum(1)  # (B, F)
    borrow = money.to_int64(rec.borrow).sum(1)
    fees = money.to_int64(rec.fees).sum(1)
    house = fee_account_index(static)
    if house is not None:
        fees[:, house] -= fees.sum(1)
    agents = [
        agent_pnl(a0, a1, out)
        for a0, a1 in zip(out.initial.accounts, out.final.accounts, strict=True)
    ]
    return {
        "pnl_trading": np.stack([a["pnl_trading"].sum(-1) for a in agents], -1),
        "pnl_holding": np.stack([a["pnl_holding"].sum(-1) for a in agents], -1),
        "dividends": dividends,
        "fees": fees,
        "borrow": borrow,
    }


def agent_pnl(start, end, out: Rollout) -> dict[str, np.ndarray]:
    """One family's agents' P&L parts, int64[B, N] cash units each: ``pnl_trading``,
    ``pnl_holding`` and ``external_cash`` (dividends - fees - borrow); they sum to ``pnl``.

    Args:
        start, end: the family's :class:`~qtgjax.market.types.Accounts` before the first
            and after the last tick (leading scenario axis B).
    """
    price0 = np.asarray(out.initial.market.last_price, np.int64)[:, None, :]  # (B, 1, S)
    price1 = np.asarray(out.records.close, np.int64)[:, -1, None, :]  # the last trade
    pos0 = np.asarray(start.position, np.int64)  # (B, N, S)
    pos1 = np.asarray(end.position, np.int64)
    external = money.to_int64(end.external) - money.to_int64(start.external)  # (B, N)
    fill_cash = money.to_int64(end.cash) - money.to_int64(start.cash) - external
    trading = fill_cash + ((pos1 - pos0) * price1).sum(-1)
    holding = (pos0 * (price1 - price0)).sum(-1)
    return {
        "pnl": trading + holding + external,
        "pnl_trading": trading,
        "pnl_holding": holding,
        "external_cash": external,
    }


def agents_table(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """One row per (scenario, family): exact cash flows, activity, P&L and risk metrics
    (``sharpe``... of the family's pooled wealth; with ``record.agent_risk=true`` also the
    per-agent ratios of trading P&L summarised, :func:`agent_risk_summary`)."""
    rec = out.records
    n_b = np.shape(rec.close)[0]
    cash0 = np.stack([money.to_int64(a.cash).sum(-1) for a in out.initial.accounts], -1)
    cash1 = np.stack([money.to_int64(a.cash).sum(-1) for a in out.final.accounts], -1)
    external = np.stack(
        [
            money.to_int64(a1.external).sum(-1) - money.to_int64(a0.external).sum(-1)
            for a0, a1 in zip(out.initial.accounts, out.final.accounts, strict=True)
        ],
        -1,
    )
    wealth = family_wealth(out)
    n_agents = np.array([f.n_agents for f in static.families])
    pnl = wealth[:, -1] - wealth[:, 0]
    parts = pnl_parts(static, out)
    columns = {
        "scenario": np.repeat(np.arange(n_b) + first_scenario, len(n_agents)),
        "family": [f.name for f in static.families] * n_b,
        "kind": [f.kind for f in static.families] * n_b,
        "n_agents": np.tile(n_agents, n_b),
        "cash_start": cash0.ravel(),
        "cash_end": cash1.ravel(),
        "external_cash": external.ravel(),
        "pnl": pnl.ravel(),
        "pnl_per_agent": (pnl * tick_size / n_agents).ravel(),
        **{name: part.ravel() for name, part in parts.items()},
        "pnl_trading_per_agent": (parts["pnl_trading"] * tick_size / n_agents).ravel(),
        **trading_quantiles(out, tick_size),
        "infrastructure": [get_family(f.kind).infrastructure for f in static.families] * n_b,
        "trades": np.asarray(rec.fills, np.int64).sum(1).ravel(),
        "volume": np.asarray(rec.traded, np.int64).sum(1).ravel(),
    }
    columns.update({k: v.ravel() for k, v in risk_metrics(wealth).items()})
    schema = AGENTS_SCHEMA
    if out.risk is not None:
        columns.update(agent_risk_summary(out))
        schema = {**schema, **{name: pl.Float64 for name in AGENT_RISK_SUMMARY}}
    return pl.DataFrame(columns, schema=schema)


AGENT_RISK = ("sharpe", "sortino", "max_drawdown")  # per agent, on trading P&L
AGENT_RISK_STATS = ("mean", "p10", "p50", "p90")
AGENT_RISK_SUMMARY = tuple(f"{m}_trading_{s}" for m in AGENT_RISK for s in AGENT_RISK_STATS)


def agent_ratios(out: Rollout) -> list[dict[str, np.ndarray]]:
    """Per family, each agent's Sharpe, Sortino and max drawdown of its trading account,
    float64[B, N] each (:func:`qtgjax.sim.agent_risk.ratios`; ``record.agent_risk``)."""
    n_ticks = np.shape(out.records.close)[1]
    return [agent_risk.ratios(acc, n_ticks, TICKS_PER_YEAR) for acc in out.risk.families]


def agent_risk_summary(out: Rollout) -> dict[str, np.ndarray]:
    """float64[B * F] per family and scenario: mean and 10/50/90% quantiles over its
    agents of each per-agent ratio (agents whose ratio is undefined or infinite, e.g. a
    Sortino ratio with no losing tick, left out; NaN when none is left)."""
    per_family = agent_ratios(out)
    columns = {}
    for m in AGENT_RISK:
        stats = []
        for r in per_family:
            x = np.where(np.isfinite(r[m]), r[m], np.nan)  # (B, N)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(x, axis=-1)
                q = np.nanpercentile(x, (10, 50, 90), axis=-1)  # (3, B)
            stats.append(np.stack([mean, *q], -1))  # (B, 4)
        table = np.stack(stats, 1)  # (B, F, 4)
        for i, s in enumerate(AGENT_RISK_STATS):
            columns[f"{m}_trading_{s}"] = table[..., i].ravel()
    return columns


QUANTILES = (10, 50, 90)  # per-agent quantiles summarised per family, percent


def trading_quantiles(out: Rollout, tick_size: float) -> dict[str, np.ndarray]:
    """float64[B * F] per family and scenario: the 10/50/90% quantiles of its agents'
    trading P&L, currency per agent."""
    per_family = [
        np.percentile(agent_pnl(a0, a1, out)["pnl_trading"] * tick_size, QUANTILES, axis=-1)
        for a0, a1 in zip(out.initial.accounts, out.final.accounts, strict=True)
    ]  # each (Q, B)
    stacked = np.stack(per_family, -1)  # (Q, B, F)
    return {f"pnl_trading_p{q}": stacked[i].ravel() for i, q in enumerate(QUANTILES)}


AGENTS_SCHEMA = {
    "scenario": pl.Int64,
    "family": pl.Utf8,
    "kind": pl.Utf8,
    "n_agents": pl.Int64,
    "cash_start": pl.Int64,
    "cash_end": pl.Int64,
    "external_cash": pl.Int64,
    "pnl": pl.Int64,
    "pnl_per_agent": pl.Float64,
    "pnl_trading": pl.Int64,
    "pnl_holding": pl.Int64,
    "dividends": pl.Int64,
    "fees": pl.Int64,
    "borrow": pl.Int64,
    "pnl_trading_per_agent": pl.Float64,
    **{f"pnl_trading_p{q}": pl.Float64 for q in QUANTILES},
    "infrastructure": pl.Boolean,
    "trades": pl.Int64,
    "volume": pl.Int64,
    "sharpe": pl.Float64,
    "sortino": pl.Float64,
    "max_drawdown": pl.Float64,
    "var_95": pl.Float64,
}


def positions_table(static: SimStatic, out: Rollout, first_scenario: int = 0):
    """One row per (scenario, family, symbol)."""
    frames = []
    for f, spec in enumerate(static.families):
        pos0 = np.asarray(out.initial.accounts[f].position, np.int64).sum(1)  # (B, S)
        pos1 = np.asarray(out.final.accounts[f].position, np.int64).sum(1)
        scen, sym = _grid(*pos0.shape)
        frames.append(
            pl.DataFrame(
                {
                    "scenario": (scen + first_scenario).astype(np.int64),
                    "family": [spec.name] * scen.size,
                    "symbol": sym.astype(np.int32),
                    "position_start": pos0.ravel(),
                    "position_end": pos1.ravel(),
                }
            )
        )
    return pl.concat(frames)


def table_names(static: SimStatic) -> tuple[str, ...]:
    """Names of the tables :func:`all_tables` builds for this market, in that order."""
    depth = ("depth",) if static.depth.levels else ()
    latency = ("latency",) if static.max_delay else ()
    fills = ("fills",) if static.fills.on else ()
    agents = ("agent_pnl",) if static.agent_pnl else ()
    return ("ticks", "agents", "positions", "family_pnl", *depth, *latency, *fills, *agents)


def all_tables(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """The result tables of a run, by name (``depth`` only when it was recorded,
    ``latency`` only when the market has latency)."""
    from qtgjax.io.records import depth_table, family_pnl_table, latency_table

    tables = {
        "ticks": ticks_table(static, out, tick_size, first_scenario),
        "agents": agents_table(static, out, tick_size, first_scenario),
        "positions": positions_table(static, out, first_scenario),
        "family_pnl": family_pnl_table(static, family_wealth(out), tick_size, first_scenario),
    }
    if out.depth is not None:
        tables["depth"] = depth_table(static, out, tick_size, first_scenario)
    if static.max_delay:
        tables["latency"] = latency_table(static, out, first_scenario)
    if static.agent_pnl:
        tables["agent_pnl"] = agent_pnl_table(static, out, tick_size, first_scenario)
    if out.fills is not None:
        from qtgjax.io.fills import fills_table

        tables["fills"] = fills_table(static, out, tick_size, first_scenario)
    return tables


AGENT_PNL_SCHEMA = {
    "scenario": pl.Int64,
    "family": pl.Utf8,
    "agent": pl.Int64,
    "pnl": pl.Int64,
    "pnl_trading": pl.Int64,
    "pnl_holding": pl.Int64,
    "external_cash": pl.Int64,
    "pnl_trading_currency": pl.Float64,
}


def agent_pnl_table(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """One row per (scenario, family, agent): the agent's P&L and its parts, cash units
    (``pnl = pnl_trading + pnl_holding + external_cash``, external cash being dividends -
    fees - borrow), and its trading P&L in currency (``record.agent_pnl=true``); with
    ``record.agent_risk=true`` also its ``sharpe_trading``, ``sortino_trading`` and
    ``max_drawdown_trading`` (:func:`agent_ratios`)."""
    frames = []
    ratios = agent_ratios(out) if out.risk is not None else [None] * len(static.families)
    schema = AGENT_PNL_SCHEMA
    if out.risk is not None:
        schema = {**schema, **{f"{m}_trading": pl.Float64 for m in AGENT_RISK}}
    for spec, a0, a1, agent_ratio in zip(
        static.families, out.initial.accounts, out.final.accounts, ratios, strict=True
    ):
        parts = agent_pnl(a0, a1, out)
        scen, agent = _grid(*parts["pnl"].shape)
        columns = {
            "scenario": (scen + first_scenario).astype(np.int64),
            "family": [spec.name] * scen.size,
            "agent": agent.astype(np.int64),
            **{k: v.ravel() for k, v in parts.items()},
            "pnl_trading_currency": parts["pnl_trading"].ravel() * tick_size,
        }
        if agent_ratio is not None:
            columns.update({f"{m}_trading": agent_ratio[m].ravel() for m in AGENT_RISK})
        frames.append(pl.DataFrame(columns, schema=schema))
    return pl.concat(frames)
