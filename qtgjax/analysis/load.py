"""Open a results folder of ``qtgjax-sweep`` or ``qtgjax-run`` as lazy Polars frames.

A sweep folder holds hive-partitioned tables (``DIR/ticks/chunk=C/part-0.parquet``, ...)
and ``study.yaml``; a run folder holds ``ticks.parquet``, ``agents.parquet`` and
``positions.parquet``. Both read the same way here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

TABLES = ("ticks", "agents", "positions", "summary")


class ResultsError(FileNotFoundError):
    """The folder holds no qtgjax results."""


@dataclass(frozen=True)
class Study:
    """A results folder.

    Attributes:
        root: the folder.
        kind: ``sweep`` (hive-partitioned study) or ``run`` (one ``qtgjax-run`` folder).
        name: the study name (the folder name for a run).
        swept: swept column names, in sweep-file order (empty for a run).
        metrics: headline metric columns of the summary table (empty for a run).
        families: family names.
        manifest: the parsed ``study.yaml`` (empty for a run).
    """

    root: Path
    kind: str
    name: str
    swept: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    manifest: dict = field(default_factory=dict)

    def scan(self, table: str) -> pl.LazyFrame:
        """One table as a LazyFrame (for a sweep, every chunk, with the ``chunk`` column)."""
        return scan_table(self.root, table)

    def summary(self) -> pl.DataFrame:
        """The study's summary table: one row per scenario, ordered by scenario id."""
        if self.kind != "sweep":
            raise ResultsError(f"{self.root}: a qtgjax-run folder has no summary table")
        return self.scan("summary").sort("scenario").collect()


def scan_table(root: str | Path, table: str) -> pl.LazyFrame:
    """``pl.scan_parquet`` of a table of a sweep (hive) or run folder."""
    root = Path(root)
    folder = root / table
    if folder.is_dir():
        return pl.scan_parquet(folder, hive_partitioning=True)
    single = root / f"{table}.parquet"
    if single.is_file():
        return pl.scan_parquet(single)
    raise ResultsError(f"{root}: no {table} table ({folder}/ or {single.name})")


def open_study(root: str | Path) -> Study:
    """Open a sweep folder (with ``study.yaml``) or a ``qtgjax-run`` folder."""
    root = Path(root)
    manifest_path = root / "study.yaml"
    if manifest_path.is_file():
        manifest = yaml.safe_load(manifest_path.read_text())
        return Study(
            root=root,
            kind="sweep",
            name=str(manifest.get("name", root.name)),
            swept=tuple(manifest.get("swept") or ()),
            metrics=tuple(manifest.get("metrics") or ()),
            families=tuple(manifest.get("families") or ()),
            manifest=manifest,
        )
    if (root / "ticks.parquet").is_file():
        families = scan_table(root, "agents").select("family").unique(maintain_order=True)
        return Study(
            root=root,
            kind="run",
            name=root.name,
            families=tuple(families.collect()["family"]),
        )
    raise ResultsError(f"{root}: neither a sweep folder (study.yaml) nor a run (ticks.parquet)")
