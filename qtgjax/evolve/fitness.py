"""Objectives of a candidate over a scenario set, the scalarised fitness, the Pareto front.

Per (candidate, scenario) row the evaluation yields :class:`~qtgjax.evolve.evaluate.RowMetrics`;
over a set of S scenarios a candidate's objectives are (float64):

=================  ==========================================================  =========
objective          definition                                                  better
=================  ==========================================================  =========
``pnl``            mean over scenarios of the final trading P&L per agent,      higher
                   currency
``sharpe``         mean over scenarios of the annualised Sharpe ratio           higher
``sortino``        mean over scenarios of the annualised Sortino ratio          higher
``robust_sharpe``  mean Sharpe of the worst ``ceil(q S)`` scenarios (q =        higher
                   ``robust_quantile``, 0.1: the worst decile across regimes)
``max_drawdown``   mean over scenarios of the maximum drawdown (<= 0)           higher
``cvar``           mean over scenarios of the 5% CVaR of per-tick returns       higher
``turnover``       lots traded per agent per tick                               lower
``fees``           fees paid per agent over a scenario, currency                lower
=================  ==========================================================  =========

The search maximises ``fitness = sum_k weight_k * objective_k`` (weights in the config; a
cost gets a negative weight). The Pareto front is over the objectives the config names, each
in its better direction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

OBJECTIVES = {
    "pnl": +1,
    "sharpe": +1,
    "sortino": +1,
    "robust_sharpe": +1,
    "max_drawdown": +1,
    "cvar": +1,
    "turnover": -1,
    "fees": -1,
}
PER_ROW = ("pnl", "sharpe", "sortino", "max_drawdown", "cvar", "turnover", "fees")


def worst_mean(values: np.ndarray, quantile: float) -> np.ndarray:
    """Mean of the worst ``ceil(quantile * S)`` values along the last axis."""
    k = max(1, math.ceil(quantile * values.shape[-1]))
    return np.sort(values, axis=-1)[..., :k].mean(-1)


def objectives(
    rows: Mapping[str, np.ndarray],
    n_candidates: int,
    n_scenarios: int,
    tick_size: float,
    robust_quantile: float = 0.1,
) -> dict[str, np.ndarray]:
    """float64[P] per objective from flat candidate-major rows (``row = c * S + s``)."""

    def grid(name):
        return np.asarray(rows[name], np.float64).reshape(n_candidates, n_scenarios)

    out = {name: grid(name).mean(-1) for name in PER_ROW}
    out["pnl"] = out["pnl"] * tick_size
    out["fees"] = out["fees"] * tick_size
    out["robust_sharpe"] = worst_mean(grid("sharpe"), robust_quantile)
    return out


def scalarise(objs: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """``sum_k w_k objective_k`` (NaN objectives count as -inf fitness)."""
    total = sum(float(w) * np.asarray(objs[k], np.float64) for k, w in weights.items())
    return np.where(np.isfinite(total), total, -np.inf)


def pooled_moments(moments: np.ndarray) -> np.ndarray:
    """Pool per-scenario moments [..., S, 5] (n, mean, m2, m3, m4 central) into [..., 5]
    of the concatenated series (exact combination of central moments, in float64)."""
    m = np.asarray(moments, np.float64)
    n, mean = m[..., 0], m[..., 1]
    total = n.sum(-1)
    grand = (n * mean).sum(-1) / total
    d = mean - grand[..., None]
    m2 = (n * (m[..., 2] + d**2)).sum(-1) / total
    m3 = (n * (m[..., 3] + 3 * d * m[..., 2] + d**3)).sum(-1) / total
    m4 = (n * (m[..., 4] + 4 * d * m[..., 3] + 6 * d**2 * m[..., 2] + d**4)).sum(-1) / total
    return np.stack([total, grand, m2, m3, m4], -1)


def sharpe_stats(pooled: np.ndarray) -> dict[str, np.ndarray]:
    """Per-tick (not annualised) Sharpe, skewness, Pearson kurtosis and T of pooled moments."""
    n, mean, m2, m3, m4 = (pooled[..., i] for i in range(5))
    sd = np.sqrt(m2 * n / np.maximum(n - 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(sd > 0, mean / sd, 0.0)
        skew = np.where(m2 > 0, m3 / m2**1.5, 0.0)
        kurt = np.where(m2 > 0, m4 / m2**2, 3.0)
    return {"sharpe": sharpe, "skew": skew, "kurtosis": kurt, "n": n}


def pareto_front(values: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """bool[P]: the candidates no other candidate dominates (at least as good in every
    objective of ``names``, each in its better direction, and better in one)."""
    pts = np.stack([OBJECTIVES[k] * np.asarray(values[k], np.float64) for k in names], -1)
    pts = np.where(np.isfinite(pts), pts, -np.inf)
    dominated = np.zeros(len(pts), bool)
    for start in range(0, len(pts), 256):  # blocks keep the pairwise table small
        block = pts[start : start + 256]
        ge = (pts[:, None, :] >= block[None, :, :]).all(-1)
        gt = (pts[:, None, :] > block[None, :, :]).any(-1)
        dominated[start : start + 256] = (ge & gt).any(0)
    return ~dominated
