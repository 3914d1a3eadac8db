"""RSI mean reversion, written with the SDK (:mod:`qtgjax.sdk`): buy when oversold
(Wilder RSI below 30), sell when overbought (above 70), exit when it is back near 50.

Each agent keeps Wilder's averages in its memory, as TA-Lib's ``RSI`` computes them: the
mean gain and loss of the first ``period`` changes, then ``avg = (avg * (period - 1) +
change) / period``.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax import sdk
from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams
from qtgjax.sdk import param, pytree


@pytree
class RsiReversionParams(RiskParams):
    """Risk rules plus: period int32 RSI period in ticks; oversold float32 (long below),
    overbought float32 (short above); exit_band float32 (exit within 50 +/- it)."""

    period: jnp.ndarray = param(2, 1000)
    oversold: jnp.ndarray = param(0.0, 50.0)
    overbought: jnp.ndarray = param(50.0, 100.0)
    exit_band: jnp.ndarray = param(0.0, 50.0)


def init_memory(params, n_symbols):
    zeros = jnp.zeros((n_symbols,), jnp.float32)
    return {"count": jnp.int32(0), "prev": zeros, "gain": zeros, "loss": zeros}


def wilder_rsi(memory, price, period):
    """(RSI float32[S] (50 where prices have not moved), ready, new memory) after ``price``."""
    count = memory["count"] + 1  # prices seen
    changes = count - 1
    change = jnp.where(changes > 0, price - memory["prev"], 0.0)
    up, down = jnp.maximum(change, 0.0), jnp.maximum(-change, 0.0)
    k = jnp.maximum(changes, 1).astype(jnp.float32)
    p = period.astype(jnp.float32)
    seeding = changes <= period

    def average(avg, x):
        return jnp.where(seeding, avg + (x - avg) / k, (avg * (p - 1.0) + x) / p)

    gain = jnp.where(changes > 0, average(memory["gain"], up), 0.0)
    loss = jnp.where(changes > 0, average(memory["loss"], down), 0.0)
    total = gain + loss
    rsi = jnp.where(total > 0, 100.0 * gain / jnp.where(total > 0, total, 1.0), 50.0)
    new = {"count": count, "prev": price, "gain": gain, "loss": loss}
    return rsi, changes >= period, new


def signal(params, memory, view):
    """+1 when RSI < oversold, -1 when RSI > overbought; exit within 50 +/- exit_band."""
    price = view.market.last_price.astype(jnp.float32)
    rsi, ready, memory = wilder_rsi(memory, price, params.period)
    side = jnp.where(rsi < params.oversold, 1, jnp.where(rsi > params.overbought, -1, 0))
    side = jnp.where(ready, side, 0).astype(jnp.int32)
    exit_now = ready & (jnp.abs(rsi - 50.0) < params.exit_band)
    return side, exit_now, memory


RsiReversion = register(sdk.signal_strategy(
    "rsi_reversion", RsiReversionParams, signal, init_memory=init_memory,
    default_config=sdk.default_config("rsi_reversion", n_agents=200, params={
        **sdk.RISK_DEFAULTS, "period": 14, "oversold": 30.0, "overbought": 70.0,
        "exit_band": 5.0,
    }),
))
