"""The tick and the rollout (compose market and agents)."""

from qtgjax.sim.rollout import Rollout, init_state, rollout, run_scenario
from qtgjax.sim.tick import step
from qtgjax.sim.types import (
    FundamentalParams,
    MarketParams,
    SimParams,
    SimState,
    SimStatic,
    TickRecord,
)

__all__ = [
    "FundamentalParams",
    "MarketParams",
    "Rollout",
    "SimParams",
    "SimState",
    "SimStatic",
    "TickRecord",
    "init_state",
    "rollout",
    "run_scenario",
    "step",
]
