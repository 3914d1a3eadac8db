"""Learning agents: order slots driven from outside the market (an RL environment).

The family holds, per agent, the order intent that its controller wrote before the tick
(:class:`LearnerState`); ``act`` returns it and clears it, so an agent nobody drives keeps
its resting orders and places no new ones. Orders go through the same merge, auction, fees
and exact settlement as every other family's. ``qtgjax.env`` writes the intent with
:func:`set_pending`, and with several venues, optionally, the venue of each order (an RL
task whose action chooses the venue); orders without one follow the family's route.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree

LEARNER_SLOTS = 2  # slot 0: bid / child order, slot 1: ask


@pytree
class LearnerParams:
    """Attributes:
    max_qty: int32 lots: every order of the family is cut to this size (bounds the book).
    """

    max_qty: jnp.ndarray = param(1, 2**20)


@pytree
class LearnerState:
    """Attributes:
    pending: OrderIntent [N, S, 2] the controller's orders for the next tick
        (``replace`` False everywhere = keep the resting orders).
    venue: int32[N, S, 2] the venue each pending order goes to, in [0, V); -1 = the
        family's route (``route: smart`` in ``conf/agents/learner.yaml``). Read only when
        the market has several venues.
    """

    pending: OrderIntent
    venue: jnp.ndarray


def idle_intent(n_agents: int, n_symbols: int) -> OrderIntent:
    """An intent that keeps every resting order and places nothing new."""
    shape = (n_agents, n_symbols, LEARNER_SLOTS)
    zeros = jnp.zeros(shape, jnp.int32)
    return OrderIntent(zeros, zeros, jnp.zeros(shape, bool), jnp.zeros(shape, bool))


def no_venue(n_agents: int, n_symbols: int) -> jnp.ndarray:
    """int32[N, S, 2] of -1: every order follows the family's route."""
    return jnp.full((n_agents, n_symbols, LEARNER_SLOTS), -1, jnp.int32)


def set_pending(state: LearnerState, intent: OrderIntent, venue=None) -> LearnerState:
    """The learner state with ``intent`` [N, S, 2] to be placed in the next tick, each order
    on its ``venue`` (int32[N, S, 2]; None: all follow the family's route)."""
    if venue is None:
        venue = jnp.full(intent.qty.shape, -1, jnp.int32)
    venue = jnp.broadcast_to(jnp.asarray(venue, jnp.int32), intent.qty.shape)
    return state.replace(pending=intent, venue=venue)


@register
class Learner(Family):
    """Agents whose orders come from outside: slot 0 and slot 1 per symbol, as written by
    the controller (``qtgjax.env``) into the family's state before the tick; no orders and
    resting orders kept when nobody writes (``external``: not part of plain markets). With
    several venues an order goes to the venue the controller chose, else by the route."""

    kind = "learner"
    external = True
    env_driven = True
    Params = LearnerParams

    def n_slots(self, spec):
        return LEARNER_SLOTS

    def init_extra(self, spec, params, key):
        return LearnerState(
            idle_intent(spec.n_agents, spec.n_symbols), no_venue(spec.n_agents, spec.n_symbols)
        )

    def venue_choice(self, spec, extra):
        return extra.venue

    def act(self, spec, params, extra, accounts, view, key):
        p = extra.pending
        qty = jnp.clip(p.qty, 0, params.max_qty)
        intent = OrderIntent(price=p.price, qty=qty, is_buy=p.is_buy, replace=p.replace)
        idle = LearnerState(
            idle_intent(spec.n_agents, spec.n_symbols), no_venue(spec.n_agents, spec.n_symbols)
        )
        return intent, idle
