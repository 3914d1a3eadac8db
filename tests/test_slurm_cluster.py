"""A real SLURM and a real Dask cluster under the sweep.

``.ci/slurm-cluster up`` starts munged, slurmctld and slurmd (Debian ``slurm-wlm``) as a
single-node cluster in a private folder; every script in ``slurm/`` is submitted to it with
``sbatch`` and must complete, ``qtgjax-sweep cluster=slurm`` must give exactly the tables of
a ``cluster=local`` run, also when its jobs are scancelled and resubmitted or a worker job is
killed. A separately started ``dask scheduler`` + ``dask worker`` run ``cluster=scheduler``.

Every study here has the smoke sweep's shapes (``sweeps/smoke.yaml``: chunks of 8 scenarios
x 200 ticks), so one compiled call, in the persistent cache, serves every worker. ``LONG`` is
smoke with 32 seeds (16 chunks), long enough to be interrupted half-way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from polars.testing import assert_frame_equal
from test_sweep import read_tables

from conftest import SMALL
from qtgjax.sweep.store import TABLES

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / ".ci" / "slurm-cluster"
BIN = Path(sys.executable).parent
SCRIPTS = sorted(p.stem for p in (ROOT / "slurm").glob("*.sbatch"))
SMOKE_CHUNKS, LONG_SEEDS, LONG_CHUNKS = 2, 32, 16
# Worker processes run XLA on one thread (conf/sweep/cluster/*.yaml, dask-workers.sbatch);
# the flags are part of the compilation cache key, so every process that simulates has them.
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
ENV = os.environ | {
    "JAX_PLATFORMS": "cpu",
    "JAX_COMPILATION_CACHE_DIR": str(ROOT / ".jax_cache"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5",
    "QTGJAX_HOME": str(ROOT),
    "VENV": str(BIN.parent),
    "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
}
XLA_ENV = ENV | {"XLA_FLAGS": XLA_FLAGS}
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
# One small job: 1 of the node's CPUs and 1 GB (a sweep process peaks near 350 MB); a Dask
# worker job gets 1.5 GB (a worker peaks near 550 MB). Two jobs fit the smallest node.
JOB = ["--cpus-per-task=1", "--mem=1G", "--time=00:15:00"]
WORKER_MEM = "--mem=1536M"


def slurm_workers(tmp_path: Path) -> str:
    """``cluster=slurm`` settings of the sweep jobs here: one small worker job, logs in
    ``tmp_path/workers``."""
    return (
        "cluster.cores=1 cluster.memory=1.5GB cluster.jobs=1 cluster.walltime=00:15:00 "
        f"cluster.log_directory={tmp_path / 'workers'}"
    )


def can_run_slurm() -> bool:
    return shutil.which("slurmctld") is not None or os.geteuid() == 0 or bool(shutil.which("sudo"))


pytestmark = pytest.mark.skipif(
    not can_run_slurm(), reason="slurm-wlm is not installed and cannot be (not root, no sudo)"
)


# ---------------------------------------------------------------- the cluster


def cluster_script(action: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = ENV | {"QTGJAX_SLURM_DIR": str(folder)}
    return subprocess.run(
        ["bash", str(CLUSTER), action, *args], env=env, capture_output=True, text=True, timeout=300
    )


def daemon_pids(folder: Path) -> dict[str, int]:
    files = {"munged": "munge/munged.pid", "slurmctld": "slurmctld.pid", "slurmd": "slurmd.pid"}
    return {k: int((folder / f).read_text()) for k, f in files.items() if (folder / f).is_file()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM: the environment that points sbatch & co at it. Torn down
    afterwards, and by its watchdog if this test process dies without tearing it down."""
    folder = tmp_path_factory.mktemp("slurm")
    up = cluster_script("up", folder, "--watch", str(os.getpid()))
    try:
        assert up.returncode == 0, up.stderr
        yield ENV | {"SLURM_CONF": str(folder / "slurm.conf"), "QTGJAX_SLURM_DIR": str(folder)}
    finally:
        down = cluster_script("down", folder)
        assert down.returncode == 0, down.stderr
        assert not [n for n, pid in daemon_pids(folder).items() if alive(pid)]


