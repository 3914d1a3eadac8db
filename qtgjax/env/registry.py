"""Task registry and ``make``: name -> (env, default params)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from qtgjax.env.environment import MarketEnv
from qtgjax.env.market import build_market
from qtgjax.env.tasks.base import Task
from qtgjax.env.types import EnvParams

_TASKS: dict[str, type[Task]] = {}
_PLUGINS_LOADED = False


def register_task(cls: type[Task]) -> type[Task]:
    """Register a task class under ``cls.name`` (its metadata checked)."""
    if cls.name in _TASKS and _TASKS[cls.name] is not cls:
        other = _TASKS[cls.name]
        raise ValueError(
            f"task {cls.name!r} registered twice: {other.__module__}.{other.__qualname__} and "
            f"{cls.__module__}.{cls.__qualname__}"
        )
    cls.check_metadata()
    _TASKS[cls.name] = cls
    return cls


def _load_plugins() -> None:
    """Register the tasks of the ``qtgjax.tasks`` entry points once."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    from qtgjax.plugins import PluginError, describe, plugin_tasks

    for ep, cls in plugin_tasks():
        try:
            register_task(cls)
        except ValueError as err:
            raise PluginError(f"{describe(ep)}: {err}") from None
    _PLUGINS_LOADED = True


def tasks() -> list[str]:
    """Names of the registered tasks (plugins' included)."""
    _load_plugins()
    return sorted(_TASKS)


def task_class(name: str) -> type[Task]:
    """The task class registered under ``name``."""
    _load_plugins()
    if name not in _TASKS:
        raise KeyError(f"unknown env {name!r}; known: {tasks()}")
    return _TASKS[name]


def make(
    name: str,
    n_learners: int = 1,
    market: Sequence[str] = (),
    warmup: int = 50,
    market_config: str = "config",
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
        market_config: the market config ``market`` applies to (``conf/NAME.yaml``);
            ``"venues"``: the three-venue market with latency (``conf/venues.yaml``), on
            which the execution task's action also chooses the venue.
        **overrides: the task's static sizes (e.g. ``n_prices=8``) and numbers
            (e.g. ``target=300, horizon=40``); see the task's class.

    Returns:
        (env, params): params is an :class:`EnvParams` pytree (vmappable).
    """
    cls = task_class(name)
    unknown = sorted(set(overrides) - set(cls.static_names()) - set(cls.param_names()))
    if unknown:
        allowed = sorted({*cls.static_names(), *cls.param_names()})
        raise KeyError(f"{name}: unknown option {unknown[0]!r}; allowed: {allowed}")
    if n_learners < 1 or warmup < 0:
        raise ValueError(f"n_learners must be >= 1 and warmup >= 0, got {n_learners}, {warmup}")
    if isinstance(market, str):
        raise TypeError(f"market: expected a list of key=value overrides, got {market!r}")
    built = build_market(n_learners, market, market_config)
    static = built.static
    sizes = {k: int(v) for k, v in overrides.items() if k in cls.static_names()}
    task = cls(
        n_learners=n_learners, n_symbols=static.n_symbols, n_venues=static.n_venues, **sizes
    )
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
