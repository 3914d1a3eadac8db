"""Cluster scale: SLURM job scripts render with the configured resources (dask_jobqueue,
submitit, slurm/*.sbatch), and Hydra multirun runs through the submitit local launcher."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from conftest import SMALL
from qtgjax.api import CONF_DIR
from qtgjax.cli.sweep import settings
from qtgjax.sweep import ClusterError
from qtgjax.sweep.cluster import check_cluster, slurm_cluster, worker_env

ROOT = Path(__file__).resolve().parents[1]
RUN = str(Path(sys.executable).parent / "qtgjax-run")
ENV = os.environ | {
    "JAX_PLATFORMS": "cpu",
    "JAX_COMPILATION_CACHE_DIR": str(ROOT / ".jax_cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5",
}
SCRIPTS = ["sweep", "sweep-gpu", "dask-scheduler", "dask-workers", "hydra-multirun"]


def render(overrides) -> str:
    """The worker job script that ``cluster=slurm`` settings give dask_jobqueue."""
    cluster = settings(overrides)["cluster"]
    made = slurm_cluster(cluster, worker_env(cluster, "/shared/jax-cache"))
    try:
        return made.job_script()
    finally:
        made.close()


def test_dask_jobqueue_worker_script_has_the_configured_resources():
    script = render(
        [
            "cluster=slurm",
            "cluster.partition=compute",
            "cluster.account=proj42",
            "cluster.walltime=01:30:00",
            "cluster.memory=24GB",
            "cluster.cores=6",
            "cluster.job_extra=['--qos=high']",
            "cluster.prologue=['module load python']",
        ]
    )
    for line in (
        "#SBATCH -p compute",
        "#SBATCH -A proj42",
        "#SBATCH -t 01:30:00",
        "#SBATCH --cpus-per-task=6",
        "#SBATCH --mem=23G",
        "#SBATCH --qos=high",
        "export JAX_COMPILATION_CACHE_DIR=/shared/jax-cache",
        "export JAX_PLATFORMS=cpu",
        "module load python",
        "--nworkers 6",
        "--nthreads 1 ",
    ):
        assert line in script, (line, script)
    assert "--xla_cpu_multi_thread_eigen=false" in script


def test_dask_jobqueue_gpu_script_runs_one_worker_per_gpu():
    script = render(["cluster=slurm_gpu", "cluster.partition=gpu", "cluster.walltime=00:20:00"])
    assert "#SBATCH --gres=gpu:1" in script
    assert "#SBATCH -p gpu" in script and "#SBATCH -t 00:20:00" in script
    assert "--nworkers" not in script and "--nthreads 4" in script
    assert "XLA_FLAGS" not in script


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["cluster=slurm", "cluster.gpus=2"], "cluster.gpus"),
        (["cluster=slurm", "cluster.walltime=null"], "cluster.walltime"),
        (["cluster=slurm", "cluster.processes=16", "cluster.cores=4"], "cluster.processes"),
        (["cluster=slurm", "cluster.jobs=0"], "cluster.jobs"),
        (["cluster=scheduler"], "cluster.address"),
    ],
)
def test_impossible_cluster_settings_name_the_key(overrides, key):
    with pytest.raises(ClusterError, match=key):
        check_cluster(settings(overrides)["cluster"])


@pytest.fixture
def login_node(tmp_path, monkeypatch):
    """An ``srun`` on PATH, which is how submitit tells it may build SLURM jobs."""
    srun = tmp_path / "bin" / "srun"
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}{os.pathsep}{os.environ['PATH']}")


def submitit_script(overrides) -> str:
    """The sbatch text that Hydra's submitit launcher makes from ``hydra/launcher=...``,
    built the way ``SlurmLauncher.launch`` builds its executor."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -m job", "uid")


def test_submitit_slurm_launcher_script_has_the_configured_resources(login_node):
    script = submitit_script(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.partition=compute",
            "hydra.launcher.account=proj42",
            "hydra.launcher.timeout_min=90",
            "hydra.launcher.mem_gb=12",
            "hydra.launcher.cpus_per_task=3",
            "hydra.launcher.array_parallelism=5",
            "out=/scratch/study",
        ]
    )
    for line in (
        "#SBATCH --partition=compute",
        "#SBATCH --account=proj42",
        "#SBATCH --time=90",
        "#SBATCH --mem=12GB",
        "#SBATCH --cpus-per-task=3",
        "#SBATCH --output=/scratch/study/.submitit/%j/%j_0_log.out",
        "export JAX_COMPILATION_CACHE_DIR=",
    ):
        assert line in script, (line, script)
    gpu = submitit_script(["hydra/launcher=slurm_gpu", "hydra.launcher.partition=gpu", "out=o"])
    assert "#SBATCH --gpus-per-node=1" in gpu and "#SBATCH --partition=gpu" in gpu


@pytest.mark.parametrize("name", SCRIPTS)
def test_sbatch_scripts_are_valid_and_render_their_commands(name):
    path = ROOT / "slurm" / f"{name}.sbatch"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "#SBATCH --time=" in text and "#SBATCH --job-name=" in text
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    env = os.environ | {
        "DRY_RUN": "1",
        "QTGJAX_HOME": str(ROOT),
        "SWEEP": "market_quality",
        "SCHEDULER_FILE": "/shared/sched.json",
        "SWEEP_ARGS": "cluster.jobs=3",
        "MULTIRUN_ARGS": "seed=0,1",
        "OUT": "results/x",
    }
    proc = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    expected = {
        "sweep": "qtgjax-sweep sweep=market_quality out=results/x cluster=slurm progress=false "
        "cluster.jobs=3",
        "sweep-gpu": "qtgjax-sweep sweep=market_quality out=results/x cluster=inprocess",
        "dask-scheduler": "cluster=scheduler cluster.scheduler_file=/shared/sched.json",
        "dask-workers": "dask worker --scheduler-file /shared/sched.json --nworkers 8 --nthreads 1",
        "hydra-multirun": "qtgjax-run --multirun hydra/launcher=slurm out=results/x seed=0",
    }[name]
    assert expected in proc.stdout, proc.stdout


def test_multirun_through_the_submitit_local_launcher(tmp_path):
    """``qtgjax-run --multirun hydra/launcher=local_jobs``: every job in its own process,
    as on SLURM, each writing its own folder."""
    out = tmp_path / "multi"
    small = [o for o in SMALL if not o.startswith(("scenarios=", "ticks="))]
    cmd = [RUN, "--multirun", "hydra/launcher=local_jobs", *small, "scenarios=4", "ticks=2000"]
    cmd += ["families.market_maker.params.half_spread=1.0,3.0", f"out={out}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Submitit 'local' sweep output dir" in proc.stderr + proc.stdout
    for job, spread in (("0", "1.0"), ("1", "3.0")):
        assert (out / job / "ticks.parquet").is_file()
        assert f"half_spread: {spread}" in (out / job / "config.yaml").read_text()
    logs = list((out / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2
    assert all("conservation: cash error 0, share error 0" in p.read_text() for p in logs)
