"""The RL execution task on a market with several venues (issue #12): the action's venue
component sends the child order to that venue's book (resting lots, fills at that venue's
clearing price, that venue's fees, the periodic venue holding it until its auction), the
router index is the learner family's route, the spaces grow only with venues, and a short
PPO run trains and evaluates end to end on the three-venue market."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

import qtgjax.env as qenv
from qtgjax import load_config
from qtgjax.env.market import learner_accounts
from qtgjax.env.tasks.base import quote_intent
from qtgjax.market import money
from qtgjax.market.types import OrderIntent, Orders
from qtgjax.sim.tick import observe
from qtgjax.sim.venues import VenueMarket, route
from qtgjax.train import load_policy, train_and_evaluate

# conf/venues.yaml (lit: every tick; periodic: every 5; inverted: other fees) cut small
VENUE_MARKET = [
    "families.noise.n_agents=60",
    "families.noise.params.max_offset=12",
    "families.fundamental.n_agents=10",
    "families.momentum.n_agents=10",
    "families.market_maker.n_agents=4",
    "families.avellaneda_stoikov.n_agents=4",
    "families.arbitrage.n_agents=2",
    "families.fast_maker.n_agents=2",
]
WARMUP = 22  # the first episode's first order is placed on tick 22: no periodic auction
SIZE, CROSS = 4, 7  # 2 x the due lots; a buy limit 3 ticks through the venue's best ask


@pytest.fixture(scope="module")
def venue_env():
    return qenv.make(
        "execution",
        market=VENUE_MARKET,
        market_config="venues",
        warmup=WARMUP,
        target=300,
        horizon=5,
        side=[1],
    )


@pytest.fixture(scope="module")
def after_each_choice(venue_env):
    """From one reset state: one transition per venue choice 0..V (V = the router)."""
    env, params = venue_env
    _, state = jax.jit(env.reset)(jax.random.key(5), params)
    step = jax.jit(env.transition)
    key = jax.random.key(6)
    after = [
        step(key, state, jnp.array([SIZE, CROSS, k]), params)[0]
        for k in range(env.static.n_venues + 1)
    ]
    return state, after


def test_action_space_has_a_venue_component_only_with_venues(venue_env):
    env, params = venue_env
    single, _ = qenv.make("execution", warmup=5)
    assert single.task.n_venues == 1
    assert single.action_space().nvec.tolist() == [5, 8]
    assert single.obs_dim == 16 + 6
    v = env.static.n_venues
    assert v == 3 and env.task.n_venues == 3
    assert env.action_space(params).nvec.tolist() == [5, 8, v + 1]
    assert env.obs_dim == 16 + 6 + 3 * v
    assert env.observation_space(params).shape == (env.obs_dim,)
    assert not bool(env.action_space(params).contains(jnp.array([0, 0, v + 1])))


def _lots_per_venue(acct, n_venues):
    """int[V] lots of the learner's slot 0 of symbol 0 resting on each venue."""
    qty = np.asarray(acct.orders.qty)
    return qty.reshape(qty.shape[0], qty.shape[1], n_venues, -1)[0, 0, :, 0]


def test_chosen_venue_gets_the_order_and_its_fills(venue_env, after_each_choice):
    """Venue k < V: all the order's lots rest on k or filled there, nothing on the other
    venues; the fills' cash is lots x venue k's clearing price and the fee is k's taker
    rate (the learner's plus the venue's) on that notional; the periodic venue, between
    auctions, holds the whole order."""
    env, params = venue_env
    state, after = after_each_choice
    v = env.static.n_venues
    assert int(state.sim.tick) % int(params.sim.venues.batch_interval[1]) != 0
    venue_rates = np.asarray(params.sim.venues.taker_bps)
    own_rate = float(params.sim.accounts[env.learner].taker_bps)
    before = learner_accounts(state.sim, env.learner)
    view = observe(state.sim, params.sim)
    action = jnp.array([[SIZE, CROSS, 0]])
    sent = int(env.task.intent(action, state.task, before, view, state.t, params.task).qty[0, 0, 0])
    assert sent > 0
    filled_somewhere = False
    for k in range(v):
        acct = learner_accounts(after[k].sim, env.learner)
        lots = _lots_per_venue(acct, v)
        bought = int(acct.position[0, 0] - before.position[0, 0])
        assert bought >= 0
        assert lots[k] + bought == sent, k
        assert (np.delete(lots, k) == 0).all(), (k, lots)
        venue = after[k].sim.market.venues
        if bought:
            filled_somewhere = True
            price = int(venue.last_price[k, 0])
            assert int(venue.volume[k, 0]) >= bought
            cash = money.to_int64(acct.cash)[0] - money.to_int64(before.cash)[0]
            fee = -(money.to_int64(acct.external)[0] - money.to_int64(before.external)[0])
            assert cash + fee == -bought * price, k  # the lots at venue k's price
            rate = np.float32(own_rate) + np.float32(venue_rates[k])  # as the engine: float32
            assert fee == np.trunc(np.float32(bought * price) * (rate * np.float32(1e-4))), k
    assert _lots_per_venue(learner_accounts(after[1].sim, env.learner), v)[1] == sent
    assert filled_somewhere, "a marketable order must fill on an every-tick venue"


