"""Market making: quote a bid and an ask on symbol 0 every tick."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from qtgjax.agents.common import limit_to_position
from qtgjax.env.tasks.base import Task, cash_change, quote_intent
from qtgjax.market.money import Money
from qtgjax.tree import pytree


@pytree
class MarketMakingParams:
    """Attributes:
    horizon: int32[] T, ticks per episode.
    quote_unit: int32[] lots per step of the size actions.
    inventory_limit: int32[] lots; no quote is sized so that its full fill takes
        |position| beyond it (a side at the limit is not quoted).
    inventory_penalty: float32[] cash units per lot^2 of position per tick.
    reward_scale: float32[] cash units per unit of reward.
    """

    horizon: jnp.ndarray
    quote_unit: jnp.ndarray
    inventory_limit: jnp.ndarray
    inventory_penalty: jnp.ndarray
    reward_scale: jnp.ndarray


@pytree
class MarketMakingState:
    """Attributes:
    start_cash: Money[L] cash at the episode start.
    start_position: int32[L] lots of symbol 0 at the episode start.
    mark: float32[] mid of symbol 0 at the last observation, ticks.
    pnl: float32[L] mark-to-market P&L of the episode so far, cash units.
    """

    start_cash: Money
    start_position: jnp.ndarray
    mark: jnp.ndarray
    pnl: jnp.ndarray


def wealth_change(before, after, mark_before, mark_after) -> jnp.ndarray:
    """float32[L] change of cash + position x mark over one tick, cash units
    (positions [L, S], marks float32[S])."""
    held = (after.position * mark_after).sum(-1) - (before.position * mark_before).sum(-1)
    return cash_change(before, after) + held


@dataclass(frozen=True)
class MarketMakingTask(Task):
    """Quote both sides of symbol 0; earn the spread, carry as little inventory as possible.

    **Observation** (float32[16 + 4], per learner): the 16 market features of symbol 0
    (:data:`qtgjax.env.features.MARKET_FEATURES`), then ``inventory`` (position /
    inventory_limit), ``time_left`` ((T - t) / T), ``bid_resting`` and ``ask_resting``
    (lots of the learner's quotes resting in the book / quote_unit).

    **Action** (MultiDiscrete [n_offsets, n_offsets, n_sizes, n_sizes]): bid offset b, ask
    offset a, bid size u, ask size v. bid = ceil(mid) - 1 - b, ask = floor(mid) + 1 + a
    ticks (offset 0 is the innermost price on each side, never crossing the mid); sizes
    u * quote_unit and v * quote_unit lots (0 = no quote), cut by the inventory limit.
    A quote identical to the resting one keeps its time priority and earns the maker fee.

    **Reward** (per tick): (dW - inventory_penalty * position^2) / reward_scale, with
    dW the change of cash + position x mid (mark-to-market, fees included), cash units.

    **Termination**: after T ticks (the inventory carries over into the next episode; the
    market goes on). Episode metrics (info, 0 except where done): ``pnl`` float32[L] sum of
    dW over the episode (cash units = ticks x lots), ``inventory`` float32[L] position at
    the episode end (lots).
    """

    n_offsets: int = 6
    n_sizes: int = 4

    name = "market_making"
    Params = MarketMakingParams
    metrics = {"pnl": jnp.float32, "inventory": jnp.float32}
    headline = "pnl"
    higher_is_better = True
    baselines = ("avellaneda_stoikov",)

    @property
    def action_nvec(self):
        return (self.n_offsets, self.n_offsets, self.n_sizes, self.n_sizes)

    @property
    def n_features(self):
        return 4

    def default_params(self):
        return MarketMakingParams(
            horizon=jnp.int32(100),
            quote_unit=jnp.int32(5),
            inventory_limit=jnp.int32(100),
            inventory_penalty=jnp.float32(0.01),
            reward_scale=jnp.float32(100.0),
        )

    def start(self, key, acct, view, params):
        return MarketMakingState(
            start_cash=acct.cash,
            start_position=acct.position[:, 0],
            mark=view.mid[0],
            pnl=jnp.zeros((self.n_learners,), jnp.float32),
        )

    def intent(self, action, ts, acct, view, t, params):
        mid = view.mid[0]
        bid = jnp.ceil(mid).astype(jnp.int32) - 1 - action[:, 0]
        ask = jnp.floor(mid).astype(jnp.int32) + 1 + action[:, 1]
        size = action[:, 2:4] * params.quote_unit  # (L, 2)
        is_buy = jnp.array([True, False])
        position = acct.position[:, :1, None]  # (L, 1, 1)
        price = jnp.stack([bid, ask], -1)[:, None, :]
        qty = limit_to_position(size[:, None, :], is_buy, position, params.inventory_limit)
        own = (jnp.arange(self.n_symbols) == 0)[None, :, None]
        shape = (self.n_learners, self.n_symbols, 2)
        price = jnp.broadcast_to(price, shape)
        qty = jnp.where(own, qty, 0)
        is_buy = jnp.broadcast_to(is_buy, shape)
        return quote_intent(price, qty, is_buy, acct.orders, self.n_venues)

    def update(self, ts, before, after, view, t, params):
        mark = jnp.zeros((self.n_symbols,), jnp.float32).at[0].set(ts.mark)
        now = jnp.zeros((self.n_symbols,), jnp.float32).at[0].set(view.mid[0])
        gain = wealth_change(before, after, mark, now)
        inventory = after.position[:, 0].astype(jnp.float32)
        reward = (gain - params.inventory_penalty * inventory**2) / params.reward_scale
        pnl = ts.pnl + gain
        done = t >= params.horizon
        metrics = {"pnl": pnl, "inventory": inventory}
        return ts.replace(mark=view.mid[0], pnl=pnl), reward, done, metrics

    def features(self, ts, acct, view, t, params):
        unit = params.quote_unit.astype(jnp.float32)
        horizon = params.horizon.astype(jnp.float32)
        resting = self.resting(acct).qty[:, 0, :].astype(jnp.float32) / unit  # (L, 2)
        inventory = acct.position[:, 0].astype(jnp.float32) / params.inventory_limit
        time_left = jnp.broadcast_to((horizon - t) / horizon, inventory.shape)
        return jnp.stack([inventory, time_left, resting[:, 0], resting[:, 1]], axis=-1)