@pytest.fixture
def slurm(slurm_cluster):
    """The cluster's environment; a test that fails leaves no job behind for the next."""
    yield slurm_cluster
    left = queued(slurm_cluster)
    if left:
        subprocess.run(["scancel", *left], env=slurm_cluster)
        wait_until(lambda: not queued(slurm_cluster), 60, f"jobs {left} outlived scancel")


def test_cluster_comes_up_idle_and_leaves_nothing_running(tmp_path):
    """``up`` gives an idle node with this machine's CPUs; when the watched process dies,
    the watchdog cancels the running job and stops every daemon and job process."""
    watched = subprocess.Popen(["sleep", "600"])
    try:
        up = cluster_script("up", tmp_path, "--watch", str(watched.pid))
        assert up.returncode == 0, up.stderr
        env = ENV | {"SLURM_CONF": str(tmp_path / "slurm.conf")}
        cpus = max(2, len(os.sched_getaffinity(0)))  # what nproc counts, at least 2
        assert f"CPUs={cpus} " in (tmp_path / "slurm.conf").read_text()
        info = subprocess.run(
            ["sinfo", "-h", "-o", "%T %c"], env=env, capture_output=True, text=True
        )
        assert info.stdout.split() == ["idle", str(cpus)]
        job = subprocess.run(
            ["sbatch", "--parsable", *JOB, "-o", str(tmp_path / "job.out"), "--wrap",
             "sleep 600 & echo $! > child.pid; sleep 600"],
            env=env, cwd=tmp_path, capture_output=True, text=True,
        )  # fmt: skip
        assert job.returncode == 0, job.stderr
        wait_until(lambda: (tmp_path / "child.pid").is_file(), 60, "the job did not start")
        child = int((tmp_path / "child.pid").read_text())
        daemons = daemon_pids(tmp_path)
        assert sorted(daemons) == ["munged", "slurmctld", "slurmd"] and alive(child)
        watchdog = int((tmp_path / "watchdog.pid").read_text())
        watched.kill()
        watched.wait()
        gone = [child, *daemons.values(), watchdog]  # the watchdog becomes `down`, then exits
        wait_until(lambda: not any(alive(p) for p in gone), 60, f"left running: {gone}")
        assert "slurm-cluster: down" in (tmp_path / "log" / "watchdog.log").read_text()
    finally:
        watched.kill()
        cluster_script("down", tmp_path)


# ---------------------------------------------------------------- jobs


