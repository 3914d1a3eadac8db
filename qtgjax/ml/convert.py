"""Fitted scikit-learn, LightGBM and XGBoost models -> :class:`~qtgjax.ml.model.CompiledModel`.

``compile_model(m)`` reads the fitted model's own tree structure (scikit-learn's
``tree_`` / HistGradientBoosting predictors, LightGBM's ``dump_model()``, XGBoost's JSON
model) or its coefficients; nothing is re-fitted or approximated. The libraries are
imported only when their model is given, so running a saved model needs none of them.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from qtgjax.ml.model import (
    NAN_AS_ZERO,
    NAN_DEFAULT,
    NAN_DEFAULT_LGB,
    ZERO_DEFAULT,
    CompiledModel,
    TreeArrays,
)


class UnsupportedModel(TypeError):
    """The model (or one of its settings) has no array form here; the message says why."""


def threshold_le(thr64) -> np.ndarray:
    """float32 t with ``x <= t`` <=> ``float64(x) <= thr64`` for every float32 x: the
    largest float32 not above the float64 threshold."""
    thr64 = np.asarray(thr64, np.float64)
    t = thr64.astype(np.float32)
    above = t.astype(np.float64) > thr64
    t[above] = np.nextafter(t[above], np.float32(-np.inf))
    return t


def threshold_lt(thr32) -> np.ndarray:
    """float32 t with ``x <= t`` <=> ``x < thr32`` for every float32 x (XGBoost's rule)."""
    return np.nextafter(np.asarray(thr32, np.float32), np.float32(-np.inf))


def _tree(feature, threshold, left, right, missing, default_left, value) -> dict:
    return {
        "feature": np.asarray(feature, np.int64),
        "threshold": np.asarray(threshold, np.float32),
        "left": np.asarray(left, np.int64),
        "right": np.asarray(right, np.int64),
        "missing": np.asarray(missing, np.int8),
        "default_left": np.asarray(default_left, bool),
        "value": np.asarray(value, np.float64),
    }


def node_depths(left, right) -> np.ndarray:
    """Depth of every node of one tree (root 0; -1 children mark leaves)."""
    depth = np.zeros(len(left), np.int64)
    stack = [0]
    while stack:
        i = stack.pop()
        for c in (left[i], right[i]):
            if c >= 0:
                depth[c] = depth[i] + 1
                stack.append(c)
    return depth


def pack_trees(trees: list[dict], n_outputs: int) -> TreeArrays:
    """Pad trees (dicts of node arrays, children -1 at leaves, value [m, C]) to one
    :class:`TreeArrays`; leaves become their own children."""
    if not trees:
        raise UnsupportedModel("the model has no trees")
    m = max(len(t["feature"]) for t in trees)
    n = len(trees)
    out = {
        "feature": np.zeros((n, m), np.int32),
        "threshold": np.zeros((n, m), np.float32),
        "left": np.tile(np.arange(m, dtype=np.int32), (n, 1)),
        "right": np.tile(np.arange(m, dtype=np.int32), (n, 1)),
        "missing": np.zeros((n, m), np.int8),
        "default_left": np.zeros((n, m), bool),
        "value": np.zeros((n, m, n_outputs), np.float32),
    }
    depth = 0
    for i, t in enumerate(trees):
        k = len(t["feature"])
        leaf = t["left"] < 0
        depth = max(depth, int(node_depths(t["left"], t["right"]).max()))
        own = np.arange(k)
        out["feature"][i, :k] = np.where(leaf, 0, t["feature"])
        out["threshold"][i, :k] = np.where(leaf, 0.0, t["threshold"])
        out["left"][i, :k] = np.where(leaf, own, t["left"])
        out["right"][i, :k] = np.where(leaf, own, t["right"])
        out["missing"][i, :k] = t["missing"]
        out["default_left"][i, :k] = t["default_left"]
        out["value"][i, :k] = np.where(leaf[:, None], t["value"].reshape(k, n_outputs), 0.0)
    arrays = {k: jnp.asarray(v) for k, v in out.items()}
    return TreeArrays(**arrays, depth=depth)


def _classes(m) -> np.ndarray:
    classes = np.asarray(m.classes_)
    if not np.issubdtype(classes.dtype, np.number):
        raise UnsupportedModel(f"class labels must be numbers, got {classes.dtype}")
    return classes.astype(np.float32)


def _names(m, n_features: int) -> tuple:
    names = getattr(m, "feature_names_in_", None)
    return tuple(str(x) for x in names) if names is not None else ()


def _sk_tree(tree, scale: float, proba: bool) -> dict:
    """One scikit-learn ``tree_`` (value [m, 1, C]); ``proba`` normalises leaf rows."""
    if tree.n_outputs != 1:
        raise UnsupportedModel("multi-output trees are not supported")
    value = tree.value[:, 0, :].astype(np.float64)
    if proba:
        value = value / np.maximum(value.sum(1, keepdims=True), 1e-300)
    missing_left = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, np.uint8))
    return _tree(
        feature=np.maximum(tree.feature, 0),
        threshold=threshold_le(tree.threshold),
        left=tree.children_left,
        right=tree.children_right,
        missing=np.full(tree.node_count, NAN_DEFAULT),
        default_left=np.asarray(missing_left, bool),
        value=value * scale,
    )


