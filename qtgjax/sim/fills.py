"""Execution reports: every order's fill, rejection or cancellation, per tick.

``qtgjax-run record.fills=true`` records, for the ticks ``[record.fills_from,
record.fills_to)`` of every scenario, each order slot of the first ``record.fills_agents``
agents of the families named in ``record.fills_families`` (all by default): the lots it
filled at the tick's clearing price, its side, whether it rested before the auction
(maker) or is new (taker), its fee, and whether it was rejected (off the grid, or cut to
nothing by the position limit) or cancelled by its family (replaced, expired or withdrawn).
``fills.parquet`` holds them (schema in the README); :func:`qtgjax.io.fills.fills_table`
builds it.

Off by default: then the rollout is traced exactly as without this module (a Python branch
on a static field). Shapes, per scenario: per family n = recorded agents, S symbols, O slots,
R = recorded ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from qtgjax.sim.settle import basis_points
from qtgjax.tree import pytree

# bits of FillRows.flags
BUY, MAKER, OFF_GRID, POSITION_LIMIT, CANCELLED, CANCELLED_BUY = 1, 2, 4, 8, 16, 32


@dataclass(frozen=True)
class FillsSpec:
    """Which orders the execution reports cover (static: it fixes the record's shape).

    Attributes:
        on: record execution reports.
        families: indices of the recorded families, in result order.
        agents: per recorded family, the agents recorded (the first ones; agents of a
            family are exchangeable draws, so they are a sample).
        start, stop: recorded ticks ``[start, stop)``.
    """

    on: bool = False
    families: tuple[int, ...] = ()
    agents: tuple[int, ...] = ()
    start: int = 0
    stop: int = 0

    @property
    def rows(self) -> int:
        """R, recorded ticks."""
        return self.stop - self.start if self.on else 0


@pytree
class FillRows:
    """One recorded family's orders in one tick (a rollout stacks R, then B, in front).

    Attributes:
        lots: int32[n, S, O] lots the order filled this tick (at the clearing price).
        limit: int32[n, S, O] the order's limit price, ticks.
        fee: int32[n, S, O] fee on the fill, cash units (negative = rebate).
        flags: int8[n, S, O] bits BUY, MAKER (rested before the auction), OFF_GRID and
            POSITION_LIMIT (rejected), CANCELLED (the order that rested in the slot before
            this tick was cancelled by its family), CANCELLED_BUY (that order's side).
        rejected_lots: int32[n, S, O] lots of a rejected order (OFF_GRID, POSITION_LIMIT).
        cancelled_lots: int32[n, S, O] lots of the cancelled order.
        cancelled_limit: int32[n, S, O] its limit price, ticks.
    """

    lots: jnp.ndarray
    limit: jnp.ndarray
    fee: jnp.ndarray
    flags: jnp.ndarray
    rejected_lots: jnp.ndarray
    cancelled_lots: jnp.ndarray
    cancelled_limit: jnp.ndarray


def fill_rows(spec: FillsSpec, detail, accounts_params) -> tuple[tuple[FillRows, ...], jnp.ndarray]:
    """The recorded families' :class:`FillRows` of one tick and its clearing price int32[S].

    Args:
        detail: the tick's :class:`qtgjax.sim.tick.TickDetail`.
        accounts_params: per family, its :class:`~qtgjax.agents.types.AccountParams`.
    """
    rows = []
    for f, n in zip(spec.families, spec.agents, strict=True):

        def head(x, n=n):
            return x[:n]

        o, r = jax.tree.map(head, detail.orders[f]), jax.tree.map(head, detail.resting[f])
        lots, dropped, limited = (
            head(x[f]) for x in (detail.fills, detail.dropped, detail.limited)
        )
        maker = o.age > 0
        limits = accounts_params[f]
        rate = jnp.where(maker, limits.maker_bps, limits.taker_bps)
        fee = basis_points(lots.astype(jnp.float32) * detail.price[None, :, None], rate)
        cancelled = (r.qty > 0) & (o.age == 0)  # its slot was replaced (qty 0: withdrawn)
        flags = (
            jnp.where(o.is_buy, BUY, 0)
            | jnp.where(maker, MAKER, 0)
            | jnp.where(dropped > 0, OFF_GRID, 0)
            | jnp.where(limited > 0, POSITION_LIMIT, 0)
            | jnp.where(cancelled, CANCELLED, 0)
            | jnp.where(cancelled & r.is_buy, CANCELLED_BUY, 0)
        ).astype(jnp.int8)
        rows.append(
            FillRows(
                lots=lots,
                limit=o.price,
                fee=fee,
                flags=flags,
                rejected_lots=dropped + limited,
                cancelled_lots=jnp.where(cancelled, r.qty, 0),
                cancelled_limit=jnp.where(cancelled, r.price, 0),
            )
        )
    return tuple(rows), detail.price


def empty_rows(spec: FillsSpec, example):
    """Zero buffers of R recorded ticks shaped like ``example`` (one tick's rows)."""
    return jax.tree.map(lambda x: jnp.zeros((spec.rows, *x.shape), x.dtype), example)


def write_row(spec: FillsSpec, buffer, rows, tick):
    """``buffer`` with ``rows`` written at ``tick - start`` when the tick is recorded."""
    keep = (tick >= spec.start) & (tick < spec.stop)
    at = jnp.clip(tick - spec.start, 0, spec.rows - 1)
    return jax.tree.map(
        lambda buf, new: jax.lax.dynamic_update_index_in_dim(
            buf, jnp.where(keep, new, buf[at]), at, 0
        ),
        buffer,
        rows,
    )
