"""Story listening on the M/EEG clock: word features as impulses, a TRF per sensor.

The shared steps of a continuous M/EEG (or iEEG) encoding benchmark, independent of
any one dataset's layout. A :class:`StoryRun` is one recording of one story: its
samples (already band-passed and resampled to one ``sfreq``), its channels, its words
with their onsets on the recording's clock and the sound files played.

- **Features** (:func:`word_impulse_design`): each layer's word vectors are reduced to
  ``n_components`` whitened principal components (fitted on the words of every story
  once, from the features alone: the responses are never seen), then placed as
  impulses at the sample nearest each word's onset
  (:func:`~brainalign.alignment.meeg_clock.impulse_features`).
- **Score** (:func:`score_story_runs`): per subject, a
  :class:`~brainalign.alignment.trf.TemporalResponseFunction` from ``tmin`` to
  ``tmax`` seconds with a per-sensor penalty chosen by inner blocked folds
  (:func:`~brainalign.alignment.trf.cross_validated_trf`); outer folds hold out whole
  runs (leave one run out) when the subject has several, else contiguous blocks with a
  gap of the lag span. Lags never cross a run's boundary. The score is the held-out
  Pearson r per sensor, averaged over the folds.
- **Controls**, through the same lags, penalties and folds: ``word-onsets`` (1 at
  each word onset, :func:`~brainalign.alignment.meeg_clock.onset_impulses`: any
  word's evoked response) and ``sound-envelope`` (the RMS envelope of the sounds
  played, :func:`~brainalign.benchmarks.controls.sound_envelope_on_clock`).
- **Ceiling** (:func:`session_ceiling`): the same story heard in two sessions. Each
  sound's segment of the two recordings is aligned on the sound's onset, and each
  sensor's Pearson r between the sessions is its reliability; the ceiling is
  ``sqrt(reliability)``
  (:func:`~brainalign.alignment.ceiling.ceiling_from_reliability`), with no
  Spearman-Brown step because every held-out run is a single presentation. Several
  repeated stories of a subject are concatenated before the correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import ceiling_from_reliability
from brainalign.alignment.encoding import EncodingResult
from brainalign.alignment.meeg_clock import impulse_features, onset_impulses
from brainalign.alignment.metrics import pearson_columns
from brainalign.alignment.trf import TemporalResponseFunction, cross_validated_trf
from brainalign.results.schema import POSITION_COLUMNS

if TYPE_CHECKING:
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.planning.workload import Workload

__all__ = [
    "ENVELOPE_CONTROL",
    "ONSET_CONTROL",
    "StoryRun",
    "StoryTRFSettings",
    "check_runs",
    "envelope_design",
    "onset_design",
    "runs_trf",
    "score_story_runs",
    "session_ceiling",
    "story_workload",
    "whitened_components",
    "word_impulse_design",
]

#: Name of the word-onset control.
ONSET_CONTROL = "word-onsets"
#: Name of the acoustic control.
ENVELOPE_CONTROL = "sound-envelope"


@dataclass(frozen=True)
class StoryTRFSettings:
    """How word features meet a continuous M/EEG recording.

    Parameters
    ----------
    tmin, tmax : float
        First and last lag of the TRF in seconds (default -0.1 to 0.6 s: the response
        from 100 ms before a word, a baseline, to 600 ms after it).
    sfreq : float
        Sampling rate (Hz) the recordings are resampled to before the fit.
    l_freq, h_freq : float or None
        Band-pass (Hz) applied before resampling (default 0.5-30 Hz).
    n_components : int
        Whitened principal components kept of each layer's word features.
    alphas : tuple of float, optional
        Penalties the inner folds choose from per sensor; default the TRF's grid.
    n_splits : int
        Outer contiguous blocks when a subject has a single run (several runs: leave
        one run out).
    inner_splits : int
        Inner contiguous blocks (gap = lag span) choosing the penalties.
    """

    tmin: float = -0.1
    tmax: float = 0.6
    sfreq: float = 100.0
    l_freq: float | None = 0.5
    h_freq: float | None = 30.0
    n_components: int = 16
    alphas: tuple[float, ...] | None = None
    n_splits: int = 5
    inner_splits: int = 5

    def trf(self) -> TemporalResponseFunction:
        """The unfitted TRF these settings describe."""
        options: dict = {"cv": self.inner_splits}
        if self.alphas is not None:
            options["alphas"] = np.asarray(self.alphas, dtype=float)
        return TemporalResponseFunction(self.tmin, self.tmax, self.sfreq, **options)


@dataclass(frozen=True)
class StoryRun:
    """One recording of one story, resampled to the benchmark's rate.

    Parameters
    ----------
    subject, session, story : str
        Who, which session, which story (runs of one story share its words).
    data : numpy.ndarray, shape (n_samples, n_channels)
        The recording, finite.
    channels : tuple of str, shape (n_channels,)
        Channel names, the ``unit`` of the result rows.
    sfreq : float
        Samples per second of ``data``.
    words : pandas.DataFrame, shape (n_words, ...)
        ``stimulus_id``, ``text``, ``onset`` (seconds on the recording's clock) in
        story order.
    sounds : pandas.DataFrame, shape (n_sounds, ...)
        ``sound_file`` (a path) and ``onset`` (seconds on the recording's clock): when
        each sound file started to play.
    start : float
        Time of the first sample on the onsets' clock (seconds).
    positions : pandas.DataFrame, shape (n_channels, 4), optional
        ``ch_type`` (MNE's channel type) and ``x``, ``y``, ``z`` (metres) of each
        channel in ``channels``' order; copied onto the result rows so that reports can
        draw topographies.
    label : str
        How messages name the run (e.g. ``sub-01_ses-0_task-0``).
    """

    subject: str
    session: str
    story: str
    data: np.ndarray
    channels: tuple[str, ...]
    sfreq: float
    words: pd.DataFrame
    sounds: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["sound_file", "onset"])
    )
    start: float = 0.0
    positions: pd.DataFrame | None = None
    label: str = ""

    @property
    def name(self) -> str:
        """The run's label, or ``subject/session/story``."""
        return self.label or f"{self.subject}/{self.session}/{self.story}"

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.data.shape[0])


def check_runs(runs: Sequence[StoryRun], settings: StoryTRFSettings) -> None:
    """Refuse runs that cannot be scored together.

    Raises
    ------
    ValueError
        No runs; a run whose ``sfreq`` is not the settings' (both named); runs of one
        subject with different channels (the channels missing or extra named); runs of
        one story with different words; a run shorter than the lag span.
    """
    if not runs:
        raise ValueError("no runs to score: select at least one subject, session and story")
    first: dict[str, StoryRun] = {}
    stories: dict[str, StoryRun] = {}
    span = settings.tmax - settings.tmin
    for run in runs:
        if not np.isclose(run.sfreq, settings.sfreq, rtol=0, atol=1e-9):
            raise ValueError(
                f"run {run.name} is sampled at {run.sfreq:g} Hz but the features are placed "
                f"at {settings.sfreq:g} Hz: resample the recording to {settings.sfreq:g} Hz "
                "first (the sfreq option)"
            )
        if run.data.ndim != 2 or run.data.shape[1] != len(run.channels):
            raise ValueError(
                f"run {run.name}: data of shape {run.data.shape} for {len(run.channels)} "
                "channels; expected (n_samples, n_channels)"
            )
        if run.n_samples / run.sfreq <= span:
            raise ValueError(
                f"run {run.name} lasts {run.n_samples / run.sfreq:.3g} s, no longer than the "
                f"lags tmin={settings.tmin:g} to tmax={settings.tmax:g} s; narrow the lags"
            )
        other = first.setdefault(run.subject, run)
        if tuple(other.channels) != tuple(run.channels):
            missing = sorted(set(other.channels) - set(run.channels))
            extra = sorted(set(run.channels) - set(other.channels))
            raise ValueError(
                f"subject {run.subject}: run {run.name} has other channels than run "
                f"{other.name} (missing {missing[:10]}, extra {extra[:10]}"
                f"{', or another order' if not (missing or extra) else ''}); pick the same "
                "channels in every run of a subject"
            )
        told = stories.setdefault(run.story, run)
        if list(told.words["text"].astype(str)) != list(run.words["text"].astype(str)):
            raise ValueError(
                f"story {run.story!r}: runs {told.name} and {run.name} list different words; "
                "runs of one story must present the same words in the same order"
            )


def whitened_components(features: np.ndarray, n_components: int) -> np.ndarray:
    """Whitened principal components of word features: the design's reduced columns.

    Parameters
    ----------
    features : numpy.ndarray, shape (n_words, n_dims)
    n_components : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_words, k)
        ``k = min(n_components, n_words - 1, n_dims)`` components of unit variance
        (scikit-learn's ``PCA(whiten=True, svd_solver="full")``); zeros for constant
        features.

    Raises
    ------
    ValueError
        When no component can be kept (fewer than two words).
    """
    from sklearn.decomposition import PCA

    k = min(n_components, features.shape[0] - 1, features.shape[1])
    if k < 1:
        raise ValueError(
            f"{features.shape[0]} words with {features.shape[1]} feature dimensions leave no "
            "principal component to keep; score a longer story"
        )
    centred = features - features.mean(axis=0)
    if not np.any(centred):
        return np.zeros((features.shape[0], k))
    return PCA(n_components=k, whiten=True, svd_solver="full").fit_transform(features)


def word_impulse_design(
    runs: Sequence[StoryRun], features: Mapping[str, np.ndarray], n_components: int
) -> list[np.ndarray]:
    """One layer's word features as impulses on each run's samples.

    Parameters
    ----------
    runs : sequence of StoryRun
    features : mapping of str to numpy.ndarray, each shape (n_words, n_dims)
        Each story's word features in story order (``runs``' words of that story).
    n_components : int
        Whitened principal components kept (fitted on the words of all stories
        stacked, each story once).

    Returns
    -------
    list of numpy.ndarray, each shape (run.n_samples, k)
        ``k = min(n_components, n_words - 1, n_dims)``; zero where no word starts.
        Constant features give zeros.
    """
    stories = list(dict.fromkeys(run.story for run in runs))
    for story in stories:
        n_words = len(next(run for run in runs if run.story == story).words)
        if story not in features or np.asarray(features[story]).shape[0] != n_words:
            got = None if story not in features else np.asarray(features[story]).shape
            raise ValueError(
                f"story {story!r} has {n_words} words but its features have shape {got}"
            )
    stacked = np.concatenate([np.asarray(features[s], dtype=np.float64) for s in stories])
    reduced = whitened_components(stacked, n_components)
    bounds = np.cumsum([0] + [np.asarray(features[s]).shape[0] for s in stories])
    by_story = {s: reduced[bounds[i] : bounds[i + 1]] for i, s in enumerate(stories)}
    return [
        impulse_features(
            run.words["onset"].to_numpy(dtype=float),
            by_story[run.story],
            sfreq=run.sfreq,
            n_samples=run.n_samples,
            start=run.start,
        )
        for run in runs
    ]


def onset_design(runs: Sequence[StoryRun]) -> list[np.ndarray]:
    """The word-onset control: 1 at the sample nearest each word onset, (n_samples, 1)."""
    return [
        onset_impulses(
            run.words["onset"].to_numpy(dtype=float),
            sfreq=run.sfreq,
            n_samples=run.n_samples,
            start=run.start,
        )
        for run in runs
    ]


def _read_mono(path: str) -> tuple[np.ndarray, float]:
    import soundfile as sf

    try:
        samples, rate = sf.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, OSError) as error:  # soundfile.LibsndfileError is a RuntimeError
        raise ValueError(f"sound file {path!r} could not be read: {error}") from None
    return samples.mean(axis=1), float(rate)


def envelope_design(runs: Sequence[StoryRun]) -> list[np.ndarray]:
    """The acoustic control: each run's sounds' RMS envelopes on its samples, summed.

    Returns
    -------
    list of numpy.ndarray, each shape (run.n_samples, 1)

    Raises
    ------
    ValueError
        A run without sounds, or a sound file that cannot be read (named).
    """
    from brainalign.benchmarks.controls import sound_envelope_on_clock

    cache: dict[str, tuple[np.ndarray, float]] = {}
    designs = []
    for run in runs:
        if run.sounds.empty:
            raise ValueError(f"run {run.name} names no sound file: no sound-envelope control")
        envelope = np.zeros(run.n_samples)
        for sound, onset in zip(run.sounds["sound_file"], run.sounds["onset"], strict=True):
            if str(sound) not in cache:
                cache[str(sound)] = _read_mono(str(sound))
            samples, rate = cache[str(sound)]
            envelope += sound_envelope_on_clock(
                samples,
                rate,
                onset=float(onset),
                sfreq=run.sfreq,
                n_samples=run.n_samples,
                start=run.start,
            )
        designs.append(envelope[:, None])
    return designs


def runs_trf(
    X: np.ndarray, y: np.ndarray, run_lengths: Sequence[int], settings: StoryTRFSettings
) -> EncodingResult:
    """Held-out TRF scores of consecutive runs: whole runs held out (leave one run out),
    or contiguous blocks with a gap of the lag span for a single run; lags never cross a
    run (:func:`~brainalign.alignment.trf.cross_validated_trf`).

    Parameters
    ----------
    X : numpy.ndarray, shape (n_samples, n_features)
    y : numpy.ndarray, shape (n_samples, n_targets)
    run_lengths : sequence of int
        Samples of each run, in order; they sum to ``n_samples``.
    settings : StoryTRFSettings

    Returns
    -------
    EncodingResult
    """
    groups = np.repeat(np.arange(len(run_lengths)), run_lengths)
    cv: int | object = settings.n_splits
    if len(run_lengths) > 1:
        from sklearn.model_selection import LeaveOneGroupOut

        cv = LeaveOneGroupOut()
    return cross_validated_trf(X, y, settings.trf(), groups=groups, cv=cv)


def score_story_runs(
    runs: Sequence[StoryRun], designs: Sequence[np.ndarray], settings: StoryTRFSettings
) -> pd.DataFrame:
    """Held-out TRF scores of every subject's sensors from one design per run.

    Parameters
    ----------
    runs : sequence of StoryRun
    designs : sequence of numpy.ndarray, each shape (run.n_samples, n_features)
        One per run (:func:`word_impulse_design`, :func:`onset_design`, ...).
    settings : StoryTRFSettings

    Returns
    -------
    pandas.DataFrame
        One row per (subject, channel): ``subject``, ``unit`` (the channel),
        ``score`` (held-out Pearson r, mean over folds), ``n_runs``, and the
        channel's ``ch_type``, ``x``, ``y``, ``z`` when the runs have positions.
    """
    frames = []
    for subject in dict.fromkeys(run.subject for run in runs):
        mine = [i for i, run in enumerate(runs) if run.subject == subject]
        X = np.concatenate([designs[i] for i in mine])
        y = np.concatenate([np.asarray(runs[i].data, dtype=np.float64) for i in mine])
        result = runs_trf(X, y, [runs[i].n_samples for i in mine], settings)
        first = runs[mine[0]]
        rows = pd.DataFrame(
            {
                "subject": subject,
                "unit": list(first.channels),
                "score": result.scores,
                "n_runs": len(mine),
            }
        )
        if first.positions is not None:
            positions = first.positions[list(POSITION_COLUMNS)].reset_index(drop=True)
            rows = pd.concat([rows, positions], axis=1)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def _sound_segments(a: StoryRun, b: StoryRun) -> list[tuple[int, int, int]]:
    """(start in a, start in b, length) in samples of each sound both runs played."""
    import soundfile as sf

    onsets_b = dict(zip(b.sounds["sound_file"].astype(str), b.sounds["onset"], strict=True))
    segments = []
    for sound, onset_a in zip(a.sounds["sound_file"].astype(str), a.sounds["onset"], strict=True):
        if sound not in onsets_b:
            continue
        length = int(np.floor(sf.info(sound).duration * a.sfreq))
        i = int(round((float(onset_a) - a.start) * a.sfreq))
        j = int(round((float(onsets_b[sound]) - b.start) * b.sfreq))
        n = min(length, a.n_samples - i, b.n_samples - j)
        if i >= 0 and j >= 0 and n > 1:
            segments.append((i, j, n))
    return segments


def story_workload(
    runs: Sequence[StoryRun], settings: RunSettings, trf: StoryTRFSettings, *, n_controls: int
) -> Workload:
    """The workload of story runs on the M/EEG clock: each story's words read once per
    variant, then per layer a TRF per subject on ``n_components`` whitened components at
    every lag, and ``n_controls`` one-column controls through the same TRF.

    Parameters
    ----------
    runs : sequence of StoryRun
    settings : RunSettings
    trf : StoryTRFSettings
    n_controls : int
        One-column control designs (word onsets, sound envelope).
    """
    from brainalign.planning.workload import Fit, Width, Workload, text_set

    stories: dict[str, list[str]] = {}
    for run in runs:
        stories.setdefault(run.story, run.words["text"].astype(str).tolist())
    samples: dict[str, list[int]] = {}
    for run in runs:
        samples.setdefault(run.subject, []).append(run.n_samples)
    largest = max(samples.values(), key=sum)
    fit = {
        "n_samples": sum(largest),
        "n_targets": max(len(run.channels) for run in runs),
        "repeats": len(samples),
        "n_delays": int(round(trf.tmax * trf.sfreq)) - int(round(trf.tmin * trf.sfreq)) + 1,
        "n_splits": len(largest) if len(largest) > 1 else trf.n_splits,
        "inner_splits": trf.inner_splits,
        "n_alphas": None if trf.alphas is None else len(trf.alphas),
    }
    fits = [Fit("trf", width=Width("fixed", trf.n_components), **fit)]
    fits += [Fit("trf", width=Width("fixed", 1), over="once", **fit)] * n_controls
    texts = [text_set(words, "window", settings, f"{story}: {len(words)} words")
             for story, words in stories.items()]  # fmt: skip
    return Workload(
        stimuli=tuple(texts),
        fits=tuple(fits),
        data_bytes=sum(int(np.asarray(run.data).nbytes) for run in runs),
    )


def session_ceiling(runs: Sequence[StoryRun]) -> pd.DataFrame:
    """Each sensor's ceiling from the same stories heard in two sessions.

    For every subject, the stories recorded in two or more sessions (the first two
    sessions in order are used): the samples of every sound both runs played, aligned
    on the sound's onset, are concatenated over the stories; each channel's Pearson r
    between the two sessions is its reliability, and the ceiling is its square root
    (:func:`~brainalign.alignment.ceiling.ceiling_from_reliability`; NaN where r < 0).

    Returns
    -------
    pandas.DataFrame
        ``subject``, ``unit``, ``reliability``, ``ceiling`` and ``ceiling_stories`` (the
        number of repeated stories); a subject without a repeated story gets NaN.
    """
    frames = []
    for subject in dict.fromkeys(run.subject for run in runs):
        mine = [run for run in runs if run.subject == subject]
        halves: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        n_stories = 0
        for story in dict.fromkeys(run.story for run in mine):
            sessions = {}
            for run in mine:
                if run.story == story:
                    sessions.setdefault(run.session, run)
            if len(sessions) < 2:
                continue
            a, b = list(sessions.values())[:2]
            segments = _sound_segments(a, b)
            if segments:
                n_stories += 1
            for i, j, n in segments:
                halves[0].append(np.asarray(a.data[i : i + n], dtype=np.float64))
                halves[1].append(np.asarray(b.data[j : j + n], dtype=np.float64))
        channels = list(mine[0].channels)
        reliability = np.full(len(channels), np.nan)
        if n_stories:
            reliability = pearson_columns(np.concatenate(halves[0]), np.concatenate(halves[1]))
        frames.append(
            pd.DataFrame(
                {
                    "subject": subject,
                    "unit": channels,
                    "reliability": reliability,
                    "ceiling": ceiling_from_reliability(reliability),
                    "ceiling_stories": n_stories,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
