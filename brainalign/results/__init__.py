"""Result tables: the schema of a row, summaries, and result files.

- :mod:`brainalign.results.schema`: the columns (:data:`RESULT_COLUMNS`, documented in
  :data:`COLUMN_DOCS`), :func:`make_results`, :func:`validate_results`;
- :mod:`brainalign.results.summary`: per-layer summaries, best layers and the
  leaderboard, each number defined once (:data:`SUMMARY_NOTE`);
- :mod:`brainalign.results.tables`: the wide tables the command line prints;
- :mod:`brainalign.results.io`: reading and atomic writing of ``results.csv`` and
  ``results.parquet``.
"""

from brainalign.results.io import (
    RESULT_FILES,
    find_results_file,
    read_results,
    write_results,
    write_results_csv,
    write_results_parquet,
)
from brainalign.results.schema import (
    COLUMN_DOCS,
    ENTITY_COLUMNS,
    RESULT_COLUMNS,
    WEIGHTS,
    entity_labels,
    is_control,
    make_results,
    validate_results,
)
from brainalign.results.summary import (
    LEADERBOARD_COLUMNS,
    SUMMARY_COLUMNS,
    SUMMARY_NOTE,
    SUMMARY_STATISTIC,
    best_layers,
    layer_summary,
    leaderboard,
    median_interval,
    summarize,
)
from brainalign.results.tables import summary_table

__all__ = [
    "COLUMN_DOCS",
    "ENTITY_COLUMNS",
    "LEADERBOARD_COLUMNS",
    "RESULT_COLUMNS",
    "RESULT_FILES",
    "SUMMARY_COLUMNS",
    "SUMMARY_NOTE",
    "SUMMARY_STATISTIC",
    "WEIGHTS",
    "best_layers",
    "entity_labels",
    "find_results_file",
    "is_control",
    "layer_summary",
    "leaderboard",
    "make_results",
    "median_interval",
    "read_results",
    "summarize",
    "summary_table",
    "validate_results",
    "write_results",
    "write_results_csv",
    "write_results_parquet",
]
