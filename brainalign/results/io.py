"""Result files: written atomically as CSV and Parquet, read back with their types."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from brainalign._io import atomic_path, raise_if_disk_full
from brainalign.results.schema import RESULT_COLUMNS, make_results

__all__ = [
    "RESULT_FILES",
    "find_results_file",
    "read_results",
    "write_results",
    "write_results_csv",
    "write_results_parquet",
]

RESULT_FILES = ("results.parquet", "results.csv")
"""Result files of a run folder, in the order they are looked for."""

_NULLABLE_INTEGERS = ("layer", "head", "session")


def _write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(temp)``, then rename the temp file onto ``path``; a full disk named."""
    path = Path(path)
    try:
        with atomic_path(path) as temp:
            write(temp)
    except OSError as error:
        raise_if_disk_full(error, path, "results file")
        raise
    return path


def write_results_csv(results: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a result table to CSV atomically (temp file, then rename).

    Raises
    ------
    brainalign._io.DiskFullError
        When the disk is full (the file is left as it was, no temporary file remains).
    """
    return _write_atomically(path, lambda temp: results.to_csv(temp, index=False))


def write_results_parquet(results: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a result table to Parquet atomically (temp file, then rename).

    Parquet keeps the column types (the nullable integers ``layer`` and ``head``,
    floats, strings), which a CSV round trip loses.

    Raises
    ------
    brainalign._io.DiskFullError
        When the disk is full (the file is left as it was, no temporary file remains).
    """
    return _write_atomically(
        path, lambda temp: results.to_parquet(temp, index=False, engine="pyarrow")
    )


def write_results(results: pd.DataFrame, folder: str | os.PathLike) -> Path:
    """Write ``results.parquet`` and ``results.csv`` into ``folder`` (each atomically).

    Returns
    -------
    pathlib.Path
        The CSV path.
    """
    folder = Path(folder)
    write_results_parquet(results, folder / "results.parquet")
    return write_results_csv(results, folder / "results.csv")


def find_results_file(results_dir: str | os.PathLike) -> Path:
    """The results file of a run folder: ``results.parquet``, else ``results.csv``.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, is not a folder, or holds neither file.
    """
    folder = Path(results_dir)
    if not folder.exists():
        raise FileNotFoundError(
            f"results folder {str(folder)!r} does not exist; give the --out folder of "
            "brainalign score"
        )
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder; give a results folder")
    for name in RESULT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no {' or '.join(RESULT_FILES)} in {str(folder)!r}; run brainalign score --out "
        f"{folder} first"
    )


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results file (Parquet or CSV), check it and type it.

    Parameters
    ----------
    path : path-like
        ``.parquet`` or ``.csv`` as written by ``brainalign score``, or a run folder.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, n_columns)
        Typed by :func:`brainalign.results.make_results` (``normalized_score`` and
        ``ceiling_flag`` derived again from ``score`` and ``ceiling``).

    Raises
    ------
    ValueError
        If the file cannot be read, lacks standard columns (all missing ones named) or
        has no rows.
    """
    path = Path(path)
    if path.is_dir() or path.suffix not in (".csv", ".parquet"):
        path = find_results_file(path)
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read results file {str(path)!r}: {error}") from error
    derived = ("head", "normalized_score", "ceiling_flag", "features_flag")
    missing = [c for c in RESULT_COLUMNS if c not in table.columns and c not in derived]
    if missing:
        raise ValueError(
            f"results file {str(path)!r} lacks column(s) {missing}; it has "
            f"{list(table.columns)} (see brainalign.results.RESULT_COLUMNS; files written "
            "before this schema must be computed again)"
        )
    if table.empty:
        raise ValueError(f"results file {str(path)!r} has no rows: nothing to report")
    for column in _NULLABLE_INTEGERS:
        if column in table.columns and pd.api.types.is_float_dtype(table[column]):
            table[column] = table[column].astype("Int64")  # CSV: integers with NaN are floats
    return make_results(table)
