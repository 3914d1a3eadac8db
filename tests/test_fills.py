"""Execution reports (fills.parquet): they add up exactly to agents.parquet's volumes, fees
and cash flows; filters select exactly their rows; bad settings are refused; off, they are
compiled out."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from qtgjax import load_config, simulate
from qtgjax.config.build import ConfigError, build, scenario_keys, scenario_params
from qtgjax.io.tables import agent_pnl, all_tables
from qtgjax.sim.rollout import rollout, run_scenario

N_TICKS, B, SEED = 60, 2, 5
TICK = 0.01


class Run(NamedTuple):
    config: dict
    built: object
    out: object
    tables: dict


def _run(config, record):
    built = build({**config, "record": record})
    params = scenario_params(built.params, B)
    out = rollout(built.static, params, scenario_keys(SEED, B), N_TICKS)
    return built, out, all_tables(built.static, out, TICK)


@pytest.fixture(scope="module")
def full(small_config):
    # a tight position limit on the noise traders: some of their orders are rejected
    config = {**small_config, "families": {**small_config["families"]}}
    config["families"]["noise"] = {
        **config["families"]["noise"],
        "max_position": 101,
        "position_spread": 0,
        # a short time in force: unfilled orders expire (the reason "expired")
        "params": {**config["families"]["noise"]["params"], "ttl": 3},
    }
    built, out, tables = _run(config, {"fills": True})
    return Run(config, built, out, tables)


def test_fills_add_up_to_the_agents_table(full):
    assert_fills_add_up(full.built, full.out, full.tables, TICK)


def assert_fills_add_up(built, out, tables, tick):
    """Per family the filled rows' lots, count and fees are agents.parquet's volume,
    trades and fees; agent by agent their cash is the agent's cash change net of external
    cash (what its fills paid and received)."""
    fills, agents = tables["fills"], tables["agents"]
    filled = fills.filter(pl.col("status") == "filled")
    assert filled.height > 100 and set(filled["liquidity"]) == {"maker", "taker"}
    ticks = (filled["price"] / tick).round().cast(pl.Int64)
    signed = pl.when(pl.col("side") == "buy").then(pl.col("lots")).otherwise(-pl.col("lots"))
    filled = filled.with_columns(cash=-signed * ticks)
    per_family = filled.group_by("scenario", "family").agg(
        pl.col("lots").sum().alias("volume"),
        pl.len().alias("trades"),
        pl.col("fee").sum(),
        pl.col("cash").sum(),
    )
    joined = agents.join(per_family, on=["scenario", "family"], how="left").fill_null(0)
    assert (joined["volume"] == joined["volume_right"]).all()
    assert (joined["trades"] == joined["trades_right"]).all()
    trading = joined.filter(pl.col("kind") != "fee_account")
    assert (trading["fees"] == trading["fee"]).all()
    # cash of the fills, agent by agent: cash change minus external cash
    per_agent = filled.group_by("scenario", "family", "agent").agg(pl.col("cash").sum())
    for f, spec in enumerate(built.static.families):
        want = agent_pnl(out.initial.accounts[f], out.final.accounts[f], out)
        fill_cash = want["pnl_trading"] - (
            (
                np.asarray(out.final.accounts[f].position, np.int64)
                - np.asarray(out.initial.accounts[f].position)
            )
            * np.asarray(out.records.close, np.int64)[:, -1, None, :]
        ).sum(-1)
        got = np.zeros_like(fill_cash)
        rows = per_agent.filter(pl.col("family") == spec.name)
        got[rows["scenario"].to_numpy(), rows["agent"].to_numpy()] = rows["cash"].to_numpy()
        assert np.array_equal(got, fill_cash), spec.name


def test_rejections_and_cancellations_are_reported(full):
    fills = full.tables["fills"]
    cancelled = fills.filter(pl.col("status") == "cancelled")
    assert cancelled.height > 0 and set(cancelled["reason"]) == {"by_family", "expired"}
    # the one expiry rule (qtgjax.agents.common.order_expired): only families with a ttl,
    # none with ttl 0 (fundamental), nothing before an order can have rested ttl ticks
    expired = cancelled.filter(pl.col("reason") == "expired")
    families = full.config["families"]
    ttl = {n: f["params"]["ttl"] for n, f in families.items() if f.get("params", {}).get("ttl")}
    assert ttl["noise"] == 3 and "fundamental" not in ttl  # fundamental's ttl is 0
    assert set(expired["family"]) <= set(ttl) and "noise" in set(expired["family"])
    for family, rows in expired.group_by("family"):
        assert rows["tick"].min() >= ttl[family[0]], family
    rejected = fills.filter(pl.col("status") == "rejected")
    assert "position_limit" in set(rejected["reason"])
    assert set(rejected["reason"]) <= {"off_grid", "position_limit"}
    off_grid = rejected.filter(pl.col("reason") == "off_grid").height
    assert off_grid == int(np.asarray(full.out.final.market.off_grid).sum())  # the engine's count
    assert (rejected["fee"] == 0).all() and rejected["liquidity"].is_null().all()
    assert cancelled["tick"].min() > 0  # nothing rests before the first tick


def test_filters_keep_exactly_their_rows(full):
    record = {"fills": True, "fills_families": ["noise", "market_maker"], "fills_agents": 3}
    record |= {"fills_from": 10, "fills_to": 30}
    _, _, tables = _run(full.config, record)
    want = full.tables["fills"].filter(
        pl.col("family").is_in(["noise", "market_maker"])
        & (pl.col("agent") < 3)
        & pl.col("tick").is_between(10, 29)
    )
    got = tables["fills"]
    assert got.height > 0
    keys = ["scenario", "tick", "family", "agent", "symbol", "slot", "status", "reason"]
    assert got.sort(keys).equals(want.sort(keys))


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"fills": True, "fills_families": ["nosie"]},
            "record.fills_families: unknown family 'nosie'",
        ),
        ({"fills": True, "fills_families": "noise"}, "record.fills_families: expected a list"),
        ({"fills": "yes"}, "record.fills: expected true or false"),
        ({"fills": True, "fills_from": 60}, "record.fills_from: 60 is out of range 0..59"),
        (
            {"fills": True, "fills_from": 10, "fills_to": 5},
            "record.fills_to: 5 is out of range 11..60",
        ),
        ({"fills": True, "fills_agents": -1}, "record.fills_agents: -1 is out of range"),
    ],
)
def test_bad_fills_settings_name_the_key(small_config, record, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        build({**small_config, "record": record})


def test_fills_off_are_compiled_out(small_config):
    off = build(small_config)
    on = build({**small_config, "record": {"fills": True}})
    key = jax.random.key(0)

    def trace(static):
        return str(jax.make_jaxpr(lambda p: run_scenario(static, p, key, 3))(off.params))

    a, b = trace(off.static), trace(on.static)
    assert "i8[" not in a and "i8[" in b  # FillRows.flags
    assert len(a) < len(b)


# A small three-venue market (``--config-name venues``: an every-tick venue, a periodic
# one, one with its own fees; latency on every family), the noise traders on a lossy,
# jittery link: some of their messages are dropped, some arrive late.
VENUES = [
    "scenarios=2",
    "ticks=40",
    "families.noise.n_agents=120",
    "families.fundamental.n_agents=20",
    "families.momentum.n_agents=20",
    "families.market_maker.n_agents=4",
]
LOSSY = {"order_delay": 2, "jitter": 2, "drop_prob": 0.05}


@pytest.fixture(scope="module")
def venues():
    config = load_config(VENUES, config_name="venues")
    config["families"]["noise"]["latency"] = LOSSY
    res = simulate({**config, "record": {**config["record"], "fills": True}})
    return Run(config, res.built, res.out, res.tables())


def test_fills_with_venues_add_up_to_the_agents_table(venues):
    assert venues.built.static.n_venues == 3 and venues.built.static.max_delay > 0
    assert_fills_add_up(venues.built, venues.out, venues.tables, venues.built.run.tick_size)


def test_fills_per_venue_are_the_venues_traded_volume(venues):
    """Every lot traded on a venue has a buyer's and a seller's filled row there, at the
    venue's clearing price of that tick."""
    tick = venues.built.run.tick_size
    filled = venues.tables["fills"].filter(pl.col("status") == "filled")
    assert sorted(filled["venue"].unique()) == [0, 1, 2]
    keys = ["scenario", "venue", "symbol", "tick"]
    per_side = filled.group_by(*keys).agg(
        pl.col("lots").filter(pl.col("side") == "buy").sum().alias("bought"),
        pl.col("lots").filter(pl.col("side") == "sell").sum().alias("sold"),
        pl.col("price").min().alias("fill_low"),
        pl.col("price").max().alias("fill_high"),
    )
    ticks = venues.tables["ticks"].join(per_side, on=keys, how="left")
    assert ticks["volume"].sum() > 0
    assert (ticks["bought"].fill_null(0) == ticks["volume"]).all()
    assert (ticks["sold"].fill_null(0) == ticks["volume"]).all()
    traded = ticks.filter(pl.col("volume") > 0)
    for side in ("fill_low", "fill_high"):  # one clearing price per book and tick
        assert ((traded[side] / tick).round() == (traded["vwap"] / tick).round()).all()
    periodic = list(venues.config["venues"]).index("periodic")
    k = venues.config["venues"]["periodic"]["batch_interval"]
    assert (filled.filter(pl.col("venue") == periodic)["tick"] % k == 0).all()


