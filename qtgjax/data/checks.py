"""Checks of bar data, each failing with a :class:`DataError` that names file, row, column."""

from __future__ import annotations

import numpy as np

from qtgjax.data.types import BAR_COLUMNS, Bars, DataError


def first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def check_bars(bars: Bars, max_gap: np.timedelta64 | None = None, row_offset: int = 0) -> Bars:
    """Validate ``bars``; return them unchanged.

    Checks: no missing (NaN) values; prices > 0; volume >= 0; low <= open, close <= high;
    times strictly increasing (a duplicate and an out-of-order time are told apart);
    consecutive times at most ``max_gap`` apart where given. ``row_offset`` is added to
    row numbers in messages (e.g. 2 for a CSV: header line and 1-based lines).
    """
    where = bars.source or bars.symbol
    if len(bars) < 2:
        raise DataError(f"{where}: {len(bars)} rows; a backtest needs at least 2 bars")
    for name in BAR_COLUMNS:
        values = getattr(bars, name)
        row = first(~np.isfinite(values))
        if row is not None:
            raise DataError(f"{where}: row {row + row_offset}, column {name}: missing value")
        low = 0.0 if name == "volume" else np.finfo(float).tiny
        row = first(values < low)
        if row is not None:
            what = "negative" if name == "volume" else "non-positive price"
            raise DataError(
                f"{where}: row {row + row_offset}, column {name}: {what} {values[row]:g}"
            )
    for name in ("open", "close"):
        values = getattr(bars, name)
        row = first((values > bars.high) | (values < bars.low))
        if row is not None:
            raise DataError(
                f"{where}: row {row + row_offset}, column {name}: {values[row]:g} outside "
                f"[low, high] = [{bars.low[row]:g}, {bars.high[row]:g}]"
            )
    step = np.diff(bars.time)
    row = first(step <= np.timedelta64(0, "ns"))
    if row is not None:
        kind = "duplicate" if step[row] == np.timedelta64(0, "ns") else "unsorted"
        raise DataError(
            f"{where}: row {row + 1 + row_offset}, column time: {kind} timestamp "
            f"{bars.time[row + 1]} after {bars.time[row]}"
        )
    if max_gap is not None:
        row = first(step > max_gap)
        if row is not None:
            raise DataError(
                f"{where}: row {row + 1 + row_offset}, column time: gap of {step[row]} after "
                f"{bars.time[row]} (more than {max_gap}); fill the data or raise max_gap"
            )
    return bars
