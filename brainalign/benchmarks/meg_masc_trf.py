"""``meg-masc-trf``: a language model's word features against every MEG sensor, in time.

Data: MEG-MASC (Gwilliams et al. 2023): 208-channel KIT MEG of people listening to four
stories, each in two sessions, in BIDS (read by
:func:`~brainalign.datasets.meg_masc.load_meg_masc`: the ``.con`` recording, its word
annotations and the stories' audio). The dataset is not downloaded by brainalign (its
OSF files carry no published checksum): pass the folder with ``--option root=PATH``.
Each run is band-passed (``l_freq``-``h_freq``, default 0.5-30 Hz) and resampled to
``sfreq`` (default 100 Hz).

Model side: every word of a story read with preceding context only
(:meth:`~brainalign.encoders.text.TextEncoder.encode_words`), every hidden state; the
words of a story are read once for all its runs.

Score, controls and ceiling: :mod:`brainalign.benchmarks.story_trf`: each layer's
features reduced to ``n_components`` whitened principal components and placed as
impulses at the word onsets; a TRF from ``tmin`` to ``tmax`` (default -0.1 to 0.6 s)
per sensor, penalties chosen by inner blocked folds, outer folds leaving one run out;
held-out Pearson r per (subject, sensor). Controls ``word-onsets`` and
``sound-envelope`` and the untrained twin go through the same path. The ceiling is the
square root of each sensor's reliability between the two sessions of the same stories.

Options: ``root`` (required), ``subjects``, ``sessions``, ``tasks`` (subsets; default
every run found), ``sfreq``, ``l_freq``, ``h_freq``, ``tmin``, ``tmax``,
``n_components``, ``alphas``.

Memory: the selected runs are kept in memory as float32 (about 300 MB per subject of
MEG-MASC at 100 Hz); select subjects to score fewer at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.settings import SettingsError
from brainalign.benchmarks.story_trf import (
    ENVELOPE_CONTROL,
    ONSET_CONTROL,
    StoryRun,
    StoryTRFSettings,
    check_runs,
    envelope_design,
    onset_design,
    score_story_runs,
    session_ceiling,
    word_impulse_design,
)
from brainalign.results.schema import POSITION_COLUMNS

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.meg_masc import MEGMASCRun
    from brainalign.encoders.features import Features
    from brainalign.planning.workload import Workload

__all__ = ["MEGMASCTRFTask", "find_runs", "prepare", "story_run"]

#: A MEG-MASC recording's file name: subject, session and task entities.
_RUN_FILE = re.compile(r"^sub-([^_]+)_ses-([^_]+)_task-([^_]+)_meg\.(con|sqd|fif)$")
#: Options that set a :class:`StoryTRFSettings` field, and their types.
_NUMERIC = {"sfreq": float, "l_freq": float, "h_freq": float, "tmin": float, "tmax": float}


def find_runs(root: Path) -> list[tuple[str, str, str]]:
    """Every (subject, session, task) with a recording under a MEG-MASC BIDS root.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder or holds no ``sub-*/ses-*/meg/*_meg.con`` run.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"MEG-MASC root {str(root)!r} is not a folder")
    found = set()
    for path in root.glob("sub-*/ses-*/meg/*_meg.*"):
        match = _RUN_FILE.match(path.name)
        if match:
            found.add(match.groups()[:3])
    if not found:
        raise FileNotFoundError(
            f"no MEG-MASC run under {str(root)!r}: expected sub-XX/ses-S/meg/"
            "sub-XX_ses-S_task-T_meg.con files (the dataset's BIDS layout)"
        )
    return sorted(found)


def story_run(run: MEGMASCRun, label: str) -> StoryRun:
    """A loaded MEG-MASC run as a :class:`~brainalign.benchmarks.story_trf.StoryRun`.

    Raises
    ------
    ValueError
        If the run's words belong to more than one story.
    """
    stories = run.words["story"].astype(str).unique()
    if len(stories) != 1:
        raise ValueError(
            f"run {label} holds words of {len(stories)} stories {list(stories)}; a run is one story"
        )
    recording = run.recording
    entities = dict(part.split("-", 1) for part in label.split("_"))
    return StoryRun(
        subject=entities["sub"],
        session=entities["ses"],
        story=str(stories[0]),
        data=np.asarray(recording.data, dtype=np.float32),
        channels=tuple(recording.units["channel"].astype(str)),
        sfreq=float(recording.sfreq),
        words=run.words[["stimulus_id", "text", "onset"]].reset_index(drop=True),
        sounds=run.sounds[["sound_file", "onset"]].reset_index(drop=True),
        start=float(recording.sample_times[0]),
        positions=recording.units[list(POSITION_COLUMNS)].reset_index(drop=True),
        label=label,
    )


@dataclass
class MEGMASCTRFTask:
    """MEG-MASC runs prepared for one model's run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    runs: list[StoryRun]
    trf: StoryTRFSettings

    def _story_features(self, weights: str) -> dict[str, Features]:
        from brainalign.benchmarks.continuous import story_word_features

        features = {}
        for run in self.runs:
            if run.story not in features:
                features[run.story] = story_word_features(
                    self.benchmark, self.settings, run.words, weights
                )
        return features

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's word features as impulses, a TRF per sensor of every subject."""
        features = self._story_features(weights)
        layers = [name for name in next(iter(features.values())).layers if name.isdigit()]
        frames = []
        n_dims = None
        for layer in layers:
            designs = word_impulse_design(
                self.runs,
                {story: f.layers[layer] for story, f in features.items()},
                self.trf.n_components,
            )
            n_dims = designs[0].shape[1]
            rows = score_story_runs(self.runs, designs, self.trf)
            rows.insert(0, "layer", pd.array([int(layer)] * len(rows), dtype="Int64"))
            frames.append(rows)
        constant = set.intersection(*(set(constant_feature_sets(f)) for f in features.values()))
        return ModelScores(pd.concat(frames, ignore_index=True), n_dims, sorted(constant))

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """Word onsets and the sounds' envelope, through the model's TRF and folds."""
        controls = {}
        for name, designs in (
            (ONSET_CONTROL, onset_design(self.runs)),
            (ENVELOPE_CONTROL, envelope_design(self.runs)),
        ):
            rows = score_story_runs(self.runs, designs, self.trf)
            rows.insert(0, "layer", pd.array([pd.NA] * len(rows), dtype="Int64"))
            controls[name] = rows
        return controls

    def ceiling(self) -> pd.DataFrame:
        """The square root of each sensor's reliability across the two sessions."""
        return session_ceiling(self.runs)

    def workload(self) -> Workload:
        """Each story's words (:func:`~brainalign.benchmarks.story_trf.story_workload`)."""
        from brainalign.benchmarks.story_trf import story_workload

        return story_workload(self.runs, self.settings, self.trf, n_controls=2)


def _selection(options: dict, name: str, have: list[str], root: Path) -> list[str] | None:
    """The labels an option selects among those found; a number matches a zero-padded
    label (``subjects=[1, 2]``, as YAML reads ``[01, 02]``, selects ``01`` and ``02``)."""
    value = options.get(name)
    if value is None:
        return None
    values = value if isinstance(value, list | tuple) else [value]
    by_number = {int(label): label for label in have if label.isdigit()}
    chosen, missing = [], []
    for v in values:
        label = str(v)
        if label not in have and isinstance(v, int) and not isinstance(v, bool):
            label = by_number.get(v, label)
        (chosen if label in have else missing).append(label)
    if missing:
        raise SettingsError(
            f"meg-masc-trf: option {name}={values}: {missing} not found under {str(root)!r} "
            f"(found {have})"
        )
    return chosen


def _alphas(benchmark: Benchmark, value: Any) -> tuple[float, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    try:
        alphas = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        alphas = ()
    if not alphas or not all(np.isfinite(a) and a > 0 for a in alphas):
        raise SettingsError(
            f"{benchmark.versioned_id}: option alphas={value!r} must be positive numbers, "
            "e.g. [1, 100, 10000]"
        )
    return alphas


def _trf_settings(benchmark: Benchmark, options: dict) -> StoryTRFSettings:
    values: dict[str, Any] = {}
    for name, kind in _NUMERIC.items():
        if name in options:
            value = options[name]
            if value is None and name in ("l_freq", "h_freq"):
                values[name] = None
                continue
            try:
                values[name] = kind(value)
            except (TypeError, ValueError):
                raise SettingsError(
                    f"{benchmark.versioned_id}: option {name}={value!r} must be a number"
                ) from None
    if "n_components" in options:
        value = options["n_components"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SettingsError(
                f"{benchmark.versioned_id}: option n_components={value!r} must be a "
                "positive integer"
            )
        values["n_components"] = value
    if "alphas" in options:
        values["alphas"] = _alphas(benchmark, options["alphas"])
    settings = StoryTRFSettings(**values)
    if not settings.sfreq > 0 or not settings.tmin < settings.tmax:
        raise SettingsError(
            f"{benchmark.versioned_id}: sfreq={settings.sfreq:g} must be positive and "
            f"tmin={settings.tmin:g} below tmax={settings.tmax:g}"
        )
    return settings


def _load_runs(root: Path, options: dict, trf: StoryTRFSettings) -> list[StoryRun]:
    from brainalign.datasets.meg_masc import load_meg_masc

    found = find_runs(root)
    chosen = {}
    for index, name in enumerate(("subjects", "sessions", "tasks")):
        have = sorted({run[index] for run in found})
        chosen[name] = _selection(options, name, have, root)
    runs = []
    for subject, session, task in found:
        selected = zip(("subjects", "sessions", "tasks"), (subject, session, task), strict=True)
        if any(chosen[n] is not None and v not in chosen[n] for n, v in selected):
            continue
        loaded = load_meg_masc(
            root, subject, task, session, sfreq=trf.sfreq, l_freq=trf.l_freq, h_freq=trf.h_freq
        )
        original = float(loaded.raw.info["sfreq"])
        if trf.sfreq > original:
            raise SettingsError(
                f"meg-masc-trf: option sfreq={trf.sfreq:g} Hz is above the recording's "
                f"{original:g} Hz (sub-{subject} ses-{session} task-{task}); choose "
                f"sfreq <= {original:g}"
            )
        runs.append(story_run(loaded, f"sub-{subject}_ses-{session}_task-{task}"))
    if not runs:
        raise SettingsError(f"meg-masc-trf: no run of {str(root)!r} matches {chosen}")
    return runs


def prepare(benchmark: Benchmark, settings: RunSettings) -> MEGMASCTRFTask:
    """Load the selected MEG-MASC runs for a run (options: module documentation).

    Raises
    ------
    SettingsError
        Without ``root``, for malformed numbers, a selection naming runs that do not
        exist, or ``sfreq`` above the recording's rate.
    ValueError
        Runs that cannot be scored together
        (:func:`~brainalign.benchmarks.story_trf.check_runs`).
    """
    options = dict(settings.options)
    if options.get("root") is None:
        raise SettingsError(
            f"{benchmark.versioned_id} needs the option root (--option root=PATH): "
            f"{benchmark.options['root']}"
        )
    trf = _trf_settings(benchmark, options)
    runs = _load_runs(Path(str(options["root"])).expanduser(), options, trf)
    check_runs(runs, trf)
    return MEGMASCTRFTask(benchmark, settings, runs, trf)
