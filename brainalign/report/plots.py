"""Figures read at a glance: score by layer, layers x heads, model comparison.

Every function draws on a fresh :class:`matplotlib.figure.Figure` (no pyplot state, so
nothing leaks between calls or threads), writes it atomically (a temporary file renamed
onto ``path``: the picture appears whole or not at all) and returns the path. The format
follows the suffix: ``.png`` or ``.svg``. Brain maps are in
:mod:`brainalign.report.brain_maps`, RDMs in :mod:`brainalign.report.rdm`, model
comparison bars in :mod:`brainalign.report.comparison`; the shared helpers (output
path, atomic save, colour scale, table checks) live here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign._io import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}
"""Output formats, chosen by the path's suffix."""

METRIC_LABELS = {"pearson_r": "held-out Pearson r"}
"""Axis labels for known metric names (others are shown as they are)."""

# ------------------------------------------------------------------ shared helpers


def output_path(path: str | os.PathLike) -> Path:
    """Check an output path before drawing: a ``.png`` or ``.svg`` in an existing folder.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(
            f"path {str(path)!r} must end in {' or '.join(FORMATS)} (the format follows the suffix)"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"folder {str(path.parent)!r} of path {str(path)!r} does not exist; create it first"
        )
    return path


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write a figure atomically as PNG or SVG (by suffix) and return the path.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : path-like
        ``.png`` or ``.svg``; written to a temporary file next to it, then renamed.
    dpi : int, default 110
        Resolution of a PNG.

    Returns
    -------
    Path
    """
    path = output_path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format=FORMATS[path.suffix.lower()], dpi=dpi)
    return path


def new_figure(width: float, height: float) -> Figure:
    """A figure that belongs to no pyplot state, drawn with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def to_numpy(values: Any, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like (numpy, torch on any device, list)."""
    if hasattr(values, "detach"):  # torch tensor, possibly on a GPU
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric; got {type(values).__name__}") from error


def colour_scale(
    values: np.ndarray,
    *,
    signed: bool | None = None,
    sequential: str = "viridis",
    diverging: str = "RdBu_r",
) -> tuple[str, float, float, bool]:
    """Colormap and limits: diverging and symmetric about 0 for signed values.

    Parameters
    ----------
    values : numpy.ndarray, any shape
        NaN ignored; at least one finite value.
    signed : bool, optional
        Force the choice; default: signed when any finite value is negative.

    Returns
    -------
    cmap : str
    vmin, vmax : float
    signed : bool
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("nothing to draw: every value is NaN or infinite")
    if signed is None:
        signed = bool(finite.min() < 0)
    if signed:
        limit = float(np.abs(finite).max()) or 1.0
        return diverging, -limit, limit, True
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        high = low + 1.0
    return sequential, low, high, False


def check_table(table: Any, columns: Sequence[str], name: str = "results") -> pd.DataFrame:
    """Check a DataFrame has rows and the named columns (all missing ones are named)."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame; got {type(table).__name__}")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(table.columns)} "
            "(see brainalign.results.RESULT_COLUMNS)"
        )
    if table.empty:
        raise ValueError(f"{name} is empty: nothing to plot")
    return table


