"""Momentum traders: follow the fast-vs-slow moving-average trend, flatten when it fades."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, clip_price, random_bits, scaled_field
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class MomentumParams:
    """Trend followers (scalars).

    Attributes:
        p_active: float32 probability of acting in a tick.
        threshold: float32 median trend (ema_fast / ema_slow - 1) needed to enter.
        threshold_dispersion: float32 log-normal sigma of thresholds across agents.
        aggression: int32 ticks beyond the last price for the (marketable) limit.
        max_qty: int32 lots per order.
    """

    p_active: jnp.ndarray = param(0.0, 1.0)
    threshold: jnp.ndarray = param(0.0, 1.0)
    threshold_dispersion: jnp.ndarray = param(0.0, 3.0)
    aggression: jnp.ndarray = param(0, 10_000)
    max_qty: jnp.ndarray = param(1, 65_535)


@register
class MomentumTrader(Family):
    """Buy when the trend exceeds the agent's threshold, sell when it is below minus it;
    when |trend| falls under half the threshold, trade the position back toward flat."""

    kind = "momentum"
    Params = MomentumParams

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def init_extra(self, spec, params, key):
        z = jax.random.normal(key, (spec.n_agents, 1))
        return params.threshold * jnp.exp(params.threshold_dispersion * z)  # (N, 1)

    def act(self, spec, params, extra, accounts, view, key):
        bits = random_bits(key, (spec.n_agents, spec.n_symbols))
        active = bernoulli_from_bits(bits, params.p_active)
        trend = view.ema_fast / view.ema_slow - 1.0  # (S,)
        enter = jnp.abs(trend) > extra
        fade = (jnp.abs(trend) < 0.5 * extra) & (accounts.position != 0)
        is_buy = jnp.where(enter, trend > 0, accounts.position < 0)
        size = scaled_field(bits, 16, 8, 1, params.max_qty)
        qty = jnp.where(
            enter, size, jnp.where(fade, jnp.minimum(size, jnp.abs(accounts.position)), 0)
        )
        last = view.last_price
        price = clip_price(jnp.where(is_buy, last + params.aggression, last - params.aggression))
        intent = OrderIntent(price[..., None], qty[..., None], is_buy[..., None], active[..., None])
        return intent, extra
