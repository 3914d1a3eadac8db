"""Real market data for the stylized facts, as ticks-like Polars frames for
:func:`qtgjax.analysis.stylized_facts.facts`.

- S&P 500 daily bars 1999-2018 shipped with ``arch`` (``arch.data.sp500``; NCSA licence),
  dividend-adjusted: one series, one row per trading day.
- Bitstamp BTC/USD, 30 minutes of level-3 order events and 284 trades (2026-05-02 02:36 to
  03:06 UTC) shipped with ``ob-analytics`` (GPL-2.0-or-later), read from the installed
  package and reconstructed with its own loaders and depth functions; nothing of it is
  copied here.

Both packages are optional (test/analysis extras); a missing one raises
:class:`MissingDataPackage` naming what to install.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np
import polars as pl

PACKAGES = {"arch": "arch==8.0.0", "ob_analytics": "ob-analytics==0.1.0"}
BTC_DEPTH_BPS = 25
BTC_DEPTH_BINS = 4  # side depth = lots within 4 x 25 bp = 100 bp of the best quote


class MissingDataPackage(ImportError):
    """The package that ships a real data set is not installed."""


def require(module: str):
    """Import ``module`` (``arch`` or ``ob_analytics``) or raise :class:`MissingDataPackage`."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pin = PACKAGES[module.split(".")[0]]
        raise MissingDataPackage(
            f"this real data set needs the package {pin!r}: pip install {pin}"
        ) from err


@functools.lru_cache(maxsize=1)
def sp500_ticks() -> pl.DataFrame:
    """S&P 500 daily bars, dividend-adjusted (5,031 days 1999-2018), ticks-like.

    Returns:
        ``scenario, symbol`` (0), ``tick`` (trading day), ``date``, ``open, high, low,
        close`` (index points, scaled by Adj Close / Close), ``volume`` (shares).
    """
    frame = require("arch.data.sp500").load()
    adjust = (frame["Adj Close"] / frame["Close"]).to_numpy()
    n = len(frame)
    return pl.DataFrame(
        {
            "scenario": np.zeros(n, np.int64),
            "symbol": np.zeros(n, np.int32),
            "tick": np.arange(n, dtype=np.int64),
            "date": frame.index.to_numpy(),
            **{c.lower(): frame[c].to_numpy(np.float64) * adjust for c in ("Open", "High", "Low")},
            "close": frame["Adj Close"].to_numpy(np.float64),
            "volume": frame["Volume"].to_numpy(np.float64),
        }
    )


def sp500_prices() -> np.ndarray:
    """Adjusted daily S&P 500 close, float64[5031]."""
    return sp500_ticks()["close"].to_numpy()


@functools.lru_cache(maxsize=1)
def btc_events() -> dict[str, pl.DataFrame]:
    """The ``ob-analytics`` Bitstamp sample through the package's own reconstruction.

    Returns:
        ``trades``: ``time`` (datetime, µs), ``price`` (USD), ``volume`` (BTC), ``sign``
        (+1 buyer-initiated, -1 seller-initiated: the taker's side).
        ``book``: after every order event, ``time``, ``best_bid, best_ask`` (USD; null for
        an empty side), ``bid_depth, ask_depth`` (BTC within 100 bp of the best quote), from
        ``ob_analytics.depth.price_level_volume`` and ``depth_metrics``.
    """
    ob = require("ob_analytics")
    from ob_analytics.analytics import set_order_types
    from ob_analytics.bitstamp import BitstampLoader, BitstampTradeReader
    from ob_analytics.depth import depth_metrics, price_level_volume

    folder = ob.sample_data_dir()
    events = BitstampLoader().load(folder / "orders.csv.gz")
    raw_trades = BitstampTradeReader().load(events, folder)
    events = set_order_types(events, raw_trades)
    summary = depth_metrics(price_level_volume(events), bps=BTC_DEPTH_BPS, bins=BTC_DEPTH_BINS)
    trades = pl.from_pandas(raw_trades[["timestamp", "price", "volume", "direction"]]).select(
        pl.col("timestamp").alias("time"),
        "price",
        "volume",
        pl.when(pl.col("direction").cast(pl.String) == "buy").then(1).otherwise(-1).alias("sign"),
    )
    bands = [f"{i * BTC_DEPTH_BPS}bps" for i in range(1, BTC_DEPTH_BINS + 1)]
    book = pl.from_pandas(summary).select(
        pl.col("timestamp").alias("time"),
        *[
            pl.when(pl.col(f"best_{s}_price") > 0)
            .then(pl.col(f"best_{s}_price"))
            .alias(f"best_{s}")
            for s in ("bid", "ask")
        ],
        *[
            pl.sum_horizontal(f"{s}_vol{b}" for b in bands).alias(f"{s}_depth")
            for s in ("bid", "ask")
        ],
    )
    return {"trades": trades.sort("time"), "book": book.sort("time", maintain_order=True)}


