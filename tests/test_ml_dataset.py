"""Datasets: ``qtgjax-run record.features`` writes the file ``qtgjax-dataset`` writes for the
same config and seed (chunked or not, and recomputed from the run's folder); datasets from
historical bars against numpy computations of the features and labels; bad input refused
naming the key."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import SMALL
from qtgjax import load_config
from qtgjax.config.build import ConfigError, build
from qtgjax.ml.features import FEATURES, NEUTRAL

BASE = [*SMALL, "scenarios=2", "ticks=50"]


def dataset_cli(args):
    from qtgjax.cli.dataset import run

    return run(args)


def test_record_features_equals_qtgjax_dataset(tmp_path):
    from qtgjax.io.runs import run_to_folder

    cfg = load_config([*BASE, "record.features=[1,5]", "record.features_test_fraction=0.5",
                       "chunk_size=1"])  # two chunks: the parts are joined
    run_to_folder(cfg, tmp_path / "run")
    recorded = pl.read_parquet(tmp_path / "run" / "dataset.parquet")
    dataset_cli([*BASE, "horizons=[1,5]", "test_fraction=0.5", f"out={tmp_path}/ds"])
    direct = pl.read_parquet(tmp_path / "ds" / "dataset.parquet")
    assert_frame_equal(recorded, direct)
    assert recorded.height == 2 * 2 * 50 and recorded.columns[-2:] == ["fwd_ret_1", "fwd_ret_5"]
    assert recorded.group_by("scenario").agg(pl.col("split").first()).sort("scenario")[
        "split"].to_list() == ["train", "test"]
    # the same rows again, offline from the run folder's ticks.parquet and config.yaml
    dataset_cli([f"source={tmp_path}/run", "horizons=[1,5]", "test_fraction=0.5",
                 f"out={tmp_path}/again"])
    assert_frame_equal(pl.read_parquet(tmp_path / "again" / "dataset.parquet"), direct)


@pytest.mark.parametrize("override, key", [
    ("record.features=[0,5]", "record.features"),
    ("record.features=often", "record.features"),
    ("record.features_test_fraction=1.0", "record.features_test_fraction"),
    ("+record.featurez=true", "record.featurez"),
])
def test_record_features_refused(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        build(load_config([*BASE, "record.features=true", override]))


def write_bars(path, n=120, seed=0):
    """A synthetic daily OHLCV CSV on a 1-cent grid; returns its columns."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]) + rng.integers(-3, 4, n) / 100, 2)
    high = np.maximum(open_, close) + 0.05
    low = np.minimum(open_, close) - 0.05
    volume = rng.integers(100, 1000, n).astype(float)
    time = np.datetime64("2024-01-01") + np.arange(n)
    pl.DataFrame({"Date": time.astype(str), "Open": open_, "High": high, "Low": low,
                  "Close": close, "Volume": volume}).write_csv(path)
    return {"open": open_, "close": close, "volume": volume, "time": time}


def volume_z(volume, window=20):
    """The volume z-score seen at the start of each tick: EMA mean/variance of the volumes
    before it (float64)."""
    a = 2.0 / (window + 1.0)
    z, mean, var = np.zeros(len(volume) + 1), 0.0, 0.0
    for k, v in enumerate(volume, start=1):  # k-th volume, seen at the start of tick k
        z[k] = (v - mean) / np.sqrt(var) if k > window and var > 0 else 0.0
        dev = v - mean
        mean, var = (v, 0.0) if k == 1 else (mean + a * dev, (1 - a) * (var + a * dev * dev))
    return z[:-1]


