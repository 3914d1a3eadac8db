"""Automatic chunking: run B scenarios in chunks that fit the device's memory.

A scenario's key is ``fold_in(key(seed), b)`` and its params are its own row of the
params' leading axis, so running scenarios in chunks of C gives the same numbers as one
batch of B. The chunk size comes from a byte count of one scenario (:func:`scenario_bytes`,
the one memory model that ``qtgjax-run``, ``qtgjax-bench`` and ``qtgjax-sweep`` plan with) and
the memory the device has free. A run whose single scenario cannot fit is refused before
anything compiles (:class:`MemoryBudgetError`).

Memory per scenario, measured with XLA's ``memory_analysis()`` on CPU for the workloads in
``conf/bench/workload`` (see ``benchmarks/PROFILE.md``): outputs = 2 x state + records,
temporaries 1.8-2.9 x state. The host side (measured as the growth of peak RSS while the
tables of a 107 MB record set were built) is the records' host copy plus Int64/Float64
tables of about twice their size.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.agents.registry import get_family
from qtgjax.sim.rollout import Rollout, init_state, rollout
from qtgjax.sim.tick import step
from qtgjax.sim.types import SimParams, SimStatic

log = logging.getLogger("qtgjax.chunk")

WORKING_SET_STATES = 4  # the tick's temporaries, in copies of one scenario's state
STATE_COPIES = 2 + WORKING_SET_STATES  # initial and final state, plus the working set
TABLE_COPIES = 3  # host: the records' copy and the Int64/Float64 tables built from them

# XLA:CPU compiles for 256-bit vectors by default even where the CPU has 512-bit ones
# (where there are none, the option changes nothing): 8-10% less CPU time per tick on the
# AVX-512 benchmark machine (benchmarks/PROFILE.md).
CPU_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": "512"}
_rollout_cpu = jax.jit(
    rollout.__wrapped__,
    static_argnames=("static", "n_ticks"),
    compiler_options=CPU_COMPILER_OPTIONS,
)


class MemoryBudgetError(ValueError):
    """A run cannot fit in memory even one scenario at a time (raised before compiling)."""


def rollout_for(device: jax.Device):
    """The jitted :func:`~qtgjax.sim.rollout.rollout` with the device's compiler options."""
    return _rollout_cpu if device.platform == "cpu" else rollout


def gib(n: float) -> str:
    """Bytes in words: ``12.3 GiB``, ``45.6 MiB``, ``408 B``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class ScenarioBytes:
    """The memory model of one scenario (every planner uses this one).

    Attributes:
        state: bytes of one scenario's state.
        record: bytes of one tick's record of one scenario.
        ticks: T, ticks per scenario.
        depth: bytes of the optional records: per-level depth (``record.depth``) and
            execution reports (``record.fills``); 0 when off.
    """

    state: int
    record: int
    ticks: int
    depth: int = 0

    @property
    def records(self) -> int:
        """Bytes of the scenario's records (all ticks)."""
        return self.ticks * self.record + self.depth

    @property
    def device(self) -> int:
        """Device bytes: initial and final state, the working set, the records."""
        return STATE_COPIES * self.state + self.records

    @property
    def tables(self) -> int:
        """Host bytes of the records' copy and the result tables built from them."""
        return TABLE_COPIES * self.records

    def peak(self, platform: str = "cpu", tables: bool = True) -> int:
        """Peak bytes of one scenario in the memory the budget is for: on CPU the device is
        the host, so the tables count too (when the caller builds them); on an accelerator
        only the device bytes."""
        return self.device + (self.tables if tables and platform == "cpu" else 0)

    def describe(self) -> str:
        return (
            f"state {gib(self.state)} x {STATE_COPIES} + records {gib(self.record)} per tick "
            f"x {self.ticks:,} ticks"
        )


def tree_bytes(tree) -> int:
    """Bytes of every array (or ShapeDtypeStruct) leaf of ``tree``."""
    return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def scenario_bytes(static: SimStatic, params: SimParams, n_ticks: int) -> ScenarioBytes:
    """The memory model of one scenario of this market.

    ``params`` are one scenario's (no leading axis). Only shapes are computed (tracing one
    tick, no compilation), once per market shape.
    """
    state_bytes, record_bytes = _state_and_record_bytes(static, _shapes(params))
    books = static.n_venues * static.n_symbols
    depth_bytes = static.depth.rows(n_ticks) * books * 2 * static.depth.levels * 8
    extra = depth_bytes + fills_bytes(static) + risk_bytes(static)
    return ScenarioBytes(state_bytes, record_bytes, int(n_ticks), extra)


