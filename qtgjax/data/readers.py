"""Readers of historical data files into :class:`Bars` and :class:`OrderEvents`.

- :func:`read_ohlcv`: any CSV or Parquet with a time column and OHLCV columns (names found
  case-insensitively among documented aliases, or given with ``columns``), optionally
  several symbols in one file (``symbol_column``).
- :func:`read_binance_klines`: Binance's kline CSV (12 columns, with or without header).
- :func:`read_lobster`: a LOBSTER message file and its orderbook file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from qtgjax.data.checks import check_bars
from qtgjax.data.types import (
    ADD,
    DELETE,
    EXECUTE,
    HIDDEN_EXECUTE,
    REDUCE,
    Bars,
    DataError,
    OrderEvents,
)

# Our column -> names accepted in a file (case-insensitive), in order of preference.
ALIASES = {
    "time": ("time", "date", "datetime", "timestamp", "open_time", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "price", "last"),
    "volume": ("volume", "vol", "v"),
}
REQUIRED = ("time", "close")
BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


def parse_gap(value) -> np.timedelta64 | None:
    """``"3d"``, ``"90min"``, ``"1h"``, ``"30s"`` (or None) as a numpy timedelta."""
    if value is None:
        return None
    text = str(value).strip()
    units = {"d": "D", "h": "h", "min": "m", "m": "m", "s": "s", "ms": "ms"}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return np.timedelta64(int(float(text[: -len(suffix)])), units[suffix]).astype(
                "timedelta64[ns]"
            )
    raise DataError(f"max_gap: {value!r} is not a duration like 3d, 1h, 90min, 30s")


def read_frame(path: str | Path) -> pl.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet file as a Polars frame."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(".parquet") or name.endswith(".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema_length=10_000, try_parse_dates=False)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise DataError(f"{path}: cannot read ({err})") from err


def resolve_columns(frame: pl.DataFrame, columns: Mapping[str, str], where: str) -> dict:
    """Our column name -> the frame's column (None for an absent optional one)."""
    unknown = sorted(set(columns) - set(ALIASES))
    if unknown:
        raise DataError(f"columns.{unknown[0]}: unknown; map any of {list(ALIASES)}")
    lower = {c.lower(): c for c in frame.columns}
    found = {}
    for ours, aliases in ALIASES.items():
        if ours in columns:
            if columns[ours] not in frame.columns:
                raise DataError(
                    f"{where}: column {columns[ours]!r} (columns.{ours}) not in the file; "
                    f"it has {frame.columns}"
                )
            found[ours] = columns[ours]
            continue
        found[ours] = next((lower[a] for a in aliases if a in lower), None)
        if found[ours] is None and ours in REQUIRED:
            raise DataError(
                f"{where}: missing column {ours!r} (looked for {list(aliases)}; it has "
                f"{frame.columns}); map it with columns.{ours}=NAME"
            )
    return found


def parse_times(values: pl.Series, where: str, time_format: str | None, unit: str | None):
    """datetime64[ns] from strings, dates, datetimes or epoch numbers (``unit``: s, ms,
    us, ns; default: guessed from the magnitude)."""
    if values.dtype == pl.String:
        try:
            parsed = values.str.to_datetime(time_format, strict=True, time_unit="ns")
        except pl.exceptions.PolarsError as err:
            raise DataError(f"{where}: column time: cannot parse times ({err})") from err
    elif values.dtype.is_numeric():
        raw = values.cast(pl.Int64)
        if unit is None:
            top = abs(int(raw.max() or 0))
            unit = "s" if top < 10**11 else "ms" if top < 10**14 else "us" if top < 10**17 else "ns"
        scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
        parsed = (raw * scale).cast(pl.Datetime("ns"))
    else:
        parsed = values.cast(pl.Datetime("ns"))
    nulls = parsed.is_null().arg_true()
    if len(nulls):
        raise DataError(f"{where}: row {int(nulls[0])}, column time: missing or unparsable time")
    return parsed.to_numpy().astype("datetime64[ns]")


