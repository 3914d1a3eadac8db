"""The ``model`` family: its signal is the compiled model's on the canonical features of
each (agent, symbol); thresholds per agent; config errors name the key and the file; the
shipped model file loads and was trained on the canonical features."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from family_helpers import accounts, family_setup, run_ticks, view
from sklearn.tree import DecisionTreeRegressor

from qtgjax.agents.families.model import read_model
from qtgjax.config.build import ConfigError
from qtgjax.ml import compile_model
from qtgjax.ml.features import FEATURES, MARKET_FEATURES
from qtgjax.ml.io import model_info, save_model

RET_1 = FEATURES.index("ret_1")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A regression tree predicting 100 * ret_1 - position (features: the canonical set)."""
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.01, size=(2000, len(FEATURES))).astype(np.float32)
    X[:, -1] = rng.uniform(-1, 1, 2000)
    y = 100 * X[:, RET_1] - X[:, -1]
    cm = compile_model(DecisionTreeRegressor(max_depth=8).fit(X, y))
    path = tmp_path_factory.mktemp("m") / "tree.npz"
    save_model(cm.replace(feature_names=FEATURES), path)
    return str(path), cm


def features(ret_1):
    """float32[S, F_market] market features with ret_1 per symbol, others neutral."""
    f = np.zeros((2, len(MARKET_FEATURES)), np.float32)
    f[:, RET_1] = ret_1
    return jnp.asarray(f)


def test_signal_is_the_models(model_file):
    path, cm = model_file
    family, spec, params = family_setup("model", n_agents=6, model=path, enter=0.3,
                                        threshold_dispersion=0.0)
    acct = accounts(spec, 1, position=[[0, 5]] * 6)
    v = view(features=features([0.01, -0.01]))
    extra = family.init_signal_extra(spec, params, jax.random.key(0))
    sig, exit_now = family.signal(spec, params, extra, acct, v)
    x = np.zeros((2, len(FEATURES)), np.float32)
    x[:, RET_1] = [0.01, -0.01]
    x[:, -1] = [0.0, 5 / params.size]
    s = np.asarray(cm.predict(x))
    want = np.where(s > 0.3, 1, np.where(s < -0.3, -1, 0))
    assert (np.asarray(sig) == want[None, :]).all()
    assert want.tolist() == [1, -1]
    assert (np.asarray(exit_now) == (np.abs(s) < float(params.exit))[None, :]).all()


def test_agents_follow_the_signal_with_their_own_thresholds(model_file):
    path, cm = model_file
    family, spec, params = family_setup("model", n_agents=64, model=path, enter=0.5,
                                        threshold_dispersion=1.0, confirm_ticks=0, p_active=1.0)
    views = [view(features=features([0.006, -0.006]))]  # one tick: flat agents see it
    _, extra, acct = run_ticks(family, spec, params, views)
    pos = np.asarray(acct.position)
    enter = np.asarray(extra.signal_extra)[:, 0]
    x = np.zeros((2, len(FEATURES)), np.float32)
    x[:, RET_1] = [0.006, -0.006]
    s = np.asarray(cm.predict(x))
    assert s[0] > 0 > s[1]
    assert ((pos[:, 0] == params.size) == (s[0] > enter)).all()
    assert ((pos[:, 1] == -params.size) == (s[1] < -enter)).all()
    assert 0 < (pos[:, 0] > 0).sum() < 64  # dispersion: some enter, some do not


def test_config_errors(model_file, tmp_path):
    with pytest.raises(ConfigError, match=r"families.x.params.model: no model file"):
        read_model("nope.npz", "families.x.params")
    bad = tmp_path / "small.npz"
    small = compile_model(DecisionTreeRegressor(max_depth=2).fit(np.eye(3), [0, 1, 2]))
    save_model(small, bad)
    with pytest.raises(ConfigError, match="takes 3 features"):
        read_model(str(bad), "families.x.params")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"x")
    with pytest.raises(ConfigError, match="junk.npz: not a qtgjax model file"):
        read_model(str(junk), "families.x.params")


def test_shipped_model():
    cm = read_model("models/qtg_lgbm.npz", "families.model.params")
    assert cm.feature_names == FEATURES and cm.source == "lightgbm.LGBMClassifier"
    info = model_info("conf/models/qtg_lgbm.npz")
    assert info["trained_by"] == "qtgjax.ml.example" and info["test_rows"] > 0
    x = np.zeros((4, len(FEATURES)), np.float32)
    p = np.asarray(cm.predict_proba(x))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
