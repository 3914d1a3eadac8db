"""State pytrees of the streaming indicators.

Every state describes a batch of series of shape ``B`` (any shape, ``()`` for one series)
that share the indicator's parameters. Parameters (``timeperiod``...) are int32[] leaves, so
states with different parameters can be stacked and ``vmap``-ed; ring-buffer capacities are
static (they are array shapes). Counters saturate at the warm-up length, so a state can run
for any number of ticks without overflow.

Running sums are compensated: ``hi + lo`` is the sum, ``lo`` holding the rounding error
that float32 ``hi`` lost (TwoSum), so sums over millions of ticks do not drift.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.tree import pytree


@pytree
class Window:
    """Ring buffer of the last ``timeperiod`` values and their compensated sum.

    Attributes:
        buffer: float32[*B, C] the last values, C = capacity >= timeperiod.
        hi: float32[*B] running sum of the values in the window.
        lo: float32[*B] rounding error of ``hi`` (the sum is ``hi + lo``).
        timeperiod: int32[] window length W <= C; 0 = unbounded (the sum of every value
            pushed, nothing ever leaves: anchored VWAP).
        pos: int32[] slot the next value is written to, in [0, C).
        count: int32[] values pushed so far, saturating at W.
    """

    buffer: jnp.ndarray
    hi: jnp.ndarray
    lo: jnp.ndarray
    timeperiod: jnp.ndarray
    pos: jnp.ndarray
    count: jnp.ndarray


@pytree
class SmaState:
    """Simple moving average (TA-Lib SMA).

    Attributes:
        window: the last ``timeperiod`` inputs.
    """

    window: Window


@pytree
class EmaState:
    """Exponential smoother seeded with an SMA: TA-Lib's EMA, or Wilder's smoothing.

    ``y_t = y_{t-1} + k (x_t - y_{t-1})`` with ``k = 2 / (p + 1)`` (EMA) or ``k = 1 / p``
    (Wilder), seeded on the p-th input with the mean of the first p. The value is kept as
    an unevaluated float32 sum ``hi + lo`` (double-float), so its rounding error is on the
    scale of ``x - y`` rather than of ``y``; this keeps differences of EMAs (MACD) and long
    periods accurate in float32.

    Attributes:
        hi: float32[*B] the smoother once seeded; before, the sum of ``x - anchor``.
        lo: float32[*B] low-order part of ``hi``.
        anchor: float32[*B] the first input (inputs are summed relative to it).
        k: float32[] smoothing weight.
        timeperiod: int32[] p.
        count: int32[] inputs consumed, saturating at p (the value is defined from p on).
    """

    hi: jnp.ndarray
    lo: jnp.ndarray
    anchor: jnp.ndarray
    k: jnp.ndarray
    timeperiod: jnp.ndarray
    count: jnp.ndarray


@pytree
class RsiState:
    """Relative strength index with Wilder smoothing (TA-Lib RSI).

    Attributes:
        prev: float32[*B] previous input.
        started: bool[] whether ``prev`` holds an input.
        gain: Wilder smoother (k = 1/p) of the upward moves.
        loss: Wilder smoother of the downward moves (as positive numbers).
    """

    prev: jnp.ndarray
    started: jnp.ndarray
    gain: EmaState
    loss: EmaState


@pytree
class MacdState:
    """MACD line, signal and histogram (TA-Lib MACD).

    The fast EMA starts ``slowperiod - fastperiod`` inputs late so that it is seeded on the
    same tick as the slow one; the signal EMA runs on the MACD line from then on.

    Attributes:
        fast: EMA of the inputs over ``fastperiod``.
        slow: EMA of the inputs over ``slowperiod`` (slowperiod >= fastperiod).
        signal: EMA of the MACD line over ``signalperiod``.
        count: int32[] inputs consumed, saturating at ``slowperiod``.
    """

    fast: EmaState
    slow: EmaState
    signal: EmaState
    count: jnp.ndarray


@pytree
class Moments:
    """Count and first two moments of a set of values, as exact-as-float32-allows sums.

    Values enter as deviations ``d = x - anchor`` from the first value added; ``d`` and the
    exact square ``d * d`` (TwoProduct) are summed in double-float. Removing a value
    subtracts the very same terms, so nothing is lost to cancellation or drift, and the
    variance ``sum(d^2) / n - (sum(d) / n)^2`` is accurate to double-float rounding.

    Attributes:
        count: int32[] number of values n.
        anchor: float32[*B] the first value added.
        s_hi: float32[*B] sum of ``d`` (high part).
        s_lo: float32[*B] sum of ``d`` (low part).
        q_hi: float32[*B] sum of ``d^2`` (high part).
        q_lo: float32[*B] sum of ``d^2`` (low part).
    """

    count: jnp.ndarray
    anchor: jnp.ndarray
    s_hi: jnp.ndarray
    s_lo: jnp.ndarray
    q_hi: jnp.ndarray
    q_lo: jnp.ndarray


@pytree
class BollingerState:
    """Bollinger bands around an SMA with the population std (TA-Lib BBANDS, matype=0).

    Two accumulators alternate: ``active`` holds the moments of the current window and
    slides (adds the new value, removes the one leaving); ``shadow`` only adds and, once it
    holds a full window, replaces ``active`` and restarts. So each accumulator's anchor is
    at most two windows old (deviations stay small) and rounding cannot accumulate over
    long runs or outlive a change of price scale.

    Attributes:
        window: the last ``timeperiod`` inputs.
        active: moments of the current window.
        shadow: moments of the inputs since the last swap.
        nbdevup: float32[] width of the upper band, in standard deviations.
        nbdevdn: float32[] width of the lower band, in standard deviations.
    """

    window: Window
    active: Moments
    shadow: Moments
    nbdevup: jnp.ndarray
    nbdevdn: jnp.ndarray


@pytree
class AtrState:
    """Average true range with Wilder smoothing (TA-Lib ATR).

    Attributes:
        prev_close: float32[*B] previous close.
        started: bool[] whether ``prev_close`` holds a close.
        tr: Wilder smoother (k = 1/p) of the true range.
    """

    prev_close: jnp.ndarray
    started: jnp.ndarray
    tr: EmaState


@pytree
class RealizedVolState:
    """Rolling realised volatility of log returns.

    Attributes:
        prev: float32[*B] previous price.
        window: the last ``timeperiod`` squared log returns.
        annualization: float32[] periods per year (1 = per-period volatility).
        started: bool[] whether a previous price has been seen.
    """

    prev: jnp.ndarray
    window: Window
    annualization: jnp.ndarray
    started: jnp.ndarray


@pytree
class OfiState:
    """Rolling order-flow imbalance of best-quote updates (Cont, Kukanov & Stoikov 2014).

    Attributes:
        bid_price: float32[*B] previous best bid price.
        bid_size: float32[*B] previous best bid size.
        ask_price: float32[*B] previous best ask price.
        ask_size: float32[*B] previous best ask size.
        window: the last ``timeperiod`` per-update imbalances.
        started: bool[] whether a previous quote has been seen.
    """

    bid_price: jnp.ndarray
    bid_size: jnp.ndarray
    ask_price: jnp.ndarray
    ask_size: jnp.ndarray
    window: Window
    started: jnp.ndarray


@pytree
class VwapState:
    """Volume-weighted average price, anchored (cumulative) or over a rolling window.

    Attributes:
        notional: the last ``timeperiod`` price x volume products (or all of them).
        volume: the last ``timeperiod`` volumes (or all of them).
    """

    notional: Window
    volume: Window
