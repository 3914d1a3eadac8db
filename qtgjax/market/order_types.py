"""Order types: one small int code per order slot, and the rules that turn typed orders
into the limit orders of the batch auction (elementwise on [N, S, O] orders).

Codes (``Orders.order_type``; ``NAMES[code]`` is the config name):

====  ============  ======================================================================
code  name          rule
====  ============  ======================================================================
0     limit         rests at its limit until filled, replaced or cancelled
1     market        a buy at the top of the grid / a sell at its bottom; the unfilled rest
                    is cancelled after the auction
2     ioc           a limit order whose unfilled rest is cancelled after the auction
3     fok           fill-or-kill (all-or-none): fills its whole quantity in the auction or
                    nothing, then is gone (see :func:`qtgjax.sim.order_flow.clear_typed`)
4     post_only     never takes: in the tick it is placed it is not in the auction; after
                    the auction (and after the rests of market / IOC / FOK orders are
                    cancelled) it joins the book only if it crosses nothing: a buy
                    strictly below the clearing price (when the book traded), the best
                    resting ask and every other new post-only sell; a sell strictly above
                    the same on the bid side; otherwise it is cancelled (reason: post-only
                    would cross). From its second tick on it is a resting limit order
                    (age >= 1: a maker).
5     stop          waits outside the book (not in the auction, not in market data) until
                    the last price at the start of a tick is at or above ``stop_price``
                    (buy) / at or below it (sell); it then enters that tick's auction as a
                    new market order (age 0, code ``STOP_FIRED``)
6     stop_limit    the same trigger; it then enters as a new limit order at ``price``
                    (code ``STOP_LIMIT_FIRED``)
7     peg_mid       a limit re-priced every tick before the auction at the mid of the
                    previous auction's residual best quotes (buys floor, sells ceil; the
                    last price where a side is empty), ``peg_offset`` ticks away from the
                    other side (a buy at mid - offset, a sell at mid + offset; a negative
                    offset is more aggressive); it keeps its time priority
8     peg_best      the same at the same side's best quote (buy: best bid, sell: best ask)
9     iceberg       takes part in the auction with all its lots at its time priority
                    (hidden lots trade too, as icebergs do in exchanges' call auctions);
                    market data, the best quotes and depth show only its ``shown`` lots
                    (at most ``display``); when a tick's fills reach the shown lots and
                    lots are left, ``min(display, rest)`` lots are shown again and the
                    order loses its time priority (it ranks as an order placed in that
                    tick: age 0 after the auction, 1 in the next)
====  ============  ======================================================================

A stop that fired takes the code ``STOP_FIRED`` (10: a market order from then on) and a
stop-limit ``STOP_LIMIT_FIRED`` (11: a limit order), so that its fills still say it was
placed as a stop (:func:`placed_type`); ``age`` counts the ticks since it entered the book.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.market.money import MAX_PRICE_TICKS

NAMES = (
    "limit",
    "market",
    "ioc",
    "fok",
    "post_only",
    "stop",
    "stop_limit",
    "peg_mid",
    "peg_best",
    "iceberg",
)
CODES = {name: i for i, name in enumerate(NAMES)}
LIMIT, MARKET, IOC, FOK, POST_ONLY, STOP, STOP_LIMIT, PEG_MID, PEG_BEST, ICEBERG = range(10)
STOP_FIRED, STOP_LIMIT_FIRED = 10, 11  # stops after their trigger (see the module docstring)
AT_MARKET = (MARKET, STOP_FIRED)  # orders at the edge of the grid
CANCEL_REST = (MARKET, IOC, FOK, STOP_FIRED)  # the unfilled rest is cancelled after the auction


def placed_type(order_type):
    """The code the order was placed with (a fired stop's ``STOP`` / ``STOP_LIMIT``)."""
    return jnp.where(order_type >= STOP_FIRED, order_type - (STOP_FIRED - STOP), order_type)


def is_any(order_type, codes) -> jnp.ndarray:
    """bool: ``order_type`` is one of ``codes`` (elementwise)."""
    out = jnp.zeros(jnp.shape(order_type), bool)
    for c in codes:
        out = out | (order_type == c)
    return out


def trigger(orders, last_price, clears=None):
    """(order_type, age) after this tick's stop triggers; ``last_price`` int32[S].

    A live stop (stop_limit) buy fires when ``last >= stop_price``, a sell when
    ``last <= stop_price``; it becomes a new ``STOP_FIRED`` (``STOP_LIMIT_FIRED``) order
    of age 0. ``clears`` (bool[S], None = all): only in a book that holds its auction this
    tick (a periodic venue's stops fire at its auctions)."""
    t = orders.order_type
    last = last_price[None, :, None]
    hit = jnp.where(orders.is_buy, last >= orders.stop_price, last <= orders.stop_price)
    if clears is not None:
        hit = hit & clears[None, :, None]
    fire = ((t == STOP) | (t == STOP_LIMIT)) & hit & (orders.qty > 0)
    t = jnp.where(fire, t + (STOP_FIRED - STOP), t)
    return t, jnp.where(fire, 0, orders.age)


def peg_price(order_type, price, is_buy, peg_offset, last_price, best_bid, best_ask):
    """Limit prices after re-pegging (int32 [N, S, O]); per-symbol inputs int32[S]."""
    bb, ba, last = (x[None, :, None] for x in (best_bid, best_ask, last_price))
    both = (bb > 0) & (ba > 0)
    mid_buy = jnp.where(both, (bb + ba) >> 1, last)
    mid_sell = jnp.where(both, (bb + ba + 1) >> 1, last)
    best_buy, best_sell = jnp.where(bb > 0, bb, last), jnp.where(ba > 0, ba, last)
    ref = jnp.where(
        order_type == PEG_MID,
        jnp.where(is_buy, mid_buy, mid_sell),
        jnp.where(is_buy, best_buy, best_sell),
    )
    pegged = clip_price(jnp.where(is_buy, ref - peg_offset, ref + peg_offset))
    return jnp.where(is_any(order_type, (PEG_MID, PEG_BEST)), pegged, price)


def auction_price(order_type, price, is_buy):
    """Limit prices in the auction: a market buy at the top price, a sell at 1 tick (the
    grid clips them to its edges)."""
    edge = jnp.where(is_buy, MAX_PRICE_TICKS, 1)
    return jnp.where(is_any(order_type, AT_MARKET), edge, price)


def offered_lots(order_type, qty, age):
    """int32 lots each order offers in this tick's auction: 0 for a waiting stop and a new
    post-only order, else its quantity (an iceberg's hidden lots included)."""
    waiting = is_any(order_type, (STOP, STOP_LIMIT)) | ((order_type == POST_ONLY) & (age == 0))
    return jnp.where(waiting, 0, qty)


def refill(order_type, shown, display, fill, rest):
    """(shown lots after the auction, refilled: bool) of icebergs; ``rest`` = lots left.

    Fills take the shown lots first; once they are gone and lots are left, the iceberg
    shows ``min(display, rest)`` again (refilled). Other types show nothing extra (0)."""
    left = jnp.minimum(shown - fill, rest)
    refilled = (order_type == ICEBERG) & (left <= 0) & (rest > 0)
    shown = jnp.where(refilled, jnp.minimum(display, rest), jnp.maximum(left, 0))
    return jnp.where(order_type == ICEBERG, shown, 0), refilled
