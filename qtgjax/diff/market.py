"""A relaxed, differentiable market: the engine's tick structure in floats, under ``lax.scan``.

One tick, as in the engine (DESIGN.md section 2): observe -> act (noise traders,
fundamental traders, market makers, one policy trader) -> put every order on a grid of K
levels centred on the rounded last price -> clear with the smoothed batch auction ->
settle fills and cash -> update the last price and the fundamental value (a log random
walk with news jumps). ``jax.grad`` of any function of the rollout w.r.t. any leaf of
:class:`~qtgjax.diff.types.Params` (market, agent or policy parameters) is finite.

What is relaxed versus the exact engine (:mod:`qtgjax.sim`):

* lots, prices and cash are floats; fills are the smoothed auction's expected fills
  (fractional pro-rata, no time priority, no integer remainders);
* no resting book: every order lives one tick (the engine keeps unfilled orders with an
  age); the grid is re-centred every tick on the rounded last price (a constant of the
  gradient: ``stop_gradient``); buys far above the last price sit near the top of the grid
  and sells far below it near the bottom, at a fixed distance from the (real) last price;
* news events and agent activity are relaxed (binary concrete) Bernoulli draws, so the
  news intensity and activity probabilities have gradients; sizes and offsets are
  reparameterised uniforms, so with a fixed key the rollout is a smooth function of the
  parameters (common random numbers);
* the last price moves toward the soft clearing price by ``V / (V + volume_gate)``
  instead of jumping only when something trades;
* no fees, dividends, position limits, kill switches or indicators; the fundamental value
  is a log random walk rather than a Gordon-growth dividend model.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.diff.agents import (
    FloatOrders,
    fundamental_orders,
    linear_policy,
    linear_policy_params,
    maker_orders,
    noise_orders,
    policy_orders,
    relaxed_bernoulli,
)
from qtgjax.diff.smooth_auction import smooth_clear
from qtgjax.diff.types import (
    Accounts,
    AgentParams,
    FundamentalParams,
    MakerParams,
    MarketParams,
    MarketState,
    MarketStatic,
    NoiseParams,
    Observation,
    Params,
    Policy,
    Relaxation,
    SoftAuctionResult,
    TickOut,
    smooth_config,
)


def _floats(cls, **values):
    return cls(**{k: jnp.asarray(v, float) for k, v in values.items()})


def default_params(policy=None) -> Params:
    """A calm market around 1000 ticks; ``policy`` defaults to a zero linear policy."""
    return Params(
        market=_floats(
            MarketParams, initial_price=1000.0, value_vol=0.001, news_rate=0.02, news_size=0.01
        ),
        agents=AgentParams(
            noise=_floats(NoiseParams, aggression=2.0, max_offset=6.0, mean_qty=3.0, p_active=0.5),
            fundamental=_floats(
                FundamentalParams,
                gain=2.0,
                threshold=0.002,
                bias_sd=0.002,
                max_qty=10.0,
                p_active=0.5,
            ),
            maker=_floats(MakerParams, half_spread=2.0, quote_size=3.0, inventory_skew=0.05),
        ),
        policy=linear_policy_params() if policy is None else policy,
    )


def default_relaxation(
    temperature=1.0, volume_temperature=2.0, bernoulli_temperature=0.3, volume_gate=1.0
) -> Relaxation:
    """A :class:`Relaxation` from Python numbers (levels, lots, -, lots).

    The defaults keep 200-tick gradients close to finite differences of the expected
    statistics; sharper auctions (e.g. 0.5 level, 0.5 lot) make long rollouts chaotic: the
    pathwise gradient stays exact but varies wildly from one scenario to the next.
    """
    return Relaxation(
        auction=smooth_config(temperature, volume_temperature),
        bernoulli_temperature=jnp.asarray(bernoulli_temperature, float),
        volume_gate=jnp.asarray(volume_gate, float),
    )


def owners(static: MarketStatic) -> np.ndarray:
    """int32[M] agent index of each order, in the book's order (noise, fundamental, maker
    bids, maker asks, policy buy, policy sell)."""
    nn, nf, nm = static.n_noise, static.n_fundamental, static.n_makers
    makers = nn + nf + np.arange(nm)
    policy = nn + nf + nm
    parts = [np.arange(nn + nf), makers, makers, [policy, policy]]
    return np.concatenate(parts).astype(np.int32)


def init_state(static: MarketStatic, params: Params, key) -> MarketState:
    """The market before its first tick: flat accounts, value = price = initial_price."""
    price = params.market.initial_price
    bias = params.agents.fundamental.bias_sd * jax.random.normal(key, (static.n_fundamental,))
    zeros = jnp.zeros(static.n_agents, price.dtype)
    return MarketState(price, jnp.zeros_like(price), jnp.log(price), bias, Accounts(zeros, zeros))


def observe(state: MarketState) -> Observation:
    """The policy trader's view (it is the last agent)."""
    acc = state.accounts
    return Observation(
        state.last, state.last_return, state.log_value, acc.position[-1], acc.cash[-1]
    )


