"""The realistic market (conf/realistic.yaml) shows the stylized facts of real returns.

The committed config runs as it is, shortened for CI: 4 seeds x 3 symbols x 2,000 ticks,
12 series. Every fact is checked on each series or on the mean over the 12, at a size of
5% or less: white-noise bands joint over the lags tested
(``analysis.stylized_facts.white_noise_band``) and robust tests of no autocorrelation
(``uncorrelated_test``).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stylized_facts import (
    abs_acf,
    excess_kurtosis,
    horizon_returns,
    uncorrelated_test,
    white_noise_band,
)

SEEDS = 4
TICKS = 2000
BURN = 200  # ticks dropped while the variance EMA and the book fill up
SHORTENED = [f"scenarios={SEEDS}", f"ticks={TICKS}"]


def series(x) -> np.ndarray:
    """float64[B * S, T]: one row per (scenario, symbol) of a [B, T, S] record."""
    x = np.asarray(x, np.float64)
    return np.moveaxis(x, 2, 1).reshape(-1, x.shape[1])


@pytest.fixture(scope="module")
def market():
    """(returns float64[12, T'], volume float64[12, T'], taker flow float64[12, T']): the
    taker flow is the engine's signed aggressor flow (new orders' lots bought minus sold)."""
    import qtgjax

    res = qtgjax.simulate(qtgjax.load_config(SHORTENED, config_name="realistic"))
    rec = res.out.records
    close = series(rec.close)[:, BURN:]  # ticks
    volume = series(rec.volume)[:, BURN + 1 :]
    flow = series(rec.taker_flow)[:, BURN + 1 :]
    return np.diff(np.log(close), axis=1), volume, flow


def test_fat_tails_at_the_tick_scale_that_thin_out_with_aggregation(market):
    returns, _, _ = market
    n = returns.shape[1]
    kurt = {h: excess_kurtosis(horizon_returns(returns, h)) for h in (1, 5, 20)}
    # Under normality the excess kurtosis of n returns has sd sqrt(24 / n) (0.12 here):
    # every series must be 8 of those above zero at the tick scale.
    assert np.all(kurt[1] > 8 * np.sqrt(24 / n)), kurt[1]
    # Aggregation thins the tails: the series' mean kurtosis falls from 1 to 5 to 20 ticks.
    means = [kurt[h].mean() for h in (1, 5, 20)]
    assert means[0] > means[1] > means[2], means


def test_no_linear_autocorrelation_beyond_the_first_lags(market):
    returns, _, _ = market
    # Lags 1 and 2 carry the bid-ask bounce (negative, as in intraday data) and are not
    # tested. Lags 3..20 are tested with heteroskedasticity-robust Box-Pierce tests (the
    # iid Ljung-Box rejects clustered but uncorrelated returns about a third of the time:
    # tests/test_stylized_facts.py). The breakout-chasing market before round 5 of the
    # calibration (reactive fade_share 0) fails both: mean p 2e-44, 10 of 12 series.
    test = uncorrelated_test(returns, lags=range(3, 21))
    # The mean autocorrelation over the 12 series is that of uncorrelated returns,
    assert test["mean_p"] >= 0.05, test
    # and so is each series: no more of them reject at 5% than chance allows (2 of 12;
    # 3 or more happen with probability 0.02 under the null).
    assert np.sum(test["series_p"] < 0.05) <= test["max_rejections"], test


def test_volatility_clusters_for_tens_of_ticks(market):
    returns, _, _ = market
    n = returns.shape[1]
    rho = np.stack([abs_acf(r, 30) for r in returns])  # [12, 30], lag 1..30
    # The mean over the series of the |r| autocorrelation is above the joint 95%
    # white-noise band of such a mean at every lag 1..30,
    band = white_noise_band(n, n_series=len(rho), n_lags=30)
    assert np.all(rho.mean(0) > band), (rho.mean(0), band)
    # and every series clusters: its |r| autocorrelation over lags 10..30 is positive.
    assert np.all(rho[:, 9:].mean(1) > 0), rho[:, 9:].mean(1)


def test_volume_and_volatility_move_together(market):
    returns, volume, _ = market
    corr = np.array([np.corrcoef(np.abs(r), v)[0, 1] for r, v in zip(returns, volume, strict=True)])
    # Correlations above 2 / sqrt(n) would be significant; require 0.2, well clear of it.
    assert np.all(corr > max(0.2, white_noise_band(returns.shape[1]))), corr


def impact_exponent(returns, flow, window: int = 10, bins: int = 8) -> float:
    """Slope of log mean |R| against log mean |F| over quantile bins of |F|, with R and F
    the summed returns and taker flow (lots) of non-overlapping ``window``-tick blocks."""
    big_r, big_f = horizon_returns(returns, window), horizon_returns(flow, window)
    size = np.abs(big_f)
    edges = np.quantile(size, np.linspace(0.0, 1.0, bins + 1))
    which = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, bins - 1)
    x = np.array([size[which == b].mean() for b in range(bins)])
    y = np.array([np.abs(big_r[which == b]).mean() for b in range(bins)])
    ok = (x > 0) & (y > 0)
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def test_price_impact_is_concave_in_order_flow(market):
    returns, _, flow = market
    beta = np.array([impact_exponent(r, f) for r, f in zip(returns, flow, strict=True)])
    # Linear impact has exponent 1 (the square-root law 0.5): every series' impact grows with
    # the flow (beta > 0.1) and clearly slower than linearly (beta < 0.85).
    assert np.all((beta > 0.1) & (beta < 0.85)), beta


def test_threshold_traders_grow_active_with_volatility_and_adapt_thresholds():
    import jax.numpy as jnp
    from family_helpers import accounts, act, family_setup, view

    family, spec, params = family_setup(
        "threshold", n_agents=4000, p_active=0.1, threshold=0.0, vol_feedback=0.9, vol_cap=4.0
    )
    extra = family.init_extra(spec, params, jax_key(0))
    acct = accounts(spec, 1)
    calm = view(volatility=jnp.full(2, float(params.vol_ref) ** 2))
    wild = view(volatility=jnp.full(2, (3 * float(params.vol_ref)) ** 2))
    n_calm = int((act(family, spec, params, acct, calm, extra)[0].qty > 0).sum())
    n_wild = int((act(family, spec, params, acct, wild, extra)[0].qty > 0).sum())
    # activity x (1 - 0.9 + 0.9 * 9) = 8.2, capped at 4: about 4 times as many orders
    assert 3.0 < n_wild / n_calm < 5.0, (n_calm, n_wild)
    family, spec, params = family_setup("threshold", n_agents=8, update_prob=1.0)
    extra, acct = family.init_extra(spec, params, jax_key(0)), accounts(spec, 1)
    _, extra = act(family, spec, params, acct, view(price=(1000, 500)), extra)
    _, extra = act(family, spec, params, acct, view(price=(1010, 500)), extra)
    assert np.allclose(np.asarray(extra.theta[:, 0]), np.log(1010 / 1000), rtol=1e-4)
    assert np.all(np.asarray(extra.theta[:, 1]) == 0.0)


def jax_key(seed: int):
    import jax

    return jax.random.key(seed)
