"""Feature importance and SHAP: shap's TreeExplainer on a LightGBM model equals
LightGBM's own contributions (pred_contrib), which add up to the raw score."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from qtgjax.ml import compile_model
from qtgjax.ml.explain import importance_table, markdown, shap_values


def test_shap_equals_lightgbm_contributions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).astype(np.float32)
    y = (X[:, 0] + 0.2 * X[:, 2] > 0).astype(int)
    m = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0).fit(X, y)
    sv = shap_values(m, X[:50])
    contrib = m.predict(X[:50], pred_contrib=True)  # [n, F + 1]: F values and the bias
    np.testing.assert_allclose(sv, contrib[:, :-1], atol=1e-6)
    raw = np.asarray(compile_model(m).raw(X[:50]))[:, 0]
    np.testing.assert_allclose(contrib.sum(1), raw, atol=1e-5)  # SHAP adds up
    table = importance_table(m, X[:200], ["a", "b", "c", "d"])
    assert table["feature"][0] == "a" and sorted(table["feature"]) == ["a", "b", "c", "d"]
    shap_col = table["mean_abs_shap"].to_numpy()
    assert (np.diff(shap_col) <= 0).all() and shap_col[-1] < 0.05 * shap_col[0]
    want = np.abs(shap_values(m, X[:200])).mean(0)[[ord(f) - ord("a") for f in table["feature"]]]
    np.testing.assert_allclose(shap_col, want, rtol=1e-6)
    assert markdown(table).count("\n") == 5


def test_report_shows_importance_tables(tmp_path):
    from types import SimpleNamespace

    import polars as pl

    from qtgjax.analysis.report import model_sections

    pl.DataFrame({"feature": ["ret_1"], "gain": [2.0], "splits": [3.0],
                  "mean_abs_shap": [0.25]}).write_parquet(tmp_path / "m1.importance.parquet")
    html = "".join(model_sections(SimpleNamespace(root=tmp_path)))
    assert "Model m1" in html and "ret_1" in html and "0.25" in html
