"""Strategy families as a backtest uses them: the registry's families and a side
restriction for the signal families.

:class:`Directed` keeps a signal family's own ``signal`` rule and the shared state machine
(:class:`~qtgjax.agents.strategy.SignalStrategy.act`, unchanged) and only restricts the
side: long-only turns a short signal into an exit of the long, short-only the reverse.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

from qtgjax.agents.registry import get_family
from qtgjax.agents.strategy import SignalStrategy
from qtgjax.agents.types import Family

DIRECTIONS = {"long": 1, "short": -1, "both": 0}
POLICY = "policy"  # strategy=policy: a trained RL policy (qtgjax.backtest.policy)


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

    def update_signal_extra(self, spec, params, extra, accounts, view):
        return self.inner.update_signal_extra(spec, params, extra, accounts, view)

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
