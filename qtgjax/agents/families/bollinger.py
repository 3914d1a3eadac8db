"""Bollinger reversion: buy below the lower band, sell above the upper, exit at the middle."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.tree import pytree


@pytree
class BollingerParams(RiskParams):
    """Risk rules only (the bands are the market's ``indicators.bollinger`` and
    ``bollinger_k``)."""


@register
class BollingerReversion(SignalStrategy):
    """Mean reversion to the Bollinger middle band."""

    kind = "bollinger"
    Params = BollingerParams

    def signal(self, spec, params, extra, accounts, view):
        ind = view.indicators
        price = view.last_price.astype(jnp.float32)
        signal = jnp.where(price < ind.bb_lower, 1, jnp.where(price > ind.bb_upper, -1, 0))
        signal = jnp.broadcast_to(signal, accounts.position.shape)
        crossed_mid = jnp.where(accounts.position > 0, price >= ind.bb_mid, price <= ind.bb_mid)
        return signal, crossed_mid & (accounts.position != 0)
