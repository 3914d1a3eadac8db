"""Performance and risk metrics of return series, with empyrical's conventions.

Every function takes simple (non-cumulative) per-period returns ``float[..., T]`` with
time on the last axis and any batch shape in front (scenarios, agents...), and returns
``float[...]`` (one number per series), or ``float[..., T]`` for the series-valued
``cum_returns`` and ``drawdown``. NaN returns are handled as empyrical does: ignored by
means and deviations, treated as 0 when compounding. All functions are pure, jit and vmap.

Compounding uses ``exp(cumsum(log1p(r)))`` (with the sign tracked separately for returns
below -100%), which keeps float32 results within a few 1e-7 of the float64 product over
thousands of periods; drawdowns come out of differences of log wealth.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from qtgjax.risk.periods import DAILY, annualization_factor


def _as_returns(returns) -> jnp.ndarray:
    r = jnp.asarray(returns)
    return r.astype(jnp.result_type(r.dtype, jnp.float32))


def _undefined(r: jnp.ndarray) -> jnp.ndarray:
    return jnp.full(r.shape[:-1], jnp.nan, r.dtype)


def _sample_std(r: jnp.ndarray) -> jnp.ndarray:
    """NaN-ignoring std with ddof=1, exactly 0 where all present values are equal."""
    std = jnp.nanstd(r, axis=-1, ddof=1)
    constant = (jnp.nanmax(r, axis=-1) == jnp.nanmin(r, axis=-1)) & jnp.isfinite(std)
    return jnp.where(constant, 0.0, std)


def log_wealth(returns) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Compounded growth ``prod(1 + r)`` up to each t, as ``(log|wealth|, sign)``.

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.

    Returns:
        ``(log_abs, sign)``, float[..., T] each: ``prod_{s<=t} (1 + r_s) = sign * exp(log_abs)``
        (``log_abs = -inf`` once a return of exactly -100% wiped the wealth out).
    """
    r = jnp.nan_to_num(_as_returns(returns), nan=0.0)
    below = r < -1.0
    log_abs = jnp.where(below, jnp.log(jnp.abs(1.0 + r)), jnp.log1p(jnp.maximum(r, -1.0)))
    flips = jnp.cumsum(below.astype(jnp.int32), axis=-1)
    sign = jnp.where(flips % 2 == 1, -1.0, 1.0).astype(r.dtype)
    return jnp.cumsum(log_abs, axis=-1), sign


def _growth_minus_one(log_abs: jnp.ndarray, sign: jnp.ndarray) -> jnp.ndarray:
    """``sign * exp(log_abs) - 1`` without cancellation when the sign is positive."""
    return jnp.where(sign > 0, jnp.expm1(log_abs), -jnp.exp(log_abs) - 1.0)


@jax.jit
def cum_returns(returns, starting_value=0.0) -> jnp.ndarray:
    """Cumulative returns (empyrical ``cum_returns``).

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.
        starting_value: 0 for cumulative returns ``prod(1 + r) - 1``; otherwise the value
            of the portfolio, ``starting_value * prod(1 + r)``.

    Returns:
        float[..., T].
    """
    log_abs, sign = log_wealth(returns)
    return jnp.where(
        starting_value == 0,
        _growth_minus_one(log_abs, sign),
        starting_value * sign * jnp.exp(log_abs),
    )


@jax.jit
def cumulative_return(returns, starting_value=0.0) -> jnp.ndarray:
    """Total compounded return (empyrical ``cum_returns_final``).

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.
        starting_value: 0 for ``prod(1 + r) - 1``, else ``starting_value * prod(1 + r)``.

    Returns:
        float[...]; NaN when T = 0.
    """
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return _undefined(r)
    return cum_returns(r, starting_value)[..., -1]


@jax.jit
def drawdown(returns) -> jnp.ndarray:
    """Drawdown from the running peak of wealth (empyrical ``drawdown_series``).

    The peak starts at the initial wealth, so a series that only loses is in drawdown
    from its first period.

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.

    Returns:
        float[..., T] of ``wealth / peak - 1`` (<= 0; -1 = wiped out).
    """
    log_abs, sign = log_wealth(returns)
    peak = lax.cummax(jnp.where(sign > 0, jnp.maximum(log_abs, 0.0), 0.0), axis=log_abs.ndim - 1)
    return _growth_minus_one(log_abs - peak, sign)


@jax.jit
def max_drawdown(returns) -> jnp.ndarray:
    """Maximum drawdown (empyrical ``max_drawdown``): the most negative ``drawdown``.

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.

    Returns:
        float[...] <= 0; NaN when T = 0.
    """
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return _undefined(r)
    return jnp.min(drawdown(r), axis=-1)


