"""YAML that refuses a key given twice in one mapping.

PyYAML keeps the last of two equal keys without a word, so a sweep file that names one axis
twice would silently run only its last list. Hydra's configs are read by OmegaConf, which
already refuses duplicates; the files qtgjax reads itself (sweep files, ``study.yaml``) go
through :func:`load_yaml`.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class DuplicateKeyError(ValueError):
    """A mapping holds the same key twice; the message names the file, line and key."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader whose mappings refuse repeated keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict = {}
    for key_node, _ in node.value:  # the mapping's own keys ("<<" merges may be overridden)
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let SafeLoader say so
            break
        if first is not None:
            raise DuplicateKeyError(
                f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                f"(first given on line {first})"
            )
        seen[key] = key_node.start_mark.line + 1
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str | Path = "<string>"):
    """Parse YAML like ``yaml.safe_load``, refusing a key repeated in one mapping.

    Raises:
        DuplicateKeyError: ``SOURCE: line N: duplicate key 'K' (first given on line M)``.
        yaml.YAMLError: malformed YAML.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except DuplicateKeyError as err:
        raise DuplicateKeyError(f"{source}: {err}") from None


def read_yaml(path: str | Path):
    """:func:`load_yaml` of a file."""
    path = Path(path)
    return load_yaml(path.read_text(), path)
