"""A run written into its folder: locked, chunk by chunk, nothing held that is not needed.

``qtgjax-run`` calls :func:`run_to_folder`: the config is validated and the run's memory
planned before anything compiles (a run that cannot fit even one scenario at a time is
refused with the estimate), the folder is locked (:class:`~qtgjax.io.runfolder.RunFolder`),
and when the scenarios run in several chunks each chunk's tables are written to disk
(``DIR/.parts/``) before the next chunk runs, then joined into one file per table
(``ticks.parquet``, ``agents.parquet``, ...) by streaming, so host memory holds one chunk at
a time. The files are the same, row for row, as one ``qtgjax.simulate(...).write(DIR)``.
``record.features`` adds ``dataset.parquet``, chunk by chunk from each chunk's ticks
(:func:`qtgjax.ml.dataset.build_dataset`, split over all the run's scenarios): the file
``qtgjax-dataset`` writes for the same config.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from omegaconf import OmegaConf

from qtgjax.config.build import Built, ConfigError, build, number, scenario_keys, scenario_params
from qtgjax.config.units import parse_memory
from qtgjax.io.atomic import write_parquet, write_text
from qtgjax.io.price_limits import PriceLimitWarning, limit_counts, limit_message
from qtgjax.io.runfolder import RunFolder
from qtgjax.io.summary import scenario_market_stats
from qtgjax.io.tables import all_tables, table_names
from qtgjax.ml.dataset import DATASET_FILE, build_dataset, features_record
from qtgjax.sim.chunk import ChunkPlan, iter_chunks, plan_chunks

CONFIG_FILE = "config.yaml"
PARTS = ".parts"


@dataclass(frozen=True)
class RunOptions:
    """How a run is written (top-level keys of the config).

    Attributes:
        overwrite: replace files in the folder that no qtgjax run wrote.
        chunk_size: scenarios per compiled call, or None (as many as fit).
        chunk_memory: memory budget of one call in bytes, or None (half the free memory).
    """

    overwrite: bool = False
    chunk_size: int | None = None
    chunk_memory: int | None = None


def run_options(cfg: Mapping) -> RunOptions:
    """The validated ``overwrite``, ``chunk_size`` and ``chunk_memory`` of a config."""
    overwrite = cfg.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite: expected true or false, got {overwrite!r}")
    size = cfg.get("chunk_size")
    if size is not None:
        size = number(cfg, "chunk_size", (1, 10**7), "")
    memory = cfg.get("chunk_memory")
    if memory is not None:
        try:
            memory = parse_memory(memory, "chunk_memory")
        except ValueError as err:
            raise ConfigError(str(err)) from None
    return RunOptions(overwrite, size, memory)


def config_text(config: Mapping) -> str:
    return OmegaConf.to_yaml(OmegaConf.create(dict(config)))


def write_tables(
    tables: Mapping[str, pl.DataFrame], config: Mapping, folder, overwrite: bool = False
) -> Path:
    """Write result tables and the resolved config into a locked run folder."""
    folder = Path(folder)
    files = [*(f"{name}.parquet" for name in tables), CONFIG_FILE]
    with RunFolder(folder, files, overwrite=overwrite) as out:
        for name, df in tables.items():
            out.write(f"{name}.parquet", lambda path, df=df: write_parquet(df, path))
        out.write(CONFIG_FILE, lambda path: write_text(config_text(config), path))
        out.finish()
    return folder


@dataclass(frozen=True)
class RunOutput:
    """A run written to its folder.

    Attributes:
        folder: the run folder.
        built: validated static shapes, params and run settings.
        plan: how the scenarios were chunked.
        seconds: wall time of planning, simulating and writing (compile included).
        price_limits: the warning about prices stuck at the exact-money limits, or None.
        market_stats: per (scenario, symbol) market statistics gathered chunk by chunk
            (:func:`~qtgjax.io.summary.scenario_market_stats`).
    """

    folder: Path
    built: Built
    plan: ChunkPlan
    seconds: float
    price_limits: str | None
    market_stats: pl.DataFrame


def run_to_folder(cfg: Mapping, folder) -> RunOutput:
    """Validate, plan, lock the folder, simulate and write (see the module's text).

    Raises:
        ConfigError: a bad config value (before anything compiles).
        MemoryBudgetError: one scenario cannot fit the memory budget (before compiling).
        FolderBusy, FolderError: another run writes into ``folder``, or it holds files that
            no qtgjax run wrote (without ``overwrite=true``).
    """
    started = time.perf_counter()
    built = build(cfg)
    options = run_options(cfg)
    static, run = built.static, built.run
    plan = plan_chunks(
        static,
        built.params,
        run.ticks,
        run.scenarios,
        chunk=options.chunk_size,
        budget_bytes=options.chunk_memory,
        budget_name="chunk_memory",
    )
    params = scenario_params(built.params, run.scenarios)
    keys = scenario_keys(run.seed, run.scenarios)
    folder = Path(folder)
    dataset = features_record(cfg.get("record") or {})  # record.features (build checked it)
    files = [*(f"{t}.parquet" for t in table_names(static)), CONFIG_FILE,
             *([DATASET_FILE] if dataset else [])]
    low = high = np.zeros(static.n_symbols, np.int64)
    with RunFolder(folder, files, overwrite=options.overwrite) as out:
        parts = folder / PARTS
        shutil.rmtree(parts, ignore_errors=True)  # a killed run's leftovers
        names: list[str] = []
        stats = []
        for index, (first, rollout) in enumerate(
            iter_chunks(static, params, keys, run.ticks, plan)
        ):
            tables = all_tables(static, rollout, run.tick_size, first)
            if dataset:
                tables["dataset"] = build_dataset(
                    tables["ticks"], run.tick_size, built.params.market.indicators,
                    static.history, dataset.horizons, dataset.test_fraction,
                    scenarios=range(run.scenarios))
            names = list(tables)
            stats.append(scenario_market_stats(tables["ticks"]))
            counts = limit_counts(rollout.records.close)
            low, high = low + counts[0], high + counts[1]
            del rollout
            if plan.n_chunks == 1:
                for name, df in tables.items():
                    out.write(f"{name}.parquet", lambda path, df=df: write_parquet(df, path))
            else:
                for name, df in tables.items():
                    write_parquet(df, parts / name / f"part-{index:06d}.parquet")
            del tables
        if plan.n_chunks > 1:
            order = [f.name for f in static.families]
            for name in names:
                joined = join_parts(parts / name, name, order)
                out.write(f"{name}.parquet", lambda path, lf=joined: write_parquet(lf, path))
            shutil.rmtree(parts, ignore_errors=True)
        out.write(CONFIG_FILE, lambda path: write_text(config_text(cfg), path))
        out.finish()
    message = limit_message(low, high, run.scenarios * run.ticks)
    if message:
        warnings.warn(message, PriceLimitWarning, stacklevel=2)
    seconds = time.perf_counter() - started
    return RunOutput(folder, built, plan, seconds, message, pl.concat(stats))


def join_parts(folder: Path, table: str, families: list[str]) -> pl.LazyFrame:
    """The chunks' parts of one table as one LazyFrame in the row order of an unchunked
    run (parts are named in chunk order; positions are ordered by family first)."""
    lazy = pl.scan_parquet(sorted(folder.glob("part-*.parquet")))
    if table == "positions":
        rank = {name: i for i, name in enumerate(families)}
        lazy = (
            lazy.with_columns(
                pl.col("family").replace_strict(rank, return_dtype=pl.Int32).alias("_f")
            )
            .sort("_f", "scenario", "symbol", maintain_order=True)
            .drop("_f")
        )
    return lazy
