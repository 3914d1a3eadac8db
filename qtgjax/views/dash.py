"""``qtgjax-dash``'s page: a Bokeh server document over a :class:`~qtgjax.views.dash_data.Source`.

Tabs: **Book** (depth heatmap per price level over time, bids in blues and asks in reds,
clearing prices overlaid, a scrub slider with play, the book at the scrubbed tick, price
and fundamental value), **P&L race** (P&L per agent by family over time; the league table
for a study), **Study explorer** (any metric against any swept parameter, mean over seeds
with its 95% band), **Realism** (the checklist of :mod:`qtgjax.analysis.checks`) and
**Latency** (the venues hook: :func:`~qtgjax.views.dash_data.latency_grid`).

Models carry names (``heatmap``, ``depth_bids``, ``depth_asks``, ``clearing``, ``scrub``,
``book_at_tick``, ``tick_info``, ``pnl_race``, ``explorer``, ``realism_table``) so that a
browser test can find them in ``Bokeh.documents[0]``.
"""

from __future__ import annotations

import html

import numpy as np
import polars as pl
from bokeh.layouts import column, row
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    DataTable,
    Div,
    LogColorMapper,
    Select,
    Slider,
    Span,
    TableColumn,
    TabPanel,
    Tabs,
    Toggle,
)
from bokeh.palettes import Blues256, Category10_10, Reds256, Viridis256
from bokeh.plotting import figure

from qtgjax.views import dash_data as data

TRANSPARENT = "rgba(0, 0, 0, 0)"
PLAY_MS = 150  # scrub playback interval
WIDTH = 1000


def _empty_image() -> dict:
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _floats(series: pl.Series) -> np.ndarray:
    """float64 values with NaN for nulls (BokehJS draws NaN as a gap)."""
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def table_of(df: pl.DataFrame, name: str, height: int = 280) -> DataTable:
    """A DataTable of a Polars frame (numbers as they are, floats to 4 significant digits)."""
    src = ColumnDataSource({c: _cells(df[c]) for c in df.columns})
    cols = [TableColumn(field=c, title=c) for c in df.columns]
    return DataTable(
        source=src, columns=cols, name=name, width=WIDTH, height=height, index_position=None
    )


def _cells(series: pl.Series) -> list:
    if series.dtype.is_float():
        return ["" if v is None or not np.isfinite(v) else f"{v:.4g}" for v in series.to_list()]
    return ["" if v is None else str(v) for v in series.to_list()]


