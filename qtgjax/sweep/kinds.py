"""Kinds of study a sweep file runs (its ``kind:``): what is planned, run and written.

``simulation`` (the default) simulates markets (:mod:`qtgjax.sweep.plan`,
:mod:`qtgjax.sweep.worker`); ``backtest`` runs a strategy grid on historical bars
(:mod:`qtgjax.backtest.sweep`). :func:`qtgjax.sweep.run_sweep` does the rest the same way
for every kind: the study folder, its lock and manifest, which chunks are done, the
cluster, retries and progress.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

# kind (one of qtgjax.sweep.spec.KINDS) -> "module:attribute" of its StudyKind
WHERE = {
    "simulation": "qtgjax.sweep.runner:SIMULATION",
    "backtest": "qtgjax.backtest.sweep:BACKTEST",
}


@dataclass(frozen=True)
class StudyKind:
    """What one kind of study does.

    Attributes:
        plan: ``(spec, chunk_size, chunk_memory) -> plan``, everything validated before
            anything runs; a plan has ``fingerprint``, ``chunks`` (each with ``index``),
            ``points``, ``base_config`` and ``task(chunk, out)``.
        tables: ``plan -> names`` of the tables every chunk writes
            (``TABLE/chunk=C/part-0.parquet``); a completion record follows them.
        work: a module-level ``task -> ChunkReport`` (what a worker runs; picklable).
        manifest: ``plan -> dict`` written as ``study.yaml``.
        describe: ``plan -> str``: the study's size for the first line of output.
        finish: ``(plan, out) -> None`` once every chunk is written: the study-level tables
            (None: nothing to add).
        unit: what ``ChunkReport.scenario_ticks`` counts, for the progress rate.
    """

    plan: Callable
    tables: Callable
    work: Callable
    manifest: Callable
    describe: Callable
    finish: Callable | None = None
    unit: str = "scenario-ticks"


def study_kind(name: str) -> StudyKind:
    """The :class:`StudyKind` of ``kind: NAME``."""
    module, attribute = WHERE[name].split(":")
    return getattr(importlib.import_module(module), attribute)
