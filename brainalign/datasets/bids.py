"""BIDS datasets: find the recordings, read their events, channels and electrodes.

A BIDS root is the folder holding ``dataset_description.json`` and the ``sub-*``
folders. This module turns what BIDS stores next to each recording into the project's
data model:

- :func:`bids_runs` lists the recording files (M/EEG, iEEG, NIRS, EMG, fMRI ``bold``)
  with their entities and the paths of their sidecars; :func:`bids_entities` says
  which subjects, sessions, tasks, runs ... exist.
- :func:`events_to_stimuli` reads an ``events.tsv`` (or an events DataFrame) into
  :class:`Stimuli`: the project's one reader of events tables, used by the fMRI and
  M/EEG readers too.
- :func:`read_channels`, :func:`read_electrodes` and :func:`bids_units` read
  ``channels.tsv`` and ``electrodes.tsv`` (positions with the units of the
  ``coordsystem.json``) into a units table.
- :func:`load_bids_meeg` is the glue for one M/EEG run: the signal is read by
  :func:`mne_bids.read_raw_bids`; epoching lives elsewhere.

Discovery uses mne-bids for every datatype, fMRI included: its path matching
(:func:`mne_bids.find_matching_paths`) parses any BIDS file name, and
:meth:`mne_bids.BIDSPath.find_matching_sidecar` applies the BIDS inheritance principle
(a ``task-X_eeg.json`` at the root serves every subject, an ``electrodes.tsv`` without
task and run serves every run of its session). nilearn's
``nilearn.interfaces.bids.get_bids_files`` finds fMRI files by glob only and does not
resolve inherited sidecars, so it is used in the tests as an independent cross-check
of the fMRI discovery, not here.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from brainalign.stimuli import Stimuli

if TYPE_CHECKING:  # pragma: no cover
    import mne

#: BIDS entities a recording file name can carry, in file-name order.
ENTITIES = (
    "subject",
    "session",
    "task",
    "acquisition",
    "run",
    "processing",
    "recording",
    "space",
    "split",
    "description",
)
ENTITY_KEYS = {
    "subject": "sub",
    "session": "ses",
    "task": "task",
    "acquisition": "acq",
    "run": "run",
    "processing": "proc",
    "recording": "rec",
    "space": "space",
    "split": "split",
    "description": "desc",
}
#: Recording suffix and file extensions per datatype. M/EEG extensions are those of
#: mne-bids (``mne_bids.config.ALLOWED_DATATYPE_EXTENSIONS``); the header file stands
#: for the recording (``.vhdr`` not ``.eeg``, the ``.ds`` folder for CTF).
RECORDING_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "eeg": ("eeg", (".vhdr", ".edf", ".bdf", ".set")),
    "meg": ("meg", (".con", ".sqd", ".fif", ".pdf", ".ds")),
    "ieeg": ("ieeg", (".vhdr", ".edf", ".set", ".mefd", ".nwb")),
    "nirs": ("nirs", (".snirf",)),
    "emg": ("emg", (".edf", ".bdf")),
    "func": ("bold", (".nii.gz", ".nii")),
}
MEEG_DATATYPES = ("eeg", "meg", "ieeg", "nirs", "emg")
SIDECARS = {
    "events": ("events", ".tsv"),
    "channels": ("channels", ".tsv"),
    "electrodes": ("electrodes", ".tsv"),
    "coordsystem": ("coordsystem", ".json"),
}
RUN_COLUMNS = (
    *ENTITIES,
    "datatype",
    "suffix",
    "extension",
    "group",
    "path",
    "sidecar_json",
    *SIDECARS,
)
EMPTY_ROOM = "emptyroom"
MISSING_TSV_VALUES = ("n/a", "")
#: Columns :func:`events_to_stimuli` makes besides the content column; an events column
#: of the same name (or the content column's) is kept as ``events_<name>``.
RESERVED_STIMULI_COLUMNS = ("stimulus_id", "group", "event_index")
#: Content columns of :class:`Stimuli`.
CONTENT_KINDS = ("text", "image", "label")
#: The BIDS stimulus column naming files under ``stimuli/``: ``content="auto"`` makes
#: it an ``image``.
IMAGE_COLUMN = "stim_file"
#: Stimulus columns holding words or sentences a model can read: ``content="auto"``
#: makes them ``text`` (compared case-insensitively). Any other column is a ``label``.
TEXT_COLUMNS = (
    "text",
    "stim_text",
    "stimulus_text",
    "word",
    "words",
    "token",
    "sentence",
    "sentences",
    "phrase",
    "utterance",
    "transcript",
)
#: Stimuli group of an events DataFrame when none is given.
DATAFRAME_GROUP = "events"
LENGTH_TO_METRES = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
#: ``<prefix>CoordinateUnits`` key of ``coordsystem.json`` for electrodes per datatype
#: (EEG electrodes recorded with MEG use the EEG keys).
COORDINATE_PREFIX = {"ieeg": "iEEG", "eeg": "EEG", "meg": "EEG", "nirs": "NIRS"}

Filter = str | int | Sequence[str | int] | None
PathLike = str | os.PathLike
EventsLike = str | os.PathLike | pd.DataFrame


class NotABIDSRootError(ValueError):
    """Raised when a folder is not the root of a BIDS dataset."""


class NoMatchingRunsError(ValueError):
    """Raised when no recording of a BIDS dataset matches the filters."""


class BIDSFileError(ValueError):
    """Raised when a BIDS table or sidecar is malformed (the message names file and row)."""


# --------------------------------------------------------------------------- roots


def check_bids_root(root: PathLike) -> Path:
    """Return ``root`` as a Path after checking that it is a BIDS root.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``dataset_description.json`` and the ``sub-*`` folders.

    Returns
    -------
    pathlib.Path
        The root, made absolute.

    Raises
    ------
    NotABIDSRootError
        If the folder does not exist or holds no ``dataset_description.json`` (the
        message names the enclosing BIDS root when ``root`` lies inside one).
    """
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise NotABIDSRootError(f"BIDS root {str(path)!r} does not exist or is not a folder")
    if not (path / "dataset_description.json").is_file():
        enclosing = find_bids_root(path.parent)
        hint = (
            f" It lies inside the BIDS dataset {str(enclosing)!r}: pass that folder."
            if enclosing is not None
            else " Pass the dataset's top folder (the one holding dataset_description.json "
            "and the sub-* folders)."
        )
        raise NotABIDSRootError(
            f"{str(path)!r} is not a BIDS root: it has no dataset_description.json.{hint}"
        )
    return path


def find_bids_root(path: PathLike) -> Path | None:
    """The nearest folder at or above ``path`` holding ``dataset_description.json``.

    Parameters
    ----------
    path : str or os.PathLike
        A file or folder inside a BIDS dataset.

    Returns
    -------
    pathlib.Path or None
        The BIDS root, or None if no folder above ``path`` is one.
    """
    current = Path(path).expanduser().absolute()
    for folder in (current, *current.parents):
        if (folder / "dataset_description.json").is_file():
            return folder
    return None


# --------------------------------------------------------------------------- discovery


def _discover_recordings(root: Path) -> pd.DataFrame:
    """Every recording file under ``root`` (raw data only), one row each, no filtering."""
    from mne_bids import find_matching_paths

    extensions = sorted({ext for _, exts in RECORDING_KINDS.values() for ext in exts})
    paths = find_matching_paths(
        root,
        datatypes=list(RECORDING_KINDS),
        extensions=extensions,
        ignore_json=True,
        ignore_nosub=True,  # skips sourcedata/ and derivatives/
    )
    rows = [_recording_row(bids_path) for bids_path in paths if _is_recording(bids_path)]
    table = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    return table.sort_values("path", kind="stable").reset_index(drop=True)


def _is_recording(bids_path: Any) -> bool:
    """True for a raw recording file of a known datatype (not a sidecar or derivative)."""
    kind = RECORDING_KINDS.get(bids_path.datatype)
    if kind is None or bids_path.subject is None:
        return False
    suffix, extensions = kind
    extension = bids_path.extension or ""
    return extension in extensions and (bids_path.suffix == suffix or bids_path.datatype == "func")


def _recording_row(bids_path: Any) -> dict[str, Any]:
    """Entities, file and sidecar paths of one recording."""
    row: dict[str, Any] = {entity: getattr(bids_path, entity) for entity in ENTITIES}
    suffix, extension = bids_path.suffix, bids_path.extension
    basename = Path(bids_path.fpath).name
    row.update(
        datatype=bids_path.datatype,
        suffix=suffix,
        extension=extension,
        group=basename[: -len(f"_{suffix}{extension}")],
        path=str(bids_path.fpath),
        sidecar_json=_sidecar(bids_path, suffix, ".json"),
    )
    for column, (sidecar_suffix, sidecar_extension) in SIDECARS.items():
        row[column] = _sidecar(bids_path, sidecar_suffix, sidecar_extension)
    return row


def _sidecar(bids_path: Any, suffix: str, extension: str) -> str | None:
    """Path of the sidecar mne-bids finds (inheritance applied), or None if there is none."""
    try:
        found = bids_path.find_matching_sidecar(suffix=suffix, extension=extension)
    except RuntimeError as error:
        if not str(error).startswith("Did not find"):
            warnings.warn(
                f"{Path(bids_path.fpath).name}: several {suffix}{extension} files could "
                f"apply; none was chosen (pass the one you want explicitly). {error}",
                stacklevel=3,
            )
        return None
    return str(found) if found is not None else None


def _strip_entity_key(entity: str, value: str) -> str:
    """``'sub-01'`` -> ``'01'`` for the subject filter, and so on."""
    prefix = f"{ENTITY_KEYS.get(entity, entity)}-"
    return value[len(prefix) :] if value.startswith(prefix) else value


def _as_values(entity: str, wanted: Filter) -> list[str]:
    """A filter as a list of label strings."""
    items = [wanted] if isinstance(wanted, str | int) else list(wanted)
    if not items:
        raise ValueError(f"filter {entity}= is an empty list; pass None to keep every {entity}")
    return [_strip_entity_key(entity, str(item)) for item in items]


def _label_matches(label: Any, wanted: list[str]) -> bool:
    """Exact match, or equal numbers (``run=1`` matches ``run-01``)."""
    if not isinstance(label, str):
        return False
    for value in wanted:
        if label == value or (label.isdigit() and value.isdigit() and int(label) == int(value)):
            return True
    return False


def _filter_mask(table: pd.DataFrame, column: str, wanted: Filter) -> np.ndarray:
    values = _as_values(column, wanted)
    return np.array([_label_matches(label, values) for label in table[column]], dtype=bool)


def _default_suffix_mask(table: pd.DataFrame) -> np.ndarray:
    """Keep each datatype's recording suffix (``bold`` for func) when no suffix is asked."""
    expected = table["datatype"].map({k: v[0] for k, v in RECORDING_KINDS.items()})
    return (table["suffix"] == expected).to_numpy(dtype=bool)


