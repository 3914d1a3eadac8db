"""Market data types: orders, accounts and what the market shows its participants.

Units: prices are int32 ticks, quantities int32 lots, cash exact :class:`Money` in
cash units (one tick times one lot). Shapes are given per scenario; a leading scenario axis
is added by ``vmap``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from qtgjax.market.money import Money
from qtgjax.tree import pytree


@pytree
class Orders:
    """Limit orders of one family, one slot per (agent, symbol, slot).

    Attributes:
        price: int32[N, S, O] limit price in ticks.
        qty: int32[N, S, O] lots, >= 0 (0 = no order).
        is_buy: bool[N, S, O] side.
        age: int32[N, S, O] ticks the order has rested in the book (0 = new this tick).
        order_type: int32[N, S, O] order type code (:mod:`qtgjax.market.order_types`:
            0..9 as placed, 10 / 11 a stop / stop-limit that fired); None in a market of
            limit orders only (``SimStatic.order_types`` empty), and then the four fields
            below are None too.
        stop_price: int32[N, S, O] ticks, the trigger of a stop / stop-limit order.
        peg_offset: int32[N, S, O] ticks, a pegged order's distance from its reference.
        display: int32[N, S, O] lots an iceberg shows at most.
        shown: int32[N, S, O] lots of an iceberg shown now (in the auction and the book).
    """

    price: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray
    age: jnp.ndarray
    order_type: Any = None
    stop_price: Any = None
    peg_offset: Any = None
    display: Any = None
    shown: Any = None

    @staticmethod
    def empty(n_agents: int, n_symbols: int, n_slots: int, typed: bool = False) -> Orders:
        """No orders; ``typed`` adds the order-type fields (all zero: limit orders)."""
        shape = (n_agents, n_symbols, n_slots)
        zeros = jnp.zeros(shape, jnp.int32)
        extra = (zeros,) * 5 if typed else ()
        return Orders(zeros, zeros, jnp.zeros(shape, bool), zeros, *extra)


@pytree
class OrderIntent:
    """What a family wants this tick, per (agent, symbol, slot).

    Where ``replace`` is False the resting order stays (and ages); where True it is
    cancelled and replaced by (price, qty, is_buy); qty 0 cancels.

    Attributes:
        price: int32[N, S, O] ticks.
        qty: int32[N, S, O] lots >= 0.
        is_buy: bool[N, S, O].
        replace: bool[N, S, O].
        order_type: int32[N, S, O] order type codes of the new orders
            (:mod:`qtgjax.market.order_types`); None: limit orders.
        stop_price: int32[N, S, O] ticks, stop triggers (None: 0).
        peg_offset: int32[N, S, O] ticks, peg offsets (None: 0).
        display: int32[N, S, O] lots an iceberg shows (None: 0).
    """

    price: jnp.ndarray
    qty: jnp.ndarray
    is_buy: jnp.ndarray
    replace: jnp.ndarray
    order_type: Any = None
    stop_price: Any = None
    peg_offset: Any = None
    display: Any = None


@pytree
class Accounts:
    """Exact accounts of one family's agents.

    Attributes:
        cash: Money[N] cash units.
        position: int32[N, S] lots held (negative = short).
        external: Money[N] net cash that came from outside the traded market
            (dividends in, fees and borrow costs out), cash units.
        orders: resting :class:`Orders` [N, S, O].
    """

    cash: Money
    position: jnp.ndarray
    external: Money
    orders: Orders


@pytree
class Indicators:
    """Per-symbol technical indicators of the close series, float32[S] each, in ticks
    unless stated; periods are market parameters (``market.indicators``).

    Attributes:
        sma_fast, sma_slow: simple moving averages.
        rsi: Wilder relative strength index, 0..100.
        macd, macd_signal: MACD line (fast EMA - slow EMA) and its signal EMA.
        bb_mid, bb_upper, bb_lower: Bollinger bands (SMA +/- k population std).
        range_high, range_low: highest / lowest close of the previous ``range`` ticks.
        atr: Wilder average true range.
        pair_z: z-score of log(price / partner price), the partner being the other symbol
            of the pair (symbols 2i and 2i + 1); 0 for an unpaired symbol.
        ready: bool[] true once the longest window is filled (warm-up over).
    """

    sma_fast: jnp.ndarray
    sma_slow: jnp.ndarray
    rsi: jnp.ndarray
    macd: jnp.ndarray
    macd_signal: jnp.ndarray
    bb_mid: jnp.ndarray
    bb_upper: jnp.ndarray
    bb_lower: jnp.ndarray
    range_high: jnp.ndarray
    range_low: jnp.ndarray
    atr: jnp.ndarray
    pair_z: jnp.ndarray
    ready: jnp.ndarray


@pytree
class MarketView:
    """What every agent sees of the market at the start of a tick, per symbol.

    Attributes:
        tick: int32[] tick index.
        last_price: int32[S] last clearing price, ticks.
        best_bid: int32[S] best resting bid after the previous auction, ticks (0 if none).
        best_ask: int32[S] best resting ask after the previous auction, ticks (0 if none).
        anchor: int32[S] price at the centre of the grid, ticks.
        fundamental: float32[S] fundamental value, ticks.
        ema_fast: float32[S] fast EMA of the last price, ticks.
        ema_slow: float32[S] slow EMA of the last price, ticks.
        volatility: float32[S] EMA of squared one-tick log returns (a variance).
        news: float32[S] log-dividend jump of the previous tick's news (0 = no news).
        volume: int32[S] lots traded in the previous auction.
        sector: int32[S] sector id of each symbol.
        indicators: :class:`Indicators` of the close series.
        venues: per (venue, symbol) data int32[V, S] (``last_price``, ``best_bid``,
            ``best_ask``, ``volume``, ``bid_depth``, ``ask_depth``); the per-symbol fields
            above are the consolidated tape, ``best_bid``/``best_ask`` the consolidated
            best bid and offer across venues. None outside the engine.
        features: float32[S, F] the canonical ML features after the previous auction
            (:data:`qtgjax.ml.features.MARKET_FEATURES`; None in views built elsewhere).
    """

    tick: jnp.ndarray
    last_price: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    anchor: jnp.ndarray
    fundamental: jnp.ndarray
    ema_fast: jnp.ndarray
    ema_slow: jnp.ndarray
    volatility: jnp.ndarray
    news: jnp.ndarray
    volume: jnp.ndarray
    sector: jnp.ndarray
    indicators: Indicators
    venues: Any = None
    features: jnp.ndarray | None = None

    @property
    def mid(self) -> jnp.ndarray:
        """float32[S] mid of the best quotes, or the last price where a side is empty."""
        both = (self.best_bid > 0) & (self.best_ask > 0)
        mid = 0.5 * (self.best_bid + self.best_ask).astype(jnp.float32)
        return jnp.where(both, mid, self.last_price.astype(jnp.float32))
