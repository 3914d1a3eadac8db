"""Checks of config values: a clear one-line error naming the key, before compiling."""

from __future__ import annotations

import math
from collections.abc import Mapping


class ConfigError(ValueError):
    """A config value is missing, unknown or out of range; the message names the key."""


def number(cfg: Mapping, key: str, bounds: tuple, path: str):
    """``cfg[key]`` checked to be a number in ``bounds`` (ints if both bounds are ints)."""
    where = f"{path}.{key}" if path else key
    if key not in cfg or cfg[key] is None:
        raise ConfigError(f"{where}: missing (allowed range {bounds[0]}..{bounds[1]})")
    value = cfg[key]
    want_int = all(isinstance(b, int) for b in bounds)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if want_int and not float(value).is_integer():
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if not (bounds[0] <= value <= bounds[1]) or (isinstance(value, float) and math.isnan(value)):
        raise ConfigError(f"{where}: {value!r} is out of range {bounds[0]}..{bounds[1]}")
    return int(value) if want_int else float(value)


def check_keys(cfg: Mapping, allowed, path: str) -> None:
    unknown = sorted(set(cfg) - set(allowed), key=str)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"{where}: unknown key; allowed keys: {sorted(allowed)}")
