"""The task interface and the order/accounting helpers that tasks share.

A task is a frozen dataclass of static sizes (hashable) with a ``Params`` pytree of
numbers. Its methods are pure: ``start`` opens an episode on the running market,
``intent`` turns actions into the learners' orders, ``update`` scores the tick, and
``features`` gives the task's part of the observation. L = learners, S = symbols,
V = venues (the learners' resting orders are [L, S, V * 2]: slot ``v * 2 + o`` is slot
``o`` on venue ``v``; :meth:`Task.resting` folds them to [L, S, 2]).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.families.learner import LEARNER_SLOTS
from qtgjax.market import money
from qtgjax.market.types import Accounts, MarketView, OrderIntent, Orders
from qtgjax.sim.venues import fold_orders


@dataclass(frozen=True)
class Task(abc.ABC):
    """Static part of a task.

    Attributes:
        n_learners: L learning agents (one ``learner`` family of L agents).
        n_symbols: S symbols of the market.
        n_venues: V venues of the market (1: no ``venues`` section).
    """

    n_learners: int
    n_symbols: int
    n_venues: int = 1

    name: ClassVar[str]
    Params: ClassVar[type]
    metrics: ClassVar[dict[str, Any]]  # episode metric name -> dtype (per learner)
    # What qtgjax-train reports: the paired comparison is about ``headline`` (higher or
    # lower is better) against each of ``baselines`` (names in qtgjax.env.baselines, where
    # a plugin registers its own with ``baselines.register(task, name)``; ``random``
    # exists for every task).
    headline: ClassVar[str]
    higher_is_better: ClassVar[bool]
    baselines: ClassVar[tuple[str, ...]] = ("random",)

    @classmethod
    def check_metadata(cls) -> None:
        """Refuse a task class whose reporting metadata does not fit (TypeError)."""
        from qtgjax.env.baselines import names

        where = f"{cls.__module__}.{cls.__qualname__}"
        for attr in ("name", "Params", "metrics", "headline", "higher_is_better"):
            if not hasattr(cls, attr):
                raise TypeError(f"{where}: declare {attr} on the task class")
        if cls.headline not in cls.metrics:
            raise TypeError(f"{where}.headline: {cls.headline!r} is not one of its metrics "
                            f"{sorted(cls.metrics)}")
        if not isinstance(cls.higher_is_better, bool):
            raise TypeError(f"{where}.higher_is_better: expected True or False")
        unknown = sorted(set(cls.baselines) - set(names(cls.name)))
        if unknown:
            raise TypeError(f"{where}.baselines: {unknown} are not registered baselines of "
                            f"{cls.name!r} (known: {names(cls.name)})")

    @property
    def symbols(self) -> tuple[int, ...]:
        """Symbols whose market features are observed (symbol 0 unless overridden)."""
        return (0,)

    @property
    @abc.abstractmethod
    def action_nvec(self) -> tuple[int, ...]:
        """Choices per action component of one learner (a MultiDiscrete)."""

    @property
    @abc.abstractmethod
    def n_features(self) -> int:
        """Task features per learner appended to the market features."""

    @abc.abstractmethod
    def default_params(self) -> Any:
        """The task's default numbers (a ``Params`` pytree)."""

    @abc.abstractmethod
    def start(self, key, acct: Accounts, view: MarketView, params) -> Any:
        """Episode state of a new episode starting now on the running market."""

    @abc.abstractmethod
    def intent(self, action, ts, acct: Accounts, view: MarketView, t, params) -> OrderIntent:
        """The learners' orders [L, S, 2] for this tick from actions int32[L, A]."""

    def order_venues(self, action) -> jnp.ndarray | None:
        """int32[L, S, 2]: the venue of each of this tick's orders, chosen by the actions
        int32[L, A] (-1: the learner family's route); None (the default): every order
        follows the route. Only a market with several venues reads it."""
        return None

    def resting(self, acct: Accounts) -> Orders:
        """The learners' resting orders folded over the venues, [L, S, 2] (lots summed;
        price, side and age of the slot on its first venue with lots)."""
        return fold_orders(acct.orders, self.n_venues)

    @abc.abstractmethod
    def update(self, ts, before: Accounts, after: Accounts, view: MarketView, t, params):
        """(episode state, reward float32[L], done bool[], metrics {name: [L]}) after a tick;
        ``t`` counts the ticks done in the episode including this one."""

    @abc.abstractmethod
    def features(self, ts, acct: Accounts, view: MarketView, t, params) -> jnp.ndarray:
        """float32[L, n_features] task features of each learner."""

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls.Params))

    @classmethod
    def static_names(cls) -> tuple[str, ...]:
        market = ("n_learners", "n_symbols", "n_venues")  # set by make from the market
        return tuple(f.name for f in fields(cls) if f.name not in market)


def cash_change(before: Accounts, after: Accounts) -> jnp.ndarray:
    """float32[L] cash units gained over one tick (exact integer, small within a tick)."""
    return money.to_float(money.sub(after.cash, before.cash))


def far_touch(view: MarketView, is_buy) -> jnp.ndarray:
    """int32[L, S] best price on the other side: the best ask for a buy, the best bid for a
    sell (the last price +- 1 tick where that side of the book is empty)."""
    ask = jnp.where(view.best_ask > 0, view.best_ask, view.last_price + 1)
    bid = jnp.where(view.best_bid > 0, view.best_bid, view.last_price - 1)
    return jnp.where(is_buy, ask[None, :], bid[None, :])


def quote_intent(
    price, qty, is_buy, resting: Orders, n_venues: int = 1, venue=None
) -> OrderIntent:
    """Intent from per-slot orders [L, S, 2]; an order identical to the one resting in
    its slot (price, side, lots, over all venues) is kept, so it keeps its time priority
    and maker fee. ``resting``: the learners' orders as the books hold them,
    [L, S, V * 2]. ``venue`` (int32[L, S, 2] or None): where each order goes; an order
    sent to venue v in [0, V) is kept only if all of the slot's resting lots are on v
    (else it moves there: cancelled elsewhere, placed anew)."""
    price = clip_price(price)
    qty = jnp.maximum(qty, 0).astype(jnp.int32)
    folded = fold_orders(resting, n_venues)
    same = (folded.price == price) & (folded.is_buy == is_buy) & (folded.qty == qty)
    if venue is not None and n_venues > 1:
        n, s, vo = resting.qty.shape
        lots = resting.qty.reshape(n, s, n_venues, vo // n_venues)
        venues = jnp.arange(n_venues)[None, None, :, None]
        elsewhere = ((lots > 0) & (venues != venue[:, :, None, :])).any(2)
        same = same & ((venue < 0) | (venue >= n_venues) | ~elsewhere)
    return OrderIntent(price, qty, is_buy, ~(same & (qty > 0)))


def single_order(price, qty, is_buy, n_symbols: int, symbol: int = 0):
    """Per-slot arrays [L, S, 2] holding one order per learner in slot 0 of ``symbol``."""
    own = (jnp.arange(n_symbols) == symbol)[None, :, None] & (jnp.arange(LEARNER_SLOTS) == 0)
    shape = (price.shape[0], n_symbols, LEARNER_SLOTS)
    return (
        jnp.broadcast_to(price[:, None, None], shape),
        jnp.where(own, qty[:, None, None], 0),
        jnp.broadcast_to(is_buy[:, None, None], shape),
    )
