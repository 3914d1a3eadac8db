"""Order rules of the relaxed market's agents, and the policy interface.

Each family maps (its parameters, the market state, uniform/normal draws) to float orders
``(price ticks, qty lots, is_buy)``. Randomness enters only through draws that do not
depend on the parameters (reparameterisation), so that with a fixed key a rollout is a
deterministic, differentiable function of the parameters (common random numbers).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.diff.types import (
    FundamentalParams,
    LinearPolicyParams,
    MakerParams,
    NoiseParams,
    Observation,
    PolicyOrder,
)


class FloatOrders(NamedTuple):
    """A block of orders: price float[n] ticks, qty float[n] lots, is_buy bool[n]."""

    price: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray


def relaxed_bernoulli(uniform, p, temperature):
    """Binary-concrete relaxation of ``uniform < p``: float in (0, 1), differentiable in p.

    ``sigmoid((logit(p) - logit(uniform)) / temperature)``; as temperature -> 0 it is the
    hard indicator ``uniform < p`` with the same uniform draws. ``p`` is clipped to
    [1e-6, 1 - 1e-6].
    """
    p = jnp.clip(p, 1e-6, 1.0 - 1e-6)
    u = jnp.clip(uniform, 1e-6, 1.0 - 1e-6)
    return jax.nn.sigmoid((jax.scipy.special.logit(p) - jax.scipy.special.logit(u)) / temperature)


def noise_orders(params: NoiseParams, last, key, n: int, temperature) -> FloatOrders:
    """Zero-intelligence limits: offsets uniform on [-aggression, max_offset] from ``last``
    on the passive side, sizes uniform on [0.5, 1.5] * mean_qty, times a relaxed
    Bernoulli(p_active) activity."""
    u_active, u_side, u_offset, u_qty = jax.random.uniform(key, (4, n))
    is_buy = u_side < 0.5
    offset = -params.aggression + (params.max_offset + params.aggression) * u_offset
    price = jnp.where(is_buy, last - offset, last + offset)
    active = relaxed_bernoulli(u_active, params.p_active, temperature)
    qty = active * params.mean_qty * (0.5 + u_qty)
    return FloatOrders(price, qty, is_buy)


def fundamental_orders(
    params: FundamentalParams, last, value, bias, key, temperature
) -> FloatOrders:
    """Limit at each agent's estimate ``value * (1 + bias)``, sized ``gain`` lots per 1% of
    mispricing beyond ``threshold`` (capped at ``max_qty``), times relaxed activity.

    The size is 0 at zero mispricing, so the discrete side choice keeps fills continuous.
    """
    estimate = value * (1.0 + bias)
    gap = (estimate - last) / estimate
    size = params.gain * 100.0 * jax.nn.relu(jnp.abs(gap) - params.threshold)
    active = relaxed_bernoulli(jax.random.uniform(key, bias.shape), params.p_active, temperature)
    qty = active * jnp.minimum(size, params.max_qty)
    return FloatOrders(estimate, qty, gap > 0)


def maker_orders(params: MakerParams, last, position) -> FloatOrders:
    """A bid and an ask per maker (bids first): ``centre -/+ half_spread`` with
    ``centre = last - inventory_skew * position``; ``position`` float[Nm]."""
    centre = last - params.inventory_skew * position
    price = jnp.concatenate([centre - params.half_spread, centre + params.half_spread])
    qty = jnp.full_like(price, 1.0) * params.quote_size
    is_buy = jnp.concatenate([jnp.ones_like(position, bool), jnp.zeros_like(position, bool)])
    return FloatOrders(price, qty, is_buy)


def policy_orders(order: PolicyOrder, last) -> FloatOrders:
    """The policy trader's buy (``relu(size)`` lots at ``last + offset``) and sell
    (``relu(-size)`` lots at ``last - offset``): continuous in ``size`` through 0."""
    price = jnp.stack([last + order.offset, last - order.offset])
    qty = jnp.stack([jax.nn.relu(order.size), jax.nn.relu(-order.size)])
    return FloatOrders(price, qty, jnp.array([True, False]))


def linear_features(obs: Observation):
    """float[4]: (1, mispricing %, last return %, position / 10)."""
    mispricing = 100.0 * (obs.log_value - jnp.log(obs.last))
    one = jnp.ones_like(obs.last)
    return jnp.stack([one, mispricing, 100.0 * obs.last_return, obs.position / 10.0])


def linear_policy(params: LinearPolicyParams, obs: Observation) -> PolicyOrder:
    """A :data:`~qtgjax.diff.types.Policy`: ``size = weights . linear_features(obs)``."""
    return PolicyOrder(params.weights @ linear_features(obs), params.offset)


def linear_policy_params(weights=(0.0, 0.0, 0.0, 0.0), offset=2.0) -> LinearPolicyParams:
    """:class:`LinearPolicyParams` from Python numbers (default float arrays)."""
    return LinearPolicyParams(jnp.asarray(weights, float), jnp.asarray(offset, float))