def _model(trees=None, coef=None, intercept=(0.0,), classes=(), **static) -> CompiledModel:
    return CompiledModel(
        trees=trees,
        coef=None if coef is None else jnp.asarray(coef, jnp.float32),
        intercept=jnp.asarray(np.asarray(intercept, np.float64), jnp.float32).reshape(-1),
        classes=jnp.asarray(np.asarray(classes, np.float32)).reshape(-1),
        **static,
    )


def _sklearn_forest(m, name: str) -> CompiledModel:
    estimators = [m] if not hasattr(m, "estimators_") else list(m.estimators_)
    is_clf = hasattr(m, "classes_")
    n_out = len(m.classes_) if is_clf else 1
    if is_clf and getattr(m, "n_outputs_", 1) != 1:
        raise UnsupportedModel("multi-output classifiers are not supported")
    scale = 1.0 / len(estimators)
    trees = [_sk_tree(e.tree_, scale, is_clf) for e in estimators]
    return _model(
        pack_trees(trees, n_out),
        intercept=np.zeros(n_out),
        classes=_classes(m) if is_clf else (),
        n_features=m.n_features_in_,
        link="identity",
        label_rule="argmax",
        output="label" if is_clf else "value",
        source=f"sklearn.{name}",
        feature_names=_names(m, m.n_features_in_),
    )


def _sklearn_gb(m, name: str) -> CompiledModel:
    is_clf = hasattr(m, "classes_")
    if m.init_ != "zero" and not _constant_init(m):
        raise UnsupportedModel("GradientBoosting with a non-constant init estimator")
    n_f = m.n_features_in_
    base = np.asarray(m._raw_predict_init(np.zeros((1, n_f), np.float32)), np.float64)[0]
    k = m.estimators_.shape[1]
    trees = []
    for stage in m.estimators_:
        for c, est in enumerate(stage):
            t = _sk_tree(est.tree_, m.learning_rate, False)
            value = np.zeros((len(t["feature"]), k))
            value[:, c] = t["value"][:, 0]
            trees.append({**t, "value": value})
    loss = getattr(m, "loss", "")
    if is_clf and loss == "exponential":
        link = "sigmoid"
        trees = [{**t, "value": 2.0 * t["value"]} for t in trees]
        base = 2.0 * base  # P(1) = expit(2 * raw) for the exponential loss
    else:
        link = ("sigmoid" if k == 1 else "softmax") if is_clf else "identity"
    return _model(
        pack_trees(trees, k),
        intercept=base,
        classes=_classes(m) if is_clf else (),
        n_features=n_f,
        link=link,
        label_rule=("ge0" if k == 1 else "argmax"),
        output="label" if is_clf else "value",
        source=f"sklearn.{name}",
        feature_names=_names(m, n_f),
    )


def _constant_init(m) -> bool:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    return isinstance(m.init_, DummyClassifier | DummyRegressor)


