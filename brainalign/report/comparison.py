"""Model-comparison bars: bootstrap confidence intervals, significance, noise ceiling."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.report.plots import check_table, new_figure, output_path, save_figure, to_numpy

if TYPE_CHECKING:
    from brainalign.alignment.stats import BootstrapResult


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
    """(low, middle, high) of a ceiling given as a number, (low, high) or BootstrapResult."""
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
    raise ValueError(
        f"ceiling must be a number, (low, high) or a BootstrapResult; got {values.size} values"
    )


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
) -> Path:
    """Bars of model scores with confidence intervals, significance stars and the ceiling.

    Parameters
    ----------
    comparison : pandas.DataFrame or BootstrapResult
        A table with ``model, estimate, low, high`` (and optionally ``p_value``), one row
        per model; or a :class:`brainalign.alignment.stats.BootstrapResult` whose
        ``estimate``, ``low``, ``high`` have shape (n_models,) (e.g.
        ``bootstrap_mean(scores)`` on a (n_subjects, n_models) table), with ``names``.
        NaN interval bounds draw no error bar.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    names : sequence of str, length n_models, optional
        Model names, for a BootstrapResult.
    p_values : array-like, shape (n_models,), optional
        P-values per model (e.g. the adjusted p-values of
        :func:`brainalign.alignment.stats.fdr_bh`); override a ``p_value`` column or
        the result's ``p_value``. NaN: no test, no mark.
    ceiling : float or (low, high) or BootstrapResult, optional
        Noise ceiling, drawn as a grey band (a line for a single number).
    sort : bool, default True
        Order bars by estimate, best first.
    levels : sequence of float, default (0.05, 0.01, 0.001)
        One star per level the p-value is below.
    ylabel : str, default "score"
    title : str, optional

    Returns
    -------
    Path
    """
    path = output_path(path)
    table = _comparison_table(comparison, names, p_values)
    band = _ceiling_band(ceiling)
    if sort:
        table = table.sort_values("estimate", ascending=False, kind="stable")
    estimate = table["estimate"].to_numpy(dtype=float)
    errors = np.vstack([estimate - table["low"], table["high"] - estimate]).astype(float)
    positions = np.arange(len(table))
    figure = new_figure(max(3.5, 1.2 + 0.55 * len(table)), 3.8)
    panel = figure.add_subplot()
    if band is not None:
        panel.axhspan(band[0], band[2], color="0.85", zorder=0, label="noise ceiling")
        panel.axhline(band[1], color="0.4", lw=1.2)
    panel.bar(positions, estimate, color="tab:blue", alpha=0.8, width=0.7)
    panel.errorbar(positions, estimate, yerr=np.nan_to_num(errors), fmt="none", ecolor="black")
    if "p_value" in table.columns:
        tops = np.where(np.isfinite(table["high"]), table["high"], estimate)
        span = float(np.nanmax(np.abs(np.r_[tops, estimate, 0]))) or 1.0
        for x, top, p in zip(positions, tops, table["p_value"], strict=True):
            stars = _stars(float(p), levels)
            if stars:
                panel.text(x, max(top, 0) + 0.03 * span, stars, ha="center", va="bottom")
    panel.axhline(0, color="0.6", lw=0.6)
    if "p_value" in table.columns:
        key = ", ".join(f"{'*' * (i + 1)} p < {level:g}" for i, level in enumerate(levels))
        panel.text(1.0, 1.01, key, transform=panel.transAxes, ha="right", va="bottom", fontsize=7)
    if band is not None:
        panel.legend(loc="upper right", fontsize=7, frameon=False)
    panel.set_xticks(positions)
    panel.set_xticklabels(table["model"].astype(str), rotation=30, ha="right", fontsize=8)
    panel.set_ylabel(ylabel)
    panel.margins(y=0.12)
    if title:
        panel.set_title(title)
    figure.tight_layout()
    return save_figure(figure, path)
