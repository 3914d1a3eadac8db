"""``qtgjax-bench``: throughput of one workload at one size, printed as one JSON line.

    qtgjax-bench workload=kineticsim scenarios=4096 agents=256 levels=128 ticks=100
    qtgjax-bench --multirun workload=kineticsim,noise agents=256,1024,4096

Workloads are the files in ``conf/bench/workload/``; see :mod:`qtgjax.bench.workloads`.
"""

from __future__ import annotations

import json
import sys

import hydra
import jax
from omegaconf import DictConfig

from qtgjax.bench.measure import measure
from qtgjax.bench.workloads import WorkloadError
from qtgjax.cli.errors import os_error_line
from qtgjax.config.build import ConfigError
from qtgjax.paths import CONF_DIR
from qtgjax.sim.chunk import MemoryBudgetError

BENCH_CONF = CONF_DIR / "bench"


def check_settings(cfg: DictConfig) -> None:
    """The measurement's own settings (the market's are checked by ``build``)."""
    for key, low in (("repeats", 1), ("chunk", 1)):
        value = cfg[key]
        if value is None and key == "chunk":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{key}: expected an integer >= {low}, got {value!r}")
    fraction = cfg.memory_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise ConfigError(f"memory_fraction: expected a share in (0, 1], got {fraction!r}")
    mb = cfg.memory_mb
    if mb is not None and (isinstance(mb, bool) or not isinstance(mb, int | float) or mb <= 0):
        raise ConfigError(f"memory_mb: expected a positive number of MiB, got {mb!r}")


def run(cfg: DictConfig) -> dict:
    """Measure once and print (and optionally append to ``out``) the JSON line."""
    check_settings(cfg)
    if cfg.out:
        with open(cfg.out, "a"):  # an unwritable out fails before the measurement
            pass
    if not cfg.compile_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    result = measure(
        str(cfg.workload.name),
        scenarios=int(cfg.scenarios),
        agents=None if cfg.agents is None else int(cfg.agents),
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
    except (ConfigError, WorkloadError, MemoryBudgetError) as err:
        print(f"qtgjax-bench: bad config: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        print(f"qtgjax-bench: {os_error_line(err)}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _app()


if __name__ == "__main__":
    main()
