"""Task registry and ``make``: name -> (env, default params)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from qtgjax.env.environment import MarketEnv
from qtgjax.env.market import build_market
from qtgjax.env.tasks.base import Task
from qtgjax.env.types import EnvParams

_TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Register a task class under ``cls.name``."""
    if cls.name in _TASKS:
        raise ValueError(f"task {cls.name!r} registered twice")
    _TASKS[cls.name] = cls
    return cls


def tasks() -> list[str]:
    """Names of the registered tasks."""
    return sorted(_TASKS)


def make(
    name: str,
    n_learners: int = 1,
    market: Sequence[str] = (),
    warmup: int = 50,
    **overrides,
) -> tuple[MarketEnv, EnvParams]:
    """Build the env ``name`` on the env market and its default params.

    Args:
        name: a registered task (:func:`tasks`): ``execution``, ``market_making``,
            ``trading``.
        n_learners: L learning agents trading in the same market.
        market: Hydra ``key=value`` overrides of the market (on top of
            :data:`qtgjax.env.market.DEFAULT_MARKET`), e.g. ``["families.noise.n_agents=200"]``.
        warmup: ticks ``reset`` runs before the first episode (indicators need about 40).
        **overrides: the task's static sizes (e.g. ``n_prices=8``) and numbers
            (e.g. ``target=300, horizon=40``); see the task's class.

    Returns:
        (env, params): params is an :class:`EnvParams` pytree (vmappable).
    """
    if name not in _TASKS:
        raise KeyError(f"unknown env {name!r}; known: {tasks()}")
    cls = _TASKS[name]
    unknown = sorted(set(overrides) - set(cls.static_names()) - set(cls.param_names()))
    if unknown:
        allowed = sorted({*cls.static_names(), *cls.param_names()})
        raise KeyError(f"{name}: unknown option {unknown[0]!r}; allowed: {allowed}")
    if n_learners < 1 or warmup < 0:
        raise ValueError(f"n_learners must be >= 1 and warmup >= 0, got {n_learners}, {warmup}")
    built = build_market(n_learners, market)
    sizes = {k: int(v) for k, v in overrides.items() if k in cls.static_names()}
    task = cls(n_learners=n_learners, n_symbols=built.static.n_symbols, **sizes)
    defaults = task.default_params()
    numbers = {
        k: jnp.broadcast_to(jnp.asarray(v), jnp.shape(getattr(defaults, k))).astype(
            getattr(defaults, k).dtype
        )
        for k, v in overrides.items()
        if k in cls.param_names()
    }
    params = EnvParams(sim=built.params, task=defaults.replace(**numbers))
    return MarketEnv(built.static, task, warmup, params), params
