"""The report page of a ``qtgjax-evolve`` run: fitness curves, the Pareto front, the
leaderboard (``report/index.html`` with PNG figures)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from qtgjax.analysis.report import STYLE, html_table, save
from qtgjax.io.atomic import write_text

BOARD_COLUMNS = (
    "label",
    "generation",
    "is_fitness",
    "oos_fitness",
    "is_sharpe",
    "oos_sharpe",
    "oos_sharpe_lo",
    "oos_sharpe_hi",
    "oos_sharpe_vs_default",
    "is_pnl",
    "oos_pnl",
    "oos_pnl_vs_default",
    "dsr",
    "psr_oos",
)


def fitness_curves(generations: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(10, 4))
    ax, bx = fig.subplots(1, 2)
    g = generations["generation"].to_numpy()
    ax.plot(g, generations["best_fitness"], label="best of generation")
    ax.plot(g, generations["mean_fitness"], label="mean of generation")
    ax.plot(g, generations["best_so_far"], "k--", label="best so far")
    ax.set(xlabel="generation", ylabel="fitness (training scenarios)", title="fitness")
    ax.legend(fontsize=8)
    bx.fill_between(
        g,
        generations["sharpe_q10"],
        generations["sharpe_q90"],
        alpha=0.3,
        label="10-90% of the population",
    )
    bx.plot(g, generations["sharpe_q50"], label="median")
    bx.plot(g, generations["sharpe_best"], label="best")
    bx.set(xlabel="generation", ylabel="annualised Sharpe", title="Sharpe per generation")
    bx.legend(fontsize=8)
    return fig


def front_figure(cands: pl.DataFrame, board: pl.DataFrame, x: str, y: str) -> Figure:
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.scatter(cands[x], cands[y], s=8, c="#bbbbbb", label="candidates")
    front = cands.filter(pl.col("on_pareto_front")).sort(x)
    ax.scatter(front[x], front[y], s=18, c="tab:red", label="Pareto front")
    default = board.filter(pl.col("label") == "default")
    ax.scatter(
        default[f"is_{x}"] if f"is_{x}" in board.columns else [],
        default[f"is_{y}"] if f"is_{y}" in board.columns else [],
        marker="*",
        s=160,
        c="k",
        label="default",
    )
    ax.set(xlabel=x, ylabel=y, title="training objectives (front over all pareto objectives)")
    ax.legend(fontsize=8)
    return fig


def oos_figure(board: pl.DataFrame) -> Figure:
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    n = board.height
    pos = np.arange(n)
    for shift, prefix, colour in ((-0.15, "is", "tab:blue"), (0.15, "oos", "tab:orange")):
        m = board[f"{prefix}_sharpe"].to_numpy()
        lo, hi = board[f"{prefix}_sharpe_lo"].to_numpy(), board[f"{prefix}_sharpe_hi"].to_numpy()
        ax.errorbar(
            pos + shift,
            m,
            yerr=[m - lo, hi - m],
            fmt="o",
            c=colour,
            label="in sample" if prefix == "is" else "out of sample",
        )
    ax.set_xticks(pos, board["label"].to_list(), rotation=45, fontsize=8)
    ax.axhline(0, c="k", lw=0.5)
    ax.set(ylabel="annualised Sharpe (95% CI over scenarios)", title="in vs out of sample")
    ax.legend(fontsize=8)
    return fig


def write_report(folder: Path, setup, generations, cands, board, summary) -> Path:
    out = Path(folder) / "report"
    out.mkdir(parents=True, exist_ok=True)
    pareto = setup.spec.pareto
    figs = [
        save(fitness_curves(generations), out, "fitness.png"),
        save(front_figure(cands, board, pareto[0], pareto[1]), out, "pareto.png"),
        save(oos_figure(board), out, "oos.png"),
    ]
    beats = "beats" if summary["best_beats_default_oos"] else "does not beat"
    best = summary["best"]
    text = (
        f"<h1>qtgjax-evolve: {html.escape(summary['target'])} in the "
        f"{html.escape(summary['market'])} market</h1>"
        f"<p>{summary['strategy']}: {summary['population']} candidates x "
        f"{summary['generations']} generations = {summary['n_trials']} trials on "
        f"{summary['train_scenarios']} training scenarios of {summary['ticks']} ticks; "
        f"judged on {summary['holdout_scenarios']} held-out scenarios. "
        f"Probability of backtest overfitting (CSCV): {summary['pbo']:.3f}; deflated Sharpe "
        f"ratio of the best: {best['dsr']:.3f}.</p>"
        f"<p>Out of sample the best candidate {beats} the default parameters on Sharpe: "
        f"difference {best['oos_sharpe_vs_default']:.3f} [{best['oos_sharpe_vs_default_lo']:.3f}, "
        f"{best['oos_sharpe_vs_default_hi']:.3f}]; P&amp;L per agent "
        f"{best['oos_pnl_vs_default']:+.2f} [{best['oos_pnl_vs_default_lo']:+.2f}, "
        f"{best['oos_pnl_vs_default_hi']:+.2f}] (paired over the held-out scenarios, 95%).</p>"
        f"<h2>Fitness</h2><img src='{figs[0]}'>"
        f"<h2>Pareto front ({', '.join(pareto)})</h2><img src='{figs[1]}'>"
        f"<h2>Leaderboard</h2><img src='{figs[2]}'>"
        + html_table(board.select([c for c in BOARD_COLUMNS if c in board.columns]))
        + "<h2>Parameters</h2>"
        + html_table(board.select("label", *[c for c in board.columns if c.startswith("param_")]))
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>qtgjax-evolve</title>"
        f"<style>{STYLE}</style></head><body>{text}</body></html>"
    )
    index = out / "index.html"
    write_text(page, index)
    return index
