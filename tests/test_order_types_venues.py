"""Order types with venues and latency (#13 on #12's market).

The typed auction of S * V books must be, book by book, the one-book typed auction that
``tests/test_order_types.py`` checks against the brute-force reference: so a random
market of two symbols on two venues (one holding no auction this tick) is cleared once
and each of its four books again alone. Then ``conf/order_types_venues.yaml`` end to end:
every type fills on both venues, money and shares are conserved, books are uncrossed after
their auctions, and the periodic venue trades only on its ticks.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from qtgjax.market import order_types as ot
from qtgjax.market.types import Orders
from qtgjax.sim.tick import clear_typed_tick
from qtgjax.sim.types import SimStatic
from qtgjax.sim.venues import VenueParams

N, S, V, SLOTS = 8, 2, 2, 3  # agents, symbols, venues, slots per venue
K, N_AGES = 8, 3  # grid levels, age classes
ANCHOR = 1000
TICK = 1
BATCH = (1, 2)  # venue 1 holds no auction at TICK: its books wait


@functools.cache
def engine(n_symbols: int, n_venues: int):
    """clear_typed_tick on one family's [N, S, V * O] typed orders, jitted once."""
    static = SimStatic(
        n_symbols=n_symbols,
        n_levels=K,
        n_ages=N_AGES,
        families=(),
        n_venues=n_venues,
        order_types=tuple(range(1, 10)),
    )

    def run(orders, last, bid, ask, anchor, batch):
        venues = SimpleNamespace(last_price=last, best_bid=bid, best_ask=ask)
        state = SimpleNamespace(tick=jnp.int32(TICK), market=SimpleNamespace(venues=venues))
        zeros = jnp.zeros(n_venues, jnp.float32)
        params = SimpleNamespace(venues=VenueParams(batch, zeros, zeros, jnp.zeros(1, jnp.int32)))
        cleared, active, after = clear_typed_tick(static, params, state, (orders,), anchor)
        return dict(
            fills=cleared.fills[0],
            price=cleared.price,
            volume=cleared.volume,
            buy=cleared.residual.buy,
            sell=cleared.residual.sell,
            order_type=active[0].order_type,
            limit=active[0].price,
            **{k: getattr(after, k)[0] for k in ("kept", "shown", "refilled", "cancelled")},
        )

    return jax.jit(run)


def random_market(seed: int):
    """Typed orders [N, S, V * O] and per-(venue, symbol) last price and quotes [V, S]."""
    rng = np.random.default_rng(seed)
    shape = (N, S, V * SLOTS)
    base = ANCHOR - K // 2
    qty = rng.integers(0, 6, shape) * (rng.random(shape) < 0.8)
    display = rng.integers(1, 4, shape)
    orders = Orders(
        price=base + rng.integers(-1, K + 1, shape),  # a few off the grid
        qty=qty,
        is_buy=rng.random(shape) < 0.5,
        age=rng.integers(0, 4, shape),
        order_type=rng.integers(0, 10, shape),
        stop_price=base + rng.integers(0, K, shape),
        peg_offset=rng.integers(-2, 3, shape),
        display=display,
        shown=np.minimum(qty, display),
    )
    orders = jax.tree.map(lambda x: jnp.asarray(x, bool if x.dtype == bool else jnp.int32), orders)
    last = base + rng.integers(1, K - 1, (V, S))
    bid = np.where(rng.random((V, S)) < 0.8, last - rng.integers(0, 2, (V, S)), 0)
    ask = np.where(rng.random((V, S)) < 0.8, last + rng.integers(1, 3, (V, S)), 0)
    return orders, *(jnp.asarray(x, jnp.int32) for x in (last, bid, ask))


