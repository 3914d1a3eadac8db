"""Bar replay and vectorised backtests: vectorbt parity on the S&P 500, the fill model
against hand computations, exact money, views against talib, the CLI.

Every trend backtest here runs 4 points on 5,031 bars (the S&P 500's length) with the
same view windows, so all of them share one compiled view scan and one compiled bar scan
(tests/test_backtest_sweep.py and tests/test_backtest_policy.py reuse them too).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qtgjax.backtest import backtest
from qtgjax.data import Bars

# Other indicators' windows short, so every point's warm-up is its slow SMA window.
SHORT = [
    "market.indicators.bollinger=2", "market.indicators.range=2", "market.indicators.rsi=2",
    "market.indicators.atr=2", "market.indicators.macd_fast=2", "market.indicators.macd_slow=3",
    "market.indicators.macd_signal=2",
]
BACKTEST = str(Path(sys.executable).parent / "qtgjax-backtest")
N_BARS = 5031  # the S&P 500 series' length: one compiled shape for every test series
SP500_GRID = ["grid.fast=[10,20]", "grid.slow=[40,60]"]
GRID = ["grid.fast=[3,5]", "grid.slow=[10,20]"]
WALK_FORWARD = ["split.train=1000", "split.test=1000"]


def walk(n=N_BARS, seed=0, start=1000.0, vol=0.005, volume=1000.0, name="syn") -> Bars:
    """A random-walk OHLCV series on a 0.1 grid (so prices are exact ticks)."""
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0, vol, n))), 1)
    open_ = np.round(np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0, vol / 3, n)), 1)
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 2, n), 1)
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 2, n), 1)
    time = np.datetime64("2020-01-01", "ns") + np.arange(n) * np.timedelta64(1, "D")
    return Bars(name, time, open_, high, low, close, np.full(n, volume), name)


@pytest.fixture(scope="session")
def sp500_grid():
    """The contract's run: trend, fill at the close, no costs, a walk-forward split."""
    return backtest(overrides=["data=sp500", *SP500_GRID, "fill=close", "costs=none",
                               *WALK_FORWARD, *SHORT])


def test_trend_grid_makes_vectorbt_trades_on_sp500(sp500_grid):
    """The contract: long-only SMA crossover, fill at the close, no costs, fixed size: the
    same orders as vectorbt's Portfolio.from_signals on the same entries and exits, and
    the same final equity. Prices are the data's integer ticks for both (tick 0.1), sizes
    whole lots, so the comparison is exact."""
    import talib
    import vectorbt as vbt

    r = sp500_grid
    assert r.setup.tick_size == 0.1
    ticks = np.rint(r.setup.bars[0].close / r.setup.tick_size)
    entries, exits = [], []
    for p in r.setup.points:
        fast, slow = talib.SMA(ticks, p["fast"]), talib.SMA(ticks, p["slow"])
        ready = np.arange(len(ticks)) >= p["slow"]  # the engine's warm-up: slow closes + 1
        entries.append(ready & (fast > slow))
        exits.append(ready & (fast < slow))
    n = len(r.setup.points)
    pf = vbt.Portfolio.from_signals(np.tile(ticks[:, None], (1, n)), np.stack(entries, 1),
                                    np.stack(exits, 1), size=10, init_cash=float(r.setup.cash))
    summary, trades = r.summary(), r.trades()
    ours = summary["final_equity"].to_numpy().astype(float)
    theirs = np.asarray(pf.final_value())
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0)
    orders = pf.orders.records
    for j in range(n):
        o = orders[orders["col"] == j]
        mine = trades.filter(pl.col("point") == j)
        assert len(mine) == len(o) > 10
        assert mine["bar"].to_list() == o["idx"].tolist()
        assert mine["side"].to_list() == ["buy" if s == 0 else "sell" for s in o["side"]]
        assert mine["lots"].to_list() == o["size"].astype(int).tolist()
        assert mine["price_ticks"].to_list() == o["price"].astype(int).tolist()


def test_summary_metrics_against_empyrical(sp500_grid):
    import empyrical

    r = sp500_grid
    summary = r.summary()
    equity = r._arrays()["equity"].astype(float)
    ann = r.annualization()
    assert 245 < ann < 256  # trading days per year, from the data
    for point in range(len(r.setup.points)):
        prev = np.concatenate([[r.setup.cash], equity[point][:-1]])
        rets = equity[point] / prev - 1.0
        row = summary.row(point, named=True)
        assert row["sharpe"] == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ann),
                                              1e-4)
        assert row["sortino"] == pytest.approx(
            empyrical.sortino_ratio(rets, annualization=ann), 1e-4)
        assert row["max_drawdown"] == pytest.approx(empyrical.max_drawdown(rets), 1e-4)
        assert row["return_pct"] == pytest.approx((equity[point, -1] / r.setup.cash - 1) * 100,
                                                  1e-12)
        assert row["trades"] == r.trades().filter(pl.col("point") == point).height
    assert summary["deflated_sharpe"].is_between(0, 1).all()


