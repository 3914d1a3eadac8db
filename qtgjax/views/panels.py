"""The terminal UI's panels as Rich renderables, computed from a :class:`Tape` at one tick.

Every number here is read from the tape, which holds what the run's Parquet holds
(``ticks.parquet``, ``family_pnl.parquet``, ``depth.parquet``), so the screen can be checked
against the files. Pure functions of (tape, scenario, symbol, tick): testable without a UI.
"""

from __future__ import annotations

import math

import numpy as np
import plotext
from rich import box
from rich.table import Table
from rich.text import Text

from qtgjax.views.tape import Tape

AUCTIONS = 8  # rows of the last-auctions panel
LADDER_ROWS = 10  # most levels per side the ladder shows
VOL_WINDOW = 100  # ticks of the realised volatility
CHART_WINDOW = 400  # ticks drawn in the price chart


def decimals(tick_size: float) -> int:
    """Decimals that show a price on a grid of ``tick_size`` exactly."""
    return max(0, -math.floor(math.log10(tick_size) + 1e-9)) if tick_size > 0 else 2


def fmt_price(value: float, places: int) -> str:
    return "-" if not np.isfinite(value) else f"{value:.{places}f}"


def price_chart(tape: Tape, scenario: int, symbol: int, tick: int, width: int, height: int):
    """Close and fundamental value of one symbol up to ``tick`` (the last CHART_WINDOW
    ticks), drawn by plotext."""
    start = max(0, tick + 1 - CHART_WINDOW)
    every = max(1, -(-(tick + 1 - start) // max(width - 8, 10)))  # about a point a column
    x = list(range(tick, start - 1, -every))[::-1]
    close = tape.series["close"][scenario, x, symbol]
    fund = tape.series["fundamental"][scenario, x, symbol]
    plotext.clf()
    plotext.plotsize(max(width, 20), max(height, 5))
    plotext.theme("clear")
    if x:
        plotext.plot(x, close.tolist(), label="close", color="cyan")
        plotext.plot(x, fund.tolist(), label="fundamental", color="orange")
    plotext.title(f"{tape.book_name(symbol)}: close and fundamental value (scenario {scenario})")
    return Text.from_ansi(plotext.build())


def ladder(tape: Tape, scenario: int, symbol: int, tick: int) -> Table | Text:
    """The best levels per side at the last depth record at or before ``tick``: asks above
    (worst first), bids below (best first)."""
    got = tape.depth_at(scenario, symbol, tick)
    if got is None:
        return Text("no depth record (run with record.depth=K)")
    price, lots, at = got
    places = decimals(tape.tick_size)
    table = Table(title=f"depth ladder, tick {at}", box=box.SIMPLE, padding=(0, 1))
    for name in ("side", "level", "price", "lots"):
        table.add_column(name, justify="right")
    levels = min(price.shape[-1], LADDER_ROWS)
    for k in range(levels - 1, -1, -1):
        if lots[1, k] > 0:
            table.add_row(
                "ask", str(k + 1), fmt_price(price[1, k], places), str(lots[1, k]), style="red"
            )
    for k in range(levels):
        if lots[0, k] > 0:
            table.add_row(
                "bid", str(k + 1), fmt_price(price[0, k], places), str(lots[0, k]), style="green"
            )
    return table


def auctions(tape: Tape, scenario: int, symbol: int, tick: int) -> Table:
    """The last AUCTIONS ticks' clearing price, volume and taker flow."""
    places = decimals(tape.tick_size)
    table = Table(title="last auctions", box=box.SIMPLE, padding=(0, 1))
    for name in ("tick", "price", "volume", "taker_flow"):
        table.add_column(name, justify="right")
    s = tape.series
    for t in range(tick, max(-1, tick - AUCTIONS), -1):
        table.add_row(
            str(t),
            fmt_price(s["vwap"][scenario, t, symbol], places),
            str(int(s["volume"][scenario, t, symbol])),
            f"{int(s['taker_flow'][scenario, t, symbol]):+d}",
        )
    return table


def league(tape: Tape, scenario: int, tick: int) -> Table:
    """Families ranked by P&L per agent after ``tick`` (currency)."""
    table = Table(title="P&L league (per agent)", box=box.SIMPLE, padding=(0, 1))
    for name, justify in (("rank", "right"), ("family", "left"), ("pnl_per_agent", "right")):
        table.add_column(name, justify=justify)
    pnl = tape.pnl[scenario, tick]
    order = np.argsort(-np.nan_to_num(pnl, nan=-np.inf), kind="stable")
    for rank, f in enumerate(order, start=1):
        style = "green" if pnl[f] >= 0 else "red"
        table.add_row(str(rank), tape.families[f], f"{pnl[f]:.2f}", style=style)
    return table


def market_stats(tape: Tape, scenario: int, symbol: int, tick: int) -> dict[str, float]:
    """Spread, realised volatility and the rest of the stats panel, as numbers."""
    s = tape.series
    bid, ask = s["best_bid"][scenario, tick, symbol], s["best_ask"][scenario, tick, symbol]
    mid = 0.5 * (bid + ask)
    close = s["close"][scenario, max(0, tick - VOL_WINDOW) : tick + 1, symbol]
    returns = np.diff(np.log(close))
    fundamental = s["fundamental"][scenario, tick, symbol]
    last = s["close"][scenario, tick, symbol]
    return {
        "last": last,
        "fundamental": fundamental,
        "best_bid": bid,
        "best_ask": ask,
        "spread": ask - bid,
        "spread_bp": (ask - bid) / mid * 1e4,
        "volatility_bp": float(np.std(returns, ddof=1) * 1e4) if returns.size > 1 else np.nan,
        "bid_depth": s["bid_depth"][scenario, tick, symbol],
        "ask_depth": s["ask_depth"][scenario, tick, symbol],
        "mispricing_bp": (last - fundamental) / fundamental * 1e4,
    }


def stats_table(tape: Tape, scenario: int, symbol: int, tick: int) -> Table:
    values = market_stats(tape, scenario, symbol, tick)
    places = decimals(tape.tick_size)
    table = Table(title=f"{tape.book_name(symbol)}, tick {tick}", box=box.SIMPLE, padding=(0, 1))
    table.add_column("stat", justify="left")
    table.add_column("value", justify="right")
    for name, value in values.items():
        if name in ("last", "fundamental", "best_bid", "best_ask", "spread"):
            text = fmt_price(value, places)
        elif name.endswith("_depth"):
            text = str(int(value))
        else:
            text = "-" if not np.isfinite(value) else f"{value:.2f}"
        table.add_row(name, text)
    table.add_row("vol window", f"{VOL_WINDOW} ticks")
    return table
