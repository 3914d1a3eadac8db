"""A noise-free cost proxy of the compiled tick: elementwise work per XLA fusion.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/hlo_work.py --workload kineticsim --top 30

Compiles the rollout and, for every fusion in the optimised HLO, adds up the output
elements of its instructions (parameters, constants, bitcasts and broadcasts left out).
The total is a proxy for the vector work of one tick that, unlike timings, does not move
when other programs share the machine; large fusions whose instructions come from another
stage's source lines are computation that XLA duplicated into a consumer (see
``benchmarks/PROFILE.md``). Prints the total and the top fusions with their source line.
"""

from __future__ import annotations

import argparse
import math
import re

import jax
from profile_hlo import hlo_sources

from qtgjax.bench.workloads import load_workload, sim_config
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.chunk import rollout_for

_FUSION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = [^\n]*? fusion\([^\n]*?calls=%([\w.\-]+)", re.M)
_COMPUTATION = re.compile(r"^(?:%|ENTRY %)?([\w.\-]+) \([^\n]*\{\n(.*?)\n\}", re.M | re.S)
_SHAPE = re.compile(r"= \w+\[([\d,]*)\]")
_SKIP = ("parameter(", "constant(", " bitcast(", " broadcast(")


def instruction_elements(line: str) -> int:
    """Output elements of one HLO instruction line (0 for tuples and skipped kinds)."""
    if "=" not in line or any(s in line for s in _SKIP):
        return 0
    m = _SHAPE.search(line)
    if not m:
        return 0
    return math.prod(int(d) for d in m.group(1).split(",") if d)


def fusion_work(hlo_text: str) -> list[tuple[int, int, str]]:
    """(elementwise work, instructions, name) per fusion, largest first."""
    bodies = {m.group(1): m.group(2) for m in _COMPUTATION.finditer(hlo_text)}
    rows = []
    for name, called in _FUSION.findall(hlo_text):
        lines = bodies.get(called, "").splitlines()
        work = sum(instruction_elements(line) for line in lines)
        count = sum(1 for line in lines if instruction_elements(line))
        rows.append((work, count, name))
    return sorted(rows, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="kineticsim")
    ap.add_argument("--scenarios", type=int, default=1024)
    ap.add_argument("--agents", type=int, default=256)
    ap.add_argument("--levels", type=int, default=None)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    cfg = sim_config(
        load_workload(a.workload),
        scenarios=a.scenarios,
        agents=a.agents,
        ticks=a.ticks,
        levels=a.levels,
    )
    built = build(cfg)
    params = scenario_params(built.params, a.scenarios)
    keys = scenario_keys(0, a.scenarios)
    run = rollout_for(jax.devices()[0])
    text = run.lower(built.static, params, keys, a.ticks).compile().as_text()
    rows = fusion_work(text)
    sources = hlo_sources(text)
    total = sum(w for w, _, _ in rows)
    print(f"# {a.workload} B={a.scenarios} N={a.agents}: {total / 1e6:.1f} M element-ops in")
    print(f"# {len(rows)} fusions (the scan body counts once: one tick)")
    for work, count, name in rows[: a.top]:
        print(f"{work / 1e6:9.2f} M {count:5d} ins  {name[:36]:36s} {sources.get(name, '')[:120]}")


if __name__ == "__main__":
    main()
