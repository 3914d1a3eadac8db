"""What the CLI does, one import away: load a config, simulate, tabulate, write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from omegaconf import DictConfig, OmegaConf

from qtgjax.config.build import Built, build, scenario_keys, scenario_params
from qtgjax.io.atomic import write_parquet, write_text
from qtgjax.io.tables import all_tables
from qtgjax.sim.chunk import simulate_chunked
from qtgjax.sim.rollout import Rollout

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# ``${qtgjax.or:${out},DEFAULT}``: the output folder when ``out`` is null.
OmegaConf.register_new_resolver(
    "qtgjax.or", lambda value, default: default if value is None else value, replace=True
)


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """``conf/<config_name>.yaml`` with Hydra ``key=value`` overrides, unresolved. Works
    inside a running Hydra app too (``qtgjax-train`` building an env): the app's global
    Hydra is parked while this composes and restored afterwards."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    global_hydra = GlobalHydra.instance()
    running = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=list(overrides))
    finally:  # leaving initialize_config_dir swapped the singleton: fetch it again
        GlobalHydra.instance().clear()
        if running is not None:
            GlobalHydra.instance().initialize(running)


def load_config(overrides: Sequence[str] = (), config_name: str = "config") -> dict:
    """Compose ``conf/<config_name>.yaml`` with Hydra ``key=value`` overrides (a plain dict)."""
    return to_plain(compose_config(overrides, config_name))


def to_plain(cfg) -> dict:
    """A resolved plain dict from a DictConfig or mapping (the ``hydra`` node dropped)."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in dict(cfg).items() if k != "hydra"}


@dataclass(frozen=True)
class SimResult:
    """A finished run.

    Attributes:
        config: the resolved config (plain dict).
        built: validated static shapes, params and run settings.
        out: :class:`~qtgjax.sim.rollout.Rollout` with initial/final state and records,
            every leaf with a leading scenario axis.
    """

    config: dict
    built: Built
    out: Rollout

    def tables(self) -> dict[str, pl.DataFrame]:
        """``ticks``, ``agents`` and ``positions`` tables (schemas in the README)."""
        return all_tables(self.built.static, self.out, self.built.run.tick_size)

    def write(self, folder: str | Path) -> Path:
        """Write the tables as Parquet and the resolved config, each atomically."""
        folder = Path(folder)
        for name, df in self.tables().items():
            write_parquet(df, folder / f"{name}.parquet")
        write_text(OmegaConf.to_yaml(OmegaConf.create(self.config)), folder / "config.yaml")
        return folder


def simulate(config: Mapping | None = None, overrides: Sequence[str] = ()) -> SimResult:
    """Validate a config, run all its scenarios in one ``jit(vmap(scan))`` and return them.

    Args:
        config: a config mapping (as ``load_config`` returns); None loads ``conf/config.yaml``.
        overrides: Hydra-style ``key=value`` overrides applied on top.

    Example:
        >>> import polars as pl, qtgjax
        >>> res = qtgjax.simulate(overrides=["scenarios=2", "ticks=50"])
        >>> sorted(res.tables())
        ['agents', 'positions', 'ticks']
        >>> int(res.tables()["agents"].group_by("scenario").agg(
        ...     (pl.col("cash_end") - pl.col("cash_start") - pl.col("external_cash")).sum()
        ... )["cash_end"].abs().max())
        0
    """
    if config is None:
        cfg = load_config(overrides)
    else:
        cfg = to_plain(config)
        if overrides:
            merged = OmegaConf.merge(OmegaConf.create(cfg), OmegaConf.from_dotlist(list(overrides)))
            cfg = to_plain(merged)
    built = build(cfg)
    run = built.run
    params = scenario_params(built.params, run.scenarios)
    keys = scenario_keys(run.seed, run.scenarios)
    out, _ = simulate_chunked(built.static, params, keys, run.ticks)
    return SimResult(cfg, built, out)
