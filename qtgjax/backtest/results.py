"""A backtest's tables: trades, equity, summary (with the deflated Sharpe ratio), splits.

Schemas are in the README ("Backtesting"). Money columns are exact Int64 cash units
(ticks x lots); currency columns multiply by ``tick_size``.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
from scipy import stats

from qtgjax import risk
from qtgjax.market import money


def bars_per_year(time: np.ndarray) -> float:
    """Bars per calendar year of the data (365.25 days)."""
    span = (time[-1] - time[0]) / np.timedelta64(1, "D")
    return float((len(time) - 1) * 365.25 / max(span, 1e-9))


def point_frame(points: list[dict], keys: list[str], first: int = 0) -> pl.DataFrame:
    """``point`` (Int64, numbered from ``first``) and one column per grid key."""
    cols = {"point": np.arange(first, first + len(points), dtype=np.int64)}
    for k in keys:
        cols[k] = [p[k] for p in points]
    return pl.DataFrame(cols)


def equity_arrays(records) -> dict[str, np.ndarray]:
    """Exact int64 ``equity`` [B, T], per-bar ``fills`` and traded ``notional`` [B, T];
    with full records also ``cash`` [B, T] and ``position`` [B, T, S] (agent 0)."""
    out = {"equity": money.to_int64(records.equity)[..., 0]}
    if hasattr(records, "fill_open"):
        out["cash"] = money.to_int64(records.cash)[..., 0]
        out["position"] = np.asarray(records.position)[..., 0, :].astype(np.int64)
        fills, notional = 0, 0.0
        for q, p in ((records.fill_open, records.price_open),
                     (records.fill_close, records.price_close)):
            q = np.asarray(q)[:, :, 0]
            fills = fills + (q > 0).sum((2, 3))
            notional = notional + (q.astype(np.float64) * np.asarray(p)[:, :, 0]).sum((2, 3))
        out["fills"], out["notional"] = fills, notional
    else:
        out["fills"] = np.asarray(records.fills)[..., 0]
        out["notional"] = np.asarray(records.notional, np.float64)[..., 0]
    return out


def returns_of(equity: np.ndarray, start: float) -> np.ndarray:
    """float64[B, T] simple returns of the equity curve (bar 0 against the start cash)."""
    prev = np.concatenate([np.full((equity.shape[0], 1), start), equity[:, :-1]], axis=1)
    return equity / prev - 1.0


def grid_deflated_sharpe(sr: np.ndarray, n_obs: int, skew: np.ndarray, kurt: np.ndarray
                         ) -> np.ndarray:
    """:func:`qtgjax.risk.deflated_sharpe` of each of N trials' per-bar Sharpe ratios
    ``sr``, the N finite ones being the trials tried (their variance across the grid sets
    the selection benchmark); ``kurt`` is the (Pearson) kurtosis of each trial's returns."""
    finite = np.isfinite(sr)
    n_trials = int(finite.sum())
    variance = float(np.var(sr[finite], ddof=1)) if n_trials > 1 else 0.0
    dsr = risk.deflated_sharpe(np.nan_to_num(sr), max(n_obs, 2), max(n_trials, 1), variance,
                               skew, kurt)
    return np.where(finite, np.asarray(dsr, np.float64), np.nan)


DEFLATED_INPUTS = ("_sr_bar", "_skew", "_kurt", "_n_obs")  # per point; summary drops them


def metrics(rets: np.ndarray, equity: np.ndarray, start: float, turnover_value: np.ndarray,
            n_trades: np.ndarray, annualization: float) -> dict[str, np.ndarray]:
    """Per-column metrics of returns [B, T] (NaN outside the window: qtgjax.risk ignores
    them, so every window has one compiled shape) via qtgjax.risk for Sharpe, Sortino and
    max drawdown; ``equity`` holds the window's bars. The deflated Sharpe ratio needs the
    whole grid, so its per-column inputs come out as :data:`DEFLATED_INPUTS` (per-bar
    Sharpe, skew, kurtosis, observations) for :func:`with_deflated_sharpe`."""
    import jax.numpy as jnp

    r = jnp.asarray(rets, jnp.float32)
    sharpe = np.asarray(risk.sharpe(r, annualization=annualization), np.float64)
    sortino = np.asarray(risk.sortino(r, annualization=annualization), np.float64)
    mdd = np.asarray(risk.max_drawdown(r), np.float64)
    sd = np.nanstd(rets, -1, ddof=1)
    per_bar = np.nanmean(rets, -1) / np.where(sd > 0, sd, np.nan)
    skew = np.nan_to_num(stats.skew(rets, axis=-1, nan_policy="omit"))
    kurt = np.nan_to_num(stats.kurtosis(rets, axis=-1, fisher=False, nan_policy="omit"), nan=3.0)
    first = np.where(equity.shape[1] > 0, start, 1.0)
    mean_equity = np.maximum(equity.mean(-1), 1.0)
    return {
        "return_pct": (equity[:, -1] / first - 1.0) * 100.0,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": mdd,
        "turnover": turnover_value / mean_equity,
        "trades": n_trades.astype(np.int64),
        "deflated_sharpe": np.full(len(sharpe), np.nan),  # filled over the grid
        "_sr_bar": per_bar,
        "_skew": np.asarray(skew, np.float64),
        "_kurt": np.asarray(kurt, np.float64),
        "_n_obs": np.isfinite(rets).sum(-1).astype(np.int64),
    }


