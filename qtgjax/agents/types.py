"""The family interface: every strategy family is one final subclass of :class:`Family`."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from qtgjax.agents.common import order_expired
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
        order_types: codes (:mod:`qtgjax.market.order_types`) of the order types the
            family places (config key ``order_types``); empty: limit orders only.
        display: lots an iceberg order of the family shows (config key ``display``).
        peg_offset: ticks a pegged order of the family keeps from its reference (config
            key ``peg_offset``; positive: away from the other side).
    """

    name: str = static_field()
    kind: str = static_field()
    n_agents: int = static_field()
    n_symbols: int = static_field()
    n_levels: int = static_field()
    order_types: tuple[int, ...] = static_field(default=())
    display: int = static_field(default=0)
    peg_offset: int = static_field(default=0)


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


PARAM_RANGE = "qtgjax_range"  # field metadata key: (low, high) of a scalar parameter
PARAM_ARRAY = "qtgjax_array"  # field metadata key: an array parameter (Family.array_params)


def param(low: float, high: float, **kwargs) -> Any:
    """A scalar strategy parameter of a family's ``Params`` with its allowed config range
    ``low..high`` (integers if both bounds are ints); the one place the range is written:
    config validation, the evolve genome and the SDK read it from the field's metadata."""
    if not low <= high:
        raise ValueError(f"param: low {low!r} above high {high!r}")
    return dataclasses.field(metadata={PARAM_RANGE: (low, high)}, **kwargs)


def array_param(**kwargs) -> Any:
    """A ``Params`` field that is an array (e.g. policy weights, a replayed order table),
    read from the config by :meth:`Family.array_params`, not range-checked as a scalar."""
    return dataclasses.field(metadata={PARAM_ARRAY: True}, **kwargs)


def params_schema(params_cls: type) -> dict[str, tuple[float, float]]:
    """``{field: (low, high)}`` of the scalar parameters of ``params_cls`` (a dataclass
    whose every field is declared with :func:`param` or :func:`array_param`)."""
    if not dataclasses.is_dataclass(params_cls):
        raise TypeError(f"Params {params_cls!r} is not a dataclass (use @qtgjax.tree.pytree)")
    schema = {}
    for f in dataclasses.fields(params_cls):
        if PARAM_RANGE in f.metadata:
            schema[f.name] = f.metadata[PARAM_RANGE]
        elif not f.metadata.get(PARAM_ARRAY):
            raise TypeError(
                f"{params_cls.__qualname__}.{f.name}: declare it with param(low, high) "
                "or array_param()"
            )
    return schema


# What a concrete family may not redefine: derived from its declarations, written once.
FINAL_MEMBERS = ("config_schema",)


class Family(abc.ABC):
    """A strategy family: structure-of-arrays agents that share one decision rule.

    A class is either abstract (a base such as :class:`~qtgjax.agents.strategy.SignalStrategy`)
    or a final family registered under its ``kind``. A family declares, as class attributes:

    - ``kind``: its registry key; ``Params``: a pytree dataclass with the strategy's
      sweepable numbers, every field declared with :func:`param` (scalar with its range) or
      :func:`array_param`. ``config_schema`` is derived from it (never written by hand).
    - ``config_choices``: names accepted for numeric parameters (``sizing: kelly`` -> 2).
    - ``collects_fees``: the family is the exchange's fee account (credited with every fee).
    - ``env_driven``: its orders are written by an RL environment (``qtgjax.env``) before
      the tick; ``external``: its orders come from outside (an env or recorded data), so it
      is left out of plain markets.
    - ``default_config``: the family's config (``kind``, ``n_agents``, account, ``params``)
      for ``+agents@families.NAME=KIND`` when no ``conf/agents/KIND.yaml`` exists (plugins).

    and implements :meth:`act` (and optionally :meth:`init_extra`, :meth:`n_slots`, ...).
    """

    kind: ClassVar[str]
    Params: ClassVar[type]
    config_schema: ClassVar[dict[str, tuple[float, float]]]
    config_choices: ClassVar[dict[str, dict[str, int]]] = {}
    collects_fees: ClassVar[bool] = False
    env_driven: ClassVar[bool] = False
    external: ClassVar[bool] = False  # orders come from outside (an RL env), not a strategy
    # market infrastructure (the liquidity pool, the fee account), not a trading strategy:
    # league tables list it apart from the trading families
    infrastructure: ClassVar[bool] = False
    # order types (qtgjax.market.order_types.NAMES) the family can place: its config's
    # order_types key may name only these
    supported_order_types: ClassVar[tuple[str, ...]] = ("limit",)
    default_config: ClassVar[dict | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        final = [b for b in cls.__mro__[1:] if b.__dict__.get("_final")]
        if final:
            raise TypeError(
                f"{cls.__qualname__}: {final[0].__qualname__} is a registered (final) family; "
                "subclass its abstract base instead"
            )
        for name in FINAL_MEMBERS:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__}.{name}: derived from Params' param(...) fields; "
                    "do not set it"
                )
        if "Params" in cls.__dict__:
            cls.config_schema = params_schema(cls.Params)

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

    def validate(self, spec: FamilySpec, params: Any) -> None:
        """Refuse, before compiling, what only the market's sizes reveal (e.g. an SDK
        function returning the wrong shapes): raise ``ConfigError`` naming the family."""
        return None

    def init_extra(self, spec: FamilySpec, params: Any, key: jax.Array) -> Any:
        """Family-specific per-agent state (a pytree of [N, ...] arrays); none by default."""
        return ()

    def venue_choice(self, spec: FamilySpec, extra: Any) -> jax.Array | None:
        """With several venues: int32[N, S, O], the venue each order slot of this tick
        goes to, read from the family's state before :meth:`act` (a value outside
        [0, V), e.g. -1, follows the family's route); None (the default): every order
        follows the route (``families.NAME.route``). The ``learner`` family returns the
        venues its RL environment chose."""
        return None

    def expired(self, spec: FamilySpec, params: Any, orders) -> jax.Array | None:
        """bool[N, S, O] (any trailing slot shape): the resting orders that the family's
        time-in-force cancels this tick. Families declaring a ``ttl`` param get the one rule,
        :func:`qtgjax.agents.common.order_expired`; None: the family's orders never expire.
        :meth:`act` cancels with it and ``fills.parquet`` reports those cancellations with
        reason ``expired``."""
        if "ttl" not in self.config_schema:
            return None
        return order_expired(orders, params.ttl)

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


def check_family_class(cls: type) -> None:
    """Refuse a class that cannot be a registered family (raised before anything compiles):
    not a concrete :class:`Family`, no ``kind`` string, or ``Params`` fields without ranges."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        raise TypeError(f"{where}: a family must subclass qtgjax.agents.types.Family")
    if getattr(cls, "__abstractmethods__", None):
        missing = sorted(cls.__abstractmethods__)
        raise TypeError(f"{where}: abstract (does not implement {missing}); cannot register")
    kind = cls.__dict__.get("kind")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{where}: declare kind = '<name>' on the class itself")
    if "Params" not in cls.__dict__:
        raise TypeError(f"{where}: declare Params (a pytree dataclass of param(...) fields)")
    for name in ("collects_fees", "env_driven", "external"):
        if not isinstance(getattr(cls, name), bool):
            raise TypeError(f"{where}.{name}: expected True or False")
    unknown = sorted(set(cls.config_choices) - set(cls.config_schema))
    if unknown:
        raise TypeError(f"{where}.config_choices: {unknown} are not scalar params of Params")
