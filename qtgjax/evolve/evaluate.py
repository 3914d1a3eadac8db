"""Evaluation in the market: candidates x scenarios in one ``jit(vmap)``.

Every candidate trades as one small family (the *target*) inside a full market, so its own
impact and the other agents' reactions count. A generation is one flat batch of rows
``row = candidate * S + scenario``: the candidate's genome is decoded into the target
family's ``Params`` inside ``SimParams`` (the vmapped axis), every other leaf comes from the
scenario's own ``SimParams`` (its regime), and every candidate meets scenario s with the same
key (common random numbers), so differences between candidates are paired.

A row runs exactly like scenario ``index`` of ``qtgjax-run`` with seed ``seed`` and the
candidate's config: key ``fold_in(key(seed), index)``, then the same key splits as
:func:`qtgjax.sim.rollout.run_scenario`. It records only what fitness needs (the target's
P&L per tick, lots traded, fees), not the whole ``TickRecord``.

**Trading P&L** (what every objective is computed from), per agent of the target family,
in cash units (one tick times one lot)::

    pnl_t = [(cash_t - cash_0) + sum_s (pos_t,s - pos_0,s) * close_t,s] / N

i.e. wealth at the close minus the starting endowment revalued at the same close; cash
includes fees and rebates, dividends and borrow costs. ``pnl_t`` is exact (integer limbs)
before its conversion to float32. Returns are the per-tick increments over the agent's
starting wealth ``W_0 = cash_0 + pos_0 . price_0``.

Rows are cut into equal chunks that fit ``chunk_memory`` (:mod:`qtgjax.sim.chunk`'s
padding, so every chunk has one shape and one compilation); chunks run here or on a Dask
cluster (:mod:`qtgjax.sweep.cluster`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax import risk
from qtgjax.evolve.genome import ParamGenome
from qtgjax.io.tables import TICKS_PER_YEAR
from qtgjax.market import money
from qtgjax.sim.chunk import (
    CPU_COMPILER_OPTIONS,
    ChunkPlan,
    chunk_inputs,
    free_device_bytes,
    scenario_bytes,
)
from qtgjax.sim.rollout import init_state
from qtgjax.sim.tick import step
from qtgjax.sim.types import SimParams, SimStatic

CVAR_ALPHA = 0.05
RATIO_CAP = 1e4  # |Sharpe|, |Sortino| above this (no variance, no downside) are capped


@dataclass(frozen=True)
class Problem:
    """The static part of an evaluation (hashable: the jit cache key).

    Attributes:
        static: the market's shapes, the target family included.
        n_ticks: T, ticks per scenario.
        target: index of the candidates' family in ``static.families``.
        genome: how a search vector becomes the target's ``Params``.
        n_blocks: contiguous blocks of ticks whose P&L is kept (for CSCV).
    """

    static: SimStatic
    n_ticks: int
    target: int
    genome: ParamGenome
    n_blocks: int = 10

    @property
    def n_agents(self) -> int:
        return self.static.families[self.target].n_agents


class RowMetrics(NamedTuple):
    """What one (candidate, scenario) row yields; float32, leading row axis under vmap.

    Attributes:
        pnl: final trading P&L per agent, cash units.
        sharpe: annualised Sharpe ratio of the per-tick returns (252 x 390 ticks a year;
            0 when the candidate never trades; capped at +-RATIO_CAP).
        sortino: annualised Sortino ratio, likewise.
        max_drawdown: largest fall of wealth from its peak, a fraction of W_0 (<= 0).
        cvar: mean of the worst 5% per-tick returns (<= 0 for a loser's tail).
        turnover: lots bought plus sold per agent per tick.
        fees: fees paid per agent, cash units (negative = net rebates).
        moments: float32[5]: ticks, mean, and the 2nd, 3rd, 4th central moments of the
            per-tick P&L increments per agent (for pooled Sharpe, skew and kurtosis).
        blocks: float32[n_blocks] P&L per agent of each contiguous block of ticks.
    """

    pnl: jax.Array
    sharpe: jax.Array
    sortino: jax.Array
    max_drawdown: jax.Array
    cvar: jax.Array
    turnover: jax.Array
    fees: jax.Array
    moments: jax.Array
    blocks: jax.Array


def _capped(x):
    return jnp.clip(jnp.nan_to_num(x, nan=0.0), -RATIO_CAP, RATIO_CAP)


def row_metrics(problem: Problem, pnl, traded, fees, capital) -> RowMetrics:
    """Objectives of one row from its per-tick P&L float32[T] (per agent, cash units)."""
    n = problem.n_agents
    steps = jnp.diff(pnl, prepend=0.0)
    returns = steps / capital
    mean = steps.mean()
    centred = steps - mean
    moments = jnp.stack(
        [
            jnp.float32(steps.shape[0]),
            mean,
            (centred**2).mean(),
            (centred**3).mean(),
            (centred**4).mean(),
        ]
    )
    blocks = jnp.stack([b.sum() for b in jnp.array_split(steps, problem.n_blocks)])
    return RowMetrics(
        pnl=pnl[-1],
        sharpe=_capped(risk.sharpe(returns, annualization=TICKS_PER_YEAR)),
        sortino=_capped(risk.sortino(returns, annualization=TICKS_PER_YEAR)),
        max_drawdown=risk.max_drawdown(returns),
        cvar=risk.cvar(returns, CVAR_ALPHA),
        turnover=traded.astype(jnp.float32).sum() / (n * problem.n_ticks),
        fees=fees.sum() / n,
        moments=moments,
        blocks=blocks,
    )


def with_candidate(problem: Problem, params: SimParams, x) -> SimParams:
    """``params`` with the target family's strategy params decoded from genome ``x`` [D]."""
    strategies = list(params.strategies)
    strategies[problem.target] = problem.genome.decode(x, strategies[problem.target])
    return params.replace(strategies=tuple(strategies))


def row(problem: Problem, x, params: SimParams, key) -> RowMetrics:
    """One candidate in one scenario (keys split as ``run_scenario`` splits them)."""
    static, f = problem.static, problem.target
    params = with_candidate(problem, params, x)
    k_init, k_run = jax.random.split(key)
    state0 = init_state(static, params, k_init)
    acc0 = state0.accounts[f]
    cash0 = money.sum_exact(acc0.cash, 0)
    pos0 = acc0.position.sum(0)  # (S,)
    price0 = state0.market.last_price
    capital = (
        money.to_float(cash0) + (pos0.astype(jnp.float32) * price0.astype(jnp.float32)).sum()
    ) / problem.n_agents

    def tick(state, k):
        state, rec = step(static, params, state, k)
        mark = money.sum_small(money.product(rec.position[f] - pos0, rec.close), 0)
        pnl = money.to_float(money.add(money.sub(_at(rec.cash, f), cash0), mark))
        return state, (pnl / problem.n_agents, rec.traded[f], money.to_float(_at(rec.fees, f)))

    keys = jax.random.split(k_run, problem.n_ticks)
    _, (pnl, traded, fees) = jax.lax.scan(tick, state0, keys)
    return row_metrics(problem, pnl, traded, fees, jnp.maximum(capital, 1.0))


def _at(m: money.Money, i: int) -> money.Money:
    return money.Money(m.hi[i], m.lo[i])


def _evaluate_rows(problem: Problem, x, params, keys) -> RowMetrics:
    return jax.vmap(functools.partial(row, problem))(x, params, keys)


_evaluate_cpu = jax.jit(
    _evaluate_rows, static_argnames=("problem",), compiler_options=CPU_COMPILER_OPTIONS
)
_evaluate_other = jax.jit(_evaluate_rows, static_argnames=("problem",))


def evaluate_rows(problem: Problem, x, params, keys) -> RowMetrics:
    """The compiled batch: x float32[B, D], params SimParams[B], keys [B] -> RowMetrics[B]."""
    run = _evaluate_cpu if jax.devices()[0].platform == "cpu" else _evaluate_other
    return run(problem, x, params, keys)


@jax.jit
def row_keys(seeds, index):
    """Key of each row: fold_in(key(seed), index), as ``qtgjax-run`` keys its scenarios."""
    return jax.vmap(lambda s, i: jax.random.fold_in(jax.random.key(s), i))(seeds, index)


def row_bytes(problem: Problem, one_params: SimParams) -> int:
    """Estimated device bytes of one row: states and the tick's working set, plus the
    per-tick P&L, traded lots and fees the scan stacks."""
    states = scenario_bytes(problem.static, one_params, 0).device  # no simulator records
    return states + problem.n_ticks * 12


def plan_rows(
    problem: Problem,
    one_params: SimParams,
    n_rows: int,
    chunk: int | None = None,
    budget_bytes: int | None = None,
) -> ChunkPlan:
    """Rows per compiled call: ``chunk`` if given, else as many as fit the budget (default
    half the device's free memory)."""
    device = jax.devices()[0]
    per = row_bytes(problem, one_params)
    budget = int(budget_bytes or 0.5 * free_device_bytes(device))
    size = chunk if chunk is not None else max(1, budget // max(per, 1))
    return ChunkPlan(n_rows, int(min(max(size, 1), n_rows)), per, budget, str(device))


@dataclass(frozen=True)
class EvalTask:
    """One chunk of rows (picklable, NumPy leaves): what a Dask worker evaluates.

    Attributes:
        problem: the static problem.
        x: float32[C, D] genomes.
        params: SimParams with leading axis C.
        seeds, index: int32[C] each; row key fold_in(key(seed), index).
        used: real rows (the rest is padding).
    """

    problem: Problem
    x: np.ndarray
    params: Any
    seeds: np.ndarray
    index: np.ndarray
    used: int


def run_task(task: EvalTask) -> dict[str, np.ndarray]:
    """Evaluate one chunk; NumPy arrays of its real rows (module level: Dask pickles it)."""
    params = jax.tree.map(jnp.asarray, task.params)
    keys = row_keys(jnp.asarray(task.seeds), jnp.asarray(task.index))
    out = evaluate_rows(task.problem, jnp.asarray(task.x), params, keys)
    return {k: np.asarray(v)[: task.used] for k, v in out._asdict().items()}


def make_tasks(problem: Problem, x, params, seeds, index, plan: ChunkPlan) -> list[EvalTask]:
    """The chunks of a flat batch, padded to the plan's chunk size."""
    tasks = []
    inputs = (np.asarray(x, np.float32), params, np.asarray(seeds))
    for i in range(plan.n_chunks):
        # sim.chunk's padding (repeat the chunk's first row): every chunk has one shape
        (cx, cp, cs), ci, used = chunk_inputs(inputs, np.asarray(index), plan, i)
        cx, cp, cs, ci = jax.tree.map(np.asarray, (cx, cp, cs, ci))
        tasks.append(EvalTask(problem, cx, cp, cs, ci, used))
    return tasks


def join(results: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}


def tile_rows(n_candidates: int, n_scenarios: int):
    """(candidate, scenario) index of every flat row, candidate-major."""
    cand = np.repeat(np.arange(n_candidates), n_scenarios)
    scen = np.tile(np.arange(n_scenarios), n_candidates)
    return cand, scen
