"""Fundamental-value traders: buy below, sell above their estimate of fair value."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, clip_price, random_bits, scaled_field
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class FundamentalParams:
    """Value traders (scalars).

    Attributes:
        p_active: float32 probability of acting in a tick.
        threshold: float32 relative mispricing needed to trade (0.01 = 1%).
        bias_sd: float32 sd of each agent's fixed relative error about the value.
        gain: float32 lots per 1% of mispricing.
        max_qty: int32 lots per order.
        ttl: int32 ticks an unfilled order rests before it is cancelled; 0 (the default)
            keeps it until the agent next acts.
    """

    p_active: jnp.ndarray = param(0.0, 1.0)
    threshold: jnp.ndarray = param(0.0, 1.0)
    bias_sd: jnp.ndarray = param(0.0, 0.5)
    gain: jnp.ndarray = param(0.0, 1e5)
    max_qty: jnp.ndarray = param(1, 65_535)
    ttl: jnp.ndarray = param(0, 1_000_000)


@register
class FundamentalTrader(Family):
    """Trade toward a private estimate of the Gordon-growth fundamental value.

    Estimate = fundamental * (1 + bias), bias ~ N(0, bias_sd) fixed per (agent, symbol).
    When active and the mid is more than ``threshold`` away from the estimate, place a
    limit order at the estimate, sized ``gain`` lots per 1% of mispricing (1..max_qty).
    """

    kind = "fundamental"
    Params = FundamentalParams

    def init_extra(self, spec, params, key):
        return params.bias_sd * jax.random.normal(key, (spec.n_agents, spec.n_symbols))

    def act(self, spec, params, extra, accounts, view, key):
        bits = random_bits(key, (spec.n_agents, spec.n_symbols))
        active = bernoulli_from_bits(bits, params.p_active)
        estimate = view.fundamental * (1.0 + extra)  # (N, S) ticks
        gap = (estimate - view.mid) / estimate
        signal = jnp.abs(gap) > params.threshold
        size = jnp.round(jnp.abs(gap) * 100.0 * params.gain).astype(jnp.int32)
        jitter = scaled_field(bits, 16, 8, 0, 1)
        qty = jnp.where(signal, jnp.clip(size + jitter, 1, params.max_qty), 0)
        price = clip_price(jnp.round(estimate).astype(jnp.int32))
        resting = accounts.orders
        expired = self.expired(spec, params, resting)[..., 0]
        replace = active | expired
        qty = jnp.where(active, qty, 0)
        intent = OrderIntent(
            price[..., None], qty[..., None], (gap > 0)[..., None], replace[..., None]
        )
        return intent, extra
