"""``ema_fade``: fade moves away from an EMA of the last price (the whole strategy is
``decide``; qtgjax vmaps it over every agent of the family)."""

import jax.numpy as jnp

from qtgjax import sdk


@sdk.pytree
class FadeParams:
    period: jnp.ndarray = sdk.param(2, 500)  # EMA period, ticks
    band: jnp.ndarray = sdk.param(0.0, 0.5)  # relative distance from the EMA that is faded
    size: jnp.ndarray = sdk.param(1, 1000)  # lots held against the move


def init_memory(params, n_symbols):
    return {"ema": jnp.zeros((n_symbols,)), "seen": jnp.int32(0), "traded": jnp.int32(0)}


def on_fill(params, memory, fill, view):
    """Count the lots this agent traded (its own fills since its previous decision)."""
    return {**memory, "traded": memory["traded"] + jnp.abs(fill.lots).sum()}


def decide(params, memory, view, key):
    """Short ``size`` above EMA * (1 + band), long below EMA * (1 - band), else flat."""
    price = view.market.last_price.astype(jnp.float32)
    alpha = 2.0 / (params.period + 1.0)
    ema = jnp.where(memory["seen"] == 0, price, memory["ema"] + alpha * (price - memory["ema"]))
    dev = price / ema - 1.0
    side = jnp.where(dev > params.band, -1, jnp.where(dev < -params.band, 1, 0))
    target = side * params.size
    orders = sdk.toward(target, view, aggression=1, max_lots=params.size)
    return orders, {**memory, "ema": ema, "seen": memory["seen"] + 1}


EmaFade = sdk.strategy(
    "ema_fade", FadeParams, decide, init_memory=init_memory, on_fill=on_fill,
    max_order="size",
    default_config=sdk.default_config(
        "ema_fade", n_agents=50, params={"period": 20, "band": 0.002, "size": 5}
    ),
)
