"""Book replay: recorded LOBSTER events in the batch auction, alone and with simulated agents;
and the data readers' errors on bad files."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from qtgjax.backtest.book import book_replay, schedule
from qtgjax.data import DataError, load_bars, read_binance_klines, read_lobster

ONLY_RECORDED = ["~agents@families.background", "~agents@families.noise",
                 "~agents@families.fundamental", "~agents@families.momentum",
                 "~agents@families.market_maker"]
MESSAGES = [  # time, type, id, size, price x 10^4, direction
    (34200.00, 1, 1, 100, 1001000, -1),  # ask 100.10 x 100
    (34200.01, 1, 2, 100, 1000000, 1),  # bid 100.00 x 100
    (34200.25, 1, 3, 50, 1000500, -1),  # ask 100.05 x 50
    (34200.40, 4, 3, 30, 1000500, -1),  # a buyer takes 30 of it
    (34200.60, 2, 1, 40, 1001000, -1),  # 40 of ask 1 cancelled
    (34200.80, 4, 2, 20, 1000000, 1),  # a seller hits 20 of the bid
    (34201.10, 3, 3, 20, 1000500, -1),  # the rest of ask 3 deleted
    (34201.30, 1, 4, 10, 999900, 1),  # bid 99.99 x 10
    (34201.50, 2, 7, 10, 999500, 1),  # 10 of bid 7 (resting before the file) cancelled
    (34201.70, 3, 8, 60, 1001000, -1),  # ask 8 (resting before the file) deleted
]
# The book after the first message: ask 100.10 x 160 (order 1 and order 8's 60),
# bid 99.95 x 30 (order 7 and others); a second level empty.
BOOK_ROW = "1001000,160,999500,30,9999999999,0,-9999999999,0"


def write_lobster(folder, messages=MESSAGES):
    path = folder / "TEST_2012-06-21_34200000_57600000_message_1.csv"
    path.write_text("\n".join(",".join(str(x) for x in m) for m in messages) + "\n")
    return path


def write_book(folder):
    path = folder / "TEST_2012-06-21_34200000_57600000_orderbook_2.csv"
    path.write_text((BOOK_ROW + "\n") * len(MESSAGES))
    return path


def replay_day(folder, p_active: float):
    """The synthetic LOBSTER day in the auction with 40 noise traders (``p_active`` 0: they
    place nothing, the recorded flow is alone). Both runs share one compiled market."""
    ev = read_lobster(write_lobster(folder), write_book(folder))
    agents = [a for a in ONLY_RECORDED if not a.endswith(".noise")]
    return ev, book_replay(ev, tick_ms=100, tick_size=0.01, levels=32, agents=agents,
                           overrides=["families.noise.n_agents=40",
                                      f"families.noise.params.p_active={p_active}"])


def test_lobster_replay_alone_reproduces_trades_and_book(tmp_path):
    """The first orderbook row is the initial book; orders resting before the file starts
    (1 after its skipped first message, 7 and 8) are carved out of its levels, so their
    cancels act on them."""
    ev, r = replay_day(tmp_path, 0.0)
    assert len(ev) == len(MESSAGES) - 1 and ev.symbol == "TEST"
    initial = dict(zip(ev.initial["order_id"].tolist(), ev.initial["qty"].tolist(), strict=True))
    assert initial == {1: 40.0, 7: 10.0, 8: 60.0, -1: 60.0, -2: 20.0}
    assert r.schedule.skipped_unknown == 0
    ticks = r.tables()["ticks"].sort("tick")
    traded = ticks.filter(pl.col("volume") > 0)
    assert traded["tick"].to_list() == [3, 7]  # ticks count from the first kept message
    assert traded["volume"].to_list() == [30, 20]
    assert traded["vwap"].to_list() == pytest.approx([100.05, 100.00])
    last = ticks.row(-1, named=True)
    assert (last["best_bid"], last["best_ask"]) == pytest.approx((100.00, 100.10))
    assert (last["bid_depth"], last["ask_depth"]) == (80 + 10 + 20, 60)
    at = ticks.filter(pl.col("tick") == 9).row(0, named=True)  # before ask 3's rest goes
    assert (at["best_ask"], at["ask_depth"]) == pytest.approx((100.05, 20 + 60 + 60))
    agents = r.tables()["agents"]
    assert agents.filter(pl.col("family") == "replay")["volume"].item() == 2 * 50
    assert agents.filter(pl.col("family") == "noise")["volume"].item() == 0


def test_replay_with_simulated_agents_conserves_money(tmp_path):
    """Simulated (noise) agents trade against the recorded liquidity: cash and shares are
    exactly conserved and the recorded family ends with a position."""
    _, r = replay_day(tmp_path, 0.5)
    tables = r.tables()
    agents, positions = tables["agents"], tables["positions"]
    cash = (agents["cash_end"] - agents["cash_start"] - agents["external_cash"]).sum()
    assert cash == 0
    assert (positions["position_end"] - positions["position_start"]).sum() == 0
    replay = positions.filter(pl.col("family") == "replay")["position_end"].item()
    assert replay != 0 and tables["ticks"]["volume"].sum() > 50


def test_bad_files_name_file_row_and_column(tmp_path):
    """Rows are the file's line numbers (the header is line 1)."""
    good = "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,10\n2020-01-02,1.5,2,1,1.8,12\n"
    cases = {
        "missing.csv": (good.replace("Close", "Last_Trade"), "missing column 'close'"),
        "unsorted.csv": (good + "2020-01-01,1,2,0.5,1.5,10\n", "row 4, column time: unsorted"),
        "dup.csv": (good + "2020-01-02,1,2,0.5,1.5,10\n", "row 4, column time: duplicate"),
        "neg.csv": (good.replace("1.8,12", "-1.8,12"), "row 3, column close: non-positive"),
        "nan.csv": (good.replace("1.8,12", ",12"), "row 3, column close: missing value"),
        "text.csv": (good.replace("1.8,12", "abc,12"), "row 3, column close: not a number"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DataError, match=message) as err:
            load_bars(path)
        assert name in str(err.value)
    gap = tmp_path / "gap.csv"
    gap.write_text(good + "2020-01-09,1.5,2,1,1.8,12\n")
    with pytest.raises(DataError, match="row 4, column time: gap"):
        load_bars(gap, max_gap="3d")
    assert len(load_bars(gap)[0]) == 3
    mapped = tmp_path / "mapped.csv"
    mapped.write_text(good.replace("Close", "Settle"))
    assert load_bars(mapped, columns={"close": "Settle"})[0].close[-1] == 1.8


def test_binance_klines_and_gaps(tmp_path):
    rows = []
    for i in range(5):
        t = 1_700_000_000_000 + i * 60_000
        rows.append(f"{t},100,101,99,100.5,3.2,{t + 59_999},320,10,1.6,160,0")
    path = tmp_path / "BTCUSDT-1m-2023-11-14.csv"
    path.write_text("\n".join(rows) + "\n")
    bars = load_bars(path)[0]
    assert len(bars) == 5 and bars.symbol == "BTCUSDT-1m-2023-11-14"
    assert np.diff(bars.time).astype("timedelta64[s]").astype(int).tolist() == [60] * 4
    del rows[2]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="row 3, column open_time: gap"):
        read_binance_klines(path)


