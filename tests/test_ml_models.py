"""qtgjax.ml.compile_model against each library's own predict / predict_proba (the Contract
of issue #16): random inputs, inputs exactly at (and one float32 ulp around) the split
thresholds, and NaN where the library defines missing values; every layout; the file."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn import ensemble, linear_model, svm, tree

from qtgjax.ml import UnsupportedModel, compile_model
from qtgjax.ml.io import ModelFileError, load_model, model_info, save_model
from qtgjax.ml.layouts import LAYOUTS, with_layout

N_F = 5
RNG = np.random.default_rng(7)
X_TRAIN = RNG.normal(size=(300, N_F)).astype(np.float32)
X_TRAIN[:, 3] = np.round(X_TRAIN[:, 3] * 2) / 2  # a few repeated values: ties at splits
X_NAN = X_TRAIN.copy()
X_NAN[RNG.random(X_NAN.shape) < 0.1] = np.nan
X_NAN[RNG.random(X_NAN.shape) < 0.05] = 0.0  # LightGBM's zero-as-missing
_Y = X_TRAIN[:, 0] + 0.5 * X_TRAIN[:, 1] ** 2 - X_TRAIN[:, 3] + 0.3 * RNG.normal(size=300)
Y_REG = _Y.astype(np.float32)
Y_BIN = (_Y > 0.4).astype(int)
Y_3 = np.digitize(_Y, [0.0, 1.0]) - 1  # classes -1, 0, 1

# (id, factory, y, trains on NaN): sklearn, LightGBM and XGBoost models of every kind
KW = {"verbose": -1, "random_state": 0, "n_estimators": 25, "num_leaves": 15,
      "min_child_samples": 5}
XKW = {"random_state": 0, "n_estimators": 25, "max_depth": 4}
CASES = [
    ("dt_reg", lambda: tree.DecisionTreeRegressor(max_depth=7, random_state=0), Y_REG, True),
    ("dt_clf", lambda: tree.DecisionTreeClassifier(max_depth=7, random_state=0), Y_3, True),
    ("rf_reg", lambda: ensemble.RandomForestRegressor(15, random_state=0, max_depth=6), Y_REG,
     True),
    ("rf_clf", lambda: ensemble.RandomForestClassifier(15, random_state=0, max_depth=6), Y_3, True),
    ("et_reg", lambda: ensemble.ExtraTreesRegressor(15, random_state=0, max_depth=6), Y_REG, True),
    ("et_clf", lambda: ensemble.ExtraTreesClassifier(15, random_state=0, max_depth=6), Y_BIN, True),
    ("gb_reg", lambda: ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0),
     Y_REG, False),
    ("gb_bin", lambda: ensemble.GradientBoostingClassifier(n_estimators=20), Y_BIN, False),
    ("gb_exp", lambda: ensemble.GradientBoostingClassifier(n_estimators=20, loss="exponential"),
     Y_BIN, False),
    ("gb_3", lambda: ensemble.GradientBoostingClassifier(n_estimators=10), Y_3, False),
    ("hgb_reg", lambda: ensemble.HistGradientBoostingRegressor(max_iter=25), Y_REG, True),
    ("hgb_poisson", lambda: ensemble.HistGradientBoostingRegressor(max_iter=25, loss="poisson"),
     np.exp(Y_REG / 2), True),
    ("hgb_bin", lambda: ensemble.HistGradientBoostingClassifier(max_iter=25), Y_BIN, True),
    ("hgb_3", lambda: ensemble.HistGradientBoostingClassifier(max_iter=15), Y_3, True),
    ("logreg_bin", lambda: linear_model.LogisticRegression(), Y_BIN, False),
    ("logreg_3", lambda: linear_model.LogisticRegression(), Y_3, False),
    ("linsvc_bin", lambda: svm.LinearSVC(), Y_BIN, False),
    ("linsvc_3", lambda: svm.LinearSVC(), Y_3, False),
    ("linsvr", lambda: svm.LinearSVR(), Y_REG, False),
    ("lgbm_reg", lambda: lgb.LGBMRegressor(**KW), Y_REG, True),
    ("lgbm_bin", lambda: lgb.LGBMClassifier(**KW), Y_BIN, True),
    ("lgbm_3", lambda: lgb.LGBMClassifier(**KW), Y_3, True),
    ("lgbm_zero", lambda: lgb.LGBMRegressor(**KW, zero_as_missing=True), Y_REG, True),
    ("lgbm_nonan", lambda: lgb.LGBMRegressor(**KW, use_missing=False), Y_REG, True),
    ("xgb_reg", lambda: xgb.XGBRegressor(**XKW), Y_REG, True),
    ("xgb_bin", lambda: xgb.XGBClassifier(**XKW), Y_BIN, True),
    ("xgb_3", lambda: xgb.XGBClassifier(**XKW), Y_3 + 1, True),
]
BOOSTERS = ["lgb_booster_bin", "lgb_booster_3", "xgb_booster_bin", "xgb_booster_3",
            "xgb_booster_reg"]
NAN_KINDS = {"dt_reg", "dt_clf", "rf_reg", "rf_clf", "et_reg", "et_clf", "hgb_reg",
             "hgb_poisson", "hgb_bin", "hgb_3", "lgbm_reg", "lgbm_bin", "lgbm_3",
             "lgbm_zero", "lgbm_nonan", "xgb_reg", "xgb_bin", "xgb_3", *BOOSTERS}


def fit(case_id):
    if case_id in BOOSTERS:
        multi = case_id.endswith("_3")
        y = Y_3 + 1 if multi else (Y_REG if case_id.endswith("reg") else Y_BIN)
        if case_id.startswith("lgb"):
            obj = {"objective": "multiclass", "num_class": 3} if multi else {"objective": "binary"}
            return lgb.train({**obj, "verbose": -1, "num_leaves": 15}, lgb.Dataset(X_NAN, y), 20)
        obj = ({"objective": "multi:softprob", "num_class": 3} if multi else
               {"objective": "reg:squarederror" if case_id.endswith("reg") else "binary:logistic"})
        return xgb.train({**obj, "max_depth": 4}, xgb.DMatrix(X_NAN, y), 20)
    _, factory, y, nan = next(c for c in CASES if c[0] == case_id)
    return factory().fit(X_NAN if nan else X_TRAIN, y)


IDS = [c[0] for c in CASES] + BOOSTERS


@pytest.fixture(scope="module")
def fitted():
    return {i: fit(i) for i in IDS}


def library_predict(m, X):
    if type(m).__name__ == "Booster" and type(m).__module__.startswith("xgboost"):
        return m.predict(xgb.DMatrix(X))
    return m.predict(X)


def thresholds(cm) -> dict[int, np.ndarray]:
    """Split thresholds per feature of a compiled model (float32, as compiled)."""
    if cm.trees is None:
        return {}
    t = cm.trees
    internal = np.asarray(t.left) != np.arange(t.left.shape[1])[None, :]
    feat, thr = np.asarray(t.feature)[internal], np.asarray(t.threshold)[internal]
    finite = np.isfinite(thr)  # +inf: scikit-learn's split of the missing values only
    return {f: np.unique(thr[(feat == f) & finite]) for f in np.unique(feat[finite])}


def adversarial(cm, m, n=400, nan=False):
    """Rows whose features sit exactly on a split threshold or one ulp either side, of
    both the compiled (float32) and the library's own thresholds."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, N_F)).astype(np.float32)
    per_feature = thresholds(cm)
    for f, thr in per_feature.items():
        pick = thr[rng.integers(0, len(thr), n)]
        shift = rng.integers(-1, 3, n)  # -1: ulp below, 0: at, 1: ulp above, 2: next ulp
        up = np.nextafter(pick, np.float32(np.inf))
        X[:, f] = np.select([shift == -1, shift == 0, shift == 1],
                            [np.nextafter(pick, np.float32(-np.inf)), pick, up],
                            np.nextafter(up, np.float32(np.inf)))
    if hasattr(m, "tree_"):  # the library's float64 thresholds rounded to float32
        feats, thr = m.tree_.feature, m.tree_.threshold
        rows = rng.integers(0, n, 100)
        for r in rows:
            i = rng.integers(0, len(feats))
            if feats[i] >= 0 and np.isfinite(thr[i]):
                X[r, feats[i]] = np.float32(thr[i])
    if nan:
        X[rng.random(X.shape) < 0.15] = np.nan
        X[rng.random(X.shape) < 0.05] = 0.0
    return X


