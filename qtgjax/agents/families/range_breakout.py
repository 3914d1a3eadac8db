"""Range breakout with a volume filter, written with the SDK (:mod:`qtgjax.sdk`): long
when the last price breaks above the high of the previous ``window`` prices (20) on volume
at least ``volume_factor`` times their mean volume, short on a break below the low.

Each agent keeps the last :data:`CAPACITY` prices and volumes in its memory (a ring).
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax import sdk
from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams
from qtgjax.sdk import param, pytree

CAPACITY = 64  # most bars a window may span (the memory's static size)


@pytree
class RangeBreakoutParams(RiskParams):
    """Risk rules plus: window int32 bars of the range (<= 64); volume_factor float32
    (a break counts on volume >= factor x the window's mean volume)."""

    window: jnp.ndarray = param(2, CAPACITY)
    volume_factor: jnp.ndarray = param(0.0, 100.0)


def init_memory(params, n_symbols):
    ring = jnp.zeros((CAPACITY, n_symbols), jnp.float32)
    return {"count": jnp.int32(0), "price": ring, "volume": ring}


def window_stats(memory, window):
    """(high, low, mean volume) float32[S] of the last ``window`` stored bars."""
    age = (memory["count"] - 1 - jnp.arange(CAPACITY)) % CAPACITY  # 0 = latest
    use = ((age < window) & (jnp.arange(CAPACITY) < memory["count"]))[:, None]
    high = jnp.max(jnp.where(use, memory["price"], -jnp.inf), axis=0)
    low = jnp.min(jnp.where(use, memory["price"], jnp.inf), axis=0)
    volume = jnp.where(use, memory["volume"], 0.0).sum(0) / window.astype(jnp.float32)
    return high, low, volume


def signal(params, memory, view):
    """+1 on a break above the previous window's high with volume, -1 below its low."""
    price = view.market.last_price.astype(jnp.float32)
    volume = view.market.volume.astype(jnp.float32)
    high, low, mean_volume = window_stats(memory, params.window)
    ready = memory["count"] >= params.window
    loud = volume >= params.volume_factor * mean_volume
    side = jnp.where(price > high, 1, jnp.where(price < low, -1, 0))
    side = jnp.where(ready & loud, side, 0).astype(jnp.int32)
    slot = memory["count"] % CAPACITY
    new = {
        "count": memory["count"] + 1,
        "price": memory["price"].at[slot].set(price),
        "volume": memory["volume"].at[slot].set(volume),
    }
    return side, jnp.zeros(price.shape, bool), new


RangeBreakout = register(sdk.signal_strategy(
    "range_breakout", RangeBreakoutParams, signal, init_memory=init_memory,
    default_config=sdk.default_config("range_breakout", n_agents=200, params={
        **sdk.RISK_DEFAULTS, "window": 20, "volume_factor": 1.5,
    }),
))
