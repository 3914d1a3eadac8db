"""Static shapes, sweepable parameters, state and per-tick records of a simulation.

Shapes are per scenario; ``vmap`` adds a leading scenario axis to params, state and records.
S = symbols, K = grid levels, F = families, N_f / O_f = agents / order slots of family f.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from qtgjax.agents.types import AccountParams, FamilySpec
from qtgjax.market.money import Money
from qtgjax.market.types import Accounts
from qtgjax.sim.depth import DepthSpec
from qtgjax.sim.fills import FillsSpec
from qtgjax.sim.signals import IndicatorParams, IndicatorState
from qtgjax.tree import pytree, static_field


@pytree
class SimStatic:
    """Everything that fixes array shapes (hashable: part of the jit cache key).

    Attributes:
        n_symbols: S.
        n_levels: K, price levels per book (one tick apart).
        n_ages: age classes for time priority; ages >= n_ages - 1 share the oldest class.
        families: one :class:`FamilySpec` per family, in result order.
        history: H, closes kept per symbol for window indicators.
        depth: the per-level depth record (``record.depth``, ``record.depth_every``);
            off by default, and then compiled out.
        n_venues: V, venues (exchanges); every (venue, symbol) pair has its own book
            (:mod:`qtgjax.sim.venues`).
        routes: per family, its routing rule (one of ``qtgjax.sim.venues.ROUTES``);
            empty means ``fixed`` for every family.
        max_delay: D, the most ticks an order may be in flight (ring size D + 1); 0 = no
            latency, nothing of :mod:`qtgjax.sim.latency` compiled in.
        delayed: per family, whether it has a latency profile (a ``latency`` key): only
            those families' orders and views go through the rings; the others act on the
            fresh view and reach the venues at once, at no cost. Empty means every family.
        fills: the execution reports (``record.fills`` and its filters); off by default,
            and then compiled out.
        agent_pnl: write ``agent_pnl.parquet``, one row per agent (``record.agent_pnl``);
            built from the initial and final state, it changes nothing in the tick.
        agent_risk: carry each agent's trading-account statistics through the scan
            (:mod:`qtgjax.sim.agent_risk`, ``record.agent_risk``): per-agent Sharpe, Sortino
            and drawdown of trading P&L; off by default, and then compiled out.
        order_types: sorted codes (:mod:`qtgjax.market.order_types`) of the order types
            the families place (their ``order_types`` config keys); empty when they place
            limit orders only, and then none of :mod:`qtgjax.sim.order_flow` is compiled.
    """

    n_symbols: int = static_field()
    n_levels: int = static_field()
    n_ages: int = static_field()
    families: tuple[FamilySpec, ...] = static_field()
    history: int = static_field(default=64)
    depth: DepthSpec = static_field(default=DepthSpec())
    n_venues: int = static_field(default=1)
    routes: tuple[str, ...] = static_field(default=())
    max_delay: int = static_field(default=0)
    delayed: tuple[bool, ...] = static_field(default=())
    fills: FillsSpec = static_field(default=FillsSpec())
    agent_pnl: bool = static_field(default=False)
    agent_risk: bool = static_field(default=False)
    order_types: tuple[int, ...] = static_field(default=())

    def route(self, family: int) -> str:
        """Routing rule of family ``family``."""
        return self.routes[family] if self.routes else "fixed"

    def in_flight(self, family: int) -> bool:
        """Whether family ``family``'s orders and market data go through the latency rings."""
        return bool(self.max_delay) and (self.delayed[family] if self.delayed else True)


@pytree
class MarketParams:
    """Market-wide numbers.

    Attributes:
        initial_price: int32[S] starting price, ticks.
        ema_fast: float32[] smoothing weight of the fast price EMA per tick.
        ema_slow: float32[] smoothing weight of the slow price EMA per tick.
        vol_smoothing: float32[] smoothing weight of the squared-return EMA per tick.
        recentre: int32[] the grid re-centres on the last price when it is more than
            this many levels from the centre.
        indicators: periods of the indicators agents see.
    """

    initial_price: jnp.ndarray
    ema_fast: jnp.ndarray
    ema_slow: jnp.ndarray
    vol_smoothing: jnp.ndarray
    recentre: jnp.ndarray
    indicators: IndicatorParams


@pytree
class FundamentalParams:
    """Dividend process and Gordon growth valuation per symbol (per-period rates).

    Attributes:
        discount_rate: float32[] r per dividend period.
        growth: float32[] g per dividend period (g < r).
        dividend_vol: float32[] sd of the log-dividend innovation per tick.
        news_rate: float32[] probability of a news event per symbol per tick.
        news_size: float32[] mean absolute log-dividend jump of a news event.
        dividend_period: int32[] ticks between dividend payments.
        sector: int32[S] sector id of each symbol, in [0, S).
        sector_weight: float32[] share of the dividend innovation variance common to a sector.
        sector_news_rate: float32[] probability of a news event per sector per tick.
    """

    discount_rate: jnp.ndarray
    growth: jnp.ndarray
    dividend_vol: jnp.ndarray
    news_rate: jnp.ndarray
    news_size: jnp.ndarray
    dividend_period: jnp.ndarray
    sector: jnp.ndarray
    sector_weight: jnp.ndarray
    sector_news_rate: jnp.ndarray


