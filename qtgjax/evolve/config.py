"""``conf/evolve.yaml`` (a plain dict) -> a validated :class:`EvolveSpec`.

Everything is checked before anything compiles; a bad key or value raises
:class:`~qtgjax.config.build.ConfigError` naming the key and the allowed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qtgjax.config.build import ConfigError, check_keys, number, section
from qtgjax.evolve.fitness import OBJECTIVES
from qtgjax.sweep.cluster import ClusterError, check_cluster
from qtgjax.sweep.spec import SweepError, parse_memory

STRATEGIES = ("cma_es", "open_es", "simple_ga", "differential_evolution", "random")
TOP_KEYS = (
    "market",
    "market_overrides",
    "target",
    "genome",
    "search",
    "scenarios",
    "fitness",
    "pareto",
    "leaderboard",
    "cluster",
    "chunk_size",
    "chunk_memory",
    "progress",
    "out",
    "compilation_cache",
)
SEARCH_SCHEMA = {
    "population": (2, 1 << 20),
    "generations": (1, 1 << 20),
    "seed": (0, 2**31 - 1),
    "std_init": (1e-6, 100.0),
    "learning_rate": (1e-9, 100.0),
}
SET_SCHEMA = {"n": (1, 1 << 20), "seed": (0, 2**31 - 1)}


@dataclass(frozen=True)
class SearchSpec:
    """Attributes:
    strategy: one of STRATEGIES (``random``: uniform draws in the genome's bounds).
    population: P candidates per generation.
    generations: G generations (the budget is P x G candidates).
    seed: seed of the search's own random numbers.
    init: ``default`` (start from the target's parameters) or ``center`` (x = 0).
    std_init: initial spread in the unbounded space (CMA-ES, OpenAI-ES, GA mutation).
    learning_rate: OpenAI-ES step size (Adam).
    """

    strategy: str
    population: int
    generations: int
    seed: int
    init: str
    std_init: float
    learning_rate: float


@dataclass(frozen=True)
class SetSpec:
    n: int
    seed: int


@dataclass(frozen=True)
class EvolveSpec:
    """A validated ``qtgjax-evolve`` config (the market and genome are built later)."""

    market: str
    market_overrides: tuple[str, ...]
    target: dict
    genome: dict
    search: SearchSpec
    train: SetSpec
    holdout: SetSpec
    regimes: dict
    holdout_regimes: dict | None
    weights: dict
    robust_quantile: float
    pareto: tuple[str, ...]
    top: int
    pbo_partitions: int
    blocks: int
    cluster: dict
    chunk_size: int | None
    chunk_memory: int | None
    progress: bool
    compilation_cache: str | None


def _objective(name, where: str) -> str:
    if name not in OBJECTIVES:
        raise ConfigError(f"{where}: {name!r} is not an objective; known: {sorted(OBJECTIVES)}")
    return name


def _search(cfg: Mapping) -> SearchSpec:
    s = section(cfg, "search")
    check_keys(s, set(SEARCH_SCHEMA) | {"strategy", "init"}, "search")
    if s.get("strategy") not in STRATEGIES:
        raise ConfigError(f"search.strategy: {s.get('strategy')!r} is not one of {STRATEGIES}")
    if s.get("init", "default") not in ("default", "center"):
        raise ConfigError(f"search.init: {s.get('init')!r} is not 'default' or 'center'")
    values = {k: number(s, k, b, "search") for k, b in SEARCH_SCHEMA.items()}
    if s["strategy"] == "open_es" and values["population"] % 2:
        raise ConfigError("search.population: OpenAI-ES samples in pairs; give an even number")
    if s["strategy"] == "differential_evolution" and values["population"] < 4:
        raise ConfigError("search.population: differential evolution needs at least 4")
    return SearchSpec(strategy=s["strategy"], init=s.get("init", "default"), **values)


def _set(scen: Mapping, name: str) -> SetSpec:
    s = section(scen, name, "scenarios")
    check_keys(s, SET_SCHEMA, f"scenarios.{name}")
    return SetSpec(**{k: number(s, k, b, f"scenarios.{name}") for k, b in SET_SCHEMA.items()})


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    return dict(value)


def evolve_spec(cfg: Mapping) -> EvolveSpec:
    """Validate an evolve config (as ``conf/evolve.yaml`` composes it)."""
    unknown = sorted(set(cfg) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; allowed keys: {sorted(TOP_KEYS)}")
    if not isinstance(cfg.get("market"), str):
        raise ConfigError(
            f"market: expected a config name such as realistic, got {cfg.get('market')!r}"
        )
    overrides = cfg.get("market_overrides") or []
    if not isinstance(overrides, list | tuple) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError("market_overrides: expected a list of overrides such as 'ticks=1000'")
    target = _mapping(section(cfg, "target"), "target")
    check_keys(target, {"family", "name", "n_agents", "account", "latency"}, "target")
    genome = section(cfg, "genome")
    check_keys(genome, {"params"}, "genome")
    scen = section(cfg, "scenarios")
    check_keys(scen, {"train", "holdout", "regimes", "holdout_regimes"}, "scenarios")
    fit = section(cfg, "fitness")
    check_keys(fit, {"weights", "robust_quantile"}, "fitness")
    weights = _mapping(fit.get("weights"), "fitness.weights")
    if not weights:
        raise ConfigError("fitness.weights: give at least one objective weight, e.g. {sharpe: 1}")
    for k, _w in weights.items():
        _objective(k, f"fitness.weights.{k}")
        number(weights, k, (-1e12, 1e12), "fitness.weights")
    pareto = cfg.get("pareto") or []
    if not isinstance(pareto, list | tuple) or len(pareto) < 2:
        raise ConfigError("pareto: expected a list of at least two objectives")
    pareto = tuple(_objective(p, f"pareto[{i}]") for i, p in enumerate(pareto))
    board = section(cfg, "leaderboard")
    check_keys(board, {"top", "pbo_partitions", "blocks"}, "leaderboard")
    top = number(board, "top", (1, 10_000), "leaderboard")
    partitions = number(board, "pbo_partitions", (2, 32), "leaderboard")
    blocks = number(board, "blocks", (1, 10_000), "leaderboard")
    if partitions % 2:
        raise ConfigError(f"leaderboard.pbo_partitions: {partitions} must be even")
    train, holdout = _set(scen, "train"), _set(scen, "holdout")
    if train.n * blocks < partitions:
        raise ConfigError(
            f"leaderboard.pbo_partitions: {partitions} is more than the {train.n * blocks} "
            "P&L blocks of the training scenarios (scenarios.train.n x leaderboard.blocks)"
        )
    if train.seed == holdout.seed:
        raise ConfigError(
            f"scenarios.holdout.seed: {holdout.seed} equals scenarios.train.seed; held-out "
            "scenarios need other seeds"
        )
    cluster = _mapping(cfg.get("cluster") or {"kind": "inprocess"}, "cluster")
    try:
        check_cluster(cluster)
        memory = cfg.get("chunk_memory")
        memory = None if memory is None else parse_memory(memory, "chunk_memory")
    except (ClusterError, SweepError) as err:
        raise ConfigError(str(err)) from err
    chunk = cfg.get("chunk_size")
    if chunk is not None:
        chunk = number(cfg, "chunk_size", (1, 1 << 24), "")
    holdout_regimes = scen.get("holdout_regimes")
    return EvolveSpec(
        market=cfg["market"],
        market_overrides=tuple(overrides),
        target=target,
        genome=dict(genome.get("params") or {}),
        search=_search(cfg),
        train=train,
        holdout=holdout,
        regimes=_mapping(scen.get("regimes"), "scenarios.regimes"),
        holdout_regimes=None
        if holdout_regimes is None
        else _mapping(holdout_regimes, "scenarios.holdout_regimes"),
        weights={k: float(v) for k, v in weights.items()},
        robust_quantile=number(fit, "robust_quantile", (1e-6, 1.0), "fitness"),
        pareto=pareto,
        top=top,
        pbo_partitions=partitions,
        blocks=blocks,
        cluster=cluster,
        chunk_size=chunk,
        chunk_memory=memory,
        progress=bool(cfg.get("progress", True)),
        compilation_cache=cfg.get("compilation_cache"),
    )
