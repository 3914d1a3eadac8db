"""Atomic writes: a temp file in the same folder, then ``os.replace``.

A killed writer leaves at most a ``.tmp-*`` file that no reader takes for a result. The
temp file is created with mode 0666 less the umask, as ``open`` creates files, so results
are readable by the group on a shared cluster (0644 or 0664, not ``mkstemp``'s 0600).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import polars as pl

TMP_PREFIX = ".tmp-"


def temp_path(path: Path) -> Path:
    """A new empty file next to ``path`` (mode 0666 & ~umask), for writing then renaming."""
    for _ in range(100):
        tmp = path.parent / f"{TMP_PREFIX}{path.name}-{secrets.token_hex(6)}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: could not create a temp file for {path.name}")


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_parquet(df: pl.DataFrame | pl.LazyFrame, path: str | os.PathLike) -> Path:
    """A DataFrame, or a LazyFrame streamed to disk without collecting it, as zstd Parquet."""
    if isinstance(df, pl.LazyFrame):
        return write_atomic(path, lambda tmp: df.sink_parquet(tmp, compression="zstd"))
    return write_atomic(path, lambda tmp: df.write_parquet(tmp, compression="zstd"))


def write_text(text: str, path: str | os.PathLike) -> Path:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    return write_atomic(path, write)
