"""Result tables: the schema of a row, summaries, and result files.

- :mod:`brainalign.results.schema`: the columns (:data:`RESULT_COLUMNS`, documented in
  :data:`COLUMN_DOCS`), :func:`make_results`, :func:`validate_results`;
- :mod:`brainalign.results.summary`: per-layer summaries, best layers and the
  leaderboard, each number defined once (:data:`SUMMARY_NOTE`);
- :mod:`brainalign.results.tables`: the wide tables the command line prints;
- :mod:`brainalign.results.io`: reading and atomic writing of ``results.csv`` and
  ``results.parquet``;
- :mod:`brainalign.results.properties`: model card columns and a user's own model
  properties joined onto model rows (:func:`attach_properties`);
- :mod:`brainalign.results.across_models`: scores against a model property
  (:func:`correlate_property`) and paired model variants (:func:`paired_differences`).
"""

from brainalign.results.across_models import (
    CORRELATION_COLUMNS,
    CORRELATION_NOTE,
    NUMERIC_CORRELATION_COLUMNS,
    PAIR_COLUMNS,
    PAIRS_FILE,
    PAIRS_NOTE,
    Pair,
    correlate_property,
    model_scores,
    paired_differences,
    read_pairs,
    relative_depths,
    write_pairs,
)
from brainalign.results.io import (
    RESULT_FILES,
    find_results_file,
    read_results,
    write_results,
    write_results_csv,
    write_results_parquet,
)
from brainalign.results.properties import (
    CARD_COLUMNS,
    PROPERTIES_FILE,
    PropertiesError,
    attach_properties,
    read_properties,
    read_run_properties,
    write_properties,
)
from brainalign.results.schema import (
    COLUMN_DOCS,
    ENTITY_COLUMNS,
    POSITION_COLUMNS,
    RESULT_COLUMNS,
    TIME_COLUMN,
    UNIT_KEYS,
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
    "CARD_COLUMNS",
    "COLUMN_DOCS",
    "CORRELATION_COLUMNS",
    "NUMERIC_CORRELATION_COLUMNS",
    "CORRELATION_NOTE",
    "ENTITY_COLUMNS",
    "LEADERBOARD_COLUMNS",
    "PAIRS_FILE",
    "PAIRS_NOTE",
    "PAIR_COLUMNS",
    "POSITION_COLUMNS",
    "PROPERTIES_FILE",
    "Pair",
    "PropertiesError",
    "RESULT_COLUMNS",
    "RESULT_FILES",
    "SUMMARY_COLUMNS",
    "SUMMARY_NOTE",
    "SUMMARY_STATISTIC",
    "TIME_COLUMN",
    "UNIT_KEYS",
    "WEIGHTS",
    "attach_properties",
    "best_layers",
    "correlate_property",
    "entity_labels",
    "find_results_file",
    "is_control",
    "layer_summary",
    "leaderboard",
    "make_results",
    "median_interval",
    "model_scores",
    "paired_differences",
    "read_pairs",
    "read_properties",
    "read_results",
    "read_run_properties",
    "relative_depths",
    "summarize",
    "summary_table",
    "validate_results",
    "write_pairs",
    "write_properties",
    "write_results",
    "write_results_csv",
    "write_results_parquet",
]