def _entity_values(table: pd.DataFrame) -> dict[str, list[str]]:
    return {
        column: sorted({v for v in table[column] if isinstance(v, str)})
        for column in (*ENTITIES, "datatype", "suffix")
    }


def _describe_available(table: pd.DataFrame, asked: Iterable[str] = ()) -> str:
    """``subject: 01, 02; task: visual; ...`` for the entities that have values (or were asked)."""
    values = _entity_values(table)
    return "; ".join(
        f"{column}: {', '.join(found) if found else '(none)'}"
        for column, found in values.items()
        if found or column in asked
    )


def bids_runs(
    root: PathLike,
    *,
    subject: Filter = None,
    session: Filter = None,
    task: Filter = None,
    run: Filter = None,
    datatype: Filter = None,
    suffix: Filter = None,
    acquisition: Filter = None,
    include_emptyroom: bool = False,
) -> pd.DataFrame:
    """List the recording files of a BIDS dataset with their entities and sidecars.

    Parameters
    ----------
    root : str or os.PathLike
        The BIDS root (the folder holding ``dataset_description.json``).
    subject, session, task, run, acquisition : str, int, list of those, or None
        Keep recordings whose entity equals one of the values; None keeps all.
        Labels may be given with or without their key (``"sub-01"`` or ``"01"``);
        numbers match zero-padded labels (``run=1`` matches ``run-01``).
    datatype : str, list of str, or None
        ``"eeg"``, ``"meg"``, ``"ieeg"``, ``"nirs"``, ``"emg"`` or ``"func"``.
    suffix : str, list of str, or None
        The recording suffix. None keeps each datatype's own (``eeg``, ``meg``,
        ``ieeg`` ..., and ``bold`` for func); pass e.g. ``"sbref"`` for other fMRI
        images.
    include_emptyroom : bool
        Keep MEG empty-room recordings (subject ``emptyroom``) when no subject is
        asked for. They are left out by default, as :func:`mne_bids.get_entity_vals`
        does; ``subject="emptyroom"`` always finds them.

    Returns
    -------
    pandas.DataFrame, shape (n_recordings, 20)
        One row per recording file, sorted by path: the entities (``subject`` ...
        ``description``; missing ones are empty), ``datatype``, ``suffix``,
        ``extension``, ``group`` (the file name without suffix and extension, e.g.
        ``sub-01_ses-01_task-visual_run-01``: the run label used as Stimuli group),
        ``path`` (absolute), and the paths of the sidecars that apply to it under the
        BIDS inheritance principle, or empty when there is none: ``sidecar_json``,
        ``events``, ``channels``, ``electrodes``, ``coordsystem``.

    Raises
    ------
    NotABIDSRootError
        If ``root`` is not a BIDS root.
    NoMatchingRunsError
        If no recording matches; the message names the root, the filters, the
        filters that match nothing on their own, and the values each entity has.
    """
    path = check_bids_root(root)
    table = _discover_recordings(path)
    if table.empty:
        kinds = ", ".join(f"{d}/*_{s}" for d, (s, _) in RECORDING_KINDS.items())
        raise NoMatchingRunsError(
            f"BIDS root {str(path)!r} holds no recording files (looked for {kinds} with "
            "their data extensions under sub-*/)"
        )
    filters = {
        "subject": subject,
        "session": session,
        "task": task,
        "run": run,
        "acquisition": acquisition,
        "datatype": datatype,
        "suffix": suffix,
    }
    asked = {column: value for column, value in filters.items() if value is not None}
    masks = {column: _filter_mask(table, column, value) for column, value in asked.items()}
    keep = np.ones(len(table), dtype=bool)
    for mask in masks.values():
        keep &= mask
    if suffix is None:
        keep &= _default_suffix_mask(table)
    if subject is None and not include_emptyroom:
        keep &= (table["subject"] != EMPTY_ROOM).to_numpy(dtype=bool)
    if not keep.any():
        _raise_no_match(path, table, asked, masks, include_emptyroom)
    return table[keep].reset_index(drop=True)


