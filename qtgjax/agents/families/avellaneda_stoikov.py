"""Avellaneda–Stoikov market makers: quotes around a reservation price skewed by inventory."""

from __future__ import annotations

import math

import jax.numpy as jnp

from qtgjax.agents.common import clip_price, limit_to_position
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class AvellanedaStoikovParams:
    """Quoting rule of Avellaneda & Stoikov (2008) with a fixed horizon (scalars).

    Attributes:
        gamma: float32 risk aversion, per (tick x lot): how much inventory risk moves the
            reservation price and widens the spread.
        k: float32 per tick: decay rate of the fill intensity with the quote's distance
            from the mid (larger k = fills fall off faster = tighter quotes).
        tau: float32 ticks, the (rolling) horizon over which inventory risk is counted.
        min_sigma: float32 ticks, floor of the per-tick price standard deviation, so that a
            still market does not collapse the risk terms.
        quote_size: int32 lots per quote.
        inventory_cap: int32 lots; a side whose fill would take |position| above the cap is
            cut to the room left (not quoted at all once at the cap).
    """

    gamma: jnp.ndarray = param(1e-6, 10.0)
    k: jnp.ndarray = param(1e-6, 1e3)
    tau: jnp.ndarray = param(0.0, 1e6)
    min_sigma: jnp.ndarray = param(0.01, 1e3)
    quote_size: jnp.ndarray = param(1, 65_535)
    inventory_cap: jnp.ndarray = param(0, 2**30)


def price_variance(view, min_sigma) -> jnp.ndarray:
    """float32[S] per-tick price variance in ticks^2: volatility * mid^2, floored."""
    mid = view.mid
    return jnp.maximum(view.volatility * mid * mid, min_sigma * min_sigma)


def reservation_and_spread(mid, variance, inventory, params):
    """Reservation price [N, S] and optimal total spread [S], both float32 ticks.

    r = mid - q * gamma * sigma^2 * tau;  delta = gamma * sigma^2 * tau + 2/gamma ln(1 + gamma/k).
    """
    risk = params.gamma * variance * params.tau  # (S,) ticks per lot of inventory
    reservation = mid - inventory * risk
    spread = risk + (2.0 / params.gamma) * jnp.log1p(params.gamma / params.k)
    return reservation, spread


def quotes(reservation, spread):
    """int32 (bid, ask) [N, S] straddling the reservation price, at least one tick apart."""
    bid = clip_price(jnp.floor(reservation - 0.5 * spread).astype(jnp.int32))
    ask = clip_price(jnp.maximum(jnp.ceil(reservation + 0.5 * spread).astype(jnp.int32), bid + 1))
    return bid, ask


@register
class AvellanedaStoikov(Family):
    """Quote a bid (slot 0) and an ask (slot 1) on every symbol, every tick.

    sigma^2 is the market's per-tick variance (``view.volatility * mid^2`` ticks^2, floored
    at ``min_sigma^2``) and q the agent's inventory in lots. A quote whose price and side
    are unchanged, still resting and not above the size allowed now keeps its place (and
    time priority) in the book; the account's ``max_position`` also applies.
    """

    kind = "avellaneda_stoikov"
    Params = AvellanedaStoikovParams

    def n_slots(self, spec):
        return 2

    def grid_reach(self, params):
        """Farthest quote from the mid at the variance floor with a full inventory."""
        gamma, k, tau = params["gamma"], params["k"], params["tau"]
        risk = gamma * params["min_sigma"] ** 2 * tau
        half = 0.5 * (risk + (2.0 / gamma) * math.log1p(gamma / k))
        return half + params["inventory_cap"] * risk + 1.0

    def act(self, spec, params, extra, accounts, view, key):
        variance = price_variance(view, params.min_sigma)
        inventory = accounts.position.astype(jnp.float32)
        reservation, spread = reservation_and_spread(view.mid, variance, inventory, params)
        bid, ask = quotes(reservation, spread)
        price = jnp.stack([bid, ask], axis=-1)  # (N, S, 2)
        is_buy = jnp.broadcast_to(jnp.array([True, False]), price.shape)
        size = jnp.broadcast_to(params.quote_size, price.shape)
        qty = limit_to_position(size, is_buy, accounts.position[..., None], params.inventory_cap)
        resting = accounts.orders
        keep = (
            (resting.price == price)
            & (resting.is_buy == is_buy)
            & (resting.qty > 0)
            & (resting.qty <= qty)
        )
        return OrderIntent(price, qty, is_buy, ~keep), extra
