"""The figures of a benchmark run, drawn from its result table.

:func:`write_benchmark_figures` takes a result table
(:data:`brainalign.results.RESULT_COLUMNS`, as ``brainalign score --out`` and ``brainalign
sweep`` write it) and draws, per benchmark and metric, with the plotting functions of
:mod:`brainalign.report.plots` and :mod:`brainalign.report.comparison`:

- ``<benchmark>_by_layer.png``: score by layer, one panel per unit, one curve per model
  (:func:`brainalign.results.layer_summary`'s ``median_score``, IQR shaded), the
  untrained twin dashed, each model's own controls as hatched bands, the noise ceiling
  as a grey band (:func:`~brainalign.report.plots.plot_layer_curves`);
- ``<benchmark>_<model>[_<unit>]_heads.png``: a layers x heads heatmap per model (and
  unit) when the ``head`` column has values
  (:func:`~brainalign.report.plots.plot_head_heatmap`);
- ``<benchmark>_models.png``: each model and control at its best layer
  (:func:`comparison_table`: the leaderboard's ``median_score``, a bootstrap interval and
  significance marks against the model's strongest control,
  :func:`~brainalign.report.comparison.plot_model_comparison`);
- ``<benchmark>_<model>_time.png`` and ``<benchmark>_<model>[_<ch_type>]_topomap.png``
  for rows with times or sensor positions: each model's time course at its best layer
  with its interval and significant clusters, and its sensors' medians
  (:func:`brainalign.report.meeg_figures.write_meeg_figures`).

Roles come from the columns: a model row has ``control == ""`` and ``weights``
``"pretrained"`` or ``"untrained"`` (the untrained twin is the same ``model``); a control
row names its ``control`` and the model it was computed for (``control_of``). Labels are
:func:`brainalign.results.entity_labels` of the rows, with local model directories
shortened (:func:`display_names`).

RDM pictures (:mod:`brainalign.report.rdm`) and brain maps
(:mod:`brainalign.report.brain_maps`) need RDMs or per-voxel values and coordinates,
which a result table does not hold; they are drawn by the code that has them.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.report.comparison import plot_model_comparison
from brainalign.report.plots import (
    _ceiling_label,
    _entity_rows,
    _metric_label,
    check_table,
    median_over,
    plot_head_heatmap,
    plot_layer_curves,
)
from brainalign.results import (
    ENTITY_COLUMNS,
    RESULT_COLUMNS,
    best_layers,
    entity_labels,
    leaderboard,
    median_interval,
)

N_RESAMPLES = 1000
"""Bootstrap resamples of the comparison bars' confidence intervals and p-values."""

CONFIDENCE_LEVEL = 0.95
"""Confidence level of the comparison bars' intervals."""

SIGNIFICANCE_LABEL = (
    "difference from the model's strongest control (two-sided paired bootstrap, "
    "Benjamini-Hochberg adjusted over the models)"
)
"""What the comparison bars' stars test (the start of their key)."""

COMPARISON_COLUMNS = (
    "model",
    "kind",
    "best_layer",
    "n_units",
    "estimate",
    "low",
    "high",
    "reference",
    "p_value",
)
"""Columns of :func:`comparison_table`."""


# ------------------------------------------------------------------ names


def slug(name: str, limit: int = 60) -> str:
    """A file-name-safe form of a name: letters, digits, ``.``, ``_``, ``-`` only.

    Other characters become ``-``; paths keep their last ``limit`` characters.

    Parameters
    ----------
    name : str
    limit : int, default 60

    Returns
    -------
    str
        Never empty (``"x"`` for a name with no safe character).
    """
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    return text[-limit:].lstrip("-.") or "x"


def _unique_stems(names: list[str]) -> dict[str, str]:
    """A file stem per name; a short hash is added where two names share a slug."""
    slugs = {name: slug(name) for name in names}
    counts = pd.Series(list(slugs.values())).value_counts()
    return {
        name: s if counts[s] == 1 else f"{s}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"
        for name, s in slugs.items()
    }


def benchmark_stems(results: pd.DataFrame) -> dict[str, str]:
    """The file-name stem of each benchmark's figures (``<stem>_by_layer.png``, ...).

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table.

    Returns
    -------
    dict
        Benchmark id -> stem (:func:`slug`, with a short hash where two benchmarks would
        share one), in table order.
    """
    return _unique_stems([str(b) for b in dict.fromkeys(results["benchmark"])])


def display_names(results: pd.DataFrame) -> dict[str, str]:
    """Short names of the models of a table (the ``model`` and ``control_of`` columns).

    A local model directory is shortened to its last component (or the last two, where
    the last is a generic ``model``, ``snapshot`` or ``checkpoint`` folder); hub ids are
    kept. Where two models would share a short name, every name is kept in full.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        With ``model`` and ``control_of``.

    Returns
    -------
    dict
        Full name -> short name, for every non-empty value of both columns.
    """
    names = [*results["model"].astype(str), *results["control_of"].astype(str)]
    full = [name for name in dict.fromkeys(names) if name]

    def short(name: str) -> str:
        if not name.startswith(("/", ".", "~")):
            return name
        parts = Path(name).parts
        keep = 2 if parts and parts[-1] in ("model", "snapshot", "checkpoint") else 1
        return "/".join(parts[-keep:])

    labels = {name: short(name) for name in full}
    if len(set(labels.values())) < len(labels):
        return {name: name for name in full}
    return labels


