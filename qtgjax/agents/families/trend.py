"""Trend followers: SMA fast/slow crossover through the shared state machine."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import param
from qtgjax.tree import pytree


@pytree
class TrendParams(RiskParams):
    """Risk rules plus: threshold float32, median relative gap sma_fast / sma_slow - 1 that
    counts as a trend; threshold_dispersion float32 log-normal sigma across agents."""

    threshold: jnp.ndarray = param(0.0, 1.0)
    threshold_dispersion: jnp.ndarray = param(0.0, 3.0)


@register
class TrendFollower(SignalStrategy):
    """Long when SMA(fast) is above SMA(slow) by more than the agent's threshold, short
    when below by more; periods are the market's ``indicators.sma_fast/sma_slow``."""

    kind = "trend"
    Params = TrendParams

    def init_signal_extra(self, spec, params, key):
        z = jax.random.normal(key, (spec.n_agents, 1))
        return params.threshold * jnp.exp(params.threshold_dispersion * z)  # (N, 1)

    def signal(self, spec, params, extra, accounts, view):
        ind = view.indicators
        gap = ind.sma_fast / ind.sma_slow - 1.0  # (S,)
        signal = jnp.where(gap > extra, 1, jnp.where(gap < -extra, -1, 0))
        return signal, jnp.zeros(signal.shape, bool)
