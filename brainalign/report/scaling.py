"""Figures over models: scores against a model property, layer curves by relative depth,
and paired variants.

- :func:`plot_scaling`: each model's best-layer score (the leaderboard's
  ``median_score``) against a property, one point per model with the 95 % interval of
  :func:`brainalign.results.median_interval`, pretrained models as filled circles and
  untrained twins as open squares, the noise ceiling as a line; the x axis is
  logarithmic when every value is positive and they span at least a factor of
  :data:`LOG_SPAN` (parameter counts), linear otherwise;
- :func:`plot_depth_curves`: every model's layer curve
  (:func:`brainalign.results.layer_summary`'s median over units) in one panel against
  ``relative_depth`` (0 = embeddings, 1 = last block), untrained twins dashed;
- :func:`plot_pairs`: the mean paired difference variant - base per pair and benchmark
  with its bootstrap interval and FDR-adjusted significance marks
  (:func:`brainalign.report.comparison.plot_model_comparison`).

As everywhere in :mod:`brainalign.report`, a legend has an entry for what is drawn and
for nothing else. :func:`write_model_figures` draws all that a table allows and says why
any figure is absent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brainalign.report.plots import (
    _legend,
    _metric_label,
    _one_metric,
    check_table,
    median_over,
    new_figure,
    output_path,
    save_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LOG_SPAN",
    "MIN_DISTINCT",
    "ModelFigures",
    "plot_depth_curves",
    "plot_pairs",
    "plot_scaling",
    "scaling_properties",
    "write_model_figures",
]

LOG_SPAN = 10.0
"""A positive property spanning at least this factor is drawn on a log axis."""

MIN_DISTINCT = 3
"""Distinct values a property needs (among the models of a table) for a scaling figure."""

CONFIDENCE_LEVEL = 0.95
N_RESAMPLES = 1000

_STYLES = {
    "pretrained": {"marker": "o", "color": "tab:blue", "markerfacecolor": "tab:blue"},
    "untrained": {"marker": "s", "color": "tab:orange", "markerfacecolor": "white"},
}
_LABELS = {"pretrained": "pretrained model", "untrained": "untrained twin (random weights)"}
_CURVE_COLOURS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)


def _one_benchmark(results: pd.DataFrame, metric: str | None) -> tuple[pd.DataFrame, str | None]:
    check_table(results, ["benchmark", "metric", "model", "weights", "control", "layer", "score"])
    benchmarks = list(dict.fromkeys(results["benchmark"]))
    if len(benchmarks) > 1:
        raise ValueError(f"give the rows of one benchmark; these hold {benchmarks}")
    rows, metric = _one_metric(results, metric)
    return rows[(rows["control"] == "") & rows["head"].isna()], metric


def _use_log(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size and (finite > 0).all() and finite.max() / finite.min() >= LOG_SPAN)


# ------------------------------------------------------------------ scaling


def _scaling_points(rows: pd.DataFrame, by: str, seed: int) -> pd.DataFrame:
    """Each model at its best layer with its interval and its property value."""
    from brainalign.results import median_interval, model_scores
    from brainalign.results.across_models import _property_values

    scores = model_scores(rows)
    values = _property_values(rows, by, ["model", "weights"])
    points = scores.merge(values, on=["model", "weights"])
    intervals = []
    for point in points.itertuples(index=False):
        at = rows[
            (rows["model"] == point.model)
            & (rows["weights"] == point.weights)
            & (rows["layer"] == point.layer)
        ]
        interval = median_interval(
            at, confidence_level=CONFIDENCE_LEVEL, n_resamples=N_RESAMPLES, seed=seed
        )
        intervals.append((interval["low"], interval["high"]))
    low, high = zip(*intervals, strict=True) if intervals else ((), ())
    points = points.assign(low=list(low), high=list(high))
    finite = np.isfinite(points["median_score"].to_numpy(dtype=np.float64))
    return points[finite & np.isfinite(points[by].to_numpy(dtype=np.float64))]


def _scaling_figure(
    points: pd.DataFrame, rows: pd.DataFrame, by: str, metric: str | None, title: str | None
) -> Figure:
    from brainalign.report.figures import display_names

    names = display_names(rows)
    figure = new_figure(6.0, 4.6, layout="constrained")
    panel = figure.add_subplot()
    entries: dict[str, list] = {}
    x_all = points[by].to_numpy(dtype=np.float64)
    log = _use_log(x_all)
    for weights, style in _STYLES.items():
        mine = points[points["weights"] == weights]
        if mine.empty:
            continue
        x = mine[by].to_numpy(dtype=np.float64)
        y = mine["median_score"].to_numpy(dtype=np.float64)
        (line,) = panel.plot(x, y, linestyle="none", markersize=7, **style)
        entries[_LABELS[weights]] = [line]
        low, high = mine["low"].to_numpy(np.float64), mine["high"].to_numpy(np.float64)
        has = np.isfinite(low) & np.isfinite(high)
        if has.any():
            bars = panel.errorbar(
                x[has],
                y[has],
                yerr=np.vstack([y - low, high - y])[:, has],
                fmt="none",
                ecolor=style["color"],
                capsize=3,
                lw=1,
            )
            subjects = "subjects" if rows["subject"].nunique() > 1 else "rows"
            entries.setdefault(
                f"{CONFIDENCE_LEVEL:.0%} CI of the median (bootstrap over {subjects})", []
            ).append(bars)
        for model, xi, yi in zip(mine["model"], x, y, strict=True):
            panel.annotate(
                names.get(model, model),
                (xi, yi),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    ceilings = points["median_ceiling"].to_numpy(dtype=np.float64)
    if np.isfinite(ceilings).any():
        line = panel.axhline(float(np.nanmedian(ceilings)), color="0.35", lw=1.2)
        entries["noise ceiling (median over the units with a usable ceiling)"] = [line]
    if log:
        panel.set_xscale("log")
    panel.axhline(0, color="0.6", lw=0.6)
    panel.set_xlabel(f"{by}{' (log scale)' if log else ''}")
    over = median_over(rows, ["model", "weights", "layer"]) or "one score per model"
    panel.set_ylabel(f"{_metric_label(metric)} at the best layer\n({over})")
    _legend(figure, entries, loc="outside lower center", ncol=1)
    figure.suptitle(title or f"{rows['benchmark'].iloc[0]}: score against {by}", fontsize=10)
    return figure


def plot_scaling(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    by: str,
    metric: str | None = None,
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """Each model's best-layer score against a property (see the module documentation).

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Result rows of one benchmark with a column ``by`` (one value per model); controls
        and per-head rows are left out.
    path : path-like
        ``.png`` or ``.svg``, written atomically.
    by : str
        The property (numbers or true/false).
    metric : str, optional
        Needed when the rows hold several metrics.
    title : str, optional
    seed : int, default 0
        Of the intervals' bootstrap.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For rows of several benchmarks, a missing or non-numeric property, or no model
        with both a score and a value of ``by``.
    """
    from brainalign.results.across_models import property_level

    path = output_path(path)
    rows, metric = _one_benchmark(results, metric)
    property_level(rows, by)
    points = _scaling_points(rows, by, seed)
    if points.empty:
        raise ValueError(f"no model has both a score and a value of {by!r}: nothing to plot")
    return save_figure(_scaling_figure(points, rows, by, metric, title), path)


# ------------------------------------------------------------------ depth


def _depth_figure(
    summary: pd.DataFrame, rows: pd.DataFrame, metric: str | None, title: str | None
) -> Figure:
    from brainalign.report.figures import display_names

    names = display_names(rows)
    figure = new_figure(6.0, 4.4, layout="constrained")
    panel = figure.add_subplot()
    entries: dict[str, list] = {}
    twins = []
    for index, model in enumerate(dict.fromkeys(summary["model"])):
        colour = _CURVE_COLOURS[index % len(_CURVE_COLOURS)]
        for weights, style in (("pretrained", "-"), ("untrained", "--")):
            curve = summary[(summary["model"] == model) & (summary["weights"] == weights)]
            curve = curve.sort_values("relative_depth")
            if curve.empty or not np.isfinite(curve["median_score"].to_numpy(float)).any():
                continue
            (line,) = panel.plot(
                curve["relative_depth"],
                curve["median_score"],
                ls=style,
                color=colour,
                marker=".",
                lw=1.4,
            )
            if weights == "pretrained":
                entries[names.get(model, model)] = [line]
            else:
                twins.append(line)
    if twins:
        from matplotlib.lines import Line2D

        key = Line2D([], [], ls="--", color="0.3")
        entries["untrained twin (dashed, the model's colour)"] = [key]
    panel.axhline(0, color="0.6", lw=0.6)
    panel.set_xlim(-0.03, 1.03)
    panel.set_xlabel("relative depth (layer / n_layers: 0 = embeddings, 1 = last block)")
    over = median_over(rows, ["model", "weights", "layer"]) or "one score per layer"
    panel.set_ylabel(f"{_metric_label(metric)}\n({over})")
    _legend(figure, entries, loc="outside lower center", ncol=min(3, len(entries)))
    figure.suptitle(title or f"{rows['benchmark'].iloc[0]}: score by relative depth", fontsize=10)
    return figure


def plot_depth_curves(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metric: str | None = None,
    title: str | None = None,
) -> Path:
    """Every model's layer curve against relative depth, in one panel.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Result rows of one benchmark with ``relative_depth`` (or ``n_layers``) on model
        rows; controls and per-head rows are left out.
    path : path-like
        ``.png`` or ``.svg``, written atomically.
    metric : str, optional
    title : str, optional

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For rows of several benchmarks, rows without the depth columns, or no score.
    """
    from brainalign.results import layer_summary, relative_depths

    path = output_path(path)
    rows, metric = _one_benchmark(results, metric)
    rows = rows[rows["layer"].notna()]
    rows = rows.assign(relative_depth=relative_depths(rows).to_numpy())
    depths = rows.drop_duplicates(["model", "weights", "layer"])
    summary = layer_summary(rows).merge(
        depths[["model", "weights", "layer", "relative_depth"]], on=["model", "weights", "layer"]
    )
    summary = summary[np.isfinite(summary["relative_depth"].to_numpy(dtype=np.float64))]
    if not np.isfinite(summary["median_score"].to_numpy(dtype=np.float64)).any():
        raise ValueError("no model layer has both a score and a relative depth: nothing to plot")
    return save_figure(_depth_figure(summary, rows, metric, title), path)


# ------------------------------------------------------------------ pairs

PAIRS_SIGNIFICANCE = "variant - base differs from 0 (BH-adjusted over benchmarks)"
"""The start of the pairs figure's significance key."""


