"""The latency-arbitrage study on the report's latency page (issue #12): a tiny version of
``sweeps/latency_arbitrage.yaml`` (2 x 2 points, 2 seeds, 40 ticks) run through the sweep
runner, then ``qtgjax-report``: the page draws the study's figure and table, whose means
match the agents table computed by hand, inside their bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from qtgjax.analysis import write_report
from qtgjax.analysis.latency import ARBITRAGE_METRICS, arbitrage_table, bootstrap_ci
from qtgjax.analysis.load import open_study
from qtgjax.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
KEEP = {"advantage": [0, 4], "batch_interval": [0, 2]}  # value indexes: 0, 4 x 1, 5 ticks


def tiny_study(folder: Path) -> Path:
    """sweeps/latency_arbitrage.yaml with 2 values per axis, 2 seeds, 40 ticks, 60 noise."""
    spec = yaml.safe_load((ROOT / "sweeps" / "latency_arbitrage.yaml").read_text())
    small = ("ticks=", "families.noise.n_agents=")
    spec["overrides"] = [o for o in spec["overrides"] if not o.startswith(small)]
    spec["overrides"] += ["ticks=40", "families.noise.n_agents=60"]
    for axis, keep in KEEP.items():
        grid = spec["grid"][axis]
        grid["values"] = [grid["values"][i] for i in keep]
        grid["set"] = {k: [v[i] for i in keep] for k, v in grid["set"].items()}
    spec["seeds"] = 2
    spec["chunk_size"] = 8
    path = folder / "latency_arbitrage_tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("latency_study")
    out = folder / "out"
    run_sweep(tiny_study(folder), out, cluster={"kind": "inprocess"}, progress=False,
              echo=lambda _: None)
    return out


def test_bootstrap_interval_brackets_the_mean_and_degenerates():
    values = np.array([1.0, 2.0, 4.0, 8.0, np.nan])
    mean, lo, hi = bootstrap_ci(values)
    assert mean == pytest.approx(3.75) and 1.0 <= lo < mean < hi <= 8.0
    assert bootstrap_ci(values) == (mean, lo, hi)  # fixed seed
    assert bootstrap_ci(np.array([2.0, 2.0])) == (2.0, 2.0, 2.0)
    assert bootstrap_ci(np.array([5.0])) == (5.0, 5.0, 5.0)


def test_study_table_against_the_agents_table(study):
    s = open_study(study)
    df = arbitrage_table(s.summary(), s.scan("agents"), ("advantage", "batch_interval"))
    assert df.height == 4 and set(df["seeds"]) == {2}
    agents = s.scan("agents").collect()
    pnl = agents.group_by("scenario", "advantage", "batch_interval").agg(
        pl.col("pnl_per_agent").filter(pl.col("kind") == "venue_arbitrage").mean().alias("arb"),
        pl.col("pnl_per_agent")
        .filter(pl.col("family").is_in(["noise", "fundamental", "market_maker"]))
        .mean()
        .alias("others"),
    )
    want = pnl.group_by("advantage", "batch_interval").agg(pl.col("arb", "others").mean())
    got = df.join(want, on=["advantage", "batch_interval"])
    assert got.height == 4
    assert np.allclose(got["pnl_arbitrage"], got["arb"]) and np.allclose(
        got["pnl_others"], got["others"]
    )
    for m in ARBITRAGE_METRICS:
        assert (df[f"{m}_lo"] <= df[m] + 1e-9).all() and (df[m] <= df[f"{m}_hi"] + 1e-9).all()
    assert sorted(df["batch_interval"].unique()) == [1, 5]


def test_report_latency_page_draws_the_study(study, tmp_path):
    out = tmp_path / "report"
    index = write_report(study, out, real=None)
    page = index.read_text()
    assert "<h2>Latency</h2>" in page and "<h3>Latency arbitrage</h3>" in page
    assert "src='latency_arbitrage.png'" in page
    data = (out / "latency_arbitrage.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    latency_page = page[page.index("<h2>Latency</h2>") :]
    for m in ARBITRAGE_METRICS:
        assert f"<th>{m}</th>" in latency_page
    assert latency_page.count("<tr>") >= 1 + 4  # the counts table, then 4 study points
