"""Registry of strategy families: config ``kind`` -> :class:`Family` instance.

Every module in :mod:`qtgjax.agents.families` is imported on first use and registers its
family with :func:`register`; adding a family is one new module there plus one file in
``conf/agents/``.
"""

from __future__ import annotations

import importlib
import pkgutil

from qtgjax.agents.types import Family

_REGISTRY: dict[str, Family] = {}


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: register one instance of ``cls`` under ``cls.kind``."""
    if cls.kind in _REGISTRY:
        raise ValueError(f"family kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls()
    return cls


def _discover() -> None:
    from qtgjax.agents import families

    for info in pkgutil.iter_modules(families.__path__):
        importlib.import_module(f"{families.__name__}.{info.name}")


def get_family(kind: str) -> Family:
    """The family registered under ``kind``; a clear error lists the known kinds."""
    if not _REGISTRY:
        _discover()
    if kind not in _REGISTRY:
        raise KeyError(f"unknown family kind {kind!r}; known kinds: {sorted(_REGISTRY)}")
    return _REGISTRY[kind]


def known_kinds() -> list[str]:
    if not _REGISTRY:
        _discover()
    return sorted(_REGISTRY)
