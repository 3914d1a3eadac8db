"""Families that exist because there are several venues (issue #12).

``venue_arbitrage``: buys on the venue whose ask is below another venue's bid and sells on
that venue, in the same tick. Its two orders (slot 0 buy at the lowest ask, slot 1 sell at
the highest bid) need the ``best`` route, which sends a buy to the lowest visible ask and
a sell to the highest visible bid; its edge is its latency profile (a faster one than the
others': it sees and reaches a stale quote first).

``latency_market_maker``: the simple market maker's quotes, pulled (cancelled) on every
venue while any venue's last trade is more than ``pull_ticks`` from the consolidated mid:
it sees a move elsewhere and gets out of the way before its stale quotes are picked off.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.families.market_maker import MarketMaker
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class VenueArbitrageParams:
    """Attributes:
    min_edge: int32 ticks the highest venue bid must exceed the lowest venue ask by.
    max_qty: int32 lots per order (each side), at most the visible depth on the other side.
    """

    min_edge: jnp.ndarray = param(1, 10_000)
    max_qty: jnp.ndarray = param(1, 65_535)


@register
class VenueArbitrage(Family):
    """Where max over venues of the bid exceeds min over venues of the ask by ``min_edge``,
    buy at that ask and sell at that bid (route ``best``); otherwise cancel."""

    kind = "venue_arbitrage"
    Params = VenueArbitrageParams

    def n_slots(self, spec):
        return 2

    def act(self, spec, params, extra, accounts, view, key):
        n, s = spec.n_agents, spec.n_symbols
        bid, ask = view.best_bid, view.best_ask  # consolidated: best across venues
        if view.venues is not None:
            v = view.venues
            bid_depth = jnp.max(jnp.where(v.best_bid == bid[None], v.bid_depth, 0), axis=0)
            ask_depth = jnp.max(jnp.where(v.best_ask == ask[None], v.ask_depth, 0), axis=0)
        else:
            bid_depth = ask_depth = jnp.zeros_like(bid)
        edge = (bid > 0) & (ask > 0) & (bid - ask >= params.min_edge)
        qty = jnp.where(edge, jnp.minimum(params.max_qty, jnp.minimum(bid_depth, ask_depth)), 0)
        price = jnp.stack([clip_price(ask), clip_price(bid)], axis=-1)  # (S, 2)
        price = jnp.broadcast_to(price, (n, s, 2))
        qty = jnp.broadcast_to(jnp.stack([qty, qty], axis=-1), (n, s, 2)).astype(jnp.int32)
        is_buy = jnp.broadcast_to(jnp.array([True, False]), (n, s, 2))
        return OrderIntent(price, qty, is_buy, jnp.ones((n, s, 2), bool)), extra


@pytree
class LatencyMarketMakerParams:
    """The simple market maker's quoting rule (:class:`MarketMakerParams`) and when to pull.

    Attributes:
        half_spread, spread_jitter, quote_size, inventory_skew: as the market maker's.
        pull_ticks: float32 ticks a venue's last trade may stray from the consolidated mid
            before every quote is pulled.
    """

    half_spread: jnp.ndarray = param(0.5, 1e4)
    spread_jitter: jnp.ndarray = param(0.0, 1e4)
    quote_size: jnp.ndarray = param(1, 65_535)
    inventory_skew: jnp.ndarray = param(0.0, 1e3)
    pull_ticks: jnp.ndarray = param(0.0, 1e4)


_QUOTES = (
    MarketMaker  # the quoting rule it shares (a registered family is final: used, not subclassed)
)


@register
class LatencyMarketMaker(Family):
    """The simple market maker's quotes, pulled on every venue while another venue moves."""

    kind = "latency_market_maker"
    Params = LatencyMarketMakerParams

    def grid_reach(self, params):
        return float(params.get("half_spread", 0.0)) + float(params.get("spread_jitter", 0.0))

    def n_slots(self, spec):
        return 2

    def init_extra(self, spec, params, key):
        return _QUOTES.init_extra(self, spec, params, key)

    def act(self, spec, params, extra, accounts, view, key):
        intent, extra = _QUOTES.act(self, spec, params, extra, accounts, view, key)
        if view.venues is None:
            return intent, extra
        moved = jnp.abs(view.venues.last_price.astype(jnp.float32) - view.mid[None])
        pull = (moved > params.pull_ticks).any(0)[None, :, None]  # (1, S, 1)
        return OrderIntent(
            intent.price,
            jnp.where(pull, 0, intent.qty),
            intent.is_buy,
            intent.replace | pull,
        ), extra
