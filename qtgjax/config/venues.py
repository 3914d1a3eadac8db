"""The ``venues:`` section and each family's ``venue`` / ``route`` keys -> VenueParams.

A config without a ``venues`` section has one venue that clears every tick with no fees
of its own: the single-venue engine, with no venue machinery compiled in.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from qtgjax.sim.venues import ROUTES, VenueParams

VENUE_SCHEMA = {
    "batch_interval": (1, 1_000_000),
    "maker_bps": (-100.0, 100.0),
    "taker_bps": (-100.0, 100.0),
}
VENUE_DEFAULTS = {"batch_interval": 1, "maker_bps": 0.0, "taker_bps": 0.0}
MAX_VENUES = 64


def venue_names(cfg: Mapping) -> list[str]:
    """Names of the configured venues, in order (empty: no ``venues`` section)."""
    from qtgjax.config.build import ConfigError

    raw = cfg.get("venues")
    if raw is None:
        return []
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            "venues: expected a mapping of venue name -> {batch_interval, maker_bps, taker_bps}"
        )
    if len(raw) > MAX_VENUES:
        raise ConfigError(f"venues: {len(raw)} venues; at most {MAX_VENUES}")
    return [str(k) for k in raw]


def build_venues(cfg: Mapping, families_cfg: Mapping):
    """(V, routes per family, VenueParams or None) from the config; raises ConfigError."""
    from qtgjax.config.build import ConfigError, check_keys, number

    names = venue_names(cfg)
    routes = []
    homes = []
    for name, fam in families_cfg.items():
        path = f"families.{name}"
        rule = fam.get("route", "fixed")
        if rule not in ROUTES:
            raise ConfigError(f"{path}.route: {rule!r} is not one of {list(ROUTES)}")
        routes.append(rule)
        home = fam.get("venue")
        if home is None:
            homes.append(0)
        elif str(home) not in names:
            known = names or ["(none: add a venues section)"]
            raise ConfigError(f"{path}.venue: unknown venue {home!r}; venues: {known}")
        else:
            homes.append(names.index(str(home)))
    if not names:
        return 1, tuple(routes), None
    values = []
    for v in names:
        venue = cfg["venues"][v] or {}
        if not isinstance(venue, Mapping):
            raise ConfigError(f"venues.{v}: expected a mapping of {sorted(VENUE_SCHEMA)}")
        check_keys(venue, VENUE_SCHEMA, f"venues.{v}")
        merged = {**VENUE_DEFAULTS, **venue}
        values.append({k: number(merged, k, b, f"venues.{v}") for k, b in VENUE_SCHEMA.items()})
    params = VenueParams(
        batch_interval=jnp.asarray([x["batch_interval"] for x in values], jnp.int32),
        maker_bps=jnp.asarray([x["maker_bps"] for x in values], jnp.float32),
        taker_bps=jnp.asarray([x["taker_bps"] for x in values], jnp.float32),
        home=jnp.asarray(homes, jnp.int32),
    )
    return len(names), tuple(routes), params
