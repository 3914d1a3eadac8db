"""From a validated :class:`~qtgjax.evolve.config.EvolveSpec` to what the search runs: the
market with the target family, the genome, the training and held-out scenario sets, and an
evaluator that runs candidates x scenarios chunk by chunk here or on a Dask cluster."""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass

import jax
import numpy as np
from omegaconf import DictConfig, OmegaConf

from qtgjax.agents.registry import get_family
from qtgjax.api import to_plain
from qtgjax.config.build import Built, ConfigError, build
from qtgjax.evolve.config import EvolveSpec
from qtgjax.evolve.evaluate import (
    Problem,
    join,
    make_tasks,
    plan_rows,
    run_task,
    tile_rows,
)
from qtgjax.evolve.genome import ParamGenome, VectorGene, make_genome
from qtgjax.evolve.scenarios import ScenarioSet, market_config, scenario_set
from qtgjax.sim.chunk import ChunkPlan

log = logging.getLogger("qtgjax.evolve")


@dataclass(frozen=True)
class Setup:
    """Attributes:
    spec: the validated config.
    base: the market config with the target family (unresolved).
    built: the base market, validated.
    problem: the static evaluation problem.
    train, holdout: the scenario sets.
    defaults: the target family's parameters in this market (genome fields).
    family_config: the target family's resolved config (for agent files).
    """

    spec: EvolveSpec
    base: DictConfig
    built: Built
    problem: Problem
    train: ScenarioSet
    holdout: ScenarioSet
    defaults: dict
    family_config: dict

    @property
    def genome(self) -> ParamGenome:
        return self.problem.genome

    @property
    def tick_size(self) -> float:
        return self.built.run.tick_size


def _check_corners(base: DictConfig, name: str, genome: ParamGenome) -> None:
    """The market must be valid with every gene at its low and at its high bound (grid
    reach, book size): refused here rather than inside a generation."""
    for corner in ("low", "high"):
        cfg = copy.deepcopy(base)
        for g in genome.genes:
            if isinstance(g, VectorGene):
                continue
            value = getattr(g, corner)
            OmegaConf.update(
                cfg, f"families.{name}.params.{g.name}", int(value) if g.integer else value
            )
        try:
            build(to_plain(cfg))
        except ConfigError as err:
            raise ConfigError(
                f"genome.params: with every gene at its {corner} bound the market is invalid: "
                f"{err}; narrow the bounds"
            ) from err


def prepare(spec: EvolveSpec) -> Setup:
    """Build and validate everything before anything compiles."""
    name = spec.target.get("name", "evolved")
    target = {"name": name, **spec.target}
    base = market_config(spec.market, spec.market_overrides, target)
    plain = to_plain(base)
    built = build(plain)
    family_config = plain["families"][name]
    family = get_family(family_config["kind"])
    names = [f.name for f in built.static.families]
    index = names.index(name)
    strategy = built.params.strategies[index]
    genome = make_genome(family, spec.genome, "genome.params", strategy)
    _check_corners(base, name, genome)
    raw = family_config.get("params") or {}
    defaults = {g.name: np.asarray(getattr(strategy, g.name)).tolist() for g in genome.genes}
    for g in genome.genes:
        if isinstance(g, VectorGene):
            continue
        if spec.search.init == "default" and not g.low <= defaults[g.name] <= g.high:
            raise ConfigError(
                f"genome.params.{g.name}: the {name} default {raw.get(g.name)!r} is outside "
                f"the bounds {g.low:g}..{g.high:g}; widen them or use search.init=center"
            )
    train, _ = scenario_set(
        "train", base, spec.regimes, spec.train.n, spec.train.seed, "scenarios.regimes"
    )
    holdout_regimes = spec.regimes if spec.holdout_regimes is None else spec.holdout_regimes
    where = "scenarios.regimes" if spec.holdout_regimes is None else "scenarios.holdout_regimes"
    holdout, held_built = scenario_set(
        "holdout", base, holdout_regimes, spec.holdout.n, spec.holdout.seed, where
    )
    if held_built[0].static != built.static:
        raise ConfigError(f"{where}: held-out regimes may not change shapes")
    if spec.blocks > built.run.ticks:
        raise ConfigError(f"leaderboard.blocks: {spec.blocks} is more than ticks={built.run.ticks}")
    problem = Problem(built.static, built.run.ticks, index, genome, spec.blocks)
    return Setup(spec, base, built, problem, train, holdout, defaults, family_config)


