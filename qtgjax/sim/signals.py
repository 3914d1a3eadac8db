"""The market's per-symbol indicators, streamed through the scan.

SMA, Bollinger, RSI, MACD and ATR are the O(1) streams of :mod:`qtgjax.indicators` (the
same code as the TA-Lib-verified whole-array functions); the range high/low reads a ring
buffer of the last ``history`` closes and the pair z-score keeps EMAs. Every family sees
the same numbers through :class:`~qtgjax.market.types.Indicators`.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax import indicators as ind
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
    """Streaming indicator state of every symbol (the :mod:`qtgjax.indicators` streams).

    Attributes:
        sma_fast, sma_slow, bollinger, rsi, macd, atr: ``qtgjax.indicators`` stream states,
            batch shape (S,).
        closes: float32[H, S] ring buffer of closes for the range window (ticks).
        count: int32[] closes seen.
        pair_mean, pair_var: float32[S] EMA mean / variance of the pair log-ratio.
        view: :class:`Indicators` after the latest close (what agents see next tick).
    """

    sma_fast: object
    sma_slow: object
    bollinger: object
    rsi: object
    macd: object
    atr: object
    closes: jnp.ndarray
    count: jnp.ndarray
    pair_mean: jnp.ndarray
    pair_var: jnp.ndarray
    view: Indicators


def pair_log_ratio(price) -> jnp.ndarray:
    """float32[S] log(price / partner price); partner of 2i is 2i + 1 and vice versa."""
    n = price.shape[0]
    partner = jnp.arange(n) ^ 1
    partner = jnp.where(partner < n, partner, jnp.arange(n))
    logp = jnp.log(price.astype(jnp.float32))
    return logp - logp[partner]


def init_indicators(price, params: IndicatorParams, history: int) -> IndicatorState:
    """Streams started on the initial price (outputs are NaN until each one warms up)."""
    p = price.astype(jnp.float32)
    shape = p.shape
    k = params.bollinger_k
    empty = IndicatorState(
        sma_fast=ind.sma_init(params.sma_fast, shape, capacity=history),
        sma_slow=ind.sma_init(params.sma_slow, shape, capacity=history),
        bollinger=ind.bollinger_init(params.bollinger, k, k, shape, capacity=history),
        rsi=ind.rsi_init(params.rsi, shape),
        macd=ind.macd_init(params.macd_fast, params.macd_slow, params.macd_signal, shape),
        atr=ind.atr_init(params.atr, shape),
        closes=jnp.broadcast_to(p, (history, *shape)),
        count=jnp.int32(0),
        pair_mean=pair_log_ratio(price),
        pair_var=jnp.zeros_like(p),
        view=None,
    )
    return update_indicators(empty, price, params)


def update_indicators(st: IndicatorState, close, params: IndicatorParams) -> IndicatorState:
    """Push one close (int32[S] ticks) into every stream and refresh the view."""
    price = close.astype(jnp.float32)
    history = st.closes.shape[0]
    prev = jnp.where(st.count > 0, st.closes[(st.count - 1) % history], price)
    sma_fast, fast = ind.sma_update(st.sma_fast, price)
    sma_slow, slow = ind.sma_update(st.sma_slow, price)
    bollinger, (upper, middle, lower) = ind.bollinger_update(st.bollinger, price)
    rsi, rsi_value = ind.rsi_update(st.rsi, price)
    macd, (line, signal, _) = ind.macd_update(st.macd, price)
    bar = (jnp.maximum(prev, price), jnp.minimum(prev, price), price)
    atr, atr_value = ind.atr_update(st.atr, bar)
    ratio = pair_log_ratio(close)
    a_pair = 2.0 / (params.pair.astype(jnp.float32) + 1.0)
    deviation = ratio - st.pair_mean
    pair_mean = st.pair_mean + a_pair * deviation
    pair_var = (1.0 - a_pair) * (st.pair_var + a_pair * deviation**2)
    closes = st.closes.at[st.count % history].set(price)
    count = st.count + 1
    high, low = range_extremes(closes, count, params.range)
    view = Indicators(
        sma_fast=fast,
        sma_slow=slow,
        rsi=rsi_value,
        macd=line,
        macd_signal=signal,
        bb_mid=middle,
        bb_upper=upper,
        bb_lower=lower,
        range_high=jnp.where(jnp.isfinite(high), high, price),
        range_low=jnp.where(jnp.isfinite(low), low, price),
        atr=atr_value,
        pair_z=(ratio - pair_mean) / jnp.sqrt(pair_var + 1e-12),
        ready=count > warm_up(params),
    )
    return IndicatorState(
        sma_fast, sma_slow, bollinger, rsi, macd, atr, closes, count, pair_mean, pair_var, view
    )


def warm_up(params: IndicatorParams) -> jnp.ndarray:
    """int32[] closes after which every indicator has a value (TA-Lib lookbacks)."""
    return jnp.max(
        jnp.stack(
            [
                params.sma_slow,
                params.sma_fast,
                params.bollinger,
                params.range + 1,
                params.rsi + 1,
                params.atr + 1,
                jnp.maximum(params.macd_slow, params.macd_fast) + params.macd_signal - 1,
            ]
        )
    )


def range_extremes(closes, count, length):
    """Highest and lowest of the ``length`` closes before the latest one, float32[S]."""
    history = closes.shape[0]
    age = (count - 1 - jnp.arange(history)) % history  # 0 = latest close
    window = ((age >= 1) & (age <= length) & (age < count))[:, None]
    high = jnp.max(jnp.where(window, closes, -jnp.inf), 0)
    low = jnp.min(jnp.where(window, closes, jnp.inf), 0)
    return high, low


def indicator_view(st: IndicatorState, params: IndicatorParams) -> Indicators:
    """The indicators agents see: the outputs after the latest close."""
    del params
    return st.view
