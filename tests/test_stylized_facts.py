"""``qtgjax.analysis.stylized_facts`` against direct NumPy/SciPy computations on synthetic data with
known properties, the real data sets' known facts, and the realism page of a small run."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import polars as pl
import pytest
from scipy import signal, stats

from qtgjax.analysis import real_data
from qtgjax.analysis import stylized_facts as sf

REAL_MODULES = {"sp500": "arch", "btc": "ob_analytics"}


def garch(n: int, seed: int, alpha: float = 0.1, beta: float = 0.85, nu=None) -> np.ndarray:
    """GARCH(1,1) log returns with unit unconditional variance, float[n]; Gaussian
    innovations, or unit-variance Student-t with ``nu`` degrees of freedom."""
    rng = np.random.default_rng(seed)
    if nu is None:
        z = rng.standard_normal(n + 500)
    else:
        z = rng.standard_t(nu, n + 500) * np.sqrt((nu - 2) / nu)
    r = np.empty_like(z)
    var = 1.0
    for t in range(z.size):
        r[t] = np.sqrt(var) * z[t]
        var = (1 - alpha - beta) + alpha * r[t] ** 2 + beta * var
    return 0.01 * r[500:]


def hill_reference(x, tail: float) -> float:
    """Hill's estimator written out: the k largest |x| over the (k+1)-th."""
    a = sorted((abs(v) for v in x if v != 0), reverse=True)
    k = max(2, int(tail * len(a)))
    return 1.0 / (sum(np.log(a[i] / a[k]) for i in range(k)) / k)


def corr_per_lag(x, y, max_lag: int) -> np.ndarray:
    return np.array([np.corrcoef(x[:-k], y[k:])[0, 1] for k in range(1, max_lag + 1)])


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


def test_returns_and_horizons_match_a_direct_computation(rng):
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 101)), axis=-1))
    r = sf.log_returns(prices)
    assert r.shape == (3, 100)
    np.testing.assert_allclose(r, np.log(prices[:, 1:] / prices[:, :-1]), atol=1e-14)
    h5 = sf.horizon_returns(r, 7)
    expected = [[r[i, j * 7 : (j + 1) * 7].sum() for j in range(14)] for i in range(3)]
    np.testing.assert_allclose(h5, expected, rtol=1e-12)


def test_excess_kurtosis_is_scipys(rng):
    x = rng.standard_t(5, (4, 3000))
    np.testing.assert_allclose(sf.excess_kurtosis(x), stats.kurtosis(x, axis=-1), rtol=1e-10)
    assert np.isnan(sf.excess_kurtosis(np.ones(10)))


@pytest.mark.parametrize("nu", [2.0, 3.0, 4.0])
def test_hill_tail_index_recovers_the_student_t_degrees_of_freedom(rng, nu):
    x = rng.standard_t(nu, 100_000)
    assert sf.hill_tail_index(x, 0.01) == pytest.approx(hill_reference(x, 0.01), rel=1e-9)
    assert sf.hill_tail_index(x, 0.01) == pytest.approx(nu, rel=0.15)
    gaussian = sf.hill_tail_index(rng.standard_normal(100_000), 0.01)
    assert gaussian > 4.0  # thin tails: a large index


def test_acf_leverage_and_volume_correlation_are_corrcoef_per_lag(rng):
    r = garch(3000, seed=1)
    np.testing.assert_allclose(sf.acf(r, 55), corr_per_lag(r, r, 55), atol=1e-12)
    a = np.abs(r)
    np.testing.assert_allclose(sf.abs_acf(r, 55), corr_per_lag(a, a, 55), atol=1e-12)
    np.testing.assert_allclose(sf.leverage(r, 20), corr_per_lag(r, r**2, 20), atol=1e-12)
    volume = 1000 * a + rng.uniform(0, 5, a.size)
    assert sf.volume_volatility_corr(r, volume) == pytest.approx(np.corrcoef(a, volume)[0, 1])


