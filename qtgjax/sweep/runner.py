"""Run a study: plan it, skip the chunks already written, distribute the rest, show progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jax
import yaml
from omegaconf import OmegaConf

from qtgjax.io.atomic import write_text
from qtgjax.sweep.cluster import (
    check_cluster,
    dask_client,
    describe,
    run_dask,
    run_inprocess,
    worker_env,
)
from qtgjax.sweep.kinds import StudyKind, study_kind
from qtgjax.sweep.metrics import ID_COLUMNS, MARKET_METRICS, family_metric
from qtgjax.sweep.plan import Plan, make_plan
from qtgjax.sweep.spec import SweepError, SweepSpec, load_sweep
from qtgjax.sweep.store import (
    DONE,
    MANIFEST,
    TABLES,
    StudyError,
    StudyLock,
    check_chunks,
    check_manifest,
    remove_temp_files,
    verify_chunk,
)
from qtgjax.sweep.worker import run_chunk


@dataclass(frozen=True)
class SweepOutcome:
    """A finished (or resumed-and-finished) study.

    Attributes:
        plan: the study's plan (a backtest study's: :class:`qtgjax.backtest.sweep.BacktestPlan`).
        out: the study folder.
        skipped: chunks already written before this run.
        ran: chunks this run wrote.
        seconds: wall time of this run.
    """

    plan: Plan
    out: Path
    skipped: int
    ran: int
    seconds: float


def manifest(plan: Plan) -> dict:
    """``study.yaml``: what the study is, for readers of its tables (``analysis/``)."""
    spec = plan.spec
    families = [f.name for f in plan.groups[0].static.families]
    dtypes = plan.dtypes
    metrics = [*MARKET_METRICS, *(family_metric(f) for f in families)]
    swept = {}
    for axis in spec.grid:
        swept[axis.name] = {
            "dtype": dtypes[axis.name],
            "where": axis.where,
            "keys": sorted(axis.sets[0]),
            "values": list(axis.values),
        }
    for param in spec.random:
        swept[param.name] = {
            "dtype": dtypes[param.name],
            "where": param.where,
            "keys": [param.key],
            "distribution": {param.dist: list(param.args)},
        }
    return {
        "name": spec.name,
        "source": spec.source,
        "description": spec.description,
        "fingerprint": plan.fingerprint,
        "points": len(plan.points),
        "replicates": list(spec.replicates),
        "scenarios": plan.n_scenarios,
        "chunks": len(plan.chunks),
        "groups": [
            {
                "ticks": g.ticks,
                "points": len(g.points),
                "chunk_size": max(c.size for c in plan.chunks if c.group == i),
                "agents": sum(f.n_agents for f in g.static.families),
                "symbols": g.static.n_symbols,
            }
            for i, g in enumerate(plan.groups)
        ],
        "swept": swept,
        "metrics": metrics,
        "families": families,
        "tables": {
            **{
                t: [*ID_COLUMNS, *swept, *(c for c in cols if c != "scenario")]
                for t, cols in plan.columns.items()
            },
            "summary": [*ID_COLUMNS, *swept, *metrics],
        },
        "overrides": list(spec.overrides),
    }


def study_size(plan: Plan) -> str:
    """The size of a simulation study, for the first line of output."""
    return (
        f"{len(plan.points)} points x {plan.n_replicates} seeds = {plan.n_scenarios} scenarios "
        f"in {len(plan.groups)} shape group(s)"
    )


def simulation_tables(plan: Plan) -> tuple[str, ...]:
    return TABLES


SIMULATION = StudyKind(make_plan, simulation_tables, run_chunk, manifest, study_size)


def progress_bar(total: int, name: str, enabled: bool):
    """A tqdm bar over chunks (done, rate, time left) on stderr."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"qtgjax-sweep {name}",
        unit="chunk",
        disable=not enabled,
        file=sys.stderr,
        smoothing=0.1,
        dynamic_ncols=True,
    )


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    cluster: Mapping | None = None,
    chunk_size: int | None = None,
    chunk_memory: int | None = None,
    retries: int = 2,
    progress: bool = True,
    compilation_cache: str | None = None,
    echo: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run (or finish) a study into ``out``.

    Args:
        spec: a validated sweep or the path of a sweep file.
        out: the study folder; a folder holding this study's chunks resumes it.
        cluster: where chunks run (see :mod:`qtgjax.sweep.cluster`); default a LocalCluster
            with one worker process per core.
        chunk_size: most scenarios per compiled call (overrides the sweep file).
        chunk_memory: memory budget per call in bytes (overrides the sweep file).
        retries: re-runs of a chunk whose task failed or whose worker died.
        progress: show a progress bar on stderr.
        compilation_cache: JAX persistent compilation cache folder for the workers.
        echo: where one-line messages go.

    Raises:
        SweepError: a bad sweep file (before anything runs).
        StudyError: ``out`` holds another study or a sweep is running there.
        ChunkFailed: chunks failed after their retries (the others are written).
    """
    started = time.perf_counter()
    check_settings(chunk_size, chunk_memory, retries)
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    cluster = dict(cluster or {"kind": "local"})
    check_cluster(cluster)
    kind = study_kind(spec.kind)
    plan = kind.plan(spec, chunk_size, chunk_memory)
    tables = kind.tables(plan)
    out = Path(out)
    with StudyLock(out):
        resuming = check_manifest(out, plan.fingerprint, spec.name, tables)
        if not resuming:
            (out / DONE).mkdir(parents=True, exist_ok=True)  # readers check chunks against it
            write_text(yaml.safe_dump(kind.manifest(plan), sort_keys=False), out / MANIFEST)
            write_text(OmegaConf.to_yaml(OmegaConf.create(plan.base_config)), out / "config.yaml")
        remove_temp_files(out, tables)
        chunks = ((c.index, c.scenarios) for c in plan.chunks)
        done = check_chunks(out, chunks, echo, tables=tables)
        todo = [c for c in plan.chunks if c.index not in done]
        echo(
            f"qtgjax-sweep {spec.name}: {kind.describe(plan)}, {len(plan.chunks)} chunks; "
            f"{len(done)} done, {len(todo)} to run on "
            f"{describe(cluster) if todo else 'nothing'}"
        )
        at_limit = 0
        if todo:
            at_limit = _run_chunks(
                plan, kind, todo, out, cluster, retries, progress, compilation_cache
            )
        check_finished(plan, out, tables)
        if kind.finish is not None:
            kind.finish(plan, out)
    seconds = time.perf_counter() - started
    echo(f"qtgjax-sweep {spec.name}: finished in {seconds:.1f} s; results: {out}")
    if at_limit:
        echo(
            f"qtgjax-sweep {spec.name}: warning: in {at_limit:,} (scenario, symbol, tick) rows the "
            "price sat at an exact-money limit (column at_price_limit of the ticks table; "
            "README 'Choosing a tick size')"
        )
    return SweepOutcome(plan, out, len(done), len(todo), seconds)


def check_settings(chunk_size, chunk_memory, retries) -> None:
    """``chunk_size`` and ``chunk_memory`` positive integers or None, ``retries`` >= 0."""
    for name, value, low in (
        ("chunk_size", chunk_size, 1),
        ("chunk_memory", chunk_memory, 1),
        ("retries", retries, 0),
    ):
        if value is None and name != "retries":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SweepError(f"{name}: expected an integer >= {low}, got {value!r}")


def check_finished(plan: Plan, out: Path, tables=TABLES) -> None:
    """Every chunk's record exists and its files read back as written (sizes and footers),
    or the study is not reported finished."""
    problems = [(c.index, verify_chunk(out, c.index, False, tables)) for c in plan.chunks]
    problems = [(i, p) for i, p in problems if p is not None]
    if problems:
        index, problem = problems[0]
        raise StudyError(
            f"{out}: {len(problems)} chunk(s) are not whole after the run (chunk {index}: "
            f"{problem}); run the same command again to redo them"
        )


def _run_chunks(plan, kind, todo, out, cluster, retries, progress, compilation_cache) -> int:
    """Run the chunks; returns the ticks rows at an exact-money price limit they wrote."""
    if compilation_cache and not jax.config.jax_compilation_cache_dir:
        # chunks run in this process for cluster=inprocess and worker threads
        jax.config.update("jax_compilation_cache_dir", str(Path(compilation_cache).resolve()))
    tasks = [plan.task(c, out) for c in todo]
    bar = progress_bar(len(tasks), plan.spec.name, progress)
    scenario_ticks, at_limit, t0 = 0, 0, time.perf_counter()

    def advance(report) -> None:
        nonlocal scenario_ticks, at_limit
        scenario_ticks += report.scenario_ticks
        at_limit += report.at_price_limit
        rate = scenario_ticks / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{rate:,.0f} {kind.unit}/s", refresh=False)
        bar.update(1)

    try:
        if cluster["kind"] == "inprocess":
            for report in run_inprocess(tasks, retries, kind.work):
                advance(report)
        else:
            env = worker_env(cluster, compilation_cache)
            with dask_client(cluster, env, retries) as client:
                tag = plan.fingerprint[:12]
                for report in run_dask(client, tasks, retries, tag, kind.work):
                    advance(report)
    finally:
        bar.close()
    return at_limit
