"""Numerics shared by the indicators: rolling sums, compensated float32 sums, ring buffers.

Whole-array helpers work over the last axis (any leading batch shape) and return an array
of the input's length with NaN where the window is not yet full. Ring buffers
(:class:`~qtgjax.indicators.types.Window`) keep a compensated running sum so that the
streaming indicators stay O(1) per tick without float32 drift.

Compensated (double-float) arithmetic represents a number as an unevaluated sum
``hi + lo`` of two floats. Sums use TwoSum; exact products split each factor by masking
mantissa bits (not Veltkamp's multiply-subtract), so every partial product is exact and the
results do not change when a compiler contracts multiply-adds into FMAs (as GPU back ends
do).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from qtgjax.indicators.types import Window


def as_float(x) -> jnp.ndarray:
    """``x`` as a JAX array of its floating type (float32 for ints, bools and halves)."""
    x = jnp.asarray(x)
    return x.astype(jnp.result_type(x.dtype, jnp.float32))


def check_period(name: str, value: int, minimum: int) -> int:
    """Validate a static period the way TA-Lib does (an int >= ``minimum``)."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_state_period(name: str, value, minimum: int) -> None:
    """Validate a streaming period when it is concrete; traced periods pass unchecked."""
    try:
        concrete = float(value)
    except TypeError:
        return
    check_period(name, concrete, minimum)


def warmup(y: jnp.ndarray, first: int) -> jnp.ndarray:
    """``y`` with NaN at positions ``< first`` of the last axis."""
    idx = jnp.arange(y.shape[-1])
    return jnp.where(idx < first, jnp.nan, y)


def rolling_sum(x: jnp.ndarray, window: int) -> jnp.ndarray:
    """Sum of each trailing window of ``window`` values along the last axis.

    Args:
        x: float[..., T].
        window: static window length W >= 1.

    Returns:
        float[..., T]; entry t sums x[t - W + 1 .. t], NaN for t < W - 1. Each window is
        summed on its own (``reduce_window``), so no error accumulates along the series.
    """
    nd = x.ndim
    summed = lax.reduce_window(
        x,
        jnp.zeros((), x.dtype),
        lax.add,
        window_dimensions=(1,) * (nd - 1) + (window,),
        window_strides=(1,) * nd,
        padding=((0, 0),) * (nd - 1) + ((window - 1, 0),),
    )
    return warmup(summed, window - 1)


def rolling_sq_dev(x: jnp.ndarray, mean: jnp.ndarray, window: int) -> jnp.ndarray:
    """Sum over each trailing window of the squared deviations from that window's mean.

    Args:
        x: float[..., T].
        mean: float[..., T], the mean of the window ending at each t.
        window: static window length W.

    Returns:
        float[..., T], sum_{j = t-W+1..t} (x_j - mean_t)^2 (NaN where ``mean`` is). Two-pass
        per window (a loop over the W lags, not over time), accurate in float32 where
        ``E[x^2] - E[x]^2`` would cancel.
    """
    t = x.shape[-1]
    padded = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(window - 1, 0)])

    def add_lag(lag, acc):
        shifted = lax.dynamic_slice_in_dim(padded, window - 1 - lag, t, axis=-1)
        return acc + jnp.square(shifted - mean)

    return lax.fori_loop(0, window, add_lag, jnp.zeros_like(mean))


