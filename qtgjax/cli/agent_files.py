"""Agent config files given by path: ``+agents@families.NAME=path/to/file.yaml``.

Hydra picks a config group option by name from its search path, so a file path is made
into one: the file is linked into a private folder as ``agents/_file_<hash>.yaml`` and that
folder joins ``hydra.searchpath``. The family then composes exactly as a file of
``conf/agents/`` would (``qtgjax-evolve`` writes such files for its best candidates).
"""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from qtgjax.paths import searchpath_override

FILE_OVERRIDE = re.compile(r"^(\+{0,2}agents@[A-Za-z_][\w.]*)=(.+\.ya?ml)$")


def agent_file_overrides(args: Sequence[str]) -> list[str]:
    """``args`` with every ``[+]agents@PKG=FILE.yaml`` naming an existing file rewritten
    to a group option on an added search path (other arguments are kept as they are)."""
    out, folder = [], None
    for arg in args:
        match = FILE_OVERRIDE.match(arg)
        path = Path(match.group(2)).expanduser() if match else None
        if path is None or not path.is_file():
            out.append(arg)
            continue
        if folder is None:
            folder = Path(tempfile.mkdtemp(prefix="qtgjax-agents-"))
            (folder / "agents").mkdir()
            atexit.register(shutil.rmtree, folder, True)
        resolved = path.resolve()
        option = "_file_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        shutil.copyfile(resolved, folder / "agents" / f"{option}.yaml")
        out.append(f"{match.group(1)}={option}")
    return out + searchpath_override([folder] if folder is not None else [])


def hydra_args(args: Sequence[str], prog: str = "qtgjax") -> list[str]:
    """What every Hydra entry point does to its arguments first: agent files made into
    group options, the user's config folders (``QTGJAX_CONFIG_PATH``) on the search path,
    plugin families' default configs offered as ``agents`` options. A broken plugin or
    config folder ends the program with one line naming it (exit 2)."""
    import sys

    from qtgjax.plugins import PluginError, store_family_configs

    try:
        store_family_configs()
        if any(a.startswith("hydra.searchpath=") for a in args):
            return list(args)
        return agent_file_overrides(args)
    except (PluginError, NotADirectoryError) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        sys.exit(2)
