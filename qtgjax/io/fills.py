"""``fills.parquet`` (``record.fills=true``): execution reports, one row per order event.

Schema in the README. Built from the rollout's :class:`~qtgjax.sim.fills.FillRows`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from qtgjax.sim import fills as codes
from qtgjax.sim.rollout import Rollout
from qtgjax.sim.types import SimStatic

FILLS_SCHEMA = {
    "scenario": pl.Int64,
    "tick": pl.Int64,
    "venue": pl.Int32,
    "symbol": pl.Int32,
    "family": pl.Utf8,
    "agent": pl.Int64,
    "slot": pl.Int32,
    "side": pl.Utf8,
    "order_type": pl.Utf8,
    "price": pl.Float64,
    "lots": pl.Int64,
    "liquidity": pl.Utf8,
    "fee": pl.Int64,
    "status": pl.Utf8,
    "reason": pl.Utf8,
}


def fills_table(
    static: SimStatic, out: Rollout, tick_size: float, first_scenario: int = 0
) -> pl.DataFrame:
    """One row per (scenario, tick, order) that filled, was rejected or was cancelled."""
    if out.fills is None:
        return pl.DataFrame(schema=FILLS_SCHEMA)
    rows, clear = out.fills  # per family FillRows [B, R, n, S, O]; clear int32[B, R, S]
    clear = np.asarray(clear, np.int64)
    frames = []
    for f, r in zip(static.fills.families, rows, strict=True):
        name = static.families[f].name
        flags = np.asarray(r.flags).astype(np.int64)
        lots, fee = np.asarray(r.lots, np.int64), np.asarray(r.fee, np.int64)
        limit = np.asarray(r.limit, np.int64)
        events = (
            ("filled", lots, limit, flags & codes.BUY),
            ("rejected", np.asarray(r.rejected_lots, np.int64), limit, flags & codes.BUY),
            (
                "cancelled",
                np.asarray(r.cancelled_lots, np.int64),
                np.asarray(r.cancelled_limit, np.int64),
                flags & codes.CANCELLED_BUY,
            ),
        )
        for status, qty, limits, buy in events:
            at = np.nonzero(qty > 0)
            if not at[0].size:
                continue
            b, t, agent, sym, slot = at
            fl = flags[at]
            if status == "filled":
                price = clear[b, t, sym]
                liquidity = np.where(fl & codes.MAKER, "maker", "taker")
                paid = fee[at]
                reason = np.full(b.size, None)
            else:
                price = limits[at]
                liquidity = np.full(b.size, None)
                paid = np.zeros(b.size, np.int64)
                reason = (
                    np.where(fl & codes.OFF_GRID, "off_grid", "position_limit")
                    if status == "rejected"
                    else np.full(b.size, "by_family")
                )
            frames.append(
                pl.DataFrame(
                    {
                        "scenario": b + first_scenario,
                        "tick": t + static.fills.start,
                        "venue": np.zeros(b.size, np.int32),
                        "symbol": sym.astype(np.int32),
                        "family": np.full(b.size, name),
                        "agent": agent,
                        "slot": slot.astype(np.int32),
                        "side": np.where(buy[at] > 0, "buy", "sell"),
                        "order_type": np.full(b.size, "limit"),
                        "price": price * tick_size,
                        "lots": qty[at],
                        "liquidity": liquidity,
                        "fee": paid,
                        "status": np.full(b.size, status),
                        "reason": reason,
                    },
                    schema=FILLS_SCHEMA,
                )
            )
    if not frames:
        return pl.DataFrame(schema=FILLS_SCHEMA)
    return pl.concat(frames).sort("scenario", "tick", "family", "agent", "symbol", "slot")
