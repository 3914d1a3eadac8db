"""Venues (issue #12): the single-venue engine bit for bit, conservation across venues,
batch intervals, routing and total position limits against brute-force references, and
config errors named before compiling."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest
from venue_helpers import DIGESTS, run_digests

from qtgjax import ConfigError, load_config, simulate
from qtgjax.config.build import build
from qtgjax.market import money
from qtgjax.market.types import OrderIntent, Orders
from qtgjax.sim.rollout import run_scenario
from qtgjax.sim.venues import (
    VenueMarket,
    as_books,
    as_slots,
    book_order,
    fold_orders,
    from_venue_major,
    limit_total,
    per_venue,
    route,
    venue_major,
)

TINY_VENUES = [
    "scenarios=1",
    "ticks=30",
    "families.noise.n_agents=120",
    "families.fundamental.n_agents=20",
    "families.momentum.n_agents=20",
    "families.market_maker.n_agents=4",
]


def test_one_venue_is_the_engine_on_main_bit_for_bit():
    """Same config and seed: every Parquet table equals the one main wrote before venues
    (digests in tests/data, the new ``venue`` key column left out)."""
    want = json.loads(DIGESTS.read_text())
    assert run_digests(want["overrides"]) == want["tables"]


@pytest.fixture(scope="module")
def venues_run():
    cfg = load_config(TINY_VENUES, config_name="venues")
    return cfg, simulate(cfg)


def test_conservation_every_tick_across_venues(venues_run):
    _, res = venues_run
    rec = res.out.records
    cash = money.to_int64(rec.cash) - money.to_int64(rec.external)  # (B, T, F)
    start = sum(
        money.to_int64(a.cash).sum(-1) - money.to_int64(a.external).sum(-1)
        for a in res.out.initial.accounts
    )
    assert (cash.sum(-1) == start[:, None]).all()
    shares = np.asarray(rec.position).sum(2)  # (B, T, S)
    start_shares = sum(np.asarray(a.position).sum(1) for a in res.out.initial.accounts)
    assert (shares == start_shares[:, None]).all()
    assert int(np.asarray(rec.volume).sum()) > 0


def test_venues_trade_and_the_periodic_one_only_on_its_ticks(venues_run):
    cfg, res = venues_run
    names = list(cfg["venues"])
    ticks = res.tables()["ticks"]
    assert sorted(ticks["venue"].unique().to_list()) == list(range(len(names)))
    for v, name in enumerate(names):
        k = cfg["venues"][name].get("batch_interval", 1)
        rows = ticks.filter(ticks["venue"] == v)
        traded = rows.filter(rows["volume"] > 0)["tick"].to_numpy()
        assert traded.size > 0, name
        assert (traded % k == 0).all(), name
    assert any(cfg["venues"][n].get("batch_interval", 1) > 1 for n in names)


def test_consolidated_tape_is_the_venues(venues_run):
    _, res = venues_run
    rec = res.out.records
    vol = np.asarray(rec.venues.volume)  # (B, T, V, S)
    assert (np.asarray(rec.volume) == vol.sum(2)).all()
    bid = np.asarray(rec.venues.best_bid).max(2)
    assert (np.asarray(rec.best_bid) == bid).all()


def _view(bid, ask, bid_depth, ask_depth):
    arr = [jnp.asarray(x, jnp.int32) for x in (bid, ask, bid_depth, ask_depth)]
    zeros = jnp.zeros_like(arr[0])

    class View:
        venues = VenueMarket(zeros, zeros, arr[0], arr[1], zeros, arr[2], arr[3])

    return View()


def _intent(price, qty, is_buy):
    price, qty = jnp.asarray(price, jnp.int32), jnp.asarray(qty, jnp.int32)
    is_buy = jnp.asarray(is_buy, bool)
    return OrderIntent(price, qty, is_buy, jnp.ones_like(is_buy))


def test_routes_against_brute_force():
    """3 venues, 1 symbol: orders [N=4, S=1, O=1] against hand-set venue quotes."""
    view = _view([[99], [101], [100]], [[103], [102], [0]], [[5], [10], [30]], [[8], [4], [0]])
    taker = jnp.asarray([0.0, 0.0, 0.0])
    intent = _intent(
        [[[104]], [[102]], [[98]], [[101]]],
        [[[12]], [[7]], [[9]], [[5]]],
        [[[True]], [[True]], [[False]], [[False]]],
    )
    home = jnp.int32(2)
    lots = {
        r: np.asarray(route(intent, r, home, view, taker, 3).qty).reshape(4, 3)
        for r in ("fixed", "best", "all", "smart")
    }
    assert (lots["fixed"] == [[0, 0, 12], [0, 0, 7], [0, 0, 9], [0, 0, 5]]).all()
    # best: buys to the lowest ask (venue 1: 102), sells to the highest bid (venue 1: 101)
    assert (lots["best"] == [[0, 12, 0], [0, 7, 0], [0, 9, 0], [0, 5, 0]]).all()
    assert (lots["all"] == [[12, 12, 12], [7, 7, 7], [9, 9, 9], [5, 5, 5]]).all()
    for n, (limit, qty, buy) in enumerate([(104, 12, 1), (102, 7, 1), (98, 9, 0), (101, 5, 0)]):
        depth = [8, 4, 0] if buy else [5, 10, 30]
        px = [103, 102, 0] if buy else [99, 101, 100]
        ok = [
            d if (p > 0 and (p <= limit if buy else p >= limit)) else 0
            for p, d in zip(px, depth, strict=True)
        ]
        if sum(ok) == 0:
            assert (lots["smart"][n] == lots["best"][n]).all()
            continue
        cum = np.floor(qty * np.cumsum(ok) / sum(ok)).astype(int)
        cum[-1] = qty
        assert lots["smart"][n].tolist() == np.diff(cum, prepend=0).tolist(), n
        assert lots["smart"][n].sum() == qty


def test_smart_route_pays_for_fees():
    """A venue whose taker fee lifts its ask above the limit gets nothing."""
    view = _view([[0], [0]], [[100], [100]], [[0], [0]], [[10], [10]])
    intent = _intent([[[100]]], [[[6]]], [[[True]]])
    lots = route(intent, "smart", jnp.int32(0), view, jnp.asarray([0.0, 50.0]), 2).qty
    assert np.asarray(lots).ravel().tolist() == [6, 0]


def test_limit_total_against_brute_force():
    rng = np.random.default_rng(0)
    n, s, v, o = 5, 2, 3, 2
    qty = rng.integers(0, 9, (n, s, v * o))
    buy = rng.random((n, s, v * o)) < 0.5
    pos = rng.integers(-10, 10, (n, s))
    orders = Orders(
        jnp.full(qty.shape, 100),
        jnp.asarray(qty, jnp.int32),
        jnp.asarray(buy),
        jnp.zeros(qty.shape, jnp.int32),
    )
    got = np.asarray(limit_total(orders, jnp.asarray(pos, jnp.int32), jnp.int32(12), v).qty)
    for i, j in itertools.product(range(n), range(s)):
        room = {True: 12 - pos[i, j], False: 12 + pos[i, j]}
        for k in range(v * o):
            want = min(qty[i, j, k], max(room[bool(buy[i, j, k])], 0))
            room[bool(buy[i, j, k])] -= want
            assert got[i, j, k] == want
    for side in (True, False):
        total = np.where(buy == side, got, 0).sum(-1)
        assert (total <= (12 - pos if side else 12 + pos)).all() or not total.any()


def test_layouts_round_trip_and_fold():
    x = jnp.arange(2 * 3 * 4 * 2).reshape(2, 3, 8)  # N=2, S=3, V=4, O=2
    books = as_books(x, 4)
    assert books.shape == (2, 12, 2)
    assert int(books[1, 1 * 4 + 2, 1]) == int(x[1, 1, 2 * 2 + 1])  # symbol 1, venue 2, slot 1
    assert (as_slots(books, 4) == x).all()
    per_book = jnp.arange(12) * 10  # book s * V + v
    vs = per_venue(per_book, 4)
    assert vs.shape == (4, 3) and int(vs[2, 1]) == 10 * (1 * 4 + 2)
    assert (book_order(vs) == per_book).all()
    assert int(venue_major(per_book, 4)[2 * 3 + 1]) == 10 * (1 * 4 + 2)  # book v * S + s
    assert (from_venue_major(venue_major(per_book, 4), 4) == per_book).all()
    qty = jnp.zeros((1, 1, 6), jnp.int32).at[0, 0, 4].set(3).at[0, 0, 2].set(2)
    orders = Orders(jnp.arange(6).reshape(1, 1, 6), qty, jnp.ones_like(qty, bool), qty * 0)
    folded = fold_orders(orders, 3)  # O=2: slot 0 on venues 0,1,2 = [0, 2, 3] lots
    assert folded.qty.ravel().tolist() == [5, 0]
    assert folded.price.ravel().tolist() == [2, 1]


BAD = [
    (["+families.noise.venue=nowhere"], "families.noise.venue"),
    (["venues.periodic.batch_interval=0"], "venues.periodic.batch_interval"),
    (["families.noise.route=teleport"], "families.noise.route"),
    (["+venues.lit.colour=3"], "venues.lit.colour"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD, ids=[b[1] for b in BAD])
def test_bad_venue_config_names_the_key(overrides, key):
    cfg = load_config([*TINY_VENUES, *overrides], config_name="venues")
    with pytest.raises(ConfigError) as err:
        build(cfg)
    assert str(err.value).startswith(key), str(err.value)


def test_unknown_venue_without_venues_section():
    with pytest.raises(ConfigError, match=r"^families.noise.venue"):
        build(load_config(["+families.noise.venue=lit"]))


def test_latency_counts_reported_per_family_and_venue(venues_run):
    """conf/venues.yaml puts a latency profile on every family: each family's messages are
    counted per venue, and the delivered ones carry the profile's delays."""
    cfg, res = venues_run
    lat = res.tables()["latency"]
    per = lat.group_by("family", "venue").agg(
        pl.col("delivered").sum(),
        pl.col("late").sum(),
        pl.col("dropped").sum(),
        pl.col("delay_sum").sum(),
    )
    n_venues = len(cfg["venues"])
    assert per.height == len(cfg["families"]) * n_venues
    noise = per.filter(pl.col("family") == "noise")
    assert noise["delivered"].sum() > 0
    # same_region: 1 tick, no jitter, +1 at high volatility -> mean in [1, 2]
    mean = noise["delay_sum"].sum() / noise["delivered"].sum()
    assert 1.0 <= mean <= 2.0
    colocated = per.filter(pl.col("family") == "background")
    assert colocated["delay_sum"].sum() <= colocated["delivered"].sum()  # 0 or 1 tick each


