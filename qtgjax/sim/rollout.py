"""Initial state, and the rollout: ``lax.scan`` over ticks, ``vmap`` over scenarios."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.market import money
from qtgjax.market.types import Accounts, Orders
from qtgjax.ml.features import init_features
from qtgjax.sim.agent_risk import RiskState, init_risk, update_risk
from qtgjax.sim.depth import DepthLevels, scan_with_depth
from qtgjax.sim.fills import FillRows, empty_rows, fill_rows, write_row
from qtgjax.sim.fundamentals import init_fundamentals
from qtgjax.sim.latency import init_latency
from qtgjax.sim.signals import init_indicators
from qtgjax.sim.tick import observe, step, step_detail
from qtgjax.sim.types import MarketState, SimParams, SimState, SimStatic, TickRecord
from qtgjax.sim.venues import VenueMarket


def init_accounts(spec, params, n_slots: int, typed: bool = False) -> Accounts:
    n, s = spec.n_agents, spec.n_symbols
    cash = money.from_int(jnp.full((n,), params.cash, jnp.int32))
    return Accounts(
        cash=cash,
        position=jnp.broadcast_to(endowments(n, params)[:, None], (n, s)),
        external=money.zeros((n,)),
        orders=Orders.empty(n, s, n_slots, typed),
    )


def endowments(n: int, params) -> jnp.ndarray:
    """int32[N] starting lots per symbol of each agent: ``position`` plus an offset spread
    evenly over ``[-position_spread, position_spread]``, symmetric around the middle agent
    (truncated toward zero), so the offsets sum to exactly 0."""
    if n == 1:
        return jnp.full((1,), params.position, jnp.int32)
    centred = (2 * jnp.arange(n, dtype=jnp.int32) - (n - 1)).astype(jnp.float32) / (n - 1)
    offset = jnp.trunc(centred * params.position_spread.astype(jnp.float32)).astype(jnp.int32)
    return params.position + offset


def init_state(static: SimStatic, params: SimParams, key) -> SimState:
    """The market of one scenario before its first tick."""
    mp = params.market
    price = mp.initial_price.astype(jnp.int32)
    fprice = price.astype(jnp.float32)
    zeros = jnp.zeros_like(price)
    market = MarketState(
        last_price=price,
        anchor=price,
        best_bid=zeros,
        best_ask=zeros,
        ema_fast=fprice,
        ema_slow=fprice,
        volatility=jnp.zeros_like(fprice),
        off_grid=zeros,
        volume=zeros,
        indicators=init_indicators(price, mp.indicators, static.history),
        venues=VenueMarket.start(price, static.n_venues),
        features=init_features(price),
    )
    keys = jax.random.split(key, len(static.families))
    accounts, extras = [], []
    for i, spec in enumerate(static.families):
        family = get_family(spec.kind)
        slots = family.n_slots(spec) * static.n_venues  # slot v * O + o: slot o on venue v
        typed = bool(static.order_types)
        accounts.append(init_accounts(spec, params.accounts[i], slots, typed))
        extras.append(family.init_extra(spec, params.strategies[i], keys[i]))
    fundamentals = init_fundamentals(price, params.fundamentals)
    state = SimState(jnp.int32(0), market, fundamentals, tuple(accounts), tuple(extras))
    if static.max_delay:
        view = observe(state, params)
        state = state.replace(latency=init_latency(static, view, state.accounts))
    return state


def run_scenario(static: SimStatic, params: SimParams, key, n_ticks: int):
    """One scenario: (initial state, final state, records stacked over ticks), and the
    optional records (depth, fills, per-agent risk) when ``static`` asks for them."""
    k_init, k_run = jax.random.split(key)
    state0 = init_state(static, params, k_init)
    keys = jax.random.split(k_run, n_ticks)
    if static.fills.on or static.depth.levels or static.agent_risk:
        return state0, *scan_with_records(static, params, state0, keys)
    final, records = jax.lax.scan(lambda s, k: step(static, params, s, k), state0, keys)
    return state0, final, records


def scan_with_records(static: SimStatic, params: SimParams, state0, keys):
    """The scan of :func:`run_scenario` that also keeps the optional records: (final,
    records, depth or None, (FillRows per family, prices) or None, RiskState or None).

    The execution reports are a buffer of the recorded ticks and the per-agent risk a
    running accumulator, both in the scan's carry; the depth is the scan's output (or a
    buffer of every N-th tick, :func:`~qtgjax.sim.depth.scan_with_depth`)."""
    spec = static.fills

    def tick(carry, xs):
        state, buffer, risk = carry
        key, t = xs
        new, record, detail = step_detail(static, params, state, key)
        if spec.on:
            buffer = write_row(spec, buffer, fill_rows(static, detail, params), t)
        if static.agent_risk:
            risk = update_risk(risk, state0, state, new, record.close)
        return (new, buffer, risk), record, (detail.residual, detail.anchor)

    ticks = jnp.arange(keys.shape[0], dtype=jnp.int32)
    buffer0 = risk0 = None
    if spec.on:
        probe = jax.eval_shape(lambda s, k: step_detail(static, params, s, k)[2], state0, keys[0])
        buffer0 = empty_rows(spec, jax.eval_shape(lambda d: fill_rows(static, d, params), probe))
    if static.agent_risk:
        risk0 = init_risk(state0)
    carry0 = (state0, buffer0, risk0)
    if static.depth.levels:
        (final, buffer, risk), records, depth = scan_with_depth(
            tick, carry0, (keys, ticks), static.depth, static.n_levels
        )
    else:

        def plain(carry, xs):
            carry, record, _ = tick(carry, xs)
            return carry, record

        (final, buffer, risk), records = jax.lax.scan(plain, carry0, (keys, ticks))
        depth = None
    return final, records, depth, buffer, risk


class Rollout(NamedTuple):
    """Output of :func:`rollout`; every leaf has a leading scenario axis B.

    Attributes:
        initial: SimState before the first tick.
        final: SimState after the last tick.
        records: TickRecord with axes (B, T, ...).
        depth: DepthLevels with axes (B, R, ...) when ``static.depth.levels > 0``, else None.
        fills: with ``static.fills.on``: (per recorded family FillRows, clearing prices
            int32[V * S] of the books), axes (B, R, ...) over the recorded ticks; else None.
        risk: with ``static.agent_risk``: the :class:`~qtgjax.sim.agent_risk.RiskState`
            after the last tick (per family, per agent, axes (B, N)); else None.
    """

    initial: SimState
    final: SimState
    records: TickRecord
    depth: DepthLevels | None = None
    fills: tuple[tuple[FillRows, ...], jax.Array] | None = None
    risk: RiskState | None = None


@partial(jax.jit, static_argnames=("static", "n_ticks"))
def rollout(static: SimStatic, params: SimParams, keys, n_ticks: int) -> Rollout:
    """Run B scenarios in one compiled call: params with leading axis B, keys (B,) keys."""
    run = jax.vmap(run_scenario, in_axes=(None, 0, 0, None))
    return Rollout(*run(static, params, keys, n_ticks))
