"""``qtgjax-run``: simulate the configured market and write Parquet into the output folder."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
import polars as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from qtgjax.api import CONF_DIR, to_plain
from qtgjax.cli.agent_files import hydra_args
from qtgjax.cli.errors import check_out_arg, config_error_line, os_error_line, user_errors
from qtgjax.config.build import ConfigError
from qtgjax.io.price_limits import PriceLimitWarning
from qtgjax.io.runs import run_to_folder
from qtgjax.io.summary import conservation_errors, family_summary, market_summary

PROG = "qtgjax-run"


def run(cfg: DictConfig) -> Path:
    plain = to_plain(cfg)
    folder = Path(HydraConfig.get().runtime.output_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriceLimitWarning)  # printed below, once
        result = run_to_folder(plain, folder)
    static, spec = result.built.static, result.built.run
    agents = sum(f.n_agents for f in static.families)
    print(
        f"{PROG}: {spec.scenarios} scenarios x {agents:,} agents x {static.n_symbols} "
        f"symbols x {spec.ticks:,} ticks in {result.seconds:.1f} s (compile included"
        f"{f', {result.plan.n_chunks} chunks' if result.plan.n_chunks > 1 else ''})"
    )
    tables = {
        "agents": pl.read_parquet(folder / "agents.parquet"),
        "positions": pl.read_parquet(folder / "positions.parquet"),
    }
    with pl.Config(
        tbl_rows=50,
        tbl_cols=20,
        tbl_width_chars=200,
        float_precision=3,
        tbl_hide_dataframe_shape=True,
    ):
        print(market_summary(stats=result.market_stats))
        print(family_summary(tables["agents"], spec.tick_size))
    cash_err, share_err = conservation_errors(tables)
    print(f"conservation: cash error {cash_err}, share error {share_err} (both must be 0)")
    if result.price_limits:
        print(f"warning: {result.price_limits}", file=sys.stderr)
    print(f"results: {folder}")
    return folder


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except user_errors() as err:
        bad = "bad config: " if isinstance(err, ConfigError) else ""
        print(f"{PROG}: {bad}{err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        print(f"{PROG}: {os_error_line(err)}", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as err:  # e.g. an interpolation whose target was replaced
        print(f"{PROG}: bad config: {config_error_line(err)}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    check_out_arg(PROG, sys.argv[1:])
    sys.argv[1:] = hydra_args(sys.argv[1:], PROG)  # +agents@families.X=FILE.yaml, plugins, paths
    _app()
