"""The full market: every family at once trades, and money and shares stay exactly conserved.

Run as a user runs it, ``qtgjax-run --config-name full`` in its own process: the full
market is the largest program the suite compiles, and compiling it in a fresh process keeps
it apart from the state a long-lived test worker has accumulated (a worker that had compiled
many other markets once crashed inside XLA's compiler on it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

import qtgjax
from qtgjax.agents.registry import known_kinds
from qtgjax.io.summary import conservation_errors

BIN = Path(sys.executable).parent


def test_full_config_has_every_family_and_all_of_them_trade(tmp_path):
    overrides = ["ticks=250", "scenarios=2"]
    cfg = qtgjax.load_config(overrides, config_name="full")
    kinds = {f["kind"] for f in cfg["families"].values()}
    assert kinds == set(known_kinds()), "the full market must hold every registered family"
    out = tmp_path / "full"
    cmd = [str(BIN / "qtgjax-run"), "--config-name", "full", *overrides, f"out={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cash error 0, share error 0" in done.stdout
    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in ("agents", "positions")}
    assert conservation_errors(tables) == (0, 0)
    agents = tables["agents"]
    assert set(agents["family"].unique()) == set(cfg["families"])
    traders = agents.filter(pl.col("kind") != "fee_account")
    idle = traders.filter(pl.col("volume") == 0)
    assert idle.is_empty(), f"families that never traded: {idle['family'].to_list()}"
    assert agents.filter(pl.col("kind") == "fee_account")["external_cash"].min() > 0
