"""qtgjax.evolve: genomes, fitness, the search loop, and a small run end to end, checked
against qtgjax-run of the agent files it writes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import polars as pl
import pytest
from scipy import stats

from conftest import SMALL
from qtgjax.agents.registry import get_family
from qtgjax.config.build import ConfigError
from qtgjax.evolve import evolve, make_genome
from qtgjax.evolve.config import SearchSpec, evolve_spec
from qtgjax.evolve.fitness import objectives, pareto_front, pooled_moments, sharpe_stats
from qtgjax.evolve.output import agent_file
from qtgjax.evolve.search import Searcher
from qtgjax.evolve.setup import Evaluator, prepare

BIN = Path(sys.executable).parent
MARKET = [o for o in SMALL if not o.startswith("scenarios=")]


def small_evolve_config(**search) -> dict:
    """conf/evolve.yaml on the tests' small market, a tiny budget."""
    from qtgjax.api import load_config

    cfg = load_config([], "evolve")
    cfg["market"] = "config"
    cfg["market_overrides"] = list(MARKET)
    cfg["target"].pop("latency", None)  # the small market has no latency rings
    cfg["scenarios"] = {
        "train": {"n": 3, "seed": 0},
        "holdout": {"n": 4, "seed": 7},
        "regimes": None,
        "holdout_regimes": {"fundamentals.news_rate": {"uniform": [0.02, 0.06]}},
    }
    cfg["genome"]["params"] = {
        "half_spread": {"low": 0.5, "high": 6.0, "log": True},
        "spread_jitter": {"low": 0.0, "high": 3.0},
        "quote_size": {"low": 1, "high": 30},
        "inventory_skew": {"low": 0.0, "high": 0.1},
    }
    cfg["search"].update({"population": 6, "generations": 3, **search})
    cfg["leaderboard"].update(top=3, pbo_partitions=4, blocks=4)
    cfg["progress"] = False
    cfg["compilation_cache"] = None
    return cfg


@pytest.fixture(scope="session")
def evolved(tmp_path_factory):
    """One small CMA-ES run (6 x 3 candidates, 3 + 4 scenarios of 60 ticks)."""
    from qtgjax.evolve.evaluate import _evaluate_cpu

    before = _evaluate_cpu._cache_size()
    folder = tmp_path_factory.mktemp("evolve")
    result = evolve(small_evolve_config(), folder)
    return result, _evaluate_cpu._cache_size() - before


# -- genomes ------------------------------------------------------------------------------


def test_genome_maps_the_real_line_into_the_bounds_and_back():
    mm = get_family("market_maker")
    genome = make_genome(
        mm,
        {"half_spread": {"low": 0.5, "high": 8.0, "log": True}, "quote_size": {}},
        "genome.params",
    )
    x = np.array([[-50.0, -50.0], [0.0, 0.0], [50.0, 50.0]], np.float32)
    values = genome.values(x)
    assert values[0]["half_spread"] == pytest.approx(0.5, rel=1e-5)
    assert values[1]["half_spread"] == pytest.approx(2.0, rel=1e-5)  # log-space middle
    assert values[2]["half_spread"] == pytest.approx(8.0, rel=1e-5)
    lo, hi = mm.config_schema["quote_size"]  # the declared range when no bounds are given
    assert [v["quote_size"] for v in values] == [lo, round((lo + hi) / 2), hi]
    assert all(isinstance(v["quote_size"], int) for v in values)
    back = genome.values(genome.encode({"half_spread": 3.3, "quote_size": 17})[None])[0]
    assert back["half_spread"] == pytest.approx(3.3, rel=1e-5) and back["quote_size"] == 17
    draws = np.asarray(jax.vmap(genome.uniform)(jax.random.split(jax.random.key(0), 4000)))
    spread = np.array([v["half_spread"] for v in genome.values(draws)])
    # uniform draws of a log gene are log-uniform in the bounds
    assert stats.kstest(np.log(spread), stats.uniform(np.log(0.5), np.log(16)).cdf).pvalue > 0.01


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"half_spread": {"low": 0.1}}, r"half_spread.low: 0.1 is outside market_maker's range"),
        ({"nonsense": {}}, r"market_maker has no scalar parameter 'nonsense'"),
        ({"half_spread": {"low": 3.0, "high": 2.0}}, r"low 3.0 must be below high 2.0"),
        ({"spread_jitter": {"log": True}}, r"spread_jitter.log: log-scaled bounds need low > 0"),
        ({"half_spread": {"step": 1}}, r"half_spread.step: unknown key"),
    ],
)
def test_genome_bounds_are_checked_against_the_family_schema(params, message):
    with pytest.raises(ConfigError, match=message):
        make_genome(get_family("market_maker"), params, "genome.params")


