"""Short human-readable summaries of a run's tables (printed by ``qtgjax-run``)."""

from __future__ import annotations

import polars as pl


def scenario_market_stats(ticks: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per (scenario, venue, symbol): start and end price, one-tick volatility of the close, volume
    and spread per tick (what :func:`market_summary` averages; a chunk's ticks at a time)."""
    by_tick = pl.col("tick")
    return (
        ticks.lazy()
        .group_by("scenario", "venue", "symbol")
        .agg(  # ordered by tick within each (scenario, venue, symbol): no sort of the whole table
            pl.col("open").sort_by(by_tick).first().alias("start"),
            pl.col("close").sort_by(by_tick).last().alias("end"),
            pl.col("close").sort_by(by_tick).log().diff().std().alias("tick_vol"),
            pl.col("volume").mean().alias("volume_per_tick"),
            (pl.col("best_ask") - pl.col("best_bid")).mean().alias("mean_spread"),
        )
        .collect()
    )


def market_summary(ticks: pl.DataFrame | pl.LazyFrame | None = None, stats=None) -> pl.DataFrame:
    """Per venue and symbol, over scenarios: start/end price, return, volatility, volume,
    spread; from the ticks table, or from :func:`scenario_market_stats` of its parts
    (``stats``, so that a run written chunk by chunk never reads its whole ticks table
    back)."""
    per_scenario = scenario_market_stats(ticks) if stats is None else stats
    return (
        per_scenario.lazy()
        .group_by("venue", "symbol")
        .agg(
            pl.len().alias("scenarios"),
            pl.col("start").mean(),
            pl.col("end").mean().alias("end_mean"),
            ((pl.col("end") / pl.col("start") - 1) * 100).mean().alias("return_pct"),
            (pl.col("tick_vol") * 1e4).mean().alias("tick_vol_bp"),
            pl.col("volume_per_tick").mean(),
            pl.col("mean_spread").mean(),
        )
        .sort("venue", "symbol")
        .collect()
    )


def family_summary(agents: pl.DataFrame, tick_size: float) -> pl.DataFrame:
    """P&L league table: per family, means over scenarios (currency); the trading families
    ranked by trading P&L per agent, best first, then the infrastructure (unranked). Risk:
    the median over the family's agents of each agent's Sharpe ratio and max drawdown of
    trading P&L where the run has them (``record.agent_risk=true``), else those of the
    family's pooled wealth."""
    per_agent = "sharpe_trading_p50" in agents.columns
    risk = (
        [pl.col("sharpe_trading_p50").mean(), pl.col("max_drawdown_trading_p50").mean()]
        if per_agent
        else [pl.col("sharpe").mean(), pl.col("max_drawdown").mean()]
    )
    table = (
        agents.group_by("family", "kind")
        .agg(
            pl.col("infrastructure").first(),
            pl.col("n_agents").first(),
            pl.col("pnl_trading_per_agent").mean(),
            (pl.col("pnl").mean() * tick_size).alias("pnl_mean"),
            pl.col("pnl_per_agent").mean().alias("pnl_per_agent"),
            *[(pl.col(c).mean() * tick_size).alias(c) for c in ("pnl_holding", "dividends")],
            pl.col("trades").mean().alias("trades"),
            pl.col("volume").mean().alias("volume_lots"),
            (pl.col("fees").mean() * tick_size).alias("fees"),
            *risk,
        )
        .sort("infrastructure", "pnl_trading_per_agent", descending=[False, True])
    )
    rank = pl.when(~pl.col("infrastructure")).then(pl.int_range(1, pl.len() + 1))
    return table.with_columns(rank.alias("rank")).select("rank", pl.exclude("rank"))


def conservation_errors(tables: dict[str, pl.DataFrame]) -> tuple[int, int]:
    """Largest |sum over families of (cash_end - cash_start - external_cash)| per scenario,
    and largest |sum of (position_end - position_start)| per (scenario, symbol). Both 0."""
    cash = (
        tables["agents"]
        .group_by("scenario")
        .agg((pl.col("cash_end") - pl.col("cash_start") - pl.col("external_cash")).sum().abs())
    )
    shares = (
        tables["positions"]
        .group_by("scenario", "symbol")
        .agg((pl.col("position_end") - pl.col("position_start")).sum().abs())
    )
    return int(cash[:, 1].max()), int(shares[:, 2].max())
