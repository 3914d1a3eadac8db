"""Results as Polars tables (the Parquet schemas documented in the README).

Cash columns are exact Int64 in *cash units* (one price tick times one lot); multiply by
``tick_size`` for currency. Prices in currency are Float64, quantities Int64 lots.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from qtgjax.market import money
from qtgjax.sim.rollout import Rollout
from qtgjax.sim.types import SimStatic


def _grid(*sizes):
    """Index columns of a C-ordered (B, T, S)-style grid, as flat int arrays."""
    return [a.ravel() for a in np.meshgrid(*(np.arange(n) for n in sizes), indexing="ij")]


def ticks_table(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """One row per (scenario, symbol, tick)."""
    rec = out.records
    n_b, n_t, n_s = np.shape(rec.close)
    scen, tick, sym = _grid(n_b, n_t, n_s)

    def col(x):
        return np.asarray(x).reshape(-1)

    def price(x):
        return col(x).astype(np.float64) * tick_size

    volume = col(rec.volume).astype(np.int64)
    df = pl.DataFrame(
        {
            "scenario": (scen + first_scenario).astype(np.int64),
            "symbol": sym.astype(np.int32),
            "tick": tick.astype(np.int64),
            "open": price(rec.open),
            "high": price(rec.high),
            "low": price(rec.low),
            "close": price(rec.close),
            "volume": volume,
            "vwap": _masked(col(rec.clear_price) * tick_size, volume == 0),
            "best_bid": _masked(col(rec.best_bid) * tick_size, col(rec.best_bid) == 0),
            "best_ask": _masked(col(rec.best_ask) * tick_size, col(rec.best_ask) == 0),
            "bid_depth": col(rec.bid_depth).astype(np.int64),
            "ask_depth": col(rec.ask_depth).astype(np.int64),
            "fundamental": col(rec.fundamental).astype(np.float64) * tick_size,
        }
    )
    return df.sort("scenario", "symbol", "tick")


def _masked(values, missing) -> pl.Series:
    return pl.Series(np.asarray(values, np.float64)).set(pl.Series(missing), None)


def agents_table(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """One row per (scenario, family): exact cash flows and mark-to-market P&L."""
    rows = []
    last_price = np.asarray(out.final.market.last_price, np.int64)  # (B, S)
    first_price = np.asarray(out.initial.market.last_price, np.int64)
    traded = np.asarray(out.records.traded, np.int64).sum(axis=1)  # (B, F)
    for f, spec in enumerate(static.families):
        a0, a1 = out.initial.accounts[f], out.final.accounts[f]
        cash0 = money.to_int64(a0.cash).sum(-1)  # (B,)
        cash1 = money.to_int64(a1.cash).sum(-1)
        external = money.to_int64(a1.external).sum(-1) - money.to_int64(a0.external).sum(-1)
        pos0 = np.asarray(a0.position, np.int64).sum(1)  # (B, S)
        pos1 = np.asarray(a1.position, np.int64).sum(1)
        wealth0 = cash0 + (pos0 * first_price).sum(-1)
        wealth1 = cash1 + (pos1 * last_price).sum(-1)
        for b in range(cash0.shape[0]):
            rows.append(
                {
                    "scenario": b + first_scenario,
                    "family": spec.name,
                    "kind": spec.kind,
                    "n_agents": spec.n_agents,
                    "cash_start": int(cash0[b]),
                    "cash_end": int(cash1[b]),
                    "external_cash": int(external[b]),
                    "pnl": int(wealth1[b] - wealth0[b]),
                    "pnl_per_agent": float(wealth1[b] - wealth0[b]) * tick_size / spec.n_agents,
                    "volume": int(traded[b, f]),
                }
            )
    schema = {
        "scenario": pl.Int64,
        "family": pl.Utf8,
        "kind": pl.Utf8,
        "n_agents": pl.Int64,
        "cash_start": pl.Int64,
        "cash_end": pl.Int64,
        "external_cash": pl.Int64,
        "pnl": pl.Int64,
        "pnl_per_agent": pl.Float64,
        "volume": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


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


def all_tables(static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0):
    """The three result tables of a run, by name."""
    return {
        "ticks": ticks_table(static, out, tick_size, first_scenario),
        "agents": agents_table(static, out, tick_size, first_scenario),
        "positions": positions_table(static, out, first_scenario),
    }