class BookTab:
    """Depth heatmap, clearing prices, scrub slider and the book at the scrubbed tick."""

    def __init__(self, source: data.Source, scenarios: list[int], symbols: list[int]):
        self.source, self.scenario, self.symbol = source, scenarios[0], symbols[0]
        self.has_depth = source.has("depth")
        self.scenario_select = Select(
            title="scenario",
            value=str(self.scenario),
            options=[str(s) for s in scenarios[:1000]],
            name="scenario",
        )
        self.symbol_select = Select(
            title="symbol", value=str(self.symbol), options=[str(s) for s in symbols], name="symbol"
        )
        self.heat = figure(
            name="heatmap",
            width=WIDTH,
            height=430,
            x_axis_label="tick",
            y_axis_label="price",
            tools="pan,wheel_zoom,box_zoom,reset,save",
            title="resting lots per price level (bids blue, asks red), clearing prices black",
        )
        self.bid_map = LogColorMapper(
            palette=Blues256[::-1][64:], low=1, high=2, low_color=TRANSPARENT
        )
        self.ask_map = LogColorMapper(
            palette=Reds256[::-1][64:], low=1, high=2, low_color=TRANSPARENT
        )
        self.bid_src = ColumnDataSource(_empty_image(), name="depth_bids_data")
        self.ask_src = ColumnDataSource(_empty_image(), name="depth_asks_data")
        self.heat.image(
            image="image",
            x="x",
            y="y",
            dw="dw",
            dh="dh",
            source=self.bid_src,
            color_mapper=self.bid_map,
            name="depth_bids",
        )
        self.heat.image(
            image="image",
            x="x",
            y="y",
            dw="dw",
            dh="dh",
            source=self.ask_src,
            color_mapper=self.ask_map,
            name="depth_asks",
        )
        self.quotes = ColumnDataSource({"tick": [], "bid": [], "ask": []}, name="quotes_data")
        if not self.has_depth:  # no per-level record: best quotes instead of the heatmap
            self.heat.line("tick", "bid", source=self.quotes, color="#2b6cb0", name="best_bid")
            self.heat.line("tick", "ask", source=self.quotes, color="#c53030", name="best_ask")
        self.clear_src = ColumnDataSource({"tick": [], "price": []}, name="clearing_data")
        self.heat.scatter(
            "tick", "price", source=self.clear_src, size=2, color="black", name="clearing"
        )
        self.heat.add_layout(
            ColorBar(color_mapper=self.bid_map, title="bid lots", width=10), "right"
        )
        self.heat.add_layout(
            ColorBar(color_mapper=self.ask_map, title="ask lots", width=10), "right"
        )
        self.price = figure(
            name="price",
            width=WIDTH,
            height=220,
            x_range=self.heat.x_range,
            x_axis_label="tick",
            y_axis_label="price",
            title="close and fundamental value",
            tools="pan,wheel_zoom,reset",
        )
        self.line_src = ColumnDataSource(
            {"tick": [], "close": [], "fundamental": []}, name="price_data"
        )
        self.price.line(
            "tick",
            "close",
            source=self.line_src,
            legend_label="close",
            color="#1a202c",
            name="close",
        )
        self.price.line(
            "tick",
            "fundamental",
            source=self.line_src,
            legend_label="fundamental",
            color="#dd6b20",
            line_dash="dashed",
            name="fundamental",
        )
        self.spans = [
            Span(location=0, dimension="height", line_color="#38a169", line_width=2, name=n)
            for n in ("scrub_line", "scrub_line_price")
        ]
        self.heat.add_layout(self.spans[0])
        self.price.add_layout(self.spans[1])
        self.slider = Slider(
            start=0, end=1, value=0, step=1, title="tick", name="scrub", width=WIDTH - 120
        )
        self.play = Toggle(label="play", name="play", width=100)
        self.book_src = ColumnDataSource(
            {"price": [], "lots": [], "color": [], "side": []}, name="book_data"
        )
        self.book = figure(
            name="book_at_tick",
            width=380,
            height=430,
            x_axis_label="lots",
            y_axis_label="price",
            title="book at the scrubbed tick",
            tools="reset",
        )
        self.book.hbar(
            y="price",
            right="lots",
            height=0.8 * source.tick_size,
            color="color",
            source=self.book_src,
        )
        self.info = Div(name="tick_info", width=380)
        note = (
            ""
            if self.has_depth
            else (
                "<p><b>No per-level depth in this folder</b>: run with <code>record.depth=K</code>"
                " for the heatmap; best quotes are drawn instead.</p>"
            )
        )
        self.note = Div(text=note, width=WIDTH)
        self.scenario_select.on_change("value", self._on_select)
        self.symbol_select.on_change("value", self._on_select)
        self.slider.on_change("value", lambda attr, old, new: self.scrub(int(new)))
        self._play_cb = None
        self.play.on_change("active", self._on_play)
        self.layout = column(
            row(self.scenario_select, self.symbol_select),
            self.note,
            row(self.heat, column(self.book, self.info)),
            row(self.play, self.slider),
            self.price,
        )
        self.reload()

    def _on_select(self, attr, old, new) -> None:
        self.scenario = int(self.scenario_select.value)
        self.symbol = int(self.symbol_select.value)
        self.reload()

    def reload(self, follow: bool = False) -> None:
        """Read this book's ticks (and depth) and redraw everything."""
        ticks = data.one_series(self.source, self.scenario, self.symbol)
        if ticks.height == 0:
            return
        tick = ticks["tick"].to_numpy()
        self.clear_src.data = {"tick": tick, "price": _floats(ticks["vwap"])}
        self.line_src.data = {
            "tick": tick,
            "close": ticks["close"].to_numpy(),
            "fundamental": ticks["fundamental"].to_numpy(),
        }
        self.quotes.data = {
            "tick": tick,
            "bid": _floats(ticks["best_bid"]),
            "ask": _floats(ticks["best_ask"]),
        }
        step = 1
        if self.has_depth:
            depth = (
                self.source.scan("depth")
                .filter((pl.col("scenario") == self.scenario) & (pl.col("symbol") == self.symbol))
                .collect()
            )
            heat = data.depth_heatmap(depth, self.source.tick_size)
            if heat is not None:
                self._draw(heat)
                recorded = depth["tick"].unique().sort().to_numpy()
                step = int(np.min(np.diff(recorded))) if recorded.size > 1 else 1
        first = self.slider.end == 1  # not drawn yet: start on the last tick
        at_end = first or self.slider.value >= self.slider.end
        follow = follow or first
        self.slider.step = step
        self.slider.end = max(int(tick[-1]), 1)
        value = self.slider.end if (follow and at_end) else min(self.slider.value, self.slider.end)
        value -= value % step
        self.slider.value = value
        self.scrub(int(value))

    def _draw(self, heat: data.Heatmap) -> None:
        n_prices, n_cols = heat.bids.shape
        place = {
            "x": [heat.tick0],
            "y": [heat.price0 - heat.tick_size / 2],
            "dw": [n_cols * heat.width],
            "dh": [n_prices * heat.tick_size],
        }
        self.bid_src.data = {"image": [heat.bids], **place}
        self.ask_src.data = {"image": [heat.asks], **place}
        for mapper, image in ((self.bid_map, heat.bids), (self.ask_map, heat.asks)):
            top = image.max() if image.size else 2.0
            mapper.high = max(float(top), 2.0)

    def scrub(self, tick: int) -> None:
        """Move the scrub line and show the book and the numbers of ``tick``."""
        for span in self.spans:
            span.location = tick
        row_ = (
            self.source.scan("ticks")
            .filter(
                (pl.col("scenario") == self.scenario)
                & (pl.col("symbol") == self.symbol)
                & (pl.col("tick") == tick)
            )
            .collect()
        )
        if row_.height:
            r = row_.row(0, named=True)
            fields = (
                "tick",
                "close",
                "vwap",
                "volume",
                "taker_flow",
                "best_bid",
                "best_ask",
                "bid_depth",
                "ask_depth",
                "fundamental",
            )
            cells = "".join(
                f"<tr><td>{k}</td><td id='info_{k}'>{html.escape(_number(r.get(k)))}</td></tr>"
                for k in fields
                if k in r
            )
            self.info.text = f"<table>{cells}</table>"
        if self.has_depth:
            book = data.book_at(self.source.scan("depth"), self.scenario, self.symbol, tick)
            colors = ["#2b6cb0" if s == "bid" else "#c53030" for s in book["side"]]
            self.book_src.data = {
                "price": book["price"].to_numpy(),
                "lots": book["lots"].to_numpy(),
                "color": colors,
                "side": book["side"].to_list(),
            }
            if book.height:
                self.book.title.text = f"book after the auction of tick {book['tick'][0]}"

    def _on_play(self, attr, old, active) -> None:
        from bokeh.io import curdoc

        doc = curdoc()
        if active and self._play_cb is None:
            self._play_cb = doc.add_periodic_callback(self._advance, PLAY_MS)
        elif not active and self._play_cb is not None:
            doc.remove_periodic_callback(self._play_cb)
            self._play_cb = None

    def _advance(self) -> None:
        nxt = self.slider.value + max(
            self.slider.step, (self.slider.end - self.slider.start) // 200
        )
        if nxt > self.slider.end:
            self.play.active = False
            return
        self.slider.value = nxt


