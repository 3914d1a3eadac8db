"""Per-level depth (``depth.parquet``) as images: resting lots per price level over time.

Used by the report's depth heatmap (:func:`qtgjax.analysis.figures.depth_levels`) and by
``qtgjax-dash``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

MAX_COLUMNS = 800  # most tick columns of a heatmap image (records are binned beyond)


def tick_size_of(folder: str | Path) -> float:
    """``market.tick_size`` of a results folder's ``config.yaml`` (1.0 when there is none)."""
    path = Path(folder) / "config.yaml"
    if not path.is_file():
        return 1.0
    cfg = yaml.safe_load(path.read_text()) or {}
    return float((cfg.get("market") or {}).get("tick_size", 1.0))


@dataclass(frozen=True)
class Heatmap:
    """Resting lots per price level over time of one book, as two images (bids, asks).

    Attributes:
        bids, asks: float64[n_prices, n_columns] lots (0 where none), row 0 = lowest price.
        price0: price of row 0 (currency); rows are one tick apart.
        tick0: first tick; column j covers ticks [tick0 + j * width, tick0 + (j+1) * width).
        width: ticks per column (a multiple of the record interval).
        tick_size: currency per row.
        ticks: int64[n_columns] the first recorded tick of each column.
    """

    bids: np.ndarray
    asks: np.ndarray
    price0: float
    tick0: int
    width: int
    tick_size: float
    ticks: np.ndarray


def depth_heatmap(depth: pl.DataFrame, tick_size: float, max_columns: int = MAX_COLUMNS):
    """:class:`Heatmap` of ``depth.parquet`` rows of one (scenario, symbol); records are
    binned into at most ``max_columns`` columns (mean lots over the records of a column)."""
    if depth.height == 0:
        return None
    recorded = depth["tick"].unique().sort().to_numpy()
    every = int(np.min(np.diff(recorded))) if recorded.size > 1 else 1
    per_column = max(1, -(-recorded.size // max_columns))
    width = every * per_column
    tick0 = int(recorded[0])
    level = np.rint(depth["price"].to_numpy() / tick_size).astype(np.int64)
    low, high = int(level.min()), int(level.max())
    column = (depth["tick"].to_numpy() - tick0) // width
    n_columns = int(column.max()) + 1
    images = {}
    for side in ("bid", "ask"):
        grid = np.zeros((high - low + 1, n_columns))
        mask = (depth["side"] == side).to_numpy()
        np.add.at(grid, (level[mask] - low, column[mask]), depth["lots"].to_numpy()[mask])
        grid /= per_column
        images[side] = grid
    ticks = tick0 + np.arange(n_columns) * width
    return Heatmap(images["bid"], images["ask"], low * tick_size, tick0, width, tick_size, ticks)
