"""Real data that installed packages ship, by name (read from the package, never copied).

- ``sp500``, ``nasdaq``: ``arch`` (NCSA licence), daily OHLCV 1999-2018, 5,031 days,
  dividend-adjusted.
- ``vix``, ``wti``: ``arch``, daily close-only series (VIX 2014-2018, WTI crude 1986-).
- ``googl``, ``eurusd``: ``gym-anytrading`` (MIT), GOOGL daily 2009-2018 (adjusted), EUR/USD
  hourly ask prices 2017.
- ``btc``: ``ob-analytics`` (GPL-2.0-or-later; test extra only), 30 minutes of Bitstamp
  BTC/USD as one-second mid-quote bars.

:func:`bitstamp_events` gives the same ``ob-analytics`` sample as level-3 order events for
book replay. A missing package raises ``MissingDataPackage`` naming the pip install.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import polars as pl

from qtgjax.analysis.real_data import btc_ticks, require
from qtgjax.data.checks import check_bars
from qtgjax.data.readers import bars_from_frame
from qtgjax.data.types import ADD, DELETE, EXECUTE, Bars, OrderEvents

ARCH = {"sp500": "S&P 500", "nasdaq": "NASDAQ Composite", "vix": "VIX", "wti": "WTI crude"}
ANYTRADING = {
    "googl": ("STOCKS_GOOGL.csv", "%Y-%m-%d"),
    "eurusd": ("FOREX_EURUSD_1H_ASK.csv", "%d.%m.%Y %H:%M:%S%.f"),
}
SHIPPED = (*ARCH, *ANYTRADING, "btc")


def _arch_bars(name: str) -> Bars:
    frame = require(f"arch.data.{name}").load()
    time = frame.index.to_numpy().astype("datetime64[ns]")
    if "Adj Close" in frame:
        adjust = (frame["Adj Close"] / frame["Close"]).to_numpy()
        cols = {c.lower(): frame[c].to_numpy(np.float64) * adjust for c in ("Open", "High", "Low")}
        cols["close"] = frame["Adj Close"].to_numpy(np.float64)
        cols["volume"] = frame["Volume"].to_numpy(np.float64)
    else:
        series = frame.iloc[:, 0]
        keep = series.notna().to_numpy()
        close = series.to_numpy(np.float64)[keep]
        time = time[keep]
        cols = {"open": close, "high": close, "low": close, "close": close,
                "volume": np.zeros(len(close))}
    return check_bars(Bars(symbol=name, time=time, source=f"arch.data.{name}", **cols))


def _anytrading_bars(name: str) -> Bars:
    require("gym_anytrading")
    file, fmt = ANYTRADING[name]
    path = importlib.resources.files("gym_anytrading") / "datasets" / "data" / file
    frame = pl.read_csv(str(path))
    bars = bars_from_frame(frame, name, f"gym_anytrading:{file}", time_format=fmt, row_offset=2)
    if name == "googl":  # dividend/split-adjust like the arch series (Adj Close / Close)
        adjust = frame["Adj Close"].to_numpy() / frame["Close"].to_numpy()
        bars = Bars(name, bars.time, bars.open * adjust, bars.high * adjust, bars.low * adjust,
                    bars.close * adjust, bars.volume, bars.source)
    return bars


def _btc_bars() -> Bars:
    ticks = btc_ticks(1.0)
    start = np.datetime64("2026-05-02T02:36:00", "ns")
    close = ticks["close"].to_numpy()
    time = start + ticks["tick"].to_numpy().astype("timedelta64[s]").astype("timedelta64[ns]")
    return check_bars(Bars("btc", time, close, close, close, close,
                           ticks["volume"].to_numpy(), "ob_analytics:bitstamp"))


@functools.lru_cache(maxsize=16)
def shipped_bars(name: str) -> Bars:
    """The bars of a shipped data set (see the module table)."""
    if name in ARCH:
        return _arch_bars(name)
    if name in ANYTRADING:
        return _anytrading_bars(name)
    if name == "btc":
        return _btc_bars()
    raise KeyError(f"unknown shipped data {name!r}; known: {list(SHIPPED)}")


@functools.lru_cache(maxsize=1)
def bitstamp_events() -> OrderEvents:
    """The ``ob-analytics`` Bitstamp BTC/USD sample (30 min, 314,057 events) as order events.

    ``created`` -> ADD at its limit price (marketable orders included: they are the
    aggressors, so replay lets them trade); ``changed`` -> EXECUTE of the fill (the fill
    happens in replay's own auction); ``deleted`` -> DELETE. The package's synthetic
    start snapshot is the first second's ADDs; its synthetic end deletes are kept.
    """
    ob = require("ob_analytics")
    from ob_analytics.bitstamp import BitstampLoader

    ev = BitstampLoader().load(ob.sample_data_dir() / "orders.csv.gz")
    ev = ev.sort_values(["timestamp", "event_id"], kind="stable")
    action = ev["action"].astype(str).to_numpy()
    kind = np.select([action == "created", action == "changed"], [ADD, EXECUTE], DELETE)
    fill = ev["fill"].to_numpy(np.float64)
    volume = ev["volume"].to_numpy(np.float64)
    qty = np.where(kind == EXECUTE, fill, volume)
    return OrderEvents(
        symbol="btc",
        time=ev["timestamp"].to_numpy().astype("datetime64[ns]").astype(np.int64),
        order_id=ev["id"].to_numpy(np.int64),
        kind=kind.astype(np.int8),
        is_buy=(ev["direction"].astype(str) == "bid").to_numpy(),
        price=ev["price"].to_numpy(np.float64),
        qty=qty,
        source="ob_analytics:bitstamp orders.csv.gz",
        aggressors=True,
    )
