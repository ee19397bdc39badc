"""MEG-MASC (Gwilliams et al. 2023): its BIDS layout, word and phoneme annotations.

MEG-MASC is 208-channel KIT MEG of people listening to four stories, two sessions
each, in BIDS: ``sub-XX/ses-S/meg/sub-XX_ses-S_task-T_meg.con`` (KIT ``.con``, read by
:func:`mne.io.read_raw_kit` through :func:`mne_bids.read_raw_bids`), next to its
``_events.tsv``, and the stories' audio under ``stimuli/audio/``. The published events
files have the columns ``onset``, ``duration``, ``trial_type``, ``value`` and
``sample``; ``onset`` is in seconds from the first sample of the recording and
``trial_type`` holds a Python dict literal describing the event, e.g.::

    {'story': 'lw1', 'story_uid': 0, 'sound_id': 0, 'kind': 'word', 'start': 0.13,
     'sound': 'stimuli/audio/lw1_0.wav', 'sequence_id': 0, 'condition': 'sentence',
     'word_index': 1, 'speech_rate': 205, 'voice': 'Allison', 'pronounced': 1.0,
     'word': 'Cable'}

``kind`` is ``word``, ``phoneme`` (with ``phoneme``, e.g. ``'k_B'``) or ``sound`` (one
per wav file played, at the moment it starts); ``start`` is the event's onset in
seconds within its sound file. The authors' own code (``check_decoding.py`` in
github.com/kingjr/meg-masc) reads these descriptions with ``eval``; here they are
parsed with :func:`ast.literal_eval`, which evaluates literals only.

:func:`load_meg_masc` reads one run into a continuous :class:`Recording` (through
:func:`~brainalign.datasets.bids.load_bids_meeg` and
:func:`~brainalign.datasets.meeg.continuous_recording`) with its words as the
stimuli, plus the phoneme and sound tables; :func:`read_meg_masc_events` parses an
events file on its own.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.datasets.bids import (
    BIDSFileError,
    PathLike,
    check_bids_root,
    events_to_stimuli,
    find_bids_root,
    load_bids_meeg,
)
from brainalign.datasets.meeg import continuous_recording
from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

if TYPE_CHECKING:  # pragma: no cover
    import mne

__all__ = [
    "EVENT_KINDS",
    "MEGMASCFormatError",
    "MEGMASCRun",
    "load_meg_masc",
    "meg_masc_phonemes",
    "meg_masc_sounds",
    "meg_masc_words",
    "parse_trial_type",
    "read_meg_masc_events",
]

#: The ``kind`` values of the annotations, and the keys each kind needs.
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "word": ("story", "sound", "start", "word"),
    "phoneme": ("story", "sound", "start", "phoneme"),
    "sound": ("story", "sound"),
}
#: Annotation keys renamed in the tables (``start`` is the onset within the sound).
RENAMED_KEYS = {"start": "sound_onset"}
#: Columns of the events table taken from the events file, not the annotations.
FILE_COLUMNS = ("onset", "duration", "event_index")
#: Columns every table keeps; other annotation keys are dropped where a kind lacks them.
KEPT_COLUMNS = (*FILE_COLUMNS, "kind", "story", "sound", "sound_file", "sound_onset")


class MEGMASCFormatError(BIDSFileError):
    """Raised when a MEG-MASC run or annotation does not have the published format."""


def parse_trial_type(text: str, *, where: str = "trial_type") -> dict[str, Any]:
    """One MEG-MASC ``trial_type`` cell as a dict.

    Parameters
    ----------
    text : str
        A Python dict literal (``"{'kind': 'word', 'word': 'Cable', ...}"``).
    where : str
        How messages name the cell (file and line).

    Returns
    -------
    dict
        The annotation; ``kind`` is one of :data:`EVENT_KINDS` and the keys that kind
        needs are present.

    Raises
    ------
    MEGMASCFormatError
        If the text is not a dict literal, has no known ``kind`` or lacks a key.
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
        raise MEGMASCFormatError(
            f"{where}: trial_type {text[:120]!r} is not a Python dict literal as MEG-MASC "
            f"writes it ({type(error).__name__}); is this a MEG-MASC events file?"
        ) from None
    if not isinstance(value, dict):
        raise MEGMASCFormatError(
            f"{where}: trial_type {text[:120]!r} is a {type(value).__name__}, not a dict"
        )
    kind = value.get("kind")
    if kind not in EVENT_KINDS:
        raise MEGMASCFormatError(
            f"{where}: trial_type has kind {kind!r}; MEG-MASC annotations have kind "
            f"{' / '.join(EVENT_KINDS)}"
        )
    absent = [key for key in EVENT_KINDS[kind] if key not in value]
    if absent:
        raise MEGMASCFormatError(
            f"{where}: a {kind!r} annotation needs key(s) {absent}; it has {sorted(value)}"
        )
    return value


