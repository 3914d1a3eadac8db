"""Per-agent strategy SDK: write one agent's decision, get a vectorised family.

A strategy is a pure function of one agent's parameters, its own memory, what it sees and
a random key::

    @pytree
    class CrossParams:
        fast: jnp.ndarray = param(2, 500)     # the config range, written once
        size: jnp.ndarray = param(1, 1000)

    def decide(params, memory, view, key):    # view: AgentView of ONE agent
        ...
        return sdk.toward(target, view, aggression=1), memory

    Cross = sdk.strategy("cross", CrossParams, decide, init_memory=lambda p, s: ...)

:func:`strategy` turns it into a :class:`~qtgjax.agents.types.Family` whose ``act``
vmaps ``decide`` over all agents of the family (one compiled tick whatever their number).
``on_fill(params, memory, fill, view) -> memory`` (optional) sees the agent's own fills
since its previous decision (:class:`Fill`) first. :func:`signal_strategy` gives a
strategy the shared position state machine of :mod:`qtgjax.agents.strategy` (entries,
confirmation, stops, take-profits, sizing, drawdown kill switch): the function returns a
signal in {-1, 0, +1} per symbol and an exit flag instead of orders.

Register the class with :func:`qtgjax.agents.registry.register` (inside qtgjax) or the
entry-point group ``qtgjax.families`` (another package). A function with the wrong number
of arguments is refused when the class is made; one returning the wrong shapes when the
config is built, before compiling; both errors name the strategy and the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from qtgjax.agents.common import clip_price
from qtgjax.agents.strategy import RiskParams, SignalStrategy
from qtgjax.agents.types import Family, FamilySpec, array_param, param, params_schema
from qtgjax.market import money
from qtgjax.market.types import Indicators, MarketView, OrderIntent, Orders
from qtgjax.tree import pytree

__all__ = [
    "AgentView",
    "Fill",
    "array_param",
    "default_config",
    "no_orders",
    "param",
    "pytree",
    "signal_strategy",
    "strategy",
    "toward",
]


@pytree
class AgentView:
    """What one agent sees at the start of a tick.

    Attributes:
        market: :class:`~qtgjax.market.types.MarketView` of every symbol (S), shared.
        position: int32[S] the agent's lots per symbol.
        cash: float32[] its cash, cash units (float approximation of the exact account).
        resting: :class:`~qtgjax.market.types.Orders` [S, O] its resting orders.
    """

    market: MarketView
    position: jnp.ndarray
    cash: jnp.ndarray
    resting: Orders


@pytree
class Fill:
    """The agent's own trading since its previous decision.

    Attributes:
        lots: int32[S] change of position (> 0 bought).
        cash: float32[] change of cash (fills, fees, borrow costs, dividends).
    """

    lots: jnp.ndarray
    cash: jnp.ndarray


@pytree
class SdkState:
    """Per-agent state of an SDK family: the user's memory [N, ...] and what the agents held
    at their previous decision (position int32[N, S], cash float32[N]) to derive fills."""

    memory: Any
    position: jnp.ndarray
    cash: jnp.ndarray


def no_orders(n_symbols: int, n_slots: int = 1) -> OrderIntent:
    """Keep every resting order, place nothing ([S, O])."""
    zeros = jnp.zeros((n_symbols, n_slots), jnp.int32)
    off = jnp.zeros((n_symbols, n_slots), bool)
    return OrderIntent(zeros, zeros, off, off)


def toward(target, view: AgentView, aggression=1, max_lots=None) -> OrderIntent:
    """One marketable limit order per symbol moving the position toward ``target`` int32[S]
    (``aggression`` ticks through the last price; at most ``max_lots`` per order); [S, 1]."""
    gap = jnp.asarray(target, jnp.int32) - view.position
    is_buy = gap > 0
    last = view.market.last_price
    price = clip_price(jnp.where(is_buy, last + aggression, last - aggression))
    qty = jnp.abs(gap) if max_lots is None else jnp.minimum(jnp.abs(gap), max_lots)
    return OrderIntent(price[:, None], qty[:, None], is_buy[:, None],
                       jnp.ones_like(is_buy)[:, None])


def default_config(kind: str, n_agents: int = 100, cash: int = 10_000_000,
                   max_position: int = 500, params: dict | None = None) -> dict:
    """A family's config (what ``conf/agents/KIND.yaml`` would hold), for ``default_config``:
    fees and borrow costs follow the market's ``costs`` section."""
    return {
        "kind": kind, "n_agents": n_agents, "cash": cash, "position": 0,
        "max_position": max_position, "maker_bps": "${costs.maker_bps}",
        "taker_bps": "${costs.taker_bps}", "borrow_bps": "${costs.borrow_bps}",
        "params": dict(params or {}),
    }


