"""Frozen dataclasses registered as JAX pytrees (the flax.struct pattern, without flax)."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import jax

T = TypeVar("T")


def pytree(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass pytree with a ``replace(**changes)`` method.

    Fields declared with ``static_field()`` are pytree metadata (hashable, part of the
    jit cache key); all other fields are leaves.
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    cls.replace = lambda self, **changes: dataclasses.replace(self, **changes)
    return jax.tree_util.register_dataclass(cls)


def static_field(**kwargs):
    return dataclasses.field(metadata={"static": True}, **kwargs)
