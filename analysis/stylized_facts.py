"""Stylized facts of returns, order flow and the book, for simulated ticks and real data.

The per-series functions take NumPy arrays (time on the last axis) and are plain
estimators; :func:`facts` runs them over every series (``scenario`` x ``symbol``) of a
ticks-like table and returns one tidy Polars table; :func:`distance` compares two such
tables with one scale-free number, for calibration.

Series input (``facts``): a 1-D/2-D price array, or a Polars frame with ``close`` and any of
``scenario, symbol`` (series keys), ``tick`` (order), ``volume``, ``flow`` (signed order
flow, lots), ``best_bid, best_ask, bid_depth, ask_depth``. Signed flow (``flow="auto"``):
the ``flow`` column (real data: signed trade volume); else the order-flow imbalance of the
book (:func:`book_flow`: the Cont, Kukanov & Stoikov 2014 form with *total* side depth in
place of best-level size — the proxy for simulated ticks, whose batch auctions leave no
trade signs); else none. The tick rule ``sign(Δclose) * volume`` is used only when asked
for (``flow="tick_rule"``): it is tied to the return's sign, so its impact curve is
monotone by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

HORIZONS = (1, 2, 5, 10, 20, 50)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
SERIES_KEYS = ("scenario", "symbol")


def log_returns(prices) -> np.ndarray:
    """Log returns ``log p[t+1] - log p[t]`` of float[..., T] prices: float[..., T-1]."""
    return np.diff(np.log(np.asarray(prices, dtype=np.float64)), axis=-1)


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


def book_flow(best_bid, best_ask, bid_depth, ask_depth) -> np.ndarray:
    """Order-flow imbalance of each step from best quotes and total side depth, float[T-1].

    ``e = 1[b >= b'] qb - 1[b <= b'] qb' - 1[a <= a'] qa + 1[a >= a'] qa'`` (primes: the
    previous step). A missing quote (empty side) counts as unchanged, so the depth change
    alone is used; positive = net buying pressure, in lots.
    """
    b, a, qb, qa = (
        np.asarray(v, dtype=np.float64) for v in (best_bid, best_ask, bid_depth, ask_depth)
    )
    b0, b1, a0, a1 = b[:-1], b[1:], a[:-1], a[1:]
    same_b = ~(np.isfinite(b0) & np.isfinite(b1))
    same_a = ~(np.isfinite(a0) & np.isfinite(a1))
    up_b = same_b | (b1 >= b0)
    down_b = same_b | (b1 <= b0)
    down_a = same_a | (a1 <= a0)
    up_a = same_a | (a1 >= a0)
    return up_b * qb[1:] - down_b * qb[:-1] - down_a * qa[1:] + up_a * qa[:-1]


def tick_rule_flow(close, volume) -> np.ndarray:
    """Tick-rule signed volume ``sign(close[t] - close[t-1]) * volume[t]``, float[T-1]."""
    c = np.asarray(close, dtype=np.float64)
    return np.sign(np.diff(c)) * np.asarray(volume, dtype=np.float64)[1:]


@dataclass(frozen=True)
class Series:
    """One price series and its companions, aligned on the return steps.

    Attributes:
        returns: float[T-1] log returns of the close.
        volume: float[T-1] traded volume of each step, or None.
        flow: float[T-1] signed order flow of each step, or None.
        flow_kind: ``flow`` (given), ``book`` (:func:`book_flow`), ``tick_rule`` or ``none``.
        spread_bp: float[T] relative quoted spread ``(ask - bid) / mid * 1e4`` where both
            quotes exist, or None.
        depth: float[T] resting lots on both sides, or None.
    """

    returns: np.ndarray
    volume: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_kind: str = "none"
    spread_bp: np.ndarray | None = None
    depth: np.ndarray | None = None


FLOW_CHOICES = ("auto", "flow", "book", "tick_rule", "none")
COLUMNS = ("close", "volume", "flow", "best_bid", "best_ask", "bid_depth", "ask_depth")


def signed_flow(get: dict[str, np.ndarray], flow: str) -> tuple[np.ndarray | None, str]:
    """The signed flow of one series (float[T-1]) and its kind, by the ``flow`` choice:
    ``auto`` takes the ``flow`` column, else the book (:func:`book_flow`), else none; the
    tick rule only when asked for (its impact curve is monotone by construction)."""
    book = all(c in get for c in ("best_bid", "best_ask", "bid_depth", "ask_depth"))
    if flow in ("auto", "flow") and "flow" in get:
        return get["flow"][1:], "flow"
    if flow in ("auto", "book") and book:
        return book_flow(
            *(get[c] for c in ("best_bid", "best_ask", "bid_depth", "ask_depth"))
        ), "book"
    if flow == "tick_rule" and "volume" in get:
        return tick_rule_flow(get["close"], get["volume"]), "tick_rule"
    return None, "none"


def series_of(frame: pl.DataFrame, flow: str = "auto") -> Series:
    """A :class:`Series` from one series' rows (ordered) of a ticks-like frame; ``flow``
    picks the signed flow (:func:`signed_flow`)."""
    get = {
        c: frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in COLUMNS
        if c in frame.columns
    }
    signed, kind = signed_flow(get, flow)
    spread = depth = None
    if "best_bid" in get and "best_ask" in get:
        bid, ask = get["best_bid"], get["best_ask"]
        spread = (ask - bid) / (ask + bid) * 2e4
        spread = spread[np.isfinite(spread)]
    if "bid_depth" in get and "ask_depth" in get:
        depth = get["bid_depth"] + get["ask_depth"]
        depth = depth[np.isfinite(depth)]
    volume = get["volume"][1:] if "volume" in get else None
    return Series(log_returns(get["close"]), volume, signed, kind, spread, depth)


def split_series(data, flow: str = "auto") -> list[Series]:
    """Every series of ``data``: a price array float[T] or float[S, T], or a ticks-like
    Polars frame (one series per ``scenario`` x ``symbol``, ordered by ``tick``)."""
    if flow not in FLOW_CHOICES:
        raise ValueError(f"flow must be one of {FLOW_CHOICES}, not {flow!r}")
    if isinstance(data, pl.LazyFrame):
        data = data.collect()
    if not isinstance(data, pl.DataFrame):
        prices = np.atleast_2d(np.asarray(data, dtype=np.float64))
        return [Series(log_returns(p)) for p in prices]
    keys = [k for k in SERIES_KEYS if k in data.columns]
    order = [*keys, "tick"] if "tick" in data.columns else keys
    data = data.sort(order) if order else data
    parts = data.partition_by(keys, maintain_order=True) if keys else [data]
    return [series_of(p, flow) for p in parts]


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
