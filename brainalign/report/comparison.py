"""Model-comparison bars: confidence intervals, significance marks, the noise ceiling.

:func:`plot_model_comparison` draws one bar per model (or control) with its interval,
stars for p-values below the significance levels, and the noise ceiling; every bar
colour, error bar, band and mark it draws has a legend entry, and nothing it does not
draw has one (no interval label without error bars, no significance key without marks).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.report.plots import (
    _legend,
    check_table,
    new_figure,
    output_path,
    save_figure,
    to_numpy,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from brainalign.alignment.stats import BootstrapResult

KINDS = {
    "model": {"color": "tab:blue", "alpha": 0.85},
    "untrained": {"color": "tab:blue", "alpha": 0.35, "hatch": "//"},
    "control": {"color": "0.55", "alpha": 0.6, "hatch": "xx"},
}
"""Bar styles of the optional ``kind`` column of a comparison table."""

PANEL_HEIGHT = 2.6
"""Height of the bars' panel in inches (the figure grows around it)."""

KIND_LABELS = {"model": "model", "untrained": "untrained (random weights)", "control": "control"}
"""Legend labels of the bar kinds."""


def _comparison_table(
    comparison: pd.DataFrame | BootstrapResult,
    names: Sequence[str] | None,
    p_values: Any,
) -> pd.DataFrame:
    """A table ``model, estimate, low, high, p_value`` from either input form."""
    if isinstance(comparison, pd.DataFrame):
        table = check_table(comparison, ["model", "estimate", "low", "high"], "comparison")
        table = table.copy()
        if names is not None:
            raise ValueError("names= is for a BootstrapResult; a table names its models")
    else:
        if not all(hasattr(comparison, a) for a in ("estimate", "low", "high")):
            raise ValueError(
                "comparison must be a DataFrame (model, estimate, low, high) or a "
                f"BootstrapResult; got {type(comparison).__name__}"
            )
        columns = {a: to_numpy(getattr(comparison, a), a) for a in ("estimate", "low", "high")}
        if columns["estimate"].ndim != 1:
            raise ValueError(
                "the BootstrapResult must hold one estimate per model (shape (n_models,)); "
                f"got shape {columns['estimate'].shape}"
            )
        if names is None or len(names) != columns["estimate"].shape[0]:
            raise ValueError(
                f"names must give one name per model ({columns['estimate'].shape[0]}); got "
                f"{None if names is None else len(names)}"
            )
        table = pd.DataFrame({"model": list(names), **columns})
        if getattr(comparison, "p_value", None) is not None and p_values is None:
            table["p_value"] = to_numpy(comparison.p_value, "p_value")
    if table.empty:
        raise ValueError("comparison is empty: nothing to plot")
    if "kind" in table.columns and not table["kind"].isin(list(KINDS)).all():
        raise ValueError(f"kind must be one of {list(KINDS)}; got {sorted(set(table['kind']))}")
    if p_values is not None:
        p = to_numpy(p_values, "p_values").ravel()
        if p.shape[0] != len(table):
            raise ValueError(f"p_values has {p.shape[0]} values for {len(table)} models")
        table["p_value"] = p
    if "p_value" in table.columns:
        p = table["p_value"].to_numpy(dtype=float)
        if np.any((p < 0) | (p > 1)):
            raise ValueError("p_values must lie in [0, 1] (NaN: no test)")
    if not np.isfinite(table["estimate"].to_numpy(dtype=float)).all():
        raise ValueError("every estimate must be finite")
    if np.any(table["low"].to_numpy(dtype=float) > table["high"].to_numpy(dtype=float)):
        raise ValueError("confidence intervals must have low <= high")
    return table.reset_index(drop=True)


def _stars(p: float, levels: Sequence[float]) -> str:
    return "" if not np.isfinite(p) else "*" * sum(p < level for level in levels)


def _ceiling_band(ceiling: Any) -> tuple[float, float, float] | None:
    """(low, middle, high) of a ceiling: a number, (low, high), (low, middle, high) or a
    BootstrapResult."""
    if ceiling is None:
        return None
    if hasattr(ceiling, "estimate"):
        values = [to_numpy(getattr(ceiling, a), "ceiling") for a in ("low", "estimate", "high")]
        if any(v.size != 1 for v in values):
            raise ValueError("a ceiling BootstrapResult must hold one value")
        low, middle, high = (float(v.ravel()[0]) for v in values)
        return low, middle, high
    values = to_numpy(ceiling, "ceiling").ravel()
    if values.size == 1:
        return float(values[0]), float(values[0]), float(values[0])
    if values.size == 2:
        return float(values[0]), float(values.mean()), float(values[1])
    if values.size == 3:
        return float(values[0]), float(values[1]), float(values[2])
    raise ValueError(
        "ceiling must be a number, (low, high), (low, middle, high) or a BootstrapResult; "
        f"got {values.size} values"
    )


