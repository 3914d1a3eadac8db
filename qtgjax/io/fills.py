"""``fills.parquet`` (``record.fills=true``): execution reports, one row per order event.

Schema in the README. Built from the rollout's :class:`~qtgjax.sim.fills.FillRows`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from qtgjax.market import order_types as ot
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
    """One row per (scenario, tick, order) that filled, was rejected or was cancelled, and
    per order message that latency dropped or made late (rejected, lots 0 for a cancel)."""
    if out.fills is None:
        return pl.DataFrame(schema=FILLS_SCHEMA)
    rows, clear = out.fills  # per family FillRows [B, R, n, S, V * O]; clear int32[B, R, V * S]
    clear = np.asarray(clear, np.int64)
    n_symbols, n_venues = static.n_symbols, static.n_venues
    frames = []
    for f, r in zip(static.fills.families, rows, strict=True):
        n_slots = np.shape(r.lots)[-1] // n_venues
        for status, mask, qty, price, buy, kind, extra in order_events(r):
            at = np.nonzero(mask)
            if not at[0].size:
                continue
            b, t, agent, sym, slot = at
            venue = slot // n_slots
            price = clear[b, t, venue * n_symbols + sym] if status == "filled" else price[at]
            columns = {
                "scenario": b + first_scenario,
                "tick": t + static.fills.start,
                "venue": venue.astype(np.int32),
                "symbol": sym.astype(np.int32),
                "family": np.full(b.size, static.families[f].name),
                "agent": agent,
                "slot": (slot % n_slots).astype(np.int32),
                "side": np.where(buy[at] > 0, "buy", "sell"),
                "order_type": type_names(kind, at),
                "price": price * tick_size,
                "lots": qty[at],
                "status": np.full(b.size, status),
                **extra(at),
            }
            frames.append(pl.DataFrame({k: columns[k] for k in FILLS_SCHEMA}, schema=FILLS_SCHEMA))
    if not frames:
        return pl.DataFrame(schema=FILLS_SCHEMA)
    keys = ("scenario", "tick", "family", "agent", "symbol", "venue", "slot")
    return pl.concat(frames).sort(*keys)


# reason of the lots an order's type cancelled after the auction, by placed type
KILLED = {
    ot.MARKET: ("cancelled", "market_unfilled"),
    ot.STOP: ("cancelled", "market_unfilled"),  # a fired stop is a market order
    ot.IOC: ("cancelled", "ioc_unfilled"),
    ot.FOK: ("cancelled", "fok_not_fillable"),
    ot.POST_ONLY: ("rejected", "post_only_would_cross"),
}


def type_names(kind, at):
    """The order type names of the rows at ``at`` (``kind``: placed type codes, None: all
    limit orders)."""
    if kind is None:
        return np.full(at[0].size, "limit")
    return np.asarray(ot.NAMES)[kind[at]]


def order_events(r):
    """(status, mask, lots, price, buy, order type codes or None, extra columns) of each
    kind of event in one family's FillRows (numpy arrays [B, R, n, S, V * O];
    ``extra(at)``: liquidity, fee and reason of the rows at ``at``)."""
    flags = np.asarray(r.flags).astype(np.int64)
    lots = np.asarray(r.lots, np.int64)
    limit = np.asarray(r.limit, np.int64)
    rejected = np.asarray(r.rejected_lots, np.int64)
    cancelled = np.asarray(r.cancelled_lots, np.int64)

    def filled(at):
        return {
            "liquidity": np.where(flags[at] & codes.MAKER, "maker", "taker"),
            "fee": np.asarray(r.fee, np.int64)[at],
            "reason": np.full(at[0].size, None),
        }

    def unfilled(reason):
        def columns(at):
            n = at[0].size
            why = reason(at) if callable(reason) else np.full(n, reason)
            return {"liquidity": np.full(n, None), "fee": np.zeros(n, np.int64), "reason": why}

        return columns

    def off_grid(at):
        return np.where(flags[at] & codes.OFF_GRID, "off_grid", "position_limit")

    kind = old_kind = None
    if r.order_type is not None:
        kind = np.asarray(r.order_type, np.int64)
        old_kind = np.asarray(r.cancelled_type, np.int64)
    buy = flags & codes.BUY
    events = [
        ("filled", lots > 0, lots, limit, buy, kind, filled),
        ("rejected", rejected > 0, rejected, limit, buy, kind, unfilled(off_grid)),
        (
            "cancelled",
            cancelled > 0,
            cancelled,
            np.asarray(r.cancelled_limit, np.int64),
            flags & codes.CANCELLED_BUY,
            old_kind,
            unfilled(lambda at: np.where(flags[at] & codes.EXPIRED, "expired", "by_family")),
        ),
    ]
    if r.killed_lots is not None:
        killed = np.asarray(r.killed_lots, np.int64)
        for code, (status, reason) in KILLED.items():
            mask = (killed > 0) & (kind == code)
            events.append((status, mask, killed, limit, buy, kind, unfilled(reason)))
    if r.transit is not None:
        tr = r.transit
        tflags = np.asarray(tr.flags).astype(np.int64)
        events += [
            (
                "rejected",
                tflags & (codes.DROPPED | codes.OVERTAKEN),
                np.asarray(tr.lost_lots, np.int64),
                np.asarray(tr.lost_limit, np.int64),
                tflags & codes.LOST_BUY,
                None,
                unfilled(lambda at: np.where(tflags[at] & codes.DROPPED, "dropped", "late")),
            ),
            (
                "rejected",
                tflags & codes.LATE,
                np.asarray(tr.late_lots, np.int64),
                np.asarray(tr.late_limit, np.int64),
                tflags & codes.LATE_BUY,
                None,
                unfilled("late"),
            ),
        ]
    return events
