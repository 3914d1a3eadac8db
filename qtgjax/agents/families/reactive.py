"""Tier 2 reactive agents: asleep until the price crosses a trigger of their band or news
hits their sector; then one marketable order, and the price band is re-armed.

Price triggers model resting conditional orders (Osler 2003): most agents hold stop
orders that chase a breakout, a ``fade_share`` of them take-profit / buy-the-dip orders
that trade against it."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import bit_field, clip_price, random_bits, scaled_field
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market import order_types as ot
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class ReactiveParams:
    """Wake conditions and order of the reactive agents (scalars).

    Attributes:
        band_min: float32 smallest relative distance of a price trigger from the price it
            is armed at (0.01 = 1%).
        band_max: float32 largest relative distance; each trigger's distance is uniform on
            [band_min, band_max].
        sensitivity: float32 median |news| (log-dividend jump) that wakes an agent.
        sensitivity_dispersion: float32 log-normal sigma of the sensitivities across agents.
        aggression: int32 ticks beyond the last price for the marketable limit.
        max_qty: int32 lots per order (uniform on [1, max_qty]).
        ttl: int32 ticks an unfilled order rests before it is cancelled.
        fade_share: float32 in [0, 1], the share of agents whose price triggers fade the
            move (sell a rise, buy a fall) instead of chasing it; news is always followed.
    """

    band_min: jnp.ndarray = param(1e-6, 1.0)
    band_max: jnp.ndarray = param(1e-6, 1.0)
    sensitivity: jnp.ndarray = param(0.0, 10.0)
    sensitivity_dispersion: jnp.ndarray = param(0.0, 3.0)
    aggression: jnp.ndarray = param(0, 10_000)
    max_qty: jnp.ndarray = param(1, 65_535)
    ttl: jnp.ndarray = param(1, 1_000_000)
    fade_share: jnp.ndarray = param(0.0, 1.0)


@pytree
class ReactiveState:
    """Per-agent wake conditions.

    Attributes:
        watch_symbol: int32[N] a symbol drawn at init; the agent watches its sector's news.
        sensitivity: float32[N] |news| (log-dividend jump) above which the agent wakes.
        fades: bool[N] the agent's price triggers trade against the move.
        up: float32[N, S] ticks; a last price at or above it wakes the agent to buy
            (0 = not armed yet: armed around the first price seen).
        down: float32[N, S] ticks; a last price at or below it wakes the agent to sell.
        wakes: int32[N] (agent, symbol) wake-ups so far.
    """

    watch_symbol: jnp.ndarray
    sensitivity: jnp.ndarray
    fades: jnp.ndarray
    up: jnp.ndarray
    down: jnp.ndarray
    wakes: jnp.ndarray


def band(bits, shift: int, params) -> jnp.ndarray:
    """float32 relative trigger distance uniform on [band_min, band_max] from 8 bits."""
    u = bit_field(bits, shift, 8).astype(jnp.float32) / 255.0
    return params.band_min + (params.band_max - params.band_min) * u


def arm(state: ReactiveState, where, last, bits, params) -> ReactiveState:
    """Set the triggers of (agent, symbol) pairs ``where`` [N, S] around ``last`` [S] ticks."""
    up = last * (1.0 + band(bits, 0, params))
    down = last * (1.0 - band(bits, 8, params))
    return state.replace(up=jnp.where(where, up, state.up), down=jnp.where(where, down, state.down))


def news_hits(state: ReactiveState, view) -> jnp.ndarray:
    """bool[N, S]: news on a symbol of the agent's sector, larger than its sensitivity."""
    watched = view.sector[state.watch_symbol]  # (N,)
    in_sector = view.sector[None, :] == watched[:, None]
    return in_sector & (jnp.abs(view.news)[None, :] > state.sensitivity[:, None])


