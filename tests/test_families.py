"""Each family does what it claims in a controlled market (hand-built market views)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from family_helpers import accounts, act, family_setup, run_ticks, view

from qtgjax.agents.strategy import ANALYZING, IDLE, IN_POSITION


def _sides(intent):
    """(+lots bought, -lots sold) per (agent, symbol) of the replaced slots."""
    live = intent.replace & (intent.qty > 0)
    signed = jnp.where(intent.is_buy, intent.qty, -intent.qty)
    return np.asarray(jnp.where(live, signed, 0).sum(-1))


def test_noise_orders_are_random_two_sided_and_near_the_mid():
    family, spec, params = family_setup("noise", n_agents=2000, p_active=1.0)
    intent, _ = act(family, spec, params, accounts(spec, 1), view(), ())
    buys, qty = np.asarray(intent.is_buy[..., 0]), np.asarray(intent.qty[..., 0])
    assert 0.45 < buys.mean() < 0.55 and qty.min() >= 1 and qty.max() <= int(params.max_qty)
    price = np.asarray(intent.price[..., 0])
    mid = np.array([1000, 500])
    offset = np.where(buys, mid - price, price - mid)
    assert offset.min() >= -int(params.aggression) and offset.max() <= int(params.max_offset)


def test_fundamental_traders_buy_below_value_and_sell_above():
    family, spec, params = family_setup("fundamental", n_agents=500, p_active=1.0, bias_sd=0.0)
    v = view(price=(1000, 500), fundamental=jnp.array([1100.0, 450.0]))
    intent, _ = act(
        family,
        spec,
        params,
        accounts(spec, 1),
        v,
        family.init_extra(spec, params, jax.random.key(0)),
    )
    sides = _sides(intent)
    assert np.all(sides[:, 0] > 0) and np.all(sides[:, 1] < 0)


def test_momentum_buys_after_rises_and_sells_after_falls():
    family, spec, params = family_setup("momentum", n_agents=500, p_active=1.0)
    extra = family.init_extra(spec, params, jax.random.key(0))
    v = view(ema_fast=jnp.array([1010.0, 495.0]), ema_slow=jnp.array([1000.0, 500.0]))
    sides = _sides(act(family, spec, params, accounts(spec, 1), v, extra)[0])
    assert (sides[:, 0] > 0).mean() > 0.9 and (sides[:, 1] < 0).mean() > 0.9


def test_market_maker_quotes_straddle_mid_and_skew_against_inventory():
    family, spec, params = family_setup("market_maker", n_agents=4, spread_jitter=0.0)
    extra = family.init_extra(spec, params, jax.random.key(0))
    flat, _ = act(family, spec, params, accounts(spec, 2, 0), view(), extra)
    long, _ = act(family, spec, params, accounts(spec, 2, 500), view(), extra)
    bid, ask = np.asarray(flat.price[..., 0]), np.asarray(flat.price[..., 1])
    assert np.all(bid < np.array([1000, 500])) and np.all(ask > np.array([1000, 500]))
    assert np.all(long.price < flat.price), "a long maker quotes lower to shed inventory"


def family_setup_kw(kind, **kw):
    """family_setup with identical thresholds across trend agents (no dispersion)."""
    return family_setup(kind, **({"threshold_dispersion": 0.0} if kind == "trend" else {}), **kw)


TREND_UP = dict(ind=dict(sma_fast=[1010.0, 490.0], sma_slow=[1000.0, 500.0]))


@pytest.mark.parametrize(
    ("kind", "signal_view"),
    [
        ("trend", TREND_UP),
        ("rsi", dict(ind=dict(rsi=[80.0, 20.0]))),
        ("macd", dict(ind=dict(macd=[1.0, -1.0], macd_signal=[0.0, 0.0]))),
        (
            "bollinger",
            dict(
                ind=dict(bb_lower=[1005.0, 480.0], bb_mid=[1010.0, 490.0], bb_upper=[1020.0, 495.0])
            ),
        ),
        ("breakout", dict(ind=dict(range_high=[990.0, 520.0], range_low=[980.0, 510.0]))),
        ("pairs", dict(ind=dict(pair_z=[-3.0, 3.0]))),
    ],
)
def test_signal_families_go_long_symbol0_short_symbol1_after_confirmation(kind, signal_view):
    family, spec, params = family_setup_kw(kind, confirm_ticks=2, p_active=1.0)
    intents, machine, acct = run_ticks(family, spec, params, [view(**signal_view)] * 4)
    first = _sides(intents[0])
    assert np.all(first == 0), "no position before the signal is confirmed"
    assert np.all(np.asarray(machine.phase) == IN_POSITION)
    assert np.all(np.asarray(acct.position[:, 0]) == int(params.size))
    assert np.all(np.asarray(acct.position[:, 1]) == -int(params.size))


def test_stop_loss_and_take_profit_close_positions():
    family, spec, params = family_setup_kw(
        "trend", confirm_ticks=1, p_active=1.0, stop_loss=0.01, take_profit=0.02
    )
    enter = [view(price=(1000, 500), **TREND_UP)] * 2
    _, machine, acct = run_ticks(family, spec, params, enter)
    assert np.all(np.asarray(acct.position[:, 0]) > 0)
    # symbol 0 (long) falls 2%: stop-loss; symbol 1 (short) falls 3%: take-profit
    after = view(price=(980, 485), **TREND_UP)
    intents, machine, acct = run_ticks(family, spec, params, enter + [after])
    assert np.all(np.asarray(machine.phase) == IDLE)
    assert np.all(np.asarray(acct.position) == 0), "closed positions are flattened"


def test_drawdown_kill_switch_flattens_for_good():
    family, spec, params = family_setup_kw("trend", confirm_ticks=1, p_active=1.0, max_drawdown=0.1)
    extra = family.init_extra(spec, params, jax.random.key(0))
    rich = accounts(spec, 1, 0, cash=10_000_000)
    _, extra = act(family, spec, params, rich, view(**TREND_UP), extra)
    poor = accounts(spec, 1, 0, cash=8_000_000)  # wealth fell 20% from its peak
    intent, extra = act(family, spec, params, poor, view(**TREND_UP), extra)
    assert np.all(np.asarray(extra.killed))
    for _ in range(3):
        intent, extra = act(family, spec, params, poor, view(**TREND_UP), extra)
    assert np.all(_sides(intent) == 0) and np.all(np.asarray(extra.phase) == IDLE)


def test_analyzing_resets_when_the_signal_flips():
    family, spec, params = family_setup_kw("trend", confirm_ticks=3, p_active=1.0)
    down = dict(ind=dict(sma_fast=[990.0, 510.0], sma_slow=[1000.0, 500.0]))
    _, machine, _ = run_ticks(family, spec, params, [view(**TREND_UP), view(**TREND_UP)])
    assert np.all(np.asarray(machine.phase) == ANALYZING)
    _, machine, _ = run_ticks(family, spec, params, [view(**TREND_UP)] * 2 + [view(**down)])
    assert np.all(np.asarray(machine.count) == 0)


@pytest.mark.parametrize(
    ("sizing", "vol", "expected"),
    [("fixed", 1e-6, 10), ("volatility", (0.0005 / 2) ** 2, 20), ("kelly", 1e-6, 10)],
)
def test_position_sizing_rules(sizing, vol, expected):
    from qtgjax.agents.strategy import position_size

    family, spec, params = family_setup_kw("trend", sizing=sizing, size=10, target_vol=0.0005)
    lots = position_size(params, view(volatility=jnp.full(2, vol)), jnp.full(8, 1e7))
    assert np.all(np.asarray(lots) == expected)


def test_kelly_size_follows_the_kelly_formula():
    from qtgjax.agents.strategy import position_size

    family, spec, params = family_setup_kw(
        "trend",
        sizing="kelly",
        size=60_000,
        win_rate=0.6,
        kelly_fraction=0.5,
        stop_loss=0.01,
        take_profit=0.02,
    )
    lots = np.asarray(position_size(params, view(), jnp.full(8, 1e6)))
    kelly = 0.6 - 0.4 / 2.0  # win prob - loss prob / odds
    assert np.allclose(lots[:, 0], np.floor(0.5 * kelly * 1e6 / (0.01 * 1000)), atol=1)
    assert np.allclose(lots[:, 1], np.floor(0.5 * kelly * 1e6 / (0.01 * 500)), atol=1)
