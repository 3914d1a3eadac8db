"""Datasets for training models on the simulated market: features and forward returns.

One row per (scenario, symbol, tick) of a run: the canonical features agents saw at the
start of the tick (:data:`qtgjax.ml.features.FEATURES`, ``position`` = 0: a flat
trader's view), and for each horizon h the label ``fwd_ret_h`` = log(close of tick
t + h - 1 / last price seen at tick t), null where the run ends first. Whole scenarios go to
``split`` = ``train`` or ``test`` (the last ``test_fraction`` of the scenario ids), so
training and test rows never share a market.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from qtgjax.ml.features import FEATURES, MARKET_FEATURES, offline_features

KEYS = ("scenario", "symbol", "tick")


def label_columns(horizons) -> list[str]:
    return [f"fwd_ret_{h}" for h in horizons]


def scenario_split(scenarios, test_fraction: float) -> dict[int, str]:
    """``train``/``test`` per scenario id: the last ``test_fraction`` (at least one, and
    at least one left for training when there are two or more) are ``test``."""
    ids = sorted(int(s) for s in scenarios)
    n_test = max(1, round(len(ids) * test_fraction)) if len(ids) > 1 else 0
    return {s: ("test" if i >= len(ids) - n_test else "train") for i, s in enumerate(ids)}


def scenario_rows(ticks: pl.DataFrame, tick_size, ind_params, history, horizons) -> pl.DataFrame:
    """The dataset rows of one scenario's ticks table."""
    ticks = ticks.sort("symbol", "tick")
    feats = offline_features(ticks, tick_size, ind_params, history)  # [T, S, F]
    n_t, n_s, _ = feats.shape
    close = ticks["close"].to_numpy().reshape(n_s, n_t).T
    seen = np.concatenate([ticks["open"].to_numpy().reshape(n_s, n_t).T[:1], close[:-1]])
    cols = {
        "scenario": np.full(n_t * n_s, ticks["scenario"][0], np.int64),
        "symbol": np.tile(np.arange(n_s, dtype=np.int32), n_t),
        "tick": np.repeat(np.arange(n_t, dtype=np.int64), n_s),
    }
    for i, name in enumerate(MARKET_FEATURES):
        cols[name] = feats[:, :, i].reshape(-1)
    cols["position"] = np.zeros(n_t * n_s, np.float32)
    for h, name in zip(horizons, label_columns(horizons), strict=True):
        ahead = np.full_like(close, np.nan)
        ahead[: n_t - h + 1] = close[h - 1 :]
        cols[name] = np.log(ahead / seen).reshape(-1)
    df = pl.DataFrame(cols)
    return df.with_columns(pl.col(label_columns(horizons)).fill_nan(None))


def build_dataset(ticks: pl.DataFrame, tick_size: float, ind_params, history: int,
                  horizons=(1, 5, 20), test_fraction: float = 0.25) -> pl.DataFrame:
    """Dataset rows of every scenario of a ticks table (the module docstring)."""
    split = scenario_split(ticks["scenario"].unique().to_list(), test_fraction)
    parts = [scenario_rows(part, tick_size, ind_params, history, horizons)
             for _, part in ticks.group_by("scenario", maintain_order=True)]
    df = pl.concat(parts).sort(*KEYS)
    split_col = pl.col("scenario").replace_strict(split, return_dtype=pl.Utf8).alias("split")
    return df.with_columns(split_col).select(*KEYS, "split", *FEATURES,
                                             *label_columns(horizons))
