"""Sane economics: the price goes ex-dividend on the payday (last price and resting orders
fall by the dividend), fair value accrues the next dividend, endowments are spread so that
some agents start short, and their total is what the config says."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from qtgjax.agents.types import AccountParams
from qtgjax.config.build import ConfigError, build, scenario_keys, scenario_params
from qtgjax.market import money
from qtgjax.market.types import Orders
from qtgjax.sim.fundamentals import ex_dividend
from qtgjax.sim.rollout import endowments, init_state, rollout

PERIOD, N_TICKS = 20, 60
CALM = ["fundamentals.dividend_vol=0.0", "fundamentals.news_rate=0.0"]
CALM += ["fundamentals.sector_news_rate=0.0", f"fundamentals.dividend_period={PERIOD}"]
# a fat dividend (5% a period) so that the drop is many ticks
CALM += ["fundamentals.discount_rate=0.06", "fundamentals.growth=0.01"]


@pytest.fixture(scope="module")
def run():
    from conftest import SMALL
    from qtgjax import load_config

    built = build(load_config([*SMALL, *CALM]))
    out = rollout(built.static, scenario_params(built.params, 2), scenario_keys(1, 2), N_TICKS)
    return built, out


def test_price_opens_ex_dividend_after_the_payday(run):
    _, out = run
    rec = out.records
    close, open_ = np.asarray(rec.close, np.int64), np.asarray(rec.open, np.int64)
    paid = money.to_int64(rec.dividends).sum(-1)  # (B, T) over families
    shares = np.asarray(rec.position, np.int64).sum(2)  # (B, T, S): the endowment, constant
    payday = (np.arange(N_TICKS) + 1) % PERIOD == 0
    assert np.all(paid[:, ~payday] == 0) and np.all(paid[:, payday] > 0)
    for t in np.nonzero(payday)[0][:-1]:
        # the dividend per lot of each symbol: the one value that explains the payment
        drop = close[:, t] - open_[:, t + 1]  # (B, S)
        assert np.all(drop > 10), "a 5% dividend on 500-1000 ticks is tens of ticks"
        assert np.array_equal((drop * shares[:, t]).sum(-1), paid[:, t])
    other = ~payday[:-1]
    assert np.array_equal(open_[:, 1:][:, other], close[:, :-1][:, other])


def test_fair_value_accrues_and_drops_by_the_dividend(run):
    _, out = run
    value = np.asarray(out.records.fundamental, np.float64)  # (B, T, S), after each tick
    close, open_ = np.asarray(out.records.close), np.asarray(out.records.open)
    t = PERIOD - 1  # first payday
    step = np.diff(value[:, :t], axis=1)
    assert np.all(step > 0)  # accrues between paydays (no news, no noise)
    fall = value[:, t - 1] - value[:, t]
    drop = close[:, t] - open_[:, t + 1]
    assert np.allclose(fall, drop * (PERIOD - 1) / PERIOD, rtol=0.05, atol=1.0)


def test_ex_dividend_lowers_every_resting_order():
    from conftest import SMALL
    from qtgjax import load_config

    built = build(load_config([*SMALL, *CALM]))
    state = init_state(built.static, built.params, scenario_keys(0, 1)[0])
    orders = Orders(
        price=jnp.full((40, 2, 1), 900, jnp.int32).at[0].set(5),
        qty=jnp.full((40, 2, 1), 3, jnp.int32).at[1].set(0),
        is_buy=jnp.zeros((40, 2, 1), bool),
        age=jnp.ones((40, 2, 1), jnp.int32),
    )
    accounts = list(state.accounts)
    accounts[1] = accounts[1].replace(orders=orders)
    state = state.replace(tick=jnp.int32(PERIOD), accounts=tuple(accounts))
    d = np.rint(np.exp(np.asarray(state.fundamentals.log_dividend))).astype(int)
    after = ex_dividend(state, built.params)
    price = np.asarray(after.accounts[1].orders.price)
    assert np.array_equal(price[2:, :, 0], np.broadcast_to(900 - d, (38, 2)))
    assert price[1].tolist() == [[900], [900]]  # an empty slot keeps its price
    assert price[0].tolist() == [[1], [1]]  # never below one tick
    assert np.array_equal(after.market.last_price, state.market.last_price - d)
    quiet = ex_dividend(state.replace(tick=jnp.int32(PERIOD + 1)), built.params)
    assert np.array_equal(quiet.accounts[1].orders.price, orders.price)


@pytest.mark.parametrize(
    "n, position, spread", [(1, 100, 50), (2, 0, 7), (9000, 100, 300), (41, -5, 3)]
)
def test_endowments_spread_evenly_and_keep_the_total(n, position, spread):
    params = AccountParams(
        jnp.int32(0),
        jnp.int32(position),
        jnp.int32(1000),
        *(jnp.float32(0),) * 3,
        jnp.int32(spread),
    )
    got = np.asarray(endowments(n, params), np.int64)
    assert got.sum() == n * position
    if n > 1:
        assert got.min() == position - spread and got.max() == position + spread
        assert np.all(np.diff(got) >= 0)


def test_default_endowments_are_not_all_long(small_config):
    built = build(small_config)
    state = init_state(built.static, built.params, scenario_keys(0, 1)[0])
    names = [f.name for f in built.static.families]
    noise = np.asarray(state.accounts[names.index("noise")].position)
    assert (noise < 0).any() and (noise > 0).any()
    assert noise.sum(0).tolist() == [40 * 100] * 2


def test_a_spread_beyond_the_position_limit_is_refused(small_config):
    families = {**small_config["families"]}
    families["noise"] = {**families["noise"], "position_spread": 950}
    with pytest.raises(
        ConfigError, match=r"families\.noise\.position_spread: .* exceed max_position 1000"
    ):
        build({**small_config, "families": families})