def test_views_equal_one_point_alone_and_talib(sp500_grid):
    """A point's gathered view fields equal the tables computed for that point alone, and
    the SMA and RSI streams equal talib's on the same integer closes."""
    import talib

    from qtgjax.backtest.setup import market_params
    from qtgjax.backtest.views import view_tables

    r = sp500_grid
    setup, cols = r.setup, r.setup.columns
    market = setup.market
    base, per_point, history = market_params(r.config, setup.points, setup.grid_keys)
    close = np.asarray(market.close[:, 0, 0], np.float64)
    for point in range(len(setup.points)):
        alone = view_tables(base, [per_point[point]], market.close, market.volume, history)
        for name in ("sma_fast", "sma_slow", "rsi", "ema_fast", "volatility", "macd"):
            grid = np.asarray(market.tables[name][:, int(cols.rows[name][point]), 0])
            own = np.asarray(alone.values[name][:, int(alone.rows[name][0]), 0])
            np.testing.assert_array_equal(grid, own)
        p = setup.points[point]
        fast = np.asarray(market.tables["sma_fast"][:, int(cols.rows["sma_fast"][point]), 0, 0])
        slow = np.asarray(market.tables["sma_slow"][:, int(cols.rows["sma_slow"][point]), 0, 0])
        ready = slice(p["slow"], None)
        np.testing.assert_allclose(fast[ready], talib.SMA(close, p["fast"])[ready], rtol=2e-6)
        np.testing.assert_allclose(slow[ready], talib.SMA(close, p["slow"])[ready], rtol=2e-6)
    rsi = np.asarray(market.tables["rsi"][:, 0, 0, 0])
    np.testing.assert_allclose(rsi[100:], talib.RSI(close, 2)[100:], atol=2e-3)


def test_walk_forward_picks_the_best_train_point_and_the_report(sp500_grid, tmp_path):
    from qtgjax.backtest.report import write_report

    r = sp500_grid
    wf = r.walk_forward()
    assert wf["test_start"].to_list() == [1000, 2000, 3000, 4000]
    for row in wf.iter_rows(named=True):  # the chosen point is the best on its train bars
        train = r._metrics(row["train_start"], row["test_start"])[0]["sharpe"]
        test = r._metrics(row["test_start"], row["test_end"])[0]
        assert row["point"] == int(np.nanargmax(train))
        assert row["test_sharpe"] == test["sharpe"][row["point"]]
        assert row["test_best_sharpe"] == np.nanmax(test["sharpe"])
        assert (row["fast"], row["slow"]) == tuple(r.setup.points[row["point"]].values())
    page = write_report(tmp_path, r)
    assert {p.name for p in page.parent.glob("*.png")} == {"equity_0.png", "sharpe_0.png"}
    assert "Walk-forward" in page.read_text()


@pytest.fixture(scope="module")
def costly():
    """fill=next_open with a spread and fees, and a train/test split, on a random walk."""
    bars = walk(seed=1)
    return bars, backtest(overrides=[*GRID, "fill=next_open", "costs.spread_bps=10",
                                     "costs.taker_bps=5", "split.train=0.5", *SHORT],
                          bars=[bars])


def test_next_open_spread_fees_exact(costly):
    """fill=next_open with a spread and fees: each fill is at the next open plus half the
    spread (rounded against the trader), fees truncated to cash units, and cash moves by
    exactly lots x price + fees, at every grid point."""
    bars, r = costly
    trades = r.trades()
    open_ticks = np.rint(bars.open / r.setup.tick_size).astype(int)
    close = np.rint(bars.close / r.setup.tick_size).astype(np.int64)
    arr = r._arrays()
    for point in range(len(r.setup.points)):
        mine = trades.filter(pl.col("point") == point)
        assert mine.height > 20
        for row in mine.iter_rows(named=True):
            ref = open_ticks[row["bar"]]
            half = ref * 10 * 0.5e-4
            want = (np.ceil(ref + half - 1e-3) if row["side"] == "buy"
                    else np.floor(ref - half + 1e-3))
            assert row["price_ticks"] == want and row["phase"] == "open" and row["taker"]
        cash = arr["cash"][point]
        signed = np.where(mine["side"] == "buy", 1, -1) * mine["notional"].to_numpy()
        rate = np.float32(5) * np.float32(1e-4)  # bps * 1e-4 in float32, as the engine does
        fees = np.trunc(mine["notional"].to_numpy().astype(np.float32) * rate)
        assert r.setup.cash - cash[-1] == int(signed.sum() + fees.sum())
        position = arr["position"][point, :, 0]
        assert np.array_equal(arr["equity"][point], cash + position * close)


