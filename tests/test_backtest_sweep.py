"""Backtest grids through ``qtgjax-sweep`` (``kind: backtest``): chunks on a Dask cluster
give exactly the rows of ``qtgjax-backtest`` on the same grid; a study resumes; bad sweep
files are refused before anything compiles. Chunks are 4 columns of 5,031 bars: the
compiled shape of tests/test_backtest.py."""

from __future__ import annotations

import pickle

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from test_backtest import SHORT, WALK_FORWARD

from qtgjax.backtest import backtest
from qtgjax.sweep import SweepError, load_sweep, run_sweep

BASE = ["data=sp500", "strategy=trend", "fill=close", "costs=none", *WALK_FORWARD, *SHORT]
GRID = {"fast": [10, 20], "slow": [40, 60], "size": [10, 20]}  # 8 points
ORDER = {"summary": ["symbol", "point"], "equity": ["symbol", "point", "bar"],
         "trades": ["point", "symbol", "bar", "phase", "side"]}
INPROCESS = {"kind": "inprocess"}


def write_sweep(folder, body, name="bt"):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def study_tables(out):
    tables = {name: pl.scan_parquet(out / name, hive_partitioning=True).collect()
              for name in ORDER}
    assert all(t["chunk"].n_unique() == 2 for t in tables.values())
    tables = {k: v.drop("chunk").sort(ORDER[k]) for k, v in tables.items()}
    tables["walk_forward"] = pl.read_parquet(out / "walk_forward.parquet")
    return tables


@pytest.fixture(scope="module")
def grid_study(tmp_path_factory):
    """The 8-point grid through ``qtgjax-sweep ... cluster=threads`` (2 chunks of 4 points)
    and through ``qtgjax-backtest`` (chunk_size=4: the same compiled shape)."""
    from qtgjax.cli.sweep import cli

    folder = tmp_path_factory.mktemp("bt_sweep")
    path = write_sweep(folder, {"kind": "backtest", "description": "SMA grid",
                                "overrides": BASE, "grid": GRID, "chunk_size": 4})
    out = folder / "out"
    assert cli([f"sweep={path}", f"out={out}", "cluster=threads", "progress=false"]) == 0
    grid = [f"grid.{k}=[{','.join(map(str, v))}]" for k, v in GRID.items()]
    alone = backtest(overrides=[*BASE, *grid, "chunk_size=4"])
    return path, out, alone


def test_sweep_gives_exactly_the_backtests_rows(grid_study):
    _, out, alone = grid_study
    study = study_tables(out)
    for name in ORDER:
        assert_frame_equal(study[name], getattr(alone, name)().sort(ORDER[name]),
                           check_exact=True)
    assert_frame_equal(study["walk_forward"], alone.walk_forward(), check_exact=True)
    assert study["summary"].height == 8 and study["summary"]["deflated_sharpe"].is_not_nan().all()
    manifest = yaml.safe_load((out / "study.yaml").read_text())
    assert manifest["kind"] == "backtest" and manifest["points"] == 8
    assert manifest["chunks"] == 2 and manifest["chunk_size"] == 4


def test_backtest_study_resumes_the_missing_chunk(grid_study, tmp_path):
    """A chunk whose files are gone (killed before its completion record) is run again, alone, from
    its pickled task (what a worker process receives); the grid-level tables are
    rewritten and equal the clean run's."""
    from qtgjax.backtest.sweep import run_backtest_chunk
    from qtgjax.sweep.kinds import study_kind
    from qtgjax.sweep.store import chunk_file

    path, clean, _ = grid_study
    out = tmp_path / "out"
    lines = []
    run_sweep(path, out, cluster=INPROCESS, progress=False, echo=lines.append)
    assert "0 done, 2 to run" in lines[0]
    for table in ("stats", "summary", "trades"):
        chunk_file(out, table, 1).unlink()
    (out / "walk_forward.parquet").unlink()
    lines.clear()
    run_sweep(path, out, cluster=INPROCESS, progress=False, echo=lines.append)
    assert "chunk 1 is not whole" in lines[0]
    assert "trades/chunk=1/part-0.parquet: missing" in lines[0]
    assert "1 done, 1 to run" in lines[1]
    study, again = study_tables(clean), study_tables(out)
    for name in study:
        assert_frame_equal(again[name], study[name], check_exact=True)
    spec = load_sweep(path)
    plan = study_kind("backtest").plan(spec, None, None)
    task = pickle.loads(pickle.dumps(plan.task(plan.chunks[0], tmp_path / "worker")))
    report = run_backtest_chunk(task)
    assert report.rows["stats"] == 4 and report.scenarios == 4
    assert_frame_equal(pl.read_parquet(chunk_file(tmp_path / "worker", "trades", 0)),
                       pl.read_parquet(chunk_file(out, "trades", 0)), check_exact=True)


def test_light_records_give_the_same_summary(grid_study):
    """record=summary keeps per bar only what the summary needs (the scan records
    ``engine.light`` of each bar's record): from those the summary is the full records'
    (turnover, summed in float32 in the scan, to 1e-6), and trades and equity are refused;
    a summary-only study writes no equity or trades tables."""
    import jax

    from qtgjax.backtest.api import BacktestResult
    from qtgjax.backtest.engine import light
    from qtgjax.backtest.sweep import chunk_tables

    alone = grid_study[2]
    records = jax.tree.map(jax.numpy.asarray, alone.records)  # [columns, bars, ...]
    light_records = jax.tree.map(np.asarray, jax.vmap(jax.vmap(light))(records))
    summary_only = BacktestResult({**alone.config, "record": "summary"}, alone.setup,
                                  light_records, 0.0)
    full, mine = alone.summary(), summary_only.summary()
    assert_frame_equal(mine.drop("turnover"), full.drop("turnover"), check_exact=True)
    assert_frame_equal(mine.select("turnover"), full.select("turnover"), rel_tol=1e-6)
    with pytest.raises(ValueError, match="record=equity"):
        summary_only.trades()
    with pytest.raises(ValueError, match="record=equity"):
        summary_only.equity()
    assert chunk_tables({"record": "summary", "split": {"train": 10, "test": 5}}) == (
        "folds", "stats")
    assert chunk_tables({"record": "equity"}) == ("equity", "stats")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"kind": "backtests"}, "kind: 'backtests' is not one of"),
        ({"kind": "backtest", "seeds": 3}, "seeds: a backtest runs every point once"),
        ({"kind": "backtest", "overrides": ["grid.fast=[3]"]}, "overrides: grid.fast: the sweep"),
        ({"kind": "backtest", "grid": {"fats": [3]}}, "grid.fats: not a parameter of trend"),
        ({"kind": "backtest", "grid": {"fast": [0, 3]}}, "grid.fast: 0 is out of range"),
        ({"kind": "backtest", "overrides": ["data=nope.csv"]}, "data: 'nope.csv' is neither"),
    ],
)
def test_bad_backtest_sweep_names_the_key(tmp_path, body, where):
    path = write_sweep(tmp_path, body)
    with pytest.raises(SweepError, match=where) as err:
        run_sweep(path, tmp_path / "out", cluster=INPROCESS, progress=False, echo=lambda _: None)
    assert str(path) in str(err.value)
    assert not (tmp_path / "out").exists()
