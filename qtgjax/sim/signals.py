"""Streaming per-symbol indicators carried through the scan, O(history) per symbol per tick.

Window indicators (SMA, Bollinger, range) read a ring buffer of the last ``history`` closes;
recursive ones (MACD, Wilder RSI and ATR, the pair z-score) keep EMAs. Every family sees
the same numbers through :class:`~qtgjax.market.types.Indicators`.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.market.types import Indicators
from qtgjax.tree import pytree


@pytree
class IndicatorParams:
    """Indicator periods in ticks (int32[] each, windows <= SimStatic.history).

    Attributes:
        sma_fast, sma_slow, bollinger, range: window lengths.
        rsi, atr: Wilder smoothing periods.
        macd_fast, macd_slow, macd_signal: EMA periods (alpha = 2 / (n + 1)).
        bollinger_k: float32[] band width in standard deviations.
        pair: EMA period of the pair log-ratio's mean and variance.
    """

    sma_fast: jnp.ndarray
    sma_slow: jnp.ndarray
    bollinger: jnp.ndarray
    range: jnp.ndarray
    rsi: jnp.ndarray
    atr: jnp.ndarray
    macd_fast: jnp.ndarray
    macd_slow: jnp.ndarray
    macd_signal: jnp.ndarray
    bollinger_k: jnp.ndarray
    pair: jnp.ndarray


@pytree
class IndicatorState:
    """Attributes:
    closes: float32[H, S] ring buffer of closes (ticks); slot ``count % H`` is next.
    count: int32[] closes seen.
    ema_fast, ema_slow, macd_signal: float32[S] MACD EMAs.
    avg_gain, avg_loss: float32[S] Wilder RSI averages (ticks per tick).
    atr: float32[S] Wilder average true range (ticks).
    pair_mean, pair_var: float32[S] EMA mean / variance of the pair log-ratio.
    """

    closes: jnp.ndarray
    count: jnp.ndarray
    ema_fast: jnp.ndarray
    ema_slow: jnp.ndarray
    macd_signal: jnp.ndarray
    avg_gain: jnp.ndarray
    avg_loss: jnp.ndarray
    atr: jnp.ndarray
    pair_mean: jnp.ndarray
    pair_var: jnp.ndarray


def pair_log_ratio(price) -> jnp.ndarray:
    """float32[S] log(price / partner price); partner of 2i is 2i + 1 and vice versa."""
    n = price.shape[0]
    partner = jnp.arange(n) ^ 1
    partner = jnp.where(partner < n, partner, jnp.arange(n))
    logp = jnp.log(price.astype(jnp.float32))
    return logp - logp[partner]


def init_indicators(price, history: int) -> IndicatorState:
    p = price.astype(jnp.float32)
    zeros = jnp.zeros_like(p)
    return IndicatorState(
        closes=jnp.broadcast_to(p, (history, p.shape[0])),
        count=jnp.int32(1),
        ema_fast=p,
        ema_slow=p,
        macd_signal=zeros,
        avg_gain=zeros,
        avg_loss=zeros,
        atr=zeros,
        pair_mean=pair_log_ratio(price),
        pair_var=zeros,
    )


def update_indicators(st: IndicatorState, close, params: IndicatorParams) -> IndicatorState:
    """Add one close (int32[S] ticks) to every indicator."""
    price = close.astype(jnp.float32)
    history = st.closes.shape[0]
    prev = st.closes[(st.count - 1) % history]
    change = price - prev
    fast = st.ema_fast + _alpha(params.macd_fast) * (price - st.ema_fast)
    slow = st.ema_slow + _alpha(params.macd_slow) * (price - st.ema_slow)
    signal = st.macd_signal + _alpha(params.macd_signal) * ((fast - slow) - st.macd_signal)
    ratio = pair_log_ratio(close)
    a_pair = _alpha(params.pair)
    deviation = ratio - st.pair_mean
    return IndicatorState(
        closes=st.closes.at[st.count % history].set(price),
        count=st.count + 1,
        ema_fast=fast,
        ema_slow=slow,
        macd_signal=signal,
        avg_gain=_wilder(st.avg_gain, jnp.maximum(change, 0.0), params.rsi),
        avg_loss=_wilder(st.avg_loss, jnp.maximum(-change, 0.0), params.rsi),
        atr=_wilder(st.atr, jnp.abs(change), params.atr),
        pair_mean=st.pair_mean + a_pair * deviation,
        pair_var=(1.0 - a_pair) * (st.pair_var + a_pair * deviation**2),
    )


def _alpha(period) -> jnp.ndarray:
    return 2.0 / (period.astype(jnp.float32) + 1.0)


def _wilder(average, value, period) -> jnp.ndarray:
    return average + (value - average) / period.astype(jnp.float32)


def _window(st: IndicatorState, length, skip_latest: bool = False):
    """Mask float32[H, 1] of the ring slots holding the last ``length`` closes."""
    history = st.closes.shape[0]
    age = (st.count - 1 - jnp.arange(history)) % history  # 0 = latest close
    first = 1 if skip_latest else 0
    filled = jnp.minimum(st.count, history)
    return ((age >= first) & (age < first + length) & (age < filled))[:, None]


def _mean(st: IndicatorState, length):
    mask = _window(st, length)
    return jnp.sum(jnp.where(mask, st.closes, 0.0), 0) / jnp.maximum(mask.sum(), 1), mask


def indicator_view(st: IndicatorState, params: IndicatorParams) -> Indicators:
    """The indicators agents see, computed from the streaming state."""
    sma_fast, _ = _mean(st, params.sma_fast)
    sma_slow, _ = _mean(st, params.sma_slow)
    bb_mid, bb_mask = _mean(st, params.bollinger)
    spread = jnp.where(bb_mask, st.closes - bb_mid, 0.0)
    bb_std = jnp.sqrt(jnp.sum(spread**2, 0) / jnp.maximum(bb_mask.sum(), 1))
    range_mask = _window(st, params.range, skip_latest=True)
    latest = st.closes[(st.count - 1) % st.closes.shape[0]]
    high = jnp.max(jnp.where(range_mask, st.closes, -jnp.inf), 0)
    low = jnp.min(jnp.where(range_mask, st.closes, jnp.inf), 0)
    loss = jnp.maximum(st.avg_loss, 1e-12)
    ratio = pair_log_ratio(latest)
    longest = jnp.max(jnp.stack([params.sma_slow, params.bollinger, params.range + 1]))
    return Indicators(
        sma_fast=sma_fast,
        sma_slow=sma_slow,
        rsi=100.0 - 100.0 / (1.0 + st.avg_gain / loss),
        macd=st.ema_fast - st.ema_slow,
        macd_signal=st.macd_signal,
        bb_mid=bb_mid,
        bb_upper=bb_mid + params.bollinger_k * bb_std,
        bb_lower=bb_mid - params.bollinger_k * bb_std,
        range_high=jnp.where(jnp.isfinite(high), high, latest),
        range_low=jnp.where(jnp.isfinite(low), low, latest),
        atr=st.atr,
        pair_z=(ratio - st.pair_mean) / jnp.sqrt(st.pair_var + 1e-12),
        ready=st.count >= longest,
    )
