"""RDM pictures: one or several dissimilarity matrices on one colour scale."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainalign.report.plots import new_figure, output_path, save_figure, to_numpy


def _condensed(matrix: np.ndarray, name: str, atol: float) -> np.ndarray:
    """Upper triangle, row by row, of a symmetric matrix with a zero diagonal."""
    if not np.allclose(matrix, matrix.T, atol=atol, equal_nan=True):
        raise ValueError(f"{name} is not symmetric; an RDM must be (or pass it condensed)")
    if np.nanmax(np.abs(np.diag(matrix))) > atol:
        raise ValueError(f"{name} has a non-zero diagonal; an RDM has zeros there")
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


def _is_pair_count(n_pairs: int) -> bool:
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    return n >= 2 and n * (n - 1) // 2 == n_pairs


def _conditions_of_pairs(n_pairs: int, name: str) -> int:
    if not _is_pair_count(n_pairs):
        raise ValueError(
            f"{name} has {n_pairs} values, not n (n - 1) / 2 for any n: not a condensed RDM"
        )
    return int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))


def _as_condensed(array: np.ndarray, name: str, atol: float) -> np.ndarray:
    """(k, n_pairs) from (n_pairs,), (k, n_pairs), (n, n) or (k, n, n)."""
    if array.ndim == 1:
        array = array[None]
    if array.ndim == 2 and array.shape[0] == array.shape[1] and array.shape[0] > 1:
        zero_diagonal = np.allclose(np.diag(array), 0, atol=atol)
        if zero_diagonal or not _is_pair_count(array.shape[1]):
            array = array[None]  # one square RDM (checked below)
    if array.ndim == 3:
        if array.shape[1] != array.shape[2]:
            raise ValueError(f"{name} must hold square (n, n) matrices; got {array.shape}")
        return np.stack([_condensed(m, f"{name}[{i}]", atol) for i, m in enumerate(array)])
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be an RDM: (n_pairs,), (k, n_pairs), (n, n) or (k, n, n); got "
            f"shape {array.shape}"
        )
    _conditions_of_pairs(array.shape[1], name)
    return array


def _collect(rdms: Any, names: Sequence[str] | None, atol: float) -> tuple[np.ndarray, list, Any]:
    """Condensed RDMs (k, n_pairs), their names and the RDMSet's condition labels."""
    labels = None
    if hasattr(rdms, "dissimilarities") and hasattr(rdms, "descriptors"):  # RDMSet
        condensed = to_numpy(rdms.dissimilarities, "rdms")
        default_names = [str(n) for n in rdms.descriptors.get("name", range(len(condensed)))]
        if "label" in rdms.conditions.columns:
            labels = list(rdms.conditions["label"])
    else:
        parts = rdms if isinstance(rdms, list | tuple) else [rdms]
        if not parts:
            raise ValueError("rdms is empty: nothing to plot")
        blocks = [
            _as_condensed(to_numpy(p, "rdms"), f"rdms[{i}]", atol) for i, p in enumerate(parts)
        ]
        if len({b.shape[1] for b in blocks}) != 1:
            raise ValueError(
                f"rdms must share their conditions; got {sorted({b.shape[1] for b in blocks})} "
                "pairs"
            )
        condensed = np.concatenate(blocks)
        default_names = [f"RDM {i + 1}" for i in range(len(condensed))]
    if len(condensed) == 0:
        raise ValueError("rdms is empty: nothing to plot")
    if names is not None and len(names) != len(condensed):
        raise ValueError(f"names has {len(names)} entries for {len(condensed)} RDMs")
    return condensed, list(names) if names is not None else default_names, labels


def rank_transform(condensed: np.ndarray) -> np.ndarray:
    """Ranks of each RDM's dissimilarities scaled to (0, 1]; NaN kept.

    Ranks are those of ``rsatoolbox.rdm.rank_transform`` (``scipy.stats.rankdata``,
    ties averaged, NaN omitted) divided by the number of non-NaN pairs of that RDM.

    Parameters
    ----------
    condensed : numpy.ndarray, shape (n_rdms, n_pairs)

    Returns
    -------
    numpy.ndarray, shape (n_rdms, n_pairs)
    """
    from scipy.stats import rankdata

    ranks = rankdata(condensed, axis=1, nan_policy="omit")
    counts = np.sum(~np.isnan(condensed), axis=1, keepdims=True)
    return ranks / np.maximum(counts, 1)