def _sklearn_hgb(m, name: str) -> CompiledModel:
    is_clf = hasattr(m, "classes_")
    k = m.n_trees_per_iteration_
    trees = []
    for predictors in m._predictors:
        for c, p in enumerate(predictors):
            nodes = p.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedModel("HistGradientBoosting with categorical splits")
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), k))
            value[:, c] = nodes["value"]
            trees.append(_tree(
                feature=nodes["feature_idx"],
                threshold=threshold_le(nodes["num_threshold"]),
                left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
                right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
                missing=np.full(len(nodes), NAN_DEFAULT),
                default_left=nodes["missing_go_to_left"].astype(bool),
                value=value,
            ))
    loss = m._loss.__class__.__name__
    if is_clf:
        link = "sigmoid" if k == 1 else "softmax"
    elif loss in ("HalfPoissonLoss", "HalfGammaLoss", "HalfTweedieLoss"):
        link = "exp"
    elif loss in ("HalfSquaredError", "AbsoluteError", "PinballLoss", "HuberLoss"):
        link = "identity"
    else:
        raise UnsupportedModel(f"HistGradientBoosting loss {loss}")
    return _model(
        pack_trees(trees, k),
        intercept=np.asarray(m._baseline_prediction, np.float64).reshape(-1),
        classes=_classes(m) if is_clf else (),
        n_features=m.n_features_in_,
        link=link,
        label_rule="gt0" if k == 1 else "argmax",
        output="label" if is_clf else "value",
        source=f"sklearn.{name}",
        feature_names=_names(m, m.n_features_in_),
    )


def _sklearn_linear(m, name: str) -> CompiledModel:
    coef = np.atleast_2d(np.asarray(m.coef_, np.float64))
    intercept = np.atleast_1d(np.asarray(m.intercept_, np.float64))
    is_clf = hasattr(m, "classes_")
    if is_clf:
        if name == "LogisticRegression" and coef.shape[0] > 1:
            multi = getattr(m, "multi_class", "auto")
            if multi == "ovr":
                raise UnsupportedModel("LogisticRegression(multi_class='ovr')")
            link = "softmax"
        elif name == "LogisticRegression":
            link = "sigmoid"
        else:
            link = "identity"  # LinearSVC / RidgeClassifier: labels only
    else:
        link = "identity"
    return _model(
        coef=coef.T,
        intercept=intercept,
        classes=_classes(m) if is_clf else (),
        n_features=coef.shape[1],
        link=link,
        label_rule="gt0" if coef.shape[0] == 1 else "argmax",
        output="label" if is_clf else "value",
        source=f"sklearn.{name}",
        feature_names=_names(m, coef.shape[1]),
    )


FORESTS = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
           "ExtraTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
           "ExtraTreesClassifier", "ExtraTreesRegressor")
LINEAR = ("LogisticRegression", "LinearSVC", "LinearSVR", "LinearRegression", "Ridge",
          "RidgeClassifier", "Lasso", "ElasticNet")


def compile_model(m) -> CompiledModel:
    """A fitted model as arrays: scikit-learn DecisionTree / RandomForest / ExtraTrees /
    GradientBoosting / HistGradientBoosting (regressor and classifier), LogisticRegression,
    LinearSVC / LinearSVR and other linear models, a LightGBM ``Booster`` or
    ``LGBMRegressor`` / ``LGBMClassifier``, an XGBoost ``Booster`` or ``XGBRegressor`` /
    ``XGBClassifier``. A model already compiled is returned as it is.

    Raises:
        UnsupportedModel: for any other model or unsupported setting (categorical splits,
            multi-output, linear trees, DART), with the reason.
    """
    if isinstance(m, CompiledModel):
        return m
    name = type(m).__name__
    module = type(m).__module__.split(".")[0]
    if module == "sklearn":
        if not hasattr(m, "n_features_in_"):
            raise UnsupportedModel(f"sklearn.{name} is not fitted")
        if name in FORESTS:
            return _sklearn_forest(m, name)
        if name in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
            return _sklearn_gb(m, name)
        if name in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
            return _sklearn_hgb(m, name)
        if name in LINEAR:
            return _sklearn_linear(m, name)
    if module == "lightgbm":
        from qtgjax.ml.boosters import from_lightgbm

        return from_lightgbm(m)
    if module == "xgboost":
        from qtgjax.ml.boosters import from_xgboost

        return from_xgboost(m)
    raise UnsupportedModel(f"{type(m).__module__}.{name} has no array form in qtgjax.ml")


def lightgbm_missing(missing_type: str) -> int:
    """Node rule for LightGBM's ``missing_type``."""
    return {"None": NAN_AS_ZERO, "Zero": ZERO_DEFAULT, "NaN": NAN_DEFAULT_LGB}[missing_type]


__all__ = ["UnsupportedModel", "compile_model", "threshold_le", "threshold_lt"]