def _raise_no_match(
    root: Path,
    table: pd.DataFrame,
    asked: dict[str, Filter],
    masks: dict[str, np.ndarray],
    include_emptyroom: bool,
) -> None:
    shown = table if include_emptyroom else table[table["subject"] != EMPTY_ROOM]
    filters = ", ".join(f"{k}={v!r}" for k, v in asked.items()) or "(no filters)"
    alone = [f"{k}={asked[k]!r}" for k, mask in masks.items() if not mask.any()]
    if len(alone) == 1:
        culprit = f" {alone[0]} matches no recording on its own."
    elif alone:
        culprit = f" None of {', '.join(alone)} matches a recording on its own."
    else:
        culprit = " Each filter matches some recording, but not all of them together."
    available = _describe_available(shown if len(shown) else table, asked)
    raise NoMatchingRunsError(
        f"no recording in BIDS root {str(root)!r} matches {filters}.{culprit} "
        f"Available values: {available}. Change or drop the filter(s)."
    )


def bids_entities(root: PathLike, *, include_emptyroom: bool = False) -> dict[str, list[str]]:
    """The entity values of the recordings of a BIDS dataset.

    Parameters
    ----------
    root : str or os.PathLike
        The BIDS root.
    include_emptyroom : bool
        Count the MEG empty-room recordings (subject ``emptyroom``, task ``noise``).

    Returns
    -------
    dict of str to list of str
        For each of ``subject``, ``session``, ``task``, ``acquisition``, ``run``,
        ``processing``, ``recording``, ``space``, ``split``, ``description``,
        ``datatype`` and ``suffix``: the sorted labels found (empty list when none).
        Only recording files count (the rows of :func:`bids_runs`), so an entity
        carried only by other files is not listed, unlike
        :func:`mne_bids.get_entity_vals` which reads every file name (the
        ``acq-NAS`` of a head-localisation photo, for instance).

    Raises
    ------
    NotABIDSRootError
        If ``root`` is not a BIDS root.
    NoMatchingRunsError
        If the dataset holds no recording file.
    """
    table = bids_runs(root, include_emptyroom=include_emptyroom)
    return _entity_values(table)


# --------------------------------------------------------------------------- tsv tables


