"""Orders of all families as one book per symbol on the price grid.

The engine keeps each family's orders in its own [N, S, O] arrays; the functions below
scatter them onto the grid and scan them in the order of the flat book that
:func:`flatten` builds (family by family), which the tests use as the reference."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.agents.common import clip_price, limit_to_position
from qtgjax.market.auction import LevelTotals, prefix_sum
from qtgjax.market.types import OrderIntent, Orders


def merge_intent(resting: Orders, intent: OrderIntent, position, max_position) -> Orders:
    """This tick's orders [N, S, O]: replaced slots take the intent (age 0), kept slots age.

    Every order is cut so that its full fill keeps |position| <= max_position.
    """
    replace = intent.replace
    is_buy = jnp.where(replace, intent.is_buy, resting.is_buy)
    qty = jnp.where(replace, intent.qty, resting.qty)
    qty = limit_to_position(qty, is_buy, position[..., None], max_position)
    merged = Orders(
        price=jnp.where(replace, clip_price(intent.price), resting.price),
        qty=qty,
        is_buy=is_buy,
        age=jnp.where(replace, 0, resting.age + 1),
    )
    if resting.order_type is None:  # a market of limit orders: nothing more compiled
        return merged
    return merge_types(merged, resting, intent)


def merge_types(merged: Orders, resting: Orders, intent: OrderIntent) -> Orders:
    """The order-type fields of this tick's orders: the intent's where a slot is replaced
    (limit orders where the family sets none), the resting order's elsewhere; a new
    iceberg shows ``min(display, qty)`` lots (and no order shows more than its lots)."""
    replace = intent.replace

    def pick(new, old):
        new = jnp.zeros_like(old) if new is None else jnp.broadcast_to(new, old.shape)
        return jnp.where(replace, new.astype(old.dtype), old)

    display = pick(intent.display, resting.display)
    return merged.replace(
        order_type=pick(intent.order_type, resting.order_type),
        stop_price=pick(intent.stop_price, resting.stop_price),
        peg_offset=pick(intent.peg_offset, resting.peg_offset),
        display=display,
        shown=jnp.minimum(jnp.where(replace, display, resting.shown), merged.qty),
    )


def symbol_major(x):
    """[N, S, O] -> [S, N * O]."""
    n, s, o = x.shape
    return jnp.moveaxis(x, 1, 0).reshape(s, n * o)


def agent_major(x, n_agents: int, n_slots: int):
    """[S, N * O] -> [N, S, O]."""
    return jnp.moveaxis(x.reshape(x.shape[0], n_agents, n_slots), 0, 1)


def flatten(orders: tuple[Orders, ...]) -> Orders:
    """All families' orders as one [S, M] book per symbol, M = sum of N_f * O_f."""
    return Orders(
        *(
            jnp.concatenate([symbol_major(getattr(o, field)) for o in orders], axis=1)
            for field in ("price", "qty", "is_buy", "age")
        )
    )


def split(flat, orders: tuple[Orders, ...]) -> tuple[jnp.ndarray, ...]:
    """Cut an [S, M] array back into one [N_f, S, O_f] array per family."""
    out, start = [], 0
    for o in orders:
        n, _, k = o.qty.shape
        out.append(agent_major(flat[:, start : start + n * k], n, k))
        start += n * k
    return tuple(out)


