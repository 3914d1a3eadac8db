"""``qtgjax-sweep sweep=NAME [out=DIR] [cluster=...] [key=value ...]``: run a study.

The settings are ``conf/sweep/config.yaml`` composed with Hydra overrides (config group
``cluster`` picks where chunks run). Exit status: 0 done, 1 chunks failed, 2 bad sweep file,
settings or study folder, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, which is how
``scancel`` and a job's time limit stop it); after either, run the same command again to finish.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from qtgjax.cli.errors import os_error_line
from qtgjax.config.build import ConfigError
from qtgjax.paths import CONF_DIR, DATA_ROOT
from qtgjax.sweep import (
    ChunkFailed,
    ClusterError,
    StudyError,
    SweepError,
    find_sweep,
    load_sweep,
    run_sweep,
)
from qtgjax.sweep.runner import check_settings
from qtgjax.sweep.spec import parse_memory

SWEEP_CONF = CONF_DIR / "sweep"
REPO = DATA_ROOT  # holds sweeps/ (the repository, or the installed package's data)
USAGE = """usage: qtgjax-sweep sweep=NAME [out=DIR]
                    [cluster=local|threads|inprocess|slurm|slurm_gpu|scheduler]
                    [chunk_size=N] [chunk_memory=4GiB] [retries=N] [progress=false]
                    [cluster.KEY=VALUE ...] [--cfg]

Runs the study in sweeps/NAME.yaml (or sweep=PATH.yaml) into DIR (default
results/sweeps/NAME): points sharing static shapes are packed into jit(vmap) chunks, Dask
distributes the chunks, each chunk's tables are written atomically as hive-partitioned
Parquet (DIR/ticks, DIR/agents, DIR/positions, DIR/summary; a study of kind: backtest
writes qtgjax-backtest's tables: DIR/equity, DIR/trades, DIR/summary). Running the same command
again after an interruption finishes the missing chunks only. --cfg prints the settings.
Settings: conf/sweep/config.yaml and conf/sweep/cluster/*.yaml."""


def settings(overrides: Sequence[str]) -> dict:
    """``conf/sweep/config.yaml`` with Hydra overrides, resolved."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(SWEEP_CONF), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C, so the cluster (and its SLURM worker jobs) is shut
    down on the way out instead of left running."""


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up
    raise Terminated


def cli(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        print(USAGE)
        return 0
    show = "--cfg" in args
    args = [a for a in args if a != "--cfg"]
    try:
        cfg = settings(args)
    except Exception as err:  # Hydra's override parsing and composition errors
        print(f"qtgjax-sweep: bad settings: {err}", file=sys.stderr)
        return 2
    if show:
        print(OmegaConf.to_yaml(OmegaConf.create(cfg)), end="")
        return 0
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        memory = cfg["chunk_memory"]
        memory = None if memory is None else parse_memory(memory, "chunk_memory")
        check_settings(cfg["chunk_size"], memory, cfg["retries"])
        if not isinstance(cfg["progress"], bool):
            raise SweepError(f"progress: expected true or false, got {cfg['progress']!r}")
        path = find_sweep(str(cfg["sweep"]), [Path.cwd(), REPO])
        spec = load_sweep(path)
        out = Path(cfg["out"] or Path("results") / "sweeps" / spec.name)
        run_sweep(
            spec,
            out,
            cluster=cfg["cluster"],
            chunk_size=cfg["chunk_size"],
            chunk_memory=memory,
            retries=cfg["retries"],
            progress=cfg["progress"],
            compilation_cache=cfg["compilation_cache"],
        )
    except (SweepError, ConfigError, ClusterError, StudyError) as err:
        print(f"qtgjax-sweep: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"qtgjax-sweep: {os_error_line(err)}", file=sys.stderr)
        return 2
    except ChunkFailed as err:
        print(f"qtgjax-sweep: {err}; run the same command again to retry them", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        how = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        print(
            f"qtgjax-sweep: {how}; finished chunks are kept, run the same command again "
            "to finish",
            file=sys.stderr,
        )
        return 143 if isinstance(err, Terminated) else 130
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli())


if __name__ == "__main__":
    main()
