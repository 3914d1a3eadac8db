"""Digests of result tables, for the single-venue equivalence test (tests/test_venues.py).

``tests/data/single_venue_digests.json`` holds the digests of the tables the engine wrote
without the venue machinery: at commit 1afc98c (the last engine without venues, with #13's
economics and P&L columns), by ``python tests/venue_helpers.py`` run in a checkout of that
commit. Columns added since (the ``venue`` key, ``news``) are left out of the comparison.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

DIGESTS = Path(__file__).parent / "data" / "single_venue_digests.json"
OVERRIDES = [
    "scenarios=2",
    "ticks=60",
    "seed=3",
    "market.symbols=2",
    "market.initial_price=[10000,5000]",
    "market.sectors=[0,0]",
    "families.noise.n_agents=200",
    "families.fundamental.n_agents=40",
    "families.momentum.n_agents=40",
    "families.market_maker.n_agents=6",
]
# Columns added since the digests were taken, left out: the venue key (#12) and the news
# column of ticks.parquet (#16); every other column the engine wrote before is compared.
ADDED_COLUMNS = ("venue", "news")


def table_digest(df: pl.DataFrame) -> str:
    """sha256 over every column's name, dtype, null mask and values, in row order."""
    h = hashlib.sha256()
    for name in df.columns:
        if name in ADDED_COLUMNS:
            continue
        s = df[name]
        h.update(f"{name}:{s.dtype}".encode())
        h.update(s.is_null().to_numpy().tobytes())
        if s.dtype == pl.Utf8:
            h.update("\0".join(s.fill_null("").to_list()).encode())
        else:
            h.update(np.ascontiguousarray(s.fill_null(0).to_numpy()).tobytes())
    return h.hexdigest()


def parquet_digests(folder: Path) -> dict[str, str]:
    """Digest of every ``*.parquet`` table in a run folder, by table name."""
    return {p.stem: table_digest(pl.read_parquet(p)) for p in sorted(folder.glob("*.parquet"))}


def run_digests(overrides=OVERRIDES) -> dict[str, str]:
    """Simulate the tiny config, write its Parquet tables, and digest them."""
    import qtgjax

    res = qtgjax.simulate(overrides=list(overrides))
    with tempfile.TemporaryDirectory() as tmp:
        res.write(Path(tmp) / "run")
        return parquet_digests(Path(tmp) / "run")


if __name__ == "__main__":
    digests = run_digests()
    DIGESTS.write_text(json.dumps({"overrides": OVERRIDES, "tables": digests}, indent=1) + "\n")
    json.dump(digests, sys.stdout, indent=1)
