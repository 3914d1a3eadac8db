"""Streaming indicators: ``*_init`` builds a small state, ``*_update`` consumes one tick.

Each update is O(1) in the series length (ring buffers for windows, compensated running
sums, double-float smoothers) and has the ``lax.scan`` signature
``update(state, x) -> (state, output)`` (multi-input indicators take their inputs as a
tuple). Outputs are NaN during warm-up, on exactly the ticks where the whole-array
function in :mod:`qtgjax.indicators.series` (and TA-Lib) gives NaN; after warm-up the two
agree to float32 rounding::

    state = ema_init(30, shape=(n_series,))
    state, out = jax.lax.scan(ema_update, state, prices.T)   # prices: float32[n_series, T]

A state carries a batch of series of shape ``B`` that share the parameters. Parameters are
int32/float32 leaves, so ``jax.vmap(ema_init)(periods)`` gives per-series periods; window
capacities are static (pass ``capacity`` to stack states with different windows).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.indicators.numerics import (
    check_state_period,
    compensated_add,
    df_add,
    df_div,
    smooth_step,
    two_prod,
    two_sum,
    window_full,
    window_init,
    window_push,
    window_sum,
)
from qtgjax.indicators.series import ofi_event, rsi_from_averages
from qtgjax.indicators.types import (
    AtrState,
    BollingerState,
    EmaState,
    MacdState,
    Moments,
    OfiState,
    RealizedVolState,
    RsiState,
    SmaState,
    VwapState,
)


def _nan_unless(ready: jnp.ndarray, value: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(ready, value, jnp.nan).astype(value.dtype)


def sma_init(timeperiod=30, shape=(), capacity: int | None = None, dtype=jnp.float32) -> SmaState:
    """State of a simple moving average over ``timeperiod`` (>= 1) ticks.

    Args:
        timeperiod: int or int32[] window length p.
        shape: batch shape B.
        capacity: static ring-buffer length >= p (default p, which must then be an int).
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 1)
    return SmaState(window=window_init(timeperiod, shape, capacity, dtype))


def sma_update(state: SmaState, x) -> tuple[SmaState, jnp.ndarray]:
    """Push ``x`` (float[*B]); returns the SMA of the last p inputs (NaN before p inputs)."""
    window, _, _ = window_push(state.window, jnp.asarray(x, state.window.buffer.dtype))
    out = _nan_unless(window_full(window), window_sum(window) / window.timeperiod)
    return state.replace(window=window), out


def _smoother_init(timeperiod, wilder: bool, shape, dtype) -> EmaState:
    """An EMA (``k = 2 / (p + 1)``) or Wilder (``k = 1 / p``) smoother before any input."""
    p = jnp.asarray(timeperiod, jnp.int32)
    k = 1.0 / p.astype(dtype) if wilder else 2.0 / (p.astype(dtype) + 1.0)
    zeros = jnp.zeros(shape, dtype)
    return EmaState(
        hi=zeros, lo=zeros, anchor=zeros, k=k, timeperiod=p, count=jnp.zeros((), jnp.int32)
    )


def _smoother_push(state: EmaState, x: jnp.ndarray, active=True) -> EmaState:
    """Consume ``x`` if ``active``: sum it while warming up, seed on the p-th, then smooth."""
    p = state.timeperiod
    anchor = jnp.where(state.count == 0, x, state.anchor)
    acc = compensated_add(state.hi, state.lo, x - anchor)
    seed = two_sum(anchor, (acc[0] + acc[1]) / p.astype(x.dtype))
    smooth = smooth_step(state.hi, state.lo, x, state.k)
    running = state.count >= p
    seeding = state.count == p - 1
    hi, lo = (
        jnp.where(running, sm, jnp.where(seeding, sd, ac))
        for sm, sd, ac in zip(smooth, seed, acc, strict=True)
    )
    new = state.replace(hi=hi, lo=lo, anchor=anchor, count=jnp.minimum(state.count + 1, p))
    return _select(active, new, state)


def _select(pred, new, old):
    """``new`` where ``pred`` (bool[]) else ``old``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _smoother_value(state: EmaState) -> jnp.ndarray:
    return _nan_unless(state.count >= state.timeperiod, state.hi + state.lo)


def ema_init(timeperiod=30, shape=(), dtype=jnp.float32) -> EmaState:
    """State of TA-Lib's EMA over ``timeperiod`` (>= 1): SMA seed, ``k = 2 / (p + 1)``.

    Args:
        timeperiod: int or int32[] p.
        shape: batch shape B.
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 1)
    return _smoother_init(timeperiod, False, shape, dtype)


