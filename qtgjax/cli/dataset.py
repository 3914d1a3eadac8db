"""``qtgjax-dataset out=DIR [horizons=[1,5,20]] [test_fraction=0.25] [source=...] [overrides...]``.

Without ``source``: simulate a market (every ``qtgjax-run`` key works, e.g. ``scenarios=16
ticks=2000`` or ``--config-name realistic``) and write ``DIR/dataset.parquet``: the
canonical features and forward-return labels per (scenario, symbol, tick), split by
scenario (:mod:`qtgjax.ml.dataset`), with the resolved config beside it.

``source=`` takes the data instead of simulating it:

- historical bars: a file (CSV/Parquet OHLCV, Binance klines) or a shipped name (``sp500``,
  ...), read as ``qtgjax-backtest`` reads ``data`` (the overrides are its keys: ``format``,
  ``columns.close=...``, ``symbol_column``, ``tick_size``, ``lot_size``,
  ``market.indicators.*``); the rows of :mod:`qtgjax.ml.history` (split in time);
- a ``qtgjax-backtest`` results folder: its config's data, read the same way;
- a ``qtgjax-run`` results folder: its ``ticks.parquet`` and ``config.yaml``, the rows of a
  simulated dataset (the same as ``qtgjax-dataset`` with that config gives).

A folder's own ``config.yaml`` is used, so a folder takes no overrides."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

DATASET_KEYS = ("out", "horizons", "test_fraction", "source")


def parse(argv: Sequence[str]) -> tuple[dict, list[str], str | None]:
    from qtgjax.config.build import ConfigError

    opts = {"out": None, "horizons": [1, 5, 20], "test_fraction": 0.25, "source": None}
    overrides, config_name, args = [], None, list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--config-name":
            if not args:
                raise ConfigError("--config-name: expected a config name")
            config_name = args.pop(0)
            continue
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(f"{arg}: expected key=value")
        if key in DATASET_KEYS:
            opts[key] = value
        else:
            overrides.append(arg)
    return opts, overrides, config_name


def check(opts: dict) -> dict:
    import yaml

    from qtgjax.config.build import ConfigError
    from qtgjax.ml.dataset import dataset_options

    if not opts["out"]:
        raise ConfigError("out: the dataset folder is required (out=DIR)")
    h = opts["horizons"]
    with contextlib.suppress(yaml.YAMLError):  # refused below, naming the key
        h = yaml.safe_load(h) if isinstance(h, str) else h
    options = dataset_options(h, opts["test_fraction"])
    return {"out": opts["out"], "options": options, "source": opts["source"] or None}


def bars_dataset(cfg: dict, options):
    """Dataset of the historical bars a backtest config names (:mod:`qtgjax.ml.history`)."""
    from qtgjax.backtest.setup import load_data, market_params, tick_sizes
    from qtgjax.config.build import ConfigError, number
    from qtgjax.ml.history import history_dataset

    bars = load_data(cfg)
    if not bars:
        raise ConfigError("data: no symbols")
    ticks = tick_sizes(cfg, bars, [[i] for i in range(len(bars))])
    lot = number({"lot_size": cfg.get("lot_size", 1.0)}, "lot_size", (1e-12, 1e12), "")
    base, _, history = market_params(cfg, [], [])
    return history_dataset(bars, ticks, lot, base.indicators, history, options)


def folder_dataset(folder: Path, overrides: list[str], config_name, options):
    """(dataset, config) of a qtgjax-run or qtgjax-backtest results folder."""
    import polars as pl
    import yaml

    from qtgjax.config.build import ConfigError, build
    from qtgjax.ml.dataset import build_dataset

    if overrides or config_name:
        given = [*overrides, *(["--config-name", config_name] if config_name else [])]
        raise ConfigError(f"source: {folder} is a results folder whose config.yaml is used; "
                          f"it takes no config overrides (got {given})")
    cfg_file = folder / "config.yaml"
    if not cfg_file.is_file():
        raise ConfigError(f"source: {folder} has no config.yaml (not a qtgjax-run or "
                          "qtgjax-backtest results folder)")
    cfg = yaml.safe_load(cfg_file.read_text())
    if not isinstance(cfg, dict):
        raise ConfigError(f"source: {cfg_file} is not a config mapping")
    if "data" in cfg:  # a backtest: its bars
        return bars_dataset(cfg, options), cfg
    ticks_file = folder / "ticks.parquet"
    if not ticks_file.is_file():
        raise ConfigError(f"source: {folder} has no ticks.parquet (not a qtgjax-run results "
                          "folder)")
    built = build(cfg)
    df = build_dataset(pl.read_parquet(ticks_file), built.run.tick_size,
                       built.params.market.indicators, built.static.history,
                       options.horizons, options.test_fraction)
    return df, cfg


def source_dataset(source: str, overrides: list[str], config_name, options):
    """(dataset, config) of ``source=`` (the module docstring)."""
    from qtgjax.backtest.api import compose_backtest
    from qtgjax.config.build import ConfigError

    if Path(source).is_dir():
        return folder_dataset(Path(source), overrides, config_name, options)
    if config_name:
        raise ConfigError(f"--config-name: historical data ({source}) takes qtgjax-backtest "
                          "keys, not a market config")
    cfg = compose_backtest(overrides)
    cfg["data"] = source
    return bars_dataset(cfg, options), cfg


def simulated_dataset(overrides: list[str], config_name, options):
    """(dataset, config): simulate the configured market, then its dataset."""
    import qtgjax
    from qtgjax.api import load_config
    from qtgjax.config.build import build
    from qtgjax.ml.dataset import build_dataset

    cfg = load_config(overrides, config_name or "config")
    built = build(cfg)  # refuses a bad config before anything compiles
    res = qtgjax.simulate(cfg)
    ticks = res.tables()["ticks"]
    market = built.params.market
    df = build_dataset(ticks, built.run.tick_size, market.indicators, built.static.history,
                       options.horizons, options.test_fraction)
    return df, cfg


def run(argv: Sequence[str]) -> str:
    import yaml

    from qtgjax.io.atomic import write_parquet, write_text
    from qtgjax.ml.dataset import DATASET_FILE

    opts, overrides, config_name = parse(argv)
    opts = check(opts)
    if opts["source"] is None:
        df, cfg = simulated_dataset(overrides, config_name, opts["options"])
    else:
        df, cfg = source_dataset(opts["source"], overrides, config_name, opts["options"])
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = write_parquet(df, out / DATASET_FILE)
    write_text(yaml.safe_dump(cfg, sort_keys=False), out / "config.yaml")
    n_train = df.filter(df["split"] == "train").height
    return f"{path}: {df.height} rows ({n_train} train, {df.height - n_train} test)"


def main(argv: Sequence[str] | None = None) -> None:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from qtgjax.cli.errors import config_error_line, fail, os_error_line, user_errors
    from qtgjax.data import DataError

    argv = sys.argv[1:] if argv is None else argv
    try:
        print(f"qtgjax-dataset: {run(argv)}")
    except (*user_errors(), DataError) as err:
        fail("qtgjax-dataset", str(err))
    except (HydraException, OmegaConfBaseException) as err:
        fail("qtgjax-dataset", config_error_line(err))
    except OSError as err:
        fail("qtgjax-dataset", os_error_line(err))