def btc_trades() -> pl.DataFrame:
    """The 284 BTC/USD trades: ``time, price, volume, sign`` (see :func:`btc_events`)."""
    return btc_events()["trades"]


def btc_ticks(bar_seconds: float = 1.0, price: str = "mid") -> pl.DataFrame:
    """BTC/USD on a regular clock, ticks-like: one row per bar of ``bar_seconds``.

    Args:
        bar_seconds: bar length in seconds (the 30-minute sample gives 1,800 one-second bars).
        price: ``mid`` (close = mid quote at the bar's end: a return every bar) or ``trade``
            (close = last trade price, carried forward; few trades, many zero returns).

    Returns:
        ``scenario, symbol`` (0), ``tick`` (bar), ``close``, ``best_bid, best_ask`` (the last
        uncrossed quote of the bar, USD), ``bid_depth, ask_depth`` (BTC within 100 bp),
        ``volume`` (BTC traded in the bar), ``flow`` (signed traded BTC: buyer- minus
        seller-initiated), rows from the first bar with a trade price and a two-sided book.
    """
    if price not in ("mid", "trade"):
        raise ValueError(f"price must be 'mid' or 'trade', not {price!r}")
    ev = btc_events()
    start = ev["book"]["time"].min()
    width = int(bar_seconds * 1e6)
    bar = ((pl.col("time") - start).dt.total_microseconds() // width).alias("tick")
    book = (
        ev["book"]
        .filter(pl.col("best_ask") > pl.col("best_bid"))
        .group_by(bar)
        .agg(pl.col("best_bid", "best_ask", "bid_depth", "ask_depth").last())
    )
    trades = (
        ev["trades"]
        .group_by(bar)
        .agg(
            pl.col("volume").sum(),
            (pl.col("volume") * pl.col("sign")).sum().alias("flow"),
            pl.col("price").last().alias("last_trade"),
        )
    )
    n_bars = int(book["tick"].max()) + 1
    frame = (
        pl.DataFrame({"tick": np.arange(n_bars, dtype=np.int64)})
        .join(book, on="tick", how="left")
        .join(trades, on="tick", how="left")
        .with_columns(
            pl.col("best_bid", "best_ask", "bid_depth", "ask_depth", "last_trade").forward_fill(),
            pl.col("volume", "flow").fill_null(0.0),
        )
    )
    close = (
        (pl.col("best_bid") + pl.col("best_ask")) / 2 if price == "mid" else pl.col("last_trade")
    )
    return (
        frame.with_columns(close.alias("close"))
        .drop_nulls(["close", "best_bid", "best_ask", "last_trade"])
        .select(
            pl.lit(0, pl.Int64).alias("scenario"),
            pl.lit(0, pl.Int32).alias("symbol"),
            "tick",
            "close",
            "volume",
            "flow",
            "best_bid",
            "best_ask",
            "bid_depth",
            "ask_depth",
        )
    )