def best_chunk(rows: int, cap: int, generations: int, held: int, call_cost: int = 2) -> int:
    """Rows per call: among the divisors of ``rows`` up to ``cap``, the one with the least
    work (rows run, padding included, plus ``call_cost`` rows' worth per call) for
    ``generations`` batches of ``rows`` and one batch of ``held`` rows."""

    def work(c: int) -> int:
        calls = generations * (rows // c) + -(-held // c)
        return calls * (c + call_cost)

    sizes = [c for c in range(1, min(rows, cap) + 1) if rows % c == 0]
    return min(sizes, key=lambda c: (work(c), -c))


class Evaluator:
    """Runs candidates x a scenario set: one ``jit(vmap)`` per chunk, here or on Dask.

    Use as a context manager (it opens the Dask client, if any, once for the whole run).
    """

    def __init__(self, setup: Setup):
        self.setup = setup
        self.client = None
        self._stack = contextlib.ExitStack()
        self.rows_done = 0
        self._chunk = None
        self._piloted = False

    def __enter__(self):
        spec = self.setup.spec
        if spec.cluster.get("kind", "inprocess") != "inprocess":
            from qtgjax.sweep.cluster import dask_client, worker_env

            env = worker_env(spec.cluster, spec.compilation_cache)
            self.client = self._stack.enter_context(dask_client(spec.cluster, env, 2))
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def chunk(self) -> int:
        """Rows per compiled call, fixed for the whole run (every batch is padded to it: one
        compilation): the divisor of a generation's rows, within the memory budget, that
        wastes the fewest padded rows over the search and the held-out judgement."""
        if self._chunk is None:
            spec, sset = self.setup.spec, self.setup.train
            one = jax.tree.map(lambda leaf: np.asarray(leaf)[0], sset.params)
            rows = spec.search.population * sset.size
            plan = plan_rows(self.setup.problem, one, rows, spec.chunk_size, spec.chunk_memory)
            held = (spec.top + 1) * self.setup.holdout.size + sset.size
            self._chunk = best_chunk(rows, plan.chunk, spec.search.generations, held)
            log.info(f"qtgjax-evolve: {self._chunk} rows per compiled call ({plan.describe()})")
        return self._chunk

    def __call__(self, *batches: tuple[np.ndarray, ScenarioSet]) -> list[dict[str, np.ndarray]]:
        """RowMetrics of every (candidate, scenario) of each ``(x, scenario set)`` batch,
        candidate-major, as NumPy arrays; all batches run as one padded batch of rows."""
        xs, params, seeds, index, sizes = [], [], [], [], []
        for x, sset in batches:
            cand, scen = tile_rows(len(x), sset.size)
            xs.append(np.asarray(x, np.float32)[cand])
            params.append(jax.tree.map(lambda leaf, scen=scen: np.asarray(leaf)[scen], sset.params))
            seeds.append(sset.seeds[scen])
            index.append(sset.index[scen])
            sizes.append(len(cand))
        n = sum(sizes)
        plan = ChunkPlan(n, self.chunk(), 0, 0, "")
        tasks = make_tasks(
            self.setup.problem,
            np.concatenate(xs),
            jax.tree.map(lambda *leaves: np.concatenate(leaves), *params),
            np.concatenate(seeds),
            np.concatenate(index),
            plan,
        )
        results = [run_task(t) for t in tasks] if self.client is None else self._on_cluster(tasks)
        self.rows_done += n
        rows = join(results)
        bounds = np.cumsum([0, *sizes])
        return [
            {k: v[a:b] for k, v in rows.items()} for a, b in zip(bounds, bounds[1:], strict=False)
        ]

    def _on_cluster(self, tasks):
        """The first chunk ever runs alone (its compiled call lands in the persistent
        compilation cache), then the rest load it."""
        if not self._piloted:
            first = self.client.submit(run_task, tasks[0], pure=False, retries=2).result()
            self._piloted = True
            rest = self.client.gather(self.client.map(run_task, tasks[1:], pure=False, retries=2))
            return [first, *rest]
        return self.client.gather(self.client.map(run_task, tasks, pure=False, retries=2))