def with_deflated_sharpe(stats: pl.DataFrame) -> pl.DataFrame:
    """The summary from per-point rows (:data:`DEFLATED_INPUTS` included): each row's
    ``deflated_sharpe`` over the grid's points of its symbol; the inputs dropped. Rows of
    any number of chunks concatenated give the same result as one run."""
    values = np.full(stats.height, np.nan)
    symbol = stats["symbol"].to_numpy()
    for name in stats["symbol"].unique(maintain_order=True).to_list():
        rows = np.flatnonzero(symbol == name)
        part = stats[rows]
        values[rows] = grid_deflated_sharpe(
            part["_sr_bar"].to_numpy(), int(part["_n_obs"].max()), part["_skew"].to_numpy(),
            part["_kurt"].to_numpy(),
        )
    return stats.with_columns(pl.Series("deflated_sharpe", values)).drop(DEFLATED_INPUTS)


FOLD_COLUMNS = ("train_sharpe", "test_sharpe", "test_return_pct")


def walk_forward_table(folds: pl.DataFrame, points: pl.DataFrame) -> pl.DataFrame | None:
    """Per symbol and fold: the point with the best train Sharpe (the lowest point among
    ties; non-finite Sharpe ratios never win), its grid values and its test metrics, and
    the best test Sharpe of any point. ``folds`` has one row per (symbol, fold, point)
    (:meth:`~qtgjax.backtest.api.BacktestResult.folds`), ``points`` the grid values."""
    if folds is None or folds.height == 0:
        return None
    rows = []
    for _, part in folds.group_by(["symbol", "fold"], maintain_order=True):
        part = part.sort("point")
        train = part["train_sharpe"].to_numpy()
        best = int(np.argmax(np.where(np.isfinite(train), train, -np.inf)))
        row = part.row(best, named=True)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row["test_best_sharpe"] = float(np.nanmax(part["test_sharpe"].to_numpy()))
        rows.append(row)
    table = pl.DataFrame(rows).join(points, on="point", how="left", maintain_order="left")
    keys = [c for c in points.columns if c != "point"]
    return table.select("symbol", "fold", "train_start", "test_start", "test_end", "point",
                        *keys, *FOLD_COLUMNS, "test_best_sharpe")


def fills_of(records):
    """Per fill: (column, bar, symbol, slot, lots, price ticks, taker, is_buy, phase)."""
    rows = []
    for qty, price, taker, buy, phase in (
        (records.fill_open, records.price_open, records.taker_open, records.buy_open, "open"),
        (records.fill_close, records.price_close, None, records.buy_close, "close"),
    ):
        q = np.asarray(qty)[:, :, 0]  # [B, T, S, O]
        col, bar, sym, slot = np.nonzero(q)
        at = (col, bar, sym, slot)
        lots = q[at].astype(np.int64)
        p = np.asarray(price)[:, :, 0][at].astype(np.int64)
        tk = np.ones(len(col), bool) if taker is None else np.asarray(taker)[:, :, 0][at]
        is_buy = np.asarray(buy)[:, :, 0][at]
        rows.append((col, bar, sym, slot, lots, p, tk, is_buy, np.full(len(col), phase)))
    return [np.concatenate(x) for x in zip(*rows, strict=True)]


def trades_table(setup, records) -> pl.DataFrame:
    """One row per fill (schema in the README)."""
    col, bar, sym, slot, lots, price, taker, buy, phase = fills_of(records)
    n_groups = len(setup.groups)
    point, group = col // n_groups + setup.first_point, col % n_groups
    symbols = np.array([b.symbol for b in setup.bars], dtype=object)
    members = np.array(setup.groups)
    sym_index = members[group, sym]
    time = np.empty(len(col), "datetime64[ns]")
    for i, b in enumerate(setup.bars):
        here = sym_index == i
        time[here] = b.time[bar[here]]
    frame = pl.DataFrame({
        "point": point.astype(np.int64),
        "symbol": symbols[sym_index].astype(str) if len(col) else np.array([], str),
        "bar": bar.astype(np.int64),
        "time": time,
        "side": np.where(buy, "buy", "sell"),
        "lots": lots,
        "price_ticks": price,
        "price": price * np.asarray(setup.tick_sizes)[sym_index],
        "notional": lots * price,
        "phase": phase.astype(str),
        "taker": taker.astype(bool),
    })
    # phase "open" (during the bar) happens before "close" within a bar
    return frame.sort(["point", "symbol", "bar", "phase"], descending=[False, False, False, True])
