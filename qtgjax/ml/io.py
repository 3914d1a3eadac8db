"""Compiled models on disk: one ``.npz`` file, no pickles.

Format (version 1), read with ``numpy.load(path, allow_pickle=False)``:

- ``meta``: uint8 bytes of a UTF-8 JSON object ``{"format": "qtgjax.ml.model",
  "version": 1, "kind": "trees" | "linear", "n_features", "link", "label_rule",
  "output", "source", "feature_names", "depth"}``; any extra keys (e.g. the training
  run's description under ``"info"``) are kept and returned by :func:`model_info`.
- ``intercept`` float32[C], ``classes`` float32[K] (K = 0 for regressors);
- trees: ``feature`` int32[T, M], ``threshold`` float32[T, M], ``left`` / ``right``
  int32[T, M], ``missing`` int8[T, M], ``default_left`` bool[T, M], ``value``
  float32[T, M, C] (the fields of :class:`~qtgjax.ml.model.TreeArrays`);
- linear: ``coef`` float32[F, C].

Writes are atomic (temp file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from qtgjax.ml.model import CompiledModel, TreeArrays

FORMAT, VERSION = "qtgjax.ml.model", 1
TREE_FIELDS = ("feature", "threshold", "left", "right", "missing", "default_left", "value")
TREE_DTYPES = {"feature": np.int32, "threshold": np.float32, "left": np.int32,
               "right": np.int32, "missing": np.int8, "default_left": bool,
               "value": np.float32}


class ModelFileError(ValueError):
    """A model file that is not a qtgjax model, or is damaged; the message names it."""


def save_model(model: CompiledModel, path, info: dict | None = None) -> Path:
    """Write ``model`` (gather layout) to ``path`` (.npz); ``info`` is free JSON metadata."""
    path = Path(path)
    trees = model.trees
    if trees is not None and not isinstance(trees, TreeArrays):
        raise TypeError("save the gather layout (the model compile_model returned)")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "linear" if model.coef is not None else "trees",
        "n_features": model.n_features,
        "link": model.link,
        "label_rule": model.label_rule,
        "output": model.output,
        "source": model.source,
        "feature_names": list(model.feature_names),
        "depth": trees.depth if trees is not None else 0,
        "info": info or {},
    }
    arrays = {
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
        "intercept": np.asarray(model.intercept, np.float32),
        "classes": np.asarray(model.classes, np.float32),
    }
    if model.coef is not None:
        arrays["coef"] = np.asarray(model.coef, np.float32)
    else:
        arrays.update({f: np.asarray(getattr(trees, f)) for f in TREE_FIELDS})
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    os.replace(tmp, path)
    return path


def _read(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a qtgjax model file ({err})") from None
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (KeyError, ValueError):
        raise ModelFileError(f"{path}: not a qtgjax model file (no meta)") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ModelFileError(f"{path}: format {meta.get('format')!r} version "
                             f"{meta.get('version')!r}, expected {FORMAT!r} {VERSION}")
    return meta, arrays


def load_model(path) -> CompiledModel:
    """Read a model written by :func:`save_model`."""
    path = Path(path)
    meta, a = _read(path)
    need = ("coef",) if meta["kind"] == "linear" else TREE_FIELDS
    missing = [k for k in (*need, "intercept", "classes") if k not in a]
    if missing:
        raise ModelFileError(f"{path}: missing arrays {missing}")
    trees = coef = None
    if meta["kind"] == "linear":
        coef = jnp.asarray(a["coef"], jnp.float32)
    else:
        fields = {f: jnp.asarray(a[f].astype(TREE_DTYPES[f])) for f in TREE_FIELDS}
        trees = TreeArrays(**fields, depth=int(meta["depth"]))
    return CompiledModel(
        trees=trees,
        coef=coef,
        intercept=jnp.asarray(a["intercept"], jnp.float32),
        classes=jnp.asarray(a["classes"], jnp.float32),
        n_features=int(meta["n_features"]),
        link=meta["link"],
        label_rule=meta["label_rule"],
        output=meta["output"],
        source=meta["source"],
        feature_names=tuple(meta["feature_names"]),
    )


def model_info(path) -> dict:
    """The free metadata stored with a model file (``info`` of :func:`save_model`)."""
    return _read(Path(path))[0].get("info", {})
