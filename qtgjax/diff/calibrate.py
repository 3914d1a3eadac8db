"""Calibration of the relaxed market by gradient descent on simulated statistics.

Method of simulated moments with common random numbers: the statistics of a target path
set (say, observed data) are matched by simulating the relaxed market at candidate
parameters with one fixed set of scenario keys (the same keys at every step, so the loss is
a smooth deterministic function of the parameters) and following ``jax.grad`` of the
squared log-ratio of the statistics. Parameters are fitted in log space (all are positive).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from qtgjax.diff.agents import linear_policy
from qtgjax.diff.market import rollouts
from qtgjax.diff.types import MarketStatic, Params, Relaxation, TickOut

STAT_NAMES = ("return_var", "abs_return", "volume")


def path_stats(out: TickOut):
    """float[3] statistics of B paths (TickOut [B, T] each), pooled over paths and ticks:
    mean squared log return (%^2), mean absolute log return (%), mean volume (lots)."""
    r = 100.0 * jnp.diff(jnp.log(out.price), axis=-1)
    return jnp.stack([jnp.mean(r**2), jnp.mean(jnp.abs(r)), jnp.mean(out.volume)])


def get_leaf(params: Params, name: str):
    """The leaf at a dotted path, e.g. ``"agents.noise.aggression"``."""
    node = params
    for part in name.split("."):
        node = getattr(node, part)
    return node


def set_leaf(params, name: str, value):
    """A copy of ``params`` with the leaf at dotted path ``name`` replaced by ``value``."""
    head, _, rest = name.partition(".")
    child = value if not rest else set_leaf(getattr(params, head), rest, value)
    return params.replace(**{head: child})


def with_values(params: Params, names: Sequence[str], values) -> Params:
    """``params`` with ``values[i]`` at ``names[i]`` (values float[len(names)])."""
    for i, name in enumerate(names):
        params = set_leaf(params, name, values[i])
    return params


def simulated_stats(static: MarketStatic, relax: Relaxation, params: Params, keys, policy=None):
    """float[3] :func:`path_stats` of ``len(keys)`` scenarios at ``params``."""
    _, out = rollouts(static, relax, params, keys, linear_policy if policy is None else policy)
    return path_stats(out)


def moment_loss(static, relax, base: Params, names: Sequence[str], keys, target) -> Callable:
    """``loss(log_values) -> float[]``: sum of squared log-ratios of the simulated
    statistics (at ``base`` with ``exp(log_values)`` at ``names``) to ``target`` float[3]."""

    def loss(log_values):
        stats = simulated_stats(static, relax, with_values(base, names, jnp.exp(log_values)), keys)
        return jnp.sum((jnp.log(stats) - jnp.log(target)) ** 2)

    return loss


class Fit(NamedTuple):
    """Result of :func:`fit`: values float[P] (natural units), loss float[] and the
    trajectory of (values, loss) per step, float[steps, P] and float[steps]."""

    values: jnp.ndarray
    loss: jnp.ndarray
    path: jnp.ndarray
    losses: jnp.ndarray


def fit(loss: Callable, start, steps: int, learning_rate: float = 0.05) -> Fit:
    """Adam (optax) on ``loss`` over log parameters from natural-unit ``start`` float[P].

    The whole optimisation is one ``lax.scan`` under ``jit``; the returned values are the
    iterate with the smallest loss seen.
    """
    opt = optax.adam(learning_rate)
    value_and_grad = jax.value_and_grad(loss)

    def one(carry, _):
        x, state = carry
        value, grad = value_and_grad(x)
        updates, state = opt.update(grad, state, x)
        return (optax.apply_updates(x, updates), state), (x, value)

    @jax.jit
    def run(x0):
        _, (xs, losses) = jax.lax.scan(one, (x0, opt.init(x0)), length=steps)
        return xs, losses

    xs, losses = run(jnp.log(jnp.asarray(start, float)))
    best = jnp.argmin(losses)
    return Fit(jnp.exp(xs[best]), losses[best], jnp.exp(xs), losses)
