"""The figures of a benchmark run, drawn from its tidy results table.

:func:`write_benchmark_figures` takes the table ``brainalign score --benchmark ...``
writes (:data:`brainalign.results.RESULT_COLUMNS`, then ``benchmark`` and any extra
columns such as ``head``, ``session``, ``ceiling_lower``) and draws, per benchmark, with
the plotting functions of :mod:`brainalign.report.plots` and
:mod:`brainalign.report.comparison`:

- ``<benchmark>_by_layer.png``: score by layer, one curve per model (median over units,
  IQR shaded), the untrained twin dashed, content-free controls as hatched bands, the
  noise ceiling as a grey band (:func:`~brainalign.report.plots.plot_layer_curves`);
- ``<benchmark>_<model>[_<roi>]_heads.png``: a layers x heads heatmap per model (and
  ROI) when the ``head`` column has values
  (:func:`~brainalign.report.plots.plot_head_heatmap`);
- ``<benchmark>_models.png``: each model at its best layer, with a bootstrap confidence
  interval and significance marks against the content-free control
  (:func:`~brainalign.report.comparison.plot_model_comparison`).

Control rows follow the runners' labels: ``MODEL@untrained`` (the random-weight twin),
``control:...`` (content-free features, e.g. ``control:random-word-vectors``) and
``nuisance:...`` (alice2016's word-rate and sound-power regressors).

RDM pictures (:mod:`brainalign.report.rdm`) and brain maps
(:mod:`brainalign.report.brain_maps`) need RDMs or per-voxel values and coordinates,
which a results table does not hold; they are drawn by the code that has them.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brainalign.report.comparison import plot_model_comparison
from brainalign.report.plots import (
    check_table,
    plot_head_heatmap,
    plot_layer_curves,
)

if TYPE_CHECKING:
    pass

UNTRAINED_SUFFIX = "@untrained"
"""Suffix of a model's random-weight twin (a control)."""

CONTENT_FREE_PREFIXES = ("control:", "nuisance:")
"""Model-name prefixes of content-free control rows (no layers of a model)."""

UNIT_COLUMNS = ("subject", "session", "roi")
"""Columns that identify one unit of a score (pairing key across models)."""

N_RESAMPLES = 1000
"""Bootstrap resamples of the comparison bars' confidence intervals."""

FIGURE_COLUMNS = ("model", "layer", "subject", "roi", "metric", "score")
"""Columns :func:`write_benchmark_figures` needs (plus ``benchmark`` or ``dataset``)."""


# ------------------------------------------------------------------ names and roles


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


def benchmark_column(results: pd.DataFrame) -> str:
    """The column naming the benchmark: ``benchmark``, else ``dataset`` (plain ``score``)."""
    if "benchmark" in results.columns and results["benchmark"].notna().any():
        return "benchmark"
    return "dataset"


def is_content_free(model: str) -> bool:
    """True for a content-free control (``control:...`` or ``nuisance:...``)."""
    return str(model).startswith(CONTENT_FREE_PREFIXES)


def control_kind(model: str, models: set[str]) -> str:
    """``"content-free"``, ``"untrained twin"`` or ``""`` (a model) for a model label.

    A ``MODEL@untrained`` row is the twin of ``MODEL`` when ``MODEL`` is among ``models``;
    scored alone (``weights="untrained"``) it is the model of its run.
    """
    model = str(model)
    if is_content_free(model):
        return "content-free"
    if model.endswith(UNTRAINED_SUFFIX) and model[: -len(UNTRAINED_SUFFIX)] in models:
        return "untrained twin"
    return ""


