"""Before/after in the same session: the same benchmarks, alternating between two checkouts.

Usage (from the repository root)::

    mkdir -p /tmp/before && git archive BASE_COMMIT | tar -x -C /tmp/before
    cp -r qtgjax/bench /tmp/before/qtgjax/ && cp qtgjax/cli/bench.py /tmp/before/qtgjax/cli/
    cp qtgjax/sim/chunk.py /tmp/before/qtgjax/sim/ && cp -r conf/bench /tmp/before/conf/
    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/before_after.py --before /tmp/before \
        --out benchmarks/results/before_after.jsonl

(set ``CPU_COMPILER_OPTIONS = {}`` in the copied ``chunk.py`` for the original compiler
options). Each measurement runs ``python -m qtgjax.cli.bench`` in a fresh process with
``PYTHONPATH`` set to the checkout; "before" and "after" alternate, so that other load on
the machine hits both alike. Prints one line per size with the throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = [
    dict(workload="kineticsim", scenarios=4096, agents=256, levels=128, ticks=50),
    dict(workload="kineticsim", scenarios=1, agents=100_000, ticks=100),
    dict(workload="default", scenarios=8, agents=12_050, ticks=200),
    dict(workload="qtg", scenarios=1, agents=12_500, ticks=50),
]
# --small: the sizes of the issue #13 comparison (records off), short enough for a loaded
# 2-core machine
SMALL_SIZES = [
    dict(workload="default", scenarios=8, agents=12_050, ticks=100),
    dict(workload="kineticsim", scenarios=256, agents=256, levels=128, ticks=50),
]


def measure(checkout: Path, spec: dict, repeats: int) -> dict:
    args = [f"{k}={v}" for k, v in spec.items()]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(
        [sys.executable, "-m", "qtgjax.cli.bench", *args, f"repeats={repeats}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{checkout}: {spec} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="the two sizes of SMALL_SIZES")
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for spec in SMALL_SIZES if a.small else SIZES:
        before = measure(a.before, spec, a.repeats)
        after = measure(a.after, spec, a.repeats)
        with a.out.open("a") as f:
            for tag, r in (("before", before), ("after", after)):
                f.write(json.dumps({"version": tag, **r}) + "\n")
        ratio = after["agent_ticks_per_s"] / before["agent_ticks_per_s"]
        print(
            f"{spec}: before {before['agent_ticks_per_s'] / 1e6:.2f}M/s "
            f"(compile {before['compile_s']:.1f} s, RSS {before['peak_rss_mb']:.0f} MB), "
            f"after {after['agent_ticks_per_s'] / 1e6:.2f}M/s "
            f"(compile {after['compile_s']:.1f} s, RSS {after['peak_rss_mb']:.0f} MB): "
            f"x{ratio:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
