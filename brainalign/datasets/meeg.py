"""EEG, MEG and iEEG recordings as ``Recording`` objects, read through MNE-Python.

Every file format is read by MNE (:func:`mne.io.read_raw` and friends); every signal
operation (filtering, epoching, baseline correction, decimation, rejection,
resampling) is MNE's, called with the parameters given here. This module only turns
MNE objects into the project's data model and checks what is easy to get wrong:
events that are missing, stimuli that do not match, channel sets that differ across
subjects.

Clocks
------
Times in seconds are measured from the first sample of the data file (BIDS
``events.tsv`` convention; MNE's ``raw.times``). Stimulus tables may use their own
clock: ``stimulus_clock_start`` is the time, in seconds from the first sample of the
file, at which the stimulus clock reads 0 (for instance the trigger that started the
audio). Sample onsets in the returned Recordings are on the stimulus clock.

Time-resolved data
------------------
Epochs and evoked responses give ``data`` of shape (n_samples, n_channels, n_times);
``sfreq`` is the sampling frequency of the time axis (after decimation) and
``Recording.times`` gives the time of each point in seconds relative to the event
(``meta["tmin"]`` its first value).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

if TYPE_CHECKING:  # pragma: no cover
    import mne

PathLike = str | os.PathLike

SUPPORTED_FORMATS: dict[str, str] = {
    ".fif": "FIF (Elekta/MEGIN, MNE)",
    ".fif.gz": "FIF (Elekta/MEGIN, MNE)",
    ".vhdr": "BrainVision",
    ".edf": "EDF",
    ".bdf": "BDF",
    ".set": "EEGLAB",
    ".sqd": "KIT",
    ".con": "KIT",
    ".cnt": "Neuroscan CNT",
}
EVENT_FILE_SUFFIXES = (".fif", ".fif.gz", ".eve", ".txt", ".lst")
EVENT_TABLE_SUFFIXES = (".tsv", ".csv")
COORD_FRAMES = {0: "unknown", 1: "meg", 4: "head", 5: "mri"}
CONDITION_GROUP = "conditions"
# The file each Raw read here came from, as the user named it (MNE's ``raw.filenames``
# names BrainVision's .eeg data file, not the .vhdr the user passed).
# Keyed by id(): MNE objects hash their data. Entries go when the object does.
_SOURCES: dict[int, str] = {}
EVENT_GROUP = "events"


class MEEGFileError(ValueError):
    """An M/EEG file that cannot be read, or is of an unsupported format."""


class NoEventsError(MEEGFileError):
    """A recording without events where events are needed."""


class ChannelMismatchError(ValueError):
    """Recordings of several subjects whose channel sets differ."""


# --------------------------------------------------------------------------- reading


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def _check_file(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if not path.is_file():
        raise MEEGFileError(f"{path}: {what} must be a file, not a directory")
    return path


def read_raw(
    path: PathLike, *, preload: bool = False, verbose: str | bool | None = None, **kwargs: Any
) -> mne.io.BaseRaw:
    """Read a continuous M/EEG recording with :func:`mne.io.read_raw`.

    Parameters
    ----------
    path : path
        The recording: FIF (``.fif``, ``.fif.gz``), BrainVision (``.vhdr``), EDF, BDF,
        EEGLAB (``.set``, continuous), KIT (``.sqd``, ``.con``) or Neuroscan CNT.
    preload : bool
        Load the data into memory now.
    verbose : str | bool | None
        MNE's verbosity for the reader.
    **kwargs
        Passed to MNE's format reader (``data_format="int16"`` for CNT, ``eog=...``,
        ``stim_channel=...``).

    Returns
    -------
    mne.io.BaseRaw
        The recording, n_channels x n_times.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    MEEGFileError
        If the suffix is not a supported format (the message lists them) or MNE cannot
        read the file (the message names the file and gives MNE's reason).
    """
    import mne

    path = _check_file(path, "M/EEG recording")
    suffix = _suffix(path)
    if suffix not in SUPPORTED_FORMATS:
        supported = ", ".join(f"{s} ({f})" for s, f in SUPPORTED_FORMATS.items())
        raise MEEGFileError(
            f"{path}: unknown M/EEG file suffix {suffix!r}; supported: {supported}. "
            "Convert the file with MNE or pass an mne.io.Raw object instead."
        )
    try:
        raw = mne.io.read_raw(path, preload=preload, verbose=verbose, **kwargs)
    except Exception as exc:  # MNE raises many types; all mean the same to the caller
        raise MEEGFileError(
            f"{path}: MNE could not read this {SUPPORTED_FORMATS[suffix]} file "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    _SOURCES[id(raw)] = str(path)
    weakref.finalize(raw, _SOURCES.pop, id(raw), None)
    return raw


def _as_raw(raw: mne.io.BaseRaw | PathLike, verbose: str | bool | None) -> mne.io.BaseRaw:
    import mne

    if isinstance(raw, mne.io.BaseRaw):
        return raw
    if isinstance(raw, str | os.PathLike):
        return read_raw(raw, verbose=verbose)
    raise TypeError(f"raw must be an mne.io.Raw or a path, not {type(raw).__name__}")


def _source_name(inst: Any) -> str:
    if id(inst) in _SOURCES:
        return _SOURCES[id(inst)]
    filenames = getattr(inst, "filenames", None) or [getattr(inst, "filename", None)]
    filenames = [f for f in filenames if f is not None]
    return str(filenames[0]) if filenames else f"<{type(inst).__name__}>"


# --------------------------------------------------------------------------- events


def _stim_channel_names(raw: mne.io.BaseRaw, stim_channel: str | list[str] | None) -> list[str]:
    import mne

    if stim_channel is not None:
        names = [stim_channel] if isinstance(stim_channel, str) else list(stim_channel)
        missing = [n for n in names if n not in raw.ch_names]
        if missing:
            raise ValueError(
                f"{_source_name(raw)}: stim_channel {missing} not in the recording; "
                f"stim channels present: {_stim_channel_names(raw, None)}"
            )
        return names
    return [raw.ch_names[i] for i in mne.pick_types(raw.info, meg=False, stim=True)]


def _no_events_message(raw: mne.io.BaseRaw, stim_names: list[str], event_id: Any) -> str:
    descriptions = sorted(set(raw.annotations.description))
    wanted = f" matching event_id {dict(event_id)}" if event_id else ""
    return (
        f"{_source_name(raw)}: no events{wanted} found. Stim channels: "
        f"{stim_names or 'none'} (no events on them); annotations: "
        f"{descriptions or 'none'}. Pass events explicitly (an array, an -eve.fif file or "
        "an events.tsv table) or stimuli with onsets."
    )


def _filter_events(
    events: np.ndarray, event_id: Mapping[str, int] | None
) -> tuple[np.ndarray, dict[str, int]]:
    codes = np.unique(events[:, 2])
    if event_id is None:
        return events, {str(int(c)): int(c) for c in codes}
    event_id = {str(k): int(v) for k, v in event_id.items()}
    keep = np.isin(events[:, 2], list(event_id.values()))
    present = set(events[keep, 2].tolist())
    return events[keep], {k: v for k, v in event_id.items() if v in present}


def find_events(
    raw: mne.io.BaseRaw | PathLike,
    *,
    source: Literal["auto", "stim", "annotations"] = "auto",
    event_id: Mapping[str, int] | None = None,
    stim_channel: str | list[str] | None = None,
    verbose: str | bool | None = None,
    **find_events_kwargs: Any,
) -> tuple[np.ndarray, dict[str, int]]:
    """Events of a recording, from its stim channel(s) or its annotations.

    Parameters
    ----------
    raw : mne.io.Raw or path
        The recording.
    source : {"auto", "stim", "annotations"}
        ``"stim"``: :func:`mne.find_events` on the stim channel(s); ``"annotations"``:
        :func:`mne.events_from_annotations`; ``"auto"``: the stim channels if they hold
        events, else the annotations.
    event_id : dict of str to int, optional
        Keep only these events (name -> code). For annotations, the keys are annotation
        descriptions and the values the codes to give them. By default every event is
        kept: stim codes are named by their number, annotations get the codes of
        ``mne.events_from_annotations(raw, event_id="auto")`` (format-specific, e.g.
        253 for BrainVision's ``Stimulus/S253``).
    stim_channel : str or list of str, optional
        Stim channel name(s) (default: MNE's choice among the ``stim`` channels).
    verbose : str | bool | None
        MNE's verbosity.
    **find_events_kwargs
        Passed to :func:`mne.find_events` (``shortest_event``, ``min_duration``,
        ``consecutive``, ``mask``...).

    Returns
    -------
    events : numpy.ndarray of int, shape (n_events, 3)
        MNE events: sample (including ``raw.first_samp``), previous value, code.
    event_id : dict of str to int
        Name of each code present.

    Raises
    ------
    NoEventsError
        If no events are found; the message names the file, its stim channels and its
        annotation descriptions.
    """
    import mne

    if source not in ("auto", "stim", "annotations"):
        raise ValueError(f"source must be 'auto', 'stim' or 'annotations', not {source!r}")
    raw = _as_raw(raw, verbose)
    stim_names = _stim_channel_names(raw, stim_channel)
    if source in ("auto", "stim") and stim_names:
        events = mne.find_events(
            raw,
            stim_channel=stim_names,
            verbose=verbose if verbose is not None else False,
            **find_events_kwargs,
        )
        events, found_id = _filter_events(events, event_id)
        if len(events):
            return events, found_id
    if source in ("auto", "annotations") and len(raw.annotations):
        wanted = "auto" if event_id is None else {str(k): int(v) for k, v in event_id.items()}
        try:
            events, found_id = mne.events_from_annotations(raw, event_id=wanted, verbose=False)
        except ValueError:  # MNE: none of the wanted descriptions present
            events = np.empty((0, 3), dtype=int)
        if len(events):
            present = set(events[:, 2].tolist())
            return events, {k: int(v) for k, v in found_id.items() if v in present}
    raise NoEventsError(_no_events_message(raw, stim_names, event_id))


def read_events(path: PathLike) -> np.ndarray:
    """Read an MNE events file (``-eve.fif``, or MNE's text ``.eve``) with :func:`mne.read_events`.

    Parameters
    ----------
    path : path
        The events file.

    Returns
    -------
    numpy.ndarray of int, shape (n_events, 3)
        Sample (including the recording's ``first_samp``), previous value, code.

    Raises
    ------
    FileNotFoundError, MEEGFileError
        If the file is missing, unreadable or holds no events.
    """
    import mne

    path = _check_file(path, "events file")
    if _suffix(path) not in EVENT_FILE_SUFFIXES:
        raise MEEGFileError(
            f"{path}: events files must end in one of {list(EVENT_FILE_SUFFIXES)}; for a "
            "BIDS events.tsv table use events_from_table"
        )
    try:
        events = mne.read_events(path, verbose=False)
    except Exception as exc:
        raise MEEGFileError(f"{path}: MNE could not read these events ({exc})") from exc
    if len(events) == 0:
        raise NoEventsError(f"{path}: the events file holds no events")
    return events


def events_from_table(
    table: pd.DataFrame | PathLike,
    raw: mne.io.BaseRaw,
    *,
    name_column: str = "trial_type",
    event_id: Mapping[str, int] | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """MNE events from a BIDS ``events.tsv``-like table of onsets in seconds.

    The table is read by :func:`brainalign.datasets.bids.events_to_stimuli` (the project's
    one reader of events tables: its checks and messages), with events whose name is
    ``n/a`` left out and durations optional (they do not enter MNE events); onsets are
    then turned into samples by MNE (:meth:`mne.io.Raw.time_as_index`, rounded).

    Parameters
    ----------
    table : pandas.DataFrame, shape (n_events, n_columns), or path
        One row per event: ``onset`` in seconds from the first sample of the data file
        (BIDS), and ``name_column`` naming the event type. A path must end in ``.tsv``
        (BIDS, ``n/a`` for missing) or ``.csv``.
    raw : mne.io.Raw
        The recording the table belongs to (for ``sfreq`` and ``first_samp``).
    name_column : str
        Column naming each event (BIDS ``trial_type``; ``value`` works too).
    event_id : dict of str to int, optional
        Keep only these event names, with these codes. Default: every name, numbered
        1..k in sorted order (as ``mne.events_from_annotations(raw, event_id=None)``).

    Returns
    -------
    events : numpy.ndarray of int, shape (n_events, 3)
        Sample ``first_samp + round(onset * sfreq)``, 0, code; sorted by sample.
    event_id : dict of str to int
        Name of each code present.

    Raises
    ------
    FileNotFoundError
        If the table file does not exist.
    MEEGFileError
        If the path is not a ``.tsv`` or ``.csv`` file.
    brainalign.datasets.bids.BIDSFileError
        If ``onset`` or ``name_column`` is missing, or an onset or duration is not a
        number (the message names the file or "events table", the column and the rows).
    ValueError
        If an onset lies outside the recording (before its first sample or after its
        last).
    NoEventsError
        If no event has a name of ``event_id``.
    """
    from brainalign.datasets.bids import events_to_stimuli

    if not isinstance(table, pd.DataFrame):
        path = _check_file(table, "events table")
        if _suffix(path) not in EVENT_TABLE_SUFFIXES:
            raise MEEGFileError(f"{path}: events tables must be .tsv or .csv")
    where = "events table" if isinstance(table, pd.DataFrame) else str(table)
    stimuli = events_to_stimuli(
        table, stimulus_column=name_column, content="label", drop_na=True, fill_duration=0.0
    )
    names = stimuli.table["label"].to_numpy(dtype=str)
    onsets = stimuli.onsets
    if event_id is None:
        event_id = {name: code for code, name in enumerate(sorted(set(names)), start=1)}
    event_id = {str(k): int(v) for k, v in event_id.items()}
    keep = np.isin(names, list(event_id))
    samples = raw.first_samp + raw.time_as_index(onsets[keep], use_rounding=True)
    outside = (samples < raw.first_samp) | (samples > raw.last_samp)
    if np.any(outside):
        raise ValueError(
            f"{where}: {int(outside.sum())} onset(s) lie outside {_source_name(raw)} "
            f"(0 to {raw.times[-1]:.3f} s), e.g. {onsets[keep][outside][:3].tolist()} s"
        )
    events = np.column_stack(
        [samples, np.zeros(len(samples), dtype=int), [event_id[n] for n in names[keep]]]
    ).astype(int)
    if len(events) == 0:
        raise NoEventsError(f"{where}: no events named {sorted(event_id)}")
    events = events[np.argsort(events[:, 0], kind="stable")]
    present = set(events[:, 2].tolist())
    return events, {k: v for k, v in event_id.items() if v in present}


def _resolve_events(
    raw: mne.io.BaseRaw,
    events: np.ndarray | PathLike | pd.DataFrame | None,
    event_id: Mapping[str, int] | None,
    stim_channel: str | list[str] | None,
    verbose: str | bool | None,
) -> tuple[np.ndarray, dict[str, int]]:
    if events is None:
        return find_events(raw, event_id=event_id, stim_channel=stim_channel, verbose=verbose)
    if isinstance(events, pd.DataFrame) or (
        isinstance(events, str | os.PathLike) and _suffix(Path(events)) in EVENT_TABLE_SUFFIXES
    ):
        return events_from_table(events, raw, event_id=event_id)
    if isinstance(events, str | os.PathLike):
        events = read_events(events)
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != 3:
        raise ValueError(f"events must be an (n_events, 3) array, got shape {events.shape}")
    events, found_id = _filter_events(events.astype(int), event_id)
    if len(events) == 0:
        raise NoEventsError(_no_events_message(raw, [], event_id))
    outside = (events[:, 0] < raw.first_samp) | (events[:, 0] > raw.last_samp)
    if np.all(outside):
        raise ValueError(
            f"events: all {len(events)} event samples lie outside {_source_name(raw)} "
            f"(samples {raw.first_samp} to {raw.last_samp}); were they made for another file?"
        )
    return events, found_id


# --------------------------------------------------------------------------- stimuli


def _stimuli_onset_events(
    raw: mne.io.BaseRaw, stimuli: Stimuli, stimulus_clock_start: float
) -> tuple[np.ndarray, dict[str, int]]:
    onsets = stimuli.onsets + stimulus_clock_start
    samples = raw.first_samp + np.round(onsets * raw.info["sfreq"]).astype(int)
    outside = (samples < raw.first_samp) | (samples > raw.last_samp)
    if np.any(outside):
        ids = stimuli.stimulus_ids[outside][:3].tolist()
        raise ValueError(
            f"stimuli: {int(outside.sum())} onset(s) (e.g. {ids}) lie outside "
            f"{_source_name(raw)} (0 to {raw.times[-1]:.3f} s) with stimulus_clock_start="
            f"{stimulus_clock_start} s; check the clocks"
        )
    events = np.column_stack([samples, np.zeros_like(samples), np.ones_like(samples)])
    return events, {"stimulus": 1}


def _condition_stimuli(stimulus_ids: Sequence[str]) -> Stimuli:
    """Stimuli known only by their condition names: ``label`` (no content a model reads)."""
    ids = list(dict.fromkeys(stimulus_ids))
    return Stimuli(pd.DataFrame({"stimulus_id": ids, "label": ids, "group": CONDITION_GROUP}))


def mne_events_to_stimuli(
    events: np.ndarray,
    event_id: Mapping[str, int],
    raw: mne.io.BaseRaw,
    *,
    stimulus_clock_start: float = 0.0,
) -> Stimuli:
    """A stimulus timeline with one row per event.

    Parameters
    ----------
    events : numpy.ndarray of int, shape (n_events, 3)
        MNE events of ``raw``.
    event_id : dict of str to int
        Name of each code; events with other codes are dropped.
    raw : mne.io.Raw
        The recording (for ``sfreq`` and ``first_samp``).
    stimulus_clock_start : float
        Seconds from the first sample of the file at which the stimulus clock reads 0.

    Returns
    -------
    Stimuli
        ``stimulus_id`` (``ev0000``...), ``label`` and ``condition`` (the event name: a
        condition, no content a model could read), ``code``, ``group`` (``"events"``),
        ``onset`` (s on the stimulus clock; negative for events before its 0),
        ``duration`` (0).
    """
    names = {int(v): str(k) for k, v in event_id.items()}
    events = events[np.isin(events[:, 2], list(names))]
    conditions = [names[int(c)] for c in events[:, 2]]
    onsets = (events[:, 0] - raw.first_samp) / raw.info["sfreq"] - stimulus_clock_start
    table = pd.DataFrame(
        {
            "stimulus_id": [f"ev{i:04d}" for i in range(len(events))],
            "label": conditions,
            "condition": conditions,
            "code": events[:, 2].astype(int),
            "group": EVENT_GROUP,
            "onset": onsets,
            "duration": 0.0,
        }
    )
    return Stimuli(table)


def _map_stimulus_ids(
    conditions: Sequence[str], codes: Sequence[int], stimulus_map: Mapping[Any, str] | None
) -> list[str]:
    if stimulus_map is None:
        return list(conditions)
    ids = []
    for condition, code in zip(conditions, codes, strict=True):
        if condition in stimulus_map:
            ids.append(str(stimulus_map[condition]))
        elif int(code) in stimulus_map:
            ids.append(str(stimulus_map[int(code)]))
        else:
            raise ValueError(
                f"stimulus_map has no entry for event {condition!r} (code {code}); "
                f"its keys: {list(stimulus_map)}"
            )
    return ids


def _check_stimuli(stimulus_ids: Sequence[str], stimuli: Stimuli | None) -> Stimuli:
    if stimuli is None:
        return _condition_stimuli(stimulus_ids)
    unknown = sorted(set(stimulus_ids) - set(map(str, stimuli.stimulus_ids)))
    if unknown:
        raise ValueError(
            f"stimulus_id(s) {unknown[:5]} of the recording are not in the stimuli table "
            f"(which has {len(stimuli)} items, e.g. {list(stimuli.stimulus_ids[:3])})"
        )
    return stimuli


# --------------------------------------------------------------------------- units


def channel_table(info: mne.Info, subject: str | None = None) -> pd.DataFrame:
    """One row per channel: name, type, bad flag and position.

    Parameters
    ----------
    info : mne.Info
        Measurement info of the recording.
    subject : str, optional
        Added as a ``subject`` column.

    Returns
    -------
    pandas.DataFrame, shape (n_channels, ...)
        ``channel``, ``ch_type`` (MNE's type), ``bad``, ``x``, ``y``, ``z`` (metres,
        ``info["chs"][i]["loc"][:3]``; NaN when the channel has no position) and
        ``coord_frame`` (``"head"`` for EEG/iEEG, ``"meg"`` = device for MEG sensors).
    """
    import mne

    positions = np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float).reshape(-1, 3)
    absent = ~np.all(np.isfinite(positions), axis=1) | np.all(positions == 0, axis=1)
    positions[absent] = np.nan
    table = pd.DataFrame(
        {
            "channel": list(info["ch_names"]),
            "ch_type": [mne.channel_type(info, i) for i in range(len(info["ch_names"]))],
            "bad": [name in info["bads"] for name in info["ch_names"]],
            "x": positions[:, 0],
            "y": positions[:, 1],
            "z": positions[:, 2],
            "coord_frame": [
                COORD_FRAMES.get(int(ch["coord_frame"]), "unknown") for ch in info["chs"]
            ],
        }
    )
    if subject is not None:
        table.insert(0, "subject", subject)
    return table


# --------------------------------------------------------------------------- epochs


def make_epochs(
    raw: mne.io.BaseRaw | PathLike,
    *,
    events: np.ndarray | PathLike | pd.DataFrame | None = None,
    event_id: Mapping[str, int] | None = None,
    stimuli: Stimuli | None = None,
    stimulus_map: Mapping[Any, str] | None = None,
    stimulus_clock_start: float = 0.0,
    tmin: float = -0.2,
    tmax: float = 0.5,
    baseline: tuple[float | None, float | None] | None = (None, 0),
    picks: Any = "data",
    reject: Mapping[str, float] | None = None,
    flat: Mapping[str, float] | None = None,
    reject_by_annotation: bool = True,
    l_freq: float | None = None,
    h_freq: float | None = None,
    decim: int = 1,
    stim_channel: str | list[str] | None = None,
    verbose: str | bool | None = None,
) -> mne.Epochs:
    """Cut a recording into epochs with :class:`mne.Epochs`, keeping which stimulus each is.

    Parameters
    ----------
    raw : mne.io.Raw or path
        The recording (not modified: filtering works on a copy).
    events : array of shape (n_events, 3), path or pandas.DataFrame, optional
        The events: an MNE events array, an ``-eve.fif`` / ``.eve`` file, or a BIDS
        ``events.tsv``-like table (path or DataFrame, see :func:`events_from_table`).
        Default: :func:`find_events` on the recording (stim channel, else annotations),
        unless ``stimuli`` have onsets.
    event_id : dict of str to int, optional
        Events to keep, name -> code (default: all).
    stimuli : Stimuli, optional
        What was presented. With ``onset`` and no ``events``, one epoch is cut at each
        stimulus onset (see ``stimulus_clock_start``) and named by its ``stimulus_id``.
        Otherwise every epoch's stimulus_id (see ``stimulus_map``) must be in it.
    stimulus_map : dict, optional
        Event name (or code) -> stimulus_id. Default: the event name is the stimulus_id.
    stimulus_clock_start : float
        Seconds from the first sample of the file at which the stimulus clock reads 0.
    tmin, tmax : float
        Epoch window in seconds around each event.
    baseline : tuple or None
        Baseline interval in seconds for :class:`mne.Epochs` (None: no correction).
    picks : str, list or None
        Channels, as MNE understands them (``"data"``, ``"eeg"``, ``["mag", "eeg"]``,
        names).
    reject, flat : dict, optional
        Peak-to-peak rejection thresholds per channel type (MNE's ``reject``/``flat``).
    reject_by_annotation : bool
        Drop epochs overlapping ``BAD_`` annotations (MNE).
    l_freq, h_freq : float, optional
        Band-pass edges in Hz, applied with :meth:`mne.io.Raw.filter` (to MNE's data
        channels, on a copy of the whole recording) before epoching.
    decim : int
        Decimation factor (MNE's ``decim``).
    stim_channel : str or list of str, optional
        Stim channel(s) to find events on.
    verbose : str | bool | None
        MNE's verbosity.

    Returns
    -------
    mne.Epochs
        Preloaded epochs whose ``metadata`` has, per epoch, ``stimulus_id``,
        ``condition``, ``code``, ``event_sample`` and ``onset`` (s on the stimulus
        clock). Dropped epochs are in ``epochs.drop_log``.

    Raises
    ------
    NoEventsError
        If there is nothing to epoch, or every epoch is rejected.
    """
    import mne

    raw = _as_raw(raw, verbose)
    source = _source_name(raw)
    if decim < 1 or int(decim) != decim:
        raise ValueError(f"decim must be a positive integer, not {decim!r}")
    if events is None and stimuli is not None and "onset" in stimuli.table.columns:
        events, event_id = _stimuli_onset_events(raw, stimuli, stimulus_clock_start)
        stimulus_ids = [str(s) for s in stimuli.stimulus_ids]
        conditions = ["stimulus"] * len(events)
    else:
        events, event_id = _resolve_events(raw, events, event_id, stim_channel, verbose)
        names = {v: k for k, v in event_id.items()}
        conditions = [names[int(c)] for c in events[:, 2]]
        stimulus_ids = _map_stimulus_ids(conditions, events[:, 2], stimulus_map)
        _check_stimuli(stimulus_ids, stimuli)
    metadata = pd.DataFrame(
        {
            "stimulus_id": stimulus_ids,
            "condition": conditions,
            "code": events[:, 2].astype(int),
            "event_sample": events[:, 0].astype(int),
            "onset": (events[:, 0] - raw.first_samp) / raw.info["sfreq"] - stimulus_clock_start,
        }
    )
    filtering = l_freq is not None or h_freq is not None
    if filtering or not raw.preload:
        # Epochs are cut from the whole loaded recording: MNE's on-demand reading of
        # mixed-rate EDF files gives slightly different samples near segment edges.
        raw = raw.copy().load_data(verbose=verbose)
    if filtering:
        raw.filter(l_freq, h_freq, verbose=verbose)
    try:
        epochs = mne.Epochs(
            raw, events, event_id=dict(event_id), tmin=tmin, tmax=tmax, baseline=baseline,
            picks=picks, reject=reject, flat=flat, reject_by_annotation=reject_by_annotation,
            decim=decim, metadata=metadata, preload=True, verbose=verbose,
        )  # fmt: skip
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{source}: MNE could not make epochs ({exc})") from exc
    if len(epochs) == 0:
        raise NoEventsError(
            f"{source}: all {len(events)} epochs were dropped "
            f"(reasons: {sorted({r for log in epochs.drop_log for r in log})}); "
            "relax reject/flat or check the window"
        )
    return epochs


def _time_meta(inst: Any) -> dict[str, Any]:
    return {"tmin": float(inst.times[0])}


def recording_from_epochs(
    epochs: mne.BaseEpochs,
    *,
    stimuli: Stimuli | None = None,
    stimulus_map: Mapping[Any, str] | None = None,
    subject: str | None = None,
    name: str | None = None,
    source_file: str | None = None,
) -> Recording:
    """A time-resolved, event-sampled Recording from MNE epochs (one sample per trial).

    Parameters
    ----------
    epochs : mne.Epochs
        Epochs, e.g. from :func:`make_epochs` (their ``metadata`` gives the
        ``stimulus_id``) or read with MNE (:func:`mne.read_epochs`,
        :func:`mne.read_epochs_eeglab`), whose event names become the stimulus_id
        (through ``stimulus_map`` if given).
    stimuli : Stimuli, optional
        The stimuli; every trial's stimulus_id must be in it. Default: one row per
        condition (``text`` = its name, ``group`` = ``"conditions"``).
    stimulus_map : dict, optional
        Event name (or code) -> stimulus_id, for epochs without a ``stimulus_id`` column
        in their metadata.
    subject : str, optional
        Subject id, added to ``samples`` and ``units``.
    name : str, optional
        ``meta["name"]`` (default: the file name).
    source_file : str, optional
        The file the epochs come from, for ``meta`` (default: ``epochs.filename``).

    Returns
    -------
    Recording
        ``data`` (n_trials, n_channels, n_times) float32 in SI units (V, T, T/m) as
        :meth:`mne.Epochs.get_data` returns them; ``samples``: ``trial``,
        ``stimulus_id``, ``condition``, ``code`` and, from :func:`make_epochs`,
        ``event_sample`` and ``onset``; ``units``: :func:`channel_table`;
        ``sampling="event"``, ``sfreq`` of the time axis, ``meta["tmin"]`` and
        ``times`` (s).
    """
    import mne

    if not isinstance(epochs, mne.BaseEpochs):
        raise TypeError(f"epochs must be mne.Epochs, not {type(epochs).__name__}")
    if not epochs.preload:
        epochs = epochs.copy().load_data()
    if epochs.metadata is not None and "stimulus_id" in epochs.metadata.columns:
        samples = epochs.metadata.reset_index(drop=True).copy()
    else:
        names = {v: k for k, v in epochs.event_id.items()}
        codes = epochs.events[:, 2].astype(int)
        conditions = [names[int(c)] for c in codes]
        samples = pd.DataFrame(
            {
                "stimulus_id": _map_stimulus_ids(conditions, codes, stimulus_map),
                "condition": conditions,
                "code": codes,
            }
        )
    samples.insert(0, "trial", np.asarray(epochs.selection, dtype=int))
    samples["stimulus_id"] = samples["stimulus_id"].astype(str)
    stimuli = _check_stimuli(samples["stimulus_id"].tolist(), stimuli)
    if subject is not None:
        samples.insert(0, "subject", subject)
    source = source_file or _source_name(epochs)
    meta = {
        "name": name or Path(source).name,
        "modality": "meeg",
        "source_file": source,
        "subject": subject,
        "baseline": epochs.baseline,
        "highpass_hz": float(epochs.info["highpass"]),
        "lowpass_hz": float(epochs.info["lowpass"]),
        "n_dropped": int(sum(1 for log in epochs.drop_log if log)),
        **_time_meta(epochs),
    }
    return Recording(
        data=epochs.get_data(copy=False),
        samples=samples,
        units=channel_table(epochs.info, subject),
        sampling="event",
        stimuli=stimuli,
        sfreq=float(epochs.info["sfreq"]),
        meta=meta,
        times=np.asarray(epochs.times, dtype=float),
    )


def epochs_recording(
    raw: mne.io.BaseRaw | PathLike,
    *,
    subject: str | None = None,
    name: str | None = None,
    **epochs_kwargs: Any,
) -> Recording:
    """Epoch a recording and return it as a time-resolved Recording, in one call.

    ``make_epochs(raw, **epochs_kwargs)`` followed by :func:`recording_from_epochs`.

    Parameters
    ----------
    raw : mne.io.Raw or path
        The recording.
    subject : str, optional
        Subject id, added to ``samples`` and ``units``.
    name : str, optional
        ``meta["name"]``.
    **epochs_kwargs
        Parameters of :func:`make_epochs` (``events``, ``event_id``, ``stimuli``,
        ``stimulus_map``, ``tmin``, ``tmax``, ``baseline``, ``picks``, ``reject``,
        ``l_freq``, ``h_freq``, ``decim``...).

    Returns
    -------
    Recording
        data (n_trials, n_channels, n_times); see :func:`recording_from_epochs`.
    """
    raw = _as_raw(raw, epochs_kwargs.get("verbose"))
    epochs = make_epochs(raw, **epochs_kwargs)
    return recording_from_epochs(
        epochs,
        stimuli=epochs_kwargs.get("stimuli"),
        subject=subject,
        name=name,
        source_file=_source_name(raw),
    )


# --------------------------------------------------------------------------- evoked


def _read_evokeds(
    evokeds: PathLike | mne.Evoked | Sequence[mne.Evoked], baseline: Any, verbose: Any
) -> list[mne.Evoked]:
    import mne

    if isinstance(evokeds, mne.Evoked):
        return [evokeds]
    if isinstance(evokeds, str | os.PathLike):
        path = _check_file(evokeds, "evoked file")
        try:
            evokeds = mne.read_evokeds(path, baseline=baseline, verbose=verbose)
        except Exception as exc:
            raise MEEGFileError(f"{path}: MNE could not read evoked responses ({exc})") from exc
        if not evokeds:
            raise MEEGFileError(f"{path}: the file holds no evoked responses")
        return evokeds
    evokeds = list(evokeds)
    if not evokeds or not all(isinstance(e, mne.Evoked) for e in evokeds):
        raise TypeError("evokeds must be a path, an mne.Evoked or a non-empty list of them")
    if baseline is not None:
        evokeds = [e.copy().apply_baseline(baseline, verbose=verbose) for e in evokeds]
    return evokeds


def evoked_recording(
    evokeds: PathLike | mne.Evoked | Sequence[mne.Evoked],
    *,
    picks: Any = "data",
    baseline: tuple[float | None, float | None] | None = None,
    stimuli: Stimuli | None = None,
    stimulus_map: Mapping[str, str] | None = None,
    subject: str | None = None,
    name: str | None = None,
    verbose: str | bool | None = None,
) -> Recording:
    """Evoked responses (one per condition) as a time-resolved, event-sampled Recording.

    Parameters
    ----------
    evokeds : path, mne.Evoked or list of mne.Evoked
        An ``-ave.fif`` file (all its conditions) or evoked objects.
    picks : str, list or None
        Channels, as MNE understands them.
    baseline : tuple or None
        Baseline correction in seconds (MNE); None keeps the data as stored.
    stimuli : Stimuli, optional
        The stimuli; each condition's stimulus_id must be in it.
    stimulus_map : dict of str to str, optional
        Condition (the evoked ``comment``) -> stimulus_id. Default: the comment.
    subject : str, optional
        Subject id, added to ``samples`` and ``units``.
    name : str, optional
        ``meta["name"]``.
    verbose : str | bool | None
        MNE's verbosity.

    Returns
    -------
    Recording
        ``data`` (n_conditions, n_channels, n_times) float32; ``samples``:
        ``stimulus_id``, ``condition``, ``nave``; ``units``: :func:`channel_table`;
        ``sampling="event"``, ``sfreq``, ``times``, ``meta["tmin"]``.

    Raises
    ------
    ValueError
        If the evoked responses differ in channels, sampling rate or time axis.
    """
    source = str(evokeds) if isinstance(evokeds, str | os.PathLike) else None
    evokeds = [e.copy().pick(picks) for e in _read_evokeds(evokeds, baseline, verbose)]
    first = evokeds[0]
    for evoked in evokeds[1:]:
        if evoked.ch_names != first.ch_names:
            raise ValueError(f"evoked {evoked.comment!r} has other channels than {first.comment!r}")
        if evoked.info["sfreq"] != first.info["sfreq"] or not np.array_equal(
            evoked.times, first.times
        ):
            raise ValueError(
                f"evoked {evoked.comment!r} has another time axis than {first.comment!r}"
            )
    conditions = [str(e.comment) for e in evokeds]
    stimulus_ids = _map_stimulus_ids(conditions, [0] * len(conditions), stimulus_map)
    samples = pd.DataFrame(
        {
            "stimulus_id": stimulus_ids,
            "condition": conditions,
            "nave": [int(e.nave) for e in evokeds],
        }
    )
    if subject is not None:
        samples.insert(0, "subject", subject)
    source = source or _source_name(first)
    return Recording(
        data=np.stack([e.data for e in evokeds]),
        samples=samples,
        units=channel_table(first.info, subject),
        sampling="event",
        stimuli=_check_stimuli(stimulus_ids, stimuli),
        sfreq=float(first.info["sfreq"]),
        meta={
            "name": name or Path(source).name,
            "modality": "meeg",
            "source_file": source,
            "subject": subject,
            "baseline": first.baseline,
            **_time_meta(first),
        },
        times=np.asarray(first.times, dtype=float),
    )


# --------------------------------------------------------------------------- continuous


def continuous_recording(
    raw: mne.io.BaseRaw | PathLike,
    *,
    picks: Any = "data",
    l_freq: float | None = None,
    h_freq: float | None = None,
    sfreq: float | None = None,
    tmin: float = 0.0,
    tmax: float | None = None,
    stimuli: Stimuli | None = None,
    events: np.ndarray | PathLike | pd.DataFrame | None = None,
    event_id: Mapping[str, int] | None = None,
    stimulus_clock_start: float = 0.0,
    subject: str | None = None,
    name: str | None = None,
    verbose: str | bool | None = None,
) -> Recording:
    """A continuous M/EEG Recording (time points x channels) with its stimulus timeline.

    Steps, all MNE's, in this order: crop to ``[tmin, tmax]``, band-pass
    (:meth:`mne.io.Raw.filter`), resample to ``sfreq`` (:meth:`mne.io.Raw.resample`).

    Parameters
    ----------
    raw : mne.io.Raw or path
        The recording (not modified).
    picks : str, list or None
        Channels, as MNE understands them.
    l_freq, h_freq : float, optional
        Band-pass edges in Hz.
    sfreq : float, optional
        New sampling frequency in Hz (default: keep the recording's).
    tmin, tmax : float
        Part of the recording to keep, seconds from its first sample.
    stimuli : Stimuli, optional
        The stimulus timeline (``onset`` in seconds on the stimulus clock). Default:
        one stimulus per event of the recording (:func:`mne_events_to_stimuli`), from
        ``events`` or found with :func:`find_events`; none if the recording has none.
    events, event_id : optional
        As in :func:`make_epochs`.
    stimulus_clock_start : float
        Seconds from the first sample of the file at which the stimulus clock reads 0.
    subject : str, optional
        Subject id, added to ``units``.
    name : str, optional
        ``meta["name"]``.
    verbose : str | bool | None
        MNE's verbosity.

    Returns
    -------
    Recording
        ``data`` (n_times, n_channels) float32 in SI units; ``samples``: ``onset``
        (s on the stimulus clock) and ``duration`` (1 / sfreq); ``units``:
        :func:`channel_table`; ``sampling="continuous"`` with ``sfreq``.

    Raises
    ------
    ValueError
        If stimuli are given but none of them falls within the recorded span.
    """
    raw = _as_raw(raw, verbose)
    source = _source_name(raw)
    if stimuli is None:
        try:
            found, found_id = _resolve_events(raw, events, event_id, None, verbose)
            stimuli = mne_events_to_stimuli(
                found, found_id, raw, stimulus_clock_start=stimulus_clock_start
            )
        except NoEventsError:
            if events is not None:
                raise
            stimuli = mne_events_to_stimuli(np.empty((0, 3), dtype=int), {}, raw)
    original_first_time = raw.first_time
    raw = raw.copy().crop(tmin, tmax).pick(picks).load_data(verbose=verbose)
    start = raw.first_time - original_first_time - stimulus_clock_start
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq, verbose=verbose)
    if sfreq is not None:
        raw.resample(sfreq, verbose=verbose)
    onsets = start + raw.times
    step = 1.0 / raw.info["sfreq"]
    timed = "onset" in stimuli.table.columns and len(stimuli)
    if timed:
        inside = (stimuli.onsets >= onsets[0]) & (stimuli.onsets <= onsets[-1] + step)
        if not inside.any():
            raise ValueError(
                f"stimuli: no onset falls within the recording ({onsets[0]:.3f} to "
                f"{onsets[-1]:.3f} s on the stimulus clock); check stimulus_clock_start"
            )
    return Recording(
        data=raw.get_data().T,
        samples=pd.DataFrame({"onset": onsets, "duration": step}),
        units=channel_table(raw.info, subject),
        sampling="continuous",
        stimuli=stimuli,
        sfreq=float(raw.info["sfreq"]),
        meta={
            "name": name or Path(source).name,
            "modality": "meeg",
            "source_file": source,
            "subject": subject,
            "highpass_hz": float(raw.info["highpass"]),
            "lowpass_hz": float(raw.info["lowpass"]),
            "stimulus_clock_start": stimulus_clock_start,
            "n_stimuli_outside": int((~inside).sum()) if timed else 0,
        },
    )


# --------------------------------------------------------------------------- subjects


def _subject_of(recording: Recording, index: int) -> str:
    for table in (recording.units, recording.samples):
        if "subject" in table.columns:
            subjects = table["subject"].unique().tolist()
            if len(subjects) == 1:
                return str(subjects[0])
            raise ValueError(
                f"recordings[{index}] holds several subjects {subjects}; pass one per subject"
            )
    raise ValueError(
        f"recordings[{index}] ({recording.meta.get('name')}) has no subject: read it with "
        "subject=..."
    )


def _channel_differences(
    reference: list[str], channels: list[str], subject: str, ref_subject: str
) -> str:
    missing = [c for c in reference if c not in set(channels)]
    extra = [c for c in channels if c not in set(reference)]
    return f"subject {subject!r}: missing {missing}, extra {extra} (relative to {ref_subject!r})"


def _common_channels(
    recordings: Sequence[Recording], subjects: list[str], channels: str
) -> list[str]:
    names = [r.units["channel"].tolist() for r in recordings]
    for subject, units in zip(subjects, names, strict=True):
        repeated = sorted({c for c in units if units.count(c) > 1})
        if repeated:
            raise ValueError(f"subject {subject!r}: repeated channel names {repeated}")
    if channels == "common":
        common = [c for c in names[0] if all(c in set(other) for other in names[1:])]
        if not common:
            raise ChannelMismatchError("the subjects share no channel")
        return common
    problems = [
        _channel_differences(names[0], other, subject, subjects[0])
        for subject, other in zip(subjects[1:], names[1:], strict=True)
        if set(other) != set(names[0])
    ]
    if problems:
        raise ChannelMismatchError(
            "channel sets differ across subjects: "
            + "; ".join(problems)
            + ". Pass channels='common' to keep only the channels all subjects share."
        )
    return names[0]


def _check_compatible(recordings: Sequence[Recording], subjects: list[str]) -> None:
    first = recordings[0]
    for subject, other in zip(subjects[1:], recordings[1:], strict=True):
        if other.sampling != first.sampling or other.data.ndim != first.data.ndim:
            raise ValueError(
                f"subject {subject!r}: sampling {other.sampling!r} with data of "
                f"{other.data.ndim} dims differs from {subjects[0]!r}"
            )
        if other.sfreq != first.sfreq:
            raise ValueError(
                f"subject {subject!r}: sfreq {other.sfreq} Hz differs from {first.sfreq} Hz "
                f"of {subjects[0]!r}; resample (decim or sfreq) to a common rate"
            )
        times, first_times = other.times, first.times
        if first.data.ndim == 3 and (
            times is None
            or first_times is None
            or len(times) != len(first_times)
            or not np.allclose(times, first_times)
        ):
            raise ValueError(
                f"subject {subject!r}: its epoch time axis differs from {subjects[0]!r}"
            )
        if other.regressors is not None or first.regressors is not None:
            raise ValueError("concatenating recordings with regressors is not supported")


def _merge_stimuli(recordings: Sequence[Recording]) -> Stimuli:
    table = pd.concat([r.stimuli.table for r in recordings], ignore_index=True)
    unique = table.drop_duplicates(subset=[c for c in table.columns if c != "image"])
    conflicting = unique["stimulus_id"][unique["stimulus_id"].duplicated()]
    if len(conflicting):
        raise ValueError(
            f"stimulus_id(s) {conflicting.head(5).tolist()} name different stimuli in "
            "different subjects"
        )
    return Stimuli(unique.reset_index(drop=True))


def concatenate_subjects(
    recordings: Sequence[Recording], *, channels: Literal["same", "common"] = "same"
) -> Recording:
    """Stack single-subject M/EEG Recordings along samples (trials or time points).

    Parameters
    ----------
    recordings : sequence of Recording
        One per subject, each read with ``subject=...``, with the same sampling, sfreq
        and (for epochs) time axis.
    channels : {"same", "common"}
        ``"same"``: every subject must have the same channel set (order may differ; the
        first subject's order is used). ``"common"``: keep the channels every subject
        has, in the first subject's order.

    Returns
    -------
    Recording
        ``data`` (sum of n_samples, n_channels[, n_times]); ``samples`` with a
        ``subject`` column; ``units`` without ``subject``: channel name and type, and
        positions averaged over subjects (each subject's own positions are in
        ``meta["channel_positions"]``, a long table).

    Raises
    ------
    ChannelMismatchError
        With ``channels="same"``, if channel sets differ: the message lists, for each
        subject, the channels missing and extra relative to the first subject.
    ValueError
        If a recording has no subject or several, subjects repeat, or sampling, sfreq
        or time axes differ.
    """
    if channels not in ("same", "common"):
        raise ValueError(f"channels must be 'same' or 'common', not {channels!r}")
    recordings = list(recordings)
    if not recordings:
        raise ValueError("recordings is empty")
    subjects = [_subject_of(r, i) for i, r in enumerate(recordings)]
    repeated = sorted({s for s in subjects if subjects.count(s) > 1})
    if repeated:
        raise ValueError(f"subject(s) {repeated} appear more than once")
    _check_compatible(recordings, subjects)
    keep = _common_channels(recordings, subjects, channels)
    blocks, sample_tables, unit_tables = [], [], []
    for subject, recording in zip(subjects, recordings, strict=True):
        order = pd.Index(recording.units["channel"]).get_indexer(keep)
        blocks.append(recording.data[:, order])
        unit_tables.append(recording.units.iloc[order].assign(subject=subject))
        samples = recording.samples.drop(columns="subject", errors="ignore")
        sample_tables.append(samples.assign(subject=subject))
    positions = pd.concat(unit_tables, ignore_index=True)
    types = positions.groupby("channel", sort=False)["ch_type"].nunique()
    if (types > 1).any():
        raise ValueError(f"channel(s) {types[types > 1].index.tolist()} differ in type")
    units = (
        positions.groupby("channel", sort=False)
        .agg(ch_type=("ch_type", "first"), coord_frame=("coord_frame", "first"),
             x=("x", "mean"), y=("y", "mean"), z=("z", "mean"))
        .reindex(keep)
        .reset_index()
    )  # fmt: skip
    first = recordings[0]
    meta = {
        **{k: v for k, v in first.meta.items() if k not in ("subject", "source_file")},
        "subjects": subjects,
        "source_files": [r.meta.get("source_file") for r in recordings],
        "channel_positions": positions[["subject", "channel", "x", "y", "z", "coord_frame"]],
        "channels": channels,
    }
    return replace(
        first,
        data=np.concatenate(blocks, axis=0),
        samples=pd.concat(sample_tables, ignore_index=True),
        units=units,
        stimuli=_merge_stimuli(recordings),
        meta=meta,
    )