def _text_entry() -> Any:
    """A legend handle that draws nothing (an entry of text only)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none")


def _comparison_figure(
    table: pd.DataFrame,
    band: tuple[float, float, float] | None,
    *,
    levels: Sequence[float],
    ylabel: str,
    title: str | None,
    interval_label: str,
    no_interval_label: str,
    significance_label: str,
    ceiling_label: str,
) -> Figure:
    estimate = table["estimate"].to_numpy(dtype=float)
    low, high = table["low"].to_numpy(dtype=float), table["high"].to_numpy(dtype=float)
    positions = np.arange(len(table))
    figure = new_figure(max(4.5, 1.6 + 0.6 * len(table)), 4.0, layout="constrained")
    panel = figure.add_subplot()
    entries: dict[str, list] = {}
    if band is not None:
        drawn = [panel.axhline(band[1], color="0.35", lw=1.2)]
        if band[2] > band[0]:
            drawn.append(panel.axhspan(band[0], band[2], color="0.85", lw=0, zorder=0))
        entries[ceiling_label] = drawn
    kinds = table["kind"] if "kind" in table.columns else pd.Series("model", index=table.index)
    for kind, style in KINDS.items():
        at = (kinds == kind).to_numpy()
        if at.any():
            bars = panel.bar(positions[at], estimate[at], width=0.7, **style, edgecolor="0.3")
            if "kind" in table.columns:
                entries[KIND_LABELS[kind]] = [bars]
    has_interval = np.isfinite(low) & np.isfinite(high)
    if has_interval.any():
        errors = np.vstack([estimate - low, high - estimate])[:, has_interval]
        bars = panel.errorbar(
            positions[has_interval], estimate[has_interval], yerr=errors, fmt="none",
            ecolor="black", capsize=3,
        )  # fmt: skip
        entries[interval_label] = [bars]
    else:
        entries[no_interval_label] = [_text_entry()]
    tops = np.where(has_interval, high, estimate)
    span = float(np.nanmax(np.abs(np.r_[tops, estimate, 0]))) or 1.0
    p_values = table["p_value"] if "p_value" in table.columns else pd.Series(np.nan, table.index)
    marked = False
    for x, top, p in zip(positions, tops, p_values.to_numpy(dtype=float), strict=True):
        stars = _stars(float(p), levels)
        if stars:
            panel.text(x, max(top, 0) + 0.03 * span, stars, ha="center", va="bottom")
            marked = True
    if marked:
        key = "  ".join(f"{'*' * (i + 1)} p < {v:g}" for i, v in enumerate(levels))
        entries[f"{significance_label}: {key}"] = [_text_entry()]
    panel.axhline(0, color="0.6", lw=0.6)
    panel.set_xticks(positions)
    names = [textwrap.fill(name, 32) for name in table["model"].astype(str)]
    panel.set_xticklabels(names, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    panel.set_ylabel(ylabel)
    panel.margins(y=0.12)
    if title:
        width = int(figure.get_size_inches()[0] * 9)
        panel.set_title("\n".join(textwrap.fill(line, width) for line in title.split("\n")),
                        fontsize=10)  # fmt: skip
    _legend(figure, entries, loc="outside lower center", ncol=1)
    _keep_panel_height(figure, panel, PANEL_HEIGHT)
    return figure


def _keep_panel_height(figure: Figure, panel: Any, inches: float) -> None:
    """Make the figure taller until the panel is ``inches`` high (long tick labels and
    legends take their room from the panel under the constrained layout)."""
    for _ in range(3):
        figure.canvas.draw()
        width, height = figure.get_size_inches()
        missing = inches - panel.get_position().height * height
        if missing < 0.05:
            return
        figure.set_size_inches(width, height + missing)


def plot_model_comparison(
    comparison: pd.DataFrame | BootstrapResult,
    path: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    p_values: Any = None,
    ceiling: Any = None,
    sort: bool = True,
    levels: Sequence[float] = (0.05, 0.01, 0.001),
    ylabel: str = "score",
    title: str | None = None,
    interval_label: str = "95% CI",
    no_interval_label: str = "no confidence interval (one score per model)",
    significance_label: str = "significance",
    ceiling_label: str = "noise ceiling",
) -> Path:
    """Bars of model scores with confidence intervals, significance stars and the ceiling.

    Parameters
    ----------
    comparison : pandas.DataFrame or BootstrapResult
        A table with ``model, estimate, low, high`` (optionally ``p_value`` and
        ``kind``: ``"model"``, ``"untrained"`` or ``"control"``, which colours the bars
        and adds their legend entries), one row per bar; or a
        :class:`brainalign.alignment.stats.BootstrapResult` whose ``estimate``, ``low``,
        ``high`` have shape (n_models,) (e.g. ``bootstrap_mean(scores)`` on a
        (n_subjects, n_models) table), with ``names``. NaN interval bounds draw no error
        bar.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    names : sequence of str, length n_models, optional
        Model names, for a BootstrapResult.
    p_values : array-like, shape (n_models,), optional
        P-values per model (e.g. the adjusted p-values of
        :func:`brainalign.alignment.stats.fdr_bh`); override a ``p_value`` column or
        the result's ``p_value``. NaN: no test, no mark.
    ceiling : float or (low, high) or (low, middle, high) or BootstrapResult, optional
        Noise ceiling: a line at the middle (the mean of a pair), a grey band from low
        to high when they differ.
    sort : bool, default True
        Order bars by estimate, best first.
    levels : sequence of float, default (0.05, 0.01, 0.001)
        One star per level the p-value is below.
    ylabel : str, default "score"
    title : str, optional
    interval_label : str, default "95% CI"
        Legend entry of the error bars, shown only when at least one bar has one.
    no_interval_label : str
        Legend text when no bar has an interval.
    significance_label : str, default "significance"
        What the stars test, the start of the significance key (which is drawn only
        when a star is).
    ceiling_label : str, default "noise ceiling"
        Legend entry of the ceiling's line and band.

    Returns
    -------
    Path
    """
    path = output_path(path)
    table = _comparison_table(comparison, names, p_values)
    band = _ceiling_band(ceiling)
    if sort:
        table = table.sort_values("estimate", ascending=False, kind="stable")
    figure = _comparison_figure(
        table.reset_index(drop=True), band, levels=levels, ylabel=ylabel, title=title,
        interval_label=interval_label, no_interval_label=no_interval_label,
        significance_label=significance_label, ceiling_label=ceiling_label,
    )  # fmt: skip
    return save_figure(figure, path)
