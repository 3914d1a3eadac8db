"""Range breakout: follow a close beyond the highest / lowest close of the recent range."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import param
from qtgjax.tree import pytree


@pytree
class BreakoutParams(RiskParams):
    """Risk rules plus: margin float32 ticks beyond the range needed to count as a break."""

    margin: jnp.ndarray = param(0.0, 10_000.0)


@register
class RangeBreakout(SignalStrategy):
    """Long above range_high + margin, short below range_low - margin (window
    ``market.indicators.range``)."""

    kind = "breakout"
    Params = BreakoutParams

    def signal(self, spec, params, extra, accounts, view):
        ind = view.indicators
        price = view.last_price.astype(jnp.float32)
        up = price > ind.range_high + params.margin
        down = price < ind.range_low - params.margin
        signal = jnp.broadcast_to(jnp.where(up, 1, jnp.where(down, -1, 0)), accounts.position.shape)
        return signal, jnp.zeros(signal.shape, bool)
