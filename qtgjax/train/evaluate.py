"""Held-out evaluation: roll policies over the same episodes, tabulate, compare in pairs.

Episode i is reset with ``jax.random.key(eval.seed + i)`` and every step's env key is split
from it the same way for every policy (common random numbers): the policies face the same
markets, so their per-episode differences are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
from scipy import stats

from qtgjax.train.tasks import TaskSpec


def episode_limit(env_params, max_steps: int | None) -> int:
    """Steps to roll per episode: ``max_steps``, else the env's episode length."""
    if max_steps is not None:
        return int(max_steps)
    for path in ("max_steps_in_episode", "task.horizon"):
        node = env_params
        for name in path.split("."):
            node = getattr(node, name, None)
        if node is not None:
            return int(np.asarray(node))
    raise ValueError("the env's params give no episode length: set eval.max_steps")


def _reward_zeros(env, env_params, policy, key, obs, state) -> jax.Array:
    """float32 zeros shaped like the env's reward (``[]`` or ``[L]``)."""
    action = policy(key, obs, state)
    shape = jax.eval_shape(env.step, key, state, action, env_params)[2].shape
    return jnp.zeros(shape, jnp.float32)


def rollout_episodes(
    env,
    env_params,
    policies: Sequence[Callable],
    keys: jax.Array,
    metric_keys: tuple[str, ...],
    steps: int,
) -> dict[str, jax.Array]:
    """The first episode of each key under each ``policy(key, obs, state) -> action``.

    All policies run in one ``vmap`` (a ``lax.switch`` picks the policy, so the env step is
    compiled once). Not jitted (callers jit). Returns arrays ``[P, B, ...]`` (``...`` = the
    reward's shape, ``[L]`` for market tasks): float32 ``episode_return`` and each metric at
    the episode's end, and bool ``finished``.
    """
    policies = list(policies)

    def one(pid, key):
        def policy(k, obs, state):
            return jax.lax.switch(pid, policies, k, obs, state)

        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, env_params)
        probe = _reward_zeros(env, env_params, policy, k_run, obs, state)

        def body(carry, k):
            obs, state, finished, ret, metrics = carry
            k_act, k_step = jax.random.split(k)
            action = policy(k_act, obs, state)
            obs, state, reward, done, info = env.step(k_step, state, action, env_params)
            live = ~finished
            ret = ret + jnp.where(live, reward, 0.0)
            ends = live & done
            metrics = {m: jnp.where(ends, info[m], v) for m, v in metrics.items()}
            return (obs, state, finished | done, ret, metrics), None

        init = (obs, state, jnp.bool_(False), probe, {m: probe for m in metric_keys})
        (_, _, finished, ret, metrics), _ = jax.lax.scan(body, init, jax.random.split(k_run, steps))
        return {"episode_return": ret, "finished": finished} | metrics

    per_key = jax.vmap(one, in_axes=(None, 0))
    return jax.vmap(per_key, in_axes=(0, None))(jnp.arange(len(policies)), keys)


def episode_frame(
    out: dict, policy: str, train_seed: int | None, seeds: np.ndarray, metric_keys: tuple[str, ...]
) -> pl.DataFrame:
    """One row per (episode, learner) of one policy (schema: see the README)."""
    ret = np.asarray(out["episode_return"], np.float64).reshape(len(seeds), -1)
    learners = ret.shape[1]
    cols = {
        "policy": [policy] * ret.size,
        "train_seed": pl.Series([train_seed] * ret.size, dtype=pl.Int64),
        "seed": np.repeat(seeds.astype(np.int64), learners),
        "learner": np.tile(np.arange(learners, dtype=np.int64), len(seeds)),
        "episode_return": ret.ravel(),
    }
    for m in metric_keys:
        cols[m] = np.asarray(out[m], np.float64).reshape(-1)
    return pl.DataFrame(cols)


def paired_comparison(df: pl.DataFrame, task: TaskSpec, train_seed: int, baseline: str) -> dict:
    """Mean difference (PPO - baseline) of the headline metric with a 95% t interval."""
    m = task.headline
    ppo = df.filter((pl.col("policy") == "ppo") & (pl.col("train_seed") == train_seed))
    base = df.filter(pl.col("policy") == baseline)
    joined = ppo.join(base, on=["seed", "learner"], suffix="_base")
    diff = (joined[m] - joined[f"{m}_base"]).to_numpy()
    n = diff.size
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf
    low, high = mean - half, mean + half
    better = mean > 0 if task.higher_is_better else mean < 0
    return {
        "policy": "ppo",
        "train_seed": train_seed,
        "baseline": baseline,
        "metric": m,
        "higher_is_better": task.higher_is_better,
        "episodes": n,
        "mean_policy": float(joined[m].mean()),
        "mean_baseline": float(joined[f"{m}_base"].mean()),
        "mean_difference": mean,
        "ci95": [low, high],
        "ci_excludes_zero": bool(low > 0 or high < 0),
        "policy_better": bool(better and (low > 0 or high < 0)),
    }