def ema_update(state: EmaState, x) -> tuple[EmaState, jnp.ndarray]:
    """Push ``x`` (float[*B]); returns the EMA (NaN before p inputs)."""
    state = _smoother_push(state, jnp.asarray(x, state.hi.dtype))
    return state, _smoother_value(state)


def rsi_init(timeperiod=14, shape=(), dtype=jnp.float32) -> RsiState:
    """State of TA-Lib's RSI over ``timeperiod`` (>= 2) with Wilder smoothing.

    Args:
        timeperiod: int or int32[] p.
        shape: batch shape B.
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 2)
    wilder = _smoother_init(timeperiod, True, shape, dtype)
    return RsiState(
        prev=jnp.zeros(shape, dtype), started=jnp.zeros((), bool), gain=wilder, loss=wilder
    )


def rsi_update(state: RsiState, x) -> tuple[RsiState, jnp.ndarray]:
    """Push ``x`` (float[*B]); returns the RSI in [0, 100] (NaN before p + 1 inputs)."""
    x = jnp.asarray(x, state.prev.dtype)
    change = x - state.prev
    gain = _smoother_push(state.gain, jnp.maximum(change, 0.0), state.started)
    loss = _smoother_push(state.loss, jnp.maximum(-change, 0.0), state.started)
    value = rsi_from_averages(gain.hi + gain.lo, loss.hi + loss.lo)
    out = _nan_unless(gain.count >= gain.timeperiod, value)
    return RsiState(prev=x, started=jnp.ones((), bool), gain=gain, loss=loss), out


def macd_init(
    fastperiod=12, slowperiod=26, signalperiod=9, shape=(), dtype=jnp.float32
) -> MacdState:
    """State of TA-Lib's MACD (periods swapped if ``slowperiod < fastperiod``).

    Args:
        fastperiod: int or int32[] >= 2.
        slowperiod: int or int32[] >= 2.
        signalperiod: int or int32[] >= 1.
        shape: batch shape B.
        dtype: float dtype.
    """
    check_state_period("fastperiod", fastperiod, 2)
    check_state_period("slowperiod", slowperiod, 2)
    check_state_period("signalperiod", signalperiod, 1)
    fast = jnp.minimum(jnp.asarray(fastperiod, jnp.int32), jnp.asarray(slowperiod, jnp.int32))
    slow = jnp.maximum(jnp.asarray(fastperiod, jnp.int32), jnp.asarray(slowperiod, jnp.int32))
    return MacdState(
        fast=ema_init(fast, shape, dtype),
        slow=ema_init(slow, shape, dtype),
        signal=ema_init(signalperiod, shape, dtype),
        count=jnp.zeros((), jnp.int32),
    )


def macd_update(
    state: MacdState, x
) -> tuple[MacdState, tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]]:
    """Push ``x`` (float[*B]); returns ``(macd, signal, hist)``.

    All three are NaN before ``slowperiod + signalperiod - 1`` inputs (TA-Lib's lookback).
    The line is the difference of the double-float EMAs, so it keeps float32 accuracy
    relative to its own size rather than to the price level.
    """
    x = jnp.asarray(x, state.slow.hi.dtype)
    slow_p, fast_p = state.slow.timeperiod, state.fast.timeperiod
    fast = _smoother_push(state.fast, x, state.count >= slow_p - fast_p)
    slow = _smoother_push(state.slow, x)
    line = (fast.hi - slow.hi) + (fast.lo - slow.lo)
    signal = _smoother_push(state.signal, line, slow.count >= slow_p)
    ready = signal.count >= signal.timeperiod
    hist = (line - signal.hi) - signal.lo
    outs = (line, signal.hi + signal.lo, hist)
    new = MacdState(fast=fast, slow=slow, signal=signal, count=jnp.minimum(state.count + 1, slow_p))
    return new, tuple(_nan_unless(ready, o) for o in outs)


def _moments_init(shape, dtype) -> Moments:
    zeros = jnp.zeros(shape, dtype)
    return Moments(
        count=jnp.zeros((), jnp.int32), anchor=zeros, s_hi=zeros, s_lo=zeros, q_hi=zeros, q_lo=zeros
    )


def _moments_push(m: Moments, x: jnp.ndarray, dropped: jnp.ndarray, remove) -> Moments:
    """Add ``x`` and, if ``remove``, take out ``dropped`` (a value added earlier)."""
    anchor = jnp.where(m.count == 0, x, m.anchor)
    d_new = x - anchor
    d_old = jnp.where(remove, dropped - anchor, 0.0)
    s = df_add(m.s_hi, m.s_lo, d_new, -d_old)
    q = df_add(m.q_hi, m.q_lo, *two_prod(d_new, d_new))
    old_hi, old_lo = two_prod(d_old, d_old)
    q_hi, q_lo = df_add(*q, -old_hi, -old_lo)
    count = jnp.where(remove, m.count, m.count + 1)
    return Moments(count=count, anchor=anchor, s_hi=s[0], s_lo=s[1], q_hi=q_hi, q_lo=q_lo)


def _moments_mean_std(m: Moments) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Mean and population std of the values (double-float until the final rounding)."""
    n = jnp.maximum(m.count, 1).astype(m.anchor.dtype)
    mean_hi, mean_lo = df_div(m.s_hi, m.s_lo, n)  # mean - anchor
    sq_hi, sq_lo = two_prod(mean_hi, mean_hi)
    sq_lo = sq_lo + 2.0 * mean_hi * mean_lo
    q_hi, q_lo = df_div(m.q_hi, m.q_lo, n)
    var_hi, var_lo = df_add(q_hi, q_lo, -sq_hi, -sq_lo)
    mean = m.anchor + mean_hi + mean_lo
    return mean, jnp.sqrt(jnp.maximum(var_hi + var_lo, 0.0))


def bollinger_init(
    timeperiod=20,
    nbdevup=2.0,
    nbdevdn=2.0,
    shape=(),
    capacity: int | None = None,
    dtype=jnp.float32,
) -> BollingerState:
    """State of TA-Lib's Bollinger bands (``matype=0``: SMA middle, population std).

    Args:
        timeperiod: int or int32[] window length p >= 2.
        nbdevup: upper band width in standard deviations.
        nbdevdn: lower band width in standard deviations.
        shape: batch shape B.
        capacity: static ring-buffer length >= p (default p, which must then be an int).
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 2)
    empty = _moments_init(shape, dtype)
    return BollingerState(
        window=window_init(timeperiod, shape, capacity, dtype),
        active=empty,
        shadow=empty,
        nbdevup=jnp.asarray(nbdevup, dtype),
        nbdevdn=jnp.asarray(nbdevdn, dtype),
    )


def bollinger_update(
    state: BollingerState, x
) -> tuple[BollingerState, tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]]:
    """Push ``x`` (float[*B]); returns ``(upper, middle, lower)`` (NaN before p inputs).

    O(1): one sliding and one growing moment update per tick (see
    :class:`~qtgjax.indicators.types.BollingerState`).
    """
    dtype = state.window.buffer.dtype
    x = jnp.asarray(x, dtype)
    window, dropped, was_full = window_push(state.window, x)
    active = _moments_push(state.active, x, dropped, was_full)
    shadow = _moments_push(state.shadow, x, dropped, False)
    swap = shadow.count >= window.timeperiod
    active = _select(swap, shadow, active)
    shadow = _select(swap, _moments_init(x.shape, dtype), shadow)
    mean, std = _moments_mean_std(active)
    outs = (mean + state.nbdevup * std, mean, mean - state.nbdevdn * std)
    new = state.replace(window=window, active=active, shadow=shadow)
    return new, tuple(_nan_unless(window_full(window), o) for o in outs)


def atr_init(timeperiod=14, shape=(), dtype=jnp.float32) -> AtrState:
    """State of TA-Lib's ATR over ``timeperiod`` (>= 1) with Wilder smoothing.

    Args:
        timeperiod: int or int32[] p.
        shape: batch shape B.
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 1)
    return AtrState(
        prev_close=jnp.zeros(shape, dtype),
        started=jnp.zeros((), bool),
        tr=_smoother_init(timeperiod, True, shape, dtype),
    )


