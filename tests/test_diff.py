"""The differentiable market (qtgjax.diff): gradients against finite differences, the
zero-temperature limit against the exact auction, gradients through a 200-tick rollout,
and recovery of parameters by calibration."""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import qtgjax
import qtgjax.diff.smooth_auction
from qtgjax import diff

K = 16  # levels of the test books
N = 20  # orders per test book (padded with qty 0)
TEMPERATURES = (1.0, 0.3, 0.1, 0.03, 0.01, 1e-3, 1e-5, 1e-7)


def random_books(seed: int, n_books: int):
    """Integer books (level, qty, is_buy, ref) [B, N], each with 4..N live orders."""
    rng = np.random.default_rng(seed)
    live = np.arange(N)[None] < rng.integers(4, N + 1, n_books)[:, None]
    level = rng.integers(0, K, (n_books, N))
    qty = np.where(live, rng.integers(1, 10, (n_books, N)), 0)
    is_buy = rng.random((n_books, N)) < 0.5
    return level, qty, is_buy, rng.integers(0, K, n_books)


def auction_objective(x, qty, is_buy, ref, config):
    """A scalar touching every output of the smoothed auction."""
    r = diff.smooth_clear(x, qty, is_buy, ref, config, K)
    w = jnp.linspace(-1.0, 1.0, x.shape[0])
    return r.price + 0.3 * r.volume + w @ r.filled + 0.1 * w @ r.notional / K


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auction_gradient_matches_central_differences(seed):
    """float32, temperature 1 level / 2 lots: the objective is smooth on the scale of eps,
    so central differences with eps = 1e-2 have truncation error ~eps^2 and rounding error
    ~1e-6 * |f| / eps ~ 1e-3; the tolerance is a few times that."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.uniform(2.0, K - 3.0, N), jnp.float32)
    qty = jnp.asarray(rng.uniform(0.5, 8.0, N), jnp.float32)
    is_buy = jnp.asarray(rng.random(N) < 0.5)
    config = diff.smooth_config(1.0, 2.0)
    ref = jnp.float32(K / 2)

    def f(inputs):
        return auction_objective(inputs[:N], inputs[N:], is_buy, ref, config)

    inputs = jnp.concatenate([x, qty])
    grad = jax.jit(jax.grad(f))(inputs)
    eps = 1e-2
    steps = eps * jnp.eye(2 * N, dtype=jnp.float32)
    fd = (jax.vmap(f)(inputs + steps) - jax.vmap(f)(inputs - steps)) / (2 * eps)
    assert np.all(np.isfinite(grad)) and float(jnp.max(jnp.abs(grad))) > 1e-2
    np.testing.assert_allclose(grad, fd, rtol=2e-2, atol=5e-3)


def test_smoothed_auction_tends_to_exact_auction():
    """64 random integer books (ties included: the nested penalties break them as the exact
    auction does). Errors shrink as the temperature falls, and at 1e-7 the level and
    volume are exact and fills differ only by the integer pro-rata remainder (< 1 lot)."""
    level, qty, is_buy, ref = random_books(0, 64)
    exact = jax.vmap(
        lambda lv, q, b, r: qtgjax.clear_batch_auction(lv, q, b, ref_level=r, n_levels=K)
    )(level, qty, is_buy, ref)

    def smooth(t):
        config = diff.smooth_config(t)
        clear = jax.vmap(lambda x, q, b, r: diff.smooth_clear(x, q, b, r, config, K))
        return clear(jnp.asarray(level, float), jnp.asarray(qty, float), is_buy, ref * 1.0)

    soft = jax.jit(jax.vmap(smooth))(jnp.asarray(TEMPERATURES))
    traded = np.asarray(exact.volume) > 0
    assert traded.sum() > 40
    price_err = np.abs(np.asarray(soft.price) - np.asarray(exact.level))[:, traded]
    volume_err = np.abs(np.asarray(soft.volume) - np.asarray(exact.volume))
    fill_err = np.abs(np.asarray(soft.filled) - np.asarray(exact.filled)).max(-1)
    for err in (price_err.mean(1), volume_err.mean(1), fill_err.mean(1)):
        assert np.all(np.diff(err) <= 1e-3 * err[0]), err
        assert err[-1] < 0.2 * err[0]
    assert price_err[-1].max() < 1e-3 and volume_err[-1].max() < 1e-3
    assert fill_err[-1].max() < 1.0
    buy = np.asarray(is_buy)[None]
    filled = np.asarray(soft.filled)
    for side in (buy, ~buy):  # shares balance at every temperature
        np.testing.assert_allclose(
            np.where(side, filled, 0).sum(-1), np.asarray(soft.volume), rtol=1e-4, atol=1e-4
        )


STATIC = diff.MarketStatic(n_ticks=200)
POLICY = diff.linear_policy_params((0.0, 2.0, 0.0, -0.5), 2.0)


def rollout_objective(params, static, keys):
    """Return variance + volume + the policy trader's final wealth, averaged over keys."""
    _, out = diff.rollouts(static, diff.default_relaxation(), params, keys)
    r = 100.0 * jnp.diff(jnp.log(out.price), axis=-1)
    return jnp.mean(r**2) + 0.01 * jnp.mean(out.volume) + 1e-3 * jnp.mean(out.policy_wealth[:, -1])


