"""What the live views show, tick by tick: a :class:`Tape` of per-tick arrays in currency.

A tape is filled segment by segment by a live run (:class:`qtgjax.views.live.LiveRun`) or
at once from a finished run folder (:func:`from_folder`); the terminal UI and the browser
dashboard read it the same way. Shapes: B scenarios, T ticks, S symbols, F families,
L depth levels per side. Prices are currency (``ticks x tick_size``), NaN where missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from qtgjax.analysis.depth import tick_size_of
from qtgjax.analysis.load import ResultsError

TICK_FIELDS = (
    "close",
    "fundamental",
    "vwap",
    "volume",
    "taker_flow",
    "best_bid",
    "best_ask",
    "bid_depth",
    "ask_depth",
)


@dataclass
class Tape:
    """Per-tick numbers of a run, filled up to ``done`` ticks.

    Attributes:
        ticks: T, ticks in the run.
        symbols: S.
        families: family names, F.
        tick_size: currency per price tick.
        series: float64[B, T, S] per name of :data:`TICK_FIELDS` (``vwap``, ``best_bid``,
            ``best_ask`` NaN where absent).
        pnl: float64[B, T, F] P&L per agent after each tick, currency.
        depth_price: float64[B, T, S, 2, L] best levels per side (0 bids, 1 asks), NaN where
            no level; None when the run has no depth.
        depth_lots: int64[B, T, S, 2, L] lots at those levels.
        depth_ticks: bool[T] ticks that have a depth record.
        done: ticks filled so far.
        source: ``live`` or the run folder.
        kinds, n_agents: each family's kind and size (for the league of a live run).
        books: with several venues (a replayed run folder), the (venue, symbol) of each
            column of the S axis (venue-major): the views then show one venue's book at a
            time; None: column s is symbol s (one venue, or a live run's consolidated tape).
    """

    ticks: int
    symbols: int
    families: tuple[str, ...]
    tick_size: float
    series: dict[str, np.ndarray]
    pnl: np.ndarray
    depth_price: np.ndarray | None = None
    depth_lots: np.ndarray | None = None
    depth_ticks: np.ndarray | None = None
    done: int = 0
    source: str = "live"
    kinds: tuple[str, ...] = ()
    n_agents: tuple[int, ...] = ()
    books: tuple[tuple[int, int], ...] | None = None

    def book_name(self, column: int) -> str:
        """What column ``column`` of the S axis is: ``symbol s`` or ``venue v symbol s``."""
        if self.books is None:
            return f"symbol {column}"
        venue, symbol = self.books[column]
        return f"venue {venue} symbol {symbol}"

    def book_label(self, column: int) -> str:
        """The status line's: ``symbol s/S``, or ``venue v symbol s (book c/C)``."""
        if self.books is None:
            return f"symbol {column}/{self.symbols}"
        return f"{self.book_name(column)} (book {column + 1}/{self.symbols})"

    @property
    def scenarios(self) -> int:
        return self.pnl.shape[0]

    @staticmethod
    def empty(scenarios: int, ticks: int, symbols: int, families, tick_size, levels: int):
        shape = (scenarios, ticks, symbols)
        series = {name: np.full(shape, np.nan) for name in TICK_FIELDS}
        tape = Tape(
            ticks,
            symbols,
            tuple(families),
            tick_size,
            series,
            np.full((scenarios, ticks, len(families)), np.nan),
        )
        if levels:
            tape.depth_price = np.full((*shape, 2, levels), np.nan)
            tape.depth_lots = np.zeros((*shape, 2, levels), np.int64)
            tape.depth_ticks = np.zeros(ticks, bool)
        return tape

    def depth_at(self, scenario: int, symbol: int, tick: int):
        """(price float64[2, L], lots int64[2, L], tick recorded) of the last depth record at
        or before ``tick``, or None when the run has none."""
        if self.depth_ticks is None:
            return None
        recorded = np.flatnonzero(self.depth_ticks[: tick + 1])
        if recorded.size == 0:
            return None
        t = int(recorded[-1])
        return self.depth_price[scenario, t, symbol], self.depth_lots[scenario, t, symbol], t

    def frames(self, upto: int | None = None) -> dict[str, pl.DataFrame]:
        """The tape up to ``upto`` ticks as tables in the run folder's schemas (``ticks``
        columns that the tape holds, ``family_pnl``, and ``depth`` where recorded)."""
        n = self.done if upto is None else min(upto, self.done)
        b, t, s = np.meshgrid(
            np.arange(self.scenarios), np.arange(n), np.arange(self.symbols), indexing="ij"
        )
        cols = {
            "scenario": b.ravel().astype(np.int64),
            "symbol": s.ravel().astype(np.int32),
            "tick": t.ravel().astype(np.int64),
        }
        for name in TICK_FIELDS:
            values = self.series[name][:, :n].ravel()
            if name in INT_FIELDS:
                cols[name] = np.nan_to_num(values).astype(np.int64)
            else:
                cols[name] = pl.Series(name, values).fill_nan(None)
        ticks = pl.DataFrame(cols)
        fb, ft, ff = np.meshgrid(
            np.arange(self.scenarios), np.arange(n), np.arange(len(self.families)), indexing="ij"
        )
        pnl = pl.DataFrame(
            {
                "scenario": fb.ravel().astype(np.int64),
                "family": np.array(self.families)[ff.ravel()],
                "tick": ft.ravel().astype(np.int64),
                "pnl_per_agent": self.pnl[:, :n].ravel(),
            }
        )
        out = {"ticks": ticks, "family_pnl": pnl}
        if self.kinds and n:
            last = pnl.filter(pl.col("tick") == n - 1)
            info = pl.DataFrame(
                {"family": self.families, "kind": self.kinds, "n_agents": self.n_agents}
            )
            out["agents"] = last.join(info, on="family").select(
                "scenario", "family", "kind", "n_agents", "pnl_per_agent"
            )
        if self.depth_ticks is not None:
            out["depth"] = self._depth_frame(n)
        return out

    def _depth_frame(self, n: int) -> pl.DataFrame:
        rows = np.flatnonzero(self.depth_ticks[:n])
        lots = self.depth_lots[:, rows]  # [B, R, S, 2, L]
        price = self.depth_price[:, rows]
        grid = np.meshgrid(*(np.arange(k) for k in lots.shape), indexing="ij")
        keep = lots.ravel() > 0
        b, r, s, side, level = (g.ravel()[keep] for g in grid)
        return pl.DataFrame(
            {
                "scenario": b.astype(np.int64),
                "venue": np.zeros(b.size, np.int32),
                "symbol": s.astype(np.int32),
                "tick": rows[r].astype(np.int64),
                "side": np.array(["bid", "ask"])[side],
                "level": (level + 1).astype(np.int32),
                "price": price.ravel()[keep],
                "lots": lots.ravel()[keep],
            }
        )


INT_FIELDS = ("volume", "taker_flow", "bid_depth", "ask_depth")


def _column(rows: pl.DataFrame, books) -> np.ndarray:
    """The tape column of each row: its symbol, or with venues its (venue, symbol) book."""
    if books is None:
        return rows["symbol"].to_numpy()
    index = {book: i for i, book in enumerate(books)}
    pairs = zip(rows["venue"].to_list(), rows["symbol"].to_list(), strict=True)
    return np.array([index[p] for p in pairs], dtype=np.int64)


def depth_every(folder: Path) -> int:
    """``record.depth_every`` of a run folder's ``config.yaml`` (1 when not given)."""
    path = folder / "config.yaml"
    cfg = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return int(((cfg or {}).get("record") or {}).get("depth_every", 1))


def from_folder(folder: str | Path) -> Tape:
    """The tape of a finished ``qtgjax-run`` (or ``qtgjax-watch``) folder: ``ticks.parquet``,
    ``family_pnl.parquet`` (the P&L league over time) and ``depth.parquet`` if recorded."""
    folder = Path(folder)
    path = folder / "ticks.parquet"
    if not path.is_file():
        raise ResultsError(f"{folder}: not a qtgjax-run folder (no ticks.parquet)")
    ticks = pl.read_parquet(path)
    venues = ticks["venue"].n_unique() if "venue" in ticks.columns else 1
    keys = ("venue", "symbol") if venues > 1 else ("symbol",)
    ticks = ticks.sort("scenario", "tick", *keys)
    n_b = ticks["scenario"].n_unique()
    n_t = int(ticks["tick"].max()) + 1
    books = None
    if venues > 1:  # one column per (venue, symbol) book, venue-major
        pairs = ticks.select("venue", "symbol").unique().sort("venue", "symbol")
        books = tuple((int(v), int(s)) for v, s in pairs.iter_rows())
    n_s = len(books) if books else ticks["symbol"].n_unique()
    first = int(ticks["scenario"].min())
    series = {
        name: ticks[name].cast(pl.Float64).fill_null(np.nan).to_numpy().reshape(n_b, n_t, n_s)
        for name in TICK_FIELDS
    }
    pnl_path = folder / "family_pnl.parquet"
    if pnl_path.is_file():
        fam = pl.read_parquet(pnl_path)
        families = tuple(
            pl.read_parquet(folder / "agents.parquet")["family"].unique(maintain_order=True)
        )
        order = pl.DataFrame({"family": families, "_f": np.arange(len(families))})
        fam = fam.join(order, on="family").sort("scenario", "tick", "_f")
        pnl = fam["pnl_per_agent"].to_numpy().reshape(n_b, n_t, len(families))
    else:
        families = ()
        pnl = np.zeros((n_b, n_t, 0))
    tape = Tape(n_t, n_s, families, tick_size_of(folder), series, pnl, done=n_t, source=str(folder))
    tape.books = books
    depth_path = folder / "depth.parquet"
    if depth_path.is_file():
        depth = pl.read_parquet(depth_path)
        levels = int(depth["level"].max()) if depth.height else 1
        tape.depth_price = np.full((n_b, n_t, n_s, 2, levels), np.nan)
        tape.depth_lots = np.zeros((n_b, n_t, n_s, 2, levels), np.int64)
        tape.depth_ticks = np.zeros(n_t, bool)
        tape.depth_ticks[:: depth_every(folder)] = True
        index = (
            depth["scenario"].to_numpy() - first,
            depth["tick"].to_numpy(),
            _column(depth, books),
            (depth["side"] == "ask").to_numpy().astype(int),
            depth["level"].to_numpy() - 1,
        )
        tape.depth_price[index] = depth["price"].to_numpy()
        tape.depth_lots[index] = depth["lots"].to_numpy()
    return tape