# -- config errors, before anything compiles -----------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["search"].update(strategy="bogus"), r"search.strategy: 'bogus' is not one"),
        (lambda c: c.update(bogus=1), r"bogus: unknown key"),
        (lambda c: c["scenarios"]["holdout"].update(seed=0), r"scenarios.holdout.seed: 0 equals"),
        (
            lambda c: c["scenarios"].update(
                regimes={"families.noise.n_agents": {"randint": [10, 20]}}
            ),
            r"scenarios.regimes: regimes may vary values only, not shapes",
        ),
        (
            lambda c: c["scenarios"].update(regimes={"fundamentals.nope": {"uniform": [0, 1]}}),
            r"scenarios.regimes.fundamentals.nope: fundamentals.nope is not a key",
        ),
        (
            lambda c: c["scenarios"].update(
                regimes={"fundamentals.news_rate": {"uniform": [0.5, 2.0]}}
            ),
            r"fundamentals.news_rate: .* is out of range 0.0..1.0",
        ),
        (
            lambda c: c["genome"]["params"]["half_spread"].update(high=40.0),
            r"genome.params: with every gene at its high bound the market is invalid: .*levels",
        ),
        (lambda c: c["fitness"]["weights"].update(alpha=1.0), r"'alpha' is not an objective"),
        (lambda c: c["target"].update(family="nope"), r"target.family: 'nope' is neither"),
        (
            lambda c: c["genome"]["params"]["half_spread"].update(low=3.0),
            r"the evolved default 2.0 is outside the bounds 3..6",
        ),
    ],
)
def test_bad_evolve_configs_are_refused_naming_the_key(change, message):
    cfg = small_evolve_config()
    change(cfg)
    with pytest.raises(ConfigError, match=message):
        prepare(evolve_spec(cfg))


def test_latency_profiles_are_a_regime_of_the_scenarios():
    """``target.latency`` gives the candidates a profile; a ``choice`` regime over profile
    names draws one per scenario into SimParams (the shapes stay, so one compilation)."""
    import yaml

    from qtgjax.config.latency import PROFILE_DIR

    cfg = small_evolve_config()
    cfg["market_overrides"] = [*MARKET, "+latency={max_delay: 24}"]
    cfg["target"]["latency"] = "colocated"
    names = ["colocated", "cross_region", "retail"]
    cfg["scenarios"]["regimes"] = {"families.evolved.latency": {"choice": names}}
    cfg["scenarios"]["train"]["n"] = 12
    setup = prepare(evolve_spec(cfg))
    fam = [f.name for f in setup.built.static.families].index("evolved")
    drawn = setup.train.regimes["evolved_latency"].to_list()
    assert len(set(drawn)) >= 2
    delay = np.asarray(setup.train.params.latency.order_delay)[:, fam, 0]
    want = [yaml.safe_load((PROFILE_DIR / f"{n}.yaml").read_text())["order_delay"] for n in drawn]
    assert delay.tolist() == want
    noise = [f.name for f in setup.built.static.families].index("noise")
    assert (np.asarray(setup.train.params.latency.order_delay)[:, noise] == 0).all()
    assert "latency" not in yaml.safe_load(agent_file(setup, {}, "x"))