def _with_display_names(results: pd.DataFrame) -> pd.DataFrame:
    names = {**display_names(results), "": ""}
    return results.assign(
        model=results["model"].map(names), control_of=results["control_of"].map(names)
    )


# ------------------------------------------------------------------ comparison bars


def _rows_of(rows: pd.DataFrame, entity: Any, layer: object) -> pd.DataFrame:
    """The rows of one model (or control) at one layer (the layer-free rows for NA)."""
    return rows[_entity_rows(rows, entity, layer)]


def strongest_controls(rows: pd.DataFrame) -> dict[str, str]:
    """Each model's strongest control: the leaderboard's ``control`` of the model."""
    board = leaderboard(rows)
    return {m: c for m, c in zip(board["model"], board["control"], strict=True) if c}


def strongest_control_rows(
    rows: pd.DataFrame, best: pd.DataFrame, control: str, model: str
) -> pd.DataFrame:
    """The rows of ``model``'s own control ``control`` at that control's best layer
    (``best``: :func:`brainalign.results.best_layers` of ``rows``)."""
    own = best[(best["control"] == control) & (best["control_of"] == model)]
    return _rows_of(rows, own.iloc[0], own["best_layer"].iloc[0])


def comparison_table(results: pd.DataFrame) -> pd.DataFrame:
    """The numbers of the model-comparison bars of one benchmark and metric.

    One row per model and control at its best layer (:func:`brainalign.results.
    best_layers`, whole layers): ``estimate`` is its ``median_score`` there (for a
    model, the leaderboard's number); ``low``/``high`` the 95 % interval of
    :func:`brainalign.results.median_interval` (a bootstrap over subjects, or over rows
    with one subject; NaN with one score); ``p_value`` that of
    :func:`~brainalign.results.median_interval` with ``reference`` the rows of the
    model's strongest control (its own, by ``control_of``: the leaderboard's
    ``control``) at that control's best layer, Benjamini-Hochberg adjusted over the
    models of the benchmark (:func:`brainalign.alignment.stats.fdr_bh`); NaN for
    controls and models without a control.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Result rows of one benchmark and metric (rows of heads are left out).

    Returns
    -------
    pandas.DataFrame, shape (n_bars, 9)
        :data:`COMPARISON_COLUMNS`: ``model`` the label
        (:func:`brainalign.results.entity_labels`), ``kind`` ``"model"``,
        ``"untrained"`` or ``"control"``, ``reference`` the control tested against;
        rows with a finite estimate, in :func:`~brainalign.results.best_layers` order.

    Raises
    ------
    ValueError
        If the rows hold several benchmarks or metrics.
    """
    from brainalign.alignment.stats import fdr_bh

    several = [c for c in ("benchmark", "metric") if results[c].nunique() > 1]
    if several:
        raise ValueError(
            f"comparison_table takes the rows of one benchmark and metric; these hold "
            f"{several[0]}s {list(dict.fromkeys(results[several[0]]))}"
        )
    rows = results[results["head"].isna()]
    best = best_layers(rows)
    strongest = strongest_controls(rows)
    labels = entity_labels(best)
    records = []
    for index, entity in best.iterrows():
        at = _rows_of(rows, entity, entity["best_layer"])
        interval = median_interval(at, confidence_level=CONFIDENCE_LEVEL, n_resamples=N_RESAMPLES)
        reference, p_value = "", np.nan
        if entity["control"] == "" and entity["model"] in strongest:
            reference = strongest[entity["model"]]
            control = strongest_control_rows(rows, best, reference, entity["model"])
            p_value = median_interval(at, n_resamples=N_RESAMPLES, reference=control)["p_value"]
        kind = "control" if entity["control"] else "model"
        records.append(
            {
                "model": labels[index],
                "kind": "untrained" if entity["weights"] == "untrained" else kind,
                "best_layer": entity["best_layer"],
                "n_units": entity["n_units"],
                "estimate": entity["median_score"],
                "low": interval["low"],
                "high": interval["high"],
                "reference": reference,
                "p_value": p_value,
            }
        )
    table = pd.DataFrame.from_records(records, columns=list(COMPARISON_COLUMNS))
    table = table[np.isfinite(table["estimate"].to_numpy(dtype=np.float64))]
    p_values = table["p_value"].to_numpy(dtype=np.float64)
    if np.isfinite(p_values).any():
        table["p_value"] = np.asarray(fdr_bh(p_values)[1], dtype=np.float64)
    table["best_layer"] = table["best_layer"].astype("Int64")
    return table.reset_index(drop=True)


