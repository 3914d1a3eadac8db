"""Checks of :func:`qtgjax.clear_batch_auction`'s inputs, outside ``jit``.

Shapes, dtypes and ``n_levels`` are checked on every call (they are static even under
``jit``/``vmap``). Values are checked when the inputs are concrete (an eager call); inside a
traced function they cannot be, and the auction's documented treatment applies there:
negative quantities count as no order and quantities must keep each book below
``MAX_BOOK_LOTS`` lots, which the engine guarantees by refusing configs that could exceed it
(``qtgjax.config.build``).
"""

from __future__ import annotations

import jax
import numpy as np

INT32_MAX = 2**31 - 1


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def _is_int(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) and dtype != np.bool_


def check_auction_inputs(level, qty, is_buy, age, ref_level, n_levels, max_lots: int) -> None:
    """Raise ValueError naming the argument (and order) that ``clear_batch_auction`` cannot
    clear exactly: ragged or non-1-D inputs, lengths that differ, float or boolean levels,
    quantities or ages, ``n_levels`` < 1; on concrete inputs also negative quantities,
    values outside int32, and more than ``max_lots - 1`` lots on one book's grid."""
    if n_levels is not None and (
        isinstance(n_levels, bool) or not isinstance(n_levels, int | np.integer) or n_levels < 1
    ):
        raise ValueError(f"n_levels: expected a Python int >= 1 (the grid size), got {n_levels!r}")
    named = {"level": level, "qty": qty, "is_buy": is_buy}
    if age is not None:
        named["age"] = age
    lengths = {}
    for name, x in named.items():
        try:
            shape = np.shape(x)
        except ValueError as err:  # a ragged list
            raise ValueError(f"{name}: expected a 1-D array of orders ({err})") from None
        if len(shape) != 1:
            raise ValueError(f"{name}: expected a 1-D array of orders, got shape {shape}")
        lengths[name] = shape[0]
        dtype = _dtype(x)
        if name == "is_buy":
            if not (dtype == np.bool_ or _is_int(dtype)):
                raise ValueError(f"is_buy: expected booleans, got {dtype}")
        elif not _is_int(dtype):
            raise ValueError(f"{name}: expected integers, got {dtype} (quantities are whole lots)")
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{k}[{v}]" for k, v in lengths.items())
        raise ValueError(f"level, qty, is_buy and age must have one entry per order: {sizes}")
    if ref_level is not None and np.ndim(ref_level) != 0:
        shape = np.shape(ref_level)
        raise ValueError(f"ref_level: expected one level (a scalar), got shape {shape}")
    if ref_level is not None and _concrete(ref_level) and not _is_int(_dtype(ref_level)):
        raise ValueError(f"ref_level: expected an integer level, got {ref_level!r}")
    _check_values(named, n_levels, ref_level, max_lots)


def _check_values(named: dict, n_levels, ref_level, max_lots: int) -> None:
    concrete = {k: np.asarray(v) for k, v in named.items() if _concrete(v)}
    for name in ("level", "qty", "age"):
        x = concrete.get(name)
        if x is None or not x.size:
            continue
        x = x.astype(np.int64)
        low = 0 if name in ("qty", "age") else -(2**31)
        bad = np.flatnonzero((x < low) | (x > INT32_MAX))
        if bad.size:
            i = int(bad[0])
            if x[i] < 0 and low == 0:
                what = "lots >= 0 (0 = no order)" if name == "qty" else "ages >= 0"
                raise ValueError(f"{name}[{i}]: {x[i]} is negative; expected {what}")
            raise ValueError(f"{name}[{i}]: {x[i]} is outside int32")
    buy = concrete.get("is_buy")
    if buy is not None and buy.dtype != np.bool_ and buy.size and not np.isin(buy, (0, 1)).all():
        i = int(np.flatnonzero(~np.isin(buy, (0, 1)))[0])
        raise ValueError(f"is_buy[{i}]: {buy[i]} is not a side (True/False or 1/0)")
    if "qty" in concrete and "level" in concrete and concrete["qty"].size:
        level = concrete["level"].astype(np.int64)
        top = n_levels
        if top is None:
            top = int(level.max()) + 1
            if ref_level is not None and _concrete(ref_level):
                top = max(top, int(ref_level) + 1)
        on_grid = (level >= 0) & (level < top)
        total = int(concrete["qty"].astype(np.int64)[on_grid].sum())
        if total >= max_lots:
            raise ValueError(
                f"qty: {total:,} lots on the grid; one book must hold fewer than "
                f"{max_lots:,} (2**{max_lots.bit_length() - 1}) lots for exact pro-rata fills"
            )
