"""The shared position state machine of Tier 1 signal strategies.

Idle -> Analyzing (the signal must persist ``confirm_ticks``) -> InPosition (target
position ``direction * size``) -> back to Idle on stop-loss, take-profit, an opposite signal
or the family's exit condition. A drawdown kill switch flattens an agent for good.
A family only says what its signal is: subclasses of :class:`SignalStrategy` implement
:meth:`SignalStrategy.signal` and nothing else.
"""

from __future__ import annotations

import abc

import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, clip_price, random_bits
from qtgjax.agents.types import Family, FamilySpec, param, params_schema
from qtgjax.market import money
from qtgjax.market.types import Accounts, MarketView, OrderIntent
from qtgjax.tree import pytree

IDLE, ANALYZING, IN_POSITION = 0, 1, 2
FIXED, VOLATILITY, KELLY = 0, 1, 2

SIZING = {"fixed": FIXED, "volatility": VOLATILITY, "kelly": KELLY}


@pytree
class RiskParams:
    """Position rules every signal strategy shares (scalars).

    Attributes:
        p_active: float32 probability of reconsidering orders in a tick.
        confirm_ticks: int32 ticks a signal must persist in Analyzing before entering
            (0: enter on the signal's own tick).
        stop_loss: float32 relative adverse move from entry that closes the position.
        take_profit: float32 relative favourable move that closes it.
        max_drawdown: float32 fall from the agent's peak wealth that kills it (flat, for good).
        sizing: int32 0 fixed, 1 volatility-scaled, 2 Kelly fraction.
        size: int32 lots (fixed size; base size for volatility scaling; cap for Kelly).
        target_vol: float32 per-tick return volatility at which the volatility-scaled size
            equals ``size``.
        win_rate: float32 assumed win probability for Kelly sizing.
        kelly_fraction: float32 share of the Kelly bet taken.
        aggression: int32 ticks beyond the last price for the marketable limit.
    """

    p_active: jnp.ndarray = param(0.0, 1.0)
    confirm_ticks: jnp.ndarray = param(0, 10_000)
    stop_loss: jnp.ndarray = param(1e-6, 1.0)
    take_profit: jnp.ndarray = param(1e-6, 10.0)
    max_drawdown: jnp.ndarray = param(1e-6, 1.0)
    sizing: jnp.ndarray = param(0, 2)
    size: jnp.ndarray = param(1, 65_535)
    target_vol: jnp.ndarray = param(1e-8, 1.0)
    win_rate: jnp.ndarray = param(0.0, 1.0)
    kelly_fraction: jnp.ndarray = param(0.0, 1.0)
    aggression: jnp.ndarray = param(0, 10_000)


RISK_SCHEMA = params_schema(RiskParams)  # the ranges above, {name: (low, high)}


@pytree
class MachineState:
    """Per-agent state of the machine.

    Attributes:
        phase: int32[N, S] IDLE, ANALYZING or IN_POSITION.
        pending: int32[N, S] direction under analysis (+1 / -1).
        count: int32[N, S] ticks the pending signal has persisted.
        direction: int32[N, S] direction held (+1 long, -1 short, 0 none).
        entry: float32[N, S] last price when the position was entered, ticks.
        peak: float32[N] highest wealth seen, cash units (approximate, for the kill switch).
        killed: bool[N] kill switch tripped.
        signal_extra: the family's own per-agent state.
    """

    phase: jnp.ndarray
    pending: jnp.ndarray
    count: jnp.ndarray
    direction: jnp.ndarray
    entry: jnp.ndarray
    peak: jnp.ndarray
    killed: jnp.ndarray
    signal_extra: object


def wealth(accounts: Accounts, price) -> jnp.ndarray:
    """float32[N] cash plus positions at ``price`` [S], cash units (approximate)."""
    value = (accounts.position.astype(jnp.float32) * price.astype(jnp.float32)).sum(-1)
    return money.to_float(accounts.cash) + value


def advance(st: MachineState, signal, exit_now, risk: RiskParams, price, worth) -> MachineState:
    """One tick of the state machine given signals int32[N, S] in {-1, 0, 1}."""
    price = price.astype(jnp.float32)
    peak = jnp.maximum(st.peak, worth)
    killed = st.killed | (worth < peak - risk.max_drawdown * jnp.abs(peak))
    move = st.direction * (price / jnp.maximum(st.entry, 1.0) - 1.0)
    leave = (st.phase == IN_POSITION) & (
        (move <= -risk.stop_loss)
        | (move >= risk.take_profit)
        | (signal == -st.direction)
        | exit_now
    )
    persisted = (st.phase == ANALYZING) & (signal == st.pending)
    start = (st.phase == IDLE) & (signal != 0)
    # confirm_ticks = 0: no confirmation, enter on the signal's own tick
    enter = (persisted & (st.count + 1 >= risk.confirm_ticks)) | (
        start & (risk.confirm_ticks == 0)
    )
    pending = jnp.where(start, signal, st.pending)
    phase = jnp.select(
        [leave, enter, persisted, start, st.phase == IN_POSITION],
        [IDLE, IN_POSITION, ANALYZING, ANALYZING, IN_POSITION],
        IDLE,
    )
    phase = jnp.where(killed[:, None], IDLE, phase)
    return st.replace(
        phase=phase,
        pending=pending,
        count=jnp.where(persisted, st.count + 1, 0),
        direction=jnp.where(phase == IN_POSITION, jnp.where(enter, pending, st.direction), 0),
        entry=jnp.where(enter, price, st.entry),
        peak=peak,
        killed=killed,
    )


