"""``analysis/`` and ``qtgjax-report``: loading a study, confidence intervals over seeds, the
league table, and the figures and HTML page for a sweep and for a single run."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

import qtgjax
from conftest import SMALL
from qtgjax.analysis import league_table, open_study, summarise, write_report
from qtgjax.analysis.load import ResultsError
from qtgjax.cli.report import cli as report_cli
from qtgjax.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
BASE = [o for o in SMALL if not o.startswith(("scenarios=", "ticks="))] + ["ticks=2000"]
STUDY = {
    "description": "report test",
    "overrides": BASE,
    "grid": {
        "families.market_maker.params.half_spread": [1.0, 3.0],
        "fundamentals.news_rate": [0.0, 0.05],
    },
    "seeds": 2,
    "chunk_size": 4,
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    path = folder / "report_study.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    out = folder / "out"
    run_sweep(path, out, cluster={"kind": "inprocess"}, progress=False, echo=lambda _: None)
    return out


def report(folder: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "qtgjax.cli.report", str(folder), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_summarise_gives_student_t_intervals_over_seeds():
    frame = pl.DataFrame(
        {
            "spread": [1.0] * 4 + [2.0] * 3,
            "vol": [1.0, 2.0, 3.0, 4.0, 10.0, 10.0, float("nan")],
        }
    )
    stats = summarise(frame, ["spread"], ["vol"])
    one, two = stats.rows(named=True)
    assert one["n"] == 4 and one["mean"] == pytest.approx(2.5)
    half = 3.182446 * math.sqrt(5 / 3) / 2  # t(0.975, 3) * sd / sqrt(n)
    assert one["ci_low"] == pytest.approx(2.5 - half, rel=1e-5)
    assert one["ci_high"] == pytest.approx(2.5 + half, rel=1e-5)
    assert two["n"] == 2 and two["mean"] == 10.0 and two["ci_low"] == two["ci_high"] == 10.0
    wide = summarise(frame, [], ["vol"], level=0.5)
    assert wide["n"].to_list() == [6]


def test_league_table_ranks_families_by_pnl_per_agent():
    agents = pl.DataFrame(
        {
            "scenario": [0, 0, 1, 1],
            "family": ["mm", "noise", "mm", "noise"],
            "kind": ["market_maker", "noise", "market_maker", "noise"],
            "n_agents": [2, 10, 2, 10],
            "pnl_per_agent": [5.0, -1.0, 7.0, -3.0],
            "volume": [100, 50, 120, 70],
        }
    )
    table = league_table(agents)
    assert table["family"].to_list() == ["mm", "noise"]
    assert table["rank"].to_list() == [1, 2]
    assert table["pnl_per_agent"].to_list() == [6.0, -2.0]
    assert table["volume"].to_list() == [110.0, 60.0]
    assert table["pnl_ci_low"][0] < 6.0 < table["pnl_ci_high"][0]


def test_open_study_reads_the_whole_study_with_typed_swept_columns(study_dir):
    study = open_study(study_dir)
    assert study.kind == "sweep"
    assert study.swept == ("market_maker_half_spread", "news_rate")
    summary = study.summary()
    assert summary.height == 8 and summary["scenario"].to_list() == list(range(8))
    assert summary.schema["news_rate"] == pl.Float64
    assert set(study.metrics) <= set(summary.columns)
    stats = summarise(summary, study.swept, ["volatility_bp", "pnl_market_maker"])
    assert stats.height == 4 * 2 and set(stats["n"]) == {2}
    ticks = study.scan("ticks").select(pl.len()).collect().item()
    assert ticks == 8 * 2 * 2000


def test_report_of_a_study_writes_figures_and_html(study_dir, tmp_path):
    out = tmp_path / "report"
    proc = report(study_dir, "--out", str(out), "--real", "sp500")
    assert proc.returncode == 0, proc.stderr
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == {
        "price_paths.png",
        "depth_heatmap.png",
        "volume_spread.png",
        "pnl_league.png",
        "metric_vs_market_maker_half_spread.png",
        "metric_vs_news_rate.png",
    }
    for name in pngs:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    page = (out / "index.html").read_text()
    assert all(f"src='{name}'" in page for name in pngs)
    assert "P&amp;L league table by family" in page and "market_maker" in page
    assert "Results by swept values" in page and "volatility_bp" in page
    assert "<a href='realism/index.html'>" in page and (out / "realism" / "returns.png").is_file()


def test_report_of_a_single_run(tmp_path):
    run_dir = tmp_path / "run"
    qtgjax.simulate(overrides=[*BASE, "scenarios=4"]).write(run_dir)
    index = write_report(run_dir, real=None)
    folder = run_dir / "report"
    assert index == folder / "index.html"
    assert {p.name for p in folder.glob("*.png")} == {
        "price_paths.png",
        "depth_heatmap.png",
        "volume_spread.png",
        "pnl_league.png",
    }
    assert "Results by swept values" not in (folder / "index.html").read_text()
    assert not (folder / "realism").exists()


def test_report_refuses_a_folder_without_results(tmp_path, capsys):
    assert report_cli([str(tmp_path)]) == 2
    assert "neither a sweep folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report_cli([str(tmp_path), "--real", "nasdaq"])
    assert "unknown data set nasdaq" in capsys.readouterr().err
    with pytest.raises(ResultsError):
        open_study(tmp_path)
