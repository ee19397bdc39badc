"""A study's inputs read from what a user has: tables, folders, zip files, arrays.

Each reader turns one form of input into the project's objects (:class:`~brainalign.
stimuli.Stimuli`, :class:`~brainalign.datasets.recording.Recording`) and says, when the
input is wrong, which file, column or id is at fault and what to do. Nothing here knows
about models or scores.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.datasets.recording import Recording
from brainalign.encoders.media_stimuli import media_kind
from brainalign.stimuli import Stimuli

__all__ = [
    "MEDIA_COLUMNS",
    "StudyInputError",
    "read_image_folder",
    "read_image_zip",
    "read_responses",
    "read_stimuli",
    "resolve_path",
    "unit_labels",
]

#: Suffixes of tables.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
#: Columns of a stimuli table naming media files (one file per run).
MEDIA_COLUMNS = ("audio", "video")


class StudyInputError(ValueError):
    """A study's stimuli, responses or settings are missing, malformed or inconsistent."""


def resolve_path(value: str | os.PathLike, base: Path | None, what: str) -> Path:
    """``value`` as a path, relative to ``base`` (a study file's folder) when relative.

    Raises
    ------
    StudyInputError
        If nothing exists there; the message prints the resolved path.
    """
    path = Path(os.fspath(value)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    path = path.resolve()
    if not path.exists():
        relative = f" ({value!r} relative to {base})" if base is not None else ""
        raise StudyInputError(f"{what}: {path} does not exist{relative}")
    return path


def _read_table(path: Path, what: str) -> pd.DataFrame:
    separator = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        return pd.read_csv(path, sep=separator, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise StudyInputError(f"{what}: {path} is not a readable table ({error})") from None


def _is_image_name(name: str) -> bool:
    from brainalign.encoders.vision import IMAGE_SUFFIXES

    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _check_unique_ids(ids: Sequence[str], where: str) -> None:
    seen = pd.Series(list(ids))
    repeated = seen[seen.duplicated()].unique().tolist()
    if repeated:
        raise StudyInputError(
            f"{where}: stimulus ids must be unique; repeated: {repeated[:5]} (rename the files)"
        )


def read_image_folder(folder: Path) -> Stimuli:
    """Every image file of ``folder`` (not its sub-folders), sorted by name.

    Returns
    -------
    Stimuli
        ``stimulus_id`` = file stem, ``image`` = absolute path, ``group`` = the folder name.

    Warns
    -----
    UserWarning
        Naming the files that are not images (a README, a licence): they are left out.

    Raises
    ------
    StudyInputError
        If the folder holds no image, or two images with the same stem.
    """
    from brainalign.encoders.vision import list_image_files

    others = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not _is_image_name(p.name)
    )
    if others:
        warnings.warn(
            f"stimuli folder {folder}: {len(others)} file(s) that are not images are left out "
            f"({', '.join(others[:5])})",
            UserWarning,
            stacklevel=3,
        )
    try:
        files = list_image_files(folder)
    except ValueError as error:
        raise StudyInputError(f"stimuli: {error}") from None
    ids = [p.stem for p in files]
    _check_unique_ids(ids, str(folder))
    return Stimuli(
        pd.DataFrame({"stimulus_id": ids, "image": [str(p) for p in files], "group": folder.name})
    )


def read_image_zip(path: Path) -> Stimuli:
    """Every image of a zip archive, read from it when encoded (never extracted).

    Members are listed by :func:`~brainalign.encoders.vision.list_zip_images` (sorted by
    name; macOS metadata and folders skipped).

    Returns
    -------
    Stimuli
        ``stimulus_id`` = member stem, ``image`` = the
        :class:`~brainalign.encoders.vision.ZipMember`, ``group`` = the archive's stem.

    Raises
    ------
    StudyInputError
        If the file is not a zip archive, holds members that are not images (named),
        holds no image, or two members share a stem.
    """
    from brainalign.encoders.vision import list_zip_images

    try:
        members = list_zip_images(path)
    except ValueError as error:
        raise StudyInputError(f"stimuli: {error}") from None
    ids = [member.stem for member in members]
    _check_unique_ids(ids, str(path))
    table = pd.DataFrame({"stimulus_id": ids, "group": path.stem})
    table["image"] = pd.Series(members, dtype=object)
    return Stimuli(table)


def read_stimuli(
    stimuli: Stimuli | str | os.PathLike,
    *,
    base: Path | None = None,
    text_column: str = "text",
    default_group: str = "study",
) -> Stimuli:
    """A study's stimuli from a ``Stimuli``, a table, a folder of images or a zip.

    Parameters
    ----------
    stimuli : Stimuli, or path of a CSV/TSV table, a folder of images, a ``.zip``, or an
        audio or video file
        A table needs ``stimulus_id`` and ``text`` (or the column ``text_column``),
        ``image``, ``audio`` or ``video`` (paths, relative to the table's folder);
        ``group`` is optional. Media tables (``audio`` or ``video``) hold one row per
        run, ``group`` the run and an optional ``onset`` (seconds on the run's clock
        where the file starts, default 0). One audio or video file is a table of one
        row (``stimulus_id`` its stem).
    base : pathlib.Path, optional
        Folder that relative paths are resolved against (a study file's folder).
    text_column : str
        The table's column holding the text.
    default_group : str
        ``group`` of every item when the table has none.

    Returns
    -------
    Stimuli

    Raises
    ------
    StudyInputError
        For a missing file or column, repeated ids, or image paths that do not exist
        (the resolved paths are printed).
    """
    if isinstance(stimuli, Stimuli):
        return stimuli
    if isinstance(stimuli, pd.DataFrame):
        raise StudyInputError(
            "stimuli: wrap the table in brainalign.Stimuli(table), or give a path"
        )
    path = resolve_path(stimuli, base, "stimuli")
    if path.is_dir():
        return read_image_folder(path)
    if path.suffix.lower() == ".zip":
        return read_image_zip(path)
    kind = media_kind(path)
    if kind is not None:
        table = pd.DataFrame({"stimulus_id": [path.stem], kind: [str(path)], "onset": 0.0})
        return Stimuli(table.assign(group=default_group))
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise StudyInputError(
            f"stimuli {path}: give a CSV/TSV table (stimulus_id, text, image, audio or video), "
            "a folder of images, a .zip of images, or an audio or video file"
        )
    table = _read_table(path, "stimuli")
    if "stimulus_id" not in table.columns:
        raise StudyInputError(
            f"stimuli table {path} has no 'stimulus_id' column; it has {list(table.columns)}"
        )
    table["stimulus_id"] = table["stimulus_id"].astype(str)
    if text_column != "text" and text_column not in table.columns:
        raise StudyInputError(
            f"stimuli table {path} has no column {text_column!r} (text_column); it has "
            f"{list(table.columns)}"
        )
    if text_column != "text":
        table = table.rename(columns={text_column: "text"})
    kinds = [c for c in ("image", *MEDIA_COLUMNS) if c in table.columns]
    if "text" not in table.columns and not kinds:
        raise StudyInputError(
            f"stimuli table {path} needs a 'text', 'image', 'audio' or 'video' column (or "
            f"name the text column with text_column); it has {list(table.columns)}"
        )
    if len(kinds) > 1:
        raise StudyInputError(
            f"stimuli table {path} has columns {kinds}; give one kind of stimulus per study "
            "(one of image, audio, video)"
        )
    for column in kinds:
        table[column] = _resolve_files(table[column], path, column)
    if kinds and kinds[0] in MEDIA_COLUMNS:
        _check_media_onsets(table, path)
    if "group" not in table.columns:
        table["group"] = default_group
    _check_unique_ids(table["stimulus_id"].tolist(), str(path))
    return Stimuli(table)


def _resolve_files(column: pd.Series, table: Path, what: str) -> list[str]:
    """A table's file column as absolute paths (relative to the table), all existing."""
    resolved = [
        str(p if p.is_absolute() else (table.parent / p).resolve())
        for p in map(Path, column.astype(str))
    ]
    missing = [p for p in resolved if not Path(p).is_file()]
    if missing:
        raise StudyInputError(
            f"stimuli table {table}: {len(missing)} {what} file(s) do not exist, e.g. "
            f"{missing[:3]} ({what} paths are relative to the table's folder)"
        )
    return resolved


def _check_media_onsets(table: pd.DataFrame, path: Path) -> None:
    """A media table's ``onset`` column: finite seconds (0 where the column is absent)."""
    if "onset" not in table.columns:
        table["onset"] = 0.0
        return
    onsets = pd.to_numeric(table["onset"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(onsets).all():
        bad = table["stimulus_id"][~np.isfinite(onsets)].tolist()
        raise StudyInputError(
            f"stimuli table {path}: the onset of {bad[:5]} is not a number of seconds; give "
            "where each file starts on its run's clock (or drop the column: 0)"
        )
    table["onset"] = onsets


def unit_labels(units: pd.DataFrame) -> np.ndarray:
    """A label per unit, unique within each subject.

    The first of ``unit``, ``roi``, ``name``, ``channel`` that is unique within each
    subject, else the unit's index.

    Returns
    -------
    numpy.ndarray of str, shape (n_units,)
    """
    subjects = units["subject"] if "subject" in units.columns else pd.Series([""] * len(units))
    for column in ("unit", "roi", "name", "channel"):
        if column in units.columns:
            labels = units[column].astype(str)
            if (
                not pd.DataFrame({"s": subjects.to_numpy(), "u": labels.to_numpy()})
                .duplicated()
                .any()
            ):
                return labels.to_numpy()
    return np.array([str(i) for i in range(len(units))])


def _units_table(
    units: pd.DataFrame | str | os.PathLike | None, n_units: int, base: Path | None
) -> pd.DataFrame:
    if units is None:
        return pd.DataFrame({"unit": [str(i) for i in range(n_units)]})
    if not isinstance(units, pd.DataFrame):
        path = resolve_path(units, base, "units")
        units = _read_table(path, "units")
    if len(units) != n_units:
        raise StudyInputError(
            f"the units table has {len(units)} rows but the responses have {n_units} units; "
            "give one row per unit (column of the responses), in order"
        )
    return units.reset_index(drop=True)


def _array_from_file(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        if "responses" in keys:
            return archive["responses"]
        if len(keys) == 1:
            return archive[keys[0]]
    raise StudyInputError(
        f"responses {path} holds arrays {keys}; name the responses array 'responses' (or keep "
        "one array in the file)"
    )


def _check_counts(ids: Sequence[str], stimuli: Stimuli, where: str) -> None:
    """Responses' stimulus ids against the stimuli: the same set, named where not."""
    known = set(map(str, stimuli.stimulus_ids))
    given = list(dict.fromkeys(map(str, ids)))
    unknown = [i for i in given if i not in known]
    unanswered = [i for i in map(str, stimuli.stimulus_ids) if i not in set(given)]
    if unknown or unanswered:
        parts = []
        if unknown:
            parts.append(f"{len(unknown)} response id(s) are not stimuli, e.g. {unknown[:5]}")
        if unanswered:
            parts.append(f"{len(unanswered)} stimuli have no response, e.g. {unanswered[:5]}")
        raise StudyInputError(f"{where}: " + "; ".join(parts))


def _event_array_recording(
    array: np.ndarray, stimuli: Stimuli, units: pd.DataFrame, name: str, where: str
) -> Recording:
    n_stimuli = len(stimuli)
    if array.shape[0] != n_stimuli:
        raise StudyInputError(
            f"{where} has {array.shape[0]} rows but there are {n_stimuli} stimuli; give one "
            "row per stimulus, in the order of the stimuli (or a table with a stimulus_id "
            "column)"
        )
    if array.ndim == 2:
        _check_finite(array, where, stimuli.stimulus_ids)
        samples = pd.DataFrame({"stimulus_id": stimuli.stimulus_ids})
        return Recording(array, samples, units, "event", stimuli, meta={"name": name})
    if array.shape[2] < 2:
        raise StudyInputError(
            f"{where} has a repeats axis of length {array.shape[2]}: one presentation only, "
            "so no split-half ceiling is possible; give (n_stimuli, n_units) instead"
        )
    return _from_repeats(array, stimuli, units, name, where)


def _from_repeats(
    array: np.ndarray, stimuli: Stimuli, units: pd.DataFrame, name: str, where: str
) -> Recording:
    try:
        return Recording.from_repeats(array, stimuli=stimuli, units=units, meta={"name": name})
    except ValueError as error:
        raise StudyInputError(f"{where}: {error}") from None


def _check_finite(array: np.ndarray, where: str, row_ids: Sequence[Any] | None = None) -> None:
    """NaN or inf outside a repeats axis: an error naming where."""
    bad = ~np.isfinite(array)
    if bad.any():
        rows, columns = np.nonzero(bad.reshape(bad.shape[0], -1))
        labels = [
            f"row {r}" + (f" ({row_ids[r]})" if row_ids is not None else "") + f", unit {c}"
            for r, c in zip(rows[:3], columns[:3], strict=True)
        ]
        raise StudyInputError(
            f"{where} holds {int(bad.sum())} NaN or infinite value(s), e.g. at "
            f"{'; '.join(labels)}; NaN is allowed only for missing repeats (a trailing "
            "repeats axis or a 'repeat' column): drop or fill these values"
        )


def _table_recording(
    table: pd.DataFrame,
    stimuli: Stimuli,
    units: Any,
    sampling: str,
    name: str,
    where: str,
    base: Path | None,
) -> Recording:
    if sampling == "event" and "stimulus_id" not in table.columns:
        raise StudyInputError(
            f"{where} has no 'stimulus_id' column; it has {list(table.columns)[:8]}: name "
            "the stimulus of every row"
        )
    index_columns = [c for c in ("stimulus_id", "repeat", "onset", "run") if c in table.columns]
    values = table.drop(columns=index_columns)
    non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if non_numeric:
        raise StudyInputError(
            f"{where}: column(s) {non_numeric[:5]} are not numeric; a responses table holds "
            "stimulus_id (and repeat, onset, run) and one numeric column per unit"
        )
    unit_table = _units_table(units, values.shape[1], base)
    if units is None:
        unit_table["unit"] = [str(c) for c in values.columns]
    samples = table[index_columns].copy()
    data = values.to_numpy(dtype=np.float64)
    if "stimulus_id" in samples:
        samples["stimulus_id"] = samples["stimulus_id"].astype(str)
        _check_counts(samples["stimulus_id"].tolist(), stimuli, where)
    if "repeat" not in samples:
        _check_finite(
            data, where, samples["stimulus_id"].tolist() if "stimulus_id" in samples else None
        )
    try:
        return Recording(
            data,
            samples,
            unit_table,
            sampling,
            stimuli,
            meta={"name": name},
            **_clock(sampling, samples),
        )
    except ValueError as error:
        raise StudyInputError(f"{where}: {error}") from None


def _clock(sampling: str, samples: pd.DataFrame) -> dict[str, float]:
    if sampling != "continuous":
        return {}
    if "onset" not in samples or len(samples) < 2:
        raise StudyInputError("continuous responses need an 'onset' column (seconds) or a tr")
    return {"tr": float(np.median(np.diff(samples["onset"].to_numpy(dtype=float))))}


def read_responses(
    responses: Any,
    *,
    stimuli: Stimuli,
    sampling: str | None,
    units: pd.DataFrame | str | os.PathLike | None = None,
    tr: float | None = None,
    name: str = "study",
    base: Path | None = None,
    mask: str | os.PathLike | None = None,
    window: Sequence[float] | None = None,
) -> Recording:
    """A study's responses as a :class:`~brainalign.datasets.recording.Recording`.

    Parameters
    ----------
    responses : Recording, numpy.ndarray, mne.Epochs, or path
        An array of shape (n_stimuli, n_units) or (n_stimuli, n_units, n_repeats)
        (NaN-padded where counts differ) for event data, rows in the order of the
        stimuli; (n_samples, n_units) for continuous data. Paths: ``.npy``, ``.npz``
        (the array ``responses``, or its only array), ``.csv``/``.tsv`` (columns
        ``stimulus_id`` [, ``repeat``] and one numeric column per unit; continuous:
        ``onset`` [, ``run``]), NIfTI beta maps (``.nii``/``.nii.gz``, one volume per
        stimulus, with ``mask``), MNE epochs (``-epo.fif``; trials of a stimulus are its
        repeats; averaged over ``window``).
    stimuli : Stimuli
    sampling : {"event", "continuous"} or None
        Required unless ``responses`` is a Recording.
    units : DataFrame or path, optional
        One row per unit (``subject``, ``roi``, ``unit`` ...).
    tr : float, optional
        Seconds between samples of continuous arrays (their onsets are ``i * tr``).
    name : str
    base : pathlib.Path, optional
        Folder of relative paths.
    mask : path, optional
        Mask image of NIfTI responses.
    window : (float, float), optional
        Seconds ``[tmin, tmax]`` of time-resolved responses (M/EEG epochs) averaged into
        one value per trial and channel.

    Returns
    -------
    Recording
        2-D data; event recordings with repeats hold a ``repeat`` column.

    Raises
    ------
    StudyInputError
        For a missing sampling kind, responses that do not match the stimuli (counts or
        ids, named), NaN outside a repeats axis (located), or an unreadable file.
    """
    _refuse_unused(_form(responses), units=units, mask=mask, tr=tr, sampling=sampling)
    if isinstance(responses, Recording):
        recording = responses
    else:
        recording = _read_non_recording(responses, stimuli, sampling, units, tr, name, base, mask)
    if recording.data.ndim == 3:
        recording = _average_window(recording, window)
    elif window is not None:
        raise StudyInputError(
            f"window={list(window)} averages time-resolved responses, but these responses "
            "have no time axis: drop window"
        )
    if sampling is not None and sampling != recording.sampling:
        raise StudyInputError(
            f"sampling={sampling!r} but the responses are a {recording.sampling!r} recording"
        )
    if recording.sampling == "event":
        if "stimulus_id" not in recording.samples.columns:
            raise StudyInputError("event responses need the stimulus_id of every sample")
        _check_counts(
            recording.samples["stimulus_id"].astype(str).tolist(), stimuli, f"responses of {name}"
        )
    return recording


def _suffix(path: Path) -> str:
    """``.nii.gz`` for gzipped files, else the last suffix, lower case."""
    return "".join(path.suffixes[-2:]).lower() if path.name.endswith(".gz") else path.suffix.lower()


def _form(responses: Any) -> str:
    """What the responses are: recording, epochs, array, or a file's kind."""
    if isinstance(responses, Recording):
        return "recording"
    if _is_epochs(responses):
        return "epochs"
    if isinstance(responses, np.ndarray | list):
        return "array"
    suffix = _suffix(Path(os.fspath(responses)))
    kinds = {
        ".gii": "array",
        ".npy": "array",
        ".npz": "array",
        ".nii": "nifti",
        ".nii.gz": "nifti",
        ".fif": "epochs",
    }
    return kinds.get(suffix, "table" if suffix in TABLE_SUFFIXES else "unknown")


def _refuse_unused(form: str, *, units: Any, mask: Any, tr: Any, sampling: str | None) -> None:
    """A setting these responses would not use is an error naming it, never dropped."""
    own_units = {
        "recording": "the Recording's units table",
        "epochs": "the channels",
        "nifti": "the mask's voxels",
    }
    if units is not None and form in own_units:
        raise StudyInputError(
            f"units: these responses bring their own units ({own_units[form]}); drop units"
        )
    if mask is not None and form != "nifti":
        raise StudyInputError("mask is for NIfTI responses (.nii/.nii.gz) only; drop mask")
    if tr is not None and not (form == "array" and sampling == "continuous"):
        raise StudyInputError(
            "tr is for continuous responses given as an array (.npy/.npz or in Python); "
            "tables carry an onset column and Recordings their own tr: drop tr"
        )


def _read_non_recording(
    responses: Any,
    stimuli: Stimuli,
    sampling: str | None,
    units: Any,
    tr: float | None,
    name: str,
    base: Path | None,
    mask: Any,
) -> Recording:
    if _is_epochs(responses):
        from brainalign.datasets.meeg import recording_from_epochs

        return recording_from_epochs(responses, stimuli=stimuli, name=name)
    if sampling not in ("event", "continuous"):
        raise StudyInputError(
            f"sampling={sampling!r}: say whether the responses are 'event' (one row per "
            "stimulus or trial: images, sentences) or 'continuous' (a time series: fMRI "
            "volumes, M/EEG samples); the defaults of the analysis depend on it"
        )
    if isinstance(responses, np.ndarray | list):
        array = np.asarray(responses, dtype=np.float64)
        where = f"responses array {array.shape}"
        return _array_recording(array, stimuli, units, sampling, tr, name, where, base)
    path = resolve_path(responses, base, "responses")
    suffix = _suffix(path)
    if suffix in (".npy", ".npz", ".gii"):
        if suffix == ".gii":
            from brainalign.datasets.surface import read_gifti_timeseries

            array = read_gifti_timeseries(path).astype(np.float64)  # (n_maps, n_vertices)
        else:
            array = _array_from_file(path).astype(np.float64)
        return _array_recording(array, stimuli, units, sampling, tr, name, str(path), base)
    if suffix in TABLE_SUFFIXES:
        table = _read_table(path, "responses")
        return _table_recording(table, stimuli, units, sampling, name, str(path), base)
    if suffix in (".nii", ".nii.gz"):
        return _nifti_recording(path, stimuli, sampling, mask, name, base)
    if suffix == ".fif":
        import mne

        from brainalign.datasets.meeg import recording_from_epochs

        epochs = mne.read_epochs(path, preload=True, verbose="error")
        return recording_from_epochs(epochs, stimuli=stimuli, name=name)
    raise StudyInputError(
        f"responses {path}: unknown format; give .npy, .npz, .csv/.tsv, GIfTI (.gii), NIfTI "
        "beta maps (.nii/.nii.gz with mask) or MNE epochs (-epo.fif), or a Recording"
    )


def _is_epochs(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("mne.") and hasattr(value, "get_data") and hasattr(value, "events")


def _array_recording(
    array: np.ndarray,
    stimuli: Stimuli,
    units: Any,
    sampling: str,
    tr: float | None,
    name: str,
    where: str,
    base: Path | None,
) -> Recording:
    if array.ndim not in (2, 3) or (array.ndim == 3 and sampling != "event"):
        shapes = (
            "(n_stimuli, n_units) or (n_stimuli, n_units, n_repeats)"
            if sampling == "event"
            else "(n_samples, n_units)"
        )
        raise StudyInputError(f"{where}: give {sampling} responses as {shapes}")
    unit_table = _units_table(units, array.shape[1], base)
    if sampling == "event":
        return _event_array_recording(array, stimuli, unit_table, name, where)
    if tr is None or not tr > 0:
        raise StudyInputError(
            f"{where}: continuous responses as an array need tr (seconds between samples)"
        )
    _check_finite(array, where)
    samples = pd.DataFrame({"onset": np.arange(array.shape[0]) * float(tr)})
    return Recording(
        array, samples, unit_table, "continuous", stimuli, tr=float(tr), meta={"name": name}
    )


def _nifti_recording(
    path: Path, stimuli: Stimuli, sampling: str, mask: Any, name: str, base: Path | None
) -> Recording:
    if sampling != "event":
        raise StudyInputError(
            f"responses {path}: NIfTI responses of a study are beta maps (event); for a "
            "continuous run load it with brainalign.datasets.fmri.load_fmri_run and give the "
            "Recording"
        )
    if mask is None:
        raise StudyInputError(f"responses {path}: NIfTI beta maps need a mask (mask: FILE)")
    from brainalign.datasets.fmri import load_beta_maps

    masker = resolve_path(mask, base, "mask")
    return load_beta_maps(
        str(path),
        [str(i) for i in stimuli.stimulus_ids],
        masker=str(masker),
        stimuli=stimuli,
        name=name,
    )


def _average_window(recording: Recording, window: Sequence[float] | None) -> Recording:
    """Time-resolved trials averaged over ``window``; trials of a stimulus become repeats."""
    if window is None:
        raise StudyInputError(
            f"the responses are time-resolved ({recording.data.shape[2]} time points); give "
            "window: [tmin, tmax] in seconds to average each trial over"
        )
    tmin, tmax = (float(t) for t in window)
    times = recording.times
    keep = (times >= tmin) & (times <= tmax)
    if not keep.any():
        raise StudyInputError(
            f"window=[{tmin}, {tmax}] holds no time point; the epochs span "
            f"{times[0]:.3f}..{times[-1]:.3f} s"
        )
    samples = recording.samples.copy()
    samples["stimulus_id"] = samples["stimulus_id"].astype(str)
    samples["repeat"] = samples.groupby("stimulus_id", sort=False).cumcount()
    return Recording(
        recording.data[:, :, keep].mean(axis=2),
        samples,
        recording.units,
        "event",
        recording.stimuli,
        meta={**recording.meta, "window_s": [tmin, tmax]},
    )
