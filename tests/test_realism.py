"""The realistic market (conf/realistic.yaml) shows the stylized facts of real returns,
across scenarios and seeds.

The committed config runs as it is, 8 times over (8 independent runs of its default size:
4 scenarios x 3 symbols x 3,000 ticks, seeds 0-31; run 0 has the seeds of
``qtgjax-run --config-name realistic``), and is held to the checklist of
``qtgjax.analysis.checks.check_facts`` by ``check_runs``: every fact must hold in every run, and
the two "no autocorrelation" tests, each of size 5%, may reject in at most 2 of the 8 runs
(more would itself be significant: P(3 or more of 8) = 0.6% at a 5% size). The criteria
and why each has a size of 5% or less are in ``analysis/checks.py``. The same checks fail
for the market whose reactive agents all chase breakouts.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from qtgjax.analysis.checks import check_runs
from qtgjax.analysis.series import split_series

RUNS = 8
SCENARIOS = 4  # per run, as in conf/realistic.yaml
BURN = 200  # ticks dropped while the variance EMA and the book fill up


def run_checks(overrides, runs: int = RUNS) -> dict[str, dict]:
    """check_runs of ``runs`` runs of the realistic config with ``overrides``: scenarios
    4r .. 4r+3 make run r, each split into one series per scenario x symbol after the
    burn-in, with volume and the engine's taker flow (signed aggressor lots) as the flow.
    {check: row}."""
    import qtgjax

    cfg = qtgjax.load_config([*overrides, f"scenarios={SCENARIOS * runs}"], "realistic")
    ticks = qtgjax.simulate(cfg).tables()["ticks"].filter(pl.col("tick") >= BURN)
    per_run = [
        split_series(ticks.filter(pl.col("scenario") // SCENARIOS == r)) for r in range(runs)
    ]
    return {row["check"]: row for row in check_runs(per_run).iter_rows(named=True)}


@pytest.fixture(scope="module")
def checks() -> dict[str, dict]:
    return run_checks([])


def test_fat_tails_at_the_tick_scale_that_thin_out_with_aggregation(checks):
    assert checks["fat_tails"]["failed"] == 0, checks["fat_tails"]
    assert checks["aggregational_gaussianity"]["failed"] == 0, checks["aggregational_gaussianity"]


def test_no_linear_autocorrelation_beyond_the_first_lags(checks):
    for name in ("no_autocorrelation_mean", "no_autocorrelation_series"):
        assert checks[name]["allowed"] == 2, checks[name]
        assert checks[name]["passed"], checks[name]


def test_volatility_clusters_for_tens_of_ticks(checks):
    assert checks["volatility_clustering"]["failed"] == 0, checks["volatility_clustering"]
    assert checks["clustering_every_series"]["failed"] == 0, checks["clustering_every_series"]


def test_volume_and_volatility_move_together(checks):
    assert checks["volume_volatility"]["failed"] == 0, checks["volume_volatility"]


def test_price_impact_is_concave_in_order_flow(checks):
    assert checks["concave_impact"]["failed"] == 0, checks["concave_impact"]


def test_breakout_chasing_reactive_agents_fail_the_autocorrelation_checks():
    # every reactive agent's price trigger chases the breakout (the market before round 5):
    # both tests reject in every run (measured: 4 of 4, 1 allowed); its trends also keep
    # the kurtosis from falling with the horizon in one run
    chasing = run_checks(["families.reactive.params.fade_share=0.0"], runs=4)
    for name in ("no_autocorrelation_mean", "no_autocorrelation_series"):
        assert chasing[name]["failed"] == 4 > chasing[name]["allowed"], chasing[name]
    assert all(chasing[name]["failed"] == 0 for name in ("fat_tails", "volatility_clustering"))


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


def test_threshold_signal_is_an_ar1_with_the_stationary_sd_and_makes_flow_persistent():
    import jax
    import jax.numpy as jnp
    from family_helpers import accounts, act, family_setup, view

    from qtgjax.agents.families.threshold import next_signal

    # the recursion alone, 200,000 steps: lag-1 autocorrelation phi (sd 0.002), sd kept
    _, _, params = family_setup("threshold", signal_sd=0.002, signal_persistence=0.6)
    z = jax.random.normal(jax_key(1), (200_000,))
    _, eps = jax.lax.scan(lambda e, zt: (next_signal(params, e, zt),) * 2, jnp.float32(0.0), z)
    eps = np.asarray(eps, np.float64)
    assert abs(np.corrcoef(eps[:-1], eps[1:])[0, 1] - 0.6) < 0.01
    assert abs(eps.std() / 0.002 - 1.0) < 0.02
    # persistence 0 draws the iid signal of before: signal_sd * z, bit for bit
    _, _, iid = family_setup("threshold", signal_sd=0.002)
    iid_signal = next_signal(iid, jnp.float32(0.7), z[:5])
    assert np.array_equal(np.asarray(iid_signal), np.asarray(0.002 * z[:5]))

    # in the family: the sign of its net order flow follows the signal's persistence
    def flow_signs(phi, ticks=400):
        family, spec, params = family_setup(
            "threshold",
            n_agents=200,
            n_symbols=1,
            signal_persistence=phi,
            p_active=0.5,
            threshold=0.0,
            vol_feedback=0.0,
        )
        extra, acct, signs = family.init_extra(spec, params, jax_key(0)), accounts(spec, 1), []
        for t in range(ticks):
            intent, extra = act(family, spec, params, acct, view(price=(1000,)), extra, seed=t)
            signed = np.where(np.asarray(intent.is_buy), 1, -1) * np.asarray(intent.qty)
            signs.append(np.sign(signed.sum()))
        signs = np.asarray(signs, np.float64)
        return np.corrcoef(signs[:-1], signs[1:])[0, 1]

    # the sign of an AR(1) with phi 0.6 has lag-1 correlation (2/pi) asin(0.6) = 0.41;
    # with 399 pairs the sd is 0.05
    assert flow_signs(0.0) < 0.15 < 0.3 < flow_signs(0.6)


def jax_key(seed: int):
    import jax

    return jax.random.key(seed)
