"""Strategy families as a backtest uses them: the registry's families, a side restriction
for the signal families, and a trained RL policy as a family.

:class:`Directed` keeps a signal family's own ``signal`` rule and the shared state machine
(:class:`~qtgjax.agents.strategy.SignalStrategy.act`, unchanged) and only restricts the
side: long-only turns a short signal into an exit of the long, short-only the reverse.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.agents.strategy import SignalStrategy
from qtgjax.agents.types import Family

DIRECTIONS = {"long": 1, "short": -1, "both": 0}


class Directed(SignalStrategy):
    """A signal family restricted to one side (``direction`` +1 long-only, -1 short-only)."""

    def __init__(self, inner: SignalStrategy, direction: int):
        self.inner = inner
        self.direction = direction
        self.kind = inner.kind
        self.Params = inner.Params
        self.config_schema = inner.config_schema
        self.config_choices = inner.config_choices

    def __hash__(self):
        return hash((type(self), self.inner.kind, self.direction))

    def __eq__(self, other):
        return (isinstance(other, Directed) and other.inner is self.inner
                and other.direction == self.direction)

    def n_slots(self, spec):
        return self.inner.n_slots(spec)

    def init_signal_extra(self, spec, params, key):
        return self.inner.init_signal_extra(spec, params, key)

    def signal(self, spec, params, extra, accounts, view):
        raw, exit_now = self.inner.signal(spec, params, extra, accounts, view)
        against = raw == -self.direction
        return jnp.where(against, 0, raw), exit_now | against


@functools.lru_cache(maxsize=64)
def strategy_family(kind: str, direction: str = "both") -> Family:
    """The family of ``kind``; signal families restricted to ``direction``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: {direction!r} is not one of {list(DIRECTIONS)}")
    family = get_family(kind)
    if isinstance(family, SignalStrategy) and DIRECTIONS[direction] != 0:
        return Directed(family, DIRECTIONS[direction])
    return family


class PolicyFamily(Family):
    """A trained policy (:func:`qtgjax.train.load_policy`) trading as a family of one agent.

    Each bar the policy sees the observation its task builds (market features of the
    bar's view plus the task's own features) and its action becomes the task's orders,
    through the task's own ``intent``: the same functions as in training.
    """

    kind = "policy"
    Params = None
    config_schema: dict = {}

    def __init__(self, policy, env):
        self.policy = policy
        self.task = env.task
        self._id = id(policy)

    def __hash__(self):
        return hash((type(self), self._id))

    def __eq__(self, other):
        return isinstance(other, PolicyFamily) and other._id == self._id

    def n_slots(self, spec):
        from qtgjax.agents.families.learner import LEARNER_SLOTS

        return LEARNER_SLOTS

    def init_extra(self, spec, params, key):
        return None

    def act(self, spec, params, extra, accounts, view, key):
        from qtgjax.env.features import build_obs

        task = self.task
        k_start, k_act = jax.random.split(key)
        fresh = task.start(k_start, accounts, view, params)
        ts = fresh if extra is None else extra
        t = view.tick
        obs = build_obs(view, task.symbols, task.features(ts, accounts, view, t, params))
        action = self.policy.act(k_act, obs)
        intent = task.intent(action.reshape(task.n_learners, -1), ts, accounts, view, t, params)
        ts, _, _, _ = task.update(ts, accounts, accounts, view, t + 1, params)
        return intent, ts
