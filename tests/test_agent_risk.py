"""Per-agent risk of trading P&L (``record.agent_risk=true``): each agent's Sharpe, Sortino
and max drawdown against empyrical on its trading account recomputed tick by tick from the
engine's accounts (exact int64), the per-family summaries against NumPy, the league table,
and nothing else changed by turning it on."""

from __future__ import annotations

import warnings

import empyrical
import jax
import numpy as np
import polars as pl
import pytest

from qtgjax.analysis import league_table
from qtgjax.config.build import ConfigError, build, scenario_keys, scenario_params
from qtgjax.io.summary import family_summary
from qtgjax.io.tables import TICKS_PER_YEAR, all_tables
from qtgjax.market import money
from qtgjax.sim.rollout import init_state, rollout
from qtgjax.sim.tick import step

N_TICKS, B, SEED, TICK = 60, 2, 7, 0.01


@pytest.fixture(scope="module")
def market(small_config):
    built = build({**small_config, "record": {"agent_risk": True, "agent_pnl": True}})
    params = scenario_params(built.params, B)
    keys = scenario_keys(SEED, B)
    out = rollout(built.static, params, keys, N_TICKS)
    return built, params, keys, out, all_tables(built.static, out, TICK)


def account_paths(static, params, keys):
    """Per family int64[B, T + 1, N]: each agent's trading account W_t, from the accounts
    after every tick (a plain scan of ``step`` with the rollout's keys)."""

    def one(p, key):
        k_init, k_run = jax.random.split(key)
        s0 = init_state(static, p, k_init)

        def tick(s, k):
            s, record = step(static, p, s, k)
            return s, ([(a.cash, a.external, a.position) for a in s.accounts], record.close)

        _, path = jax.lax.scan(tick, s0, jax.random.split(k_run, N_TICKS))
        return s0, path

    s0, (accounts, close) = jax.jit(jax.vmap(one))(params, keys)
    close = np.asarray(close, np.int64)  # (B, T, S)
    p0 = np.asarray(s0.market.last_price, np.int64)  # (B, S)
    paths = []
    for a0, (cash, ext, pos) in zip(s0.accounts, accounts, strict=True):
        pos0 = np.asarray(a0.position, np.int64)  # (B, N, S)
        net0 = money.to_int64(a0.cash) - money.to_int64(a0.external)
        w0 = money.to_int64(a0.cash) + (pos0 * p0[:, None]).sum(-1)  # (B, N)
        net = money.to_int64(cash) - money.to_int64(ext)  # (B, T, N)
        marked = ((np.asarray(pos, np.int64) - pos0[:, None]) * close[:, :, None]).sum(-1)
        w = w0[:, None] + net - net0[:, None] + marked
        paths.append(np.concatenate([w0[:, None], w], axis=1))
    return paths


def reference(wealth):
    """empyrical's Sharpe, Sortino and max drawdown of one account path int64[T + 1]."""
    if (wealth <= 0).any():
        return np.nan, np.nan, np.nan
    r = wealth[1:] / wealth[:-1] - 1.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sharpe = empyrical.sharpe_ratio(r, annualization=TICKS_PER_YEAR)
        sortino = empyrical.sortino_ratio(r, annualization=TICKS_PER_YEAR)
    if np.all(r == r[0]):
        sharpe = np.nan  # no variation: undefined (empyrical gives nan or inf)
    return sharpe, sortino, empyrical.max_drawdown(r)


def test_per_agent_ratios_match_empyrical(market):
    built, params, keys, out, tables = market
    per_agent = tables["agent_pnl"]
    paths = account_paths(built.static, params, keys)
    checked = 0
    for spec, wealth in zip(built.static.families, paths, strict=True):
        rows = per_agent.filter(pl.col("family") == spec.name).sort("scenario", "agent")
        assert rows.height == B * spec.n_agents
        # the account's end is the agent's trading P&L (agents.parquet's split)
        assert np.array_equal(
            wealth[:, -1] - wealth[:, 0], rows["pnl_trading"].to_numpy().reshape(B, -1)
        )
        want = np.array([[reference(w) for w in wealth[b].T] for b in range(B)])  # (B, N, 3)
        for i, name in enumerate(("sharpe_trading", "sortino_trading", "max_drawdown_trading")):
            got = rows[name].to_numpy().reshape(B, -1)
            expect = want[..., i]
            assert np.array_equal(np.isnan(got), np.isnan(expect)), (spec.name, name)
            assert np.array_equal(np.isinf(got), np.isinf(expect)), (spec.name, name)
            finite = np.isfinite(expect)
            np.testing.assert_allclose(got[finite], expect[finite], rtol=2e-3, atol=1e-6)
            checked += int(finite.sum())
    assert checked > 3 * 60  # most trading agents have all three ratios


def test_family_summaries_are_the_agents_statistics(market):
    built, _, _, _, tables = market
    agents, per_agent = tables["agents"], tables["agent_pnl"]
    for m in ("sharpe", "sortino", "max_drawdown"):
        for row in agents.iter_rows(named=True):
            x = per_agent.filter(
                (pl.col("scenario") == row["scenario"]) & (pl.col("family") == row["family"])
            )[f"{m}_trading"].to_numpy()
            x = x[np.isfinite(x)]
            if not x.size:
                assert np.isnan(row[f"{m}_trading_mean"])
                continue
            assert row[f"{m}_trading_mean"] == pytest.approx(x.mean())
            for q in (10, 50, 90):
                assert row[f"{m}_trading_p{q}"] == pytest.approx(np.percentile(x, q))
    noise = agents.filter(pl.col("family") == "noise")
    assert noise["sharpe_trading_p10"].to_numpy().max() < noise["sharpe_trading_p90"].min()
    pool = agents.filter(pl.col("kind") == "fee_account")
    assert pool["sharpe_trading_mean"].is_nan().all()  # no capital: no returns


def test_league_table_shows_the_per_agent_ratios(market):
    agents = market[4]["agents"]
    league = league_table(agents)
    assert "sharpe" not in league.columns  # the pooled-wealth ratio is not the risk shown
    for m in ("sharpe", "sortino", "max_drawdown"):
        for s in ("mean", "p10", "p50", "p90"):
            col = f"{m}_trading_{s}"
            want = agents.group_by("family").agg(pl.col(col).fill_nan(None).mean())
            got = league.join(want, on="family")
            assert np.allclose(got[col], got[f"{col}_right"], equal_nan=True)
    printed = family_summary(agents, TICK)
    assert "sharpe_trading_p50" in printed.columns and "sharpe" not in printed.columns


def test_agent_risk_changes_no_other_table(market, small_config):
    built = build({**small_config, "record": {"agent_pnl": True}})
    params = scenario_params(built.params, B)
    out = rollout(built.static, params, scenario_keys(SEED, B), N_TICKS)
    assert out.risk is None
    without = all_tables(built.static, out, TICK)
    with_risk = market[4]
    assert set(with_risk) == set(without)
    for name, table in without.items():
        assert with_risk[name].select(table.columns).equals(table), name


def test_bad_agent_risk_setting_names_the_key(small_config):
    with pytest.raises(ConfigError, match=r"record\.agent_risk: expected true or false"):
        build({**small_config, "record": {"agent_risk": "yes"}})