def two_sum(a: jnp.ndarray, b: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Knuth's TwoSum: ``s = fl(a + b)`` and the exact rounding error ``e = a + b - s``."""
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    return s, (a - a_virtual) + (b - b_virtual)


def compensated_add(
    hi: jnp.ndarray, lo: jnp.ndarray, x: jnp.ndarray
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Add ``x`` to the compensated sum ``hi + lo``; returns the new ``(hi, lo)``.

    The result is renormalised (``|lo| <= ulp(hi) / 2``), so ``lo`` never grows.
    """
    s, e = two_sum(hi, x)
    return two_sum(s, lo + e)


def split(a: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``a = hi + lo`` exactly, ``hi`` = ``a`` with the low mantissa bits cleared.

    float32: 12 + 12 significant bits, so all four partial products of two split numbers
    are exact; float64: 26 + 27 bits (only ``lo * lo`` may round, by 2**-106 relative).
    """
    if a.dtype == jnp.float64:
        int_type, mask = jnp.int64, ~((1 << 27) - 1)
    else:
        int_type, mask = jnp.int32, ~((1 << 12) - 1)
    bits = lax.bitcast_convert_type(a, int_type) & jnp.asarray(mask, int_type)
    hi = lax.bitcast_convert_type(bits, a.dtype)
    return hi, a - hi


def two_prod(a: jnp.ndarray, b: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Dekker's TwoProduct: ``p = fl(a * b)`` and the exact error ``e = a * b - p``."""
    p = a * b
    a_hi, a_lo = split(a)
    b_hi, b_lo = split(b)
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def df_add(hi, lo, x_hi, x_lo) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Double-float ``(hi + lo) + (x_hi + x_lo)``, renormalised."""
    s, e = two_sum(hi, x_hi)
    return two_sum(s, e + (lo + x_lo))


def df_div(hi, lo, n) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Double-float ``(hi + lo) / n`` for a float ``n`` (a count)."""
    q = hi / n
    p, e = two_prod(q, n)
    r = ((hi - p) - e) + lo
    return two_sum(q, r / n)


def smooth_step(
    hi: jnp.ndarray, lo: jnp.ndarray, x: jnp.ndarray, k
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One step ``y <- y + k (x - y)`` of an exponential smoother kept as ``y = hi + lo``.

    The correction ``k (x - y)`` is formed from the full double-float ``y`` and added with
    TwoSum, so the rounding error stays on the scale of ``x - y``, not of ``y``.
    """
    d = (x - hi) - lo
    s, e = two_sum(hi, k * d)
    return two_sum(s, lo + e)


def seed_mean(values: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Mean of ``values`` (float[..., p]) over the last axis as a double-float ``(hi, lo)``.

    Summed relative to the first value, so the rounding error is on the scale of the
    spread of the values, not of their level.
    """
    anchor = values[..., 0]
    offset = jnp.mean(values - anchor[..., None], axis=-1)
    return two_sum(anchor, offset)


def window_init(timeperiod, shape=(), capacity: int | None = None, dtype=jnp.float32) -> Window:
    """An empty ring buffer.

    Args:
        timeperiod: int or int32[] window length W; 0 means unbounded (a running sum that
            never drops values, e.g. anchored VWAP).
        shape: batch shape B of the series.
        capacity: static buffer length C >= W; defaults to ``timeperiod`` (which must then
            be a Python int). A larger capacity lets states with different W be stacked.
        dtype: float dtype of the values.
    """
    if capacity is None:
        try:
            capacity = max(int(timeperiod), 1)
        except TypeError:
            raise TypeError("pass a static capacity when timeperiod is traced") from None
    capacity = check_period("capacity", capacity, 1)
    try:
        too_long = int(timeperiod) > capacity
    except TypeError:
        too_long = False
    if too_long:
        raise ValueError(f"timeperiod {int(timeperiod)} does not fit in capacity {capacity}")
    zeros = jnp.zeros(shape, dtype)
    return Window(
        buffer=jnp.zeros((*shape, capacity), dtype),
        hi=zeros,
        lo=zeros,
        timeperiod=jnp.asarray(timeperiod, jnp.int32),
        pos=jnp.zeros((), jnp.int32),
        count=jnp.zeros((), jnp.int32),
    )


def window_push(w: Window, x: jnp.ndarray) -> tuple[Window, jnp.ndarray, jnp.ndarray]:
    """Push ``x`` (float[*B]) into the window.

    Returns:
        ``(window, dropped, was_full)``: the new window, the value that left it (0 when
        none did) and bool[] whether the window was already full before this push.
    """
    capacity = w.buffer.shape[-1]
    was_full = (w.timeperiod > 0) & (w.count >= w.timeperiod)
    old_slot = jnp.mod(w.pos - w.timeperiod, capacity)
    dropped = jnp.where(was_full, jnp.take(w.buffer, old_slot, axis=-1), 0.0).astype(x.dtype)
    hi, lo = compensated_add(w.hi, w.lo, x)
    hi, lo = compensated_add(hi, lo, -dropped)
    w = w.replace(
        buffer=w.buffer.at[..., w.pos].set(x),
        hi=hi,
        lo=lo,
        pos=jnp.mod(w.pos + 1, capacity),
        count=jnp.minimum(w.count + 1, w.timeperiod),
    )
    return w, dropped, was_full


def window_sum(w: Window) -> jnp.ndarray:
    """The sum of the values in the window, float[*B]."""
    return w.hi + w.lo


def window_full(w: Window) -> jnp.ndarray:
    """bool[]: whether the window holds ``timeperiod`` values (always True when unbounded)."""
    return w.count >= w.timeperiod
