"""Datasets for training models on the simulated market: features and forward returns.

One row per (scenario, symbol, tick) of a run: the canonical features agents saw at the
start of the tick (:data:`qtgjax.ml.features.FEATURES`, ``position`` = 0: a flat
trader's view), and for each horizon h the label ``fwd_ret_h`` = log(close of tick
t + h - 1 / last price seen at tick t), null where the run ends first. Whole scenarios go to
``split`` = ``train`` or ``test`` (the last ``test_fraction`` of the scenario ids), so
training and test rows never share a market.

Written by ``qtgjax-dataset`` (:mod:`qtgjax.cli.dataset`) and by ``qtgjax-run
record.features=true`` (:mod:`qtgjax.io.runs`), both through :func:`build_dataset`;
historical bars through :mod:`qtgjax.ml.history` with the same rows (:func:`feature_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from qtgjax.config.checks import ConfigError
from qtgjax.ml.features import FEATURES, MARKET_FEATURES, offline_features

KEYS = ("scenario", "symbol", "tick")
DATASET_FILE = "dataset.parquet"
DEFAULT_HORIZONS = (1, 5, 20)
DEFAULT_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class DatasetOptions:
    """Attributes:
    horizons: the label horizons, ticks (each >= 1).
    test_fraction: share of the scenarios (or, for historical data, of the bars) in ``test``.
    """

    horizons: tuple = DEFAULT_HORIZONS
    test_fraction: float = DEFAULT_TEST_FRACTION


def dataset_options(horizons, test_fraction, horizons_key: str = "horizons",
                    fraction_key: str = "test_fraction") -> DatasetOptions:
    """Checked options, or a ConfigError naming ``horizons_key`` / ``fraction_key``."""
    h = list(horizons) if isinstance(horizons, list | tuple) else horizons
    if not isinstance(h, list) or not h or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in h):
        raise ConfigError(f"{horizons_key}: expected a list of integers >= 1, got {horizons!r}")
    try:
        frac = float(test_fraction)
    except (TypeError, ValueError):
        frac = -1.0
    if isinstance(test_fraction, bool) or not 0.0 < frac < 1.0:
        raise ConfigError(f"{fraction_key}: expected a number in (0, 1), got {test_fraction!r}")
    return DatasetOptions(tuple(h), frac)


def features_record(record: Mapping) -> DatasetOptions | None:
    """The options of ``record.features`` (false: None; true: the default horizons; a list:
    those horizons) and ``record.features_test_fraction``, or a ConfigError naming them."""
    on = record.get("features", False)
    fraction = record.get("features_test_fraction", DEFAULT_TEST_FRACTION)
    off = on is False or on is None
    horizons = DEFAULT_HORIZONS if off or on is True else on
    if not isinstance(horizons, list | tuple):
        raise ConfigError(f"record.features: expected true, false or a list of horizons "
                          f"(integers >= 1), got {on!r}")
    options = dataset_options(horizons, fraction, "record.features",
                              "record.features_test_fraction")
    return None if off else options


def label_columns(horizons) -> list[str]:
    return [f"fwd_ret_{h}" for h in horizons]


def scenario_split(scenarios, test_fraction: float) -> dict[int, str]:
    """``train``/``test`` per scenario id: the last ``test_fraction`` (at least one, and
    at least one left for training when there are two or more) are ``test``."""
    ids = sorted(int(s) for s in scenarios)
    n_test = max(1, round(len(ids) * test_fraction)) if len(ids) > 1 else 0
    return {s: ("test" if i >= len(ids) - n_test else "train") for i, s in enumerate(ids)}


def forward_returns(close: np.ndarray, first_seen: np.ndarray, h: int) -> np.ndarray:
    """float64[T, S] log(close[t + h - 1] / seen[t]), seen[t] = close[t - 1] (seen[0] =
    ``first_seen``), NaN where t + h - 1 is past the end."""
    seen = np.concatenate([first_seen[None], close[:-1]])
    ahead = np.full_like(close, np.nan, dtype=np.float64)
    ahead[: len(close) - h + 1] = close[h - 1:]
    return np.log(ahead / seen)


def feature_rows(feats: np.ndarray, close: np.ndarray, first_seen: np.ndarray,
                 horizons) -> dict[str, np.ndarray]:
    """Feature and label columns (rows tick-major: row t * S + s) of features
    float32[T, S, len(MARKET_FEATURES)] and closes float64[T, S] in currency."""
    n_t, n_s, _ = feats.shape
    cols = {name: feats[:, :, i].reshape(-1) for i, name in enumerate(MARKET_FEATURES)}
    cols["position"] = np.zeros(n_t * n_s, np.float32)
    for h, name in zip(horizons, label_columns(horizons), strict=True):
        cols[name] = forward_returns(close, first_seen, h).reshape(-1)
    return cols


def scenario_rows(ticks: pl.DataFrame, tick_size, ind_params, history, horizons) -> pl.DataFrame:
    """The dataset rows of one scenario's ticks table."""
    ticks = ticks.sort("symbol", "tick")
    feats = offline_features(ticks, tick_size, ind_params, history)  # [T, S, F]
    n_t, n_s, _ = feats.shape
    close = ticks["close"].to_numpy().reshape(n_s, n_t).T
    first = ticks["open"].to_numpy().reshape(n_s, n_t).T[0]
    cols = {
        "scenario": np.full(n_t * n_s, ticks["scenario"][0], np.int64),
        "symbol": np.tile(np.arange(n_s, dtype=np.int32), n_t),
        "tick": np.repeat(np.arange(n_t, dtype=np.int64), n_s),
        **feature_rows(feats, close, first, horizons),
    }
    return pl.DataFrame(cols).with_columns(pl.col(label_columns(horizons)).fill_nan(None))


def build_dataset(ticks: pl.DataFrame, tick_size: float, ind_params, history: int,
                  horizons=DEFAULT_HORIZONS, test_fraction: float = DEFAULT_TEST_FRACTION,
                  scenarios=None) -> pl.DataFrame:
    """Dataset rows of every scenario of a ticks table (the module docstring).

    ``scenarios``: every scenario id of the run, over which the split is drawn (default:
    those in ``ticks``; a chunk of a run passes the run's, so its rows get their split).
    """
    ids = ticks["scenario"].unique().to_list() if scenarios is None else list(scenarios)
    split = scenario_split(ids, test_fraction)
    parts = [scenario_rows(part, tick_size, ind_params, history, horizons)
             for _, part in ticks.group_by("scenario", maintain_order=True)]
    df = pl.concat(parts).sort(*KEYS)
    split_col = pl.col("scenario").replace_strict(split, return_dtype=pl.Utf8).alias("split")
    return df.with_columns(split_col).select(*KEYS, "split", *FEATURES,
                                             *label_columns(horizons))
