"""Bar replay and vectorised backtests: vectorbt parity on the S&P 500, the fill model
against hand computations, exact money, views against the simulator's own streams."""

from __future__ import annotations

import os
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
FAST, SLOW = [5, 10, 20], [30, 50, 100]


def walk(n=200, seed=0, start=1000.0, vol=0.01, volume=1000.0, name="syn") -> Bars:
    """A random-walk OHLCV series on a 0.1 grid (so prices are exact ticks)."""
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0, vol, n))), 1)
    open_ = np.round(np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0, vol / 3, n)), 1)
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 2, n), 1)
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 2, n), 1)
    time = np.datetime64("2020-01-01", "ns") + np.arange(n) * np.timedelta64(1, "D")
    return Bars(name, time, open_, high, low, close, np.full(n, volume), name)


@pytest.fixture(scope="module")
def sp500_grid():
    return backtest(overrides=["data=sp500", f"grid.fast={FAST}", f"grid.slow={SLOW}",
                               "fill=close", "costs=none", *SHORT])


def test_trend_grid_makes_vectorbt_trades_on_sp500(sp500_grid):
    """The contract: long-only SMA crossover, fill at the close, no costs, fixed size: the
    same orders as vectorbt's Portfolio.from_signals on the same entries and exits, and
    the same final equity. Prices are the data's integer ticks for both (tick 0.1), sizes
    whole lots, so the comparison is exact."""
    import talib
    import vectorbt as vbt

    r = sp500_grid
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
    rets = np.diff(np.concatenate([[r.setup.cash], equity[0]])) / np.concatenate(
        [[r.setup.cash], equity[0][:-1]])
    ann = r.annualization()
    assert 245 < ann < 256  # trading days per year, from the data
    row = summary.row(0, named=True)
    assert row["sharpe"] == pytest.approx(empyrical.sharpe_ratio(rets, annualization=ann), 1e-4)
    assert row["max_drawdown"] == pytest.approx(empyrical.max_drawdown(rets), 1e-4)
    assert row["return_pct"] == pytest.approx((equity[0, -1] / r.setup.cash - 1) * 100, 1e-12)
    assert row["trades"] == r.trades().filter(pl.col("point") == 0).height
    assert summary["deflated_sharpe"].is_between(0, 1).all()


def test_views_equal_the_simulators_streams(sp500_grid):
    """A point's gathered view fields equal update_market scanned with its own params."""
    import jax
    import jax.numpy as jnp

    from qtgjax.backtest.views import market_value, stream_fields, with_values

    r = sp500_grid
    tables, cols = r.setup.market.tables, r.setup.columns
    close = r.setup.market.close[:, 0]
    volume = r.setup.market.volume[:, 0]
    base_cfg = r.config["market"]["indicators"]
    from qtgjax.backtest.setup import market_params

    base, per_point, history = market_params(r.config, r.setup.points, r.setup.grid_keys)
    stream = jax.jit(stream_fields, static_argnames="history")
    for point in (0, 8):
        p = per_point[point]
        own = with_values(base, tuple(p), [jnp.asarray(v, market_value(base, k).dtype)
                                           for k, v in p.items()])
        direct = stream(own, close, volume, history=history)
        for name in ("sma_fast", "sma_slow", "rsi", "ema_fast", "volatility"):
            row = int(cols.rows[name][point])
            got = np.asarray(tables[name][:, row, 0])
            np.testing.assert_allclose(got, np.asarray(direct[name]), rtol=1e-6)
    assert base_cfg["rsi"] == 2