@register
class ReactiveTrader(Family):
    """Tier 2: wake on a price breakout or sector news, else do nothing.

    Per (agent, symbol): a last price at or above the up trigger wakes the agent to buy,
    at or below the down trigger to sell (breakout chasers; a ``fade_share`` of the
    agents, drawn at init, do the opposite); news on a symbol of the
    watched sector with |news| above the agent's sensitivity wakes it to trade in the
    news' direction (news decides when both happen). An awake agent places one
    marketable limit ``aggression`` ticks through the last price, 1..max_qty lots, and
    re-arms that symbol's triggers around the current price. Asleep agents emit qty 0 and
    leave their resting orders alone (only live orders older than ``ttl`` are cancelled).
    One uint32 of random bits per (agent, symbol): 8 + 8 bits for the new band, 8 for
    the size.
    """

    kind = "reactive"
    Params = ReactiveParams
    supported_order_types = ("limit", "stop", "stop_limit")

    def n_slots(self, spec):
        return 2 if spec.order_types else 1  # real stops: one per trigger of the band

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def expired(self, spec, params, orders):
        """The one rule, except that a stop still waiting for its trigger never expires."""
        base = super().expired(spec, params, orders)
        if orders.order_type is None:
            return base
        return base & ~ot.is_any(orders.order_type, (ot.STOP, ot.STOP_LIMIT))

    def init_extra(self, spec, params, key):
        k_symbol, k_sens, k_fade = jax.random.split(key, 3)
        n, s = spec.n_agents, spec.n_symbols
        z = jax.random.normal(k_sens, (n,))
        return ReactiveState(
            watch_symbol=jax.random.randint(k_symbol, (n,), 0, s),
            sensitivity=params.sensitivity * jnp.exp(params.sensitivity_dispersion * z),
            fades=jax.random.uniform(k_fade, (n,)) < params.fade_share,
            up=jnp.zeros((n, s), jnp.float32),
            down=jnp.zeros((n, s), jnp.float32),
            wakes=jnp.zeros((n,), jnp.int32),
        )

    def act(self, spec, params, extra, accounts, view, key):
        if spec.order_types:
            expired = self.expired(spec, params, accounts.orders)
            return act_with_stops(spec, params, extra, accounts, view, key, expired)
        bits = random_bits(key, (spec.n_agents, spec.n_symbols))
        last = view.last_price.astype(jnp.float32)  # (S,)
        state = arm(extra, extra.up <= 0.0, last, bits, params)
        cross_up, cross_down = last >= state.up, last <= state.down
        news = news_hits(state, view)
        awake = cross_up | cross_down | news
        chase = cross_up != state.fades[:, None]  # a fader buys the down-cross
        is_buy = jnp.where(news, view.news[None, :] > 0.0, chase)
        qty = jnp.where(awake, scaled_field(bits, 16, 8, 1, params.max_qty), 0)
        ref = view.last_price[None, :]
        price = clip_price(jnp.where(is_buy, ref + params.aggression, ref - params.aggression))
        resting = accounts.orders
        expired = self.expired(spec, params, resting)[..., 0]
        replace = awake | expired
        state = arm(state, awake, last, bits, params)
        state = state.replace(wakes=state.wakes + awake.sum(-1, dtype=jnp.int32))
        intent = OrderIntent(
            price[..., None], qty[..., None], is_buy[..., None], replace[..., None]
        )
        return intent, state


def act_with_stops(spec, params, extra, accounts, view, key, expired):
    """The price triggers as real resting orders (``order_types: stop`` or ``stop_limit``).

    Per (agent, symbol), slot 0 holds the up trigger's order and slot 1 the down
    trigger's: a chaser's stop buy at ``ceil(up)`` and stop sell at ``floor(down)`` (a
    stop-limit's limit ``aggression`` ticks beyond its trigger), a fader's take-profit
    limit sell at ``ceil(up)`` and limit buy at ``floor(down)``; the exchange triggers and
    fills them (:mod:`qtgjax.market.order_types`). When either slot is empty (filled,
    cancelled, or never placed) both are placed again around the last price (one cancels
    the other); news still wakes the agent to a marketable limit in slot 0 (slot 1 empty).
    ``expired`` (:meth:`ReactiveTrader.expired`, bool[N, S, 2]): a live order older than
    ``ttl`` that is no longer a waiting stop, cancelled.
    ``wakes`` counts the re-armings after the first.
    """
    bits = random_bits(key, (spec.n_agents, spec.n_symbols))
    last = view.last_price.astype(jnp.float32)
    resting = accounts.orders
    empty = (resting.qty == 0).any(-1)  # (N, S)
    first = extra.up <= 0.0
    news = news_hits(extra, view)
    rearm = (empty | first) & ~news
    state = arm(extra, rearm, last, bits, params)
    qty = scaled_field(bits, 16, 8, 1, params.max_qty)
    up = jnp.ceil(state.up).astype(jnp.int32)
    down = jnp.floor(state.down).astype(jnp.int32)
    fades = state.fades[:, None]
    stop_type = ot.STOP_LIMIT if ot.STOP_LIMIT in spec.order_types else ot.STOP
    kind = jnp.where(fades, ot.LIMIT, stop_type)
    buy_up = ~fades  # a chaser buys the up-cross, a fader sells it
    # a stop-limit's limit lies aggression ticks beyond its trigger; a fader's at it
    up_price = jnp.where(fades, up, up + params.aggression)
    down_price = jnp.where(fades, down, down - params.aggression)
    ref = view.last_price[None, :]
    news_buy = view.news[None, :] > 0.0
    news_price = jnp.where(news_buy, ref + params.aggression, ref - params.aggression)
    is_buy = jnp.stack([jnp.where(news, news_buy, buy_up), ~buy_up & ~news], -1)
    price = jnp.stack([jnp.where(news, news_price, up_price), down_price], -1)
    lots = jnp.stack([qty, jnp.where(news, 0, qty)], -1)
    order_type = jnp.stack([jnp.where(news, ot.LIMIT, kind), kind], -1)
    replace = (rearm | news)[..., None] | expired
    lots = jnp.where((rearm | news)[..., None], lots, 0)
    state = state.replace(wakes=state.wakes + (rearm & ~first).sum(-1, dtype=jnp.int32))
    intent = OrderIntent(
        clip_price(price),
        lots.astype(jnp.int32),
        is_buy,
        replace,
        order_type=order_type.astype(jnp.int32),
        stop_price=jnp.stack([up, down], -1),
    )
    return intent, state
