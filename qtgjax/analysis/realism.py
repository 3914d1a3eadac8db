"""The realism page of ``qtgjax-report``: a run's stylized facts next to real data.

``write_realism(ticks, folder)`` writes ``folder/realism/index.html`` with PNG figures
(return distributions at several horizons, ACF of returns and absolute returns and the
leverage correlation with confidence bands, kurtosis by horizon, the impact curve, spread
and depth distributions), the checklist of :mod:`qtgjax.analysis.checks` for the run and for
each real source, and the tables of facts and distances
(:mod:`qtgjax.analysis.stylized_facts`). Real data come from
:mod:`qtgjax.analysis.real_data`; a source whose package is missing is named on the page
and left out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from qtgjax.analysis import real_data
from qtgjax.analysis import stylized_facts as sf
from qtgjax.analysis.checks import check_facts
from qtgjax.analysis.figures import pick_scenarios

REAL_SOURCES = {
    "sp500": ("S&P 500, daily, 1999-2018 (arch)", real_data.sp500_ticks),
    "btc": ("BTC/USD, 1-second bars, Bitstamp (ob-analytics)", real_data.btc_ticks),
}
COLUMNS = ("scenario", "symbol", "tick", "close", "volume", *sf.COLUMNS[2:])
PLOT_HORIZONS = (1, 5, 20)
TABLE_LAGS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
MAX_SCENARIOS = 64


def load_sources(ticks: pl.LazyFrame | pl.DataFrame, real: Sequence[str], max_scenarios: int):
    """``({name: ticks-like frame}, notes)``: the run (``sim``, at most ``max_scenarios``
    scenarios spread over the study) and each real source that could be loaded."""
    lazy = ticks.lazy()
    chosen = pick_scenarios(lazy, (), max_scenarios, one_per_point=False)["scenario"]
    names = lazy.collect_schema().names()
    frames = {
        "sim": lazy.filter(pl.col("scenario").is_in(chosen.implode()))
        .select(c for c in COLUMNS if c in names)
        .collect()
    }
    unknown = sorted(set(real) - set(REAL_SOURCES))
    if unknown:
        raise ValueError(f"unknown real data set {unknown} (one of {sorted(REAL_SOURCES)})")
    notes = []
    for name in real:
        try:
            frames[name] = REAL_SOURCES[name][1]()
        except real_data.MissingDataPackage as err:
            notes.append(f"{name} left out: {err}")
    return frames, notes


def standardised(series: list[sf.Series], h: int) -> np.ndarray:
    """h-step returns of every series, each divided by its own sd, pooled: float[N]."""
    parts = [sf.horizon_returns(s.returns[np.isfinite(s.returns)], h) for s in series]
    return np.concatenate([p / p.std() for p in parts if p.size > 2 and p.std() > 0] or [[]])


def colour_of(names: Sequence[str]) -> dict[str, str]:
    palette = matplotlib.colormaps["tab10"]
    return {n: ("black" if n == "sim" else palette(i)) for i, n in enumerate(names)}


def return_distributions(series: dict[str, list[sf.Series]], horizons=PLOT_HORIZONS) -> Figure:
    """Density of standardised h-step log returns (log scale) per source, with N(0, 1)."""
    fig = Figure(figsize=(4.2 * len(horizons), 3.6))
    axes = fig.subplots(1, len(horizons), squeeze=False)[0]
    colours = colour_of(list(series))
    edges = np.linspace(-10, 10, 81)
    mid = (edges[1:] + edges[:-1]) / 2
    for ax, h in zip(axes, horizons, strict=True):
        for name, ss in series.items():
            z = standardised(ss, h)
            if z.size < 20:
                continue
            density, _ = np.histogram(z, edges, density=True)
            kurt = float(sf.excess_kurtosis(z))
            ax.semilogy(
                mid,
                np.where(density > 0, density, np.nan),
                ".-",
                ms=3,
                lw=0.8,
                color=colours[name],
                label=f"{name} (kurt {kurt:.1f})",
            )
        ax.semilogy(
            mid,
            np.exp(-(mid**2) / 2) / np.sqrt(2 * np.pi),
            "--",
            color="grey",
            lw=1,
            label="N(0, 1)",
        )
        ax.set_ylim(1e-5, 1)
        ax.set_title(f"{h}-step log returns / sd")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def correlations(tables: dict[str, pl.DataFrame], n_obs: dict[str, int]) -> Figure:
    """ACF of returns, of absolute returns, and corr(r[t], r[t+k]^2) by lag: mean over
    series (line), 10-90% of series (band), ``±1.96/sqrt(T)`` iid band (dotted)."""
    stats = ("acf", "abs_acf", "leverage")
    fig = Figure(figsize=(14, 3.8))
    axes = fig.subplots(1, 3)
    colours = colour_of(list(tables))
    for ax, stat in zip(axes, stats, strict=True):
        for name, table in tables.items():
            part = table.filter(pl.col("statistic") == stat).sort("x")
            if part.is_empty():
                continue
            c = colours[name]
            ax.plot(part["x"], part["value"], color=c, lw=1.2, label=name)
            if part["n"].max() > 1:
                ax.fill_between(part["x"], part["q10"], part["q90"], color=c, alpha=0.15, lw=0)
            band = 1.96 / np.sqrt(max(n_obs[name], 1))
            ax.axhline(band, color=c, ls=":", lw=0.8)
            ax.axhline(-band, color=c, ls=":", lw=0.8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(
            {
                "acf": "ACF of returns",
                "abs_acf": "ACF of |returns|",
                "leverage": "corr(r[t], r[t+k]^2)",
            }[stat]
        )
        ax.set_xlabel("lag k (steps of each source)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def curves(tables: dict[str, pl.DataFrame]) -> Figure:
    """Excess kurtosis by horizon (aggregational Gaussianity) and the impact curve."""
    fig = Figure(figsize=(11, 3.8))
    kurt_ax, impact_ax = fig.subplots(1, 2)
    colours = colour_of(list(tables))
    for name, table in tables.items():
        c = colours[name]
        kurt = table.filter(pl.col("statistic") == "excess_kurtosis").sort("x")
        if not kurt.is_empty():
            kurt_ax.plot(kurt["x"], kurt["value"], "o-", ms=3, color=c, label=name)
        y = table.filter(pl.col("statistic") == "impact").sort("x")
        x = table.filter(pl.col("statistic") == "impact_flow").sort("x")
        if not y.is_empty():
            impact_ax.plot(x["value"], y["value"], "o-", ms=3, color=c, label=name)
    kurt_ax.set_xscale("log")
    kurt_ax.set_yscale("symlog", linthresh=1.0)
    kurt_ax.axhline(0, color="grey", ls="--", lw=0.8)
    kurt_ax.set(title="excess kurtosis of h-step returns", xlabel="horizon h (steps)")
    impact_ax.set(
        title="impact: mean return by signed-flow decile",
        xlabel="signed flow (sd)",
        ylabel="return (sd)",
    )
    for ax in (kurt_ax, impact_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def book(series: dict[str, list[sf.Series]]) -> Figure:
    """Distributions of the quoted spread (bp of mid, log bins) and of resting depth relative
    to each series' median: the fraction of observations per bin."""
    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 2)
    colours = colour_of(list(series))
    spreads, depths = {}, {}
    for name, ss in series.items():
        spread = np.concatenate([s.spread_bp for s in ss if s.spread_bp is not None] or [[]])
        spreads[name] = spread[spread > 0]
        depth = [s.depth / np.median(s.depth) for s in ss if s.depth is not None and s.depth.size]
        depths[name] = np.concatenate(depth or [[]])
    every = np.concatenate([*spreads.values(), [np.nan]])
    edges = np.geomspace(np.nanmin(every), np.nanmax(every) * 1.01, 50) if every.size > 1 else 10
    for ax, values, bins in ((axes[0], spreads, edges), (axes[1], depths, 50)):
        for name, v in values.items():
            v = v[np.isfinite(v)]
            if v.size:
                ax.hist(
                    v,
                    bins,
                    weights=np.full(v.size, 1 / v.size),
                    histtype="step",
                    color=colours[name],
                    label=name,
                )
    axes[0].set_xscale("log")
    axes[0].set(title="quoted spread", xlabel="bp of mid", ylabel="fraction of steps")
    axes[1].set(title="resting depth (both sides) / its median", xlabel="ratio")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def comparison(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Wide table: ``statistic, x`` then ``sim`` (mean) and ``sim_sd``, then each real
    source's value; lags limited to :data:`TABLE_LAGS`."""
    lagged = pl.col("statistic").is_in(["acf", "abs_acf", "leverage", "impact_flow"])
    keep = ~lagged | pl.col("x").is_in(TABLE_LAGS) & (pl.col("statistic") != "impact_flow")
    out = (
        tables["sim"]
        .filter(keep)
        .select("statistic", "x", pl.col("value").alias("sim"), pl.col("sd").alias("sim_sd"))
    )
    for name, table in tables.items():
        if name != "sim":
            values = table.select("statistic", "x", pl.col("value").alias(name))
            out = out.join(values, on=["statistic", "x"], how="full", coalesce=True)
    order = {
        name: i for i, name in enumerate(tables["sim"]["statistic"].unique(maintain_order=True))
    }
    rank = pl.col("statistic").replace_strict(order, default=len(order), return_dtype=pl.Int64)
    return out.filter(keep).sort(rank, "x")


def write_realism(
    ticks: pl.LazyFrame | pl.DataFrame,
    folder: str | Path,
    real: Sequence[str] = tuple(REAL_SOURCES),
    max_scenarios: int = MAX_SCENARIOS,
) -> Path:
    """Write ``folder/realism/index.html`` and its figures; returns the page's path.

    Args:
        ticks: a run's or a study's ticks table (one series per scenario x symbol).
        folder: the report folder.
        real: real sources to compare with (keys of :data:`REAL_SOURCES`).
        max_scenarios: most scenarios used (spread evenly over the study).
    """
    from qtgjax.analysis.report import STYLE, html_table, save

    out = Path(folder) / "realism"
    out.mkdir(parents=True, exist_ok=True)
    frames, notes = load_sources(ticks, real, max_scenarios)
    series = {name: sf.split_series(frame) for name, frame in frames.items()}
    tables = {name: sf.facts(frame, source=name) for name, frame in frames.items()}
    n_obs = {name: int(np.median([s.returns.size for s in ss])) for name, ss in series.items()}
    kinds = sorted({s.flow_kind for s in series["sim"]})
    distances = pl.DataFrame(
        [
            {"real": name, "distance": sf.distance(tables["sim"], tables[name])}
            | {
                r["statistic"]: r["rmse"]
                for r in sf.distance_terms(tables["sim"], tables[name]).iter_rows(named=True)
            }
            for name in frames
            if name != "sim"
        ]
    )
    checklist = pl.concat(
        [
            check_facts(ss).select(pl.lit(name).alias("source"), pl.all())
            for name, ss in series.items()
        ]
    )
    figures = [
        ("Return distributions", return_distributions(series), "returns.png"),
        ("Autocorrelations and leverage", correlations(tables, n_obs), "correlations.png"),
        ("Kurtosis by horizon and price impact", curves(tables), "kurtosis_impact.png"),
        ("Spread and depth", book(series), "book.png"),
    ]
    described = "".join(
        f"<li><b>{html.escape(n)}</b>: {html.escape(REAL_SOURCES[n][0])}, "
        f"{len(series[n])} series of {n_obs[n]} returns</li>"
        for n in frames
        if n != "sim"
    )
    body = [
        "<h1>Market realism: stylized facts</h1>",
        f"<p><b>sim</b>: {len(series['sim'])} series (scenario x symbol) of {n_obs['sim']} "
        f"one-tick returns; signed flow from: {', '.join(kinds)}.</p><ul>{described}</ul>",
        *[f"<p class='note'>{html.escape(n)}</p>" for n in notes],
        "<h2>Distance to real data</h2><p class='note'>qtgjax.analysis.stylized_facts.distance "
        "(0 = same facts) and the RMS difference of each statistic.</p>",
        html_table(distances) if distances.height else "<p>no real data</p>",
        "<h2>Checklist</h2><p class='note'>qtgjax.analysis.checks.check_facts: the facts a "
        "realistic "
        "market must show (tests/test_realism.py asserts them for conf/realistic.yaml), "
        "each at a size of 5% or less; the real data are judged the same way.</p>",
        html_table(checklist, max_rows=100),
        *[f"<h2>{t}</h2><img src='{save(f, out, n)}'>" for t, f, n in figures],
        "<h2>Facts</h2><p class='note'>sim: mean over series (sim_sd: across series); "
        "x = horizon, lag, flow decile or quantile.</p>",
        html_table(comparison(tables), max_rows=500),
    ]
    page = out / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>qtgjax realism</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
    return page
