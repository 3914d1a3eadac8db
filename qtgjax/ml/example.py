"""Train a LightGBM classifier on a ``qtgjax-dataset`` file and compile it for model agents.

    python -m qtgjax.ml.example DATASET.parquet OUT.npz [--horizon 5] [--trees 60] [--max-depth D]

Labels: the sign of the forward return over ``horizon`` ticks with a dead band (``down``
-1 / ``flat`` 0 / ``up`` +1; the band is the 1/3 quantile of |return| on the training
rows, so the classes are about equally frequent). Trains on ``split == train`` only;
prints test accuracy and log loss against the base rate, and the feature importance
(gain, splits, mean |SHAP| on the test rows: :mod:`qtgjax.ml.explain`); writes the model
file (:func:`qtgjax.ml.io.save_model`, the training summary under ``info``) and
``OUT.importance.parquet`` (``--report-into RUN`` also puts it in a results folder,
where ``qtgjax-report`` shows it). ``conf/models/qtg_lgbm.npz`` is made this way (README).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl

from qtgjax.ml.features import FEATURES


def labels(ret: np.ndarray, band: float) -> np.ndarray:
    return np.where(ret > band, 1, np.where(ret < -band, -1, 0))


def train(df: pl.DataFrame, horizon: int = 5, trees: int = 60, leaves: int = 15, seed: int = 0,
          max_depth: int = -1):
    """(fitted LGBMClassifier, summary dict, X_test) from a dataset frame (``max_depth``
    -1: no limit; a limit bounds the traversal steps, the cost in the tick)."""
    import lightgbm as lgb

    label = f"fwd_ret_{horizon}"
    if label not in df.columns:
        raise ValueError(f"the dataset has no {label} column (horizons: "
                         f"{[c for c in df.columns if c.startswith('fwd_ret_')]})")
    df = df.filter(pl.col(label).is_not_null())
    tr, te = df.filter(pl.col("split") == "train"), df.filter(pl.col("split") == "test")
    x_tr = tr.select(FEATURES).to_numpy().astype(np.float32)
    x_te = te.select(FEATURES).to_numpy().astype(np.float32)
    r_tr, r_te = tr[label].to_numpy(), te[label].to_numpy()
    band = float(np.quantile(np.abs(r_tr), 1 / 3))
    y_tr, y_te = labels(r_tr, band), labels(r_te, band)
    model = lgb.LGBMClassifier(n_estimators=trees, num_leaves=leaves, max_depth=max_depth,
                               learning_rate=0.05,
                               min_child_samples=50, subsample=0.8, subsample_freq=1,
                               colsample_bytree=0.8, random_state=seed, verbose=-1)
    model.fit(x_tr, y_tr)
    p = model.predict_proba(x_te)
    idx = np.searchsorted(model.classes_, y_te)
    base = np.bincount(np.searchsorted(model.classes_, y_tr), minlength=3) / len(y_tr)
    summary = {
        "horizon": horizon, "band": band, "trees": trees, "leaves": leaves,
        "max_depth": max_depth,
        "train_rows": int(len(y_tr)), "test_rows": int(len(y_te)),
        "test_accuracy": float((model.predict(x_te) == y_te).mean()),
        "test_log_loss": float(-np.log(np.maximum(p[np.arange(len(idx)), idx], 1e-12)).mean()),
        "base_log_loss": float(-np.log(np.maximum(base[idx], 1e-12)).mean()),
        "base_accuracy": float(base.max()),
    }
    return model, summary, x_te


def main(argv=None) -> None:
    from qtgjax.ml import compile_model
    from qtgjax.ml.explain import importance_table, markdown
    from qtgjax.ml.io import save_model

    ap = argparse.ArgumentParser(prog="python -m qtgjax.ml.example", description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--trees", type=int, default=60)
    ap.add_argument("--leaves", type=int, default=15)
    ap.add_argument("--max-depth", type=int, default=-1, help="-1: no limit")
    ap.add_argument("--report-into", default=None,
                    help="also write the importance table into this results folder, where "
                         "qtgjax-report shows it")
    a = ap.parse_args(argv)
    df = pl.read_parquet(a.dataset)
    model, summary, x_te = train(df, a.horizon, a.trees, a.leaves, max_depth=a.max_depth)
    cm = compile_model(model).replace(feature_names=FEATURES)
    out = Path(a.out)
    save_model(cm, out, info={"trained_by": "qtgjax.ml.example", "dataset": str(a.dataset),
                              **summary})
    imp = importance_table(model, x_te[:2000], FEATURES)
    imp.write_parquet(out.with_suffix(".importance.parquet"))
    if a.report_into:
        imp.write_parquet(Path(a.report_into) / f"{out.stem}.importance.parquet")
    print(json.dumps(summary, indent=1))
    print(markdown(imp))


if __name__ == "__main__":
    main()