def inputs(cm, m, case_id):
    rng = np.random.default_rng(3)
    sets = {"random": (rng.normal(size=(300, N_F)) * 1.5).astype(np.float32),
            "adversarial": adversarial(cm, m)}
    if case_id in NAN_KINDS:
        sets["nan"] = adversarial(cm, m, nan=True)
    return sets


@pytest.mark.parametrize("case_id", IDS)
def test_equals_library(fitted, case_id):
    m = fitted[case_id]
    cm = compile_model(m)
    predict = jax.jit(lambda c, x: c.predict(x))
    proba = jax.jit(lambda c, x: c.predict_proba(x))
    has_proba = hasattr(m, "predict_proba") and not isinstance(m, svm.LinearSVC)
    sets = inputs(cm, m, case_id)
    X = np.concatenate(list(sets.values()))  # one compiled call per model
    rows = np.repeat(list(sets), [len(v) for v in sets.values()])
    got, ref = np.asarray(predict(cm, X)), np.asarray(library_predict(m, X))
    assert got.shape == ref.shape, (got.shape, ref.shape)
    for name in sets:
        np.testing.assert_allclose(got[rows == name], ref[rows == name], atol=1e-5, rtol=0,
                                   err_msg=f"{case_id} {name}")
        if has_proba:
            np.testing.assert_allclose(np.asarray(proba(cm, X))[rows == name],
                                       m.predict_proba(X)[rows == name],
                                       atol=1e-5, rtol=0, err_msg=f"{case_id} {name} proba")


