"""EMA crossover (10/20), written with the SDK (:mod:`qtgjax.sdk`): long while the fast
EMA of the last price is above the slow one, short while below.

Each agent keeps its own EMAs in its memory, seeded as TA-Lib seeds them (the mean of the
first ``period`` prices, then ``ema += 2 / (period + 1) * (price - ema)``), so the periods
are the strategy's, not the market's indicator settings.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax import sdk
from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams
from qtgjax.sdk import param, pytree


@pytree
class EmaCrossParams(RiskParams):
    """Risk rules plus: fast int32, slow int32 EMA periods in ticks (fast < slow)."""

    fast: jnp.ndarray = param(2, 1000)
    slow: jnp.ndarray = param(3, 5000)


def ema_step(value, price, count, period):
    """The EMA after the ``count``-th price (1-based): the running mean while
    ``count <= period`` (TA-Lib's seed), the exponential update after."""
    n = jnp.maximum(count, 1).astype(jnp.float32)
    alpha = 2.0 / (period.astype(jnp.float32) + 1.0)
    return jnp.where(count <= period, value + (price - value) / n, value + alpha * (price - value))


def init_memory(params, n_symbols):
    zeros = jnp.zeros((n_symbols,), jnp.float32)
    return {"count": jnp.int32(0), "fast": zeros, "slow": zeros}


def signal(params, memory, view):
    """+1 while EMA(fast) > EMA(slow), -1 while below, once ``slow`` prices are seen."""
    price = view.market.last_price.astype(jnp.float32)
    count = memory["count"] + 1
    fast = ema_step(memory["fast"], price, count, params.fast)
    slow = ema_step(memory["slow"], price, count, params.slow)
    ready = count >= params.slow
    side = jnp.where(ready, jnp.sign(fast - slow), 0).astype(jnp.int32)
    exit_now = jnp.zeros(price.shape, bool)
    return side, exit_now, {"count": count, "fast": fast, "slow": slow}


EmaCross = register(sdk.signal_strategy(
    "ema_cross", EmaCrossParams, signal, init_memory=init_memory,
    default_config=sdk.default_config(
        "ema_cross", n_agents=200, params={**sdk.RISK_DEFAULTS, "fast": 10, "slow": 20}
    ),
))
