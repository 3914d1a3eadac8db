"""Recorded order flow as a family: historical order events enter the batch auction.

Each agent of the family is one *slot* that holds one recorded order at a time (orders
whose lifetimes do not overlap share a slot; :mod:`qtgjax.backtest.book` assigns them).
Every tick the family applies that tick's events (a fixed-size window of a sorted event
list in its params) to its own copy of the recorded book and shows the auction the orders
that fit on the grid; the rest is parked and re-enters when the grid comes near. What the
auction fills is gone from the recorded book too, so simulated agents take recorded
liquidity and move the price the recorded orders see.

Ops: SET (an order appears: price, lots, side), REDUCE (lots cancelled), CANCEL (what is
left is cancelled; a no-op if the auction already filled it), TAKE (an incoming marketable
order: in the book for one auction, its rest cancelled before the next).
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, array_param
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree

SET, REDUCE, CANCEL, TAKE = 0, 1, 2, 3


@pytree
class ReplayParams:
    """The event schedule (M events sorted by tick; E = the most events in one tick).

    Attributes:
        start: int32[T + 1] index of the first event of each tick (start[T] = M).
        slot: int32[M] agent (slot) the event is about.
        symbol: int32[M] its symbol.
        op: int32[M] SET, REDUCE, CANCEL or TAKE.
        price: int32[M] limit price, ticks (SET/TAKE).
        qty: int32[M] lots (SET/TAKE: the order's size; REDUCE: lots cancelled).
        is_buy: bool[M] side (SET/TAKE).
        window: int32[E] 0..E-1 (its length is the static window of events per tick).
    """

    start: jnp.ndarray = array_param()
    slot: jnp.ndarray = array_param()
    symbol: jnp.ndarray = array_param()
    op: jnp.ndarray = array_param()
    price: jnp.ndarray = array_param()
    qty: jnp.ndarray = array_param()
    is_buy: jnp.ndarray = array_param()
    window: jnp.ndarray = array_param()


@pytree
class ReplayState:
    """The family's copy of the recorded book, per (slot, symbol).

    Attributes:
        price: int32[N, S] limit, ticks (may lie off the grid or above MAX_PRICE_TICKS).
        qty: int32[N, S] lots left (0 = no order).
        is_buy: bool[N, S] side.
        taker: bool[N, S] an incoming order: cancelled before the next auction.
        shown: bool[N, S] the order was in the book in the last auction.
    """

    price: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray
    taker: jnp.ndarray
    shown: jnp.ndarray


def apply_events(state: ReplayState, params: ReplayParams, tick, n_symbols: int) -> tuple:
    """This tick's events applied (at most one per slot and symbol per tick, so the
    scatters are deterministic). Returns (state, touched bool[N, S])."""
    n = state.qty.shape[0]
    index = params.start[tick] + params.window
    live = index < params.start[tick + 1]
    index = jnp.minimum(index, params.slot.shape[0] - 1)
    flat = jnp.where(live, params.slot[index] * n_symbols + params.symbol[index], n * n_symbols)
    op, qty = params.op[index], params.qty[index]
    placed = (op == SET) | (op == TAKE)
    old_qty = state.qty.reshape(-1)
    current = old_qty[jnp.minimum(flat, n * n_symbols - 1)]
    new_qty = jnp.select([placed, op == REDUCE], [qty, jnp.maximum(current - qty, 0)], 0)

    def put(field, value, where):
        base = field.reshape(-1)
        old = base[jnp.minimum(flat, n * n_symbols - 1)]
        return base.at[flat].set(jnp.where(where, value, old), mode="drop").reshape(field.shape)

    touched = jnp.zeros(n * n_symbols, bool).at[flat].set(True, mode="drop").reshape(n, -1)
    return ReplayState(
        price=put(state.price, params.price[index], placed),
        qty=put(state.qty, new_qty, True),
        is_buy=put(state.is_buy, params.is_buy[index], placed),
        taker=put(state.taker, op == TAKE, True),
        shown=state.shown,
    ), touched


@register
class Replay(Family):
    """Historical order events as orders in the auction (see the module docstring)."""

    kind = "replay"
    Params = ReplayParams
    external = True  # its orders come from recorded data, not from a strategy

    def init_extra(self, spec, params, key):
        shape = (spec.n_agents, spec.n_symbols)
        zeros = jnp.zeros(shape, jnp.int32)
        off = jnp.zeros(shape, bool)
        return ReplayState(zeros, zeros, off, off, off)

    def act(self, spec, params, extra: ReplayState, accounts, view, key):
        resting = accounts.orders.qty[..., 0]
        qty = jnp.where(extra.shown, resting, extra.qty)  # what the auction left
        qty = jnp.where(extra.taker, 0, qty)  # incoming orders live one auction
        state, touched = apply_events(extra.replace(qty=qty), params, view.tick, spec.n_symbols)
        half = spec.n_levels // 2
        low, high = view.anchor - half, view.anchor + half - 1
        fits = jnp.where(state.is_buy, state.price >= low[None, :], state.price <= high[None, :])
        shown = (state.qty > 0) & fits & (state.price <= MAX_PRICE_TICKS) & (state.price >= 1)
        keep = shown & extra.shown & ~touched & ~extra.taker
        intent = OrderIntent(
            price=jnp.clip(state.price, 1, MAX_PRICE_TICKS)[..., None],
            qty=jnp.where(shown, state.qty, 0)[..., None],
            is_buy=state.is_buy[..., None],
            replace=~keep[..., None],
        )
        return intent, state.replace(shown=shown)
