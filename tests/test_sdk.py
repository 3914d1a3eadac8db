"""The per-agent strategy SDK: the shipped strategies' signals against TA-Lib, fills seen by
``on_fill`` against the engine's accounts, and bad strategies refused before compiling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import talib

from qtgjax import sdk
from qtgjax.agents import registry
from qtgjax.agents.families import ema_cross, range_breakout, rsi_reversion
from qtgjax.agents.registry import get_family, register
from qtgjax.config.build import ConfigError, build
from qtgjax.market.types import Orders

T = 400


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(7)
    price = np.round(1000 + np.cumsum(rng.normal(0, 3, T))).astype(np.int32)
    volume = rng.integers(0, 50, T).astype(np.int32)
    return price, volume


def run_signal(kind, overrides, price, volume):
    """The family's per-agent signal over a price/volume series (one symbol), as
    (signals, memories) from a scan of its own function."""
    family = get_family(kind)
    params = family.Params(**{
        k: jnp.asarray(v) for k, v in {**default_params(kind), **overrides}.items()
    })
    memory = family.memory_fn(params, 1)
    base = sdk.view_like(1)
    resting = jax.tree.map(lambda x: x[0], Orders.empty(1, 1, 1))

    def step(m, pv):
        view = sdk.AgentView(
            base.replace(last_price=pv[0][None], volume=pv[1][None]),
            jnp.zeros((1,), jnp.int32), jnp.float32(0), resting,
        )
        side, exit_now, m = family.signal_fn(params, m, view)
        return m, (side[0], exit_now[0], m)

    _, out = jax.jit(lambda p, v: jax.lax.scan(step, memory, (p, v)))(price, volume)
    return jax.device_get(out)


def default_params(kind):
    from qtgjax.agents.strategy import SIZING

    raw = dict(get_family(kind).default_config["params"])
    raw["sizing"] = SIZING[raw["sizing"]]
    return raw


def test_ema_crossover_10_20_is_talibs(series):
    price, volume = series
    side, _, mem = run_signal("ema_cross", {}, price, volume)
    fast, slow = talib.EMA(price.astype(float), 10), talib.EMA(price.astype(float), 20)
    ready = ~np.isnan(slow)
    np.testing.assert_allclose(mem["fast"][ready, 0], fast[ready], rtol=2e-6)
    np.testing.assert_allclose(mem["slow"][ready, 0], slow[ready], rtol=2e-6)
    clear = ready & (np.abs(fast - slow) > 1e-2)
    assert clear.sum() > 300
    np.testing.assert_array_equal(side[clear], np.sign(fast - slow)[clear])
    assert (side[~ready] == 0).all() and {-1, 1} <= set(side[clear].tolist())


def test_rsi_reversion_buys_below_30_on_talibs_rsi(series):
    price, volume = series
    side, exit_now, mem = run_signal("rsi_reversion", {}, price, volume)
    rsi = talib.RSI(price.astype(float), 14)
    ready = ~np.isnan(rsi)
    gain, loss = mem["gain"][:, 0], mem["loss"][:, 0]
    with np.errstate(invalid="ignore"):  # 0 / 0 before the first change
        ours = 100 * gain / (gain + loss)
    np.testing.assert_allclose(ours[ready], rsi[ready], atol=1e-3)
    away = ready & (np.abs(rsi - 30) > 0.01) & (np.abs(rsi - 70) > 0.01)
    want = np.where(rsi < 30, 1, np.where(rsi > 70, -1, 0))
    np.testing.assert_array_equal(side[away], want[away])
    assert (want[away] == 1).any() and (want[away] == -1).any()
    near = ready & (np.abs(np.abs(rsi - 50) - 5) > 0.01)
    np.testing.assert_array_equal(exit_now[near], (np.abs(rsi - 50) < 5)[near])


def test_range_breakout_20_bars_with_volume_filter(series):
    price, volume = series
    side, _, _ = run_signal("range_breakout", {}, price, volume)
    p, v = price.astype(float), volume.astype(float)
    high = np.r_[np.nan, talib.MAX(p, 20)[:-1]]  # the previous 20 bars, not this one
    low = np.r_[np.nan, talib.MIN(p, 20)[:-1]]
    mean_v = np.r_[np.nan, talib.SMA(v, 20)[:-1]]
    ready = ~np.isnan(high)
    loud = v >= 1.5 * np.nan_to_num(mean_v)
    want = np.where(p > high, 1, np.where(p < low, -1, 0)) * (ready & loud)
    np.testing.assert_array_equal(side, want)
    assert (want == 1).any() and (want == -1).any()


@pytest.fixture
def clean_registry():
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


@sdk.pytree
class BuyParams:
    lots: jnp.ndarray = sdk.param(1, 5)


def buy_every_tick(params, memory, view, key):
    """Bid ``lots`` through the last price on every symbol."""
    s = view.position.shape[0]
    target = view.position + params.lots
    return sdk.toward(target, view, aggression=3, max_lots=jnp.full((s,), params.lots)), memory


def count_fills(params, memory, fill, view):
    return {"bought": memory["bought"] + fill.lots, "fills": memory["fills"] + (fill.lots != 0)}


def test_on_fill_sees_exactly_the_agents_fills(clean_registry):
    import qtgjax

    cls = register(sdk.strategy(
        "buyer", BuyParams, buy_every_tick, on_fill=count_fills, max_order="lots",
        init_memory=lambda p, s: {"bought": jnp.zeros((s,), jnp.int32),
                                  "fills": jnp.zeros((s,), jnp.int32)},
        default_config=sdk.default_config("buyer", n_agents=3, params={"lots": 2},
                                          max_position=40),
    ))
    assert cls.config_schema == {"lots": (1, 5)}
    res = qtgjax.simulate(overrides=[
        "scenarios=1", "ticks=30", "market.symbols=1", "market.initial_price=[1000]",
        "market.sectors=[0]", "market.levels=32", "market.recentre=8",
        "families.noise.n_agents=30", "families.fundamental.n_agents=4",
        "families.momentum.n_agents=4", "families.market_maker.n_agents=2",
        "+agents@families.buyers=buyer",
    ])
    i = [f.name for f in res.built.static.families].index("buyers")
    final = res.out.final
    position = np.asarray(final.accounts[i].position)[0]
    memory = jax.device_get(final.extras[i].memory)
    # the memory counts fills up to the last decision; the last tick's fills come after it
    before_last = np.asarray(final.extras[i].position)[0]
    np.testing.assert_array_equal(memory["bought"][0], before_last)
    assert position.max() > 0 and (position <= 40).all()


def test_bad_strategies_are_refused_before_compiling(clean_registry):
    with pytest.raises(TypeError, match=r"strategy 'bad': decide .*two_args.* must take 4"):

        def two_args(params, view):
            return None

        sdk.strategy("bad", BuyParams, two_args)

    def wrong_shape(params, memory, view, key):
        s = view.position.shape[0]
        o = sdk.no_orders(s + 1)
        return o, memory

    register(sdk.strategy("wrong_shape", BuyParams, wrong_shape,
                          default_config=sdk.default_config("wrong_shape", n_agents=2,
                                                            params={"lots": 1})))

    def grows(params, memory, view, key):
        return sdk.no_orders(view.position.shape[0]), memory + 1.0

    register(sdk.strategy("grows", BuyParams, grows, init_memory=lambda p, s: jnp.int32(0),
                          default_config=sdk.default_config("grows", n_agents=2,
                                                            params={"lots": 1})))
    import qtgjax

    for kind, message in [
        ("wrong_shape", r"families.x: strategy 'wrong_shape': decide .*wrong_shape returned "
                        r"orders.price of shape \(4, 1\); expected \(S,\) = \(3,\)"),
        ("grows", r"families.x: strategy 'grows': decide .*grows returned memory .*float32.*"
                  r"it must keep the shapes and dtypes"),
    ]:
        cfg = qtgjax.load_config([f"+agents@families.x={kind}", "market.symbols=3",
                                  "market.initial_price=[1000,900,800]",
                                  "market.sectors=[0,1,2]"])
        with pytest.raises(ConfigError, match=message):
            build(cfg)

    @sdk.pytree
    class NotRisk:
        x: jnp.ndarray = sdk.param(0, 1)

    with pytest.raises(TypeError, match="must subclass qtgjax.agents.strategy.RiskParams"):
        sdk.signal_strategy("nr", NotRisk, ema_cross.signal)
    assert range_breakout.CAPACITY >= 20 and rsi_reversion.RsiReversion.kind == "rsi_reversion"


def test_sdk_strategy_backtests_on_bars_without_a_yaml():
    """``qtgjax-backtest strategy=ema_cross``: the family's default_config is its base."""
    from test_backtest import SHORT, walk

    from qtgjax.backtest.api import backtest

    r = backtest(overrides=["strategy=ema_cross", "params.fast=5", "params.slow=12", *SHORT],
                 bars=[walk(n=400, seed=4)])
    assert r.trades().height > 0
    with pytest.raises(ConfigError, match=r"strategy: 'nope' is not a strategy family.*"
                                          r"ema_cross"):
        backtest(overrides=["strategy=nope", *SHORT], bars=[walk(n=50)])