class PnlTab:
    """P&L per agent by family over time (run, live) or the league table (study)."""

    def __init__(self, source: data.Source, scenarios: list[int]):
        self.source = source
        self.layout = column(Div(text="<h3>P&amp;L by family</h3>"))
        self.table = None
        if source.has("family_pnl"):
            self.select = Select(
                title="scenario",
                value="mean",
                options=["mean", *[str(s) for s in scenarios[:1000]]],
                name="pnl_scenario",
            )
            self.fig = figure(
                name="pnl_race",
                width=WIDTH,
                height=450,
                x_axis_label="tick",
                y_axis_label="P&L per agent (currency)",
                title="P&L race: P&L per agent by family after each tick",
            )
            self.sources: dict[str, ColumnDataSource] = {}
            self.select.on_change("value", lambda attr, old, new: self.reload())
            self.layout.children.extend([self.select, self.fig])
            self.reload()
        self.layout.children.append(Div(text="<h4>league table (all scenarios, 95% CI)</h4>"))
        self.table = table_of(data.league(source), "league_table", height=240)
        self.layout.children.append(self.table)

    def reload_league(self) -> None:
        """New league numbers (a live run)."""
        league = data.league(self.source)
        self.table.source.data = {c: _cells(league[c]) for c in league.columns}

    def reload(self) -> None:
        scenario = None if self.select.value == "mean" else int(self.select.value)
        race = data.pnl_race(self.source, scenario)
        for i, part in enumerate(race.partition_by("family", maintain_order=True)):
            family = part["family"][0]
            values = {"tick": part["tick"].to_numpy(), "pnl": part["pnl_per_agent"].to_numpy()}
            if family not in self.sources:
                src = ColumnDataSource(values, name=f"pnl_{family}")
                self.sources[family] = src
                self.fig.line(
                    "tick",
                    "pnl",
                    source=src,
                    legend_label=family,
                    line_width=2,
                    color=Category10_10[i % 10],
                    name=f"pnl_line_{family}",
                )
            else:
                self.sources[family].data = values
        self.fig.legend.location = "top_left"