def _runs(categories: Sequence) -> tuple[np.ndarray, np.ndarray, list]:
    """Boundaries between runs of equal category, run centres, run names."""
    values = list(categories)
    starts = [0] + [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    ends = starts[1:] + [len(values)]
    centres = (np.asarray(starts) + np.asarray(ends) - 1) / 2
    return np.asarray(starts[1:]) - 0.5, centres, [values[s] for s in starts]


def _label_axes(panel: Any, n: int, labels: Any, categories: Any, first: bool) -> None:
    if categories is not None:
        boundaries, centres, run_names = _runs(categories)
        for position in boundaries:
            panel.axhline(position, color="white", lw=0.8)
            panel.axvline(position, color="white", lw=0.8)
        panel.set_xticks(centres)
        panel.set_xticklabels(run_names, rotation=90, fontsize=7)
        panel.set_yticks(centres)
        panel.set_yticklabels(run_names if first else [], fontsize=7)
    elif labels is not None and n <= 60:
        panel.set_xticks(np.arange(n))
        panel.set_xticklabels([str(v) for v in labels], rotation=90, fontsize=6)
        panel.set_yticks(np.arange(n))
        panel.set_yticklabels([str(v) for v in labels] if first else [], fontsize=6)
    else:
        panel.set_xticks([])
        panel.set_yticks([])


def _check_per_condition(name: str, values: Any, n: int) -> list | None:
    if values is None:
        return None
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} conditions")
    return values


def plot_rdms(
    rdms: Any,
    path: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    categories: Sequence | None = None,
    rank: bool = False,
    shared_scale: bool = True,
    cmap: str = "viridis",
    n_columns: int | None = None,
    colorbar_label: str | None = None,
    title: str | None = None,
    atol: float = 1e-8,
) -> Path:
    """One panel per RDM, with condition labels or category boundaries.

    Parameters
    ----------
    rdms : RDMSet, array-like, or list of array-likes
        A :class:`brainalign.datasets.behaviour.RDMSet`, or arrays shaped
        (n_pairs,) / (n_rdms, n_pairs) (condensed, scipy ``squareform`` order) or
        (n, n) / (n_rdms, n, n) (symmetric, zero diagonal), all over the same n
        conditions. NaN pairs are left blank.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    names : sequence of str, length n_rdms, optional
        Panel titles; default the RDMSet's ``name`` or "RDM 1", "RDM 2", ...
    labels : sequence of str, length n_conditions, optional
        Condition labels as ticks (drawn for up to 60 conditions); default the RDMSet's
        condition ``label``.
    categories : sequence, length n_conditions, optional
        Category of each condition; white lines mark where it changes along the
        condition order, and runs are labelled. Takes the ticks: not with ``labels``.
    rank : bool, default False
        Show :func:`rank_transform`\\ ed dissimilarities (0-1) instead of raw values.
    shared_scale : bool, default True
        One colour scale and colorbar for all panels; otherwise one per panel.
    cmap : str, default "viridis"
    n_columns : int, optional
        Default: up to 4 panels per row.
    colorbar_label : str, optional
        Default "dissimilarity" (or "dissimilarity rank (0-1)").
    title : str, optional
    atol : float, default 1e-8
        Tolerance of the symmetry and zero-diagonal checks of square input.

    Returns
    -------
    Path
    """
    from scipy.spatial.distance import squareform

    path = output_path(path)
    if labels is not None and categories is not None:
        raise ValueError("give labels or categories, not both (both would take the ticks)")
    condensed, names, default_labels = _collect(rdms, names, atol)
    n = _conditions_of_pairs(condensed.shape[1], "rdms")
    labels = _check_per_condition("labels", labels if labels is not None else default_labels, n)
    categories = _check_per_condition("categories", categories, n)
    if rank:
        condensed = rank_transform(condensed)
    if not np.isfinite(condensed).any():
        raise ValueError("every dissimilarity is NaN: nothing to plot")
    n_columns = min(len(condensed), n_columns or 4)
    n_rows = int(np.ceil(len(condensed) / n_columns))
    figure = new_figure(3.2 * n_columns + 1.0, 3.2 * n_rows + (0.4 if title else 0.0))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    low, high = np.nanmin(condensed), np.nanmax(condensed)
    label = colorbar_label or ("dissimilarity rank (0-1)" if rank else "dissimilarity")
    image = None
    for index, (panel, vector) in enumerate(zip(axes.flat, condensed, strict=False)):
        matrix = squareform(vector, checks=False)  # NaN pairs stay NaN
        scale = (low, high) if shared_scale else (np.nanmin(vector), np.nanmax(vector))
        image = panel.imshow(
            np.ma.masked_invalid(matrix), cmap=cmap, vmin=scale[0], vmax=scale[1],
            interpolation="nearest",
        )  # fmt: skip
        panel.set_title(names[index], fontsize=9)
        _label_axes(panel, n, labels, categories, first=index % n_columns == 0)
        if not shared_scale:
            figure.colorbar(image, ax=panel, shrink=0.8, label=label)
    for panel in list(axes.flat)[len(condensed) :]:
        panel.set_visible(False)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if shared_scale:
        figure.colorbar(image, ax=list(axes.flat[: len(condensed)]), shrink=0.8, label=label)
    return save_figure(figure, path)
