"""Machine-learning models in the market: fitted models as arrays, features, datasets.

    from qtgjax.ml import compile_model, save_model, load_model
    cm = compile_model(fitted)            # scikit-learn / LightGBM / XGBoost model
    cm.predict(X), cm.predict_proba(X)    # pure JAX, X float32[n, F]
    save_model(cm, "model.npz"); cm = load_model("model.npz")
"""

from qtgjax.ml.convert import UnsupportedModel, compile_model
from qtgjax.ml.model import CompiledModel, TreeArrays

__all__ = ["CompiledModel", "TreeArrays", "UnsupportedModel", "compile_model"]
