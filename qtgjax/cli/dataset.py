"""``qtgjax-dataset out=DIR [horizons=[1,5,20]] [test_fraction=0.25] [run overrides...]``:
simulate a market (every ``qtgjax-run`` key works, e.g. ``scenarios=16 ticks=2000`` or
``--config-name realistic``) and write ``DIR/dataset.parquet``: the canonical features
and forward-return labels per (scenario, symbol, tick), split by scenario
(:mod:`qtgjax.ml.dataset`), with the resolved config beside it."""

from __future__ import annotations

import sys
from collections.abc import Sequence

DATASET_KEYS = ("out", "horizons", "test_fraction")


def parse(argv: Sequence[str]) -> tuple[dict, list[str], str]:
    from qtgjax.config.build import ConfigError

    opts = {"out": None, "horizons": [1, 5, 20], "test_fraction": 0.25}
    overrides, config_name, args = [], "config", list(argv)
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

    if not opts["out"]:
        raise ConfigError("out: the dataset folder is required (out=DIR)")
    h = opts["horizons"]
    h = yaml.safe_load(h) if isinstance(h, str) else h
    if not isinstance(h, list) or not h or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in h):
        raise ConfigError(f"horizons: expected a list of integers >= 1, got {opts['horizons']}")
    try:
        frac = float(opts["test_fraction"])
    except ValueError:
        frac = -1.0
    if not 0.0 < frac < 1.0:
        raise ConfigError(f"test_fraction: expected a number in (0, 1), got "
                          f"{opts['test_fraction']}")
    return {"out": opts["out"], "horizons": h, "test_fraction": frac}


def run(argv: Sequence[str]) -> str:
    from pathlib import Path

    import yaml

    import qtgjax
    from qtgjax.api import load_config
    from qtgjax.config.build import build
    from qtgjax.io.atomic import write_parquet, write_text
    from qtgjax.ml.dataset import build_dataset

    opts, overrides, config_name = parse(argv)
    opts = check(opts)
    cfg = load_config(overrides, config_name)
    built = build(cfg)  # refuses a bad config before anything compiles
    res = qtgjax.simulate(cfg)
    ticks = res.tables()["ticks"]
    market = built.params.market
    df = build_dataset(ticks, built.run.tick_size, market.indicators, built.static.history,
                       opts["horizons"], opts["test_fraction"])
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = write_parquet(df, out / "dataset.parquet")
    write_text(yaml.safe_dump(cfg, sort_keys=False), out / "config.yaml")
    n_train = df.filter(df["split"] == "train").height
    return f"{path}: {df.height} rows ({n_train} train, {df.height - n_train} test)"


def main(argv: Sequence[str] | None = None) -> None:
    from qtgjax.cli.errors import fail, os_error_line, user_errors

    argv = sys.argv[1:] if argv is None else argv
    try:
        print(f"qtgjax-dataset: {run(argv)}")
    except user_errors() as err:
        fail("qtgjax-dataset", str(err))
    except OSError as err:
        fail("qtgjax-dataset", os_error_line(err))
