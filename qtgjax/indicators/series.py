"""Whole-array indicators over the last axis, with TA-Lib's parameters and warm-up.

Every function takes arrays of shape ``[..., T]`` (any batch shape; also ``vmap``-able) and
returns float32 (float64 under ``jax_enable_x64`` with float64 input) arrays of the same
shape, NaN exactly where TA-Lib gives NaN (the first ``lookback`` entries). Periods are
static Python ints, validated with TA-Lib's ranges; the functions are jitted with them
as static arguments. Recursions (EMA, Wilder) run as one ``lax.scan`` over time with the
batch vectorised inside, in double-float (two float32 words) so that long periods and
differences of EMAs keep float32 accuracy; windows use ``reduce_window``. Inputs are
assumed finite: a NaN poisons every later output of a recursive indicator and every
window that holds it.

Units: outputs are in the units of the input prices, except ``rsi`` (0..100),
``realized_vol`` (log-return units per period, times ``sqrt(annualization)``) and ``ofi``
(the units of the quote sizes).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from qtgjax.indicators.numerics import (
    as_float,
    check_period,
    rolling_sq_dev,
    rolling_sum,
    seed_mean,
    smooth_step,
    warmup,
)


def rsi_from_averages(gain: jnp.ndarray, loss: jnp.ndarray) -> jnp.ndarray:
    """``100 * gain / (gain + loss)``, 0 when there was no move at all (TA-Lib >= 0.6)."""
    total = gain + loss
    flat = total == 0
    return jnp.where(flat, 0.0, 100.0 * (gain / jnp.where(flat, 1.0, total)))


def _smoothed(
    v: jnp.ndarray, timeperiod: int, start: int, k: float
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Exponential smoothing ``y_t = y_{t-1} + k (v_t - y_{t-1})`` seeded with an SMA.

    The seed at index ``start`` is the mean of ``v[start - p + 1 .. start]`` (TA-Lib's
    default compatibility); the recursion runs as one ``lax.scan`` over t > start in
    double-float (see :func:`~qtgjax.indicators.numerics.smooth_step`).

    Args:
        v: float[..., T].
        timeperiod: p, the length of the seed window.
        start: index of the first output (>= p - 1).
        k: smoothing weight, ``2 / (p + 1)`` for an EMA, ``1 / p`` for Wilder's.

    Returns:
        ``(hi, lo)``, float[..., T] each, ``y = hi + lo``; ``hi`` is NaN before ``start``.
    """
    t = v.shape[-1]
    if start >= t:
        return jnp.full(v.shape, jnp.nan, v.dtype), jnp.zeros_like(v)
    seed = seed_mean(v[..., start - timeperiod + 1 : start + 1])

    def body(carry, vt):
        carry = smooth_step(*carry, vt, k)
        return carry, carry

    _, tail = lax.scan(body, seed, jnp.moveaxis(v[..., start + 1 :], -1, 0))
    head = jnp.full((*v.shape[:-1], start), jnp.nan, v.dtype)
    return tuple(
        jnp.concatenate([fill, first[..., None], jnp.moveaxis(rest, 0, -1)], axis=-1)
        for fill, first, rest in zip((head, jnp.zeros_like(head)), seed, tail, strict=True)
    )