def bars_from_frame(
    frame: pl.DataFrame,
    symbol: str,
    where: str,
    columns: Mapping[str, str] | None = None,
    time_format: str | None = None,
    time_unit: str | None = None,
    max_gap=None,
    row_offset: int = 0,
) -> Bars:
    """:class:`Bars` from a frame (columns found by :data:`ALIASES` or ``columns``).
    Open, high and low default to the close where the file has none (a close-only
    series), volume to 0."""
    found = resolve_columns(frame, dict(columns or {}), where)
    values = {}
    for ours in ("open", "high", "low", "close", "volume"):
        name = found[ours] or (found["close"] if ours != "volume" else None)
        if name is None:
            values[ours] = np.zeros(len(frame))
            continue
        series = frame[name]
        if not series.dtype.is_numeric():
            try:
                series = series.cast(pl.Float64, strict=True)
            except pl.exceptions.PolarsError as err:
                bad = series.cast(pl.Float64, strict=False).is_null() & series.is_not_null()
                row = int(bad.arg_true()[0]) if bad.any() else 0
                raise DataError(
                    f"{where}: row {row + row_offset}, column {ours}: not a number "
                    f"({series[row]!r})"
                ) from err
        values[ours] = series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    time = parse_times(frame[found["time"]], where, time_format, time_unit)
    bars = Bars(symbol=symbol, time=time, source=where, **values)
    return check_bars(bars, parse_gap(max_gap), row_offset)


def read_ohlcv(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    symbol: str | None = None,
    symbol_column: str | None = None,
    time_format: str | None = None,
    time_unit: str | None = None,
    max_gap=None,
) -> list[Bars]:
    """Bars of every symbol in an OHLCV CSV or Parquet file.

    Args:
        path: the file.
        columns: our name -> the file's column, for names the aliases do not find
            (``{"close": "Adj Close", "time": "Date"}``).
        symbol: the symbol's name (default: the file's stem).
        symbol_column: a column holding symbol names: one :class:`Bars` per symbol, in
            order of first appearance (rows of a symbol must be in time order).
        time_format: strptime format of string times (default: ISO 8601 guessed).
        time_unit: unit of numeric epoch times (default: guessed from the magnitude).
        max_gap: largest allowed time between consecutive bars (``"3d"``); None = any.
    """
    frame = read_frame(path)
    offset = 0 if str(path).lower().endswith((".parquet", ".pq")) else 2  # header, 1-based
    options = dict(columns=columns, time_format=time_format, time_unit=time_unit,
                   max_gap=max_gap)
    if symbol_column is None:
        return [bars_from_frame(frame, symbol or Path(path).name.split(".")[0], str(path),
                                row_offset=offset, **options)]
    if symbol_column not in frame.columns:
        raise DataError(f"{path}: symbol_column {symbol_column!r} not in {frame.columns}")
    frame = frame.with_row_index("_row")
    out = []
    for name in frame[symbol_column].unique(maintain_order=True).to_list():
        part = frame.filter(pl.col(symbol_column) == name)
        bars = bars_from_frame(part.drop("_row"), str(name), f"{path} [{symbol_column}={name}]",
                               row_offset=0, **{**options, "max_gap": None})
        try:
            check_bars(bars, parse_gap(max_gap))
        except DataError as err:
            raise DataError(str(err)) from None
        out.append(bars)
    return out


