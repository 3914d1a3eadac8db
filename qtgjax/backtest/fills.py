"""The bar fill model and exact settlement of a backtest's fills.

Each bar t runs two phases (:func:`execute`):

A. **during bar t**, orders resting from bar t-1 trade against the bar: a buy whose limit is
   at or above the open's ask (``open + half spread + impact``) fills at that ask (a taker:
   the next-open fills of ``fill=next_open``, and gaps through a resting limit); otherwise
   a buy whose limit is above the bar's low fills at its limit (a maker: the bar traded
   through it; touching is not enough). Sells mirror this with the bid and the high.
B. **at bar t's close** (``fill=close`` only), the orders the strategy just placed fill if
   their limit reaches the close's ask (buys) / bid (sells), at that price; the rest rests.

Prices are integer ticks: a buy pays ``ceil(ref * (1 + spread_bps / 2e4) + impact)``, a sell
receives ``floor(ref * (1 - spread_bps / 2e4) - impact)``. Impact (takers only) is
``impact_coef * ref * q / V`` (``linear``) or ``impact_coef * ref * sigma * sqrt(q / V)``
(``sqrt``, the square-root law; sigma the view's per-bar return volatility) for an order
of q lots in a bar of V lots; 0 where the bar has no volume. ``participation`` > 0 caps the
lots filled per symbol and bar at that share of the bar's volume (bars without volume are
not capped). Fees are ``taker_bps`` / ``maker_bps`` of the notional, truncated to whole cash
units like the simulator's (:func:`qtgjax.sim.settle.basis_points`).
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.market import money
from qtgjax.market.money import MAX_PRICE_TICKS
from qtgjax.market.types import Accounts, Orders
from qtgjax.sim.settle import basis_points, charge
from qtgjax.tree import pytree

FILL_AT = {"close": 0, "next_open": 1}
IMPACT = {"none": 0, "linear": 1, "sqrt": 2}


@pytree
class FillParams:
    """The fill model's numbers (scalars; may be swept).

    Attributes:
        at_close: bool[] True: orders fill at the close of the bar they are placed on
            (``fill=close``); False: from the next bar's open (``fill=next_open``).
        spread_bps: float32[] full bid-ask spread around the reference price, bp.
        impact: int32[] 0 none, 1 linear in participation, 2 square-root law.
        impact_coef: float32[] impact coefficient (see the module docstring).
        participation: float32[] most lots filled per bar as a share of its volume (0 = no cap).
        taker_bps: float32[] fee on taker fills, bp of the notional.
        maker_bps: float32[] fee on maker fills (resting limits traded through), bp.
    """

    at_close: jnp.ndarray
    spread_bps: jnp.ndarray
    impact: jnp.ndarray
    impact_coef: jnp.ndarray
    participation: jnp.ndarray
    taker_bps: jnp.ndarray
    maker_bps: jnp.ndarray


@pytree
class Bar:
    """One bar of a column's symbols (int32[S] ticks / lots; float32[S] volatility).

    Attributes:
        open, high, low, close: int32[S] ticks.
        volume: int32[S] lots.
        sigma: float32[S] per-bar return standard deviation (sqrt of the view's volatility).
    """

    open: jnp.ndarray
    high: jnp.ndarray
    low: jnp.ndarray
    close: jnp.ndarray
    volume: jnp.ndarray
    sigma: jnp.ndarray


def taker_price(fp: FillParams, ref, qty, volume, sigma, is_buy) -> jnp.ndarray:
    """int32[N, S, O] price a marketable order of ``qty`` lots pays (buy) / gets (sell)."""
    ref = ref.astype(jnp.float32)[None, :, None]
    vol = volume.astype(jnp.float32)[None, :, None]
    share = jnp.where(vol > 0, qty.astype(jnp.float32) / jnp.maximum(vol, 1.0), 0.0)
    impact = jnp.select(
        [fp.impact == 1, fp.impact == 2],
        [fp.impact_coef * ref * share,
         fp.impact_coef * ref * sigma[None, :, None] * jnp.sqrt(share)],
        0.0,
    )
    half = ref * fp.spread_bps * 0.5e-4
    buy = jnp.ceil(ref + half + impact - 1e-3)  # tolerance: an exact tick stays that tick
    sell = jnp.floor(ref - half - impact + 1e-3)
    return jnp.clip(jnp.where(is_buy, buy, sell), 1, MAX_PRICE_TICKS).astype(jnp.int32)


def cap_lots(fill, is_buy, room) -> jnp.ndarray:
    """Cut fills [N, S, O] so that each (agent, symbol) fills at most ``room`` [N, S] lots,
    slots in order (cumulative)."""
    before = jnp.cumsum(fill, axis=-1) - fill
    return jnp.clip(fill, 0, jnp.maximum(room[..., None] - before, 0))


def participation_room(fp: FillParams, volume, used) -> jnp.ndarray:
    """int32[N, S] lots still allowed this bar (a large number where there is no cap)."""
    cap = jnp.floor(fp.participation * volume.astype(jnp.float32)).astype(jnp.int32)
    capped = (fp.participation > 0) & (volume > 0)
    return jnp.where(capped[None, :], jnp.maximum(cap[None, :] - used, 0), 2**30)


def during_bar(fp: FillParams, orders: Orders, bar: Bar, used):
    """Phase A: resting orders against bar t. Returns (filled, price, is_taker) [N, S, O]."""
    at_open = taker_price(fp, bar.open, orders.qty, bar.volume, bar.sigma, orders.is_buy)
    taker = jnp.where(orders.is_buy, orders.price >= at_open, orders.price <= at_open)
    through = jnp.where(orders.is_buy, bar.low[None, :, None] < orders.price,
                        bar.high[None, :, None] > orders.price)
    live = orders.qty > 0
    fill = jnp.where(live & (taker | through), orders.qty, 0)
    fill = cap_lots(fill, orders.is_buy, participation_room(fp, bar.volume, used))
    return fill, jnp.where(taker, at_open, orders.price), taker


def at_close(fp: FillParams, orders: Orders, bar: Bar, used):
    """Phase B: orders placed at bar t's close fill there if marketable (fill=close)."""
    price = taker_price(fp, bar.close, orders.qty, bar.volume, bar.sigma, orders.is_buy)
    taker = jnp.where(orders.is_buy, orders.price >= price, orders.price <= price)
    fill = jnp.where(fp.at_close & taker & (orders.qty > 0), orders.qty, 0)
    fill = cap_lots(fill, orders.is_buy, participation_room(fp, bar.volume, used))
    return fill, price, jnp.ones_like(taker)


def settle(fp: FillParams, accounts: Accounts, orders: Orders, filled, price, is_taker):
    """Exact settlement: cash moves by ``lots * price`` per order (:mod:`qtgjax.market.money`),
    positions by the lots, fees leave through :func:`qtgjax.sim.settle.charge` (external
    cash); the unfilled rest stays resting. Returns (accounts, fees int32[N])."""
    signed = jnp.where(orders.is_buy, filled, -filled)
    paid = money.sum_small(money.product(signed, price), axis=(1, 2))
    notional = filled.astype(jnp.float32) * price.astype(jnp.float32)
    fees = basis_points(notional, jnp.where(is_taker, fp.taker_bps, fp.maker_bps)).sum((1, 2))
    accounts = accounts.replace(
        cash=money.sub(accounts.cash, paid),
        position=accounts.position + signed.sum(-1),
        orders=orders.replace(qty=orders.qty - filled),
    )
    return charge(accounts, fees), fees
