"""Reading small YAML files strictly: each key's line, duplicates and unknown keys named.

Sweep configurations and study files share this: an error names the file, the line and
the key, and a misspelt key gets its close matches suggested.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class Place:
    """Names a place in a YAML file for error messages: the file and a key's line.

    Parameters
    ----------
    source : pathlib.Path or None
        The file (None for a mapping given in Python).
    lines : mapping of str to int
        Line (1-based) of each key; nested keys as ``"section.key"``.
    error : type of Exception
        The exception :meth:`error` builds.
    what : str
        What the file is, for messages without a file (``"sweep config"``).
    """

    def __init__(
        self,
        source: Path | None,
        lines: Mapping[str, int],
        error: type[Exception] = ValueError,
        what: str = "config",
    ) -> None:
        self.source = source
        self.lines = lines
        self.error_type = error
        self.what = what

    def error(self, key: str, message: str) -> Exception:
        """``<file>, line <n>: '<key>': <message>`` as the place's exception."""
        place = str(self.source) if self.source is not None else self.what
        line = self.lines.get(key)
        if line is not None:
            place += f", line {line}"
        return self.error_type(f"{place}: {key!r}: {message}")


def _mapping_lines(node: Any, where: Place, prefix: str = "") -> dict[str, int]:
    """Line (1-based) of each key of a YAML mapping node (one level of nesting:
    ``section.key``); duplicate keys are an error."""
    import yaml

    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        name = prefix + str(key_node.value)
        if name in lines:
            where.lines = {**where.lines, name: key_node.start_mark.line + 1}
            raise where.error(name, f"given twice (first on line {lines[name]})")
        lines[name] = key_node.start_mark.line + 1
        if not prefix and isinstance(value_node, yaml.MappingNode):
            lines.update(_mapping_lines(value_node, where, prefix=f"{name}."))
    return lines


def read_yaml_mapping(
    path: Path, *, error: type[Exception], what: str, example: str
) -> tuple[Any, dict[str, int]]:
    """The mapping of a YAML file and the line of each key.

    Parameters
    ----------
    path : pathlib.Path
    error : type of Exception
        Raised for an unreadable file, invalid YAML, a document that is not a mapping,
        or a duplicate key.
    what : str
        What the file is (``"sweep config"``).
    example : str
        Keys shown when the document is not a mapping (``"models:, benchmarks:, ..."``).

    Returns
    -------
    data : dict
    lines : dict of str to int
    """
    import yaml

    try:
        raw = path.read_bytes()
    except OSError as problem:
        raise error(f"cannot read {what} {str(path)!r}: {problem}") from problem
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = raw.count(b"\n", 0, problem.start) + 1
        column = problem.start - (raw.rfind(b"\n", 0, problem.start) + 1) + 1
        bad = raw[problem.start : problem.end]
        raise error(
            f"{path}, line {line}, column {column} (byte {problem.start}): byte "
            f"{bad.hex(' ', 1) if len(bad) > 1 else bad.hex()} is not UTF-8 "
            f"({problem.reason}); a {what} must be UTF-8 text: save it as UTF-8 (e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > fixed.yaml)"
        ) from problem
    if text.startswith("\ufeff"):  # a byte-order mark some editors write
        text = text[1:]
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML: {problem}") from problem
    if not isinstance(node, yaml.MappingNode):
        raise error(f"{path}: a {what} is a mapping of keys ({example}); got {type(data).__name__}")
    return data, _mapping_lines(node, Place(path, {}, error, what))


def check_keys(
    data: Mapping[str, Any], allowed: Sequence[str], where: Place, prefix: str = ""
) -> None:
    """Raise ``where.error`` for a key not in ``allowed``, suggesting close ones."""
    for key in data:
        if str(key) not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise where.error(
                prefix + str(key), f"unknown key; {hint}allowed: {', '.join(allowed)}"
            )
