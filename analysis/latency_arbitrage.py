"""Table and figure of the latency-arbitrage study (sweeps/latency_arbitrage.yaml).

    python analysis/latency_arbitrage.py results/sweeps/latency_arbitrage [OUT_DIR]

Per (advantage, batch_interval) point: mean over seeds, with a 95% percentile bootstrap
interval (scipy.stats.bootstrap, 2,000 resamples), of the arbitrageur's P&L per agent, the
other families' P&L per agent (all non-arbitrage trading families together), the spread
and the volume per tick. Writes latency_arbitrage.csv and latency_arbitrage.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from scipy.stats import bootstrap

from qtgjax.analysis.load import open_study

METRICS = {
    "pnl_arbitrage": "arbitrageur P&L per agent",
    "pnl_others": "others' P&L per agent",
    "spread_bp": "spread, bp",
    "volume_per_tick": "volume per tick, lots",
}
OTHERS = ("pnl_noise", "pnl_fundamental", "pnl_market_maker")


def ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size < 2 or np.all(values == values[0]):
        m = float(values.mean()) if values.size else float("nan")
        return m, m, m
    res = bootstrap(
        (values,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(values.mean()), res.confidence_interval.low, res.confidence_interval.high


def table(root: str) -> pl.DataFrame:
    summary = open_study(root).summary()
    summary = summary.with_columns(pl.mean_horizontal(*OTHERS).alias("pnl_others"))
    rows = []
    for (adv, k), part in summary.group_by("advantage", "batch_interval"):
        row = {"advantage": adv, "batch_interval": k, "seeds": part.height}
        for m in METRICS:
            mean, lo, hi = ci(part[m].to_numpy().astype(float))
            row |= {m: mean, f"{m}_lo": lo, f"{m}_hi": hi}
        rows.append(row)
    return pl.DataFrame(rows).sort("batch_interval", "advantage")


def figure(df: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(12, 3.2))
    for i, (m, label) in enumerate(METRICS.items()):
        ax = fig.add_subplot(1, len(METRICS), i + 1)
        for (k,), part in df.group_by("batch_interval", maintain_order=True):
            ax.errorbar(
                part["advantage"],
                part[m],
                yerr=[part[m] - part[f"{m}_lo"], part[f"{m}_hi"] - part[m]],
                capsize=2,
                lw=1,
                label=f"interval {k}",
            )
        ax.set_xlabel("arbitrageur latency advantage, ticks")
        ax.set_title(label, fontsize=9)
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    root = sys.argv[1]
    out = Path(sys.argv[2] if len(sys.argv) > 2 else root)
    df = table(root)
    df.write_csv(out / "latency_arbitrage.csv")
    figure(df).savefig(out / "latency_arbitrage.png", dpi=110)
    with pl.Config(tbl_rows=40, tbl_cols=20, float_precision=2):
        print(df.select("batch_interval", "advantage", *METRICS))
