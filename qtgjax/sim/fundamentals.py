"""Fundamentals: a log-dividend random walk with Poisson news jumps, valued by Gordon growth."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.sim.types import FundamentalParams, FundamentalState


def gordon_value(log_dividend, params: FundamentalParams):
    """Fair value D * (1 + g) / (r - g) in ticks."""
    growth = params.growth
    return jnp.exp(log_dividend) * (1.0 + growth) / (params.discount_rate - growth)


def init_fundamentals(initial_price, params: FundamentalParams) -> FundamentalState:
    """Start with the dividend that makes the fair value equal the initial price."""
    price = initial_price.astype(jnp.float32)
    dividend = price * (params.discount_rate - params.growth) / (1.0 + params.growth)
    log_dividend = jnp.log(dividend)
    return FundamentalState(log_dividend, gordon_value(log_dividend, params), jnp.zeros_like(price))


def step_fundamentals(state: FundamentalState, params: FundamentalParams, key) -> FundamentalState:
    """One tick: growth drift, a Gaussian innovation shared in part by each sector, and
    news jumps (Bernoulli per tick) on single symbols and on whole sectors."""
    k_own, k_sector, k_news, k_sector_news = jax.random.split(key, 4)
    shape = state.log_dividend.shape
    sector = params.sector
    drift = jnp.log1p(params.growth) / params.dividend_period.astype(jnp.float32)
    w = params.sector_weight
    common = jax.random.normal(k_sector, shape)[sector]
    innovation = params.dividend_vol * (
        jnp.sqrt(w) * common + jnp.sqrt(1.0 - w) * jax.random.normal(k_own, shape)
    )
    own_news = news_jumps(k_news, shape, params.news_rate, params.news_size)
    sector_news = news_jumps(k_sector_news, shape, params.sector_news_rate, params.news_size)
    news = own_news + sector_news[sector]
    log_dividend = state.log_dividend + drift + innovation + news
    return FundamentalState(log_dividend, gordon_value(log_dividend, params), news)


def news_jumps(key, shape, rate, mean_size) -> jnp.ndarray:
    """float32 log jumps: with probability ``rate`` an exponential size of random sign."""
    k_event, k_size, k_sign = jax.random.split(key, 3)
    event = jax.random.uniform(k_event, shape) < rate
    size = mean_size * jax.random.exponential(k_size, shape)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
    return jnp.where(event, sign * size, 0.0)


def dividend_ticks(state: FundamentalState) -> jnp.ndarray:
    """int32[S] dividend per lot paid at a payment date, whole ticks."""
    return jnp.clip(jnp.round(jnp.exp(state.log_dividend)), 0, 2**15 - 1).astype(jnp.int32)


def accrue(state: FundamentalState, params: FundamentalParams, tick) -> FundamentalState:
    """Cum-dividend fair value after ``tick`` ticks: the Gordon value of the dividends
    after the next payment plus the accrued part of the next one,
    ``D * (tick mod period) / period``; it falls by ``D`` when the dividend is paid."""
    period = params.dividend_period
    phase = (tick % period).astype(jnp.float32) / period.astype(jnp.float32)
    return state.replace(value=state.value + jnp.exp(state.log_dividend) * phase)


def ex_dividend(state, params):
    """The market after a payday's payment goes ex-dividend: the last price and every
    resting order's limit fall by the dividend (whole ticks, never below 1 tick), as
    exchanges adjust resting orders on the ex-date; ``state`` is a ``SimState`` whose
    ``tick`` counts the ticks done. Money is untouched (the dividend was paid in cash)."""
    is_payday = state.tick % params.fundamentals.dividend_period == 0
    drop = jnp.where(is_payday, dividend_ticks(state.fundamentals), 0)
    market = state.market.replace(last_price=jnp.maximum(state.market.last_price - drop, 1))
    if market.venues is not None:  # every venue's last price goes ex-dividend too
        venues = market.venues
        market = market.replace(
            venues=venues.replace(last_price=jnp.maximum(venues.last_price - drop[None, :], 1))
        )

    def lower(orders):
        live = orders.qty > 0
        moved = jnp.maximum(orders.price - drop[None, :, None], 1)
        orders = orders.replace(price=jnp.where(live, moved, orders.price))
        if orders.stop_price is None:
            return orders
        stop = jnp.maximum(orders.stop_price - drop[None, :, None], 1)  # stops' triggers too
        return orders.replace(stop_price=jnp.where(live, stop, orders.stop_price))

    accounts = tuple(a.replace(orders=lower(a.orders)) for a in state.accounts)
    return state.replace(market=market, accounts=accounts)
