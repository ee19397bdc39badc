"""Event-related M/EEG (or iEEG) epochs of a study, scored per time point.

A study with ``sampling: epochs`` keeps the time axis of its trials: each subject's
epochs (n_trials, n_channels, n_times) are scored at every time point of the scored
**window** (``window: [start, stop]`` in seconds; default from 0 to the epoch's end,
the post-stimulus samples).

Responses
    One file (or object) per subject: an MNE epochs file (``*-epo.fif``), an EEGLAB
    epochs file (``.set``), a NumPy ``.npy`` of shape (n_trials, n_channels, n_times)
    with the study's ``times`` (seconds, one per time point), or a ``.npz`` with
    ``data`` and ``times`` (and optionally ``channels``). Each trial names its
    stimulus: the epochs' metadata column ``stimulus_id``, or a ``trials`` table (CSV or
    TSV with ``stimulus_id``, optional ``subject`` and ``group``; one row per trial, in
    the order of the trials), or else the epochs' event names. Every subject has the
    same time axis and the same channels, and every stimulus has at least one trial per
    subject.

Rows
    ``ridge``: one row per (layer[, head], subject, unit = channel, time). The model's
    stimulus features (one vector per stimulus, no delays) predict each channel's
    amplitude at each time point; a subject's trials are averaged per stimulus for the
    fit, folds are the event defaults (shuffled K-fold over stimuli with the run's
    seed, whole groups held out with ``groups``), the score is the held-out Pearson r.
    Every channel x time point of a subject is a target of the same
    :func:`~brainalign.alignment.encoding.cross_validated_encoding` call: one ridge
    decomposition per fold for all of them, so each time point scores exactly as an
    event study of the responses at that time point would.

    ``rsa``: one row per (layer[, head], subject, unit = ``"rdm"``, time): the RDM
    across channels of the stimulus-averaged epochs at that time point against the
    model's RDM (distance ``dissimilarity``, comparison ``comparison``, Spearman by
    default).

    Every row carries ``time`` (seconds, float), and only time points inside the window
    become rows, so the project's summary (the median over a layer's rows,
    :mod:`brainalign.results.summary`) is **the median over subjects x channels x
    window time points**.

Ceiling (per row)
    ``ridge``: the split-half reliability over trials of each (subject, channel, time):
    a stimulus's trials split in two halves, each half averaged, the halves correlated
    across stimuli and Spearman-Brown corrected
    (:func:`~brainalign.alignment.ceiling.split_half_reliability`), the ceiling its
    square root (:func:`~brainalign.alignment.ceiling.ceiling_from_reliability`); NaN
    (``ceiling_flag`` ``none``) for a subject without repeated stimuli.
    ``rsa``: the split-half RDM reliability of each (subject, time): per random split of
    every stimulus's trials (the splits of ``split_half_reliability``), the RDMs of the
    two halves compared with the study's comparison and Spearman-Brown corrected, then
    averaged over splits; the ceiling its square root. None for a subject with a
    stimulus shown once.

Controls
    The untrained twin, and ``random-stimulus-features`` (one seeded random vector per
    stimulus), scored the same way at every time point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.benchmarks.benchmark import ModelScores
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.study.inputs import StudyInputError, _read_table, resolve_path
from brainalign.benchmarks.study.tasks import (
    RANDOM_CONTROL,
    RsaTask,
    StimulusLayersTask,
)
from brainalign.datasets.recording import Recording

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark, BenchmarkTask
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study.study import Study
    from brainalign.planning.workload import Workload
    from brainalign.stimuli import Stimuli

__all__ = [
    "SINGLE_SUBJECT",
    "TIME_TOLERANCE",
    "EpochsEncodingTask",
    "EpochsResponses",
    "EpochsRsaTask",
    "SubjectEpochs",
    "epochs_task",
    "read_epochs_responses",
    "split_half_rdm_reliability",
]

#: Subject label of epochs given as one file (not a mapping of subjects to files).
SINGLE_SUBJECT = "all"
#: Seconds within which two time axes (or a window's edge and a time point) agree.
TIME_TOLERANCE = 1e-6
#: File suffixes of epochs read with MNE.
_MNE_SUFFIXES = (".fif", ".set")


@dataclass(frozen=True)
class SubjectEpochs:
    """One subject's trials.

    Attributes
    ----------
    subject : str
    data : numpy.ndarray of float64, shape (n_trials, n_channels, n_times)
        Amplitudes in the file's units (MNE: V, T, T/m).
    stimulus_ids : numpy.ndarray of str, shape (n_trials,)
    groups : numpy.ndarray of str, shape (n_trials,), or None
        The trials table's ``group`` column, when it has one.
    source : str
        Where the trials come from (a path, or a description of the object).
    """

    subject: str
    data: np.ndarray
    stimulus_ids: np.ndarray
    groups: np.ndarray | None
    source: str

    def codes(self, order: Sequence[str]) -> np.ndarray:
        """Index into ``order`` (stimulus ids) of every trial, shape (n_trials,)."""
        return pd.Categorical(self.stimulus_ids, categories=list(order)).codes.astype(np.intp)

    def stimulus_average(self, order: Sequence[str], keep: np.ndarray) -> np.ndarray:
        """Trials averaged per stimulus at the time points ``keep``.

        Parameters
        ----------
        order : sequence of str, length n_stimuli
            Stimulus ids, the rows of the result.
        keep : numpy.ndarray of bool, shape (n_times,)

        Returns
        -------
        numpy.ndarray of float64, shape (n_stimuli, n_channels, n_kept)
        """
        return _stimulus_means(self.data[:, :, keep], self.codes(order), len(order))

    def repeat_cube(self, order: Sequence[str], keep: np.ndarray) -> np.ndarray:
        """Trials as (stimulus, channel x time, repeat), NaN-padded.

        Returns
        -------
        numpy.ndarray of float64, shape (n_stimuli, n_channels * n_kept, n_repeats)
            Column ``c * n_kept + t`` is channel ``c`` at kept time ``t``; repeat ``r``
            of a stimulus is its ``r``-th trial in file order.
        """
        codes = self.codes(order)
        repeats = pd.Series(codes).groupby(codes).cumcount().to_numpy()
        data = self.data[:, :, keep].reshape(len(codes), -1)
        cube = np.full((len(order), data.shape[1], int(repeats.max()) + 1), np.nan)
        cube[codes, :, repeats] = data
        return cube

    @property
    def max_repeats(self) -> int:
        """Trials of the most repeated stimulus."""
        return int(pd.Series(self.stimulus_ids).value_counts().max())

    @property
    def min_repeats(self) -> int:
        """Trials of the least repeated stimulus."""
        return int(pd.Series(self.stimulus_ids).value_counts().min())


@dataclass(frozen=True)
class EpochsResponses:
    """Every subject's epochs on one time axis, with one channel set.

    Attributes
    ----------
    subjects : list of SubjectEpochs
    times : numpy.ndarray of float64, shape (n_times,)
        Seconds relative to stimulus onset.
    channels : list of str, length n_channels
    positions : pandas.DataFrame, shape (n_channels, 4), optional
        ``ch_type`` and ``x``, ``y``, ``z`` (metres) of each channel, indexed by channel
        name, when the first subject's file places its channels (MNE and EEGLAB epochs
        with positions); the rows carry them so that reports draw topographies.
    """

    subjects: list[SubjectEpochs]
    times: np.ndarray
    channels: list[str]
    positions: pd.DataFrame | None = None

    def window_mask(self, window: Sequence[float] | None) -> tuple[tuple[float, float], np.ndarray]:
        """The scored window and the time points inside it.

        Parameters
        ----------
        window : (float, float) or None
            Seconds ``[start, stop]``; None: from 0 to the epoch's end.

        Returns
        -------
        window : (float, float)
        keep : numpy.ndarray of bool, shape (n_times,)

        Raises
        ------
        StudyInputError
            For a window that is not two increasing numbers, reaches outside the epoch,
            or holds no time point.
        """
        first, last = float(self.times[0]), float(self.times[-1])
        span = f"the epochs span {first:.4g}..{last:.4g} s"
        if window is None:
            if last < 0:
                raise StudyInputError(
                    f"the epochs end at {last:.4g} s, before stimulus onset, so the default "
                    f"window (0 s to the epoch's end) is empty: give window: [start, stop] ({span})"
                )
            start, stop = 0.0, last
        else:
            try:
                start, stop = (float(t) for t in window)
            except (TypeError, ValueError):
                raise StudyInputError(
                    f"window={window!r}: give [start, stop] in seconds ({span})"
                ) from None
            if not (np.isfinite(start) and np.isfinite(stop)) or start > stop:
                raise StudyInputError(f"window={window!r}: give start <= stop, in seconds")
            if start < first - TIME_TOLERANCE or stop > last + TIME_TOLERANCE:
                raise StudyInputError(
                    f"window=[{start:g}, {stop:g}] reaches outside the epochs: {span}; give a "
                    "window inside them"
                )
        keep = (self.times >= start - TIME_TOLERANCE) & (self.times <= stop + TIME_TOLERANCE)
        if not keep.any():
            raise StudyInputError(f"window=[{start:g}, {stop:g}] holds no time point; {span}")
        return (start, stop), keep


def _stimulus_means(
    trials: np.ndarray, codes: np.ndarray, n_stimuli: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """Mean of the (selected) trials of each stimulus, (n_stimuli, *trials.shape[1:]).

    ``rows`` (bool, n_trials) selects trials; a stimulus without a selected trial is NaN.
    """
    chosen = np.ones(len(codes), dtype=bool) if rows is None else rows
    weights = np.zeros((n_stimuli, len(codes)))
    weights[codes[chosen], np.flatnonzero(chosen)] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        weights /= weights.sum(axis=1, keepdims=True)
    flat = trials.reshape(len(codes), -1)
    return (weights @ flat).reshape(n_stimuli, *trials.shape[1:])


# ----------------------------------------------------------------------------- reading


def read_epochs_responses(
    responses: Any,
    *,
    stimuli: Stimuli,
    times: Sequence[float] | None = None,
    trials: pd.DataFrame | str | os.PathLike | None = None,
    base: Path | None = None,
) -> EpochsResponses:
    """A study's epochs, checked: one source per subject, one time axis, one channel set.

    Parameters
    ----------
    responses : mne.Epochs, numpy.ndarray, path, or mapping of subject -> one of those
        MNE epochs (``-epo.fif``), EEGLAB epochs (``.set``), ``.npy`` of shape
        (n_trials, n_channels, n_times) (with ``times``), ``.npz`` with ``data``,
        ``times`` (and optionally ``channels``). One source alone is subject
        :data:`SINGLE_SUBJECT`.
    stimuli : Stimuli
    times : sequence of float, optional
        Seconds of every time point, for arrays and ``.npy`` files only.
    trials : DataFrame or path, optional
        One row per trial (``stimulus_id``; optional ``subject``, ``group``), in trial
        order; with ``subject``, each subject's rows name its trials.
    base : pathlib.Path, optional
        Folder of relative paths.

    Returns
    -------
    EpochsResponses

    Raises
    ------
    StudyInputError
        For an unreadable or unknown file, a missing time axis, fewer than 2 time
        points, NaN or inf, a trial naming an unknown stimulus, a stimulus without
        trials, time axes or channel sets that differ between subjects (both named).
    """
    table = None if trials is None else _trials_table(trials, base)
    sources = _sources(responses, table)
    subjects, read = [], []
    for subject, source in sources.items():
        given = _read_source(source, times, base)
        ids, groups = _trial_ids(given, table, subject)
        _check_trials(given, ids, stimuli)
        subjects.append(SubjectEpochs(subject, given.data, ids, groups, given.where))
        read.append(given)
    for epochs, given in zip(subjects[1:], read[1:], strict=True):
        _check_same_axis(subjects[0], read[0].times, epochs, given.times)
        _check_same_channels(subjects[0], read[0].channels, epochs, given.channels)
    return EpochsResponses(subjects, read[0].times, list(read[0].channels), read[0].positions)


def _sources(responses: Any, table: pd.DataFrame | None) -> dict[str, Any]:
    """Subject -> epochs source; one source alone is the trials table's one subject, or
    :data:`SINGLE_SUBJECT`."""
    if isinstance(responses, Mapping):
        if not responses:
            raise StudyInputError("responses: the mapping of subjects to epochs files is empty")
        return {str(subject): source for subject, source in responses.items()}
    if table is None or "subject" not in table.columns:
        return {SINGLE_SUBJECT: responses}
    subjects = table["subject"].unique().tolist()
    if len(subjects) > 1:
        raise StudyInputError(
            f"the trials table names {len(subjects)} subjects ({subjects[:5]}) but the "
            "responses are one file: give one epochs file per subject (responses: {SUBJECT: "
            "FILE, ...})"
        )
    return {subjects[0]: responses}


def _trials_table(trials: Any, base: Path | None) -> pd.DataFrame:
    if isinstance(trials, pd.DataFrame):
        table, where = trials.copy(), "trials table"
    else:
        path = resolve_path(trials, base, "trials")
        table, where = _read_table(path, "trials"), f"trials table {path}"
    if "stimulus_id" not in table.columns:
        raise StudyInputError(
            f"{where} has no 'stimulus_id' column; it has {list(table.columns)}: name the "
            "stimulus of every trial"
        )
    unknown = [c for c in table.columns if c not in ("stimulus_id", "subject", "group")]
    if unknown:
        raise StudyInputError(
            f"{where}: unknown column(s) {unknown}; a trials table holds stimulus_id and "
            "optionally subject and group"
        )
    for column in table.columns:
        table[column] = table[column].astype(str)
    return table


@dataclass(frozen=True)
class _Source:
    """One subject's epochs as read, before their trials are matched to stimuli."""

    data: np.ndarray  # (n_trials, n_channels, n_times) float64
    times: np.ndarray  # (n_times,) seconds
    channels: list[str]
    ids: np.ndarray | None  # stimulus id of each trial, when the file names them
    ids_from: str  # "metadata", "events" or "" (none)
    where: str
    positions: pd.DataFrame | None = None  # ch_type, x, y, z by channel, when placed


