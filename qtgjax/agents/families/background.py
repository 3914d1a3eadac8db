"""Tier 3 background liquidity pool: a statistical depth profile, one aggregate account."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, FamilySpec, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class BackgroundParams:
    """Depth profile of the pool (all float32 scalars).

    Attributes:
        depth: lots offered at the inside level of each side.
        decay: levels over which depth falls by a factor e.
        half_spread: ticks from the pool's centre to its inside quotes.
        anchor_weight: weight of the fundamental value in the pool's centre (the rest is
            the last price), in [0, 1].
        inventory_skew: ticks the centre moves per 1,000 lots of pool inventory.
        depth_noise: log-normal sigma of the per-tick depth scale of each side.
        max_level_lots: cap on lots at any one level.
        vol_thinning: float32 depth falls by a factor ``exp(-vol_thinning * sd)`` with sd
            the market's per-tick return sd in basis points (liquidity thins after large
            moves); 0 (the default) keeps the depth independent of volatility.
    """

    depth: jnp.ndarray = param(0.0, 1e6)
    decay: jnp.ndarray = param(0.1, 1e4)
    half_spread: jnp.ndarray = param(0.0, 1e3)
    anchor_weight: jnp.ndarray = param(0.0, 1.0)
    inventory_skew: jnp.ndarray = param(0.0, 1e4)
    depth_noise: jnp.ndarray = param(0.0, 5.0)
    max_level_lots: jnp.ndarray = param(1.0, 1e6)
    vol_thinning: jnp.ndarray = param(0.0, 1e3)


@register
class BackgroundPool(Family):
    """One account quoting a depth profile on every grid level, redrawn each tick.

    Slots per symbol: 2K; slot ``j < K`` is a buy at level ``j``, slot ``K + j`` a sell at
    level ``j``. The profile is ``depth * exp(-distance / decay)`` lots beyond
    ``half_spread`` ticks from a centre between the fundamental value and the last price,
    skewed against the pool's inventory, and scaled per side by a log-normal factor.
    """

    infrastructure = True
    kind = "background"
    Params = BackgroundParams

    def max_order_lots(self, params):
        return int(params.get("max_level_lots", 1))

    def grid_reach(self, params):
        return float(params.get("half_spread", 0.0))

    def n_slots(self, spec: FamilySpec) -> int:
        return 2 * spec.n_levels

    def act(self, spec, params, extra, accounts, view, key):
        n_levels = spec.n_levels
        base = view.anchor - n_levels // 2  # (S,) price of level 0
        prices = base[:, None] + jnp.arange(n_levels, dtype=jnp.int32)  # (S, K)
        inventory = accounts.position[0].astype(jnp.float32)  # (S,)
        centre = (
            params.anchor_weight * view.fundamental
            + (1.0 - params.anchor_weight) * view.last_price.astype(jnp.float32)
            - params.inventory_skew * inventory / 1000.0
        )
        thin = params.vol_thinning * 1e4 * jnp.sqrt(jnp.maximum(view.volatility, 0.0))
        scale = jnp.exp(
            params.depth_noise * jax.random.normal(key, (2, spec.n_symbols, 1))
            - 0.5 * params.depth_noise**2
            - thin[:, None]
        )
        bid_dist = centre[:, None] - params.half_spread - prices
        ask_dist = prices - centre[:, None] - params.half_spread
        buy_qty = _profile(bid_dist, scale[0], params)
        sell_qty = _profile(ask_dist, scale[1], params)
        qty = jnp.concatenate([buy_qty, sell_qty], axis=-1)[None]  # (1, S, 2K)
        is_buy = jnp.broadcast_to(jnp.arange(2 * n_levels) < n_levels, qty.shape)
        price = clip_price(jnp.concatenate([prices, prices], axis=-1))[None]
        return OrderIntent(price, qty, is_buy, jnp.ones(qty.shape, bool)), extra


def _profile(distance, scale, params) -> jnp.ndarray:
    """int32 lots at each level given its distance (ticks) beyond the inside quote."""
    lots = params.depth * scale * jnp.exp(-jnp.maximum(distance, 0.0) / params.decay)
    lots = jnp.where(distance >= 0.0, jnp.minimum(lots, params.max_level_lots), 0.0)
    return jnp.floor(lots).astype(jnp.int32)
