"""The stylized facts a realistic market must show, as a checklist any run can be held to.

:func:`check_facts` judges a set of series (one per scenario x symbol: returns, with volume
and signed order flow where present) on each fact that issue #7 asks of the ``realistic``
config, and returns one row per check: the fact, what was measured, the criterion and
whether it holds. Every criterion is one that a market without the fact meets with
probability 5% or less (thresholds below). ``tests/test_realism.py`` asserts the whole list
for ``conf/realistic.yaml``; ``sweeps/calibrate_realistic.py`` counts the misses of each
point; the realism page of ``qtgjax-report`` shows it for a run and for the real data.

Checks (``n`` returns per series, ``B`` series):

- ``fat_tails``: every series' excess kurtosis at one step is above 8 sd of the estimator
  under normality, ``8 sqrt(24 / n)``.
- ``aggregational_gaussianity``: the mean kurtosis falls from 1 to 5 to 20 steps.
- ``no_autocorrelation_mean`` / ``no_autocorrelation_series``: returns at lags 3..20 pass
  :func:`~qtgjax.analysis.stylized_facts.uncorrelated_test` (robust to volatility clustering;
  lags 1-2 hold the bid-ask bounce): the mean over the series at 5%, and no more series
  reject than chance allows.
- ``volatility_clustering``: the mean abs-return autocorrelation is above the joint 95%
  white-noise band of such a mean at every lag 1..30.
- ``clustering_every_series``: every series' abs-return autocorrelation over lags 10..30
  is positive.
- ``volume_volatility``: every series' corr(|r|, volume) is above 0.1 and above the
  white-noise band 2 / sqrt(n): clearly positive (the S&P 500's is 0.20; needs volume).
- ``concave_impact``: every series' impact exponent (:func:`impact_exponent`) lies in
  (0.1, 0.85): impact grows with the flow, clearly slower than linearly (the square-root
  law is 0.5; needs signed flow).

:func:`check_runs` holds several independent runs (other seeds) to the same list: a fact
must hold in every run; the two autocorrelation checks are tests of a null at 5%, so they
may reject in as many runs as chance allows (binomial at 5%, e.g. 2 of 8 runs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from qtgjax.analysis.series import Series
from qtgjax.analysis.stylized_facts import (
    abs_acf,
    chance_rejections,
    excess_kurtosis,
    horizon_returns,
    uncorrelated_test,
    volume_volatility_corr,
    white_noise_band,
)

SIZE = 0.05  # the size of the no-autocorrelation tests
SCHEMA = {"check": pl.String, "measured": pl.String, "criterion": pl.String, "passed": pl.Boolean}


def impact_exponent(returns, flow, window: int = 10, bins: int = 8) -> float:
    """Slope of log mean |R| against log mean |F| over quantile bins of |F|, with R and F
    the summed returns and signed flow (lots) of non-overlapping ``window``-step blocks of
    one series (1 = linear impact, 0.5 = the square-root law)."""
    big_r, big_f = horizon_returns(returns, window), horizon_returns(flow, window)
    size = np.abs(big_f)
    edges = np.quantile(size, np.linspace(0.0, 1.0, bins + 1))
    which = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, bins - 1)
    x = np.array([size[which == b].mean() if np.any(which == b) else 0.0 for b in range(bins)])
    y = np.array(
        [np.abs(big_r[which == b]).mean() if np.any(which == b) else 0.0 for b in range(bins)]
    )
    ok = (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _row(check: str, measured: str, criterion: str, passed) -> dict:
    return {"check": check, "measured": measured, "criterion": criterion, "passed": passed}


def _values(xs) -> str:
    return ", ".join(f"{x:.3g}" for x in xs)


def tail_checks(returns: list[np.ndarray]) -> list[dict]:
    n = min(r.size for r in returns)
    k1 = np.array([excess_kurtosis(r) for r in returns])
    floor = 8.0 * np.sqrt(24.0 / n)
    means = [np.mean([excess_kurtosis(horizon_returns(r, h)) for r in returns]) for h in (1, 5, 20)]
    return [
        _row(
            "fat_tails",
            f"min kurtosis at 1 step {k1.min():.3g}",
            f"> {floor:.3g}",
            k1.min() > floor,
        ),
        _row(
            "aggregational_gaussianity",
            f"mean kurtosis at 1 / 5 / 20 steps {_values(means)}",
            "falling",
            means[0] > means[1] > means[2],
        ),
    ]


def autocorrelation_checks(returns: list[np.ndarray]) -> list[dict]:
    test = uncorrelated_test(returns, lags=range(3, 21), level=SIZE)
    rejected = int(np.sum(test["series_p"] < SIZE))
    return [
        _row(
            "no_autocorrelation_mean",
            f"robust Box-Pierce p of the mean acf, lags 3-20: {test['mean_p']:.3g}",
            f">= {SIZE}",
            test["mean_p"] >= SIZE,
        ),
        _row(
            "no_autocorrelation_series",
            f"series rejecting at {SIZE:.0%}: {rejected} of {len(returns)}",
            f"<= {test['max_rejections']}",
            rejected <= test["max_rejections"],
        ),
    ]


def clustering_checks(returns: list[np.ndarray]) -> list[dict]:
    n = min(r.size for r in returns)
    rho = np.stack([abs_acf(r[:n], 30) for r in returns])  # [B, 30], lag 1..30
    band = white_noise_band(n, n_series=len(rho), n_lags=30)
    late = rho[:, 9:].mean(1)
    return [
        _row(
            "volatility_clustering",
            f"min over lags 1-30 of the mean |r| acf {rho.mean(0).min():.3g}",
            f"> {band:.3g}",
            bool(np.all(rho.mean(0) > band)),
        ),
        _row(
            "clustering_every_series",
            f"min over series of the |r| acf at lags 10-30 {late.min():.3g}",
            "> 0",
            bool(np.all(late > 0)),
        ),
    ]


def volume_and_impact_checks(series: Sequence[Series]) -> list[dict]:
    rows = []
    with_volume = [s for s in series if s.volume is not None]
    if with_volume:
        ok = [np.isfinite(s.returns) for s in with_volume]
        corr = np.array(
            [
                volume_volatility_corr(s.returns[k], s.volume[k])
                for s, k in zip(with_volume, ok, strict=True)
            ]
        )
        floor = max(0.1, 2.0 / np.sqrt(min(k.sum() for k in ok)))
        rows.append(
            _row(
                "volume_volatility",
                f"min corr(|r|, volume) {np.nanmin(corr):.3g}",
                f"> {floor:.3g}",
                bool(np.all(corr > floor)),
            )
        )
    with_flow = [s for s in series if s.flow is not None]
    if with_flow:
        ok = [np.isfinite(s.returns) & np.isfinite(s.flow) for s in with_flow]
        beta = np.array(
            [impact_exponent(s.returns[k], s.flow[k]) for s, k in zip(with_flow, ok, strict=True)]
        )
        rows.append(
            _row(
                "concave_impact",
                f"impact exponents {np.nanmin(beta):.3g} to {np.nanmax(beta):.3g}",
                "in (0.1, 0.85)",
                bool(np.all((beta > 0.1) & (beta < 0.85))),
            )
        )
    return rows


def check_facts(series: Sequence[Series]) -> pl.DataFrame:
    """The checklist (module docstring) for ``series`` (:func:`qtgjax.analysis.series.split_series`
    of a ticks table, or :class:`Series` built from arrays): ``check, measured, criterion,
    passed``; volume and impact checks only where the series have volume / signed flow."""
    returns = [s.returns[np.isfinite(s.returns)] for s in series]
    rows = [
        *tail_checks(returns),
        *autocorrelation_checks(returns),
        *clustering_checks(returns),
        *volume_and_impact_checks(series),
    ]
    return pl.DataFrame(rows, schema=SCHEMA)


NULL_CHECKS = ("no_autocorrelation_mean", "no_autocorrelation_series")


def check_runs(runs: Sequence[Sequence[Series]], level: float = 0.05) -> pl.DataFrame:
    """:func:`check_facts` of each independent run (its series), summarised per check:
    ``check, failed, runs, allowed, passed``. A fact (fat tails, clustering, ...) is
    allowed no failing run; each of :data:`NULL_CHECKS` tests "no autocorrelation" at
    :data:`SIZE`, so it may fail in as many runs as chance allows at ``level``
    (:func:`~qtgjax.analysis.stylized_facts.chance_rejections`)."""
    tables = [check_facts(series) for series in runs]
    failed = (
        pl.concat(tables)
        .group_by("check", maintain_order=True)
        .agg((~pl.col("passed")).sum().cast(pl.Int64).alias("failed"))
    )
    chance = chance_rejections(len(runs), SIZE, level)
    return failed.with_columns(
        runs=pl.lit(len(runs), pl.Int64),
        allowed=pl.when(pl.col("check").is_in(NULL_CHECKS))
        .then(pl.lit(chance, pl.Int64))
        .otherwise(pl.lit(0, pl.Int64)),
    ).with_columns(passed=pl.col("failed") <= pl.col("allowed"))