def test_a_latency_profile_without_room_in_the_ring_buffer_is_refused():
    cfg = small_evolve_config()
    cfg["target"]["latency"] = "retail"
    with pytest.raises(ConfigError, match=r"families.evolved.latency.order_delay: .*max_delay=0"):
        prepare(evolve_spec(cfg))


# -- fitness --------------------------------------------------------------------------------


def test_pooled_moments_equal_the_moments_of_the_concatenated_series():
    rng = np.random.default_rng(0)
    parts = [
        rng.standard_t(4, n) * s + m for n, s, m in ((50, 1.0, 0.2), (80, 2.0, -0.1), (30, 0.5, 1))
    ]
    per = np.array(
        [[len(p), p.mean(), *(((p - p.mean()) ** k).mean() for k in (2, 3, 4))] for p in parts]
    )
    pooled = sharpe_stats(pooled_moments(per))
    whole = np.concatenate(parts)
    assert pooled["n"] == len(whole)
    assert pooled["sharpe"] == pytest.approx(whole.mean() / whole.std(ddof=1), rel=1e-10)
    assert pooled["skew"] == pytest.approx(stats.skew(whole), rel=1e-10)
    assert pooled["kurtosis"] == pytest.approx(stats.kurtosis(whole, fisher=False), rel=1e-10)


def test_objectives_aggregate_scenarios_and_the_worst_decile():
    rng = np.random.default_rng(1)
    p, s = 3, 20
    rows = {
        k: rng.normal(size=p * s)
        for k in ("pnl", "sharpe", "sortino", "max_drawdown", "cvar", "turnover", "fees")
    }
    out = objectives(rows, p, s, tick_size=0.01, robust_quantile=0.1)
    grid = rows["sharpe"].reshape(p, s)
    np.testing.assert_allclose(out["sharpe"], grid.mean(1))
    np.testing.assert_allclose(out["robust_sharpe"], np.sort(grid, 1)[:, :2].mean(1))
    np.testing.assert_allclose(out["pnl"], rows["pnl"].reshape(p, s).mean(1) * 0.01)


def test_pareto_front_is_the_set_of_non_dominated_points():
    rng = np.random.default_rng(2)
    vals = {"sharpe": rng.normal(size=300), "turnover": rng.random(300)}
    front = pareto_front(vals, ["sharpe", "turnover"])  # sharpe up, turnover down
    brute = [
        not any(
            vals["sharpe"][j] >= vals["sharpe"][i]
            and vals["turnover"][j] <= vals["turnover"][i]
            and (vals["sharpe"][j] > vals["sharpe"][i] or vals["turnover"][j] < vals["turnover"][i])
            for j in range(300)
        )
        for i in range(300)
    ]
    np.testing.assert_array_equal(front, brute)


# -- the search -----------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["cma_es", "open_es", "simple_ga", "differential_evolution"])
def test_every_strategy_climbs_a_known_fitness(strategy):
    genome = make_genome(
        get_family("market_maker"),
        {"half_spread": {"low": 0.5, "high": 10.0}, "inventory_skew": {"low": 0.0, "high": 1.0}},
        "genome.params",
    )
    target = np.array([7.0, 0.25])

    def fitness(x):
        v = genome.values(x)
        return -np.array(
            [(r["half_spread"] - 7.0) ** 2 + 20 * (r["inventory_skew"] - 0.25) ** 2 for r in v]
        )

    spec = SearchSpec(strategy, 16, 25, 0, "center", 1.0, 0.3)
    searcher = Searcher(spec, genome, np.zeros(2, np.float32))
    first = best = None
    for g in range(spec.generations):
        x = searcher.ask()
        f = fitness(x)
        searcher.tell(x, f)
        first = f.max() if g == 0 else first
        best = f.max() if best is None else max(best, f.max())
    assert best > first and best > -0.05, (strategy, first, best)
    top = genome.values(x[np.argmax(f)][None])[0]
    assert abs(top["half_spread"] - target[0]) < 1.0


