"""Optimal execution: buy or sell ``target`` lots within ``horizon`` ticks."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from qtgjax.agents.families.learner import LEARNER_SLOTS
from qtgjax.env.features import PRICE_SCALE
from qtgjax.env.tasks.base import Task, cash_change, far_touch, quote_intent, single_order
from qtgjax.market.money import Money
from qtgjax.tree import pytree


@pytree
class ExecutionParams:
    """Attributes:
    target: int32[] Q, lots each learner must execute per episode.
    horizon: int32[] T, ticks per episode.
    side: int32[L] +1 buy, -1 sell, 0 a fair coin per learner and episode.
    size_step: float32[] multiple of the due lots per step of the size action.
    penalty_ticks: float32[] ticks beyond the final mid at which the unfilled rest is
        valued at the episode end (the cost of finishing it elsewhere).
    """

    target: jnp.ndarray
    horizon: jnp.ndarray
    side: jnp.ndarray
    size_step: jnp.ndarray
    penalty_ticks: jnp.ndarray


@pytree
class ExecutionState:
    """Attributes:
    side: int32[L] +1 buy, -1 sell.
    arrival: float32[] mid of symbol 0 when the episode started, ticks.
    start_cash: Money[L] cash at the episode start.
    start_position: int32[L] lots of symbol 0 at the episode start.
    cost: float32[L] implementation shortfall of the fills so far, cash units:
        sum of side * lots * (fill price - arrival) plus fees.
    """

    side: jnp.ndarray
    arrival: jnp.ndarray
    start_cash: Money
    start_position: jnp.ndarray
    cost: jnp.ndarray


@dataclass(frozen=True)
class ExecutionTask(Task):
    """Execute a parent order of Q lots of symbol 0 within T ticks, through the auction.

    **Observation** (float32[16 + 6], per learner): the 16 market features of symbol 0
    (:data:`qtgjax.env.features.MARKET_FEATURES`: price differences in units of 10 ticks,
    see the module), then
    ``remaining`` (lots still to execute / Q, in [0, 1]), ``time_left`` ((T - t) / T),
    ``schedule`` ((executed - Q t / T) / Q: > 0 ahead of the linear TWAP schedule),
    ``side`` (+1 buy, -1 sell), ``drift`` (side * (mid - arrival) / 10 ticks: > 0 the price
    has moved against the order) and ``resting`` (lots of the learner's order resting in
    the books / Q). With V > 1 venues, 3 more per venue v (venue-major): ``touch_gap_v``
    (side * (venue v's far touch - the consolidated far touch) / 10 ticks: 0 on the best
    venue, > 0 worse; 0 where venue v shows no price on that side), ``depth_v`` (lots on
    the other side of venue v's book / Q: 0 = no price there) and ``resting_v`` (the
    learner's lots resting on venue v / Q). Everything is clipped to [-10, 10].

    **Action** (MultiDiscrete [n_sizes, n_prices]): the child order of this tick.
    ``size`` i: lots = round(i * size_step * due), cut to the remaining lots, where
    due = max(round(Q (t + 1) / T) - executed, 0) is what the TWAP family would send now
    (i * size_step = 1 is TWAP; 0 waits; at the last tick due is the whole rest).
    ``price`` j: limit = far touch + side * (j - n_passive) ticks; the far touch is the best
    ask for a buy and the best bid for a sell, so j = n_passive is marketable at the touch,
    larger j crosses deeper, smaller j rests passively inside or behind the spread. An
    order identical to the resting one keeps its time priority (and maker fee).

    **Venue** (only with V > 1 venues: MultiDiscrete [n_sizes, n_prices, V + 1]): a third
    component ``venue`` k < V sends the whole child order to venue k, priced from that
    venue's far touch (the consolidated one where venue k shows no price on that side);
    k = V leaves it to the learner family's router (``route: smart``, on the consolidated
    far touch). A kept order must rest on the chosen venue alone: choosing another venue
    moves it (cancelled where it rests, placed anew there). With one venue the action,
    observation and every number are those of the single-venue task.

    **Reward** (per tick, in ticks per lot of Q): -(cost of this tick's fills) / Q with
    cost = -(cash change + lots bought * arrival), i.e. side * lots * (price - arrival)
    plus fees; at the episode end the unfilled rest R adds
    R * (side * (final mid - arrival) + penalty_ticks) / Q to the cost. The rewards of an
    episode sum to minus ``shortfall_ticks``.

    **Termination**: after T ticks, or once every learner has executed Q (done is shared
    by the learners). Episode metrics (info, 0 except where done):
    ``shortfall_ticks`` float32[L] implementation shortfall per lot of Q in ticks
    (positive = cost), ``filled_fraction`` float32[L] lots executed / Q.
    """

    n_sizes: int = 5
    n_prices: int = 8
    n_passive: int = 4

    name = "execution"
    Params = ExecutionParams
    metrics = {"shortfall_ticks": jnp.float32, "filled_fraction": jnp.float32}
    headline = "shortfall_ticks"
    higher_is_better = False
    baselines = ("twap",)

    @property
    def action_nvec(self):
        sizes = (self.n_sizes, self.n_prices)
        return sizes if self.n_venues == 1 else (*sizes, self.n_venues + 1)

    @property
    def n_features(self):
        return 6 if self.n_venues == 1 else 6 + 3 * self.n_venues

    def chosen_venue(self, action):
        """int32[L]: the venue each learner's action sends its order to, -1 for the router
        (None with one venue)."""
        if self.n_venues == 1:
            return None
        return jnp.where(action[:, 2] < self.n_venues, action[:, 2], -1).astype(jnp.int32)

    def order_venues(self, action):
        venue = self.chosen_venue(action)
        if venue is None:
            return None
        shape = (self.n_learners, self.n_symbols, LEARNER_SLOTS)
        return jnp.broadcast_to(venue[:, None, None], shape)

    def default_params(self):
        return ExecutionParams(
            target=jnp.int32(200),
            horizon=jnp.int32(50),
            side=jnp.zeros((self.n_learners,), jnp.int32),
            size_step=jnp.float32(0.5),
            penalty_ticks=jnp.float32(5.0),
        )

    def start(self, key, acct, view, params):
        coin = jnp.where(jax.random.bernoulli(key, 0.5, (self.n_learners,)), 1, -1)
        side = jnp.where(params.side == 0, coin, jnp.sign(params.side)).astype(jnp.int32)
        return ExecutionState(
            side=side,
            arrival=view.mid[0],
            start_cash=acct.cash,
            start_position=acct.position[:, 0],
            cost=jnp.zeros((self.n_learners,), jnp.float32),
        )

    def executed(self, ts, acct):
        """int32[L] lots executed so far in this episode."""
        return ts.side * (acct.position[:, 0] - ts.start_position)

    def intent(self, action, ts, acct, view, t, params):
        executed = self.executed(ts, acct)
        remaining = jnp.maximum(params.target - executed, 0)
        done_by_now = jnp.minimum(t + 1, params.horizon).astype(jnp.float32)
        goal = jnp.round(params.target * done_by_now / params.horizon).astype(jnp.int32)
        due = jnp.maximum(goal - executed, 0).astype(jnp.float32)
        mult = action[:, 0].astype(jnp.float32) * params.size_step
        qty = jnp.clip(jnp.round(mult * due).astype(jnp.int32), 0, remaining)
        is_buy = ts.side > 0
        offset = action[:, 1] - self.n_passive
        touch = far_touch(view, is_buy[:, None])[:, 0]
        venue = self.chosen_venue(action)
        if venue is not None:
            on_venue = venue_touch(view, is_buy)  # [L, V]
            pick = jnp.take_along_axis(on_venue, jnp.maximum(venue, 0)[:, None], 1)[:, 0]
            touch = jnp.where((venue >= 0) & (pick > 0), pick, touch)
        price = touch + ts.side * offset
        slots = single_order(price, qty, is_buy, self.n_symbols)
        return quote_intent(*slots, acct.orders, self.n_venues, self.order_venues(action))

    def update(self, ts, before, after, view, t, params):
        target = params.target.astype(jnp.float32)
        bought = (after.position[:, 0] - before.position[:, 0]).astype(jnp.float32)
        step_cost = -(cash_change(before, after) + bought * ts.arrival)
        cost = ts.cost + step_cost
        executed = self.executed(ts, after)
        remaining = jnp.maximum(params.target - executed, 0).astype(jnp.float32)
        done = (t >= params.horizon) | jnp.all(remaining <= 0)
        slip = ts.side * (view.mid[0] - ts.arrival) + params.penalty_ticks
        penalty = jnp.where(done, remaining * slip, 0.0)
        reward = -(step_cost + penalty) / target
        metrics = {
            "shortfall_ticks": (cost + penalty) / target,
            "filled_fraction": executed.astype(jnp.float32) / target,
        }
        return ts.replace(cost=cost), reward, done, metrics

    def features(self, ts, acct, view, t, params):
        target = params.target.astype(jnp.float32)
        executed = self.executed(ts, acct).astype(jnp.float32)
        horizon = params.horizon.astype(jnp.float32)
        schedule = target * t.astype(jnp.float32) / horizon
        resting = self.resting(acct).qty[:, 0, 0].astype(jnp.float32)
        cols = [
            jnp.maximum(target - executed, 0.0) / target,
            jnp.broadcast_to((horizon - t) / horizon, executed.shape),
            (executed - schedule) / target,
            ts.side.astype(jnp.float32),
            ts.side * (view.mid[0] - ts.arrival) / PRICE_SCALE,
            resting / target,
        ]
        own = jnp.stack(cols, axis=-1)
        if self.n_venues == 1:
            return own
        return jnp.concatenate([own, self.venue_features(ts, acct, view, target)], -1)

    def venue_features(self, ts, acct, view, target):
        """float32[L, 3 V]: touch_gap, depth and resting per venue (see the class)."""
        is_buy = ts.side > 0
        touch = far_touch(view, is_buy[:, None])[:, 0].astype(jnp.float32)  # [L]
        on_venue = venue_touch(view, is_buy)  # [L, V]
        gap = jnp.where(
            on_venue > 0, ts.side[:, None] * (on_venue - touch[:, None]) / PRICE_SCALE, 0.0
        )
        v = view.venues
        depth = jnp.where(is_buy[:, None], v.ask_depth[:, 0], v.bid_depth[:, 0])  # [L, V]
        n, s, vo = acct.orders.qty.shape
        lots = acct.orders.qty.reshape(n, s, self.n_venues, vo // self.n_venues)[:, 0, :, 0]
        cols = [gap, depth.astype(jnp.float32) / target, lots.astype(jnp.float32) / target]
        return jnp.stack(cols, axis=-1).reshape(n, 3 * self.n_venues)


def venue_touch(view, is_buy) -> jnp.ndarray:
    """int32[L, V] far touch of symbol 0 on each venue: its best ask for a buy, its best
    bid for a sell (0 where that side of the venue's book is empty)."""
    v = view.venues
    return jnp.where(is_buy[:, None], v.best_ask[None, :, 0], v.best_bid[None, :, 0])
