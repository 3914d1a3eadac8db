"""What the trainer needs to know about each task of :mod:`qtgjax.env`: metrics and baselines,
read from the task class (so ``qtgjax-train`` trains any registered task, plugins' too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """A task's reporting contract (from its class: ``metrics``, ``headline``, ...).

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


def task_names() -> list[str]:
    """The registered tasks (:func:`qtgjax.env.tasks`)."""
    from qtgjax.env import tasks

    return tasks()


def task_spec(name: str) -> TaskSpec:
    """The reporting contract of the registered task ``name``."""
    from qtgjax.env.registry import task_class

    cls = task_class(name)
    return TaskSpec(
        cls.name, tuple(cls.metrics), cls.headline, cls.higher_is_better, tuple(cls.baselines)
    )


def make_task_env(name: str, overrides: dict):
    """``qtgjax.env.make(name, **overrides)`` -> ``(env, env_params)`` (imported lazily)."""
    from qtgjax.env import make

    return make(name, **overrides)


def baseline_policy(env, name: str) -> Callable:
    """The jittable baseline ``policy(key, obs, state, params) -> action`` named ``name``."""
    from qtgjax.env import baselines

    return baselines.get(env, name)
