"""A study's plan: every point built and validated, grouped by static shapes, cut into chunks.

Scenario ``(point p, replicate r)`` has id ``p * R + r`` (R replicates per point) and key
``fold_in(key(seed_p), r)``, exactly scenario ``r`` of ``qtgjax-run`` with the point's
config, so neither packing nor chunking changes a number.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jax
import numpy as np
from omegaconf import DictConfig, OmegaConf

from qtgjax.api import compose_config, to_plain
from qtgjax.config.build import Built, ConfigError, build
from qtgjax.io.tables import all_tables
from qtgjax.sim.chunk import gib, scenario_bytes
from qtgjax.sim.rollout import rollout
from qtgjax.sweep.metrics import reserved_columns
from qtgjax.sweep.spec import Point, SweepError, SweepSpec, expand_points

DEFAULT_CHUNK_SIZE = 64
DEFAULT_CHUNK_MEMORY = 2 * 2**30


@dataclass(frozen=True)
class Group:
    """Points that share static shapes: one compiled ``rollout`` runs all their scenarios.

    Attributes:
        static: the shared :class:`~qtgjax.sim.types.SimStatic`.
        ticks: T, ticks per scenario.
        tick_size: currency per tick (reporting).
        points: indices of the points in the group.
        scenario_bytes: estimated peak memory per scenario of a chunk, bytes (the records
            on the device, their host copy and the tables built from them, and the
            states: :func:`qtgjax.sim.chunk.scenario_bytes`).
    """

    static: Any
    ticks: int
    tick_size: float
    points: tuple[int, ...]
    scenario_bytes: int


@dataclass(frozen=True)
class Chunk:
    """One compiled call: ``size`` scenarios (the last ones repeated as padding if needed).

    Attributes:
        index: chunk id; its files are ``TABLE/chunk=INDEX/part-0.parquet``.
        group: index of its :class:`Group`.
        scenarios: ids of the real scenarios it computes, ascending.
        size: B of the compiled call (>= len(scenarios)).
    """

    index: int
    group: int
    scenarios: tuple[int, ...]
    size: int


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to compute and write one chunk (picklable, numpy leaves).

    Attributes:
        index: chunk id.
        group: index of its shape group (chunks of one group share one compiled call).
        static: SimStatic of the group.
        ticks: T.
        tick_size: currency per tick.
        params: SimParams with leading axis B (numpy arrays).
        seeds: int32[B] config seed of each scenario.
        replicates: int32[B] replicate index r of each scenario (key fold_in(key(seed), r)).
        columns: id columns and swept values of the real scenarios (n <= B rows each).
        dtypes: Polars dtype name of each of ``columns``.
        out: the study folder.
    """

    index: int
    group: int
    static: Any
    ticks: int
    tick_size: float
    params: Any
    seeds: np.ndarray
    replicates: np.ndarray
    columns: Mapping[str, list]
    dtypes: Mapping[str, str]
    out: str


