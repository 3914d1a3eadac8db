"""The engine as a whole: conservation, book invariants, parity, determinism, batching."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.market import money
from qtgjax.sim.rollout import init_state, rollout, run_scenario
from qtgjax.sim.tick import step


def _tree_equal(a, b) -> bool:
    """Every leaf equal (NaN equal to NaN: indicators are NaN during warm-up)."""
    return all(
        np.array_equal(x, y, equal_nan=np.issubdtype(np.asarray(x).dtype, np.floating))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@pytest.fixture(scope="module")
def long_run(small_config):
    """16 scenarios x 400 ticks of the small market."""
    cfg = {**small_config, "scenarios": 16, "ticks": 400}
    built = build(cfg)
    params = scenario_params(built.params, 16)
    out = rollout(built.static, params, scenario_keys(7, 16), 400)
    return built, out


def test_cash_and_shares_conserved_every_tick(long_run):
    _, out = long_run
    rec = out.records
    cash = money.to_int64(rec.cash)  # (B, T, F)
    external = money.to_int64(rec.external)
    internal = (cash - external).sum(-1)  # (B, T): sum over families
    start = sum(money.to_int64(a.cash).sum(-1) for a in out.initial.accounts)  # (B,)
    assert np.array_equal(internal, np.broadcast_to(start[:, None], internal.shape))
    shares = np.asarray(rec.position, np.int64).sum(2)  # (B, T, S)
    shares0 = sum(np.asarray(a.position, np.int64).sum(1) for a in out.initial.accounts)
    assert np.array_equal(shares, np.broadcast_to(shares0[:, None, :], shares.shape))
    assert np.asarray(rec.volume).sum() > 0, "the market must trade for this test to mean anything"
    assert np.abs(external).sum() > 0, "dividends must flow for the external-cash identity to bite"


def test_book_never_crossed_and_depth_nonnegative(long_run):
    _, out = long_run
    rec = out.records
    bid, ask = np.asarray(rec.best_bid), np.asarray(rec.best_ask)
    both = (bid > 0) & (ask > 0)
    assert both.mean() > 0.5
    assert np.all(bid[both] < ask[both])
    assert np.all(np.asarray(rec.bid_depth) >= 0) and np.all(np.asarray(rec.ask_depth) >= 0)
    traded = np.asarray(rec.volume) > 0
    close = np.asarray(rec.close)
    assert np.all(np.asarray(rec.clear_price)[traded] == close[traded])
    assert np.all(np.asarray(rec.high) >= np.asarray(rec.low))


def test_taker_flow_is_bounded_by_volume_and_moves_the_price(long_run):
    """New orders' net buying is at most the volume, and it pushes the price its way: the
    clearing price rises more often after net buying than after net selling."""
    _, out = long_run
    rec = out.records
    flow, volume = np.asarray(rec.taker_flow), np.asarray(rec.volume)
    assert np.all(np.abs(flow) <= volume)
    assert np.all(flow[volume == 0] == 0)
    move = np.diff(np.asarray(rec.close, np.int64), axis=1)  # (B, T-1, S)
    signed = flow[:, 1:]
    buys, sells = move[signed > 0], move[signed < 0]
    assert buys.size > 100 and sells.size > 100, "both kinds of pressure must occur"
    assert buys.mean() > 0 > sells.mean()
    assert np.corrcoef(signed.ravel(), move.ravel())[0, 1] > 0.1


def test_resting_quantities_never_negative_and_limits_hold(small_config):
    built = build({**small_config, "ticks": 200})
    static, params = built.static, built.params

    def tick(state, key):
        state, _ = step(static, params, state, key)
        min_qty = jnp.min(jnp.stack([jnp.min(a.orders.qty, initial=0) for a in state.accounts]))
        over = jnp.stack(
            [
                (jnp.abs(a.position) > lim.max_position).any()
                for a, lim in zip(state.accounts, params.accounts, strict=True)
            ]
        ).any()
        return state, (min_qty, over)

    state0 = init_state(static, params, jax.random.key(3))
    _, (min_qty, over) = jax.jit(lambda s, k: jax.lax.scan(tick, s, k))(
        state0, jax.random.split(jax.random.key(4), 200)
    )
    assert int(np.min(min_qty)) >= 0
    assert not bool(np.any(over))


def test_jit_matches_disable_jit(small_config):
    built = build(small_config)
    key = jax.random.key(11)
    compiled = jax.jit(run_scenario, static_argnums=(0, 3))(built.static, built.params, key, 6)
    with jax.disable_jit():
        eager = run_scenario(built.static, built.params, key, 6)
    assert _tree_equal(compiled[2], eager[2])
    assert _tree_equal(compiled[1].accounts, eager[1].accounts)


def test_same_seed_same_result_different_seed_differs(small_config):
    built = build(small_config)
    params = scenario_params(built.params, 2)
    a = rollout(built.static, params, scenario_keys(5, 2), 60)
    b = rollout(built.static, params, scenario_keys(5, 2), 60)
    c = rollout(built.static, params, scenario_keys(6, 2), 60)
    assert _tree_equal(a, b)
    assert not np.array_equal(a.records.close, c.records.close)
    assert not np.array_equal(a.records.close[0], a.records.close[1]), "scenarios must differ"


def test_vmapped_scenarios_equal_one_by_one(small_config):
    built = build(small_config)
    n = 3
    together = rollout(built.static, scenario_params(built.params, n), scenario_keys(2, n), 60)
    for b in range(n):
        alone = rollout(built.static, scenario_params(built.params, 1), scenario_keys(2, 1, b), 60)
        assert _tree_equal(jax.tree.map(lambda x, b=b: x[b : b + 1], together), alone)


def test_new_params_do_not_retrace(small_config):
    built = build(small_config)
    keys = scenario_keys(0, 2)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(params):
        return jax.vmap(lambda p, k: run_scenario(built.static, p, k, 20)[2].close)(params, keys)

    base = scenario_params(built.params, 2)
    first = run(base)
    mm = base.strategies[4].replace(half_spread=base.strategies[4].half_spread + 1.5)
    changed = base.replace(
        strategies=base.strategies[:4] + (mm,) + base.strategies[5:],
        fundamentals=base.fundamentals.replace(news_rate=base.fundamentals.news_rate * 2),
    )
    second = run(changed)
    assert not np.array_equal(first, second), "changed params must change the market"


def test_exchange_collects_exactly_the_fees_paid():
    from conftest import SMALL
    from qtgjax import load_config

    costs = ["costs.maker_bps=-2.0", "costs.taker_bps=8.0", "fundamentals.dividend_period=1000000"]
    built = build(load_config([*SMALL, *costs]))  # no dividend or borrow date in the run
    out = rollout(built.static, scenario_params(built.params, 2), scenario_keys(0, 2), 60)
    names = [f.name for f in built.static.families]
    house = names.index("exchange")
    external = money.to_int64(out.records.external)[:, -1]  # (B, F): all of it is fees
    fees = money.to_int64(out.records.fees).sum(1)  # (B, F) paid over the run
    assert np.all(external[:, house] > 0)
    assert np.array_equal(external[:, house], fees.sum(-1))
    assert np.array_equal(external[:, house], -np.delete(external, house, axis=1).sum(-1))
    assert np.any(money.to_int64(out.records.fees) < 0), "makers earn rebates in some ticks"
    assert external[:, names.index("background")].tolist() == [0, 0]


def test_fee_and_borrow_arithmetic():
    from qtgjax.agents.types import AccountParams
    from qtgjax.market.types import Orders
    from qtgjax.sim.settle import borrow_costs, trading_fees

    limits = AccountParams(
        *(jnp.int32(0),) * 3, jnp.float32(-1.0), jnp.float32(2.0), jnp.float32(50.0)
    )
    orders = Orders(
        price=jnp.zeros((2, 1, 2), jnp.int32),
        qty=jnp.full((2, 1, 2), 100, jnp.int32),
        is_buy=jnp.array([[[True, False]], [[True, False]]]),
        age=jnp.array([[[0, 3]], [[1, 0]]]),  # agent 0: taker buy, maker sell
    )
    filled = jnp.array([[[100, 50]], [[0, 10]]])
    fees = trading_fees(orders, filled, jnp.array([10_000]), limits)
    # agent 0: 100 lots x 10,000 ticks x 2 bps = 200; maker 50 x 10,000 x -1 bps = -50
    # agent 1: taker sell 10 x 10,000 x 2 bps = 20
    assert fees.tolist() == [150, 20]
    position = jnp.array([[-300, 200], [100, 0]])
    due = borrow_costs(position, jnp.array([1_000, 500]), limits, jnp.bool_(True))
    assert due.tolist() == [1_500, 0]  # 300 x 1,000 x 50 bps
    assert borrow_costs(position, jnp.array([1_000, 500]), limits, jnp.bool_(False)).tolist() == [
        0,
        0,
    ]


def test_sweep_axis_params_differ_per_scenario(small_config):
    built = build(small_config)
    params = scenario_params(built.params, 2)
    noise = params.strategies[1]
    params = params.replace(
        strategies=(params.strategies[0], noise.replace(p_active=jnp.array([0.0, 0.5])))
        + params.strategies[2:]
    )
    out = rollout(built.static, params, scenario_keys(1, 2), 60)
    traded = np.asarray(out.records.traded)[:, :, 1].sum(-1)  # noise family's lots per scenario
    assert traded[0] == 0 and traded[1] > 0
