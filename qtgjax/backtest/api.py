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
from qtgjax.sim.chunk import ChunkPlan

BACKTEST_CONF = CONF_DIR / "backtest"
log = logging.getLogger("qtgjax.backtest")


OPEN_SECTIONS = ("grid.", "params.", "columns.", "strategies.", "split.", "tick_size.")


def open_overrides(overrides: Sequence[str]) -> list[str]:
    """``grid.fast=[...]`` -> ``++grid.fast=[...]``: keys of the open sections (``grid``,
    ``params``, ``columns``, ``strategies``, ``split``, ``tick_size`` per symbol) may be
    added without Hydra's ``+``."""
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

    def columns_of(self, group: int) -> np.ndarray:
        """Record rows (columns) of symbol group ``group``, one per point in point order."""
        return np.arange(group, self._arrays()["equity"].shape[0], len(self.setup.groups))

    def equity(self) -> pl.DataFrame:
        """One row per (point, symbol, bar): ``cash, position, equity`` (exact cash units).
        Needs ``record=equity`` or ``record=trades``."""
        s, arr = self.setup, self._arrays()
        if "cash" not in arr:
            raise ValueError("equity needs record=equity or record=trades (this run: summary)")
        frames = []
        for g, (name, n) in enumerate(zip(self.group_names(), self.lengths(), strict=True)):
            cols = self.columns_of(g)
            bars = s.bars[s.groups[g][0]]
            data = {
                "point": np.repeat(np.arange(len(cols), dtype=np.int64) + s.first_point, n),
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

    def _metrics(self, lo: int = 0, hi: int | None = None) -> list[dict]:
        """Per symbol group: metrics of every point over bars [lo, min(hi, n)) (hi=None:
        to the end); see :func:`qtgjax.backtest.results.metrics`."""
        s, arr = self.setup, self._arrays()
        out = []
        for g, n in enumerate(self.lengths()):
            cols = self.columns_of(g)
            b = n if hi is None else min(hi, n)
            equity = arr["equity"][cols, :n].astype(np.float64)
            rets = res.returns_of(equity, float(s.cash))
            window = (np.arange(n) >= lo) & (np.arange(n) < b)  # one shape for every window
            rets = np.where(window, rets, np.nan)
            start = float(s.cash) if lo == 0 else equity[:, lo - 1]
            n_trades = arr["fills"][cols, lo:b].sum(-1)
            value = arr["notional"][cols, lo:b].sum(-1)
            m = res.metrics(rets, equity[:, lo:b], start, value, n_trades, self.annualization())
            m["return_pct"] = (equity[:, b - 1] / start - 1.0) * 100.0
            out.append(m)
        return out

    def train_cut(self, n: int) -> int | None:
        """The first test bar of a train/test split (``split.train`` a fraction or a bar
        count) of a symbol with n bars; None without one (or with a walk-forward)."""
        split = self.config.get("split") or {}
        if "train" not in split or "test" in split:
            return None
        train = float(split["train"])
        return int(train * n) if train < 1 else int(split["train"])

    def point_stats(self) -> pl.DataFrame:
        """The summary's rows before the one grid-level column: per (point, symbol) the
        metrics and the deflated Sharpe ratio's inputs (:data:`results.DEFLATED_INPUTS`).
        :func:`~qtgjax.backtest.results.with_deflated_sharpe` turns them (of the whole
        grid, e.g. every chunk of a sweep) into :meth:`summary`."""
        s, arr = self.setup, self._arrays()
        points = res.point_frame(s.points, s.grid_keys, s.first_point)
        whole = self._metrics()
        frames = []
        for g, name in enumerate(self.group_names()):
            n, cols = self.lengths()[g], self.columns_of(g)
            m = dict(whole[g])
            inputs = {k: m.pop(k) for k in res.DEFLATED_INPUTS}
            data = {"symbol": [name] * len(cols), **m, "final_equity": arr["equity"][cols, n - 1]}
            frame = pl.concat([points, pl.DataFrame(data)], how="horizontal")
            cut = self.train_cut(n)
            if cut is not None:
                for label, (lo, hi) in (("train", (0, cut)), ("test", (cut, None))):
                    part = self._metrics(lo, hi)[g]
                    frame = frame.with_columns(
                        pl.Series(f"{k}_{label}", part[k])
                        for k in ("return_pct", "sharpe", "sortino", "max_drawdown")
                    )
            frames.append(frame.with_columns(pl.Series(k, v) for k, v in inputs.items()))
        return pl.concat(frames)

    def summary(self) -> pl.DataFrame:
        """One row per (point, symbol): the grid values, return, Sharpe, Sortino, max
        drawdown, turnover, trades, deflated Sharpe over the grid, final equity; with a
        ``split``, the same metrics on the train and test bars."""
        return res.with_deflated_sharpe(self.point_stats())

    def folds(self) -> pl.DataFrame | None:
        """With ``split: {train: N, test: M}``: one row per (symbol, fold, point): the
        fold's bars, the point's train and test Sharpe and its test return (no rows where
        the data are shorter than N + M bars); None without a walk-forward split."""
        split = self.config.get("split") or {}
        if "test" not in split:
            return None
        n_train, n_test = int(split["train"]), int(split["test"])
        lengths, names = self.lengths(), self.group_names()
        point = np.arange(len(self.setup.points), dtype=np.int64) + self.setup.first_point
        columns = {k: [] for k in ("symbol", "fold", "train_start", "test_start", "test_end",
                                   "point", *res.FOLD_COLUMNS)}
        windows = list(range(0, int(lengths.max()) - n_train - n_test + 1, n_test))
        metrics = [(self._metrics(a, a + n_train), self._metrics(a + n_train, a + n_train
                                                                 + n_test)) for a in windows]
        for g, n in enumerate(lengths):  # symbol-major, then fold, then point
            for fold, (start, (train, test)) in enumerate(zip(windows, metrics, strict=True)):
                if start + n_train + n_test > n:
                    break
                values = {"symbol": names[g], "fold": fold, "train_start": start,
                          "test_start": start + n_train, "test_end": start + n_train + n_test}
                for k, v in values.items():
                    columns[k] += [v] * len(point)
                columns["point"] += point.tolist()
                columns["train_sharpe"] += train[g]["sharpe"].tolist()
                columns["test_sharpe"] += test[g]["sharpe"].tolist()
                columns["test_return_pct"] += test[g]["return_pct"].tolist()
        schema = {"symbol": pl.String, **dict.fromkeys(
            ("fold", "train_start", "test_start", "test_end", "point"), pl.Int64),
            **dict.fromkeys(res.FOLD_COLUMNS, pl.Float64)}
        return pl.DataFrame(columns, schema=schema)

    def walk_forward(self) -> pl.DataFrame | None:
        """With ``split: {train: N, test: M}``: per fold and symbol, the point with the best
        train Sharpe and its metrics on the following M bars (out of sample)."""
        s = self.setup
        return res.walk_forward_table(self.folds(), res.point_frame(s.points, s.grid_keys,
                                                                      s.first_point))

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
    return run_setup(cfg, make_setup(cfg, bars))


def run_setup(cfg: Mapping, setup: Setup, plan: ChunkPlan | None = None) -> BacktestResult:
    """Run every column of a validated setup; ``plan`` (default: from ``chunk_size`` and
    ``memory_mb``, or the free memory) says how many columns one compiled call runs.
    Column c (point-major, numbered from ``setup.first_point``) gets the key
    fold_in(key(seed), c), so a slice of the points runs exactly as it does in the whole."""
    n = int(setup.columns.group.shape[0])
    full = cfg.get("record", "trades") != "summary"
    if plan is None:
        memory = cfg.get("memory_mb")
        plan = plan_columns(setup.family, setup.spec, setup.columns, setup.market,
                            chunk=cfg.get("chunk_size"), full=full,
                            budget_bytes=None if memory is None else int(memory) * 2**20)
    log.info(plan.describe().replace("scenarios", "columns"))
    keys = scenario_keys(int(cfg.get("seed", 0)), n, first=setup.first_point * len(setup.groups))
    started = time.perf_counter()
    _, records = run_chunked(setup.family, setup.spec, setup.columns, keys, setup.market, plan,
                             full)
    return BacktestResult(cfg, setup, records, time.perf_counter() - started)


__all__ = ["BacktestResult", "ConfigError", "backtest", "compose_backtest", "run_setup"]
