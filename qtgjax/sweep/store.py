"""The study folder: hive-partitioned tables, the manifest, a lock, and which chunks are done.

Layout (``DIR`` is the study folder)::

    DIR/study.yaml                              manifest: sweep, swept columns, fingerprint
    DIR/config.yaml                             resolved base config of every point
    DIR/ticks/chunk=C/part-0.parquet            one file per chunk and table
    DIR/agents/chunk=C/part-0.parquet
    DIR/positions/chunk=C/part-0.parquet
    DIR/summary/chunk=C/part-0.parquet          written last: the chunk's completion mark

Every file is written atomically, so a chunk is done exactly when all four files exist.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

TABLES = ("ticks", "agents", "positions", "summary")  # summary last: the completion mark
MANIFEST = "study.yaml"
LOCK = ".lock"
PART = "part-0.parquet"


class StudyError(RuntimeError):
    """The study folder cannot be used (another study, or a sweep already running there)."""


def chunk_file(root: str | Path, table: str, index: int) -> Path:
    """Path of one chunk's file of one table."""
    return Path(root) / table / f"chunk={index}" / PART


def chunk_done(root: str | Path, index: int, tables: Sequence[str] = TABLES) -> bool:
    return all(chunk_file(root, t, index).is_file() for t in tables)


def done_chunks(root: str | Path, indices: Iterable[int], tables: Sequence[str] = TABLES
                ) -> set[int]:
    """The chunks among ``indices`` whose files of every table exist (``tables``: those
    of the study's kind, :mod:`qtgjax.sweep.kinds`; the simulation's four by default)."""
    return {i for i in indices if chunk_done(root, i, tables)}


def remove_temp_files(root: str | Path, tables: Sequence[str] = TABLES) -> int:
    """Delete temp files that killed writers left in the table folders; returns how many."""
    removed = 0
    for table in tables:
        folder = Path(root) / table
        if folder.is_dir():
            for tmp in folder.glob("chunk=*/.tmp-*"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def read_manifest(root: str | Path) -> dict | None:
    path = Path(root) / MANIFEST
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def check_manifest(root: str | Path, fingerprint: str, name: str,
                   tables: Sequence[str] = TABLES) -> bool:
    """True when ``root`` already holds this study (resume), False when it holds none.

    Raises StudyError when it holds a different study or files of no study.
    """
    root = Path(root)
    existing = read_manifest(root)
    if existing is None:
        if any((root / t).exists() for t in tables):
            raise StudyError(f"{root}: holds table folders but no {MANIFEST}; choose another out=")
        return False
    if existing.get("fingerprint") != fingerprint:
        raise StudyError(
            f"{root}: holds study {existing.get('name')!r} with other scenarios or chunking "
            f"(fingerprint {str(existing.get('fingerprint'))[:12]}, this one {fingerprint[:12]}); "
            f"to run {name!r} choose another out= or delete the folder"
        )
    return True


class StudyLock:
    """An exclusive ``flock`` on ``DIR/.lock`` while a sweep runs (released even on SIGKILL;
    skipped on file systems that do not support flock)."""

    def __init__(self, root: str | Path):
        self.path = Path(root) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            os.close(self.fd)
            self.fd = None
            raise StudyError(f"{self.path.parent}: another qtgjax-sweep is running there") from err
        except OSError:  # a file system without flock (some cluster mounts): run unlocked
            os.close(self.fd)
            self.fd = None
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
