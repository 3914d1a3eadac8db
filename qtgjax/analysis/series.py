"""Price series out of ticks-like tables and price arrays, aligned on the return steps,
with the signed order flow that :mod:`qtgjax.analysis.stylized_facts` uses for price impact."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

SERIES_KEYS = ("scenario", "symbol")


def log_returns(prices) -> np.ndarray:
    """Log returns ``log p[t+1] - log p[t]`` of float[..., T] prices: float[..., T-1]."""
    return np.diff(np.log(np.asarray(prices, dtype=np.float64)), axis=-1)


def book_flow(best_bid, best_ask, bid_depth, ask_depth) -> np.ndarray:
    """Order-flow imbalance of each step from best quotes and total side depth, float[T-1].

    ``e = 1[b >= b'] qb - 1[b <= b'] qb' - 1[a <= a'] qa + 1[a >= a'] qa'`` (primes: the
    previous step). A missing quote (empty side) counts as unchanged, so the depth change
    alone is used; positive = net buying pressure, in lots.
    """
    b, a, qb, qa = (
        np.asarray(v, dtype=np.float64) for v in (best_bid, best_ask, bid_depth, ask_depth)
    )
    b0, b1, a0, a1 = b[:-1], b[1:], a[:-1], a[1:]
    same_b = ~(np.isfinite(b0) & np.isfinite(b1))
    same_a = ~(np.isfinite(a0) & np.isfinite(a1))
    up_b = same_b | (b1 >= b0)
    down_b = same_b | (b1 <= b0)
    down_a = same_a | (a1 <= a0)
    up_a = same_a | (a1 >= a0)
    return up_b * qb[1:] - down_b * qb[:-1] - down_a * qa[1:] + up_a * qa[:-1]


def tick_rule_flow(close, volume) -> np.ndarray:
    """Tick-rule signed volume ``sign(close[t] - close[t-1]) * volume[t]``, float[T-1]."""
    c = np.asarray(close, dtype=np.float64)
    return np.sign(np.diff(c)) * np.asarray(volume, dtype=np.float64)[1:]


@dataclass(frozen=True)
class Series:
    """One price series and its companions, aligned on the return steps.

    Attributes:
        returns: float[T-1] log returns of the close.
        volume: float[T-1] traded volume of each step, or None.
        flow: float[T-1] signed order flow of each step, or None.
        flow_kind: ``flow`` (given), ``taker_flow`` (the engine's aggressor flow), ``book``
            (:func:`book_flow`), ``tick_rule`` or ``none``.
        spread_bp: float[T] relative quoted spread ``(ask - bid) / mid * 1e4`` where both
            quotes exist, or None.
        depth: float[T] resting lots on both sides, or None.
    """

    returns: np.ndarray
    volume: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_kind: str = "none"
    spread_bp: np.ndarray | None = None
    depth: np.ndarray | None = None


FLOW_CHOICES = ("auto", "flow", "book", "tick_rule", "none")
COLUMNS = (
    "close",
    "volume",
    "flow",
    "taker_flow",
    "best_bid",
    "best_ask",
    "bid_depth",
    "ask_depth",
)


def signed_flow(get: dict[str, np.ndarray], flow: str) -> tuple[np.ndarray | None, str]:
    """The signed flow of one series (float[T-1]) and its kind, by the ``flow`` choice:
    ``auto`` takes the ``flow`` column (real trades' signed volume), else the engine's
    ``taker_flow`` (lots bought minus sold by orders new in the auction), else the book
    (:func:`book_flow`), else none; the tick rule only when asked for (its impact curve is
    monotone by construction)."""
    book = all(c in get for c in ("best_bid", "best_ask", "bid_depth", "ask_depth"))
    if flow in ("auto", "flow") and "flow" in get:
        return get["flow"][1:], "flow"
    if flow in ("auto", "flow") and "taker_flow" in get:
        return get["taker_flow"][1:], "taker_flow"
    if flow in ("auto", "book") and book:
        return book_flow(
            *(get[c] for c in ("best_bid", "best_ask", "bid_depth", "ask_depth"))
        ), "book"
    if flow == "tick_rule" and "volume" in get:
        return tick_rule_flow(get["close"], get["volume"]), "tick_rule"
    return None, "none"


def series_of(frame: pl.DataFrame, flow: str = "auto") -> Series:
    """A :class:`Series` from one series' rows (ordered) of a ticks-like frame; ``flow``
    picks the signed flow (:func:`signed_flow`)."""
    get = {
        c: frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in COLUMNS
        if c in frame.columns
    }
    signed, kind = signed_flow(get, flow)
    spread = depth = None
    if "best_bid" in get and "best_ask" in get:
        bid, ask = get["best_bid"], get["best_ask"]
        spread = (ask - bid) / (ask + bid) * 2e4
        spread = spread[np.isfinite(spread)]
    if "bid_depth" in get and "ask_depth" in get:
        depth = get["bid_depth"] + get["ask_depth"]
        depth = depth[np.isfinite(depth)]
    volume = get["volume"][1:] if "volume" in get else None
    return Series(log_returns(get["close"]), volume, signed, kind, spread, depth)


def split_series(data, flow: str = "auto") -> list[Series]:
    """Every series of ``data``: a price array float[T] or float[S, T], or a ticks-like
    Polars frame (one series per ``scenario`` x ``symbol``, ordered by ``tick``)."""
    if flow not in FLOW_CHOICES:
        raise ValueError(f"flow must be one of {FLOW_CHOICES}, not {flow!r}")
    if isinstance(data, pl.LazyFrame):
        data = data.collect()
    if not isinstance(data, pl.DataFrame):
        prices = np.atleast_2d(np.asarray(data, dtype=np.float64))
        return [Series(log_returns(p)) for p in prices]
    keys = [k for k in SERIES_KEYS if k in data.columns]
    order = [*keys, "tick"] if "tick" in data.columns else keys
    data = data.sort(order) if order else data
    parts = data.partition_by(keys, maintain_order=True) if keys else [data]
    return [series_of(p, flow) for p in parts]
