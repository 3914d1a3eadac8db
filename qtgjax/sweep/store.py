"""The study folder: hive-partitioned tables, the manifest, a lock, and which chunks are done.

Layout (``DIR`` is the study folder)::

    DIR/study.yaml                              manifest: sweep, swept columns, fingerprint
    DIR/config.yaml                             resolved base config of every point
    DIR/ticks/chunk=C/part-0.parquet            one file per chunk and table
    DIR/agents/chunk=C/part-0.parquet
    DIR/positions/chunk=C/part-0.parquet
    DIR/summary/chunk=C/part-0.parquet
    DIR/_done/chunk=C.json                      written last: the chunk's completion record

Every file is written atomically. A chunk is done when its completion record exists and
each of its four files still is the file the record describes (size, sha256 and row count,
read back from the file's footer when it was written). On resume every done chunk is
verified and a chunk whose file was truncated, garbled or removed is run again; a chunk
with all four files but no record (written by an older qtgjax, or killed between its last
file and its record) is adopted only when every file reads whole and holds exactly the
chunk's scenarios. A study is reported finished only when every chunk verifies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from qtgjax.io.atomic import TMP_PREFIX, write_text
from qtgjax.io.runfolder import FolderBusy, FolderLock, file_digest
from qtgjax.io.strict_yaml import DuplicateKeyError, load_yaml

TABLES = ("ticks", "agents", "positions", "summary")
MANIFEST = "study.yaml"
DONE = "_done"  # leading underscore: ignored by Parquet dataset readers
PART = "part-0.parquet"


class StudyError(RuntimeError):
    """The study folder cannot be used (another study, or a sweep already running there)."""


def chunk_file(root: str | Path, table: str, index: int) -> Path:
    """Path of one chunk's file of one table."""
    return Path(root) / table / f"chunk={index}" / PART


def record_file(root: str | Path, index: int) -> Path:
    """Path of one chunk's completion record."""
    return Path(root) / DONE / f"chunk={index}.json"


