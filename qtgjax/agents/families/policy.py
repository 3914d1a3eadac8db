"""Policy traders: a linear policy or a one-hidden-layer MLP on the market features, whose
weights are a parameter (so ``qtgjax-evolve`` can evolve them, one genome per candidate).

Input per (agent, symbol): the F = 16 market features of the symbol
(:data:`qtgjax.env.features.MARKET_FEATURES`, clipped, NaN as 0) and the agent's position
over ``size``: 17 numbers ``f``. Output: ``y = w . f + b`` (linear, ``weights`` of length
18) or ``y = w2 . tanh(W1 f + b1) + b2`` (H hidden units, length ``H * 19 + 1``, laid out
``W1`` [17, H] row-major, ``b1`` [H], ``w2`` [H], ``b2``). The agent targets the position
``round(tanh(y) * size)`` with marketable limits ``aggression`` ticks through the last
price, at most ``size`` lots an order, refreshing with probability ``p_active`` a tick.
"""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.common import bernoulli_from_bits, clip_price, random_bits
from qtgjax.agents.registry import register
from qtgjax.agents.types import Family, array_param, param
from qtgjax.config.build import ConfigError
from qtgjax.env.features import MARKET_FEATURES, OBS_CLIP
from qtgjax.market.types import OrderIntent
from qtgjax.tree import pytree

N_INPUTS = len(MARKET_FEATURES) + 1


def n_weights(hidden: int) -> int:
    """Length of the weight vector of a policy with ``hidden`` units (0 = linear)."""
    return N_INPUTS + 1 if hidden == 0 else hidden * (N_INPUTS + 2) + 1


def hidden_units(n: int) -> int:
    """Hidden units of a weight vector of length ``n`` (ValueError if no policy has it)."""
    if n == N_INPUTS + 1:
        return 0
    if n > N_INPUTS + 1 and (n - 1) % (N_INPUTS + 2) == 0:
        return (n - 1) // (N_INPUTS + 2)
    raise ValueError(
        f"{n} weights fit no policy: linear has {N_INPUTS + 1}, H hidden units "
        f"H * {N_INPUTS + 2} + 1"
    )


@pytree
class PolicyParams:
    """Attributes:
    weights: float32[W] policy weights (W = 18 linear, H * 19 + 1 with H hidden units).
    size: int32 largest target position and order, lots.
    aggression: int32 ticks beyond the last price of the marketable limit.
    p_active: float32 probability of refreshing the order in a tick.
    """

    weights: jnp.ndarray = array_param()
    size: jnp.ndarray = param(1, 65_535)
    aggression: jnp.ndarray = param(0, 10_000)
    p_active: jnp.ndarray = param(0.0, 1.0)


def policy_output(weights, features):
    """``y`` [...] of features [..., 17] (the layout of the module docstring)."""
    hidden = hidden_units(weights.shape[0])  # static: the weights' shape
    if hidden == 0:
        return features @ weights[:N_INPUTS] + weights[N_INPUTS]
    n1 = N_INPUTS * hidden
    w1 = weights[:n1].reshape(N_INPUTS, hidden)
    b1 = weights[n1 : n1 + hidden]
    w2 = weights[n1 + hidden : n1 + 2 * hidden]
    return jnp.tanh(features @ w1 + b1) @ w2 + weights[-1]


@register
class Policy(Family):
    kind = "policy"
    Params = PolicyParams

    def max_order_lots(self, params: dict) -> int:
        return int(params.get("size", 1))

    def grid_reach(self, params: dict) -> float:
        return float(params.get("aggression", 0))

    def array_params(self, params: dict, path: str) -> dict:
        """``weights`` (a list, or null: zeros of a policy with ``hidden`` units)."""
        weights, hidden = params.pop("weights", None), params.pop("hidden", 0)
        if weights is None:
            if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
                raise ConfigError(f"{path}.hidden: expected an integer >= 0, got {hidden!r}")
            return {"weights": jnp.zeros((n_weights(hidden),), jnp.float32)}
        if not isinstance(weights, list | tuple) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in weights
        ):
            raise ConfigError(f"{path}.weights: expected a list of numbers")
        try:
            units = hidden_units(len(weights))
        except ValueError as err:
            raise ConfigError(f"{path}.weights: {err}") from err
        if hidden not in (0, units) and units != hidden:
            raise ConfigError(f"{path}.hidden: {hidden} but the weights have {units} units")
        return {"weights": jnp.asarray(weights, jnp.float32)}

    def act(self, spec, params, extra, accounts, view, key):
        from qtgjax.env.features import market_features

        market = jnp.clip(jnp.nan_to_num(market_features(view), nan=0.0), -OBS_CLIP, OBS_CLIP)
        size = jnp.maximum(params.size, 1)
        own = (accounts.position / size).astype(jnp.float32)[..., None]  # (N, S, 1)
        f = jnp.concatenate([jnp.broadcast_to(market, own.shape[:2] + market.shape[1:]), own], -1)
        target = jnp.round(jnp.tanh(policy_output(params.weights, f)) * size).astype(jnp.int32)
        gap = target - accounts.position
        is_buy = gap > 0
        last = view.last_price
        price = clip_price(jnp.where(is_buy, last + params.aggression, last - params.aggression))
        qty = jnp.minimum(jnp.abs(gap), size)
        bits = random_bits(key, gap.shape)
        replace = bernoulli_from_bits(bits, params.p_active) | (gap == 0)
        intent = OrderIntent(
            price[..., None], qty[..., None], is_buy[..., None], replace[..., None]
        )
        return intent, extra