def _read_tsv(path: PathLike, what: str) -> tuple[Path, pd.DataFrame]:
    """A BIDS tsv (a ``.csv`` comma-separated) as strings, exactly as written (no NA guessing)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{what} file {str(file)!r} does not exist")
    separator = "," if file.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(file, sep=separator, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise BIDSFileError(
            f"{what} file {str(file)!r} is not a readable table: {error}"
        ) from error
    table.columns = [str(c).strip() for c in table.columns]
    return file, table


def _missing(values: pd.Series) -> np.ndarray:
    """Missing values: BIDS ``n/a`` and empty cells (which BIDS forbids); NaN/None too."""
    text = values.astype(str).str.strip()
    return (values.isna() | text.isin(MISSING_TSV_VALUES)).to_numpy(dtype=bool)


def _require_columns(file: Path, table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise BIDSFileError(
            f"{what} file {str(file)!r} has no column(s) {absent} (BIDS requires them); "
            f"it has {list(table.columns)}"
        )


def _rows_text(
    rows: np.ndarray, values: pd.Series | None = None, limit: int = 5, *, lines: bool = True
) -> str:
    """``row 3 (line 5): 'abc'`` for the first rows (0-based data rows; line 1: header)."""
    shown = []
    for row in rows[:limit]:
        value = f": {_plain(values.iloc[row])!r}" if values is not None else ""
        line = f" (line {row + 2})" if lines else ""
        shown.append(f"row {row}{line}{value}")
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(shown) + more


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``-0.1``, not ``np.float64(-0.1)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _typed_column(values: pd.Series) -> pd.Series:
    """n/a -> NaN; a column whose other cells are all numbers becomes float."""
    missing = _missing(values)
    numbers = pd.to_numeric(values.where(~missing, "nan"), errors="coerce")
    if np.all(missing | numbers.notna().to_numpy()) and not missing.all():
        return numbers.astype(float)
    return values.where(~missing, np.nan)


def _with_nan(values: pd.Series) -> pd.Series:
    """n/a -> NaN, everything else (and the dtype, when nothing is missing) as it is."""
    missing = _missing(values)
    return values.where(~missing, np.nan) if missing.any() else values


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _EventsSource:
    """Where an events table came from, for messages, groups and stimulus files."""

    name: str  # "events file '/path/x_events.tsv'" or "events table"
    file: Path | None  # None for a DataFrame

    def rows(self, rows: np.ndarray, values: pd.Series | None = None) -> str:
        return _rows_text(rows, values, lines=self.file is not None)


def _read_events_table(
    events: EventsLike, source: str | None
) -> tuple[_EventsSource, pd.DataFrame]:
    """The events table (a file as strings, a DataFrame as given) and how to name it."""
    if isinstance(events, pd.DataFrame):
        table = events.copy()
        table.columns = [str(c).strip() for c in table.columns]
        return _EventsSource(source if source is not None else "events table", None), table
    if not isinstance(events, str | os.PathLike):
        raise TypeError(
            f"events must be a path to an events.tsv or a pandas DataFrame, not "
            f"{type(events).__name__}"
        )
    file, table = _read_tsv(events, "events")
    return _EventsSource(f"events file {str(file)!r}", file), table


def _seconds_column(
    source: _EventsSource,
    table: pd.DataFrame,
    column: str,
    fill: float | None,
    lowest: float,
) -> np.ndarray:
    """A column of seconds: numbers ``>= lowest``, n/a only where ``fill`` replaces it."""
    if column not in table.columns and fill is not None:
        return np.full(len(table), float(fill))
    raw = table[column]
    missing = _missing(raw)
    values = pd.to_numeric(raw.where(~missing, "nan"), errors="coerce").to_numpy(
        dtype=float, copy=True
    )
    bad = np.flatnonzero(~missing & ~np.isfinite(values))
    if bad.size:
        raise BIDSFileError(
            f"{source.name}: column {column!r} must hold numbers of seconds; "
            f"not a finite number in {source.rows(bad, raw)}"
        )
    if missing.any():
        if fill is None:
            article = "an" if column == "onset" else "a"
            hint = (
                " (pass fill_duration=0.0 if these events are instantaneous)"
                if column == "duration"
                else ""
            )
            raise BIDSFileError(
                f"{source.name}: column {column!r} is n/a in "
                f"{source.rows(np.flatnonzero(missing))}; every event needs {article} "
                f"{column}{hint}"
            )
        values[missing] = fill
    below = np.flatnonzero(values < lowest)
    if below.size:
        raise BIDSFileError(
            f"{source.name}: column {column!r} is negative in {source.rows(below, raw)}; "
            f"Stimuli need non-negative {column}s"
        )
    return values


def _events_group(source: _EventsSource) -> str:
    if source.file is None:
        return DATAFRAME_GROUP
    name = source.file.name
    for ending in ("_events.tsv", "_events.csv"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return source.file.stem


def _unique_ids(values: pd.Series, group: str, index: np.ndarray) -> pd.Series:
    """The stimulus values themselves if they are unique, else ``<group>_event-<row>``."""
    if values.is_unique:
        return values.astype(str).reset_index(drop=True)
    width = max(4, len(str(int(index.max()) if index.size else 0)))
    return pd.Series([f"{group}_event-{row:0{width}d}" for row in index], dtype=object)


def _image_paths(
    source: _EventsSource,
    values: pd.Series,
    bids_root: PathLike | None,
    stimuli_dir: PathLike | None,
    check_files: bool,
) -> list[str]:
    """``stim_file`` entries as paths under the dataset's ``stimuli/`` folder."""
    if stimuli_dir is None:
        root = Path(bids_root) if bids_root is not None else None
        if root is None and source.file is not None:
            root = find_bids_root(source.file.parent)
        if root is None:
            where = "is not inside a BIDS dataset" if source.file is not None else "has no folder"
            raise BIDSFileError(
                f"{source.name} {where}, so its stimulus files cannot be found; pass "
                "bids_root= or stimuli_dir="
            )
        stimuli_dir = root / "stimuli"
    folder = Path(stimuli_dir)
    paths = [str(folder / value) for value in values]
    if check_files:
        absent = sorted({p for p in paths if not Path(p).is_file()})
        if absent:
            names = [Path(p).relative_to(folder).as_posix() for p in absent[:5]]
            raise BIDSFileError(
                f"{source.name}: {len(absent)} of {len(set(paths))} stimulus "
                f"files are missing under {str(folder)!r}, e.g. {names}; pass stimuli_dir= "
                "(where they are), content='label' (to keep the names as labels), or "
                "check_files=False"
            )
    return paths