def _read_source(source: Any, times: Sequence[float] | None, base: Path | None) -> _Source:
    """One subject's epochs from an MNE object, an array or a file."""
    from brainalign.benchmarks.study.inputs import _is_epochs

    if _is_epochs(source):
        return _from_mne(source, times, f"epochs {type(source).__name__}")
    if isinstance(source, Recording):
        raise StudyInputError(
            "responses: sampling: epochs reads epochs (MNE or EEGLAB files, mne.Epochs, "
            ".npy/.npz or arrays), not a Recording; give its epochs file, or drop sampling "
            "to score the Recording as it is"
        )
    if isinstance(source, np.ndarray | list):
        array = np.asarray(source, dtype=np.float64)
        return _from_array(array, times, None, f"responses array {array.shape}")
    path = resolve_path(source, base, "responses")
    suffix = path.suffix.lower()
    if suffix in _MNE_SUFFIXES:
        return _from_mne(_read_mne(path), times, str(path))
    if suffix == ".npy":
        return _from_array(np.load(path, allow_pickle=False), times, None, str(path))
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("data", "times") if k not in archive.files]
            if missing:
                raise StudyInputError(
                    f"responses {path} lacks array(s) {missing}; it has {archive.files}: an "
                    "epochs .npz holds data (n_trials, n_channels, n_times) and times (s)"
                )
            if times is not None:
                raise StudyInputError(f"responses {path} holds its own times: drop times")
            channels = archive["channels"].astype(str).tolist() if "channels" in archive else None
            return _from_array(archive["data"], archive["times"], channels, str(path))
    raise StudyInputError(
        f"responses {path}: unknown epochs format; give MNE epochs (-epo.fif), EEGLAB epochs "
        "(.set), a .npy (n_trials, n_channels, n_times) with times, or a .npz with data and "
        "times"
    )