FILL_ROW_BYTES = 6 * 4 + 1  # FillRows: six int32 fields and one int8 per order slot
TRANSIT_ROW_BYTES = 4 * 4 + 1  # TransitRows (with latency): four int32 and one int8
TYPED_ROW_BYTES = 4 + 2  # FillRows with order types: killed_lots int32, two int8 type codes


def fills_bytes(static: SimStatic) -> int:
    """Bytes of one scenario's execution reports (``record.fills``; 0 when off)."""
    spec = static.fills
    slots = static.n_venues * sum(
        n * static.n_symbols * get_family(static.families[f].kind).n_slots(static.families[f])
        for f, n in zip(spec.families, spec.agents, strict=True)
    )
    per_slot = FILL_ROW_BYTES + (TRANSIT_ROW_BYTES if static.max_delay else 0)
    per_slot += TYPED_ROW_BYTES if static.order_types else 0
    return spec.rows * (slots * per_slot + static.n_venues * static.n_symbols * 4)


def risk_bytes(static: SimStatic) -> int:
    """Bytes of one scenario's per-agent risk accumulators (``record.agent_risk``)."""
    return 7 * 4 * sum(f.n_agents for f in static.families) if static.agent_risk else 0


def _shapes(tree):
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((tuple(np.shape(x)), jnp.asarray(x).dtype.name) for x in leaves)


@functools.lru_cache(maxsize=64)
def _state_and_record_bytes(static: SimStatic, shapes) -> tuple[int, int]:
    """Bytes of one scenario's state and of one tick's record (cached per market shape)."""
    treedef, leaves = shapes
    params = jax.tree.unflatten(treedef, [jax.ShapeDtypeStruct(s, d) for s, d in leaves])
    key = jax.random.key(0)
    state = jax.eval_shape(lambda p, k: init_state(static, p, k), params, key)
    _, record = jax.eval_shape(lambda p, s, k: step(static, p, s, k), params, state, key)
    return tree_bytes(state), tree_bytes(record)