def footer_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer (raises on a truncated or foreign file)."""
    return pq.ParquetFile(path).metadata.num_rows


def write_record(root: str | Path, index: int, rows: Mapping[str, int],
                 tables: Sequence[str] = TABLES) -> Path:
    """Record a chunk as done, once its files of every table are written (``tables``: those
    of the study's kind, :mod:`qtgjax.sweep.kinds`; the simulation's four by default): each
    file is read back (footer row count) and its size and sha256 are kept for verification
    on resume."""
    files = {}
    for table in tables:
        path = chunk_file(root, table, index)
        read = footer_rows(path)
        if read != rows[table]:
            raise StudyError(f"{path}: reads {read} rows back, {rows[table]} were written")
        files[table] = {"bytes": path.stat().st_size, "sha256": file_digest(path), "rows": read}
    text = json.dumps({"chunk": index, "files": files}, indent=1)
    return write_text(text, record_file(root, index))


def read_record(root: str | Path, index: int) -> dict | None:
    try:
        record = json.loads(record_file(root, index).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def verify_chunk(root: str | Path, index: int, full: bool = True,
                 tables: Sequence[str] = TABLES) -> str | None:
    """Why chunk ``index`` is not done (None when it is): its record is missing, or a file
    differs from it. ``full`` compares sha256 digests (every byte); otherwise sizes and
    footer row counts."""
    record = read_record(root, index)
    if record is None:
        return f"{record_file(root, index)}: no completion record"
    for table in tables:
        path = chunk_file(root, table, index)
        want = record["files"].get(table) or {}
        if not path.is_file():
            return f"{path}: missing"
        size = path.stat().st_size
        if size != want.get("bytes"):
            return f"{path}: {size} bytes, but {want.get('bytes')} were written"
        if full:
            if file_digest(path) != want.get("sha256"):
                return f"{path}: its bytes changed since it was written (sha256 differs)"
        else:
            try:
                rows = footer_rows(path)
            except Exception as err:  # pyarrow's errors on a broken footer
                return f"{path}: unreadable ({str(err).splitlines()[0]})"
            if rows != want.get("rows"):
                return f"{path}: {rows} rows, but {want.get('rows')} were written"
    return None


def adopt_chunk(root: str | Path, index: int, scenarios: Sequence[int]) -> bool:
    """A chunk with all four files but no record: read every file whole; when each holds
    exactly ``scenarios``, write its record and return True."""
    import polars as pl

    paths = [chunk_file(root, t, index) for t in TABLES]
    if not all(p.is_file() for p in paths):
        return False
    rows = {}
    try:
        for table, path in zip(TABLES, paths, strict=True):
            df = pl.read_parquet(path)
            if sorted(df["scenario"].unique().to_list()) != sorted(scenarios):
                return False
            rows[table] = df.height
    except Exception:  # any decoding failure: not a whole chunk
        return False
    write_record(root, index, rows)
    return True


def check_chunks(
    root: str | Path,
    chunks: Iterable[tuple[int, Sequence[int]]],
    echo: Callable[[str], None] = print,
    full: bool = True,
    shown: int = 10,
    tables: Sequence[str] = TABLES,
) -> set[int]:
    """The chunks among ``(index, scenario ids)`` that are done; every other chunk's record
    is removed and, when it had a record or files, ``echo`` says why it runs again (the
    first ``shown`` of them, then how many more)."""
    done, broken = set(), []
    for index, scenarios in chunks:
        problem = verify_chunk(root, index, full, tables)
        if problem is None:
            done.add(index)
            continue
        had_record = read_record(root, index) is not None
        has_files = any(chunk_file(root, t, index).exists() for t in tables)
        # a chunk of an older simulation study, written before completion records existed
        adoptable = tuple(tables) == TABLES and not had_record and has_files
        if adoptable and adopt_chunk(root, index, scenarios):
            done.add(index)
            continue
        record_file(root, index).unlink(missing_ok=True)
        if had_record or has_files:
            broken.append(f"qtgjax-sweep: chunk {index} is not whole ({problem}); running it again")
    for line in broken[:shown]:
        echo(line)
    if len(broken) > shown:
        echo(f"qtgjax-sweep: ... and {len(broken) - shown} more chunks that are not whole")
    return done


def remove_temp_files(root: str | Path, tables: Sequence[str] = TABLES) -> int:
    """Delete temp files that killed writers left in the table folders; returns how many."""
    removed = 0
    root = Path(root)
    patterns = [f"{t}/chunk=*/{TMP_PREFIX}*" for t in tables] + [f"{DONE}/{TMP_PREFIX}*"]
    for pattern in patterns:
        for tmp in root.glob(pattern):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def read_manifest(root: str | Path) -> dict | None:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = load_yaml(path.read_text(), path)
    except (yaml.YAMLError, DuplicateKeyError) as err:
        first = str(err).splitlines()[0]
        raise StudyError(f"{path}: not a readable study manifest: {first}") from None
    if not isinstance(manifest, dict):
        raise StudyError(f"{path}: not a study manifest (expected a mapping)")
    return manifest


def check_manifest(root: str | Path, fingerprint: str, name: str,
                   tables: Sequence[str] = TABLES) -> bool:
    """True when ``root`` already holds this study (resume), False when it holds none.

    Raises StudyError when it holds a different study or files of no study (table folders,
    or a ``config.yaml`` the sweep would overwrite).
    """
    root = Path(root)
    existing = read_manifest(root)
    if existing is None:
        if any((root / t).exists() for t in tables):
            raise StudyError(f"{root}: holds table folders but no {MANIFEST}; choose another out=")
        if (root / "config.yaml").exists():
            raise StudyError(
                f"{root / 'config.yaml'}: exists and is not a study's; the sweep would overwrite "
                "it: choose another out= or move the file away"
            )
        return False
    if existing.get("fingerprint") != fingerprint:
        raise StudyError(
            f"{root}: holds study {existing.get('name')!r} with other scenarios or chunking "
            f"(fingerprint {str(existing.get('fingerprint'))[:12]}, this one {fingerprint[:12]}); "
            f"to run {name!r} choose another out= or delete the folder"
        )
    return True


class StudyLock(FolderLock):
    """An exclusive ``flock`` on ``DIR/.lock`` while a sweep runs (released even on SIGKILL;
    skipped on file systems that do not support flock); shared with ``qtgjax-run``'s folder
    lock, so neither writes into a folder the other is writing."""

    def __init__(self, root: str | Path):
        super().__init__(root, "qtgjax-sweep")

    def __enter__(self) -> StudyLock:
        try:
            super().__enter__()
        except FolderBusy as err:
            raise StudyError(str(err)) from None
        return self