def _resolve_sound(root: Path, sound: str) -> Path | None:
    """The wav file an annotation names, relative to the BIDS root, or None.

    Tried in order: the path as written; the same name with its case ignored; and, for
    ``kind='sound'`` annotations that print the sound id as a float
    (``lw1_0.0.wav`` for ``lw1_0.wav``), the name without the ``.0``.
    """
    relative = Path(str(sound).replace("\\", "/"))
    names = [relative.name]
    stem = relative.stem
    if stem.endswith(".0"):
        names.append(stem[:-2] + relative.suffix)
    folder = root / relative.parent
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if folder.is_dir():
        by_lower = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
        for name in names:
            if name.lower() in by_lower:
                return by_lower[name.lower()]
    return None


def _events_table(
    stimuli: pd.DataFrame, source: str, root: Path, check_files: bool
) -> pd.DataFrame:
    """Parse the ``label`` (trial_type) of each event; resolve the sound files."""
    rows = []
    columns = [stimuli[c].tolist() for c in ("label", *FILE_COLUMNS)]
    for label, *values in zip(*columns, strict=True):
        line = int(values[FILE_COLUMNS.index("event_index")]) + 2
        annotation = parse_trial_type(str(label), where=f"{source}, line {line}")
        annotation = {RENAMED_KEYS.get(k, k): v for k, v in annotation.items()}
        for column, value in zip(FILE_COLUMNS, values, strict=True):
            if column in annotation:
                annotation[f"annotation_{column}"] = annotation.pop(column)
            annotation[column] = value
        rows.append(annotation)
    table = pd.DataFrame(rows)
    if table.empty:
        raise MEGMASCFormatError(f"{source} has no events")
    sounds = {}
    for sound in table["sound"].astype(str).unique():
        found = _resolve_sound(root, sound)
        if found is None and check_files:
            lines = (table.loc[table["sound"].astype(str) == sound, "event_index"] + 2).tolist()
            raise MEGMASCFormatError(
                f"{source}: sound file {sound!r} (lines {lines[:5]}) is not under the BIDS "
                f"root {str(root)!r}; download the dataset's stimuli/audio folder from OSF "
                "(https://osf.io/ag3kj/) into the root, or pass check_files=False"
            )
        sounds[sound] = str(found) if found is not None else np.nan
    table["sound_file"] = table["sound"].astype(str).map(sounds)
    first = ["kind", "onset", "duration", "story", "sound", "sound_file"]
    return table[first + [c for c in table.columns if c not in first]]


def read_meg_masc_events(
    events: PathLike, *, bids_root: PathLike | None = None, check_files: bool = True
) -> pd.DataFrame:
    """A MEG-MASC ``events.tsv`` with its ``trial_type`` annotations parsed.

    The file is read by :func:`~brainalign.datasets.bids.events_to_stimuli` (which
    checks ``onset`` and ``duration``); each ``trial_type`` by :func:`parse_trial_type`.

    Parameters
    ----------
    events : str or os.PathLike
        The run's ``*_events.tsv``.
    bids_root : str or os.PathLike, optional
        Where the sound paths of the annotations start (default: the BIDS root above
        the file).
    check_files : bool
        Raise if a sound file is missing (otherwise its ``sound_file`` is NaN).

    Returns
    -------
    pandas.DataFrame, shape (n_events, n_columns)
        In file order: ``kind``, ``onset`` and ``duration`` (seconds, from the events
        file: ``onset`` on the recording's clock), ``story``, ``sound`` (as written),
        ``sound_file`` (absolute path), ``event_index`` (0-based data row; line
        ``event_index + 2`` of the file), ``sound_onset`` (the annotation's ``start``:
        seconds within the sound file) and every other annotation key (``word``,
        ``phoneme``, ``story_uid``, ``sound_id``, ``sequence_id``, ``word_index``,
        ``condition``, ``speech_rate``, ``voice``, ``pronounced`` ...; missing where an
        event lacks it). An annotation key named like a file column is kept as
        ``annotation_<name>``.

    Raises
    ------
    FileNotFoundError
        If the events file does not exist.
    BIDSFileError
        If ``onset``, ``duration`` or ``trial_type`` is missing or malformed.
    MEGMASCFormatError
        If a ``trial_type`` is not a MEG-MASC annotation (naming the line), or a sound
        file is missing (with ``check_files``).
    """
    file = Path(events)
    stimuli = events_to_stimuli(file, stimulus_column="trial_type", content="label")
    root = Path(bids_root) if bids_root is not None else find_bids_root(file)
    if root is None:
        raise MEGMASCFormatError(
            f"events file {str(file)!r} is not inside a BIDS dataset; pass bids_root="
        )
    return _events_table(stimuli.table, f"events file {str(file)!r}", root, check_files)


