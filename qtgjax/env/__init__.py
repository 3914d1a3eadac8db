"""Gymnax-style RL environments on the full simulated market.

``env, params = qtgjax.env.make("execution")``; ``obs, state = env.reset(key, params)``;
``obs, state, reward, done, info = env.step(key, state, action, params)``. Everything is
jittable and vmappable over keys and params. Tasks: ``execution``, ``market_making``,
``trading``; baseline policies in :mod:`qtgjax.env.baselines`; a gymnasium vector env in
:mod:`qtgjax.env.gym`.
"""

from qtgjax.env.environment import MarketEnv
from qtgjax.env.registry import make, register_task, tasks
from qtgjax.env.tasks.execution import ExecutionTask
from qtgjax.env.tasks.market_making import MarketMakingTask
from qtgjax.env.tasks.trading import TradingTask
from qtgjax.env.types import EnvParams, EnvState

for _task in (ExecutionTask, MarketMakingTask, TradingTask):
    register_task(_task)

__all__ = [
    "EnvParams",
    "EnvState",
    "ExecutionTask",
    "MarketEnv",
    "MarketMakingTask",
    "TradingTask",
    "make",
    "register_task",
    "tasks",
]
