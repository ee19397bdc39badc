"""Figures read at a glance: score by layer and layers x heads, from result tables.

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


def new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    """A figure that belongs to no pyplot state, drawn with the Agg canvas.

    Parameters
    ----------
    width, height : float
        Inches.
    layout : {"constrained", "tight"}, optional
        Matplotlib's layout engine: ``"constrained"`` keeps titles, axis labels and an
        outside legend inside the figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout=layout)
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


# ------------------------------------------------------------------ what a summary is over

_REPLICATES = {"subject": "subjects", "session": "sessions", "unit": "units"}


def median_over(rows: pd.DataFrame, by: Sequence[str]) -> str | None:
    """What the median of each group of ``rows`` is taken over, for axis labels.

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n_rows, ...)
        Result rows; NaN scores are left out (as the summaries leave them out).
    by : sequence of str
        The columns of one group (e.g. the entity columns, ``layer`` and ``unit``).

    Returns
    -------
    str or None
        ``"median over subjects"``, ``"median over subjects x sessions"``, ... (the
        columns of :data:`_REPLICATES` that vary within a group), ``"median over N
        rows"`` when none of them varies; None when every group holds one score (there
        is no median to speak of: one score per group).
    """
    finite = rows[np.isfinite(rows["score"].to_numpy(dtype=np.float64))]
    if finite.empty:
        return None
    groups = finite.groupby(list(by), dropna=False, sort=False)
    largest = int(groups.size().max())
    if largest <= 1:
        return None
    varying = [
        plural
        for column, plural in _REPLICATES.items()
        if column in finite.columns and column not in by and groups[column].nunique().max() > 1
    ]
    return "median over " + (" x ".join(varying) if varying else f"{largest} rows")


LEGEND_WIDTH = 70
"""Legend labels longer than this many characters are wrapped."""


def _legend(figure: Figure, entries: dict[str, list], **kwargs: Any) -> None:
    """A figure legend with one entry per label, the figure widened to hold it.

    An entry's artists (a line and its band) take its label and are drawn on top of
    each other in its key; labels are wrapped at :data:`LEGEND_WIDTH` characters.
    """
    import textwrap

    from matplotlib.legend_handler import HandlerTuple

    for label, artists in entries.items():
        for artist in artists:
            artist.set_label(label)
    legend = figure.legend(
        [tuple(artists) for artists in entries.values()],
        [textwrap.fill(label, LEGEND_WIDTH) for label in entries],
        handler_map={tuple: HandlerTuple(ndivide=1)},
        frameon=False,
        fontsize=8,
        **kwargs,
    )
    figure.canvas.draw()
    needed = legend.get_window_extent().width / figure.dpi + 0.4
    width, height = figure.get_size_inches()
    if needed > width:
        figure.set_size_inches(needed, height)


# ------------------------------------------------------------------ score by layer

_ENTITY = ["model", "weights", "control", "control_of"]
_CONTROL_COLOURS = ("black", "tab:brown", "tab:olive", "tab:gray", "tab:pink", "tab:cyan")
_HATCHES = ("//", "\\\\", "xx", "..", "--", "++")


def _curve_rows(results: pd.DataFrame, metric: str | None) -> tuple[pd.DataFrame, str]:
    """Whole-layer rows of one benchmark and metric, units pooled beyond
    :data:`brainalign.results.tables.MAX_UNIT_COLUMNS` panels."""
    from brainalign.results import RESULT_COLUMNS
    from brainalign.results.tables import ALL_UNITS, MAX_UNIT_COLUMNS

    check_table(results, RESULT_COLUMNS)
    rows, metric = _one_metric(results, metric)
    if rows["benchmark"].nunique() > 1:
        raise ValueError(
            f"results hold several benchmarks {list(dict.fromkeys(rows['benchmark']))}; "
            "select one (results[results['benchmark'] == ...])"
        )
    rows = rows[rows["head"].isna()]
    if rows["unit"].nunique() > MAX_UNIT_COLUMNS:
        rows = rows.assign(unit=ALL_UNITS)
    models = rows[(rows["control"] == "") & rows["layer"].notna()]
    if not np.isfinite(models["score"].to_numpy(dtype=np.float64)).any():
        raise ValueError(
            "no model with layers to draw: every row is a control, has no layer or no "
            f"finite score (models: {sorted(set(rows['model']) - {''})})"
        )
    return rows, metric


