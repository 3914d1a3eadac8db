"""The exchange's fee account: places no orders, collects every trading fee."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.registry import register
from qtgjax.agents.types import Family
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class FeeAccountParams:
    """No strategy parameters."""


@register
class FeeAccount(Family):
    """One account (n_agents = 1) credited with all fees paid (debited with rebates).

    Its cash change is external cash: money that enters the accounts from outside the
    traded market, so that the conservation identity holds with fees switched on.
    """

    infrastructure = True
    kind = "fee_account"
    collects_fees = True
    Params = FeeAccountParams

    def n_slots(self, spec):
        return 0

    def act(self, spec, params, extra, accounts, view, key):
        shape = (spec.n_agents, spec.n_symbols, 0)
        zeros = jnp.zeros(shape, jnp.int32)
        return OrderIntent(zeros, zeros, jnp.zeros(shape, bool), jnp.zeros(shape, bool)), extra
