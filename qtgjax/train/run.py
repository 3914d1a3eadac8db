"""What ``qtgjax-train`` does, one import away: train PPO on a task (all seeds in one
``jit(vmap)``), save the policy, evaluate it and the task's baselines on held-out episodes,
and write ``learning_curve.parquet``, ``evaluation.parquet``, ``summary.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
import polars as pl
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from qtgjax.config.build import ConfigError
from qtgjax.io.atomic import write_parquet, write_text
from qtgjax.train.adapter import agent_layout
from qtgjax.train.config import train_spec
from qtgjax.train.evaluate import episode_frame, episode_limit, paired_comparison, rollout_episodes
from qtgjax.train.io import curve_frame, save_policy
from qtgjax.train.policy import act
from qtgjax.train.ppo import make_train
from qtgjax.train.tasks import baseline_policy, make_task_env, task_spec
from qtgjax.train.types import TrainSpec


@dataclass(frozen=True)
class TrainResult:
    """A finished run: its tables and the summary written to ``summary.json``."""

    curve: pl.DataFrame
    evaluation: pl.DataFrame
    summary: dict
    folder: Path


def make_env(spec: TrainSpec):
    """``qtgjax.env.make`` with the config's ``env`` overrides; bad ones are ConfigErrors."""
    try:
        return make_task_env(spec.task, spec.env)
    except (KeyError, ValueError, TypeError) as err:
        raise ConfigError(f"env: {err.args[0] if err.args else err}") from err


def _progress_bar(spec: TrainSpec):
    """A host callback that advances a tqdm bar by one update's env steps (the bar opens
    at the first call, i.e. once compiling is over, so its rate is the training speed)."""
    cfg = spec.ppo
    total = cfg.num_updates * cfg.batch_size * cfg.num_seeds
    bars = []

    def update(mean_return) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="step", unit_scale=True, desc=f"ppo {spec.task}"))
        bars[0].update(cfg.batch_size)
        bars[0].set_postfix(mean_return=f"{float(np.asarray(mean_return)):.3f}", refresh=False)

    return bars, update


def train_policies(spec: TrainSpec, env, env_params, metric_keys):
    """Compile and run the vmapped training; returns (runner state, metrics, timings)."""
    bars, update = _progress_bar(spec) if spec.progress else ([], None)
    train = jax.jit(jax.vmap(make_train(spec.ppo, env, env_params, metric_keys, update)))
    keys = jax.random.split(jax.random.key(spec.seed), spec.ppo.num_seeds)
    started = time.perf_counter()
    compiled = train.lower(keys).compile()
    compiled_at = time.perf_counter()
    runner, metrics = jax.block_until_ready(compiled(keys))
    finished = time.perf_counter()
    for bar in bars:
        bar.close()
    steps = spec.ppo.num_updates * spec.ppo.batch_size * spec.ppo.num_seeds
    timing = {
        "compile_s": compiled_at - started,
        "train_s": finished - compiled_at,
        "env_steps": steps,
        "env_steps_per_s": steps / max(finished - compiled_at, 1e-9),
    }
    return runner, metrics, timing


def evaluate_all(spec: TrainSpec, env, env_params, runner, layout) -> pl.DataFrame:
    """PPO (every trained seed) and the task's baselines on the same held-out episodes."""
    task = task_spec(spec.task)
    seeds = spec.eval.seed + np.arange(spec.eval.episodes)
    keys = jax.vmap(jax.random.key)(seeds)
    steps = episode_limit(env_params, spec.eval.max_steps)
    cfg = spec.ppo
    shared = cfg.shared_policy

    def ppo(i):
        params, stats = jax.tree.map(lambda x: x[i], (runner.train.params, runner.obs_stats))

        def policy(key, obs, state):
            det = spec.eval.deterministic
            return act(
                params, stats, key, obs, layout, cfg.activation, cfg.normalize_obs, det, shared
            )

        return policy

    def baseline(name):
        base = baseline_policy(env, name)
        return lambda key, obs, state: base(key, obs, state, env_params)

    names = [("ppo", i) for i in range(cfg.num_seeds)] + [(b, None) for b in task.baselines]
    policies = [ppo(i) for i in range(cfg.num_seeds)] + [baseline(b) for b in task.baselines]
    run = jax.jit(lambda k: rollout_episodes(env, env_params, policies, k, task.metrics, steps))
    out = jax.device_get(run(keys))
    unfinished = int(np.size(out["finished"]) - np.sum(out["finished"]))
    if unfinished:
        raise RuntimeError(
            f"{unfinished} evaluation episodes did not end in {steps} steps: "
            "set eval.max_steps to the episode length"
        )
    frames = [
        episode_frame({k: v[p] for k, v in out.items()}, name, seed, seeds, task.metrics)
        for p, (name, seed) in enumerate(names)
    ]
    return pl.concat(frames)


def summarize(spec: TrainSpec, curve, evaluation, timing) -> dict:
    """The paired comparisons of every trained seed against every baseline, and timings."""
    task = task_spec(spec.task)
    comparisons = [
        paired_comparison(evaluation, task, seed, name)
        for seed in range(spec.ppo.num_seeds)
        for name in task.baselines
    ]
    last = curve.filter(pl.col("update") == curve["update"].max())
    return {
        "task": spec.task,
        "headline_metric": task.headline,
        "comparisons": comparisons,
        "beats_all_baselines": all(c["policy_better"] for c in comparisons),
        "final_mean_episode_return": last["mean_episode_return"].to_list(),
        "timing": timing,
        "config": {
            "seed": spec.seed,
            "env": spec.env,
            "ppo": asdict(spec.ppo),
            "eval": asdict(spec.eval),
        },
        "devices": [str(d) for d in jax.devices()],
    }


def train_and_evaluate(cfg: Mapping, folder: str | Path) -> TrainResult:
    """Validate ``cfg`` (as ``conf/train.yaml`` composes it), train, save, evaluate, write.

    Files in ``folder``: ``learning_curve.parquet``, ``evaluation.parquet``, ``params.npz``,
    ``policy.json``, ``summary.json``, ``config.yaml`` (schemas in the README).
    """
    spec = train_spec(cfg)
    folder = Path(folder)
    write_text(OmegaConf.to_yaml(OmegaConf.create(dict(cfg))), folder / "config.yaml")
    env, env_params = make_env(spec)
    layout = agent_layout(env, env_params)
    metric_keys = task_spec(spec.task).metrics
    runner, metrics, timing = train_policies(spec, env, env_params, metric_keys)
    curve = curve_frame(metrics, spec.ppo, metric_keys)
    write_parquet(curve, folder / "learning_curve.parquet")
    save_policy(
        folder, runner.train.params, runner.obs_stats, layout, spec.ppo, spec.task, spec.env
    )
    started = time.perf_counter()
    evaluation = evaluate_all(spec, env, env_params, runner, layout)
    timing["eval_s"] = time.perf_counter() - started
    write_parquet(evaluation, folder / "evaluation.parquet")
    summary = summarize(spec, curve, evaluation, timing)
    write_text(json.dumps(summary, indent=2), folder / "summary.json")
    return TrainResult(curve, evaluation, summary, folder)
