"""What a worker does with one chunk: simulate it in one compiled call and write its files.

Module-level functions only, so Dask can pickle them by reference into spawned workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np
import polars as pl

from qtgjax.io.atomic import write_parquet
from qtgjax.io.tables import all_tables
from qtgjax.sim.rollout import rollout
from qtgjax.sweep.metrics import scenario_metrics
from qtgjax.sweep.plan import ChunkTask
from qtgjax.sweep.store import TABLES, chunk_file, write_record


@dataclass(frozen=True)
class ChunkReport:
    """What a finished chunk reports back.

    Attributes:
        index: chunk id.
        scenarios: real scenarios written.
        rows: rows written per table.
        seconds: wall time of the chunk (compile included on a worker's first call).
        scenario_ticks: scenarios x ticks simulated (padding excluded).
        at_price_limit: rows of the chunk's ticks table whose close sat at an exact-money
            price limit (``qtgjax.io.price_limits``).
    """

    index: int
    scenarios: int
    rows: dict
    seconds: float
    scenario_ticks: int
    at_price_limit: int = 0


@jax.jit
def chunk_keys(seeds, replicates):
    """Key of each scenario: fold_in(key(seed), replicate), as ``scenario_keys`` gives it."""
    return jax.vmap(lambda s, r: jax.random.fold_in(jax.random.key(s), r))(seeds, replicates)


def simulate_chunk(task: ChunkTask):
    """The rollout of every (padded) scenario of the chunk."""
    params = jax.tree.map(jax.numpy.asarray, task.params)
    keys = chunk_keys(task.seeds, task.replicates)
    return jax.block_until_ready(rollout(task.static, params, keys, task.ticks))


def chunk_tables(task: ChunkTask, out) -> dict[str, pl.DataFrame]:
    """The four tables of a chunk: padding dropped, global ids and swept values added."""
    families = [f.name for f in task.static.families]
    local = all_tables(task.static, out, task.tick_size)
    n = len(task.columns["scenario"])
    local = {k: df.filter(pl.col("scenario") < n) for k, df in local.items()}
    local["summary"] = scenario_metrics(local["ticks"], local["agents"], families)
    ids = pl.DataFrame(
        {
            name: pl.Series(name, values, dtype=getattr(pl, task.dtypes[name]))
            for name, values in task.columns.items()
        }
    ).with_columns(pl.Series("_local", np.arange(n, dtype=np.int64)))
    id_names = list(task.columns)
    tables = {}
    for name, df in local.items():
        joined = df.rename({"scenario": "_local"}).join(
            ids, on="_local", how="left", maintain_order="left"
        )
        rest = [c for c in df.columns if c != "scenario"]
        tables[name] = joined.select(*id_names, *rest)
    return tables


def run_chunk(task: ChunkTask) -> ChunkReport:
    """Simulate one chunk, write its tables atomically, read them back and write its
    completion record last (:func:`~qtgjax.sweep.store.write_record`)."""
    started = time.perf_counter()
    out = simulate_chunk(task)
    tables = chunk_tables(task, out)
    for name in TABLES:
        write_parquet(tables[name], chunk_file(task.out, name, task.index))
    write_record(task.out, task.index, {name: tables[name].height for name in TABLES})
    n = len(task.columns["scenario"])
    return ChunkReport(
        index=task.index,
        scenarios=n,
        rows={k: v.height for k, v in tables.items()},
        seconds=time.perf_counter() - started,
        scenario_ticks=n * task.ticks,
        at_price_limit=int(tables["ticks"]["at_price_limit"].sum()),
    )
