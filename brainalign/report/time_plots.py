"""Figures of scores in time: TRF kernels, time courses with clusters, generalisation.

M/EEG and iEEG analyses ask *when*: a temporal response function (TRF) has a kernel per
sensor over lags, a time-resolved decoder or encoder a score per time point, a
temporally generalised decoder a score per (train time, test time). These functions
draw them from arrays (the estimators' outputs), with a legend entry for everything
drawn and nothing else:

- :func:`plot_trf_kernels`: one panel per feature, the mean kernel of each sensor group
  over lags with a band of +-1 standard error over the group's sensors;
- :func:`plot_time_course`: a score over time with its interval, a chance line and the
  significant clusters of a cluster permutation test shaded;
- :func:`plot_generalization`: the train-time x test-time matrix, with the diagonal;
- :func:`peak_times`: the times of the largest scores, for topomaps at peaks
  (:func:`brainalign.report.brain_maps.plot_topomap`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainalign.report.plots import _legend, new_figure, output_path, save_figure, to_numpy

__all__ = ["peak_times", "plot_generalization", "plot_time_course", "plot_trf_kernels"]

PANEL_SIZE = (3.2, 2.4)
"""Width and height of one panel, in inches."""


def _check_times(times: Any, n: int, name: str) -> np.ndarray:
    times = to_numpy(times, name)
    if times.ndim != 1 or len(times) != n:
        raise ValueError(f"{name} must hold one time per column ({n}); got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(f"{name} must be finite and increasing (seconds)")
    return times


def plot_trf_kernels(
    coef: Any,
    times: Any,
    path: str | os.PathLike,
    *,
    groups: Mapping[str, Sequence[int]] | None = None,
    feature_names: Sequence[str] | None = None,
    unit: str = "a.u.",
    title: str | None = None,
) -> Path:
    """TRF kernels: per feature, the mean kernel of each sensor group over lags.

    Parameters
    ----------
    coef : array-like, shape (n_targets, n_features, n_lags)
        Kernels as MNE's ``ReceptiveField.coef_`` and
        :class:`brainalign.alignment.trf.TemporalResponseFunction` hold them.
    times : array-like, shape (n_lags,)
        Lag of each column in seconds (negative: the response precedes the feature).
    path : path-like
        ``.png`` or ``.svg``, written atomically.
    groups : mapping of str to sequence of int, optional
        Sensor groups (name -> target indices); default one group of every target.
    feature_names : sequence of str, optional
        One per feature (default ``feature 0``, ...).
    unit : str
        Unit of the kernel values (axis label).
    title : str, optional

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a ``coef`` that is not 3-D or not finite, lags that do not match it, an
        empty or out-of-range group, or names of the wrong length.
    """
    path = output_path(path)
    coef = to_numpy(coef, "coef")
    if coef.ndim != 3 or not np.all(np.isfinite(coef)):
        raise ValueError(
            f"coef must be finite, shape (n_targets, n_features, n_lags); got {coef.shape}"
        )
    n_targets, n_features, n_lags = coef.shape
    times = _check_times(times, n_lags, "times")
    groups = {"all sensors": range(n_targets)} if groups is None else dict(groups)
    for name, members in groups.items():
        members = list(members)
        if not members or min(members) < 0 or max(members) >= n_targets:
            raise ValueError(
                f"group {name!r} must list target indices in 0..{n_targets - 1}; got {members}"
            )
    names = (
        [f"feature {i}" for i in range(n_features)]
        if feature_names is None
        else list(feature_names)
    )
    if len(names) != n_features:
        raise ValueError(f"feature_names has {len(names)} names for {n_features} features")
    columns = min(n_features, 3)
    rows = -(-n_features // columns)
    figure = new_figure(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.8, "constrained")
    panels = np.atleast_1d(figure.subplots(rows, columns, sharex=True, squeeze=False)).ravel()
    entries: dict[str, list] = {}
    colours = [f"C{i}" for i in range(len(groups))]
    for feature, panel in enumerate(panels):
        if feature >= n_features:
            panel.set_visible(False)
            continue
        for colour, (name, members) in zip(colours, groups.items(), strict=True):
            kernels = coef[list(members), feature, :]
            mean = kernels.mean(axis=0)
            (line,) = panel.plot(times, mean, color=colour, linewidth=1.4)
            artists = [line]
            if len(kernels) > 1:
                sem = kernels.std(axis=0, ddof=1) / np.sqrt(len(kernels))
                artists.append(panel.fill_between(times, mean - sem, mean + sem, color=colour,
                                                  alpha=0.25, linewidth=0))  # fmt: skip
            spread = " +- 1 standard error" if len(kernels) > 1 else ""
            entries.setdefault(f"{name}: mean{spread} over {len(kernels)} sensor(s)", artists)
        panel.axhline(0, color="0.6", linewidth=0.6)
        panel.axvline(0, color="0.6", linewidth=0.6, linestyle=":")
        panel.set_title(names[feature], fontsize=9)
        panel.set_xlabel("lag (s)")
        panel.set_ylabel(f"weight ({unit})")
    if title:
        figure.suptitle(title, fontsize=10)
    _legend(figure, entries, loc="outside lower center", ncols=2)
    return save_figure(figure, path)


def _cluster_masks(clusters: Any, n_times: int) -> list[np.ndarray]:
    """Boolean masks over time from MNE-style clusters (masks, index arrays or tuples)."""
    masks = []
    for cluster in clusters:
        if isinstance(cluster, tuple):
            cluster = cluster[0]
        cluster = np.asarray(cluster)
        mask = np.zeros(n_times, bool)
        if cluster.dtype == bool:
            if cluster.shape != (n_times,):
                raise ValueError(
                    f"a cluster mask must have shape ({n_times},); got {cluster.shape}"
                )
            mask = cluster.copy()
        else:
            mask[cluster.astype(int)] = True
        masks.append(mask)
    return masks


def plot_time_course(
    times: Any,
    scores: Any,
    path: str | os.PathLike,
    *,
    low: Any = None,
    high: Any = None,
    interval: str = "95% interval",
    clusters: Sequence[Any] = (),
    cluster_p_values: Any = None,
    alpha: float = 0.05,
    chance: float | None = None,
    label: str = "score",
    title: str | None = None,
) -> Path:
    """A score over time with its interval, chance and the significant clusters shaded.

    Parameters
    ----------
    times : array-like, shape (n_times,)
        Seconds, increasing.
    scores : array-like, shape (n_times,)
    path : path-like
        ``.png`` or ``.svg``, written atomically.
    low, high : array-like, shape (n_times,), optional
        The interval (give both or neither); ``interval`` names it in the legend.
    clusters : sequence, optional
        Clusters of a cluster permutation test over time, as MNE returns them (boolean
        masks, index arrays, or 1-tuples of them).
    cluster_p_values : array-like, shape (n_clusters,), optional
        Their p-values: clusters with ``p < alpha`` are shaded (all when omitted).
    alpha : float
    chance : float, optional
        Drawn as a dashed line.
    label : str
        What the score is (axis label and legend).
    title : str, optional

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For arrays of other lengths, non-finite scores, only one of ``low``/``high``,
        or a p-value per cluster missing.
    """
    path = output_path(path)
    scores = to_numpy(scores, "scores")
    if scores.ndim != 1 or not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be finite, shape (n_times,); got {scores.shape}")
    times = _check_times(times, len(scores), "times")
    if (low is None) != (high is None):
        raise ValueError("give both low and high (the interval), or neither")
    masks = _cluster_masks(clusters, len(times))
    if cluster_p_values is not None:
        p = to_numpy(cluster_p_values, "cluster_p_values")
        if p.shape != (len(masks),):
            raise ValueError(f"{len(masks)} clusters but {p.size} cluster p-values")
        masks = [mask for mask, value in zip(masks, p, strict=True) if value < alpha]
    figure = new_figure(5.0, 3.0, "constrained")
    panel = figure.add_subplot()
    (line,) = panel.plot(times, scores, color="tab:blue", linewidth=1.5)
    entries: dict[str, list] = {label: [line]}
    if low is not None:
        low, high = to_numpy(low, "low"), to_numpy(high, "high")
        if low.shape != scores.shape or high.shape != scores.shape:
            raise ValueError("low and high must have the shape of scores")
        band = panel.fill_between(times, low, high, color="tab:blue", alpha=0.2, linewidth=0)
        entries[interval] = [band]
    if chance is not None:
        entries[f"chance ({chance:g})"] = [panel.axhline(chance, color="0.4", linestyle="--",
                                                         linewidth=0.8)]  # fmt: skip
    spans = []
    step = np.median(np.diff(times)) if len(times) > 1 else 0.0
    for mask in masks:
        for start, stop in _runs(mask):
            spans.append(panel.axvspan(times[start] - step / 2, times[stop - 1] + step / 2,
                                       color="tab:orange", alpha=0.2, linewidth=0))  # fmt: skip
    if spans:
        what = f"cluster p < {alpha:g}" if cluster_p_values is not None else "cluster"
        entries[f"significant {what} (permutation)"] = spans[:1]
    panel.axvline(0, color="0.6", linewidth=0.6, linestyle=":")
    panel.set_xlabel("time (s)")
    panel.set_ylabel(label)
    if title:
        panel.set_title(title, fontsize=10)
    _legend(figure, entries, loc="outside lower center", ncols=2)
    return save_figure(figure, path)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


def plot_generalization(
    train_times: Any,
    test_times: Any,
    scores: Any,
    path: str | os.PathLike,
    *,
    mask: Any = None,
    label: str = "score",
    chance: float | None = None,
    title: str | None = None,
) -> Path:
    """Temporal generalisation: the score of a decoder trained at one time, tested at
    another.

    Parameters
    ----------
    train_times, test_times : array-like, shapes (n_train,), (n_test,)
    scores : array-like, shape (n_train, n_test)
    path : path-like
    mask : array-like of bool, shape (n_train, n_test), optional
        Significant cells, outlined.
    label : str
        Colour-bar label.
    chance : float, optional
        Centre of the diverging colour scale (default: the scores' median).
    title : str, optional

    Returns
    -------
    Path
    """
    from matplotlib.colors import TwoSlopeNorm

    path = output_path(path)
    scores = to_numpy(scores, "scores")
    if scores.ndim != 2 or not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be finite, shape (n_train, n_test); got {scores.shape}")
    train = _check_times(train_times, scores.shape[0], "train_times")
    test = _check_times(test_times, scores.shape[1], "test_times")
    centre = float(np.median(scores)) if chance is None else float(chance)
    spread = max(float(np.abs(scores - centre).max()), 1e-12)
    figure = new_figure(4.4, 3.8, "constrained")
    panel = figure.add_subplot()
    norm = TwoSlopeNorm(centre, centre - spread, centre + spread)
    image = panel.pcolormesh(test, train, scores, cmap="RdBu_r", shading="nearest", norm=norm)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != scores.shape:
            raise ValueError(f"mask must have shape {scores.shape}; got {mask.shape}")
        panel.contour(test, train, mask.astype(float), levels=[0.5], colors="black",
                      linewidths=0.8)  # fmt: skip
    low, high = max(train[0], test[0]), min(train[-1], test[-1])
    panel.plot([low, high], [low, high], color="0.3", linewidth=0.6, linestyle=":")
    panel.set_xlabel("test time (s)")
    panel.set_ylabel("train time (s)")
    figure.colorbar(image, ax=panel, label=label)
    if title:
        panel.set_title(title, fontsize=10)
    return save_figure(figure, path)


def peak_times(times: Any, scores: Any, n: int = 3, *, min_distance_s: float = 0.05) -> np.ndarray:
    """Times of the ``n`` largest local maxima of a time course, at least
    ``min_distance_s`` apart (``scipy.signal.find_peaks``), in time order.

    Returns
    -------
    numpy.ndarray, shape (n_found,)
        At most ``n`` times (fewer when the course has fewer peaks; its maximum when it
        has none).
    """
    from scipy.signal import find_peaks

    scores = to_numpy(scores, "scores")
    times = _check_times(times, len(scores), "times")
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    peaks, _ = find_peaks(scores, distance=max(1, int(round(min_distance_s / step))))
    if not len(peaks):
        peaks = np.array([int(np.argmax(scores))])
    best = peaks[np.argsort(scores[peaks])[::-1][:n]]
    return times[np.sort(best)]