def test_white_noise_band_holds_every_lag_of_a_seed_mean_at_its_level(rng):
    assert sf.white_noise_band(2500) == pytest.approx(stats.norm.ppf(0.975) / 50)
    z = stats.norm.ppf(1 - 0.05 / 36)  # 18 lags, two-sided, Bonferroni
    assert sf.white_noise_band(400, n_series=4, n_lags=18) == pytest.approx(z / 40)
    # Monte Carlo: means over 4 iid series of 400 returns, lags 3..20, 600 trials; the
    # joint band is left by at most about 5% of trials (Bonferroni is conservative).
    band = sf.white_noise_band(400, n_series=4, n_lags=18)
    series = rng.standard_normal((600, 4, 400))
    mean_acf = np.stack([[sf.acf(x, 20)[2:] for x in trial] for trial in series]).mean(1)
    left = (np.abs(mean_acf) > band).any(axis=1).mean()
    assert 0.01 < left < 0.08, left
    # and the per-lag band alone would be left by most trials at some lag
    assert (np.abs(mean_acf) > sf.white_noise_band(400, n_series=4)).any(axis=1).mean() > 0.4
    # Ljung-Box on the same means: p < 0.05 in about 5% of trials,
    lags = np.arange(3, 21)
    p = np.array([sf.ljung_box(m, lags, 400, n_series=4)[1] for m in mean_acf])
    assert 0.02 < (p < 0.05).mean() < 0.09, (p < 0.05).mean()
    # and a shared acf of 0.05 at every lag (a slow trend, half the per-lag band of one
    # series) is found every time
    assert all(sf.ljung_box(m + 0.05, lags, 400, n_series=4)[1] < 0.05 for m in mean_acf[:50])
    one = rng.standard_normal(3000)
    q, _ = sf.ljung_box(sf.acf(one, 10), np.arange(1, 11), one.size)
    direct = one.size * (one.size + 2) * sum(sf.acf(one, 10) ** 2 / (one.size - np.arange(1, 11)))
    assert q == pytest.approx(direct)


def test_robust_box_pierce_keeps_its_size_under_volatility_clustering():
    # GARCH returns are uncorrelated but clustered: the iid Ljung-Box rejects them too
    # often, the robust Box-Pierce about 5% of the time.
    lags = np.arange(3, 21)
    iid_p, robust_p = [], []
    for seed in range(200):
        r = garch(1500, seed=100 + seed, alpha=0.15, beta=0.8)
        rho = sf.acf(r, 20)[2:]
        iid_p.append(sf.ljung_box(rho, lags, r.size)[1])
        robust_p.append(sf.robust_box_pierce(rho, sf.robust_acf_se(r, 20)[2:])[1])
    iid_size, robust_size = np.mean(np.array(iid_p) < 0.05), np.mean(np.array(robust_p) < 0.05)
    assert iid_size > 0.1 and robust_size < 0.09, (iid_size, robust_size)
    # the robust error is corrcoef's 1 / sqrt(n) for iid returns, and finds an AR(1)
    rng = np.random.default_rng(3)
    iid = rng.standard_normal(20_000)
    np.testing.assert_allclose(sf.robust_acf_se(iid, 5), 1 / np.sqrt(iid.size), rtol=0.05)
    ar = np.convolve(rng.standard_normal(3000), [1.0, 0.2])[:3000]
    assert sf.robust_box_pierce(sf.acf(ar, 5), sf.robust_acf_se(ar, 5))[1] < 1e-6


def test_volatility_clustering_shows_in_garch_and_not_in_iid_returns(rng):
    clustered = sf.abs_acf(garch(5000, seed=2), 50)
    assert (clustered[:20] > 0).all() and clustered[:5].mean() > 0.1
    iid = rng.standard_normal(5000)
    band = 3.0 / np.sqrt(iid.size)
    assert np.abs(sf.abs_acf(iid, 50)).max() < 1.5 * band
    assert np.abs(sf.acf(iid, 50)).mean() < band / 2
    h_kurt = [
        sf.excess_kurtosis(sf.horizon_returns(rng.standard_t(4, 200_000), h)) for h in (1, 50)
    ]
    assert h_kurt[0] > 2.0 and abs(h_kurt[1]) < 0.5  # aggregational Gaussianity


