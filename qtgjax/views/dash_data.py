"""What ``qtgjax-dash`` plots, as Polars/NumPy data (no Bokeh here; tested on its own).

A :class:`Source` is a run folder, a study folder or a live run; every table is read as a
``LazyFrame`` and filtered to one scenario and symbol before anything is collected, so a
large study opens in seconds (``pl.scan_parquet`` reads only the row groups it needs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from qtgjax.analysis.depth import MAX_COLUMNS, Heatmap, depth_heatmap, tick_size_of
from qtgjax.analysis.load import ResultsError, Study, open_study, scan_table
from qtgjax.analysis.stats import league_table, summarise

LATENCY_TABLE = "latency"  # the hook for venues: see latency_grid
__all__ = ["Heatmap", "Source", "book_at", "depth_heatmap", "latency_grid", "pnl_race"]


@dataclass
class Source:
    """Tables of a run folder, a study folder or a live run, read lazily.

    Attributes:
        kind: ``run``, ``sweep`` or ``live``.
        name: what the header shows.
        tick_size: currency per price tick.
        study: the opened folder (None for a live run).
        frames: for a live run, a callable returning its tables so far.
        finished: for a live run, a callable telling whether it is complete.
    """

    kind: str
    name: str
    tick_size: float
    study: Study | None = None
    frames: Callable[[], dict[str, pl.DataFrame]] | None = None
    finished: Callable[[], bool] | None = None
    _snapshot: dict = field(default_factory=dict)

    @staticmethod
    def folder(root: str | Path) -> Source:
        study = open_study(root)
        root = Path(root)
        return Source(study.kind, study.name, tick_size_of(root), study)

    def refresh(self) -> None:
        """Take a new snapshot of a live run's tables (no-op for folders)."""
        if self.frames is not None:
            self._snapshot = self.frames()

    def has(self, table: str) -> bool:
        if self.frames is not None:
            if not self._snapshot:
                self.refresh()
            return table in self._snapshot
        try:
            scan_table(self.study.root, table)
        except ResultsError:
            return False
        return True

    def scan(self, table: str) -> pl.LazyFrame:
        if self.frames is not None:
            if not self._snapshot:
                self.refresh()
            return self._snapshot[table].lazy()
        return self.study.scan(table)

    @property
    def swept(self) -> tuple[str, ...]:
        return self.study.swept if self.study is not None else ()

    def scenarios(self) -> list[int]:
        return (
            self.scan("ticks")
            .select(pl.col("scenario").unique())
            .collect()["scenario"]
            .sort()
            .to_list()
        )

    def symbols(self) -> list[int]:
        return (
            self.scan("ticks")
            .select(pl.col("symbol").unique())
            .collect()["symbol"]
            .sort()
            .to_list()
        )


def one_series(source: Source, scenario: int, symbol: int) -> pl.DataFrame:
    """ticks rows of one scenario and symbol, by tick."""
    return (
        source.scan("ticks")
        .filter((pl.col("scenario") == scenario) & (pl.col("symbol") == symbol))
        .sort("tick")
        .collect()
    )


def book_at(depth_scan: pl.LazyFrame, scenario: int, symbol: int, tick: int) -> pl.DataFrame:
    """The depth record at ``tick`` (or the last one before it) of one book:
    ``side, level, price, lots``."""
    rows = depth_scan.filter(
        (pl.col("scenario") == scenario) & (pl.col("symbol") == symbol) & (pl.col("tick") <= tick)
    )
    last = rows.select(pl.col("tick").max()).collect().item()
    if last is None:
        return pl.DataFrame(
            schema={
                "tick": pl.Int64,
                "side": pl.Utf8,
                "level": pl.Int32,
                "price": pl.Float64,
                "lots": pl.Int64,
            }
        )
    return (
        rows.filter(pl.col("tick") == last)
        .select("tick", "side", "level", "price", "lots")
        .sort("side", "level")
        .collect()
    )


def pnl_race(source: Source, scenario: int | None) -> pl.DataFrame:
    """``family, tick, pnl_per_agent``: one scenario's P&L per agent over time, or the mean
    over scenarios (``scenario`` None)."""
    pnl = source.scan("family_pnl")
    if scenario is not None:
        pnl = pnl.filter(pl.col("scenario") == scenario)
    return (
        pnl.group_by("family", "tick")
        .agg(pl.col("pnl_per_agent").mean())
        .sort("family", "tick")
        .collect()
    )


def league(source: Source) -> pl.DataFrame:
    return league_table(source.scan("agents"))


def explorer_stats(
    summary: pl.DataFrame, x: str, metric: str, hue: str | None = None
) -> pl.DataFrame:
    """Mean of ``metric`` over seeds against swept ``x`` (and ``hue``), with 95% CIs
    (:func:`qtgjax.analysis.stats.summarise`)."""
    by = [x] if hue is None else [x, hue]
    return summarise(summary, by, [metric]).sort(*by)


def explorer_choices(source: Source, summary: pl.DataFrame) -> tuple[list[str], list[str]]:
    """(metrics, numeric swept columns) a study explorer can plot."""
    swept = [c for c in source.swept if c in summary.columns]
    skip = {"scenario", "point", "replicate", "seed", "chunk", *swept}
    metrics = [c for c in summary.columns if c not in skip and summary[c].dtype.is_numeric()]
    xs = [c for c in swept if summary[c].dtype.is_numeric()]
    return metrics, xs


def realism(source: Source, scenarios: Sequence[int] | None = None) -> pl.DataFrame:
    """:func:`qtgjax.analysis.checks.check_facts` of the source's series (every scenario x
    symbol, or those of ``scenarios``)."""
    from qtgjax.analysis.checks import check_facts
    from qtgjax.analysis.series import split_series

    ticks = source.scan("ticks")
    if scenarios is not None:
        ticks = ticks.filter(pl.col("scenario").is_in(list(scenarios)))
    return check_facts(split_series(ticks.collect()))


def latency_grid(source: Source, max_columns: int = MAX_COLUMNS):
    """The latency heatmap (venues and latency, issue #12): the realised mean order delay,
    ticks, per (venue, tick bin) of the run's ``latency`` table (``latency.parquet``: per
    scenario, tick, family and venue the messages ``delivered`` and their ``delay_sum``),
    over every family and scenario: ``sum(delay_sum) / sum(delivered)``, NaN where nothing
    was delivered. None when the run has no latency table (a market without latency)."""
    if not source.has(LATENCY_TABLE):
        return None
    table = source.scan(LATENCY_TABLE)
    if not {"venue", "tick", "delivered", "delay_sum"} <= set(table.collect_schema().names()):
        return None
    n_ticks = int(table.select(pl.col("tick").max()).collect().item()) + 1
    width = max(1, -(-n_ticks // max_columns))
    grid = (
        table.group_by("venue", (pl.col("tick") // width).alias("bin"))
        .agg(pl.col("delay_sum").sum().alias("delay"), pl.col("delivered").sum().alias("n"))
        .collect()
    )
    n_venues = int(grid["venue"].max()) + 1
    image = np.full((n_venues, int(grid["bin"].max()) + 1), np.nan)
    n = grid["n"].to_numpy().astype(np.float64)
    mean = np.divide(grid["delay"].to_numpy(), n, out=np.full(n.shape, np.nan), where=n > 0)
    image[grid["venue"].to_numpy(), grid["bin"].to_numpy()] = mean
    return image, width