def test_router_choice_is_the_family_route(venue_env, after_each_choice):
    """Venue index V asks for no venue (-1: the learner family's route); the routed order
    is still all placed (resting on the venues or filled)."""
    env, params = venue_env
    state, after = after_each_choice
    v = env.static.n_venues
    assert env.task.order_venues(jnp.array([[SIZE, CROSS, v]])).tolist() == [[[-1, -1]]]
    assert env.task.order_venues(jnp.array([[SIZE, CROSS, 1]])).tolist() == [[[1, 1]]]
    before = learner_accounts(state.sim, env.learner)
    acct = learner_accounts(after[v].sim, env.learner)
    placed = _lots_per_venue(acct, v).sum() + int(acct.position[0, 0] - before.position[0, 0])
    assert placed == int(_lots_per_venue(learner_accounts(after[1].sim, env.learner), v)[1])


@pytest.mark.parametrize("rule", ["fixed", "best", "smart"])
def test_route_sends_a_chosen_order_whole_to_its_venue(rule):
    """Against the route without choices: an order with a venue in [0, V) goes there whole,
    one with -1 or V (no venue) is routed by the rule, on hand-set venue quotes."""
    zeros = jnp.zeros((3, 1), jnp.int32)

    class View:
        venues = VenueMarket(
            zeros,
            zeros,
            jnp.array([[99], [101], [100]], jnp.int32),
            jnp.array([[103], [102], [104]], jnp.int32),
            zeros,
            jnp.array([[5], [10], [30]], jnp.int32),
            jnp.array([[8], [4], [6]], jnp.int32),
        )

    qty = jnp.array([[[7]], [[9]], [[6]], [[5]]], jnp.int32)
    intent = OrderIntent(
        jnp.full((4, 1, 1), 103, jnp.int32), qty, jnp.ones((4, 1, 1), bool),
        jnp.ones((4, 1, 1), bool),
    )
    taker = jnp.zeros(3)
    chosen = jnp.array([-1, 2, 0, 3], jnp.int32)[:, None, None]
    plain = np.asarray(route(intent, rule, jnp.int32(1), View(), taker, 3).qty)[:, 0]
    got = np.asarray(route(intent, rule, jnp.int32(1), View(), taker, 3, chosen).qty)[:, 0]
    assert (got[0] == plain[0]).all() and (got[3] == plain[3]).all()
    assert got[1].tolist() == [0, 0, 9] and got[2].tolist() == [6, 0, 0]
    assert (plain.sum(1) == np.asarray(qty)[:, 0, 0]).all()


def test_keep_rule_needs_the_order_resting_on_the_chosen_venue():
    """An order identical to the resting one is kept (replace False) only where all of its
    lots rest on the chosen venue; the router (-1) keeps it wherever it rests."""

    def resting(lots_per_venue):  # slot 0 of symbol 0 on each of 3 venues: buy 5 @ 100
        qty = jnp.zeros((1, 1, 3, 2), jnp.int32).at[0, 0, :, 0].set(jnp.array(lots_per_venue))
        qty = qty.reshape(1, 1, 6)
        return Orders(
            price=jnp.full((1, 1, 6), 100, jnp.int32),
            qty=qty,
            is_buy=jnp.ones((1, 1, 6), bool),
            age=jnp.ones((1, 1, 6), jnp.int32),
        )

    price = jnp.full((1, 1, 2), 100, jnp.int32)
    qty = jnp.array([[[5, 0]]], jnp.int32)
    is_buy = jnp.ones((1, 1, 2), bool)

    def replaced(lots, venue):
        venues = jnp.full((1, 1, 2), venue, jnp.int32)
        return bool(quote_intent(price, qty, is_buy, resting(lots), 3, venues).replace[0, 0, 0])

    assert not replaced([0, 5, 0], 1)
    assert replaced([0, 5, 0], 0) and replaced([0, 5, 0], 2)
    assert not replaced([0, 5, 0], -1)
    assert replaced([2, 3, 0], 1) and not replaced([2, 3, 0], -1)
    assert replaced([0, 4, 0], 1)  # other lots: a new order
    assert not bool(quote_intent(price, qty, is_buy, resting([0, 5, 0]), 3).replace[0, 0, 0])


def test_short_ppo_run_on_three_venues(tmp_path):
    cfg = load_config(
        [
            "task=execution",
            "progress=false",
            "ppo.num_envs=4",
            "ppo.num_steps=5",
            "ppo.total_timesteps=40",
            "ppo.num_minibatches=2",
            "network.hidden=[16]",
            "eval.episodes=4",
            "+env.horizon=5",
            "+env.target=20",
            "+env.warmup=5",
            "+env.market_config=venues",
            f"+env.market=[{','.join(repr(m) for m in VENUE_MARKET)}]",
        ],
        config_name="train",
    )
    res = train_and_evaluate(cfg, tmp_path / "run")
    assert res.curve.height == 2 and res.curve["env_steps"].max() == 40
    ev = res.evaluation
    assert set(ev["policy"]) == {"ppo", "twap"} and ev.height == 2 * 4
    assert ev["shortfall_ticks"].is_finite().all()
    assert np.allclose(ev["episode_return"], -ev["shortfall_ticks"], atol=1e-3)
    policy = load_policy(tmp_path / "run")
    env, params = qenv.make(policy.task, **dict(policy.env_overrides))
    assert env.action_space(params).nvec.tolist() == [5, 8, 4]
    obs = env.observation_space(params).sample(jax.random.key(0))
    action = policy.act(jax.random.key(1), obs)
    assert action.shape == (3,) and bool(env.action_space(params).contains(action))
    assert pl.read_parquet(tmp_path / "run" / "learning_curve.parquet").height == 2