def position_size(risk: RiskParams, view: MarketView, worth) -> jnp.ndarray:
    """int32[N, S] lots to hold when in position, by the sizing rule."""
    vol = jnp.sqrt(jnp.maximum(view.volatility, 1e-12))  # (S,) per-tick return sd
    scaled = risk.size * jnp.clip(risk.target_vol / vol, 0.0, 4.0)
    odds = risk.take_profit / risk.stop_loss
    kelly = jnp.maximum(risk.win_rate - (1.0 - risk.win_rate) / odds, 0.0)
    price = view.last_price.astype(jnp.float32)
    bet = risk.kelly_fraction * kelly * jnp.maximum(worth, 0.0)[:, None] / (risk.stop_loss * price)
    lots = jnp.select(
        [risk.sizing == VOLATILITY, risk.sizing == KELLY],
        [jnp.broadcast_to(scaled, bet.shape), jnp.minimum(bet, risk.size)],
        jnp.full(bet.shape, risk.size, jnp.float32),
    )
    return jnp.floor(lots).astype(jnp.int32)


def orders_toward(target, accounts: Accounts, view: MarketView, risk: RiskParams, active):
    """Marketable orders that move the position toward ``target`` [N, S]."""
    gap = target - accounts.position
    is_buy = gap > 0
    last = view.last_price
    price = clip_price(jnp.where(is_buy, last + risk.aggression, last - risk.aggression))
    qty = jnp.minimum(jnp.abs(gap), jnp.maximum(risk.size, 1) * 4)
    replace = active | (gap == 0)
    return OrderIntent(price[..., None], qty[..., None], is_buy[..., None], replace[..., None])


class SignalStrategy(Family):
    """A Tier 1 family: a signal in {-1, 0, +1} per (agent, symbol) drives the shared
    state machine. Params must subclass :class:`RiskParams` (its ranges come with it).
    Agents of these families should start flat: Idle means no position.

    The signal is evaluated every tick (so confirmation counts ticks); ``p_active`` only
    gates how often an agent in position refreshes its order toward the target.
    """

    config_choices = {"sizing": SIZING}

    def max_order_lots(self, params: dict) -> int:
        return 4 * int(params.get("size", 1))

    def grid_reach(self, params: dict) -> float:
        return float(params.get("aggression", 0))

    def init_signal_extra(self, spec: FamilySpec, params, key):
        """The family's own per-agent state (e.g. thresholds); none by default."""
        return ()

    def update_signal_extra(self, spec: FamilySpec, params, extra, accounts, view):
        """The family's own state for this tick, before :meth:`signal` reads it (e.g. an
        SDK strategy's memory); unchanged by default."""
        return extra

    @abc.abstractmethod
    def signal(self, spec: FamilySpec, params, extra, accounts: Accounts, view: MarketView):
        """(signal int32[N, S] in {-1, 0, 1}, exit bool[N, S]) for this tick."""

    def init_extra(self, spec, params, key):
        shape = (spec.n_agents, spec.n_symbols)
        zeros = jnp.zeros(shape, jnp.int32)
        return MachineState(
            phase=zeros,
            pending=zeros,
            count=zeros,
            direction=zeros,
            entry=jnp.zeros(shape, jnp.float32),
            peak=jnp.full((spec.n_agents,), -jnp.inf, jnp.float32),
            killed=jnp.zeros((spec.n_agents,), bool),
            signal_extra=self.init_signal_extra(spec, params, key),
        )

    def act(self, spec, params, extra: MachineState, accounts, view, key):
        bits = random_bits(key, (spec.n_agents, spec.n_symbols))
        active = bernoulli_from_bits(bits, params.p_active)
        own = self.update_signal_extra(spec, params, extra.signal_extra, accounts, view)
        extra = extra.replace(signal_extra=own)
        raw, exit_now = self.signal(spec, params, own, accounts, view)
        ready = view.indicators.ready
        signal = jnp.where(ready, raw, 0).astype(jnp.int32)
        worth = wealth(accounts, view.last_price)
        state = advance(extra, signal, exit_now & ready, params, view.last_price, worth)
        held = state.phase == IN_POSITION
        target = jnp.where(held, state.direction * position_size(params, view, worth), 0)
        return orders_toward(target, accounts, view, params, active | ~held), state
