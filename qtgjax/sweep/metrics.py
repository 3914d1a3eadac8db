"""Headline metrics of each scenario: the columns of a study's ``summary`` table."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

ID_COLUMNS = ("scenario", "point", "replicate", "seed")
MARKET_METRICS = (
    "return_pct",
    "volatility_bp",
    "volume_per_tick",
    "trade_fraction",
    "spread_bp",
    "depth",
    "mispricing_bp",
)


def family_metric(family: str) -> str:
    """Summary column of a family's mean P&L per agent (currency)."""
    return f"pnl_{family}"


def reserved_columns(families: Sequence[str]) -> set[str]:
    """Column names of the summary table a swept value may not take (the engine's table
    columns are checked from the tables themselves)."""
    taken = set(ID_COLUMNS) | {"chunk"} | set(MARKET_METRICS)
    return taken | {family_metric(f) for f in families}


def market_metrics(ticks: pl.DataFrame) -> pl.DataFrame:
    """Per scenario, averaged over venues and symbols (one row per scenario, sorted):

    return_pct: last close over first open, minus one, percent.
    volatility_bp: standard deviation of one-tick log returns of the close, basis points.
    volume_per_tick: lots traded per tick.
    trade_fraction: share of ticks whose auction traded.
    spread_bp: residual best ask minus best bid over their mid, basis points (ticks with
        both sides quoted).
    depth: residual lots resting on both sides of the grid.
    mispricing_bp: |close - fundamental value| over the value, basis points.
    """
    spread = (pl.col("best_ask") - pl.col("best_bid")) / (pl.col("best_ask") + pl.col("best_bid"))
    per_symbol = (
        ticks.sort("scenario", "venue", "symbol", "tick")
        .group_by("scenario", "venue", "symbol", maintain_order=True)
        .agg(
            ((pl.col("close").last() / pl.col("open").first() - 1) * 100).alias("return_pct"),
            (pl.col("close").log().diff().std() * 1e4).alias("volatility_bp"),
            pl.col("volume").cast(pl.Float64).mean().alias("volume_per_tick"),
            (pl.col("volume") > 0).cast(pl.Float64).mean().alias("trade_fraction"),
            (spread.mean() * 2e4).alias("spread_bp"),
            (pl.col("bid_depth") + pl.col("ask_depth")).cast(pl.Float64).mean().alias("depth"),
            (
                ((pl.col("close") - pl.col("fundamental")).abs() / pl.col("fundamental")).mean()
                * 1e4
            ).alias("mispricing_bp"),
        )
    )
    return (
        per_symbol.group_by("scenario", maintain_order=True)
        .agg(pl.col(MARKET_METRICS).mean())
        .sort("scenario")
    )


def family_metrics(agents: pl.DataFrame, families: Sequence[str]) -> pl.DataFrame:
    """Per scenario, each family's P&L per agent in currency, as ``pnl_<family>`` columns."""
    wide = agents.pivot(on="family", index="scenario", values="pnl_per_agent").sort("scenario")
    return wide.select("scenario", *[pl.col(f).alias(family_metric(f)) for f in families])


def scenario_metrics(
    ticks: pl.DataFrame, agents: pl.DataFrame, families: Sequence[str]
) -> pl.DataFrame:
    """One row per scenario: ``scenario``, the market metrics, then ``pnl_<family>``."""
    return market_metrics(ticks).join(
        family_metrics(agents, families), on="scenario", how="left", maintain_order="left"
    )