def test_same_seed_same_tables(venues_run):
    """Determinism with venues and latency: the same config runs to the same tables (the
    second run reuses the compiled market)."""
    cfg, res = venues_run
    again = simulate(cfg).tables()
    for name, table in res.tables().items():
        assert table.equals(again[name]), name


def test_venue_market_jit_matches_disable_jit():
    """Three venues, a periodic one and latency rings: the compiled market and the same
    market run op by op give the same records and accounts, tick for tick.

    The background pool's anchor weight is 0 here. At weight 0.3 its centre,
    ``0.3 * fundamental + 0.7 * last``, is exactly the integer start price op by op but one
    float32 ulp below it when XLA fuses the arithmetic, and at tick 0 a grid level sits
    exactly on the pool's inside quote: that tie resolves differently, which is float
    rounding, not the venue machinery this test is about (weight 0 makes the centre exactly
    the last price either way)."""
    cfg = load_config(
        [*TINY_VENUES, "families.background.params.anchor_weight=0.0"], config_name="venues"
    )
    built = build(cfg)
    key = jax.random.key(11)
    compiled = jax.jit(run_scenario, static_argnums=(0, 3))(built.static, built.params, key, 6)
    with jax.disable_jit():
        eager = run_scenario(built.static, built.params, key, 6)
    assert int(np.asarray(eager[2].volume).sum()) > 0, "the market must trade"
    assert int(np.asarray(eager[2].latency.delivered).sum()) > 0
    for a, b in ((compiled[2], eager[2]), (compiled[1].accounts, eager[1].accounts)):
        for (path, x), y in zip(
            jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b), strict=True
        ):
            x, y = np.asarray(x), np.asarray(y)
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), jax.tree_util.keystr(path)


