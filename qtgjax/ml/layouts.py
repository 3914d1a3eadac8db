"""Other evaluation layouts of a tree ensemble, for measuring which one is fastest.

- gather (:class:`~qtgjax.ml.model.TreeArrays`, the default): ``depth`` steps, each
  gathering the node's feature, threshold and both children.
- perfect (:class:`PerfectTrees`): every tree padded to the complete binary tree of depth
  D (a leaf above depth D copied into all its descendants), so a child is ``2 i + 1`` or
  ``2 i + 2``: each step gathers only the split, never the children.
- gemm (:class:`PathTrees`, Hummingbird's GEMM strategy): every split evaluated at once
  (one gather of X per internal node), then one matrix product with the path matrix picks
  the leaf: leaf l is reached when the sum over splits of ``C[i, l] * go_left[i]`` equals
  the number of left turns on its path, ``C`` +1 / -1 for nodes whose left / right
  subtree holds l. Work grows with the number of nodes, not the depth.

Every layout's ``raw(X)`` equals the gather layout's (the tests check it).
``with_layout(model, name)`` returns the model with its trees in that layout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.ml.model import CompiledModel, TreeArrays, float_bits, go_left, order_key
from qtgjax.tree import pytree, static_field

LAYOUTS = ("gather", "perfect", "gemm")


@pytree
class PerfectTrees:
    """Attributes:
    feature, threshold, missing, default_left: [T, 2**D - 1] splits in heap order.
    value: float32[T, 2**D, C] leaf values.
    depth: static D.
    """

    feature: jnp.ndarray
    threshold: jnp.ndarray
    missing: jnp.ndarray
    default_left: jnp.ndarray
    value: jnp.ndarray
    depth: int = static_field()

    def raw(self, X) -> jnp.ndarray:
        n, n_trees = X.shape[0], self.feature.shape[0]
        trees = jnp.arange(n_trees)[None, :]
        node = jnp.zeros((n, n_trees), jnp.int32)
        bits, thr = float_bits(X), order_key(float_bits(self.threshold))
        for _ in range(self.depth):
            x = jnp.take_along_axis(bits, self.feature[trees, node], axis=1)
            left = go_left(x, thr[trees, node], self.missing[trees, node],
                           self.default_left[trees, node])
            node = 2 * node + 2 - left.astype(jnp.int32)
        leaf = node - (2**self.depth - 1)
        return self.value[trees, leaf].sum(1)


@pytree
class PathTrees:
    """Attributes:
    feature, threshold, missing, default_left: [T, I] internal nodes (padded).
    path: float32[T, I, L] +1 / -1 / 0 (module docstring).
    lefts: float32[T, L] left turns on each leaf's path (-1 for padding leaves).
    value: float32[T, L, C] leaf values.
    """

    feature: jnp.ndarray
    threshold: jnp.ndarray
    missing: jnp.ndarray
    default_left: jnp.ndarray
    path: jnp.ndarray
    lefts: jnp.ndarray
    value: jnp.ndarray

    def raw(self, X) -> jnp.ndarray:
        n, (n_trees, n_int) = X.shape[0], self.feature.shape
        bits = jnp.take(float_bits(X), self.feature.reshape(-1), axis=1)
        thr = order_key(float_bits(self.threshold))
        left = go_left(bits.reshape(n, n_trees, n_int), thr, self.missing, self.default_left)
        hits = jnp.einsum("nti,til->ntl", left.astype(jnp.float32), self.path,
                          precision=jax.lax.Precision.HIGHEST)
        reached = (hits == self.lefts[None]).astype(jnp.float32)
        return jnp.einsum("ntl,tlc->nc", reached, self.value,
                          precision=jax.lax.Precision.HIGHEST)


def _numpy(trees: TreeArrays) -> dict:
    return {k: np.asarray(getattr(trees, k)) for k in
            ("feature", "threshold", "left", "right", "missing", "default_left", "value")}


def to_perfect(trees: TreeArrays) -> PerfectTrees:
    t = _numpy(trees)
    d = trees.depth
    n_trees, n_out = t["feature"].shape[0], t["value"].shape[2]
    n_int, n_leaf = 2**d - 1, 2**d
    out = {
        "feature": np.zeros((n_trees, n_int), np.int32),
        "threshold": np.full((n_trees, n_int), np.inf, np.float32),
        "missing": np.zeros((n_trees, n_int), np.int8),
        "default_left": np.ones((n_trees, n_int), bool),
        "value": np.zeros((n_trees, n_leaf, n_out), np.float32),
    }
    for i in range(n_trees):
        stack = [(0, 0, 0)]  # (node, heap index, level)
        while stack:
            node, h, level = stack.pop()
            if t["left"][i, node] == node:  # leaf: fill every leaf slot below it
                first = (h + 1) * 2 ** (d - level) - 1 - n_int
                out["value"][i, first : first + 2 ** (d - level)] = t["value"][i, node]
                continue
            for k in ("feature", "threshold", "missing", "default_left"):
                out[k][i, h] = t[k][i, node]
            stack.append((t["left"][i, node], 2 * h + 1, level + 1))
            stack.append((t["right"][i, node], 2 * h + 2, level + 1))
    return PerfectTrees(**{k: jnp.asarray(v) for k, v in out.items()}, depth=d)


def to_paths(trees: TreeArrays) -> PathTrees:
    t = _numpy(trees)
    n_trees, n_out = t["feature"].shape[0], t["value"].shape[2]
    per_tree = []
    for i in range(n_trees):
        internal, leaves = [], []  # leaves: (node, [(internal position, +1/-1)])
        stack = [(0, [])]
        while stack:
            node, path = stack.pop()
            if t["left"][i, node] == node:
                leaves.append((node, path))
                continue
            pos = len(internal)
            internal.append(node)
            stack.append((t["right"][i, node], [*path, (pos, -1.0)]))
            stack.append((t["left"][i, node], [*path, (pos, 1.0)]))
        per_tree.append((internal, leaves))
    n_int = max(1, max(len(a) for a, _ in per_tree))
    n_leaf = max(len(b) for _, b in per_tree)
    out = {
        "feature": np.zeros((n_trees, n_int), np.int32),
        "threshold": np.zeros((n_trees, n_int), np.float32),
        "missing": np.zeros((n_trees, n_int), np.int8),
        "default_left": np.zeros((n_trees, n_int), bool),
        "path": np.zeros((n_trees, n_int, n_leaf), np.float32),
        "lefts": np.full((n_trees, n_leaf), -1.0, np.float32),
        "value": np.zeros((n_trees, n_leaf, n_out), np.float32),
    }
    for i, (internal, leaves) in enumerate(per_tree):
        for j, node in enumerate(internal):
            for k in ("feature", "threshold", "missing", "default_left"):
                out[k][i, j] = t[k][i, node]
        for j, (node, path) in enumerate(leaves):
            for pos, sign in path:
                out["path"][i, pos, j] = sign
            out["lefts"][i, j] = sum(1.0 for _, s in path if s > 0)
            out["value"][i, j] = t["value"][i, node]
    return PathTrees(**{k: jnp.asarray(v) for k, v in out.items()})


def with_layout(model: CompiledModel, layout: str) -> CompiledModel:
    """``model`` with its trees in ``layout`` (gather, perfect or gemm)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: expected one of {LAYOUTS}")
    if model.trees is None or layout == "gather":
        return model
    if not isinstance(model.trees, TreeArrays):
        raise TypeError("convert from the gather layout")
    convert = to_perfect if layout == "perfect" else to_paths
    return model.replace(trees=convert(model.trees))
