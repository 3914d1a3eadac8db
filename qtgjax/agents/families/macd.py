"""MACD crossover: long when the MACD line is above its signal line, short when below."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import param
from qtgjax.tree import pytree


@pytree
class MacdParams(RiskParams):
    """Risk rules plus: threshold float32, histogram (macd - signal) relative to the price
    needed to act."""

    threshold: jnp.ndarray = param(0.0, 1.0)


@register
class MacdCrossover(SignalStrategy):
    """Signal = sign of the MACD histogram when |histogram| / price > threshold."""

    kind = "macd"
    Params = MacdParams

    def signal(self, spec, params, extra, accounts, view):
        ind = view.indicators
        hist = (ind.macd - ind.macd_signal) / view.last_price.astype(jnp.float32)
        signal = jnp.where(hist > params.threshold, 1, jnp.where(hist < -params.threshold, -1, 0))
        signal = jnp.broadcast_to(signal, accounts.position.shape)
        return signal, jnp.zeros(signal.shape, bool)
