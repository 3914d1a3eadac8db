"""Where qtgjax's own configs are, and the user's config folders.

An installed wheel carries the configs as package data (``qtgjax/conf``, ``qtgjax/sweeps``,
copied from the repository's ``conf/`` and ``sweeps/`` when the wheel is built, see
``setup.py``) and reads them through :mod:`importlib.resources`; in the clone (an editable
install) the repository's ``conf/`` is read directly: it stays the one editable source.

A user's own config folders (e.g. ``agents/my_family.yaml``, a ``config.yaml`` of their
own) join Hydra's search path: ``--config-dir DIR`` on any Hydra entry point, or the
environment variable ``QTGJAX_CONFIG_PATH`` (folders separated by ``os.pathsep``), which
:func:`qtgjax.load_config` and every entry point read.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

CONFIG_PATH_ENV = "QTGJAX_CONFIG_PATH"


def data_root() -> Path:
    """The folder holding ``conf/`` and ``sweeps/``: the installed package's data, else the
    repository (editable install)."""
    packaged = importlib.resources.files("qtgjax")
    if (packaged / "conf" / "config.yaml").is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[1]
    if (repo / "conf" / "config.yaml").is_file():
        return repo
    raise FileNotFoundError(
        f"qtgjax's configs are missing: neither {packaged}/conf nor {repo}/conf holds "
        "config.yaml (a broken install: reinstall the wheel)"
    )


DATA_ROOT = data_root()
CONF_DIR = DATA_ROOT / "conf"


def user_config_dirs() -> list[Path]:
    """The folders of ``QTGJAX_CONFIG_PATH``, in order; a folder that does not exist is
    refused with its name (a typo would otherwise silently find nothing)."""
    raw = os.environ.get(CONFIG_PATH_ENV, "")
    dirs = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    for d in dirs:
        if not d.is_dir():
            raise NotADirectoryError(f"{CONFIG_PATH_ENV}: {d} is not a folder")
    return [d.resolve() for d in dirs]


def searchpath_override(extra: list[Path] | tuple[Path, ...] = ()) -> list[str]:
    """The one ``hydra.searchpath=[...]`` override for the user's folders plus ``extra``
    (none when both are empty)."""
    dirs = [*user_config_dirs(), *extra]
    if not dirs:
        return []
    return ["hydra.searchpath=[" + ",".join(f"file://{d}" for d in dirs) + "]"]
