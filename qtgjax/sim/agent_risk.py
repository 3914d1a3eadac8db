"""Per-agent risk of trading P&L, accumulated tick by tick (``record.agent_risk=true``).

Each agent's *trading account* is its starting wealth plus its trading P&L::

    W_0 = cash_0 + position_0 . price_0            (cash units, the agent's capital)
    W_t = W_0 + fill cash up to t + (position_t - position_0) . close_t

(``close_t`` the consolidated close of tick t; at the last tick ``W_T - W_0`` is
``agents.parquet``'s ``pnl_trading`` of the agent: dividends, fees, borrow and the
revaluation of the endowment are not in it). Its simple returns ``r_t = W_t / W_{t-1} - 1``
give the agent's Sharpe and Sortino ratios and maximum drawdown with empyrical's
conventions (:func:`ratios`). The scan carries, per agent, ``W_{t-1}``, Welford's running
mean and sum of squared deviations of ``r``, the sum of ``min(r, 0)^2``, the running peak
of ``W`` and the deepest drawdown: a few float32 numbers per agent, no per-tick series.

``dW_t`` is summed from small exact integers (this tick's fill cash, lots traded times the
close, inventory traded since the start times the close's change), each rounded once to
float32, so returns keep float32's relative precision even where ``W`` is large.
Off by default: the rollout then carries none of this (a Python branch on a static field).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from qtgjax.market import money
from qtgjax.tree import pytree


@pytree
class AgentRisk:
    """One family's running statistics, float32[N] each (bool for ``solvent``).

    Attributes:
        wealth: W_t, the trading account after the last tick, cash units.
        mean: running mean of the returns r_t.
        m2: running sum of squared deviations of r_t from their mean (Welford).
        down2: sum of min(r_t, 0)^2.
        peak: max of W up to t (W_0 included).
        drawdown: min over t of W_t / peak_t - 1 (<= 0).
        solvent: W was > 0 at every tick (else the ratios are undefined: NaN).
    """

    wealth: jnp.ndarray
    mean: jnp.ndarray
    m2: jnp.ndarray
    down2: jnp.ndarray
    peak: jnp.ndarray
    drawdown: jnp.ndarray
    solvent: jnp.ndarray


@pytree
class RiskState:
    """What the scan carries: per family :class:`AgentRisk`, the last close int32[S] (the
    mark of the next tick's change) and the ticks done (int32[])."""

    families: tuple
    close: jnp.ndarray
    ticks: jnp.ndarray


def _f32(x):
    return jnp.asarray(x).astype(jnp.float32)


def init_risk(state0) -> RiskState:
    """Every agent's account at W_0 (``state0``: the SimState before the first tick)."""
    price = state0.market.last_price
    families = []
    for a in state0.accounts:
        w0 = money.to_float(a.cash) + (_f32(a.position) * _f32(price)[None, :]).sum(-1)
        zero = jnp.zeros_like(w0)
        families.append(AgentRisk(w0, zero, zero, zero, w0, zero, w0 > 0))
    return RiskState(tuple(families), price, jnp.int32(0))


def update_risk(risk: RiskState, state0, before, after, close) -> RiskState:
    """``risk`` after one tick: ``before``/``after`` the SimStates around it, ``close``
    int32[S] its consolidated close, ``state0`` the state before the first tick."""
    n = (risk.ticks + 1).astype(jnp.float32)
    dclose = _f32(close - risk.close)[None, :]
    families = []
    for acc, a0, a1, start in zip(
        risk.families, before.accounts, after.accounts, state0.accounts, strict=True
    ):
        spent = money.sub(money.sub(a1.cash, a1.external), money.sub(a0.cash, a0.external))
        traded = _f32(a1.position - a0.position) * _f32(close)[None, :]
        carried = _f32(a0.position - start.position) * dclose
        dw = money.to_float(spent) + (traded + carried).sum(-1)
        r = jnp.where(acc.wealth > 0, dw / jnp.where(acc.wealth > 0, acc.wealth, 1.0), 0.0)
        wealth = acc.wealth + dw
        delta = r - acc.mean
        mean = acc.mean + delta / n
        peak = jnp.maximum(acc.peak, wealth)
        families.append(
            AgentRisk(
                wealth=wealth,
                mean=mean,
                m2=acc.m2 + delta * (r - mean),
                down2=acc.down2 + jnp.minimum(r, 0.0) ** 2,
                peak=peak,
                drawdown=jnp.minimum(acc.drawdown, wealth / jnp.where(peak > 0, peak, 1.0) - 1.0),
                solvent=acc.solvent & (wealth > 0),
            )
        )
    return RiskState(tuple(families), close, risk.ticks + 1)


def ratios(acc: AgentRisk, n_ticks: int, periods: float) -> dict[str, np.ndarray]:
    """Per agent (host side, float64[..., N]): annualised ``sharpe`` (mean / sample sd of
    r, times sqrt(periods)), ``sortino`` (mean times sqrt(periods) over the root mean of
    min(r, 0)^2) and ``max_drawdown`` (<= 0), as empyrical computes them from the same
    returns; NaN where the account was ever <= 0 (or, for Sharpe, where r never varied).
    """
    mean = np.asarray(acc.mean, np.float64)
    std = np.sqrt(np.asarray(acc.m2, np.float64) / max(n_ticks - 1, 1))
    down = np.sqrt(np.asarray(acc.down2, np.float64) / max(n_ticks, 1))
    ok = np.asarray(acc.solvent)
    root = np.sqrt(periods)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0, mean / np.where(std > 0, std, 1.0) * root, np.nan)
        sortino = mean * root / down  # inf where nothing lost, as empyrical
    return {
        "sharpe": np.where(ok, sharpe, np.nan),
        "sortino": np.where(ok, sortino, np.nan),
        "max_drawdown": np.where(ok, np.asarray(acc.drawdown, np.float64), np.nan),
    }
