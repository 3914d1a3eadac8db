"""Which features a model uses: gain / split importance and mean |SHAP| on a dataset.

SHAP values of tree models come from the ``shap`` package's ``TreeExplainer`` (exact
TreeSHAP; for LightGBM it is equal to LightGBM's own ``pred_contrib``). Needs the ``ml``
extra (``pip install qtgjax[ml]``).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def shap_values(model, X) -> np.ndarray:
    """float[n, F] SHAP values of ``X`` float32[n, F] in the model's raw (margin) space;
    for a classifier with C > 2 classes, the mean over classes of |value| is not taken:
    the values of the last class (``up``) are returned."""
    import shap

    values = shap.TreeExplainer(model).shap_values(np.asarray(X, np.float64))
    values = np.asarray(values)
    if values.ndim == 3:  # [n, F, C] (or [C, n, F] in older shap)
        values = values[..., -1] if values.shape[0] == len(X) else values[-1]
    return values


def importance_table(model, X, names) -> pl.DataFrame:
    """One row per feature, most important first: ``gain`` and ``splits`` (the booster's
    own importance, LightGBM / XGBoost / scikit-learn) and ``mean_abs_shap`` on ``X``."""
    booster = getattr(model, "booster_", None)
    if booster is not None:  # LightGBM
        gain = booster.feature_importance("gain")
        splits = booster.feature_importance("split")
    else:
        gain = np.asarray(getattr(model, "feature_importances_", np.zeros(len(names))))
        splits = np.full(len(names), np.nan)
    shap_abs = np.abs(shap_values(model, X)).mean(0)
    df = pl.DataFrame({
        "feature": list(names),
        "gain": np.asarray(gain, np.float64),
        "splits": np.asarray(splits, np.float64),
        "mean_abs_shap": shap_abs.astype(np.float64),
    })
    return df.sort("mean_abs_shap", descending=True)


def markdown(df: pl.DataFrame) -> str:
    """The importance table as a Markdown table (for the README / a report)."""
    lines = ["| feature | gain | splits | mean abs SHAP |", "|---|---:|---:|---:|"]
    for r in df.iter_rows(named=True):
        lines.append(f"| {r['feature']} | {r['gain']:.4g} | {r['splits']:.0f} | "
                     f"{r['mean_abs_shap']:.4g} |")
    return "\n".join(lines)
