"""Pairs / statistical arbitrage on the z-score of two related symbols' log price ratio."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import param
from qtgjax.tree import pytree


@pytree
class PairsParams(RiskParams):
    """Risk rules plus: entry_z float32 |z| to open; exit_z float32 |z| below which to close."""

    entry_z: jnp.ndarray = param(0.0, 100.0)
    exit_z: jnp.ndarray = param(0.0, 100.0)


@register
class PairsTrader(SignalStrategy):
    """Short the rich leg and buy the cheap one when |z| > entry_z; close when |z| < exit_z.

    The pair of symbol 2i is 2i + 1 (give them one sector so their fundamentals share a
    factor); z of one leg is minus z of the other, so both legs trade opposite ways.
    """

    kind = "pairs"
    Params = PairsParams

    def signal(self, spec, params, extra, accounts, view):
        z = jnp.broadcast_to(view.indicators.pair_z, accounts.position.shape)
        signal = jnp.where(z > params.entry_z, -1, jnp.where(z < -params.entry_z, 1, 0))
        return signal, jnp.abs(z) < params.exit_z
