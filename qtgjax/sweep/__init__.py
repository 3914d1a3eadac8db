"""Parameter sweeps: a study declared in ``sweeps/NAME.yaml``, packed into ``jit(vmap)``
chunks by static shape, distributed by Dask, written as hive-partitioned Parquet, resumable.

>>> from qtgjax.sweep import load_sweep, run_sweep                      # doctest: +SKIP
>>> run_sweep(load_sweep("sweeps/smoke.yaml"), "results/sweeps/smoke")  # doctest: +SKIP
"""

from qtgjax.sweep.cluster import ChunkFailed, ClusterError
from qtgjax.sweep.plan import Plan, make_plan
from qtgjax.sweep.runner import SweepOutcome, run_sweep
from qtgjax.sweep.spec import SweepError, SweepSpec, find_sweep, load_sweep, parse_sweep
from qtgjax.sweep.store import StudyError

__all__ = [
    "ChunkFailed",
    "ClusterError",
    "Plan",
    "StudyError",
    "SweepError",
    "SweepOutcome",
    "SweepSpec",
    "find_sweep",
    "load_sweep",
    "make_plan",
    "parse_sweep",
    "run_sweep",
]
