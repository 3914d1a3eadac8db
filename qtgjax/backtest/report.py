"""The backtest report page: equity curves, drawdowns, the grid's Sharpe heatmap, tables."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from qtgjax.analysis.report import STYLE, html_table, save
from qtgjax.io.atomic import write_text

N_CURVES = 5


def _best(summary: pl.DataFrame, symbol: str, n: int) -> list[int]:
    part = summary.filter(pl.col("symbol") == symbol).sort("sharpe", descending=True,
                                                           nulls_last=True)
    return part["point"].head(n).to_list()


def _label(result, point: int) -> str:
    values = result.setup.points[point]
    return ", ".join(f"{k}={v}" for k, v in values.items()) or f"point {point}"


def equity_figure(result, summary: pl.DataFrame, symbol_index: int) -> Figure:
    """Equity (relative to the start) and drawdown of the best points by Sharpe, with
    the symbol's buy-and-hold close for reference."""
    arr, s = result._arrays(), result.setup
    name = result.group_names()[symbol_index]
    n = result.lengths()[symbol_index]
    bars = s.bars[s.groups[symbol_index][0]]
    fig = Figure(figsize=(11, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    for p in _best(summary, name, N_CURVES):
        col = p * len(s.groups) + symbol_index
        curve = arr["equity"][col, :n] / s.cash
        top.plot(bars.time, curve, lw=1, label=_label(result, p))
        bottom.plot(bars.time, curve / np.maximum.accumulate(curve) - 1.0, lw=1)
    top.set_ylabel("equity / start")
    top.legend(fontsize=8, loc="upper left")
    twin = top.twinx()
    twin.plot(bars.time, bars.close, color="0.7", lw=0.8)
    twin.set_ylabel(f"{name} close", color="0.5")
    bottom.set_ylabel("drawdown")
    top.set_title(f"{name}: best {N_CURVES} points by Sharpe")
    return fig


def heatmap_figure(result, summary: pl.DataFrame, symbol: str) -> Figure | None:
    """Sharpe over the grid: a heatmap of the first two swept keys (the mean over any
    others), or a line for one key; None without a grid."""
    keys = [k for k in result.setup.grid_keys
            if summary[k].dtype.is_numeric() and summary[k].n_unique() > 1]
    part = summary.filter(pl.col("symbol") == symbol)
    if not keys:
        return None
    fig = Figure(figsize=(7, 5.5))
    ax = fig.subplots()
    if len(keys) == 1:
        line = part.group_by(keys[0]).agg(pl.col("sharpe").mean()).sort(keys[0])
        ax.plot(line[keys[0]], line["sharpe"], marker="o")
        ax.set_xlabel(keys[0])
        ax.set_ylabel("Sharpe")
    else:
        x, y = keys[:2]
        table = part.group_by(x, y).agg(pl.col("sharpe").mean())
        xs, ys = sorted(table[x].unique().to_list()), sorted(table[y].unique().to_list())
        grid = np.full((len(ys), len(xs)), np.nan)
        for row in table.iter_rows(named=True):
            grid[ys.index(row[y]), xs.index(row[x])] = row["sharpe"]
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=90, fontsize=7)
        ax.set_yticks(range(len(ys)), [str(v) for v in ys], fontsize=7)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        fig.colorbar(im, ax=ax, label="Sharpe (annualised)")
    ax.set_title(f"{symbol}: Sharpe over the grid")
    return fig


def write_report(folder: str | Path, result) -> Path:
    """``FOLDER/report/index.html`` with PNG figures; returns the page's path."""
    out = Path(folder) / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    s = result.setup
    cfg = result.config
    fill = cfg.get("fill", {})
    parts = [
        f"<h1>Backtest: {html.escape(s.family.kind)}</h1>",
        f'<p class="note">{len(s.points):,} grid points x {len(s.groups)} symbol group(s); '
        f"fill at {html.escape(str(fill.get('at', fill)))}; costs "
        f"{html.escape(str(cfg.get('costs')))}; {html.escape(s.ticks_text())}; "
        f"{result.seconds:.1f} s</p>",
    ]
    for g, name in enumerate(result.group_names()):
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if "cash" in result._arrays():
            png = save(equity_figure(result, summary, g), out, f"equity_{g}.png")
            parts.append(f'<img src="{png}">')
        heat = heatmap_figure(result, summary, name)
        if heat is not None:
            parts.append(f'<img src="{save(heat, out, f"sharpe_{g}.png")}">')
        top = summary.filter(pl.col("symbol") == name).sort("sharpe", descending=True,
                                                            nulls_last=True)
        parts.append("<h3>Best points by Sharpe</h3>" + html_table(top, 20))
    wf = result.walk_forward()
    if wf is not None:
        parts.append("<h2>Walk-forward</h2>" + html_table(wf, 100))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>qtgjax backtest</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return write_text(page, out / "index.html")
