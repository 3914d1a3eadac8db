"""``conf/train.yaml`` (a plain dict) -> validated :class:`~qtgjax.train.types.TrainSpec`.

Everything is checked before anything compiles; a bad key or value raises
:class:`~qtgjax.config.build.ConfigError` naming the key and the allowed range.
"""

from __future__ import annotations

from collections.abc import Mapping

from qtgjax.config.build import ConfigError, check_keys, number, section
from qtgjax.train.tasks import task_names
from qtgjax.train.types import EvalConfig, PPOConfig, TrainSpec

PPO_SCHEMA = {
    "num_seeds": (1, 4096),
    "total_timesteps": (1, 10**12),
    "num_envs": (1, 1 << 20),
    "num_steps": (1, 1 << 20),
    "update_epochs": (1, 1000),
    "num_minibatches": (1, 1 << 20),
    "lr": (1e-12, 10.0),
    "gamma": (0.0, 1.0),
    "gae_lambda": (0.0, 1.0),
    "clip_eps": (1e-6, 10.0),
    "ent_coef": (0.0, 100.0),
    "vf_coef": (0.0, 100.0),
    "max_grad_norm": (1e-9, 1e9),
    "reward_scale": (1e-12, 1e12),
    "init_log_std": (-20.0, 5.0),
}
PPO_FLAGS = ("anneal_lr", "normalize_obs", "shared_policy")
NETWORK_KEYS = ("hidden", "activation")
ACTIVATIONS = ("tanh", "relu")
EVAL_SCHEMA = {"episodes": (1, 10**7), "seed": (0, 2**31 - 1)}
TOP_KEYS = ("task", "seed", "out", "overwrite", "env", "ppo", "network", "eval", "progress")


def _flag(cfg: Mapping, key: str, path: str) -> bool:
    value = cfg.get(key)
    if not isinstance(value, bool):
        where = f"{path}.{key}" if path else key
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _ppo(cfg: Mapping) -> dict:
    ppo = section(cfg, "ppo")
    check_keys(ppo, set(PPO_SCHEMA) | set(PPO_FLAGS), "ppo")
    values = {k: number(ppo, k, b, "ppo") for k, b in PPO_SCHEMA.items()}
    values.update({k: _flag(ppo, k, "ppo") for k in PPO_FLAGS})
    batch = values["num_envs"] * values["num_steps"]
    if batch % values["num_minibatches"]:
        raise ConfigError(
            f"ppo.num_minibatches: {values['num_minibatches']} must divide "
            f"ppo.num_envs * ppo.num_steps = {batch}"
        )
    if values["total_timesteps"] < batch:
        raise ConfigError(
            f"ppo.total_timesteps: {values['total_timesteps']} is below one update "
            f"(ppo.num_envs * ppo.num_steps = {batch})"
        )
    return values


def _network(cfg: Mapping) -> dict:
    net = section(cfg, "network")
    check_keys(net, NETWORK_KEYS, "network")
    hidden = net.get("hidden")
    if not isinstance(hidden, list | tuple) or not hidden:
        raise ConfigError(f"network.hidden: expected a non-empty list of widths, got {hidden!r}")
    widths = tuple(
        number({"hidden": h}, "hidden", (1, 1 << 16), f"network.hidden[{i}]")
        for i, h in enumerate(hidden)
    )
    if net.get("activation") not in ACTIVATIONS:
        raise ConfigError(
            f"network.activation: {net.get('activation')!r} is not one of {list(ACTIVATIONS)}"
        )
    return {"hidden": widths, "activation": net["activation"]}


def _eval(cfg: Mapping) -> EvalConfig:
    ev = section(cfg, "eval")
    check_keys(ev, set(EVAL_SCHEMA) | {"max_steps", "deterministic"}, "eval")
    values = {k: number(ev, k, b, "eval") for k, b in EVAL_SCHEMA.items()}
    max_steps = ev.get("max_steps")
    if max_steps is not None:
        max_steps = number(ev, "max_steps", (1, 10**7), "eval")
    return EvalConfig(
        **values, max_steps=max_steps, deterministic=_flag(ev, "deterministic", "eval")
    )


def _check_learners(ppo: PPOConfig, env: Mapping) -> None:
    """Separate policies need several learners: with one, ``shared_policy`` is moot."""
    learners = env.get("n_learners", 1)
    several = isinstance(learners, int) and not isinstance(learners, bool) and learners >= 2
    if not ppo.shared_policy and not several:
        raise ConfigError(
            "ppo.shared_policy: false (one policy per learner) needs env.n_learners >= 2, "
            f"got n_learners={learners!r}"
        )


def train_spec(cfg: Mapping) -> TrainSpec:
    """Validate a train config (as ``conf/train.yaml`` composes it) into a :class:`TrainSpec`.

    Raises:
        ConfigError: naming the first unknown key or out-of-range value.
    """
    unknown = sorted(set(cfg) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key; allowed keys: {sorted(TOP_KEYS)}")
    task = cfg.get("task")
    if task not in task_names():
        raise ConfigError(f"task: {task!r} is not one of {task_names()}")
    env = cfg.get("env") or {}
    if not isinstance(env, Mapping):
        raise ConfigError(f"env: expected a mapping of env overrides, got {env!r}")
    ppo = PPOConfig(**_ppo(cfg), **_network(cfg))
    _check_learners(ppo, env)
    return TrainSpec(
        task=task,
        env=dict(env),
        seed=number(cfg, "seed", (0, 2**31 - 1), ""),
        ppo=ppo,
        eval=_eval(cfg),
        progress=_flag(cfg, "progress", ""),
    )
