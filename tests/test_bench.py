"""``qtgjax-bench`` and automatic chunking: fields and sanity of the JSON line, workloads,
chunked runs equal to one batch. Throughput itself is measured in ``benchmarks/``."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from qtgjax.bench.measure import measure
from qtgjax.bench.workloads import (
    WorkloadError,
    known_workloads,
    load_workload,
    sim_config,
    split_agents,
)
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim.chunk import chunk_inputs, plan_chunks, run_chunked, simulate_chunked
from qtgjax.sim.rollout import rollout

FIELDS = {
    "workload",
    "scenarios",
    "agents",
    "levels",
    "ticks",
    "symbols",
    "device",
    "wall_s",
    "compile_s",
    "agent_ticks_per_s",
    "peak_rss_mb",
    "device_peak_mb",
    "chunk",
    "n_chunks",
}
TINY = dict(scenarios=3, agents=20, ticks=6, levels=32)


def test_measure_reports_every_field_with_sane_values():
    r = measure("kineticsim", repeats=2, **TINY)
    assert set(r) >= FIELDS
    assert (r["workload"], r["scenarios"], r["agents"], r["levels"]) == ("kineticsim", 3, 20, 32)
    assert (r["ticks"], r["symbols"], r["accounts"]) == (6, 1, 21)
    assert r["device"].startswith("cpu") and r["device_peak_mb"] is None
    assert 0 < r["wall_s_best"] <= r["wall_s"] < 60 and 0 < r["compile_s"] < 120
    assert r["agent_ticks_per_s"] == pytest.approx(3 * 20 * 6 / r["wall_s"], rel=1e-3)
    assert 50 < r["peak_rss_mb"] < 64_000
    assert (r["chunk"], r["n_chunks"]) == (3, 1)
    json.dumps(r)


def test_cli_prints_one_json_line(tmp_path):
    out = tmp_path / "bench.jsonl"
    args = [f"{k}={v}" for k, v in TINY.items()]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qtgjax.cli.bench",
            "workload=noise",
            "repeats=1",
            *args,
            f"out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) >= FIELDS and record["workload"] == "noise"
    assert json.loads(out.read_text()) == record
    assert not (tmp_path / "outputs").exists(), "the bench app writes no Hydra run folder"


def test_cli_refuses_a_bad_size(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "qtgjax.cli.bench", "agents=2", "ticks=3", "scenarios=1"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "agents" in proc.stderr


@pytest.mark.parametrize("name", ["kineticsim", "noise", "default", "qtg", "full"])
def test_workloads_build_at_any_size(name):
    assert name in known_workloads()
    spec = load_workload(name)
    for agents, levels, symbols in [(20, 64, None), (5000, 256, 4)]:
        cfg = sim_config(spec, scenarios=2, agents=agents, ticks=3, levels=levels, symbols=symbols)
        built = build(cfg)
        shares = [f for f in spec["families"].values() if "share" in f]
        counted = sum(
            f.n_agents for f in built.static.families if "share" in spec["families"][f.name]
        )
        assert counted == agents and len(shares) >= 1
        assert built.static.n_levels == levels
        assert built.static.n_symbols == (symbols or spec["symbols"])


def test_kineticsim_mix_and_default_sizes():
    cfg = sim_config(load_workload("kineticsim"), scenarios=1, agents=1000, ticks=1)
    sizes = {name: fam["n_agents"] for name, fam in cfg["families"].items()}
    assert sizes == {"noise": 700, "momentum": 150, "market_maker": 150, "exchange": 1}
    default = sim_config(load_workload("default"), scenarios=1, agents=12050, ticks=1)
    assert {k: v["n_agents"] for k, v in default["families"].items()} == {
        "background": 1,
        "noise": 9000,
        "fundamental": 1500,
        "momentum": 1500,
        "market_maker": 50,
        "exchange": 1,
    }


def test_split_agents_is_exact_and_fair():
    counts = split_agents(256, {"a": 70, "b": 15, "c": 15})
    assert sum(counts.values()) == 256 and min(counts.values()) >= 1
    assert abs(counts["a"] - 0.7 * 256) < 2
    assert split_agents(3, {"a": 1000, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 1}
    with pytest.raises(WorkloadError, match="agents"):
        split_agents(2, {"a": 1, "b": 1, "c": 1})
    with pytest.raises(WorkloadError, match="unknown workload"):
        load_workload("no-such-workload")


@pytest.fixture(scope="module")
def small_market():
    built = build(sim_config(load_workload("default"), scenarios=5, agents=60, ticks=12, levels=32))
    params = scenario_params(built.params, 5)
    # different params per scenario: chunks must carry each scenario's own row
    noise = built.static.families.index(next(f for f in built.static.families if f.name == "noise"))
    p_active = np.linspace(0.05, 0.5, 5).astype(np.float32)
    strategies = list(params.strategies)
    strategies[noise] = strategies[noise].replace(p_active=jax.numpy.asarray(p_active))
    params = params.replace(strategies=tuple(strategies))
    return built, params, scenario_keys(4, 5)


def test_chunked_equals_one_batch(small_market):
    built, params, keys = small_market
    whole = rollout(built.static, params, keys, 12)
    plan = plan_chunks(built.static, built.params, 12, 5, chunk=2)
    assert (plan.chunk, plan.n_chunks) == (2, 3)
    chunked = run_chunked(built.static, params, keys, 12, plan)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_chunk_inputs_pad_the_last_chunk(small_market):
    built, params, keys = small_market
    plan = plan_chunks(built.static, built.params, 12, 5, chunk=3)
    chunk_params, chunk_keys, used = chunk_inputs(params, keys, plan, 1)
    assert used == 2 and chunk_keys.shape == (3,)
    assert all(np.shape(x)[0] == 3 for x in jax.tree.leaves(chunk_params))


def test_plan_fits_the_budget_and_says_so(small_market, caplog):
    built, params, keys = small_market
    auto = plan_chunks(built.static, built.params, 12, 5)
    assert auto.chunk == 5 and auto.bytes_per_scenario > 0
    tight = plan_chunks(
        built.static, built.params, 12, 5, budget_bytes=int(2.5 * auto.bytes_per_scenario)
    )
    assert tight.chunk == 2 and tight.n_chunks == 3
    with caplog.at_level("INFO", logger="qtgjax.chunk"):
        out, plan = simulate_chunked(built.static, params, keys, 12, chunk=2)
    assert plan.n_chunks == 3 and "3 chunk(s) of 2" in caplog.text
    assert np.asarray(out.records.close).shape[0] == 5


def test_a_workload_runs_its_own_size_unless_agents_is_given(tmp_path):
    """``qtgjax-bench workload=qtg`` is the ancestor's 12,500 agents, not a default 256."""
    from qtgjax.bench.workloads import workload_agents

    assert workload_agents(load_workload("qtg")) == 12_500
    assert workload_agents(load_workload("kineticsim")) == 256
    with pytest.raises(WorkloadError, match="no agents: N of its own"):
        workload_agents({"name": "mine", "families": {}})
    args = ["workload=noise", "repeats=1", "scenarios=1", "ticks=2", "levels=32"]
    runs = []
    for extra in ([], ["agents=12"]):
        proc = subprocess.run([sys.executable, "-m", "qtgjax.cli.bench", *args, *extra],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [r["agents"] for r in runs] == [workload_agents(load_workload("noise")), 12]
