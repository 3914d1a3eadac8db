"""Atomic writes: a temp file in the same folder, then ``os.replace``.

A killed writer leaves at most a ``.tmp-*`` file that no reader takes for a result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_parquet(df: pl.DataFrame, path: str | os.PathLike) -> Path:
    return write_atomic(path, lambda tmp: df.write_parquet(tmp, compression="zstd"))


def write_text(text: str, path: str | os.PathLike) -> Path:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    return write_atomic(path, write)