def grid_levels(price, is_buy, anchor, n_levels: int):
    """Grid level of each order [S, M] and whether it is on the grid.

    A buy above the grid rests at the top level and a sell below it at the bottom level
    (they still never trade beyond their limit); a buy below or a sell above the grid is
    off the grid.
    """
    level = price - (anchor - n_levels // 2)[:, None]
    on_grid = jnp.where(is_buy, level >= 0, level < n_levels)
    return jnp.clip(level, 0, n_levels - 1), on_grid


class GridOrders(NamedTuple):
    """One family's orders on the grid, [N, S, O] each.

    Attributes:
        level: int32 grid level, clipped to [0, K).
        qty: int32 lots, 0 where the order is off the grid.
        is_buy: bool side.
        age: int32 age class in [0, n_ages).
        dropped: bool, an order (qty > 0) that is off the grid: cancelled and counted.
    """

    level: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray
    age: jnp.ndarray
    dropped: jnp.ndarray


def grid_level(price, is_buy, anchor, n_levels: int):
    """(int32 level clipped to [0, K), bool on the grid) of orders [N, S, O] (anchor: [S]);
    buys above / sells below the grid are on it, at its edge (see :func:`grid_levels`)."""
    level = price - (anchor - n_levels // 2)[None, :, None]
    inside = jnp.where(is_buy, level >= 0, level < n_levels)
    return jnp.clip(level, 0, n_levels - 1), inside


def on_grid(orders: Orders, anchor, n_levels: int, n_ages: int) -> GridOrders:
    """A family's orders [N, S, O] placed on the grids of their symbols (anchor: [S])."""
    level, inside = grid_level(orders.price, orders.is_buy, anchor, n_levels)
    return GridOrders(
        level=level,
        qty=jnp.where(inside, orders.qty, 0),
        is_buy=orders.is_buy,
        age=jnp.minimum(orders.age, n_ages - 1),
        dropped=(orders.qty > 0) & ~inside,
    )


def _symbol_index(shape, n_bins: int) -> jnp.ndarray:
    """int32 [N, S, O]: the first bin of each order's symbol in a flat [S * n_bins] array."""
    return jax.lax.broadcasted_iota(jnp.int32, shape, 1) * n_bins


def book_totals(grid: tuple[GridOrders, ...], n_symbols: int, n_levels: int):
    """Lots per level and side of every symbol's book, and orders dropped off the grid.

    One scatter-add per family into ``2K + 1`` bins per symbol (buys, sells, and a count
    of dropped orders), with no flattened copy of the book.

    Returns:
        (LevelTotals with int32[S, K] buy and sell, int32[S] dropped orders).
    """
    width = 2 * n_levels + 1
    bins = jnp.zeros(n_symbols * width, jnp.int32)
    for g in grid:
        side = jnp.where(g.is_buy, 0, n_levels)
        index = _symbol_index(g.qty.shape, width) + jnp.where(
            g.dropped, 2 * n_levels, side + g.level
        )
        bins = bins.at[index.reshape(-1)].add(
            jnp.where(g.dropped, 1, g.qty).reshape(-1), mode="promise_in_bounds"
        )
    bins = bins.reshape(n_symbols, width)
    totals = LevelTotals(bins[:, :n_levels], bins[:, n_levels : 2 * n_levels])
    return totals, bins[:, 2 * n_levels]


def class_volumes(grid: tuple[GridOrders, ...], on_cut: tuple, n_symbols: int, n_ages: int):
    """int32[S, n_ages]: lots per age class of the orders on each book's rationed side."""
    bins = jnp.zeros(n_symbols * n_ages, jnp.int32)
    for g, cut in zip(grid, on_cut, strict=True):
        index = _symbol_index(g.qty.shape, n_ages) + g.age
        bins = bins.at[index.reshape(-1)].add(
            jnp.where(cut, g.qty, 0).reshape(-1), mode="promise_in_bounds"
        )
    return bins.reshape(n_symbols, n_ages)


def book_prefix(values: tuple[jnp.ndarray, ...]) -> tuple[jnp.ndarray, ...]:
    """Inclusive prefix sums over each symbol's book in flat order (family by family,
    agent-major, slot-minor, as :func:`flatten` lays it out), one [N_f, S, O_f] per family.

    One scan over the concatenated book: a parallel scan's cost is mostly per pass, so one
    long scan is cheaper than one per family.
    """
    flat = prefix_sum(jnp.concatenate([symbol_major(x) for x in values], axis=1), axis=1)
    out, start = [], 0
    for x in values:
        n, _, k = x.shape
        out.append(agent_major(flat[:, start : start + n * k], n, k))
        start += n * k
    return tuple(out)