def content_kind(stimulus_column: str, content: str = "auto") -> str:
    """The content column :func:`events_to_stimuli` makes of a stimulus column.

    Parameters
    ----------
    stimulus_column : str
        The events column that says what was presented.
    content : {"auto", "text", "image", "label"}
        As in :func:`events_to_stimuli`.

    Returns
    -------
    str
        ``"image"``, ``"text"`` or ``"label"``: ``content`` itself unless it is
        ``"auto"``, which gives ``"image"`` for :data:`IMAGE_COLUMN` (``stim_file``),
        ``"text"`` for the columns of :data:`TEXT_COLUMNS` and ``"label"`` otherwise.

    Raises
    ------
    ValueError
        If ``content`` is not one of the choices.
    """
    if content not in ("auto", *CONTENT_KINDS):
        raise ValueError(f"content must be 'auto', 'text', 'image' or 'label', not {content!r}")
    if content != "auto":
        return content
    if stimulus_column == IMAGE_COLUMN:
        return "image"
    return "text" if stimulus_column.strip().lower() in TEXT_COLUMNS else "label"


def stimuli_column_name(events_column: str, kind: str) -> str:
    """The name under which :func:`events_to_stimuli` keeps a column of the events table.

    Parameters
    ----------
    events_column : str
        A column of the events table (other than ``onset`` and ``duration``).
    kind : {"text", "image", "label"}
        The content column of the stimuli (:func:`content_kind`).

    Returns
    -------
    str
        ``events_column``, or ``events_<events_column>`` when that name is taken by a
        column the reader makes (``stimulus_id``, ``group``, ``event_index`` or
        ``kind``).
    """
    taken = (*RESERVED_STIMULI_COLUMNS, kind)
    return f"events_{events_column}" if events_column in taken else events_column


def events_to_stimuli(
    events: EventsLike,
    *,
    stimulus_column: str = "trial_type",
    group: str | None = None,
    content: Literal["auto", "text", "image", "label"] = "auto",
    bids_root: PathLike | None = None,
    stimuli_dir: PathLike | None = None,
    check_files: bool = True,
    drop_na: bool = False,
    fill_duration: float | None = None,
    source: str | None = None,
) -> Stimuli:
    """Read a BIDS events table into :class:`Stimuli`, one row per event.

    The project's one reader of events tables: the fMRI readers
    (:mod:`brainalign.datasets.fmri`) and the table path of the M/EEG readers
    (:func:`brainalign.datasets.meeg.events_from_table`) call it.

    Parameters
    ----------
    events : str, os.PathLike or pandas.DataFrame, shape (n_events, n_columns)
        An ``events.tsv`` (tab-separated, ``n/a`` for missing values; a ``.csv`` file is
        read comma-separated), or the table itself (missing values as NaN, None or
        ``"n/a"``). It needs ``onset`` and ``duration`` (seconds) and
        ``stimulus_column``.
    stimulus_column : str
        The column that says what was presented: ``"trial_type"`` (a condition
        name), ``"stim_file"`` (a file under the dataset's ``stimuli/`` folder),
        ``"value"``, ``"word"``, ``"sentence"`` ...
    group : str, optional
        The Stimuli group of every row. Default: the run label, i.e. the file name
        without ``_events.tsv`` (``sub-01_ses-01_task-visual_run-01``); ``"events"``
        for a DataFrame.
    content : {"auto", "text", "image", "label"}
        What the stimulus column holds (see :func:`content_kind`). ``"text"``: words
        or sentences a model can read (the item's ``text``). ``"image"``: a file name
        relative to ``stimuli_dir``; the item's ``image`` is its path. ``"label"``: a
        condition name or code with no content a model could read (the item's
        ``label``). ``"auto"``: ``"image"`` for ``stim_file``, ``"text"`` for the
        columns of :data:`TEXT_COLUMNS` (``text``, ``stim_text``, ``stimulus_text``,
        ``word``, ``words``, ``token``, ``sentence``, ``sentences``, ``phrase``,
        ``utterance``, ``transcript``; case-insensitive), ``"label"`` for every other
        column (``trial_type``, ``value``, ``stim_id``, condition codes ...).
    bids_root : str or os.PathLike, optional
        The dataset's root, for ``stimuli/``; default: the nearest folder above the
        events file holding ``dataset_description.json``.
    stimuli_dir : str or os.PathLike, optional
        Where stimulus files are (default ``<bids_root>/stimuli``, as BIDS says).
    check_files : bool
        With ``content="image"``, raise if a stimulus file does not exist.
    drop_na : bool
        Drop the events whose stimulus column is missing (responses, for instance)
        instead of raising. Their ``event_index`` numbers stay with the kept rows.
    fill_duration : float, optional
        Seconds to use where ``duration`` is ``n/a``, or for every event when the
        table has no ``duration`` column; by default both are errors (BIDS requires
        durations).
    source : str, optional
        How messages name a DataFrame (default ``"events table"``); a file is named by
        its path.

    Returns
    -------
    Stimuli
        Table of shape (n_events, n_columns), in table order (not sorted):
        ``stimulus_id``, ``group``, ``text``, ``image`` or ``label`` (the stimulus
        column's values as strings, or the image paths), ``onset`` (seconds, may be
        negative: BIDS allows events before the first sample) and ``duration``
        (non-negative seconds), ``event_index`` (0-based data row of the table),
        then every other column of the table. From a file: ``n/a`` -> NaN, columns of
        numbers as float, the stimulus column and columns named ``text``, ``image`` or
        ``label`` as the strings of the file. From a DataFrame: columns as given,
        missing values as NaN. A column named like one the reader makes
        (``stimulus_id``, ``group``, ``event_index``, and the content column) is kept
        as ``events_<name>`` (:func:`stimuli_column_name`); other content columns are
        kept as they are (an events ``text`` column next to a ``trial_type`` label
        gives stimuli with both ``label`` and ``text``).

        ``stimulus_id`` is the stimulus column's value when no value repeats in the
        table (each word of a story, each image shown once), so the same stimulus
        has the same id in every run; otherwise it is ``<group>_event-<row>``
        (``sub-01_ses-01_task-visual_run-01_event-0007``), unique per subject and
        run, and the repeated value stays in the content and stimulus columns.

    Raises
    ------
    FileNotFoundError
        If the events file does not exist.
    BIDSFileError
        If ``onset`` or ``duration`` is missing, not a number, ``n/a`` (unless
        ``fill_duration``) or not finite; if a duration is negative (naming file or
        ``source``, column and rows); if the stimulus column is absent or missing in
        a row (unless ``drop_na``); if stimulus files are missing (unless
        ``check_files=False``).
    ValueError
        If ``content`` is not one of the choices.
    TypeError
        If ``events`` is neither a path nor a DataFrame.
    """
    kind = content_kind(stimulus_column, content)
    origin, table = _read_events_table(events, source)
    required = ("onset",) if fill_duration is not None else ("onset", "duration")
    absent_columns = [c for c in required if c not in table.columns]
    if absent_columns:
        raise BIDSFileError(
            f"{origin.name} has no column(s) {absent_columns} (BIDS requires them); "
            f"it has {list(table.columns)}"
        )
    if stimulus_column not in table.columns:
        raise BIDSFileError(
            f"{origin.name} has no column {stimulus_column!r} to take stimuli from; "
            f"it has {list(table.columns)}: name the column that says what was presented "
            "(stimulus_column=)"
        )
    onset = _seconds_column(origin, table, "onset", None, -np.inf)
    duration = _seconds_column(origin, table, "duration", fill_duration, 0.0)
    values = table[stimulus_column]
    absent = _missing(values)
    if absent.any() and not drop_na:
        raise BIDSFileError(
            f"{origin.name}: stimulus column {stimulus_column!r} is n/a in "
            f"{origin.rows(np.flatnonzero(absent))}; pass drop_na=True to leave those "
            "events out, or another stimulus_column"
        )
    keep = ~absent
    index = np.flatnonzero(keep)
    values = values[keep].astype(str).reset_index(drop=True)
    group = group if group is not None else _events_group(origin)
    item = (
        _image_paths(origin, values, bids_root, stimuli_dir, check_files)
        if kind == "image"
        else values.tolist()
    )
    stimuli = pd.DataFrame(
        {
            "stimulus_id": _unique_ids(values, group, index),
            "group": group,
            kind: item,
            "onset": onset[keep],
            "duration": duration[keep],
            "event_index": index,
        }
    )
    for column in table.columns:
        if column in ("onset", "duration"):
            continue
        kept = table[column][keep].reset_index(drop=True)
        as_is = origin.file is None or column in (stimulus_column, *CONTENT_KINDS)
        stimuli[stimuli_column_name(column, kind)] = (
            _with_nan(kept) if as_is else _typed_column(kept)
        )
    return Stimuli(stimuli)


