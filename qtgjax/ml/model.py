"""Fitted models as pytrees of padded arrays, evaluated in pure JAX.

A :class:`CompiledModel` holds either a tree ensemble (:class:`TreeArrays`, or one of its
other layouts in :mod:`qtgjax.ml.layouts`) or a linear model (``coef``), plus the constant
``intercept`` and how raw scores become outputs (``link``, ``label_rule``, ``output``).
``predict(X)`` and ``predict_proba(X)`` take ``X`` float32[n, F] and are jittable and
vmappable (the model is a pytree argument, so ``jax.jit(lambda m, x: m.predict(x))``
compiles once per shape).

Trees. Every tree is padded to M nodes; a leaf points to itself, so ``depth`` steps of
``node = left if go_left else right`` from the root land every row on its leaf. A node
sends a row left when ``x <= threshold`` (float32): :mod:`qtgjax.ml.convert` rounds each
library's threshold (float64 ``<=`` in scikit-learn and LightGBM, float32 ``<`` in
XGBoost) to the float32 that splits float32 inputs exactly as the library does. Missing
values follow ``missing`` per node: 0 NaN goes the default side (scikit-learn, XGBoost,
1 NaN is read as 0.0 (LightGBM ``None``), 2 NaN and
|x| <= 1e-35 go the default side (LightGBM ``Zero``), 3 NaN goes the default side
(LightGBM ``NaN``); under rules 1-3, as in LightGBM, |x| <= 1e-35 is read as 0.0.

Class labels come from the raw score as each library decides them (``label_rule``); for
averaging forests, whose float32 average can break a float64 tie either way, classes
whose probabilities are within ``TIE_TOLERANCE`` of the largest count as tied and the
first wins (numpy's argmax on the library's tie).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.tree import pytree, static_field

NAN_DEFAULT, NAN_AS_ZERO, ZERO_DEFAULT, NAN_DEFAULT_LGB = 0, 1, 2, 3
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: LightGBM reads |x| <= it as 0
_ABS = 0x7FFFFFFF
_INF_BITS = 0x7F800000
_ZERO_BITS = int(np.float32(ZERO_THRESHOLD).view(np.int32))

TIE_TOLERANCE = 1e-6  # probabilities this close count as tied (module docstring)

LINKS = ("identity", "exp", "sigmoid", "softmax")
LABEL_RULES = ("gt0", "ge0", "argmax")
OUTPUTS = ("value", "label", "booster")


def order_key(bits) -> jnp.ndarray:
    """int32 key of float32 bit patterns that orders like the floats (-0 = +0).

    Splits compare these keys, not floats: XLA on CPU flushes subnormal floats to zero,
    while the libraries compare subnormals exactly; integer keys agree with IEEE order.
    """
    magnitude = bits & _ABS
    return jnp.where(bits >= 0, bits, -magnitude)


def float_bits(x) -> jnp.ndarray:
    """int32 bit pattern of float32 ``x``."""
    return jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)


def go_left(bits, threshold_key, missing, default_left):
    """bool: does a row whose feature has float32 bit pattern ``bits`` go left at a node
    (``threshold_key`` = ``order_key`` of the threshold; rules in the module docstring)."""
    magnitude = bits & _ABS
    nan = magnitude > _INF_BITS
    small = magnitude <= _ZERO_BITS  # |x| <= 1e-35, subnormals and zeros included
    lgb = missing != NAN_DEFAULT
    key = jnp.where(lgb & (nan | small), 0, order_key(bits))
    is_missing = jnp.where(
        (missing == NAN_DEFAULT) | (missing == NAN_DEFAULT_LGB),
        nan,
        (missing == ZERO_DEFAULT) & (nan | small),
    )
    return jnp.where(is_missing, default_left, key <= threshold_key)


@pytree
class TreeArrays:
    """A tree ensemble in the gather layout: T trees padded to M nodes, C outputs.

    Attributes:
        feature: int32[T, M] feature index of each split (0 at leaves).
        threshold: float32[T, M] a row goes left when ``x <= threshold``.
        left, right: int32[T, M] children (a leaf is its own child).
        missing: int8[T, M] missing-value rule (NAN_DEFAULT, NAN_AS_ZERO, ZERO_DEFAULT).
        default_left: bool[T, M] side of missing values.
        value: float32[T, M, C] leaf outputs, already scaled (learning rate, 1 / T for
            averaging forests); 0 at internal nodes.
        depth: static number of traversal steps (the deepest leaf's depth).
    """

    feature: jnp.ndarray
    threshold: jnp.ndarray
    left: jnp.ndarray
    right: jnp.ndarray
    missing: jnp.ndarray
    default_left: jnp.ndarray
    value: jnp.ndarray
    depth: int = static_field()

    def leaves(self, X, which=None) -> jnp.ndarray:
        """int32[n, T] leaf reached by every row in every tree. ``which``: int32[n] the
        model of each row when the arrays stack K models ([K, T, M], :mod:`qtgjax.ml.stack`)."""
        n, n_trees = X.shape[0], self.feature.shape[-2]
        trees = jnp.arange(n_trees)[None, :]
        node = jnp.zeros((n, n_trees), jnp.int32)
        bits, thr = float_bits(X), order_key(float_bits(self.threshold))

        def at(a, node):
            return a[trees, node] if which is None else a[which[:, None], trees, node]

        for _ in range(self.depth):
            x = jnp.take_along_axis(bits, at(self.feature, node), axis=1)
            left = go_left(x, at(thr, node), at(self.missing, node), at(self.default_left, node))
            node = jnp.where(left, at(self.left, node), at(self.right, node))
        return node

    def raw(self, X, which=None) -> jnp.ndarray:
        """float32[n, C] sum of the leaf values of every tree (``which``: see ``leaves``)."""
        leaf = self.leaves(X, which)
        trees = jnp.arange(self.feature.shape[-2])[None, :]
        if which is None:
            return self.value[trees, leaf].sum(1)
        return self.value[which[:, None], trees, leaf].sum(1)


@pytree
class CompiledModel:
    """A fitted model as arrays (see the module docstring).

    Attributes:
        trees: the tree part (:class:`TreeArrays` or another layout), or None.
        coef: float32[F, C] linear weights, or None for trees.
        intercept: float32[C] constant added to the raw score.
        classes: float32[K] class labels (empty for regressors).
        n_features: static F.
        link: static raw score -> output: identity, exp, sigmoid (C = 1: P(class 1)),
            softmax.
        label_rule: static class of a raw score: gt0 (raw > 0), ge0 (raw >= 0), argmax.
        output: static what ``predict`` returns: value (regressors), label (scikit-learn
            style classifiers), booster (a raw LightGBM / XGBoost booster: the link's
            output, P(class 1) for binary objectives).
        source: static the library class it came from, e.g. ``sklearn.RandomForestClassifier``.
        feature_names: static names of the F inputs (may be empty).
    """

    trees: object
    coef: jnp.ndarray | None
    intercept: jnp.ndarray
    classes: jnp.ndarray
    n_features: int = static_field()
    link: str = static_field()
    label_rule: str = static_field()
    output: str = static_field()
    source: str = static_field()
    feature_names: tuple = static_field(default=())

    @property
    def is_classifier(self) -> bool:
        return self.classes.shape[-1] > 0

    def raw(self, X, which=None) -> jnp.ndarray:
        """float32[n, C] raw scores (margins) of rows X float32[n, F].

        ``which``: int32[n] the model of each row, for a stack of K models (every array
        with a leading K axis, :func:`qtgjax.ml.stack.stack_models`); None for one model.
        """
        X = jnp.asarray(X, jnp.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must be float32[n, {self.n_features}], got {X.shape}")
        intercept = self.intercept if which is None else self.intercept[which]
        hi = jax.lax.Precision.HIGHEST  # exact float32 products on every backend
        if self.coef is not None and which is None:
            return jnp.dot(X, self.coef, precision=hi) + intercept
        if self.coef is not None:
            return jnp.einsum("nf,nfc->nc", X, self.coef[which], precision=hi) + intercept
        if which is None:
            return self.trees.raw(X) + intercept  # any layout (qtgjax.ml.layouts)
        return self.trees.raw(X, which) + intercept

    def transform(self, raw) -> jnp.ndarray:
        """Raw scores [n, C] -> the link's output [n, C] (probabilities for classifiers)."""
        if self.link == "exp":
            return jnp.exp(raw)
        if self.link == "sigmoid":
            return jax.nn.sigmoid(raw)
        if self.link == "softmax":
            return jax.nn.softmax(raw, axis=-1)
        return raw

    def predict_proba(self, X, which=None) -> jnp.ndarray:
        """float32[n, K] class probabilities (classifiers only; ``which``: see ``raw``)."""
        if not self.is_classifier:
            raise TypeError(f"{self.source} is a regressor: it has no predict_proba")
        p = self.transform(self.raw(X, which))
        if p.shape[1] == 1:
            return jnp.concatenate([1.0 - p, p], axis=1)
        return p

    def label_index(self, raw) -> jnp.ndarray:
        """int32[n] class index of raw scores (``label_rule``)."""
        if self.label_rule == "gt0":
            return (raw[:, 0] > 0).astype(jnp.int32)
        if self.label_rule == "ge0":
            return (raw[:, 0] >= 0).astype(jnp.int32)
        if self.link == "identity" and self.coef is None:
            # averaged probabilities (forests): a tie up to float32 rounding of the
            # library's float64 average goes to the first class, as numpy's argmax does
            near = raw >= raw.max(axis=1, keepdims=True) - TIE_TOLERANCE
            return jnp.argmax(near, axis=1).astype(jnp.int32)
        return jnp.argmax(raw, axis=1).astype(jnp.int32)

    def predict(self, X, which=None) -> jnp.ndarray:
        """float32[n]: values (regressors), class labels (classifiers), or a booster's
        output (float32[n], or [n, K] for a multiclass booster). ``which``: see ``raw``."""
        raw = self.raw(X, which)
        if self.output == "label":
            index = self.label_index(raw)
            return self.classes[index] if which is None else self.classes[which, index]
        out = self.transform(raw)
        return out[:, 0] if out.shape[1] == 1 else out

    def signal(self, X, which=None) -> jnp.ndarray:
        """float32[n] one number per row for trading: the regression value, or
        P(last class) - P(first class) for classifiers (P(up) - P(down) when the classes
        are ordered down < flat < up). ``which``: see ``raw``."""
        if not self.is_classifier:
            out = self.transform(self.raw(X, which))
            return out[:, 0]
        p = self.predict_proba(X, which)
        return p[:, -1] - p[:, 0]
