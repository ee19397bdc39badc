"""Reader for Praat TextGrid files (long and short text formats, UTF-8 or UTF-16)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # a string; Praat doubles quotes inside
    r"|\[\d*\]"  # an index label such as ``item [1]``: skipped
    r"|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"  # a number
    r"|<(exists|absent)>"
)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tokens(text: str) -> list[str | float]:
    """Values of a Praat text file in order; labels (``xmin =``) are skipped.

    Long and short TextGrid formats hold the same values in the same order, so one
    token stream reads both.
    """
    values: list[str | float] = []
    for match in _TOKEN.finditer(text):
        string, number, flag = match.groups()
        if string is None and number is None and flag is None:
            continue
        if string is not None:
            values.append(string.replace('""', '"'))
        elif number is not None:
            values.append(float(number))
        else:
            values.append(flag)
    return values


def read_textgrid(path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read the interval tiers of a Praat TextGrid.

    Parameters
    ----------
    path : str or path-like
        A ``.TextGrid`` file in Praat's long or short text format.

    Returns
    -------
    dict of str to pandas.DataFrame
        One table per interval tier, keyed by tier name, with columns ``onset`` and
        ``offset`` (seconds, on the TextGrid's clock) and ``text`` (label as written).
        Point tiers are skipped.

    Raises
    ------
    ValueError
        If the file is not a TextGrid or is truncated.
    """
    path = Path(path)
    values = _tokens(_read_text(path))
    if values[:2] != ["ooTextFile", "TextGrid"]:
        raise ValueError(f"{path}: not a Praat TextGrid text file (header {values[:2]!r})")
    try:
        position = 2 + 2  # header, then the grid's xmin and xmax
        if values[position] != "exists":
            return {}
        n_tiers = int(values[position + 1])
        position += 2
        tiers: dict[str, pd.DataFrame] = {}
        for _ in range(n_tiers):
            tier_class, name = values[position], values[position + 1]
            n_items = int(values[position + 4])
            position += 5
            width = 3 if tier_class == "IntervalTier" else 2
            items = values[position : position + width * n_items]
            if len(items) != width * n_items:
                raise IndexError
            position += width * n_items
            if tier_class == "IntervalTier":
                tiers[str(name)] = pd.DataFrame(
                    {
                        "onset": [float(v) for v in items[0::3]],
                        "offset": [float(v) for v in items[1::3]],
                        "text": [str(v) for v in items[2::3]],
                    }
                )
    except (IndexError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: TextGrid is truncated or malformed ({error!r})") from error
    return tiers
