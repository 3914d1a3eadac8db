"""Figures of a run or a study. Each returns a matplotlib ``Figure`` (no pyplot, no display:
``fig.savefig(path)`` renders it with the Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import polars as pl
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

MAX_SYMBOLS = 4


def label_of(row: dict, swept: Sequence[str]) -> str:
    """A short legend label such as ``half_spread=2, news_rate=0.01 (seed 0)``."""
    parts = [f"{k}={row[k]:g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in swept]
    seed = f"replicate {row['replicate']}" if "replicate" in row else f"scenario {row['scenario']}"
    return ", ".join(parts) + (f" ({seed})" if parts else seed)


def pick_scenarios(
    ticks: pl.LazyFrame, swept: Sequence[str], n: int, one_per_point: bool = True
) -> pl.DataFrame:
    """Up to ``n`` scenarios spread evenly over the study, with their swept values; for a
    sweep with ``one_per_point``, one replicate (the lowest) of each point."""
    cols = ["scenario", *(["replicate"] if swept else []), *swept]
    scen = ticks.select(cols).unique().sort("scenario").collect()
    if swept and one_per_point:
        scen = scen.filter(pl.col("replicate") == scen["replicate"].min())
    idx = np.unique(np.linspace(0, scen.height - 1, min(n, scen.height)).round().astype(int))
    return scen[idx]


def price_paths(ticks: pl.LazyFrame, swept: Sequence[str] = (), n: int = 8) -> Figure:
    """Close (solid) and fundamental value (dashed) over ticks, one panel per symbol."""
    chosen = pick_scenarios(ticks, swept, n)
    data = (
        ticks.filter(pl.col("scenario").is_in(chosen["scenario"].implode()))
        .filter(pl.col("symbol") < MAX_SYMBOLS)
        .select("scenario", "symbol", "tick", "close", "fundamental")
        .sort("scenario", "symbol", "tick")
        .collect()
    )
    symbols = sorted(data["symbol"].unique())
    fig = Figure(figsize=(10, 3.2 * len(symbols)))
    axes = fig.subplots(len(symbols), 1, squeeze=False)
    colours = matplotlib.colormaps["tab10"]
    for ax, sym in zip(axes[:, 0], symbols, strict=True):
        for i, row in enumerate(chosen.iter_rows(named=True)):
            one = data.filter((pl.col("scenario") == row["scenario"]) & (pl.col("symbol") == sym))
            colour = colours(i % 10)
            ax.plot(one["tick"], one["close"], color=colour, lw=1.0, label=label_of(row, swept))
            ax.plot(one["tick"], one["fundamental"], color=colour, lw=0.8, ls="--", alpha=0.7)
        ax.set_title(f"symbol {sym}: close (solid) and fundamental value (dashed)")
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("tick")
    axes[-1, 0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    fig.tight_layout()
    return fig


def depth_heatmap(
    ticks: pl.LazyFrame, swept: Sequence[str] = (), symbol: int = 0, n: int = 48
) -> Figure:
    """Resting bid depth, ask depth (lots) and their imbalance over time for one symbol,
    one row per scenario (ordered by the swept values), ticks binned to at most 150 columns.
    """
    chosen = pick_scenarios(ticks, swept, n, one_per_point=False).sort([*swept, "scenario"])
    data = (
        ticks.filter(pl.col("scenario").is_in(chosen["scenario"].implode()))
        .filter(pl.col("symbol") == symbol)
        .select("scenario", "tick", "bid_depth", "ask_depth")
        .collect()
    )
    n_ticks = int(data["tick"].max()) + 1
    width = max(1, -(-n_ticks // 150))
    binned = (
        data.with_columns((pl.col("tick") // width).alias("bin"))
        .group_by("scenario", "bin")
        .agg(
            pl.col("bid_depth").cast(pl.Float64).mean(), pl.col("ask_depth").cast(pl.Float64).mean()
        )
        .with_columns(
            (
                (pl.col("bid_depth") - pl.col("ask_depth"))
                / (pl.col("bid_depth") + pl.col("ask_depth"))
            )
            .fill_nan(None)
            .alias("imbalance")
        )
    )
    order = {s: i for i, s in enumerate(chosen["scenario"])}
    n_bins = -(-n_ticks // width)
    sides = ("bid_depth", "ask_depth", "imbalance")
    grids = {side: np.full((len(order), n_bins), np.nan) for side in sides}
    rows = np.array([order[s] for s in binned["scenario"]])
    cols = binned["bin"].to_numpy()
    for side, grid in grids.items():
        grid[rows, cols] = binned[side].fill_null(np.nan).to_numpy()
    depth = np.concatenate([grids["bid_depth"].ravel(), grids["ask_depth"].ravel()])
    positive = depth[np.isfinite(depth) & (depth > 0)]
    norm = LogNorm(vmin=max(positive.min(), 1.0), vmax=positive.max()) if positive.size else None
    fig = Figure(figsize=(15, 0.14 * len(order) + 2.5))
    axes = fig.subplots(1, 3, sharey=True)
    extent = (0, n_ticks, len(order), 0)
    for ax, side in zip(axes[:2], sides[:2], strict=True):
        grid = grids[side]
        image = ax.imshow(
            np.where(grid > 0, grid, np.nan),
            aspect="auto",
            cmap="viridis",
            norm=norm,
            extent=extent,
            interpolation="nearest",
        )
        ax.set_title(f"{side.replace('_', ' ')} (lots), symbol {symbol}")
    fig.colorbar(image, ax=axes[1], label="resting lots (log scale)")
    tilt = axes[2].imshow(
        grids["imbalance"],
        aspect="auto",
        cmap="RdBu",
        vmin=-1,
        vmax=1,
        extent=extent,
        interpolation="nearest",
    )
    axes[2].set_title("imbalance (bid - ask) / (bid + ask)")
    fig.colorbar(tilt, ax=axes[2])
    for ax in axes:
        ax.set_xlabel("tick")
    labels = [label_of(r, swept) for r in chosen.iter_rows(named=True)]
    step = max(1, len(labels) // 24)
    axes[0].set_yticks(np.arange(0, len(labels), step) + 0.5)
    axes[0].set_yticklabels(labels[::step], fontsize=6)
    return fig


def depth_levels(
    depth: pl.LazyFrame, ticks: pl.LazyFrame, tick_size: float, scenario: int | None = None
) -> Figure:
    """Resting lots per price level over time (``depth.parquet``, ``record.depth=K``), one
    panel per symbol of one scenario (the first by default) on the first venue: bids in
    blues, asks in reds (log colour scales), clearing prices as a black line."""
    from qtgjax.analysis.depth import depth_heatmap

    if scenario is None:
        scenario = depth.select(pl.col("scenario").min()).collect().item()
    first_venue = pl.col("venue") == 0  # one venue's book (venue 0 of several)
    rows = depth.filter((pl.col("scenario") == scenario) & first_venue).collect()
    prices = (
        ticks.filter((pl.col("scenario") == scenario) & first_venue)
        .select("symbol", "tick", "vwap")
        .sort("symbol", "tick")
        .collect()
    )
    symbols = sorted(rows["symbol"].unique())[:MAX_SYMBOLS]
    fig = Figure(figsize=(12, 3.6 * len(symbols)))
    axes = fig.subplots(len(symbols), 1, squeeze=False)[:, 0]
    for ax, sym in zip(axes, symbols, strict=True):
        heat = depth_heatmap(rows.filter(pl.col("symbol") == sym), tick_size)
        n_prices, n_cols = heat.bids.shape
        extent = (
            heat.tick0,
            heat.tick0 + n_cols * heat.width,
            heat.price0 - tick_size / 2,
            heat.price0 + (n_prices - 0.5) * tick_size,
        )
        top = max(float(max(heat.bids.max(), heat.asks.max())), 2.0)
        for image, cmap, label in ((heat.bids, "Blues", "bid"), (heat.asks, "Reds", "ask")):
            shown = ax.imshow(
                np.where(image > 0, image, np.nan),
                origin="lower",
                aspect="auto",
                extent=extent,
                cmap=cmap,
                norm=LogNorm(vmin=1.0, vmax=top),
                interpolation="nearest",
            )
            fig.colorbar(shown, ax=ax, pad=0.01, label=f"{label} lots (log)")
        clear = prices.filter(pl.col("symbol") == sym)
        ax.plot(
            clear["tick"],
            clear["vwap"].fill_null(np.nan),
            color="black",
            lw=0.6,
            label="clearing price",
        )
        levels = int(rows["level"].max())
        ax.set_title(
            f"symbol {sym}, scenario {scenario}: top {levels} levels per side of the book "
            "after each recorded auction"
        )
        ax.set_ylabel("price")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("tick")
    fig.tight_layout()
    return fig


def volume_spread(ticks: pl.LazyFrame, hue: str | None = None, window: int = 10) -> Figure:
    """Volume per tick and quoted spread (bp) over time: mean over scenarios (line) and the
    10-90% range across scenarios (band), one colour per value of ``hue``."""
    spread = (pl.col("best_ask") - pl.col("best_bid")) / (pl.col("best_ask") + pl.col("best_bid"))
    keys = [hue] if hue else []
    per_tick = (
        ticks.with_columns((spread * 2e4).alias("spread_bp"))
        .group_by("scenario", *keys, "tick")
        .agg(pl.col("volume").cast(pl.Float64).mean(), pl.col("spread_bp").mean())
        .sort("scenario", "tick")
        .with_columns(
            pl.col(c).rolling_mean(window, min_samples=1).over("scenario")
            for c in ("volume", "spread_bp")
        )
        .group_by(*keys, "tick")
        .agg(
            *[
                agg
                for c in ("volume", "spread_bp")
                for agg in (
                    pl.col(c).mean().alias(f"{c}_mean"),
                    pl.col(c).quantile(0.1).alias(f"{c}_lo"),
                    pl.col(c).quantile(0.9).alias(f"{c}_hi"),
                )
            ]
        )
        .sort(*keys, "tick")
        .collect()
    )
    fig = Figure(figsize=(10, 6.5))
    axes = fig.subplots(2, 1, sharex=True)
    groups = per_tick.partition_by(hue, maintain_order=True) if hue else [per_tick]
    colours = matplotlib.colormaps["viridis"].resampled(max(len(groups), 2))
    for i, part in enumerate(groups):
        label = f"{hue}={part[hue][0]}" if hue else "mean over scenarios"
        colour = colours(i) if hue else "tab:blue"
        for ax, c in zip(axes, ("volume", "spread_bp"), strict=True):
            ax.plot(part["tick"], part[f"{c}_mean"], color=colour, lw=1.2, label=label)
            ax.fill_between(
                part["tick"], part[f"{c}_lo"], part[f"{c}_hi"], color=colour, alpha=0.15, lw=0
            )
    axes[0].set_ylabel(f"lots per tick ({window}-tick mean)")
    axes[0].set_title("traded volume (line: mean over scenarios, band: 10-90% of scenarios)")
    axes[1].set_ylabel("quoted spread, bp")
    axes[1].set_title("residual best ask - best bid after each auction")
    axes[1].set_xlabel("tick")
    axes[0].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def league_chart(league: pl.DataFrame) -> Figure:
    """Mean trading P&L per agent of the trading families with its confidence interval
    (the league table's ranked rows; the infrastructure is left out)."""
    measure = next(c for c in ("pnl_trading_per_agent", "pnl_per_agent") if c in league.columns)
    if "role" in league.columns:
        league = league.filter(pl.col("role") == "trading")
    table = league.sort(measure)
    fig = Figure(figsize=(8, 0.45 * table.height + 1.5))
    ax = fig.subplots()
    y = np.arange(table.height)
    mean = table[measure].to_numpy()
    low = table["pnl_ci_low"].fill_null(np.nan).to_numpy()
    high = table["pnl_ci_high"].fill_null(np.nan).to_numpy()
    err = np.vstack([np.nan_to_num(mean - low), np.nan_to_num(high - mean)])
    colours = ["tab:green" if m >= 0 else "tab:red" for m in mean]
    ax.barh(y, mean, xerr=err, color=colours, alpha=0.8, capsize=3)
    ax.set_yticks(y, [f"{f} ({k})" for f, k in zip(table["family"], table["kind"], strict=True)])
    ax.axvline(0, color="black", lw=0.8)
    sizes = np.abs(mean[np.isfinite(mean) & (mean != 0)])
    if sizes.size and sizes.max() > 100 * sizes.min():  # one family dwarfs the others
        ax.set_xscale("symlog", linthresh=10 ** np.floor(np.log10(sizes.min())))
    what = "trading P&L" if measure == "pnl_trading_per_agent" else "P&L"
    ax.set_xlabel(f"{what} per agent (currency), mean over scenarios with 95% CI")
    ax.set_title(f"{what} league table of the trading families")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def metric_vs_parameter(
    stats: pl.DataFrame, x: str, metrics: Sequence[str], hue: str | None = None
) -> Figure:
    """Each metric's mean over seeds against one swept value, with its confidence band; one
    line per value of ``hue`` (the other swept values averaged over). ``stats`` comes from
    :func:`qtgjax.analysis.stats.summarise` grouped by ``[x]`` or ``[x, hue]``."""
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig = Figure(figsize=(4.6 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    hues = stats[hue].unique(maintain_order=True).sort().to_list() if hue else [None]
    colours = matplotlib.colormaps["viridis"].resampled(max(len(hues), 2))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        part = stats.filter(pl.col("metric") == metric)
        for i, h in enumerate(hues):
            line = (part.filter(pl.col(hue) == h) if hue else part).sort(x)
            label = f"{hue}={h}" if hue else None
            colour = colours(i) if hue else "tab:blue"
            ax.plot(line[x], line["mean"], marker="o", ms=3, color=colour, label=label)
            ax.fill_between(
                line[x],
                line["ci_low"].fill_null(np.nan),
                line["ci_high"].fill_null(np.nan),
                color=colour,
                alpha=0.18,
                lw=0,
            )
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    if hue:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"metrics against {x} (mean over seeds, 95% CI)", fontsize=11)
    fig.tight_layout()
    return fig