# --------------------------------------------------------------------------- units


def read_channels(channels_tsv: PathLike) -> pd.DataFrame:
    """Read a BIDS ``channels.tsv``.

    Parameters
    ----------
    channels_tsv : str or os.PathLike
        The channels file.

    Returns
    -------
    pandas.DataFrame, shape (n_channels, n_columns)
        The file's columns in file order; ``name`` as strings (``"1"`` stays
        ``"1"``); ``status`` lower-cased ``"good"`` or ``"bad"`` (``"good"`` for
        every channel when the optional column is absent or ``n/a``); ``n/a`` ->
        NaN; columns of numbers as float.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    BIDSFileError
        If ``name``, ``type`` or ``units`` is absent, a name is missing or repeats,
        or a status is neither good nor bad.
    """
    file, table = _read_tsv(channels_tsv, "channels")
    _require_columns(file, table, ("name", "type", "units"), "channels")
    _check_names(file, table, "channels")
    channels = pd.DataFrame(
        {
            column: table[column] if column in ("name", "status") else _typed_column(table[column])
            for column in table.columns
        }
    )
    channels["status"] = _channel_status(file, table)
    return channels


def _check_names(file: Path, table: pd.DataFrame, what: str) -> None:
    names = table["name"]
    empty = np.flatnonzero(_missing(names))
    if empty.size:
        raise BIDSFileError(f"{what} file {str(file)!r}: no name in {_rows_text(empty)}")
    repeated = np.flatnonzero(names.duplicated().to_numpy())
    if repeated.size:
        raise BIDSFileError(
            f"{what} file {str(file)!r}: names must be unique; repeated in "
            f"{_rows_text(repeated, names)}"
        )


def _channel_status(file: Path, table: pd.DataFrame) -> pd.Series:
    if "status" not in table.columns:
        return pd.Series(["good"] * len(table), dtype=object)
    status = table["status"].str.strip().str.lower()
    status = status.where(~_missing(status), "good")
    invalid = np.flatnonzero(~status.isin(("good", "bad")).to_numpy())
    if invalid.size:
        raise BIDSFileError(
            f"channels file {str(file)!r}: status must be 'good', 'bad' or n/a; got "
            f"{_rows_text(invalid, table['status'])}"
        )
    return status


def _datatype_of(file: Path) -> str | None:
    folder = file.parent.name
    return folder if folder in COORDINATE_PREFIX else None


