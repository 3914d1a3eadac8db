"""Threshold traders (Cont 2007): a common signal, heterogeneous adaptive thresholds,
activity that rises with recent volatility and heavy-tailed order sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, bit_field, clip_price, random_bits
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, param
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree


@pytree
class ThresholdParams:
    """Threshold traders (scalars).

    Attributes:
        p_active: float32 probability per tick that an agent looks at the signal in a calm
            market (volatility at ``vol_ref``).
        signal_sd: float32 sd of the common signal per symbol and tick, log-return units.
        signal_persistence: float32 in [0, 1), AR(1) coefficient of the common signal
            (its sd stays ``signal_sd``): persistent order flow, as in real markets where
            the signs of market orders are autocorrelated (Lillo & Farmer 2004); 0 = iid.
        idio_sd: float32 sd of each agent's private noise on the signal's direction: an
            agent buys with probability Phi(eps / idio_sd); 0 = all follow the signal.
        threshold: float32 median initial threshold, log-return units.
        threshold_dispersion: float32 log-normal sigma of the initial thresholds.
        update_prob: float32 chance per tick that an agent resets its threshold to the
            last absolute log return of the symbol (Cont's asynchronous updating).
        vol_ref: float32 per-tick return sd at which the activity equals ``p_active``.
        vol_feedback: float32 in [0, 1), weight of the variance in the activity (GARCH-like):
            p = p_active * min(vol_cap, 1 - vol_feedback + vol_feedback * sd**2 / vol_ref**2)
            with sd the market's per-tick return sd; 0 = no response.
        vol_cap: float32 largest multiple of ``p_active`` that volatility can reach.
        size_tail: float32 Pareto tail index of order sizes (smaller = heavier tail).
        min_qty: int32 lots of the smallest order (the Pareto scale).
        max_qty: int32 lots of the largest order.
        aggression: int32 ticks beyond the last price for the marketable limit.
        ttl: int32 ticks before an unfilled order is cancelled.
    """

    p_active: jnp.ndarray = param(0.0, 1.0)
    signal_sd: jnp.ndarray = param(0.0, 1.0)
    signal_persistence: jnp.ndarray = param(0.0, 0.999)
    idio_sd: jnp.ndarray = param(0.0, 1.0)
    threshold: jnp.ndarray = param(0.0, 1.0)
    threshold_dispersion: jnp.ndarray = param(0.0, 3.0)
    update_prob: jnp.ndarray = param(0.0, 1.0)
    vol_ref: jnp.ndarray = param(1e-9, 1.0)
    vol_feedback: jnp.ndarray = param(0.0, 1.0)
    vol_cap: jnp.ndarray = param(0.0, 1e4)
    size_tail: jnp.ndarray = param(0.1, 100.0)
    min_qty: jnp.ndarray = param(1, 65_535)
    max_qty: jnp.ndarray = param(1, 65_535)
    aggression: jnp.ndarray = param(0, 10_000)
    ttl: jnp.ndarray = param(1, 1_000_000)


@pytree
class ThresholdState:
    """Per-agent thresholds and the price they last saw.

    Attributes:
        theta: float32[N, S] thresholds on the signal, log-return units.
        prev: float32[S] last price seen in the previous tick, ticks (0 before the first).
        signal: float32[S] the common signal of the previous tick, log-return units.
    """

    theta: jnp.ndarray
    prev: jnp.ndarray
    signal: jnp.ndarray


def pareto_lots(bits, shift: int, tail, min_qty, max_qty) -> jnp.ndarray:
    """int32 lots ``floor(min_qty * u ** (-1 / tail))`` capped at ``max_qty``, u uniform on
    (0, 1] from 16 bits at ``shift``: a power-law size distribution with index ``tail``."""
    u = (bit_field(bits, shift, 16).astype(jnp.float32) + 0.5) / 65536.0
    lots = jnp.floor(min_qty.astype(jnp.float32) * u ** (-1.0 / tail))
    return jnp.clip(lots, 1.0, max_qty.astype(jnp.float32)).astype(jnp.int32)


def activity(params, volatility) -> jnp.ndarray:
    """float32[S] chance of looking at the signal given the market's variance [S]."""
    ratio = jnp.maximum(volatility, 0.0) / (params.vol_ref * params.vol_ref)
    boost = 1.0 - params.vol_feedback + params.vol_feedback * ratio
    return jnp.clip(params.p_active * jnp.minimum(params.vol_cap, boost), 0.0, 1.0)


def next_signal(params, previous, z) -> jnp.ndarray:
    """float32[S] AR(1) common signal from the previous one and standard normals ``z``:
    ``phi * previous + sqrt(1 - phi**2) * signal_sd * z`` (stationary sd ``signal_sd``)."""
    phi = params.signal_persistence
    return phi * previous + jnp.sqrt(1.0 - phi * phi) * params.signal_sd * z


def buy_probability(params, eps) -> jnp.ndarray:
    """float32[S] chance that an agent reading the common signal ``eps`` [S] buys."""
    scaled = eps / jnp.maximum(params.idio_sd, 1e-12)
    herd = jax.scipy.stats.norm.cdf(scaled)
    return jnp.where(params.idio_sd > 0.0, herd, (eps > 0.0).astype(jnp.float32))


def last_abs_return(state: ThresholdState, last) -> jnp.ndarray:
    """float32[S] |log(last / prev)|, 0 before the first tick."""
    seen = state.prev > 0.0
    return jnp.where(seen, jnp.abs(jnp.log(last / jnp.where(seen, state.prev, 1.0))), 0.0)


@register
class ThresholdTrader(Family):
    """Every tick a common signal ``eps ~ N(0, signal_sd)`` per symbol (AR(1) with
    ``signal_persistence``); an agent that looks
    (probability rising with the market's recent volatility) and whose threshold is below
    ``|eps|`` places one marketable order with a Pareto size, on the signal's side up to
    private noise (``idio_sd``: herding).
    Each agent resets its threshold to the last absolute return with ``update_prob``, so
    calm markets lower the thresholds (more traders, larger moves) and turbulent ones
    raise them: with the volatility feedback this gives volatility clustering.
    Random bits per (agent, symbol): 16 for activity, 16 for the threshold update; a
    second draw gives 16 for the size and 16 for the side.
    """

    kind = "threshold"
    Params = ThresholdParams

    def grid_reach(self, params):
        return float(params.get("aggression", 0))

    def init_extra(self, spec, params, key):
        z = jax.random.normal(key, (spec.n_agents, spec.n_symbols))
        theta = params.threshold * jnp.exp(params.threshold_dispersion * z)
        zeros = jnp.zeros((spec.n_symbols,), jnp.float32)
        return ThresholdState(theta=theta, prev=zeros, signal=zeros)

    def act(self, spec, params, extra, accounts, view, key):
        k_bits, k_size, k_signal = jax.random.split(key, 3)
        shape = (spec.n_agents, spec.n_symbols)
        bits = random_bits(k_bits, shape)
        z = jax.random.normal(k_signal, (spec.n_symbols,))
        eps = next_signal(params, extra.signal, z)  # (S,)
        looks = bernoulli_from_bits(bits, activity(params, view.volatility)[None, :])
        trades = looks & (jnp.abs(eps)[None, :] > extra.theta)
        size_bits = random_bits(k_size, shape)
        is_buy = bernoulli_from_bits(size_bits, buy_probability(params, eps)[None, :], shift=16)
        size = pareto_lots(size_bits, 0, params.size_tail, params.min_qty, params.max_qty)
        qty = jnp.where(trades, size, 0)
        ref = view.last_price[None, :]
        price = clip_price(jnp.where(is_buy, ref + params.aggression, ref - params.aggression))
        expired = self.expired(spec, params, accounts.orders)[..., 0]
        replace = trades | expired
        last = view.last_price.astype(jnp.float32)
        update = bernoulli_from_bits(bits, params.update_prob, shift=16)
        theta = jnp.where(update, last_abs_return(extra, last)[None, :], extra.theta)
        intent = OrderIntent(
            price[..., None], qty[..., None], is_buy[..., None], replace[..., None]
        )
        return intent, ThresholdState(theta=theta, prev=last, signal=eps)
