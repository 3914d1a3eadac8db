"""Observation features: the market view every family sees, plus a task's own features.

:func:`market_features` turns a :class:`~qtgjax.market.types.MarketView` (the output of
:func:`qtgjax.sim.tick.observe`, indicators included) into float32 features per symbol;
:func:`build_obs` appends a task's per-learner features. Every feature is clipped to
[-OBS_CLIP, OBS_CLIP] and NaN (an indicator still warming up) becomes 0.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.market.types import MarketView

OBS_CLIP = 10.0
PRICE_SCALE = 10.0  # ticks: price differences are observed in units of 10 ticks

MARKET_FEATURES = (
    "spread",  # (best_ask - best_bid) / 10 ticks; 0 when a side is empty
    "last_vs_mid",  # (last_price - mid) / 10 ticks
    "ema_fast_vs_mid",  # (ema_fast - mid) / 10 ticks
    "ema_slow_vs_mid",  # (ema_slow - mid) / 10 ticks
    "fundamental_vs_mid",  # (fundamental value / mid - 1) * 100 (percent)
    "volatility",  # sqrt(EMA of squared 1-tick log returns) * 1e3
    "news",  # log-dividend jump of the last news * 100
    "volume",  # log1p(lots traded in the last auction) / 5
    "rsi",  # RSI / 50 - 1, in [-1, 1]
    "macd_hist",  # (MACD - signal) / 10 ticks
    "bollinger_b",  # (mid - lower band) / (upper - lower) - 0.5
    "range_high_vs_mid",  # (range high - mid) / 10 ticks
    "range_low_vs_mid",  # (range low - mid) / 10 ticks
    "atr",  # Wilder ATR / 10 ticks
    "pair_z",  # pair z-score / 3
    "sma_trend",  # (SMA fast - SMA slow) / 10 ticks
)


def market_features(view: MarketView) -> jnp.ndarray:
    """float32[S, len(MARKET_FEATURES)] features of every symbol (see MARKET_FEATURES)."""
    ind = view.indicators
    mid = view.mid
    both = (view.best_bid > 0) & (view.best_ask > 0)
    spread = jnp.where(both, (view.best_ask - view.best_bid).astype(jnp.float32), 0.0)

    def vs_mid(x):
        return (x - mid) / PRICE_SCALE

    band = ind.bb_upper - ind.bb_lower
    cols = [
        spread / PRICE_SCALE,
        vs_mid(view.last_price.astype(jnp.float32)),
        vs_mid(view.ema_fast),
        vs_mid(view.ema_slow),
        (view.fundamental / mid - 1.0) * 100.0,
        jnp.sqrt(jnp.maximum(view.volatility, 0.0)) * 1e3,
        view.news * 100.0,
        jnp.log1p(view.volume.astype(jnp.float32)) / 5.0,
        ind.rsi / 50.0 - 1.0,
        (ind.macd - ind.macd_signal) / PRICE_SCALE,
        jnp.where(band > 0, (mid - ind.bb_lower) / jnp.where(band > 0, band, 1.0) - 0.5, 0.0),
        vs_mid(ind.range_high),
        vs_mid(ind.range_low),
        ind.atr / PRICE_SCALE,
        ind.pair_z / 3.0,
        (ind.sma_fast - ind.sma_slow) / PRICE_SCALE,
    ]
    return jnp.stack(cols, axis=-1)


def build_obs(view: MarketView, symbols: tuple[int, ...], task_features) -> jnp.ndarray:
    """float32[L, F] observation of each learner: the market features of ``symbols``
    (flattened symbol-major) followed by the task's features float32[L, F_task]."""
    market = market_features(view)[jnp.asarray(symbols)].reshape(-1)
    n = task_features.shape[0]
    obs = jnp.concatenate([jnp.broadcast_to(market, (n, market.shape[0])), task_features], -1)
    return jnp.clip(jnp.nan_to_num(obs, nan=0.0), -OBS_CLIP, OBS_CLIP).astype(jnp.float32)
