"""``write_report(DIR)``: figures (PNG) and one HTML page for a sweep or run folder."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from qtgjax.analysis.depth import tick_size_of
from qtgjax.analysis.figures import (
    depth_heatmap,
    depth_levels,
    league_chart,
    metric_vs_parameter,
    price_paths,
    volume_spread,
)
from qtgjax.analysis.load import ResultsError, Study, open_study
from qtgjax.analysis.stats import league_table, summarise

MAX_HUES = 6
MAX_TABLE_ROWS = 200
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; } td.text { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0 1.5em; }
.note { color: #666; font-size: 13px; }
"""


def fmt(value) -> str:
    """A table cell: floats to 4 significant digits, missing values blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def html_table(df: pl.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> str:
    """A plain HTML table of the first ``max_rows`` rows."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = []
    for row in df.head(max_rows).iter_rows():
        cells = "".join(
            f'<td class="text">{html.escape(fmt(v))}</td>'
            if isinstance(v, str)
            else f"<td>{html.escape(fmt(v))}</td>"
            for v in row
        )
        rows.append(f"<tr>{cells}</tr>")
    more = f'<p class="note">{df.height - max_rows} more rows</p>' if df.height > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def save(fig, folder: Path, name: str) -> str:
    """Write a figure as PNG into ``folder``; returns its file name."""
    fig.savefig(folder / name, dpi=110, bbox_inches="tight")
    return name


def numeric_swept(study: Study, summary: pl.DataFrame) -> list[str]:
    """Swept columns that vary and are numbers (the x axes of metric-vs-parameter plots)."""
    return [c for c in study.swept if summary[c].dtype.is_numeric() and summary[c].n_unique() > 1]


def hue_for(x: str, candidates: Sequence[str], summary: pl.DataFrame) -> str | None:
    """The first other swept column with few values, to draw one line per value."""
    others = [c for c in candidates if c != x and summary[c].n_unique() <= MAX_HUES]
    return others[0] if others else None


