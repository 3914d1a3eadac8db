"""Shared test set-up: CPU JAX (the persistent compilation cache only in the processes the
tests start), and small markets."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (CI must not turn red on a new draw);
# QTGJAX_HYPOTHESIS=explore draws fresh examples to hunt for new counterexamples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("QTGJAX_HYPOTHESIS", "ci"))

# The persistent compilation cache is for the processes the tests start (the CLI, Dask and
# SLURM workers: their environment names .jax_cache); in-process, jit's own cache serves.
jax.config.update("jax_enable_compilation_cache", False)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free every compiled program after each test file. Each XLA:CPU executable holds about
    three memory mappings until it is freed, and jit's caches keep them all: a long-lived
    pytest worker reached 61,000 mappings (op-by-op ``disable_jit`` runs compile one
    executable per primitive), near Linux's default ``vm.max_map_count`` of 65,530, and
    the next large compile then crashed in XLA (a segfault, or an abort) and xdist hung."""
    yield
    jax.clear_caches()
    gc.collect()

# A market small enough to compile and run in seconds, with every family of the engine.
SMALL = [
    "scenarios=3",
    "ticks=60",
    "market.symbols=2",
    "market.initial_price=[1000,500]",
    "market.sectors=[0,0]",
    "market.levels=32",
    "market.recentre=8",
    "families.noise.n_agents=40",
    "families.fundamental.n_agents=12",
    "families.momentum.n_agents=12",
    "families.market_maker.n_agents=4",
    "families.market_maker.params.spread_jitter=2.0",
    "families.noise.params.p_active=0.3",
    "families.fundamental.params.p_active=0.3",
    "families.momentum.params.p_active=0.3",
    "families.momentum.params.threshold=0.0005",
    "fundamentals.news_rate=0.05",
    "fundamentals.news_size=0.03",
    "fundamentals.dividend_period=20",
]


@pytest.fixture(scope="session")
def small_config():
    """The resolved config dict of the small market."""
    from qtgjax import load_config

    return load_config(SMALL)


@pytest.fixture(scope="session")
def small_result(small_config):
    """One simulated run of the small market (shared: compiling costs seconds)."""
    import qtgjax

    return qtgjax.simulate(small_config)