def test_train_test_split_metrics(costly):
    """split.train=0.5: the train and test metrics are those of the two halves' returns."""
    import empyrical

    _, r = costly
    summary = r.summary()
    equity = r._arrays()["equity"].astype(float)
    cut = N_BARS // 2
    ann = r.annualization()
    for point in range(len(r.setup.points)):
        prev = np.concatenate([[r.setup.cash], equity[point][:-1]])
        rets = equity[point] / prev - 1.0
        row = summary.row(point, named=True)
        for label, part in (("train", rets[:cut]), ("test", rets[cut:])):
            assert row[f"sharpe_{label}"] == pytest.approx(
                empyrical.sharpe_ratio(part, annualization=ann), 1e-4)
        assert row["return_pct_test"] == pytest.approx(
            (equity[point, -1] / equity[point, cut - 1] - 1) * 100, 1e-12)


def test_resting_limits_fill_when_the_bar_trades_through():
    """Avellaneda-Stoikov quotes rest; a bid fills at its limit only where the next bar's
    low is below it (maker), and the participation cap limits the lots per bar."""
    bars = walk(seed=2, vol=0.004, volume=50.0)
    r = backtest(overrides=["strategy=avellaneda_stoikov", "costs.participation=0.1",
                            "params.quote_size=8", "params.gamma=0.0001", "params.k=0.2",
                            *SHORT], bars=[bars])
    trades = r.trades()
    assert trades.height > 5
    low = np.rint(bars.low / r.setup.tick_size).astype(int)
    high = np.rint(bars.high / r.setup.tick_size).astype(int)
    makers = trades.filter(~pl.col("taker"))
    assert makers.height > 0
    for row in makers.iter_rows(named=True):
        if row["side"] == "buy":
            assert low[row["bar"]] < row["price_ticks"]
        else:
            assert high[row["bar"]] > row["price_ticks"]
    per_bar = trades.group_by("bar").agg(pl.col("lots").sum())
    assert per_bar["lots"].max() <= 5  # 10% of 50 lots


def test_execution_family_follows_its_schedule():
    """TWAP on bars buys target / horizon lots a bar and completes the target."""
    bars = walk(seed=3)
    r = backtest(overrides=["strategy=twap", "strategies.twap.target=60",
                            "strategies.twap.horizon=30", *SHORT], bars=[bars])
    trades = r.trades()
    assert trades["lots"].sum() == 60
    assert trades["bar"].max() == 29 and (trades["side"] == "buy").all()
    assert set(trades["lots"].to_list()) == {2}


def test_symbols_get_their_own_tick_size():
    """Separate backtests: each symbol its own tick (exact prices of a cheap symbol next to
    an index); a portfolio shares one, and refuses two given ones."""
    from qtgjax.backtest.setup import tick_sizes
    from qtgjax.config.build import ConfigError
    from qtgjax.data import auto_tick_size

    cheap, index = walk(n=50, seed=6, start=10.0, name="cheap"), walk(n=50, start=2000.0)
    own = (auto_tick_size(cheap.high), auto_tick_size(index.high))
    assert own[0] < own[1] / 100
    assert tick_sizes({}, [cheap, index], [[0], [1]]) == own
    assert tick_sizes({}, [cheap, index], [[0, 1]]) == (own[1], own[1])
    assert tick_sizes({"tick_size": {"cheap": 0.01}}, [cheap, index], [[0], [1]]) == (0.01,
                                                                                       own[1])
    with pytest.raises(ConfigError, match="portfolio trades its symbols from one account"):
        tick_sizes({"tick_size": {"cheap": 0.01, "syn": 0.1}}, [cheap, index], [[0, 1]])
    with pytest.raises(ConfigError, match="tick_size.nope: no such symbol"):
        tick_sizes({"tick_size": {"nope": 0.01}}, [cheap, index], [[0], [1]])


def test_cli_writes_tables(tmp_path):
    """The contract command on an OHLCV CSV a user has (a Date/Adj Close layout), run as a
    user runs it: the installed ``qtgjax-backtest`` in its own process (Hydra's logging set-up
    then cannot outlive the test's captured streams)."""
    bars = walk(seed=5)
    csv = tmp_path / "prices.csv"
    pl.DataFrame({"Date": bars.time.astype("datetime64[D]").astype(str), "Open": bars.open,
                  "High": bars.high, "Low": bars.low, "Adj Close": bars.close,
                  "Volume": bars.volume}).write_csv(csv)
    out = tmp_path / "run"
    args = [f"data={csv}", "strategy=trend", *GRID, "fill=close", "costs=none",
            "columns.close=Adj Close", "report=false", f"out={out}", *SHORT]
    done = subprocess.run([BACKTEST, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "trend x 4 points x 1 symbol(s) x 5,031 bars" in done.stdout
    assert str(out) in done.stdout
    for name in ("trades", "equity", "summary"):
        assert (out / f"{name}.parquet").exists()
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary.height == 4 and summary["symbol"].unique().to_list() == ["prices"]
    done = subprocess.run([BACKTEST, f"data={tmp_path / 'nope.csv'}", f"out={out}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "nope.csv" in done.stderr
