"""Throughput benchmarks: workloads as config files, one JSON line per measurement."""

from qtgjax.bench.measure import measure
from qtgjax.bench.workloads import WorkloadError, known_workloads, load_workload, sim_config

__all__ = ["WorkloadError", "known_workloads", "load_workload", "measure", "sim_config"]