def read_binance_klines(path: str | Path, symbol: str | None = None, allow_gaps: bool = False):
    """Bars from a Binance kline CSV (``open_time, open, high, low, close, volume,
    close_time, ...``; times in ms, or µs as in Binance's newer spot files).

    Klines come on a fixed interval (taken from the first two rows); a missing kline is a
    gap error unless ``allow_gaps``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    first_line = path.read_text().split("\n", 1)[0]
    has_header = not first_line.split(",")[0].strip().isdigit()
    try:
        frame = pl.read_csv(path, has_header=has_header, infer_schema_length=10_000)
    except pl.exceptions.PolarsError as err:
        raise DataError(f"{path}: cannot read ({err})") from err
    if frame.width < 6:
        raise DataError(f"{path}: {frame.width} columns; Binance klines have 12 "
                        f"({', '.join(BINANCE_COLUMNS)})")
    names = list(BINANCE_COLUMNS[: frame.width]) + [f"extra_{i}" for i in range(frame.width - 12)]
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    step = None
    if len(frame) > 1 and not allow_gaps:
        t = frame["open_time"].cast(pl.Int64)
        unit = 10**6 if int(t.max()) < 10**14 else 10**3  # ms or µs -> ns
        step = np.timedelta64(int(t[1] - t[0]) * unit, "ns")
    bars = bars_from_frame(frame, symbol or path.name.split(".")[0], str(path),
                           columns={"time": "open_time"}, row_offset=1 + has_header)
    if step is not None:
        row = np.flatnonzero(np.diff(bars.time) != step)
        if row.size:
            i = int(row[0]) + 1
            raise DataError(
                f"{path}: row {i + 1 + has_header}, column open_time: gap ({bars.time[i]} after "
                f"{bars.time[i - 1]}, interval {step}); pass allow_gaps=True to accept it"
            )
    return bars


LOBSTER_TYPES = {1: ADD, 2: REDUCE, 3: DELETE, 4: EXECUTE, 5: HIDDEN_EXECUTE}
LOBSTER_PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10,000


def read_lobster(message_path: str | Path, orderbook_path: str | Path | None = None,
                 symbol: str | None = None) -> OrderEvents:
    """Order events from a LOBSTER message file (``time`` in seconds after midnight,
    ``type`` 1 add, 2 partial cancel, 3 delete, 4 visible execution, 5 hidden execution,
    6 cross trade, 7 halt; ``order_id``, ``size``, ``price`` x 10,000, ``direction`` +1 buy
    / -1 sell) and its orderbook file (ask price, ask size, bid price, bid size per level,
    one row per message).

    With the orderbook file, its first row (the book after the first message) is the
    initial book and the first message is skipped (its effect is in that row); orders
    resting from before the file starts are matched to that book's levels
    (:func:`match_resting`), so their cancels and executions act on them. Types 6 (an
    opening/closing cross, no order in the book) and 7 (halts) are dropped.
    """
    message_path = Path(message_path)
    names = ["time", "type", "order_id", "size", "price", "direction"]
    try:
        msg = pl.read_csv(message_path, has_header=False, new_columns=names,
                          schema_overrides={"time": pl.Float64})
    except (pl.exceptions.PolarsError, OSError) as err:
        raise DataError(f"{message_path}: cannot read as LOBSTER messages ({err})") from err
    if msg.width < 6:
        raise DataError(f"{message_path}: {msg.width} columns; LOBSTER messages have 6 ({names})")
    msg = msg.select(names)
    where = str(message_path)
    for col in names:
        bad = msg[col].is_null().arg_true()
        if len(bad):
            raise DataError(f"{where}: row {int(bad[0]) + 1}, column {col}: missing value")
    kind_code = msg["type"].to_numpy()
    row = np.flatnonzero(~np.isin(kind_code, [1, 2, 3, 4, 5, 6, 7]))
    if row.size:
        raise DataError(f"{where}: row {int(row[0]) + 1}, column type: unknown event type "
                        f"{kind_code[row[0]]} (LOBSTER types are 1..7)")
    time = msg["time"].to_numpy()
    row = np.flatnonzero(np.diff(time) < 0)
    if row.size:
        raise DataError(f"{where}: row {int(row[0]) + 2}, column time: unsorted time "
                        f"{time[row[0] + 1]} after {time[row[0]]}")
    price = msg["price"].to_numpy().astype(np.float64) / LOBSTER_PRICE_SCALE
    size = msg["size"].to_numpy().astype(np.float64)
    keep = kind_code <= 5
    row = np.flatnonzero(keep & ((price <= 0) | (size <= 0)))
    if row.size:
        col = "price" if price[row[0]] <= 0 else "size"
        raise DataError(f"{where}: row {int(row[0]) + 1}, column {col}: non-positive {col}")
    direction = msg["direction"].to_numpy()
    row = np.flatnonzero(keep & ~np.isin(direction, [1, -1]))
    if row.size:
        raise DataError(f"{where}: row {int(row[0]) + 1}, column direction: "
                        f"{direction[row[0]]} (must be 1 or -1)")
    initial = None
    if orderbook_path is not None:
        initial = _lobster_book(Path(orderbook_path), len(msg))
        keep[0] = False
    kinds = np.array([LOBSTER_TYPES.get(int(k), -1) for k in kind_code], np.int8)
    order_id = msg["order_id"].to_numpy().astype(np.int64)
    is_buy = direction == 1
    if initial is not None:
        initial = match_resting(initial, *(x[keep] for x in (order_id, kinds, is_buy, price, size)))
    return OrderEvents(
        symbol=symbol or message_path.name.split("_")[0],
        time=np.rint(time[keep] * 1e9).astype(np.int64),
        order_id=order_id[keep],
        kind=kinds[keep],
        is_buy=is_buy[keep],
        price=price[keep],
        qty=size[keep],
        initial=initial,
        source=where,
    )


def match_resting(initial: dict, order_id, kind, is_buy, price, qty) -> dict:
    """The initial book with the orders that rest from before the file starts carved out
    of its levels: an order whose events (reduce, delete, execute) come without its ADD
    takes, from the level of its side and price, the lots those events account for (the
    reductions and executions plus what a delete removes), at most what the level holds;
    the rest of each level stays one anonymous order (id -1, -2, ...). Orders at prices
    the snapshot does not show (beyond its levels) stay unmatched (their events are
    counted as skipped by replay)."""
    added = set(order_id[kind == ADD].tolist())
    left = initial["qty"].astype(np.float64).copy()
    level = {(bool(b), round(p * LOBSTER_PRICE_SCALE)): i
             for i, (b, p) in enumerate(zip(initial["is_buy"], initial["price"], strict=True))}
    ids, prices, qtys, sides = [], [], [], []
    resting = (kind != ADD) & (kind != HIDDEN_EXECUTE) & ~np.isin(order_id, list(added))
    rows = np.flatnonzero(resting)
    for oid in dict.fromkeys(order_id[rows].tolist()):  # first-appearance order
        mine = rows[order_id[rows] == oid]
        first = mine[0]
        i = level.get((bool(is_buy[first]), round(price[first] * LOBSTER_PRICE_SCALE)))
        if i is None or left[i] <= 0:
            continue
        take = min(float(qty[mine].sum()), left[i])
        left[i] -= take
        ids.append(oid)
        prices.append(initial["price"][i])
        qtys.append(take)
        sides.append(bool(is_buy[first]))
    anonymous = np.flatnonzero(left > 0)
    return {
        "order_id": np.array(ids + [-1 - k for k in range(len(anonymous))], np.int64),
        "price": np.concatenate([np.array(prices, np.float64), initial["price"][anonymous]]),
        "qty": np.concatenate([np.array(qtys, np.float64), left[anonymous]]),
        "is_buy": np.concatenate([np.array(sides, bool), initial["is_buy"][anonymous]]),
    }


def _lobster_book(path: Path, n_messages: int) -> dict:
    """The first orderbook row as resting orders (one per non-empty level)."""
    try:
        book = pl.read_csv(path, has_header=False)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise DataError(f"{path}: cannot read as a LOBSTER orderbook ({err})") from err
    if book.width % 4:
        raise DataError(f"{path}: {book.width} columns; a LOBSTER orderbook has 4 per level")
    if len(book) != n_messages:
        raise DataError(f"{path}: {len(book)} rows for {n_messages} messages; the files must "
                        "come from the same LOBSTER download")
    row = book.row(0)
    prices, qtys, sides = [], [], []
    for level in range(book.width // 4):
        ask_p, ask_q, bid_p, bid_q = row[4 * level : 4 * level + 4]
        for p, q, buy in ((ask_p, ask_q, False), (bid_p, bid_q, True)):
            if q and q > 0 and 0 < p < 9_999_999_999:
                prices.append(p / LOBSTER_PRICE_SCALE)
                qtys.append(float(q))
                sides.append(buy)
    return {"price": np.array(prices), "qty": np.array(qtys), "is_buy": np.array(sides, bool)}