def _kind(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    if "kind" not in events.columns:
        raise ValueError(
            f"events table has no 'kind' column (columns: {list(events.columns)}); pass "
            "the table of read_meg_masc_events"
        )
    rows = events.loc[events["kind"] == kind]
    unused = [c for c in rows.columns if c not in KEPT_COLUMNS and rows[c].isna().all()]
    return rows.drop(columns=unused).reset_index(drop=True)


def meg_masc_words(events: pd.DataFrame, *, group: str = "meg-masc") -> pd.DataFrame:
    """The words of a parsed events table, as a stimuli table ready for model features.

    Parameters
    ----------
    events : pandas.DataFrame
        :func:`read_meg_masc_events`.
    group : str
        The Stimuli group of every word (:func:`load_meg_masc` uses the run label).

    Returns
    -------
    pandas.DataFrame, shape (n_words, n_columns)
        In file order: ``stimulus_id`` (``<story>_word-<n>``, ``n`` counting the run's
        words from 0), ``group``, ``text`` (the word), ``onset`` (seconds on the
        recording's clock: the input of
        :func:`~brainalign.alignment.meeg_clock.impulse_features`), ``duration``,
        ``story``, ``sound_file``, ``sound_onset`` (seconds within the sound file),
        then the other annotation keys.

    Raises
    ------
    MEGMASCFormatError
        If the run has no words.
    """
    words = _kind(events, "word")
    if words.empty:
        raise MEGMASCFormatError("the events hold no kind='word' annotation")
    stories = words["story"].astype(str).to_numpy()
    table = words.rename(columns={"word": "text"})
    table.insert(0, "group", group)
    table.insert(0, "stimulus_id", [f"{s}_word-{n:05d}" for n, s in enumerate(stories)])
    first = ["stimulus_id", "group", "text", "onset", "duration", "story", "sound_file"]
    return table[first + [c for c in table.columns if c not in first]].drop(columns="kind")


def meg_masc_phonemes(events: pd.DataFrame) -> pd.DataFrame:
    """The phonemes of a parsed events table (empty if the run has none).

    Parameters
    ----------
    events : pandas.DataFrame
        :func:`read_meg_masc_events`.

    Returns
    -------
    pandas.DataFrame, shape (n_phonemes, n_columns)
        The ``kind='phoneme'`` rows, ``phoneme`` (e.g. ``'k_B'``: ARPAbet and position
        in the word, B/I/E) with ``onset`` on the recording's clock.
    """
    return _kind(events, "phoneme").drop(columns="kind", errors="ignore")


def meg_masc_sounds(events: pd.DataFrame) -> pd.DataFrame:
    """When each sound file starts on the recording's clock.

    Parameters
    ----------
    events : pandas.DataFrame
        :func:`read_meg_masc_events`.

    Returns
    -------
    pandas.DataFrame, shape (n_sounds, 4)
        ``sound_file``, ``story``, ``onset`` (seconds on the recording's clock) and
        ``source``: ``"sound"`` from a ``kind='sound'`` annotation, or ``"words"``
        (``onset - sound_onset`` of the file's first word or phoneme) for a sound file
        with no such annotation.
    """
    columns = ["sound_file", "story", "onset", "source"]
    sounds = _kind(events, "sound")
    table = (
        sounds.assign(source="sound")[columns]
        if not sounds.empty
        else pd.DataFrame(columns=columns)
    )
    timed = events.loc[events["kind"].isin(["word", "phoneme"])]
    timed = timed.loc[~timed["sound_file"].isin(table["sound_file"])]
    if len(timed):
        first = timed.loc[timed.groupby("sound_file", sort=False)["onset"].idxmin()]
        derived = first.assign(onset=first["onset"] - first["sound_onset"], source="words")
        table = pd.concat([table, derived[columns]], ignore_index=True)
    table["onset"] = table["onset"].astype(float)
    return table.sort_values("onset", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class MEGMASCRun:
    """One MEG-MASC run (subject, session, story).

    Parameters
    ----------
    recording : Recording
        Continuous MEG (n_times, n_channels) with ``sfreq``; its stimuli are the words.
    words, phonemes, sounds : pandas.DataFrame
        :func:`meg_masc_words`, :func:`meg_masc_phonemes`, :func:`meg_masc_sounds`.
    events : pandas.DataFrame
        :func:`read_meg_masc_events` of the run.
    raw : mne.io.BaseRaw
        The recording as :func:`mne_bids.read_raw_bids` read it (not preloaded).
    """

    recording: Recording
    words: pd.DataFrame
    phonemes: pd.DataFrame
    sounds: pd.DataFrame
    events: pd.DataFrame
    raw: mne.io.BaseRaw


def load_meg_masc(
    root: PathLike,
    subject: str,
    task: str,
    session: str | None = None,
    *,
    picks: Any = "meg",
    l_freq: float | None = None,
    h_freq: float | None = None,
    sfreq: float | None = None,
    check_files: bool = True,
    verbose: str | bool | None = "error",
    **options: Any,
) -> MEGMASCRun:
    """Load one MEG-MASC run: continuous MEG with its words, phonemes and sounds.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset's BIDS root (``dataset_description.json``, ``sub-*``, ``stimuli``).
    subject, task : str
        ``"01"`` ...; task ``"0"`` ... ``"3"``. Which story a task label holds is read
        from the run's annotations (``story`` of ``words``), not assumed: public code
        disagrees on whether the labels are fixed stories or each participant's
        presentation order (``task_order`` in ``participants.tsv``).
    session : str, optional
        ``"0"`` or ``"1"``; needed when the subject has both.
    picks : str or list
        Channels kept, as MNE understands them (default: the MEG channels).
    l_freq, h_freq, sfreq : float, optional
        Band-pass and new sampling rate (Hz), applied by
        :func:`~brainalign.datasets.meeg.continuous_recording`.
    check_files : bool
        Raise if a sound file named by the annotations is missing.
    verbose : str or bool or None
        MNE verbosity.
    **options
        Other :func:`~brainalign.datasets.bids.load_bids_meeg` options (``run``,
        ``acquisition``).

    Returns
    -------
    MEGMASCRun

    Raises
    ------
    NotABIDSRootError, NoMatchingRunsError
        If ``root`` is not a BIDS root or no run matches.
    MEGMASCFormatError
        If the run has no events file, an annotation is not parseable (naming the
        line), there is no word, or a sound file is missing.
    """
    bids_root = check_bids_root(root)
    run = load_bids_meeg(
        bids_root,
        subject,
        task,
        session=session,
        datatype="meg",
        content="label",
        check_files=False,
        verbose=verbose,
        **options,
    )
    if run.stimuli is None:
        raise MEGMASCFormatError(
            f"recording {run.run['path']!r} has no events.tsv: MEG-MASC's word and phoneme "
            "annotations live there; download the run's *_events.tsv with it"
        )
    source = f"events file {run.run['events']!r}"
    events = _events_table(run.stimuli.table, source, bids_root, check_files)
    words = meg_masc_words(events, group=str(run.run["group"]))
    recording = continuous_recording(
        run.raw,
        picks=picks,
        l_freq=l_freq,
        h_freq=h_freq,
        sfreq=sfreq,
        stimuli=Stimuli(words),
        subject=str(run.run["subject"]),
        name=f"meg-masc {run.run['group']}",
        verbose=verbose,
    )
    return MEGMASCRun(
        recording=recording,
        words=words,
        phonemes=meg_masc_phonemes(events),
        sounds=meg_masc_sounds(events),
        events=events,
        raw=run.raw,
    )
