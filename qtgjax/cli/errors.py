"""One-line errors for the entry points: bad input and I/O failures name the key or the path
and end the program with exit status 2, never with a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path


def user_errors() -> tuple[type[Exception], ...]:
    """What a user's input or a folder can get wrong: refused with one line, exit status 2
    (imported here so that ``qtgjax-report`` does not import JAX)."""
    from qtgjax.config.build import ConfigError
    from qtgjax.io.runfolder import FolderBusy, FolderError
    from qtgjax.sim.chunk import MemoryBudgetError

    return (ConfigError, MemoryBudgetError, FolderBusy, FolderError)


def os_error_line(err: OSError) -> str:
    """``PATH: REASON`` of an I/O failure (the path the system call named)."""
    path = err.filename if err.filename is not None else ""
    reason = err.strerror or str(err)
    if err.filename2 is not None:
        path = f"{path} -> {err.filename2}"
    return f"{path}: {reason}" if path else reason


def config_error_line(err: Exception) -> str:
    """The first line of an OmegaConf error, with the key it names (``full_key``)."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    key = getattr(err, "full_key", None)
    return f"{key}: {first}" if key else first


def fail(prog: str, message: str, status: int = 2) -> None:
    """Print ``PROG: MESSAGE`` on stderr and exit."""
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(status)


def out_value(argv: Sequence[str]) -> str | None:
    """The value of an ``out=`` (or ``+out=``/``++out=``) override among Hydra arguments."""
    value = None
    for arg in argv:
        key, sep, rest = arg.lstrip("+").partition("=")
        if sep and key == "out":
            value = rest.strip().strip("'\"")
    if value in (None, "", "null", "None"):
        return None
    return value


def check_out_arg(prog: str, argv: Sequence[str]) -> None:
    """Refuse, before Hydra creates it, an ``out=`` folder that cannot be created or
    written (Hydra would end in a traceback): one line naming the path, exit 2."""
    value = out_value(argv)
    multirun = "--multirun" in argv or "-m" in argv
    if value is None or "${" in value or (multirun and "," in value):
        return  # interpolations and sweeps over out are Hydra's to resolve
    path = Path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        fail(prog, f"out={value}: {path} exists and is not a folder")
    except OSError as err:
        fail(prog, f"out={value}: cannot create the folder: {os_error_line(err)}")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(prog, f"out={value}: {path}: the folder is not writable")