def test_dashboard_latency_heatmap_of_a_venue_run(venues_run, tmp_path):
    """The dashboard's latency tab reads a real run's latency.parquet: one row per venue,
    each delivered cell the mean realised delay (within the profiles' 0..max_delay)."""
    from qtgjax.views.dash_data import Source, latency_grid

    cfg, res = venues_run
    folder = res.write(tmp_path / "run")
    image, width = latency_grid(Source.folder(folder))
    latency = res.tables()["latency"]
    assert image.shape[0] == latency["venue"].n_unique() == 3 and width >= 1
    seen = image[np.isfinite(image)]
    assert seen.size > 0 and (seen >= 0).all() and (seen <= cfg["latency"]["max_delay"]).all()
    one = latency.filter((pl.col("venue") == 1) & (pl.col("tick") // width == 0))
    assert np.isclose(image[1, 0], one["delay_sum"].sum() / one["delivered"].sum())


def test_watch_replays_a_venue_run_book_by_book(venues_run, tmp_path):
    """``qtgjax-watch --replay`` of a venue run, as a person uses it (tmux): one book per
    (venue, symbol), tab steps to the next, and the panels show that venue's own numbers."""
    from views_helpers import Tmux

    from qtgjax.views.tape import from_folder

    _, res = venues_run
    folder = res.write(tmp_path / "run")
    ticks = res.tables()["ticks"]
    tape = from_folder(folder)
    assert tape.books == ((0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1))
    last = ticks.filter((pl.col("scenario") == 0) & (pl.col("tick") == tape.ticks - 1))
    for column, (venue, symbol) in enumerate(tape.books):
        row = last.filter((pl.col("venue") == venue) & (pl.col("symbol") == symbol))
        assert tape.series["volume"][0, -1, column] == row["volume"].item()
    bin_dir = Path(sys.executable).parent
    command = f"JAX_PLATFORMS=cpu {bin_dir / 'qtgjax-watch'} --replay {folder} --speed max"
    tmux = Tmux(command, cwd=tmp_path)
    try:
        tmux.wait_for(r"finished")
        tmux.settled(r"venue 0 symbol 0 \(book 1/6\)")
        tmux.send("Tab")
        tmux.settled(r"venue 0 symbol 1 \(book 2/6\)")
        tmux.send("Tab")
        screen = tmux.settled(r"venue 1 symbol 0: close and fundamental value")
        assert "venue 1 symbol 0 (book 3/6)" in screen
        tmux.send("q")
        assert tmux.exit_status() == 0
    finally:
        tmux.close()
