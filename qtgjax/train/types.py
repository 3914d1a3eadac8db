"""Plain data of the PPO trainer: the validated config and the pytrees the jitted loop carries.

Every pytree here is a ``NamedTuple`` of arrays (no Python objects per env or per seed), so
the whole training loop is one ``jit`` and ``vmap`` over seeds adds a leading axis to each leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax

Params = dict[str, Any]


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of one PPO run (static: they fix shapes and loop lengths).

    Attributes:
        num_seeds: independent training runs vmapped side by side.
        total_timesteps: env steps per seed (rounded down to whole updates).
        num_envs: E, environments stepped in parallel per seed.
        num_steps: T, steps per environment between two updates.
        update_epochs: passes over each rollout batch.
        num_minibatches: minibatches per epoch; must divide E * T.
        lr: Adam learning rate; linearly annealed to 0 when ``anneal_lr``.
        anneal_lr: anneal the learning rate over the updates.
        gamma: discount per env step.
        gae_lambda: GAE lambda.
        clip_eps: PPO ratio clip.
        ent_coef: entropy bonus weight.
        vf_coef: value-loss weight.
        max_grad_norm: global gradient-norm clip.
        reward_scale: rewards are multiplied by this before learning (returns are reported raw).
        normalize_obs: standardise observations with running mean/variance (saved with params).
        hidden: hidden layer widths of the actor and of the critic MLP.
        activation: ``tanh`` or ``relu``.
        init_log_std: initial log standard deviation of the Gaussian head (Box actions).
        shared_policy: one policy for all L learners of an env (parameter sharing); False:
            every learner has its own parameters and optimiser state (a leading ``[L]`` axis
            on both) and learns from its own rows only. Observation moments stay shared.
    """

    num_seeds: int = 1
    total_timesteps: int = 100_000
    num_envs: int = 16
    num_steps: int = 64
    update_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 1.0
    normalize_obs: bool = True
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = -0.5
    shared_policy: bool = True

    @property
    def batch_size(self) -> int:
        """Env steps per update and seed, E * T."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation.

    Attributes:
        episodes: held-out episodes per policy (paired: every policy sees the same seeds).
        seed: base seed of the held-out episodes (episode i uses fold_in(key(seed), i)).
        max_steps: steps rolled per episode (None: the env's ``max_steps_in_episode``).
        deterministic: act with the distribution's mode instead of sampling.
    """

    episodes: int = 256
    seed: int = 1_000_003
    max_steps: int | None = None
    deterministic: bool = True


@dataclass(frozen=True)
class TrainSpec:
    """A whole ``qtgjax-train`` run: task, env overrides, seeds, PPO and evaluation."""

    task: str
    env: dict
    seed: int
    ppo: PPOConfig
    eval: EvalConfig
    progress: bool = True


class ObsStats(NamedTuple):
    """Running observation moments (Chan et al. parallel update); shapes ``[obs_dim]``."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


class TrainState(NamedTuple):
    params: Params
    opt_state: Any


class RunnerState(NamedTuple):
    """The carry of the update scan (one seed).

    Attributes:
        train: network parameters and optimiser state (leading ``[L]`` axis on both when
            ``shared_policy`` is False).
        env_state: env state pytree, leading axis E.
        last_obs: float32 ``[N, obs_dim]``, raw (unnormalised) observations of the rows.
        obs_stats: running observation moments.
        episode_return: float32 ``[N]``, raw return accumulated in the running episode.
        key: PRNG key.
    """

    train: TrainState
    env_state: Any
    last_obs: jax.Array
    obs_stats: ObsStats
    episode_return: jax.Array
    key: jax.Array


class Transition(NamedTuple):
    """One env step of N = E * L agent rows (E envs, L learners each; the scan stacks T).

    Attributes:
        obs: float32 ``[N, obs_dim]`` normalised observation the action was taken on.
        raw_action: float32 ``[N, A]`` (Box) or int32 ``[N, m]`` (m categorical components).
        log_prob: float32 ``[N]``.
        value: float32 ``[N]``.
        reward: float32 ``[N]``, scaled by ``reward_scale``.
        done: bool ``[N]``.
        finished_return: float32 ``[N]``, raw return of the episode ending here (0 elsewhere).
        metrics: task metrics from ``info`` (float32 ``[N]`` each, valid where ``done``).
    """

    obs: jax.Array
    raw_action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    finished_return: jax.Array
    metrics: dict[str, jax.Array]


class UpdateMetrics(NamedTuple):
    """Per-update summary (the scan stacks a leading update axis; vmap a seed axis).

    Attributes:
        episodes: int32, episodes finished during the update's rollout.
        return_sum: float32, sum of their raw returns.
        metric_sums: float32 per task metric, sums over the finished episodes.
        loss: float32 ``[3]``, mean (policy loss, value loss, entropy) over minibatches.
    """

    episodes: jax.Array
    return_sum: jax.Array
    metric_sums: dict[str, jax.Array]
    loss: jax.Array
