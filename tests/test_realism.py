"""The realistic market (conf/realistic.yaml) shows the stylized facts of real returns.

The market is reduced for CI but keeps every mechanism: one symbol instead of three, and
half the liquidity takers of each family acting twice as often (the same order flow per
tick; the liquidity providers, whose one order slot each makes the book, are kept), over
several seeds. Every fact is checked on each seed's path or on the
average over seeds, against a band that a path without the fact would not reach.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stylized_facts import abs_acf, acf, excess_kurtosis, horizon_returns

SEEDS = 4
TICKS = 2000
BURN = 200  # ticks dropped while the variance EMA and the book fill up
REDUCED = [
    f"scenarios={SEEDS}",
    f"ticks={TICKS}",
    "market.symbols=1",
    "market.initial_price=[15000]",
    "market.sectors=[0]",
    "families.threshold.n_agents=750",
    "families.threshold.params.p_active=0.04",
    "families.fundamental.n_agents=100",
    "families.fundamental.params.p_active=0.02",
    "families.momentum.n_agents=25",
    "families.momentum.params.p_active=0.1",
    "families.reactive.n_agents=500",
]


@pytest.fixture(scope="module")
def market():
    """(returns float64[B, T'], volume float64[B, T'], taker flow float64[B, T']): the
    taker flow is the engine's signed aggressor flow (new orders' lots bought minus sold)."""
    import qtgjax

    res = qtgjax.simulate(qtgjax.load_config(REDUCED, config_name="realistic"))
    rec = res.out.records
    close = np.asarray(rec.close, np.float64)[:, BURN:, 0]  # [B, T - BURN] ticks
    volume = np.asarray(rec.volume, np.float64)[:, BURN + 1 :, 0]
    flow = np.asarray(rec.taker_flow, np.float64)[:, BURN + 1 :, 0]
    return np.diff(np.log(close), axis=1), volume, flow


def band(n: int) -> float:
    """Half-width of the 95% band of a sample autocorrelation of white noise, 2 / sqrt(n)."""
    return 2.0 / np.sqrt(n)


def test_fat_tails_at_the_tick_scale_that_thin_out_with_aggregation(market):
    returns, _, _ = market
    n = returns.shape[1]
    kurt = {h: excess_kurtosis(horizon_returns(returns, h)) for h in (1, 5, 20)}
    # Under normality the excess kurtosis of n returns has sd sqrt(24 / n) (0.12 here):
    # every seed must be 8 of those above zero at the tick scale.
    assert np.all(kurt[1] > 8 * np.sqrt(24 / n)), kurt[1]
    # Aggregation thins the tails: the seeds' mean kurtosis falls from 1 to 5 to 20 ticks.
    means = [kurt[h].mean() for h in (1, 5, 20)]
    assert means[0] > means[1] > means[2], means


def test_no_linear_autocorrelation_beyond_the_first_lags(market):
    returns, _, _ = market
    rho = np.stack([acf(r, 20) for r in returns])  # [B, 20], lag 1..20
    # Lag 1 carries the bid-ask bounce (negative, as in intraday data) and is not tested.
    # Averaged over the seeds, every lag 2..20 lies inside one path's 95% white-noise band.
    # This is the per-path criterion: the band of a B-seed mean is sqrt(B) narrower, and
    # the mild trend at lags 5..10 (about 0.03-0.04) does not yet pass that (README,
    # "What is still off").
    assert np.all(np.abs(rho[:, 1:].mean(0)) < band(returns.shape[1])), rho.mean(0)


def test_volatility_clusters_for_tens_of_ticks(market):
    returns, _, _ = market
    n = returns.shape[1]
    rho = np.stack([abs_acf(r, 30) for r in returns])  # [B, 30], lag 1..30
    # Averaged over the seeds, |r| is autocorrelated above one path's 95% white-noise band
    # at every lag 1..20,
    assert np.all(rho[:, :20].mean(0) > band(n)), rho.mean(0)
    # and beyond: the mean over seeds and lags 21..30 is above the 95% band of such a mean
    # without clustering, 2 / sqrt(n * B * 10) (sample autocorrelations of independent
    # returns are nearly independent across lags and seeds).
    assert rho[:, 20:].mean() > 2.0 / np.sqrt(n * rho[:, 20:].size), rho[:, 20:].mean()
    # Every seed clusters: its abs-return autocorrelation over lags 10..30 is positive.
    assert np.all(rho[:, 9:].mean(1) > 0), rho[:, 9:].mean(1)


def test_volume_and_volatility_move_together(market):
    returns, volume, _ = market
    corr = np.array([np.corrcoef(np.abs(r), v)[0, 1] for r, v in zip(returns, volume, strict=True)])
    # Correlations above 2 / sqrt(n) would be significant; require 0.2, well clear of it.
    assert np.all(corr > max(0.2, band(returns.shape[1]))), corr


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
    # Linear impact has exponent 1 (the square-root law 0.5): every seed's impact grows with
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
