"""PPO in JAX for the qtgjax environments (whole training loop under one jit, vmapped over
seeds), held-out evaluation against the tasks' baselines, saving and reloading policies.

``qtgjax.train.train_and_evaluate(cfg, folder)`` is what ``qtgjax-train`` runs;
``qtgjax.train.make_train(config, env, params)`` is the PureJaxRL-style core;
``qtgjax.train.load_policy(folder)`` gives back a trained policy that acts.
"""

from qtgjax.train.adapter import AgentLayout, agent_layout
from qtgjax.train.config import train_spec
from qtgjax.train.distributions import ActionSpec, action_spec
from qtgjax.train.evaluate import paired_comparison, rollout_episodes
from qtgjax.train.io import curve_frame, load_policy, save_policy
from qtgjax.train.policy import Policy, act
from qtgjax.train.ppo import make_optimizer, make_train
from qtgjax.train.run import TrainResult, evaluate_all, train_and_evaluate
from qtgjax.train.tasks import TaskSpec, task_names, task_spec
from qtgjax.train.types import (
    EvalConfig,
    ObsStats,
    PPOConfig,
    RunnerState,
    TrainSpec,
    TrainState,
    Transition,
    UpdateMetrics,
)

__all__ = [
    "ActionSpec",
    "AgentLayout",
    "EvalConfig",
    "ObsStats",
    "PPOConfig",
    "Policy",
    "RunnerState",
    "TaskSpec",
    "task_names",
    "task_spec",
    "TrainResult",
    "TrainSpec",
    "TrainState",
    "Transition",
    "UpdateMetrics",
    "act",
    "action_spec",
    "agent_layout",
    "curve_frame",
    "evaluate_all",
    "load_policy",
    "make_optimizer",
    "make_train",
    "paired_comparison",
    "rollout_episodes",
    "save_policy",
    "train_and_evaluate",
    "train_spec",
]