def _read_mne(path: Path) -> Any:
    import mne

    try:
        if path.suffix.lower() == ".fif":
            return mne.read_epochs(path, preload=True, verbose="error")
        return mne.read_epochs_eeglab(path, verbose="error")
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise StudyInputError(
            f"responses {path}: not readable as epochs ({error}); give MNE epochs "
            "(-epo.fif) or EEGLAB epochs (.set)"
        ) from None


def _from_mne(epochs: Any, times: Sequence[float] | None, where: str) -> _Source:
    if times is not None:
        raise StudyInputError(f"{where}: MNE epochs bring their own times: drop times")
    metadata = epochs.metadata
    if metadata is not None and "stimulus_id" in metadata.columns:
        ids, ids_from = metadata["stimulus_id"].astype(str).to_numpy(), "metadata"
    else:
        names = {code: name for name, code in epochs.event_id.items()}
        ids = np.asarray([str(names[int(code)]) for code in epochs.events[:, 2]], dtype=object)
        ids_from = "events"
    data = np.asarray(epochs.get_data(copy=True), dtype=np.float64)
    axis = np.asarray(epochs.times, dtype=np.float64)
    return _Source(data, axis, list(epochs.ch_names), ids, ids_from, where, _positions(epochs))


def _positions(epochs: Any) -> pd.DataFrame | None:
    """Each channel's type and position (m) from MNE's info; None when any is unplaced."""
    xyz = np.array([ch["loc"][:3] for ch in epochs.info["chs"]], dtype=np.float64)
    if not np.isfinite(xyz).all() or (np.abs(xyz).sum(axis=1) == 0).any():
        return None
    table = pd.DataFrame(xyz, columns=["x", "y", "z"], index=list(epochs.ch_names))
    table.insert(0, "ch_type", epochs.get_channel_types())
    return table


