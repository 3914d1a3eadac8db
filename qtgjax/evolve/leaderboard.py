"""Judging the search: in-sample vs out-of-sample, deflated Sharpe, PBO.

Every leaderboard row is one of the ``top`` fittest distinct candidates (or ``default``,
the target family's own parameters in this market), with:

* ``is_*``: its objectives on the training scenarios (the ones the search saw), and
  ``oos_*`` on the held-out scenarios (other seeds, possibly other regimes); ``*_lo`` /
  ``*_hi`` are 95% Student-t intervals of the mean over scenarios;
* ``oos_*_vs_default``: the paired difference to the default on the same held-out
  scenarios (same keys: common random numbers), with its 95% t interval;
* ``dsr``: the deflated Sharpe ratio (``qtgjax.risk.deflated_sharpe``) of its in-sample
  per-tick Sharpe (pooled over the training scenarios' ticks), deflated for the number of
  candidates the search tried and the variance of their Sharpe ratios; ``psr_oos``: the
  probabilistic Sharpe ratio against 0 of its held-out per-tick returns;
* ``pbo``: the probability of backtest overfitting of the whole search (CSCV over the
  per-block P&L of every candidate tried on the training scenarios; one value per run).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import stats

from qtgjax.evolve.fitness import objectives, pooled_moments, scalarise, sharpe_stats
from qtgjax.risk import deflated_sharpe, pbo_cscv, probabilistic_sharpe

CI_METRICS = ("sharpe", "pnl", "max_drawdown", "turnover")


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval over the last axis (NaN interval for one value)."""
    v = np.asarray(values, np.float64)
    n = v.size
    mean = float(v.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def _grid(rows: dict, name: str, n_cand: int, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rows[name], np.float64).reshape(n_cand, -1) * scale


def _ci_columns(prefix: str, rows: dict, n_cand: int, tick_size: float) -> list[dict]:
    out = [{} for _ in range(n_cand)]
    for name in CI_METRICS:
        grid = _grid(rows, name, n_cand, tick_size if name == "pnl" else 1.0)
        for c in range(n_cand):
            m, lo, hi = mean_ci(grid[c])
            out[c] |= {f"{prefix}_{name}": m, f"{prefix}_{name}_lo": lo, f"{prefix}_{name}_hi": hi}
    return out


def select_rows(values: np.ndarray, n_scenarios: int, candidates) -> np.ndarray:
    """The candidate-major rows [N * S, ...] of some candidates, still candidate-major."""
    v = np.asarray(values)
    grid = v.reshape(-1, n_scenarios, *v.shape[1:])[np.asarray(candidates, np.int64)]
    return grid.reshape(-1, *v.shape[1:])


def search_pbo(log, n_scenarios: int, partitions: int):
    """PBO of the search: rows = (training scenario, block) P&L, columns = candidates."""
    blocks = np.asarray(log.rows["blocks"], np.float64)  # (N * S, n_blocks)
    n = len(log.x)
    matrix = blocks.reshape(n, n_scenarios * blocks.shape[-1]).T  # (S * n_blocks, N)
    return pbo_cscv(matrix, partitions, "sharpe") if n >= 2 else None


def judge(setup, log, picked, out_rows, in_default, front) -> tuple[pl.DataFrame, dict]:
    """The leaderboard and the run summary."""
    spec = setup.spec
    tick = setup.tick_size
    genome = setup.genome
    s_train, s_out = setup.train.size, setup.holdout.size
    k = len(picked)
    n_cand = k + 1  # picked, then the default
    # in-sample rows: the picked candidates' from the search, the default's own evaluation
    in_rows = {
        name: np.concatenate([select_rows(v, s_train, picked), np.asarray(in_default[name])])
        for name, v in log.rows.items()
    }
    q = spec.robust_quantile
    is_obj = objectives(in_rows, n_cand, s_train, tick, q)
    oos_obj = objectives(out_rows, n_cand, s_out, tick, q)
    is_fit, oos_fit = scalarise(is_obj, spec.weights), scalarise(oos_obj, spec.weights)
    is_ci = _ci_columns("is", in_rows, n_cand, tick)
    oos_ci = _ci_columns("oos", out_rows, n_cand, tick)
    # deflated Sharpe: pooled per-tick Sharpe of every candidate tried, and of the picked
    all_pooled = pooled_moments(np.asarray(log.rows["moments"]).reshape(len(log.x), s_train, 5))
    all_sr = sharpe_stats(all_pooled)["sharpe"]
    n_trials = len(log.x)
    sr_var = float(np.var(all_sr, ddof=1)) if n_trials > 1 else 0.0
    is_stats = sharpe_stats(
        pooled_moments(np.asarray(in_rows["moments"]).reshape(n_cand, s_train, 5))
    )
    oos_stats = sharpe_stats(
        pooled_moments(np.asarray(out_rows["moments"]).reshape(n_cand, s_out, 5))
    )
    dsr = np.asarray(
        deflated_sharpe(
            is_stats["sharpe"],
            is_stats["n"],
            n_trials,
            sr_var,
            is_stats["skew"],
            is_stats["kurtosis"],
        ),
        np.float64,
    )
    psr = np.asarray(
        probabilistic_sharpe(
            oos_stats["sharpe"], 0.0, oos_stats["n"], oos_stats["skew"], oos_stats["kurtosis"]
        ),
        np.float64,
    )
    pbo = search_pbo(log, s_train, spec.pbo_partitions)
    values = genome.values(np.concatenate([log.x[picked], genome.encode(setup.defaults)[None]]))
    default_values = {g: setup.defaults[g] for g in genome.names}
    rows = []
    for c in range(n_cand):
        is_default = c == k
        diff = {}
        for name in ("sharpe", "pnl"):
            scale = tick if name == "pnl" else 1.0
            grid = _grid(out_rows, name, n_cand, scale)
            m, lo, hi = mean_ci(grid[c] - grid[k])
            diff |= {
                f"oos_{name}_vs_default": m,
                f"oos_{name}_vs_default_lo": lo,
                f"oos_{name}_vs_default_hi": hi,
            }
        row = {
            "rank": None if is_default else c,
            "label": "default" if is_default else f"evolved_{c}",
            "candidate": None if is_default else picked[c],
            "generation": None if is_default else int(log.generation[picked[c]]),
            **{
                f"param_{g}": (default_values if is_default else values[c])[g] for g in genome.names
            },
            "is_fitness": float(is_fit[c]),
            "oos_fitness": float(oos_fit[c]),
            "is_robust_sharpe": float(is_obj["robust_sharpe"][c]),
            "oos_robust_sharpe": float(oos_obj["robust_sharpe"][c]),
            **is_ci[c],
            **oos_ci[c],
            **diff,
            "is_sharpe_per_tick": float(is_stats["sharpe"][c]),
            "oos_sharpe_per_tick": float(oos_stats["sharpe"][c]),
            "dsr": float(dsr[c]),
            "psr_oos": float(psr[c]),
            "n_trials": n_trials,
            "pbo": float("nan") if pbo is None else pbo.pbo,
            "on_pareto_front": bool(front[picked[c]]) if not is_default else None,
            "config_file": "agents/default.yaml" if is_default else f"agents/evolved_{c}.yaml",
        }
        rows.append(row)
    board = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("rank", "candidate", "generation").cast(pl.Int64),
        pl.col("on_pareto_front").cast(pl.Boolean),
    )
    best = rows[0]
    summary = {
        "market": spec.market,
        "target": setup.family_config["kind"],
        "strategy": spec.search.strategy,
        "population": spec.search.population,
        "generations": spec.search.generations,
        "train_scenarios": s_train,
        "holdout_scenarios": s_out,
        "ticks": setup.problem.n_ticks,
        "n_trials": n_trials,
        "pbo": None if pbo is None else pbo.pbo,
        "pbo_splits": None if pbo is None else pbo.n_splits,
        "sharpe_variance_per_tick": sr_var,
        "best": {key: best[key] for key in best if not key.startswith("param_")}
        | {"params": values[0]},
        "default": {"params": default_values}
        | {key: rows[k][key] for key in rows[k] if key.startswith(("is_", "oos_"))},
        "best_beats_default_oos": bool(best["oos_sharpe_vs_default_lo"] > 0),
        "best_beats_default_oos_pnl": bool(best["oos_pnl_vs_default_lo"] > 0),
    }
    return board, summary
