"""LightGBM and XGBoost boosters -> :class:`~qtgjax.ml.model.CompiledModel`.

LightGBM is read from ``Booster.dump_model()`` (thresholds printed with 17 digits, so the
float64 values round-trip), XGBoost from its JSON model (``save_raw("json")``: float32
split conditions, leaf values in ``split_conditions`` at leaves). Both honour the
booster's best iteration the way its own ``predict`` does.
"""

from __future__ import annotations

import json
import math

import numpy as np

from qtgjax.ml.convert import (
    UnsupportedModel,
    _model,
    _tree,
    lightgbm_missing,
    pack_trees,
    threshold_le,
    threshold_lt,
)
from qtgjax.ml.model import NAN_DEFAULT

LGB_IDENTITY = ("regression", "regression_l1", "huber", "fair", "quantile", "mape",
                "lambdarank", "rank_xendcg")
LGB_EXP = ("poisson", "gamma", "tweedie")


def _lgb_tree(node: dict, n_out: int, cls: int, scale: float) -> dict:
    """Flatten one LightGBM tree_structure (nested dicts) into node arrays."""
    rows: list[dict] = []

    def visit(nd) -> int:
        i = len(rows)
        rows.append({})
        if "leaf_value" in nd:
            rows[i] = {"feature": 0, "threshold": 0.0, "left": -1, "right": -1,
                       "missing": NAN_DEFAULT, "default_left": False,
                       "value": nd["leaf_value"] * scale}
            return i
        if nd["decision_type"] != "<=":
            raise UnsupportedModel("LightGBM categorical splits are not supported")
        left = visit(nd["left_child"])
        right = visit(nd["right_child"])
        rows[i] = {"feature": nd["split_feature"], "threshold": float(nd["threshold"]),
                   "left": left, "right": right,
                   "missing": lightgbm_missing(nd["missing_type"]),
                   "default_left": bool(nd["default_left"]), "value": 0.0}
        return i

    visit(node)
    value = np.zeros((len(rows), n_out))
    value[:, cls] = [r["value"] for r in rows]
    thr = np.array([r["threshold"] for r in rows], np.float64)
    return _tree(
        feature=[r["feature"] for r in rows],
        threshold=threshold_le(thr),
        left=[r["left"] for r in rows],
        right=[r["right"] for r in rows],
        missing=[r["missing"] for r in rows],
        default_left=[r["default_left"] for r in rows],
        value=value,
    )


def from_lightgbm(m):
    """A LightGBM ``Booster``, ``LGBMRegressor`` or ``LGBMClassifier``."""
    wrapper = type(m).__name__ != "Booster"
    booster = m.booster_ if wrapper else m
    dump = booster.dump_model()
    k = int(dump["num_tree_per_iteration"])
    objective = dump.get("objective", "regression").split()
    name = objective[0]
    opts = dict(o.split(":", 1) for o in objective[1:] if ":" in o)
    best = m.best_iteration_ if wrapper else booster.best_iteration
    n_iter = best if best and best > 0 else booster.current_iteration()
    info = dump["tree_info"][: n_iter * k]
    scale = 1.0 / n_iter if dump.get("average_output") else 1.0
    if name in ("binary", "cross_entropy"):
        link, classes = "sigmoid", (0.0, 1.0)
        scale *= float(opts.get("sigmoid", 1.0))
    elif name == "multiclass":
        link, classes = "softmax", tuple(float(c) for c in range(k))
    elif name in LGB_IDENTITY:
        link, classes = "identity", ()
    elif name in LGB_EXP:
        link, classes = "exp", ()
    else:
        raise UnsupportedModel(f"LightGBM objective {name!r}")
    if any("leaf_coeff" in json.dumps(t["tree_structure"]) for t in info):
        raise UnsupportedModel("LightGBM linear trees are not supported")
    trees = [_lgb_tree(t["tree_structure"], k, i % k, scale) for i, t in enumerate(info)]
    if wrapper and classes:
        classes = tuple(float(c) for c in np.asarray(m.classes_))
    n_f = int(dump["max_feature_idx"]) + 1
    return _model(
        pack_trees(trees, k),
        intercept=np.zeros(k),
        classes=classes,
        n_features=n_f,
        link=link,
        label_rule="gt0" if k == 1 else "argmax",
        output="label" if wrapper and classes else ("value" if wrapper else "booster"),
        source=f"lightgbm.{type(m).__name__}",
        feature_names=tuple(dump.get("feature_names", ())),
    )


