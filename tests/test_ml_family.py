"""The ``model`` family: its signal is the compiled model's on the canonical features of
each (agent, symbol); thresholds per agent; different models per agent in one family (each
agent gets its own model's predictions); config errors name the key and the file; the
shipped model file loads and was trained on the canonical features."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from family_helpers import accounts, family_setup, run_ticks, view
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from qtgjax.agents.families.model import model_index, read_model
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
    enter = np.asarray(extra.signal_extra.enter)[:, 0]
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


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two different regressors on the canonical features, of different shapes (one tree
    of depth 8; a forest of 7 trees of depth 4), their files and the fitted models."""
    rng = np.random.default_rng(1)
    X = rng.normal(scale=0.01, size=(2000, len(FEATURES))).astype(np.float32)
    X[:, -1] = rng.uniform(-1, 1, 2000)
    a = DecisionTreeRegressor(max_depth=8).fit(X, 100 * X[:, RET_1] - X[:, -1])
    b = RandomForestRegressor(n_estimators=7, max_depth=4, random_state=0).fit(
        X, -50 * X[:, RET_1] + 30 * X[:, FEATURES.index("ret_5")])
    folder = tmp_path_factory.mktemp("two")
    paths = []
    for name, m in (("a", a), ("b", b)):
        paths.append(str(folder / f"{name}.npz"))
        save_model(compile_model(m).replace(feature_names=FEATURES), paths[-1])
    return paths, (a, b), folder


def test_model_index_blocks():
    assert np.asarray(model_index(jnp.asarray([0.3, 0.7]), 10)).tolist() == [0] * 3 + [1] * 7
    idx = np.asarray(model_index(jnp.asarray([0.25, 0.25, 0.5]), 6))
    assert idx.tolist() == [0, 0, 1, 2, 2, 2]  # bounds round(1.5) = 2 (half to even), 3
    assert np.asarray(model_index(jnp.ones(1), 4)).tolist() == [0] * 4


def test_each_agent_gets_its_own_models_predictions(two_models):
    paths, fitted, _ = two_models
    n = 10
    family, spec, params = family_setup("model", n_agents=n, model=paths,
                                        model_shares=[0.3, 0.7], threshold_dispersion=0.0)
    rng = np.random.default_rng(2)
    market = rng.normal(scale=0.01, size=(2, len(MARKET_FEATURES))).astype(np.float32)
    position = rng.integers(-10, 11, size=(n, 2))
    acct = accounts(spec, 1, position=position)
    extra = family.init_signal_extra(spec, params, jax.random.key(0))
    got = np.asarray(family.predictions(params, extra, acct, view(features=jnp.asarray(market))))
    which = np.asarray(extra.model)
    assert which.tolist() == [0] * 3 + [1] * 7
    x = np.zeros((n, 2, len(FEATURES)), np.float32)
    x[:, :, :-1] = market
    x[:, :, -1] = np.clip(position / float(params.size), -1, 1)
    for k, m in enumerate(fitted):
        want = m.predict(x[which == k].reshape(-1, len(FEATURES))).reshape(-1, 2)
        np.testing.assert_allclose(got[which == k], want, rtol=1e-5, atol=1e-6)
    other = fitted[1].predict(x[which == 0].reshape(-1, len(FEATURES))).reshape(-1, 2)
    assert np.abs(got[which == 0] - other).max() > 1e-3  # the models do differ here
    # as in the simulator: jitted, params with a leading scenario axis under vmap
    batched = jax.tree.map(lambda a: jnp.broadcast_to(a, (2, *jnp.shape(a))), params)
    v = view(features=jnp.asarray(market))
    vm = jax.jit(jax.vmap(lambda p: family.predictions(p, extra, acct, v)))(batched)
    np.testing.assert_allclose(np.asarray(vm), np.stack([got, got]), rtol=1e-6, atol=1e-7)


def test_stacked_classifiers_and_linear_models():
    from qtgjax.ml.stack import stack_models

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    fitted = [GradientBoostingClassifier(n_estimators=n, max_depth=d, random_state=0).fit(X, y)
              for n, d in ((3, 2), (9, 4))]
    stack = stack_models([compile_model(m) for m in fitted])
    which = rng.integers(0, 2, size=400).astype(np.int32)
    proba = np.asarray(stack.predict_proba(X, jnp.asarray(which)))
    labels = np.asarray(stack.predict(X, jnp.asarray(which)))
    for k, m in enumerate(fitted):
        np.testing.assert_allclose(proba[which == k], m.predict_proba(X[which == k]), atol=1e-5)
        assert (labels[which == k] == m.predict(X[which == k])).all()
    lin = [LinearRegression().fit(X, X @ w) for w in (np.arange(4.0), -np.arange(4.0) + 1)]
    stack = stack_models([compile_model(m) for m in lin])
    got = np.asarray(jax.jit(lambda s, x, w: s.predict(x, w))(stack, X, jnp.asarray(which)))
    for k, m in enumerate(lin):
        np.testing.assert_allclose(got[which == k], m.predict(X[which == k]), atol=1e-4)


@pytest.mark.parametrize("overrides, match", [
    ({"model_shares": [0.5, 0.6]}, r"families.probe.params.model_shares: \[0.5, 0.6\] sum to"),
    ({"model_shares": [1.0]}, r"families.probe.params.model_shares: expected 2 positive"),
    ({"model_shares": [1.5, -0.5]}, r"families.probe.params.model_shares: expected 2 positive"),
    ({"model": []}, r"families.probe.params.model: expected a model file or a non-empty"),
    ({"model": "SMALL"}, r"families.probe.params.model\[1\]: .*small.npz takes 3 features"),
    ({"model": "CLASSIFIER"}, r"families.probe.params.model\[1\]: .*clf.npz: its outputs"),
])
def test_bad_model_lists_are_refused(two_models, overrides, match):
    paths, _, folder = two_models
    small = folder / "small.npz"
    save_model(compile_model(DecisionTreeRegressor(max_depth=2).fit(np.eye(3), [0, 1, 2])), small)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, len(FEATURES))).astype(np.float32)
    clf = GradientBoostingClassifier(n_estimators=2, max_depth=2).fit(
        X, np.digitize(X[:, 0], [-0.5, 0.5]))
    save_model(compile_model(clf).replace(feature_names=FEATURES), folder / "clf.npz")
    lists = {"SMALL": [paths[0], str(small)], "CLASSIFIER": [paths[0], str(folder / "clf.npz")]}
    params = {"model": paths, **overrides}
    if isinstance(params["model"], str):
        params["model"] = lists[params["model"]]
    with pytest.raises(ConfigError, match=match):
        family_setup("model", n_agents=4, **params)
