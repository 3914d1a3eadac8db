"""Noise / zero-intelligence traders: random limit orders around the mid."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import (
    bernoulli_from_bits,
    bit_field,
    clip_price,
    random_bits,
    scaled_field,
)
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class NoiseParams:
    """Zero-intelligence order flow (scalars).

    Attributes:
        p_active: float32 probability an agent places a new order in a tick.
        max_offset: int32 ticks; limit prices lie up to this far from the mid on the
            passive side.
        aggression: int32 ticks; limits may cross the mid by up to this much.
        max_qty: int32 lots per order (uniform on [1, max_qty]).
        ttl: int32 ticks an unfilled order rests before it is cancelled.
    """

    p_active: jnp.ndarray = param(0.0, 1.0)
    max_offset: jnp.ndarray = param(0, 10_000)
    aggression: jnp.ndarray = param(0, 10_000)
    max_qty: jnp.ndarray = param(1, 65_535)
    ttl: jnp.ndarray = param(1, 1_000_000)


@register
class NoiseTrader(Family):
    """Each tick, with probability ``p_active``, cancel and place one random limit order.

    One uint32 of random bits per (agent, symbol) gives everything: 16 bits for activity,
    1 for the side, 7 for the price offset and 8 for the size.
    """

    kind = "noise"
    Params = NoiseParams

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def act(self, spec, params, extra, accounts, view, key):
        bits = random_bits(key, (spec.n_agents, spec.n_symbols))
        active = bernoulli_from_bits(bits, params.p_active)
        is_buy = bit_field(bits, 16, 1) == 1
        offset = scaled_field(bits, 17, 7, -params.aggression, params.max_offset)
        qty = scaled_field(bits, 24, 8, 1, params.max_qty)
        ref = jnp.round(view.mid).astype(jnp.int32)
        price = clip_price(jnp.where(is_buy, ref - offset, ref + offset))
        expired = accounts.orders.age[..., 0] >= params.ttl
        replace = active | expired
        qty = jnp.where(active, qty, 0)
        intent = OrderIntent(
            price[..., None], qty[..., None], is_buy[..., None], replace[..., None]
        )
        return intent, extra
