"""The indicators every agent sees equal TA-Lib's on the market's own close series."""

from __future__ import annotations

import jax
import numpy as np
import talib

import qtgjax


def _pick(x, s):
    return float(x[s]) if x.ndim else float(x)


def test_market_view_indicators_match_talib_on_the_simulated_path(small_result):
    cfg = small_result.config["market"]["indicators"]
    out = small_result.out
    closes = np.asarray(out.records.close, np.float64)  # (B, T, S)
    start = np.asarray(out.initial.market.last_price, np.float64)  # (B, S)
    view = out.final.market.indicators.view
    for b in range(closes.shape[0]):
        for s in range(closes.shape[2]):
            c = np.concatenate([[start[b, s]], closes[b, :, s]])
            got = jax.tree.map(lambda x, b=b, s=s: _pick(np.asarray(x)[b], s), view)
            assert np.isclose(got.sma_fast, talib.SMA(c, cfg["sma_fast"])[-1], rtol=1e-6)
            assert np.isclose(got.sma_slow, talib.SMA(c, cfg["sma_slow"])[-1], rtol=1e-6)
            assert np.isclose(got.rsi, talib.RSI(c, cfg["rsi"])[-1], rtol=1e-4, atol=1e-4)
            line, signal, _ = talib.MACD(c, cfg["macd_fast"], cfg["macd_slow"], cfg["macd_signal"])
            assert np.isclose(got.macd, line[-1], rtol=1e-4, atol=1e-3)
            assert np.isclose(got.macd_signal, signal[-1], rtol=1e-4, atol=1e-3)
            k = cfg["bollinger_k"]
            upper, middle, lower = talib.BBANDS(c, cfg["bollinger"], k, k)
            assert np.isclose(got.bb_upper, upper[-1], rtol=1e-6)
            assert np.isclose(got.bb_lower, lower[-1], rtol=1e-6)
            high = np.maximum(c, np.concatenate([[c[0]], c[:-1]]))
            low = np.minimum(c, np.concatenate([[c[0]], c[:-1]]))
            assert np.isclose(got.atr, talib.ATR(high, low, c, cfg["atr"])[-1], rtol=1e-4)
            window = c[-1 - cfg["range"] : -1]
            assert got.range_high == window.max() and got.range_low == window.min()
            assert got.ready


def test_indicators_are_not_ready_during_warm_up(small_config):
    res = qtgjax.simulate({**small_config, "ticks": 5})
    assert not np.any(np.asarray(res.out.final.market.indicators.view.ready))