# -- a small run end to end -------------------------------------------------------------------


def test_a_run_writes_its_tables_with_one_compilation(evolved):
    result, compiles = evolved
    assert compiles == 1  # generations, held-out judgement and the default share one call
    folder = result.folder
    gens = pl.read_parquet(folder / "generations.parquet")
    assert gens.height == 3 and gens["evaluated"].to_list() == [6, 12, 18]
    assert {"best_fitness", "mean_fitness", "wall_s", "sharpe_q10", "turnover_best"} <= set(
        gens.columns
    )
    cands = pl.read_parquet(folder / "candidates.parquet")
    assert cands.height == 18 and cands["fitness"].max() == pytest.approx(gens["best_so_far"][-1])
    front = pl.read_parquet(folder / "pareto.parquet")
    assert 1 <= front.height <= 18
    board = pl.read_parquet(folder / "leaderboard.parquet")
    assert board["label"].to_list() == ["evolved_0", "evolved_1", "evolved_2", "default"]
    assert board["is_fitness"][:3].is_sorted(descending=True)
    for col in ("oos_sharpe_lo", "oos_sharpe_vs_default_hi", "dsr", "psr_oos", "pbo"):
        assert board[col].dtype == pl.Float64
    assert ((board["dsr"] >= 0) & (board["dsr"] <= 1)).all()
    default = board.filter(pl.col("label") == "default")
    assert default["oos_sharpe_vs_default"][0] == 0.0
    evals = pl.read_parquet(folder / "evaluations.parquet")
    assert evals.filter(pl.col("set") == "train").height == 18 * 3
    assert evals.filter(pl.col("set") == "holdout").height == 4 * 4
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_trials"] == 18 and 0 <= summary["pbo"] <= 1
    assert (folder / "report" / "index.html").read_text().count("<img") == 3
    for name in ("best", "default", "evolved_0", "evolved_2"):
        assert (folder / "agents" / f"{name}.yaml").is_file()


def test_the_held_out_judgement_is_paired_with_the_default(evolved):
    result, _ = evolved
    evals = pl.read_parquet(result.folder / "evaluations.parquet").filter(
        pl.col("set") == "holdout"
    )
    board = result.leaderboard
    best = evals.filter(pl.col("candidate") == board["candidate"][0])["sharpe"].to_numpy()
    default = evals.filter(pl.col("candidate").is_null())["sharpe"].to_numpy()
    diff = best - default
    half = stats.t.ppf(0.975, 3) * diff.std(ddof=1) / 2
    assert board["oos_sharpe_vs_default"][0] == pytest.approx(diff.mean())
    assert board["oos_sharpe_vs_default_lo"][0] == pytest.approx(diff.mean() - half)