def _layer_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Whole-layer rows: those without a head when some rows have none, else all rows."""
    if "head" not in rows.columns:
        return rows
    whole = rows[rows["head"].isna()]
    return whole if not whole.empty else rows


def _has_heads(rows: pd.DataFrame) -> bool:
    return "head" in rows.columns and rows["head"].notna().any()


# ------------------------------------------------------------------ best layers


def _unit_means(rows: pd.DataFrame) -> pd.Series:
    """Scores per resampling unit: per subject (mean over its rows) when there are
    several subjects, else per row; indexed by the unit key, NaN dropped."""
    rows = rows[np.isfinite(rows["score"].to_numpy(dtype=float))]
    if "subject" in rows.columns and rows["subject"].nunique() > 1:
        return rows.groupby("subject", sort=True)["score"].mean()
    keys = [c for c in UNIT_COLUMNS if c in rows.columns]
    return rows.set_index(keys)["score"].astype(float).sort_index()


def _best_layer(rows: pd.DataFrame) -> object:
    """The layer with the highest mean score (NaN skipped); NA for layer-free rows."""
    layered = rows[rows["layer"].notna()]
    means = layered.groupby("layer")["score"].mean().dropna()
    if means.empty:
        return pd.NA
    return means.index[int(np.argmax(means.to_numpy(dtype=float)))]


def _rows_at(rows: pd.DataFrame, layer: object) -> pd.DataFrame:
    if pd.isna(layer):
        return rows[rows["layer"].isna()] if rows["layer"].isna().any() else rows
    return rows[rows["layer"] == layer]


def best_layer_table(results: pd.DataFrame) -> pd.DataFrame:
    """Each model's best layer per benchmark and metric, with its score and ceiling.

    The best layer is the one with the highest mean score over units (rows of whole
    layers; per-head rows are left out when whole-layer rows exist). It is chosen on the
    same data it is reported on, so it is an optimistic (selected) estimate.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Tidy results with ``model, layer, subject, roi, metric, score`` and ``benchmark``
        (or ``dataset``); ``ceiling``, ``ceiling_lower``, ``normalized_score``,
        ``session``, ``head`` are used when present.

    Returns
    -------
    pandas.DataFrame, shape (n_benchmarks x n_metrics x n_models, 11)
        ``benchmark, metric, model, control, best_layer, score, n_units, ceiling,
        ceiling_lower, normalized_score, n_layers``, in table order: ``score`` the mean
        over the layer's rows, ``ceiling`` (and ``ceiling_lower``) the mean of theirs,
        ``normalized_score`` = score / ceiling (a ratio of means, as Brain-Score
        normalises its aggregate: a mean of per-row ratios is dominated by the rows whose
        ceiling is near 0; NaN without a ceiling), ``control`` as :func:`control_kind`.
    """
    check_table(results, FIGURE_COLUMNS)
    key = benchmark_column(results)
    records = []
    groups = results.groupby([key, "metric", "model"], sort=False, dropna=False)
    for (benchmark, metric, model), rows in groups:
        rows = _layer_rows(rows)
        models = set(results.loc[results[key] == benchmark, "model"].astype(str))
        layer = _best_layer(rows)
        at = _rows_at(rows, layer)
        records.append(
            {
                "benchmark": benchmark,
                "metric": metric,
                "model": model,
                "control": control_kind(model, models),
                "best_layer": layer,
                "score": _nan_mean(at["score"]),
                "n_units": int(np.isfinite(at["score"].to_numpy(dtype=float)).sum()),
                "ceiling": _nan_mean(at.get("ceiling")),
                "ceiling_lower": _nan_mean(at.get("ceiling_lower")),
                "n_layers": int(rows["layer"].dropna().nunique()),
            }
        )
    table = pd.DataFrame.from_records(records)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = table["score"].to_numpy(dtype=float) / table["ceiling"].to_numpy(dtype=float)
    table.insert(table.columns.get_loc("ceiling_lower") + 1, "normalized_score", normalized)
    table["best_layer"] = table["best_layer"].astype("Int64")
    return table


def _finite(values: pd.Series | None) -> np.ndarray:
    if values is None:
        return np.empty(0)
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)]


def _nan_mean(values: pd.Series | None) -> float:
    finite = _finite(values)
    return float(finite.mean()) if finite.size else float("nan")


def _nan_median(values: pd.Series | None) -> float:
    finite = _finite(values)
    return float(np.median(finite)) if finite.size else float("nan")


# ------------------------------------------------------------------ comparison bars


def _comparison(rows: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """``model, estimate, low, high, p_value`` for the bars of one benchmark and metric.

    Interval: percentile bootstrap of the mean over units (subjects when several, else
    rows) at the best layer; NaN with fewer than 2 units. P-value: paired bootstrap of
    the difference to the best content-free control on the shared units
    (:func:`~brainalign.alignment.stats.bootstrap_difference`), Benjamini-Hochberg
    adjusted over the models of the benchmark; NaN for controls and without pairs.
    """
    from brainalign.alignment.stats import bootstrap_difference, bootstrap_mean, fdr_bh

    units = {}
    for model, layer in zip(best["model"], best["best_layer"], strict=True):
        units[model] = _unit_means(_rows_at(_layer_rows(rows[rows["model"] == model]), layer))
    free = best[best["control"] == "content-free"]
    reference = None
    if free["score"].notna().any():
        reference = free["model"].iloc[int(np.nanargmax(free["score"].to_numpy(dtype=float)))]
    table = []
    for model in best["model"]:
        values = units[model].to_numpy(dtype=float)
        estimate = float(values.mean()) if values.size else float("nan")
        low = high = p_value = float("nan")
        if values.size >= 2:
            interval = bootstrap_mean(values, n_resamples=N_RESAMPLES, seed=0)
            low, high = float(interval.low), float(interval.high)
        if reference is not None and not is_content_free(model):
            shared = units[model].index.intersection(units[reference].index)
            if len(shared) >= 2:
                a = units[model].loc[shared].to_numpy(dtype=float)
                b = units[reference].loc[shared].to_numpy(dtype=float)
                p_value = float(bootstrap_difference(a, b, n_resamples=N_RESAMPLES).p_value)
        table.append((model, estimate, low, high, p_value))
    table = pd.DataFrame(table, columns=["model", "estimate", "low", "high", "p_value"])
    table = table[np.isfinite(table["estimate"])]
    if table["p_value"].notna().any():
        table["p_value"] = np.asarray(fdr_bh(table["p_value"].to_numpy(dtype=float))[1])
    return table.reset_index(drop=True)


def _ceiling_for_bars(best: pd.DataFrame) -> float | tuple[float, float] | None:
    """The median ceiling of the scored models, or (lower, upper) RSA bounds."""
    upper = _nan_median(best["ceiling"])
    if not np.isfinite(upper):
        return None
    lower = _nan_median(best["ceiling_lower"])
    return (lower, upper) if np.isfinite(lower) and lower <= upper else upper


# ------------------------------------------------------------------ the figures


def _unique_stems(names: list[str]) -> dict[str, str]:
    """A file stem per name; a short hash is added where two names share a slug."""
    slugs = {name: slug(name) for name in names}
    counts = pd.Series(list(slugs.values())).value_counts()
    return {
        name: s if counts[s] == 1 else f"{s}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"
        for name, s in slugs.items()
    }


def _layer_curves(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    content_free = rows["model"].astype(str).map(is_content_free).to_numpy(dtype=bool)
    if not (rows["layer"].notna().to_numpy(dtype=bool) & ~content_free).any():
        return []
    path = out / f"{stem}_by_layer.png"
    return [
        plot_layer_curves(
            _layer_rows(rows),
            path,
            metric=metric,
            control=CONTENT_FREE_PREFIXES,
            untrained_suffix=UNTRAINED_SUFFIX,
            title=f"{title}: {metric} by layer",
        )
    ]


def _head_heatmaps(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    if not _has_heads(rows):
        return []
    heads = rows[rows["head"].notna() & rows["layer"].notna()]
    models = list(dict.fromkeys(heads["model"].astype(str)))
    model_stems = _unique_stems(models)
    paths = []
    for model in models:
        of_model = heads[heads["model"] == model]
        rois = list(dict.fromkeys(of_model["roi"].astype(str)))
        roi_stems = _unique_stems(rois)
        for roi in rois:
            cells = of_model[of_model["roi"].astype(str) == roi]
            if not np.isfinite(cells["score"].to_numpy(dtype=float)).any():
                continue
            suffix = f"_{roi_stems[roi]}" if len(rois) > 1 else ""
            path = out / f"{stem}_{model_stems[model]}{suffix}_heads.png"
            where = f" ({roi})" if len(rois) > 1 else ""
            plot_head_heatmap(
                cells, path, metric=metric, title=f"{title}: {model}{where}, median over units"
            )
            paths.append(path)
    return paths


def _comparison_bars(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str) -> list:
    best = best_layer_table(rows)
    table = _comparison(rows, best)
    if table.empty:
        return []
    path = out / f"{stem}_models.png"
    plot_model_comparison(
        table,
        path,
        ceiling=_ceiling_for_bars(best[best["control"] == ""]),
        ylabel=f"{title}\n{metric} at the best layer (95% CI)",
    )
    return [path]


def display_names(results: pd.DataFrame) -> dict[str, str]:
    """Short labels of the ``model`` column for figures: a local model directory by its
    last component (or the last two, where the last is a generic ``model`` or
    ``snapshot`` folder), hub ids and controls as they are; the full names stay where
    two models would share a label. ``@untrained`` twins keep their suffix.

    Returns
    -------
    dict
        Full name -> label, for every value of ``results["model"]``.
    """
    full = [str(m) for m in dict.fromkeys(results["model"].astype(str))]

    def short(name: str) -> str:
        base, suffix = (
            (name[: -len(UNTRAINED_SUFFIX)], UNTRAINED_SUFFIX)
            if name.endswith(UNTRAINED_SUFFIX)
            else (name, "")
        )
        if not base.startswith(("/", ".", "~")) or is_content_free(base):
            return name
        parts = Path(base).parts
        keep = 2 if parts and parts[-1] in ("model", "snapshot", "checkpoint") else 1
        return "/".join(parts[-keep:]) + suffix

    labels = {name: short(name) for name in full}
    if len(set(labels.values())) < len(labels):
        return {name: name for name in full}
    return labels


def write_benchmark_figures(results: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """Write the figures of a benchmark run: per benchmark, curves, heatmaps and bars.

    Per benchmark (and metric, when a benchmark has several; its name then joins the
    file stem): ``<benchmark>_by_layer.png`` (score by layer with ceiling and control
    bands), ``<benchmark>_<model>[_<roi>]_heads.png`` per model with per-head rows, and
    ``<benchmark>_models.png`` (best layer per model: mean over units, 95% percentile
    bootstrap CI over subjects, or over rows with one subject; stars: paired bootstrap
    against the best content-free control, BH-adjusted). Names are file-safe forms of
    the benchmark and model labels (:func:`slug`), the same for the same table.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Tidy results with at least ``model, layer, subject, roi, metric, score`` and
        ``benchmark`` (or ``dataset``, as plain ``brainalign score`` writes); ``ceiling``,
        ``ceiling_lower``, ``normalized_score``, ``session``, ``head`` are used when
        present. Controls are named as the runners name them (module docstring).
    out_dir : path-like
        Folder for the PNGs (created if needed); each is written atomically.

    Returns
    -------
    list of Path
        The files written, in table order of benchmarks.

    Raises
    ------
    ValueError
        If ``results`` is not a non-empty DataFrame with the columns above.
    """
    check_table(results, FIGURE_COLUMNS)
    results = results.assign(model=results["model"].astype(str).map(display_names(results)))
    key = benchmark_column(results)
    if results[key].isna().all():
        raise ValueError(f"results has no {key!r} value: cannot tell the benchmarks apart")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    benchmarks = [str(b) for b in dict.fromkeys(results[key].dropna())]
    stems = _unique_stems(benchmarks)
    paths: list[Path] = []
    for benchmark in benchmarks:
        rows = results[results[key].astype(str) == benchmark]
        metrics = [str(m) for m in dict.fromkeys(rows["metric"].dropna())]
        for metric in metrics:
            of_metric = rows[rows["metric"] == metric]
            stem = stems[benchmark] + (f"_{slug(metric)}" if len(metrics) > 1 else "")
            for draw in (_layer_curves, _head_heatmaps, _comparison_bars):
                paths += draw(of_metric, metric, stem, out, benchmark)
    return paths
