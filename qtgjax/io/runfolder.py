"""Output folders that nothing else writes into at the same time, and that keep what is not
theirs.

* :class:`FolderLock`: an exclusive ``flock`` on ``DIR/.lock`` while a ``qtgjax-run``,
  ``qtgjax-train`` or ``qtgjax-sweep`` writes into ``DIR`` (released even on SIGKILL; skipped
  on file systems without flock). A second writer fails at once, naming the holder.
* :class:`RunFolder`: a run's result files are recorded in ``DIR/.qtgjax-run.json`` (size,
  modification time and sha256 of each, and whether the run finished writing). A later run
  replaces files that an earlier run wrote and nobody changed since; any other file it would
  overwrite (the user's own ``config.yaml``, a table edited by hand) is refused unless the
  run is given ``overwrite=true``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from qtgjax.io.atomic import TMP_PREFIX, write_text

LOCK = ".lock"
MARKER = ".qtgjax-run.json"


class FolderBusy(RuntimeError):
    """Another process is writing into the folder."""


class FolderError(ValueError):
    """The folder holds files that the run would overwrite but did not write."""


class FolderLock:
    """An exclusive ``flock`` on ``DIR/.lock``; the holder's name and pid are written into
    the lock file so that a refused writer can say who holds it."""

    def __init__(self, root: str | Path, holder: str):
        self.root = Path(root)
        self.path = self.root / LOCK
        self.holder = holder
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(self.root))
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderBusy(
                f"{self.root}: {holder} is writing there; wait for it to finish or choose "
                "another out="
            ) from err
        except OSError:  # a file system without flock (some cluster mounts): run unlocked
            os.close(fd)
            return self
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.holder} (pid {os.getpid()} on {socket.gethostname()})".encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: str | Path) -> dict:
    """What a run remembers of a file it wrote: size, mtime and sha256."""
    stat = os.stat(path)
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_digest(path)}


def unchanged(path: Path, record: dict | None) -> bool:
    """Is ``path`` still the file described by ``record`` (size and mtime)?"""
    if not record or not path.is_file():
        return False
    stat = path.stat()
    return stat.st_size == record.get("bytes") and stat.st_mtime_ns == record.get("mtime_ns")


def read_marker(root: str | Path) -> dict | None:
    """The folder's ``.qtgjax-run.json``, or None (no marker, or an unreadable one)."""
    path = Path(root) / MARKER
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("files"), dict) else None


class RunFolder:
    """Write a run's files into ``root``: locked, refusing foreign files, recorded.

    Use as a context manager around everything the run does (so that a second run into the
    same folder fails before it computes anything)::

        with RunFolder(out, ["ticks.parquet", "config.yaml"], overwrite=False) as folder:
            folder.write("ticks.parquet", lambda path: write_parquet(df, path))
            folder.finish()

    Args:
        root: the output folder (created).
        files: names of the files the run will write (checked on entry).
        overwrite: replace files the run did not write too.
        holder: the program, for the lock and the messages.
    """

    def __init__(
        self,
        root: str | Path,
        files: Iterable[str],
        overwrite: bool = False,
        holder: str = "qtgjax-run",
    ):
        self.root = Path(root)
        self.files = tuple(files)
        self.overwrite = bool(overwrite)
        self.holder = holder
        self.lock = FolderLock(self.root, holder)
        self.marker: dict = {"writer": holder, "complete": False, "files": {}}
        self.ours: set[str] = set()
        self.written: set[str] = set()

    def __enter__(self) -> RunFolder:
        self.lock.__enter__()
        try:
            self._check()
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.lock.__exit__(*exc)

    def _check(self) -> None:
        old = read_marker(self.root) or {"files": {}}
        self.ours = {n for n, r in old["files"].items() if unchanged(self.root / n, r)}
        for name in self.files:
            self._check_file(name)
        for tmp in self.root.glob(f"{TMP_PREFIX}*"):  # left by a killed writer of this folder
            if any(tmp.name.startswith(f"{TMP_PREFIX}{n}-") for n in (*self.files, MARKER)):
                tmp.unlink(missing_ok=True)
        self.marker["files"] = {n: old["files"][n] for n in self.ours}
        self.marker["complete"] = bool(old.get("complete")) and bool(self.ours)

    def _check_file(self, name: str) -> None:
        path = self.root / name
        if not self.overwrite and path.exists() and name not in self.ours:
            raise FolderError(
                f"{path}: exists and was not written by a qtgjax run (or was changed since); "
                "move it away, choose another out=, or pass overwrite=true"
            )

    def _save(self) -> None:
        self.marker["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:2000]
        write_text(json.dumps(self.marker, indent=1, sort_keys=True), self.root / MARKER)

    def write(self, name: str, writer: Callable[[Path], object]) -> Path:
        """Write one file with ``writer(path)`` (an atomic writer) and record it."""
        if name not in self.files:  # a table this version writes that was not declared
            self._check_file(name)
            self.files += (name,)
        path = self.root / name
        self.start()
        writer(path)
        self.record(name)
        return path

    def start(self) -> None:
        """Mark the folder as being written (readers refuse it until :meth:`finish`)."""
        if self.marker["complete"] or not (self.root / MARKER).exists():
            self.marker["complete"] = False
            self._save()

    def record(self, name: str) -> None:
        """Record a file the run has just written (by any means)."""
        self.marker["files"][name] = file_record(self.root / name)
        self.written.add(name)
        self._save()

    def finish(self) -> None:
        """Mark the folder's files as one finished run; files an earlier run wrote that this
        one did not (stale results of another version or config) are removed."""
        for name in set(self.marker["files"]) - self.written:
            (self.root / name).unlink(missing_ok=True)
            del self.marker["files"][name]
        self.marker["complete"] = True
        self._save()


def incomplete_run(root: str | Path) -> bool:
    """True when a run started writing ``root`` and did not finish (killed mid-write)."""
    marker = read_marker(root)
    return marker is not None and not marker.get("complete", False)
