"""Automatic chunking: run B scenarios in chunks that fit the device's memory.

A scenario's key is ``fold_in(key(seed), b)`` and its params are its own row of the
params' leading axis, so running scenarios in chunks of C gives the same numbers as one
batch of B. The chunk size comes from a byte count of one scenario (its initial and final
state, its records and the tick's working set) and the memory the device has free.

Memory per scenario, measured with XLA's ``memory_analysis()`` on CPU for the workloads in
``conf/bench/workload`` (see ``benchmarks/PROFILE.md``): outputs = 2 x state + records,
temporaries 1.8-2.9 x state; :func:`scenario_bytes` budgets 2 x state + records + 4 x state.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.sim.rollout import Rollout, init_state, rollout
from qtgjax.sim.tick import step
from qtgjax.sim.types import SimParams, SimStatic

log = logging.getLogger("qtgjax.chunk")

WORKING_SET_STATES = 4  # the tick's temporaries, in copies of one scenario's state

# XLA:CPU compiles for 256-bit vectors by default even where the CPU has 512-bit ones
# (where there are none, the option changes nothing): 8-10% less CPU time per tick on the
# AVX-512 benchmark machine (benchmarks/PROFILE.md).
CPU_COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": "512"}
_rollout_cpu = jax.jit(
    rollout.__wrapped__,
    static_argnames=("static", "n_ticks"),
    compiler_options=CPU_COMPILER_OPTIONS,
)


def rollout_for(device: jax.Device):
    """The jitted :func:`~qtgjax.sim.rollout.rollout` with the device's compiler options."""
    return _rollout_cpu if device.platform == "cpu" else rollout


@dataclass(frozen=True)
class ChunkPlan:
    """How B scenarios are split into compiled calls.

    Attributes:
        scenarios: B, scenarios in the run.
        chunk: C, scenarios per compiled call (the last chunk is padded to C).
        bytes_per_scenario: estimated device bytes one scenario needs.
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

    def describe(self) -> str:
        """One line for the user: the choice and why."""
        return (
            f"qtgjax: {self.scenarios} scenarios in {self.n_chunks} chunk(s) of {self.chunk} "
            f"(~{self.bytes_per_scenario / 2**20:.1f} MiB per scenario, budget "
            f"{self.budget_bytes / 2**20:,.0f} MiB on {self.device})"
        )


def tree_bytes(tree) -> int:
    """Bytes of every array (or ShapeDtypeStruct) leaf of ``tree``."""
    return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def scenario_bytes(static: SimStatic, params: SimParams, n_ticks: int) -> int:
    """Estimated bytes of one scenario: initial and final state, records, working set.

    ``params`` are one scenario's (no leading axis). Only shapes are computed (tracing one
    tick, no compilation), once per market shape.
    """
    state_bytes, record_bytes = _state_and_record_bytes(static, _shapes(params))
    depth_bytes = static.depth.rows(n_ticks) * static.n_symbols * 2 * static.depth.levels * 8
    return (2 + WORKING_SET_STATES) * state_bytes + n_ticks * record_bytes + depth_bytes


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
    import psutil

    return int(psutil.virtual_memory().available)


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
) -> ChunkPlan:
    """Choose the chunk size: ``chunk`` if given, else the most scenarios whose estimated
    bytes fit in the budget (at least 1): ``budget_bytes`` if given, else
    ``memory_fraction`` of the device's free memory.

    ``params`` are one scenario's (no leading axis).
    """
    device = device or jax.devices()[0]
    per_scenario = scenario_bytes(static, params, n_ticks)
    if budget_bytes is None:
        budget_bytes = int(memory_fraction * free_device_bytes(device))
    budget = int(budget_bytes)
    size = chunk if chunk is not None else max(1, budget // max(per_scenario, 1))
    size = int(min(max(size, 1), n_scenarios))
    return ChunkPlan(n_scenarios, size, per_scenario, budget, f"{device.platform}:{device}")


def chunk_inputs(params: SimParams, keys, plan: ChunkPlan, index: int):
    """Params and keys of chunk ``index``, padded to the chunk size by repeating the
    chunk's first scenario (so that every chunk has the same shape: one compilation)."""
    start = index * plan.chunk
    stop = min(start + plan.chunk, plan.scenarios)
    take = np.concatenate(
        [np.arange(start, stop), np.full(plan.chunk - (stop - start), start, np.int64)]
    )
    rows = jnp.asarray(take)
    return jax.tree.map(lambda x: x[rows], params), keys[rows], stop - start


def run_chunked(
    static: SimStatic, params: SimParams, keys, n_ticks: int, plan: ChunkPlan
) -> Rollout:
    """The rollout of all B scenarios, chunk by chunk; identical to one ``rollout`` call.

    With one chunk the result stays on the device; with several, each chunk's result is
    copied to host memory (NumPy) before the next chunk runs, and the chunks are joined.
    """
    run = rollout_for(jax.devices()[0])
    if plan.n_chunks == 1:
        return jax.block_until_ready(run(static, params, keys, n_ticks))
    log.warning(plan.describe())
    parts = []
    for index in range(plan.n_chunks):
        chunk_params, chunk_keys, used = chunk_inputs(params, keys, plan, index)
        out = run(static, chunk_params, chunk_keys, n_ticks)
        parts.append(jax.tree.map(lambda x, used=used: np.asarray(x)[:used], out))
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
) -> tuple[Rollout, ChunkPlan]:
    """Plan (from one scenario's params) and run; returns the rollout and the plan."""
    one = jax.tree.map(lambda x: x[0], params)
    plan = plan_chunks(
        static,
        one,
        n_ticks,
        len(keys),
        chunk=chunk,
        memory_fraction=memory_fraction,
        budget_bytes=budget_bytes,
    )
    log.info(plan.describe())
    return run_chunked(static, params, keys, n_ticks, plan), plan