# Risk settings of the shared state machine that the shipped SDK strategies start from
# (those of conf/agents/rsi.yaml).
RISK_DEFAULTS = {
    "p_active": 0.2, "confirm_ticks": 2, "stop_loss": 0.01, "take_profit": 0.02,
    "max_drawdown": 0.2, "sizing": "fixed", "size": 10, "target_vol": 0.0005,
    "win_rate": 0.55, "kelly_fraction": 0.25, "aggression": 2,
}


def view_like(n_symbols: int) -> MarketView:
    """A MarketView of zeros with the engine's shapes and dtypes (for shape checks)."""
    i = jnp.zeros((n_symbols,), jnp.int32)
    f = jnp.zeros((n_symbols,), jnp.float32)
    names = [x.name for x in fields(Indicators) if x.name != "ready"]
    ind = Indicators(**dict.fromkeys(names, f), ready=jnp.zeros((n_symbols,), bool))
    return MarketView(tick=jnp.int32(0), last_price=i, best_bid=i, best_ask=i, anchor=i,
                      fundamental=f, ema_fast=f, ema_slow=f, volatility=f, news=f, volume=i,
                      sector=i, indicators=ind)


def _name(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _check_signature(kind: str, fn, names: tuple[str, ...], role: str) -> None:
    if not callable(fn):
        raise TypeError(f"strategy {kind!r}: {role} must be a function, got {fn!r}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C function: checked by the shape check
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    required = [p for p in positional if p.default is p.empty]
    if not varargs and not (len(required) <= len(names) <= len(positional)):
        raise TypeError(
            f"strategy {kind!r}: {role} {_name(fn)}{sig} must take {len(names)} arguments "
            f"({', '.join(names)})"
        )


class SdkFamily(Family):
    """The family of an SDK strategy (made by :func:`strategy`)."""

    decide_fn: ClassVar[Callable]
    memory_fn: ClassVar[Callable | None] = None
    on_fill_fn: ClassVar[Callable | None] = None
    slots: ClassVar[int] = 1
    max_order: ClassVar[str | int | None] = None
    reach: ClassVar[str | float] = 0.0

    def n_slots(self, spec):
        return self.slots

    def max_order_lots(self, params):
        if isinstance(self.max_order, str):
            return int(params.get(self.max_order, 1))
        return super().max_order_lots(params) if self.max_order is None else int(self.max_order)

    def grid_reach(self, params):
        return float(params.get(self.reach, 0.0) if isinstance(self.reach, str) else self.reach)

    def _memory(self, params, n_symbols):
        fn = type(self).memory_fn
        return () if fn is None else fn(params, n_symbols)

    def init_extra(self, spec, params, key):
        one = self._memory(params, spec.n_symbols)
        memory = jax.tree.map(lambda x: jnp.broadcast_to(x, (spec.n_agents, *jnp.shape(x))), one)
        pos = jnp.zeros((spec.n_agents, spec.n_symbols), jnp.int32)
        return SdkState(memory, pos, jnp.full((spec.n_agents,), jnp.nan, jnp.float32))

    def act(self, spec, params, extra: SdkState, accounts, view, key):
        cls = type(self)
        cash = money.to_float(accounts.cash)
        memory = extra.memory
        agents = (accounts.position, cash, accounts.orders)
        if cls.on_fill_fn is not None:
            first = jnp.isnan(extra.cash)  # no previous decision: no fill yet
            fill = Fill(jnp.where(first[:, None], 0, accounts.position - extra.position),
                        jnp.where(first, 0.0, cash - extra.cash))

            def one_fill(m, f, pos, c, resting):
                return cls.on_fill_fn(params, m, f, AgentView(view, pos, c, resting))

            memory = jax.vmap(one_fill)(memory, fill, *agents)

        def one(m, pos, c, resting, k):
            return cls.decide_fn(params, m, AgentView(view, pos, c, resting), k)

        keys = jax.random.split(key, spec.n_agents)
        intent, memory = jax.vmap(one)(memory, *agents, keys)
        intent = _slot_axis(intent)
        return intent, SdkState(memory, accounts.position, cash)

    def validate(self, spec: FamilySpec, params) -> None:
        from qtgjax.config.build import ConfigError

        cls = type(self)
        s, o = spec.n_symbols, self.n_slots(spec)
        where = f"families.{spec.name}: strategy {cls.kind!r}"
        memory = self._memory(params, s)
        agent = AgentView(view_like(s), jnp.zeros((s,), jnp.int32), jnp.float32(0),
                          jax.tree.map(lambda x: x[0], Orders.empty(1, s, o)))
        checks = [("decide", cls.decide_fn, (params, memory, agent, jax.random.key(0)))]
        if cls.on_fill_fn is not None:
            fill = Fill(jnp.zeros((s,), jnp.int32), jnp.float32(0))
            checks.insert(0, ("on_fill", cls.on_fill_fn, (params, memory, fill, agent)))
        for role, fn, args in checks:
            try:
                out = jax.eval_shape(fn, *args)
            except Exception as err:  # the user's function failed on the abstract inputs
                raise ConfigError(f"{where}: {role} {_name(fn)} failed on S={s} symbols: "
                                  f"{type(err).__name__}: {err}") from err
            new_memory = out if role == "on_fill" else _pair(out, where, role, fn)[1]
            if role == "decide":
                _check_intent(_pair(out, where, role, fn)[0], s, o, where, fn)
            _check_memory(memory, new_memory, where, role, fn)


def _pair(out, where, role, fn):
    if not (isinstance(out, tuple) and len(out) == 2):
        from qtgjax.config.build import ConfigError

        raise ConfigError(f"{where}: {role} {_name(fn)} must return (orders, memory)")
    return out


def _check_intent(intent, s, o, where, fn) -> None:
    from qtgjax.config.build import ConfigError

    if not isinstance(intent, OrderIntent):
        raise ConfigError(f"{where}: decide {_name(fn)} must return an OrderIntent as its "
                          f"orders, got {type(intent).__name__}")
    for f in fields(OrderIntent):
        value = getattr(intent, f.name)
        if value is None:  # an optional order-type field (limit orders only)
            continue
        shape = tuple(value.shape)
        if shape not in ((s,), (s, o)):
            raise ConfigError(
                f"{where}: decide {_name(fn)} returned orders.{f.name} of shape {shape}; "
                f"expected (S,) = ({s},) or (S, slots) = ({s}, {o})"
            )


def _check_memory(before, after, where, role, fn) -> None:
    from qtgjax.config.build import ConfigError

    want = jax.tree.map(lambda x: (tuple(jnp.shape(x)), jnp.result_type(x)), before)
    got = jax.tree.map(lambda x: (tuple(x.shape), x.dtype), after)
    if jax.tree.structure(want) != jax.tree.structure(got) or jax.tree.leaves(
        want
    ) != jax.tree.leaves(got):
        raise ConfigError(f"{where}: {role} {_name(fn)} returned memory {got}; it must keep "
                          f"the shapes and dtypes of init_memory's {want}")


def _slot_axis(intent: OrderIntent) -> OrderIntent:
    """[N, S] fields -> [N, S, 1]; dtypes of the engine."""
    def fix(x, dtype):
        x = jnp.asarray(x)
        return (x[..., None] if x.ndim == 2 else x).astype(dtype)

    return OrderIntent(clip_price(fix(intent.price, jnp.int32)),
                       jnp.maximum(fix(intent.qty, jnp.int32), 0),
                       fix(intent.is_buy, bool), fix(intent.replace, bool))


def strategy(kind: str, Params: type, decide: Callable, *, init_memory: Callable | None = None,
             on_fill: Callable | None = None, n_slots: int = 1,
             max_order: str | int | None = None, reach: str | float = 0.0,
             default_config: dict | None = None) -> type[Family]:
    """A Family class from a per-agent ``decide(params, memory, view, key) -> (orders,
    memory)``; ``orders`` an OrderIntent with fields [S] or [S, n_slots].

    Args:
        kind: the family's registry key. Params: its parameters (:func:`param` fields).
        init_memory: ``(params, n_symbols) -> memory`` of one agent (a pytree; none if
            omitted). on_fill: ``(params, memory, fill, view) -> memory`` run first.
        max_order: the parameter (name) or number bounding the lots of one order.
        reach: the parameter (name) or number of ticks from the mid the orders reach.
        default_config: what ``+agents@families.NAME=KIND`` composes (:func:`default_config`).
    """
    _check_signature(kind, decide, ("params", "memory", "view", "key"), "decide")
    if init_memory is not None:
        _check_signature(kind, init_memory, ("params", "n_symbols"), "init_memory")
    if on_fill is not None:
        _check_signature(kind, on_fill, ("params", "memory", "fill", "view"), "on_fill")
    params_schema(Params)  # every field declared with a range
    attrs = dict(
        kind=kind, Params=Params, default_config=default_config,
        decide_fn=staticmethod(decide), memory_fn=None if init_memory is None
        else staticmethod(init_memory), on_fill_fn=None if on_fill is None
        else staticmethod(on_fill), slots=int(n_slots), max_order=max_order, reach=reach,
        __module__=getattr(decide, "__module__", __name__), __doc__=decide.__doc__,
    )
    return type(_class_name(kind), (SdkFamily,), attrs)


def _class_name(kind: str) -> str:
    return "".join(p.capitalize() for p in kind.split("_")) or "Strategy"


class SdkSignalFamily(SignalStrategy):
    """A signal strategy made by :func:`signal_strategy`: the user's per-agent signal
    drives the shared state machine."""

    signal_fn: ClassVar[Callable]
    memory_fn: ClassVar[Callable | None] = None

    def init_signal_extra(self, spec, params, key):
        fn = type(self).memory_fn
        one = () if fn is None else fn(params, spec.n_symbols)
        zeros_i = jnp.zeros((spec.n_symbols,), jnp.int32)
        one = (one, zeros_i, jnp.zeros((spec.n_symbols,), bool))
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (spec.n_agents, *jnp.shape(x))), one)

    def update_signal_extra(self, spec, params, extra, accounts, view):
        cls = type(self)
        cash = money.to_float(accounts.cash)

        def one(m, pos, c, resting):
            sig, ext, m = cls.signal_fn(params, m, AgentView(view, pos, c, resting))
            return m, jnp.asarray(sig, jnp.int32), jnp.asarray(ext, bool)

        return jax.vmap(one)(extra[0], accounts.position, cash, accounts.orders)

    def signal(self, spec, params, extra, accounts, view):
        return extra[1], extra[2]

    def validate(self, spec, params):
        from qtgjax.config.build import ConfigError

        cls, s = type(self), spec.n_symbols
        where = f"families.{spec.name}: strategy {cls.kind!r}"
        memory = () if cls.memory_fn is None else cls.memory_fn(params, s)
        agent = AgentView(view_like(s), jnp.zeros((s,), jnp.int32), jnp.float32(0),
                          jax.tree.map(lambda x: x[0], Orders.empty(1, s, 1)))
        try:
            out = jax.eval_shape(cls.signal_fn, params, memory, agent)
        except Exception as err:
            raise ConfigError(f"{where}: signal {_name(cls.signal_fn)} failed on S={s} "
                              f"symbols: {type(err).__name__}: {err}") from err
        if not (isinstance(out, tuple) and len(out) == 3):
            raise ConfigError(f"{where}: signal {_name(cls.signal_fn)} must return "
                              "(signal, exit, memory)")
        for name, x in zip(("signal", "exit"), out[:2], strict=True):
            if tuple(x.shape) != (s,):
                raise ConfigError(f"{where}: signal {_name(cls.signal_fn)} returned {name} "
                                  f"of shape {tuple(x.shape)}; expected (S,) = ({s},)")
        _check_memory(memory, out[2], where, "signal", cls.signal_fn)


def signal_strategy(kind: str, Params: type, signal: Callable, *,
                    init_memory: Callable | None = None,
                    default_config: dict | None = None) -> type[Family]:
    """A Family class from a per-agent ``signal(params, memory, view) -> (signal int32[S]
    in {-1, 0, 1}, exit bool[S], memory)`` driving the shared state machine; ``Params``
    must subclass :class:`~qtgjax.agents.strategy.RiskParams` (sizing, stops, ...)."""
    _check_signature(kind, signal, ("params", "memory", "view"), "signal")
    if init_memory is not None:
        _check_signature(kind, init_memory, ("params", "n_symbols"), "init_memory")
    if not (isinstance(Params, type) and issubclass(Params, RiskParams)):
        raise TypeError(f"strategy {kind!r}: Params must subclass qtgjax.agents.strategy."
                        "RiskParams (the state machine's sizing, stops and take-profits)")
    attrs = dict(
        kind=kind, Params=Params, default_config=default_config,
        signal_fn=staticmethod(signal),
        memory_fn=None if init_memory is None else staticmethod(init_memory),
        __module__=getattr(signal, "__module__", __name__), __doc__=signal.__doc__,
    )
    return type(_class_name(kind), (SdkSignalFamily,), attrs)