def wide_by_point(stats: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """One row per point: ``mean [ci_low, ci_high]`` per metric."""
    cell = pl.format(
        "{} [{}, {}]",
        *[
            pl.col(c).round_sig_figs(4).cast(pl.String).fill_null("")
            for c in ("mean", "ci_low", "ci_high")
        ],
    )
    long = stats.with_columns(cell.alias("value")).select(*by, "n", "metric", "value")
    order = long["metric"].unique(maintain_order=True).to_list()
    wide = long.pivot(on="metric", index=[*by, "n"], values="value")
    return wide.select(*by, "n", *order)


def sweep_sections(study: Study, folder: Path) -> list[str]:
    """Summary by swept values and metric-vs-parameter plots."""
    summary = study.summary()
    metrics = [m for m in study.metrics if m in summary.columns]
    xs = numeric_swept(study, summary)
    parts = [
        f"<h2>Results by swept values</h2><p class='note'>mean over seeds with 95% "
        f"Student-t interval, {summary.height} scenarios.</p>"
    ]
    if study.swept:
        stats = summarise(summary, list(study.swept), metrics)
        parts.append(html_table(wide_by_point(stats, list(study.swept))))
    for x in xs:
        hue = hue_for(x, xs + [c for c in study.swept if c not in xs], summary)
        stats = summarise(summary, [x, hue] if hue else [x], metrics)
        name = save(metric_vs_parameter(stats, x, metrics, hue), folder, f"metric_vs_{x}.png")
        parts.append(f"<h3>Metrics against {html.escape(x)}</h3><img src='{name}'>")
    return parts


def market_sections(study: Study, folder: Path, n_paths: int) -> list[str]:
    """Price paths, depth heatmap, volume and spread."""
    ticks = study.scan("ticks")
    swept = list(study.swept)
    hue = None
    if swept:
        counts = ticks.select(pl.col(swept).n_unique()).collect().row(0)
        varying = [c for c, k in zip(swept, counts, strict=True) if 1 < k <= MAX_HUES]
        hue = varying[0] if varying else None
    depth = depth_figure(study)
    figures = [
        ("Price paths", price_paths(ticks, swept, n_paths), "price_paths.png"),
        ("Depth over time", depth or depth_heatmap(ticks, swept), "depth_heatmap.png"),
        ("Volume and spread", volume_spread(ticks, hue), "volume_spread.png"),
    ]
    return [
        f"<h2>{title}</h2><img src='{save(fig, folder, name)}'>" for title, fig, name in figures
    ]


def depth_figure(study: Study):
    """The depth heatmap per price level when the folder has ``depth.parquet`` (a run with
    ``record.depth=K``), else None (the report then draws total depth)."""
    try:
        depth = study.scan("depth")
    except ResultsError:
        return None
    if depth.select(pl.len()).collect().item() == 0:
        return None
    return depth_levels(depth, study.scan("ticks"), tick_size_of(study.root))


def latency_sections(study: Study, folder: Path) -> list[str]:
    """Realised delay per family x venue and over time, and the message counts, when the
    folder has ``latency.parquet`` (a market with latency); the latency-arbitrage study's
    table and figure for a study with a ``venue_arbitrage`` family."""
    from qtgjax.analysis.latency import delay_heatmap, delay_over_time, latency_totals

    study_parts = arbitrage_sections(study, folder)
    try:
        latency = study.scan("latency")
    except ResultsError:  # e.g. a study folder: its chunks keep no latency table
        return ["<h2>Latency</h2>", *study_parts] if study_parts else []
    totals = latency_totals(latency)
    return [
        "<h2>Latency</h2><p class='note'>Order messages per family and venue, over all "
        "scenarios and ticks: delivered, late (overtaken by a newer one) and dropped, and "
        "the mean realised delay of the delivered ones (ticks).</p>",
        html_table(totals),
        f"<img src='{save(delay_heatmap(totals), folder, 'latency_heatmap.png')}'>",
        f"<img src='{save(delay_over_time(latency), folder, 'latency_over_time.png')}'>",
        *study_parts,
    ]


def arbitrage_sections(study: Study, folder: Path) -> list[str]:
    """The latency-arbitrage study's table and figure (``latency_arbitrage.png``): for a
    sweep with a ``venue_arbitrage`` family, its and the other trading families' P&L,
    spread and volume per grid point, against the first numeric grid axis (one line per
    value of another), with percentile bootstrap intervals over seeds."""
    from qtgjax.analysis.latency import ARBITRAGE_METRICS, arbitrage_figure, arbitrage_table

    if study.kind != "sweep":
        return []
    swept = study.manifest.get("swept") or {}
    grid = [c for c in study.swept if isinstance(swept.get(c), dict) and "values" in swept[c]]
    summary = study.summary()
    xs = [c for c in numeric_swept(study, summary) if c in grid]
    df = arbitrage_table(summary, study.scan("agents"), grid)
    if df is None or not xs:
        return []
    x = xs[0]
    hue = hue_for(x, [c for c in grid if c != x], summary)
    cells = [
        pl.format(
            "{} [{}, {}]", *[pl.col(f"{m}{e}").round_sig_figs(4) for e in ("", "_lo", "_hi")]
        ).alias(m)
        for m in ARBITRAGE_METRICS
    ]
    wide = df.select(*grid, "seeds", *cells)
    name = save(arbitrage_figure(df, x, hue), folder, "latency_arbitrage.png")
    return [
        "<h3>Latency arbitrage</h3><p class='note'>Per point: the arbitrage families' P&amp;L "
        "per agent, the other trading families' (mean of their P&amp;L per agent), spread "
        "and volume; mean over seeds with a 95% percentile bootstrap interval "
        "(2,000 resamples).</p>",
        html_table(wide),
        f"<img src='{name}'>",
    ]


def league_sections(study: Study, folder: Path) -> list[str]:
    league = league_table(study.scan("agents"))
    name = save(league_chart(league), folder, "pnl_league.png")
    return [
        "<h2>P&amp;L league table by family</h2>",
        "<p class='note'>Trading families ranked by trading P&amp;L per agent (fills' cash "
        "plus the lots traded marked at the last price; no dividends, no endowment "
        "revaluation), currency, mean over all scenarios with 95% interval; the pool and "
        "the fee account are infrastructure, listed last, unranked. pnl_per_agent is the "
        "total P&amp;L; other columns are means over scenarios.</p>",
        html_table(league),
        f"<img src='{name}'>",
    ]


def model_sections(study: Study) -> list[str]:
    """Feature importance and mean |SHAP| of the models whose tables sit in the results
    folder (``*.importance.parquet``, written by ``python -m qtgjax.ml.example``)."""
    parts = []
    for path in sorted(Path(study.root).glob("*.importance.parquet")):
        name = path.name.removesuffix(".importance.parquet")
        parts += [f"<h2>Model {html.escape(name)}: feature importance and SHAP</h2>",
                  "<p class='note'>gain and splits: the booster's own importance; "
                  "mean_abs_shap: mean |SHAP value| (raw score) on the test rows.</p>",
                  html_table(pl.read_parquet(path))]
    return parts


def header(study: Study) -> str:
    m = study.manifest
    lines = [f"<h1>qtgjax report: {html.escape(study.name)}</h1>"]
    if study.kind == "sweep":
        lines.append(f"<p>{html.escape(str(m.get('description') or ''))}</p>")
        lines.append(
            f"<p>{m.get('points')} points x {len(m.get('replicates') or [])} seeds = "
            f"{m.get('scenarios')} scenarios in {m.get('chunks')} chunks.</p>"
        )
        rows = [
            {
                "column": k,
                "sets": ", ".join(v.get("keys", [])),
                "dtype": v.get("dtype"),
                "values": str(v.get("values", v.get("distribution"))),
            }
            for k, v in (m.get("swept") or {}).items()
        ]
        if rows:
            lines.append(html_table(pl.DataFrame(rows)))
    else:
        lines.append(f"<p>qtgjax-run results in {html.escape(str(study.root))}.</p>")
    return "\n".join(lines)


def realism_sections(study: Study, folder: Path, real: Sequence[str]) -> list[str]:
    """Write the realism page (``realism/index.html``) and link it."""
    from qtgjax.analysis.realism import write_realism

    page = write_realism(study.scan("ticks"), folder, real)
    return [
        "<h2>Market realism</h2><p>Stylized facts of these ticks next to real data "
        f"({html.escape(', '.join(real) or 'none')}): "
        f"<a href='{page.relative_to(folder).as_posix()}'>realism page</a>.</p>"
    ]


def write_report(
    root: str | Path,
    out: str | Path | None = None,
    n_paths: int = 8,
    real: Sequence[str] | None = ("sp500", "btc"),
) -> Path:
    """Write ``index.html`` and its PNG figures for a sweep or run folder.

    Args:
        root: a ``qtgjax-sweep`` study folder or a ``qtgjax-run`` output folder.
        out: where to write (default ``root/report``).
        n_paths: most scenarios drawn in the price-path figure.
        real: real data sets of the realism page (``sp500``, ``btc``); None: no realism page.

    Returns:
        The path of ``index.html``.
    """
    study = open_study(root)
    folder = Path(out) if out else Path(root) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    body = [header(study)]
    if study.kind == "sweep":
        body += sweep_sections(study, folder)
    body += league_sections(study, folder)
    body += model_sections(study)
    body += market_sections(study, folder, n_paths)
    body += latency_sections(study, folder)
    if real is not None:
        body += realism_sections(study, folder, real)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>qtgjax report: {html.escape(study.name)}</title><style>{STYLE}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page)
    return index
