"""``qtgjax-backtest``: a strategy grid on historical bars; Parquet tables and a report page.

``qtgjax-backtest data=PATH strategy=trend grid.fast=[5,10] grid.slow=[50,100] fill=close
costs=none out=DIR`` (settings: ``conf/backtest/config.yaml``). Exit status 2 on a bad
config or data file, with the key or the file, row and column.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import polars as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from qtgjax.api import to_plain
from qtgjax.backtest.api import BACKTEST_CONF, backtest, open_overrides
from qtgjax.config.build import ConfigError
from qtgjax.data import DataError


def run(cfg: DictConfig) -> Path:
    plain = to_plain(cfg)
    folder = Path(HydraConfig.get().runtime.output_dir)
    result = backtest(plain)
    s = result.setup
    print(
        f"qtgjax-backtest: {s.family.kind} x {len(s.points):,} points x {len(s.groups)} "
        f"symbol(s) x {max(len(b) for b in s.bars):,} bars in {result.seconds:.1f} s "
        f"(compile included); {s.ticks_text()}"
    )
    result.write(folder)
    summary = result.summary()
    if plain.get("report", True):
        from qtgjax.backtest.report import write_report

        write_report(folder, result)
    best = summary.sort("sharpe", descending=True, nulls_last=True).head(5)
    with pl.Config(tbl_rows=10, tbl_cols=14, tbl_width_chars=160, float_precision=4,
                   tbl_hide_dataframe_shape=True):
        print(best.drop("final_equity"))
    print(f"results: {folder}")
    return folder


@hydra.main(config_path=str(BACKTEST_CONF), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ConfigError, DataError) as err:
        print(f"qtgjax-backtest: bad {'config' if isinstance(err, ConfigError) else 'data'}: "
              f"{err}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    sys.argv = [sys.argv[0], *open_overrides(sys.argv[1:])]
    _app()
