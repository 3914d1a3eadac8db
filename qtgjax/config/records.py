"""The optional records of ``record:``: per-level depth and execution reports (fills)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qtgjax.agents.types import FamilySpec
from qtgjax.config.checks import ConfigError, check_keys, number
from qtgjax.sim.depth import DepthSpec
from qtgjax.sim.fills import FillsSpec

RECORD_DEFAULTS = {
    "depth": 0,
    "depth_every": 1,
    "fills": False,
    "fills_families": None,
    "fills_agents": 0,
    "fills_from": 0,
    "fills_to": None,
    "agent_pnl": False,
    "features": False,  # qtgjax.ml.dataset.features_record; written by qtgjax.io.runs
    "features_test_fraction": 0.25,
    "agent_risk": False,
}


def build_records(
    cfg: Mapping, n_levels: int, n_ticks: int, families: Sequence[FamilySpec]
) -> dict:
    """``SimStatic``'s ``depth``, ``fills``, ``agent_pnl`` and ``agent_risk`` from
    ``record:`` (all off when it is missing).

    ``record.fills_families``: names of the families whose orders are recorded (null: all);
    ``record.fills_agents``: the first M agents of each (0: all); ``record.fills_from`` /
    ``record.fills_to``: the recorded ticks [from, to) (to null: the last tick).
    """
    record = cfg.get("record") or {}
    if not isinstance(record, Mapping):
        raise ConfigError(f"record: expected a mapping, got {record!r}")
    check_keys(record, RECORD_DEFAULTS, "record")
    values = {**RECORD_DEFAULTS, **record}
    schema = {"depth": (0, n_levels), "depth_every": (1, max(n_ticks, 1))}
    depth = {k: number(values, k, b, "record") for k, b in schema.items()}
    for flag in ("agent_pnl", "agent_risk"):
        if not isinstance(values[flag], bool):
            raise ConfigError(f"record.{flag}: expected true or false, got {values[flag]!r}")
    from qtgjax.ml.dataset import features_record

    features_record(values)  # refused here, before compiling
    return {
        "agent_pnl": values["agent_pnl"],
        "agent_risk": values["agent_risk"],
        "depth": DepthSpec(levels=depth["depth"], every=depth["depth_every"]),
        "fills": build_fills(values, n_ticks, families),
    }


def build_fills(values: Mapping, n_ticks: int, families: Sequence[FamilySpec]) -> FillsSpec:
    on = values["fills"]
    if not isinstance(on, bool):
        raise ConfigError(f"record.fills: expected true or false, got {on!r}")
    names = [f.name for f in families]
    chosen = values["fills_families"]
    if chosen is None:
        chosen = names
    if isinstance(chosen, str) or not isinstance(chosen, Sequence) or not chosen:
        raise ConfigError(f"record.fills_families: expected a list of family names, got {chosen!r}")
    for name in chosen:
        if name not in names:
            raise ConfigError(
                f"record.fills_families: unknown family {name!r}; the families are {names}"
            )
    agents = number(values, "fills_agents", (0, 2**30), "record")
    start = number(values, "fills_from", (0, max(n_ticks - 1, 0)), "record")
    stop = values["fills_to"]
    stop = n_ticks if stop is None else number(values, "fills_to", (start + 1, n_ticks), "record")
    if not on:
        return FillsSpec()
    index = tuple(sorted(names.index(n) for n in set(chosen)))
    counts = tuple(min(agents or families[i].n_agents, families[i].n_agents) for i in index)
    return FillsSpec(on=True, families=index, agents=counts, start=start, stop=stop)
