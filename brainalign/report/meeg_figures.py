"""M/EEG figures drawn from result rows: time courses with clusters, sensor topographies.

Two kinds of rows carry what these figures need:

- **time-resolved rows** have a finite ``time`` column (seconds; e.g. a study's epochs
  scored per time point). :func:`time_course` gives each model's time course at its
  best layer (:func:`brainalign.results.best_layers`, the leaderboard's layer): at
  every time the median over that time's rows (subjects x units), the number the
  summaries use, with the 95 % bootstrap interval of
  :func:`brainalign.results.median_interval` (over subjects, or rows with one subject).
  Significant clusters come from :func:`~brainalign.alignment.stats.clusters.
  cluster_permutation_1samp` over subjects of each subject's time course (median over
  its units) minus that of the model's strongest control (the leaderboard's
  ``control``, at its best layer), or minus 0 when the model has no control: with
  fewer than two subjects there is no test.
- **sensor rows** have ``ch_type``, ``x``, ``y``, ``z`` columns (metres, the head or
  device frame of the recording; e.g. ``meg-masc-trf``): :func:`sensor_values` gives
  each channel's median over subjects at the model's best layer (at the time course's
  peak for time-resolved rows), drawn by :func:`~brainalign.report.brain_maps.
  plot_topomap`.

:func:`write_meeg_figures` draws both for one benchmark and metric;
:func:`~brainalign.report.figures.write_benchmark_figures` calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.report.figures import (
    _rows_of,
    _unique_stems,
    strongest_control_rows,
    strongest_controls,
)
from brainalign.results import (
    POSITION_COLUMNS,
    TIME_COLUMN,
    best_layers,
    entity_labels,
    median_interval,
)

__all__ = [
    "TimeCourse",
    "info_from_positions",
    "sensor_values",
    "time_course",
    "write_meeg_figures",
]

#: Permutations of the cluster test (every sign flip when there are fewer).
N_PERMUTATIONS = 1024
#: Bootstrap resamples of each time point's interval.
N_RESAMPLES = 1000


class TimeCourse:
    """One model's time course at its best layer, with its interval and clusters.

    Attributes
    ----------
    label : str
        The model (:func:`brainalign.results.entity_labels`).
    layer : int
        Its best layer.
    times, estimate, low, high : numpy.ndarray, shape (n_times,)
        Seconds; the median over the rows at each time and its 95 % interval.
    reference : str
        What the cluster test compares with: a control's name, ``"0"``, or ``""``
        when there is no test.
    clusters : list of numpy.ndarray of bool, shape (n_times,)
    cluster_p_values : numpy.ndarray, shape (n_clusters,)
    n_subjects : int
    """

    def __init__(self, label: str, layer: int, times: np.ndarray) -> None:
        self.label = label
        self.layer = layer
        self.times = times
        self.estimate = np.full(times.size, np.nan)
        self.low = np.full(times.size, np.nan)
        self.high = np.full(times.size, np.nan)
        self.reference = ""
        self.clusters: list[np.ndarray] = []
        self.cluster_p_values = np.zeros(0)
        self.n_subjects = 0


def _has_time(rows: pd.DataFrame) -> bool:
    return TIME_COLUMN in rows.columns and np.isfinite(rows[TIME_COLUMN].to_numpy(float)).any()


def _subject_courses(rows: pd.DataFrame, times: np.ndarray) -> pd.DataFrame:
    """Each subject's median over its units at every time: (n_subjects, n_times)."""
    table = rows[np.isfinite(rows["score"].to_numpy(dtype=float))]
    courses = table.pivot_table(index="subject", columns="time", values="score", aggfunc="median")
    return courses.reindex(columns=times)


def time_course(rows: pd.DataFrame, *, seed: int = 0) -> list[TimeCourse]:
    """Each pretrained model's time course at its best layer (module documentation).

    Parameters
    ----------
    rows : pandas.DataFrame
        Result rows of one benchmark and metric with a ``time`` column.
    seed : int
        Seeds the bootstrap and the sign flips.

    Returns
    -------
    list of TimeCourse
        One per pretrained model with time-resolved rows, in leaderboard order.
    """
    from brainalign.alignment.stats.clusters import cluster_permutation_1samp
    from brainalign.report.time_plots import _cluster_masks

    rows = rows[rows["head"].isna() & np.isfinite(rows["time"].to_numpy(dtype=float))]
    best = best_layers(rows)
    strongest = strongest_controls(rows)
    labels = entity_labels(best)
    courses = []
    for index, entity in best.iterrows():
        if entity["control"] != "" or entity["weights"] != "pretrained":
            continue
        at = _rows_of(rows, entity, entity["best_layer"])
        times = np.unique(at["time"].to_numpy(dtype=float))
        course = TimeCourse(labels[index], int(entity["best_layer"]), times)
        for k, t in enumerate(times):
            interval = median_interval(at[at["time"] == t], n_resamples=N_RESAMPLES, seed=seed)
            course.estimate[k], course.low[k], course.high[k] = (
                interval["estimate"], interval["low"], interval["high"],
            )  # fmt: skip
        subjects = _subject_courses(at, times)
        reference = pd.DataFrame(0.0, index=subjects.index, columns=times)
        course.reference = "0"
        if entity["model"] in strongest:
            name = strongest[entity["model"]]
            control = strongest_control_rows(rows, best, name, entity["model"])
            reference = _subject_courses(control, times).reindex(index=subjects.index)
            course.reference = name
        difference = (subjects - reference).dropna(axis=0, how="any").to_numpy()
        course.n_subjects = difference.shape[0]
        if difference.shape[0] >= 2 and difference.shape[1] >= 2:
            result = cluster_permutation_1samp(
                difference, n_permutations=N_PERMUTATIONS, tail=1, seed=seed
            )
            course.clusters = _cluster_masks(result.clusters, times.size)
            course.cluster_p_values = np.asarray(result.cluster_p_values, dtype=float)
        else:
            course.reference = ""
        courses.append(course)
    return courses


