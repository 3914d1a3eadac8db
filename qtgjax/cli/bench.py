"""``qtgjax-bench``: throughput of one workload at one size, printed as one JSON line.

    qtgjax-bench workload=kineticsim scenarios=4096 agents=256 levels=128 ticks=100
    qtgjax-bench --multirun workload=kineticsim,noise agents=256,1024,4096

Workloads are the files in ``conf/bench/workload/``; see :mod:`qtgjax.bench.workloads`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import jax
from omegaconf import DictConfig

from qtgjax.bench.measure import measure
from qtgjax.bench.workloads import WorkloadError
from qtgjax.config.build import ConfigError

BENCH_CONF = Path(__file__).resolve().parents[2] / "conf" / "bench"


def run(cfg: DictConfig) -> dict:
    """Measure once and print (and optionally append to ``out``) the JSON line."""
    if not cfg.compile_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    result = measure(
        str(cfg.workload.name),
        scenarios=int(cfg.scenarios),
        agents=int(cfg.agents),
        ticks=int(cfg.ticks),
        levels=None if cfg.levels is None else int(cfg.levels),
        symbols=None if cfg.symbols is None else int(cfg.symbols),
        seed=int(cfg.seed),
        repeats=int(cfg.repeats),
        chunk=None if cfg.chunk is None else int(cfg.chunk),
        memory_fraction=float(cfg.memory_fraction),
        budget_bytes=None if cfg.memory_mb is None else int(cfg.memory_mb * 2**20),
    )
    line = json.dumps(result)
    print(line, flush=True)
    if cfg.out:
        with open(cfg.out, "a") as f:
            f.write(line + "\n")
    return result


@hydra.main(config_path=str(BENCH_CONF), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ConfigError, WorkloadError) as err:
        print(f"qtgjax-bench: bad config: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _app()


if __name__ == "__main__":
    main()