def plot_pairs(pairs: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """The mean paired difference of each pair and benchmark, with interval and marks.

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`brainalign.results.paired_differences` (:data:`brainalign.results.
        PAIR_COLUMNS`); rows without a finite difference are left out.
    path : path-like
        ``.png`` or ``.svg``.
    title : str, optional

    Returns
    -------
    Path
    """
    from brainalign.report.comparison import plot_model_comparison

    check_table(
        pairs,
        ["pair", "benchmark", "metric", "mean_difference", "low", "high", "p_fdr", "test", "over"],
        "pairs",
    )
    shown = pairs[np.isfinite(pairs["mean_difference"].to_numpy(dtype=np.float64))]
    if shown.empty:
        raise ValueError("no pair has a finite paired difference: nothing to plot")
    table = pd.DataFrame(
        {
            "model": (shown["pair"] + ": " + shown["benchmark"] + " " + shown["metric"]).to_numpy(),
            "estimate": shown["mean_difference"].to_numpy(dtype=np.float64),
            "low": shown["low"].to_numpy(dtype=np.float64),
            "high": shown["high"].to_numpy(dtype=np.float64),
            "p_value": shown["p_fdr"].to_numpy(dtype=np.float64),
        }
    )
    test = "sign-flip permutation" if (shown["test"] == "permutation").all() else "bootstrap"
    over = " / ".join(dict.fromkeys(shown["over"]))
    return plot_model_comparison(
        table,
        path,
        sort=False,
        ylabel=f"variant - base\n(mean over {over}, best layers)",
        title=title or "paired variants: variant - base at each model's best layer",
        interval_label=f"{CONFIDENCE_LEVEL:.0%} CI (paired bootstrap over {over})",
        no_interval_label="fewer than 2 paired units: no interval",
        significance_label=f"{PAIRS_SIGNIFICANCE}, {test} test",
    )


# ------------------------------------------------------------------ all of them


@dataclass
class ModelFigures:
    """What :func:`write_model_figures` drew, and why a kind of figure is absent.

    Attributes
    ----------
    scaling, depth, pairs : list of Path
    absent : dict of str to str
        ``"scaling"``, ``"depth"``, ``"pairs"`` -> the reason none was drawn.
    properties : list of str
        The properties with a scaling figure.
    """

    scaling: list[Path] = field(default_factory=list)
    depth: list[Path] = field(default_factory=list)
    pairs: list[Path] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)
    properties: list[str] = field(default_factory=list)


