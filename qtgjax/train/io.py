"""Files of a training run: the saved policy (``params.npz`` + ``policy.json``, written
atomically) and the learning curve table.

``params.npz`` holds every parameter and observation moment of every trained seed, named
``actor/layer0/w``, ..., ``obs_stats/mean``, each with a leading seed axis (parameters then
a learner axis when ``shared_policy`` is false);
``policy.json`` holds what is needed to rebuild the network and its action space.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from qtgjax.io.atomic import write_atomic, write_text
from qtgjax.train import distributions as dist
from qtgjax.train.adapter import AgentLayout
from qtgjax.train.policy import Policy
from qtgjax.train.types import ObsStats, PPOConfig, UpdateMetrics

PARAMS_FILE = "params.npz"
POLICY_FILE = "policy.json"


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat |= _flatten(value, key + "/")
        else:
            flat[key] = np.asarray(value)
    return flat


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = jnp.asarray(value)
    return tree


def save_policy(
    folder: str | Path,
    params: dict,
    obs_stats: ObsStats,
    layout: AgentLayout,
    config: PPOConfig,
    task: str,
    env_overrides: dict,
) -> Path:
    """Write ``params.npz`` (all seeds, leading seed axis) and ``policy.json`` atomically."""
    folder = Path(folder)
    arrays = _flatten({"params": params, "obs_stats": obs_stats._asdict()})

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(folder / PARAMS_FILE, write)
    meta = {
        "task": task,
        "env_overrides": env_overrides,
        "num_seeds": config.num_seeds,
        "hidden": list(config.hidden),
        "activation": config.activation,
        "normalize_obs": config.normalize_obs,
        "shared_policy": config.shared_policy,
        "learners": layout.learners,
        "has_learner_axis": layout.has_axis,
        "obs_dim": layout.obs_dim,
        "action": layout.spec.to_dict(),
    }
    write_text(json.dumps(meta, indent=2), folder / POLICY_FILE)
    return folder


def _single_learner(policy: Policy, learner: int) -> Policy:
    """The policy of learner ``learner`` alone: it acts on that learner's obs ``[F]``."""
    layout = policy.layout
    if not 0 <= learner < layout.learners:
        raise ValueError(f"learner {learner} not in 0..{layout.learners - 1}")
    params = policy.params
    if not policy.shared:
        params = jax.tree.map(lambda x: x[learner], params)
    one = AgentLayout(1, False, layout.obs_dim, layout.spec)
    return replace(policy, params=params, layout=one, shared=True)


def load_policy(folder: str | Path, seed: int = 0, learner: int | None = None) -> Policy:
    """The policy of trained seed ``seed`` (index 0..num_seeds-1) saved in ``folder``.

    ``learner=None``: the policy of the whole env, acting on its obs (``[L, F]`` with L
    learners; each learner with its own parameters if they were trained separately).
    ``learner=l``: learner l's policy alone, acting on that learner's obs ``[F]``.

    Example (after ``qtgjax-train task=execution out=runs/exec``):
        >>> import jax, qtgjax.env, qtgjax.train
        >>> policy = qtgjax.train.load_policy("runs/exec")            # doctest: +SKIP
        >>> env, params = qtgjax.env.make(policy.task, **dict(policy.env_overrides))  # +SKIP
        >>> obs, state = env.reset(jax.random.key(0), params)           # doctest: +SKIP
        >>> action = policy.act(jax.random.key(1), obs)                 # doctest: +SKIP
    """
    folder = Path(folder)
    meta = json.loads((folder / POLICY_FILE).read_text())
    if not 0 <= seed < meta["num_seeds"]:
        raise ValueError(f"seed {seed} not in 0..{meta['num_seeds'] - 1} ({folder})")
    with np.load(folder / PARAMS_FILE) as npz:
        tree = _unflatten({k: npz[k][seed] for k in npz.files})
    layout = AgentLayout(
        meta["learners"],
        meta["has_learner_axis"],
        meta["obs_dim"],
        dist.ActionSpec.from_dict(meta["action"]),
    )
    policy = Policy(
        params=tree["params"],
        obs_stats=ObsStats(**tree["obs_stats"]),
        layout=layout,
        activation=meta["activation"],
        normalize=meta["normalize_obs"],
        task=meta["task"],
        env_overrides=tuple(sorted(meta["env_overrides"].items())),
        shared=meta.get("shared_policy", True),
    )
    return policy if learner is None else _single_learner(policy, learner)


def curve_frame(metrics: UpdateMetrics, config: PPOConfig, metric_keys) -> pl.DataFrame:
    """Learning curve: one row per trained seed and update (schema: see the README).

    Means are over the episodes that ended during the update's rollout (null if none).
    """
    episodes = np.asarray(metrics.episodes, np.int64)
    n_seeds, n_updates = episodes.shape
    denom = np.where(episodes > 0, episodes, 1).astype(np.float64)

    def mean_of(sums) -> pl.Series:
        values = np.where(episodes > 0, np.asarray(sums, np.float64) / denom, np.nan)
        return pl.Series(values.ravel()).fill_nan(None)

    loss = np.asarray(metrics.loss, np.float64).reshape(-1, 3)
    cols = {
        "train_seed": np.repeat(np.arange(n_seeds, dtype=np.int64), n_updates),
        "update": np.tile(np.arange(n_updates, dtype=np.int64), n_seeds),
        "env_steps": np.tile(
            (np.arange(n_updates, dtype=np.int64) + 1) * config.batch_size, n_seeds
        ),
        "episodes": episodes.ravel(),
        "mean_episode_return": mean_of(metrics.return_sum),
    }
    cols |= {m: mean_of(metrics.metric_sums[m]) for m in metric_keys}
    cols |= {"policy_loss": loss[:, 0], "value_loss": loss[:, 1], "entropy": loss[:, 2]}
    return pl.DataFrame(cols)
