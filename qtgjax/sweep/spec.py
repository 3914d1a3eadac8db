"""Sweep files (``sweeps/NAME.yaml``): parse and validate a study before anything runs.

A sweep file declares which config values vary and how::

    kind: simulation                               # or backtest (qtgjax.backtest.sweep)
    description: market-maker spread x news intensity
    overrides: [ticks=500, market.symbols=1]     # Hydra overrides for every scenario
    grid:                                          # cartesian product of axes
      families.market_maker.params.half_spread: [1.0, 2.0, 4.0]
      news: {key: fundamentals.news_rate, values: [0.0, 0.01]}
      noise_share:                                 # one column, several keys per value
        values: [0.5, 0.9]
        set:
          families.noise.n_agents: [200, 360]
          families.momentum.n_agents: [200, 40]
    random:                                        # n draws, crossed with the grid
      n: 8
      seed: 0
      params:
        families.noise.params.p_active: {uniform: [0.02, 0.2]}
    seeds: 16                                      # replicates per point (or a list)
    chunk_size: 64                                 # most scenarios per jit(vmap) call
    chunk_memory: 2GiB                             # memory budget of one call

Every error is a :class:`SweepError` whose message names the file and the offending key.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qtgjax.config import units
from qtgjax.io.strict_yaml import DuplicateKeyError, read_yaml

TOP_KEYS = (
    "kind",
    "description",
    "overrides",
    "grid",
    "random",
    "seeds",
    "chunk_size",
    "chunk_memory",
)
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
# What a study runs (qtgjax.sweep.kinds): simulated markets, or a strategy grid on
# historical bars whose overrides and grid are those of qtgjax-backtest.
KINDS = ("simulation", "backtest")
# Config keys a sweep may not vary: the sweep itself decides them.
FORBIDDEN_KEYS = {
    "scenarios": "the number of scenarios per point is `seeds`",
    "out": "the study folder is the out= of qtgjax-sweep",
    "hydra": "Hydra's own settings are not swept",
    "chunk_size": "give the sweep file's own chunk_size",
    "chunk_memory": "give the sweep file's own chunk_memory",
    "overwrite": "a study folder is resumed, never overwritten",
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SweepError(ValueError):
    """A sweep file is malformed; the message names the file and the offending key."""


@dataclass(frozen=True)
class Axis:
    """One swept value: a column of the results and the config keys it sets.

    Attributes:
        name: column name in the result tables.
        where: its key in the sweep file (for error messages), e.g. ``grid.news``.
        values: the column's values, one per level (grid) or per draw (random).
        sets: per value, the config keys it sets and their values.
    """

    name: str
    where: str
    values: tuple
    sets: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class RandomParam:
    """A randomly drawn value: ``dist`` is one of DISTRIBUTIONS with its ``args``."""

    name: str
    where: str
    key: str
    dist: str
    args: tuple


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file.

    Attributes:
        name: study name (the file's stem).
        source: path of the sweep file.
        description: free text.
        overrides: Hydra overrides of ``conf/config.yaml`` applied to every scenario.
        grid: axes of the cartesian product, in file order.
        random: parameters drawn at random (empty when the file has no ``random``).
        n_random: number of random draws (0 without ``random``).
        random_seed: seed of the draws.
        replicates: replicate indices r of every point; scenario key fold_in(key(seed), r).
        chunk_size: most scenarios per compiled call, or None (the runner's default).
        chunk_memory: memory budget of one call in bytes, or None (the runner's default).
        kind: what the study runs, one of :data:`KINDS` (``backtest``: ``overrides`` are
            ``qtgjax-backtest`` settings and the axes set its ``grid``).
    """

    name: str
    source: str
    description: str
    overrides: tuple[str, ...]
    grid: tuple[Axis, ...]
    random: tuple[RandomParam, ...]
    n_random: int
    random_seed: int
    replicates: tuple[int, ...]
    chunk_size: int | None
    chunk_memory: int | None
    kind: str = "simulation"

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the swept columns, grid axes first."""
        return tuple(a.name for a in self.grid) + tuple(p.name for p in self.random)

    def where(self, name: str) -> str:
        """The sweep-file key of a swept column (for error messages)."""
        return next(a.where for a in (*self.grid, *self.random) if a.name == name)


@dataclass(frozen=True)
class Point:
    """One combination of swept values.

    Attributes:
        index: position in the study (0, 1, ...).
        values: swept column name -> value.
        settings: config key -> value that this point sets.
        origin: config key -> sweep-file key that set it (for error messages).
    """

    index: int
    values: Mapping[str, Any]
    settings: Mapping[str, Any]
    origin: Mapping[str, str]


def column_name(key: str) -> str:
    """Default column of a config key: its last part, prefixed by the family for family keys
    (``fundamentals.news_rate`` -> ``news_rate``, ``families.noise.params.p_active`` ->
    ``noise_p_active``)."""
    parts = key.split(".")
    if parts[0] == "families" and len(parts) > 2:
        return f"{parts[1]}_{parts[-1]}"
    return parts[-1]


def parse_memory(value, where: str) -> int:
    """Bytes from ``2GiB``, ``500MB`` or a number of bytes (SweepError naming ``where``)."""
    try:
        return units.parse_memory(value, where)
    except ValueError as err:
        raise SweepError(str(err)) from None


def _fail(source: str, where: str, problem: str):
    raise SweepError(f"{source}: {where}: {problem}")


def _check_key(source: str, where: str, key) -> str:
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key):
        _fail(source, where, f"{key!r} is not a dotted config key such as fundamentals.news_rate")
    top = key.split(".")[0]
    if top in FORBIDDEN_KEYS:
        _fail(source, where, f"{key} cannot be swept: {FORBIDDEN_KEYS[top]}")
    return key


def _scalar(source: str, where: str, value):
    if isinstance(value, bool | int | float | str) and not (
        isinstance(value, float) and math.isnan(value)
    ):
        return value
    _fail(source, where, f"{value!r} is not a number, string or boolean")


def _column_values(source: str, where: str, values) -> tuple:
    """Values of one column with one type: ints and floats together become floats."""
    if not isinstance(values, list) or not values:
        _fail(source, where, "expected a non-empty list of values")
    values = [_scalar(source, f"{where}[{i}]", v) for i, v in enumerate(values)]
    kinds = {
        bool if isinstance(v, bool) else float if isinstance(v, int | float) else str
        for v in values
    }
    if len(kinds) > 1:
        _fail(source, where, f"values mix types {sorted(k.__name__ for k in kinds)}: {values}")
    if kinds == {float} and any(isinstance(v, float) for v in values):
        values = [float(v) for v in values]
    if len(set(values)) != len(values):
        _fail(source, where, f"values repeat: {values}")
    return tuple(values)


def _axis(source: str, label, body) -> Axis:
    where = f"grid.{label}"
    if isinstance(body, list):
        key = _check_key(source, where, label)
        values = _column_values(source, where, body)
        return Axis(column_name(key), where, values, tuple({key: v} for v in values))
    if not isinstance(body, Mapping):
        _fail(source, where, "expected a list of values or a mapping with key/values or set")
    unknown = sorted(set(body) - {"key", "values", "set"})
    if unknown:
        _fail(source, f"{where}.{unknown[0]}", "unknown key; allowed: key, values, set")
    if not isinstance(label, str) or not NAME_RE.match(label):
        _fail(source, where, f"{label!r} is not a column name (letters, digits, _)")
    values = _column_values(source, f"{where}.values", body.get("values"))
    if ("key" in body) == ("set" in body):
        _fail(source, where, "give exactly one of `key` (one config key) or `set` (several)")
    if "key" in body:
        key = _check_key(source, f"{where}.key", body["key"])
        return Axis(label, where, values, tuple({key: v} for v in values))
    sets_cfg = body["set"]
    if not isinstance(sets_cfg, Mapping) or not sets_cfg:
        _fail(source, f"{where}.set", "expected a mapping of config key -> list of values")
    columns = {}
    for key, vals in sets_cfg.items():
        w = f"{where}.set.{key}"
        _check_key(source, w, key)
        if not isinstance(vals, list) or len(vals) != len(values):
            _fail(source, w, f"expected a list of {len(values)} values, one per value of {where}")
        columns[key] = [_scalar(source, f"{w}[{i}]", v) for i, v in enumerate(vals)]
    return Axis(
        label,
        where,
        values,
        tuple({k: c[i] for k, c in columns.items()} for i in range(len(values))),
    )


def _random_param(source: str, label, body) -> RandomParam:
    where = f"random.params.{label}"
    if not isinstance(body, Mapping):
        _fail(source, where, f"expected a mapping with one of {DISTRIBUTIONS}")
    dists = [d for d in DISTRIBUTIONS if d in body]
    unknown = sorted(set(body) - set(DISTRIBUTIONS) - {"key"})
    if unknown:
        _fail(
            source,
            f"{where}.{unknown[0]}",
            f"unknown key; allowed: key, {', '.join(DISTRIBUTIONS)}",
        )
    if len(dists) != 1:
        _fail(source, where, f"give exactly one distribution of {DISTRIBUTIONS}")
    dist = dists[0]
    if "key" in body:
        if not isinstance(label, str) or not NAME_RE.match(label):
            _fail(source, where, f"{label!r} is not a column name (letters, digits, _)")
        key, name = _check_key(source, f"{where}.key", body["key"]), label
    else:
        key = _check_key(source, where, label)
        name = column_name(key)
    args = body[dist]
    w = f"{where}.{dist}"
    if dist == "choice":
        return RandomParam(name, where, key, dist, _column_values(source, w, args))
    if not isinstance(args, list) or len(args) != 2:
        _fail(source, w, "expected [low, high]")
    low, high = (_scalar(source, w, a) for a in args)
    if any(isinstance(a, bool | str) for a in (low, high)) or not low < high:
        _fail(source, w, f"expected numbers low < high, got {args}")
    if dist == "loguniform" and low <= 0:
        _fail(source, w, f"loguniform needs 0 < low, got {low}")
    if dist == "randint" and not all(isinstance(a, int) for a in (low, high)):
        _fail(source, w, f"randint needs integers, got {args}")
    return RandomParam(name, where, key, dist, (low, high))


def _replicates(source: str, seeds) -> tuple[int, ...]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= 10**6:
            _fail(source, "seeds", f"{seeds} is out of range 1..1000000")
        return tuple(range(seeds))
    if isinstance(seeds, list) and seeds:
        if not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds
        ):
            _fail(source, "seeds", f"expected replicate indices 0..2**31-1, got {seeds}")
        if len(set(seeds)) != len(seeds):
            _fail(source, "seeds", f"replicate indices repeat: {seeds}")
        return tuple(seeds)
    _fail(
        source, "seeds", f"expected a count (e.g. 16) or a list of replicate indices, got {seeds!r}"
    )


def _positive_int(source: str, where: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(source, where, f"expected a positive integer, got {value!r}")
    return value


def parse_sweep(raw, source: str, name: str) -> SweepSpec:
    """Validate the parsed YAML of a sweep file (``source`` names it in errors)."""
    if not isinstance(raw, Mapping):
        raise SweepError(f"{source}: expected a mapping at the top level")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        _fail(source, unknown[0], f"unknown key; allowed keys: {', '.join(TOP_KEYS)}")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        _fail(source, "overrides", "expected a list of Hydra overrides such as 'ticks=500'")
    for i, override in enumerate(overrides):
        key = override.split("=", 1)[0].lstrip("+~").split("@")[-1]
        top = key.split(".")[0]
        if top in FORBIDDEN_KEYS:
            _fail(source, f"overrides[{i}]", f"{key} cannot be set here: {FORBIDDEN_KEYS[top]}")
    grid_cfg = raw.get("grid") or {}
    if not isinstance(grid_cfg, Mapping):
        _fail(source, "grid", "expected a mapping of config key -> list of values")
    grid = tuple(_axis(source, label, body) for label, body in grid_cfg.items())
    random_cfg = raw.get("random")
    params, n_random, random_seed = (), 0, 0
    if random_cfg is not None:
        if not isinstance(random_cfg, Mapping):
            _fail(source, "random", "expected a mapping with n, seed and params")
        bad = sorted(set(random_cfg) - {"n", "seed", "params"})
        if bad:
            _fail(source, f"random.{bad[0]}", "unknown key; allowed: n, seed, params")
        n_random = _positive_int(source, "random.n", random_cfg.get("n"))
        if n_random is None:
            _fail(source, "random.n", "missing: the number of random draws")
        random_seed = random_cfg.get("seed", 0)
        if isinstance(random_seed, bool) or not isinstance(random_seed, int) or random_seed < 0:
            _fail(source, "random.seed", f"expected an integer >= 0, got {random_seed!r}")
        p_cfg = random_cfg.get("params")
        if not isinstance(p_cfg, Mapping) or not p_cfg:
            _fail(source, "random.params", "expected a mapping of config key -> distribution")
        params = tuple(_random_param(source, label, body) for label, body in p_cfg.items())
    seeds = raw.get("seeds", 1)
    kind = raw.get("kind", "simulation")
    if kind not in KINDS:
        _fail(source, "kind", f"{kind!r} is not one of {list(KINDS)}")
    spec = SweepSpec(
        name=name,
        source=source,
        description=str(raw.get("description") or ""),
        overrides=tuple(overrides),
        grid=grid,
        random=params,
        n_random=n_random,
        random_seed=random_seed,
        replicates=_replicates(source, seeds),
        chunk_size=_positive_int(source, "chunk_size", raw.get("chunk_size")),
        chunk_memory=None
        if raw.get("chunk_memory") is None
        else parse_memory(raw["chunk_memory"], f"{source}: chunk_memory"),
        kind=kind,
    )
    _check_unique(spec)
    return spec


def _check_unique(spec: SweepSpec) -> None:
    seen: dict[str, str] = {}
    for name, where in [(a.name, a.where) for a in spec.grid] + [
        (p.name, p.where) for p in spec.random
    ]:
        if name in seen:
            _fail(
                spec.source, where, f"column {name!r} is also set by {seen[name]}; name one of them"
            )
        seen[name] = where
    owner: dict[str, str] = {}
    keyed = [(k, a.where) for a in spec.grid for k in a.sets[0]]
    keyed += [(p.key, p.where) for p in spec.random]
    for key, where in keyed:
        if key in owner:
            _fail(spec.source, where, f"config key {key} is also swept by {owner[key]}")
        owner[key] = where


def find_sweep(name: str, search: Sequence[Path]) -> Path:
    """The file of a study: ``name`` as a path, else ``DIR/sweeps/NAME.yaml`` for DIR in search."""
    direct = Path(name)
    if direct.suffix in (".yaml", ".yml") and direct.is_file():
        return direct
    for root in search:
        for suffix in (".yaml", ".yml"):
            candidate = Path(root) / "sweeps" / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    places = ", ".join(str(Path(r) / "sweeps") for r in search)
    raise SweepError(f"sweep={name}: no such sweep file (looked for {name} and in {places})")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except DuplicateKeyError as err:
        raise SweepError(f"{err}; each key may be given once") from None
    except yaml.YAMLError as err:
        raise SweepError(f"{path}: not valid YAML: {err}") from err
    except OSError as err:
        raise SweepError(f"{path}: cannot read: {err.strerror}") from None
    return parse_sweep(raw, str(path), path.stem)


def draw_random(spec: SweepSpec) -> list[dict[str, Any]]:
    """The ``random`` draws, ``n_random`` dicts of column -> value (empty without random)."""
    rng = np.random.default_rng(spec.random_seed)
    draws = []
    for _ in range(spec.n_random):
        draw = {}
        for p in spec.random:
            low, high = (p.args + (None, None))[:2]
            if p.dist == "uniform":
                draw[p.name] = float(rng.uniform(low, high))
            elif p.dist == "loguniform":
                draw[p.name] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
            elif p.dist == "randint":
                draw[p.name] = int(rng.integers(low, high, endpoint=True))
            else:
                draw[p.name] = p.args[int(rng.integers(len(p.args)))]
        draws.append(draw)
    return draws


def expand_points(spec: SweepSpec) -> list[Point]:
    """Every point of the study: grid axes crossed (file order), then crossed with the draws."""
    draws = draw_random(spec) or [{}]
    keys = {p.name: p.key for p in spec.random}
    points = []
    levels = [range(len(a.values)) for a in spec.grid]
    for combo in itertools.product(*levels):
        for draw in draws:
            values, settings, origin = {}, {}, {}
            for axis, level in zip(spec.grid, combo, strict=True):
                values[axis.name] = axis.values[level]
                settings.update(axis.sets[level])
                origin.update({k: axis.where for k in axis.sets[level]})
            for name, value in draw.items():
                values[name] = value
                settings[keys[name]] = value
                origin[keys[name]] = spec.where(name)
            points.append(Point(len(points), values, settings, origin))
    return points
