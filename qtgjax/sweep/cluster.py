"""Where chunks run: a Dask ``LocalCluster``, a ``dask_jobqueue.SLURMCluster``, a running
scheduler, or this process (no Dask).

``cluster`` settings are a plain mapping with ``kind`` (``local``, ``slurm``, ``scheduler``,
``inprocess``) and that kind's options; ``conf/sweep/cluster/*.yaml`` documents them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from qtgjax.sweep.plan import ChunkTask
from qtgjax.sweep.worker import ChunkReport, run_chunk

KINDS = ("local", "slurm", "scheduler", "inprocess")
# squeue states of a job whose worker is gone (COMPLETING: its processes are being killed)
JOB_ENDED = frozenset(
    [
        "COMPLETING",
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    ]
)


class ClusterError(ValueError):
    """Cluster settings that cannot work; the message names the key."""


class ChunkFailed(RuntimeError):
    """Chunks that failed after their retries; the others were written."""

    def __init__(self, failures: Sequence[tuple[int, BaseException]]):
        self.failures = list(failures)
        first_index, first = self.failures[0]
        super().__init__(
            f"{len(self.failures)} chunk(s) failed after retries; first: chunk {first_index}: "
            f"{type(first).__name__}: {first}"
        )


def worker_env(cluster: Mapping, compilation_cache: str | None) -> dict[str, str]:
    """Environment of worker processes: XLA threads, JAX platform and compilation cache."""
    env = {}
    if cluster.get("xla_flags"):
        env["XLA_FLAGS"] = str(cluster["xla_flags"])
    if compilation_cache:
        env["JAX_COMPILATION_CACHE_DIR"] = str(Path(compilation_cache).expanduser().resolve())
    platforms = cluster.get("jax_platforms") or os.environ.get("JAX_PLATFORMS")
    if platforms:
        env["JAX_PLATFORMS"] = str(platforms)
    return env


def local_cluster(cluster: Mapping, env: Mapping[str, str]):
    """A ``distributed.LocalCluster``: worker processes (spawned, one XLA thread each) or,
    with ``processes: false``, worker threads inside this process."""
    from distributed import LocalCluster

    n_workers = cluster.get("n_workers") or os.cpu_count() or 1
    processes = bool(cluster.get("processes", True))
    kwargs = {
        "n_workers": int(n_workers),
        "threads_per_worker": int(cluster.get("threads_per_worker") or 1),
        "processes": processes,
        "dashboard_address": cluster.get("dashboard_address"),
        "memory_limit": cluster.get("memory_limit") or "auto",
    }
    if processes:
        kwargs["env"] = dict(env)
    return LocalCluster(**kwargs)


def slurm_cluster(cluster: Mapping, env: Mapping[str, str]):
    """A ``dask_jobqueue.SLURMCluster`` whose jobs each run ``processes`` workers (one per
    GPU with ``gpus: 1``). No job is submitted until it is scaled."""
    from dask_jobqueue import SLURMCluster

    check_cluster({**cluster, "kind": "slurm", "jobs": cluster.get("jobs") or 1})
    gpus, cores = int(cluster.get("gpus") or 0), int(cluster["cores"])
    processes = 1 if gpus else int(cluster.get("processes") or cores)
    directives = [f"--gres=gpu:{gpus}"] if gpus else []
    directives += list(cluster.get("job_extra") or [])
    prologue = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    prologue += list(cluster.get("prologue") or [])
    kwargs = {
        "queue": cluster.get("partition"),
        "account": cluster.get("account"),
        "walltime": str(cluster["walltime"]),
        "memory": str(cluster["memory"]),
        "cores": cores,
        "processes": processes,
        "job_name": cluster.get("job_name") or "qtgjax-sweep",
        "job_extra_directives": directives,
        "job_script_prologue": prologue,
        "log_directory": cluster.get("log_directory"),
        "local_directory": cluster.get("local_directory"),
        "interface": cluster.get("interface"),
        "python": cluster.get("python"),
        "scheduler_options": (
            {"dashboard_address": cluster["dashboard_address"]}
            if cluster.get("dashboard_address")
            else {"dashboard_address": ":0"}
        ),
    }
    return SLURMCluster(**{k: v for k, v in kwargs.items() if v is not None})


def queued_jobs(job_ids: Sequence[str]) -> set[str] | None:
    """The ones of ``job_ids`` that SLURM still has pending or running (``squeue``); None
    when squeue cannot answer (then nothing is taken for dead)."""
    cmd = ["squeue", "--noheader", "--format=%i %T", f"--jobs={','.join(job_ids)}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        # squeue fails on a job list that it no longer knows at all: every job is gone
        return set() if "Invalid job id" in proc.stderr else None
    alive = set()
    for line in proc.stdout.splitlines():
        job, _, state = line.partition(" ")
        if state not in JOB_ENDED:
            alive.add(job.split("_")[0])
    return alive


class JobWatch:
    """Replaces SLURM worker jobs that end while the sweep runs (killed, out of walltime,
    preempted, cancelled by hand). dask_jobqueue submits its jobs once and does not notice
    when one ends, so a study whose jobs all died would wait forever: every ``interval``
    seconds this asks ``squeue`` which of the cluster's jobs are gone, drops them from the
    cluster and scales back to ``jobs`` (with ``adapt``, to what the adaptive plan holds);
    the scheduler reruns the chunks they held on the new workers."""

    def __init__(self, made, jobs: int | None, interval: float = 5.0):
        self.made, self.jobs, self.interval = made, jobs, interval
        self.replaced = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qtgjax-jobwatch", daemon=True)

    def __enter__(self) -> JobWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 35)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # a cluster closing under us; the next round tries again
                if self._stop.is_set():
                    return

    def check(self) -> list[str]:
        """One round: the names of the jobs found dead (and replaced)."""
        made = self.made
        ids = {name: job.job_id for name, job in list(made.workers.items()) if job.job_id}
        alive = queued_jobs(sorted(set(ids.values()))) if ids else set()
        if alive is None or self._stop.is_set():
            return []
        dead = [name for name, job_id in ids.items() if job_id not in alive]
        if dead:
            gone = ", ".join(ids[name] for name in dead)
            print(f"qtgjax-sweep: worker job(s) {gone} ended; submitting replacements",
                  file=sys.stderr, flush=True)  # fmt: skip
            made.sync(made.scale_down, dead)
            self.replaced += len(dead)
        # also reopens jobs that distributed's lost-worker timeout closed and dropped
        made.scale(jobs=self.jobs if self.jobs is not None else len(made.worker_spec))
        return dead


def check_cluster(cluster: Mapping) -> None:
    """Refuse settings that cannot work, before anything is planned or written."""
    kind = cluster.get("kind")
    if kind not in KINDS:
        raise ClusterError(f"cluster.kind: {kind!r} is not one of {KINDS}")
    if kind == "scheduler" and not (cluster.get("address") or cluster.get("scheduler_file")):
        raise ClusterError("cluster.address: give address or scheduler_file for cluster=scheduler")
    for key in ("n_workers", "threads_per_worker", "jobs", "cores", "processes"):
        value = cluster.get(key)
        if key == "processes" and kind in ("local", "threads"):
            continue  # a boolean there: processes or threads
        bad = isinstance(value, bool) or not isinstance(value, int) or value < 1
        if value is not None and bad:
            raise ClusterError(f"cluster.{key}: expected an integer >= 1 or null, got {value!r}")
    if kind != "slurm":
        return
    for key in ("walltime", "memory", "cores", "jobs"):
        if not cluster.get(key):
            raise ClusterError(f"cluster.{key}: required for cluster=slurm")
    gpus, cores = int(cluster.get("gpus") or 0), int(cluster["cores"])
    if gpus > 1:
        raise ClusterError(
            f"cluster.gpus: {gpus}; a worker process drives one GPU, so use gpus=1 and more "
            "cluster.jobs"
        )
    if int(cluster.get("processes") or cores) > cores:
        raise ClusterError(
            f"cluster.processes: {cluster['processes']} is more than cluster.cores={cores}"
        )


def describe(cluster: Mapping) -> str:
    """One line saying where chunks run."""
    kind = cluster["kind"]
    if kind == "local":
        mode = "processes" if cluster.get("processes", True) else "threads"
        return f"LocalCluster ({cluster.get('n_workers') or os.cpu_count()} {mode})"
    if kind == "slurm":
        return (
            f"SLURMCluster ({cluster.get('jobs')} jobs, partition {cluster.get('partition')}, "
            f"{cluster.get('gpus') or 0} GPU/job)"
        )
    if kind == "scheduler":
        return f"Dask scheduler {cluster.get('address') or cluster.get('scheduler_file')}"
    return "this process (no Dask)"


def run_inprocess(tasks: Sequence[ChunkTask], retries: int, work: Callable = run_chunk
                  ) -> Iterator[ChunkReport]:
    """Run chunks one after another here (``work(task)``, by default a simulation chunk);
    a failing chunk is retried, then reported."""
    failures = []
    for task in tasks:
        for attempt in range(retries + 1):
            try:
                yield work(task)
                break
            except Exception as err:
                if attempt == retries:
                    failures.append((task.index, err))
    if failures:
        raise ChunkFailed(failures)


def run_dask(client, tasks: Sequence[ChunkTask], retries: int, tag: str,
             work: Callable = run_chunk) -> Iterator[ChunkReport]:
    """Run chunks (``work(task)``, a module-level function) on a Dask cluster and yield
    reports as they finish.

    The first chunk of each shape group runs alone; when it is done (its compiled call is in
    the persistent compilation cache) the rest of the group is submitted, so workers load the
    executable instead of each compiling it. A chunk whose task raises is re-run ``retries``
    times; one whose worker dies is rescheduled by the scheduler. A finished chunk's report
    is read and its future released at once: its files are the result, and a report still
    held when its worker dies would make the scheduler run the chunk again (a chunk that
    finished but was lost that way before its report was read is waited for again).
    """
    from distributed import as_completed

    def submit(task):
        key = f"qtgjax-chunk-{tag}-{task.index}"
        return client.submit(work, task, key=key, retries=retries, pure=False)

    pending: dict[int, list[ChunkTask]] = {}
    for task in tasks:
        pending.setdefault(task.group, []).append(task)
    futures = {}  # key -> (future, task), until its report is read
    for group_tasks in pending.values():
        pilot = group_tasks.pop(0)
        future = submit(pilot)
        futures[future.key] = (future, pilot)
    running = as_completed([f for f, _ in futures.values()])
    failures = []
    try:
        for future in running:
            task = futures[future.key][1]
            for rest in pending.pop(task.group, []):
                new = submit(rest)
                futures[new.key] = (new, rest)
                running.add(new)
            if future.status == "error":
                failures.append((task.index, future.exception()))
            elif future.status == "finished":
                try:
                    report = future.result()  # waits if its worker died since: rerun
                except Exception as err:  # the rerun failed
                    failures.append((task.index, err))
                    continue
                del futures[future.key]
                future.release()
                yield report
            else:  # finished, then lost with its worker before it was read: rerunning
                running.add(future)
    finally:
        client.cancel([f for f, _ in futures.values() if not f.done()])
    if failures:
        raise ChunkFailed(failures)


@contextmanager
def dask_client(cluster: Mapping, env: Mapping[str, str], retries: int):
    """A connected ``distributed.Client`` for ``cluster`` (closed, with its cluster, on exit)."""
    import dask
    from distributed import Client

    kind = cluster["kind"]
    with dask.config.set({"distributed.scheduler.allowed-failures": retries + 1}):
        if kind == "scheduler":
            made = None
            client = Client(
                address=cluster.get("address"), scheduler_file=cluster.get("scheduler_file")
            )
        elif kind == "slurm":
            made = slurm_cluster(cluster, env)
            jobs = int(cluster["jobs"])
            if cluster.get("adapt"):
                made.adapt(minimum_jobs=0, maximum_jobs=jobs)
            else:
                made.scale(jobs=jobs)
            client = Client(made)
        else:
            made = local_cluster(cluster, env)
            client = Client(made)
        try:
            if kind == "slurm":
                with JobWatch(made, None if cluster.get("adapt") else jobs):
                    yield client
            else:
                yield client
        finally:
            client.close()
            if made is not None:
                made.close()
