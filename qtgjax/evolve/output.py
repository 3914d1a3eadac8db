"""The files of a ``qtgjax-evolve`` run (all written atomically; schemas in the README).

``generations.parquet``, ``candidates.parquet``, ``evaluations.parquet``,
``leaderboard.parquet``, ``pareto.parquet``, ``scenarios.parquet``, ``summary.json``,
``config.yaml``, ``agents/*.yaml`` (agent config files for ``qtgjax-run
+agents@families.NAME=FILE``) and ``report/index.html``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from omegaconf import OmegaConf

from qtgjax.evolve.fitness import OBJECTIVES
from qtgjax.io.atomic import write_parquet, write_text

ROW_COLUMNS = ("pnl", "sharpe", "sortino", "max_drawdown", "cvar", "turnover", "fees")


def candidates_frame(setup, log, front) -> pl.DataFrame:
    """One row per candidate tried: genome values, training objectives, fitness, front."""
    values = setup.genome.values(log.x)
    cols = {
        "candidate": np.arange(len(log.x), dtype=np.int64),
        "generation": log.generation.astype(np.int64),
    }
    for g in setup.genome.genes:
        cols[f"param_{g.name}"] = [v[g.name] for v in values]
    for name in OBJECTIVES:
        cols[name] = np.asarray(log.objectives[name], np.float64)
    cols["fitness"] = np.asarray(log.fitness, np.float64)
    cols["on_pareto_front"] = np.asarray(front, bool)
    return pl.DataFrame(cols)


def rows_frame(set_name: str, rows: dict, candidates, scenarios: int, tick_size: float):
    """One row per (candidate, scenario) evaluation; P&L and fees in currency per agent."""
    n = len(rows["pnl"])
    cols = {
        "set": [set_name] * n,
        "candidate": pl.Series([c for c in candidates for _ in range(scenarios)], dtype=pl.Int64),
        "scenario": np.tile(np.arange(scenarios, dtype=np.int64), n // scenarios),
    }
    for name in ROW_COLUMNS:
        scale = tick_size if name in ("pnl", "fees") else 1.0
        cols[name] = np.asarray(rows[name], np.float64) * scale
    return pl.DataFrame(cols)


def agent_file(setup, params: dict, header: str) -> str:
    """YAML of the target family with ``params`` (resolved numbers), usable as
    ``qtgjax-run +agents@families.NAME=FILE``. The latency profile is left out: it is a
    property of the scenarios (a regime the search draws), not of the strategy, and a market
    without ``latency.max_delay`` refuses one."""
    cfg = json.loads(json.dumps(setup.family_config))
    cfg.pop("latency", None)
    cfg["params"] = {**(cfg.get("params") or {}), **params}
    lines = "".join(f"# {line}\n" for line in header.splitlines())
    return lines + yaml.safe_dump(cfg, sort_keys=False)


def write_agent_files(folder: Path, setup, board: pl.DataFrame) -> None:
    for row in board.iter_rows(named=True):
        params = {g: row[f"param_{g}"] for g in setup.genome.names}
        header = (
            f"{row['label']} for family kind {setup.family_config['kind']}, found by "
            f"qtgjax-evolve ({setup.spec.search.strategy}) in the {setup.spec.market} market.\n"
            f"In sample: Sharpe {row['is_sharpe']:.3f}, P&L {row['is_pnl']:.2f} per agent; "
            f"out of sample: Sharpe {row['oos_sharpe']:.3f} "
            f"[{row['oos_sharpe_lo']:.3f}, {row['oos_sharpe_hi']:.3f}], "
            f"P&L {row['oos_pnl']:.2f}; deflated Sharpe {row['dsr']:.3f}.\n"
            f"Use: qtgjax-run +agents@families.{row['label']}=THIS_FILE"
        )
        text = agent_file(setup, params, header)
        write_text(text, folder / row["config_file"])
        if row["rank"] == 0:
            write_text(text, folder / "agents" / "best.yaml")


def write_all(folder: Path, cfg, setup, log, board, front, summary, out_rows) -> None:
    folder = Path(folder)
    tick = setup.tick_size
    write_text(OmegaConf.to_yaml(OmegaConf.create(dict(cfg))), folder / "config.yaml")
    write_parquet(log.generations, folder / "generations.parquet")
    cands = candidates_frame(setup, log, front)
    write_parquet(cands, folder / "candidates.parquet")
    write_parquet(cands.filter(pl.col("on_pareto_front")), folder / "pareto.parquet")
    picked = board["candidate"].to_list()  # None = the default
    evals = pl.concat(
        [
            rows_frame("train", log.rows, range(len(log.x)), setup.train.size, tick),
            rows_frame("holdout", out_rows, picked, setup.holdout.size, tick),
        ]
    )
    write_parquet(evals, folder / "evaluations.parquet")
    write_parquet(
        pl.concat([setup.train.regimes, setup.holdout.regimes], how="diagonal"),
        folder / "scenarios.parquet",
    )
    write_parquet(board, folder / "leaderboard.parquet")
    write_agent_files(folder, setup, board)
    write_text(json.dumps(summary, indent=2, default=_json), folder / "summary.json")
    from qtgjax.evolve.report import write_report

    write_report(folder, setup, log.generations, cands, board, summary)


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