def test_agent_files_reproduce_the_evaluation_in_qtgjax_run(evolved, tmp_path):
    """The best candidate's file in qtgjax-run (same market, seed and scenarios) earns
    exactly the P&L the search measured: the evaluation is the market, not a model of it."""
    result, _ = evolved
    folder = result.folder
    board = result.leaderboard
    out = tmp_path / "run"
    cmd = [
        str(BIN / "qtgjax-run"),
        *MARKET,
        "scenarios=3",
        "seed=0",
        f"+agents@families.evolved={folder / 'agents' / 'best.yaml'}",
        f"out={out}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    agents = pl.read_parquet(out / "agents.parquet").filter(pl.col("family") == "evolved")
    assert agents["n_agents"].to_list() == [4, 4, 4]
    run_pnl = agents.sort("scenario")["pnl"].to_numpy() * 0.01 / 4  # currency per agent
    evals = pl.read_parquet(folder / "evaluations.parquet").filter(
        (pl.col("set") == "train") & (pl.col("candidate") == board["candidate"][0])
    )
    np.testing.assert_allclose(evals.sort("scenario")["pnl"].to_numpy(), run_pnl, rtol=0, atol=1e-9)


def test_a_dask_cluster_gives_the_same_rows(evolved):
    result, _ = evolved
    spec = dataclasses.replace(
        result.setup.spec, cluster={"kind": "local", "processes": False, "n_workers": 1}
    )
    setup = dataclasses.replace(result.setup, spec=spec)
    x = result.log.x[:2]
    with Evaluator(setup) as on_dask:
        (dask_rows,) = on_dask((x, setup.train))
    with Evaluator(result.setup) as here:
        (local_rows,) = here((x, setup.train))
    for k in ("pnl", "sharpe", "blocks"):
        np.testing.assert_array_equal(dask_rows[k], local_rows[k])


# -- policy genomes: the weights of a linear policy or an MLP ----------------------------


def test_policy_family_outputs_its_linear_and_mlp_layouts():
    from qtgjax.agents.families.policy import N_INPUTS, hidden_units, n_weights, policy_output

    rng = np.random.default_rng(0)
    f = rng.normal(size=(5, N_INPUTS)).astype(np.float32)
    w = rng.normal(size=n_weights(0)).astype(np.float32)
    np.testing.assert_allclose(policy_output(w, f), f @ w[:-1] + w[-1], rtol=1e-5)
    h = 3
    w = rng.normal(size=n_weights(h)).astype(np.float32)
    assert hidden_units(len(w)) == h
    w1 = w[: N_INPUTS * h].reshape(N_INPUTS, h)
    b1, w2 = w[N_INPUTS * h : N_INPUTS * h + h], w[N_INPUTS * h + h : N_INPUTS * h + 2 * h]
    np.testing.assert_allclose(policy_output(w, f), np.tanh(f @ w1 + b1) @ w2 + w[-1], rtol=1e-5)
    with pytest.raises(ValueError, match="fit no policy"):
        hidden_units(25)


def test_policy_weights_come_from_the_config_and_form_a_genome():
    from qtgjax.api import load_config
    from qtgjax.config.build import build

    cfg = load_config([*MARKET, "+agents@families.pol=policy", "families.pol.params.hidden=2"])
    built = build(cfg)
    params = built.params.strategies[[f.name for f in built.static.families].index("pol")]
    assert params.weights.shape == (2 * 19 + 1,) and float(np.abs(params.weights).sum()) == 0
    genome = make_genome(
        get_family("policy"),
        {"weights": {"scale": 0.5}, "size": {"high": 20}},
        "genome.params",
        params,
    )
    assert genome.dim == 39 + 1
    x = np.concatenate([np.arange(39, dtype=np.float32), [0.0]])
    decoded = genome.decode(x, params)
    np.testing.assert_allclose(decoded.weights, 0.5 * np.arange(39))
    assert decoded.size.dtype == np.int32
    assert genome.values(x[None])[0]["weights"][4] == 2.0
    cfg["families"]["pol"]["params"]["weights"] = [0.0] * 25
    with pytest.raises(ConfigError, match=r"families.pol.params.weights: 25 weights fit no policy"):
        build(cfg)


def test_the_apps_refuse_bad_settings_before_compiling(tmp_path):
    bad = subprocess.run(
        [str(BIN / "qtgjax-evolve"), "search.strategy=bogus", f"out={tmp_path / 'e'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2, bad.stderr
    assert "qtgjax-evolve: bad config: search.strategy: 'bogus' is not one of" in bad.stderr
    bad = subprocess.run(
        [str(BIN / "qtgjax-league"), "learners=1", f"out={tmp_path / 'l'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2, bad.stderr
    assert "qtgjax-league: bad config: league.learners: 1 must be at least 2" in bad.stderr