def test_messages_lost_to_latency_are_reported(venues):
    """Every message latency.parquet counts as dropped or late is a rejected row of
    fills.parquet with that reason, tick, family and venue."""
    fills, latency = venues.tables["fills"], venues.tables["latency"]
    keys = ["scenario", "tick", "family", "venue"]
    lost = (
        fills.filter(pl.col("reason").is_in(["dropped", "late"]))
        .group_by(*keys)
        .agg(
            (pl.col("reason") == "dropped").sum().alias("dropped_rows"),
            (pl.col("reason") == "late").sum().alias("late_rows"),
        )
    )
    assert set(fills.filter(pl.col("reason").is_in(["dropped", "late"]))["status"]) == {"rejected"}
    joined = latency.join(lost, on=keys, how="left").fill_null(0)
    assert joined["dropped"].sum() > 0 and joined["late"].sum() > 0
    assert (joined["dropped"] == joined["dropped_rows"]).all()
    assert (joined["late"] == joined["late_rows"]).all()
    assert lost.join(latency, on=keys, how="anti").height == 0


def test_filters_with_venues_keep_exactly_their_rows(venues):
    record = {**venues.config["record"], "fills": True, "fills_families": ["noise", "arbitrage"]}
    record |= {"fills_agents": 5, "fills_from": 8, "fills_to": 30}
    got = simulate({**venues.config, "record": record}).tables()["fills"]
    want = venues.tables["fills"].filter(
        pl.col("family").is_in(["noise", "arbitrage"])
        & (pl.col("agent") < 5)
        & pl.col("tick").is_between(8, 29)
    )
    assert got.height > 0 and set(got["venue"]) == {0, 1, 2}
    keys = ["scenario", "tick", "family", "agent", "symbol", "venue", "slot", "status", "reason"]
    keys += ["side", "lots", "price"]
    assert got.sort(keys).equals(want.sort(keys))