def _sibling_coordsystem(file: Path) -> Path | None:
    """``<entities>_electrodes.tsv`` -> ``<entities>_coordsystem.json`` (same space)."""
    name = file.name
    if not name.endswith("_electrodes.tsv"):
        return None
    candidate = file.with_name(name[: -len("_electrodes.tsv")] + "_coordsystem.json")
    return candidate if candidate.is_file() else None


def _coordinate_frame(file: Path, coordsystem: Path | None) -> tuple[Any, Any]:
    """(units, system) of the electrodes per their coordsystem.json, NaN where unknown."""
    if coordsystem is None:
        return np.nan, np.nan
    try:
        sidecar = json.loads(Path(coordsystem).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BIDSFileError(f"coordsystem file {str(coordsystem)!r}: {error}") from error
    datatype = _datatype_of(file)
    prefixes = [COORDINATE_PREFIX[datatype]] if datatype else []
    prefixes += [p for p in ("iEEG", "EEG", "NIRS") if p not in prefixes]
    for prefix in prefixes:
        if f"{prefix}CoordinateUnits" in sidecar:
            return (
                sidecar[f"{prefix}CoordinateUnits"],
                sidecar.get(f"{prefix}CoordinateSystem", np.nan),
            )
    return np.nan, np.nan


def read_electrodes(
    electrodes_tsv: PathLike,
    coordsystem_json: PathLike | None = None,
    *,
    units: Literal["m", "cm", "mm"] | None = None,
) -> pd.DataFrame:
    """Read a BIDS ``electrodes.tsv`` with the units of its ``coordsystem.json``.

    Parameters
    ----------
    electrodes_tsv : str or os.PathLike
        The electrodes file.
    coordsystem_json : str or os.PathLike, optional
        Its coordinate system; default: the ``coordsystem.json`` next to it with the
        same entities (BIDS pairs them so).
    units : {"m", "cm", "mm"}, optional
        Convert ``x``, ``y``, ``z`` to these units. None keeps the file's numbers.

    Returns
    -------
    pandas.DataFrame, shape (n_electrodes, n_columns)
        ``name`` (strings), ``x``, ``y``, ``z`` (float; NaN where ``n/a``),
        ``coord_units`` (``"mm"``, ``"cm"``, ``"m"``, ``"pixels"``, or NaN when no
        coordsystem.json says), ``coord_system`` (``"ACPC"``, ``"CapTrak"`` ...),
        then the file's other columns (``size``, ``material`` ...).

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    BIDSFileError
        If ``name``, ``x``, ``y`` or ``z`` is absent, names repeat, a coordinate is
        not a number, or ``units`` is asked but the file's units are unknown or not
        a length.
    """
    file, table = _read_tsv(electrodes_tsv, "electrodes")
    _require_columns(file, table, ("name", "x", "y", "z"), "electrodes")
    _check_names(file, table, "electrodes")
    if coordsystem_json is not None and not Path(coordsystem_json).is_file():
        raise FileNotFoundError(f"coordsystem file {str(coordsystem_json)!r} does not exist")
    coordsystem = Path(coordsystem_json) if coordsystem_json else _sibling_coordsystem(file)
    coord_units, coord_system = _coordinate_frame(file, coordsystem)
    electrodes = pd.DataFrame({"name": table["name"]})
    for axis in ("x", "y", "z"):
        electrodes[axis] = _coordinate(file, table, axis)
    scale = _unit_scale(file, coord_units, units)
    electrodes[["x", "y", "z"]] *= scale
    electrodes["coord_units"] = units if units is not None else coord_units
    electrodes["coord_system"] = coord_system
    for column in table.columns:
        if column not in electrodes.columns:
            electrodes[column] = _typed_column(table[column])
    return electrodes


def _coordinate(file: Path, table: pd.DataFrame, axis: str) -> np.ndarray:
    raw = table[axis]
    missing = _missing(raw)
    values = pd.to_numeric(raw.where(~missing, "nan"), errors="coerce").to_numpy(
        dtype=float, copy=True
    )
    bad = np.flatnonzero(~missing & ~np.isfinite(values))
    if bad.size:
        raise BIDSFileError(
            f"electrodes file {str(file)!r}: column {axis!r} must hold numbers or n/a; "
            f"got {_rows_text(bad, raw)}"
        )
    return values


def _unit_scale(file: Path, coord_units: Any, units: str | None) -> float:
    if units is None:
        return 1.0
    if units not in LENGTH_TO_METRES:
        raise ValueError(f"units must be 'm', 'cm', 'mm' or None, not {units!r}")
    if coord_units not in LENGTH_TO_METRES:
        raise BIDSFileError(
            f"electrodes file {str(file)!r}: cannot convert positions to {units!r}: the "
            f"coordsystem gives units {coord_units!r} (needs 'm', 'cm' or 'mm'); pass "
            "coordsystem_json= or units=None"
        )
    return LENGTH_TO_METRES[coord_units] / LENGTH_TO_METRES[units]


def bids_units(
    channels_tsv: PathLike,
    electrodes_tsv: PathLike | None = None,
    coordsystem_json: PathLike | None = None,
    *,
    subject: str | None = None,
    units: Literal["m", "cm", "mm"] | None = None,
) -> pd.DataFrame:
    """A Recording ``units`` table: channels with their electrode positions.

    Parameters
    ----------
    channels_tsv : str or os.PathLike
        The run's ``channels.tsv``.
    electrodes_tsv : str or os.PathLike, optional
        The ``electrodes.tsv`` that applies (the ``electrodes`` column of
        :func:`bids_runs`); None gives no positions.
    coordsystem_json : str or os.PathLike, optional
        Passed to :func:`read_electrodes`.
    subject : str, optional
        Written in a ``subject`` column (first) when given.
    units : {"m", "cm", "mm"}, optional
        Convert positions (see :func:`read_electrodes`).

    Returns
    -------
    pandas.DataFrame, shape (n_channels, n_columns)
        One row per channel in ``channels.tsv`` order: [``subject``], ``channel``,
        ``type``, ``signal_units`` (the channel's ``units``, e.g. µV), ``status``,
        then ``x``, ``y``, ``z``, ``coord_units``, ``coord_system`` (NaN for channels
        without an electrode, e.g. triggers or MEG sensors), then the other columns
        of channels.tsv. Electrodes without a channel are left out.
    """
    channels = read_channels(channels_tsv).rename(
        columns={"name": "channel", "units": "signal_units"}
    )
    if electrodes_tsv is not None:
        electrodes = read_electrodes(electrodes_tsv, coordsystem_json, units=units)
        position = electrodes[["name", "x", "y", "z", "coord_units", "coord_system"]]
        channels = channels.merge(position, how="left", left_on="channel", right_on="name")
        channels = channels.drop(columns="name")
    else:
        for column in ("x", "y", "z", "coord_units", "coord_system"):
            channels[column] = np.nan
    first = ["channel", "type", "signal_units", "status", "x", "y", "z"]
    first += ["coord_units", "coord_system"]
    ordered = channels[first + [c for c in channels.columns if c not in first]]
    if subject is not None:
        ordered.insert(0, "subject", subject)
    return ordered.reset_index(drop=True)


# --------------------------------------------------------------------------- M/EEG glue


@dataclass(frozen=True)
class BIDSMEEGRun:
    """One M/EEG run of a BIDS dataset.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording as read by :func:`mne_bids.read_raw_bids` (data not preloaded;
        bad channels, montage and annotations set from the sidecars).
    stimuli : Stimuli or None
        The run's events (:func:`events_to_stimuli`), None if it has no events.tsv.
    units : pandas.DataFrame, shape (n_channels, ...)
        :func:`bids_units` of the run.
    run : pandas.Series
        Its row of :func:`bids_runs`.
    """

    raw: mne.io.BaseRaw
    stimuli: Stimuli | None
    units: pd.DataFrame
    run: pd.Series


def load_bids_meeg(
    root: PathLike,
    subject: str,
    task: str,
    run: str | int | None = None,
    *,
    session: str | None = None,
    datatype: str | None = None,
    acquisition: str | None = None,
    stimulus_column: str = "trial_type",
    content: Literal["auto", "text", "image", "label"] = "auto",
    check_files: bool = True,
    drop_na: bool = False,
    units: Literal["m", "cm", "mm"] | None = None,
    verbose: str | bool | None = "error",
) -> BIDSMEEGRun:
    """Load one M/EEG run: its raw signal (via mne-bids), stimuli and channels.

    Parameters
    ----------
    root : str or os.PathLike
        The BIDS root.
    subject, task : str
        The run's subject and task labels.
    run, session, acquisition : str or int, optional
        Needed when they tell runs apart.
    datatype : {"eeg", "meg", "ieeg", "nirs", "emg"}, optional
        Needed when a run was recorded in several.
    stimulus_column, content, check_files, drop_na
        Passed to :func:`events_to_stimuli`.
    units : {"m", "cm", "mm"}, optional
        Passed to :func:`bids_units` for electrode positions.
    verbose : str or bool or None
        MNE verbosity for :func:`mne_bids.read_raw_bids`.

    Returns
    -------
    BIDSMEEGRun
        ``raw``, ``stimuli``, ``units`` and the ``run`` row.

    Raises
    ------
    NoMatchingRunsError
        If no M/EEG recording matches (listing what exists).
    ValueError
        If several match (listing them and the entities that tell them apart).
    BIDSFileError
        If a table is malformed; tables are read before the signal, and nothing is
        returned unless everything loads.
    """
    datatypes = [datatype] if datatype is not None else list(MEEG_DATATYPES)
    unknown = [d for d in datatypes if d not in MEEG_DATATYPES]
    if unknown:
        raise ValueError(f"datatype must be one of {list(MEEG_DATATYPES)}, not {unknown[0]!r}")
    runs = bids_runs(
        root,
        subject=subject,
        session=session,
        task=task,
        run=run,
        acquisition=acquisition,
        datatype=datatypes,
    )
    if len(runs) > 1:
        differing = [c for c in (*ENTITIES, "datatype") if runs[c].nunique(dropna=False) > 1]
        raise ValueError(
            f"{len(runs)} recordings match subject={subject!r}, task={task!r}, run={run!r}, "
            f"session={session!r}: {runs['group'].tolist()}; pass {' and '.join(differing)} "
            "to choose one"
        )
    row = runs.iloc[0]
    stimuli = (
        events_to_stimuli(
            row["events"],
            stimulus_column=stimulus_column,
            content=content,
            bids_root=check_bids_root(root),
            check_files=check_files,
            drop_na=drop_na,
        )
        if isinstance(row["events"], str)
        else None
    )
    if not isinstance(row["channels"], str):
        raise BIDSFileError(f"recording {row['path']!r} has no channels.tsv (BIDS requires one)")
    table = bids_units(
        row["channels"],
        row["electrodes"] if isinstance(row["electrodes"], str) else None,
        row["coordsystem"] if isinstance(row["coordsystem"], str) else None,
        subject=row["subject"],
        units=units,
    )
    raw = _read_raw(row, verbose)
    return BIDSMEEGRun(raw=raw, stimuli=stimuli, units=table, run=row)


def _read_raw(row: pd.Series, verbose: str | bool | None) -> mne.io.BaseRaw:
    """The signal of one ``bids_runs`` row, read by :func:`mne_bids.read_raw_bids`."""
    from mne_bids import get_bids_path_from_fname, read_raw_bids

    bids_path = get_bids_path_from_fname(row["path"], check=False)
    bids_path.update(root=find_bids_root(row["path"]), datatype=row["datatype"])
    return read_raw_bids(bids_path, verbose=verbose)
