"""Stylized facts of returns, order flow and the book, for simulated ticks and real data.

The per-series functions take NumPy arrays (time on the last axis) and are plain
estimators; :func:`facts` runs them over every series (``scenario`` x ``symbol``) of a
ticks-like table and returns one tidy Polars table; :func:`distance` compares two such
tables with one scale-free number, for calibration.

Series input (``facts``): a 1-D/2-D price array, or a Polars frame with ``close`` and any of
``scenario, symbol`` (series keys), ``tick`` (order), ``volume``, ``flow`` (signed order
flow, lots), ``taker_flow``, ``best_bid, best_ask, bid_depth, ask_depth``. Signed flow
(``flow="auto"``): the ``flow`` column (real data: signed trade volume); else the engine's
``taker_flow`` (simulated ticks: lots bought minus sold by orders new in the auction, the
batch auction's aggressors); else the order-flow imbalance of the book (:func:`book_flow`:
the Cont, Kukanov & Stoikov 2014 form with *total* side depth in place of best-level
size); else none. The tick rule ``sign(Δclose) * volume`` is used only when asked for
(``flow="tick_rule"``): it is tied to the return's sign, so its impact curve is
monotone by construction.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl

from qtgjax.analysis.series import (  # noqa: F401  (re-exported: part of this API)
    COLUMNS,
    FLOW_CHOICES,
    SERIES_KEYS,
    Series,
    book_flow,
    log_returns,
    series_of,
    signed_flow,
    split_series,
    tick_rule_flow,
)

HORIZONS = (1, 2, 5, 10, 20, 50)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def horizon_returns(returns, h: int) -> np.ndarray:
    """Non-overlapping h-step log returns (sums of h consecutive returns).

    float[..., T] -> float[..., T // h]; a trailing incomplete block is dropped.
    """
    r = np.asarray(returns, dtype=np.float64)
    n = r.shape[-1] // h
    return r[..., : n * h].reshape(*r.shape[:-1], n, h).sum(axis=-1)


def excess_kurtosis(x) -> np.ndarray:
    """Sample excess kurtosis ``m4 / m2**2 - 3`` (biased moments, as scipy's default) along
    the last axis: float[..., T] -> float[...]; NaN for a constant series."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean(axis=-1, keepdims=True)
    m2 = (d**2).mean(axis=-1)
    m4 = (d**4).mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3.0, np.nan)


def hill_tail_index(x, tail: float = 0.05) -> float:
    """Hill estimate of the tail index alpha of ``|x|`` (1-D), both tails pooled.

    With the order statistics ``X(1) >= X(2) >= ...`` of the non-zero ``|x|`` and
    ``k = max(2, floor(tail * n))``: ``alpha = 1 / mean(log X(i) - log X(k+1), i <= k)``.
    Power-law tails ``P(|X| > x) ~ x**-alpha`` (Student t with nu dof: alpha = nu).
    NaN when fewer than k+1 non-zero values.
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    a = np.sort(a[np.isfinite(a) & (a > 0)])[::-1]
    k = max(2, int(tail * a.size))
    if a.size <= k:
        return float("nan")
    gap = np.log(a[:k]).mean() - np.log(a[k])
    return float(1.0 / gap) if gap > 0 else float("nan")


def lagged_corr(x, y, max_lag: int) -> np.ndarray:
    """Pearson correlation of ``x[t]`` with ``y[t+k]`` for k = 1..max_lag (1-D inputs of
    one length): float[max_lag]; NaN where a side is constant or too short."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.full(max_lag, np.nan)
    for k in range(1, min(max_lag, x.size - 2) + 1):
        a, b = x[:-k], y[k:]
        da, db = a - a.mean(), b - b.mean()
        den = np.sqrt((da**2).sum() * (db**2).sum())
        out[k - 1] = (da * db).sum() / den if den > 0 else np.nan
    return out


def acf(x, max_lag: int = 50) -> np.ndarray:
    """Autocorrelation at lags 1..max_lag, as ``np.corrcoef(x[:-k], x[k:])`` per lag."""
    return lagged_corr(x, x, max_lag)


def white_noise_band(
    n_returns: int, n_series: int = 1, n_lags: int = 1, level: float = 0.95
) -> float:
    """Half-width of the band that white noise keeps the sample autocorrelation inside.

    The sample autocorrelation of ``n_returns`` iid returns is about N(0, 1 / n_returns)
    at each lag, nearly independently across lags and series; the mean over ``n_series``
    independent series is N(0, 1 / (n_returns * n_series)). The band
    ``z / sqrt(n_returns * n_series)`` with ``z = Phi^-1(1 - (1 - level) / (2 n_lags))``
    holds all ``n_lags`` lags at once with probability about ``level`` (Bonferroni).
    ``n_lags=1, n_series=1`` is the familiar per-lag band, 1.96 / sqrt(n).
    """
    z = NormalDist().inv_cdf(1.0 - (1.0 - level) / (2.0 * n_lags))
    return z / np.sqrt(n_returns * n_series)


def ljung_box(mean_acf, lags, n_returns: int, n_series: int = 1) -> tuple[float, float]:
    """Ljung–Box test that ``mean_acf`` (the mean over ``n_series`` independent series of
    ``n_returns`` each, at ``lags``) is white noise's: ``Q = n_series * n (n + 2) *
    sum_k acf_k^2 / (n - k)``, chi-squared with ``len(lags)`` degrees of freedom under
    white noise. Returns ``(Q, p-value)``. Unlike a band per lag, it detects a small
    autocorrelation shared by many lags (a slow trend)."""
    from scipy.stats import chi2

    rho, k = np.asarray(mean_acf, np.float64), np.asarray(lags, np.float64)
    q = float(n_series * n_returns * (n_returns + 2) * np.sum(rho**2 / (n_returns - k)))
    return q, float(chi2.sf(q, df=rho.size))


def robust_acf_se(returns, max_lag: int = 50) -> np.ndarray:
    """Heteroskedasticity-robust standard error of the sample autocorrelation at lags
    1..max_lag of one series, ``sqrt(sum x_t^2 x_{t-k}^2) / sum x_t^2`` with ``x`` the
    demeaned returns (Lobato, Nankervis & Savin 2001). Under volatility clustering the
    iid value 1 / sqrt(n) is too small and white-noise tests reject too often."""
    x = np.asarray(returns, dtype=np.float64)
    x = x - x.mean()
    x2 = x**2
    lags = np.arange(1, max_lag + 1)
    return np.array([np.sqrt((x2[k:] * x2[:-k]).sum()) for k in lags]) / x2.sum()


def robust_box_pierce(acfs, ses) -> tuple[float, float]:
    """Box–Pierce test of autocorrelations ``acfs`` with robust standard errors ``ses``
    (:func:`robust_acf_se`; for a mean over B series, ``sqrt(sum se_b^2) / B``):
    ``Q = sum (acf / se)^2``, chi-squared with ``len(acfs)`` degrees of freedom under
    uncorrelated (possibly heteroskedastic) returns. Returns ``(Q, p-value)``."""
    from scipy.stats import chi2

    z = np.asarray(acfs, np.float64) / np.asarray(ses, np.float64)
    q = float(np.sum(z**2))
    return q, float(chi2.sf(q, df=z.size))


def chance_rejections(n_tests: int, size: float = 0.05, level: float = 0.05) -> int:
    """The most of ``n_tests`` independent tests, each of ``size``, that may reject under
    their null before that count is itself significant at ``level``: the smallest k with
    P(Binomial(n_tests, size) > k) <= level (2 of 8, 2 of 12, 15 of 192 at 5% / 5%)."""
    from scipy.stats import binom

    return int(binom.isf(level, n_tests, size))


def uncorrelated_test(returns, lags=range(3, 21), level: float = 0.05) -> dict:
    """Robust tests that return series are linearly uncorrelated at ``lags``.

    Args:
        returns: float[B, T] (or B 1-D arrays): B independent series.
        lags: the lags tested (default 3..20: lags 1-2 hold the bid-ask bounce).
        level: the size of each test.

    Returns:
        ``mean_acf`` float[L] (mean over series), ``mean_p`` (p-value of
        :func:`robust_box_pierce` on that mean), ``series_p`` float[B] (each series' own
        test) and ``max_rejections``: the most series that may reject at ``level`` before
        that count itself is significant at ``level`` (:func:`chance_rejections`).
    """
    lags = np.asarray(list(lags))
    rho = np.stack([acf(r, int(lags.max()))[lags - 1] for r in returns])  # [B, L]
    se = np.stack([robust_acf_se(r, int(lags.max()))[lags - 1] for r in returns])  # [B, L]
    mean_se = np.sqrt((se**2).sum(0)) / len(se)
    return {
        "mean_acf": rho.mean(0),
        "mean_p": robust_box_pierce(rho.mean(0), mean_se)[1],
        "series_p": np.array([robust_box_pierce(a, e)[1] for a, e in zip(rho, se, strict=True)]),
        "max_rejections": chance_rejections(len(rho), level, level),
    }


def abs_acf(returns, max_lag: int = 50) -> np.ndarray:
    """Autocorrelation of absolute returns at lags 1..max_lag (volatility clustering)."""
    a = np.abs(np.asarray(returns, dtype=np.float64))
    return lagged_corr(a, a, max_lag)


def leverage(returns, max_lag: int = 20) -> np.ndarray:
    """Leverage effect ``corr(r[t], r[t+k]**2)`` for k = 1..max_lag (negative in equities)."""
    r = np.asarray(returns, dtype=np.float64)
    return lagged_corr(r, r**2, max_lag)


def volume_volatility_corr(returns, volume) -> float:
    """Pearson correlation of ``|r[t]|`` and the volume of the same step (1-D, one length)."""
    a = np.abs(np.asarray(returns, dtype=np.float64))
    v = np.asarray(volume, dtype=np.float64)
    if a.std() == 0 or v.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, v)[0, 1])


