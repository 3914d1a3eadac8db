"""What ``qtgjax-evolve`` does, one import away: search, judge out of sample, write.

:func:`evolve` validates the config, runs the search generation by generation on the
training scenarios (a progress bar per generation), then evaluates the ``leaderboard.top``
best distinct candidates and the target's default parameters on the held-out scenarios,
and writes the tables, the agent config files and the report (see :mod:`qtgjax.evolve.output`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from qtgjax.evolve.config import evolve_spec
from qtgjax.evolve.fitness import OBJECTIVES, objectives, pareto_front, scalarise
from qtgjax.evolve.search import Searcher
from qtgjax.evolve.setup import Evaluator, Setup, prepare


@dataclass(frozen=True)
class SearchLog:
    """Everything the search evaluated.

    Attributes:
        x: float32[N, D] genomes of the N candidates tried, in order.
        generation: int64[N].
        objectives: float64[N] per objective (training scenarios).
        fitness: float64[N].
        rows: per-row metrics of every (candidate, training scenario), candidate-major.
        generations: one row per generation (``generations.parquet``).
    """

    x: np.ndarray
    generation: np.ndarray
    objectives: dict
    fitness: np.ndarray
    rows: dict
    generations: pl.DataFrame


def quantile_columns(name: str, values: np.ndarray) -> dict:
    better = OBJECTIVES[name]
    finite = values[np.isfinite(values)] if np.isfinite(values).any() else values
    q = np.quantile(finite, [0.1, 0.5, 0.9])
    return {
        f"{name}_best": float(finite.max() if better > 0 else finite.min()),
        f"{name}_mean": float(finite.mean()),
        f"{name}_q10": float(q[0]),
        f"{name}_q50": float(q[1]),
        f"{name}_q90": float(q[2]),
    }


def run_search(setup: Setup, evaluate: Evaluator, progress: bool = True) -> SearchLog:
    """G generations of ask-evaluate-tell on the training scenarios."""
    spec = setup.spec
    mean0 = (
        setup.genome.encode(setup.defaults)
        if spec.search.init == "default"
        else np.zeros(setup.genome.dim, np.float32)
    )
    searcher = Searcher(spec.search, setup.genome, mean0)
    xs, gens, objs, fits, rows, table = [], [], [], [], [], []
    best = -np.inf
    started = time.perf_counter()
    bar = tqdm(
        total=spec.search.generations,
        desc=f"qtgjax-evolve {spec.search.strategy}",
        unit="gen",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        for g in range(spec.search.generations):
            t0 = time.perf_counter()
            x = searcher.ask()
            (out,) = evaluate((x, setup.train))
            t1 = time.perf_counter()
            o = objectives(out, len(x), setup.train.size, setup.tick_size, spec.robust_quantile)
            fit = scalarise(o, spec.weights)
            searcher.tell(x, fit)
            best = max(best, float(np.max(fit)))
            xs.append(x)
            gens.append(np.full(len(x), g, np.int64))
            objs.append(o)
            fits.append(fit)
            rows.append(out)
            row = {
                "generation": g,
                "strategy": spec.search.strategy,
                "candidates": len(x),
                "evaluated": (g + 1) * len(x),
                "wall_s": time.perf_counter() - t0,
                "eval_s": t1 - t0,
                "elapsed_s": time.perf_counter() - started,
                "best_fitness": float(np.max(fit)),
                "mean_fitness": float(np.mean(fit[np.isfinite(fit)]))
                if np.isfinite(fit).any()
                else float("nan"),
                "best_so_far": best,
            }
            for name in OBJECTIVES:
                row.update(quantile_columns(name, o[name]))
            table.append(row)
            bar.set_postfix_str(
                f"best {row['best_fitness']:.3g} (so far {best:.3g})", refresh=False
            )
            bar.update(1)
    finally:
        bar.close()
    return SearchLog(
        x=np.concatenate(xs),
        generation=np.concatenate(gens),
        objectives={k: np.concatenate([o[k] for o in objs]) for k in OBJECTIVES},
        fitness=np.concatenate(fits),
        rows={k: np.concatenate([r[k] for r in rows]) for k in rows[0]},
        generations=pl.DataFrame(table),
    )


def pick_top(log: SearchLog, n_scenarios: int, top: int) -> list[int]:
    """Indices of the ``top`` fittest candidates that behave differently: candidates whose
    P&L in every training scenario equals a fitter one's (e.g. parameters that round to
    the same quotes) are left out."""
    order = np.argsort(-log.fitness, kind="stable")
    pnl = np.asarray(log.rows["pnl"]).reshape(len(log.x), n_scenarios)
    seen, picked = set(), []
    for i in order:
        key = pnl[i].tobytes()
        if key in seen or not np.isfinite(log.fitness[i]):
            continue
        seen.add(key)
        picked.append(int(i))
        if len(picked) == top:
            break
    return picked


@dataclass(frozen=True)
class EvolveResult:
    """A finished run (the files are in ``folder``)."""

    setup: Setup
    log: SearchLog
    leaderboard: pl.DataFrame
    summary: dict
    folder: Path


def evolve(cfg: Mapping, folder: str | Path, progress: bool | None = None) -> EvolveResult:
    """Validate ``cfg`` (as ``conf/evolve.yaml`` composes it), search, judge, write."""
    from qtgjax.evolve.leaderboard import judge
    from qtgjax.evolve.output import write_all

    spec = evolve_spec(cfg)
    folder = Path(folder)
    started = time.perf_counter()
    setup = prepare(spec)
    show = spec.progress if progress is None else progress
    with Evaluator(setup) as evaluate:
        log = run_search(setup, evaluate, show)
        searched = time.perf_counter()
        picked = pick_top(log, setup.train.size, spec.top)
        default_x = setup.genome.encode(setup.defaults)[None, :]
        # held-out: the picked candidates and the default, in one batch
        x_out = np.concatenate([log.x[picked], default_x])
        out_rows, in_default = evaluate((x_out, setup.holdout), (default_x, setup.train))
    front = pareto_front(log.objectives, spec.pareto)
    board, summary = judge(setup, log, picked, out_rows, in_default, front)
    summary["timing"] = {
        "search_s": searched - started,
        "holdout_s": time.perf_counter() - searched,
        "total_s": time.perf_counter() - started,
        "candidates": int(len(log.x)),
        "rows": int(evaluate.rows_done),
    }
    write_all(folder, cfg, setup, log, board, front, summary, out_rows)
    return EvolveResult(setup, log, board, summary, folder)
