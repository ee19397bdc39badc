"""Model properties: the model card columns and a user's own, joined onto model rows.

A result table's model rows carry **card columns** (:mod:`brainalign.encoders.cards`:
parameters, blocks, heads, width, family, objective, chat template, and each layer's
``relative_depth``), filled from the model itself. A user adds **their own properties**
(a benchmark accuracy, whether a model was instruction-tuned, a training-token count) as
a CSV file or a mapping:

- CSV: a ``model`` column (the model id exactly as in the results' ``model`` column),
  optionally ``weights`` (``pretrained`` or ``untrained``), then one column per property.
  Values ``true``/``false`` (any case) are booleans, numbers are numbers, anything else
  is text; an empty cell is a missing value;
- mapping: ``{model: {property: value, ...}, ...}`` (the ``properties:`` key of a sweep
  configuration, :mod:`brainalign.sweeps`).

:func:`attach_properties` joins them onto the model rows (never onto control rows):

- without a ``weights`` column a property describes the trained model and is set on its
  ``pretrained`` rows only (an untrained twin has no benchmark accuracy); with one, on
  the rows of those weights;
- a user property with the name of a card column (``has_chat_template``, ``n_parameters``,
  ...) or of a property attached before **overrides** it on the rows it names; the other
  rows keep their value;
- a property named like a standard result or summary column (``score``, ``layer``,
  ``median_score``, ``relative_depth``, ...) or like a column that varies within a
  model's rows (a benchmark's own per-row column) is refused, as is a model the results
  do not hold (:class:`PropertiesError`, naming it).

Properties never change scores, so they are not part of a run's fingerprint: a sweep
saves them next to its results (:data:`PROPERTIES_FILE`) and joins them into its
gathered table; ``brainalign compare`` joins that file (and any ``--properties`` CSV)
again when it reads a results folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.encoders.cards import CARD_COLUMNS as _CARD_COLUMNS
from brainalign.results.schema import RESULT_COLUMNS, WEIGHTS
from brainalign.results.summary import LEADERBOARD_COLUMNS, SUMMARY_COLUMNS

__all__ = [
    "CARD_COLUMNS",
    "PROPERTIES_FILE",
    "RESERVED_COLUMNS",
    "PropertiesError",
    "as_floats",
    "attach_properties",
    "properties_from_mapping",
    "read_properties",
    "read_run_properties",
    "write_properties",
]

CARD_COLUMNS = tuple(c for c in _CARD_COLUMNS if c != "relative_depth")
"""Model card columns of model rows (:data:`brainalign.encoders.cards.CARD_COLUMNS`: one
value per model and weights); a user property of the same name overrides them.
``relative_depth`` (a layer's, not a model's) is reserved instead."""

RESERVED_COLUMNS = tuple(
    dict.fromkeys(
        [
            *RESULT_COLUMNS,
            *SUMMARY_COLUMNS,
            *[c for c in LEADERBOARD_COLUMNS if c not in CARD_COLUMNS],
            "relative_depth",
            "session",
        ]
    )
)
"""Names a user property may not take: the standard result and summary columns and
``relative_depth`` (a layer's, computed from the model)."""

PROPERTIES_FILE = "properties.csv"
"""The user properties a sweep saves in its results folder."""

_KEYS = ("model", "weights")


class PropertiesError(ValueError):
    """User properties that cannot be read or joined (the message names what and where)."""


# ------------------------------------------------------------------ reading


def _typed(column: pd.Series) -> pd.Series:
    """A CSV column as numbers, booleans (``true``/``false``) or text; "" is missing."""
    text = column.astype(object).where(column.notna(), "").astype(str).str.strip()
    present = text != ""
    lowered = text.str.lower()
    if present.any() and lowered[present].isin(["true", "false"]).all():
        return pd.Series(
            np.where(present, lowered == "true", None), index=column.index, dtype="boolean"
        )
    numbers = pd.to_numeric(text.where(present, None), errors="coerce")
    if present.any() and numbers[present].notna().all():
        return numbers.astype(np.float64) if numbers.isna().any() else numbers
    return text.where(present, None).astype(object)


def as_floats(values: pd.Series) -> np.ndarray:
    """float64 values of a numeric or boolean column (nullable ones too), NaN for missing.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    objects = values.astype(object).where(values.notna(), np.nan)
    objects = objects.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
    return pd.to_numeric(objects, errors="raise").astype(np.float64).to_numpy()


def _check_table(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Keys present and unique, property names allowed; weights values valid."""
    if "model" not in table.columns:
        raise PropertiesError(
            f"{source}: no 'model' column; it has {list(table.columns)} (one row per model: "
            "model, [weights,] then one column per property)"
        )
    names = [c for c in table.columns if c not in _KEYS]
    if not names:
        raise PropertiesError(f"{source}: no property column (only {list(table.columns)})")
    reserved = [c for c in names if c in RESERVED_COLUMNS]
    if reserved:
        raise PropertiesError(
            f"{source}: property {reserved[0]!r} has the name of a standard result column "
            f"(reserved: {', '.join(RESERVED_COLUMNS)}); rename it"
        )
    if (table["model"].astype(str).str.strip() == "").any() or table["model"].isna().any():
        raise PropertiesError(f"{source}: a row has an empty 'model'")
    if "weights" in table.columns:
        bad = sorted(set(table["weights"].astype(str)) - set(WEIGHTS))
        if bad:
            raise PropertiesError(f"{source}: 'weights' value(s) {bad}; use {' or '.join(WEIGHTS)}")
    keys = [c for c in _KEYS if c in table.columns]
    duplicated = table[table.duplicated(keys, keep=False)]
    if not duplicated.empty:
        raise PropertiesError(
            f"{source}: model {duplicated['model'].iloc[0]!r} is listed more than once"
        )
    return table.reset_index(drop=True)


def read_properties(path: str | os.PathLike) -> pd.DataFrame:
    """Read a properties CSV file (see the module documentation for its columns).

    Parameters
    ----------
    path : path-like
        CSV with ``model``, optionally ``weights``, and one column per property.

    Returns
    -------
    pandas.DataFrame, shape (n_models, n_columns)
        ``model`` (and ``weights``) as text; each property typed as numbers, booleans
        (nullable ``boolean``) or text.

    Raises
    ------
    PropertiesError
        If the file is missing or unreadable, lacks ``model``, has no property, a
        reserved property name, a bad ``weights`` value or a model listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise PropertiesError(f"properties file {str(path)!r} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise PropertiesError(f"cannot read properties file {str(path)!r}: {error}") from None
    table.columns = [str(c).strip() for c in table.columns]
    table = _check_table(table, f"properties file {str(path)!r}")
    for column in table.columns:
        table[column] = table[column].str.strip() if column in _KEYS else _typed(table[column])
    return table


def properties_from_mapping(
    mapping: Mapping[str, Mapping[str, Any]], *, source: str = "properties"
) -> pd.DataFrame:
    """A properties table from ``{model: {property: value}}``.

    Parameters
    ----------
    mapping : mapping of str to mapping
        Model id -> its properties (numbers, booleans, text or None).
    source : str
        Where the mapping came from, named in errors.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_properties` (no ``weights``: the properties of pretrained rows).

    Raises
    ------
    PropertiesError
        For a value that is not a mapping of scalars, or a reserved property name.
    """
    records = []
    for model, values in mapping.items():
        if not isinstance(values, Mapping):
            raise PropertiesError(
                f"{source}: {model!r} must map property names to values; got {values!r}"
            )
        for name, value in values.items():
            if not isinstance(value, (str, int, float, bool, type(None))):
                raise PropertiesError(
                    f"{source}: {model}.{name} must be a number, true/false or text; got {value!r}"
                )
        records.append({"model": str(model), **dict(values)})
    if not records:
        raise PropertiesError(f"{source}: no model")
    table = pd.DataFrame.from_records(records)
    table = _check_table(table, source)
    for column in table.columns[1:]:
        values = table[column]
        if values.dropna().map(lambda v: isinstance(v, bool)).all() and values.notna().any():
            table[column] = values.astype("boolean")
    return table


def _as_table(properties: Any) -> pd.DataFrame:
    if isinstance(properties, pd.DataFrame):
        return _check_table(properties.copy(), "properties table")
    if isinstance(properties, Mapping):
        return properties_from_mapping(properties)
    if isinstance(properties, (str, os.PathLike)):
        return read_properties(properties)
    raise PropertiesError(
        "properties must be a DataFrame, a mapping {model: {property: value}} or a CSV "
        f"path; got {type(properties).__name__}"
    )


# ------------------------------------------------------------------ joining


def _varies_within_models(results: pd.DataFrame, column: str) -> bool:
    """Whether ``column`` takes several values within one model's (weights') rows."""
    models = results[results["control"] == ""]
    counts = models.groupby(["model", "weights"], sort=False)[column].nunique(dropna=True)
    return bool((counts > 1).any())


def attach_properties(results: pd.DataFrame, properties: Any) -> pd.DataFrame:
    """Join user properties onto the model rows of a result table.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table (:func:`brainalign.results.make_results`).
    properties : pandas.DataFrame, mapping or path-like
        A table as :func:`read_properties` returns, ``{model: {property: value}}``, or a
        CSV path; None returns ``results`` unchanged.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, ...)
        A copy of ``results`` with one column per property: its value on the model rows
        it names (the ``pretrained`` rows, or those of its ``weights``); an existing
        column of that name (a card column, a property attached before) keeps its value
        on the other rows; missing on control rows and rows of models not named.

    Raises
    ------
    PropertiesError
        Naming a model the results do not hold (and the models they do), a reserved
        property name, or a column of the results that varies within a model's rows.
    """
    if properties is None:
        return results
    table = _as_table(properties)
    known = set(results.loc[results["control"] == "", "model"])
    unknown = [m for m in dict.fromkeys(table["model"]) if m not in known]
    if unknown:
        raise PropertiesError(
            f"properties name model {unknown[0]!r}, which the results do not hold; their "
            f"models are {', '.join(sorted(known)) or 'none'} (use the model id exactly)"
        )
    names = [c for c in table.columns if c not in _KEYS]
    clash = [
        c
        for c in names
        if c in results.columns and c not in CARD_COLUMNS and _varies_within_models(results, c)
    ]
    if clash:
        raise PropertiesError(
            f"property {clash[0]!r} has the name of a result column that varies within a "
            "model's rows (a benchmark's own column, not a model property); rename it"
        )
    out = results.copy()
    weights = (
        table["weights"]
        if "weights" in table.columns
        else pd.Series("pretrained", index=table.index)
    )
    for name in names:
        values = table[name]
        target = (
            out[name].astype(object)
            if name in out.columns
            else pd.Series(None, index=out.index, dtype=object)
        )
        for model, weight, value in zip(table["model"], weights, values, strict=True):
            rows = (out["control"] == "") & (out["model"] == model) & (out["weights"] == weight)
            target[rows] = None if pd.isna(value) else value
        out[name] = _column_type(target, values.dtype)
    return out


def _column_type(column: pd.Series, like: Any) -> pd.Series:
    """A joined column typed like the property's own column where the values allow."""
    if pd.api.types.is_bool_dtype(like):
        present = column.dropna()
        if present.map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return column.astype("boolean")
    if pd.api.types.is_numeric_dtype(like):
        numbers = pd.to_numeric(column, errors="coerce")
        if numbers.notna().sum() == column.notna().sum():
            return pd.Series(as_floats(numbers), index=column.index)
    return column


# ------------------------------------------------------------------ run folders


def write_properties(properties: Any, folder: str | os.PathLike) -> Path | None:
    """Save user properties as ``FOLDER/properties.csv`` atomically (or remove a stale one).

    Parameters
    ----------
    properties : pandas.DataFrame, mapping, path-like or None
        None removes an earlier file, so a folder never keeps properties a rerun dropped.
    folder : path-like

    Returns
    -------
    Path or None
        The file written.
    """
    from brainalign.results.io import write_results_csv

    path = Path(folder) / PROPERTIES_FILE
    if properties is None:
        path.unlink(missing_ok=True)
        return None
    return write_results_csv(_as_table(properties), path)


def read_run_properties(folder: str | os.PathLike) -> pd.DataFrame | None:
    """The properties a sweep saved in a results folder, or None when it saved none."""
    path = Path(folder) / PROPERTIES_FILE
    return read_properties(path) if path.is_file() else None
