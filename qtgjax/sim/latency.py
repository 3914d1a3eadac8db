"""Latency: orders in flight between a decision and its venue, and stale market data.

A family's routed intent is a set of messages (its replaced slots, ``[N, S, V * O]``).
Each message draws a delay in ticks from its family's profile on the slot's venue::

    delay = clip(order_delay + U{-jitter..jitter} + regime, 0, max_delay)
    regime = round(regime_ticks * min(1, sqrt(volatility) * 1e4 / regime_vol_bps))

(the regime term: delay rises with the symbol's recent per-tick volatility, as real
latency spikes when markets move), and is lost with probability ``drop_prob``. A message
waits in a ring of ``max_delay + 1`` ticks (static) at slot ``(tick + delay) mod (D + 1)``
and reaches its venue at the start of that tick. Nothing is lost silently; per family and
venue each tick counts messages

* ``delivered``: arrived and applied (a cancel-replace of the slot on the venue);
* ``late``: arrived after a newer message of the same slot was applied, or overtaken by a
  newer one arriving on the same tick: discarded, as an exchange discards a
  cancel-replace older than the last one it applied;
* ``dropped``: lost in transit.

Market data: family ``f`` sees venue ``v`` as it was ``data_delay[f, v]`` ticks ago, and
the consolidated fields as of its freshest venue (a ring of past views).
With ``max_delay = 0`` (the default) none of this is compiled in; with it, only the
families that have a latency profile (``SimStatic.delayed``) carry rings: the others act on
the fresh view and their messages count as delivered at once with no delay
(:func:`direct_counts`, the same numbers a zero-delay ring gives).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, random_bits, scaled_field
from qtgjax.market.types import MarketView, OrderIntent
from qtgjax.tree import pytree

REPORTED = ("price", "qty", "is_buy")  # what Transit keeps of a message that never arrived
TYPED_FIELDS = ("order_type", "stop_price", "peg_offset", "display")  # of a typed message

PROFILE_KEYS = (
    "order_delay",
    "jitter",
    "data_delay",
    "drop_prob",
    "regime_ticks",
    "regime_vol_bps",
)


@pytree
class LatencyParams:
    """Per family and venue, [F, V] each.

    Attributes:
        order_delay: int32 mean ticks from decision to arrival.
        jitter: int32 half-width of the uniform integer jitter, ticks.
        data_delay: int32 age of the venue's market data the family acts on, ticks.
        drop_prob: float32 probability that a message is lost in transit.
        regime_ticks: int32 extra delay at full volatility, ticks.
        regime_vol_bps: float32 per-tick volatility (sd of log returns, bp) at which the
            full regime term applies.
    """

    order_delay: jnp.ndarray
    jitter: jnp.ndarray
    data_delay: jnp.ndarray
    drop_prob: jnp.ndarray
    regime_ticks: jnp.ndarray
    regime_vol_bps: jnp.ndarray


@pytree
class InFlight:
    """One family's messages in flight, ring [D + 1, N, S, V * O] (slot = arrival tick
    mod D + 1), and what each of its venue slots last applied.

    Attributes:
        price, qty, is_buy: the message (a cancel-replace; qty 0 cancels).
        sent: int32 decision tick of the message, -1 = empty.
        delay: int32 ticks the message was given.
        applied: int32[N, S, V * O] decision tick of the last applied message, -1 = none.
        order_type, stop_price, peg_offset, display: int32, the message's order-type
            fields (:class:`~qtgjax.market.types.OrderIntent`); None in a market of limit
            orders (``SimStatic.order_types`` empty).
    """

    price: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray
    sent: jnp.ndarray
    delay: jnp.ndarray
    applied: jnp.ndarray
    order_type: Any = None
    stop_price: Any = None
    peg_offset: Any = None
    display: Any = None

    @staticmethod
    def empty(max_delay: int, shape, typed: bool = False) -> InFlight:
        ring = (max_delay + 1, *shape)
        zeros = jnp.zeros(ring, jnp.int32)
        types = (zeros,) * len(TYPED_FIELDS) if typed else ()
        return InFlight(
            zeros, zeros, jnp.zeros(ring, bool), zeros - 1, zeros, zeros[0] - 1, *types
        )

    def message_fields(self) -> tuple[str, ...]:
        """The fields of the message a ring slot holds."""
        return ("price", "qty", "is_buy") + (TYPED_FIELDS if self.order_type is not None else ())


@pytree
class LatencyState:
    """Attributes:
    inflight: per family, :class:`InFlight` (None for a family without a profile).
    views: the last D + 1 market views (ring by tick mod D + 1).
    """

    inflight: tuple
    views: MarketView


@pytree
class LatencyRecord:
    """Per tick, int32[F, V] each: messages delivered, late, dropped, and the sum of the
    delays of the delivered ones (ticks; mean = delay_sum / delivered)."""

    delivered: jnp.ndarray
    late: jnp.ndarray
    dropped: jnp.ndarray
    delay_sum: jnp.ndarray


def init_latency(static, view: MarketView, accounts) -> LatencyState:
    """Empty rings; every past view is the initial one."""
    d = static.max_delay
    views = jax.tree.map(lambda x: jnp.broadcast_to(x, (d + 1, *jnp.shape(x))), view)
    inflight = tuple(
        InFlight.empty(d, a.orders.qty.shape, bool(static.order_types))
        if static.in_flight(i)
        else None
        for i, a in enumerate(accounts)
    )
    return LatencyState(inflight, views)


def push_view(views: MarketView, view: MarketView, tick, max_delay: int) -> MarketView:
    """The ring of views with this tick's written at ``tick mod D + 1``."""
    slot = tick % (max_delay + 1)
    return jax.tree.map(lambda ring, x: ring.at[slot].set(x), views, view)


