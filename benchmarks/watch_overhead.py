"""What watching costs: the same run with and without the terminal UI, and what the depth
record costs, measured in one session with the variants alternated.

Usage (from the repository root; needs tmux)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/watch_overhead.py --reps 3 \
        --out benchmarks/results/watch_overhead.jsonl [key=value ...]

Variants, each ``--reps`` times in turn (fresh processes; the persistent compilation cache
makes every compile after the first a load):

* ``watch-headless``: ``qtgjax-watch --headless``, the segments alone (no UI);
* ``watch-view``: ``qtgjax-watch --quit-at-end`` at the default refresh under tmux (a real
  terminal of 200 x 50), max speed;
* ``rollout`` and ``rollout-depth``: ``qtgjax-bench``-style in-process timing of the one-call
  rollout that ``qtgjax-run`` uses, with records off and with ``record.depth=10``.

Throughput is ticks per second of wall time after compilation (for the watch: after its
first segment, waits between segments included). One JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "JAX_PLATFORMS": "cpu",
    "JAX_COMPILATION_CACHE_DIR": os.environ.get(
        "JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache")
    ),
}


def load() -> float:
    return os.getloadavg()[0]


def watch(overrides, view: bool) -> dict:
    stats = Path(tempfile.mkdtemp()) / "stats.json"
    args = [str(BIN / "qtgjax-watch"), *overrides, "--no-write", "--stats", str(stats)]
    before = load()
    if not view:
        subprocess.run([*args, "--headless"], env=ENV, check=True, cwd=ROOT, capture_output=True)
    else:
        sock = f"qtgjax-bench-{os.getpid()}"
        cmd = " ".join([*args, "--quit-at-end"])
        env = " ".join(f"{k}={ENV[k]}" for k in ("JAX_PLATFORMS", "JAX_COMPILATION_CACHE_DIR"))
        subprocess.run(
            [
                "tmux",
                "-L",
                sock,
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                f"sleep 0.5; {env} {cmd}",
            ],
            check=True,
            cwd=ROOT,
        )
        while not stats.is_file():
            time.sleep(0.5)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    out = json.loads(stats.read_text())
    return {"variant": "watch-view" if view else "watch-headless", "load": before, **out}


def rollout(overrides, depth: int) -> dict:
    """Median of 3 timed one-call rollouts in a fresh process (after compiling)."""
    code = f"""
import json, time, jax, qtgjax
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.chunk import rollout_for
cfg = qtgjax.load_config({list(overrides)!r} + ["record.depth={depth}"])
b = build(cfg); run = rollout_for(jax.devices()[0])
p = scenario_params(b.params, b.run.scenarios); k = scenario_keys(b.run.seed, b.run.scenarios)
t = time.perf_counter(); jax.block_until_ready(run(b.static, p, k, b.run.ticks))
compile_s = time.perf_counter() - t
walls = []
for _ in range(3):
    t = time.perf_counter(); jax.block_until_ready(run(b.static, p, k, b.run.ticks))
    walls.append(time.perf_counter() - t)
walls.sort()
agents = sum(f.n_agents for f in b.static.families)
print(json.dumps({{"ticks": b.run.ticks, "scenarios": b.run.scenarios, "agents": agents,
    "compile_s": compile_s, "wall_s": walls[1], "ticks_per_s": b.run.ticks / walls[1],
    "agent_ticks_per_s": b.run.ticks * agents * b.run.scenarios / walls[1]}}))
"""
    before = load()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=ENV, check=True, cwd=ROOT, capture_output=True, text=True
    )
    name = "rollout-depth" if depth else "rollout"
    return {
        "variant": name,
        "load": before,
        "depth": depth,
        **json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", default=[])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--out", default=None)
    args = parser.parse_intermixed_args()
    overrides = [f"ticks={args.ticks}", *args.overrides]
    rows = []
    for rep in range(args.reps):
        for measure in (
            lambda: watch(overrides, False),
            lambda: watch(overrides, True),
            lambda: rollout(overrides, 0),
            lambda: rollout(overrides, 10),
        ):
            row = {"rep": rep, "date": time.strftime("%Y-%m-%d"), **measure()}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    med = {
        v: statistics.median(r["ticks_per_s"] for r in rows if r["variant"] == v)
        for v in ("watch-headless", "watch-view", "rollout", "rollout-depth")
    }
    for v, rate in med.items():
        print(f"{v:15s} {rate:10.1f} ticks/s (median of {args.reps})")
    print(
        f"watching costs {1 - med['watch-view'] / med['watch-headless']:+.1%} of the "
        f"headless segments' throughput; segments vs one rollout call "
        f"{med['watch-headless'] / med['rollout'] - 1:+.1%}; depth record "
        f"{med['rollout-depth'] / med['rollout'] - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
