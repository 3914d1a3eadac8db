"""RL environments: gymnax API, exact accounting of the learners, rewards, auto-reset,
baselines and the gymnasium wrappers, on a small market (the background pool, 40 noise
traders and the exchange around the learners; 32 levels): compiling is most of the time."""

from __future__ import annotations

import chex
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import qtgjax.env as qenv
from qtgjax.env import baselines
from qtgjax.env.gym import MarketGymEnv, MarketVectorEnv
from qtgjax.market import money
from qtgjax.sim.tick import observe

SMALL = [
    "market.levels=32",
    "market.recentre=8",
    "families.noise.n_agents=40",
    "families.noise.params.max_offset=12",
    "~agents@families.market_maker",
    "~agents@families.fundamental",
    "~agents@families.momentum",
    "~agents@families.avellaneda_stoikov",
]
WARMUP = 42
EXEC = dict(target=40, horizon=5)


@pytest.fixture(scope="module")
def execution():
    return qenv.make("execution", market=SMALL, warmup=WARMUP, **EXEC)


def totals(state):
    """Per family: total cash, external cash (Money) and lots of every symbol."""
    accounts = state.sim.accounts
    cash = [money.sum_exact(a.cash, 0) for a in accounts]
    ext = [money.sum_exact(a.external, 0) for a in accounts]
    return cash, ext, [a.position.sum(0) for a in accounts]


def episode_runner(env, n_steps, policies):
    """(key, params, which) -> reset, then n_steps steps of ``policies[which]``:
    (obs0, state0, per-step outputs). One compiled call serves every policy."""

    def run(key, params, which=0):
        obs0, state0 = env.reset(key, params)

        def body(carry, k):
            obs, state = carry
            act = jax.lax.switch(which, policies, k, obs, state, params)
            obs, new, reward, done, info = env.step(k, state, act, params)
            learner = state.sim.accounts[env.learner]
            ys = (obs, reward, done, info, totals(new), new.t, new.sim.tick, new.task, learner)
            return (obs, new), ys

        _, ys = jax.lax.scan(body, (obs0, state0), jax.random.split(key, n_steps))
        return obs0, state0, ys

    return run


@pytest.fixture(scope="module")
def exec_runs(execution):
    """Two execution envs vmapped over keys AND params (targets 40 and 60), TWAP baseline."""
    env, params = execution
    batch = jax.tree.map(lambda x: jnp.stack([x, x]), params)
    batch = batch.replace(task=batch.task.replace(target=jnp.array([40, 60], jnp.int32)))
    runner = episode_runner(env, 12, [baselines.get(env, "twap")])
    run = jax.jit(jax.vmap(chex.assert_max_traces(runner, n=1)))
    keys = jax.random.split(jax.random.key(3), 2)
    return run, keys, batch, run(keys, batch)


def test_spaces_shapes_and_dtypes(execution, exec_runs):
    env, params = execution
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == (env.obs_dim,) and act_space.shape == (2,)
    assert bool(act_space.contains(act_space.sample(jax.random.key(0))))
    assert not bool(act_space.contains(jnp.array([5, 0])))
    obs0, _, (obs, reward, done, info, *_rest) = exec_runs[3]
    assert obs0.shape == (2, env.obs_dim) and obs0.dtype == jnp.float32
    assert obs.shape == (2, 12, env.obs_dim) and bool(jnp.isfinite(obs).all())
    assert bool(jax.vmap(jax.vmap(obs_space.contains))(obs).all())
    assert reward.dtype == jnp.float32 and reward.shape == (2, 12)
    assert done.dtype == jnp.bool_ and done.shape == (2, 12)
    expected = {
        "returned_episode": jnp.bool_,
        "episode_return": jnp.float32,
        "episode_length": jnp.int32,
        "tick": jnp.int32,
        "shortfall_ticks": jnp.float32,
        "filled_fraction": jnp.float32,
    }
    assert {k: v.dtype for k, v in info.items()} == {k: jnp.dtype(v) for k, v in expected.items()}


def test_auto_reset_starts_a_task_episode_on_the_running_market(exec_runs):
    _, _, batch, (_, state0, ys) = exec_runs
    _, _, done, info, _, t, tick, task, learner = ys
    horizon = int(batch.task.horizon[0])
    assert np.array_equal(np.asarray(done[0]), (np.arange(12) + 1) % horizon == 0)
    assert np.array_equal(np.asarray(t[0]), (np.arange(12) + 1) % horizon)
    assert np.array_equal(np.asarray(tick[0]), WARMUP + 1 + np.arange(12))
    assert np.array_equal(np.asarray(info["episode_length"][0]), np.where(done[0], horizon, 0))
    # the new episode starts from the account as it stands (cash and lots carry over)
    end = horizon - 1
    position_after = np.asarray(learner.position[0, end + 1, 0, 0])  # held going into step 5
    assert int(task.start_position[0, end, 0]) == position_after
    assert int(state0.task.start_position[0, 0]) == 0