def _from_array(array: Any, times: Any, channels: list[str] | None, where: str) -> _Source:
    data = np.asarray(array, dtype=np.float64)
    if data.ndim != 3:
        raise StudyInputError(
            f"{where} has shape {data.shape}; epochs are (n_trials, n_channels, n_times)"
        )
    if times is None:
        raise StudyInputError(
            f"{where}: epochs given as an array need times (seconds of each of its "
            f"{data.shape[2]} time points): give times: [...] or a .npz with data and times"
        )
    axis = np.asarray(times, dtype=np.float64).reshape(-1)
    if axis.shape != (data.shape[2],):
        raise StudyInputError(
            f"{where}: times has {axis.size} values but the epochs have {data.shape[2]} time "
            "points; give one time (s) per point of the last axis"
        )
    if not np.all(np.isfinite(axis)) or np.any(np.diff(axis) <= 0):
        raise StudyInputError(f"{where}: times must be finite, increasing seconds")
    names = channels or [str(c) for c in range(data.shape[1])]
    if len(names) != data.shape[1]:
        raise StudyInputError(f"{where}: {len(names)} channel names for {data.shape[1]} channels")
    return _Source(data, axis, names, None, "", where)


def _trial_ids(
    given: _Source, table: pd.DataFrame | None, subject: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each trial's stimulus id (and trials-table group): the metadata's ``stimulus_id``,
    else the trials table, else the event names."""
    where, n_trials = given.where, given.data.shape[0]
    if table is None:
        if given.ids is None:
            raise StudyInputError(
                f"{where}: name the stimulus of every trial: give a trials table (trials: "
                "FILE with a stimulus_id column, one row per trial)"
            )
        return np.asarray(given.ids).astype(str), None
    if given.ids_from == "metadata":
        raise StudyInputError(
            f"{where}: the epochs' metadata and the trials table both name the stimuli; "
            "drop one (the trials table, or the metadata's stimulus_id column)"
        )
    rows = table
    if "subject" in table.columns:
        rows = table[table["subject"] == subject]
        if rows.empty:
            raise StudyInputError(
                f"the trials table has no row of subject {subject!r} ({where}); its subjects: "
                f"{sorted(table['subject'].unique())[:5]}"
            )
    if len(rows) != n_trials:
        raise StudyInputError(
            f"{where} has {n_trials} trials but the trials table gives {len(rows)} rows"
            + (f" for subject {subject!r}" if "subject" in table.columns else "")
            + ": give one row per trial, in trial order"
        )
    groups = rows["group"].to_numpy() if "group" in rows.columns else None
    return rows["stimulus_id"].to_numpy().astype(str), groups


def _check_trials(given: _Source, ids: np.ndarray, stimuli: Stimuli) -> None:
    data, times, where = given.data, given.times, given.where
    if data.shape[2] < 2:
        raise StudyInputError(
            f"{where} has {data.shape[2]} time point(s); epochs scored per time point need at "
            "least 2 (for one value per trial use sampling: event with a window)"
        )
    known = set(map(str, stimuli.stimulus_ids))
    unknown = list(dict.fromkeys(str(i) for i in ids if i not in known))
    if unknown:
        trial = int(np.flatnonzero(ids == unknown[0])[0])
        raise StudyInputError(
            f"{where}: {len(unknown)} trial stimulus id(s) are not stimuli, e.g. {unknown[:5]} "
            f"(first at trial {trial}); every trial must name a stimulus of the stimuli table"
        )
    missing = [i for i in map(str, stimuli.stimulus_ids) if i not in set(ids)]
    if missing:
        raise StudyInputError(
            f"{where}: {len(missing)} stimuli have no trial, e.g. {missing[:5]}; give every "
            "subject at least one trial of every stimulus (or drop those stimuli)"
        )
    bad = ~np.isfinite(data)
    if bad.any():
        trial, channel, point = (int(v[0]) for v in np.nonzero(bad))
        raise StudyInputError(
            f"{where} holds {int(bad.sum())} NaN or infinite value(s), e.g. at trial {trial} "
            f"({ids[trial]}), channel {channel}, time {times[point]:.4g} s: drop or repair "
            "those trials or channels"
        )


def _check_same_axis(
    first: SubjectEpochs, times: np.ndarray, other: SubjectEpochs, axis: np.ndarray
) -> None:
    if times.shape == axis.shape and np.allclose(times, axis, rtol=0, atol=TIME_TOLERANCE):
        return

    def described(values: np.ndarray) -> str:
        step = float(np.median(np.diff(values)))
        return f"{values.size} points, {values[0]:.4g}..{values[-1]:.4g} s, step {step:.4g} s"

    raise StudyInputError(
        f"the epochs have different time axes: subject {first.subject!r} ({first.source}): "
        f"{described(times)}; subject {other.subject!r} ({other.source}): "
        f"{described(axis)}; crop or resample them to one time axis"
    )


def _check_same_channels(
    first: SubjectEpochs, channels: list[str], other: SubjectEpochs, names: list[str]
) -> None:
    if list(channels) == list(names):
        return
    missing = [c for c in channels if c not in names]
    extra = [c for c in names if c not in channels]
    detail = (
        f"missing {missing[:8]}, extra {extra[:8]}"
        if missing or extra
        else "the same channels in another order"
    )
    raise StudyInputError(
        f"the channels of subject {other.subject!r} ({other.source}) differ from those of "
        f"subject {first.subject!r} ({first.source}): {detail}; give every subject the same "
        "channels, in the same order (pick or reorder them)"
    )


# ----------------------------------------------------------------------------- tasks


@dataclass
class _EpochsData:
    """What the tasks share: stimulus order, scored times, fold groups."""

    order: list[str]  # stimulus ids, the rows of the features
    keep: np.ndarray  # (n_times,) bool, time points inside the window
    times: np.ndarray  # (n_kept,) seconds
    groups: np.ndarray | None  # (n_stimuli,) fold group of each stimulus


def _shared(study: Study) -> _EpochsData:
    epochs = study.epochs
    keep = study.scored_times
    return _EpochsData(
        order=[str(i) for i in study.stimuli.stimulus_ids],
        keep=keep,
        times=epochs.times[keep],
        groups=study.stimulus_fold_groups(),
    )


def _time_rows(
    scores: np.ndarray, subject: str, units: Sequence[str], times: np.ndarray, layer: Any, head: Any
) -> pd.DataFrame:
    """Rows of one subject: ``scores`` (n_units, n_times) -> unit-major rows."""
    n_units, n_times = scores.shape
    return pd.DataFrame(
        {
            "layer": pd.array([layer] * scores.size, dtype="Int64"),
            "head": pd.array([head] * scores.size, dtype="Int64"),
            "subject": subject,
            "unit": np.repeat(np.asarray(units, dtype=object), n_times),
            "time": np.tile(times, n_units),
            "score": scores.reshape(-1),
        }
    )


@dataclass
class EpochsEncodingTask(StimulusLayersTask):
    """Ridge from each layer to every channel at every window time point (module doc)."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings
    shared: _EpochsData
    averaged: list[np.ndarray]  # per subject (n_stimuli, n_channels, n_kept)

    def _rows(self, X: np.ndarray, layer: Any = pd.NA, head: Any = pd.NA) -> pd.DataFrame:
        from brainalign.alignment.encoding import cross_validated_encoding

        frames = []
        for epochs, Y in zip(self.study.epochs.subjects, self.averaged, strict=True):
            result = cross_validated_encoding(
                X,
                Y.reshape(Y.shape[0], -1),
                sampling="event",
                groups=self.shared.groups,
                seed=self.settings.run_seed,
                **self.study.ridge_options(),
            )
            scores = result.scores.reshape(Y.shape[1], Y.shape[2])
            channels = self.study.epochs.channels
            frames.append(
                _time_rows(scores, epochs.subject, channels, self.shared.times, layer, head)
            )
        rows = pd.concat(frames, ignore_index=True)
        positions = self.study.epochs.positions
        return rows if positions is None else rows.join(positions, on="unit")

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """One seeded random vector per stimulus, as wide as the model's last layer."""
        vectors = random_vectors(
            self.shared.order, int(model.n_dims or 2), seed=self.settings.run_seed
        )
        return {RANDOM_CONTROL: self._rows(vectors)}

    def ceiling(self) -> pd.DataFrame | None:
        """Split-half reliability over trials per (subject, channel, time); else none."""
        from brainalign.alignment.ceiling import ceiling_from_reliability, split_half_reliability

        frames = []
        splits = self.study.options.get("ceiling_splits", 100)
        channels = self.study.epochs.channels
        for epochs in self.study.epochs.subjects:
            if epochs.max_repeats < 2:
                continue
            cube = epochs.repeat_cube(self.shared.order, self.shared.keep)
            reliability = split_half_reliability(cube, n_splits=splits, seed=0)
            frame = _time_rows(
                reliability.reshape(len(channels), -1),
                epochs.subject,
                channels,
                self.shared.times,
                pd.NA,
                pd.NA,
            ).rename(columns={"score": "reliability"})
            frame["ceiling"] = ceiling_from_reliability(frame["reliability"].to_numpy())
            frames.append(frame[["subject", "unit", "time", "ceiling", "reliability"]])
        return pd.concat(frames, ignore_index=True) if frames else None

    def workload(self) -> Workload:
        """The stimuli once per variant; per layer (and head) one ridge fit per subject
        onto every channel x window time point, and the control."""
        from brainalign.benchmarks.study.tasks import (
            _ridge_fit_options,
            _study_data_bytes,
            stimulus_workload_set,
        )
        from brainalign.planning.workload import Width, Workload, feature_set_fits

        widest = max(Y.shape[1] * Y.shape[2] for Y in self.averaged)
        return Workload(
            stimuli=(stimulus_workload_set(self.study, self.settings),),
            fits=feature_set_fits(
                self.settings,
                "ridge",
                n_samples=len(self.shared.order),
                n_targets=widest,
                control_width=Width(),
                repeats=len(self.averaged),
                **_ridge_fit_options(self.study),
            ),  # fmt: skip
            data_bytes=sum(int(Y.nbytes) for Y in self.averaged) + _study_data_bytes(self.study),
        )


def split_half_rdm_reliability(
    trials: np.ndarray,
    codes: np.ndarray,
    n_stimuli: int,
    *,
    metric: str = "correlation",
    comparison: str = "spearman",
    n_splits: int = 100,
    seed: int = 0,
) -> np.ndarray:
    """Split-half reliability of the time-resolved RDMs of one subject's trials.

    For each of ``n_splits`` random splits, every stimulus's ``k`` trials are split in
    two halves of ``k // 2`` as :func:`~brainalign.alignment.ceiling.
    split_half_reliability` splits repeats (``perm = rng.permutation(max_k)`` per split
    with ``rng = numpy.random.Generator(numpy.random.PCG64(seed))``; ``order =
    perm[perm < k]``; halves ``order[:k // 2]`` and ``order[k // 2 : 2 * (k // 2)]``),
    each half averaged per stimulus, one RDM per time point made of each half
    (:func:`~brainalign.alignment.rsa.time_resolved_rdms`), the two compared at each
    time point (:func:`~brainalign.alignment.rsa.compare_rdms`) and Spearman-Brown
    corrected, ``2 r / (1 + r)``; the result is the mean over splits.

    Parameters
    ----------
    trials : numpy.ndarray, shape (n_trials, n_channels, n_times)
    codes : numpy.ndarray of int, shape (n_trials,)
        Stimulus (0 .. n_stimuli - 1) of each trial; every stimulus has >= 2 trials.
    n_stimuli : int
    metric, comparison : str
        RDM distance and comparison (:data:`~brainalign.alignment.rsa.METRICS`,
        :data:`~brainalign.alignment.rsa.COMPARISONS`).
    n_splits, seed : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_times,)
        NaN where every split's comparison was undefined.
    """
    from brainalign.alignment.rsa import compare_rdms, time_resolved_rdms

    codes = np.asarray(codes, dtype=np.intp)
    counts = np.bincount(codes, minlength=n_stimuli)
    if counts.min() < 2:
        raise ValueError("every stimulus needs at least 2 trials for a split-half RDM")
    rank = pd.Series(codes).groupby(codes).cumcount().to_numpy()  # trial's index in its stimulus
    rng = np.random.Generator(np.random.PCG64(seed))
    corrected = np.empty((n_splits, trials.shape[2]))
    for split in range(n_splits):
        perm = rng.permutation(int(counts.max()))
        sides = np.full(len(codes), -1)
        for k in np.unique(counts):
            order, half = perm[perm < k], k // 2
            of_k = counts[codes] == k
            sides[of_k & np.isin(rank, order[:half])] = 0
            sides[of_k & np.isin(rank, order[half : 2 * half])] = 1
        first, second = (
            time_resolved_rdms(_stimulus_means(trials, codes, n_stimuli, sides == side), metric)
            for side in (0, 1)
        )
        r = np.array(
            [float(compare_rdms(a, b, comparison)) for a, b in zip(first, second, strict=True)]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            corrected[split] = 2 * r / (1 + r)
    defined = np.isfinite(corrected).any(axis=0)
    out = np.full(trials.shape[2], np.nan)
    out[defined] = np.nanmean(corrected[:, defined], axis=0)
    return out


@dataclass
class EpochsRsaTask(RsaTask):
    """A layer's RDM against every (subject, time) RDM of the epochs (module doc)."""

    shared: _EpochsData

    def ceiling(self) -> pd.DataFrame | None:
        """Split-half RDM reliability per (subject, time) (module documentation)."""
        from brainalign.alignment.ceiling import ceiling_from_reliability

        frames = []
        shared = self.shared
        for epochs in self.study.epochs.subjects:
            if epochs.min_repeats < 2:
                continue
            reliability = split_half_rdm_reliability(
                epochs.data[:, :, shared.keep],
                epochs.codes(shared.order),
                len(shared.order),
                metric=self.study.dissimilarity,
                comparison=self.study.comparison,
                n_splits=self.study.options.get("ceiling_splits", 100),
            )
            frames.append(
                pd.DataFrame(
                    {
                        "subject": epochs.subject,
                        "unit": "rdm",
                        "time": shared.times,
                        "ceiling": ceiling_from_reliability(reliability),
                        "reliability": reliability,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True) if frames else None


def _data_rdms(study: Study, shared: _EpochsData) -> tuple[np.ndarray, pd.DataFrame]:
    """Per subject and window time point, the RDM across channels (stimulus averages)."""
    from brainalign.alignment.rsa import time_resolved_rdms

    rdms, targets = [], []
    for epochs in study.epochs.subjects:
        averaged = epochs.stimulus_average(shared.order, shared.keep)
        rdms.append(np.asarray(time_resolved_rdms(averaged, study.dissimilarity)))
        targets.append(
            pd.DataFrame({"subject": epochs.subject, "unit": "rdm", "time": shared.times})
        )
    return np.concatenate(rdms), pd.concat(targets, ignore_index=True)


def epochs_task(study: Study, benchmark: Benchmark, settings: RunSettings) -> BenchmarkTask:
    """The task of one run of an epochs study (:meth:`Study.prepare`)."""
    shared = _shared(study)
    if study.analysis == "rsa":
        data_rdms, targets = _data_rdms(study, shared)
        return EpochsRsaTask(study, benchmark, settings, data_rdms, targets, shared)
    averaged = [e.stimulus_average(shared.order, shared.keep) for e in study.epochs.subjects]
    return EpochsEncodingTask(study, benchmark, settings, shared, averaged)
