"""TWAP executors: work one parent order per agent evenly over a fixed number of ticks.

The parent-order bookkeeping here (:class:`ExecState`, :func:`init_exec`,
:func:`track_start`, :func:`marketable`) is shared with the VWAP executor.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.config.checks import ConfigError
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class TwapParams:
    """One parent order per agent (scalars).

    Attributes:
        target: int32 lots each agent executes (the account's ``max_position`` must leave
            room for them, or the orders are cut).
        side: int32 +1 every agent buys, -1 every agent sells, 0 each agent's side is a fair
            coin drawn at init.
        horizon: int32 ticks over which the target is executed.
        start_spread: int32 ticks; each agent starts at a tick uniform on [0, start_spread].
        aggression: int32 ticks beyond the last price for the marketable limit orders.
    """

    target: jnp.ndarray = param(0, 2**30)
    side: jnp.ndarray = param(-1, 1)
    horizon: jnp.ndarray = param(1, 10**8)
    start_spread: jnp.ndarray = param(0, 10**8)
    aggression: jnp.ndarray = param(0, 10_000)


@pytree
class ExecState:
    """Per-agent parent order of an executor.

    Attributes:
        symbol: int32[N] symbol the agent trades, uniform at init.
        side: int32[N] +1 buy, -1 sell.
        start: int32[N] tick of the first child order.
        start_position: int32[N] lots held in ``symbol`` just before the first child order
            (updated every tick until then; only the agent's own fills move it afterwards).
    """

    symbol: jnp.ndarray
    side: jnp.ndarray
    start: jnp.ndarray
    start_position: jnp.ndarray


def init_exec(n_agents: int, n_symbols: int, params, key) -> ExecState:
    """Draw each agent's symbol, side (where ``params.side`` is 0) and start tick."""
    k_symbol, k_side, k_start = jax.random.split(key, 3)
    symbol = jax.random.randint(k_symbol, (n_agents,), 0, n_symbols)
    coin = jnp.where(jax.random.bernoulli(k_side, 0.5, (n_agents,)), 1, -1)
    side = jnp.where(params.side == 0, coin, jnp.sign(params.side)).astype(jnp.int32)
    start = jax.random.randint(k_start, (n_agents,), 0, params.start_spread + 1)
    return ExecState(symbol, side, start, jnp.zeros((n_agents,), jnp.int32))


def held(state: ExecState, position) -> jnp.ndarray:
    """int32[N] lots each agent holds in its own symbol (position [N, S])."""
    return jnp.take_along_axis(position, state.symbol[:, None], axis=1)[:, 0]


def track_start(state: ExecState, tick, position) -> tuple[ExecState, jnp.ndarray]:
    """(state with the start position frozen from the start tick on, lots executed [N])."""
    now = held(state, position)
    start_position = jnp.where(tick <= state.start, now, state.start_position)
    executed = state.side * (now - start_position)
    return state.replace(start_position=start_position), executed


def ticks_left(state: ExecState, tick, horizon) -> jnp.ndarray:
    """int32[N] auctions left to the horizon end, counting this tick's (0 when done)."""
    return jnp.clip(state.start + horizon - tick, 0, horizon)


EXEC_ORDER_TYPES = ("limit", "ioc", "market", "fok")  # what the executors can place


def exec_order_type(spec) -> int | None:
    """The one order type code of an executor's child orders (None: limit, the default)."""
    return spec.order_types[0] if spec.order_types else None


def check_exec_types(spec) -> None:
    """An executor places one order type: refuse a list of several, naming the key."""
    if len(spec.order_types) > 1:
        raise ConfigError(
            f"families.{spec.name}.order_types: an executor places one order type "
            f"(one of {list(EXEC_ORDER_TYPES)}), got codes {list(spec.order_types)}"
        )


def marketable(
    state: ExecState, qty, last_price, aggression, n_symbols: int, order_type=None
) -> OrderIntent:
    """One replaced slot per (agent, symbol): ``qty`` [N] lots on the agent's symbol at
    ``aggression`` ticks through the last price, nothing (cancel) elsewhere; ``order_type``
    (a code, None: limit) makes the child orders IOC, market or FOK orders."""
    own = state.symbol[:, None] == jnp.arange(n_symbols)  # (N, S)
    is_buy = jnp.broadcast_to((state.side > 0)[:, None], own.shape)
    last = last_price[None, :]
    price = clip_price(jnp.where(is_buy, last + aggression, last - aggression))
    lots = jnp.where(own, qty[:, None], 0).astype(jnp.int32)
    replace = jnp.ones(own.shape + (1,), bool)
    intent = OrderIntent(price[..., None], lots[..., None], is_buy[..., None], replace)
    if order_type is None:
        return intent
    order_types = jnp.full(replace.shape, order_type, jnp.int32)
    return dataclasses.replace(intent, order_type=order_types)  # .replace is the mask


def twap_goal(tick, start, horizon, target) -> jnp.ndarray:
    """int32[N] lots due by the end of this tick: round(target * clip((t-start+1)/H, 0, 1))."""
    done = jnp.clip(tick - start + 1, 0, horizon).astype(jnp.float32)
    return jnp.round(target * done / horizon).astype(jnp.int32)


@register
class TwapExecutor(Family):
    """Each tick, buy (sell) the shortfall against the linear TWAP schedule with a
    marketable limit ``aggression`` ticks through the last price; no orders before the
    start tick or once the horizon has passed (the last tick's unfilled rest is cancelled).
    ``order_types: ioc`` (or ``market``, ``fok``) sends the child orders as that type.
    """

    kind = "twap"
    Params = TwapParams
    supported_order_types = EXEC_ORDER_TYPES

    def validate(self, spec, params):
        check_exec_types(spec)

    def max_order_lots(self, params):
        return int(params.get("target", 1))

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def init_extra(self, spec, params, key):
        return init_exec(spec.n_agents, spec.n_symbols, params, key)

    def act(self, spec, params, extra, accounts, view, key):
        state, executed = track_start(extra, view.tick, accounts.position)
        goal = twap_goal(view.tick, state.start, params.horizon, params.target)
        live = ticks_left(state, view.tick, params.horizon) > 0
        qty = jnp.where(live, jnp.maximum(goal - executed, 0), 0)
        intent = marketable(
            state, qty, view.last_price, params.aggression, spec.n_symbols, exec_order_type(spec)
        )
        return intent, state