def atr_update(state: AtrState, bar) -> tuple[AtrState, jnp.ndarray]:
    """Push one bar ``(high, low, close)`` (float[*B] each); returns the ATR.

    NaN before p + 1 bars: the first bar has no true range (no previous close).
    """
    dtype = state.prev_close.dtype
    high, low, close = (jnp.asarray(a, dtype) for a in bar)
    prev = state.prev_close
    tr = jnp.maximum(high - low, jnp.maximum(jnp.abs(prev - high), jnp.abs(prev - low)))
    smoother = _smoother_push(state.tr, tr, state.started)
    new = AtrState(prev_close=close, started=jnp.ones((), bool), tr=smoother)
    return new, _smoother_value(smoother)


def realized_vol_init(
    timeperiod=20, annualization=1.0, shape=(), capacity: int | None = None, dtype=jnp.float32
) -> RealizedVolState:
    """State of the rolling realised volatility of log returns over ``timeperiod`` returns.

    Args:
        timeperiod: int or int32[] returns per window p >= 1.
        annualization: periods per year (1 = per-period volatility).
        shape: batch shape B.
        capacity: static ring-buffer length >= p (default p, which must then be an int).
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 1)
    return RealizedVolState(
        prev=jnp.zeros(shape, dtype),
        window=window_init(timeperiod, shape, capacity, dtype),
        annualization=jnp.asarray(annualization, dtype),
        started=jnp.zeros((), bool),
    )


def realized_vol_update(state: RealizedVolState, x) -> tuple[RealizedVolState, jnp.ndarray]:
    """Push a price ``x`` (float[*B], > 0); returns ``sqrt(annualization * mean(r^2))``.

    NaN before p + 1 prices (p returns).
    """
    x = jnp.asarray(x, state.prev.dtype)
    prev = jnp.where(state.started, state.prev, x)
    r = jnp.log1p((x - prev) / prev)
    pushed, _, _ = window_push(state.window, jnp.square(r))
    window = _select(state.started, pushed, state.window)
    p = window.timeperiod.astype(x.dtype)
    value = jnp.sqrt(state.annualization * jnp.maximum(window_sum(window), 0.0) / p)
    out = _nan_unless(state.started & window_full(window), value)
    new = state.replace(prev=x, window=window, started=jnp.ones((), bool))
    return new, out


def ofi_init(timeperiod=1, shape=(), capacity: int | None = None, dtype=jnp.float32) -> OfiState:
    """State of the rolling order-flow imbalance over ``timeperiod`` quote updates.

    Args:
        timeperiod: int or int32[] updates per window p >= 1.
        shape: batch shape B.
        capacity: static ring-buffer length >= p (default p, which must then be an int).
        dtype: float dtype.
    """
    check_state_period("timeperiod", timeperiod, 1)
    zeros = jnp.zeros(shape, dtype)
    return OfiState(
        bid_price=zeros,
        bid_size=zeros,
        ask_price=zeros,
        ask_size=zeros,
        window=window_init(timeperiod, shape, capacity, dtype),
        started=jnp.zeros((), bool),
    )


def ofi_update(state: OfiState, quote) -> tuple[OfiState, jnp.ndarray]:
    """Push a best quote ``(bid_price, bid_size, ask_price, ask_size)`` (float[*B] each).

    Returns the sum of the last p per-update imbalances (NaN before p + 1 quotes).
    """
    dtype = state.bid_size.dtype
    quote = tuple(jnp.asarray(a, dtype) for a in quote)
    prev = (state.bid_price, state.bid_size, state.ask_price, state.ask_size)
    pushed, _, _ = window_push(state.window, ofi_event(quote, prev))
    window = _select(state.started, pushed, state.window)
    out = _nan_unless(state.started & window_full(window), window_sum(window))
    bid_price, bid_size, ask_price, ask_size = quote
    new = OfiState(
        bid_price=bid_price,
        bid_size=bid_size,
        ask_price=ask_price,
        ask_size=ask_size,
        window=window,
        started=jnp.ones((), bool),
    )
    return new, out


def vwap_init(
    timeperiod=None, shape=(), capacity: int | None = None, dtype=jnp.float32
) -> VwapState:
    """State of the VWAP: anchored (``timeperiod=None``) or over the last p >= 1 ticks.

    Args:
        timeperiod: None, or int or int32[] window length p.
        shape: batch shape B.
        capacity: static ring-buffer length >= p (default p, which must then be an int).
        dtype: float dtype.
    """
    if timeperiod is not None:
        check_state_period("timeperiod", timeperiod, 1)
    p = 0 if timeperiod is None else timeperiod
    return VwapState(
        notional=window_init(p, shape, capacity, dtype),
        volume=window_init(p, shape, capacity, dtype),
    )


def vwap_update(state: VwapState, trade) -> tuple[VwapState, jnp.ndarray]:
    """Push ``(price, volume)`` (float[*B] each); returns the VWAP.

    NaN while the window is filling (rolling) or while the volume so far is 0.
    """
    dtype = state.volume.buffer.dtype
    price, volume = (jnp.asarray(a, dtype) for a in trade)
    notional, _, _ = window_push(state.notional, price * volume)
    vol, _, _ = window_push(state.volume, volume)
    den = window_sum(vol)
    value = window_sum(notional) / jnp.where(den > 0, den, 1.0)
    out = _nan_unless(window_full(vol) & (den > 0), value)
    return VwapState(notional=notional, volume=vol), out