# ``--config-name order_types`` (every order type placed), one scenario, a small crowd: the
# reports name each order's placed type and what its type cancelled after the auction.
TYPED = [
    "scenarios=1",
    "families.noise.n_agents=600",
    "families.reactive.n_agents=150",
    "families.fundamental.n_agents=60",
    "families.momentum.n_agents=60",
]
TYPED_TICKS = 80


@pytest.fixture(scope="module")
def typed():
    config = load_config([*TYPED, f"ticks={TYPED_TICKS}"], config_name="order_types")
    built = build({**config, "record": {"fills": True}})
    params = scenario_params(built.params, 1)
    out = rollout(built.static, params, scenario_keys(SEED, 1), TYPED_TICKS)
    return Run(config, built, out, all_tables(built.static, out, built.run.tick_size))


def offered_per_type(built, ticks: int):
    """Reference, straight from the families' orders of scenario 0 (the rollout's keys):
    int[F, 10] lots of the orders that entered the auction with a positive quantity, by
    placed type (market / IOC / FOK / fired stop orders live one auction each)."""
    from qtgjax.market import order_types as ot
    from qtgjax.sim import order_flow
    from qtgjax.sim.rollout import init_state
    from qtgjax.sim.tick import act_detail, observe, step_detail

    static, params = built.static, built.params
    k_init, k_run = jax.random.split(scenario_keys(SEED, 1)[0])

    def body(state, key):
        k_act, _ = jax.random.split(key)
        orders = act_detail(static, params, state, observe(state, params), k_act)[0]
        m = state.market
        lots = []
        for o in orders:
            now, offered = order_flow.activate(o, m.last_price, m.best_bid, m.best_ask)
            placed = ot.placed_type(now.order_type)
            live = ot.is_any(now.order_type, ot.CANCEL_REST) & (offered > 0)
            per = (
                jnp.zeros(10, jnp.int32)
                .at[placed.reshape(-1)]
                .add(jnp.where(live, offered, 0).reshape(-1))
            )
            lots.append(per)
        return step_detail(static, params, state, key)[0], jnp.stack(lots)

    state = init_state(static, params, k_init)
    keys = jax.random.split(k_run, ticks)
    _, lots = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(state, keys)
    return np.asarray(lots.sum(0))


