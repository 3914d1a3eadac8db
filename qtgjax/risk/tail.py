"""Value at risk and conditional value at risk (expected shortfall) of return series.

Both are reported, as in empyrical, as *returns* (the ``alpha`` quantile and the mean of
the tail), so a loss is a negative number: ``var(r, 0.05) = -0.02`` means a 5% chance of
losing 2% or more in one period. Two methods:

* ``"historical"``: empyrical's ``value_at_risk`` (``np.percentile`` with linear
  interpolation; NaN if any return is NaN) and ``conditional_value_at_risk`` (the mean of
  the ``floor((n - 1) * alpha) + 1`` lowest returns, NaN ignored).
* ``"parametric"``: Gaussian with the sample mean and std (ddof=1, NaN ignored):
  ``VaR = mu + sigma * z_alpha``, ``ES = mu - sigma * phi(z_alpha) / alpha``.
"""

from __future__ import annotations

import numbers
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jax.scipy.stats import norm

_METHODS = ("historical", "parametric")


def _check(alpha, method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be 'historical' or 'parametric', got {method!r}")
    if isinstance(alpha, numbers.Real) and not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _as_returns(returns) -> jnp.ndarray:
    r = jnp.asarray(returns)
    return r.astype(jnp.result_type(r.dtype, jnp.float32))


def _gaussian(r: jnp.ndarray, alpha) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Sample mean, sample std (ddof=1) and the standard normal ``alpha`` quantile."""
    mu = jnp.nanmean(r, axis=-1)
    sigma = jnp.nanstd(r, axis=-1, ddof=1)
    return mu, sigma, ndtri(jnp.asarray(alpha, r.dtype))


@partial(jax.jit, static_argnames=("method",))
def _var(r: jnp.ndarray, alpha, method: str) -> jnp.ndarray:
    if method == "parametric":
        mu, sigma, z = _gaussian(r, alpha)
        return mu + sigma * z
    n = r.shape[-1]
    pos = jnp.broadcast_to(jnp.asarray(alpha, r.dtype) * (n - 1), r.shape[:-1])
    lo = jnp.floor(pos)
    frac = pos - lo
    lo = lo.astype(jnp.int32)
    ordered = jnp.sort(r, axis=-1)
    below = jnp.take_along_axis(ordered, lo[..., None], axis=-1)[..., 0]
    above = jnp.take_along_axis(ordered, jnp.minimum(lo + 1, n - 1)[..., None], axis=-1)[..., 0]
    gap = above - below  # numpy's linear interpolation, from the nearer end
    value = jnp.where(frac >= 0.5, above - gap * (1.0 - frac), below + gap * frac)
    return jnp.where(jnp.any(jnp.isnan(r), axis=-1), jnp.nan, value)


def var(returns, alpha=0.05, method: str = "historical") -> jnp.ndarray:
    """Value at risk: the ``alpha`` quantile of the returns (a loss is negative).

    Args:
        returns: float[..., T] simple returns per period.
        alpha: tail probability in (0, 1) (0.05 = 95% VaR); may be traced, or an array
            that broadcasts against the batch shape.
        method: ``"historical"`` (empirical quantile, empyrical ``value_at_risk``) or
            ``"parametric"`` (Gaussian).

    Returns:
        float[...], a per-period return; NaN when T = 0 (historical: also when any return
        is NaN; parametric: when T < 2).
    """
    _check(alpha, method)
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return jnp.full(r.shape[:-1], jnp.nan, r.dtype)
    return _var(r, alpha, method)


def _tail_index(alpha, n: int):
    """``floor((m - 1) * alpha)`` for m = 1..n valid returns, as empyrical computes it.

    For a concrete ``alpha`` this is a table computed in float64 on the host (exactly
    empyrical's ``int((len - 1) * cutoff)``); for a traced one, ``None``.
    """
    try:
        a = float(alpha)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None
    return np.array([int(m * a) for m in range(max(n, 1))], np.int32)


@partial(jax.jit, static_argnames=("method",))
def _cvar(r: jnp.ndarray, alpha, table, method: str) -> jnp.ndarray:
    if method == "parametric":
        mu, sigma, z = _gaussian(r, alpha)
        return mu - sigma * norm.pdf(z) / alpha
    n_valid = jnp.sum(~jnp.isnan(r), axis=-1)
    if table is None:
        k = jnp.floor((n_valid - 1) * jnp.asarray(alpha, r.dtype)).astype(jnp.int32)
    else:
        k = table[jnp.maximum(n_valid - 1, 0)]
    ordered = jnp.sort(r, axis=-1)  # NaN sort last
    in_tail = jnp.arange(r.shape[-1]) <= k[..., None]
    tail_sum = jnp.sum(jnp.where(in_tail, ordered, 0.0), axis=-1)
    return jnp.where(n_valid > 0, tail_sum / (k + 1), jnp.nan)


def cvar(returns, alpha=0.05, method: str = "historical") -> jnp.ndarray:
    """Conditional value at risk / expected shortfall: the mean return in the alpha tail.

    Args:
        returns: float[..., T] simple returns per period.
        alpha: tail probability in (0, 1); may be traced, or an array that broadcasts
            against the batch shape.
        method: ``"historical"`` (empyrical ``conditional_value_at_risk``: the mean of the
            ``floor((n - 1) * alpha) + 1`` lowest of the n non-NaN returns) or
            ``"parametric"`` (Gaussian expected shortfall).

    Returns:
        float[...], a per-period return (<= VaR for the same alpha); NaN when no return
        is present (parametric: fewer than 2).
    """
    _check(alpha, method)
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return jnp.full(r.shape[:-1], jnp.nan, r.dtype)
    table = _tail_index(alpha, r.shape[-1]) if method == "historical" else None
    return _cvar(r, alpha, table, method)
