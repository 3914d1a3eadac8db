"""Initial state, and the rollout: ``lax.scan`` over ticks, ``vmap`` over scenarios."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.market import money
from qtgjax.market.types import Accounts, Orders
from qtgjax.sim.depth import DepthLevels, scan_with_depth
from qtgjax.sim.fundamentals import init_fundamentals
from qtgjax.sim.latency import init_latency
from qtgjax.sim.signals import init_indicators
from qtgjax.sim.tick import observe, step, step_book
from qtgjax.sim.types import MarketState, SimParams, SimState, SimStatic, TickRecord
from qtgjax.sim.venues import VenueMarket


def init_accounts(spec, params, n_slots: int) -> Accounts:
    n, s = spec.n_agents, spec.n_symbols
    cash = money.from_int(jnp.full((n,), params.cash, jnp.int32))
    return Accounts(
        cash=cash,
        position=jnp.full((n, s), params.position, jnp.int32),
        external=money.zeros((n,)),
        orders=Orders.empty(n, s, n_slots),
    )


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
    )
    keys = jax.random.split(key, len(static.families))
    accounts, extras = [], []
    for i, spec in enumerate(static.families):
        family = get_family(spec.kind)
        slots = family.n_slots(spec) * static.n_venues  # slot v * O + o: slot o on venue v
        accounts.append(init_accounts(spec, params.accounts[i], slots))
        extras.append(family.init_extra(spec, params.strategies[i], keys[i]))
    fundamentals = init_fundamentals(price, params.fundamentals)
    state = SimState(jnp.int32(0), market, fundamentals, tuple(accounts), tuple(extras))
    if static.max_delay:
        view = observe(state, params)
        state = state.replace(latency=init_latency(static, view, state.accounts))
    return state


def run_scenario(static: SimStatic, params: SimParams, key, n_ticks: int):
    """One scenario: (initial state, final state, records stacked over ticks), and the
    depth records when ``static.depth`` asks for them."""
    k_init, k_run = jax.random.split(key)
    state0 = init_state(static, params, k_init)
    keys = jax.random.split(k_run, n_ticks)
    if static.depth.levels:
        step_one = partial(step_book, static, params)
        return state0, *scan_with_depth(step_one, state0, keys, static.depth, static.n_levels)
    final, records = jax.lax.scan(lambda s, k: step(static, params, s, k), state0, keys)
    return state0, final, records


class Rollout(NamedTuple):
    """Output of :func:`rollout`; every leaf has a leading scenario axis B.

    Attributes:
        initial: SimState before the first tick.
        final: SimState after the last tick.
        records: TickRecord with axes (B, T, ...).
        depth: DepthLevels with axes (B, R, ...) when ``static.depth.levels > 0``, else None.
    """

    initial: SimState
    final: SimState
    records: TickRecord
    depth: DepthLevels | None = None


@partial(jax.jit, static_argnames=("static", "n_ticks"))
def rollout(static: SimStatic, params: SimParams, keys, n_ticks: int) -> Rollout:
    """Run B scenarios in one compiled call: params with leading axis B, keys (B,) keys."""
    run = jax.vmap(run_scenario, in_axes=(None, 0, 0, None))
    return Rollout(*run(static, params, keys, n_ticks))