@partial(jax.jit, static_argnames=("period",))
def annual_return(returns, period: str = DAILY, annualization=None) -> jnp.ndarray:
    """Compound annual growth rate (empyrical ``annual_return``).

    ``prod(1 + r) ** (annualization / T) - 1``.

    Args:
        returns: float[..., T] simple returns; NaN counts as 0 (but counts in T).
        period: ``"daily"``, ``"weekly"``, ``"monthly"``, ``"quarterly"`` or ``"yearly"``.
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...]; NaN when T = 0 or when the wealth ends negative.
    """
    r = _as_returns(returns)
    t = r.shape[-1]
    if t == 0:
        return _undefined(r)
    ann = annualization_factor(period, annualization)
    log_abs, sign = log_wealth(r)
    return jnp.where(sign[..., -1] > 0, jnp.expm1(log_abs[..., -1] * ann / t), jnp.nan)


@partial(jax.jit, static_argnames=("period",))
def annual_volatility(
    returns, period: str = DAILY, alpha: float = 2.0, annualization=None
) -> jnp.ndarray:
    """Annualised volatility (empyrical ``annual_volatility``): ``std * ann ** (1 / alpha)``.

    Args:
        returns: float[..., T] simple returns; NaN ignored.
        period: periodicity of the returns (see :func:`annual_return`).
        alpha: scaling exponent (2 = square-root-of-time).
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...], sample std (ddof=1) scaled to a year; NaN when T < 2.
    """
    r = _as_returns(returns)
    if r.shape[-1] < 2:
        return _undefined(r)
    ann = annualization_factor(period, annualization)
    return jnp.nanstd(r, axis=-1, ddof=1) * jnp.power(ann, 1.0 / alpha)


@partial(jax.jit, static_argnames=("period",))
def sharpe(returns, risk_free=0.0, period: str = DAILY, annualization=None) -> jnp.ndarray:
    """Annualised Sharpe ratio (empyrical ``sharpe_ratio``).

    ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(ann)``; the std is exactly 0 (so the ratio
    is +-inf, or NaN for a zero mean) when all returns are equal.

    Args:
        returns: float[..., T] simple returns; NaN ignored.
        risk_free: per-period risk-free return, broadcast against ``returns``.
        period: periodicity of the returns (see :func:`annual_return`).
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...]; NaN when T < 2.
    """
    r = _as_returns(returns)
    if r.shape[-1] < 2:
        return _undefined(r)
    adj = r - risk_free
    ann = annualization_factor(period, annualization)
    return jnp.nanmean(adj, axis=-1) / _sample_std(adj) * jnp.sqrt(ann)


@partial(jax.jit, static_argnames=("period",))
def downside_risk(
    returns, required_return=0.0, period: str = DAILY, annualization=None
) -> jnp.ndarray:
    """Annualised downside deviation below ``required_return`` (empyrical ``downside_risk``).

    ``sqrt(mean(min(r - required, 0) ** 2)) * sqrt(ann)``: the root mean square of the
    shortfalls over all periods (not the std of the negative returns).

    Args:
        returns: float[..., T] simple returns; NaN ignored.
        required_return: minimum acceptable per-period return, broadcast against
            ``returns``.
        period: periodicity of the returns (see :func:`annual_return`).
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...]; NaN when T = 0.
    """
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return _undefined(r)
    shortfall = jnp.minimum(r - required_return, 0.0)
    ann = annualization_factor(period, annualization)
    return jnp.sqrt(jnp.nanmean(jnp.square(shortfall), axis=-1)) * jnp.sqrt(ann)


@partial(jax.jit, static_argnames=("period",))
def sortino(returns, required_return=0.0, period: str = DAILY, annualization=None) -> jnp.ndarray:
    """Annualised Sortino ratio (empyrical ``sortino_ratio``).

    ``mean(r - required) * ann / downside_risk``; +inf when there is no shortfall and the
    mean excess return is positive.

    Args:
        returns: float[..., T] simple returns; NaN ignored.
        required_return: minimum acceptable per-period return, broadcast against
            ``returns``.
        period: periodicity of the returns (see :func:`annual_return`).
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...]; NaN when T < 2.
    """
    r = _as_returns(returns)
    if r.shape[-1] < 2:
        return _undefined(r)
    ann = annualization_factor(period, annualization)
    mean = jnp.nanmean(r - required_return, axis=-1) * ann
    return mean / downside_risk(r, required_return, period, annualization)


@partial(jax.jit, static_argnames=("period",))
def calmar(returns, period: str = DAILY, annualization=None) -> jnp.ndarray:
    """Calmar ratio (empyrical ``calmar_ratio``): annual return / |max drawdown|.

    Args:
        returns: float[..., T] simple returns; NaN counts as 0.
        period: periodicity of the returns (see :func:`annual_return`).
        annualization: periods per year, overriding ``period``.

    Returns:
        float[...]; NaN when there is no drawdown or the ratio is infinite.
    """
    r = _as_returns(returns)
    if r.shape[-1] == 0:
        return _undefined(r)
    mdd = max_drawdown(r)
    ratio = annual_return(r, period, annualization) / jnp.abs(mdd)
    return jnp.where((mdd < 0) & ~jnp.isinf(ratio), ratio, jnp.nan)
