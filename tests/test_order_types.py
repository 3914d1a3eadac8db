"""Order types (#13): the engine's typed auction against the brute-force reference on
random books, its invariants, the order_types market end to end, and bad input.

Every engine call goes through one function jitted per grid size, on books padded to a
fixed number of zero-lot orders, so hypothesis examples do not re-trace.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference_auction as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qtgjax.market import order_types as ot
from qtgjax.market.types import Orders
from qtgjax.sim.tick import clear_typed_tick
from qtgjax.sim.types import SimStatic

MAX_N = 24
ANCHOR = 1000
GRIDS = (4, 8)
N_AGES = 3
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_codes_match_reference():
    assert ot.NAMES[ot.ICEBERG] == "iceberg" and len(ot.NAMES) == 10
    assert (ot.LIMIT, ot.MARKET, ot.IOC, ot.FOK, ot.POST_ONLY) == (0, 1, 2, 3, 4)
    assert (ot.STOP, ot.STOP_LIMIT, ot.PEG_MID, ot.PEG_BEST, ot.ICEBERG) == (5, 6, 7, 8, 9)
    assert (ref.STOP, ref.ICEBERG, ref.FOK_PASSES) == (ot.STOP, ot.ICEBERG, 2)


@st.composite
def typed_books(draw):
    k = draw(st.sampled_from(GRIDS))
    n = draw(st.integers(1, MAX_N))
    types = st.sampled_from(range(10)) if draw(st.booleans()) else st.sampled_from([0, 3, 3, 4])
    qv = st.integers(0, 12) if draw(st.booleans()) else st.integers(1, 3)
    rows = []
    for _ in range(n):
        q = draw(qv)
        display = draw(st.integers(1, 5))
        rows.append(
            dict(
                level=draw(st.integers(-2, k + 1)),
                qty=q,
                is_buy=draw(st.booleans()),
                age=draw(st.integers(0, 4)),
                order_type=draw(types),
                stop=draw(st.integers(-1, k)),
                peg_offset=draw(st.integers(-2, 2)),
                display=display,
                shown=min(q, draw(st.integers(1, display))),
            )
        )
    book = {key: [r[key] for r in rows] for key in rows[0]}
    last = draw(st.integers(0, k - 1))
    bid = draw(st.one_of(st.none(), st.integers(0, k - 2)))
    ask = draw(st.one_of(st.none(), st.integers((bid if bid is not None else -1) + 1, k - 1)))
    book.update(last=last, bid=bid, ask=ask, n_levels=k, n_ages=N_AGES)
    return book


@functools.cache
def engine(n_levels: int):
    static = SimStatic(
        n_symbols=1, n_levels=n_levels, n_ages=N_AGES, families=(), order_types=tuple(range(1, 10))
    )

    def run(cols, last, bid, ask):
        orders = Orders(*(c[:, None, None] for c in cols))
        venue = SimpleNamespace(
            last_price=last[None, None], best_bid=bid[None, None], best_ask=ask[None, None]
        )  # one venue, one symbol: [V, S]
        state = SimpleNamespace(tick=0, market=SimpleNamespace(venues=venue))
        params = SimpleNamespace(venues=None)
        cleared, active, after = clear_typed_tick(
            static, params, state, (orders,), jnp.int32([ANCHOR])
        )
        return (
            cleared.fills[0][:, 0, 0],
            after.kept[0][:, 0, 0],
            after.shown[0][:, 0, 0],
            active[0].order_type[:, 0, 0],
            cleared.price[0],
            cleared.volume[0],
            cleared.residual.buy[0],
            cleared.residual.sell[0],
            after.refilled[0][:, 0, 0],
        )

    return jax.jit(run)


def run_engine(book):
    k, n = book["n_levels"], len(book["qty"])
    base = ANCHOR - k // 2
    pad = MAX_N - n

    def col(key, fill=0, shift=0, dtype=np.int32):
        return np.array([v + shift for v in book[key]] + [fill] * pad, dtype)

    cols = (
        col("level", shift=base),
        col("qty"),
        col("is_buy", False, dtype=bool),
        col("age"),
        col("order_type"),
        col("stop", shift=base),
        col("peg_offset"),
        col("display"),
        col("shown"),
    )

    def price(level):
        return np.int32(0 if level is None else base + level)

    out = engine(k)(cols, price(book["last"]), price(book["bid"]), price(book["ask"]))
    fills, kept, shown, types, clear_price, volume, res_buy, res_sell, refilled = (
        np.asarray(x) for x in out
    )
    assert not fills[n:].any() and not kept[n:].any()
    level = int(clear_price) - base if int(volume) > 0 else -1
    return dict(
        level=level,
        volume=int(volume),
        filled=fills[:n].tolist(),
        rest=(kept - fills)[:n].tolist(),
        shown=shown[:n].tolist(),
        types=types[:n].tolist(),
        shown_buy=res_buy.tolist(),
        shown_sell=res_sell.tolist(),
        refilled=refilled[:n].tolist(),
    )


@SETTINGS
@given(typed_books())
def test_typed_auction_matches_reference(book):
    got = run_engine(book)
    want = ref.clear_typed_book(book)
    keys = ("level", "volume", "filled", "rest", "shown", "types", "shown_buy", "shown_sell")
    for key in (*keys, "refilled"):
        assert got[key] == getattr(want, key), key


@SETTINGS
@given(typed_books())
def test_typed_auction_invariants(book):
    """Conservation, an uncrossed book, post-only never takes, FOK all or nothing, nothing
    of IOC / market / FOK rests, and market data shows at most what rests."""
    got = run_engine(book)
    want = ref.clear_typed_book(book)
    k = book["n_levels"]
    buy = book["is_buy"]
    filled, rest, types = got["filled"], got["rest"], got["types"]
    assert sum(f for f, b in zip(filled, buy, strict=True) if b) == got["volume"]
    assert sum(f for f, b in zip(filled, buy, strict=True) if not b) == got["volume"]
    bids, asks = set(), set()
    for i, q in enumerate(book["qty"]):
        assert 0 <= filled[i] <= q and 0 <= rest[i] <= q - filled[i]
        if types[i] == ot.POST_ONLY and want.ages[i] == 0:
            assert filled[i] == 0, "a new post-only order took liquidity"
        if types[i] == ot.FOK:
            assert filled[i] in (0, q), "an FOK order filled in part"
        if types[i] in ot.CANCEL_REST:
            assert rest[i] == 0, "an IOC / market / FOK rest stayed in the book"
        if types[i] in (ot.STOP, ot.STOP_LIMIT):
            assert filled[i] == 0 and rest[i] == q, "a waiting stop traded or vanished"
        if types[i] == ot.ICEBERG and rest[i] > 0:
            assert 1 <= got["shown"][i] <= min(book["display"][i], rest[i])
        if rest[i] > 0 and types[i] not in (ot.STOP, ot.STOP_LIMIT):
            level = min(max(want.levels[i], 0), k - 1)
            (bids if buy[i] else asks).add(level)
    if bids and asks:
        assert max(bids) < min(asks), "the book after the auction is crossed"
    true_buy, true_sell = [0] * k, [0] * k
    for i in range(len(rest)):
        if rest[i] > 0 and types[i] not in (ot.STOP, ot.STOP_LIMIT):
            level = min(max(want.levels[i], 0), k - 1)
            (true_buy if buy[i] else true_sell)[level] += rest[i]
    for shown, true in ((got["shown_buy"], true_buy), (got["shown_sell"], true_sell)):
        assert all(0 <= s <= t for s, t in zip(shown, true, strict=True))
        assert all((s > 0) == (t > 0) for s, t in zip(shown, true, strict=True))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_books())
def test_typed_auction_jit_matches_disable_jit(book):
    got = run_engine(book)
    with jax.disable_jit():
        eager = run_engine(book)
    assert got == eager


def test_hand_examples():
    """Hand-computed: FOK killed and cleared again; post-only cancelled at the clearing
    price; a triggered stop trades as a market order; an iceberg refills."""
    k = 8
    # sell 5 @3; FOK buy 8 @4 (only 5 available: killed), buy 2 @3 fills at level 3
    book = dict(
        level=[3, 4, 3],
        qty=[5, 8, 2],
        is_buy=[False, True, True],
        age=[1, 0, 0],
        order_type=[ot.LIMIT, ot.FOK, ot.LIMIT],
        stop=[0, 0, 0],
        peg_offset=[0, 0, 0],
        display=[1, 1, 1],
        shown=[0, 0, 0],
        last=3,
        bid=None,
        ask=None,
        n_levels=k,
        n_ages=N_AGES,
    )
    got = run_engine(book)
    assert got["filled"] == [2, 0, 2] and got["rest"] == [3, 0, 0] and got["level"] == 3
    # a stop buy of 3 triggered (last 3 >= 2) buys as a market order: 1 lot @3 and 2 of an
    # iceberg sell of 6 @5 showing 2 (clearing level 5), which then shows 2 again; a new
    # post-only buy @5 is at the clearing price: cancelled
    book.update(
        level=[3, 5, 0, 5],
        qty=[1, 4, 3, 6],
        is_buy=[False, True, True, False],
        age=[2, 0, 5, 1],
        order_type=[ot.LIMIT, ot.POST_ONLY, ot.STOP, ot.ICEBERG],
        stop=[0, 0, 2, 0],
        peg_offset=[0, 0, 0, 0],
        display=[1, 1, 1, 2],
        shown=[0, 0, 0, 2],
    )
    got = run_engine(book)
    assert got["types"][2] == ot.STOP_FIRED
    assert got["level"] == 5 and got["filled"] == [1, 0, 3, 2]
    assert got["rest"] == [0, 0, 0, 4] and got["shown"][3] == 2 and got["refilled"][3]
    assert got["shown_sell"][5] == 2 and sum(got["shown_buy"]) == 0


# --------------------------------------------------------------------------- the market

MARKET_ARGS = ["ticks=200", "scenarios=1"]


def fills_per_type(built, ticks: int):
    """int[10]: orders (order slots x ticks) of each placed type that filled, one scenario."""
    from qtgjax.sim.rollout import init_state
    from qtgjax.sim.tick import step_detail

    static, params = built.static, built.params

    def body(state, key):
        new, _, detail = step_detail(static, params, state, key)
        counts = jnp.zeros(10, jnp.int32)
        for o, f in zip(detail.orders, detail.fills, strict=True):
            placed = ot.placed_type(o.order_type)
            counts = counts.at[placed.reshape(-1)].add((f > 0).reshape(-1).astype(jnp.int32))
        return new, counts

    key = jax.random.key(built.run.seed)
    state = init_state(static, params, key)
    keys = jax.random.split(jax.random.fold_in(key, 7), ticks)
    _, counts = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(state, keys)
    return np.asarray(counts.sum(0))


def test_order_types_market_fills_every_type_and_conserves():
    import qtgjax
    from qtgjax.config.build import build
    from qtgjax.io.summary import conservation_errors

    cfg = qtgjax.load_config(MARKET_ARGS, config_name="order_types")
    built = build(cfg)
    assert built.static.order_types == tuple(range(10))
    counts = fills_per_type(built, 200)
    missing = [ot.NAMES[c] for c in range(10) if counts[c] == 0]
    assert not missing, f"order types never filled: {missing} (fills per type {counts})"
    tables = qtgjax.simulate(cfg).tables()
    assert conservation_errors(tables) == (0, 0)


def test_default_market_compiles_no_order_types(small_config):
    from qtgjax.config.build import build

    built = build(small_config)
    assert built.static.order_types == ()
    assert all(s.order_types == () for s in built.static.families)


# --------------------------------------------------------------------------- bad input


def _cfg(*overrides):
    import qtgjax

    return qtgjax.load_config(["ticks=5", "scenarios=1", *overrides], config_name="order_types")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+families.momentum.order_types=stop", "families.momentum.order_types: family kind"),
        ("families.twap.order_types=post_only", "families.twap.order_types: family kind"),
        ("families.noise.order_types=[limit,teleport]", "unknown order type 'teleport'"),
        ("families.noise.display=11", "families.noise.display: 11 lots is above the order"),
        ("families.noise.display=0", "families.noise.display"),
        ("families.noise.peg_offset=64", "families.noise.peg_offset: 64 is off the grid"),
        ("families.noise.peg_offset=1.5", "families.noise.peg_offset: 1.5 is off the grid"),
        ("families.twap.order_types=[ioc,fok]", "families.twap.order_types: an executor"),
    ],
)
def test_bad_order_type_config_is_refused_naming_the_key(override, message):
    from qtgjax.config.build import build
    from qtgjax.config.checks import ConfigError

    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        build(_cfg(override))


def test_display_without_iceberg_is_refused():
    from qtgjax.config.build import build
    from qtgjax.config.checks import ConfigError

    with pytest.raises(ConfigError, match="families.twap.display: only for order type iceberg"):
        build(_cfg("+families.twap.display=2"))


# --------------------------------------------------------------------------- families


def test_reactive_price_triggers_become_resting_stop_orders():
    from family_helpers import view

    from qtgjax import load_config
    from qtgjax.agents.registry import get_family
    from qtgjax.config.build import build_family
    from qtgjax.market import money
    from qtgjax.market.types import Accounts
    from qtgjax.sim.book import merge_intent

    cfg = load_config(["+agents@families.probe=reactive"])["families"]["probe"]
    spec, limits, params = build_family(
        "probe", {**cfg, "n_agents": 6, "order_types": "stop"}, 1, 128
    )
    family = get_family("reactive")
    assert spec.order_types == (ot.STOP,) and family.n_slots(spec) == 2
    acct = Accounts(
        cash=money.from_int(jnp.full((6,), 10**6, jnp.int32)),
        position=jnp.zeros((6, 1), jnp.int32),
        external=money.zeros((6,)),
        orders=Orders.empty(6, 1, 2, typed=True),
    )
    market = view(price=(1000,))
    extra = family.init_extra(spec, params, jax.random.key(0))
    intent, extra = family.act(spec, params, extra, acct, market, jax.random.key(1))
    stop = np.asarray(intent.stop_price)[:, 0]
    assert (np.asarray(intent.order_type) == ot.STOP).all() and np.asarray(intent.replace).all()
    assert np.asarray(intent.is_buy)[:, 0, 0].all() and not np.asarray(intent.is_buy)[:, 0, 1].any()
    assert (stop[:, 0] == np.ceil(np.asarray(extra.up)[:, 0])).all() and (stop[:, 0] > 1000).all()
    assert (stop[:, 1] == np.floor(np.asarray(extra.down)[:, 0])).all() and (
        stop[:, 1] < 1000
    ).all()
    assert (np.asarray(intent.qty) > 0).all()
    resting = merge_intent(acct.orders, intent, acct.position, limits.max_position)
    again, _ = family.act(
        spec, params, extra, acct.replace(orders=resting), market, jax.random.key(2)
    )
    assert not np.asarray(again.replace).any(), "armed stops rest until they fire"


def test_ex_dividend_lowers_stop_triggers_of_live_orders():
    import qtgjax
    from qtgjax.config.build import build
    from qtgjax.sim.fundamentals import dividend_ticks, ex_dividend
    from qtgjax.sim.rollout import init_state

    built = build(
        qtgjax.load_config(
            ["ticks=5", "scenarios=1", "fundamentals.dividend_period=1"], config_name="order_types"
        )
    )
    state = init_state(built.static, built.params, jax.random.key(0))
    i = [s.name for s in built.static.families].index("reactive")
    orders = state.accounts[i].orders
    live = jnp.arange(orders.qty.shape[0])[:, None, None] % 2 == 0  # every other agent
    orders = orders.replace(
        qty=jnp.where(live, 3, 0),
        stop_price=jnp.full_like(orders.qty, 10_050),
        order_type=jnp.full_like(orders.qty, ot.STOP),
    )
    accounts = list(state.accounts)
    accounts[i] = accounts[i].replace(orders=orders)
    state = state.replace(tick=jnp.int32(1), accounts=tuple(accounts))
    drop = int(dividend_ticks(state.fundamentals)[0])
    assert drop > 0
    after = np.asarray(ex_dividend(state, built.params).accounts[i].orders.stop_price)
    want = np.where(np.asarray(live), 10_050 - drop, 10_050)
    assert (after == np.broadcast_to(want, after.shape)).all()
