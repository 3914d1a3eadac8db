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


RISK_RATIOS = ("sharpe", "sortino", "max_drawdown")


def league_table(agents: pl.DataFrame | pl.LazyFrame, level: float = 0.95) -> pl.DataFrame:
    """League table by family: the trading families ranked by mean *trading* P&L per agent
    (currency, ``pnl_trading_per_agent``) over scenarios with its confidence interval
    (``pnl_ci_low``, ``pnl_ci_high``), best first; then the market's infrastructure (the
    liquidity pool, the fee account: ``infrastructure`` in ``agents.parquet``), unranked
    (``rank`` null), listed apart. Also the family's mean total P&L per agent
    (``pnl_per_agent``: trading, holding, dividends, fees and borrow) and its other means
    (agents, trades, volume, fees, risk) where the table has them.

    Risk: with per-agent ratios (``record.agent_risk=true``) the mean, p10, p50 and p90
    over the family's agents of each agent's Sharpe, Sortino and max drawdown of trading
    P&L (``sharpe_trading_mean``...; means over scenarios of each scenario's statistic);
    without them, the Sharpe ratio and drawdown of the family's pooled wealth.

    A table without the trading split (older results) ranks by ``pnl_per_agent``.
    """
    frame = agents.lazy() if isinstance(agents, pl.DataFrame) else agents
    names = frame.collect_schema().names()
    measure = "pnl_trading_per_agent" if "pnl_trading_per_agent" in names else "pnl_per_agent"
    per_agent = [c for c in names if c.split("_trading_")[-1] in ("mean", "p10", "p50", "p90")]
    per_agent = [c for c in per_agent if c.split("_trading_")[0] in RISK_RATIOS]
    risk = per_agent or [c for c in ("sharpe", "max_drawdown") if c in names]
    extra = [c for c in ("trades", "volume", "fees") if c in names] + risk
    infra = pl.col("infrastructure").first() if "infrastructure" in names else pl.lit(False)
    total = [pl.col("pnl_per_agent").mean()] if measure != "pnl_per_agent" else []
    table = (
        frame.group_by("family", "kind")
        .agg(
            infra.alias("infrastructure"),
            pl.col("n_agents").mean(),
            pl.len().alias("n"),
            pl.col(measure).mean().alias("mean"),
            pl.col(measure).std().alias("std"),
            *total,
            *[pl.col(c).fill_nan(None).mean() for c in extra],
        )
        .collect()
    )
    table = with_ci(table, level).rename(
        {"mean": measure, "ci_low": "pnl_ci_low", "ci_high": "pnl_ci_high"}
    )
    trading = table.filter(~pl.col("infrastructure")).sort(measure, descending=True)
    trading = trading.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int64))
    infra_rows = table.filter(pl.col("infrastructure")).sort("family")
    infra_rows = infra_rows.with_columns(pl.lit(None, pl.Int64).alias("rank"))
    role = (
        pl.when(pl.col("infrastructure"))
        .then(pl.lit("infrastructure"))
        .otherwise(pl.lit("trading"))
    )
    columns = [
        "rank",
        "family",
        "kind",
        "role",
        "n_agents",
        "n",
        measure,
        "pnl_ci_low",
        "pnl_ci_high",
    ]
    columns += ["pnl_per_agent"] if total else []
    return (
        pl.concat([trading, infra_rows.select(trading.columns)])
        .with_columns(role.alias("role"))
        .select(*columns, *extra)
    )
