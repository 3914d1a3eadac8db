"""One throughput measurement: compile a workload's rollout once, time it, report a dict.

Fields (one JSON line each): workload, scenarios, agents, levels, ticks, symbols,
accounts (every simulated account, fee and pool accounts included), device, jax,
compile_s (trace, lower and compile of the rollout; the persistent cache is off unless
asked), wall_s (median of ``repeats`` timed runs after a warm-up run; the upper median
when even), wall_s_best, cpu_s (process CPU time of that run: above wall_s when several
cores work), agent_ticks_per_s (scenarios x agents x ticks / wall_s), ticks_per_s
(scenario-ticks per second), peak_rss_mb (the process's peak resident memory),
device_peak_mb (GPU only), chunk and n_chunks (scenarios per compiled call), load_avg
(1-minute load average before the run: other work on the machine slows the measurement).
"""

from __future__ import annotations

import os
import platform
import resource
import time

import jax

from qtgjax.bench.workloads import counted_agents, load_workload, sim_config, workload_agents
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.chunk import ChunkPlan, chunk_inputs, plan_chunks, rollout_for


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def device_peak_mb(device: jax.Device) -> float | None:
    """Peak bytes the device allocator has held, MiB (None on CPU)."""
    if device.platform == "cpu":
        return None
    stats = device.memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def describe_device(device: jax.Device) -> str:
    if device.platform == "cpu":
        return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    return f"{device.platform} ({device.device_kind})"


def run_all_chunks(compiled, params, keys, plan: ChunkPlan) -> None:
    """Run every chunk through the compiled rollout, waiting for each (results dropped)."""
    if plan.n_chunks == 1:
        jax.block_until_ready(compiled(params, keys))
        return
    for index in range(plan.n_chunks):
        chunk_params, chunk_keys, _ = chunk_inputs(params, keys, plan, index)
        jax.block_until_ready(compiled(chunk_params, chunk_keys))


def measure(
    workload: str,
    *,
    scenarios: int,
    agents: int | None,
    ticks: int,
    levels: int | None = None,
    symbols: int | None = None,
    seed: int = 0,
    repeats: int = 3,
    chunk: int | None = None,
    memory_fraction: float = 0.5,
    budget_bytes: int | None = None,
) -> dict:
    """Build the workload at this size, compile its rollout, time it; the JSON fields.
    ``agents=None`` runs the workload's own size (its ``agents`` key)."""
    spec = load_workload(workload)
    agents = workload_agents(spec) if agents is None else agents
    cfg = sim_config(
        spec,
        scenarios=scenarios,
        agents=agents,
        ticks=ticks,
        levels=levels,
        symbols=symbols,
        seed=seed,
    )
    built = build(cfg)
    static = built.static
    params = scenario_params(built.params, scenarios)
    keys = scenario_keys(seed, scenarios)
    device = jax.devices()[0]
    plan = plan_chunks(
        static,
        built.params,
        ticks,
        scenarios,
        chunk=chunk,
        memory_fraction=memory_fraction,
        budget_bytes=budget_bytes,
        tables=False,  # the benchmark builds no result tables
        budget_name="memory_mb",
    )
    load = os.getloadavg()[0]
    first_params, first_keys, _ = chunk_inputs(params, keys, plan, 0)
    started = time.perf_counter()
    compiled = rollout_for(device).lower(static, first_params, first_keys, ticks).compile()
    compile_s = time.perf_counter() - started
    jax.block_until_ready(compiled(first_params, first_keys))
    runs = []  # (wall seconds, process CPU seconds)
    for _ in range(max(repeats, 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        run_all_chunks(compiled, params, keys, plan)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    runs.sort()
    wall_s, cpu_s = runs[len(runs) // 2]
    counted = counted_agents(spec, agents)
    return {
        "workload": spec["name"],
        "scenarios": scenarios,
        "agents": counted,
        "levels": static.n_levels,
        "ticks": ticks,
        "symbols": static.n_symbols,
        "accounts": sum(f.n_agents for f in static.families),
        "device": describe_device(device),
        "jax": jax.__version__,
        "compile_s": round(compile_s, 3),
        "wall_s": round(wall_s, 6),
        "wall_s_best": round(runs[0][0], 6),
        "cpu_s": round(cpu_s, 4),
        "agent_ticks_per_s": round(scenarios * counted * ticks / wall_s),
        "ticks_per_s": round(scenarios * ticks / wall_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "device_peak_mb": device_peak_mb(device),
        "chunk": plan.chunk,
        "n_chunks": plan.n_chunks,
        "load_avg": round(load, 2),
    }