def _bar_ceiling(rows: pd.DataFrame) -> tuple[tuple[float, float, float] | None, str]:
    """The ceiling drawn on the bars and its legend label: the ``median_ceiling`` of the
    leaderboard's first model with the IQR of its usable ceilings at its best layer."""
    board = leaderboard(rows)
    board = board[np.isfinite(board["median_ceiling"].to_numpy(dtype=np.float64))]
    if board.empty:
        return None, ""
    first = board.iloc[0]
    at = _rows_of(rows, {**first.to_dict(), "control": "", "control_of": ""}, first["best_layer"])
    usable = at[(at["ceiling_flag"] == "ok") & np.isfinite(at["score"].to_numpy(dtype=float))]
    q1, q3 = np.quantile(usable["ceiling"].to_numpy(dtype=np.float64), [0.25, 0.75])
    median = float(first["median_ceiling"])
    band = len(usable) > 1 and q3 > q1
    return ((q1, median, q3) if band else median), _ceiling_label(normalized=False, band=band)


# ------------------------------------------------------------------ the figures


def _layer_curves(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    models = rows[(rows["control"] == "") & rows["layer"].notna() & rows["head"].isna()]
    if not np.isfinite(models["score"].to_numpy(dtype=np.float64)).any():
        return []
    path = out / f"{stem}_by_layer.png"
    return [plot_layer_curves(rows, path, metric=metric, title=f"{title}: {metric} by layer")]


def _head_heatmaps(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    from brainalign.results.tables import ALL_UNITS, MAX_UNIT_COLUMNS

    heads = rows[rows["head"].notna() & rows["layer"].notna()]
    if heads.empty:
        return []
    if heads["unit"].nunique() > MAX_UNIT_COLUMNS:
        heads = heads.assign(unit=ALL_UNITS)
    heads = heads.assign(_label=entity_labels(heads).to_numpy())
    labels = list(dict.fromkeys(heads["_label"]))
    label_stems = _unique_stems(labels)
    paths = []
    for label in labels:
        of_entity = heads[heads["_label"] == label]
        units = list(dict.fromkeys(of_entity["unit"].astype(str)))
        unit_stems = _unique_stems(units)
        for unit in units:
            cells = of_entity[of_entity["unit"].astype(str) == unit].drop(columns="_label")
            if not np.isfinite(cells["score"].to_numpy(dtype=float)).any():
                continue
            suffix = f"_{unit_stems[unit]}" if len(units) > 1 else ""
            path = out / f"{stem}_{label_stems[label]}{suffix}_heads.png"
            plot_head_heatmap(cells, path, metric=metric, title=f"{title}: {label}, {unit}")
            paths.append(path)
    return paths


def _comparison_bars(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    whole = rows[rows["head"].isna()]
    table = comparison_table(whole)
    if table.empty:
        return []
    over = median_over(whole, [*ENTITY_COLUMNS, "layer"])
    ceiling, ceiling_label = _bar_ceiling(whole)
    subjects = "subjects" if whole["subject"].nunique() > 1 else "rows"
    path = out / f"{stem}_models.png"
    plot_model_comparison(
        table,
        path,
        ceiling=ceiling,
        ceiling_label=ceiling_label,
        ylabel=f"{_metric_label(metric)}\n({over or 'one score per model'})",
        title=f"{title}\neach model and control at its best layer",
        interval_label=f"{CONFIDENCE_LEVEL:.0%} CI (bootstrap over {subjects})",
        no_interval_label="one score per model: no confidence interval",
        significance_label=SIGNIFICANCE_LABEL,
    )
    return [path]


def _meeg_figures(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    from brainalign.report.meeg_figures import write_meeg_figures

    return write_meeg_figures(rows, metric, stem, out, title)


def write_benchmark_figures(results: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """Write the figures of a benchmark run: per benchmark, curves, heatmaps and bars.

    Per benchmark (and metric, when a benchmark has several; its name then joins the
    file stem): ``<benchmark>_by_layer.png`` (score by layer with ceiling and control
    bands), ``<benchmark>_<model>[_<unit>]_heads.png`` per model with per-head rows, and
    ``<benchmark>_models.png`` (:func:`comparison_table`). Names are file-safe forms of
    the benchmark ids (:func:`benchmark_stems`) and model labels, the same for the same
    table.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table (:data:`brainalign.results.RESULT_COLUMNS`; models, their
        untrained twins and controls as the schema says).
    out_dir : path-like
        Folder for the PNGs (created if needed); each is written atomically.

    Returns
    -------
    list of Path
        The files written, in table order of benchmarks.

    Raises
    ------
    ValueError
        If ``results`` is not a non-empty DataFrame with the result columns.
    """
    check_table(results, RESULT_COLUMNS)
    results = _with_display_names(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for benchmark, stem in benchmark_stems(results).items():
        rows = results[results["benchmark"] == benchmark]
        metrics = [str(m) for m in dict.fromkeys(rows["metric"])]
        for metric in metrics:
            of_metric = rows[rows["metric"] == metric]
            metric_stem = stem + (f"_{slug(metric)}" if len(metrics) > 1 else "")
            for draw in (_layer_curves, _head_heatmaps, _comparison_bars, _meeg_figures):
                paths += draw(of_metric, metric, metric_stem, out, benchmark)
    return paths
