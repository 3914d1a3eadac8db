"""A simple market maker: two-sided quotes around the mid, skewed against inventory."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class MarketMakerParams:
    """Quoting rule (scalars).

    Attributes:
        half_spread: float32 ticks from the (skewed) centre to each quote.
        spread_jitter: float32 ticks; each agent's half-spread is widened by U[0, jitter).
        quote_size: int32 lots per quote.
        inventory_skew: float32 ticks the centre moves per lot of inventory.
    """

    half_spread: jnp.ndarray = param(0.5, 1e4)
    spread_jitter: jnp.ndarray = param(0.0, 1e4)
    quote_size: jnp.ndarray = param(1, 65_535)
    inventory_skew: jnp.ndarray = param(0.0, 1e3)


@register
class MarketMaker(Family):
    """Quote a bid (slot 0) and an ask (slot 1) on every symbol, every tick.

    centre = mid - inventory_skew * position; bid = floor(centre - h), ask = ceil(centre + h)
    with h the agent's half-spread. A quote whose price is unchanged keeps its place
    (and time priority) in the book.
    """

    kind = "market_maker"
    Params = MarketMakerParams

    def grid_reach(self, params):
        return float(params.get("half_spread", 0.0)) + float(params.get("spread_jitter", 0.0))

    def n_slots(self, spec):
        return 2

    def init_extra(self, spec, params, key):
        return params.spread_jitter * jax.random.uniform(key, (spec.n_agents, 1))  # (N, 1)

    def act(self, spec, params, extra, accounts, view, key):
        half = params.half_spread + extra  # (N, 1)
        centre = view.mid - params.inventory_skew * accounts.position.astype(jnp.float32)
        bid = clip_price(jnp.floor(centre - half).astype(jnp.int32))
        ask = clip_price(jnp.maximum(jnp.ceil(centre + half).astype(jnp.int32), bid + 1))
        price = jnp.stack([bid, ask], axis=-1)  # (N, S, 2)
        is_buy = jnp.broadcast_to(jnp.array([True, False]), price.shape)
        qty = jnp.full(price.shape, params.quote_size, jnp.int32)
        resting = accounts.orders
        unchanged = (resting.price == price) & (resting.qty > 0)
        return OrderIntent(price, qty, is_buy, ~unchanged), extra
