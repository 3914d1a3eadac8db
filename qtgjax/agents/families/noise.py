"""Noise / zero-intelligence traders: random limit orders around the mid."""

from __future__ import annotations

import dataclasses

import jax
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
from qtgjax.market import order_types as ot
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
    1 for the side, 7 for the price offset and 8 for the size. With ``order_types`` a
    list, each new order's type is drawn from it (:func:`typed_intent`).
    """

    kind = "noise"
    Params = NoiseParams
    supported_order_types = ot.NAMES  # every type, drawn per order from order_types

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
        expired = self.expired(spec, params, accounts.orders)[..., 0]
        replace = active | expired
        qty = jnp.where(active, qty, 0)
        intent = OrderIntent(
            price[..., None], qty[..., None], is_buy[..., None], replace[..., None]
        )
        if spec.order_types:  # a market with order types: draw one per new order
            intent = typed_intent(spec, intent, ref, params, jax.random.fold_in(key, 1))
        return intent, extra


def typed_intent(spec, intent: OrderIntent, ref, params, key) -> OrderIntent:
    """``intent`` with an order type per new order drawn uniformly from the family's
    ``order_types``: stops trigger 1..4 ticks through ``ref`` (the rounded mid; a stop-limit's
    limit ``aggression`` ticks beyond its trigger), pegs keep ``spec.peg_offset``, icebergs
    show ``spec.display`` lots."""
    shape = intent.qty.shape
    bits = random_bits(key, shape)
    codes = jnp.asarray(spec.order_types, jnp.int32)
    order_type = codes[bit_field(bits, 0, 16) % len(spec.order_types)]
    buy = intent.is_buy
    gap = scaled_field(bits, 16, 2, 1, 4)
    stop = clip_price(jnp.where(buy, ref[..., None] + gap, ref[..., None] - gap))
    limit = clip_price(jnp.where(buy, stop + params.aggression, stop - params.aggression))
    price = jnp.where(order_type == ot.STOP_LIMIT, limit, intent.price)
    return dataclasses.replace(  # OrderIntent.replace is its replace mask
        intent,
        price=price,
        order_type=order_type,
        stop_price=stop,
        peg_offset=jnp.full(shape, spec.peg_offset, jnp.int32),
        display=jnp.full(shape, spec.display, jnp.int32),
    )