def test_impact_curve_is_binned_means_of_standardised_returns(rng):
    flow = rng.normal(0, 50, 2000)
    r = 1e-4 * flow + rng.normal(0, 0.01, 2000)
    x, y = sf.impact_curve(r, flow, n_bins=8)
    bins = np.array_split(np.argsort(flow, kind="stable"), 8)
    np.testing.assert_allclose(x, [flow[b].mean() / flow.std() for b in bins])
    np.testing.assert_allclose(y, [r[b].mean() / r.std() for b in bins])
    assert (np.diff(x) > 0).all() and y[-1] > 0.5 > -0.5 > y[0]


def test_book_flow_is_the_cont_kukanov_stoikov_imbalance():
    bid = np.array([10.0, 10.0, 11.0, 9.0, np.nan, 9.0])
    ask = np.array([12.0, 12.0, 12.0, 13.0, 11.0, 11.0])
    qb = np.array([5.0, 7.0, 3.0, 4.0, 0.0, 6.0])
    qa = np.array([4.0, 2.0, 2.0, 8.0, 1.0, 3.0])
    expected = []
    for t in range(1, 6):
        b_same = np.isnan(bid[t]) or np.isnan(bid[t - 1])
        e = (qb[t] if b_same or bid[t] >= bid[t - 1] else 0.0) - (
            qb[t - 1] if b_same or bid[t] <= bid[t - 1] else 0.0
        )
        e += -(qa[t] if ask[t] <= ask[t - 1] else 0.0) + (
            qa[t - 1] if ask[t] >= ask[t - 1] else 0.0
        )
        expected.append(e)
    np.testing.assert_allclose(sf.book_flow(bid, ask, qb, qa), expected)
    close, volume = np.array([1.0, 2.0, 2.0, 1.0]), np.array([9.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(sf.tick_rule_flow(close, volume), [3.0, 0.0, -5.0])


def ticks_frame(returns: np.ndarray, rng) -> pl.DataFrame:
    """A ticks-like frame of float[S, T] returns: one scenario per row, with a book."""
    s, t = returns.shape
    close = 100 * np.exp(np.concatenate([np.zeros((s, 1)), np.cumsum(returns, 1)], 1))
    half = close * rng.uniform(1e-4, 3e-4, close.shape)
    return pl.DataFrame(
        {
            "scenario": np.repeat(np.arange(s), t + 1),
            "symbol": np.zeros(s * (t + 1), np.int32),
            "tick": np.tile(np.arange(t + 1), s),
            "close": close.ravel(),
            "volume": rng.integers(1, 100, close.size),
            "best_bid": (close - half).ravel(),
            "best_ask": (close + half).ravel(),
            "bid_depth": rng.integers(50, 150, close.size),
            "ask_depth": rng.integers(50, 150, close.size),
        }
    ).sample(fraction=1.0, shuffle=True, seed=0)  # facts() orders by tick itself


def test_facts_summarise_each_series_across_scenarios(rng):
    returns = np.stack([garch(1500, seed=s) for s in range(4)])
    frame = ticks_frame(returns, rng)
    table = sf.facts(frame, source="garch", max_lag=30)
    assert table.columns == ["source", "statistic", "x", "value", "sd", "q10", "q90", "n"]
    per = np.array([sf.abs_acf(r, 30) for r in returns])
    got = table.filter(pl.col("statistic") == "abs_acf").sort("x")
    np.testing.assert_allclose(got["value"], per.mean(0), rtol=1e-9)
    np.testing.assert_allclose(got["sd"], per.std(0, ddof=1), rtol=1e-9)
    kurt = table.filter((pl.col("statistic") == "excess_kurtosis") & (pl.col("x") == 5.0))
    expected = np.mean([sf.excess_kurtosis(sf.horizon_returns(r, 5)) for r in returns])
    assert kurt["value"].item() == pytest.approx(expected) and kurt["n"].item() == 4
    assert {"impact", "spread_bp", "depth_rel", "volume_volatility_corr"} <= set(table["statistic"])
    spread = table.filter((pl.col("statistic") == "spread_bp") & (pl.col("x") == 0.5))["value"]
    assert 2.0 < spread.item() < 6.0
    prices_only = sf.facts(100 * np.exp(np.cumsum(returns, 1)), source="array")
    assert "impact" not in set(prices_only["statistic"]) and set(prices_only["n"]) == {4}
    ticked = sf.facts(frame, flow="tick_rule")
    assert ticked.filter(pl.col("statistic") == "flow_return_corr")["value"].item() > 0.5
    with pytest.raises(ValueError, match="flow must be one of"):
        sf.facts(frame, flow="guess")


def test_distance_is_zero_on_itself_and_orders_similarity(rng):
    def prices(returns):
        return 100 * np.exp(np.cumsum(returns, axis=-1))

    a = sf.facts(prices([garch(3000, seed=s) for s in range(3)]), source="a")
    b = sf.facts(prices([garch(3000, seed=s) for s in range(3, 6)]), source="b")
    iid = sf.facts(prices(rng.normal(0, 0.01, (3, 3000))), source="iid")
    assert sf.distance(a, a) == 0.0
    assert sf.distance(a, b) == pytest.approx(sf.distance(b, a))
    assert sf.distance(a, b) < sf.distance(a, iid)
    terms = sf.distance_terms(a, iid, weights={"acf": 0.0})
    assert "acf" not in set(terms["statistic"]) and (terms["rmse"] >= 0).all()
    only = sf.distance(a, iid, weights={s: 0.0 for s in set(a["statistic"]) - {"abs_acf"}})
    assert only == pytest.approx(terms.filter(pl.col("statistic") == "abs_acf")["rmse"].item())


def test_sp500_shows_fat_tails_volatility_clustering_and_leverage():
    pytest.importorskip("arch")
    ticks = real_data.sp500_ticks()
    assert ticks.height == 5031 and ticks["close"].is_sorted() is False
    r = sf.log_returns(real_data.sp500_prices())
    assert sf.excess_kurtosis(r) > 3.0
    assert (sf.abs_acf(r, 20) > 0).all()
    assert sf.leverage(r, 10).mean() < 0
    assert 2.0 < sf.hill_tail_index(r, 0.05) < 5.0
    table = sf.facts(ticks, source="sp500")
    kurt = table.filter(pl.col("statistic") == "excess_kurtosis").sort("x")["value"]
    assert kurt[0] > 3.0 and kurt[-1] < kurt[0]  # aggregational Gaussianity
    assert "impact" not in set(table["statistic"])  # daily bars carry no signed flow


def test_btc_sample_gives_trades_signed_flow_spread_and_depth():
    pytest.importorskip("ob_analytics")
    trades = real_data.btc_trades()
    assert trades.height == 284 and set(trades["sign"]) == {-1, 1}
    ticks = real_data.btc_ticks(1.0)
    assert 1700 < ticks.height <= 1800 and ticks["tick"].is_sorted()
    assert (ticks["best_ask"] > ticks["best_bid"]).all() and (ticks["bid_depth"] > 0).all()
    signed = (trades["volume"] * trades["sign"]).sum()
    assert ticks["flow"].sum() == pytest.approx(signed, rel=1e-3)
    table = sf.facts(ticks, source="btc")
    value = {(s, x): v for s, x, v in table.select("statistic", "x", "value").iter_rows()}
    assert value[("excess_kurtosis", 1.0)] > 10.0
    assert value[("flow_return_corr", 0.0)] > 0.2  # buying pushes the mid up
    assert value[("impact", 10.0)] > 0 > value[("impact", 1.0)]
    assert 0.1 < value[("spread_bp", 0.5)] < 1.0  # one $1 tick on ~78,000 is 0.13 bp


def test_missing_data_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ob_analytics", None)
    with pytest.raises(real_data.MissingDataPackage, match="pip install ob-analytics==0.1.0"):
        real_data.require("ob_analytics")


def test_realism_page_of_a_small_run(small_result, tmp_path):
    from qtgjax.analysis import write_report
    from qtgjax.analysis.realism import write_realism

    run = tmp_path / "run"
    small_result.write(run)
    index = write_report(run, real=("sp500",))
    assert "realism/index.html" in index.read_text()
    page = write_realism(small_result.tables()["ticks"], tmp_path / "both")
    folder = page.parent
    pngs = {p.name for p in folder.glob("*.png")}
    assert pngs == {"returns.png", "correlations.png", "kurtosis_impact.png", "book.png"}
    for name in pngs:
        assert (folder / name).read_bytes().startswith(b"\x89PNG") and f"src='{name}'" in (
            page.read_text()
        )
    text = page.read_text()
    have = [n for n in ("sp500", "btc") if importlib.util.find_spec(REAL_MODULES[n])]
    assert all(f"<b>{n}</b>" in text for n in have)
    assert "Distance to real data" in text and "abs_acf" in text
    assert "signed flow from: taker_flow" in text
    with pytest.raises(ValueError, match="unknown real data set"):
        write_realism(small_result.tables()["ticks"], tmp_path, real=("nasdaq",))


def test_checklist_passes_a_clustered_market_and_names_what_others_miss():
    from qtgjax.analysis.checks import check_facts, impact_exponent
    from qtgjax.analysis.series import Series

    rng = np.random.default_rng(11)

    def market(seed, trend=0.0):
        r = garch(3000, seed=seed, alpha=0.1, beta=0.85, nu=5)
        if trend:  # a slow AR(1) drift with ``trend`` of the variance: acf ~ trend 0.95^k
            drift = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(r.size))
            r = r + drift * np.sqrt(trend * r.var() / drift.var())
        flow = np.sign(r) * (np.abs(r) / 0.01) ** 2 * 100 * rng.uniform(0.5, 1.5, r.size)
        volume = np.abs(flow) + rng.uniform(0, 50, r.size)
        return Series(r, volume, flow, "flow")

    def failed(series):
        table = check_facts(series)
        return set(table.filter(~pl.col("passed"))["check"])

    clustered = [market(seed) for seed in range(6)]
    assert failed(clustered) == set()  # |r| ~ |flow|^0.5: a square-root impact law
    assert 0.4 < impact_exponent(clustered[0].returns, clustered[0].flow) < 0.6
    trending = [market(seed, trend=0.05) for seed in range(6)]
    assert {"no_autocorrelation_mean", "no_autocorrelation_series"} <= failed(trending)
    gaussian = [Series(rng.standard_normal(3000) * 0.01) for _ in range(6)]
    assert {"fat_tails", "volatility_clustering"} <= failed(gaussian)


def test_chance_rejections_is_the_binomial_tail_cut():
    for n in (4, 8, 12, 192):
        k = sf.chance_rejections(n)
        # P(more than k of n reject) <= 5% < P(more than k - 1 reject), each test at 5%
        tail = [sum(stats.binom.pmf(j, n, 0.05) for j in range(m + 1, n + 1)) for m in (k - 1, k)]
        assert tail[1] <= 0.05 < tail[0], (n, k, tail)
    assert [sf.chance_rejections(n) for n in (4, 8, 192)] == [1, 2, 15]


def test_check_runs_allows_chance_rejections_of_the_null_checks_but_no_missing_fact():
    from qtgjax.analysis.checks import NULL_CHECKS, check_runs
    from qtgjax.analysis.series import Series

    def run(seed):  # 12 series of 3,000 GARCH-t returns: the facts that need no volume
        return [Series(garch(3000, seed=20 * seed + i, nu=5)) for i in range(12)]

    table = check_runs([run(seed) for seed in range(8)])
    rows = {row["check"]: row for row in table.iter_rows(named=True)}
    assert set(rows) == {
        "fat_tails",
        "aggregational_gaussianity",
        *NULL_CHECKS,
        "volatility_clustering",
        "clustering_every_series",
    }
    # P(X > 2) = 0.6% and P(X > 1) = 5.7% for X ~ Binomial(8, 0.05): 2 of 8 may reject
    assert all(rows[name]["allowed"] == 2 for name in NULL_CHECKS)
    assert all(row["allowed"] == 0 for name, row in rows.items() if name not in NULL_CHECKS)
    # uncorrelated returns: the series test rejects in one run of 8 (3 of 12 series)
    assert table["passed"].all(), table
    assert table["failed"].sum() == 1 and table["runs"].to_list() == [8] * table.height
    # one Gaussian run among them: a missing fact fails the whole set
    noise = np.random.default_rng(1).standard_normal((12, 3000))
    mixed = check_runs([run(seed) for seed in range(7)] + [[Series(x) for x in noise]])
    failed = set(mixed.filter(~pl.col("passed"))["check"])
    assert "fat_tails" in failed and "volatility_clustering" in failed, mixed
