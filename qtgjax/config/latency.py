"""The ``latency:`` section (``max_delay``) and each family's ``latency`` key ->
LatencyParams [F, V].

A family's ``latency`` is a profile (the name of a file in ``conf/latency/``, or a
mapping of :data:`~qtgjax.sim.latency.PROFILE_KEYS`) for every venue, or a mapping of
venue name -> profile. Families without one have no delay on any venue.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import yaml

from qtgjax.paths import CONF_DIR
from qtgjax.sim.latency import PROFILE_KEYS, LatencyParams

PROFILE_SCHEMA = {
    "order_delay": (0, 10_000),
    "jitter": (0, 10_000),
    "data_delay": (0, 10_000),
    "drop_prob": (0.0, 1.0),
    "regime_ticks": (0, 10_000),
    "regime_vol_bps": (1e-6, 1e6),
}
ZERO = {
    "order_delay": 0,
    "jitter": 0,
    "data_delay": 0,
    "drop_prob": 0.0,
    "regime_ticks": 0,
    "regime_vol_bps": 10.0,
}
PROFILE_DIR = CONF_DIR / "latency"
assert tuple(PROFILE_SCHEMA) == PROFILE_KEYS


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def read_profile(value, path: str) -> dict:
    from qtgjax.config.build import ConfigError, check_keys, number

    if isinstance(value, str):
        file = PROFILE_DIR / f"{value}.yaml"
        if not file.is_file():
            raise ConfigError(
                f"{path}: unknown latency profile {value!r}; known: {profile_names()}"
            )
        value = yaml.safe_load(file.read_text())
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a profile name or a mapping of {list(PROFILE_KEYS)}")
    check_keys(value, PROFILE_SCHEMA, path)
    merged = {**ZERO, **value}
    return {k: number(merged, k, b, path) for k, b in PROFILE_SCHEMA.items()}


def build_latency(cfg: Mapping, families_cfg: Mapping, venue_names: list[str]):
    """(max_delay, LatencyParams or None, delayed: per family whether it has a ``latency``
    key, see ``SimStatic.delayed``); raises ConfigError naming the key."""
    from qtgjax.config.build import ConfigError, check_keys, number

    section = cfg.get("latency") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("latency: expected a mapping with max_delay")
    check_keys(section, ("max_delay",), "latency")
    max_delay = number({"max_delay": 0, **section}, "max_delay", (0, 64), "latency")
    names = venue_names or ["(one venue)"]
    table = []
    for fam, fcfg in families_cfg.items():
        path = f"families.{fam}.latency"
        raw = fcfg.get("latency")
        per_venue = isinstance(raw, Mapping) and set(raw) <= set(venue_names) and raw
        if raw is None:
            rows = [dict(ZERO) for _ in names]
        elif per_venue:
            rows = [read_profile(raw[v], f"{path}.{v}") if v in raw else dict(ZERO) for v in names]
        else:
            if isinstance(raw, Mapping) and not set(raw) <= set(PROFILE_KEYS):
                bad = sorted(set(raw) - set(PROFILE_KEYS) - set(venue_names))[0]
                raise ConfigError(
                    f"{path}.{bad}: neither a venue ({venue_names}) nor a profile key "
                    f"{list(PROFILE_KEYS)}"
                )
            rows = [read_profile(raw, path)] * len(names)
        for v, row in zip(names, rows, strict=True):
            where = f"{path}.{v}" if per_venue else path
            reach = row["order_delay"] + row["jitter"] + row["regime_ticks"]
            if reach > max_delay:
                raise ConfigError(
                    f"{where}.order_delay: order_delay + jitter + regime_ticks = {reach} ticks, "
                    f"beyond latency.max_delay={max_delay}"
                )
            if row["data_delay"] > max_delay:
                raise ConfigError(
                    f"{where}.data_delay: {row['data_delay']} ticks, beyond "
                    f"latency.max_delay={max_delay}"
                )
        table.append(rows)
    delayed = tuple(fcfg.get("latency") is not None for fcfg in families_cfg.values())
    if max_delay == 0:
        return 0, None, ()

    def field(key, dtype):
        return jnp.asarray([[r[key] for r in rows] for rows in table], dtype)

    ints = {"order_delay", "jitter", "data_delay", "regime_ticks"}
    return (
        max_delay,
        LatencyParams(
            **{k: field(k, jnp.int32 if k in ints else jnp.float32) for k in PROFILE_KEYS}
        ),
        delayed,
    )
