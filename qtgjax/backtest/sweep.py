"""Backtest grids through ``qtgjax-sweep``: sweep files of ``kind: backtest``.

The same grid as ``qtgjax-backtest`` (its settings as ``overrides``, its ``grid.NAME``
values as the sweep's axes), cut into chunks of whole points that Dask runs on any
``cluster=`` of ``qtgjax-sweep``; a killed study resumes with the missing chunks only::

    kind: backtest
    description: SMA crossover grid on the S&P 500
    overrides: [data=sp500, strategy=trend, fill=close, costs=none]   # qtgjax-backtest settings
    grid:                           # grid.fast x grid.slow (linked axes and random draws too)
      fast: [5, 10, 20, 30]
      slow: [50, 100, 150, 200]
    chunk_size: 64                  # most columns (points x symbols) per compiled call
    chunk_memory: 2GiB              # memory budget of one call

The study folder (``qtgjax-sweep ... out=DIR``)::

    DIR/study.yaml, DIR/config.yaml                 manifest; the resolved backtest config
    DIR/equity/chunk=C/part-0.parquet               record=trades|equity (qtgjax-backtest's)
    DIR/trades/chunk=C/part-0.parquet               record=trades
    DIR/folds/chunk=C/part-0.parquet                walk-forward: per (symbol, fold, point)
    DIR/stats/chunk=C/part-0.parquet                the chunk's summary rows before the grid's
                                                    deflated Sharpe
    DIR/summary/chunk=C/part-0.parquet              written when every chunk is done
    DIR/walk_forward.parquet                        the same (walk-forward splits)

``summary``, ``equity``, ``trades`` and ``walk_forward`` hold exactly the rows of
``qtgjax-backtest`` on the same grid (``pl.scan_parquet(DIR / "summary",
hive_partitioning=True)`` adds the ``chunk`` column). The data are read and every point is
validated, and the view tables computed, once, where ``qtgjax-sweep`` runs; the chunks
carry their columns and the bars to the workers (no data files needed there).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from qtgjax.backtest import results as res
from qtgjax.backtest.api import compose_backtest, run_setup
from qtgjax.backtest.engine import column_bytes
from qtgjax.backtest.setup import Setup, make_setup
from qtgjax.backtest.strategies import POLICY, strategy_family
from qtgjax.config.build import ConfigError
from qtgjax.data import DataError
from qtgjax.io.atomic import write_parquet
from qtgjax.sim.chunk import ChunkPlan
from qtgjax.sweep.kinds import StudyKind
from qtgjax.sweep.plan import (
    DEFAULT_CHUNK_MEMORY,
    DEFAULT_CHUNK_SIZE,
    Chunk,
    chunk_layout,
    config_hash,
    polars_type,
)
from qtgjax.sweep.spec import Point, SweepError, SweepSpec, expand_points
from qtgjax.sweep.store import chunk_file, write_record
from qtgjax.sweep.worker import ChunkReport

FINAL = "summary"  # written by finish(); per chunk, like the others


@dataclass(frozen=True)
class BacktestTask:
    """One chunk of points for a worker (picklable: NumPy leaves, no family objects).

    Attributes:
        index: chunk id; group: always 0 (one compiled shape per study).
        config: the resolved backtest config.
        setup: the chunk's points (:meth:`Setup.points_slice`), family left out.
        strategy, direction: the registry family a worker looks up (strategy_family).
        policy: the :class:`~qtgjax.backtest.policy.PolicyTrader` of ``strategy=policy``.
        size: columns per compiled call (every chunk padded to it: one compile).
        tables: the tables to write (then the completion record, qtgjax.sweep.store).
        out: the study folder.
    """

    index: int
    group: int
    config: dict
    setup: Setup
    strategy: str
    direction: str
    policy: object
    size: int
    tables: tuple
    out: str


@dataclass(frozen=True)
class BacktestPlan:
    """A validated backtest study.

    Attributes:
        spec: the sweep file.
        points: its points (the backtest grid's points, in grid order).
        setup: every point's columns and the market (computed once).
        chunks: chunks of whole points (``Chunk.scenarios`` holds their point indices).
        config: the resolved backtest config with an empty ``grid`` (the points are the
            plan's); what ``config.yaml`` holds (``base_config``).
        fingerprint: sha256 over the config, points, data and chunk layout.
        tables: per-chunk tables (each chunk ends with its completion record).
    """

    spec: SweepSpec
    points: tuple[Point, ...]
    setup: Setup
    chunks: tuple[Chunk, ...]
    config: dict
    fingerprint: str
    tables: tuple[str, ...]

    @property
    def base_config(self) -> dict:
        return self.config

    def task(self, chunk: Chunk, out: str | Path) -> BacktestTask:
        first, last = chunk.scenarios[0], chunk.scenarios[-1] + 1
        part = self.setup.points_slice(first, last)
        columns, market = jax.tree.map(np.asarray, (part.columns, part.market))
        part = replace(part, family=None, columns=columns, market=market)
        family = self.setup.family
        return BacktestTask(
            index=chunk.index, group=0, config=self.config, setup=part,
            strategy=self.config["strategy"], direction=self.config.get("direction", "both"),
            policy=family if self.config["strategy"] == POLICY else None, size=chunk.size,
            tables=self.tables, out=str(out),
        )


def chunk_tables(config: dict) -> tuple[str, ...]:
    """What every chunk writes: equity/trades as ``record`` keeps them, folds for a
    walk-forward, and stats (then the chunk's completion record)."""
    record = config.get("record", "trades")
    tables = {"trades": ("equity", "trades"), "equity": ("equity",)}.get(record, ())
    if "test" in (config.get("split") or {}):
        tables += ("folds",)
    return (*tables, "stats")


def data_hash(bars) -> str:
    digest = hashlib.sha256()
    for b in bars:
        digest.update(b.symbol.encode())
        for x in (b.time, b.open, b.high, b.low, b.close, b.volume):
            digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()


def make_backtest_plan(spec: SweepSpec, chunk_size: int | None = None,
                       chunk_memory: int | None = None) -> BacktestPlan:
    """Compose the backtest, validate every point, read the data, compute the views, cut
    the points into chunks (at most ``chunk_size`` columns, within ``chunk_memory``)."""
    if spec.replicates != (0,):
        raise SweepError(f"{spec.source}: seeds: a backtest runs every point once on the data; "
                         "set the backtest's seed in overrides (seed=N)")
    try:
        cfg = compose_backtest(spec.overrides)
    except Exception as err:  # Hydra's override and composition errors
        raise SweepError(f"{spec.source}: overrides: {err}") from err
    if cfg.get("grid"):
        raise SweepError(f"{spec.source}: overrides: grid.{next(iter(cfg['grid']))}: the sweep's "
                         "grid: sets the backtest grid; move it there")
    points = tuple(expand_points(spec))
    try:
        setup = make_setup(cfg, points=[dict(p.settings) for p in points])
    except (ConfigError, DataError) as err:
        raise SweepError(f"{spec.source}: {err}") from err
    n_groups = len(setup.groups)
    one = jax.tree.map(lambda x: x[0], setup.columns)
    per = column_bytes(setup.family, setup.spec, one, setup.market,
                       cfg.get("record", "trades") != "summary")
    cap = chunk_size or spec.chunk_size or DEFAULT_CHUNK_SIZE
    budget = chunk_memory or spec.chunk_memory or DEFAULT_CHUNK_MEMORY
    per_chunk = max(1, min(cap, budget // per) // n_groups)  # whole points
    layout = chunk_layout(len(points), per_chunk)
    size = max(c for _, c in layout) * n_groups
    chunks = tuple(Chunk(i, 0, tuple(range(start, start + count)), size)
                   for i, (start, count) in enumerate(layout))
    config = {**cfg, "grid": {}}
    fingerprint = config_hash({
        "kind": "backtest", "config": config, "points": [dict(p.settings) for p in points],
        "data": data_hash(setup.bars), "chunks": [[c.size, list(c.scenarios)] for c in chunks],
    })
    return BacktestPlan(spec, points, setup, chunks, config, fingerprint, chunk_tables(config))


def run_backtest_chunk(task: BacktestTask) -> ChunkReport:
    """Run one chunk's columns in one compiled call of ``task.size`` columns and write its
    tables atomically, then its completion record."""
    started = time.perf_counter()
    family = task.policy or strategy_family(task.strategy, task.direction)
    columns, market = jax.tree.map(jnp.asarray, (task.setup.columns, task.setup.market))
    setup = replace(task.setup, family=family, columns=columns, market=market)
    n = len(setup.points) * len(setup.groups)
    plan = ChunkPlan(n, task.size, 0, 0, str(jax.devices()[0]))
    result = run_setup(task.config, setup, plan)
    tables = {"stats": result.point_stats()}
    for name in task.tables:
        if name != "stats":
            tables[name] = getattr(result, name)()
    for name in task.tables:
        write_parquet(tables[name], chunk_file(task.out, name, task.index))
    rows = {name: tables[name].height for name in task.tables}
    write_record(task.out, task.index, rows, task.tables)  # the completion record, last
    n_bars = int(setup.market.close.shape[0])
    return ChunkReport(task.index, n, rows, time.perf_counter() - started, n * n_bars)


def read_parts(out: Path, table: str, chunks) -> pl.DataFrame:
    """Every chunk's part of ``table``, in chunk order, with the chunk index ``_chunk``."""
    return pl.concat([
        pl.read_parquet(chunk_file(out, table, c.index)).with_columns(_chunk=pl.lit(c.index))
        for c in chunks
    ])


def finish(plan: BacktestPlan, out: str | Path) -> None:
    """The grid-level tables once every chunk is done: ``summary`` (each chunk's rows with
    the deflated Sharpe over the whole grid) and ``walk_forward`` (the best point per fold
    among all points)."""
    out = Path(out)
    summary = res.with_deflated_sharpe(read_parts(out, "stats", plan.chunks))
    for c in plan.chunks:
        part = summary.filter(pl.col("_chunk") == c.index).drop("_chunk")
        write_parquet(part, chunk_file(out, FINAL, c.index))
    if "folds" in plan.tables:
        s = plan.setup
        table = res.walk_forward_table(read_parts(out, "folds", plan.chunks).drop("_chunk"),
                                       res.point_frame(s.points, s.grid_keys))
        if table is not None:
            write_parquet(table, out / "walk_forward.parquet")


def manifest(plan: BacktestPlan) -> dict:
    """``study.yaml`` of a backtest study."""
    spec, s = plan.spec, plan.setup
    swept = {}
    for axis in spec.grid:
        swept[axis.name] = {"dtype": polars_type(list(axis.values)), "where": axis.where,
                            "keys": sorted(axis.sets[0]), "values": list(axis.values)}
    for param in spec.random:
        swept[param.name] = {"dtype": polars_type([p.values[param.name] for p in plan.points]),
                             "where": param.where, "keys": [param.key],
                             "distribution": {param.dist: list(param.args)}}
    return {
        "name": spec.name,
        "kind": "backtest",
        "source": spec.source,
        "description": spec.description,
        "fingerprint": plan.fingerprint,
        "strategy": plan.config["strategy"],
        "points": len(plan.points),
        "symbols": [b.symbol for b in s.bars],
        "portfolio": bool(plan.config.get("portfolio", False)),
        "columns": len(plan.points) * len(s.groups),
        "bars": int(s.market.close.shape[0]),
        "chunks": len(plan.chunks),
        "chunk_size": plan.chunks[0].size,
        "swept": swept,
        "tables": [*plan.tables, FINAL] + (["walk_forward"] if "folds" in plan.tables else []),
        "overrides": list(spec.overrides),
    }


def describe(plan: BacktestPlan) -> str:
    s = plan.setup
    return (f"backtest of {plan.config['strategy']}: {len(plan.points)} points x "
            f"{len(s.groups)} symbol group(s) = {len(plan.points) * len(s.groups)} columns of "
            f"{int(s.market.close.shape[0]):,} bars")


def backtest_tables(plan: BacktestPlan) -> tuple[str, ...]:
    return plan.tables


BACKTEST = StudyKind(make_backtest_plan, backtest_tables, run_backtest_chunk, manifest,
                     describe, finish, unit="column-bars")
