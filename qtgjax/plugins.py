"""Plugins: families, RL tasks and benchmark workloads from other installed packages.

A package registers them by entry points in its ``pyproject.toml``::

    [project.entry-points."qtgjax.families"]
    ema_fast = "my_pkg.strategies:EmaFast"        # a Family class; the name is its kind
    [project.entry-points."qtgjax.tasks"]
    hedging = "my_pkg.tasks:HedgingTask"          # a Task class; the name is its name
    [project.entry-points."qtgjax.workloads"]
    my_market = "my_pkg.bench:WORKLOAD"           # a workload dict (conf/bench/workload format)

The registries read them on first use (:func:`qtgjax.agents.registry.get_family`,
:func:`qtgjax.env.tasks`, :func:`qtgjax.bench.workloads.load_workload`). A plugin that
fails to import, names a kind that is already taken, or is not what its group expects is
refused with a :class:`PluginError` naming the package and the entry point, before
anything compiles. A family's ``default_config`` is offered to Hydra as the option
``agents=KIND`` (:func:`store_family_configs`), so ``+agents@families.NAME=KIND`` composes
it with no file in ``conf/agents/``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from qtgjax.config.build import ConfigError

FAMILIES, TASKS, WORKLOADS = "qtgjax.families", "qtgjax.tasks", "qtgjax.workloads"


class PluginError(ConfigError):
    """An installed plugin is unusable; the message names its package and entry point."""


def describe(ep: EntryPoint) -> str:
    """``plugin PACKAGE (GROUP: NAME = VALUE)``."""
    package = ep.dist.name if getattr(ep, "dist", None) is not None else "?"
    return f"plugin {package} ({ep.group}: {ep.name} = {ep.value})"


def load_entry_points(group: str) -> list[tuple[EntryPoint, object]]:
    """Every entry point of ``group``, loaded, sorted by name; an import failure is a
    :class:`PluginError` naming the plugin and the exception."""
    loaded = []
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        try:
            obj = ep.load()
        except Exception as err:  # anything the plugin's import raises
            raise PluginError(
                f"{describe(ep)}: failed to import: {type(err).__name__}: {err}"
            ) from err
        loaded.append((ep, obj))
    return loaded


def plugin_families() -> list[tuple[EntryPoint, type]]:
    """The ``qtgjax.families`` entry points as (entry point, Family class), checked."""
    from qtgjax.agents.types import Family, check_family_class

    out = []
    for ep, obj in load_entry_points(FAMILIES):
        if not (isinstance(obj, type) and issubclass(obj, Family)):
            raise PluginError(f"{describe(ep)}: expected a Family class, got {obj!r}")
        try:
            check_family_class(obj)
        except TypeError as err:
            raise PluginError(f"{describe(ep)}: {err}") from None
        if obj.kind != ep.name:
            raise PluginError(
                f"{describe(ep)}: the entry point's name must be the family's kind "
                f"{obj.kind!r}"
            )
        out.append((ep, obj))
    return out


def plugin_tasks() -> list[tuple[EntryPoint, type]]:
    """The ``qtgjax.tasks`` entry points as (entry point, Task class), checked."""
    from qtgjax.env.tasks.base import Task

    out = []
    for ep, obj in load_entry_points(TASKS):
        if not (isinstance(obj, type) and issubclass(obj, Task)):
            raise PluginError(f"{describe(ep)}: expected a qtgjax.env Task class, got {obj!r}")
        if getattr(obj, "name", None) != ep.name:
            raise PluginError(f"{describe(ep)}: the entry point's name must be the task's name")
        try:
            obj.check_metadata()
        except TypeError as err:
            raise PluginError(f"{describe(ep)}: {err}") from None
        out.append((ep, obj))
    return out


def plugin_workloads() -> dict[str, dict]:
    """The ``qtgjax.workloads`` entry points: name -> workload dict."""
    out = {}
    for ep, obj in load_entry_points(WORKLOADS):
        value = obj() if callable(obj) else obj
        if not isinstance(value, dict) or "families" not in value:
            raise PluginError(
                f"{describe(ep)}: expected a workload dict with families (the format of "
                "conf/bench/workload/*.yaml)"
            )
        out[ep.name] = {**value, "name": ep.name}
    return out


def family_defaults(kind: str) -> dict | None:
    """The base config of family ``kind`` (unresolved): ``conf/agents/KIND.yaml``, else the
    family's ``default_config``; None when it has neither."""
    from omegaconf import OmegaConf

    from qtgjax.agents.registry import get_family, known_kinds
    from qtgjax.paths import CONF_DIR

    path = CONF_DIR / "agents" / f"{kind}.yaml"
    if path.exists():
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if kind in known_kinds(include_external=True) and get_family(kind).default_config:
        return dict(get_family(kind).default_config)
    return None


_STORED: set[str] = set()


def store_family_configs() -> None:
    """Offer every registered family's ``default_config`` as the Hydra option
    ``agents=KIND`` (Hydra's ConfigStore) where ``conf/agents/KIND.yaml`` does not exist."""
    from hydra.core.config_store import ConfigStore

    from qtgjax.agents.registry import get_family, known_kinds
    from qtgjax.paths import CONF_DIR

    for kind in known_kinds(include_external=True):
        default = get_family(kind).default_config
        if default is None or kind in _STORED or (CONF_DIR / "agents" / f"{kind}.yaml").exists():
            continue
        ConfigStore.instance().store(group="agents", name=kind, node=dict(default))
        _STORED.add(kind)
