"""``qtgjax-run``: simulate the configured market and write Parquet into the output folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
import polars as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from qtgjax.api import CONF_DIR, simulate, to_plain
from qtgjax.cli.agent_files import agent_file_overrides
from qtgjax.config.build import ConfigError
from qtgjax.io.summary import conservation_errors, family_summary, market_summary


def run(cfg: DictConfig) -> Path:
    plain = to_plain(cfg)
    folder = Path(HydraConfig.get().runtime.output_dir)
    started = time.perf_counter()
    result = simulate(plain)
    seconds = time.perf_counter() - started
    tables = result.tables()
    result.write(folder)
    static, spec = result.built.static, result.built.run
    agents = sum(f.n_agents for f in static.families)
    print(
        f"qtgjax-run: {spec.scenarios} scenarios x {agents:,} agents x {static.n_symbols} "
        f"symbols x {spec.ticks:,} ticks in {seconds:.1f} s (compile included)"
    )
    with pl.Config(
        tbl_rows=50,
        tbl_cols=20,
        tbl_width_chars=200,
        float_precision=3,
        tbl_hide_dataframe_shape=True,
    ):
        print(market_summary(tables["ticks"]))
        print(family_summary(tables["agents"], spec.tick_size))
    cash_err, share_err = conservation_errors(tables)
    print(f"conservation: cash error {cash_err}, share error {share_err} (both must be 0)")
    print(f"results: {folder}")
    return folder


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ConfigError as err:
        print(f"qtgjax-run: bad config: {err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    sys.argv[1:] = agent_file_overrides(sys.argv[1:])  # +agents@families.X=FILE.yaml
    _app()