def stale_view(views: MarketView, tick, data_delay, max_delay: int) -> MarketView:
    """A family's view: venue v's data ``data_delay[v]`` ticks old, the rest as of its
    freshest venue (``views`` already holds this tick's)."""
    size = max_delay + 1
    fresh = jnp.min(data_delay)
    base = jax.tree.map(lambda ring: ring[(tick - fresh) % size], views)
    if base.venues is None:
        return base
    slots = (tick - data_delay) % size  # [V]
    venues = jax.tree.map(lambda ring: ring[slots, jnp.arange(slots.shape[0])], views.venues)
    return base.replace(venues=venues)


@pytree
class Transit:
    """One family's messages of one tick that never reached the book, [N, S, V * O] each
    (what ``fills.parquet`` reports as rejected, reason ``dropped`` or ``late``).

    Attributes:
        dropped: bool this tick's message of the slot was lost in transit.
        overtaken: bool an older message of the slot, due the same tick as this tick's
            message, was discarded for it (counted late).
        lost: OrderIntent the dropped or overtaken message (``replace`` = either).
        late: OrderIntent the message that arrived this tick after a newer one of its slot
            had been applied, discarded (``replace`` = there is one).
    """

    dropped: jnp.ndarray
    overtaken: jnp.ndarray
    lost: OrderIntent
    late: OrderIntent


