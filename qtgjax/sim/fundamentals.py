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
    """One tick: drift to grow at g per period, Gaussian innovation, Poisson(ish) news."""
    k_noise, k_news, k_size, k_sign = jax.random.split(key, 4)
    shape = state.log_dividend.shape
    drift = jnp.log1p(params.growth) / params.dividend_period.astype(jnp.float32)
    innovation = params.dividend_vol * jax.random.normal(k_noise, shape)
    event = jax.random.uniform(k_news, shape) < params.news_rate
    size = params.news_size * jax.random.exponential(k_size, shape)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
    news = jnp.where(event, sign * size, 0.0)
    log_dividend = state.log_dividend + drift + innovation + news
    return FundamentalState(log_dividend, gordon_value(log_dividend, params), news)


def dividend_ticks(state: FundamentalState) -> jnp.ndarray:
    """int32[S] dividend per lot paid at a payment date, whole ticks."""
    return jnp.clip(jnp.round(jnp.exp(state.log_dividend)), 0, 2**15 - 1).astype(jnp.int32)
