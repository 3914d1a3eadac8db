"""The in-memory forms of historical data: bars and order events, one symbol each.

Both are host-side (NumPy) and validated when made; the engine converts them to integer
ticks and lots (:meth:`Bars.in_ticks`) right before a backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qtgjax.market.money import MAX_PRICE_TICKS

BAR_COLUMNS = ("open", "high", "low", "close", "volume")

# Order event kinds (OrderEvents.kind).
ADD, REDUCE, DELETE, EXECUTE, HIDDEN_EXECUTE = 0, 1, 2, 3, 4
EVENT_KINDS = {
    "add": ADD,
    "reduce": REDUCE,
    "delete": DELETE,
    "execute": EXECUTE,
    "hidden_execute": HIDDEN_EXECUTE,
}


class DataError(ValueError):
    """A data file or frame is unusable; the message names the file, row and column."""


@dataclass(frozen=True)
class Bars:
    """OHLCV bars of one symbol.

    Attributes:
        symbol: the symbol's name.
        time: datetime64[ns][T] bar times (the bar's open or its date), strictly increasing.
        open, high, low, close: float64[T] prices in currency, > 0, low <= open, close <= high.
        volume: float64[T] traded quantity in the data's unit (0 where the data has none).
        source: where the bars came from (a path or a shipped name), for messages.
    """

    symbol: str
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.close)

    def in_ticks(self, tick_size: float, lot_size: float = 1.0) -> dict[str, np.ndarray]:
        """int32 prices in ticks (``round(price / tick_size)``) and volume in whole lots
        (``floor(volume / lot_size)``, capped at 2**31 - 1). Raises DataError if a price
        rounds to 0 ticks or beyond ``MAX_PRICE_TICKS``."""
        out = {}
        for name in ("open", "high", "low", "close"):
            ticks = np.rint(getattr(self, name) / tick_size)
            bad = np.flatnonzero((ticks < 1) | (ticks > MAX_PRICE_TICKS))
            if bad.size:
                i = int(bad[0])
                raise DataError(
                    f"{self.source or self.symbol}: row {i}, column {name}: price "
                    f"{getattr(self, name)[i]:g} is {ticks[i]:.0f} ticks at tick_size="
                    f"{tick_size:g}; prices must be 1..{MAX_PRICE_TICKS} ticks (choose tick_size)"
                )
            out[name] = ticks.astype(np.int32)
        lots = np.floor(self.volume / lot_size)
        out["volume"] = np.clip(lots, 0, 2**31 - 1).astype(np.int32)
        return out


def auto_tick_size(prices: np.ndarray, most_ticks: int = 30_000) -> float:
    """The smallest tick of the form {1, 2, 5} x 10^k that puts every price at or below
    ``most_ticks`` ticks (room left for spreads and impact below ``MAX_PRICE_TICKS``)."""
    top = float(np.max(prices))
    exponent = math.floor(math.log10(top / most_ticks)) - 1
    for k in range(exponent, exponent + 4):
        for mantissa in (1, 2, 5):
            tick = float(f"{mantissa}e{k}")
            if top / tick <= most_ticks:
                return tick
    raise DataError(f"no tick size fits prices up to {top:g}")


@dataclass(frozen=True)
class OrderEvents:
    """Level-3 order events of one symbol (a limit order book's message stream).

    Attributes:
        symbol: the symbol's name.
        time: int64[M] nanoseconds since the epoch (or since midnight for LOBSTER),
            non-decreasing.
        order_id: int64[M] the order an event is about.
        kind: int8[M] ADD (a new limit order), REDUCE (``qty`` lots cancelled from it),
            DELETE (what is left of it is cancelled), EXECUTE (``qty`` of it traded against
            an incoming order), HIDDEN_EXECUTE (a trade against hidden liquidity).
        is_buy: bool[M] side of the order the event is about (for executions: of the resting
            order, so the aggressor had the other side).
        price: float64[M] limit price (executions: the trade price), currency.
        qty: float64[M] quantity (ADD: the order's size; REDUCE/EXECUTE: the change;
            DELETE: the recorded size left, informational), the data's unit.
        initial: optional book at the start, ``{"order_id", "price", "qty", "is_buy"}``
            arrays, one resting order per entry: the orders the events refer to without
            adding them (placed before the data start) under their own ids, the rest of
            each level as one order of a negative id; e.g. LOBSTER's first orderbook row.
        source: where the events came from, for messages.
        aggressors: True where the feed holds the incoming (marketable) orders' own ADD
            events, so trades happen when they cross the book (Bitstamp); False where only
            the resting side's executions are recorded and replay sends an incoming order
            for each EXECUTE (LOBSTER).
    """

    symbol: str
    time: np.ndarray
    order_id: np.ndarray
    kind: np.ndarray
    is_buy: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    initial: dict | None = field(default=None)
    source: str = ""
    aggressors: bool = False

    def __len__(self) -> int:
        return len(self.time)
