"""Honest P&L: agents.parquet splits pnl exactly into trading, holding, dividends, fees and
borrow, over seeds; each part checked against the tick records it comes from."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.io.tables import agents_table, all_tables, family_wealth
from qtgjax.market import money
from qtgjax.sim.rollout import rollout

N_TICKS = 60
# Momentum starts flat so that it goes short (borrow costs), dividends every 20 ticks.
OVERRIDES = ["families.momentum.position=0", "costs.borrow_bps=50.0"]


@pytest.fixture(scope="module")
def market():
    from conftest import SMALL
    from qtgjax import load_config

    built = build(load_config([*SMALL, *OVERRIDES]))
    params = scenario_params(built.params, 2)
    return built, params


def _run(market, seed):
    built, params = market
    return rollout(built.static, params, scenario_keys(seed, 2), N_TICKS)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_pnl_parts_sum_exactly_to_pnl(market, seed):
    built, _ = market
    out = _run(market, seed)
    df = agents_table(built.static, out, 0.01)
    total = df["pnl_trading"] + df["pnl_holding"] + df["dividends"] - df["fees"] - df["borrow"]
    assert (total == df["pnl"]).all()
    # external cash is exactly dividends - fees - borrow, family by family
    assert (df["external_cash"] == df["dividends"] - df["fees"] - df["borrow"]).all()


def test_parts_are_what_they_say(market):
    built, _ = market
    out = _run(market, 3)
    static = built.static
    df = agents_table(static, out, 0.01)
    names = [f.name for f in static.families]
    assert df["dividends"].abs().sum() > 0 and df["borrow"].sum() > 0 and df["fees"].abs().sum() > 0
    # the fee account collects what the others pay: fees sum to zero over the market
    assert (df.group_by("scenario").agg(pl.col("fees").sum())["fees"] == 0).all()
    house = df.filter(df["kind"] == "fee_account")
    assert (house["pnl_trading"] == 0).all() and (house["pnl_holding"] == 0).all()
    # trading is zero-sum: the families' trading P&L (marked at one price) sums to zero
    assert (df.group_by("scenario").agg(pl.col("pnl_trading").sum())["pnl_trading"] == 0).all()
    # holding P&L: the starting endowment revalued, from the ticks' own close
    close = np.asarray(out.records.close, np.int64)[:, -1]  # (B, S)
    price0 = np.asarray(out.initial.market.last_price, np.int64)
    for f, a in enumerate(out.initial.accounts):
        endow = np.asarray(a.position, np.int64).sum(1)  # (B, S)
        expect = (endow * (close - price0)).sum(-1)
        got = df.filter(df["family"] == names[f]).sort("scenario")["pnl_holding"].to_numpy()
        assert np.array_equal(got, expect)
    # pnl is the wealth change the per-tick records give
    wealth = family_wealth(out)
    assert np.array_equal(
        df.sort("scenario")["pnl"].to_numpy(), (wealth[:, -1] - wealth[:, 0]).ravel()
    )
    # dividends are paid on paydays only
    paid = money.to_int64(out.records.dividends)  # (B, T, F)
    payday = (np.arange(N_TICKS) + 1) % 20 == 0
    assert np.all(paid[:, ~payday] == 0) and np.any(paid[:, payday] != 0)


def test_agent_pnl_table_adds_up_to_the_agents_table(market):
    built, _ = market
    out = _run(market, 11)
    static = built.static.replace(agent_pnl=True)
    tables = all_tables(static, out, 0.01)
    per_agent = tables["agent_pnl"]
    n = sum(f.n_agents for f in static.families)
    assert per_agent.height == 2 * n
    parts = per_agent["pnl_trading"] + per_agent["pnl_holding"] + per_agent["external_cash"]
    assert (parts == per_agent["pnl"]).all()
    sums = per_agent.group_by("scenario", "family").agg(
        pl.col("pnl", "pnl_trading", "pnl_holding", "external_cash").sum()
    )
    joined = tables["agents"].join(sums, on=["scenario", "family"])
    for col in ("pnl", "pnl_trading", "pnl_holding", "external_cash"):
        assert (joined[col] == joined[f"{col}_right"]).all(), col
    # the per-family quantiles in agents.parquet are the agents' own
    noise = per_agent.filter((pl.col("family") == "noise") & (pl.col("scenario") == 0))
    row = tables["agents"].filter((pl.col("family") == "noise") & (pl.col("scenario") == 0))
    median = np.percentile(noise["pnl_trading_currency"].to_numpy(), 50)
    assert np.isclose(row["pnl_trading_p50"].item(), median)
