"""Genomes: an unbounded search vector ``x in R^D`` <-> a family's parameters in their bounds.

A :class:`ParamGenome` evolves some fields of one family's ``Params``; every gene maps
``x_i`` to its bounds with a logistic function, ``low + (high - low) * sigmoid(x_i)`` (in log
space for ``log`` genes: ``low * (high / low) ** sigmoid(x_i)``), rounded for integer fields.
The bounds default to the family's declared range (``Family.config_schema``) and may be
narrowed, never widened. ``x = 0`` is the middle of every range; :meth:`ParamGenome.encode`
maps parameter values back (the family's defaults are a natural starting mean).

Policy weights (a linear policy or an MLP on the canonical features) are genomes of the
``policy`` family's ``weights`` field: see :mod:`qtgjax.agents.families.policy`. Hook for
compiled ML models: a model family whose ``Params`` carry its split thresholds as a float
array field is evolved the same way, by a genome over that field (not built yet: the
``model`` family comes from the ML work).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.config.build import ConfigError


@dataclass(frozen=True)
class Gene:
    """One evolved scalar parameter.

    Attributes:
        name: the ``Params`` field.
        low, high: bounds of the decoded value (inside the family's declared range).
        integer: the field is an int32 (decoded values are rounded).
        log: map in log space (needs 0 < low).
    """

    name: str
    low: float
    high: float
    integer: bool
    log: bool
    size = 1

    def decode(self, x):
        u = jax.nn.sigmoid(x)
        if self.log:
            value = self.low * (self.high / self.low) ** u
        else:
            value = self.low + (self.high - self.low) * u
        if self.integer:
            return jnp.clip(jnp.round(value), self.low, self.high).astype(jnp.int32)
        return value.astype(jnp.float32)

    def encode(self, value: float) -> float:
        """The x whose decoded value is ``value`` (clipped just inside the bounds)."""
        if self.log:
            u = math.log(value / self.low) / math.log(self.high / self.low)
        else:
            u = (value - self.low) / (self.high - self.low)
        u = min(max(u, 1e-4), 1 - 1e-4)
        return math.log(u / (1 - u))

    def uniform(self, key) -> jax.Array:
        """x of a value drawn uniformly in the bounds (log-uniformly for log genes)."""
        u = jax.random.uniform(key, minval=1e-4, maxval=1 - 1e-4)
        return jnp.log(u / (1 - u))


@dataclass(frozen=True)
class VectorGene:
    """An evolved array field (e.g. a policy's ``weights``): its ``size`` entries are the
    search coordinates times ``scale`` (unbounded: weights need no bounds).

    Attributes:
        name: the ``Params`` field (a float32[size] array).
        size: entries.
        scale: weight per unit of the search space.
    """

    name: str
    size: int
    scale: float

    def decode(self, x):
        return (self.scale * x).astype(jnp.float32)

    def encode(self, value) -> np.ndarray:
        return np.asarray(value, np.float32).reshape(self.size) / self.scale

    def uniform(self, key) -> jax.Array:
        """A standard normal draw (the prior of random search over weights)."""
        return jax.random.normal(key, (self.size,))


@dataclass(frozen=True)
class ParamGenome:
    """Some fields of one family's ``Params`` as a search vector (hashable: a jit constant).

    Attributes:
        kind: the family's registry kind.
        genes: the evolved fields, in vector order.
    """

    kind: str
    genes: tuple[Gene, ...]

    @property
    def dim(self) -> int:
        return sum(g.size for g in self.genes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.genes)

    def _split(self, x):
        """Per gene its coordinates of ``x`` [..., D] (a scalar for scalar genes)."""
        out, start = [], 0
        for g in self.genes:
            out.append(x[..., start] if isinstance(g, Gene) else x[..., start : start + g.size])
            start += g.size
        return out

    def decode(self, x, base):
        """``base`` (the family's ``Params``) with the evolved fields set from ``x`` [D]."""
        values = {g.name: g.decode(v) for g, v in zip(self.genes, self._split(x), strict=True)}
        return base.replace(**{k: v.astype(getattr(base, k).dtype) for k, v in values.items()})

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        parts = [
            np.atleast_1d(np.asarray(g.encode(values[g.name]), np.float32)) for g in self.genes
        ]
        return np.concatenate(parts).astype(np.float32)

    def uniform(self, key) -> jax.Array:
        keys = jax.random.split(key, len(self.genes))
        return jnp.concatenate(
            [jnp.atleast_1d(g.uniform(k)) for g, k in zip(self.genes, keys, strict=True)]
        )

    def values(self, x) -> list[dict[str, Any]]:
        """Decoded values of population ``x`` [P, D] as Python numbers (lists for array
        fields), one dict per row, decoded by the same compiled arithmetic as the
        evaluation's."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        cols = [np.asarray(c) for c in _decode_columns(self, jnp.asarray(x))]
        out = []
        for r in range(x.shape[0]):
            row = {}
            for g, c in zip(self.genes, cols, strict=True):
                if isinstance(g, VectorGene):
                    row[g.name] = [float(v) for v in c[r]]
                else:
                    row[g.name] = (int if g.integer else float)(c[r])
            out.append(row)
        return out


@functools.partial(jax.jit, static_argnames=("genome",))
def _decode_columns(genome: ParamGenome, x):
    return tuple(jax.vmap(g.decode)(v) for g, v in zip(genome.genes, genome._split(x), strict=True))


def make_genome(family, params_cfg: Mapping, where: str, base=None) -> ParamGenome:
    """A :class:`ParamGenome` from the ``genome.params`` section of the evolve config.

    Args:
        family: the target :class:`~qtgjax.agents.types.Family`.
        params_cfg: field -> ``{low, high, log}`` (any may be omitted: the declared range;
            ``null`` for the declared range as a whole), or a list of field names; for an
            array field (e.g. ``weights``) ``{scale}``.
        where: the config path for error messages.
        base: the family's ``Params`` in the market (array fields take their size from it).

    Raises:
        ConfigError: unknown field, bounds outside the declared range, bad log bounds.
    """
    if isinstance(params_cfg, list | tuple):
        params_cfg = {name: None for name in params_cfg}
    if not isinstance(params_cfg, Mapping) or not params_cfg:
        raise ConfigError(f"{where}: give the fields to evolve, e.g. {{half_spread: {{}}}}")
    schema = family.config_schema
    fields_of = {f.name for f in fields(family.Params)}
    genes = []
    for name, spec in params_cfg.items():
        path = f"{where}.{name}"
        if base is not None and name in fields_of and np.ndim(getattr(base, name)) == 1:
            spec = dict(spec or {})
            if sorted(set(spec) - {"scale"}):
                raise ConfigError(f"{path}: an array field takes only scale")
            scale = spec.get("scale", 1.0)
            if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
                raise ConfigError(f"{path}.scale: expected a number > 0, got {scale!r}")
            genes.append(VectorGene(name, int(np.size(getattr(base, name))), float(scale)))
            continue
        if name not in schema or name not in fields_of:
            raise ConfigError(
                f"{path}: {family.kind} has no scalar parameter {name!r}; "
                f"evolvable: {sorted(set(schema) & fields_of)}"
            )
        spec = dict(spec or {})
        unknown = sorted(set(spec) - {"low", "high", "log"})
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}: unknown key; allowed: low, high, log")
        lo, hi = schema[name]
        integer = all(isinstance(b, int) for b in (lo, hi))
        low = spec.get("low", lo)
        high = spec.get("high", hi)
        for key, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{path}.{key}: expected a number, got {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(
                    f"{path}.{key}: {value!r} is outside {family.kind}'s range {lo}..{hi}"
                )
        if not low < high:
            raise ConfigError(f"{path}: low {low!r} must be below high {high!r}")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise ConfigError(f"{path}.log: log-scaled bounds need low > 0, got {low!r}")
        genes.append(Gene(name, float(low), float(high), integer, log))
    return ParamGenome(family.kind, tuple(genes))