def test_rewards_sum_to_minus_the_shortfall_and_cash_is_exact(exec_runs):
    _, _, batch, (_, state0, ys) = exec_runs
    _, reward, done, info, _, _, _, task, learner = ys
    horizon = int(batch.task.horizon[0])
    for b in range(2):
        target = int(batch.task.target[b])
        ends = np.flatnonzero(np.asarray(done[b]))
        starts = np.concatenate([[0], ends[:-1] + 1])
        for start, end in zip(starts, ends, strict=True):
            total = float(np.asarray(reward[b, start : end + 1]).sum())
            shortfall = float(info["shortfall_ticks"][b, end])
            assert total == pytest.approx(-shortfall, rel=1e-5, abs=1e-4)
            # the same shortfall from the exact cash of the learner's account
            if end + 1 >= reward.shape[1]:
                continue
            ep = jax.tree.map(lambda x, i=(b, start): x[i], task)
            cash_start = int(money.to_int64(ep.start_cash)[0])
            after = jax.tree.map(lambda x, i=(b, end + 1): x[i], learner)
            cash_end = int(money.to_int64(after.cash)[0])
            side, arrival = int(ep.side[0]), float(ep.arrival)
            executed = side * (int(after.position[0, 0]) - int(ep.start_position[0]))
            filled = float(info["filled_fraction"][b, end])
            assert executed == pytest.approx(filled * target, abs=1e-3)
            paid = -(cash_end - cash_start) - side * executed * arrival
            penalty = shortfall * target - paid
            remaining = target - executed
            assert (remaining == 0) == (abs(penalty) < 1e-2)
        assert len(ends) == 12 // horizon


def test_learner_fills_conserve_cash_and_shares_across_all_families(exec_runs, execution):
    env, _ = execution
    _, _, _, (_, state0, ys) = exec_runs
    cash, ext, position = ys[4]
    c0, e0, p0 = (jax.tree.map(lambda x: x[:, None], v) for v in totals_batched(state0))
    flow = sum(
        money.to_int64(c) - money.to_int64(e) - (money.to_int64(ci) - money.to_int64(ei))
        for c, e, ci, ei in zip(cash, ext, c0, e0, strict=True)
    )
    assert np.all(flow == 0)
    lots = sum(np.asarray(p) - np.asarray(pi) for p, pi in zip(position, p0, strict=True))
    assert np.all(lots == 0)
    traded = np.asarray(position[env.learner])[:, -1] - np.asarray(p0[env.learner])[:, 0]
    assert np.all(traded != 0), "the learners traded through the auction"


def totals_batched(state):
    return jax.vmap(totals)(state)


def test_same_seed_same_episode_and_vmap_over_params(exec_runs):
    run, keys, batch, first = exec_runs
    again = run(keys, batch)
    chex.assert_trees_all_equal(first[2], again[2])
    filled = np.asarray(first[2][3]["filled_fraction"]) * np.asarray(batch.task.target)[:, None]
    assert filled.max(1)[1] > filled.max(1)[0]  # the env with the larger target executed more
    other = run(keys[::-1], batch)  # new keys and new numbers: no new trace
    assert not np.array_equal(np.asarray(first[2][1]), np.asarray(other[2][1]))
    more = batch.replace(task=batch.task.replace(penalty_ticks=batch.task.penalty_ticks + 1))
    run(keys, more)


def test_env_logic_jit_matches_disable_jit(execution, exec_runs):
    """The env's own code (intent, scoring, auto-reset, observation) jitted and eager on
    one recorded tick (the tick itself: tests/test_engine.py)."""
    env, params = execution
    ys = exec_runs[3][2]
    state = jax.tree.map(lambda x: x[0], exec_runs[3][1])
    after = jax.tree.map(lambda x: x[0, 0], ys[8])  # the learner's accounts after step 0

    def logic(state, after, action, params):
        view = observe(state.sim, params.sim)
        before = state.sim.accounts[env.learner]
        intent = env.task.intent(action, state.task, before, view, state.t, params.task)
        update = env.task.update(state.task, before, after, view, state.t + 1, params.task)
        fresh = env.reset_episode(jax.random.key(4), state, params)
        return intent, update, fresh.task, env.get_obs(state, params)

    action = jnp.array([[3, 5]])
    compiled = jax.jit(logic)(state, after, action, params)
    with jax.disable_jit():
        eager = logic(state, after, action, params)
    chex.assert_trees_all_close(compiled, eager, rtol=1e-5, atol=1e-4)
    assert int(compiled[0].qty.sum()) > 0


