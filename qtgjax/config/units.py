"""Units in configs: memory sizes such as ``2GiB`` or ``500MB``."""

from __future__ import annotations

import re

MEMORY_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
MEMORY_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_memory(value, where: str) -> int:
    """Bytes from ``2GiB``, ``500MB`` or a positive number of bytes.

    Raises:
        ValueError: ``WHERE: VALUE is not a memory size such as 2GiB or 500MB``.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(value))
    unit = match.group(2).upper() if match else None
    if isinstance(value, bool) or not match or unit not in MEMORY_UNITS:
        raise ValueError(f"{where}: {value!r} is not a memory size such as 2GiB or 500MB")
    size = int(float(match.group(1)) * MEMORY_UNITS[unit])
    if size < 1:
        raise ValueError(f"{where}: {value!r} is not a memory size such as 2GiB or 500MB")
    return size
