"""Execution and reactive families in a controlled market: TWAP, VWAP, Avellaneda–Stoikov
market making and Tier 2 reactive agents.

One market (background pool, noise traders, fee account and the four families) is
compiled once; six scenarios switch families on and off through their sweepable params.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtgjax import load_config
from qtgjax.agents.registry import get_family
from qtgjax.api import SimResult
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.io.summary import conservation_errors
from qtgjax.market.types import Orders
from qtgjax.sim.rollout import Rollout, init_accounts, init_state
from qtgjax.sim.tick import observe, step

TICKS = 200
SCENARIOS = ["quiet", "exec", "mm_low_gamma", "mm_high_gamma", "news", "move"]
OVERRIDES = [
    f"scenarios={len(SCENARIOS)}",
    f"ticks={TICKS}",
    "market.symbols=2",
    "market.initial_price=[1000,500]",
    "market.sectors=[0,1]",
    "market.levels=32",
    "market.recentre=8",
    "~agents@families.fundamental",
    "~agents@families.momentum",
    "~agents@families.market_maker",
    "families.noise.n_agents=40",
    "+agents@families.twap=twap",
    "+agents@families.vwap=vwap",
    "+agents@families.mm=avellaneda_stoikov",
    "+agents@families.reactive=reactive",
    "families.twap.n_agents=4",
    "families.twap.params.horizon=100",
    "families.twap.params.start_spread=40",
    "families.vwap.n_agents=4",
    "families.vwap.params.horizon=150",
    "families.vwap.params.start_spread=10",
    "families.mm.n_agents=2",
    "families.mm.params.quote_size=2",
    "families.mm.params.inventory_cap=30",
    "families.reactive.n_agents=30",
    "families.reactive.params.aggression=8",
    "fundamentals.dividend_period=20",
    "fundamentals.sector_news_rate=0.0",
]
# Per-scenario values of sweepable params: {family: {param: [one value per scenario]}}.
STRATEGY_SWEEP = {
    "noise": {"p_active": [0.0, 1.0, 0.3, 0.3, 0.0, 0.0]},
    "twap": {"target": [0, 40, 0, 0, 0, 100], "side": [0, 0, 0, 0, 0, 1]},
    "vwap": {"target": [0, 150, 0, 0, 0, 0]},
    "mm": {"inventory_cap": [0, 0, 30, 30, 0, 0], "gamma": [0.01, 0.01, 0.01, 0.05, 0.01, 0.01]},
    "reactive": {  # band 1.0 = triggers at 0 and 2x the price: never crossed
        "band_min": [0.002, 1.0, 1.0, 1.0, 0.002, 0.002],
        "band_max": [0.004, 1.0, 1.0, 1.0, 0.004, 0.004],
        "sensitivity": [0.002, 10.0, 10.0, 10.0, 0.002, 0.002],
        "sensitivity_dispersion": [0.0] * 6,
    },
}
FUNDAMENTAL_SWEEP = {
    "news_rate": [0.0, 0.0, 0.0, 0.0, 0.05, 0.0],
    "dividend_vol": [0.0, 0.0005, 0.0005, 0.0005, 0.0, 0.0],
    # the reactive agents' scenarios have no payday: an ex-dividend drop would wake them
    "dividend_period": [100_000, 20, 20, 20, 100_000, 100_000],
}
MINE = ("twap", "vwap", "mm", "reactive")


def _sweep(params, names):
    """Scenario params [B, ...] with the per-scenario values above."""
    params = scenario_params(params, len(SCENARIOS))
    strategies = list(params.strategies)
    for family, values in STRATEGY_SWEEP.items():
        i = names.index(family)
        old = strategies[i]
        strategies[i] = old.replace(
            **{k: jnp.asarray(v, getattr(old, k).dtype) for k, v in values.items()}
        )
    fund = params.fundamentals
    fund = fund.replace(
        **{k: jnp.asarray(v, getattr(fund, k).dtype) for k, v in FUNDAMENTAL_SWEEP.items()}
    )
    return params.replace(strategies=tuple(strategies), fundamentals=fund)


def _run(static, params, key, n_ticks, probe_idx):
    """One scenario like ``run_scenario``, also returning per-tick accounts and extras of
    the families ``probe_idx``, the news that the next tick's agents see, and the market
    view of tick 0."""
    k_init, k_run = jax.random.split(key)
    state0 = init_state(static, params, k_init)

    def tick(state, k):
        state, record = step(static, params, state, k)
        probe = tuple((state.accounts[i], state.extras[i]) for i in probe_idx)
        return state, (record, probe, state.fundamentals.news)

    final, (records, probes, news) = jax.lax.scan(tick, state0, jax.random.split(k_run, n_ticks))
    return state0, final, records, probes, news, observe(state0, params)


@pytest.fixture(scope="module")
def market():
    """The six scenarios, run once: result, per-family probes [B, T, ...], news [B, T, S]
    and the tick-0 view of scenario 0."""
    cfg = load_config(OVERRIDES)
    built = build(cfg)
    names = [f.name for f in built.static.families]
    probe_idx = tuple(names.index(n) for n in MINE)
    params = _sweep(built.params, names)
    run = jax.jit(jax.vmap(_run, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 3, 4))
    initial, final, records, probes, news, view0 = jax.block_until_ready(
        run(built.static, params, scenario_keys(built.run.seed, len(SCENARIOS)), TICKS, probe_idx)
    )
    out = Rollout(initial, final, records)
    result = SimResult(cfg, built, out)
    return {
        "result": result,
        "names": names,
        "probes": dict(zip(MINE, probes, strict=True)),
        "news": np.asarray(news),
        "view0": jax.tree.map(lambda x: x[0], view0),
    }


def _scenario(name: str) -> int:
    return SCENARIOS.index(name)


def _own_position(probe, extra_order):
    """int64[T, N] lots each executor holds in its own symbol, per tick (one scenario)."""
    position = np.asarray(probe.position, np.int64)  # (T, N, S)
    symbol = np.asarray(extra_order.symbol)[0]  # (N,)
    return position[:, np.arange(position.shape[1]), symbol]


# --------------------------------------------------------------------------- conservation


def test_cash_and_shares_conserved_with_the_new_families(market):
    res = market["result"]
    tables = res.tables()
    assert conservation_errors(tables) == (0, 0)
    agents = tables["agents"]
    assert agents.filter(agents["external_cash"] != 0).height > 0, "dividends must flow"
    traded = np.asarray(res.out.records.traded).sum(1)  # (B, F)
    for family in MINE:
        assert traded[:, market["names"].index(family)].sum() > 0, f"{family} never traded"


# --------------------------------------------------------------------------- TWAP


def test_twap_follows_the_linear_schedule_and_completes_on_time(market):
    b = _scenario("exec")
    accounts, extra = market["probes"]["twap"]
    accounts = jax.tree.map(lambda x: x[b], accounts)
    extra = jax.tree.map(lambda x: x[b], extra)
    held = _own_position(accounts, extra)  # (T, N) lots after each tick's auction
    side = np.asarray(extra.side)[0]
    start = np.asarray(extra.start)[0]
    start_position = np.asarray(extra.start_position)[-1]
    executed = side * (held - start_position)
    target, horizon = 40, 100
    t = np.arange(TICKS)[:, None]
    goal = np.round(target * np.clip((t - start + 1) / horizon, 0, 1))
    gap = np.abs(executed - goal)
    assert gap.max() <= 2, f"largest lag behind the schedule: {gap.max()} lots"
    assert gap.mean() < 0.2
    end = start + horizon - 1  # the last tick of each agent's horizon
    assert np.all(executed[end, np.arange(len(start))] == target)
    assert np.all(executed[-1] == target), "nothing more after the horizon"
    before = t < start[None, :]
    assert np.all(executed[before] == 0), "nothing before the start"


# --------------------------------------------------------------------------- VWAP


def test_vwap_completes_and_trades_more_when_volume_is_high(market):
    b = _scenario("exec")
    accounts, state = market["probes"]["vwap"]
    accounts = jax.tree.map(lambda x: x[b], accounts)
    order = jax.tree.map(lambda x: x[b], state.order)
    held = _own_position(accounts, order)  # (T, N)
    side, start = np.asarray(order.side)[0], np.asarray(order.start)[0]
    executed = side * (held - np.asarray(order.start_position)[-1])
    horizon, target = 150, 150
    assert np.all(executed[start + horizon - 1, np.arange(len(start))] == target)
    assert np.all(executed[-1] == target)

    volume = np.asarray(market["result"].out.records.volume[b], np.int64)  # (T, S)
    others = volume - _fills(market, "twap", b).sum(1) - _fills(market, "vwap", b).sum(1)
    symbol = np.asarray(order.symbol)[0]
    seen = others[:-1, symbol]  # (T-1, N) lots the others traded in the previous auction
    fills = np.abs(np.diff(held, axis=0))  # (T-1, N) lots filled at ticks 1..T-1
    tick = np.arange(1, TICKS)[:, None]
    inside = (tick > start + 5) & (tick < start + horizon - 5)  # no warm-up, no catch-up
    x, y = seen[inside].astype(float), fills[inside].astype(float)
    corr = np.corrcoef(x, y)[0, 1]
    high = x > np.median(x)
    assert corr > 0.3, f"corr(fills, others' volume last tick) = {corr:.2f}"
    assert y[high].mean() > 1.5 * y[~high].mean(), (y[high].mean(), y[~high].mean())


def _fills(market, family, b):
    """int64[T, N, S] lots each agent of ``family`` traded per tick in scenario ``b``."""
    position = np.asarray(market["probes"][family][0].position[b], np.int64)
    first = np.asarray(
        market["result"].out.initial.accounts[market["names"].index(family)].position
    )
    return np.abs(np.diff(position, axis=0, prepend=first[b][None]))


# --------------------------------------------------------------------------- AS market maker


def _mm(market, name):
    b = _scenario(name)
    accounts, _ = market["probes"]["mm"]
    return jax.tree.map(lambda x: np.asarray(x[b]), accounts)


def test_as_inventory_stays_capped_and_mean_reverts(market):
    for name in ("mm_low_gamma", "mm_high_gamma"):
        inventory = _mm(market, name).position.astype(float)  # (T, N, S)
        assert np.abs(inventory).max() <= 30
        assert np.abs(inventory).max() > 0, "the maker must trade"
        series = inventory.reshape(TICKS, -1).T  # (N * S, T)
        acf1, acf20 = _acf(series, 1), _acf(series, 20)
        assert acf20 < 0.5 * acf1, f"{name}: acf(1) {acf1:.2f}, acf(20) {acf20:.2f}"
    low = np.abs(_mm(market, "mm_low_gamma").position).mean()
    high = np.abs(_mm(market, "mm_high_gamma").position).mean()
    assert high < low, "more risk aversion keeps inventory closer to flat"


def test_as_spread_wider_with_higher_gamma_in_the_market(market):
    def mean_spread(name):
        price = _mm(market, name).orders.price  # (T, N, S, 2)
        return (price[..., 1] - price[..., 0]).mean()

    assert mean_spread("mm_high_gamma") > mean_spread("mm_low_gamma") + 0.5


def _acf(series, lag):
    """Mean over series [M, T] of the lag autocorrelation (series with no variance skipped)."""
    x = series - series.mean(-1, keepdims=True)
    var = (x * x).sum(-1)
    ok = var > 0
    return float(((x[:, lag:] * x[:, :-lag]).sum(-1)[ok] / var[ok]).mean())


@pytest.fixture(scope="module")
def probe_view(market):
    """A real MarketView of the test market at tick 0, and its built config."""
    return market["view0"], market["result"].built


def _family(built, name):
    i = [f.name for f in built.static.families].index(name)
    spec = built.static.families[i]
    return get_family(spec.kind), spec, built.params.strategies[i], built.params.accounts[i]


def _act(built, name, view, position=0, params=None, extra=None, orders=None, seed=0):
    family, spec, default, limits = _family(built, name)
    params = default if params is None else params
    accounts = init_accounts(spec, limits, family.n_slots(spec))
    accounts = accounts.replace(position=jnp.full_like(accounts.position, position))
    if orders is not None:
        accounts = accounts.replace(orders=orders)
    if extra is None:
        extra = family.init_extra(spec, params, jax.random.key(seed))
    return _jit_act(family, spec, params, extra, accounts, view, jax.random.key(seed + 1))


@partial(jax.jit, static_argnums=(0, 1))
def _jit_act(family, spec, params, extra, accounts, view, key):
    return family.act(spec, params, extra, accounts, view, key)


def test_as_quotes_skew_against_inventory_and_widen_with_gamma_and_volatility(probe_view):
    view, built = probe_view
    view = view.replace(best_bid=view.last_price - 1, best_ask=view.last_price + 1)
    mid = np.asarray(view.mid)
    calm = view.replace(volatility=jnp.full_like(view.volatility, 1e-6))  # sigma 1 / 0.5 ticks
    wild = view.replace(volatility=jnp.full_like(view.volatility, 1e-4))  # sigma 10 / 5 ticks
    params = _family(built, "mm")[2]

    def quotes(view, position=0, **changes):
        intent, _ = _act(built, "mm", view, position, params.replace(**changes))
        price = np.asarray(intent.price, float)
        return price[..., 0], price[..., 1], np.asarray(intent.qty)

    bid, ask, qty = quotes(calm)
    assert np.all(bid < mid) and np.all(ask > mid) and np.all(ask - bid >= 1)
    assert np.all(qty == 2)
    long_bid, long_ask, long_qty = quotes(calm, 10)
    short_bid, short_ask, _ = quotes(calm, -10)
    assert np.all(long_bid + long_ask < bid + ask) and np.all(short_bid + short_ask > bid + ask)
    assert np.all((long_bid + long_ask) / 2 - mid < -1.0), "reservation skewed below the mid"
    wide_bid, wide_ask, _ = quotes(calm, gamma=jnp.float32(0.5))
    assert np.all(wide_ask - wide_bid > ask - bid)
    vol_bid, vol_ask, _ = quotes(wild)
    assert np.all(vol_ask - vol_bid > ask - bid + 2)
    _, _, capped = quotes(calm, 30)
    assert np.all(capped[..., 0] == 0) and np.all(capped[..., 1] == 2), "no bid at the cap"


def test_as_keeps_unchanged_quotes_resting(probe_view):
    view, built = probe_view
    first, _ = _act(built, "mm", view)
    resting = Orders(first.price, first.qty, first.is_buy, jnp.ones_like(first.qty))
    again, _ = _act(built, "mm", view, orders=resting)
    assert not np.asarray(again.replace).any(), "same quotes keep their time priority"
    moved = view.replace(last_price=view.last_price + 5)
    assert np.asarray(_act(built, "mm", moved, orders=resting)[0].replace).all()


# --------------------------------------------------------------------------- reactive


def test_reactive_agents_sleep_in_a_quiet_market(market):
    b = _scenario("quiet")
    accounts, state = market["probes"]["reactive"]
    assert int(np.asarray(state.wakes)[b, -1].sum()) == 0
    assert int(np.asarray(accounts.orders.qty)[b].sum()) == 0, "no orders at any tick"
    rec = market["result"].out.records
    assert int(np.asarray(rec.volume)[b].sum()) == 0, "the quiet market never trades"


def test_reactive_agents_wake_on_sector_news_in_its_direction(market):
    b = _scenario("news")
    accounts, state = market["probes"]["reactive"]
    wakes = np.diff(np.asarray(state.wakes)[b].sum(-1), prepend=0)  # (T,) per tick
    news = market["news"][b]  # (T, S): news seen by the agents of the next tick
    assert np.abs(news).max() > 0, "the scenario must have news"
    first_news = int(np.argmax(np.abs(news).max(-1) > 0.002))
    first_wake = int(np.argmax(wakes > 0))
    assert wakes[: first_news + 1].sum() == 0, "asleep until the news"
    assert first_wake == first_news + 1
    watch = np.asarray(state.watch_symbol)[b, 0]  # (N,)
    sector = np.asarray(market["result"].built.params.fundamentals.sector)
    hit = np.abs(news[first_news]) > 0.002  # (S,)
    expected = (sector[watch][:, None] == sector[None, :]) & hit[None, :]
    woke = np.asarray(state.wakes)[b, first_wake] - np.asarray(state.wakes)[b, first_wake - 1]
    assert np.array_equal(woke, expected.sum(-1)), "exactly the agents watching that sector"
    orders = jax.tree.map(lambda x: np.asarray(x)[b, first_wake, ..., 0], accounts.orders)
    new = orders.age == 0  # (N, S) slots placed at the wake-up
    assert np.array_equal(new, expected)
    direction = np.broadcast_to(news[first_news] > 0, new.shape)
    assert np.array_equal(orders.is_buy[new], direction[new]), "orders follow the news"
    position = np.asarray(accounts.position, np.int64)[b]  # (T, N, S)
    moved = position[first_wake].sum(0) - position[first_wake - 1].sum(0)  # (S,)
    assert np.all(moved[hit] * np.sign(news[first_news][hit]) >= 0)
    assert np.abs(moved[hit]).sum() > 0, "the news traders trade"


def test_reactive_agents_wake_on_a_breakout_and_chase_it(market):
    b = _scenario("move")
    accounts, state = market["probes"]["reactive"]
    up = np.asarray(state.up)[b]  # (T, N, S) triggers after each tick
    close = np.asarray(market["result"].out.records.close)[b]  # (T, S)
    wakes = np.diff(np.asarray(state.wakes)[b].sum(-1), prepend=0)
    crossed = (close[:-1, None, :] >= up[:-1]).any((1, 2))  # (T-1,) a trigger is below the price
    first_cross = int(np.argmax(crossed))
    assert crossed.any() and wakes.sum() > 0
    assert wakes[: first_cross + 1].sum() == 0, "asleep until the price crosses a trigger"
    assert wakes[first_cross + 1] > 0
    position = np.asarray(accounts.position, np.int64)[b].sum((1, 2))
    assert position[-1] > position[0], "breakout chasers buy a rising market"


def test_reactive_act_sleeps_keeps_orders_and_follows_triggers(probe_view):
    view, built = probe_view
    _, extra = _act(built, "reactive", view)  # arms the triggers around the price
    shape = extra.up.shape + (1,)
    resting = Orders(
        jnp.full(shape, 990), jnp.full(shape, 3), jnp.ones(shape, bool), jnp.ones(shape, int)
    )
    intent, extra = _act(built, "reactive", view, extra=extra, orders=resting)
    assert not np.asarray(intent.replace).any(), "asleep: resting orders stay"
    assert int(np.asarray(intent.qty).sum()) == 0
    up, down = np.asarray(extra.up), np.asarray(extra.down)
    price = np.asarray(view.last_price)
    assert np.all(up > price) and np.all(down < price)
    assert np.all(up <= price * 1.0151) and np.all(down >= price * 0.9849)
    rise = view.replace(last_price=jnp.asarray(up.max(0) + 1, jnp.int32))
    intent, after = _act(built, "reactive", rise, extra=extra)
    assert np.asarray(intent.replace).all() and np.asarray(intent.is_buy).all()
    assert np.all(np.asarray(intent.qty) >= 1) and np.all(np.asarray(after.up) > up)
    fall = view.replace(last_price=jnp.asarray(down.min(0) - 1, jnp.int32))
    intent, _ = _act(built, "reactive", fall, extra=extra)
    assert np.asarray(intent.replace).all() and not np.asarray(intent.is_buy).any()


def test_reactive_faders_trade_against_the_breakout_but_with_the_news(probe_view):
    view, built = probe_view
    default = _family(built, "reactive")[2]
    fade_all = default.replace(fade_share=jnp.float32(1.0))
    _, extra = _act(built, "reactive", view, params=fade_all)
    assert np.asarray(extra.fades).all()
    rise = view.replace(last_price=jnp.asarray(np.asarray(extra.up).max(0) + 1, jnp.int32))
    intent, _ = _act(built, "reactive", rise, params=fade_all, extra=extra)
    assert np.asarray(intent.replace).all() and not np.asarray(intent.is_buy).any()
    fall = view.replace(last_price=jnp.asarray(np.asarray(extra.down).min(0) - 1, jnp.int32))
    intent, _ = _act(built, "reactive", fall, params=fade_all, extra=extra)
    assert np.asarray(intent.is_buy).all(), "faders buy the fall"
    news = view.replace(news=jnp.full(view.news.shape, 0.05, jnp.float32))
    intent, _ = _act(built, "reactive", news, params=fade_all, extra=extra)
    woke = np.asarray(intent.qty[..., 0]) > 0
    assert woke.any() and np.asarray(intent.is_buy[..., 0])[woke].all(), "news is followed"
    # a share of 0.3 draws about 30% faders (4,000 agents: sd 0.007); they sell the rise,
    # the others buy it
    from family_helpers import accounts, act, family_setup

    family, spec, params = family_setup("reactive", n_agents=4000, fade_share=0.3)
    fades = np.asarray(family.init_extra(spec, params, jax.random.key(0)).fades)
    assert abs(fades.mean() - 0.3) < 0.03, fades.mean()
    acct = accounts(spec, 1)
    _, extra = act(
        family, spec, params, acct, view, family.init_extra(spec, params, jax.random.key(0))
    )
    rise = view.replace(last_price=jnp.asarray(np.asarray(extra.up).max(0) + 1, jnp.int32))
    intent, _ = act(family, spec, params, acct, rise, extra)
    assert np.array_equal(np.asarray(intent.is_buy[..., 0]), ~fades[:, None].repeat(2, 1))


def test_reactive_act_wakes_only_the_news_sector_in_its_direction(probe_view):
    view, built = probe_view  # sectors [0, 1]: symbol 1 is alone in sector 1
    _, extra = _act(built, "reactive", view)
    bad_news = view.replace(news=jnp.array([0.0, -0.05], jnp.float32))
    intent, _ = _act(built, "reactive", bad_news, extra=extra)
    watchers = np.asarray(extra.watch_symbol) == 1
    assert 0 < watchers.sum() < len(watchers)
    live = np.asarray(intent.replace[..., 0]) & (np.asarray(intent.qty[..., 0]) > 0)
    assert np.array_equal(live[:, 1], watchers) and not live[:, 0].any()
    assert not np.asarray(intent.is_buy)[watchers, 1].any(), "bad news: sell"
    small = view.replace(news=jnp.array([0.0, 0.001], jnp.float32))  # below the sensitivity
    assert not np.asarray(_act(built, "reactive", small, extra=extra)[0].replace).any()