def test_typed_fills_name_every_order_type_and_add_up(typed):
    from qtgjax.market import order_types as ot

    fills = typed.tables["fills"]
    filled = fills.filter(pl.col("status") == "filled")
    assert set(filled["order_type"]) == set(ot.NAMES)
    assert set(fills.filter(pl.col("family") == "vwap")["order_type"]) == {"market"}
    assert set(fills.filter(pl.col("family") == "twap")["order_type"]) == {"ioc"}
    assert_fills_add_up(typed.built, typed.out, typed.tables, typed.built.run.tick_size)


def test_typed_cancellations_have_their_reasons(typed):
    fills = typed.tables["fills"]
    keys = ["scenario", "tick", "family", "agent", "symbol", "slot"]
    reasons = {
        ("fok", "cancelled", "fok_not_fillable"),
        ("ioc", "cancelled", "ioc_unfilled"),
        ("post_only", "rejected", "post_only_would_cross"),
    }
    at_market = {
        ("market", "cancelled", "market_unfilled"),
        ("stop", "cancelled", "market_unfilled"),
    }
    typed_rows = fills.filter(pl.col("reason").is_in([r for *_, r in reasons | at_market]))
    got = set(typed_rows.select("order_type", "status", "reason").unique().rows())
    assert reasons <= got <= reasons | at_market
    # an FOK order fills in full or is cancelled whole: never both in one tick
    fok = fills.filter((pl.col("order_type") == "fok") & (pl.col("reason") != "by_family"))
    assert fok.group_by(keys).len()["len"].max() == 1
    # a post-only order never takes
    post_only = fills.filter((pl.col("order_type") == "post_only") & (pl.col("status") == "filled"))
    assert post_only.height > 0 and (post_only["liquidity"] == "maker").all()
    # a stop that fires is a new market / limit order in its slot, not a cancellation
    stops = fills.filter(pl.col("order_type").is_in(["stop", "stop_limit"]))
    fired = stops.filter(pl.col("status") == "filled").select(keys)
    cancelled = stops.filter(pl.col("reason") == "by_family").select(keys)
    assert fired.height > 0 and fired.join(cancelled, on=keys).height < fired.height // 20
    # (with the age-0 rule of limit-only markets most fired stops were "cancelled": 506 of 630)
    at_market = stops.filter((pl.col("order_type") == "stop") & (pl.col("status") == "filled"))
    assert at_market.height > 0 and (at_market["liquidity"] == "taker").all()  # fired: new


def test_typed_unfilled_rests_are_the_orders_lots_minus_their_fills(typed):
    """Per family and placed type, the lots of the market / IOC / FOK / fired stop orders
    in the auction (the reference) are their filled lots plus the lots their type
    cancelled plus the lots rejected off the grid (a stop fills only once fired: then it
    is a market order for one auction)."""
    from qtgjax.market import order_types as ot

    want = offered_per_type(typed.built, TYPED_TICKS)
    fills = typed.tables["fills"].filter(
        (pl.col("status") == "filled")
        | pl.col("reason").is_in(
            ["off_grid", "market_unfilled", "ioc_unfilled", "fok_not_fillable"]
        )
    )
    names = [s.name for s in typed.built.static.families]
    checked = 0
    for f, name in enumerate(names):
        for code in (ot.MARKET, ot.IOC, ot.FOK, ot.STOP):
            rows = fills.filter(
                (pl.col("family") == name) & (pl.col("order_type") == ot.NAMES[code])
            )
            assert rows["lots"].sum() == want[f, code], (name, ot.NAMES[code])
            checked += want[f, code] > 0
    assert checked >= 6  # noise: market, ioc, fok, stop; twap: ioc; vwap: market