def impact_curve(returns, flow, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Binned price impact: mean return against signed order flow, both standardised.

    The steps are cut into ``n_bins`` equal-count bins of ``flow`` (ranks, ties broken by
    order); per bin: ``(mean flow / sd(flow), mean return / sd(return))``.

    Args:
        returns: float[T] log returns.
        flow: float[T] signed order flow of the same steps (positive = buying).
        n_bins: number of quantile bins.

    Returns:
        Two float[n_bins] arrays, the flow and return of each bin (NaN if sd is zero).
    """
    r = np.asarray(returns, dtype=np.float64)
    f = np.asarray(flow, dtype=np.float64)
    rs, fs = r.std(), f.std()
    if rs == 0 or fs == 0 or r.size < n_bins:
        return np.full(n_bins, np.nan), np.full(n_bins, np.nan)
    order = np.argsort(f, kind="stable")
    bins = np.array_split(order, n_bins)
    x = np.array([f[b].mean() / fs for b in bins])
    y = np.array([r[b].mean() / rs for b in bins])
    return x, y


def series_facts(
    s: Series,
    horizons=HORIZONS,
    max_lag: int = 50,
    leverage_lags: int = 20,
    n_bins: int = 10,
    tail: float = 0.05,
    quantiles=QUANTILES,
) -> list[tuple[str, float, float]]:
    """Every fact of one series as ``(statistic, x, value)`` rows (see :func:`facts`)."""
    r = s.returns[np.isfinite(s.returns)]
    rows: list[tuple[str, float, float]] = []
    var1 = r.var() if r.size > 1 else np.nan
    for h in horizons:
        rh = horizon_returns(r, h)
        if rh.size >= 20:
            rows.append(("excess_kurtosis", h, float(excess_kurtosis(rh))))
            ratio = rh.var() / (h * var1) if var1 > 0 else np.nan
            rows.append(("variance_ratio", h, float(ratio)))
        if tail * rh.size >= 10:
            rows.append(("hill_alpha", h, hill_tail_index(rh, tail)))
    for name, values in (
        ("acf", acf(r, max_lag)),
        ("abs_acf", abs_acf(r, max_lag)),
        ("leverage", leverage(r, leverage_lags)),
    ):
        rows += [(name, k + 1, float(v)) for k, v in enumerate(values)]
    ok = np.isfinite(s.returns)
    if s.volume is not None:
        rows.append(("volume_volatility_corr", 0, volume_volatility_corr(r, s.volume[ok])))
    if s.flow is not None:
        f = np.nan_to_num(s.flow[ok])
        x, y = impact_curve(r, f, n_bins)
        rows += [("impact", b + 1, float(v)) for b, v in enumerate(y)]
        rows += [("impact_flow", b + 1, float(v)) for b, v in enumerate(x)]
        both = r.std() > 0 and f.std() > 0
        rows.append(("flow_return_corr", 0, float(np.corrcoef(f, r)[0, 1]) if both else np.nan))
    if s.spread_bp is not None and s.spread_bp.size:
        qs = np.quantile(s.spread_bp, quantiles)
        rows += [("spread_bp", q, float(v)) for q, v in zip(quantiles, qs, strict=True)]
    if s.depth is not None and s.depth.size and np.median(s.depth) > 0:
        qs = np.quantile(s.depth / np.median(s.depth), quantiles)
        rows += [("depth_rel", q, float(v)) for q, v in zip(quantiles, qs, strict=True)]
    return rows


def facts(data, source: str = "sim", flow: str = "auto", **options) -> pl.DataFrame:
    """The stylized facts of every series of ``data``, summarised across series.

    Args:
        data: price array float[T] / float[S, T], or a ticks-like Polars frame (module
            docstring); one series per ``scenario`` x ``symbol``.
        source: label written in the ``source`` column.
        flow: signed order flow for the impact statistics: ``auto`` (the ``flow`` column,
            else the book, else none), ``flow``, ``book``, ``tick_rule`` or ``none``.
        **options: ``horizons`` (steps, default 1, 2, 5, 10, 20, 50), ``max_lag`` (50),
            ``leverage_lags`` (20), ``n_bins`` (10), ``tail`` (Hill fraction, 0.05),
            ``quantiles`` (of spread and depth) — see :func:`series_facts`.

    Returns:
        One row per (statistic, x): ``source, statistic, x, value`` (mean over series),
        ``sd, q10, q90`` (across series; null with one series), ``n`` (series with a finite
        value). Statistics and their ``x``: ``excess_kurtosis``, ``variance_ratio``
        (var of h-step returns / (h var of 1-step)), ``hill_alpha``: x = horizon h in steps;
        ``acf``, ``abs_acf``, ``leverage`` (corr(r[t], r[t+k]^2)): x = lag k;
        ``volume_volatility_corr`` (corr(|r|, volume)), ``flow_return_corr``: x = 0;
        ``impact`` / ``impact_flow``: x = flow bin 1..n_bins, the bin's mean return / mean
        flow in standard deviations; ``spread_bp`` (bp of mid) and ``depth_rel`` (lots on
        both sides / the series' median): x = quantile level.
    """
    rows = [
        (i, *row)
        for i, s in enumerate(split_series(data, flow))
        for row in series_facts(s, **options)
    ]
    per = pl.DataFrame(
        rows,
        schema={"series": pl.Int64, "statistic": pl.String, "x": pl.Float64, "value": pl.Float64},
        orient="row",
    ).with_columns(pl.col("value").fill_nan(None))
    v = pl.col("value")
    return (
        per.group_by("statistic", "x", maintain_order=True)
        .agg(
            v.mean().alias("value"),
            v.std().alias("sd"),
            v.quantile(0.1).alias("q10"),
            v.quantile(0.9).alias("q90"),
            v.count().alias("n"),
        )
        .select(pl.lit(source).alias("source"), pl.all())
    )


# Statistics compared on a log scale by distance(); the others are correlations or
# standardised means, already dimensionless and of order one.
LOG_STATISTICS = ("hill_alpha", "variance_ratio", "spread_bp", "depth_rel")


def transformed(table: pl.DataFrame) -> pl.DataFrame:
    """``statistic, x, t``: the scale-free form of each fact compared by :func:`distance`:
    log raw kurtosis ``log(3 + excess)``, log of :data:`LOG_STATISTICS`, others as is."""
    v = pl.col("value")
    t = (
        pl.when(pl.col("statistic") == "excess_kurtosis")
        .then((v + 3.0).clip(1e-3).log())
        .when(pl.col("statistic").is_in(LOG_STATISTICS))
        .then(v.clip(1e-9).log())
        .otherwise(v)
    )
    return table.select("statistic", "x", t.alias("t")).filter(pl.col("t").is_finite())


def distance_terms(sim: pl.DataFrame, real: pl.DataFrame, weights=None) -> pl.DataFrame:
    """Per statistic: ``statistic, points, rmse, weight`` — the root mean square difference
    of the transformed facts (:func:`transformed`) over the ``x`` both tables have."""
    joined = transformed(sim).join(transformed(real), on=["statistic", "x"], suffix="_real")
    weights = weights or {}
    return (
        joined.group_by("statistic", maintain_order=True)
        .agg(
            pl.len().alias("points"),
            ((pl.col("t") - pl.col("t_real")) ** 2).mean().sqrt().alias("rmse"),
        )
        .with_columns(
            pl.col("statistic")
            .replace_strict(weights, default=1.0, return_dtype=pl.Float64)
            .alias("weight")
        )
        .filter(pl.col("weight") > 0)
    )


def distance(sim: pl.DataFrame, real: pl.DataFrame, weights=None) -> float:
    """Scale-free distance between two :func:`facts` tables (lower = more alike).

    Each statistic is put on a dimensionless scale (correlations and standardised impact as
    they are; kurtosis as log raw kurtosis; tail index, variance ratio, spread and relative
    depth as logs), differenced at the ``x`` both tables share (series means), and
    ``sqrt(sum_s w_s rmse_s^2 / sum_s w_s)`` is returned over the statistics ``s`` present in
    both. ``weights`` maps statistic -> weight (default 1; 0 drops it). NaN if none shared.
    """
    terms = distance_terms(sim, real, weights)
    if terms.is_empty():
        return float("nan")
    w, e = terms["weight"].to_numpy(), terms["rmse"].to_numpy()
    return float(np.sqrt((w * e**2).sum() / w.sum()))
