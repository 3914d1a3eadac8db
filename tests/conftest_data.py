"""Price data for the indicator and risk tests: S&P 500 daily bars and random walks.

Everything is float32, the precision the library computes in; references are computed in
float64 *from these same float32 values* (``f64``), so comparisons measure the library's
arithmetic, not the rounding of the inputs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class Bars(NamedTuple):
    """OHLCV bars, float32[..., T] each."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def f64(a) -> np.ndarray:
    """A float64 copy of ``a`` (for the reference libraries)."""
    return np.asarray(a, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def sp500() -> Bars:
    """S&P 500 daily bars 1999-2018 (5,031 days) shipped with ``arch``, dividend-adjusted."""
    from arch.data import sp500 as data

    frame = data.load()
    adjust = (frame["Adj Close"] / frame["Close"]).to_numpy()
    cols = [frame[c].to_numpy() * adjust for c in ("Open", "High", "Low", "Adj Close")]
    volume = frame["Volume"].to_numpy() / 1e6
    return Bars(*(np.asarray(c, np.float32) for c in (*cols, volume)))


@functools.lru_cache(maxsize=1)
def sp500_returns() -> np.ndarray:
    """Daily simple returns of the adjusted S&P 500 close, float32[5030]."""
    close = f64(sp500().close)
    return (close[1:] / close[:-1] - 1.0).astype(np.float32)


def random_walk(shape: tuple[int, ...], n: int, seed: int = 0, vol: float = 0.01) -> Bars:
    """Geometric random-walk bars: ``shape`` independent series of ``n`` bars, start 100.

    High/low straddle the open and close by a random fraction of ``vol``; volume is a
    positive integer count.
    """
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0, vol, (*shape, n))
    close = 100.0 * np.exp(np.cumsum(log_ret, axis=-1))
    open_ = np.concatenate([np.full((*shape, 1), 100.0), close[..., :-1]], axis=-1)
    top = np.maximum(open_, close) * (1.0 + vol * rng.uniform(0.0, 1.0, close.shape))
    bottom = np.minimum(open_, close) * (1.0 - vol * rng.uniform(0.0, 1.0, close.shape))
    volume = rng.integers(1, 1000, close.shape).astype(np.float64)
    return Bars(*(np.asarray(c, np.float32) for c in (open_, top, bottom, close, volume)))


@functools.lru_cache(maxsize=1)
def market_bars() -> Bars:
    """S&P 500 bars stacked with two random walks of the same length: float32[3, 5031].

    One batch covers real and synthetic prices, and batching itself, in one compilation.
    """
    real = sp500()
    synthetic = random_walk((2,), real.close.shape[-1], seed=11)
    return Bars(*(np.stack([r, *s]) for r, s in zip(real, synthetic, strict=True)))


def random_returns(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Fat-tailed daily-like simple returns (Student t, 4 dof), float32[*shape, n]."""
    rng = np.random.default_rng(seed)
    return (0.0003 + 0.01 * rng.standard_t(4, (*shape, n))).astype(np.float32)
