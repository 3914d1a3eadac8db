"""What the CLI does, one import away: load a config, simulate, tabulate, write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from omegaconf import DictConfig, OmegaConf

from qtgjax.config.build import Built, build, scenario_keys, scenario_params
from qtgjax.io.price_limits import warn_price_limits
from qtgjax.io.runs import run_options, write_tables
from qtgjax.io.tables import all_tables
from qtgjax.paths import CONF_DIR, searchpath_override  # noqa: F401  (CONF_DIR re-exported)
from qtgjax.sim.chunk import simulate_chunked
from qtgjax.sim.rollout import Rollout

# ``${qtgjax.or:${out},DEFAULT}``: the output folder when ``out`` is null.
OmegaConf.register_new_resolver(
    "qtgjax.or", lambda value, default: default if value is None else value, replace=True
)


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """``conf/<config_name>.yaml`` with Hydra ``key=value`` overrides, unresolved. Works
    inside a running Hydra app too (``qtgjax-train`` building an env): the app's global
    Hydra is parked while this composes and restored afterwards. The user's config folders
    (``QTGJAX_CONFIG_PATH``) are on the search path, and families from plugins offer their
    ``default_config`` as ``agents`` options (:func:`qtgjax.plugins.store_family_configs`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from qtgjax.plugins import store_family_configs

    store_family_configs()
    overrides = list(overrides)
    if not any(o.startswith("hydra.searchpath=") for o in overrides):
        overrides = [*searchpath_override(), *overrides]

    global_hydra = GlobalHydra.instance()
    running = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=overrides)
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

    def write(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the tables as Parquet and the resolved config, each atomically, into a
        locked run folder (:class:`~qtgjax.io.runfolder.RunFolder`: files that no qtgjax
        run wrote are refused unless ``overwrite``)."""
        return write_tables(self.tables(), self.config, folder, overwrite=overwrite)


# Top-level sections every complete config has; a mapping lacking any is partial.
COMPLETE_KEYS = ("seed", "scenarios", "ticks", "market", "fundamentals", "families")


def resolve_config(config: Mapping | None = None, overrides: Sequence[str] | str = ()) -> dict:
    """The plain config ``simulate`` runs.

    Args:
        config: None loads ``conf/config.yaml``. A complete config (every one of
            ``seed, scenarios, ticks, market, fundamentals, families``, as ``load_config``
            returns) is used as given; a partial mapping such as ``{"ticks": 200}`` or
            ``{"market": {"symbols": 1, ...}}`` is merged onto ``conf/config.yaml``, section
            by section (the keys it gives replace the defaults', the others stay).
        overrides: Hydra-style ``key=value`` strings applied on top; one string is one
            override.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    overrides = list(overrides)
    bad = [o for o in overrides if not isinstance(o, str) or not ("=" in o or o[:1] == "~")]
    if bad:
        raise TypeError(
            f"overrides: expected key=value strings such as 'scenarios=2', got {bad[0]!r}"
        )
    if config is None:
        return load_config(overrides)
    if not isinstance(config, Mapping):
        raise TypeError(
            f"config: expected a mapping (e.g. qtgjax.load_config()), got "
            f"{type(config).__name__}; pass key=value strings as overrides=[...]"
        )
    cfg = to_plain(config)
    if not all(k in cfg for k in COMPLETE_KEYS):
        defaults = compose_config()  # unresolved: ${costs.*} follow the partial's costs
        OmegaConf.set_struct(defaults, False)  # unknown keys are refused by build, by name
        cfg = to_plain(OmegaConf.merge(defaults, OmegaConf.create(cfg)))
    if overrides:
        merged = OmegaConf.merge(OmegaConf.create(cfg), OmegaConf.from_dotlist(overrides))
        cfg = to_plain(merged)
    return cfg


def simulate(config: Mapping | None = None, overrides: Sequence[str] | str = ()) -> SimResult:
    """Validate a config, run all its scenarios in one ``jit(vmap(scan))`` and return them.

    Args:
        config: a config mapping (as ``load_config`` returns); None loads
            ``conf/config.yaml``; a partial mapping is merged onto it (:func:`resolve_config`).
        overrides: Hydra-style ``key=value`` overrides applied on top (a list, or one string).

    A run whose scenarios cannot fit in memory is refused before compiling
    (:class:`~qtgjax.sim.chunk.MemoryBudgetError`); ``qtgjax-run`` (or
    :func:`qtgjax.io.runs.run_to_folder`) streams chunks to disk instead of keeping them.

    Example:
        >>> import polars as pl, qtgjax
        >>> res = qtgjax.simulate(overrides=["scenarios=2", "ticks=50"])
        >>> sorted(res.tables())
        ['agents', 'family_pnl', 'positions', 'ticks']
        >>> int(res.tables()["agents"].group_by("scenario").agg(
        ...     (pl.col("cash_end") - pl.col("cash_start") - pl.col("external_cash")).sum()
        ... )["cash_end"].abs().max())
        0
    """
    cfg = resolve_config(config, overrides)
    built = build(cfg)
    run = built.run
    options = run_options(cfg)
    params = scenario_params(built.params, run.scenarios)
    keys = scenario_keys(run.seed, run.scenarios)
    out, _ = simulate_chunked(
        built.static,
        params,
        keys,
        run.ticks,
        chunk=options.chunk_size,
        budget_bytes=options.chunk_memory,
        budget_name="chunk_memory",
    )
    warn_price_limits(out.records.close)
    return SimResult(cfg, built, out)