class ExplorerTab:
    """Any metric of the study's summary against any swept parameter, 95% bands."""

    def __init__(self, source: data.Source):
        self.layout = column(Div(text="<h3>Study explorer</h3>"))
        if source.kind != "sweep":
            self.layout.children.append(
                Div(
                    text=(
                        "<p>A study folder (<code>qtgjax-sweep</code>) has swept parameters "
                        "to explore; this is a single run.</p>"
                    ),
                    name="explorer_note",
                )
            )
            return
        self.summary = source.study.summary()
        metrics, xs = data.explorer_choices(source, self.summary)
        if not xs or not metrics:
            self.layout.children.append(Div(text="<p>No numeric swept parameter.</p>"))
            return
        self.metric = Select(title="metric", value=metrics[0], options=metrics, name="metric")
        self.x = Select(title="swept parameter", value=xs[0], options=xs, name="x_param")
        hues = ["none", *[c for c in source.swept if c in self.summary.columns]]
        self.hue = Select(title="one line per", value="none", options=hues, name="hue")
        self.fig = figure(name="explorer", width=WIDTH, height=450)
        for sel in (self.metric, self.x, self.hue):
            sel.on_change("value", lambda attr, old, new: self.reload())
        self.layout.children.extend([row(self.metric, self.x, self.hue), self.fig])
        self.reload()

    def reload(self) -> None:
        x, metric = self.x.value, self.metric.value
        hue = None if self.hue.value in ("none", x) else self.hue.value
        stats = data.explorer_stats(self.summary, x, metric, hue)
        self.fig.renderers = []
        self.fig.legend.items = []
        groups = stats.partition_by(hue, maintain_order=True) if hue else [stats]
        palette = Viridis256[:: max(1, 256 // max(len(groups), 1))]
        for i, part in enumerate(groups):
            colour = palette[i % len(palette)] if hue else "#2b6cb0"
            label = f"{hue}={part[hue][0]}" if hue else metric
            src = ColumnDataSource(
                {
                    "x": part[x].to_numpy(),
                    "mean": part["mean"].to_numpy(),
                    "low": part["ci_low"].fill_null(np.nan).to_numpy(),
                    "high": part["ci_high"].fill_null(np.nan).to_numpy(),
                    "n": part["n"].to_numpy(),
                },
                name=f"explorer_{i}",
            )
            self.fig.varea(
                x="x", y1="low", y2="high", source=src, fill_alpha=0.2, fill_color=colour
            )
            self.fig.line("x", "mean", source=src, color=colour, line_width=2, legend_label=label)
            self.fig.scatter("x", "mean", source=src, color=colour, size=6)
        self.fig.title.text = f"{metric} against {x}: mean over seeds, 95% Student-t band"
        self.fig.xaxis.axis_label, self.fig.yaxis.axis_label = x, metric


class RealismTab:
    """The realism checklist, computed when the tab is first opened."""

    def __init__(self, source: data.Source):
        self.source, self.done = source, False
        self.body = column(Div(text="<p>computing when opened...</p>", name="realism_note"))
        self.layout = column(
            Div(
                text="<h3>Realism checklist</h3><p>analysis.checks.check_facts"
                " over every scenario x symbol series.</p>"
            ),
            self.body,
        )

    def compute(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            checks = data.realism(self.source)
        except Exception as err:  # too short a run, a constant series, ...
            self.body.children = [
                Div(
                    text=f"<p>checklist not available: {html.escape(str(err))}</p>",
                    name="realism_note",
                )
            ]
            return
        self.body.children = [table_of(checks, "realism_table", height=300)]


def latency_tab(source: data.Source):
    """The realised order delay per venue over time (a run with latency); a note otherwise."""
    grid = data.latency_grid(source)
    if grid is None:
        return column(
            Div(
                name="latency_note",
                text=(
                    "<h3>Latency</h3><p>This run has no latency: a market with "
                    "<code>latency.max_delay</code> &gt; 0 writes <code>latency.parquet</code>, "
                    "drawn here as the realised mean order delay per venue over time "
                    "(<code>qtgjax.views.dash_data.latency_grid</code>).</p>"
                ),
            )
        )
    image, width = grid
    fig = figure(
        name="latency",
        width=WIDTH,
        height=300,
        x_axis_label="tick",
        y_axis_label="venue",
        title="mean latency (ticks)",
    )
    mapper = LogColorMapper(
        palette=Viridis256,
        low=max(np.nanmin(image), 1e-3),
        high=max(np.nanmax(image), 1e-2),
        nan_color=TRANSPARENT,
    )
    fig.image(
        image=[image],
        x=0,
        y=-0.5,
        dw=image.shape[1] * width,
        dh=image.shape[0],
        color_mapper=mapper,
    )
    return column(fig)


def make_document(doc, source: data.Source, refresh_ms: int | None = None) -> None:
    """Fill a Bokeh document with the dashboard of ``source``; for a live run, re-read it
    every ``refresh_ms``."""
    source.refresh()
    scenarios, symbols = source.scenarios(), source.symbols()
    header = Div(name="header", width=WIDTH)
    if not scenarios:
        header.text = "<h2>qtgjax-dash</h2><p>waiting for the first ticks...</p>"
        doc.add_root(header)
        doc.add_timeout_callback(lambda: _restart(doc, source, refresh_ms), 1000)
        return
    book = BookTab(source, scenarios, symbols)
    pnl = PnlTab(source, scenarios)
    realism = RealismTab(source)
    tabs = Tabs(
        name="tabs",
        tabs=[
            TabPanel(child=book.layout, title="Book"),
            TabPanel(child=pnl.layout, title="P&L race"),
            TabPanel(child=ExplorerTab(source).layout, title="Study explorer"),
            TabPanel(child=realism.layout, title="Realism"),
            TabPanel(child=latency_tab(source), title="Latency"),
        ],
    )
    tabs.on_change("active", lambda attr, old, new: realism.compute() if new == 3 else None)

    def describe() -> str:
        n_ticks = book.slider.end + 1
        return (
            f"<h2>qtgjax-dash: {html.escape(source.name)}</h2><p>{source.kind}, "
            f"{len(scenarios)} scenarios, {len(symbols)} symbols, <span id='n_ticks'>"
            f"{n_ticks}</span> ticks</p>"
        )

    header.text = describe()
    doc.add_root(column(header, tabs))
    doc.title = f"qtgjax-dash: {source.name}"
    if refresh_ms:
        drawn_final = [False]

        def update() -> None:
            if drawn_final[0]:
                return
            drawn_final[0] = source.finished is not None and source.finished()
            source.refresh()
            book.reload(follow=True)
            if hasattr(pnl, "select"):
                pnl.reload()
            pnl.reload_league()
            header.text = describe()

        doc.add_periodic_callback(update, refresh_ms)


def _restart(doc, source, refresh_ms) -> None:
    doc.clear()
    make_document(doc, source, refresh_ms)
