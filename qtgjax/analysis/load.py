"""Open a results folder of ``qtgjax-sweep`` or ``qtgjax-run`` as lazy Polars frames.

A sweep folder holds hive-partitioned tables (``DIR/ticks/chunk=C/part-0.parquet``, ...)
and ``study.yaml``; a run folder holds ``ticks.parquet``, ``agents.parquet`` and
``positions.parquet``. Both read the same way here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import yaml

from qtgjax.io.runfolder import incomplete_run
from qtgjax.io.strict_yaml import DuplicateKeyError, load_yaml

TABLES = ("ticks", "agents", "positions", "summary")
DONE = "_done"  # a study's chunk completion records (qtgjax.sweep.store)


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
    """Open a sweep folder (with ``study.yaml``) or a ``qtgjax-run`` folder.

    Raises:
        ResultsError: naming the folder or file: no results, an unreadable manifest, a
            study with chunks still missing, a run killed while writing, or a Parquet file
            whose footer cannot be read (truncated or not Parquet).
    """
    root = Path(root)
    manifest_path = root / "study.yaml"
    if manifest_path.is_file():
        manifest = _read_manifest(manifest_path)
        _check_study_complete(root, manifest)
        check_parquet_files(sorted(root.glob("*/chunk=*/*.parquet")))
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
        if incomplete_run(root):
            raise ResultsError(
                f"{root}: a run started writing here and did not finish (killed?); run it "
                "again before reading its results"
            )
        check_parquet_files(sorted(root.glob("*.parquet")))
        families = scan_table(root, "agents").select("family").unique(maintain_order=True)
        return Study(
            root=root,
            kind="run",
            name=root.name,
            families=tuple(families.collect()["family"]),
        )
    if not root.exists():
        raise ResultsError(f"{root}: no such folder")
    if not root.is_dir():
        raise ResultsError(f"{root}: not a folder (give the results folder)")
    raise ResultsError(f"{root}: neither a sweep folder (study.yaml) nor a run (ticks.parquet)")


def _read_manifest(path: Path) -> dict:
    try:
        manifest = load_yaml(path.read_text(), path)
    except (yaml.YAMLError, DuplicateKeyError) as err:
        first = str(err).splitlines()[0]
        raise ResultsError(f"{path}: not a readable study manifest: {first}") from None
    if not isinstance(manifest, dict):
        raise ResultsError(f"{path}: not a study manifest (expected a mapping)")
    return manifest


def _check_study_complete(root: Path, manifest: dict) -> None:
    """Every chunk of a study has its completion record (studies written before the records
    existed have no ``_done`` folder and are not checked)."""
    n = manifest.get("chunks")
    if not (root / DONE).is_dir() or not isinstance(n, int):
        return
    missing = [c for c in range(n) if not (root / DONE / f"chunk={c}.json").is_file()]
    if missing:
        raise ResultsError(
            f"{root}: the study is not finished: {len(missing)} of {n} chunks are missing "
            f"(chunk {missing[0]} first); run the same qtgjax-sweep again to finish it"
        )


def check_parquet_files(paths) -> None:
    """Read each file's Parquet footer; a truncated or foreign file raises ResultsError
    naming it."""
    for path in paths:
        try:
            pq.read_metadata(path)
        except Exception as err:  # pyarrow's ArrowInvalid, OSError, ...
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ResultsError(f"{path}: not a readable Parquet file ({first})") from None


def unreadable_file(root: str | Path) -> tuple[Path, str] | None:
    """The first Parquet file under ``root`` that does not read whole, and why (None when
    all do): for naming the file after a read of many failed."""
    for path in sorted(Path(root).rglob("*.parquet")):
        try:
            pl.read_parquet(path)
        except Exception as err:  # any decoding failure
            return path, (str(err).splitlines()[0] if str(err) else type(err).__name__)
    return None
