"""PPO (qtgjax.train): it learns on a tiny env, is deterministic per seed, saves and reloads,
validates its config, and ``qtgjax-train`` writes its tables with the documented schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest
from train_helpers import ContextBandit, RivalBandit

from qtgjax import ConfigError, load_config
from qtgjax.train import (
    PPOConfig,
    agent_layout,
    curve_frame,
    load_policy,
    make_train,
    rollout_episodes,
    save_policy,
    train_spec,
)
from qtgjax.train.policy import act

ROOT = Path(__file__).resolve().parents[1]
SMALL = PPOConfig(
    num_seeds=2,
    total_timesteps=16_384,
    num_envs=16,
    num_steps=32,
    lr=3e-3,
    hidden=(32, 32),
)


def _train(env, config: PPOConfig, seed: int = 0, progress=None):
    train = make_train(config, env, env.default_params(), ("hit",), progress)
    train = jax.jit(jax.vmap(train))
    keys = jax.random.split(jax.random.key(seed), config.num_seeds)
    return train, keys


@pytest.fixture(scope="module")
def bandit_run():
    """Two seeds of PPO on the Discrete bandit, and the compiled ``train`` to run again."""
    env = ContextBandit()
    train, keys = _train(env, SMALL)
    runner, metrics = train(keys)
    return env, train, keys, runner, metrics


def _final_return(metrics) -> np.ndarray:
    """Mean episode return of each seed over its last 4 updates."""
    ret = np.asarray(metrics.return_sum) / np.maximum(np.asarray(metrics.episodes), 1)
    return ret[:, -4:].mean(axis=1)


def test_ppo_learns_the_bandit_far_beyond_random(bandit_run):
    _, _, _, _, metrics = bandit_run
    # Random play earns 8 / 4 = 2 per episode; the optimum is 8.
    first = np.asarray(metrics.return_sum)[:, 0] / np.asarray(metrics.episodes)[:, 0]
    assert np.all(first < 3.5)
    assert np.all(_final_return(metrics) > 7.0)
    hits = np.asarray(metrics.metric_sums["hit"])[:, -1] / np.asarray(metrics.episodes)[:, -1]
    assert np.all(hits > 0.85)  # the info metric is recorded where episodes end


def test_training_is_deterministic_and_seeds_differ(bandit_run):
    _, train, keys, runner, metrics = bandit_run
    runner2, metrics2 = train(keys)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), metrics, metrics2))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), runner, runner2))
    w = np.asarray(runner.train.params["actor"]["out"]["w"])
    assert not np.allclose(w[0], w[1])
    assert not np.array_equal(np.asarray(metrics.return_sum[0]), np.asarray(metrics.return_sum[1]))


def test_gaussian_head_learns_the_continuous_bandit():
    env = ContextBandit(continuous=True)
    config = PPOConfig(**{**SMALL.__dict__, "num_seeds": 1})
    seen = []
    train, keys = _train(env, config, seed=3, progress=lambda r: seen.append(float(r)))
    runner, metrics = jax.block_until_ready(train(keys))
    assert _final_return(metrics)[0] > 5.0  # about 1.7 at the start; 8 is perfect
    # the progress callback fires once per update from inside the jit, with the mean return
    expected = np.asarray(metrics.return_sum[0]) / np.asarray(metrics.episodes[0])
    assert np.allclose(seen, expected, rtol=1e-5)
    params, stats = jax.tree.map(lambda x: x[0], (runner.train.params, runner.obs_stats))
    layout = agent_layout(env, env.default_params())

    def policy(key, obs, state):
        return act(params, stats, key, obs, layout, config.activation, True, True)

    keys = jax.vmap(jax.random.key)(jnp.arange(64))
    out = jax.jit(lambda k: rollout_episodes(env, env.default_params(), [policy], k, (), 8))(keys)
    assert bool(out["finished"].all())
    assert float(out["episode_return"].mean()) > 6.5  # the mean action is near each target


def test_saved_policy_reloads_and_acts_identically(bandit_run, tmp_path):
    env, _, _, runner, metrics = bandit_run
    layout = agent_layout(env, env.default_params())
    params, stats = runner.train.params, runner.obs_stats
    save_policy(tmp_path, params, stats, layout, SMALL, "bandit", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.npz", "policy.json"]
    noise = 0.1 * jax.random.normal(jax.random.key(0), (64, 4))
    obs = jax.nn.one_hot(jnp.arange(64) % 4, 4) + noise
    keys = jax.random.split(jax.random.key(1), 64)
    for seed in range(SMALL.num_seeds):
        policy = load_policy(tmp_path, seed=seed)
        p, s = jax.tree.map(lambda x, i=seed: x[i], (params, stats))
        for det in (True, False):
            want = jax.vmap(lambda k, o, p=p, s=s, d=det: act(p, s, k, o, layout, "tanh", True, d))
            got = jax.vmap(lambda k, o, pol=policy, d=det: pol.act(k, o, deterministic=d))
            assert np.array_equal(np.asarray(want(keys, obs)), np.asarray(got(keys, obs)))
    greedy = jax.vmap(load_policy(tmp_path).act)(keys, jax.nn.one_hot(jnp.arange(64) % 4, 4))
    assert np.mean(np.asarray(greedy) == np.arange(64) % 4) > 0.9
    curve = curve_frame(metrics, SMALL, ("hit",))
    assert curve.height == SMALL.num_seeds * SMALL.num_updates
    with pytest.raises(ValueError, match="seed 2"):
        load_policy(tmp_path, seed=2)


@pytest.fixture(scope="module")
def rival_runs():
    """PPO on the two-learner RivalBandit with one shared policy and with one per learner."""
    env = RivalBandit()
    runs = {}
    for shared in (True, False):
        config = PPOConfig(**{**SMALL.__dict__, "total_timesteps": 8192, "shared_policy": shared})
        train, keys = _train(env, config)
        runs[shared] = (config, *train(keys))
    return env, runs


def test_separate_policies_learn_what_a_shared_one_cannot(rival_runs):
    env, runs = rival_runs
    # per learner and episode: 8 at best; a shared policy earns 4 in expectation, always
    _, _, shared_metrics = runs[True]
    config, runner, metrics = runs[False]
    assert np.all(_final_return(metrics) > 7.0)
    assert np.all(np.abs(_final_return(shared_metrics) - 4.0) < 0.6)
    w = np.asarray(runner.train.params["actor"]["out"]["w"])
    assert w.shape == (2, 2, 32, 2)  # [seed, learner, hidden, logits]
    assert not np.allclose(w[:, 0], w[:, 1])
    assert all(x.shape[:2] == (2, 2) for x in jax.tree.leaves(runner.train.opt_state))


def test_separate_policies_save_reload_and_act_identically(rival_runs, tmp_path):
    env, runs = rival_runs
    config, runner, _ = runs[False]
    layout = agent_layout(env, env.default_params())
    params, stats = runner.train.params, runner.obs_stats
    save_policy(tmp_path, params, stats, layout, config, "rival", {})
    obs = jax.vmap(lambda k: env.reset(k, env.default_params())[0])(
        jax.random.split(jax.random.key(2), 32)
    )
    keys = jax.random.split(jax.random.key(3), 32)
    for seed in range(config.num_seeds):
        policy = load_policy(tmp_path, seed=seed)
        assert not policy.shared
        p, s = jax.tree.map(lambda x, i=seed: x[i], (params, stats))
        for det in (True, False):
            want = jax.vmap(
                lambda k, o, p=p, s=s, d=det: act(p, s, k, o, layout, "tanh", True, d, False)
            )(keys, obs)
            got = jax.vmap(lambda k, o, pol=policy, d=det: pol.act(k, o, deterministic=d))
            assert np.array_equal(np.asarray(want), np.asarray(got(keys, obs)))
        greedy = np.asarray(jax.vmap(policy.act)(keys, obs))  # [B, L, 1]
        assert np.array_equal(greedy[:, :, 0], np.tile([0, 1], (32, 1)))
        for learner in range(2):
            alone = load_policy(tmp_path, seed=seed, learner=learner)
            acts = np.asarray(jax.vmap(alone.act)(keys, obs[:, learner]))
            assert np.array_equal(acts, greedy[:, learner])
    with pytest.raises(ValueError, match="learner 2"):
        load_policy(tmp_path, learner=2)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("+ppo.learning_rate=0.1", "ppo.learning_rate: unknown key"),
        ("+typo=1", "typo: unknown key"),
        ("ppo.gamma=1.5", "ppo.gamma: 1.5 is out of range"),
        ("ppo.num_minibatches=7", "ppo.num_minibatches: 7 must divide"),
        ("network.activation=gelu", "network.activation"),
        ("+eval.episode=3", "eval.episode: unknown key"),
        ("task=poker", "task: 'poker' is not one of"),
        ("ppo.shared_policy=maybe", "ppo.shared_policy: expected true or false"),
        ("ppo.shared_policy=false", "ppo.shared_policy: false .* needs env.n_learners >= 2"),
    ],
)
def test_bad_config_keys_are_named(override, named):
    cfg = load_config([override], config_name="train")
    with pytest.raises(ConfigError, match=named):
        train_spec(cfg)


def test_default_config_is_valid():
    spec = train_spec(load_config(config_name="train"))
    assert spec.task == "execution" and spec.eval.episodes >= 256


TINY = [
    "task=execution",
    "progress=false",  # a program with host callbacks is never in the compilation cache
    "ppo.num_seeds=2",
    "ppo.num_envs=4",
    "ppo.num_steps=10",
    "ppo.total_timesteps=80",
    "ppo.num_minibatches=2",
    "network.hidden=[16]",
    "eval.episodes=6",
    "+env.horizon=10",
    "+env.target=20",
    "+env.warmup=5",
    # a small market of few families: compiling it is most of this test's time
    "+env.market=['~agents@families.momentum','~agents@families.fundamental',"
    "'~agents@families.market_maker','families.noise.n_agents=40',"
    "'families.avellaneda_stoikov.n_agents=4']",
]


def _cli(*args, cwd):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache"))
    cmd = [sys.executable, "-m", "qtgjax.cli.train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_rejects_a_bad_key_before_compiling(tmp_path):
    proc = _cli("+ppo.epochs=3", f"out={tmp_path / 'r'}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "qtgjax-train: bad config: ppo.epochs: unknown key" in proc.stderr


def test_cli_tiny_run_writes_documented_tables(tmp_path):
    out = tmp_path / "run"
    proc = _cli(*TINY, f"out={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {"learning_curve.parquet", "evaluation.parquet", "params.npz", "policy.json"}
    assert names | {"summary.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    curve = pl.read_parquet(out / "learning_curve.parquet")
    assert curve.schema == pl.Schema(
        {
            "train_seed": pl.Int64,
            "update": pl.Int64,
            "env_steps": pl.Int64,
            "episodes": pl.Int64,
            "mean_episode_return": pl.Float64,
            "shortfall_ticks": pl.Float64,
            "filled_fraction": pl.Float64,
            "policy_loss": pl.Float64,
            "value_loss": pl.Float64,
            "entropy": pl.Float64,
        }
    )
    assert curve.height == 2 * 2 and curve["env_steps"].max() == 80
    ev = pl.read_parquet(out / "evaluation.parquet")
    assert ev.schema == pl.Schema(
        {
            "policy": pl.String,
            "train_seed": pl.Int64,
            "seed": pl.Int64,
            "learner": pl.Int64,
            "episode_return": pl.Float64,
            "shortfall_ticks": pl.Float64,
            "filled_fraction": pl.Float64,
        }
    )
    assert ev.group_by("policy", "train_seed").len().height == 3  # ppo x 2 seeds, twap
    assert np.allclose(ev["episode_return"], -ev["shortfall_ticks"], atol=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert [c["baseline"] for c in summary["comparisons"]] == ["twap", "twap"]
    assert {"mean_difference", "ci95", "ci_excludes_zero"} <= set(summary["comparisons"][0])
    policy = load_policy(out, seed=1)
    import qtgjax.env

    env, params = qtgjax.env.make(policy.task, **dict(policy.env_overrides))
    obs = env.observation_space(params).sample(jax.random.key(0))
    assert env.action_space(params).contains(policy.act(jax.random.key(1), obs))


def test_cli_tiny_separate_policies_on_two_market_makers(tmp_path):
    out = tmp_path / "run"
    overrides = [o for o in TINY if not o.startswith(("task=", "+env.target", "ppo.num_seeds"))]
    mm = ["task=market_making", "+env.n_learners=2", "ppo.shared_policy=false"]
    proc = _cli(*overrides, *mm, "ppo.num_seeds=1", f"out={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {"learning_curve.parquet", "evaluation.parquet", "params.npz", "policy.json"}
    assert names | {"summary.json", "config.yaml"} <= {p.name for p in out.iterdir()}
    ev = pl.read_parquet(out / "evaluation.parquet")
    assert ev.height == 2 * 6 * 2  # (ppo, avellaneda_stoikov) x 6 episodes x 2 learners
    assert sorted(ev["learner"].unique().to_list()) == [0, 1]
    assert json.loads((out / "policy.json").read_text())["shared_policy"] is False
    with np.load(out / "params.npz") as npz:
        assert npz["params/actor/out/w"].shape[:2] == (1, 2)  # [seed, learner, ...]
    import qtgjax.env

    policy = load_policy(out)
    env, params = qtgjax.env.make(policy.task, **dict(policy.env_overrides))
    obs = env.observation_space(params).sample(jax.random.key(0))
    action = policy.act(jax.random.key(1), obs)
    assert env.action_space(params).contains(action)
    alone = load_policy(out, learner=1).act(jax.random.key(1), obs[1])
    assert np.array_equal(np.asarray(alone), np.asarray(action[1]))
