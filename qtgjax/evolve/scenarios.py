"""The market the candidates trade in, and the scenarios they are judged on.

The market is a config of ``conf/`` (e.g. ``realistic``) plus the *target* family: a copy of
one of the market's families (its parameters there are the defaults the search starts
from and is compared with) or, for a family the market does not have, ``conf/agents/KIND``,
with the candidates' own number of agents and account overrides.

A scenario set is ``n`` draws of a regime distribution (``scenarios.regimes``: config keys
with ``uniform`` / ``loguniform`` / ``randint`` / ``choice`` distributions, the syntax of a
sweep file's ``random`` section) with its own seed: scenario i uses the i-th draw and key
``fold_in(key(seed), i)``. Training and held-out sets use different seeds (other paths and
other draws) and may use another distribution (other regimes). Regimes may vary any value
of ``SimParams`` (news rate, volatility, liquidity...), never a shape. Latency profiles are
one more regime key once the market has venues with latency (a value of ``SimParams``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from omegaconf import DictConfig, OmegaConf

from qtgjax.api import compose_config, to_plain
from qtgjax.config.build import Built, ConfigError, build
from qtgjax.sweep.plan import build_point, check_keys, stack
from qtgjax.sweep.spec import SweepError, expand_points, parse_sweep


@dataclass(frozen=True)
class ScenarioSet:
    """Scenarios with their regimes (params) and keys.

    Attributes:
        name: ``train`` or ``holdout``.
        params: SimParams with a leading scenario axis S (NumPy leaves).
        seeds: int32[S] seed of each scenario's key.
        index: int32[S] scenario index i (key fold_in(key(seed), i)).
        regimes: one row per scenario: ``set``, ``scenario``, ``seed``, then the drawn
            regime values (one column each).
    """

    name: str
    params: object
    seeds: np.ndarray
    index: np.ndarray
    regimes: pl.DataFrame

    @property
    def size(self) -> int:
        return len(self.seeds)


def market_config(
    market: str, overrides: Sequence[str], target: Mapping, where: str = "target"
) -> DictConfig:
    """The market config (unresolved) with the target family added as ``target.name``."""
    try:
        cfg = compose_config(list(overrides), market)
    except Exception as err:  # Hydra's composition and override errors
        raise ConfigError(f"market: {market!r} with overrides {list(overrides)}: {err}") from err
    OmegaConf.set_struct(cfg, False)
    family, name = target.get("family"), target.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"{where}.name: {name!r} is not a family name (letters, digits, _)")
    if name in cfg.families:
        raise ConfigError(f"{where}.name: the market already has a family {name!r}")
    if family in cfg.families:
        node = copy.deepcopy(cfg.families[family])
    else:
        try:
            node = compose_config([f"+agents@families.{name}={family}"], market).families[name]
        except Exception as err:
            raise ConfigError(
                f"{where}.family: {family!r} is neither a family of the {market} market "
                f"({sorted(cfg.families)}) nor a file in conf/agents"
            ) from err
    cfg.families[name] = node
    for key in ("n_agents", "latency"):  # latency: a profile name or mapping (conf/latency)
        if target.get(key) is not None:
            cfg.families[name][key] = target[key]
    account = target.get("account") or {}
    if not isinstance(account, Mapping):
        raise ConfigError(f"{where}.account: expected a mapping, e.g. {{position: 0}}")
    for key, value in account.items():
        if key in ("kind", "params", "n_agents") or key not in cfg.families[name]:
            raise ConfigError(f"{where}.account.{key}: not an account key of the family")
        cfg.families[name][key] = value
    return cfg


def regime_spec(regimes: Mapping | None, n: int, seed: int, where: str):
    """A validated sweep-style spec of ``n`` draws of ``regimes`` (None: no regimes)."""
    raw = {"seeds": 1}
    if regimes:
        raw["random"] = {"n": n, "seed": seed, "params": dict(regimes)}
    try:
        return parse_sweep(raw, where, "regimes")
    except SweepError as err:
        raise _config_error(err, where) from err


def _config_error(err: SweepError, where: str) -> ConfigError:
    """A sweep-style message (``WHERE: random.params.KEY: ...``) as ``WHERE.KEY: ...``."""
    return ConfigError(str(err).replace(f"{where}: random.params", where))


def scenario_set(
    name: str, base: DictConfig, regimes: Mapping | None, n: int, seed: int, where: str
) -> tuple[ScenarioSet, list[Built]]:
    """``n`` scenarios of ``base`` with regimes drawn from ``regimes`` (seed ``seed``)."""
    spec = regime_spec(regimes, n, seed, where)
    try:
        check_keys(spec, base)
    except SweepError as err:
        raise _config_error(err, where) from err
    points = expand_points(spec) if regimes else []
    built = []
    for i in range(n):
        if points:
            try:
                b, _ = build_point(spec, base, points[i])
            except SweepError as err:
                raise _config_error(err, where) from err
        else:
            b = build(to_plain(base))
        built.append(b)
    statics = {b.static for b in built}
    if len(statics) > 1:
        raise ConfigError(
            f"{where}: regimes may vary values only, not shapes (agents, symbols, levels)"
        )
    columns = {
        "set": [name] * n,
        "scenario": np.arange(n, dtype=np.int64),
        "seed": np.full(n, seed, np.int64),
    }
    for col in spec.columns:
        columns[col] = [p.values[col] for p in points]
    return (
        ScenarioSet(
            name=name,
            params=stack([b.params for b in built]),
            seeds=np.full(n, seed, np.int32),
            index=np.arange(n, dtype=np.int32),
            regimes=pl.DataFrame(columns),
        ),
        built,
    )
