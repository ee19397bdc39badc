"""Tidy result tables: one row per (model, dataset, layer, subject, unit, metric)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from brainalign._io import atomic_path

RESULT_COLUMNS = (
    "model",
    "dataset",
    "layer",
    "subject",
    "roi",
    "metric",
    "score",
    "ceiling",
    "normalized_score",
)
"""Columns every result table carries, in this order (extra columns may follow)."""


def make_results(rows: pd.DataFrame) -> pd.DataFrame:
    """Order and type a result table; add ``normalized_score`` = score / ceiling.

    The normalised score is not clipped: a model can exceed a noisy ceiling, and the
    raw ``score`` is always kept next to it.

    Parameters
    ----------
    rows : pandas.DataFrame
        Holds at least ``model, dataset, layer, subject, roi, metric, score, ceiling``.

    Returns
    -------
    pandas.DataFrame
        The table with :data:`RESULT_COLUMNS` first; ``layer`` is a nullable integer
        (missing for baselines without layers).
    """
    missing = [c for c in RESULT_COLUMNS if c not in rows.columns and c != "normalized_score"]
    if missing:
        raise ValueError(f"result rows lack column(s) {missing}")
    table = rows.copy()
    table["layer"] = table["layer"].astype("Int64")
    ceiling = table["ceiling"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["normalized_score"] = table["score"].to_numpy(dtype=float) / ceiling
    extra = [c for c in table.columns if c not in RESULT_COLUMNS]
    return table[list(RESULT_COLUMNS) + extra].reset_index(drop=True)


def write_results_csv(results: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a result table to CSV atomically (temp file, then rename)."""
    path = Path(path)
    with atomic_path(path) as temp:
        results.to_csv(temp, index=False)
    return path


def write_results_parquet(results: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a result table to Parquet atomically (temp file, then rename).

    Parquet keeps the column types (the nullable integer ``layer``, floats, strings),
    which a CSV round trip loses.
    """
    path = Path(path)
    with atomic_path(path) as temp:
        results.to_parquet(temp, index=False, engine="pyarrow")
    return path


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Wide per-layer summary for printing: median over subjects per ROI.

    Rows are (model, layer) with ``"-"`` for layer-free controls, plus a row for the
    median noise ceiling; columns are ROIs.
    """
    scores = results[results["metric"] == "pearson_r"].copy()
    scores["layer"] = scores["layer"].astype("string").fillna("-")
    rois = list(dict.fromkeys(scores["roi"]))
    medians = scores.groupby(["model", "layer", "roi"], sort=False)["score"].median()
    table = medians.unstack("roi")[rois]
    ceiling = scores.drop_duplicates(["subject", "roi"]).groupby("roi", sort=False)["ceiling"]
    ceiling_row = pd.DataFrame(
        [ceiling.median()[rois].to_numpy()],
        columns=table.columns,
        index=pd.MultiIndex.from_tuples(
            [("noise ceiling (LOSO ISC)", "-")], names=table.index.names
        ),
    )
    table = pd.concat([table, ceiling_row])
    return table
