"""Execution reports: every order's fill, rejection or cancellation, per tick.

``qtgjax-run record.fills=true`` records, for the ticks ``[record.fills_from,
record.fills_to)`` of every scenario, each order slot (on every venue) of the first
``record.fills_agents`` agents of the families named in ``record.fills_families`` (all by
default): the lots it filled at its book's clearing price, its side, whether it rested
before the auction (maker) or is new (taker), its fee (the family's rate plus the venue's),
whether it was rejected (off the grid, or cut to nothing by the position limit) or
cancelled by its family (replaced, expired or withdrawn), and, with order types, its
placed type and what its type cancelled after the auction (a crossing post-only order, an
FOK order not fillable, the unfilled rest of a market / IOC / fired stop order). With
latency, the messages that never reached the book are rejected too: lost in transit
(``dropped``) or discarded as older than a message of the slot already applied (``late``).
``fills.parquet`` holds them (schema in the README); :func:`qtgjax.io.fills.fills_table`
builds it.

Off by default: then the rollout is traced exactly as without this module (a Python branch
on a static field). Shapes, per scenario: per family n = recorded agents, S symbols, V * O
slots (slot ``v * O + o``: slot o on venue v), R = recorded ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.market import order_types as ot
from qtgjax.sim.venues import fees_per_order, venue_limits
from qtgjax.tree import pytree

# bits of FillRows.flags
BUY, MAKER, OFF_GRID, POSITION_LIMIT, CANCELLED, CANCELLED_BUY, EXPIRED = 1, 2, 4, 8, 16, 32, 64
# bits of TransitRows.flags
DROPPED, OVERTAKEN, LATE, LOST_BUY, LATE_BUY = 1, 2, 4, 8, 16


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
class TransitRows:
    """One recorded family's messages that never reached the book in one tick (only with
    latency), [n, S, V * O] each.

    Attributes:
        flags: int8 bits DROPPED (this tick's message lost in transit), OVERTAKEN (an older
            message due the same tick as this tick's was discarded for it), LATE (a message
            arrived after a newer one of its slot had been applied, discarded), LOST_BUY
            (the dropped or overtaken message's side), LATE_BUY (the late message's side).
        lost_lots, lost_limit: int32 lots and limit (ticks) of the dropped or overtaken
            message (lots 0: a cancel).
        late_lots, late_limit: int32 the late message's.
    """

    flags: jnp.ndarray
    lost_lots: jnp.ndarray
    lost_limit: jnp.ndarray
    late_lots: jnp.ndarray
    late_limit: jnp.ndarray


@pytree
class FillRows:
    """One recorded family's orders in one tick (a rollout stacks R, then B, in front).

    Attributes:
        lots: int32[n, S, V * O] lots the order filled this tick (at its book's clearing
            price).
        limit: int32[n, S, V * O] the order's limit price, ticks.
        fee: int32[n, S, V * O] fee on the fill, cash units (negative = rebate).
        flags: int8[n, S, V * O] bits BUY, MAKER (rested before the auction), OFF_GRID and
            POSITION_LIMIT (rejected), CANCELLED (the order that rested in the slot before
            this tick was cancelled by its family), CANCELLED_BUY (that order's side),
            EXPIRED (that cancellation was its time-in-force: the family's
            :meth:`~qtgjax.agents.types.Family.expired` rule, no new order in the slot).
        rejected_lots: int32[n, S, V * O] lots of a rejected order (OFF_GRID, POSITION_LIMIT).
        cancelled_lots: int32[n, S, V * O] lots of the cancelled order.
        cancelled_limit: int32[n, S, V * O] its limit price, ticks.
        transit: :class:`TransitRows` with latency, else None.
        order_type: int8[n, S, V * O] the placed type of this tick's order
            (:func:`qtgjax.market.order_types.placed_type`: a fired stop is a stop); None in
            a market of limit orders.
        cancelled_type: int8[n, S, V * O] the placed type of the cancelled order (None as
            ``order_type``).
        killed_lots: int32[n, S, V * O] lots cancelled by the order's type after the
            auction (market / IOC / FOK / fired stop rests, crossing post-only orders);
            None as ``order_type``.
    """

    lots: jnp.ndarray
    limit: jnp.ndarray
    fee: jnp.ndarray
    flags: jnp.ndarray
    rejected_lots: jnp.ndarray
    cancelled_lots: jnp.ndarray
    cancelled_limit: jnp.ndarray
    transit: TransitRows | None = None
    order_type: jnp.ndarray | None = None
    cancelled_type: jnp.ndarray | None = None
    killed_lots: jnp.ndarray | None = None


def fill_rows(static, detail, params) -> tuple[tuple[FillRows, ...], jnp.ndarray]:
    """The recorded families' :class:`FillRows` of one tick and the clearing price of each
    book, int32[V * S] (book ``v * S + s``).

    Args:
        static: the market's ``SimStatic`` (``static.fills`` says what is recorded).
        detail: the tick's :class:`qtgjax.sim.tick.TickDetail`.
        params: the market's ``SimParams`` (the families' and venues' fee rates).
    """
    spec, n_venues = static.fills, static.n_venues
    rows = []
    for f, n in zip(spec.families, spec.agents, strict=True):

        def head(x, n=n):
            return x[:n]

        o, r = jax.tree.map(head, detail.orders[f]), jax.tree.map(head, detail.resting[f])
        lots, dropped, limited = (
            head(x[f]) for x in (detail.fills, detail.dropped, detail.limited)
        )
        rates = venue_limits(params.accounts[f], params.venues, static.n_symbols)
        fee = fees_per_order(o, lots, detail.price, rates, n_venues)
        # its slot was replaced (qty 0: withdrawn); a stop that fired keeps its slot
        placed = o.age == 0 if detail.placed is None else head(detail.placed[f])
        cancelled = (r.qty > 0) & placed
        # cancelled by its time-in-force: the family's rule, and no new order in the slot
        family = static.families[f]
        rule = get_family(family.kind).expired(family, params.strategies[f], r)
        withdrawn = cancelled & (o.qty == 0) & (dropped + limited == 0)
        expired = jnp.zeros_like(cancelled) if rule is None else withdrawn & rule
        flags = (
            jnp.where(o.is_buy, BUY, 0)
            | jnp.where(o.age > 0, MAKER, 0)
            | jnp.where(dropped > 0, OFF_GRID, 0)
            | jnp.where(limited > 0, POSITION_LIMIT, 0)
            | jnp.where(cancelled, CANCELLED, 0)
            | jnp.where(cancelled & r.is_buy, CANCELLED_BUY, 0)
            | jnp.where(expired, EXPIRED, 0)
        ).astype(jnp.int8)
        transit = typed = None
        if detail.transit is not None:
            transit = transit_rows(jax.tree.map(head, detail.transit[f]))
        if detail.killed is not None:
            typed = {
                "order_type": ot.placed_type(o.order_type).astype(jnp.int8),
                "cancelled_type": ot.placed_type(r.order_type).astype(jnp.int8),
                "killed_lots": head(detail.killed[f]),
            }
        rows.append(
            FillRows(
                lots=lots,
                limit=o.price,
                fee=fee,
                flags=flags,
                rejected_lots=dropped + limited,
                cancelled_lots=jnp.where(cancelled, r.qty, 0),
                cancelled_limit=jnp.where(cancelled, r.price, 0),
                transit=transit,
                **(typed or {}),
            )
        )
    return tuple(rows), detail.price


def transit_rows(t) -> TransitRows:
    """:class:`TransitRows` of one family's :class:`~qtgjax.sim.latency.Transit`."""
    lost, late = t.lost, t.late
    flags = (
        jnp.where(t.dropped, DROPPED, 0)
        | jnp.where(t.overtaken, OVERTAKEN, 0)
        | jnp.where(late.replace, LATE, 0)
        | jnp.where(lost.replace & lost.is_buy, LOST_BUY, 0)
        | jnp.where(late.replace & late.is_buy, LATE_BUY, 0)
    ).astype(jnp.int8)
    return TransitRows(
        flags=flags,
        lost_lots=jnp.where(lost.replace, lost.qty, 0),
        lost_limit=jnp.where(lost.replace, lost.price, 0),
        late_lots=jnp.where(late.replace, late.qty, 0),
        late_limit=jnp.where(late.replace, late.price, 0),
    )


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