@pytree
class SimParams:
    """All sweepable numbers (a pytree of arrays; may carry a leading scenario axis).

    Attributes:
        market: :class:`MarketParams`.
        fundamentals: :class:`FundamentalParams`.
        accounts: per family, :class:`AccountParams`.
        strategies: per family, the family's own ``Params``.
        venues: :class:`~qtgjax.sim.venues.VenueParams` (None: one venue clearing every
            tick with no fees of its own).
        latency: :class:`~qtgjax.sim.latency.LatencyParams` [F, V] (None: no latency).
    """

    market: MarketParams
    fundamentals: FundamentalParams
    accounts: tuple[AccountParams, ...]
    strategies: tuple[Any, ...]
    venues: Any = None
    latency: Any = None


@pytree
class MarketState:
    """Per-symbol market state.

    Attributes:
        last_price: int32[S] ticks.
        anchor: int32[S] price at the grid centre (level K // 2), ticks.
        best_bid: int32[S] best residual bid after the last auction, ticks (0 = none).
        best_ask: int32[S] best residual ask after the last auction, ticks (0 = none).
        ema_fast: float32[S] ticks.
        ema_slow: float32[S] ticks.
        volatility: float32[S] EMA of squared one-tick log returns.
        off_grid: int32[S] orders cancelled so far because they fell off the grid.
        volume: int32[S] lots traded in the last auction.
        indicators: streaming indicator state.
        venues: :class:`~qtgjax.sim.venues.VenueMarket`, the same per (venue, symbol);
            the fields above are the consolidated tape (one venue: that venue's).
        features: :class:`qtgjax.ml.features.FeatureState`, the ML features' streams.
    """

    last_price: jnp.ndarray
    anchor: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    ema_fast: jnp.ndarray
    ema_slow: jnp.ndarray
    volatility: jnp.ndarray
    off_grid: jnp.ndarray
    volume: jnp.ndarray
    indicators: IndicatorState
    venues: Any = None
    features: Any = None


@pytree
class FundamentalState:
    """Attributes:
    log_dividend: float32[S] log of the dividend per lot per period, in ticks.
    value: float32[S] Gordon growth fair value, ticks.
    news: float32[S] log-dividend jump of the latest tick (0 = no news).
    """

    log_dividend: jnp.ndarray
    value: jnp.ndarray
    news: jnp.ndarray


@pytree
class SimState:
    """The whole market of one scenario.

    Attributes:
        tick: int32[] ticks done.
        market: :class:`MarketState`.
        fundamentals: :class:`FundamentalState`.
        accounts: per family, :class:`~qtgjax.market.types.Accounts`.
        extras: per family, its own state pytree.
        latency: :class:`~qtgjax.sim.latency.LatencyState` (None when max_delay = 0).
    """

    tick: jnp.ndarray
    market: MarketState
    fundamentals: FundamentalState
    accounts: tuple[Accounts, ...]
    extras: tuple[Any, ...]
    latency: Any = None


@pytree
class TickRecord:
    """What one tick records (scan's ``ys``); the rollout stacks a leading tick axis.

    Attributes:
        open, high, low, close: int32[S] ticks (open = previous close; a tick's bar spans
            the previous auction to this one).
        volume: int32[S] lots traded in this tick's auction.
        taker_flow: int32[S] signed aggressor flow: lots bought minus lots sold by orders
            new in this auction (age 0, the orders that pay the taker fee), in [-volume,
            volume]; > 0 when new buyers took resting liquidity.
        clear_price: int32[S] clearing price, ticks (0 when nothing traded).
        best_bid, best_ask: int32[S] residual best quotes after the auction (0 = none).
        bid_depth, ask_depth: int32[S] residual lots on the grid per side.
        fundamental: float32[S] fair value, ticks.
        news: float32[S] log-dividend jump of this tick's news (0 = none).
        cash: Money[F] total cash of each family.
        external: Money[F] total external cash of each family.
        position: int32[F, S] total lots of each family.
        traded: int32[F] lots each family bought plus sold in this tick.
        fills: int32[F] orders of each family that (partly) filled in this tick.
        fees: Money[F] fees each family paid in this tick (negative = net rebates).
        dividends: Money[F] dividends each family received in this tick (shorts pay).
        borrow: Money[F] borrow costs each family paid in this tick.
        venues: :class:`~qtgjax.sim.venues.VenueRecord` per (venue, symbol) when V > 1
            (None with one venue: the fields above are the venue's). With several venues
            the fields above are consolidated: volume, flow and depth summed over venues,
            prices those of the venue that traded most, quotes the best across venues.
        latency: :class:`~qtgjax.sim.latency.LatencyRecord` int32[F, V] message counts
            (None when max_delay = 0).
    """

    open: jnp.ndarray
    high: jnp.ndarray
    low: jnp.ndarray
    close: jnp.ndarray
    volume: jnp.ndarray
    taker_flow: jnp.ndarray
    clear_price: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    bid_depth: jnp.ndarray
    ask_depth: jnp.ndarray
    fundamental: jnp.ndarray
    news: jnp.ndarray
    cash: Money
    external: Money
    position: jnp.ndarray
    traded: jnp.ndarray
    fills: jnp.ndarray
    fees: Money
    dividends: Money
    borrow: Money
    venues: Any = None
    latency: Any = None