def free_device_bytes(device: jax.Device) -> int:
    """Bytes free on ``device``: the allocator's limit minus use on GPU, available RAM on CPU."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return free_host_bytes()


def free_host_bytes() -> int:
    """Available host RAM, bytes."""
    import psutil

    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class ChunkPlan:
    """How B scenarios are split into compiled calls.

    Attributes:
        scenarios: B, scenarios in the run.
        chunk: C, scenarios per compiled call (the last chunk is padded to C).
        bytes_per_scenario: estimated peak bytes of one scenario (``ScenarioBytes.peak``).
        budget_bytes: bytes a chunk may use (a fraction of the device's free memory).
        device: the device the plan is for, in words.
    """

    scenarios: int
    chunk: int
    bytes_per_scenario: int
    budget_bytes: int
    device: str

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.scenarios / self.chunk)

    def bounds(self, index: int) -> tuple[int, int]:
        """(first scenario, real scenarios) of chunk ``index``."""
        start = index * self.chunk
        return start, min(self.chunk, self.scenarios - start)

    def describe(self) -> str:
        """One line for the user: the choice and why."""
        return (
            f"qtgjax: {self.scenarios} scenarios in {self.n_chunks} chunk(s) of {self.chunk} "
            f"(~{self.bytes_per_scenario / 2**20:.1f} MiB per scenario, budget "
            f"{self.budget_bytes / 2**20:,.0f} MiB on {self.device})"
        )


def plan_chunks(
    static: SimStatic,
    params: SimParams,
    n_ticks: int,
    n_scenarios: int,
    *,
    chunk: int | None = None,
    memory_fraction: float = 0.5,
    budget_bytes: int | None = None,
    device: jax.Device | None = None,
    tables: bool = True,
    budget_name: str = "the memory budget",
) -> ChunkPlan:
    """Choose the chunk size: ``chunk`` if given, else the most scenarios whose estimated
    bytes fit in the budget: ``budget_bytes`` if given, else ``memory_fraction`` of the
    device's free memory. ``tables``: the caller builds result tables from each chunk
    (``qtgjax-bench`` does not). ``budget_name`` names the setting of ``budget_bytes`` in
    the error message (e.g. ``chunk_memory``).

    ``params`` are one scenario's (no leading axis).

    Raises:
        MemoryBudgetError: one scenario alone does not fit the budget (before anything
            compiles). A ``chunk`` given above the budget is kept, with a warning.
    """
    device = device or jax.devices()[0]
    model = scenario_bytes(static, params, n_ticks)
    per_scenario = model.peak(device.platform, tables)
    if budget_bytes is None:
        budget_bytes = int(memory_fraction * free_device_bytes(device))
        where = f"{memory_fraction:g} of the free memory of {device}"
    else:
        where = f"{budget_name} for {device}"
    budget = int(budget_bytes)
    if per_scenario > budget:
        raise MemoryBudgetError(
            f"ticks: one scenario of {n_ticks:,} ticks needs ~{gib(per_scenario)} "
            f"({model.describe()}{' + tables' if tables and device.platform == 'cpu' else ''}) "
            f"but {where} is {gib(budget)}; lower ticks or the market's size, or raise "
            f"{budget_name}"
        )
    size = chunk if chunk is not None else budget // per_scenario
    size = int(min(max(size, 1), n_scenarios))
    if size * per_scenario > budget:
        log.warning(
            "qtgjax: chunks of %d scenarios need ~%s, above the budget of %s",
            size,
            gib(size * per_scenario),
            gib(budget),
        )
    return ChunkPlan(n_scenarios, size, per_scenario, budget, f"{device.platform}:{device}")


def check_host_memory(model: ScenarioBytes, n_scenarios: int, fraction: float = 0.8) -> None:
    """Refuse to gather ``n_scenarios`` scenarios' records and tables in host memory when
    they cannot fit (``qtgjax.simulate`` keeps every scenario; ``qtgjax-run`` streams)."""
    need = n_scenarios * (model.records + model.tables)
    have = int(fraction * free_host_bytes())
    if need > have:
        raise MemoryBudgetError(
            f"scenarios: {n_scenarios} scenarios' records and tables need ~{gib(need)} of host "
            f"memory but {gib(have)} is available; run fewer scenarios or ticks, or use "
            "qtgjax-run (it writes each chunk to disk and keeps none in memory)"
        )


def chunk_inputs(params: SimParams, keys, plan: ChunkPlan, index: int):
    """Params and keys of chunk ``index``, padded to the chunk size by repeating the
    chunk's first scenario (so that every chunk has the same shape: one compilation)."""
    start, used = plan.bounds(index)
    take = np.concatenate([np.arange(start, start + used), np.full(plan.chunk - used, start)])
    rows = jnp.asarray(take)
    return jax.tree.map(lambda x: x[rows], params), keys[rows], used


def iter_chunks(
    static: SimStatic, params: SimParams, keys, n_ticks: int, plan: ChunkPlan
) -> Iterator[tuple[int, Rollout]]:
    """``(first scenario, rollout)`` of each chunk in turn, padding dropped. With one chunk
    the rollout stays on the device; with several, each is copied to host memory (NumPy)
    and the next chunk runs only when the caller asks for it, so a caller that writes each
    chunk away holds one chunk at a time."""
    run = rollout_for(jax.devices()[0])
    if plan.n_chunks == 1:
        yield 0, jax.block_until_ready(run(static, params, keys, n_ticks))
        return
    log.warning(plan.describe())
    for index in range(plan.n_chunks):
        chunk_params, chunk_keys, used = chunk_inputs(params, keys, plan, index)
        out = run(static, chunk_params, chunk_keys, n_ticks)
        yield plan.bounds(index)[0], jax.tree.map(lambda x, used=used: np.asarray(x)[:used], out)
        del out


def run_chunked(
    static: SimStatic, params: SimParams, keys, n_ticks: int, plan: ChunkPlan
) -> Rollout:
    """The rollout of all B scenarios, chunk by chunk; identical to one ``rollout`` call.

    With one chunk the result stays on the device; with several, each chunk's result is
    copied to host memory (NumPy) before the next chunk runs, and the chunks are joined.
    """
    parts = [out for _, out in iter_chunks(static, params, keys, n_ticks, plan)]
    if len(parts) == 1:
        return parts[0]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def simulate_chunked(
    static: SimStatic,
    params: SimParams,
    keys,
    n_ticks: int,
    *,
    chunk: int | None = None,
    memory_fraction: float = 0.5,
    budget_bytes: int | None = None,
    budget_name: str = "the memory budget",
) -> tuple[Rollout, ChunkPlan]:
    """Plan (from one scenario's params) and run; returns the rollout and the plan. Refuses
    (:class:`MemoryBudgetError`) a run that cannot fit the device or host memory."""
    one = jax.tree.map(lambda x: x[0], params)
    plan = plan_chunks(
        static,
        one,
        n_ticks,
        len(keys),
        chunk=chunk,
        memory_fraction=memory_fraction,
        budget_bytes=budget_bytes,
        budget_name=budget_name,
    )
    check_host_memory(scenario_bytes(static, one, n_ticks), len(keys))
    log.info(plan.describe())
    return run_chunked(static, params, keys, n_ticks, plan), plan
