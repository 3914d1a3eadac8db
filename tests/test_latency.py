"""Latency (issue #12): delivery tick, jitter bounds, the regime term, drops and late
messages counted (never silently lost), zero delay = no latency, config errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qtgjax import ConfigError, load_config, simulate
from qtgjax.config.build import build
from qtgjax.market.types import OrderIntent
from qtgjax.sim.latency import InFlight, LatencyParams, send_and_deliver


def _profile(order_delay=0, jitter=0, drop_prob=0.0, regime_ticks=0, regime_vol_bps=10.0):
    def one(x, dtype):
        return jnp.asarray([x], dtype)

    return LatencyParams(
        order_delay=one(order_delay, jnp.int32),
        jitter=one(jitter, jnp.int32),
        data_delay=one(0, jnp.int32),
        drop_prob=one(drop_prob, jnp.float32),
        regime_ticks=one(regime_ticks, jnp.int32),
        regime_vol_bps=one(regime_vol_bps, jnp.float32),
    )


def _intent(n, send, price=100):
    shape = (n, 1, 1)
    return OrderIntent(
        jnp.full(shape, price, jnp.int32),
        jnp.full(shape, 5, jnp.int32),
        jnp.ones(shape, bool),
        jnp.full(shape, send, bool),
    )


def _run(profile, n, ticks, max_delay, send_ticks=(0,), vol=0.0, price_of=lambda t: 100):
    """Messages sent on ``send_ticks``; per tick (arrived mask, counts)."""
    flight = InFlight.empty(max_delay, (n, 1, 1))
    step = jax.jit(send_and_deliver, static_argnums=(5, 6))
    out = []
    for t in range(ticks):
        intent = _intent(n, t in send_ticks, price_of(t))
        got, flight, counts, _ = step(
            flight,
            intent,
            jnp.int32(t),
            profile,
            jnp.full(1, vol, jnp.float32),
            1,
            max_delay,
            jax.random.key(t),
        )
        out.append(
            (
                np.asarray(got.replace).ravel(),
                np.asarray(got.price).ravel(),
                [int(c[0]) for c in counts],
            )
        )
    return out


def test_delivery_tick_is_decision_plus_delay():
    out = _run(_profile(order_delay=3), n=4, ticks=6, max_delay=5)
    arrived = [bool(o[0].any()) for o in out]
    assert arrived == [False, False, False, True, False, False]
    delivered, late, dropped, delay_sum = out[3][2]
    assert (delivered, late, dropped, delay_sum) == (4, 0, 0, 12)


def test_zero_delay_arrives_the_same_tick():
    out = _run(_profile(), n=3, ticks=2, max_delay=4)
    assert out[0][0].all() and out[0][2][0] == 3


def test_jitter_stays_in_bounds_and_covers_them():
    n = 3000
    out = _run(_profile(order_delay=4, jitter=2), n=n, ticks=9, max_delay=8)
    per_tick = np.array([o[2][0] for o in out])
    assert per_tick.sum() == n
    assert per_tick[:2].sum() == 0 and per_tick[7:].sum() == 0  # only delays 2..6
    assert (per_tick[2:7] > n / 5 * 0.8).all()  # each of the 5 values, roughly uniform
    delays = sum(o[2][3] for o in out)
    assert abs(delays / n - 4.0) < 0.1


def test_regime_term_adds_delay_with_volatility():
    calm = _run(_profile(order_delay=1, regime_ticks=3, regime_vol_bps=10.0), 2, 6, 6)
    wild = _run(
        _profile(order_delay=1, regime_ticks=3, regime_vol_bps=10.0), 2, 6, 6, vol=(20e-4) ** 2
    )
    assert [o[0].any() for o in calm].index(True) == 1
    assert [o[0].any() for o in wild].index(True) == 4


def test_drops_are_counted_never_lost():
    n = 4000
    out = _run(_profile(order_delay=1, drop_prob=0.25), n=n, ticks=3, max_delay=2)
    delivered = sum(o[2][0] for o in out)
    dropped = sum(o[2][2] for o in out)
    assert delivered + dropped == n
    assert abs(dropped / n - 0.25) < 0.03


def test_older_message_arriving_after_a_newer_one_is_late():
    """Delay 3 + jitter 2: decisions of ticks 0..3 may overtake each other; the slot ends on
    the newest decision, and every message is delivered, late or dropped."""
    n = 500
    out = _run(
        _profile(order_delay=3, jitter=3),
        n=n,
        ticks=12,
        max_delay=6,
        send_ticks=(0, 1, 2, 3),
        price_of=lambda t: 100 + t,
    )
    delivered = sum(o[2][0] for o in out)
    late = sum(o[2][1] for o in out)
    assert delivered + late == 4 * n and late > 0
    last_price = np.zeros(n, int)
    for arrived, price, _ in out:
        last_price = np.where(arrived, price, last_price)
    assert (last_price == 103).all()  # the newest decision wins on every slot


SMALL = [
    "scenarios=1",
    "ticks=25",
    "market.symbols=1",
    "market.initial_price=[10000]",
    "market.sectors=[0]",
    "families.noise.n_agents=100",
    "families.fundamental.n_agents=20",
    "families.momentum.n_agents=20",
    "families.market_maker.n_agents=4",
]


def test_zero_delay_profiles_give_the_market_without_latency():
    plain = simulate(overrides=SMALL).tables()
    zero = simulate(overrides=[*SMALL, "+latency.max_delay=3"]).tables()
    assert "latency" in zero and "latency" not in plain
    for name in ("ticks", "agents", "positions"):
        assert plain[name].equals(zero[name]), name
    assert zero["latency"]["delay_sum"].sum() == 0
    assert zero["latency"]["late"].sum() == zero["latency"]["dropped"].sum() == 0


def test_families_without_a_profile_skip_the_rings_and_count_the_same():
    """A family without a ``latency`` key acts on the fresh view and reaches the venues at
    once: the same tables, latency counts included, as the zero profile through the ring,
    and no ring state for it."""
    delayed = [*SMALL, "+latency.max_delay=3", "+families.fundamental.latency=colocated"]
    ringed = [*delayed, "+families.noise.latency={order_delay: 0}"]
    a, b = simulate(overrides=delayed), simulate(overrides=ringed)
    static = build(load_config(delayed)).static
    names = [f.name for f in static.families]
    assert [static.in_flight(i) for i in range(len(names))] == [n == "fundamental" for n in names]
    ta, tb = a.tables(), b.tables()
    for name in ("ticks", "agents", "positions", "latency"):
        assert ta[name].equals(tb[name]), name
    noise = ta["latency"].filter(ta["latency"]["family"] == "noise")
    assert noise["delivered"].sum() > 0 and noise["delay_sum"].sum() == 0


BAD = [
    (
        ["+latency.max_delay=4", "+families.noise.latency.order_delay=-1"],
        "families.noise.latency.order_delay",
    ),
    (
        ["+latency.max_delay=4", "+families.noise.latency=retail"],
        "families.noise.latency.order_delay",
    ),
    (["+families.noise.latency=same_region"], "families.noise.latency.order_delay"),
    (["+latency.max_delay=4", "+families.noise.latency=nosuch"], "families.noise.latency"),
    (
        ["+latency.max_delay=4", "+families.noise.latency.data_delay=5"],
        "families.noise.latency.data_delay",
    ),
    (["+latency.max_delay=100"], "latency.max_delay"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_latency_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        build(load_config([*SMALL, *overrides]))
    assert str(err.value).startswith(key), str(err.value)


def test_per_venue_latency_needs_known_venues():
    with pytest.raises(ConfigError, match=r"^families.noise.latency.nowhere"):
        build(load_config(["+families.noise.latency.nowhere=retail"], config_name="venues"))


def test_latency_page_totals_and_figures():
    """The report's latency totals against a hand count, and its two figures render."""
    import polars as pl

    from qtgjax.analysis.latency import delay_heatmap, delay_over_time, latency_totals

    rows = [  # scenario, tick, family, venue, delivered, late, dropped, delay_sum
        (0, 0, "a", 0, 2, 0, 1, 6),
        (0, 1, "a", 0, 1, 1, 0, 1),
        (1, 0, "a", 1, 0, 0, 2, 0),
        (0, 0, "b", 0, 4, 0, 0, 0),
    ]
    cols = ["scenario", "tick", "family", "venue", "delivered", "late", "dropped", "delay_sum"]
    lat = pl.DataFrame(rows, schema=cols, orient="row").lazy()
    totals = latency_totals(lat)
    got = {(r["family"], r["venue"]): r for r in totals.iter_rows(named=True)}
    assert (got["a", 0]["delivered"], got["a", 0]["late"], got["a", 0]["dropped"]) == (3, 1, 1)
    assert got["a", 0]["mean_delay"] == pytest.approx(7 / 3)
    assert got["a", 1]["mean_delay"] is None and got["a", 1]["dropped"] == 2
    assert got["b", 0]["mean_delay"] == 0.0
    for fig in (delay_heatmap(totals), delay_over_time(lat)):
        assert fig.axes
