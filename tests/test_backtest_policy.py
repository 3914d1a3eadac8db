"""A trained RL policy trading on bars (``strategy=policy``): a tiny saved policy trades,
and each bar its action is the policy's own ``act`` on the observation built from the
bar's view and the account, as its environment would build it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_backtest import SHORT, walk

from qtgjax.backtest import backtest
from qtgjax.config.build import ConfigError

HORIZON = 25


@pytest.fixture(scope="module")
def saved_policy(tmp_path_factory):
    """An untrained trading policy (8 hidden units) whose logits are scaled up so that its
    greedy action changes with the observation; saved as qtgjax-train saves one."""
    from qtgjax.env import make
    from qtgjax.train import PPOConfig, agent_layout, save_policy
    from qtgjax.train.networks import init_actor_critic
    from qtgjax.train.types import ObsStats

    env, env_params = make("trading", horizon=HORIZON)
    layout = agent_layout(env, env_params)
    params = init_actor_critic(jax.random.key(3), layout.obs_dim, layout.spec, (8,), -0.5)
    params["actor"]["out"]["w"] = params["actor"]["out"]["w"] * 300.0
    d = layout.obs_dim
    stats = ObsStats(jnp.full(d, 0.1), jnp.full(d, 2.0), jnp.float32(100.0))
    seeds = jax.tree.map(lambda x: jnp.asarray(x)[None], (params, stats))
    folder = tmp_path_factory.mktemp("policy")
    save_policy(folder, *seeds, layout, PPOConfig(num_seeds=1, hidden=(8,)), "trading",
                {"horizon": HORIZON})
    return folder


def test_policy_trades_on_bars_with_its_own_actions(saved_policy):
    """fill=close, no costs: every order of the trading task (target position, marketable
    at the close) fills at once, so the position after bar b is the target of the policy's
    action on bar b's observation: the 16 market features of the bar's view, the position
    before the bar / position_limit and the episode's time left (episodes of HORIZON bars
    from the first bar whose indicators are ready, as the env's auto-reset runs them)."""
    from qtgjax.backtest.engine import bar_view
    from qtgjax.backtest.views import gather_indicators
    from qtgjax.env.features import build_obs
    from qtgjax.train import load_policy

    bars = walk(seed=8)
    r = backtest(overrides=["strategy=policy", f"policy.path={saved_policy}", "fill=close",
                            "costs=none", *SHORT], bars=[bars])
    position = r._arrays()["position"][0, :, 0]
    trades = r.trades()
    assert trades.height > 50 and (trades["phase"] == "close").all()
    cols, market = r.setup.columns, r.setup.market
    warm = int(cols.warm_up[0])
    limit = 100  # the trading task's position_limit

    def observation(t, before):
        tables_t = {k: v[t] for k, v in market.tables.items()}
        rows = {k: v[0] for k, v in cols.rows.items()}
        fields, ind = gather_indicators(tables_t, rows, 0, t + 1, cols.warm_up[0])
        view = bar_view(t, market.close[t, 0], market.volume[t, 0], fields, ind, 0.0)
        episode_t = (t - warm) % HORIZON
        task = jnp.stack([before / limit, (HORIZON - episode_t) / HORIZON]).astype(jnp.float32)
        return build_obs(view, (0,), task[None])[0]

    bar = jnp.arange(warm, len(bars), dtype=jnp.int32)
    before = jnp.asarray(position[warm - 1 : -1], jnp.float32)
    obs = jax.jit(jax.vmap(observation))(bar, before)
    policy = load_policy(saved_policy)
    keys = jax.random.split(jax.random.key(0), len(bar))
    action = np.asarray(jax.vmap(policy.act)(keys, obs))[:, 0]
    assert len(set(action.tolist())) >= 3  # the policy really chooses
    target = np.round((action - 2) * limit / 2).astype(np.int64)
    np.testing.assert_array_equal(position[warm:], target)
    assert (position[:warm] == 0).all()  # nothing before the indicators are ready


def test_policy_config_errors(saved_policy, tmp_path):
    with pytest.raises(ConfigError, match="policy.path: .* is not a folder with a saved policy"):
        backtest(overrides=["strategy=policy", f"policy.path={tmp_path}"], bars=[walk(n=50)])
    with pytest.raises(ConfigError, match="policy: seed 3 not in 0..0"):
        backtest(overrides=["strategy=policy", f"policy.path={saved_policy}", "policy.seed=3"],
                 bars=[walk(n=50)])
    with pytest.raises(ConfigError, match="params.gamma: not a parameter of the policy's task"):
        backtest(overrides=["strategy=policy", f"policy.path={saved_policy}",
                            "params.gamma=0.1"], bars=[walk(n=50)])
    with pytest.raises(ConfigError, match="trades 1 symbol.* a column here has 2"):
        backtest(overrides=["strategy=policy", f"policy.path={saved_policy}", "portfolio=true"],
                 bars=[walk(n=50), walk(n=50, name="other")])
