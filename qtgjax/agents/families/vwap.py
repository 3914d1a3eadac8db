"""VWAP executors: work one parent order per agent in step with the market's volume."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import bit_field, random_bits
from qtgjax.agents.families.twap import (
    EXEC_ORDER_TYPES,
    ExecState,
    TwapParams,
    check_exec_types,
    exec_order_type,
    init_exec,
    marketable,
    ticks_left,
    track_start,
)
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.tree import pytree


@pytree
class VwapParams(TwapParams):
    """The TWAP parent order (:class:`~qtgjax.agents.families.twap.TwapParams`), sized by
    volume, plus: volume_smoothing float32, per-tick weight of the EMA of the market's
    volume (lots per tick) that is the agent's expected volume."""

    volume_smoothing: jnp.ndarray = param(1e-6, 1.0)


@pytree
class VwapState:
    """Per-agent state of a VWAP executor.

    Attributes:
        order: :class:`~qtgjax.agents.families.twap.ExecState` parent order.
        volume_ema: float32[N] EMA of the market volume of the agent's symbol, lots per
            tick, not yet corrected for its zero start.
        volume_mass: float32[N] weight the EMA has accumulated (1 - (1 - w)^ticks); the
            expected volume is ``volume_ema / volume_mass``.
    """

    order: ExecState
    volume_ema: jnp.ndarray
    volume_mass: jnp.ndarray


def update_volume(state: VwapState, tick, volume, weight) -> VwapState:
    """Fold last auction's volume [N] (lots) into the EMA (from tick 1 on: tick 0 has none)."""
    seen = tick > 0
    ema = state.volume_ema + weight * (volume - state.volume_ema)
    mass = state.volume_mass + weight * (1.0 - state.volume_mass)
    return state.replace(
        volume_ema=jnp.where(seen, ema, state.volume_ema),
        volume_mass=jnp.where(seen, mass, state.volume_mass),
    )


def stochastic_round(x, bits) -> jnp.ndarray:
    """int32 floor(x) + 1 with probability frac(x) (16 random bits), so E[result] = x."""
    base = jnp.floor(x)
    up = bit_field(bits, 0, 16).astype(jnp.float32) < (x - base) * 65536.0
    return (base + up).astype(jnp.int32)


def vwap_child(remaining, volume, expected, left, bits) -> jnp.ndarray:
    """int32[N] lots to trade this tick.

    remaining * volume_{t-1} / (expected volume * ticks left), stochastically rounded and
    at most ``remaining``; on the last tick everything that remains; 0 when done.
    """
    ratio = jnp.where(expected > 0.0, volume / jnp.maximum(expected, 1e-6), 1.0)
    share = remaining.astype(jnp.float32) * ratio / jnp.maximum(left, 1).astype(jnp.float32)
    qty = jnp.clip(stochastic_round(share, bits), 0, remaining)
    return jnp.where(left == 1, remaining, jnp.where(left > 1, qty, 0))


@register
class VwapExecutor(Family):
    """Each tick from its start, buy (sell) a child order in proportion to the last
    auction's volume relative to the expected volume, spread over the ticks left, with a
    marketable limit ``aggression`` ticks through the last price. Low-volume ticks leave
    more for later ticks (the share of what remains grows as ticks run out) and the last
    tick of the horizon asks for everything that remains, so the target completes when
    liquidity allows.
    """

    kind = "vwap"
    Params = VwapParams
    supported_order_types = EXEC_ORDER_TYPES

    def validate(self, spec, params):
        check_exec_types(spec)

    def max_order_lots(self, params):
        return int(params.get("target", 1))

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def init_extra(self, spec, params, key):
        zeros = jnp.zeros((spec.n_agents,), jnp.float32)
        return VwapState(init_exec(spec.n_agents, spec.n_symbols, params, key), zeros, zeros)

    def act(self, spec, params, extra, accounts, view, key):
        order, executed = track_start(extra.order, view.tick, accounts.position)
        volume = view.volume[order.symbol].astype(jnp.float32)  # (N,) lots
        state = update_volume(
            extra.replace(order=order), view.tick, volume, params.volume_smoothing
        )
        expected = state.volume_ema / jnp.maximum(state.volume_mass, 1e-6)
        remaining = jnp.maximum(params.target - executed, 0)
        left = jnp.where(view.tick >= order.start, ticks_left(order, view.tick, params.horizon), 0)
        bits = random_bits(key, (spec.n_agents,))
        qty = vwap_child(remaining, volume, expected, left, bits)
        intent = marketable(
            order, qty, view.last_price, params.aggression, spec.n_symbols, exec_order_type(spec)
        )
        return intent, state
