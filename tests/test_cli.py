"""``qtgjax-run`` as a user runs it: files, schemas, exact identities, multirun, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import SMALL

RUN = str(Path(sys.executable).parent / "qtgjax-run")

TICKS_SCHEMA = {
    "scenario": pl.Int64,
    "venue": pl.Int32,
    "symbol": pl.Int32,
    "tick": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Int64,
    "taker_flow": pl.Int64,
    "vwap": pl.Float64,
    "best_bid": pl.Float64,
    "best_ask": pl.Float64,
    "bid_depth": pl.Int64,
    "ask_depth": pl.Int64,
    "fundamental": pl.Float64,
    "news": pl.Float64,
    "at_price_limit": pl.Boolean,
}
AGENTS_COLUMNS = [
    "scenario",
    "family",
    "kind",
    "n_agents",
    "cash_start",
    "cash_end",
    "external_cash",
    "pnl",
    "pnl_per_agent",
    "pnl_trading",
    "pnl_holding",
    "dividends",
    "fees",
    "borrow",
    "pnl_trading_per_agent",
    "pnl_trading_p10",
    "pnl_trading_p50",
    "pnl_trading_p90",
    "infrastructure",
    "trades",
    "volume",
    "sharpe",
    "sortino",
    "max_drawdown",
    "var_95",
]


def _run(*args, cwd):
    return subprocess.run([RUN, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results"
    proc = _run(*SMALL, f"out={out}", cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    assert "conservation: cash error 0, share error 0" in proc.stdout
    return out


def test_run_writes_tables_and_config(run_dir):
    assert {p.name for p in run_dir.iterdir()} >= {
        "ticks.parquet",
        "agents.parquet",
        "positions.parquet",
        "config.yaml",
    }
    ticks = pl.read_parquet(run_dir / "ticks.parquet")
    assert dict(ticks.schema) == TICKS_SCHEMA
    assert ticks.height == 3 * 2 * 60
    assert list(pl.read_parquet(run_dir / "agents.parquet").columns) == AGENTS_COLUMNS
    assert "scenarios: 3" in (run_dir / "config.yaml").read_text()
    assert not list(run_dir.glob(".tmp-*"))


def test_run_tables_satisfy_identities(run_dir):
    agents = pl.read_parquet(run_dir / "agents.parquet")
    assert set(agents["family"]) == {
        "background",
        "noise",
        "fundamental",
        "momentum",
        "market_maker",
        "exchange",
    }
    cash = agents.group_by("scenario").agg(
        (pl.col("cash_end") - pl.col("cash_start") - pl.col("external_cash")).sum().alias("net")
    )
    assert cash["net"].to_list() == [0, 0, 0]
    positions = pl.read_parquet(run_dir / "positions.parquet")
    shares = positions.group_by("scenario", "symbol").agg(
        (pl.col("position_end") - pl.col("position_start")).sum().alias("net")
    )
    assert shares["net"].to_list() == [0] * 6
    assert agents["external_cash"].abs().sum() > 0


def test_multirun_writes_one_folder_per_job(tmp_path):
    out = tmp_path / "multi"
    proc = _run(
        "--multirun",
        *SMALL,
        "ticks=20",
        "families.market_maker.params.half_spread=1.0,3.0",
        f"out={out}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for job in ("0", "1"):
        assert (out / job / "ticks.parquet").exists()
    assert "half_spread: 3.0" in (out / "1" / "config.yaml").read_text()


def test_bad_override_is_refused_with_the_key(tmp_path):
    proc = _run(*SMALL, "market.levels=-2", f"out={tmp_path / 'bad'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "market.levels" in proc.stderr
    assert not (tmp_path / "bad" / "ticks.parquet").exists()


def test_multirun_without_out_uses_hydra_default_folders(tmp_path):
    proc = _run("--multirun", *SMALL, "ticks=10", "seed=1,2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p.parent.name for p in tmp_path.glob("multirun/*/*/*/ticks.parquet"))
    assert jobs == ["0", "1"]
