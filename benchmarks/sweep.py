"""Run benchmark sweeps, one fresh process per measurement, appending JSON lines.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/sweep.py targets agents scenarios \
        levels symbols --out benchmarks/results/$(date +%F).jsonl

Each measurement is ``python -m qtgjax.cli.bench workload=... key=value ...`` in its own
process, so that ``peak_rss_mb`` is that measurement's own peak. Sweeps:

* ``targets``: the sizes the performance issue names (kineticsim 4096 x 256 x 128; one
  100k-agent market; 16 such markets in a 2 GiB budget; the default market; the
  ancestor's qtg market at its own counts, agents=12500; the full strategy library).
* ``agents``, ``scenarios``, ``levels``, ``symbols``: one axis at a time around a base
  size, to show linear scaling and where it stops.
* ``gpu``: the GPU targets (kineticsim at large batch; 1M agents x 1000 scenarios).

Write the table with ``benchmarks/table.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from qtgjax.bench.workloads import known_workloads

ROOT = Path(__file__).resolve().parents[1]

SWEEPS: dict[str, list[dict]] = {
    "targets": [
        dict(workload="kineticsim", scenarios=4096, agents=256, levels=128, ticks=100),
        dict(workload="kineticsim", scenarios=1, agents=100_000, ticks=200),
        dict(workload="kineticsim", scenarios=16, agents=100_000, ticks=50, memory_mb=2048),
        dict(workload="noise", scenarios=16, agents=100_000, ticks=50, memory_mb=2048),
        dict(workload="default", scenarios=8, agents=12_050, ticks=200),
        dict(workload="qtg", scenarios=1, agents=12_500, ticks=200),
        dict(workload="qtg", scenarios=16, agents=12_500, ticks=50),
        dict(workload="full", scenarios=16, agents=10_000, ticks=50),
    ],
    "agents": [
        dict(workload="kineticsim", scenarios=16, agents=n, ticks=max(20, 2_000_000 // n))
        for n in (1_024, 4_096, 16_384, 65_536, 262_144)
    ],
    "scenarios": [
        dict(workload="kineticsim", scenarios=b, agents=256, ticks=max(20, 400_000 // b))
        for b in (64, 256, 1_024, 4_096, 16_384)
    ],
    "levels": [
        dict(workload="kineticsim", scenarios=1_024, agents=256, levels=k, ticks=50)
        for k in (32, 128, 512, 2_048)
    ],
    "symbols": [
        dict(workload="noise", scenarios=64, agents=2_000, symbols=s, ticks=50)
        for s in (1, 4, 16, 64)
    ],
    "gpu": [
        dict(workload="kineticsim", scenarios=65_536, agents=256, ticks=100),
        dict(workload="kineticsim", scenarios=1_000, agents=1_000_000, ticks=20),
    ],
}


def command(spec: dict, out: Path, repeats: int) -> list[str]:
    args = [f"{k}={v}" for k, v in spec.items()]
    return [sys.executable, "-m", "qtgjax.cli.bench", *args, f"repeats={repeats}", f"out={out}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", choices=sorted(SWEEPS))
    ap.add_argument("--out", type=Path, required=True, help="JSON lines file to append to")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per measurement")
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    available = set(known_workloads())
    for name in a.sweeps:
        for spec in SWEEPS[name]:
            if spec["workload"] not in available:
                print(f"skip {spec}: no workload file conf/bench/workload/{spec['workload']}.yaml")
                continue
            cmd = command(spec, a.out.resolve(), a.repeats)
            print(" ".join(cmd[2:]), flush=True)
            try:
                proc = subprocess.run(cmd, cwd=ROOT, text=True, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print(f"timed out after {a.timeout} s: {spec}", flush=True)
                continue
            if proc.returncode:
                print(f"failed ({proc.returncode}): {spec}", flush=True)


if __name__ == "__main__":
    main()