def _one_metric(results: pd.DataFrame, metric: str | None) -> tuple[pd.DataFrame, str | None]:
    """Rows of one metric: ``metric`` if given, else the only one present."""
    if "metric" not in results.columns:
        if metric is not None:
            raise ValueError(f"metric={metric!r} given but results has no 'metric' column")
        return results, None
    present = list(dict.fromkeys(results["metric"]))
    if metric is None:
        if len(present) > 1:
            raise ValueError(f"results hold several metrics {present}; choose one with metric=")
        metric = present[0]
    rows = results[results["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no rows with metric {metric!r}; results hold {present}")
    return rows, metric


def _metric_label(metric: str | None) -> str:
    return METRIC_LABELS.get(metric, metric) if metric else "score"


# ------------------------------------------------------------------ score by layer


def _is_control(model: str, control: str | Sequence[str] | None) -> bool:
    if control is None:
        return False
    prefixes = (control,) if isinstance(control, str) else tuple(control)
    return model.startswith(prefixes)


def _quartiles(rows: pd.DataFrame, value: str, by: str | None) -> pd.DataFrame:
    """Median and quartiles of ``value`` (NaN skipped), per ``by`` or over all rows."""
    values = rows.groupby(by)[value] if by else rows[value]
    frame = pd.DataFrame(
        {"q1": values.quantile(0.25), "median": values.median(), "q3": values.quantile(0.75)},
        index=None if by else [0],
    )
    return frame


def _layer_curve_values(
    results: pd.DataFrame, metric: str | None, normalized: bool
) -> tuple[pd.DataFrame, str]:
    """The rows to draw and the column holding the plotted value."""
    check_table(results, ["model", "layer", "subject", "roi", "score"])
    scores, _ = _one_metric(results, metric)
    scores = scores.copy()
    if not normalized:
        return scores, "score"
    has_ceiling = "ceiling" in scores.columns and scores["ceiling"].notna().any()
    if not has_ceiling:
        raise ValueError("normalized=True needs a 'ceiling' column with values; plot raw scores")
    if "normalized_score" not in scores.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores["normalized_score"] = scores["score"].astype(float) / scores["ceiling"]
    infinite = np.isinf(scores["normalized_score"].to_numpy(dtype=float))
    if infinite.any():
        raise ValueError(
            f"{int(infinite.sum())} row(s) have an infinite normalized_score (ceiling 0); "
            "drop them or plot raw scores (normalized=False)"
        )
    return scores, "normalized_score"


def _draw_ceiling(panel: Any, rows: pd.DataFrame, normalized: bool) -> None:
    """Noise ceiling: median line over subjects and a grey band from Q1 to Q3."""
    if normalized:
        panel.axhline(1.0, color="0.4", lw=1.2, label="noise ceiling (= 1)")
        return
    if "ceiling" not in rows.columns:
        return
    ceiling = rows.drop_duplicates("subject")["ceiling"].astype(float)
    if ceiling.notna().any():
        q1, median, q3 = np.nanpercentile(ceiling, [25, 50, 75])
        panel.axhspan(q1, q3, color="0.85", zorder=0)
        panel.axhline(median, color="0.4", lw=1.2, label="noise ceiling (median, IQR)")


def _draw_control(panel: Any, rows: pd.DataFrame, value: str, name: str, style: dict) -> None:
    """A control baseline: median over subjects, IQR as a hatched band."""
    layered = rows[rows["layer"].notna()]
    if layered.empty:
        stats = _quartiles(rows, value, None).iloc[0]
        panel.axhspan(stats["q1"], stats["q3"], alpha=0.12, hatch="//", lw=0, **style)
        panel.axhline(stats["median"], ls=":", lw=1.3, label=name, **style)
        return
    stats = _quartiles(layered, value, "layer")
    layers = stats.index.to_numpy(dtype=int)
    panel.fill_between(layers, stats["q1"], stats["q3"], alpha=0.12, hatch="//", lw=0, **style)
    panel.plot(layers, stats["median"], ls=":", lw=1.3, label=name, **style)


def _draw_model(panel: Any, rows: pd.DataFrame, value: str, name: str, colour: str, ls: str):
    """A model's median over subjects per layer; its IQR shaded for solid curves."""
    stats = _quartiles(rows[rows["layer"].notna()], value, "layer")
    layers = stats.index.to_numpy(dtype=int)
    panel.plot(layers, stats["median"], ls, marker="o", ms=3, color=colour, label=name)
    if ls == "-":
        panel.fill_between(layers, stats["q1"], stats["q3"], color=colour, alpha=0.15)


def _split_models(
    scores: pd.DataFrame, untrained_suffix: str, control: str | Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Models drawn as curves and controls drawn as bands, in table order."""
    layered = set(scores.loc[scores["layer"].notna(), "model"])
    curves, controls = [], []
    for model in dict.fromkeys(scores["model"]):
        if _is_control(model, control) or model not in layered:
            controls.append(model)
        elif not model.endswith(untrained_suffix) or model[: -len(untrained_suffix)] not in layered:
            curves.append(model)
    if not curves:
        raise ValueError(
            "no model with layers to draw: every row is a control or has no layer "
            f"(models: {list(dict.fromkeys(scores['model']))})"
        )
    return curves, controls


def _legend_entries(panels: Any) -> tuple[list, list]:
    """Legend handles of every panel, each label once, in order of appearance."""
    entries: dict[str, Any] = {}
    for panel in panels:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _layer_curves_figure(
    results: pd.DataFrame,
    *,
    metric: str | None,
    normalized: bool,
    control: str | Sequence[str] | None,
    untrained_suffix: str,
    title: str | None,
) -> Figure:
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    scores, value = _layer_curve_values(results, metric, normalized)
    metric = scores["metric"].iloc[0] if "metric" in scores.columns else None
    curves, controls = _split_models(scores, untrained_suffix, control)
    rois = list(dict.fromkeys(scores["roi"]))
    n_columns = min(3, len(rois))
    n_rows = int(np.ceil(len(rois) / n_columns))
    figure = new_figure(4.2 * n_columns, 3.3 * n_rows + 0.6)
    axes = figure.subplots(n_rows, n_columns, squeeze=False, sharey=True)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    control_colours = ["black", "tab:brown", "tab:olive", "tab:gray"]
    for panel, roi in zip(axes.flat, rois, strict=False):
        in_roi = scores[scores["roi"] == roi]
        _draw_ceiling(panel, in_roi, normalized)
        for index, model in enumerate(curves):
            colour = colours[index % len(colours)]
            for name, ls in ((model, "-"), (model + untrained_suffix, "--")):
                rows = in_roi[in_roi["model"] == name]
                if not rows.empty and (ls == "-" or name not in controls):
                    _draw_model(panel, rows, value, name, colour, ls)
        for index, model in enumerate(controls):
            rows = in_roi[in_roi["model"] == model]
            if not rows.empty:
                colour = control_colours[index % len(control_colours)]
                _draw_control(panel, rows, value, model, {"color": colour})
        panel.axhline(0, color="0.6", lw=0.6)
        panel.set_title(str(roi))
        panel.set_xlabel("layer (0 = embeddings)")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    for panel in list(axes.flat)[len(rois) :]:
        panel.set_visible(False)
    what = "score / noise ceiling" if normalized else _metric_label(metric)
    figure.supylabel(f"{what} (median over subjects)", fontsize=10)
    handles, labels = _legend_entries(axes.flat)
    figure.legend(
        handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8, frameon=False
    )
    if title is None:
        dataset = ""
        if "dataset" in scores.columns:
            dataset = ", ".join(map(str, dict.fromkeys(scores["dataset"].dropna()))) + ": "
        title = f"{dataset}encoding score by layer"
    figure.suptitle(title)
    bottom = (0.1 + 0.18 * (1 + (len(labels) - 1) // 5)) / (3.3 * n_rows + 0.6)
    figure.tight_layout(rect=(0, bottom + 0.02, 1, 0.97))
    _widen_to_legend(figure)
    return figure


def _widen_to_legend(figure: Figure) -> None:
    """Widen a figure whose legend (one row under the panels) is wider than it.

    The subplot parameters are fractions of the figure, so the panels widen with it and
    the bottom margin reserved for the legend keeps its height.
    """
    if not figure.legends:
        return
    figure.canvas.draw()
    needed = figure.legends[0].get_window_extent().width / figure.dpi + 0.3
    width, height = figure.get_size_inches()
    if needed > width:
        figure.set_size_inches(needed, height)


def plot_layer_curves(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metric: str | None = None,
    normalized: bool = False,
    control: str | Sequence[str] | None = "nuisance:",
    untrained_suffix: str = "@untrained",
    title: str | None = None,
) -> Path:
    """Score by layer, one curve per model, one panel per ROI, with ceiling and controls.

    Each model: the median over subjects per layer (solid, markers) with its interquartile
    range shaded; its random-weight twin (``MODEL@untrained``) dashed in the same colour.
    Control baselines: their median over subjects as a dotted line and their IQR as a
    hatched band (horizontal for layer-free controls such as nuisance regressors). The
    noise ceiling: median over subjects as a solid grey line, IQR as a grey band.

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        Tidy results (:func:`brainalign.results.make_results`) with at least ``model,
        layer, subject, roi, score``; ``metric``, ``ceiling``, ``normalized_score`` and
        ``dataset`` are used when present. One row per subject is expected per (model,
        roi, layer); NaN scores are skipped.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    metric : str, optional
        Rows of this metric; default: the only metric present (an error if several).
    normalized : bool, default False
        Plot ``normalized_score`` (score / ceiling; computed if the column is absent)
        with the ceiling at 1, instead of raw scores with the ceiling band.
    control : str or sequence of str or None, default "nuisance:"
        Model-name prefix(es) of control baselines, drawn as bands. Models with no
        layered row are drawn as bands too; None: only those.
    untrained_suffix : str, default "@untrained"
        Suffix naming a model's random-weight twin (drawn dashed next to it).
    title : str, optional
        Default: ``"<datasets>: encoding score by layer"``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For missing columns, empty results, several metrics without ``metric``, no model
        with layers, or ``normalized=True`` without ceilings (or with a zero ceiling).
    """
    path = output_path(path)
    figure = _layer_curves_figure(
        results,
        metric=metric,
        normalized=normalized,
        control=control,
        untrained_suffix=untrained_suffix,
        title=title,
    )
    return save_figure(figure, path)


def plot_score_by_layer(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    untrained_suffix: str = "@untrained",
    nuisance_prefix: str = "nuisance:",
) -> Path:
    """Draw held-out Pearson r by layer, one panel per ROI, with the ceiling and controls.

    The figure of ``brainalign score``: :func:`plot_layer_curves` on the ``pearson_r``
    rows, with models named ``<nuisance_prefix>...`` as control bands.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results with ``model, layer, subject, roi, metric, score, ceiling``.
    path : path-like
        Output PNG (or SVG), written atomically.
    untrained_suffix : str, default "@untrained"
    nuisance_prefix : str, default "nuisance:"

    Returns
    -------
    Path
    """
    check_table(results, ["metric"])
    return plot_layer_curves(
        results,
        path,
        metric="pearson_r",
        control=nuisance_prefix,
        untrained_suffix=untrained_suffix,
    )


# ------------------------------------------------------------------ layers x heads


def _head_matrix(
    scores: pd.DataFrame | np.ndarray, metric: str | None, aggregate: str
) -> tuple[np.ndarray, list, list, str | None]:
    """(n_layers, n_heads) values with layer and head labels, and the metric."""
    if not isinstance(scores, pd.DataFrame):
        matrix = to_numpy(scores, "scores")
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ValueError(
                f"scores must be a (n_layers, n_heads) array or a DataFrame; got shape "
                f"{matrix.shape}"
            )
        return matrix, list(range(matrix.shape[0])), list(range(matrix.shape[1])), metric
    check_table(scores, ["layer", "head", "score"], "scores")
    rows, metric = _one_metric(scores, metric)
    for column in ("model", "roi"):
        if column in rows.columns and rows[column].nunique() > 1:
            raise ValueError(
                f"scores hold several {column}s {list(dict.fromkeys(rows[column]))}; select one "
                f"first (scores[scores[{column!r}] == ...])"
            )
    if aggregate not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean'; got {aggregate!r}")
    table = rows.pivot_table(index="layer", columns="head", values="score", aggfunc=aggregate)
    return table.to_numpy(dtype=float), list(table.index), list(table.columns), metric


def _set_ticks(set_ticks: Callable, set_labels: Callable, labels: list) -> None:
    step = max(1, int(np.ceil(len(labels) / 16)))
    positions = np.arange(0, len(labels), step)
    set_ticks(positions)
    set_labels([str(labels[i]) for i in positions])


def plot_head_heatmap(
    scores: pd.DataFrame | np.ndarray,
    path: str | os.PathLike,
    *,
    metric: str | None = None,
    mask: np.ndarray | None = None,
    signed: bool | None = None,
    aggregate: str = "median",
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Path:
    """Layers x heads heatmap; diverging colours for signed values, optional marks.

    Parameters
    ----------
    scores : pandas.DataFrame or array-like, shape (n_layers, n_heads)
        A table with ``layer, head, score`` (and ``metric``; at most one ``model`` and one
        ``roi``), summarised over its other rows (subjects) by ``aggregate``; or an array
        (numpy or torch). NaN cells are left blank.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    metric : str, optional
        Rows of this metric; default: the only one present. Labels the colorbar.
    mask : array-like of bool, shape (n_layers, n_heads), optional
        Cells to mark with a dot (e.g. significant after FDR); rows are the layers and
        columns the heads in ascending order.
    signed : bool, optional
        Diverging colormap symmetric about 0 (``RdBu_r``) or sequential (``viridis``);
        default: diverging when any value is negative.
    aggregate : {"median", "mean"}, default "median"
    colorbar_label : str, optional
        Default: the metric.
    title : str, optional

    Returns
    -------
    Path
    """
    path = output_path(path)
    matrix, layers, heads, metric = _head_matrix(scores, metric, aggregate)
    marks = None
    if mask is not None:
        marks = np.asarray(mask)
        if marks.shape != matrix.shape or marks.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {matrix.shape} (layers x heads); got "
                f"{marks.dtype} of shape {marks.shape}"
            )
    cmap, vmin, vmax, _ = colour_scale(matrix, signed=signed)
    figure = new_figure(min(12.0, 2.5 + 0.32 * len(heads)), min(10.0, 1.8 + 0.3 * len(layers)))
    panel = figure.add_subplot()
    image = panel.imshow(
        np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax, origin="lower",
        aspect="auto", interpolation="nearest",
    )  # fmt: skip
    if marks is not None and marks.any():
        layer_index, head_index = np.nonzero(marks)
        panel.scatter(head_index, layer_index, s=12, c="black", marker="o", label="marked")
    _set_ticks(panel.set_xticks, panel.set_xticklabels, heads)
    _set_ticks(panel.set_yticks, panel.set_yticklabels, layers)
    panel.set_xlabel("head")
    panel.set_ylabel("layer")
    figure.colorbar(image, ax=panel, label=colorbar_label or _metric_label(metric))
    if title:
        panel.set_title(title)
    figure.tight_layout()
    return save_figure(figure, path)