def _entity_rows(rows: pd.DataFrame, entity: Any, layer: Any = None) -> np.ndarray:
    """Which rows are of one model or control (``entity`` has the entity columns), at
    ``layer`` when given (``pd.NA``: the layer-free rows).

    Returns
    -------
    numpy.ndarray of bool, shape (n_rows,)
    """
    same = np.ones(len(rows), dtype=bool)
    for column in _ENTITY:
        same &= (rows[column] == entity[column]).to_numpy(dtype=bool)
    if layer is None:
        return same
    at = rows["layer"].isna() if pd.isna(layer) else (rows["layer"] == layer).fillna(False)
    return same & at.to_numpy(dtype=bool)


def _entities(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model or control: its label, role (model, twin, control) and style."""
    import matplotlib

    from brainalign.results import entity_labels

    entities = summary.drop_duplicates(_ENTITY)[_ENTITY].reset_index(drop=True)
    entities["label"] = entity_labels(entities).to_numpy()
    pretrained = set(entities.loc[entities["weights"] == "pretrained", "model"])
    twin = (entities["weights"] == "untrained") & entities["model"].isin(pretrained)
    entities["role"] = np.where(
        entities["control"] != "", "control", np.where(twin, "twin", "model")
    )
    cycle = [c for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] if c != "#7f7f7f"]
    solid = list(dict.fromkeys(entities.loc[entities["role"] != "control", "model"]))
    colour_of = {model: cycle[i % len(cycle)] for i, model in enumerate(solid)}
    controls = np.cumsum(entities["role"] == "control") - 1
    entities["colour"] = [
        _CONTROL_COLOURS[k % len(_CONTROL_COLOURS)] if role == "control" else colour_of[model]
        for role, model, k in zip(entities["role"], entities["model"], controls, strict=True)
    ]
    entities["hatch"] = [
        _HATCHES[k % len(_HATCHES)] if role == "control" else ""
        for role, k in zip(entities["role"], controls, strict=True)
    ]
    order = {"model": 0, "twin": 1, "control": 2}
    return entities.sort_values("role", key=lambda r: r.map(order), kind="stable")


def _band_rows(rows: pd.DataFrame, normalized: bool) -> pd.DataFrame:
    """The rows whose scores a band spans: finite scores (with a usable ceiling when
    normalized)."""
    keep = np.isfinite(rows["score"].to_numpy(dtype=np.float64))
    if normalized:
        keep &= rows["ceiling_flag"].to_numpy().astype(str) == "ok"
    return rows[keep]


def _quartiles(rows: pd.DataFrame, summary: pd.DataFrame, normalized: bool) -> pd.DataFrame:
    """Q1 and Q3 per layer of the values a curve summarises (scores, or the usable
    units' scores over their ``median_ceiling`` when normalized), aligned to ``summary``
    (one row per layer)."""
    values = _band_rows(rows, normalized)
    layers = summary["layer"].astype("Float64").fillna(-1.0).to_numpy(dtype=np.float64)
    keys = values["layer"].astype("Float64").fillna(-1.0).to_numpy(dtype=np.float64)
    q1, q3 = np.full(len(layers), np.nan), np.full(len(layers), np.nan)
    score = values["score"].to_numpy(dtype=np.float64)
    for index, layer in enumerate(layers):
        at = score[keys == layer]
        if at.size:
            q1[index], q3[index] = np.quantile(at, [0.25, 0.75])
    if normalized:
        ceiling = summary["median_ceiling"].to_numpy(dtype=np.float64)
        q1, q3 = q1 / ceiling, q3 / ceiling
    return pd.DataFrame({"q1": q1, "q3": q3})


def _draw_entity(
    panel: Any,
    rows: pd.DataFrame,
    summary: pd.DataFrame,
    entity: pd.Series,
    *,
    value: str,
    band: bool,
    normalized: bool,
) -> list:
    """One model's or control's curve (or level, without layers) and its IQR band;
    returns the artists drawn."""
    style = {"color": entity["colour"]}
    line_style = {"model": "-", "twin": "--", "control": ":"}[entity["role"]]
    layered = summary[summary["layer"].notna()]
    spread = _quartiles(rows, summary, normalized)
    fill = {"alpha": 0.12 if entity["hatch"] else 0.18, "hatch": entity["hatch"] or None, "lw": 0}
    artists = []
    if layered.empty:  # a layer-free control (e.g. nuisance regressors): a level
        artists.append(panel.axhline(summary[value].iloc[0], ls=line_style, lw=1.3, **style))
        if band and np.isfinite(spread["q1"].iloc[0]):
            artists.append(
                panel.axhspan(spread["q1"].iloc[0], spread["q3"].iloc[0], **fill, **style)
            )
        return artists
    layers = layered["layer"].to_numpy(dtype=np.float64)
    marker = {"model": "o", "twin": "s", "control": None}[entity["role"]]
    (line,) = panel.plot(layers, layered[value], line_style, marker=marker, ms=3, lw=1.4, **style)
    artists.append(line)
    if band:
        at = spread[summary["layer"].notna().to_numpy()]
        artists.append(panel.fill_between(layers, at["q1"], at["q3"], **fill, **style))
    return artists


def _reference_group(rows: pd.DataFrame, summary: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """The first summary row of a unit and the rows it summarises (the ceilings of a
    unit are the same for every model, control and layer)."""
    first = summary.iloc[0]
    return first, rows[_entity_rows(rows, first, first["layer"])]


def _draw_ceiling(
    panel: Any, rows: pd.DataFrame, summary: pd.DataFrame, *, normalized: bool, band: bool
) -> tuple[list, str]:
    """The noise ceiling of one unit: ``median_ceiling`` of the units with a usable
    ceiling as a line, their IQR as a grey band; returns the artists and a note on how
    many units have a usable ceiling (empty when all do)."""
    first, group = _reference_group(rows, summary)
    usable = _band_rows(group, normalized=True)["ceiling"].to_numpy(dtype=np.float64)
    excluded = int(first["n_ceiling_excluded"])
    note = ""
    if excluded:
        note = f"ceiling usable for {usable.size} of {usable.size + excluded}"
    if normalized:
        if not usable.size:
            panel.text(0.5, 0.5, "no unit with a usable ceiling", ha="center", va="center",
                       transform=panel.transAxes, color="0.4")  # fmt: skip
        return [panel.axhline(1.0, color="0.35", lw=1.2)], note
    if not usable.size:
        return [], note
    artists = [panel.axhline(first["median_ceiling"], color="0.35", lw=1.2)]
    if band:
        q1, q3 = np.quantile(usable, [0.25, 0.75])
        artists.append(panel.axhspan(q1, q3, color="0.85", lw=0, zorder=0))
    return artists, note


def _ceiling_label(*, normalized: bool, band: bool) -> str:
    if normalized:
        return "noise ceiling (score / ceiling = 1)"
    if band:
        return "noise ceiling: median, IQR of the units with a usable ceiling"
    return "noise ceiling"


def _layer_curves_figure(
    results: pd.DataFrame,
    *,
    metric: str | None = None,
    normalized: bool = False,
    title: str | None = None,
) -> Figure:
    from matplotlib.ticker import MaxNLocator

    from brainalign.results import layer_summary

    rows, metric = _curve_rows(results, metric)
    value = "normalized_score" if normalized else "median_score"
    if normalized and not (rows["ceiling_flag"] == "ok").any():
        raise ValueError(
            "normalized=True needs rows with a usable ceiling (ceiling_flag 'ok'); there "
            "are none: plot raw scores (normalized=False)"
        )
    summary = layer_summary(rows, by_unit=True)
    entities = _entities(summary)
    over = median_over(rows, [*_ENTITY, "layer", "unit"])
    ceilings = rows[rows["ceiling_flag"] == "ok"]
    ceiling_band = median_over(ceilings, [*_ENTITY, "layer", "unit"]) is not None
    units = list(dict.fromkeys(rows["unit"]))
    n_columns = min(3, len(units))
    n_rows = int(np.ceil(len(units) / n_columns))
    figure = new_figure(max(5.0, 4.2 * n_columns), 3.2 * n_rows + 1.4, layout="constrained")
    axes = figure.subplots(n_rows, n_columns, squeeze=False, sharex=True, sharey=True)
    entries: dict[str, list] = {}
    for panel, unit in zip(axes.flat, units, strict=False):
        in_unit, unit_summary = rows[rows["unit"] == unit], summary[summary["unit"] == unit]
        drawn, note = _draw_ceiling(
            panel, in_unit, unit_summary, normalized=normalized, band=ceiling_band
        )
        if drawn:
            label = _ceiling_label(normalized=normalized, band=ceiling_band)
            for artist in drawn:
                artist.set_label(label)
            entries.setdefault(label, drawn)
        for _, entity in entities.iterrows():
            mine = _entity_rows(in_unit, entity)
            if not mine.any():
                continue
            band = over is not None and entity["role"] != "twin"
            drawn = _draw_entity(
                panel, in_unit[mine], unit_summary[_entity_rows(unit_summary, entity)], entity,
                value=value, band=band, normalized=normalized,
            )  # fmt: skip
            label = entity["label"] + (": median, IQR" if band else "")
            for artist in drawn:
                artist.set_label(label)
            entries.setdefault(label, drawn)
        panel.axhline(0, color="0.6", lw=0.6)
        panel.set_title(f"{unit}\n{note}" if note else str(unit), fontsize=10)
        panel.set_xlabel("layer (0 = embeddings)")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.tick_params(labelbottom=True)
    for panel in list(axes.flat)[len(units) :]:
        panel.set_visible(False)
    what = "score / noise ceiling" if normalized else _metric_label(metric)
    per = over if over is not None else "one score per layer"
    if normalized:
        per = f"{per} with a usable ceiling\n/ their median ceiling"
    figure.supylabel(f"{what}\n({per})", fontsize=10)
    _legend(figure, entries, loc="outside lower center", ncol=min(2, len(entries)))
    figure.suptitle(title or f"{rows['benchmark'].iloc[0]}: {what} by layer")
    return figure


def plot_layer_curves(
    results: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metric: str | None = None,
    normalized: bool = False,
    title: str | None = None,
) -> Path:
    """Score by layer, one curve per model, one panel per unit, with ceiling and controls.

    Every curve is :func:`brainalign.results.layer_summary` ``(..., by_unit=True)``: the
    ``median_score`` of each model (or control) per layer and unit (``normalized_score``
    with ``normalized=True``). Each model: solid, with markers, its interquartile range
    over the unit's rows shaded; its untrained twin (the same ``model`` with ``weights``
    ``"untrained"``) dashed in the same colour; its controls (``control`` rows, found by
    ``control_of``) dotted with a hatched IQR band, a horizontal level for layer-free
    controls. The noise ceiling: ``median_ceiling`` (the median over the units with a
    usable ceiling) as a grey line and their IQR as a grey band; a panel's title says
    how many units have a usable ceiling when some have none. Every line and band has a
    legend entry. The y axis says what the median is over (``median over subjects``, or
    ``one score per layer`` for one-row units, where no band is drawn).

    Parameters
    ----------
    results : pandas.DataFrame, shape (n_rows, ...)
        A result table (:data:`brainalign.results.RESULT_COLUMNS`) of one benchmark;
        whole-layer rows are drawn (rows of heads are left out). More units than
        :data:`brainalign.results.tables.MAX_UNIT_COLUMNS` are pooled in one panel.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    metric : str, optional
        Rows of this metric; default: the only metric present (an error if several).
    normalized : bool, default False
        Plot ``normalized_score`` (the median score of the units with a usable ceiling
        over their median ceiling) with the ceiling at 1, instead of raw scores.
    title : str, optional
        Default: ``"<benchmark>: <metric> by layer"``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For missing columns, empty results, several benchmarks, several metrics without
        ``metric``, no model with layers, or ``normalized=True`` without usable ceilings.
    """
    path = output_path(path)
    figure = _layer_curves_figure(results, metric=metric, normalized=normalized, title=title)
    return save_figure(figure, path)


# ------------------------------------------------------------------ layers x heads

_ONE_OF = ("model", "weights", "control", "control_of", "unit")


def _head_matrix(
    scores: pd.DataFrame | np.ndarray, metric: str | None
) -> tuple[np.ndarray, list, list, str | None, str | None]:
    """(n_layers, n_heads) values, layer and head labels, the metric and what each cell
    is (:func:`median_over`, or ``"one score per cell"``; None for an array)."""
    if not isinstance(scores, pd.DataFrame):
        matrix = to_numpy(scores, "scores")
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ValueError(
                f"scores must be a (n_layers, n_heads) array or a DataFrame; got shape "
                f"{matrix.shape}"
            )
        return matrix, list(range(matrix.shape[0])), list(range(matrix.shape[1])), metric, None
    from brainalign.results import summarize

    check_table(scores, ["layer", "head", "score"], "scores")
    rows, metric = _one_metric(scores, metric)
    for column in _ONE_OF:
        if column in rows.columns and rows[column].nunique() > 1:
            raise ValueError(
                f"scores hold several {column} values {list(dict.fromkeys(rows[column]))}; "
                f"select one first (scores[scores[{column!r}] == ...])"
            )
    rows = rows[rows["layer"].notna() & rows["head"].notna()]
    if rows.empty:
        raise ValueError("scores has no row with both a layer and a head: nothing to draw")
    if "ceiling" not in rows.columns:  # a plain table: the summary's ceiling columns empty
        rows = rows.assign(ceiling=np.nan, ceiling_flag="none")
    summary = summarize(rows, ["layer", "head"])
    table = summary.pivot(index="layer", columns="head", values="median_score")
    table = table.sort_index().sort_index(axis=1)
    over = median_over(rows, ["layer", "head"]) or "one score per cell"
    return table.to_numpy(dtype=np.float64), list(table.index), list(table.columns), metric, over


def _set_ticks(set_ticks: Callable, set_labels: Callable, labels: list) -> None:
    step = max(1, int(np.ceil(len(labels) / 16)))
    positions = np.arange(0, len(labels), step)
    set_ticks(positions)
    set_labels([str(labels[i]) for i in positions])


def _head_heatmap_figure(
    scores: pd.DataFrame | np.ndarray,
    *,
    metric: str | None = None,
    mask: np.ndarray | None = None,
    signed: bool | None = None,
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Figure:
    import textwrap

    matrix, layers, heads, metric, over = _head_matrix(scores, metric)
    marks = None
    if mask is not None:
        marks = np.asarray(mask)
        if marks.shape != matrix.shape or marks.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of shape {matrix.shape} (layers x heads); got "
                f"{marks.dtype} of shape {marks.shape}"
            )
    cmap, vmin, vmax, _ = colour_scale(matrix, signed=signed)
    width = min(12.0, max(5.0, 2.8 + 0.32 * len(heads)))
    figure = new_figure(width, min(10.0, 2.6 + 0.3 * len(layers)), layout="constrained")
    panel = figure.add_subplot()
    image = panel.imshow(
        np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax, origin="lower",
        aspect="auto", interpolation="nearest",
    )  # fmt: skip
    if marks is not None and marks.any():
        layer_index, head_index = np.nonzero(marks)
        panel.scatter(head_index, layer_index, s=12, c="black", marker="o", label="marked")
        _legend(figure, {"marked": [panel.collections[-1]]}, loc="outside lower center")
    _set_ticks(panel.set_xticks, panel.set_xticklabels, heads)
    _set_ticks(panel.set_yticks, panel.set_yticklabels, layers)
    panel.set_xlabel("head")
    panel.set_ylabel("layer (0 = embeddings)")
    if colorbar_label is None:
        colorbar_label = _metric_label(metric) + (f"\n({over})" if over else "")
    figure.colorbar(image, ax=panel, label=colorbar_label)
    if title:
        figure.suptitle(textwrap.fill(title, width=int(width * 9)), fontsize=10)
    return figure


def plot_head_heatmap(
    scores: pd.DataFrame | np.ndarray,
    path: str | os.PathLike,
    *,
    metric: str | None = None,
    mask: np.ndarray | None = None,
    signed: bool | None = None,
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Path:
    """Layers x heads heatmap; diverging colours for signed values, optional marks.

    Parameters
    ----------
    scores : pandas.DataFrame or array-like, shape (n_layers, n_heads)
        A result table with ``layer, head, score`` (and ``metric``; one model or control
        and one unit), each cell the ``median_score`` of its rows
        (:func:`brainalign.results.summarize` by layer and head: the median over
        subjects); or an array (numpy or torch). NaN cells are left blank.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    metric : str, optional
        Rows of this metric; default: the only one present. Labels the colorbar.
    mask : array-like of bool, shape (n_layers, n_heads), optional
        Cells to mark with a dot (e.g. significant after FDR), with a legend entry;
        rows are the layers and columns the heads in ascending order.
    signed : bool, optional
        Diverging colormap symmetric about 0 (``RdBu_r``) or sequential (``viridis``);
        default: diverging when any value is negative.
    colorbar_label : str, optional
        Default: the metric and what each cell is the median over (``one score per
        cell`` when each cell has one row).
    title : str, optional
        Wrapped to the figure's width.

    Returns
    -------
    Path
    """
    path = output_path(path)
    figure = _head_heatmap_figure(
        scores, metric=metric, mask=mask, signed=signed, colorbar_label=colorbar_label,
        title=title,
    )  # fmt: skip
    return save_figure(figure, path)