def test_history_dataset_against_numpy(tmp_path):
    bars = write_bars(tmp_path / "bars.csv")
    out = dataset_cli([f"source={tmp_path}/bars.csv", f"out={tmp_path}/ds", "horizons=[1,5]"])
    assert "120 rows (90 train, 30 test)" in out
    df = pl.read_parquet(tmp_path / "ds" / "dataset.parquet")
    assert df.columns[:6] == ["scenario", "symbol", "tick", "time", "symbol_name", "split"]
    assert df.columns[6:] == [*FEATURES, "fwd_ret_1", "fwd_ret_5"]
    assert (df["time"].to_numpy() == bars["time"].astype("datetime64[ns]")).all()
    assert df["symbol_name"].unique().to_list() == ["bars"]
    c, o = bars["close"], bars["open"]
    seen = np.concatenate([o[:1], c[:-1]])  # the last price agents saw at the start of tick t
    col = {name: df[name].to_numpy() for name in df.columns[6:]}
    # row t: the features after bar t - 1 (row 0: every one neutral)
    assert all(col[n][0] == NEUTRAL[n] for n in FEATURES if n != "fundamental_gap")
    np.testing.assert_allclose(col["ret_1"][1:], np.log(seen[1:] / seen[:-1]), atol=2e-6)
    np.testing.assert_allclose(col["ret_5"][5:], np.log(seen[5:] / seen[:-5]), atol=2e-6)
    assert (col["ret_5"][:5] == 0).all()
    r = np.diff(np.log(seen))  # one-bar log returns, r[k] = log(seen[k + 1] / seen[k])
    rv = np.array([np.sqrt(np.mean(r[t - 20:t] ** 2)) for t in range(21, 120)])
    np.testing.assert_allclose(col["realized_vol"][21:], rv, rtol=1e-4)
    np.testing.assert_allclose(col["volume_z"], volume_z(bars["volume"]), rtol=1e-4, atol=1e-5)
    for name in ("spread", "imbalance", "taker_flow", "news", "fundamental_gap", "position"):
        assert (col[name] == 0).all(), name  # what bars do not have: neutral
    assert ((col["rsi"] >= 0) & (col["rsi"] <= 100)).all() and np.isfinite(df.select(
        FEATURES).to_numpy()).all()
    # labels from the data's prices; split in time, train labels never reach a test bar
    split = df["split"].to_numpy()
    assert (split[:90] == "train").all() and (split[90:] == "test").all()
    f5 = df["fwd_ret_5"].to_numpy()
    want = np.full(120, np.nan)
    want[:116] = np.log(c[4:] / seen[:116])
    want[86:90] = np.nan  # train rows whose 5 bars would reach the test part
    np.testing.assert_allclose(f5, want, rtol=1e-12)
    np.testing.assert_allclose(df["fwd_ret_1"].to_numpy(), np.log(c / seen), rtol=1e-12)
    # a qtgjax-backtest folder: the data its config.yaml names, read the same way
    import yaml

    from qtgjax.backtest.api import compose_backtest

    (tmp_path / "bt").mkdir()
    cfg = {**compose_backtest([]), "data": str(tmp_path / "bars.csv")}
    (tmp_path / "bt" / "config.yaml").write_text(yaml.safe_dump(cfg))
    dataset_cli([f"source={tmp_path}/bt", f"out={tmp_path}/ds2", "horizons=[1,5]"])
    assert_frame_equal(pl.read_parquet(tmp_path / "ds2" / "dataset.parquet"), df)


def test_history_dataset_refuses_bad_input(tmp_path, capsys):
    from qtgjax.cli.dataset import main

    write_bars(tmp_path / "bars.csv")
    (tmp_path / "run").mkdir()
    for args, start in (
        ([f"source={tmp_path}/nope.csv"], "data: "),
        ([f"source={tmp_path}/bars.csv", "tick_size=-1"], "tick_size: "),
        ([f"source={tmp_path}/run"], f"source: {tmp_path}/run has no config.yaml"),
        ([f"source={tmp_path}/run", "ticks=5"], f"source: {tmp_path}/run is a results folder"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, f"out={tmp_path}/d"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"qtgjax-dataset: {start}") and "\n" not in err, err
    assert not (tmp_path / "d").exists()
