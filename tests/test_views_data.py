"""The views' data layer without a UI: the player's cursor, speed and pause; the depth
heatmap's binning against a brute-force sum; the latency hook on a synthetic table."""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from qtgjax.analysis.depth import depth_heatmap
from qtgjax.views.dash_data import Source, latency_grid
from qtgjax.views.tape import Tape
from qtgjax.views.watch import SPEEDS, Player


def tape(done: int) -> Tape:
    t = Tape.empty(2, 1000, 1, ["a"], 0.01, 0)
    t.done = done
    return t


def test_player_follows_the_run_at_max_speed_and_stops_when_paused():
    player = Player(tape(120))
    assert player.advance() == 120
    player.toggle_pause()
    player.tape.done = 300
    assert player.advance() == 120, "paused: the cursor stays"
    player.toggle_pause()
    assert player.advance() == 300


def test_player_speed_limits_the_cursor_and_steps_through_the_speeds():
    player = Player(tape(1000), speed=100.0)
    player.advance()
    time.sleep(0.25)
    moved = player.advance()
    assert 15 <= moved <= 60  # about 25 ticks at 100 ticks/s
    for _ in range(20):
        player.slower()
    assert player.speed == SPEEDS[0]
    for _ in range(20):
        player.faster()
    assert player.speed is None  # max


def test_player_asks_for_segments_only_two_ahead_of_a_slow_screen():
    class Live:
        segment, finished = 50, False

    player = Player(tape(100), live=Live(), speed=1.0)
    assert not player.wants_more()  # 100 ticks ahead of a cursor at 0
    player.cursor = 60
    assert player.wants_more()
    player.speed = None
    player.cursor = 0
    assert player.wants_more()  # max speed: always


def test_depth_heatmap_bins_records_into_columns_by_their_mean():
    rng = np.random.default_rng(1)
    rows = []
    for tick in range(0, 40, 2):  # recorded every 2 ticks
        for side, base in (("bid", 100), ("ask", 103)):
            for level in range(3):
                price = base - level if side == "bid" else base + level
                rows.append((tick, side, price * 0.5, int(rng.integers(1, 9))))
    depth = pl.DataFrame(rows, schema=["tick", "side", "price", "lots"], orient="row")
    heat = depth_heatmap(depth, 0.5, max_columns=5)
    assert heat.width == 8 and heat.bids.shape == (8, 5) and heat.price0 == 98 * 0.5
    for side, image in (("bid", heat.bids), ("ask", heat.asks)):
        want = np.zeros_like(image)
        for tick, s, price, lots in rows:
            if s == side:
                want[round(price / 0.5) - 98, tick // 8] += lots / 4  # 4 records a column
        assert np.allclose(image, want)


def test_latency_heatmap_is_the_mean_delay_of_the_delivered_messages():
    """latency.parquet's rows (per scenario, tick, family, venue): the heatmap cell of a
    venue and tick is the delivered messages' summed delay over their count, over families
    and scenarios; NaN where nothing was delivered."""
    rows = [  # scenario, tick, family, venue, delivered, delay_sum
        (0, 0, "noise", 0, 4, 4),
        (0, 0, "maker", 0, 2, 0),
        (1, 0, "noise", 0, 2, 6),
        (0, 1, "noise", 0, 0, 0),
        (0, 0, "noise", 1, 1, 5),
        (0, 1, "noise", 1, 3, 3),
    ]
    cols = ["scenario", "tick", "family", "venue", "delivered", "delay_sum"]
    frames = {
        "ticks": pl.DataFrame({"scenario": [0], "symbol": [0], "tick": [0]}),
        "latency": pl.DataFrame(rows, schema=cols, orient="row"),
    }
    source = Source("live", "synthetic", 0.01, frames=lambda: frames)
    image, width = latency_grid(source)
    want = np.full((2, 2), np.nan)
    for v in range(2):
        for t in range(2):
            n = sum(r[4] for r in rows if r[1] == t and r[3] == v)
            if n:
                want[v, t] = sum(r[5] for r in rows if r[1] == t and r[3] == v) / n
    assert width == 1 and np.allclose(image, want, equal_nan=True)
    assert np.isnan(image[0, 1]) and image[0, 0] == 10 / 8
    without = Source("live", "none", 0.01, frames=lambda: {"ticks": frames["ticks"]})
    assert latency_grid(without) is None