def test_rollout_gradients_finite_and_nonzero_for_every_parameter_kind():
    params = diff.default_params(POLICY)
    keys = jax.random.split(jax.random.key(0), 2)
    grad = jax.jit(jax.grad(rollout_objective), static_argnums=1)(params, STATIC, keys)
    for leaf in jax.tree_util.tree_leaves(grad):
        assert np.all(np.isfinite(leaf))
    kinds = {
        "market": ["market.news_rate", "market.news_size", "market.value_vol"],
        "agent": [
            "agents.noise.aggression",
            "agents.noise.mean_qty",
            "agents.fundamental.gain",
            "agents.maker.half_spread",
        ],
        "policy": ["policy.weights", "policy.offset"],
    }
    for kind, names in kinds.items():
        for name in names:
            assert float(jnp.max(jnp.abs(diff.get_leaf(grad, name)))) > 1e-6, (kind, name)


def test_rollout_directional_derivative_matches_finite_differences():
    """float64 (enabled here only): 30 ticks, a random direction in (market, agent,
    policy) space. The pathwise derivative is exact for the relaxed model; the rollout
    has sharp (though smooth) features on the scale of 1e-3 ticks, so the step must be
    small: h = 1e-6 of a 1% move, whose rounding error is ~1e-10 in float64."""
    with jax.enable_x64(True):
        static = diff.MarketStatic(n_ticks=30)
        params = diff.default_params(diff.linear_policy_params((0.0, 2.0, 0.0, -0.5), 2.0))
        keys = jax.random.split(jax.random.key(3), 2)
        leaves, tree = jax.tree_util.tree_flatten(params)
        rng = np.random.default_rng(0)
        direction = jax.tree_util.tree_unflatten(
            tree, [jnp.asarray(0.01 * rng.standard_normal(np.shape(x)) * x) for x in leaves]
        )
        f = jax.jit(lambda p: rollout_objective(p, static, keys))
        _, slope = jax.jvp(f, (params,), (direction,))
        h = 1e-6
        up = jax.tree_util.tree_map(lambda p, d: p + h * d, params, direction)
        down = jax.tree_util.tree_map(lambda p, d: p - h * d, params, direction)
        fd = (f(up) - f(down)) / (2 * h)
        assert abs(float(slope)) > 1e-6
        np.testing.assert_allclose(float(slope), float(fd), rtol=1e-4)
        final, _ = diff.rollouts(static, diff.default_relaxation(), params, keys)
        acc = final.accounts  # expected fills still conserve shares and cash
        np.testing.assert_allclose(acc.position.sum(-1), 0.0, atol=1e-9)
        np.testing.assert_allclose(acc.cash.sum(-1), 0.0, atol=1e-6)


def test_docstring_example():
    result = doctest.testmod(qtgjax.diff.smooth_auction, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_calibration_recovers_parameters():
    """Noise-free identification: target statistics and simulations share the scenario
    keys, so the loss is exactly 0 at the truth and the recovered values differ from it
    only by optimisation error; 5% is several times what 120 Adam steps leave. (The
    example analysis/calibrate_market.py fits with keys independent of the target's.)"""
    static = diff.MarketStatic(n_ticks=100)
    relax = diff.default_relaxation()
    names = ("agents.noise.aggression", "market.news_rate")
    base = diff.default_params()
    true = jnp.array([2.0, 0.02])
    keys = jax.random.split(jax.random.key(11), 32)
    target = diff.simulated_stats(static, relax, diff.with_values(base, names, true), keys)
    loss = diff.moment_loss(static, relax, base, names, keys, target)
    result = diff.fit(loss, jnp.array([4.0, 0.05]), steps=120, learning_rate=0.08)
    assert float(result.losses[0]) > 0.1
    np.testing.assert_allclose(np.asarray(result.values), np.asarray(true), rtol=0.05)
