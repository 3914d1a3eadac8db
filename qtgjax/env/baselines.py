"""Baseline policies per task: ``policy(key, obs, state, params) -> action`` (jittable).

``get(env, name)`` returns the policy for that env (a closure over its static sizes);
``names(task)`` lists them. Actions have the env's action shape (int32[A], or [L, A]).

- ``execution``: ``twap`` (size 1 x due: the TWAP family's linear schedule, each slice a
  marketable limit ``TWAP_AGGRESSION`` tick through the far touch).
- ``market_making``: ``avellaneda_stoikov`` (the AS family's quotes with fixed parameters
  :data:`AS_PARAMS`, one quote unit per side).
- ``trading``: ``buy_and_hold`` (the long limit on every symbol), ``flat`` (no position).
- every task: ``random`` (uniform over the action space).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from qtgjax.agents.families.avellaneda_stoikov import (
    AvellanedaStoikovParams,
    price_variance,
    quotes,
    reservation_and_spread,
)
from qtgjax.env.market import learner_accounts
from qtgjax.sim.tick import observe

TWAP_AGGRESSION = 1  # ticks through the far touch
AS_PARAMS = AvellanedaStoikovParams(
    gamma=jnp.float32(0.01),
    k=jnp.float32(1.0),
    tau=jnp.float32(20.0),
    min_sigma=jnp.float32(1.0),
    quote_size=jnp.int32(1),
    inventory_cap=jnp.int32(2**30),
)

_BASELINES: dict[str, dict[str, Callable]] = {}


def register(task: str, name: str):
    """Decorator: register ``factory(env) -> policy`` as baseline ``name`` of ``task``."""

    def wrap(factory):
        _BASELINES.setdefault(task, {})[name] = factory
        return factory

    return wrap


def names(task: str) -> list[str]:
    """Baselines registered for ``task`` (``random`` included)."""
    return sorted({*_BASELINES.get(task, {}), "random"})


def get(env, name: str) -> Callable:
    """The jittable policy ``name`` for ``env``: (key, obs, state, params) -> action."""
    if name == "random":
        return _random(env)
    table = _BASELINES.get(env.name, {})
    if name not in table:
        raise KeyError(f"no baseline {name!r} for {env.name!r}; known: {names(env.name)}")
    return table[name](env)


def _shape(env, per_learner):
    """[L, A] -> the env's action shape."""
    per_learner = per_learner.astype(jnp.int32)
    return per_learner[0] if env.n_learners == 1 else per_learner


def _random(env):
    space = env.action_space()

    def policy(key, obs, state, params):
        return space.sample(key)

    return policy


def _constant(env, row):
    def policy(key, obs, state, params):
        return _shape(
            env, jnp.broadcast_to(jnp.asarray(row, jnp.int32), (env.n_learners, len(row)))
        )

    return policy


@register("execution", "twap")
def twap(env):
    """Due lots every tick (size index round(1 / size_step)), marketable limit; with
    several venues, through the learner family's router (venue index V)."""
    task = env.task

    def policy(key, obs, state, params):
        size = jnp.round(1.0 / params.task.size_step).astype(jnp.int32)
        size = jnp.clip(size, 0, task.n_sizes - 1)
        price = min(task.n_passive + TWAP_AGGRESSION, task.n_prices - 1)
        router = [jnp.int32(task.n_venues)] if task.n_venues > 1 else []
        row = jnp.stack([size, jnp.int32(price), *router])
        return _shape(env, jnp.broadcast_to(row, (env.n_learners, row.shape[0])))

    return policy


@register("market_making", "avellaneda_stoikov")
def avellaneda_stoikov(env):
    """Avellaneda-Stoikov quotes on symbol 0, turned into the nearest offsets."""
    task = env.task

    def policy(key, obs, state, params):
        view = observe(state.sim, params.sim)
        acct = learner_accounts(state.sim, env.learner)
        variance = price_variance(view, AS_PARAMS.min_sigma)[:1]
        inventory = acct.position[:, :1].astype(jnp.float32)
        mid = view.mid[:1]
        reservation, spread = reservation_and_spread(mid, variance, inventory, AS_PARAMS)
        bid, ask = quotes(reservation, spread)
        inner_bid = jnp.ceil(mid).astype(jnp.int32) - 1
        inner_ask = jnp.floor(mid).astype(jnp.int32) + 1
        top = task.n_offsets - 1
        bid_off = jnp.clip(inner_bid - bid, 0, top)[:, 0]
        ask_off = jnp.clip(ask - inner_ask, 0, top)[:, 0]
        one = jnp.ones_like(bid_off)
        return _shape(env, jnp.stack([bid_off, ask_off, one, one], axis=-1))

    return policy


@register("trading", "buy_and_hold")
def buy_and_hold(env):
    """Target the long limit on every symbol."""
    top = env.task.action_nvec[0] - 1
    return _constant(env, [top] * env.task.n_symbols)


@register("trading", "flat")
def flat(env):
    """Target no position on every symbol."""
    middle = env.task.action_nvec[0] // 2
    return _constant(env, [middle] * env.task.n_symbols)
