"""``qtgjax-evolve``: evolve a family's parameters inside the market, judge them out of sample.

    qtgjax-evolve out=results/evolve_mm
    qtgjax-evolve search.strategy=random out=results/evolve_random
    qtgjax-evolve search.strategy=differential_evolution search.population=32

Writes ``generations.parquet``, ``candidates.parquet``, ``evaluations.parquet``,
``leaderboard.parquet``, ``pareto.parquet``, ``scenarios.parquet``, ``summary.json``,
``agents/*.yaml`` and ``report/index.html`` into ``out`` (see :mod:`qtgjax.evolve`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import polars as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from qtgjax.api import CONF_DIR, to_plain
from qtgjax.cli.agent_files import hydra_args
from qtgjax.config.build import ConfigError
from qtgjax.evolve.run import EvolveResult, evolve


def report(result: EvolveResult) -> str:
    """A few lines for the terminal: the budget, the best vs the default out of sample."""
    s = result.summary
    t = s["timing"]
    best, default = s["best"], s["default"]
    verdict = "beats" if s["best_beats_default_oos"] else "does not beat"
    return "\n".join(
        [
            f"qtgjax-evolve {s['strategy']}: {s['n_trials']} candidates x "
            f"{s['train_scenarios']} scenarios x {s['ticks']} ticks in {t['search_s']:.1f} s; "
            f"held-out judgement {t['holdout_s']:.1f} s",
            f"  best {best['params']}",
            f"  Sharpe in sample {best['is_sharpe']:.3f}, out of sample {best['oos_sharpe']:.3f} "
            f"[{best['oos_sharpe_lo']:.3f}, {best['oos_sharpe_hi']:.3f}]; "
            f"default {default['is_sharpe']:.3f} / {default['oos_sharpe']:.3f}",
            f"  out of sample vs default: Sharpe {best['oos_sharpe_vs_default']:+.3f} "
            f"[{best['oos_sharpe_vs_default_lo']:+.3f}, {best['oos_sharpe_vs_default_hi']:+.3f}], "
            f"P&L per agent {best['oos_pnl_vs_default']:+.2f} "
            f"[{best['oos_pnl_vs_default_lo']:+.2f}, {best['oos_pnl_vs_default_hi']:+.2f}] "
            f"-> {verdict} the default",
            f"  deflated Sharpe {best['dsr']:.3f} ({s['n_trials']} trials); "
            f"PBO {s['pbo']:.3f} over {s['pbo_splits']} CSCV splits",
            f"results: {result.folder}",
        ]
    )


def run(cfg: DictConfig) -> EvolveResult:
    folder = Path(HydraConfig.get().runtime.output_dir)
    result = evolve(to_plain(cfg), folder)
    print(report(result))
    return result


@hydra.main(config_path=str(CONF_DIR), config_name="evolve", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ConfigError as err:
        print(f"qtgjax-evolve: bad config: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    sys.argv[1:] = hydra_args(sys.argv[1:], "qtgjax-evolve")
    _app()


def league_report(result) -> str:
    table = result.table
    last = table.filter(pl.col("round") == table["round"].max()).sort("rank")
    lines = [
        f"qtgjax-league: {table['round'].max() + 1} rounds in {result.timing['seconds']:.1f} s"
    ]
    for row in last.head(10).iter_rows(named=True):
        lines.append(
            f"  {row['rank']:>2}. {row['member']:<8} TrueSkill {row['trueskill']:7.2f} "
            f"(mu {row['trueskill_mu']:.2f}, sigma {row['trueskill_sigma']:.2f}), "
            f"Elo {row['elo']:7.1f}, mean return {row['mean_return']:.3f}"
        )
    return "\n".join(lines)


@hydra.main(config_path=str(CONF_DIR), config_name="league", version_base="1.3")
def _league_app(cfg: DictConfig) -> None:
    from qtgjax.evolve.league import league_spec, run_league

    plain = to_plain(cfg)
    plain.pop("out", None)
    try:
        result = run_league(league_spec(plain), Path(HydraConfig.get().runtime.output_dir))
    except (ConfigError, TypeError) as err:
        print(f"qtgjax-league: bad config: {err}", file=sys.stderr)
        sys.exit(2)
    print(league_report(result))


def league_main() -> None:
    sys.argv[1:] = hydra_args(sys.argv[1:], "qtgjax-league")
    _league_app()


if __name__ == "__main__":
    main()
