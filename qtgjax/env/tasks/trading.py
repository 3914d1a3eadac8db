"""Directional trading: choose a target position per symbol; marketable orders get there."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from qtgjax.agents.common import limit_to_position
from qtgjax.agents.families.learner import LEARNER_SLOTS
from qtgjax.env.tasks.base import Task, far_touch, quote_intent
from qtgjax.env.tasks.market_making import wealth_change
from qtgjax.market.money import Money
from qtgjax.tree import pytree


@pytree
class TradingParams:
    """Attributes:
    horizon: int32[] T, ticks per episode.
    position_limit: int32[] lots per symbol, |position| <= limit (orders are cut).
    aggression: int32[] ticks through the far touch of the rebalancing orders.
    reward_scale: float32[] cash units per unit of reward.
    """

    horizon: jnp.ndarray
    position_limit: jnp.ndarray
    aggression: jnp.ndarray
    reward_scale: jnp.ndarray


@pytree
class TradingState:
    """Attributes:
    start_cash: Money[L] cash at the episode start.
    start_position: int32[L, S] lots at the episode start.
    mark: float32[S] mids at the last observation, ticks.
    pnl: float32[L] mark-to-market P&L of the episode so far, cash units.
    """

    start_cash: Money
    start_position: jnp.ndarray
    mark: jnp.ndarray
    pnl: jnp.ndarray


@dataclass(frozen=True)
class TradingTask(Task):
    """Hold a position in every symbol of the market, paying the market's fees and spread.

    **Observation** (float32[16 S + S + 1], per learner): the 16 market features of every
    symbol (:data:`qtgjax.env.features.MARKET_FEATURES`, symbol-major), then the position
    of each symbol / position_limit and ``time_left`` ((T - t) / T).

    **Action** (MultiDiscrete [n_targets] * S): target position per symbol,
    (a - n_targets // 2) / (n_targets // 2) * position_limit lots (the middle choice is
    flat). The difference to the current position is sent as one limit order
    ``aggression`` ticks through the far touch (best ask for a buy, best bid for a sell),
    cut to the position limit; what does not fill is replaced next tick.

    **Reward** (per tick): dW / reward_scale, dW the change of cash + positions x mids
    (mark-to-market, taker/maker fees included), cash units.

    **Termination**: after T ticks (positions carry over; the market goes on). Episode
    metric (info, 0 except where done): ``pnl`` float32[L] sum of dW over the episode,
    cash units (ticks x lots).
    """

    n_targets: int = 5

    name = "trading"
    Params = TradingParams
    metrics = {"pnl": jnp.float32}
    headline = "pnl"
    higher_is_better = True
    baselines = ("buy_and_hold", "flat")

    @property
    def symbols(self):
        return tuple(range(self.n_symbols))

    @property
    def action_nvec(self):
        return (self.n_targets,) * self.n_symbols

    @property
    def n_features(self):
        return self.n_symbols + 1

    def default_params(self):
        return TradingParams(
            horizon=jnp.int32(100),
            position_limit=jnp.int32(100),
            aggression=jnp.int32(1),
            reward_scale=jnp.float32(100.0),
        )

    def start(self, key, acct, view, params):
        return TradingState(
            start_cash=acct.cash,
            start_position=acct.position,
            mark=view.mid,
            pnl=jnp.zeros((self.n_learners,), jnp.float32),
        )

    def intent(self, action, ts, acct, view, t, params):
        half = self.n_targets // 2
        target = jnp.round((action - half) * params.position_limit / max(half, 1))
        order = target.astype(jnp.int32) - acct.position  # (L, S)
        is_buy = order > 0
        price = far_touch(view, is_buy) + jnp.where(is_buy, 1, -1) * params.aggression
        qty = limit_to_position(jnp.abs(order), is_buy, acct.position, params.position_limit)
        first = jnp.arange(LEARNER_SLOTS) == 0
        shape = (*order.shape, LEARNER_SLOTS)
        return quote_intent(
            jnp.broadcast_to(price[..., None], shape),
            jnp.where(first, qty[..., None], 0),
            jnp.broadcast_to(is_buy[..., None], shape),
            acct.orders,
            self.n_venues,
        )

    def update(self, ts, before, after, view, t, params):
        gain = wealth_change(before, after, ts.mark, view.mid)
        pnl = ts.pnl + gain
        done = t >= params.horizon
        return ts.replace(mark=view.mid, pnl=pnl), gain / params.reward_scale, done, {"pnl": pnl}

    def features(self, ts, acct, view, t, params):
        horizon = params.horizon.astype(jnp.float32)
        position = acct.position.astype(jnp.float32) / params.position_limit
        time_left = jnp.broadcast_to((horizon - t) / horizon, (self.n_learners, 1))
        return jnp.concatenate([position, time_left], axis=-1)