def scaling_properties(results: pd.DataFrame, candidates: Sequence[str] | None = None) -> list[str]:
    """The model properties worth a scaling figure: numeric (or true/false), one value per
    model, at least :data:`MIN_DISTINCT` distinct values among the pretrained models.

    Parameters
    ----------
    results : pandas.DataFrame
    candidates : sequence of str, optional
        Columns to consider (default: :data:`brainalign.results.CARD_COLUMNS`).

    Returns
    -------
    list of str
    """
    from brainalign.results import CARD_COLUMNS
    from brainalign.results.across_models import _property_values, property_level

    rows = results[(results["control"] == "") & results["head"].isna()]
    chosen = []
    for name in candidates if candidates is not None else CARD_COLUMNS:
        if name not in results.columns or property_level(results, name) != "model":
            continue
        try:
            values = _property_values(rows, name, ["model", "weights"])
        except ValueError:
            continue
        pretrained = values[values["weights"] == "pretrained"][name]
        if pretrained.nunique() >= MIN_DISTINCT:
            chosen.append(name)
    return chosen


def _stems(results: pd.DataFrame) -> list[tuple[str, str, str]]:
    from brainalign.report.figures import benchmark_stems, slug

    out = []
    for benchmark, stem in benchmark_stems(results).items():
        metrics = [
            str(m) for m in dict.fromkeys(results.loc[results["benchmark"] == benchmark, "metric"])
        ]
        for metric in metrics:
            out.append((benchmark, metric, stem + (f"_{slug(metric)}" if len(metrics) > 1 else "")))
    return out


