"""The family interface: every strategy family is one final subclass of :class:`Family`."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from qtgjax.market.types import Accounts, MarketView, OrderIntent
from qtgjax.tree import pytree, static_field


@pytree
class FamilySpec:
    """Static description of one family in a market (hashable; fixes array shapes).

    Attributes:
        name: label of this family in results (unique within a market).
        kind: registry key of the family's class.
        n_agents: N, number of agents.
        n_symbols: S, number of symbols.
        n_levels: K, grid levels per book.
    """

    name: str = static_field()
    kind: str = static_field()
    n_agents: int = static_field()
    n_symbols: int = static_field()
    n_levels: int = static_field()


@pytree
class AccountParams:
    """Starting account of every agent in a family.

    Attributes:
        cash: int32[] starting cash per agent, cash units (may go negative: margin).
        position: int32[] starting lots per agent per symbol.
        max_position: int32[] absolute position limit per symbol, lots.
        maker_bps: float32[] fee on the notional of fills of orders that rested before the
            auction, basis points (negative = rebate).
        taker_bps: float32[] fee on fills of orders new in the auction, basis points.
        borrow_bps: float32[] cost of short positions' value per borrow period, basis points.
        position_spread: int32[] starting positions spread evenly over
            ``position +/- position_spread`` lots across the family's agents (the family's
            total stays ``n_agents * position``), so that some agents start short.
    """

    cash: jnp.ndarray
    position: jnp.ndarray
    max_position: jnp.ndarray
    maker_bps: jnp.ndarray
    taker_bps: jnp.ndarray
    borrow_bps: jnp.ndarray
    position_spread: jnp.ndarray = dataclasses.field(default_factory=lambda: jnp.int32(0))


class Family(abc.ABC):
    """A strategy family: structure-of-arrays agents that share one decision rule.

    Subclasses are final and stateless: they declare ``n_slots`` (order slots per agent and
    symbol), ``Params`` (a pytree dataclass with the strategy's sweepable numbers, each a
    scalar array), ``config_schema`` (allowed range per parameter, checked before
    compiling), and implement :meth:`init_extra` and :meth:`act`.
    """

    kind: ClassVar[str]
    Params: ClassVar[type]
    config_schema: ClassVar[dict[str, tuple[float, float]]]
    external: ClassVar[bool] = False  # orders come from outside (an RL env), not a strategy
    # market infrastructure (the liquidity pool, the fee account), not a trading strategy:
    # league tables list it apart from the trading families
    infrastructure: ClassVar[bool] = False

    def n_slots(self, spec: FamilySpec) -> int:
        """Order slots per (agent, symbol); most families quote one order."""
        return 1

    def max_order_lots(self, params: dict) -> int:
        """Largest order the family places given its config params (bounds the book)."""
        return int(params.get("max_qty", params.get("quote_size", 1)))

    def grid_reach(self, params: dict) -> float:
        """Farthest distance (ticks) from the mid that the family quotes at; must fit the grid."""
        return 0.0

    def array_params(self, params: dict, path: str) -> dict[str, jax.Array]:
        """``Params`` fields that are arrays (e.g. policy weights), read from the config
        ``params`` (a copy: pop the keys read); scalars go through ``config_schema``."""
        return {}

    def init_extra(self, spec: FamilySpec, params: Any, key: jax.Array) -> Any:
        """Family-specific per-agent state (a pytree of [N, ...] arrays); none by default."""
        return ()

    @abc.abstractmethod
    def act(
        self,
        spec: FamilySpec,
        params: Any,
        extra: Any,
        accounts: Accounts,
        view: MarketView,
        key: jax.Array,
    ) -> tuple[OrderIntent, Any]:
        """Orders for this tick, and the updated family-specific state."""
