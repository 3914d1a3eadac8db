"""Tables of the optional and per-tick records: ``depth.parquet`` (``record.depth=K``) and
``family_pnl.parquet`` (every run). Schemas in the README."""

from __future__ import annotations

import numpy as np
import polars as pl

from qtgjax.io.tables import _grid
from qtgjax.sim.depth import ASK, BID
from qtgjax.sim.rollout import Rollout
from qtgjax.sim.types import SimStatic

DEPTH_SCHEMA = {
    "scenario": pl.Int64,
    "venue": pl.Int32,
    "symbol": pl.Int32,
    "tick": pl.Int64,
    "side": pl.Utf8,
    "level": pl.Int32,
    "price": pl.Float64,
    "lots": pl.Int64,
}
SIDES = {BID: "bid", ASK: "ask"}


def depth_table(
    static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0
) -> pl.DataFrame:
    """One row per (scenario, venue, symbol, recorded tick, side, level) with lots resting:
    the top ``record.depth`` levels per side of each (venue, symbol) residual book, level
    1 = best."""
    if out.depth is None:
        return pl.DataFrame(schema=DEPTH_SCHEMA)
    n_b, n_r, _, n_sides, n_l = np.shape(out.depth.lots)  # [B, R, V * S, 2, L], venue-major
    shape = (n_b, n_r, static.n_venues, static.n_symbols, n_sides, n_l)
    lots = np.asarray(out.depth.lots).reshape(shape)
    price = np.asarray(out.depth.price).reshape(shape)
    scen, row, venue, sym, side, level = _grid(*shape)
    keep = lots.ravel() > 0
    ticks = np.arange(n_r, dtype=np.int64) * static.depth.every
    side_names = np.array([SIDES[i] for i in range(n_sides)])
    df = pl.DataFrame(
        {
            "scenario": (scen[keep] + first_scenario).astype(np.int64),
            "venue": venue[keep].astype(np.int32),
            "symbol": sym[keep].astype(np.int32),
            "tick": ticks[row[keep]],
            "side": side_names[side[keep]],
            "level": (level[keep] + 1).astype(np.int32),
            "price": price.ravel()[keep].astype(np.float64) * tick_size,
            "lots": lots.ravel()[keep].astype(np.int64),
        },
        schema=DEPTH_SCHEMA,
    )
    return df.sort("scenario", "venue", "symbol", "tick", "side", "level")


FAMILY_PNL_SCHEMA = {
    "scenario": pl.Int64,
    "family": pl.Utf8,
    "tick": pl.Int64,
    "pnl": pl.Int64,
    "pnl_per_agent": pl.Float64,
}


def family_pnl_table(
    static: SimStatic, wealth: np.ndarray, tick_size: float, first_scenario: int = 0
) -> pl.DataFrame:
    """One row per (scenario, family, tick): the family's mark-to-market P&L after the
    tick's auction (cash + positions at the close, minus the start), exact cash units and
    currency per agent; the last tick's ``pnl`` is ``agents.parquet``'s.

    Args:
        wealth: int64[B, T + 1, F] from :func:`qtgjax.io.tables.family_wealth`.
    """
    pnl = wealth[:, 1:] - wealth[:, :1]  # [B, T, F]
    scen, tick, fam = _grid(*pnl.shape)
    n_agents = np.array([f.n_agents for f in static.families], np.float64)
    names = np.array([f.name for f in static.families])
    df = pl.DataFrame(
        {
            "scenario": (scen + first_scenario).astype(np.int64),
            "family": names[fam],
            "tick": tick.astype(np.int64),
            "pnl": pnl.ravel(),
            "pnl_per_agent": pnl.ravel() * tick_size / n_agents[fam],
        },
        schema=FAMILY_PNL_SCHEMA,
    )
    return df.sort("scenario", "family", "tick")


LATENCY_SCHEMA = {
    "scenario": pl.Int64,
    "tick": pl.Int64,
    "family": pl.Utf8,
    "venue": pl.Int32,
    "delivered": pl.Int64,
    "late": pl.Int64,
    "dropped": pl.Int64,
    "delay_sum": pl.Int64,
}


def latency_table(static: SimStatic, out: Rollout, first_scenario: int = 0) -> pl.DataFrame:
    """One row per (scenario, tick, family, venue): order messages delivered, late and
    dropped in the tick, and the summed delay of the delivered ones (ticks; mean delay =
    delay_sum / delivered). Only when the market has latency (``latency.max_delay > 0``)."""
    lat = out.records.latency
    if lat is None:
        return pl.DataFrame(schema=LATENCY_SCHEMA)
    delivered = np.asarray(lat.delivered)  # [B, T, F, V]
    scen, tick, fam, ven = _grid(*delivered.shape)
    names = np.array([f.name for f in static.families])
    df = pl.DataFrame(
        {
            "scenario": (scen + first_scenario).astype(np.int64),
            "tick": tick.astype(np.int64),
            "family": names[fam],
            "venue": ven.astype(np.int32),
            "delivered": delivered.ravel().astype(np.int64),
            "late": np.asarray(lat.late).ravel().astype(np.int64),
            "dropped": np.asarray(lat.dropped).ravel().astype(np.int64),
            "delay_sum": np.asarray(lat.delay_sum).ravel().astype(np.int64),
        },
        schema=LATENCY_SCHEMA,
    )
    return df.sort("scenario", "family", "venue", "tick")