def write_model_figures(
    results: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    properties: Sequence[str] | None = None,
    pairs: pd.DataFrame | None = None,
    seed: int = 0,
) -> ModelFigures:
    """Draw the figures over models that a result table allows.

    Per benchmark and metric: ``<benchmark>_scaling_<property>.png`` for each property of
    :func:`scaling_properties` (with ``properties`` as the candidates, default the card
    columns) when the table holds at least :data:`MIN_DISTINCT` pretrained models;
    ``<benchmark>_depth.png`` when it holds two or more models and their relative depths;
    and ``pairs.png`` from a :func:`brainalign.results.paired_differences` table.

    Parameters
    ----------
    results : pandas.DataFrame
        A result table (with properties attached).
    out_dir : path-like
        Folder for the PNGs (created if needed).
    properties : sequence of str, optional
        Candidate properties (default: the card columns).
    pairs : pandas.DataFrame, optional
        Paired differences to draw.
    seed : int, default 0

    Returns
    -------
    ModelFigures
    """
    from brainalign.report.figures import slug
    from brainalign.results import relative_depths

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn = ModelFigures()
    models = results[(results["control"] == "") & (results["weights"] == "pretrained")]
    n_models = models["model"].nunique()
    drawn.properties = scaling_properties(results, properties)
    if n_models < MIN_DISTINCT:
        drawn.absent["scaling"] = (
            f"{n_models} pretrained model(s); a scaling figure needs {MIN_DISTINCT} or more"
        )
        drawn.properties = []
    elif not drawn.properties:
        drawn.absent["scaling"] = (
            f"no numeric model property with {MIN_DISTINCT} or more distinct values among the "
            "models (card columns or --properties)"
        )
    try:
        has_depth = bool(np.isfinite(relative_depths(results[results["control"] == ""])).any())
    except ValueError:
        has_depth = False
    if results.loc[results["control"] == "", "model"].nunique() < 2:
        drawn.absent["depth"] = "fewer than 2 models"
    elif not has_depth:
        drawn.absent["depth"] = "no relative_depth (model card columns) in the results"
    for benchmark, metric, stem in _stems(results):
        rows = results[(results["benchmark"] == benchmark) & (results["metric"] == metric)]
        for name in drawn.properties:
            path = out / f"{stem}_scaling_{slug(name)}.png"
            drawn.scaling.append(
                plot_scaling(
                    rows,
                    path,
                    by=name,
                    metric=metric,
                    seed=seed,
                    title=f"{benchmark}: {metric} against {name}",
                )
            )
        if "depth" not in drawn.absent:
            drawn.depth.append(plot_depth_curves(rows, out / f"{stem}_depth.png", metric=metric))
    if pairs is None:
        drawn.absent["pairs"] = "no pairs defined (pairs: in the sweep config)"
    elif pairs.empty:
        drawn.absent["pairs"] = "the models of the pairs share no benchmark"
    elif not np.isfinite(pairs["mean_difference"].to_numpy(dtype=np.float64)).any():
        drawn.absent["pairs"] = "no pair shares units on a benchmark"
    else:
        drawn.pairs.append(plot_pairs(pairs, out / "pairs.png"))
    return drawn