def test_lobster_bad_type_and_orderbook(tmp_path):
    bad = list(MESSAGES)
    bad[3] = (34200.40, 9, 3, 30, 1000500, -1)
    with pytest.raises(DataError, match="row 4, column type: unknown event type 9"):
        read_lobster(write_lobster(tmp_path, bad))
    msg = write_lobster(tmp_path)
    book = tmp_path / "TEST_orderbook_1.csv"
    book.write_text("1001000,100,-9999999999,0\n" * len(MESSAGES))  # ask 100.10 x 100 only
    ev = read_lobster(msg, book)
    assert len(ev) == len(MESSAGES) - 1
    # orders 1 and 8 use up the level; bid 7 is at a price the snapshot does not show
    assert ev.initial["order_id"].tolist() == [1, 8] and ev.initial["qty"].tolist() == [40, 60]
    assert ev.initial["price"].tolist() == [100.10, 100.10]
    assert schedule(ev, 100, 0.01, 1.0).skipped_unknown == 1  # its cancel is skipped
    book.write_text("1001000,100,-9999999999,0\n")
    with pytest.raises(DataError, match=f"1 rows for {len(MESSAGES)} messages"):
        read_lobster(msg, book)


@pytest.mark.parametrize("name", ["sp500", "nasdaq", "wti", "googl", "eurusd"])
def test_shipped_data(name):
    bars = load_bars(name)[0]
    assert len(bars) > 1000 and (bars.close > 0).all()
    assert (np.diff(bars.time) > np.timedelta64(0)).all()
