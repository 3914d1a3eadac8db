"""Environment state and parameters (pytrees) shared by every task.

L = learning agents (``n_learners``), S = symbols. Money is exact (two int32 limbs, cash
units = one tick times one lot); rewards and observations are float32.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from qtgjax.sim.types import SimParams, SimState
from qtgjax.tree import pytree


@pytree
class EnvParams:
    """Every number an env run may vary (vmappable; no shapes).

    Attributes:
        sim: the market's :class:`~qtgjax.sim.types.SimParams` (background pool, strategy
            families, fundamentals, fees; the learner family's account).
        task: the task's own numbers (horizon, target, limits, penalties...).
    """

    sim: SimParams
    task: Any


@pytree
class EnvState:
    """One environment: the running market plus the current task episode.

    Attributes:
        sim: :class:`~qtgjax.sim.types.SimState` of the whole market (learners included).
        task: the task's episode state (start cash/position, arrival price...).
        t: int32[] ticks done in the current episode.
        episode_return: float32[L] rewards summed over the current episode.
    """

    sim: SimState
    task: Any
    t: jnp.ndarray
    episode_return: jnp.ndarray