def test_next_open_spread_fees_exact(tmp_path):
    """fill=next_open with a spread and fees: each fill is at the next open plus half the
    spread (rounded against the trader), fees truncated to cash units, and cash moves by
    exactly lots x price + fees."""
    bars = walk(seed=1)
    r = backtest(overrides=["grid.fast=[5]", "grid.slow=[20]", "fill=next_open",
                            "costs.spread_bps=10", "costs.taker_bps=5", *SHORT], bars=[bars])
    trades = r.trades()
    assert trades.height > 4
    open_ticks = np.rint(bars.open / r.setup.tick_size).astype(int)
    for row in trades.iter_rows(named=True):
        ref = open_ticks[row["bar"]]
        half = ref * 10 * 0.5e-4
        want = np.ceil(ref + half - 1e-3) if row["side"] == "buy" else np.floor(ref - half + 1e-3)
        assert row["price_ticks"] == want and row["phase"] == "open" and row["taker"]
    arr = r._arrays()
    cash = arr["cash"][0]
    signed = np.where(trades["side"] == "buy", 1, -1) * trades["notional"].to_numpy()
    fees = np.trunc(trades["notional"].to_numpy().astype(np.float32) * np.float32(5e-4))
    assert r.setup.cash - cash[-1] == int(signed.sum() + fees.sum())
    position = arr["position"][0, :, 0]
    close = np.rint(bars.close / r.setup.tick_size).astype(np.int64)
    assert np.array_equal(arr["equity"][0], cash + position * close)


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


def test_train_test_walk_forward_and_report(tmp_path):
    from qtgjax.backtest.report import write_report

    bars = walk(seed=4)
    r = backtest(overrides=["grid.fast=[3,5]", "grid.slow=[10,20]", "split.train=50",
                            "split.test=50", *SHORT], bars=[bars])
    wf = r.walk_forward()
    assert wf.height == 3 and wf["test_start"].to_list() == [50, 100, 150]
    assert set(wf["point"].to_list()) <= {0, 1, 2, 3}
    summary = r.summary()
    for row in wf.iter_rows(named=True):  # the chosen point is the best on its train bars
        train = r._metrics(row["train_start"], row["test_start"])[0]["sharpe"]
        assert row["point"] == int(np.nanargmax(train))
    r2 = backtest(overrides=["grid.fast=[3,5]", "grid.slow=[10,20]", "split.train=0.5",
                             "record=summary", *SHORT], bars=[bars])
    both = r2.summary()
    assert {"sharpe_train", "sharpe_test"} <= set(both.columns)
    np.testing.assert_allclose(both["sharpe"], summary["sharpe"], rtol=1e-6)
    with pytest.raises(ValueError, match="record=equity"):
        r2.trades()
    page = write_report(tmp_path, r)
    assert {p.name for p in page.parent.glob("*.png")} == {"equity_0.png", "sharpe_0.png"}
    assert "Walk-forward" in page.read_text()


def test_cli_writes_tables(tmp_path):
    """The contract command on an OHLCV CSV a user has (a Date/Adj Close layout)."""
    bars = walk(seed=5)
    csv = tmp_path / "prices.csv"
    pl.DataFrame({"Date": bars.time.astype("datetime64[D]").astype(str), "Open": bars.open,
                  "High": bars.high, "Low": bars.low, "Adj Close": bars.close,
                  "Volume": bars.volume}).write_csv(csv)
    out = tmp_path / "run"
    cmd = [str(Path(sys.executable).parent / "qtgjax-backtest"), f"data={csv}", "strategy=trend",
           "grid.fast=[3,5]", "grid.slow=[10,20]", "fill=close", "costs=none",
           "columns.close=Adj Close", "report=false", f"out={out}", *SHORT]
    cache = Path(__file__).resolve().parents[1] / ".jax_cache"  # compiled in-process above
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": os.environ.get(
        "JAX_COMPILATION_CACHE_DIR", str(cache))}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("trades", "equity", "summary"):
        assert (out / f"{name}.parquet").exists()
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary.height == 4 and summary["symbol"].unique().to_list() == ["prices"]
    bad = subprocess.run([cmd[0], f"data={tmp_path / 'nope.csv'}", f"out={out}"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert bad.returncode == 2 and "nope.csv" in bad.stderr
