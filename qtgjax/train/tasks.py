"""What the trainer needs to know about each task of :mod:`qtgjax.env`: metrics and baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """A task's reporting contract.

    Attributes:
        name: the name ``qtgjax.env.make`` knows.
        metrics: ``info`` keys recorded per finished episode (float, valid where ``done``).
        headline: the metric the paired comparison is about.
        higher_is_better: direction of ``headline`` (False: lower is better, e.g. shortfall).
        baselines: policy names in :mod:`qtgjax.env.baselines` evaluated next to PPO.
    """

    name: str
    metrics: tuple[str, ...]
    headline: str
    higher_is_better: bool
    baselines: tuple[str, ...]


TASKS = {
    "execution": TaskSpec(
        "execution", ("shortfall_ticks", "filled_fraction"), "shortfall_ticks", False, ("twap",)
    ),
    "market_making": TaskSpec(
        "market_making", ("pnl", "inventory"), "pnl", True, ("avellaneda_stoikov",)
    ),
    "trading": TaskSpec("trading", ("pnl",), "pnl", True, ("buy_and_hold", "flat")),
}


def make_task_env(name: str, overrides: dict):
    """``qtgjax.env.make(name, **overrides)`` -> ``(env, env_params)`` (imported lazily)."""
    from qtgjax.env import make

    return make(name, **overrides)


def baseline_policy(env, name: str) -> Callable:
    """The jittable baseline ``policy(key, obs, state, params) -> action`` named ``name``."""
    from qtgjax.env import baselines

    return baselines.get(env, name)
