"""The RL league: independent PPO learners in one market, TrueSkill and Elo ratings, the
league table over rounds (checked against the trueskill library and a plain Elo)."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
import trueskill

from qtgjax.config.build import ConfigError
from qtgjax.evolve.league import Ratings, check_spec, league_spec, lineups, run_league

TINY = {
    "task": "market_making",
    "learners": 2,
    "rounds": 2,
    "updates_per_round": 1,
    "matches": 3,
    "env": {
        "horizon": 5,
        "warmup": 5,
        "market": [
            "~agents@families.momentum",
            "~agents@families.fundamental",
            "~agents@families.market_maker",
            "families.noise.n_agents=40",
            "families.avellaneda_stoikov.n_agents=4",
        ],
    },
    "ppo": {"num_envs": 2, "num_steps": 5, "num_minibatches": 1, "update_epochs": 1, "hidden": [8]},
}


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    folder = tmp_path_factory.mktemp("league")
    return run_league(league_spec(TINY), folder), folder


def test_league_table_rates_every_member_every_round(league):
    result, folder = league
    table = pl.read_parquet(folder / "league.parquet")
    assert table.equals(result.table)
    # round 0: the 2 learners; round 1: their snapshots and the 2 new ones
    assert table.group_by("round").len().sort("round")["len"].to_list() == [2, 4]
    last = table.filter(pl.col("round") == 1)
    assert sorted(last["rank"].to_list()) == [1, 2, 3, 4]
    assert last.filter(pl.col("current"))["member"].to_list() == ["r1.l0", "r1.l1"]
    assert last.filter(~pl.col("current"))["env_steps"].to_list() == [10, 10]
    assert last.filter(pl.col("current"))["env_steps"].to_list() == [20, 20]
    # Elo is zero-sum: the pool's total stays 1500 per member
    assert last["elo"].sum() == pytest.approx(1500 * 4)
    matches = pl.read_parquet(folder / "matches.parquet")
    assert matches.height == 2 * 3 * 2  # rounds x matches x seats
    assert set(matches.filter(pl.col("round") == 1)["member"]) >= {"r1.l0", "r1.l1"}


def test_league_ratings_follow_trueskill_and_elo_from_the_matches(league):
    """Replay matches.parquet through the trueskill library and a plain Elo."""
    result, _ = league
    env = trueskill.TrueSkill(draw_probability=0.0)
    skill, elo = {}, {}
    for r in range(2):
        for lrn in range(2):
            skill[f"r{r}.l{lrn}"], elo[f"r{r}.l{lrn}"] = env.create_rating(), 1500.0
        for m in range(3):
            rows = result.matches.filter((pl.col("round") == r) & (pl.col("match") == m)).sort(
                "seat"
            )
            names, ret = rows["member"].to_list(), rows["episode_return"].to_numpy()
            ranks = [int(np.sum(ret > x)) for x in ret]
            for name, (new,) in zip(
                names, env.rate([(skill[n],) for n in names], ranks=ranks), strict=True
            ):
                skill[name] = new
            before = dict(elo)
            for i, j in itertools.combinations(range(len(names)), 2):
                e = 1 / (1 + 10 ** ((before[names[j]] - before[names[i]]) / 400))
                s = 1.0 if ret[i] > ret[j] else 0.5 if ret[i] == ret[j] else 0.0
                elo[names[i]] += 16 * (s - e)
                elo[names[j]] -= 16 * (s - e)
    last = result.table.filter(pl.col("round") == 1)
    for row in last.iter_rows(named=True):
        assert row["trueskill_mu"] == pytest.approx(skill[row["member"]].mu)
        assert row["trueskill_sigma"] == pytest.approx(skill[row["member"]].sigma)
        assert row["elo"] == pytest.approx(elo[row["member"]])


def test_a_member_that_always_wins_rises_to_the_top():
    ratings = Ratings(16.0)
    for m in ("a", "b", "c"):
        ratings.add(m)
    rng = np.random.default_rng(0)
    for _ in range(30):
        seated = list(rng.permutation(["a", "b", "c"]))
        returns = np.array([10.0 if s == "a" else rng.normal() for s in seated])
        ratings.match(seated, returns)
    assert max(ratings.skill, key=lambda m: ratings.skill[m].mu) == "a"
    assert max(ratings.elo, key=ratings.elo.get) == "a"


def test_lineups_seat_the_current_learners_and_past_snapshots():
    rng = np.random.default_rng(0)
    seats = lineups(["r0.l0", "r0.l1", "r1.l0", "r1.l1"], ["r1.l0", "r1.l1"], 6, rng)
    assert seats[0] == ["r1.l0", "r1.l1"] and seats[3] == ["r1.l0", "r1.l1"]
    assert all(
        sum(s.startswith("r0") for s in lineup) == 1 for i, lineup in enumerate(seats) if i % 3
    )
    assert lineups(["r0.l0", "r0.l1"], ["r0.l0", "r0.l1"], 3, rng) == [["r0.l0", "r0.l1"]] * 3


def test_bad_league_settings_are_refused():
    with pytest.raises(ConfigError, match="league.learners: 1 must be at least 2"):
        check_spec(league_spec({**TINY, "learners": 1}))
    with pytest.raises(ConfigError, match="league.env.n_learners: set league.learners"):
        check_spec(league_spec({**TINY, "env": {"n_learners": 3}}))
    with pytest.raises(ConfigError, match="league.ppo"):
        league_spec({**TINY, "ppo": {"epochs": 3}})