def test_two_learners_orders_meet_in_the_same_auction():
    """Learner 0 buys, learner 1 sells inside the pool's spread: they fill each other."""
    market = [m for m in SMALL if "noise" not in m] + ["~agents@families.noise"]
    env, params = qenv.make(
        "execution", n_learners=2, market=market, warmup=WARMUP, target=10, horizon=2, side=[1, -1]
    )
    assert env.observation_space(params).shape == (2, env.obs_dim)

    @jax.jit
    def reset_and_step(key, params):
        obs, state = env.reset(key, params)
        view = observe(state.sim, params.sim)
        spread = view.best_ask[0] - view.best_bid[0]
        action = jnp.array([[4, 3], [4, 3]])  # twice due = all 10 lots, one tick inside
        out = env.step(key, state, action, params)
        return state, out, spread

    state, (obs, new, reward, done, info), spread = reset_and_step(jax.random.key(1), params)
    assert int(spread) >= 2 and obs.shape == (2, env.obs_dim) and reward.shape == (2,)
    moved = [
        np.asarray(a.position - b.position)[:, 0]
        for a, b in zip(new.sim.accounts, state.sim.accounts, strict=True)
    ]
    assert moved[env.learner].tolist() == [10, -10]
    assert all(not m.any() for i, m in enumerate(moved) if i != env.learner)
    assert info["filled_fraction"].shape == (2,) and bool(done)


@pytest.mark.parametrize(
    ("task", "policies", "market"),
    [
        ("market_making", ["avellaneda_stoikov", "random"], []),
        (
            "trading",
            ["buy_and_hold", "flat"],
            ["market.symbols=2", "market.initial_price=[5000,3000]", "market.sectors=[0,0]"],
        ),
    ],
)
def test_other_tasks_run_with_their_baselines_within_limits(task, policies, market):
    env, params = qenv.make(task, market=SMALL + market, warmup=WARMUP, horizon=6)
    assert set(baselines.names(task)) >= set(policies)
    run = jax.jit(episode_runner(env, 12, [baselines.get(env, name) for name in policies]))
    for which, name in enumerate(policies):
        obs0, state0, ys = run(jax.random.key(2), params, which)
        action = baselines.get(env, name)(jax.random.key(1), obs0, state0, params)
        assert bool(env.action_space(params).contains(action))
        obs, reward, done, info, _, _, _, _, learner = ys
        assert bool(jnp.isfinite(obs).all()) and bool(jnp.isfinite(reward).all())
        assert set(info) >= set(env.task.metrics) and info["tick"].dtype == jnp.int32
        assert np.asarray(done).sum() == 2
        limits = params.task
        limit = limits.inventory_limit if task == "market_making" else limits.position_limit
        assert int(jnp.abs(learner.position).max()) <= int(limit)
        pnl = np.asarray(info["pnl"])
        assert np.all(pnl[~np.asarray(done)] == 0)
        if name == "buy_and_hold":
            assert int(learner.position[-1].min()) > 0
        if name == "flat":
            assert int(jnp.abs(learner.position).max()) == 0


def test_gymnasium_single_env_passes_check_env():
    env = MarketGymEnv("execution", market=SMALL, warmup=WARMUP, **EXEC)
    check_env(env, skip_render_check=True)


def test_gymnasium_vector_env_steps_a_batch_in_numpy():
    venv = MarketVectorEnv("execution", num_envs=3, market=SMALL, warmup=WARMUP, **EXEC)
    assert isinstance(venv, gymnasium.vector.VectorEnv)
    obs, _ = venv.reset(seed=1)
    assert isinstance(obs, np.ndarray) and obs.shape == (3, venv.single_observation_space.shape[0])
    assert obs in venv.observation_space
    ended = np.zeros(3, bool)
    for _ in range(EXEC["horizon"]):
        obs, reward, term, trunc, info = venv.step(venv.action_space.sample())
        assert obs in venv.observation_space and reward.shape == (3,) and not trunc.any()
        assert info["final_obs"].shape == obs.shape
        assert np.array_equal(info["_final_obs"], term)
        assert np.all((info["episode_length"] > 0) == term)
        ended |= term
    assert ended.all(), "every env ends an episode within the horizon"
    again, _ = venv.reset(seed=1)
    first, _ = venv.reset(seed=1)
    assert np.array_equal(again, first)
