"""The result schema: what one row of a brainalign result table is, column by column.

Every score brainalign reports is one row of a tidy table with the columns of
:data:`RESULT_COLUMNS`, in that order, then any columns a benchmark adds (``n_units``,
``session``, ``ceiling_lower``, ...). What a row *is* lives in columns, never inside
another column's string:

- a **model** row: ``model`` is the model id (hub id or directory, nothing appended),
  ``weights`` is ``"pretrained"`` or ``"untrained"`` (the same architecture with seeded
  random weights), ``control`` and ``control_of`` are empty;
- a **control** row: ``control`` names the content-free control (``"position"``,
  ``"random-word-vectors"``, ...), ``control_of`` the model it was computed for
  (controls can depend on a model's width or tokenizer, so two models' controls are
  never merged), ``model`` and ``weights`` are empty.

:func:`make_results` types and orders a table and derives ``normalized_score`` and
``ceiling_flag`` from ``score`` and ``ceiling``
(:func:`brainalign.alignment.ceiling.normalized_scores`), and fills a missing
``features_flag`` with ``""`` (tables written before it existed); :func:`validate_results`
checks a table against this schema.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import CEILING_FLAGS, ceiling_flags, normalized_scores

__all__ = [
    "COLUMN_DOCS",
    "ENTITY_COLUMNS",
    "FEATURES_FLAGS",
    "POSITION_COLUMNS",
    "RESULT_COLUMNS",
    "TIME_COLUMN",
    "UNIT_KEYS",
    "WEIGHTS",
    "entity_labels",
    "is_control",
    "make_results",
    "validate_results",
]

COLUMN_DOCS = {
    "model": "the model id as given (hub id or local directory); empty on control rows",
    "weights": "'pretrained' or 'untrained' (seeded random weights); empty on control rows",
    "control": "empty on model rows; the control's name on control rows",
    "control_of": "the model a control row was computed for; empty on model rows",
    "benchmark": "versioned benchmark id, 'id@version'",
    "dataset": "catalogue dataset the benchmark reads",
    "layer": "hidden-state index (0 = embeddings); missing for layer-free scores",
    "head": "attention head (0-based) of the layer; missing on whole-layer rows",
    "subject": "whose data: a subject id, or e.g. 'all' for ratings averaged over raters",
    "unit": "what was predicted: an ROI, voxel, channel, rating dimension or item set",
    "metric": "what the score is, e.g. 'pearson_r', 'spearman_r'",
    "score": "the score of this row",
    "ceiling": "the noise ceiling on the same scale as the score (NaN where there is none)",
    "normalized_score": "score / ceiling where ceiling_flag is 'ok', else NaN",
    "ceiling_flag": "why a ceiling does or does not normalise: "
    + "; ".join(f"'{flag}' {meaning}" for flag, meaning in CEILING_FLAGS.items()),
    "features_flag": "'constant' when the layer's (or head's) features were the same for "
    "every item, so its score says nothing about the model (NaN, or for a time series only "
    "the items' timing; the run warns once, naming them); '' otherwise and on control rows",
}
"""Every standard column and its meaning (the documentation's schema table)."""

RESULT_COLUMNS = tuple(COLUMN_DOCS)
"""Columns every result table carries, in this order (a benchmark's extras follow)."""

ENTITY_COLUMNS = ("model", "weights", "control", "control_of")
"""Columns that say what was scored: a model (with its weights) or a control."""

WEIGHTS = ("pretrained", "untrained")
"""Values of ``weights`` on model rows."""

POSITION_COLUMNS = ("ch_type", "x", "y", "z")
"""Optional columns placing a row's unit (an M/EEG channel) on the head: its MNE
channel type and position in metres; reports draw topographies from them
(:mod:`brainalign.report.meeg_figures`)."""

TIME_COLUMN = "time"
"""Optional column of time-resolved rows: seconds from the event (e.g. a study's
epochs scored per time point)."""

UNIT_KEYS = ("subject", "unit", "session", TIME_COLUMN)
"""The columns (those a table has) that name one scored unit of a model or control at
a layer: rows of two models, or of a model and its ceiling, are paired on them."""

_STRING_COLUMNS = (
    *ENTITY_COLUMNS, "benchmark", "dataset", "subject", "unit", "metric", "features_flag"
)  # fmt: skip
FEATURES_FLAGS = ("", "constant")
"""Values of ``features_flag``: ``""`` or ``"constant"`` (see :data:`COLUMN_DOCS`)."""
_INTEGER_COLUMNS = ("layer", "head")
_FLOAT_COLUMNS = ("score", "ceiling")


def _strings(column: pd.Series) -> pd.Series:
    """Strings with missing values as ""."""
    return column.astype(object).where(column.notna(), "").astype(str)


def _normalized(
    score: pd.Series, ceiling: pd.Series, marked: pd.Series | None
) -> tuple[np.ndarray, np.ndarray]:
    """``normalized_score`` and ``ceiling_flag``; ``marked`` says where no ceiling exists.

    Without ``marked``, a NaN ceiling means "no ceiling" (``"none"``); with it, only the
    rows marked ``"none"`` have none and any other NaN ceiling is ``"not_finite"``.
    """
    values = ceiling.to_numpy(dtype=np.float64)
    defined = None if marked is None else ~((marked == "none").to_numpy() & np.isnan(values))
    normalized, _ = normalized_scores(score.to_numpy(dtype=np.float64), values)
    return normalized, ceiling_flags(values, defined=defined)


def make_results(rows: pd.DataFrame) -> pd.DataFrame:
    """Type and order a result table; derive ``normalized_score`` and ``ceiling_flag``.

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n_rows, ...)
        Holds every column of :data:`RESULT_COLUMNS` except ``head`` (missing when
        absent), ``features_flag`` (``""`` when absent), ``normalized_score`` and
        ``ceiling_flag``, which are derived here. A
        ``ceiling_flag`` column, when given, is read only for ``"none"`` (the benchmark
        defines no ceiling for that row); every other flag is recomputed.

    Returns
    -------
    pandas.DataFrame
        :data:`RESULT_COLUMNS` first, then the other columns in their order; strings
        with ``""`` for empty values, ``layer`` and ``head`` nullable integers, scores
        and ceilings float64.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    optional = ("head", "normalized_score", "ceiling_flag", "features_flag")
    required = [c for c in RESULT_COLUMNS if c not in optional]
    missing = [c for c in required if c not in rows.columns]
    if missing:
        raise ValueError(
            f"result rows lack column(s) {missing}; see brainalign.results.RESULT_COLUMNS"
        )
    table = rows.copy()
    if "head" not in table.columns:
        table["head"] = pd.NA
    if "features_flag" not in table.columns:
        table["features_flag"] = ""
    for column in _STRING_COLUMNS:
        table[column] = _strings(table[column])
    for column in _INTEGER_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="raise").astype("Int64")
    for column in _FLOAT_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="raise").astype(np.float64)
    marked = _strings(table["ceiling_flag"]) if "ceiling_flag" in table.columns else None
    normalized, flags = _normalized(table["score"], table["ceiling"], marked)
    table["normalized_score"] = normalized
    table["ceiling_flag"] = flags.astype(str)
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    return table[list(RESULT_COLUMNS) + extra].reset_index(drop=True)


def is_control(results: pd.DataFrame) -> np.ndarray:
    """Whether each row is a control row (``control`` not empty).

    Returns
    -------
    numpy.ndarray of bool, shape (n_rows,)
    """
    return (_strings(results["control"]) != "").to_numpy()


def validate_results(results: pd.DataFrame) -> pd.DataFrame:
    """Check a table against the schema; return it unchanged.

    Raises
    ------
    ValueError
        Naming every problem found: missing or misordered standard columns, wrong
        types, a ``weights`` value other than pretrained/untrained on a model row,
        model rows with a control, control rows with a model, weights or no
        ``control_of``, a ``normalized_score`` or ``ceiling_flag`` that does not follow
        from ``score`` and ``ceiling``.
    """
    problems = []
    columns = list(results.columns[: len(RESULT_COLUMNS)])
    if columns != list(RESULT_COLUMNS):
        problems.append(f"the first columns are {columns}, not {list(RESULT_COLUMNS)}")
    else:
        for column in _INTEGER_COLUMNS:
            if str(results[column].dtype) != "Int64":
                problems.append(f"{column} has dtype {results[column].dtype}, not Int64")
        for column in (*_FLOAT_COLUMNS, "normalized_score"):
            if results[column].dtype != np.float64:
                problems.append(f"{column} has dtype {results[column].dtype}, not float64")
        for column in _STRING_COLUMNS:
            if results[column].isna().any():
                problems.append(f"{column} has missing values (use '' for empty)")
        control = is_control(results)
        model_rows, control_rows = results[~control], results[control]
        bad_weights = sorted(set(model_rows["weights"]) - set(WEIGHTS))
        if bad_weights:
            problems.append(f"model rows with weights {bad_weights}; use {list(WEIGHTS)}")
        if (model_rows["model"] == "").any() or (model_rows["control_of"] != "").any():
            problems.append("model rows need a model and an empty control_of")
        if ((control_rows[["model", "weights"]] != "").any(axis=None)) or (
            control_rows["control_of"] == ""
        ).any():
            problems.append("control rows need empty model and weights and a control_of")
        for name in ("benchmark", "metric"):
            if (results[name] == "").any():
                problems.append(f"rows without a {name}")
        bad_flags = sorted(set(results["features_flag"].astype(str)) - set(FEATURES_FLAGS))
        if bad_flags:
            problems.append(f"features_flag values {bad_flags}; use {list(FEATURES_FLAGS)}")
        normalized, flags = _normalized(
            results["score"], results["ceiling"], _strings(results["ceiling_flag"])
        )
        stored = results["normalized_score"].to_numpy(dtype=np.float64)
        if not np.array_equal(stored, normalized, equal_nan=True):
            problems.append("normalized_score is not score / ceiling where the ceiling is usable")
        if not np.array_equal(results["ceiling_flag"].to_numpy().astype(str), flags):
            problems.append("ceiling_flag does not follow from the ceiling")
    if problems:
        raise ValueError("result table does not follow the schema: " + "; ".join(problems))
    return results


def entity_labels(results: pd.DataFrame) -> pd.Series:
    """A short human-readable label of what each row scored, for figures and tables.

    ``MODEL`` for pretrained model rows, ``MODEL (untrained)`` for random-weight rows,
    ``control: NAME`` for control rows, with `` (for MODEL)`` added when the table holds
    the same control for several models. Labels are made from the columns; nothing is
    parsed back from them.

    Returns
    -------
    pandas.Series of str, shape (n_rows,)
    """
    control = is_control(results)
    models = np.where(results["weights"] == "untrained", results["model"] + " (untrained)",
                      results["model"])  # fmt: skip
    per_control = results[control].groupby("control")["control_of"].nunique()
    shared = set(per_control[per_control > 1].index)
    controls = np.where(
        results["control"].isin(shared),
        "control: " + results["control"] + " (for " + results["control_of"] + ")",
        "control: " + results["control"],
    )
    return pd.Series(np.where(control, controls, models), index=results.index, dtype=object)
