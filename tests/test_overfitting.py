"""Deflated Sharpe ratio against the paper's worked example; PBO (CSCV) against a
brute-force reference and on trials with known structure."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from qtgjax.risk import deflated_sharpe, expected_max_sharpe, pbo_cscv, probabilistic_sharpe


def test_deflated_sharpe_reproduces_the_papers_worked_example():
    # Bailey & Lopez de Prado (2014), section "A numerical example": N = 100 trials,
    # V[SR] = 1/2 annualised, T = 1,250 daily returns, SR = 2.5 annualised, skew -3,
    # kurtosis 10, 250 days a year: SR0 = 0.1132 per day, DSR = 0.9004.
    sr0 = float(expected_max_sharpe(100, 0.5 / 250))
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = float(deflated_sharpe(2.5 / math.sqrt(250), 1250, 100, 0.5 / 250, -3.0, 10.0))
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_probabilistic_sharpe_is_the_normal_test_for_normal_returns():
    # With skew 0 and kurtosis 3 the PSR against 0 is Phi(SR sqrt(T - 1) / sqrt(1 + SR^2/2)).
    sr, t = 0.05, 2000
    expected = stats.norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 + sr**2 / 2))
    assert float(probabilistic_sharpe(sr, 0.0, t)) == pytest.approx(expected, rel=1e-5)
    # SR0 is the expected maximum of N normal Sharpe estimates (extreme-value approximation)
    draws = np.random.default_rng(1).normal(0.0, 0.1, (20000, 100)).max(1).mean()
    assert float(expected_max_sharpe(100, 0.01)) == pytest.approx(draws, rel=0.03)
    # more trials -> a higher bar -> a lower DSR
    dsr = [float(deflated_sharpe(0.08, 1000, n, 0.001)) for n in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsr, dsr[1:], strict=False))


def reference_pbo(m: np.ndarray, s: int) -> float:
    """Plain loops over the C(S, S/2) splits (Bailey et al. 2017, steps 1-6)."""
    t, n = m.shape
    blocks = np.array_split(np.arange(t), s)
    below = 0
    combos = list(itertools.combinations(range(s), s // 2))
    for train in combos:
        rows_in = np.concatenate([blocks[b] for b in train])
        rows_out = np.concatenate([blocks[b] for b in range(s) if b not in train])

        def sharpe(rows, j):
            x = m[rows, j]
            return x.mean() / x.std(ddof=1)

        perf_in = [sharpe(rows_in, j) for j in range(n)]
        perf_out = [sharpe(rows_out, j) for j in range(n)]
        best = max(range(n), key=lambda j: perf_in[j])
        rank = (
            1
            + sum(p < perf_out[best] for p in perf_out)
            + 0.5 * (sum(p == perf_out[best] for p in perf_out) - 1)
        )
        w = rank / (n + 1)
        below += math.log(w / (1 - w)) <= 0
    return below / len(combos)


def test_pbo_matches_the_brute_force_reference():
    rng = np.random.default_rng(3)
    m = rng.normal(0.0, 1.0, (60, 7)) + rng.normal(0, 0.1, 7)
    for s in (2, 4, 6, 8):
        assert pbo_cscv(m, s).pbo == pytest.approx(reference_pbo(m, s), abs=1e-12)


def test_pbo_is_high_for_noise_and_zero_for_a_real_edge():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, (400, 50))
    result = pbo_cscv(noise, 10)
    assert result.n_splits == math.comb(10, 5)
    assert 0.25 < result.pbo < 0.8  # selection among pure noise: a coin flip
    edge = noise.copy()
    edge[:, 7] += 0.5  # one trial really is better, everywhere
    assert pbo_cscv(edge, 10).pbo == 0.0
    assert pbo_cscv(edge, 10, metric="mean").pbo == 0.0


def test_pbo_refuses_bad_input():
    with pytest.raises(ValueError, match="even"):
        pbo_cscv(np.zeros((10, 3)), 3)
    with pytest.raises(ValueError, match="N >= 2"):
        pbo_cscv(np.zeros((10, 1)), 2)
