"""Three venues against one, interleaved in one process: the ratio #12 asks for.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/venue_ratio.py --agents 1024 12050 \
        --scenarios 8 --ticks 100 --pairs 15 --out benchmarks/results/venue_ratio.jsonl

Both workloads (``default`` and ``venues`` of ``conf/bench/workload/``, records off) are
built and compiled first; then their rollouts run alternately, ``default`` then ``venues``,
``--pairs`` times. On a machine whose speed drifts (a shared host), adjacent runs see
nearly the same machine, so the median of the per-pair ratios is steadier than a ratio of
two separate ``qtgjax-bench`` processes. Prints, and appends as one JSON line per size,
the median wall seconds of each workload, the median and the quartiles of the pair
ratios, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax

from qtgjax.bench.measure import describe_device
from qtgjax.bench.workloads import counted_agents, load_workload, sim_config
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.chunk import rollout_for


def compiled_run(workload: str, scenarios: int, agents: int, ticks: int):
    """(a call that runs the workload's rollout once and waits, counted agents)."""
    spec = load_workload(workload)
    built = build(sim_config(spec, scenarios=scenarios, agents=agents, ticks=ticks))
    params = scenario_params(built.params, scenarios)
    keys = scenario_keys(0, scenarios)
    compiled = rollout_for(jax.devices()[0]).lower(built.static, params, keys, ticks).compile()
    jax.block_until_ready(compiled(params, keys))  # warm

    def once() -> float:
        started = time.perf_counter()
        jax.block_until_ready(compiled(params, keys))
        return time.perf_counter() - started

    return once, counted_agents(spec, agents)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[1024, 12050])
    ap.add_argument("--scenarios", type=int, default=8)
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    for agents in a.agents:
        one, counted = compiled_run("default", a.scenarios, agents, a.ticks)
        three, _ = compiled_run("venues", a.scenarios, agents, a.ticks)
        load = os.getloadavg()[0]
        walls = [(one(), three()) for _ in range(a.pairs)]
        ratios = sorted(v / d for d, v in walls)
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        row = {
            "benchmark": "venue_ratio",
            "scenarios": a.scenarios,
            "agents": counted,
            "ticks": a.ticks,
            "pairs": a.pairs,
            "device": describe_device(jax.devices()[0]),
            "default_wall_s": round(statistics.median(d for d, _ in walls), 6),
            "venues_wall_s": round(statistics.median(v for _, v in walls), 6),
            "ratio_median": round(median, 3),
            "ratio_q1": round(q1, 3),
            "ratio_q3": round(q3, 3),
            "load_avg": [round(load, 2), round(os.getloadavg()[0], 2)],
            "date": time.strftime("%Y-%m-%d"),
        }
        print(json.dumps(row), flush=True)
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            with a.out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
