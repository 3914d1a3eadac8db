"""Selection bias and backtest overfitting: the deflated Sharpe ratio and the probability of
backtest overfitting (CSCV).

* :func:`deflated_sharpe` (Bailey & Lopez de Prado 2014, "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality"): the probability
  that the true Sharpe ratio of the strategy picked as the best of ``n_trials`` exceeds the
  Sharpe ratio the best of ``n_trials`` skill-less strategies would show,
  ``DSR = PSR(SR0)`` with
  ``SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))`` (g the
  Euler-Mascheroni constant, V the variance of the Sharpe estimates across the trials) and
  ``PSR(SR*) = Z((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``.
  Sharpe ratios are per period (not annualised), ``kurtosis`` is Pearson's (3 for a normal).
* :func:`pbo_cscv` (Bailey, Borwein, Lopez de Prado & Zhu 2017, "The Probability of
  Backtest Overfitting"): combinatorially symmetric cross-validation over the rows of a
  ``[T, N]`` performance matrix (T observations of N trials).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jax.scipy.stats import norm
from scipy.stats import rankdata

EULER_GAMMA = 0.5772156649015329


@jax.jit
def expected_max_sharpe(n_trials, sharpe_variance) -> jnp.ndarray:
    """``SR0``: the expected largest of ``n_trials`` Sharpe estimates of skill-less
    strategies whose estimates vary with ``sharpe_variance`` (per period)."""
    n = jnp.maximum(jnp.asarray(n_trials, jnp.float32), 1.0 + 1e-6)
    quantiles = (1.0 - EULER_GAMMA) * ndtri(1.0 - 1.0 / n) + EULER_GAMMA * ndtri(
        1.0 - 1.0 / (n * math.e)
    )
    return jnp.sqrt(jnp.asarray(sharpe_variance, jnp.float32)) * quantiles


@jax.jit
def probabilistic_sharpe(sharpe, benchmark, n_obs, skew=0.0, kurtosis=3.0) -> jnp.ndarray:
    """PSR: the probability that the true per-period Sharpe exceeds ``benchmark``, given an
    estimate ``sharpe`` from ``n_obs`` returns with that skewness and (Pearson) kurtosis."""
    sr = jnp.asarray(sharpe, jnp.float32)
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    z = (sr - benchmark) * jnp.sqrt(jnp.asarray(n_obs, jnp.float32) - 1.0)
    return norm.cdf(z / jnp.sqrt(jnp.maximum(var, 1e-12)))


@jax.jit
def deflated_sharpe(
    sharpe, n_obs, n_trials, sharpe_variance, skew=0.0, kurtosis=3.0
) -> jnp.ndarray:
    """The deflated Sharpe ratio, a probability in [0, 1].

    Args:
        sharpe: per-period (not annualised) Sharpe ratio of the selected strategy.
        n_obs: T, returns it was estimated from.
        n_trials: N, strategies (candidates) tried before selecting it.
        sharpe_variance: variance across the N trials of their per-period Sharpe estimates.
        skew: skewness of the selected strategy's returns.
        kurtosis: Pearson kurtosis of its returns (3 for normal returns).

    Returns:
        float32 ``PSR(SR0)``: above 0.95, the Sharpe ratio survives the selection at 5%.
        Broadcasts over array arguments.

    Example (the paper's worked example: annualised SR 2.5 over 1,250 daily returns,
    skew -3, kurtosis 10, 100 trials with annualised Sharpe variance 0.5, 250 days a
    year):

        >>> round(float(deflated_sharpe(2.5 / 250**0.5, 1250, 100, 0.5 / 250, -3.0, 10.0)), 3)
        0.9
    """
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe(sharpe, benchmark, n_obs, skew, kurtosis)


@dataclass(frozen=True)
class PBOResult:
    """Outcome of :func:`pbo_cscv`.

    Attributes:
        pbo: share of the C(S, S/2) splits in which the in-sample best trial ranks at or
            below the out-of-sample median (logit <= 0).
        logits: float64[C] ``log(w / (1 - w))`` of the in-sample best trial's relative
            out-of-sample rank w = rank / (N + 1) (ranks 1 = worst .. N = best).
        is_best: float64[C] in-sample performance of the selected trial per split.
        oos_of_best: float64[C] its out-of-sample performance.
        n_splits: C.
    """

    pbo: float
    logits: np.ndarray
    is_best: np.ndarray
    oos_of_best: np.ndarray
    n_splits: int

    @property
    def degradation(self) -> float:
        """Slope of out-of-sample on in-sample performance of the selected trials."""
        if self.n_splits < 2 or np.ptp(self.is_best) == 0:
            return float("nan")
        return float(np.polyfit(self.is_best, self.oos_of_best, 1)[0])


METRICS = ("sharpe", "mean")


def _block_metric(s1, s2, count, metric: str) -> np.ndarray:
    mean = s1 / count
    if metric == "mean":
        return mean
    var = (s2 - count * mean**2) / max(count - 1, 1)
    std = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, np.where(mean > 0, np.inf, -np.inf))


def pbo_cscv(performance, n_partitions: int = 16, metric: str = "sharpe") -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    The T rows of ``performance`` (e.g. returns per period, or per scenario) are cut into
    ``n_partitions`` contiguous blocks (``numpy.array_split``); each of the C(S, S/2) ways
    of choosing half of the blocks is a training set, the other half its test set. In each
    split the trial with the best ``metric`` on the training rows is selected and its rank
    among all trials on the test rows recorded.

    Args:
        performance: float[T, N], N >= 2 trials (columns) observed T times (rows).
        n_partitions: S, even, 2 <= S <= T.
        metric: ``"sharpe"`` (mean / sample std of the rows) or ``"mean"``.

    Returns:
        :class:`PBOResult`.
    """
    m = np.asarray(performance, np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"performance must be [T, N] with N >= 2 trials, got shape {m.shape}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    t, n = m.shape
    if n_partitions % 2 or not 2 <= n_partitions <= t:
        raise ValueError(f"n_partitions must be even and in 2..T={t}, got {n_partitions}")
    blocks = np.array_split(np.arange(t), n_partitions)
    s1 = np.stack([m[b].sum(0) for b in blocks])  # (S, N)
    s2 = np.stack([(m[b] ** 2).sum(0) for b in blocks])
    counts = np.array([len(b) for b in blocks], np.float64)
    combos = np.array(list(itertools.combinations(range(n_partitions), n_partitions // 2)))
    train = np.zeros((len(combos), n_partitions), bool)
    train[np.arange(len(combos))[:, None], combos] = True
    logits, is_best, oos_best = [], [], []
    for row in train:
        perf_in = _block_metric(s1[row].sum(0), s2[row].sum(0), counts[row].sum(), metric)
        perf_out = _block_metric(s1[~row].sum(0), s2[~row].sum(0), counts[~row].sum(), metric)
        best = int(np.argmax(perf_in))
        rank = rankdata(perf_out)[best]  # 1 = worst, average ranks for ties
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
        is_best.append(perf_in[best])
        oos_best.append(perf_out[best])
    logits = np.asarray(logits)
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        is_best=np.asarray(is_best),
        oos_of_best=np.asarray(oos_best),
        n_splits=len(combos),
    )
