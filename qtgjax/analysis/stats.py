"""Summaries over seeds: means with Student-t confidence intervals, and the P&L league table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats


def t_quantile(n: pl.Series, level: float) -> pl.Series:
    """Two-sided Student-t critical value for ``n`` observations (NaN where n < 2)."""
    df = n.cast(pl.Float64).to_numpy() - 1.0
    with np.errstate(invalid="ignore"):
        q = np.where(df >= 1, stats.t.ppf(0.5 + level / 2, np.maximum(df, 1.0)), np.nan)
    return pl.Series(q, dtype=pl.Float64)


def with_ci(df: pl.DataFrame, level: float) -> pl.DataFrame:
    """Add ``sem``, ``ci_low`` and ``ci_high`` to a frame with ``n``, ``mean`` and ``std``."""
    out = df.with_columns((pl.col("std") / pl.col("n").cast(pl.Float64).sqrt()).alias("sem"))
    half = out["sem"] * t_quantile(out["n"], level)
    return out.with_columns(
        (pl.col("mean") - half).alias("ci_low"), (pl.col("mean") + half).alias("ci_high")
    )


def summarise(
    summary: pl.DataFrame | pl.LazyFrame,
    by: Sequence[str],
    metrics: Sequence[str],
    level: float = 0.95,
) -> pl.DataFrame:
    """Mean of each metric over the scenarios (seeds) of each combination of ``by``.

    Args:
        summary: one row per scenario (a study's summary table).
        by: swept columns to group by (empty: the whole study).
        metrics: metric columns to summarise.
        level: confidence level of the Student-t interval of the mean.

    Returns:
        Long format, one row per (group, metric): ``*by, metric, n, mean, std, sem, ci_low,
        ci_high`` (NaN and null values skipped), sorted by ``by`` then metric order.
    """
    frame = summary.lazy() if isinstance(summary, pl.DataFrame) else summary
    long = frame.select(*by, *metrics).unpivot(
        index=list(by), on=list(metrics), variable_name="metric", value_name="value"
    )
    order = pl.DataFrame({"metric": list(metrics), "_order": range(len(metrics))})
    value = pl.col("value").fill_nan(None)
    grouped = (
        long.group_by(*by, "metric")
        .agg(value.count().alias("n"), value.mean().alias("mean"), value.std().alias("std"))
        .join(order.lazy(), on="metric")
        .sort(*by, "_order")
        .drop("_order")
        .collect()
    )
    return with_ci(grouped, level)


def league_table(agents: pl.DataFrame | pl.LazyFrame, level: float = 0.95) -> pl.DataFrame:
    """P&L league table by family: mean P&L per agent (currency) over scenarios with its
    confidence interval, plus the family's other means (agents, trades, volume, fees, Sharpe,
    drawdown) where the table has them; best first.
    """
    frame = agents.lazy() if isinstance(agents, pl.DataFrame) else agents
    names = frame.collect_schema().names()
    extra = [c for c in ("trades", "volume", "fees", "sharpe", "max_drawdown") if c in names]
    table = (
        frame.group_by("family", "kind")
        .agg(
            pl.col("n_agents").mean(),
            pl.len().alias("n"),
            pl.col("pnl_per_agent").mean().alias("mean"),
            pl.col("pnl_per_agent").std().alias("std"),
            *[pl.col(c).fill_nan(None).mean() for c in extra],
        )
        .collect()
    )
    table = with_ci(table, level).rename(
        {"mean": "pnl_per_agent", "ci_low": "pnl_ci_low", "ci_high": "pnl_ci_high"}
    )
    return (
        table.sort("pnl_per_agent", descending=True)
        .with_row_index("rank", offset=1)
        .select(
            "rank",
            "family",
            "kind",
            "n_agents",
            "n",
            "pnl_per_agent",
            "pnl_ci_low",
            "pnl_ci_high",
            *extra,
        )
    )