def test_nan_kinds_accept_nan(fitted):
    """The NaN cases are real: each library accepts NaN for those kinds."""
    X = adversarial(compile_model(fitted["dt_reg"]), fitted["dt_reg"], nan=True)
    assert np.isnan(X).any()
    for i in NAN_KINDS:
        assert np.isfinite(np.asarray(library_predict(fitted[i], X), np.float64)).all(), i


def test_adversarial_rows_hit_thresholds(fitted):
    """At least a tenth of the adversarial values sit exactly on a compiled threshold."""
    cm = compile_model(fitted["rf_clf"])
    X = adversarial(cm, fitted["rf_clf"])
    per = thresholds(cm)
    on = np.mean([np.isin(X[:, f], per[f]).mean() for f in per])
    assert on > 0.1


@pytest.mark.parametrize("case_id", ["rf_clf", "hgb_3", "lgbm_zero", "xgb_bin"])
def test_layouts_and_file(fitted, case_id, tmp_path):
    m = fitted[case_id]
    cm = compile_model(m)
    X = adversarial(cm, m, nan=True)
    raw = np.asarray(cm.raw(X))
    for layout in LAYOUTS:
        other = jax.jit(lambda c, x: c.raw(x))(with_layout(cm, layout), X)
        np.testing.assert_allclose(np.asarray(other), raw, atol=1e-5, rtol=0, err_msg=layout)
    path = save_model(cm, tmp_path / "m.npz", info={"trained_on": "test"})
    back = load_model(path)
    np.testing.assert_array_equal(np.asarray(back.predict(X)), np.asarray(cm.predict(X)))
    assert model_info(path) == {"trained_on": "test"}
    assert back.source == cm.source and back.n_features == N_F
    with np.load(path, allow_pickle=False) as z:  # the documented format, no pickles
        meta = json.loads(z["meta"].tobytes())
        assert meta["format"] == "qtgjax.ml.model" and z["threshold"].dtype == np.float32


def test_jit_vmap_and_no_jit(fitted):
    cm = compile_model(fitted["lgbm_3"])
    X = adversarial(cm, fitted["lgbm_3"], n=60, nan=True).reshape(3, 20, N_F)
    batched = jax.jit(jax.vmap(lambda x: cm.predict_proba(x)))(X)
    with jax.disable_jit():
        eager = jnp.stack([cm.predict_proba(x) for x in X])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(eager), atol=1e-6)
    models = jax.tree.map(lambda a: jnp.stack([a, a]), cm)  # vmap over models too
    out = jax.vmap(lambda c, x: c.predict_proba(x), in_axes=(0, None))(models, X[0])
    np.testing.assert_allclose(np.asarray(out[1]), np.asarray(batched[0]), atol=1e-6)


def test_errors(tmp_path):
    with pytest.raises(UnsupportedModel, match="not fitted"):
        compile_model(tree.DecisionTreeRegressor())
    with pytest.raises(UnsupportedModel, match="no array form"):
        compile_model(object())
    cm = compile_model(linear_model.LinearRegression().fit(X_TRAIN, Y_REG))
    with pytest.raises(TypeError, match="regressor"):
        cm.predict_proba(X_TRAIN)
    with pytest.raises(ValueError, match=r"float32\[n, 5\]"):
        cm.predict(X_TRAIN[:, :3])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="bad.npz"):
        load_model(bad)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.npz")
