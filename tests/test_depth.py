"""Per-level depth records (``record.depth``): the top levels of the residual book against a
brute-force reference, the record interval, records off compiled out, bad config, and
``family_pnl``. The depth that ``qtgjax-run record.depth=K`` writes is checked against the
run's own quotes and depth, and against the same run without it, in tests/test_views.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtgjax.config.build import ConfigError, build
from qtgjax.market.auction import LevelTotals
from qtgjax.sim.depth import DepthSpec, scan_with_depth, top_levels
from qtgjax.sim.rollout import run_scenario

K, S, L = 16, 3, 5


def reference_levels(lots: list[int], best_high: bool, levels: int) -> list[tuple[int, int]]:
    """(grid level, lots) of the ``levels`` best non-empty levels, by plain Python."""
    filled = [(i, q) for i, q in enumerate(lots) if q > 0]
    filled.sort(key=lambda x: -x[0] if best_high else x[0])
    return filled[:levels]


_top = jax.jit(lambda buy, sell, anchor: top_levels(LevelTotals(buy, sell), anchor, K, L))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=2 * K * S, max_size=2 * K * S),
    st.lists(st.integers(0, 50), min_size=2 * K * S, max_size=2 * K * S),
    st.integers(K // 2 + 1, 200),
)
def test_top_levels_match_a_brute_force_reference(mask, size, anchor):
    lots = (np.array(mask) > 0) * np.array(size)  # many empty levels
    buy, sell = lots[: K * S].reshape(S, K), lots[K * S :].reshape(S, K)
    anchors = np.full(S, anchor, np.int32)
    got = _top(jnp.asarray(buy, jnp.int32), jnp.asarray(sell, jnp.int32), anchors)
    price, got_lots = np.asarray(got.price), np.asarray(got.lots)
    base = anchor - K // 2
    for s in range(S):
        for side, book, best_high in ((0, buy[s], True), (1, sell[s], False)):
            want = reference_levels(book.tolist(), best_high, L)
            n = len(want)
            assert got_lots[s, side, :n].tolist() == [q for _, q in want]
            assert price[s, side, :n].tolist() == [base + i for i, _ in want]
            assert not got_lots[s, side, n:].any() and not price[s, side, n:].any()


def test_record_interval_keeps_every_nth_tick_of_the_per_tick_record():
    """``depth_every=N`` holds exactly the per-tick records of ticks 0, N, 2N, ... (a cheap
    synthetic tick stands in for the engine's)."""

    def step_book(state, key):
        book = jax.random.randint(key, (2, 2, K), 0, 3) * jax.random.randint(key, (2, 2, K), 0, 9)
        return state + 1, state, (LevelTotals(book[0], book[1]), jnp.array([40, 50]))

    keys = jax.random.split(jax.random.key(0), 23)
    run = jax.jit(scan_with_depth, static_argnums=(0, 3, 4))
    _, ticks1, every1 = run(step_book, jnp.int32(0), keys, DepthSpec(L, 1), K)
    _, ticks7, every7 = run(step_book, jnp.int32(0), keys, DepthSpec(L, 7), K)
    assert np.array_equal(ticks1, ticks7) and ticks1.tolist() == list(range(23))
    assert DepthSpec(L, 7).ticks(23).tolist() == [0, 7, 14, 21]
    assert every7.lots.shape[0] == 4
    for got, want in ((every7.lots, every1.lots), (every7.price, every1.price)):
        assert np.array_equal(np.asarray(got), np.asarray(want)[::7])


def test_records_off_are_compiled_out(small_config):
    """Off, the rollout's trace has no depth computation at all (and on, it has)."""
    built = build(small_config)
    key = jax.random.key(0)

    def trace(static):
        return str(jax.make_jaxpr(lambda p: run_scenario(static, p, key, 3))(built.params))

    off = trace(built.static)
    on = trace(built.static.replace(depth=DepthSpec(levels=4, every=1)))
    assert "top_k" not in off and "top_k" in on
    assert len(off) < len(on)


@pytest.mark.parametrize(
    "record, message",
    [
        ({"depth": -1}, "record.depth: -1 is out of range 0..32"),
        ({"depth": 33}, "record.depth: 33 is out of range 0..32"),
        ({"depth": 4, "depth_every": 0}, "record.depth_every: 0 is out of range 1..60"),
        ({"depth": 2.5}, "record.depth: expected an integer"),
        ({"depths": 4}, "record.depths: unknown key"),
    ],
)
def test_bad_record_settings_name_the_key(small_config, record, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        build({**small_config, "record": record})


def test_family_pnl_ends_at_the_agents_pnl(small_result):
    tables = small_result.tables()
    pnl = tables["family_pnl"]
    assert pnl.height == 3 * 60 * len(small_result.built.static.families)
    last = pnl.filter(pl.col("tick") == 59).join(tables["agents"], on=["scenario", "family"])
    assert (last["pnl"] == last["pnl_right"]).all()
    assert np.allclose(last["pnl_per_agent"], last["pnl_per_agent_right"])


def test_depth_per_venue_is_each_venues_book():
    """Three venues (``--config-name venues``), every level recorded: per (venue, symbol)
    the levels add up to ticks.parquet's depth of that venue and start at its quotes; at
    the last tick they are the resting orders of every family's slots on that venue."""
    from qtgjax import load_config, simulate

    overrides = ["scenarios=1", "ticks=25", "families.noise.n_agents=120"]
    overrides += ["families.fundamental.n_agents=20", "families.momentum.n_agents=20"]
    cfg = load_config(overrides, config_name="venues")
    cfg["record"]["depth"] = cfg["market"]["levels"]  # every level of the grid
    res = simulate(cfg)
    static, tick = res.built.static, res.built.run.tick_size
    tables = res.tables()
    depth, ticks = tables["depth"], tables["ticks"]
    assert static.n_venues == 3 and sorted(depth["venue"].unique()) == [0, 1, 2]
    keys = ["scenario", "venue", "symbol", "tick"]
    for side in ("bid", "ask"):
        rows = depth.filter(pl.col("side") == side)
        per = rows.group_by(keys).agg(pl.col("lots").sum(), pl.col("price").first().alias("top"))
        best = rows.filter(pl.col("level") == 1).select(*keys, pl.col("price").alias("best"))
        joined = ticks.join(per, on=keys, how="left").join(best, on=keys, how="left")
        assert (joined["lots"].fill_null(0) == joined[f"{side}_depth"]).all()
        has = joined.filter(pl.col(f"{side}_depth") > 0)
        assert has.height > 0
        assert ((has["best"] / tick).round() == (has[f"best_{side}"] / tick).round()).all()
    # the last tick's book, rebuilt from the accounts' resting orders [N, S, V * O]; a buy
    # above the grid rests at its top level, a sell below it at its bottom level
    last = depth.filter(pl.col("tick") == cfg["ticks"] - 1)
    base = np.asarray(res.out.final.market.venues.anchor)[0] - static.n_levels // 2  # [V, S]
    want = {}
    for a in res.out.final.accounts:
        o = jax.tree.map(lambda x: np.asarray(x)[0], a.orders)
        n_slots = o.qty.shape[-1] // static.n_venues
        for i, sym, slot in zip(*np.nonzero(o.qty > 0), strict=True):
            v = int(slot // n_slots)
            low = base[v, sym]
            price = int(np.clip(o.price[i, sym, slot], low, low + static.n_levels - 1))
            key = (v, int(sym), "bid" if o.is_buy[i, sym, slot] else "ask", price)
            want[key] = want.get(key, 0) + int(o.qty[i, sym, slot])
    got = {
        (r["venue"], r["symbol"], r["side"], round(r["price"] / tick)): r["lots"]
        for r in last.iter_rows(named=True)
    }
    assert len(got) > 50 and got == want
