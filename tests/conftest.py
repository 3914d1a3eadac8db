"""Shared test set-up: CPU JAX with a persistent compilation cache, and small markets."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (CI must not turn red on a new draw);
# QTGJAX_HYPOTHESIS=explore draws fresh examples to hunt for new counterexamples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("QTGJAX_HYPOTHESIS", "ci"))

_CACHE = Path(__file__).resolve().parents[1] / ".jax_cache"
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

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
