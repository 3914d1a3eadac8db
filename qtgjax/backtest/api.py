"""``qtgjax.backtest.backtest``: what ``qtgjax-backtest`` does, one import away."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from omegaconf import OmegaConf

from qtgjax.api import CONF_DIR, to_plain
from qtgjax.backtest import results as res
from qtgjax.backtest.engine import plan_columns, run_chunked
from qtgjax.backtest.setup import Setup, make_setup
from qtgjax.config.build import ConfigError, scenario_keys
from qtgjax.io.atomic import write_parquet, write_text

BACKTEST_CONF = CONF_DIR / "backtest"
log = logging.getLogger("qtgjax.backtest")


RECORDS = ("trades", "equity", "summary")
OPEN_SECTIONS = ("grid.", "params.", "columns.", "strategies.", "split.")


def open_overrides(overrides: Sequence[str]) -> list[str]:
    """``grid.fast=[...]`` -> ``++grid.fast=[...]``: keys of the open sections (``grid``,
    ``params``, ``columns``, ``strategies``, ``split``) may be added without Hydra's ``+``."""
    return [f"++{o}" if o.startswith(OPEN_SECTIONS) else o for o in overrides]


def compose_backtest(overrides: Sequence[str] = ()) -> dict:
    """``conf/backtest/config.yaml`` with Hydra overrides, resolved (the hydra node dropped)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    global_hydra = GlobalHydra.instance()
    running = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        with initialize_config_dir(str(BACKTEST_CONF), version_base="1.3"):
            return to_plain(compose("config", overrides=open_overrides(overrides)))
    finally:
        GlobalHydra.instance().clear()
        if running is not None:
            GlobalHydra.instance().initialize(running)


@dataclass
class BacktestResult:
    """A finished backtest.

    Attributes:
        config: the resolved config.
        setup: the validated family, grid, data and columns.
        records: :class:`~qtgjax.backtest.engine.BarRecord` as NumPy, axes (column, bar, ...).
        seconds: wall time of the compiled runs (compilation included).
    """

    config: dict
    setup: Setup
    records: object
    seconds: float
    _cache: dict | None = None

    @property
    def n_points(self) -> int:
        return len(self.setup.points)

    def _arrays(self):
        if self._cache is None:
            self._cache = res.equity_arrays(self.records)
        return self._cache

    def group_names(self) -> list[str]:
        s = self.setup
        return [s.bars[g[0]].symbol if len(g) == 1 else "+".join(s.bars[i].symbol for i in g)
                for g in s.groups]

    def lengths(self) -> np.ndarray:
        return np.array([len(self.setup.bars[g[0]]) for g in self.setup.groups])

    def annualization(self) -> float:
        given = self.config.get("annualization")
        return float(given) if given else res.bars_per_year(self.setup.bars[0].time)

    def equity(self) -> pl.DataFrame:
        """One row per (point, symbol, bar): ``cash, position, equity`` (exact cash units).
        Needs ``record=equity`` or ``record=trades``."""
        s, arr = self.setup, self._arrays()
        if "cash" not in arr:
            raise ValueError("equity needs record=equity or record=trades (this run: summary)")
        names, lengths, n_groups = self.group_names(), self.lengths(), len(s.groups)
        frames = []
        for g, name in enumerate(names):
            cols = np.arange(g, arr["equity"].shape[0], n_groups)
            n = lengths[g]
            bars = s.bars[s.groups[g][0]]
            data = {
                "point": np.repeat(np.arange(len(cols), dtype=np.int64), n),
                "symbol": np.full(len(cols) * n, name),
                "bar": np.tile(np.arange(n, dtype=np.int64), len(cols)),
                "time": np.tile(bars.time, len(cols)),
                "cash": arr["cash"][cols, :n].reshape(-1),
                "equity": arr["equity"][cols, :n].reshape(-1),
            }
            pos = arr["position"][cols, :n]
            if pos.shape[-1] == 1:
                data["position"] = pos[..., 0].reshape(-1)
            else:
                for k, i in enumerate(s.groups[g]):
                    data[f"position_{s.bars[i].symbol}"] = pos[..., k].reshape(-1)
            frames.append(pl.DataFrame(data))
        return pl.concat(frames, how="diagonal")

    def trades(self) -> pl.DataFrame:
        """One row per fill. Needs ``record=equity`` or ``record=trades``."""
        if not hasattr(self.records, "fill_open"):
            raise ValueError("trades need record=equity or record=trades (this run: summary)")
        return res.trades_table(self.setup, self.records)

    def _metrics(self, lo: int | None = None, hi: int | None = None) -> list[dict]:
        """Per symbol group: metrics of every point over bars [lo, hi)."""
        s, arr = self.setup, self._arrays()
        n_groups, out = len(s.groups), []
        for g, n in enumerate(self.lengths()):
            cols = np.arange(g, arr["equity"].shape[0], n_groups)
            a, b = lo or 0, min(hi or n, n)
            equity = arr["equity"][cols, :n].astype(np.float64)
            rets = res.returns_of(equity, float(s.cash))
            window = (np.arange(n) >= a) & (np.arange(n) < b)  # one shape for every window
            rets = np.where(window, rets, np.nan)
            start = float(s.cash) if a == 0 else equity[:, a - 1]
            n_trades = arr["fills"][cols, a:b].sum(-1)
            value = arr["notional"][cols, a:b].sum(-1)
            m = res.metrics(rets, equity[:, a:b], start, value, n_trades, self.annualization())
            m["return_pct"] = (equity[:, b - 1] / start - 1.0) * 100.0
            out.append(m)
        return out

    def summary(self) -> pl.DataFrame:
        """One row per (point, symbol): the grid values, return, Sharpe, Sortino, max
        drawdown, turnover, trades, deflated Sharpe over the grid, final equity; with a
        ``split``, the same metrics on the train and test bars."""
        s, arr = self.setup, self._arrays()
        points = res.point_frame(s.points, s.grid_keys)
        frames = []
        split = self.config.get("split") or {}
        for g, (name, m) in enumerate(zip(self.group_names(), self._metrics(), strict=True)):
            n = self.lengths()[g]
            cols = np.arange(g, arr["equity"].shape[0], len(s.groups))
            data = {"symbol": [name] * len(cols), **m,
                    "final_equity": arr["equity"][cols, n - 1]}
            frame = pl.concat([points, pl.DataFrame(data)], how="horizontal")
            if "train" in split and "test" not in split:
                cut = int(float(split["train"]) * n) if float(split["train"]) < 1 else int(
                    split["train"])
                for label, (lo, hi) in (("train", (0, cut)), ("test", (cut, n))):
                    part = self._metrics(lo, hi)[g]
                    frame = frame.with_columns(
                        pl.Series(f"{k}_{label}", part[k])
                        for k in ("return_pct", "sharpe", "sortino", "max_drawdown")
                    )
            frames.append(frame)
        return pl.concat(frames)

    def walk_forward(self) -> pl.DataFrame | None:
        """With ``split: {train: N, test: M}``: per fold and symbol, the point with the best
        train Sharpe and its metrics on the following M bars (out of sample)."""
        split = self.config.get("split") or {}
        if "test" not in split:
            return None
        n_train, n_test = int(split["train"]), int(split["test"])
        rows = []
        names = self.group_names()
        for g, n in enumerate(self.lengths()):
            fold, start = 0, 0
            while start + n_train + n_test <= n:
                train = self._metrics(start, start + n_train)[g]
                test = self._metrics(start + n_train, start + n_train + n_test)[g]
                best = int(np.nanargmax(np.where(np.isfinite(train["sharpe"]),
                                                 train["sharpe"], -np.inf)))
                rows.append({
                    "symbol": names[g], "fold": fold, "train_start": start,
                    "test_start": start + n_train, "test_end": start + n_train + n_test,
                    "point": best, **{k: self.setup.points[best][k]
                                      for k in self.setup.grid_keys},
                    "train_sharpe": float(train["sharpe"][best]),
                    "test_sharpe": float(test["sharpe"][best]),
                    "test_return_pct": float(test["return_pct"][best]),
                    "test_best_sharpe": float(np.nanmax(test["sharpe"])),
                })
                fold, start = fold + 1, start + n_test
        return pl.DataFrame(rows) if rows else None

    def tables(self) -> dict[str, pl.DataFrame]:
        record = self.config.get("record", "trades")
        out = {"summary": self.summary()}
        if record in ("trades", "equity"):
            out["equity"] = self.equity()
        if record == "trades":
            out["trades"] = self.trades()
        wf = self.walk_forward()
        if wf is not None:
            out["walk_forward"] = wf
        return out

    def write(self, folder: str | Path) -> Path:
        """Write the tables as Parquet (atomically) and the resolved config."""
        folder = Path(folder)
        for name, df in self.tables().items():
            write_parquet(df, folder / f"{name}.parquet")
        write_text(OmegaConf.to_yaml(OmegaConf.create(self.config)), folder / "config.yaml")
        return folder


def backtest(config: Mapping | None = None, overrides: Sequence[str] = (), bars=None
             ) -> BacktestResult:
    """Validate a backtest config, run every grid point on every symbol, return the result.

    Args:
        config: a config mapping (as :func:`compose_backtest` returns); None composes
            ``conf/backtest/config.yaml``.
        overrides: Hydra ``key=value`` overrides on top.
        bars: optional list of :class:`qtgjax.data.Bars` used instead of ``data``.

    Example:
        >>> from qtgjax.backtest import backtest
        >>> r = backtest(overrides=["data=sp500", "grid.fast=[10,20]", "grid.slow=[50]"])
        >>> r.summary().select("fast", "slow", "sharpe").shape
        (2, 3)
    """
    if config is None:
        cfg = compose_backtest(overrides)
    else:
        cfg = to_plain(config)
        if overrides:
            cfg = to_plain(OmegaConf.merge(OmegaConf.create(cfg),
                                           OmegaConf.from_dotlist(list(overrides))))
    setup = make_setup(cfg, bars)
    n = int(setup.columns.group.shape[0])
    memory = cfg.get("memory_mb")
    record = cfg.get("record", "trades")
    if record not in RECORDS:
        raise ConfigError(f"record: {record!r} is not one of {list(RECORDS)}")
    full = record != "summary"
    plan = plan_columns(setup.family, setup.spec, setup.columns, setup.market,
                        chunk=cfg.get("chunk_size"), full=full,
                        budget_bytes=None if memory is None else int(memory) * 2**20)
    log.info(plan.describe().replace("scenarios", "columns"))
    keys = scenario_keys(int(cfg.get("seed", 0)), n)
    started = time.perf_counter()
    _, records = run_chunked(setup.family, setup.spec, setup.columns, keys, setup.market, plan,
                             full)
    return BacktestResult(cfg, setup, records, time.perf_counter() - started)


__all__ = ["BacktestResult", "ConfigError", "backtest", "compose_backtest"]
