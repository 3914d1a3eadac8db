"""Datasets from historical bars: the canonical features computed offline by the same
functions as in the tick (:func:`qtgjax.ml.features.features_of`), and forward returns.

Each symbol's bars are one market: bar t plays tick t. Its close (in ticks of the symbol's
tick size, as ``qtgjax-backtest`` converts it) and volume (in lots) feed the features as
the record of tick t does; what bars do not have takes its neutral value in every row:
``spread``, ``imbalance``, ``taker_flow``, ``news`` 0 (no book, no signed flow, no dividend
news) and ``fundamental_gap`` 0 (no fundamental value: it is read as the close). ``atr`` is
the market's close-to-close ATR (bar high and low are not used), so features mean the same
on bars and in the simulator.

Rows: ``scenario`` 0, ``symbol`` the symbol's index in the data, ``tick`` the bar index,
``time`` the bar's time, ``symbol_name``, then ``split``, the features and the labels as in
:mod:`qtgjax.ml.dataset` (labels from the data's own prices). One history is one market, so
the split is in time: per symbol, the last ``test_fraction`` of the bars are ``test``, and a
``train`` row's label that would reach a ``test`` bar is null (no training label sees a test
price).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
import polars as pl

from qtgjax.data.types import Bars
from qtgjax.ml.dataset import KEYS, DatasetOptions, feature_rows, label_columns
from qtgjax.ml.features import FEATURES, FeatureInputs, features_of


def bar_inputs(ticks: Mapping[str, np.ndarray]) -> FeatureInputs:
    """The feature inputs [T, 1] of one symbol's bars in ticks and lots
    (:meth:`qtgjax.data.Bars.in_ticks`); what bars lack is neutral (module docstring)."""
    close = jnp.asarray(ticks["close"], jnp.int32)[:, None]
    zeros = jnp.zeros_like(close)
    return FeatureInputs(
        close=close, volume=jnp.asarray(ticks["volume"], jnp.int32)[:, None],
        taker_flow=zeros, best_bid=zeros, best_ask=zeros, bid_depth=zeros, ask_depth=zeros,
        fundamental=close.astype(jnp.float32), news=jnp.zeros(close.shape, jnp.float32),
    )


def time_split(n_bars: int, test_fraction: float) -> int:
    """The first ``test`` bar: the last ``test_fraction`` of ``n_bars`` (at least one bar
    each side when there are two or more)."""
    n_test = min(max(1, round(n_bars * test_fraction)), n_bars - 1)
    return n_bars - n_test


def bars_rows(bars: Bars, index: int, tick_size: float, lot_size: float, ind_params,
              history: int, options: DatasetOptions) -> pl.DataFrame:
    """The dataset rows of one symbol's bars (module docstring)."""
    ticks = bars.in_ticks(tick_size, lot_size)
    feats = features_of(jnp.asarray(ticks["open"][:1]), bar_inputs(ticks), ind_params, history)
    n_t = len(bars)
    cols = feature_rows(feats, bars.close[:, None], bars.open[:1], options.horizons)
    cut = time_split(n_t, options.test_fraction)
    t = np.arange(n_t)
    for h, name in zip(options.horizons, label_columns(options.horizons), strict=True):
        cols[name] = np.where((t < cut) & (t + h - 1 >= cut), np.nan, cols[name])
    df = pl.DataFrame({
        "scenario": np.zeros(n_t, np.int64), "symbol": np.full(n_t, index, np.int32),
        "tick": t.astype(np.int64), "time": bars.time, "symbol_name": [bars.symbol] * n_t,
        "split": np.where(t < cut, "train", "test"), **cols,
    })
    return df.with_columns(pl.col(label_columns(options.horizons)).fill_nan(None))


def history_dataset(bars: Sequence[Bars], tick_sizes: Sequence[float], lot_size: float,
                    ind_params, history: int, options: DatasetOptions) -> pl.DataFrame:
    """Dataset rows of every symbol's bars (module docstring), symbol by symbol."""
    parts = [bars_rows(b, i, tick, lot_size, ind_params, history, options)
             for i, (b, tick) in enumerate(zip(bars, tick_sizes, strict=True))]
    return pl.concat(parts).select(*KEYS, "time", "symbol_name", "split", *FEATURES,
                                   *label_columns(options.horizons))
