"""The report's latency page: realised order delay per family x venue (heatmap), delay
over time, and the delivered / late / dropped counts, from ``latency.parquet``."""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure


def latency_totals(latency: pl.LazyFrame) -> pl.DataFrame:
    """Per (family, venue), over scenarios and ticks: messages delivered, late, dropped,
    and the mean realised delay of the delivered ones (ticks)."""
    return (
        latency.group_by("family", "venue")
        .agg(pl.col("delivered", "late", "dropped", "delay_sum").sum())
        .with_columns(
            (pl.col("delay_sum") / pl.col("delivered").replace(0, None)).alias("mean_delay")
        )
        .drop("delay_sum")
        .sort("family", "venue")
        .collect()
    )


def delay_heatmap(totals: pl.DataFrame) -> Figure:
    """Mean realised delay (ticks) per family (rows) x venue (columns)."""
    families = sorted(totals["family"].unique().to_list())
    venues = sorted(totals["venue"].unique().to_list())
    grid = np.full((len(families), len(venues)), np.nan)
    for row in totals.iter_rows(named=True):
        if row["mean_delay"] is not None:
            grid[families.index(row["family"]), venues.index(row["venue"])] = row["mean_delay"]
    fig = Figure(figsize=(1.2 * len(venues) + 3, 0.5 * len(families) + 1.5))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(venues)), [str(v) for v in venues])
    ax.set_yticks(range(len(families)), families)
    ax.set_xlabel("venue")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
    fig.colorbar(image, ax=ax, label="mean order delay, ticks")
    return fig


def delay_over_time(latency: pl.LazyFrame) -> Figure:
    """Mean realised delay per tick of each family, over scenarios and venues."""
    per_tick = (
        latency.group_by("family", "tick")
        .agg(pl.col("delay_sum", "delivered").sum())
        .filter(pl.col("delivered") > 0)
        .with_columns((pl.col("delay_sum") / pl.col("delivered")).alias("delay"))
        .sort("family", "tick")
        .collect()
    )
    fig = Figure(figsize=(9, 3.5))
    ax = fig.add_subplot()
    for (family,), part in per_tick.group_by("family", maintain_order=True):
        ax.plot(part["tick"], part["delay"], lw=0.8, label=family)
    ax.set_xlabel("tick")
    ax.set_ylabel("mean order delay, ticks")
    ax.legend(fontsize=7, ncol=3)
    return fig
