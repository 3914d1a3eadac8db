"""Per-level depth records: the top price levels of each side of the residual book.

``qtgjax-run record.depth=K record.depth_every=N`` records, after the auctions of ticks
0, N, 2N, ..., the K best non-empty price levels of each side of every (venue, symbol)
residual book (what rests on the grid after the auction: the book that ``best_bid``,
``best_ask``, ``bid_depth`` and ``ask_depth`` of ``ticks.parquet`` summarise).
``depth.parquet`` holds them (schema in the README).

The record is a function of the residual book alone (:func:`top_levels`), called from the
rollout's scan only when ``SimStatic.depth.levels > 0``: with records off the rollout is
traced exactly as without this module (a Python branch on a static field), so it costs
nothing. Shapes, per scenario: S symbols (V * S books with V venues, venue-major), L =
``levels`` recorded per side, R = rows.

This module imports no other part of the engine: the scan gets the tick function as an
argument (:func:`scan_with_depth`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.market.auction import LevelTotals
from qtgjax.tree import pytree

BID, ASK = 0, 1  # index of the side axis


@dataclass(frozen=True)
class DepthSpec:
    """What to record of the book per level (static: it fixes the record's shape).

    Attributes:
        levels: L, price levels recorded per side (0 = no depth record).
        every: N, ticks between records; the record holds ticks 0, N, 2N, ...
    """

    levels: int = 0
    every: int = 1

    def rows(self, n_ticks: int) -> int:
        """R, records in a run of ``n_ticks`` ticks: ceil(n_ticks / every) (0 when off)."""
        return -(-n_ticks // self.every) if self.levels else 0

    def ticks(self, n_ticks: int) -> np.ndarray:
        """int64[R] the tick of each record."""
        return np.arange(self.rows(n_ticks), dtype=np.int64) * self.every


@pytree
class DepthLevels:
    """The best price levels per side of each symbol's residual book; side 0 = bids (best =
    highest price first), 1 = asks (best = lowest price first). A rollout stacks a leading
    record axis R (and ``vmap`` a scenario axis B in front of it).

    Attributes:
        price: int32[V * S, 2, L] price of the level, ticks (0 where the side has fewer
            than L non-empty levels); book ``v * S + s`` is symbol s on venue v.
        lots: int32[V * S, 2, L] lots resting at that level (0 where there is no level).
    """

    price: jnp.ndarray
    lots: jnp.ndarray


def top_levels(residual: LevelTotals, anchor, n_levels: int, levels: int) -> DepthLevels:
    """The ``levels`` best non-empty levels per side of the residual book.

    Args:
        residual: int32[S, K] lots per grid level and side after the auction.
        anchor: int32[S] price at the grid centre (level K // 2) of that auction, ticks.
        n_levels: K.
        levels: L <= K.
    """
    grid = jnp.arange(n_levels, dtype=jnp.int32)
    # Best first: the highest bid level, the lowest ask level; -1 ranks empty levels last.
    bid_rank = jnp.where(residual.buy > 0, grid, -1)
    ask_rank = jnp.where(residual.sell > 0, n_levels - 1 - grid, -1)
    _, bid_at = jax.lax.top_k(bid_rank, levels)
    _, ask_at = jax.lax.top_k(ask_rank, levels)
    at = jnp.stack([bid_at, ask_at], axis=1)  # [S, 2, L] grid levels
    lots = jnp.stack(
        [
            jnp.take_along_axis(residual.buy, bid_at, axis=-1),
            jnp.take_along_axis(residual.sell, ask_at, axis=-1),
        ],
        axis=1,
    )
    base = (anchor - n_levels // 2)[:, None, None]
    price = jnp.where(lots > 0, base + at, 0)
    return DepthLevels(price=price.astype(jnp.int32), lots=lots.astype(jnp.int32))


def scan_with_depth(step_book: Callable, state, keys, spec: DepthSpec, n_levels: int):
    """``lax.scan`` of one scenario's ticks that also records the depth.

    Args:
        step_book: ``(state, key) -> (state, record, (residual, anchor))``, one tick that
            also returns its residual book and the anchor of its auction.
        state: the state before the first tick.
        keys: one key per tick, [T] (or any pytree of [T, ...] arrays: what ``step_book``
            takes as its second argument each tick).
        spec: the depth to record (``spec.levels > 0``).
        n_levels: K, grid levels of a book.

    Returns:
        (final state, records stacked over T ticks, DepthLevels stacked over R records).
    """
    n_ticks = jax.tree.leaves(keys)[0].shape[0]

    def snapshot(state, key):
        state, record, (residual, anchor) = step_book(state, key)
        return state, record, top_levels(residual, anchor, n_levels, spec.levels)

    if spec.every == 1:

        def tick(state, key):
            state, record, depth = snapshot(state, key)
            return state, (record, depth)

        final, (records, depth) = jax.lax.scan(tick, state, keys)
        return final, records, depth

    rows = spec.rows(n_ticks)
    _, _, depth0 = jax.eval_shape(snapshot, state, jax.tree.map(lambda x: x[0], keys))
    empty = jax.tree.map(lambda x: jnp.zeros((rows, *x.shape), x.dtype), depth0)

    def tick_every(carry, xs):
        state, buffer = carry
        key, t = xs
        state, record, depth = snapshot(state, key)
        row = t // spec.every
        keep = t % spec.every == 0
        buffer = jax.tree.map(
            lambda buf, new: jax.lax.dynamic_update_index_in_dim(
                buf, jnp.where(keep, new, buf[row]), row, 0
            ),
            buffer,
            depth,
        )
        return (state, buffer), record

    ticks = jnp.arange(n_ticks, dtype=jnp.int32)
    (final, depth), records = jax.lax.scan(tick_every, (state, empty), (keys, ticks))
    return final, records, depth
