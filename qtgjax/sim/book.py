"""Orders of all families as one flat book per symbol on the price grid."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import clip_price, limit_to_position
from qtgjax.market.types import OrderIntent, Orders


def merge_intent(resting: Orders, intent: OrderIntent, position, max_position) -> Orders:
    """This tick's orders [N, S, O]: replaced slots take the intent (age 0), kept slots age.

    Every order is cut so that its full fill keeps |position| <= max_position.
    """
    replace = intent.replace
    is_buy = jnp.where(replace, intent.is_buy, resting.is_buy)
    qty = jnp.where(replace, intent.qty, resting.qty)
    qty = limit_to_position(qty, is_buy, position[..., None], max_position)
    return Orders(
        price=jnp.where(replace, clip_price(intent.price), resting.price),
        qty=qty,
        is_buy=is_buy,
        age=jnp.where(replace, 0, resting.age + 1),
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