@dataclass(frozen=True)
class Plan:
    """A validated study ready to run.

    Attributes:
        spec: the sweep file.
        points: every point.
        built: per point, its validated static/params/run settings.
        config_hashes: per point, sha256 of its resolved config.
        groups: static-shape groups.
        chunks: every chunk, in order.
        base_config: the resolved config every point starts from.
        fingerprint: sha256 over configs, replicates and chunk layout.
        columns: the engine's own columns of the ticks, agents and positions tables.
    """

    spec: SweepSpec
    points: tuple[Point, ...]
    built: tuple[Built, ...]
    config_hashes: tuple[str, ...]
    groups: tuple[Group, ...]
    chunks: tuple[Chunk, ...]
    base_config: dict
    fingerprint: str
    columns: Mapping[str, list[str]]

    @property
    def n_replicates(self) -> int:
        return len(self.spec.replicates)

    @property
    def n_scenarios(self) -> int:
        return len(self.points) * self.n_replicates

    @cached_property
    def dtypes(self) -> dict[str, str]:
        """Polars dtype name of each id and swept column."""
        out = {"scenario": "Int64", "point": "Int64", "replicate": "Int64", "seed": "Int64"}
        for name in self.spec.columns:
            out[name] = polars_type([p.values[name] for p in self.points])
        return out

    def task(self, chunk: Chunk, out: str | Path) -> ChunkTask:
        """The work of one chunk (params stacked along the scenario axis, padded to size)."""
        group = self.groups[chunk.group]
        ids = list(chunk.scenarios) + [chunk.scenarios[-1]] * (chunk.size - len(chunk.scenarios))
        n_rep = self.n_replicates
        point_of = [i // n_rep for i in ids]
        params = stack([self.built[p].params for p in point_of])
        seeds = np.asarray([self.built[p].run.seed for p in point_of], np.int32)
        reps = np.asarray([self.spec.replicates[i % n_rep] for i in ids], np.int32)
        real = list(chunk.scenarios)
        columns = {
            "scenario": real,
            "point": [i // n_rep for i in real],
            "replicate": [self.spec.replicates[i % n_rep] for i in real],
            "seed": [self.built[i // n_rep].run.seed for i in real],
        }
        for name in self.spec.columns:
            columns[name] = [self.points[i // n_rep].values[name] for i in real]
        return ChunkTask(
            index=chunk.index,
            group=chunk.group,
            static=group.static,
            ticks=group.ticks,
            tick_size=group.tick_size,
            params=params,
            seeds=seeds,
            replicates=reps,
            columns=columns,
            dtypes=self.dtypes,
            out=str(out),
        )


def polars_type(values: Sequence) -> str:
    """Polars dtype name of a column of swept values."""
    if all(isinstance(v, bool) for v in values):
        return "Boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "Int64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "Float64"
    return "String"


def stack(params_list: Sequence) -> Any:
    """Stack per-scenario SimParams along a new leading axis (numpy leaves, dtypes kept)."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *params_list)


def compose_base(overrides: Sequence[str]) -> DictConfig:
    """``conf/config.yaml`` with Hydra overrides, unresolved (so interpolations still follow
    values a point sets). Works inside a running Hydra app too."""
    cfg = compose_config(overrides, "config")
    OmegaConf.set_struct(cfg, False)
    return cfg


def check_keys(spec: SweepSpec, base: DictConfig) -> None:
    """Every swept config key must name a value of the base config."""
    missing = object()
    keyed = [(k, a.where) for a in spec.grid for k in a.sets[0]]
    keyed += [(p.key, p.where) for p in spec.random]
    for key, where in keyed:
        node = OmegaConf.select(base, key, default=missing, throw_on_resolution_failure=False)
        if node is missing:
            raise SweepError(f"{spec.source}: {where}: {key} is not a key of the config")
        if isinstance(node, DictConfig | Mapping) or OmegaConf.is_list(node):
            raise SweepError(f"{spec.source}: {where}: {key} is a section, not a single value")


def point_config(base: DictConfig, point: Point) -> dict:
    """The resolved plain config of one point."""
    cfg = copy.deepcopy(base)
    for key, value in point.settings.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return to_plain(cfg)


def build_point(spec: SweepSpec, base: DictConfig, point: Point) -> tuple[Built, dict]:
    """Validate one point; a bad value raises SweepError naming the sweep-file key."""
    cfg = point_config(base, point)
    try:
        return build(cfg), cfg
    except ConfigError as err:
        key = str(err).split(":")[0]
        if key in point.origin:
            value = point.settings[key]
            raise SweepError(f"{spec.source}: {point.origin[key]}: {value!r} -> {err}") from err
        raise SweepError(f"{spec.source}: point {dict(point.values)}: {err}") from err


def config_hash(cfg: Mapping) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def output_shapes(built: Built):
    """Shapes and dtypes of the rollout of one scenario of ``built`` (traced, not run)."""
    params = stack([built.params])
    keys = jax.random.split(jax.random.key(0), 1)
    return jax.eval_shape(lambda p, k: rollout(built.static, p, k, built.run.ticks), params, keys)


def table_columns(built: Built, shapes) -> dict[str, list[str]]:
    """Column names of the engine's tables (from an all-zero output of ``shapes``)."""
    zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    with np.errstate(all="ignore"):
        tables = all_tables(built.static, zeros, built.run.tick_size)
    return {name: df.columns for name, df in tables.items()}


def chunk_layout(n: int, size_cap: int) -> list[tuple[int, int]]:
    """Split n scenarios into balanced chunks of at most size_cap: (start, count) pairs."""
    n_chunks = math.ceil(n / size_cap)
    base, extra = divmod(n, n_chunks)
    sizes = [base + (i < extra) for i in range(n_chunks)]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return [(int(s), c) for s, c in zip(starts, sizes, strict=True)]


def make_plan(
    spec: SweepSpec, chunk_size: int | None = None, chunk_memory: int | None = None
) -> Plan:
    """Build and validate every point, group by static shapes, cut groups into chunks.

    Args:
        spec: the sweep file.
        chunk_size: most scenarios per call (overrides the file's; default 64).
        chunk_memory: memory budget per call in bytes (overrides the file's; default 2 GiB).
    """
    try:
        base = compose_base(spec.overrides)
    except Exception as err:  # Hydra's override and composition errors
        raise SweepError(f"{spec.source}: overrides: {err}") from err
    check_keys(spec, base)
    points = tuple(expand_points(spec))
    built, hashes = [], []
    for point in points:
        b, cfg = build_point(spec, base, point)
        built.append(b)
        hashes.append(config_hash(cfg))
    cap = chunk_size or spec.chunk_size or DEFAULT_CHUNK_SIZE
    budget = chunk_memory or spec.chunk_memory or DEFAULT_CHUNK_MEMORY
    by_shape: dict[tuple, list[int]] = {}
    for i, b in enumerate(built):
        by_shape.setdefault((b.static, b.run.ticks, b.run.tick_size), []).append(i)
    groups, chunks = [], []
    n_rep = len(spec.replicates)
    for g, ((static, ticks, tick_size), members) in enumerate(by_shape.items()):
        shapes = output_shapes(built[members[0]])
        if g == 0:
            columns = table_columns(built[0], shapes)
            _check_columns(spec, built[0], columns)
        per = group_bytes(spec, built[members[0]], budget)
        groups.append(Group(static, ticks, tick_size, tuple(members), per))
        ids = [p * n_rep + r for p in members for r in range(n_rep)]
        size_cap = max(1, min(cap, budget // per))
        layout = chunk_layout(len(ids), size_cap)
        size = max(c for _, c in layout)
        for start, count in layout:
            chunks.append(Chunk(len(chunks), g, tuple(ids[start : start + count]), size))
    fingerprint = config_hash(
        {
            "configs": hashes,
            "replicates": list(spec.replicates),
            "columns": {p.index: dict(p.values) for p in points},
            "chunks": [[c.group, c.size, list(c.scenarios)] for c in chunks],
        }
    )
    return Plan(
        spec=spec,
        points=points,
        built=tuple(built),
        config_hashes=tuple(hashes),
        groups=tuple(groups),
        chunks=tuple(chunks),
        base_config=to_plain(base),
        fingerprint=fingerprint,
        columns=columns,
    )


def group_bytes(spec: SweepSpec, built: Built, budget: int) -> int:
    """Peak bytes per scenario of a group's chunks; a sweep whose single scenario exceeds
    the chunk memory budget is refused (SweepError naming ``chunk_memory``)."""
    model = scenario_bytes(built.static, built.params, built.run.ticks)
    per = model.peak("cpu", tables=True)  # workers build the tables where they simulate
    if per > budget:
        raise SweepError(
            f"{spec.source}: chunk_memory: one scenario of {built.run.ticks:,} ticks needs "
            f"~{gib(per)} ({model.describe()} + tables), above the budget of one call "
            f"({gib(budget)}); raise chunk_memory or lower ticks or the market's size"
        )
    return per


def _check_columns(spec: SweepSpec, built: Built, columns: Mapping[str, list[str]]) -> None:
    """Swept column names must not collide with the tables' own columns."""
    families = [f.name for f in built.static.families]
    taken = reserved_columns(families) | {c for cols in columns.values() for c in cols}
    for name in spec.columns:
        if name in taken:
            raise SweepError(
                f"{spec.source}: {spec.where(name)}: column name {name!r} is taken by the "
                f"result tables; give the axis another name, e.g. my_{name}: {{key: ..., "
                "values: [...]}"
            )