def wait_until(condition, timeout: float, message: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(every)


def sbatch(env, cwd: Path, script: str, *options: str, **variables: str) -> str:
    """Submit ``slurm/SCRIPT.sbatch`` with sbatch options and the script's variables; the
    job id. Its log is ``cwd/logs/SCRIPT-ID.out``."""
    (cwd / "logs").mkdir(exist_ok=True)
    cmd = ["sbatch", "--parsable", *JOB, f"--output={cwd}/logs/{script}-%j.out", *options]
    proc = subprocess.run(
        [*cmd, str(ROOT / "slurm" / f"{script}.sbatch")],
        env=env | variables, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def job_info(env, job_id: str) -> list[dict[str, str]]:
    """``scontrol show job`` of a job (one dict per array task)."""
    proc = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in proc.stdout.splitlines()]


def queued(env) -> list[str]:
    """Ids of the jobs SLURM has pending, running or completing."""
    proc = subprocess.run(
        ["squeue", "-h", "-o", "%i", "-t", "PD,R,CG"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def wait_job(env, job_id: str, timeout: float = 300) -> dict[str, str]:
    """Wait until the job (every task of an array) has ended; its last task's record."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = job_info(env, job_id)
        if all(t["JobState"] in ENDED for t in tasks):
            return tasks[-1]
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job_id], env=env)
            pytest.fail(f"job {job_id} still {[t['JobState'] for t in tasks]} after {timeout} s")
        time.sleep(0.3)


def completed(env, job_id: str, log: Path, timeout: float = 300) -> str:
    """Wait for the job, assert it completed with exit code 0; its log."""
    info = wait_job(env, job_id, timeout)
    text = log.read_text() if log.is_file() else "(no log)"
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), text[-3000:]
    return text


def done(out: Path) -> int:
    return len(list((out / "summary").glob("chunk=*/part-0.parquet"))) if out.exists() else 0


def assert_same_tables(out: Path, reference: Path) -> None:
    assert not list(out.rglob(".tmp-*"))
    got, want = read_tables(out), read_tables(reference)
    for name in TABLES:
        assert_frame_equal(got[name], want[name], check_exact=True)


# ---------------------------------------------------------------- reference runs


def sweep_cmd(sweep: str, out: Path, *args: str) -> list[str]:
    return [str(BIN / "qtgjax-sweep"), f"sweep={sweep}", f"out={out}", "progress=false", *args]


@pytest.fixture(scope="module")
def long_sweep(tmp_path_factory) -> Path:
    """The smoke study with 32 seeds: 16 chunks of the same shape."""
    body = yaml.safe_load((ROOT / "sweeps" / "smoke.yaml").read_text())
    body |= {"description": "smoke with more seeds", "seeds": LONG_SEEDS}
    path = tmp_path_factory.mktemp("sweeps") / "smoke_long.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def local(tmp_path_factory, long_sweep) -> dict[str, Path]:
    """The tables to match: smoke run with ``cluster=local`` (one worker process: its two
    chunks run one after the other anyway), the long study start to finish in one process
    (``cluster=inprocess``, with the workers' XLA flags)."""
    folder = tmp_path_factory.mktemp("local")
    outs = {"smoke": folder / "smoke", "long": folder / "long"}
    runs = [
        (sweep_cmd("smoke", outs["smoke"], "cluster=local", "cluster.n_workers=1"), ENV),
        (sweep_cmd(str(long_sweep), outs["long"], "cluster=inprocess"), XLA_ENV),
    ]
    for cmd, env in runs:
        proc = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert done(outs["smoke"]) == SMOKE_CHUNKS and done(outs["long"]) == LONG_CHUNKS
    return outs


# ---------------------------------------------------------------- SLURM


def test_smoke_sweep_on_slurm_gives_the_tables_of_a_local_run(slurm, local, tmp_path):
    """``sbatch slurm/sweep.sbatch``: qtgjax-sweep cluster=slurm in a job, its Dask worker in
    a job it submits (dask_jobqueue), which it cancels when the study is done."""
    out = tmp_path / "smoke"
    job = sbatch(
        slurm, tmp_path, "sweep",
        SWEEP="smoke", OUT=str(out),
        SWEEP_ARGS=slurm_workers(tmp_path),
    )  # fmt: skip
    log = completed(slurm, job, tmp_path / "logs" / f"sweep-{job}.out")
    assert "2 chunks; 0 done, 2 to run on SLURMCluster (1 jobs" in log
    worker_logs = list((tmp_path / "workers").glob("*.err"))
    assert len(worker_logs) == 1 and "Registered to" in worker_logs[0].read_text()
    (worker_job,) = re.findall(r"-(\d+)\.err$", worker_logs[0].name)
    assert int(worker_job) > int(job)
    wait_until(lambda: not queued(slurm), 30, "the worker job outlived the study")
    assert_same_tables(out, local["smoke"])


def test_scancelled_sweep_resumes_to_the_rows_of_an_uninterrupted_run(
    slurm, local, long_sweep, tmp_path
):
    """scancel the sweep's job half-way: it shuts its worker job down and leaves whole
    chunks only; submitted again it runs the missing chunks, and the tables are the clean
    run's."""
    out = tmp_path / "long"
    args = {"SWEEP": str(long_sweep), "OUT": str(out), "SWEEP_ARGS": slurm_workers(tmp_path)}
    job = sbatch(slurm, tmp_path, "sweep", **args)
    wait_until(lambda: done(out) >= 2, 240, "no chunk written")
    subprocess.run(["scancel", job], env=slurm, check=True)
    info = wait_job(slurm, job, 60)
    written = done(out)
    assert info["JobState"] == "CANCELLED" and written < LONG_CHUNKS, "cancelled too late"
    log = (tmp_path / "logs" / f"sweep-{job}.out").read_text()
    assert "qtgjax-sweep: terminated (SIGTERM); finished chunks are kept" in log, log
    wait_until(lambda: not queued(slurm), 30, "worker jobs outlived the cancelled sweep")
    again = sbatch(slurm, tmp_path, "sweep", **args)
    log = completed(slurm, again, tmp_path / "logs" / f"sweep-{again}.out")
    assert f"{written} done, {LONG_CHUNKS - written} to run on SLURMCluster" in log
    assert_same_tables(out, local["long"])


def test_killed_worker_job_is_replaced_and_the_sweep_completes(
    slurm, local, long_sweep, tmp_path
):
    """SIGKILL every process of the only worker job half-way: the job ends, the sweep
    submits a replacement, the lost chunk is rerun, and the tables are the clean run's."""
    out = tmp_path / "long"
    workers = tmp_path / "workers"
    job = sbatch(
        slurm, tmp_path, "sweep",
        SWEEP=str(long_sweep), OUT=str(out),
        SWEEP_ARGS=slurm_workers(tmp_path),
    )  # fmt: skip
    wait_until(lambda: done(out) >= 2, 240, "no chunk written")
    (worker_job,) = [j for j in queued(slurm) if j != job]
    pids = subprocess.run(
        ["scontrol", "listpids", worker_job], env=slurm, capture_output=True, text=True
    ).stdout.split("\n")[1:]
    pids = [int(line.split()[0]) for line in pids if line.strip()]
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    killed_at = done(out)
    log = completed(slurm, job, tmp_path / "logs" / f"sweep-{job}.out")
    assert killed_at < LONG_CHUNKS, "killed too late"
    assert wait_job(slurm, worker_job, 10)["JobState"] in {"FAILED", "CANCELLED"}
    assert f"worker job(s) {worker_job} ended; submitting replacements" in log
    worker_logs = sorted(workers.glob("*.err"))
    assert len(worker_logs) == 2, log
    assert "Registered to" in worker_logs[1].read_text()
    assert_same_tables(out, local["long"])


def test_hydra_multirun_runs_its_jobs_through_sbatch(slurm, tmp_path):
    """``sbatch slurm/hydra-multirun.sbatch``: qtgjax-run --multirun hydra/launcher=slurm,
    whose submitit launcher submits one array task per combination and waits for them."""
    out = tmp_path / "multi"
    small = [o for o in SMALL if not o.startswith(("scenarios=", "ticks="))]
    args = [*small, "scenarios=4", "ticks=2000", "families.market_maker.params.half_spread=1.0,3.0"]
    args += ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    args += ["hydra.launcher.timeout_min=15"]
    job = sbatch(slurm, tmp_path, "hydra-multirun", OUT=str(out), MULTIRUN_ARGS=" ".join(args))
    completed(slurm, job, tmp_path / "logs" / f"hydra-multirun-{job}.out")
    tasks = [p.name for p in (out / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name)]
    (array,) = {t.split("_")[0] for t in tasks}
    assert sorted(tasks) == [f"{array}_0", f"{array}_1"]
    wait_job(slurm, array, 60)  # submitit returns on the result files, before SLURM's end
    tasks = job_info(slurm, array)
    states = sorted((t["ArrayTaskId"], t["JobState"], t["ExitCode"]) for t in tasks)
    assert states == [("0", "COMPLETED", "0:0"), ("1", "COMPLETED", "0:0")]
    for task, spread in (("0", "1.0"), ("1", "3.0")):
        assert (out / task / "ticks.parquet").is_file()
        assert f"half_spread: {spread}" in (out / task / "config.yaml").read_text()
        task_log = out / ".submitit" / f"{array}_{task}" / f"{array}_{task}_0_log.out"
        assert "conservation: cash error 0, share error 0" in task_log.read_text()


def test_sweep_gpu_script_runs_the_study_in_its_job(slurm, local, tmp_path):
    """``sbatch slurm/sweep-gpu.sbatch`` (no GPU here: --gres=none): every chunk in the job's
    own process (cluster=inprocess), the same tables."""
    out = tmp_path / "smoke"
    job = sbatch(slurm | XLA_ENV, tmp_path, "sweep-gpu", "--gres=none",
                 SWEEP="smoke", OUT=str(out))  # fmt: skip
    log = completed(slurm, job, tmp_path / "logs" / f"sweep-gpu-{job}.out")
    assert "to run on this process (no Dask)" in log
    assert_same_tables(out, local["smoke"])


def test_dask_scheduler_and_worker_scripts_run_the_study(slurm, local, tmp_path):
    """``slurm/dask-scheduler.sbatch`` (scheduler + sweep) and a ``dask-workers.sbatch``
    array task (workers) as separate jobs meeting through the scheduler file; when the study
    is done the scheduler closes and the worker job ends with it."""
    out = tmp_path / "smoke"
    variables = {"SCHEDULER_FILE": str(tmp_path / "scheduler.json"), "SWEEP": "smoke"}
    scheduler = sbatch(slurm, tmp_path, "dask-scheduler", OUT=str(out), **variables)
    workers = sbatch(slurm, tmp_path, "dask-workers", "--array=0", WORKER_MEM, **variables)
    completed(slurm, scheduler, tmp_path / "logs" / f"dask-scheduler-{scheduler}.out")
    info = wait_job(slurm, workers, 60)
    log = tmp_path / "logs" / f"dask-workers-{info['JobId']}.out"
    assert info["JobState"] == "COMPLETED", log.read_text()[-3000:]
    assert "Reason: scheduler-close" in log.read_text()
    assert not (tmp_path / "scheduler.json").exists()
    assert_same_tables(out, local["smoke"])


def test_every_script_in_slurm_is_submitted_by_a_test():
    tested = {
        "sweep": test_smoke_sweep_on_slurm_gives_the_tables_of_a_local_run,
        "hydra-multirun": test_hydra_multirun_runs_its_jobs_through_sbatch,
        "sweep-gpu": test_sweep_gpu_script_runs_the_study_in_its_job,
        "dask-scheduler": test_dask_scheduler_and_worker_scripts_run_the_study,
        "dask-workers": test_dask_scheduler_and_worker_scripts_run_the_study,
    }
    assert sorted(tested) == SCRIPTS


# ---------------------------------------------------------------- a separate Dask cluster


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and one ``dask worker`` (a nanny and its worker process, one XLA
    thread), started as slurm/dask-scheduler.sbatch and dask-workers.sbatch start them."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    started = []

    def start(*args: str) -> subprocess.Popen:
        with open(folder / f"{args[0]}.log", "w") as log:
            proc = subprocess.Popen(
                [str(BIN / "dask"), *args],
                env=XLA_ENV, cwd=folder, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        started.append(proc)
        return proc

    try:
        start("scheduler", "--scheduler-file", str(scheduler_file), "--port", "0",
              "--no-dashboard")  # fmt: skip
        wait_until(scheduler_file.is_file, 60, "the scheduler did not start")
        start("worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
              "--nthreads", "1", "--memory-limit", "1.5GB", "--no-dashboard",
              "--local-directory", str(folder))  # fmt: skip
        # should this test process die without its clean-up, the processes die with it
        groups = " ".join(f"-{p.pid}" for p in started)
        started.append(subprocess.Popen(
            ["bash", "-c", f"while kill -0 {os.getpid()}; do sleep 1; done; kill -9 -- {groups}"],
            start_new_session=True, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        yield scheduler_file
    finally:
        for proc in reversed(started):
            with_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
                proc.wait()


def with_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def worker_pids(scheduler_file: Path) -> list[int]:
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        client.wait_for_workers(1, timeout=120)
        return list(client.run(os.getpid).values())


def test_scheduler_cluster_runs_the_smoke_study(dask_cluster, local, tmp_path):
    out = tmp_path / "smoke"
    proc = subprocess.run(
        sweep_cmd("smoke", out, "cluster=scheduler", f"cluster.scheduler_file={dask_cluster}"),
        env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"on Dask scheduler {dask_cluster}" in proc.stdout
    assert_same_tables(out, local["smoke"])


def test_worker_killed_mid_way_is_survived(dask_cluster, local, long_sweep, tmp_path):
    """SIGKILL the worker process half-way: its nanny starts a new one, the chunk it held is
    rerun, and the study ends with the clean run's tables."""
    out = tmp_path / "long"
    (old,) = worker_pids(dask_cluster)
    sweep = subprocess.Popen(
        sweep_cmd(str(long_sweep), out, "cluster=scheduler",
                  f"cluster.scheduler_file={dask_cluster}"),
        env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: done(out) >= 2 or sweep.poll() is not None, 240, "no chunk written")
        os.kill(old, signal.SIGKILL)
        killed_at = done(out)
        stdout, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, stderr
    assert killed_at < LONG_CHUNKS, "killed too late"
    (new,) = worker_pids(dask_cluster)
    assert new != old
    assert_same_tables(out, local["long"])
