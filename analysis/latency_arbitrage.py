"""Table and figure of the latency-arbitrage study (sweeps/latency_arbitrage.yaml).

    python analysis/latency_arbitrage.py results/sweeps/latency_arbitrage [OUT_DIR]

Per (advantage, batch_interval) point: mean over seeds, with a 95% percentile bootstrap
interval (scipy.stats.bootstrap, 2,000 resamples), of the arbitrageur's P&L per agent, the
other families' P&L per agent (all non-arbitrage trading families together), the spread
and the volume per tick. Writes latency_arbitrage.csv and latency_arbitrage.png. The same
table and figure are on the latency page of ``qtgjax-report`` (qtgjax.analysis.latency).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from qtgjax.analysis.latency import ARBITRAGE_METRICS, arbitrage_figure, arbitrage_table
from qtgjax.analysis.load import open_study

AXES = ("advantage", "batch_interval")


def table(root: str) -> pl.DataFrame:
    study = open_study(root)
    df = arbitrage_table(study.summary(), study.scan("agents"), AXES)
    if df is None:
        raise SystemExit(f"{root}: no venue_arbitrage family in this study")
    return df


if __name__ == "__main__":
    root = sys.argv[1]
    out = Path(sys.argv[2] if len(sys.argv) > 2 else root)
    df = table(root)
    df.write_csv(out / "latency_arbitrage.csv")
    arbitrage_figure(df, *AXES).savefig(out / "latency_arbitrage.png", dpi=110)
    with pl.Config(tbl_rows=40, tbl_cols=20, float_precision=2):
        print(df.select("batch_interval", "advantage", *ARBITRAGE_METRICS))
