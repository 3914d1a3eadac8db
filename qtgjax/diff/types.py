"""Pytrees of the differentiable (relaxed) market.

Everything here is float: lots, ticks and cash are real numbers so that ``jax.grad`` can
flow through them. Floats are float32 unless the caller enables x64. Shapes are per
scenario; ``vmap`` adds a leading scenario axis. Nn / Nf / Nm = noise traders /
fundamental traders / market makers, A = Nn + Nf + Nm + 1 agents (the last one is the
policy trader), K = grid levels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from qtgjax.tree import pytree, static_field


class SoftAuctionResult(NamedTuple):
    """Outcome of one smoothed batch auction (see :mod:`qtgjax.diff.smooth_auction`).

    Attributes:
        price: float[] soft clearing level (expected level under ``weights``), levels.
        volume: float[] expected executed lots (each side).
        filled: float[n] expected lots filled per order, 0 <= filled <= qty.
        notional: float[n] expected sum over levels of fill * level, level-lots: an
            order's cash flow is ``filled * grid_base + notional`` ticks.
        weights: float[K] softmax weight of each level being the clearing level.
    """

    price: jnp.ndarray
    volume: jnp.ndarray
    filled: jnp.ndarray
    notional: jnp.ndarray
    weights: jnp.ndarray


@pytree
class SmoothConfig:
    """Temperatures and tie-break weights of the smoothed auction (float scalars).

    Attributes:
        temperature: width of the order-limit sigmoids, levels. 0 < temperature; -> 0
            gives the exact step functions D(l), S(l).
        volume_temperature: softmax temperature over levels of the clearing score, lots.
            -> 0 picks the exact auction's level.
        filter_weight, imbalance_weight, reference_weight, lowest_weight: in (0, 1); the
            nested weights of the lexicographic tie-breaks after volume (consistency
            filter, then |D - S|, then distance to the reference level, then the lowest
            level). Values in (0, 1/2] keep the exact order of the criteria on integer
            books (a larger criterion's smallest step outweighs all later penalties).
    """

    temperature: jnp.ndarray
    volume_temperature: jnp.ndarray
    filter_weight: jnp.ndarray
    imbalance_weight: jnp.ndarray
    reference_weight: jnp.ndarray
    lowest_weight: jnp.ndarray


def smooth_config(
    temperature, volume_temperature=None, weights=(0.5, 0.5, 0.5, 0.5)
) -> SmoothConfig:
    """A :class:`SmoothConfig`; ``volume_temperature`` defaults to ``temperature``."""
    vt = temperature if volume_temperature is None else volume_temperature
    f = jnp.asarray
    return SmoothConfig(f(temperature * 1.0), f(vt * 1.0), *(f(w * 1.0) for w in weights))


@pytree
class Relaxation:
    """How the market is relaxed (float scalars).

    Attributes:
        auction: the smoothed auction's temperatures.
        bernoulli_temperature: temperature of the relaxed (binary concrete) Bernoulli
            draws of news events and agent activity; -> 0 gives hard 0/1 draws.
        volume_gate: lots; the last price moves toward the clearing price by
            ``V / (V + volume_gate)`` (the engine moves it only when something trades).
    """

    auction: SmoothConfig
    bernoulli_temperature: jnp.ndarray
    volume_gate: jnp.ndarray


@pytree
class NoiseParams:
    """Noise traders (float scalars).

    Attributes:
        aggression: ticks; limit offsets are uniform on [-aggression, max_offset] from the
            last price on the passive side, so a larger value crosses more often.
        max_offset: ticks, passive reach of the limits.
        mean_qty: lots per order (uniform on [0.5, 1.5] * mean_qty).
        p_active: probability an agent sends an order in a tick.
    """

    aggression: jnp.ndarray
    max_offset: jnp.ndarray
    mean_qty: jnp.ndarray
    p_active: jnp.ndarray


@pytree
class FundamentalParams:
    """Fundamental-value traders (float scalars).

    Attributes:
        gain: lots per 1% of mispricing beyond the threshold.
        threshold: relative mispricing needed to trade (0.01 = 1%).
        bias_sd: sd of each agent's fixed relative error about the value.
        max_qty: lots per order (cap).
        p_active: probability an agent sends an order in a tick.
    """

    gain: jnp.ndarray
    threshold: jnp.ndarray
    bias_sd: jnp.ndarray
    max_qty: jnp.ndarray
    p_active: jnp.ndarray


@pytree
class MakerParams:
    """Market makers quoting a bid and an ask around the last price (float scalars).

    Attributes:
        half_spread: ticks from the skewed centre to each quote.
        quote_size: lots per quote.
        inventory_skew: ticks the centre moves against each lot of inventory.
    """

    half_spread: jnp.ndarray
    quote_size: jnp.ndarray
    inventory_skew: jnp.ndarray


@pytree
class AgentParams:
    """Parameters of the agent families."""

    noise: NoiseParams
    fundamental: FundamentalParams
    maker: MakerParams


@pytree
class MarketParams:
    """Market-wide parameters (float scalars).

    Attributes:
        initial_price: ticks, the first last price and fundamental value.
        value_vol: sd of the per-tick Gaussian log-value innovation.
        news_rate: probability of a news jump per tick (the news intensity).
        news_size: mean absolute log jump of one news event (exponential size).
    """

    initial_price: jnp.ndarray
    value_vol: jnp.ndarray
    news_rate: jnp.ndarray
    news_size: jnp.ndarray


@pytree
class Params:
    """All continuous parameters of a relaxed market: ``jax.grad`` w.r.t. any leaf.

    Attributes:
        market: :class:`MarketParams`. agents: :class:`AgentParams`.
        policy: any pytree the policy function reads (e.g. :class:`LinearPolicyParams`).
    """

    market: MarketParams
    agents: AgentParams
    policy: Any


@pytree
class MarketStatic:
    """Sizes (hashable, part of the jit cache key).

    Attributes:
        n_levels: K, grid levels one tick apart, centred on the rounded last price.
        n_noise, n_fundamental, n_makers: agents per family.
        n_ticks: T, ticks per rollout.
    """

    n_levels: int = static_field(default=32)
    n_noise: int = static_field(default=24)
    n_fundamental: int = static_field(default=8)
    n_makers: int = static_field(default=2)
    n_ticks: int = static_field(default=200)

    @property
    def n_agents(self) -> int:
        return self.n_noise + self.n_fundamental + self.n_makers + 1


@pytree
class Accounts:
    """Float accounts of all agents (noise, fundamental, makers, policy trader).

    Attributes:
        position: float[A] lots. cash: float[A] ticks * lots.
    """

    position: jnp.ndarray
    cash: jnp.ndarray


@pytree
class MarketState:
    """State of one relaxed market between ticks.

    Attributes:
        last: float[] last price, ticks. last_return: float[] log return of the last tick.
        log_value: float[] log fundamental value (ticks).
        bias: float[Nf] fixed relative valuation error of each fundamental trader.
        accounts: :class:`Accounts`.
    """

    last: jnp.ndarray
    last_return: jnp.ndarray
    log_value: jnp.ndarray
    bias: jnp.ndarray
    accounts: Accounts


class Observation(NamedTuple):
    """What the policy trader sees before it acts (float scalars).

    Attributes:
        last: ticks. last_return: log return of the previous tick.
        log_value: log fundamental value. position: lots. cash: ticks * lots.
    """

    last: jnp.ndarray
    last_return: jnp.ndarray
    log_value: jnp.ndarray
    position: jnp.ndarray
    cash: jnp.ndarray


class PolicyOrder(NamedTuple):
    """The policy trader's order: ``size > 0`` buys, ``< 0`` sells (float scalars).

    Attributes:
        size: signed lots. offset: ticks through the last price (buy limit at
            ``last + offset``, sell limit at ``last - offset``).
    """

    size: jnp.ndarray
    offset: jnp.ndarray


Policy = Callable[[Any, Observation], PolicyOrder]


@pytree
class LinearPolicyParams:
    """A linear order-size rule ``size = weights . features(obs)``.

    Attributes:
        weights: float[4] lots per unit of (1, mispricing %, last return %, position / 10).
        offset: ticks through the last price of the order's limit.
    """

    weights: jnp.ndarray
    offset: jnp.ndarray


class TickOut(NamedTuple):
    """Per-tick record of a rollout (scan's ys; float scalars).

    Attributes:
        price: last price after the tick, ticks. volume: expected lots traded.
        value: fundamental value, ticks. news: log jump of the value this tick.
        policy_wealth: policy trader's cash + position * price, ticks * lots.
    """

    price: jnp.ndarray
    volume: jnp.ndarray
    value: jnp.ndarray
    news: jnp.ndarray
    policy_wealth: jnp.ndarray
