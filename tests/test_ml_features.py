"""The canonical ML features: what every agent saw in the tick (``observe``) equals the
features recomputed offline from ``ticks.parquet``; neutral warm-up values; definitions
checked against direct numpy computations; the dataset's labels and split."""

from __future__ import annotations

import jax
import numpy as np
import polars as pl
import pytest

from conftest import SMALL
from qtgjax import load_config
from qtgjax.config.build import build
from qtgjax.io.tables import ticks_table
from qtgjax.ml.dataset import build_dataset
from qtgjax.ml.features import FEATURES, MARKET_FEATURES, NEUTRAL, offline_features
from qtgjax.sim.rollout import Rollout, init_state
from qtgjax.sim.tick import observe, step

COL = {name: i for i, name in enumerate(MARKET_FEATURES)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two scenarios of the small market: the views agents saw and ticks.parquet."""
    cfg = load_config([*SMALL, "scenarios=2", "ticks=80"])
    built = build(cfg)
    static, params = built.static, built.params

    def one(key):
        k0, k1 = jax.random.split(key)
        s0 = init_state(static, params, k0)

        def body(s, k):
            seen = observe(s, params).features
            s, rec = step(static, params, s, k)
            return s, (seen, rec)

        final, (seen, rec) = jax.lax.scan(body, s0, jax.random.split(k1, 80))
        return s0, final, rec, seen

    keys = jax.random.split(jax.random.key(3), 2)
    s0, final, rec, seen = jax.jit(jax.vmap(one))(keys)
    ticks = ticks_table(static, Rollout(s0, final, rec), built.run.tick_size)
    path = tmp_path_factory.mktemp("ml") / "ticks.parquet"
    ticks.write_parquet(path)
    return built, np.asarray(seen), pl.read_parquet(path)


def test_online_equals_offline(run):
    built, seen, ticks = run
    m = built.params.market
    for b in range(seen.shape[0]):
        part = ticks.filter(pl.col("scenario") == b)
        off = offline_features(part, built.run.tick_size, m.indicators, built.static.history)
        assert off.shape == seen[b].shape
        np.testing.assert_allclose(off, seen[b], rtol=1e-6, atol=1e-7)
    assert np.isfinite(seen).all()  # neutral values, never NaN


def test_warm_up_and_definitions(run):
    built, seen, ticks = run
    first = seen[0, 0]  # before the first auction: every feature neutral but the gap
    for name, i in COL.items():
        if name != "fundamental_gap":
            assert first[:, i] == pytest.approx(NEUTRAL[name]), name
    t = ticks.filter(pl.col("scenario") == 0).sort("symbol", "tick")
    n_s = t["symbol"].n_unique()
    close = t["close"].to_numpy().reshape(n_s, -1).T  # [T, S]
    vol = t["volume"].to_numpy().reshape(n_s, -1).T
    flow = t["taker_flow"].to_numpy().reshape(n_s, -1).T
    f = seen[0]
    # row t + 1 is what agents saw after tick t's auction
    np.testing.assert_allclose(f[6:, :, COL["ret_5"]], np.log(close[5:-1] / close[:-6]),
                               atol=2e-6)
    np.testing.assert_allclose(f[1:4, :, COL["ret_5"]], 0.0)  # fewer than 5 ticks back
    want = np.where(vol > 0, flow / np.maximum(vol, 1), 0.0)
    np.testing.assert_allclose(f[1:, :, COL["taker_flow"]], want[:-1], atol=1e-6)
    r = np.diff(np.log(np.concatenate([t["open"].to_numpy().reshape(n_s, -1).T[:1], close])),
                axis=0)
    rv = np.sqrt((r[-20:] ** 2).mean(0))
    np.testing.assert_allclose(f[-1, :, COL["realized_vol"]], np.sqrt((r[-21:-1] ** 2).mean(0)),
                               rtol=1e-4)
    assert rv.shape == (n_s,)
    assert (f[-1, :, COL["rsi"]] >= 0).all() and (f[-1, :, COL["rsi"]] <= 100).all()
    assert np.abs(f[:, :, COL["imbalance"]]).max() <= 1.0
    assert np.abs(f[:, :, COL["news"]]).max() > 0  # the small market has news


def test_dataset_labels_and_split(run):
    built, seen, ticks = run
    m = built.params.market
    df = build_dataset(ticks, built.run.tick_size, m.indicators, built.static.history,
                       horizons=(1, 5), test_fraction=0.5)
    assert df.columns[4 : 4 + len(FEATURES)] == list(FEATURES)
    splits = df.group_by("scenario").agg(pl.col("split").unique())
    assert sorted(splits["split"].to_list()) == [["test"], ["train"]]  # whole scenarios
    row = df.filter((pl.col("scenario") == 1) & (pl.col("tick") == 10)).sort("symbol")
    np.testing.assert_allclose(row.select(FEATURES[:-1]).to_numpy(), seen[1, 10], rtol=1e-6,
                               atol=1e-7)
    t = ticks.filter(pl.col("scenario") == 1).sort("symbol", "tick")
    close = t["close"].to_numpy().reshape(2, -1).T
    np.testing.assert_allclose(row["fwd_ret_5"].to_numpy(), np.log(close[14] / close[9]))
    last = df.filter(pl.col("tick") == 79)
    assert last["fwd_ret_5"].null_count() == last.height and last["fwd_ret_1"].null_count() == 0
