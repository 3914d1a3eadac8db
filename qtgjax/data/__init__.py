"""Historical data in: bars (OHLCV) and level-3 order events, one documented form each.

``load_bars(spec)`` takes a shipped name (``sp500``, ``nasdaq``, ``vix``, ``wti``,
``googl``, ``eurusd``, ``btc``) or a file path (CSV/Parquet OHLCV, or Binance klines with
``format="binance"``); :func:`read_lobster` and :func:`bitstamp_events` give order events.
"""

from __future__ import annotations

from pathlib import Path

from qtgjax.data.checks import check_bars
from qtgjax.data.readers import ALIASES, read_binance_klines, read_lobster, read_ohlcv
from qtgjax.data.shipped import SHIPPED, bitstamp_events, shipped_bars
from qtgjax.data.types import Bars, DataError, OrderEvents, auto_tick_size

FORMATS = ("auto", "ohlcv", "binance")


def load_bars(spec: str | Path, format: str = "auto", **options) -> list[Bars]:
    """Bars of every symbol named by ``spec``: a shipped name or a file (``format``
    ``ohlcv`` or ``binance``; ``auto`` takes a header-less numeric CSV for klines).
    ``options`` go to :func:`read_ohlcv` (columns, symbol_column, time_format, max_gap...)."""
    if format not in FORMATS:
        raise DataError(f"format: {format!r} is not one of {list(FORMATS)}")
    text = str(spec)
    if text in SHIPPED:
        return [shipped_bars(text)]
    path = Path(text)
    if not path.exists():
        raise DataError(f"data: {text!r} is neither a file nor a shipped data set {list(SHIPPED)}")
    if format == "auto" and path.suffix.lower() == ".csv":
        first = path.read_text(errors="replace").split("\n", 1)[0].split(",")
        format = "binance" if len(first) >= 11 and first[0].strip().isdigit() else "ohlcv"
    if format == "binance":
        return [read_binance_klines(path, options.get("symbol"),
                                    bool(options.get("allow_gaps", False)))]
    options.pop("allow_gaps", None)
    return read_ohlcv(path, **options)


__all__ = [
    "ALIASES",
    "SHIPPED",
    "Bars",
    "DataError",
    "OrderEvents",
    "auto_tick_size",
    "bitstamp_events",
    "check_bars",
    "load_bars",
    "read_binance_klines",
    "read_lobster",
    "read_ohlcv",
    "shipped_bars",
]