def send_and_deliver(
    flight: InFlight,
    intent: OrderIntent,
    tick,
    lat: LatencyParams,
    volatility,
    n_venues: int,
    max_delay: int,
    key,
):
    """Put this tick's messages in flight and take out those arriving now.

    Args:
        intent: routed [N, S, V * O]. lat: this family's LatencyParams, [V] each.
        volatility: float32[S] squared-return EMA (the regime term's input).

    Returns:
        (the arriving intent to merge, new InFlight, (delivered, late, dropped, delay_sum)
        int32[V] each, the tick's :class:`Transit`: the messages behind its ``late`` and
        ``dropped`` counts, slot by slot).
    """
    size = max_delay + 1
    shape = intent.qty.shape
    n_slots = shape[-1] // n_venues
    venue = jax.lax.broadcasted_iota(jnp.int32, shape, 2) // n_slots

    def of(x):
        return x[venue]

    vol_bps = jnp.sqrt(jnp.maximum(volatility, 0.0)) * 1e4  # [S]
    level = jnp.minimum(vol_bps[None, :, None] / jnp.maximum(of(lat.regime_vol_bps), 1e-6), 1.0)
    regime = jnp.round(of(lat.regime_ticks) * level).astype(jnp.int32)
    bits = random_bits(key, shape)
    jitter = scaled_field(bits, 16, 16, -of(lat.jitter), of(lat.jitter))
    delay = jnp.clip(of(lat.order_delay) + jitter + regime, 0, max_delay)
    lost = bernoulli_from_bits(bits, of(lat.drop_prob))
    send = intent.replace & ~lost
    arrive = (tick + delay) % size
    ring_slot = jax.lax.broadcasted_iota(jnp.int32, (size, *shape), 0)
    write = send[None] & (ring_slot == arrive[None])
    overtaken = write & (flight.sent >= 0)  # an older message due the same tick

    def due(x):  # the message already due at this message's arrival slot
        return jnp.take_along_axis(x, arrive[None], 0)[0]

    was_overtaken = overtaken.any(0)
    fields = flight.message_fields()
    message = {name: message_field(intent, name, shape) for name in fields}
    lost_msg = OrderIntent(  # what the reports show of it: lots, limit, side
        replace=(intent.replace & lost) | was_overtaken,
        **{
            name: jnp.where(was_overtaken, due(getattr(flight, name)), message[name])
            for name in REPORTED
        },
    )
    flight = flight.replace(
        sent=jnp.where(write, tick, flight.sent),
        delay=jnp.where(write, delay[None], flight.delay),
        **{name: jnp.where(write, x[None], getattr(flight, name)) for name, x in message.items()},
    )
    now = tick % size
    sent = flight.sent[now]
    arrived = sent >= 0
    fresh = arrived & (sent > flight.applied)
    stale = arrived & ~fresh

    def arriving(replace, names=fields):  # the messages in the ring slot due now
        return OrderIntent(replace=replace, **{n: getattr(flight, n)[now] for n in names})

    out = arriving(fresh)
    flight = flight.replace(
        sent=flight.sent.at[now].set(-1),
        applied=jnp.where(fresh, sent, flight.applied),
    )

    def count(mask, values=None):
        return venue_count(mask, n_venues, values)

    counts = (
        count(fresh),
        count(stale) + count(was_overtaken),
        count(intent.replace & lost),
        count(fresh, flight.delay[now]),
    )
    late = arriving(stale, REPORTED)
    return out, flight, counts, Transit(intent.replace & lost, was_overtaken, lost_msg, late)


def message_field(intent: OrderIntent, name: str, shape):
    """Field ``name`` of a routed intent as an array of ``shape`` (an order-type field a
    family leaves unset, None, is 0: a limit order)."""
    x = getattr(intent, name)
    if x is None:
        return jnp.zeros(shape, jnp.int32)
    return jnp.broadcast_to(x, shape)


def venue_count(mask, n_venues: int, values=None):
    """bool[N, S, V * O] (or the ``values`` where true) summed per venue: int32[V]."""
    n, s, vo = mask.shape
    x = mask.astype(jnp.int32) if values is None else jnp.where(mask, values, 0)
    return x.reshape(n, s, n_venues, vo // n_venues).sum((0, 1, 3))


def direct_counts(intent: OrderIntent, n_venues: int):
    """(delivered, late, dropped, delay_sum) int32[V] of a family without a profile: every
    message arrives at once."""
    delivered = venue_count(intent.replace, n_venues)
    zero = jnp.zeros_like(delivered)
    return delivered, zero, zero, zero


def no_transit(intent: OrderIntent) -> Transit:
    """The :class:`Transit` of a family without a profile: nothing dropped or late."""
    none = jnp.zeros_like(intent.replace)
    quiet = OrderIntent(intent.price, intent.qty, intent.is_buy, none)
    return Transit(none, none, quiet, quiet)