def _ema_from(x: jnp.ndarray, timeperiod: int, start: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """TA-Lib's EMA of ``x`` seeded at ``start``, as double-float ``(hi, lo)``."""
    return _smoothed(x, timeperiod, start, 2.0 / (timeperiod + 1))


def _wilder_from(v: jnp.ndarray, timeperiod: int, start: int) -> jnp.ndarray:
    """Wilder's smoothing (TA-Lib's ``(prev * (p - 1) + v) / p``), seeded at ``start``."""
    hi, lo = _smoothed(v, timeperiod, start, 1.0 / timeperiod)
    return hi + lo


def _lagged(x: jnp.ndarray) -> jnp.ndarray:
    """``x`` shifted one step later along the last axis (entry 0 repeats ``x[..., 0]``)."""
    return jnp.concatenate([x[..., :1], x[..., :-1]], axis=-1)


@partial(jax.jit, static_argnames=("timeperiod",))
def sma(x, timeperiod: int = 30) -> jnp.ndarray:
    """Simple moving average (TA-Lib ``SMA``).

    Args:
        x: float[..., T] prices.
        timeperiod: window length p >= 1.

    Returns:
        float[..., T], mean of ``x[t - p + 1 .. t]``; NaN for t < p - 1.
    """
    p = check_period("timeperiod", timeperiod, 1)
    return rolling_sum(as_float(x), p) / p


@partial(jax.jit, static_argnames=("timeperiod",))
def ema(x, timeperiod: int = 30) -> jnp.ndarray:
    """Exponential moving average (TA-Lib ``EMA``, default compatibility).

    Seeded at t = p - 1 with the SMA of the first p values, then
    ``ema_t = (x_t - ema_{t-1}) * k + ema_{t-1}`` with ``k = 2 / (p + 1)``.

    Args:
        x: float[..., T] prices.
        timeperiod: p >= 1.

    Returns:
        float[..., T]; NaN for t < p - 1.
    """
    p = check_period("timeperiod", timeperiod, 1)
    hi, lo = _ema_from(as_float(x), p, p - 1)
    return hi + lo


@partial(jax.jit, static_argnames=("timeperiod",))
def rsi(x, timeperiod: int = 14) -> jnp.ndarray:
    """Relative strength index with Wilder smoothing (TA-Lib ``RSI``).

    Average gain and loss are seeded at t = p with the means of the first p changes and
    smoothed by ``(prev * (p - 1) + change) / p``; ``RSI = 100 * gain / (gain + loss)``,
    0 when both are 0 (TA-Lib >= 0.6; TA-Lib 0.4 used a fixed 1e-8 band).

    Args:
        x: float[..., T] prices.
        timeperiod: p >= 2.

    Returns:
        float[..., T] in [0, 100]; NaN for t < p.
    """
    p = check_period("timeperiod", timeperiod, 2)
    x = as_float(x)
    change = x - _lagged(x)
    moves = jnp.stack([jnp.maximum(change, 0.0), jnp.maximum(-change, 0.0)])
    gain, loss = _wilder_from(moves, p, p)
    return rsi_from_averages(gain, loss)


@partial(jax.jit, static_argnames=("fastperiod", "slowperiod", "signalperiod"))
def macd(
    x, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Moving average convergence/divergence (TA-Lib ``MACD``).

    As in TA-Lib, the periods are swapped if ``slowperiod < fastperiod``, and the fast EMA
    is seeded on the same tick as the slow one (t = slow - 1, with the SMA of the last
    ``fastperiod`` values) rather than at t = fast - 1. The signal is the EMA of the MACD
    line seeded with the SMA of its first ``signalperiod`` values.

    Args:
        x: float[..., T] prices.
        fastperiod: >= 2.
        slowperiod: >= 2.
        signalperiod: >= 1.

    Returns:
        ``(macd, signal, hist)``, each float[..., T] and NaN for
        t < slowperiod + signalperiod - 2 (TA-Lib's lookback, for all three outputs).
    """
    fast = check_period("fastperiod", fastperiod, 2)
    slow = check_period("slowperiod", slowperiod, 2)
    signal = check_period("signalperiod", signalperiod, 1)
    fast, slow = min(fast, slow), max(fast, slow)
    x = as_float(x)
    fast_hi, fast_lo = _ema_from(x, fast, slow - 1)
    slow_hi, slow_lo = _ema_from(x, slow, slow - 1)
    line = (fast_hi - slow_hi) + (fast_lo - slow_lo)
    lookback = slow + signal - 2
    sig_hi, sig_lo = _ema_from(line, signal, lookback)
    line = warmup(line, lookback)
    return line, sig_hi + sig_lo, (line - sig_hi) - sig_lo


@partial(jax.jit, static_argnames=("timeperiod", "matype"))
def bollinger(
    x, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Bollinger bands (TA-Lib ``BBANDS``).

    The middle band is the SMA (``matype=0``) or the EMA (``matype=1``) over ``timeperiod``;
    the bands are ``middle + nbdevup * std`` and ``middle - nbdevdn * std`` with ``std`` the
    population standard deviation of the window around its simple mean, computed in two
    passes (TA-Lib >= 0.6 has no zero band on the variance either).

    Args:
        x: float[..., T] prices.
        timeperiod: p >= 2.
        nbdevup: upper band width in standard deviations (may be traced).
        nbdevdn: lower band width in standard deviations (may be traced).
        matype: 0 (SMA) or 1 (EMA), TA-Lib's ``MA_Type`` codes.

    Returns:
        ``(upper, middle, lower)``, each float[..., T] and NaN for t < p - 1.
    """
    p = check_period("timeperiod", timeperiod, 2)
    if matype not in (0, 1):
        raise ValueError(f"matype must be 0 (SMA) or 1 (EMA), got {matype!r}")
    x = as_float(x)
    mean = rolling_sum(x, p) / p
    var = rolling_sq_dev(x, mean, p) / p
    std = jnp.sqrt(jnp.maximum(var, 0.0))
    if matype == 0:
        middle = mean
    else:
        ema_hi, ema_lo = _ema_from(x, p, p - 1)
        middle = ema_hi + ema_lo
    return middle + nbdevup * std, middle, middle - nbdevdn * std


@jax.jit
def trange(high, low, close) -> jnp.ndarray:
    """True range (TA-Lib ``TRANGE``): max(high - low, |high - prev close|, |low - prev close|).

    Args:
        high, low, close: float[..., T] bar prices.

    Returns:
        float[..., T]; NaN at t = 0.
    """
    high, low, close = as_float(high), as_float(low), as_float(close)
    prev = _lagged(close)
    tr = jnp.maximum(high - low, jnp.maximum(jnp.abs(prev - high), jnp.abs(prev - low)))
    return warmup(tr, 1)


@partial(jax.jit, static_argnames=("timeperiod",))
def atr(high, low, close, timeperiod: int = 14) -> jnp.ndarray:
    """Average true range with Wilder smoothing (TA-Lib ``ATR``).

    Seeded at t = p with the mean of the true ranges of bars 1..p, then
    ``(prev * (p - 1) + tr_t) / p``.

    Args:
        high, low, close: float[..., T] bar prices.
        timeperiod: p >= 1 (p = 1 is the true range itself).

    Returns:
        float[..., T]; NaN for t < p.
    """
    p = check_period("timeperiod", timeperiod, 1)
    tr = jnp.nan_to_num(trange(high, low, close), nan=0.0)
    return _wilder_from(tr, p, p)


@partial(jax.jit, static_argnames=("timeperiod",))
def vwap(price, volume, timeperiod: int | None = None) -> jnp.ndarray:
    """Volume-weighted average price, anchored at the first tick or over a rolling window.

    Args:
        price: float[..., T] trade (or typical) prices.
        volume: float[..., T] volumes, >= 0.
        timeperiod: None for the anchored VWAP ``cumsum(p v) / cumsum(v)``; an int p >= 1
            for the VWAP of the last p ticks (NaN for t < p - 1).

    Returns:
        float[..., T], in price units; NaN where the volume summed so far is 0.
    """
    price, volume = as_float(price), as_float(volume)
    notional = price * volume
    if timeperiod is None:
        num, den = jnp.cumsum(notional, axis=-1), jnp.cumsum(volume, axis=-1)
    else:
        p = check_period("timeperiod", timeperiod, 1)
        num, den = rolling_sum(notional, p), rolling_sum(volume, p)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), jnp.nan)


@partial(jax.jit, static_argnames=("timeperiod",))
def realized_vol(x, timeperiod: int = 20, annualization=1.0) -> jnp.ndarray:
    """Rolling realised volatility: ``sqrt(annualization * mean(r^2))`` over the last p returns.

    ``r_t = log(x_t / x_{t-1})``, computed as ``log1p((x_t - x_{t-1}) / x_{t-1})`` to keep
    float32 precision on small moves. Returns are not demeaned (realised-variance
    convention).

    Args:
        x: float[..., T] positive prices.
        timeperiod: p >= 1 returns per window.
        annualization: periods per year, or 1 for per-period volatility (may be traced).

    Returns:
        float[..., T], volatility of log returns; NaN for t < p.
    """
    p = check_period("timeperiod", timeperiod, 1)
    x = as_float(x)
    prev = _lagged(x)
    r = jnp.log1p((x - prev) / prev)
    sq = rolling_sum(jnp.square(r), p)
    return warmup(jnp.sqrt(annualization * sq / p), p)


def ofi_event(quote, prev_quote) -> jnp.ndarray:
    """Order-flow imbalance of one best-quote update (Cont, Kukanov & Stoikov 2014, eq. 10).

    ``e = 1[Pb >= Pb'] qb - 1[Pb <= Pb'] qb' - 1[Pa <= Pa'] qa + 1[Pa >= Pa'] qa'`` where
    primes mark the previous quote: size at or above the old best bid counts as buying
    pressure, size at or below the old best ask as selling pressure.

    Args:
        quote: ``(bid_price, bid_size, ask_price, ask_size)``, arrays of one shape.
        prev_quote: the previous quote, same layout.

    Returns:
        The imbalance, in size units (positive = net buying pressure).
    """
    bid_price, bid_size, ask_price, ask_size = quote
    prev_bid_price, prev_bid_size, prev_ask_price, prev_ask_size = prev_quote
    return (
        jnp.where(bid_price >= prev_bid_price, bid_size, 0.0)
        - jnp.where(bid_price <= prev_bid_price, prev_bid_size, 0.0)
        - jnp.where(ask_price <= prev_ask_price, ask_size, 0.0)
        + jnp.where(ask_price >= prev_ask_price, prev_ask_size, 0.0)
    )


@partial(jax.jit, static_argnames=("timeperiod",))
def ofi(bid_price, bid_size, ask_price, ask_size, timeperiod: int = 1) -> jnp.ndarray:
    """Rolling order-flow imbalance: the sum of the last p per-update imbalances.

    Args:
        bid_price, bid_size, ask_price, ask_size: float[..., T] best quotes per tick (sizes
            in lots or shares).
        timeperiod: p >= 1 updates per window (1 = the imbalance of each update).

    Returns:
        float[..., T], signed size (positive = net buying pressure); NaN for t < p.
    """
    p = check_period("timeperiod", timeperiod, 1)
    quotes = [as_float(a) for a in (bid_price, bid_size, ask_price, ask_size)]
    e = ofi_event(quotes, [_lagged(q) for q in quotes])
    return warmup(rolling_sum(e, p), p)
