"""The report's latency page: realised order delay per family x venue (heatmap), delay
over time, and the delivered / late / dropped counts, from ``latency.parquet``; for a
study with a cross-venue arbitrage family (``sweeps/latency_arbitrage.yaml``), the
arbitrageur's and the others' P&L, spread and volume per point of the study, with
bootstrap intervals over seeds (:func:`arbitrage_table`, :func:`arbitrage_figure`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from scipy.stats import bootstrap

ARBITRAGE_KIND = "venue_arbitrage"  # the family kind whose P&L the study is about
ARBITRAGE_METRICS = {
    "pnl_arbitrage": "arbitrageur P&L per agent",
    "pnl_others": "others' P&L per agent",
    "spread_bp": "spread, bp",
    "volume_per_tick": "volume per tick, lots",
}
RESAMPLES = 2000


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


def bootstrap_ci(values, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the finite ``values`` and its percentile bootstrap
    interval (``scipy.stats.bootstrap``, :data:`RESAMPLES` resamples, fixed seed); the
    mean three times where fewer than two values or all equal (no spread to resample)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size < 2 or np.all(values == values[0]):
        mean = float(values.mean()) if values.size else float("nan")
        return mean, mean, mean
    res = bootstrap(
        (values,),
        np.mean,
        n_resamples=RESAMPLES,
        confidence_level=level,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    interval = res.confidence_interval
    return float(values.mean()), float(interval.low), float(interval.high)


def arbitrage_roles(agents: pl.LazyFrame) -> tuple[list[str], list[str]]:
    """(arbitrage families, the other trading families) from ``agents.parquet``: the
    families of kind :data:`ARBITRAGE_KIND`, and every other family that is not market
    infrastructure (the pool, the fee account)."""
    names = agents.collect_schema().names()
    infra = pl.col("infrastructure") if "infrastructure" in names else pl.lit(False)
    kinds = (
        agents.select("family", "kind", infra.alias("infrastructure"))
        .unique(maintain_order=True)
        .collect()
    )
    arb = kinds.filter(pl.col("kind") == ARBITRAGE_KIND)["family"].to_list()
    others = kinds.filter((pl.col("kind") != ARBITRAGE_KIND) & ~pl.col("infrastructure"))
    return arb, others["family"].to_list()


def arbitrage_table(
    summary: pl.DataFrame, agents: pl.LazyFrame, by: Sequence[str], level: float = 0.95
) -> pl.DataFrame | None:
    """The latency-arbitrage study per point (one row per combination of ``by``, the
    swept columns): ``seeds`` and, for each of :data:`ARBITRAGE_METRICS`, the mean over
    seeds with its bootstrap interval (``M``, ``M_lo``, ``M_hi``). ``pnl_arbitrage`` is
    the arbitrage families' P&L per agent (currency; their mean where several),
    ``pnl_others`` the mean of the other trading families' P&L per agent; ``spread_bp``
    and ``volume_per_tick`` are the summary's. None where the study has no arbitrage
    family (or no other trading family, or nothing swept)."""
    arb, others = arbitrage_roles(agents)
    if not arb or not others or not by:
        return None
    per_scenario = summary.select(
        *by,
        pl.mean_horizontal(*[f"pnl_{f}" for f in arb]).alias("pnl_arbitrage"),
        pl.mean_horizontal(*[f"pnl_{f}" for f in others]).alias("pnl_others"),
        "spread_bp",
        "volume_per_tick",
    )
    rows = []
    for key, part in per_scenario.group_by(*by, maintain_order=True):
        row = dict(zip(by, key, strict=True)) | {"seeds": part.height}
        for m in ARBITRAGE_METRICS:
            mean, lo, hi = bootstrap_ci(part[m].to_numpy(), level)
            row |= {m: mean, f"{m}_lo": lo, f"{m}_hi": hi}
        rows.append(row)
    return pl.DataFrame(rows).sort(*reversed(by))


def arbitrage_figure(df: pl.DataFrame, x: str, hue: str | None = None) -> Figure:
    """One panel per metric of :data:`ARBITRAGE_METRICS` against ``x`` (the latency
    advantage), one line per value of ``hue`` (the batch interval), bootstrap intervals
    as error bars."""
    fig = Figure(figsize=(12, 3.2))
    groups = df.group_by(hue, maintain_order=True) if hue else [((None,), df)]
    groups = [(k, part.sort(x)) for (k,), part in groups]
    for i, (m, label) in enumerate(ARBITRAGE_METRICS.items()):
        ax = fig.add_subplot(1, len(ARBITRAGE_METRICS), i + 1)
        for k, part in groups:
            ax.errorbar(
                part[x],
                part[m],
                yerr=[part[m] - part[f"{m}_lo"], part[f"{m}_hi"] - part[m]],
                capsize=2,
                lw=1,
                label=f"{hue} {k}" if hue else None,
            )
        ax.set_xlabel(x)
        ax.set_title(label, fontsize=9)
    if hue:
        fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
