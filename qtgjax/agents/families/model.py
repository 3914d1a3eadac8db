"""Model traders: a compiled ML model (:mod:`qtgjax.ml`) evaluated every tick on every
(agent, symbol)'s canonical features, trading its prediction through the shared state
machine (confirmation, stop-loss / take-profit, sizing, kill switch).

Input per (agent, symbol): the symbol's market features (``MarketView.features``,
:data:`qtgjax.ml.features.MARKET_FEATURES`) and the agent's position over ``size``,
clipped to [-1, 1] (the ``position`` feature; 0 in datasets, which are a flat trader's
view). The model's :meth:`~qtgjax.ml.model.CompiledModel.signal` (the regression value,
or P(last class) - P(first class) for classifiers) above ``enter`` goes long, below
``-enter`` short; back inside ``+/- exit`` leaves. Each agent's ``enter`` is the family's
times a log-normal draw (``threshold_dispersion``), so agents of one family holding one
model still disagree; families with different model files hold different models.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import array_param, param
from qtgjax.config.build import ConfigError
from qtgjax.tree import pytree


@pytree
class ModelParams(RiskParams):
    """Risk rules plus:

    Attributes:
        model: :class:`~qtgjax.ml.model.CompiledModel` read from the config's ``model`` file.
        enter: float32 median |signal| that opens a position.
        exit: float32 |signal| below which an open position is closed.
        threshold_dispersion: float32 log-normal sigma of ``enter`` across agents.
    """

    model: object = array_param()
    enter: jnp.ndarray = param(0.0, 1e9)
    exit: jnp.ndarray = param(0.0, 1e9)
    threshold_dispersion: jnp.ndarray = param(0.0, 3.0)


def model_path(value, path: str) -> Path:
    """The model file of a config value: absolute, relative to the working directory, or
    to ``conf/`` (``models/NAME.npz`` names a shipped model)."""
    from qtgjax.api import CONF_DIR

    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}.model: expected the path of a model file (.npz)")
    p = Path(value)
    for candidate in (p, CONF_DIR / p):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{path}.model: no model file {value!r} (nor {CONF_DIR / p})")


def read_model(value, path: str):
    """A compiled model whose inputs are the canonical features, or a ConfigError."""
    from qtgjax.ml.features import FEATURES
    from qtgjax.ml.io import ModelFileError, load_model

    file = model_path(value, path)
    try:
        model = load_model(file)
    except ModelFileError as err:
        raise ConfigError(f"{path}.model: {err}") from None
    if model.n_features != len(FEATURES):
        raise ConfigError(f"{path}.model: {file} takes {model.n_features} features; "
                          f"model agents give the {len(FEATURES)} of qtgjax.ml.features")
    names = tuple(model.feature_names)
    if names and names != FEATURES:
        raise ConfigError(f"{path}.model: {file} was trained on features {list(names)}, "
                          f"not qtgjax.ml.features.FEATURES {list(FEATURES)}")
    return model


@register
class ModelTrader(SignalStrategy):
    kind = "model"
    Params = ModelParams

    def array_params(self, params: dict, path: str) -> dict:
        """``model``: the compiled model file (see :func:`model_path`)."""
        return {"model": read_model(params.pop("model", None), path)}

    def init_signal_extra(self, spec, params, key):
        z = jax.random.normal(key, (spec.n_agents, 1))
        return params.enter * jnp.exp(params.threshold_dispersion * z)  # (N, 1)

    def signal(self, spec, params, extra, accounts, view):
        from qtgjax.ml.features import agent_features

        if view.features is None:
            raise ValueError("model agents need MarketView.features (the simulator's view)")
        own = jnp.clip(accounts.position / jnp.maximum(params.size, 1), -1, 1)
        x = agent_features(view.features, own, 1)  # (N, S, F)
        s = params.model.signal(x.reshape(-1, x.shape[-1])).reshape(own.shape)
        signal = jnp.where(s > extra, 1, jnp.where(s < -extra, -1, 0))
        return signal, jnp.abs(s) < params.exit