XGB_IDENTITY = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror",
                "reg:squaredlogerror", "reg:quantileerror", "binary:logitraw")
XGB_EXP = ("count:poisson", "reg:gamma", "reg:tweedie")
XGB_SIGMOID = ("binary:logistic", "reg:logistic")


def _base_margin(base: np.ndarray, objective: str) -> np.ndarray:
    """Intercepts in margin space (XGBoost stores ``base_score`` in output space)."""
    if objective in XGB_SIGMOID:
        return np.log(base / (1.0 - base))
    if objective in XGB_EXP:
        return np.log(base)
    return base


def from_xgboost(m):
    """An XGBoost ``Booster``, ``XGBRegressor`` or ``XGBClassifier`` (gbtree)."""
    wrapper = type(m).__name__ != "Booster"
    booster = m.get_booster() if wrapper else m
    model = json.loads(booster.save_raw("json"))["learner"]
    gb = model["gradient_booster"]
    if gb["name"] != "gbtree":
        raise UnsupportedModel(f"XGBoost booster {gb['name']!r} (only gbtree)")
    objective = model["objective"]["name"]
    params = model["learner_model_param"]
    k = max(int(params.get("num_class", "0")), 1)
    raw_base = params["base_score"].strip("[]")
    base = np.array([float(x) for x in raw_base.split(",")], np.float64)
    base = np.broadcast_to(base, (k,)).astype(np.float32).astype(np.float64)
    trees_json = gb["model"]["trees"]
    tree_class = gb["model"]["tree_info"]
    n_iter = len(gb["model"]["iteration_indptr"]) - 1
    best = getattr(m, "best_iteration", None) if wrapper else None
    if wrapper and best is not None:
        per_iter = np.diff(gb["model"]["iteration_indptr"])
        n_iter = best + 1
        trees_json = trees_json[: int(per_iter[:n_iter].sum())]
    trees = []
    for t, c in zip(trees_json, tree_class, strict=False):
        if any(s != 0 for s in t.get("split_type", [])):
            raise UnsupportedModel("XGBoost categorical splits are not supported")
        left = np.asarray(t["left_children"], np.int64)
        cond = np.asarray(t["split_conditions"], np.float32)
        leaf = left < 0
        value = np.zeros((len(left), k))
        value[:, c] = np.where(leaf, cond, 0.0)
        trees.append(_tree(
            feature=t["split_indices"],
            threshold=threshold_lt(cond),
            left=left,
            right=t["right_children"],
            missing=np.full(len(left), NAN_DEFAULT),
            default_left=np.asarray(t["default_left"], bool),
            value=value,
        ))
    if objective in XGB_SIGMOID:
        link, classes = "sigmoid", (0.0, 1.0)
    elif objective == "multi:softprob":
        link, classes = "softmax", tuple(float(c) for c in range(k))
    elif objective in XGB_IDENTITY:
        link, classes = "identity", ()
    elif objective in XGB_EXP:
        link, classes = "exp", ()
    else:
        raise UnsupportedModel(f"XGBoost objective {objective!r}")
    if objective == "reg:logistic":
        classes = ()
    if wrapper and classes:
        classes = tuple(float(c) for c in np.asarray(m.classes_))
    n_f = int(params["num_feature"])
    names = tuple(model.get("feature_names", ()) or ())
    return _model(
        pack_trees(trees, k),
        intercept=_base_margin(base, objective) if not math.isnan(base[0]) else np.zeros(k),
        classes=classes,
        n_features=n_f,
        link=link,
        label_rule="gt0" if k == 1 else "argmax",
        output="label" if wrapper and classes else ("value" if wrapper else "booster"),
        source=f"xgboost.{type(m).__name__}",
        feature_names=names,
    )
