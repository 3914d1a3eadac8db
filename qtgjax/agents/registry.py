"""Registry of strategy families: config ``kind`` -> :class:`Family` instance.

Every module in :mod:`qtgjax.agents.families` is imported on first use and registers its
family with :func:`register`; so are the families other installed packages declare in the
entry-point group ``qtgjax.families`` (:mod:`qtgjax.plugins`). A family of qtgjax is one
module there plus one file in ``conf/agents/`` (or its ``default_config``).
"""

from __future__ import annotations

import importlib
import pkgutil

from qtgjax.agents.types import Family, check_family_class

_REGISTRY: dict[str, Family] = {}
_DISCOVERED = False


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: check ``cls`` (:func:`~qtgjax.agents.types.check_family_class`),
    mark it final and register one instance of it under ``cls.kind``."""
    check_family_class(cls)
    if cls.kind in _REGISTRY:
        other = type(_REGISTRY[cls.kind])
        raise ValueError(
            f"family kind {cls.kind!r} registered twice: {other.__module__}.{other.__qualname__}"
            f" and {cls.__module__}.{cls.__qualname__}"
        )
    cls._final = True
    _REGISTRY[cls.kind] = cls()
    return cls


def _discover() -> None:
    """Import every family module once (a module imported directly first registers
    only itself, so discovery does not depend on the registry being empty), then the
    plugins' families (:func:`qtgjax.plugins.plugin_families`)."""
    global _DISCOVERED
    from qtgjax.agents import families
    from qtgjax.plugins import PluginError, describe, plugin_families

    for info in pkgutil.iter_modules(families.__path__):
        importlib.import_module(f"{families.__name__}.{info.name}")
    for ep, cls in plugin_families():
        if type(_REGISTRY.get(cls.kind)) is cls:  # its module registered it already
            continue
        try:
            register(cls)
        except ValueError as err:
            raise PluginError(f"{describe(ep)}: {err}") from None
    _DISCOVERED = True


def get_family(kind: str) -> Family:
    """The family registered under ``kind``; a clear error lists the known kinds."""
    if not _DISCOVERED:
        _discover()
    if kind not in _REGISTRY:
        raise KeyError(f"unknown family kind {kind!r}; known kinds: {sorted(_REGISTRY)}")
    return _REGISTRY[kind]


def known_kinds(include_external: bool = False) -> list[str]:
    """Registered kinds; externally driven families (``Family.external``, e.g. the RL
    ``learner``) only with ``include_external``: they trade only when an env drives them."""
    if not _DISCOVERED:
        _discover()
    return sorted(k for k, f in _REGISTRY.items() if include_external or not f.external)