def _has_positions(rows: pd.DataFrame) -> bool:
    if not set(POSITION_COLUMNS) <= set(rows.columns):
        return False
    xyz = rows[["x", "y", "z"]].to_numpy(dtype=float)
    return bool(len(rows)) and np.isfinite(xyz).all()


def info_from_positions(channels: pd.DataFrame) -> Any:
    """An :class:`mne.Info` placing channels at their positions.

    Parameters
    ----------
    channels : pandas.DataFrame, shape (n_channels, 5)
        ``unit`` (the channel name), ``ch_type`` (an MNE channel type, e.g. ``mag``,
        ``grad``, ``eeg``, ``seeg``) and ``x``, ``y``, ``z`` in metres.

    Returns
    -------
    mne.Info
        Sampling rate 1 Hz (a placeholder; only the positions are used).
    """
    import mne

    info = mne.create_info(
        channels["unit"].astype(str).tolist(), 1.0, channels["ch_type"].astype(str).tolist()
    )
    with info._unlock():
        for ch, xyz in zip(info["chs"], channels[["x", "y", "z"]].to_numpy(float), strict=True):
            ch["loc"][:3] = xyz
            if ch["kind"] in (mne.io.constants.FIFF.FIFFV_MEG_CH,):
                ch["loc"][3:12] = np.eye(3).reshape(-1)  # sensor orientation: identity
    return info


def sensor_values(rows: pd.DataFrame, entity: pd.Series, layer: Any, time: float | None = None):
    """Each channel's median over subjects at one layer (and time), with its position.

    Returns
    -------
    pandas.DataFrame
        ``unit``, ``ch_type``, ``x``, ``y``, ``z``, ``score`` (the median), one row per
        channel with a finite score.
    """
    at = _rows_of(rows[rows["head"].isna()], entity, layer)
    if time is not None:
        at = at[np.isclose(at["time"].to_numpy(dtype=float), time)]
    at = at[np.isfinite(at["score"].to_numpy(dtype=float))]
    positions = at.groupby("unit", sort=False)[list(POSITION_COLUMNS)].first()
    scores = at.groupby("unit", sort=False)["score"].median()
    return positions.assign(score=scores).reset_index()


def _topomaps(
    rows: pd.DataFrame, courses: dict[str, TimeCourse], stem: str, out: Path, title: str
) -> list[Path]:
    from brainalign.report.brain_maps import plot_topomap
    from brainalign.report.time_plots import peak_times

    rows = rows[rows["head"].isna()]
    best = best_layers(rows)
    labels = entity_labels(best)
    chosen = [
        (i, e) for i, e in best.iterrows() if e["control"] == "" and e["weights"] == "pretrained"
    ]
    stems = _unique_stems([labels[i] for i, _ in chosen])
    paths = []
    for index, entity in chosen:
        label = labels[index]
        time, when = None, ""
        if label in courses:
            course = courses[label]
            time = float(peak_times(course.times, course.estimate, n=1)[0])
            when = f" at {time * 1000:.0f} ms (peak)"
        values = sensor_values(rows, entity, entity["best_layer"], time)
        for ch_type, of_type in values.groupby("ch_type", sort=False):
            if len(of_type) < 3:
                continue
            suffix = f"_{ch_type}" if values["ch_type"].nunique() > 1 else ""
            path = out / f"{stem}_{stems[label]}{suffix}_topomap.png"
            plot_topomap(
                of_type["score"].to_numpy(),
                info_from_positions(of_type),
                path,
                colorbar_label="median over subjects",
                title=f"{title}: {label}, layer {entity['best_layer']}{when}",
            )
            paths.append(path)
    return paths


def write_meeg_figures(rows: pd.DataFrame, metric: str, stem: str, out: Path, title: str):
    """Time courses (``<stem>_<model>_time.png``) and topographies
    (``<stem>_<model>[_<ch_type>]_topomap.png``) of one benchmark and metric.

    Returns
    -------
    list of Path
        Nothing when the rows have neither times nor sensor positions.
    """
    from brainalign.report.plots import _metric_label
    from brainalign.report.time_plots import plot_time_course

    paths: list[Path] = []
    courses: dict[str, TimeCourse] = {}
    if _has_time(rows):
        found = time_course(rows)
        stems = _unique_stems([c.label for c in found])
        for course in found:
            if not np.isfinite(course.estimate).all():
                continue
            courses[course.label] = course
            low, high = course.low, course.high
            interval = np.isfinite(low).all() and np.isfinite(high).all()
            against = {"": "no cluster test (fewer than 2 subjects)", "0": "clusters: > 0"}
            tested = against.get(course.reference, f"clusters: > {course.reference}")
            path = out / f"{stem}_{stems[course.label]}_time.png"
            paths.append(
                plot_time_course(
                    course.times,
                    course.estimate,
                    path,
                    low=low if interval else None,
                    high=high if interval else None,
                    interval="95% CI (bootstrap)",
                    clusters=course.clusters,
                    cluster_p_values=course.cluster_p_values if course.clusters else None,
                    label=f"median {_metric_label(metric)}",
                    title=f"{title}: {course.label}, layer {course.layer}; {tested} "
                    f"({course.n_subjects} subjects)",
                )  # fmt: skip
            )
    if _has_positions(rows):
        paths += _topomaps(rows, courses, stem, out, title)
    return paths
