"""Wide tables for printing (the command line); the tidy table stays the data.

:func:`summary_table` lays out :func:`~brainalign.results.summary.layer_summary` for
one benchmark and metric: one row per model or control and layer, one column per unit
(the median over subjects), plus the noise ceiling on the same units, each number as
the summary module defines it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainalign.results.schema import entity_labels
from brainalign.results.summary import layer_summary

__all__ = ["ALL_UNITS", "CEILING_ROW", "MAX_UNIT_COLUMNS", "summary_table"]

MAX_UNIT_COLUMNS = 12
"""More units than this are summarised over all units in one column."""

CEILING_ROW = "noise ceiling"
"""Label of the ceiling row."""

ALL_UNITS = "all units"
"""The one column of a table with more units than :data:`MAX_UNIT_COLUMNS`."""


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Median score per model (or control) and layer, one column per unit, and the ceiling.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of one benchmark and metric (whole-layer rows are used).

    Returns
    -------
    pandas.DataFrame
        Index (``scored``, ``layer``): the label of the model or control
        (:func:`~brainalign.results.schema.entity_labels`) and the layer (``"-"`` for
        layer-free rows); one column per unit (``"all units"`` beyond
        :data:`MAX_UNIT_COLUMNS` units) holding ``median_score``; a last row
        :data:`CEILING_ROW` with the ``median_ceiling`` of the units (NaN where no
        ceiling is usable).

    Raises
    ------
    ValueError
        If the rows hold several benchmarks or metrics.
    """
    for column in ("benchmark", "metric"):
        if results[column].nunique() > 1:
            raise ValueError(f"summary_table takes one {column}; got {results[column].unique()}")
    rows = results
    units = list(dict.fromkeys(rows["unit"]))
    if len(units) > MAX_UNIT_COLUMNS:
        rows = rows.assign(unit=ALL_UNITS)
        units = [ALL_UNITS]
    summary = layer_summary(rows, by_unit=True)
    summary["scored"] = entity_labels(summary)
    summary["layer"] = summary["layer"].astype("string").fillna("-")
    rows_order = list(dict.fromkeys(zip(summary["scored"], summary["layer"], strict=True)))
    table = summary.set_index(["scored", "layer", "unit"])["median_score"].unstack("unit")
    table = table.reindex(pd.MultiIndex.from_tuples(rows_order, names=["scored", "layer"]))
    table = table.reindex(columns=units)
    ceiling = summary.groupby("unit", sort=False)["median_ceiling"].first().reindex(units)
    ceiling_row = pd.DataFrame(
        [ceiling.to_numpy(dtype=np.float64)],
        columns=table.columns,
        index=pd.MultiIndex.from_tuples([(CEILING_ROW, "-")], names=table.index.names),
    )
    return pd.concat([table, ceiling_row])