def order_book(static, relax, params: Params, policy: Policy, state, key) -> FloatOrders:
    """Every agent's orders this tick, concatenated in the order of :func:`owners`."""
    k_noise, k_fund = jax.random.split(key)
    temp = relax.bernoulli_temperature
    a, last = params.agents, state.last
    first_maker = static.n_noise + static.n_fundamental
    maker_pos = state.accounts.position[first_maker : first_maker + static.n_makers]
    blocks = [
        noise_orders(a.noise, last, k_noise, static.n_noise, temp),
        fundamental_orders(a.fundamental, last, jnp.exp(state.log_value), state.bias, k_fund, temp),
        maker_orders(a.maker, last, maker_pos),
        policy_orders(policy(params.policy, observe(state)), last),
    ]
    return FloatOrders(*(jnp.concatenate(parts) for parts in zip(*blocks, strict=True)))


def clear_on_grid(static, relax, orders: FloatOrders, last):
    """Smoothed auction on the K-level grid centred on ``round(last)``.

    Buys more than ``K/2 - 4`` ticks above ``last`` are placed at that distance, sells as
    far below it, and levels more than ``K/2 - 3`` ticks from ``last`` are penalised out of
    the clearing (see :func:`smooth_clear`'s ``half_width``): the window moves
    continuously with ``last`` (the grid's own edges jump with ``round(last)``, which
    would make the rollout discontinuous).

    Returns (SoftAuctionResult, base): level l is the price ``base + l`` ticks.
    """
    k = static.n_levels
    base = jax.lax.stop_gradient(jnp.round(last)) - k // 2
    reach = k / 2 - 4.0
    price = jnp.where(
        orders.is_buy,
        jnp.minimum(orders.price, last + reach),
        jnp.maximum(orders.price, last - reach),
    )
    x = price - base
    result = smooth_clear(x, orders.qty, orders.is_buy, last - base, relax.auction, k, k / 2 - 3.0)
    return result, base


def settle(accounts: Accounts, owner, is_buy, result: SoftAuctionResult, base) -> Accounts:
    """Positions += signed fills, cash -= signed (fills * base + notional) per agent."""
    sign = jnp.where(is_buy, 1.0, -1.0)
    n = accounts.position.shape[0]
    lots = jax.ops.segment_sum(sign * result.filled, owner, n)
    paid = jax.ops.segment_sum(sign * (result.filled * base + result.notional), owner, n)
    return Accounts(accounts.position + lots, accounts.cash - paid)


def step_value(market: MarketParams, log_value, key, temperature):
    """(next log value, news jump): Gaussian innovation plus a relaxed-Bernoulli jump of
    exponential size (mean ``news_size``) and random sign."""
    u_event, u_size, u_sign, z = jax.random.uniform(key, (4,))
    normal = jax.scipy.special.ndtri(jnp.clip(z, 1e-6, 1.0 - 1e-6))
    event = relaxed_bernoulli(u_event, market.news_rate, temperature)
    size = -market.news_size * jnp.log(jnp.clip(u_size, 1e-6, 1.0))
    news = event * jnp.where(u_sign < 0.5, size, -size)
    return log_value + market.value_vol * normal + news, news


def step(static, relax, params: Params, policy: Policy, state: MarketState, key):
    """One tick: (next state, :class:`TickOut`)."""
    k_orders, k_value = jax.random.split(key)
    orders = order_book(static, relax, params, policy, state, k_orders)
    result, base = clear_on_grid(static, relax, orders, state.last)
    accounts = settle(state.accounts, owners(static), orders.is_buy, result, base)
    gate = result.volume / (result.volume + relax.volume_gate)
    last = state.last + gate * (base + result.price - state.last)
    log_value, news = step_value(
        params.market, state.log_value, k_value, relax.bernoulli_temperature
    )
    wealth = accounts.cash[-1] + accounts.position[-1] * last
    out = TickOut(last, result.volume, jnp.exp(log_value), news, wealth)
    new = MarketState(last, jnp.log(last / state.last), log_value, state.bias, accounts)
    return new, out


@partial(jax.jit, static_argnames=("static", "policy"))
def rollout(static: MarketStatic, relax: Relaxation, params: Params, key, policy=linear_policy):
    """One scenario of ``static.n_ticks`` ticks: (final MarketState, TickOut float[T] each).

    The tick is rematerialised in the backward pass (``jax.checkpoint``), so reverse-mode
    memory grows with T only by the small state. ``policy`` must be hashable (a function).
    """
    k_init, k_run = jax.random.split(key)
    state0 = init_state(static, params, k_init)
    body = jax.checkpoint(lambda s, k: step(static, relax, params, policy, s, k))
    return jax.lax.scan(body, state0, jax.random.split(k_run, static.n_ticks))


@partial(jax.jit, static_argnames=("static", "policy"))
def rollouts(static: MarketStatic, relax: Relaxation, params: Params, keys, policy=linear_policy):
    """B scenarios with shared params: keys (B,) -> (final states, TickOut [B, T] each)."""
    return jax.vmap(lambda key: rollout(static, relax, params, key, policy))(keys)