@pytest.mark.parametrize("seed", range(6))
def test_books_clear_as_the_one_book_auction(seed):
    orders, last, bid, ask = random_market(seed)
    anchor = jnp.full(S * V, ANCHOR, jnp.int32)
    got = engine(S, V)(orders, last, bid, ask, anchor, jnp.int32(BATCH))
    for s in range(S):
        for v in range(V):
            b = s * V + v  # book order
            slots = slice(v * SLOTS, (v + 1) * SLOTS)
            one = jax.tree.map(lambda x, s=s, slots=slots: x[:, s : s + 1, slots], orders)
            want = engine(1, 1)(
                one,
                *(x[v : v + 1, s : s + 1] for x in (last, bid, ask)),
                anchor[:1],
                jnp.int32([BATCH[v]]),
            )
            for key, x in want.items():
                mine = got[key][:, b] if np.ndim(x) == 3 else got[key][b]
                np.testing.assert_array_equal(mine, x[:, 0] if np.ndim(x) == 3 else x[0], key)
            if BATCH[v] > 1:  # no auction at this venue: nothing traded or fired, and
                # only post-only orders that would cross the resting book are cancelled
                assert int(got["volume"][b]) == 0 and not got["fills"][:, b].any()
                post_only = got["order_type"][:, b] == ot.POST_ONLY
                assert not jnp.where(post_only, 0, got["cancelled"][:, b]).any()
                assert not (got["order_type"][:, b] >= ot.STOP_FIRED).any()
    assert int(got["volume"].sum()) > 0, "the random market traded nothing"


# ------------------------------------------------------------------------- end to end

RUN_ARGS = ["ticks=160", "scenarios=1", "record.fills=true", "record.fills_agents=400"]


@pytest.fixture(scope="module")
def venue_types_run(tmp_path_factory):
    import qtgjax

    cfg = qtgjax.load_config(RUN_ARGS, config_name="order_types_venues")
    out = tmp_path_factory.mktemp("order_types_venues")
    result = qtgjax.simulate(cfg)
    result.write(out, overwrite=True)
    return cfg, result.tables(), out


def test_every_type_fills_on_both_venues_and_money_is_conserved(venue_types_run):
    from qtgjax.io.summary import conservation_errors

    _, tables, out = venue_types_run
    assert conservation_errors(tables) == (0, 0)
    fills = pl.read_parquet(out / "fills.parquet").filter(pl.col("status") == "filled")
    seen = {(t, v) for t, v in fills.select("order_type", "venue").unique().iter_rows()}
    missing = [(t, v) for t in ot.NAMES for v in range(V) if (t, v) not in seen]
    assert not missing, f"(order type, venue) never filled: {missing}"


def test_books_uncrossed_after_auctions_and_periodic_venue_waits(venue_types_run):
    cfg, _, out = venue_types_run
    ticks = pl.read_parquet(out / "ticks.parquet")
    interval = [v["batch_interval"] for v in cfg["venues"].values()]
    assert interval == [1, 4]
    periodic = ticks.filter((pl.col("venue") == 1) & (pl.col("tick") % 4 != 0))
    assert periodic["volume"].sum() == 0, "the periodic venue traded between its auctions"
    assert ticks.filter(pl.col("venue") == 1)["volume"].sum() > 0
    auctions = ticks.filter((pl.col("venue") == 0) | (pl.col("tick") % 4 == 0))
    both = auctions.filter((pl.col("best_bid") > 0) & (pl.col("best_ask") > 0))
    assert both.height > 0
    crossed = both.filter(pl.col("best_bid") >= pl.col("best_ask"))
    assert crossed.height == 0, f"books crossed after their auction:\n{crossed}"
    # market / IOC / FOK orders placed on the periodic venue between its auctions waited
    # for it: their fills there are all at auction ticks (the check above), and some fill
    fills = pl.read_parquet(out / "fills.parquet").filter(pl.col("status") == "filled")
    waited = fills.filter(
        (pl.col("venue") == 1) & pl.col("order_type").is_in(["market", "ioc", "fok"])
    )
    assert waited.height > 0
    assert (waited["tick"] % 4 == 0).all()


def test_latency_carries_order_types(venue_types_run):
    """Typed messages go through the rings: the delayed families' stop-limit and market
    orders arrive as placed (they fill as their type; a reactive fader's take-profits are
    limit orders), and the latency table counts them."""
    _, _, out = venue_types_run
    latency = pl.read_parquet(out / "latency.parquet")
    delayed = latency.filter(pl.col("family").is_in(["reactive", "vwap"]))
    assert delayed["delivered"].sum() > 0
    fills = pl.read_parquet(out / "fills.parquet").filter(pl.col("status") == "filled")
    # the reactive agents' stops rarely fire in a short run; their reports still show the
    # orders as the ring delivered them: stop-limits (and faders' take-profit limits)
    rows = pl.read_parquet(out / "fills.parquet").filter(pl.col("family") == "reactive")
    types = set(rows["order_type"])
    assert "stop_limit" in types and types <= {"stop_limit", "limit"}, types
    assert set(fills.filter(pl.col("family") == "vwap")["order_type"]) == {"market"}
