"""RSI momentum: buy strength, sell weakness (Wilder RSI of the market view)."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import param
from qtgjax.tree import pytree


@pytree
class RsiParams(RiskParams):
    """Risk rules plus: band float32, RSI points away from 50 that count as momentum
    (RSI > 50 + band: long; RSI < 50 - band: short; back inside 50 +/- band / 2: exit)."""

    band: jnp.ndarray = param(0.0, 50.0)


@register
class RsiMomentum(SignalStrategy):
    """Momentum on the relative strength index (period ``market.indicators.rsi``)."""

    kind = "rsi"
    Params = RsiParams

    def signal(self, spec, params, extra, accounts, view):
        rsi = jnp.broadcast_to(view.indicators.rsi, accounts.position.shape)
        signal = jnp.where(rsi > 50 + params.band, 1, jnp.where(rsi < 50 - params.band, -1, 0))
        return signal, jnp.abs(rsi - 50) < 0.5 * params.band
