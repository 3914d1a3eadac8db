"""The order-type keys of a family's config: ``order_types``, ``display``, ``peg_offset``.

``order_types``: one name or a list of names of :data:`qtgjax.market.order_types.NAMES`
(default ``limit``), each one the family supports (``Family.supported_order_types``);
``display``: the lots an iceberg shows, 1 up to the family's largest order; ``peg_offset``:
whole ticks, ``|peg_offset| < market.levels / 2`` (a pegged order stays on the grid).
All refused before compiling, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from qtgjax.config.checks import ConfigError, number
from qtgjax.market import order_types as ot

ORDER_KEYS = ("order_types", "display", "peg_offset")


def read_order_types(family, cfg: Mapping, path: str, n_levels: int) -> dict:
    """``FamilySpec``'s ``order_types`` (codes), ``display`` and ``peg_offset``."""
    raw = cfg.get("order_types", "limit")
    names = [raw] if isinstance(raw, str) else raw
    where = f"{path}.order_types"
    if not isinstance(names, list | tuple) or not names:
        raise ConfigError(f"{where}: expected an order type or a list of them, got {raw!r}")
    for name in names:
        if name not in ot.CODES:
            raise ConfigError(f"{where}: unknown order type {name!r}; known: {list(ot.NAMES)}")
        if name not in family.supported_order_types:
            raise ConfigError(
                f"{where}: family kind {family.kind!r} does not support order type {name!r}; "
                f"it supports {list(family.supported_order_types)}"
            )
    codes = tuple(sorted({ot.CODES[n] for n in names}))
    out = {"order_types": () if codes == (ot.LIMIT,) else codes, "display": 0, "peg_offset": 0}
    iceberg = ot.ICEBERG in codes
    pegged = ot.PEG_MID in codes or ot.PEG_BEST in codes
    for key, used, what in (("display", iceberg, "iceberg"), ("peg_offset", pegged, "peg_*")):
        if key in cfg and not used:
            raise ConfigError(f"{path}.{key}: only for order type {what} (not in {where})")
    if iceberg:
        largest = family.max_order_lots(cfg.get("params") or {})
        display = number(cfg, "display", (1, 2**30), path)
        if display > largest:
            raise ConfigError(
                f"{path}.display: {display} lots is above the order quantity (the family's "
                f"orders are at most {largest} lots)"
            )
        out["display"] = display
    if pegged:
        half = n_levels // 2
        value = cfg.get("peg_offset")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (not float(value).is_integer() or abs(value) >= half)
        ):
            raise ConfigError(
                f"{path}.peg_offset: {value!r} is off the grid; a whole number of ticks with "
                f"|peg_offset| < market.levels / 2 = {half}"
            )
        out["peg_offset"] = int(value)
    return out


def market_order_types(specs) -> tuple[int, ...]:
    """``SimStatic.order_types``: every code some family places."""
    return tuple(sorted({c for s in specs for c in s.order_types}))
