"""qtgjax: a vectorised, batch-parallel market simulator in JAX.

The whole market is a pytree of arrays; one tick is a pure function that clears every
book by batch auction and settles every fill exactly; ``lax.scan`` runs ticks, ``vmap``
runs scenarios, ``jit`` compiles for CPU or GPU.
"""

from qtgjax.api import SimResult, load_config, simulate
from qtgjax.config.build import ConfigError, build
from qtgjax.market.auction import AuctionResult, clear_batch_auction
from qtgjax.sim.rollout import Rollout, init_state, rollout
from qtgjax.sim.tick import step
from qtgjax.sim.types import SimParams, SimState, SimStatic, TickRecord

__all__ = [
    "AuctionResult",
    "ConfigError",
    "Rollout",
    "SimParams",
    "SimResult",
    "SimState",
    "SimStatic",
    "TickRecord",
    "build",
    "clear_batch_auction",
    "init_state",
    "load_config",
    "rollout",
    "simulate",
    "step",
]
