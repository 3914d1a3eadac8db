"""Several compiled models as one: padded to one shape and stacked on a leading model axis,
evaluated in one vectorised pass where each row names its model.

    stack = stack_models([a, b])          # CompiledModel, every array with a leading K = 2
    stack.signal(X, which)                # which int32[n]: row i is evaluated by model which[i]

Trees are padded to the largest tree count T and node count M of the models (a padded node
is a leaf pointing to itself with value 0, a padded tree is such a leaf at its root, so it
adds 0) and traversed ``max(depth)`` steps (a leaf stays where it is). Each step gathers the
row's model's node: one pass costs what one model of the largest shape costs, whatever the
mix of models. Linear models stack their ``coef`` [K, F, C].

Models stack when they agree on what the evaluation does: both trees or both linear, the
same features (count and names), outputs C, link, class count, label rule and output kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from qtgjax.ml.model import CompiledModel, TreeArrays


class StackError(ValueError):
    """Models that cannot share one evaluation; ``index`` is the first that differs."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def _signature(m: CompiledModel) -> dict:
    outputs = (m.coef if m.coef is not None else m.trees.value).shape[-1]
    return {
        "kind": "linear" if m.coef is not None else "trees",
        "features": m.n_features,
        "feature names": tuple(m.feature_names),
        "outputs": outputs,
        "link": m.link,
        "classes": int(m.classes.shape[0]),
        "label rule": m.label_rule,
        "output": m.output,
    }


def check_stackable(models: Sequence[CompiledModel]) -> None:
    """Raise :class:`StackError` naming the first model that differs from the first one."""
    if not models:
        raise StackError(0, "no models to stack")
    for i, m in enumerate(models):
        if not isinstance(m.trees, TreeArrays | None):
            raise StackError(i, "stack the gather layout (the model compile_model returned)")
    first = _signature(models[0])
    for i, m in enumerate(models[1:], start=1):
        mine = _signature(m)
        for key, value in first.items():
            if mine[key] != value:
                raise StackError(i, f"its {key} ({mine[key]!r}) differ from the first "
                                    f"model's ({value!r}); models of one stack must agree")


def _pad_trees(t: TreeArrays, n_trees: int, n_nodes: int) -> dict:
    """The arrays of ``t`` padded to ``n_trees`` x ``n_nodes`` (self-pointing 0 leaves)."""
    T, M = t.feature.shape
    own = np.tile(np.arange(n_nodes, dtype=np.int32), (n_trees, 1))
    out = {
        "feature": np.zeros((n_trees, n_nodes), np.int32),
        "threshold": np.zeros((n_trees, n_nodes), np.float32),
        "left": own.copy(),
        "right": own.copy(),
        "missing": np.zeros((n_trees, n_nodes), np.int8),
        "default_left": np.zeros((n_trees, n_nodes), bool),
        "value": np.zeros((n_trees, n_nodes, t.value.shape[-1]), np.float32),
    }
    for name, a in out.items():
        a[:T, :M] = np.asarray(getattr(t, name))
    return out


def stack_models(models: Sequence[CompiledModel]) -> CompiledModel:
    """One :class:`CompiledModel` whose arrays carry a leading axis of ``len(models)``;
    evaluate it with ``which`` (``raw``/``predict``/``predict_proba``/``signal``)."""
    models = list(models)
    check_stackable(models)
    first = models[0]
    stacked = {
        "intercept": jnp.asarray(np.stack([np.asarray(m.intercept) for m in models])),
        "classes": jnp.asarray(np.stack([np.asarray(m.classes) for m in models])),
        "coef": None,
        "trees": None,
    }
    if first.coef is not None:
        stacked["coef"] = jnp.asarray(np.stack([np.asarray(m.coef) for m in models]))
    else:
        n_trees = max(m.trees.feature.shape[0] for m in models)
        n_nodes = max(m.trees.feature.shape[1] for m in models)
        padded = [_pad_trees(m.trees, n_trees, n_nodes) for m in models]
        arrays = {k: jnp.asarray(np.stack([p[k] for p in padded])) for k in padded[0]}
        stacked["trees"] = TreeArrays(**arrays, depth=max(m.trees.depth for m in models))
    sources = sorted({m.source for m in models})
    return first.replace(**stacked, source=" + ".join(sources))
