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
model still disagree.

Different models in one family: ``model: [a.npz, b.npz]`` with ``model_shares: [0.7, 0.3]``
(default: equal shares; positive, summing to 1). Agents take the models in blocks: agent i
holds model k where round(N * (s_0 + ... + s_{k-1})) <= i < round(N * (s_0 + ... + s_k)).
The models are stacked into one padded model (:mod:`qtgjax.ml.stack`) and evaluated in one
vectorised pass, each (agent, symbol) row by its agent's model; they must agree on their
outputs (both classifiers with the same classes count, or both regressors, one link).
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
        model: :class:`~qtgjax.ml.model.CompiledModel` read from the config's ``model`` file,
            or K > 1 files stacked (every array with a leading K axis).
        model_shares: float32[K] share of the agents holding each model.
        enter: float32 median |signal| that opens a position.
        exit: float32 |signal| below which an open position is closed.
        threshold_dispersion: float32 log-normal sigma of ``enter`` across agents.
    """

    model: object = array_param()
    model_shares: jnp.ndarray = array_param()
    enter: jnp.ndarray = param(0.0, 1e9)
    exit: jnp.ndarray = param(0.0, 1e9)
    threshold_dispersion: jnp.ndarray = param(0.0, 3.0)


def model_path(value, path: str, key: str = "model") -> Path:
    """The model file of a config value: absolute, relative to the working directory, or
    to ``conf/`` (``models/NAME.npz`` names a shipped model)."""
    from qtgjax.api import CONF_DIR

    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}.{key}: expected the path of a model file (.npz)")
    p = Path(value)
    for candidate in (p, CONF_DIR / p):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{path}.{key}: no model file {value!r} (nor {CONF_DIR / p})")


def read_model(value, path: str, key: str = "model"):
    """A compiled model whose inputs are the canonical features, or a ConfigError naming
    ``{path}.{key}``."""
    from qtgjax.ml.features import FEATURES
    from qtgjax.ml.io import ModelFileError, load_model

    file = model_path(value, path, key)
    try:
        model = load_model(file)
    except ModelFileError as err:
        raise ConfigError(f"{path}.{key}: {err}") from None
    if model.n_features != len(FEATURES):
        raise ConfigError(f"{path}.{key}: {file} takes {model.n_features} features; "
                          f"model agents give the {len(FEATURES)} of qtgjax.ml.features")
    names = tuple(model.feature_names)
    if names and names != FEATURES:
        raise ConfigError(f"{path}.{key}: {file} was trained on features {list(names)}, "
                          f"not qtgjax.ml.features.FEATURES {list(FEATURES)}")
    return model


def read_models(value, shares, path: str) -> tuple:
    """(model, float32[K] shares) of the config's ``model`` (a file or a list of files)
    and ``model_shares`` (null: equal shares), or a ConfigError naming the key."""
    from qtgjax.ml.stack import StackError, stack_models

    many = isinstance(value, list | tuple)
    if many and not value:
        raise ConfigError(f"{path}.model: expected a model file or a non-empty list of them")
    files = list(value) if many else [value]
    keys = [f"model[{i}]" for i in range(len(files))] if many else ["model"]
    models = [read_model(v, path, k) for v, k in zip(files, keys, strict=True)]
    if shares is None:
        shares = [1.0 / len(models)] * len(models)
    if (not isinstance(shares, list | tuple) or len(shares) != len(models)
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and x > 0
                       for x in shares)):
        many_s = "s" if len(models) > 1 else ""
        raise ConfigError(f"{path}.model_shares: expected {len(models)} positive number"
                          f"{many_s} (one per model), got {shares!r}")
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ConfigError(f"{path}.model_shares: {list(shares)} sum to {sum(shares):g}, not 1")
    if len(models) == 1:
        return models[0], jnp.ones(1, jnp.float32)
    try:
        model = stack_models(models)
    except StackError as err:
        raise ConfigError(f"{path}.{keys[err.index]}: {files[err.index]}: {err}") from None
    return model, jnp.asarray(shares, jnp.float32)


def model_index(shares, n_agents: int) -> jnp.ndarray:
    """int32[N] the model of every agent: blocks of round(N * cumulative share) (half to
    even)."""
    bounds = jnp.round(jnp.cumsum(shares) * n_agents)[:-1]
    return (jnp.arange(n_agents)[:, None] >= bounds[None, :]).sum(1).astype(jnp.int32)


@pytree
class ModelExtra:
    """Attributes:
    enter: float32[N, 1] each agent's entry threshold.
    model: int32[N] each agent's model (index into ``model`` when it stacks several).
    """

    enter: jnp.ndarray
    model: jnp.ndarray


@register
class ModelTrader(SignalStrategy):
    kind = "model"
    Params = ModelParams

    def array_params(self, params: dict, path: str) -> dict:
        """``model``: the compiled model file, or a list of them (:func:`read_models`);
        ``model_shares``: the share of agents holding each."""
        model, shares = read_models(params.pop("model", None),
                                    params.pop("model_shares", None), path)
        return {"model": model, "model_shares": shares}

    def init_signal_extra(self, spec, params, key):
        z = jax.random.normal(key, (spec.n_agents, 1))
        enter = params.enter * jnp.exp(params.threshold_dispersion * z)  # (N, 1)
        return ModelExtra(enter, model_index(params.model_shares, spec.n_agents))

    def predictions(self, params, extra: ModelExtra, accounts, view) -> jnp.ndarray:
        """float32[N, S] each agent's model's signal on each symbol's features."""
        from qtgjax.ml.features import agent_features

        if view.features is None:
            raise ValueError("model agents need MarketView.features (the simulator's view)")
        own = jnp.clip(accounts.position / jnp.maximum(params.size, 1), -1, 1)
        x = agent_features(view.features, own, 1)  # (N, S, F)
        rows = x.reshape(-1, x.shape[-1])
        if params.model_shares.shape[-1] == 1:
            s = params.model.signal(rows)
        else:  # row n * S + s is agent n's
            s = params.model.signal(rows, jnp.repeat(extra.model, own.shape[1]))
        return s.reshape(own.shape)

    def signal(self, spec, params, extra, accounts, view):
        s = self.predictions(params, extra, accounts, view)
        signal = jnp.where(s > extra.enter, 1, jnp.where(s < -extra.enter, -1, 0))
        return signal, jnp.abs(s) < params.exit
