"""Prices at the edge of exact money.

Prices are integer ticks below ``MAX_PRICE_TICKS`` (``qtgjax.market.money``), and the price
grid's centre is kept inside that range, so no order can trade below ``LOW`` = 1 tick or
above ``HIGH`` = ``MAX_PRICE_TICKS - 1`` ticks. A market whose fundamental runs beyond them
does not fail: its price sticks at the limit. Every such tick is flagged in the
``at_price_limit`` column of ``ticks.parquet`` and summed into a warning, so that a run at
the limit is never taken for a market that merely stopped moving (README "Choosing a tick
size").
"""

from __future__ import annotations

import warnings

import numpy as np

from qtgjax.market.money import MAX_PRICE_TICKS

LOW = 1
HIGH = MAX_PRICE_TICKS - 1


class PriceLimitWarning(UserWarning):
    """Prices sat at the exact-money limits in some ticks of a run."""


def at_price_limit(close) -> np.ndarray:
    """bool[...] of ``close`` (integer ticks): the close is at the lowest or highest price
    the exact-money grid can hold."""
    close = np.asarray(close)
    return (close <= LOW) | (close >= HIGH)


def limit_counts(close) -> tuple[np.ndarray, np.ndarray]:
    """Ticks at the low and at the high limit per symbol, summed over scenarios and ticks
    (``close``: int32[B, T, S] ticks); int64[S] each."""
    close = np.asarray(close)
    low = (close <= LOW).reshape(-1, close.shape[-1]).sum(0)
    high = (close >= HIGH).reshape(-1, close.shape[-1]).sum(0)
    return low.astype(np.int64), high.astype(np.int64)


def limit_message(low, high, total: int) -> str | None:
    """One line about the symbols whose price sat at a limit (None when none did);
    ``low``/``high`` as :func:`limit_counts` gives them, ``total`` scenario-ticks per symbol."""
    parts = []
    for s, (n_low, n_high) in enumerate(zip(np.asarray(low), np.asarray(high), strict=True)):
        if n_high:
            parts.append(f"symbol {s} at the top ({HIGH} ticks) in {n_high:,} of {total:,}")
        if n_low:
            parts.append(f"symbol {s} at the bottom ({LOW} tick) in {n_low:,} of {total:,}")
    if not parts:
        return None
    return (
        "qtgjax: prices stuck at the exact-money limits: "
        + "; ".join(parts)
        + " scenario-ticks (column at_price_limit of ticks.parquet). Prices are integer ticks "
        f"in {LOW}..{HIGH}: choose market.tick_size and market.initial_price so that prices "
        "stay well inside (README 'Choosing a tick size')"
    )


def warn_price_limits(close) -> str | None:
    """Warn (``PriceLimitWarning``) when any close of ``close`` (int32[B, T, S]) sat at a
    limit; returns the message, or None."""
    close = np.asarray(close)
    total = int(np.prod(close.shape[:-1]))
    message = limit_message(*limit_counts(close), total)
    if message:
        warnings.warn(message, PriceLimitWarning, stacklevel=2)
    return message
