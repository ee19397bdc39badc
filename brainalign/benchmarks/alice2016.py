"""``alice2016-encoding``: a language model's layers against six language ROIs.

Data: the bundled Brennan et al. (2016) recording (27 listeners of *Alice in
Wonderland* ch. 1, six left/right language ROIs, 362 volumes at TR 2 s).

Model side: every word of the story read with preceding context only
(:meth:`~brainalign.encoders.text.TextEncoder.encode_words`: causal windows for causal
models, the preceding ``context_words`` words for bidirectional ones), last-token
pooling, every hidden state; word features Lanczos-resampled to the volume onsets
(:func:`~brainalign.benchmarks.continuous.features_to_volumes`).

Score: held-out Pearson r per subject and ROI of FIR-delayed (1-4 volumes) ridge in 5
contiguous blocks with a gap (:func:`~brainalign.benchmarks.continuous.score_design`).

Controls, scored exactly as the model is (the same delays, blocked folds, ridge and
metric):

- the untrained twin: the same architecture with seeded random weights;
- ``word-rate+sound-power``: the authors' regressors (already convolved with an HRF, so
  a zero delay is added to their FIR delays);
- ``position``: each word's index in the story as
  :func:`~brainalign.benchmarks.controls.position_features`, Lanczos-resampled to the
  volumes like the model's features.

Ceiling: the leave-one-subject-out inter-subject correlation per subject and ROI, every
subject's time course z-scored before the others are averaged
(:func:`~brainalign.benchmarks.continuous.noise_ceiling`); none (NaN) when ``subjects``
selects a single subject.

Options: ``radius_mm`` (6 or 10: the ROI spheres) and ``subjects`` (a subset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.benchmark import ModelScores
from brainalign.benchmarks.continuous import (
    EncodingSettings,
    noise_ceiling,
    score_design,
    score_regressors,
    score_timed_features,
    story_word_features,
)
from brainalign.benchmarks.controls import position_features
from brainalign.datasets.catalogue import load

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.recording import Recording
    from brainalign.planning.workload import Workload

__all__ = [
    "NUISANCE_CONTROL",
    "NUISANCE_REGRESSORS",
    "POSITION_CONTROL",
    "AliceTask",
    "prepare",
    "score_position_control",
]

#: The dataset's own regressors used as a control.
NUISANCE_REGRESSORS = ["word_rate", "sound_power"]
#: Name of the regressors' control.
NUISANCE_CONTROL = "word-rate+sound-power"
#: Name of the position-only control.
POSITION_CONTROL = "position"


def score_position_control(
    recording: Recording, words: pd.DataFrame, settings: EncodingSettings
) -> pd.DataFrame:
    """Score the position-only control: each word's index in the story, nothing else.

    :func:`~brainalign.benchmarks.controls.position_features` of the word index (the
    words in story order form one group), Lanczos-resampled from the word onsets to the
    volumes like the model's features, then the model's pipeline (FIR delays, ridge,
    contiguous folds) via :func:`~brainalign.benchmarks.continuous.score_design`.

    Parameters
    ----------
    recording : Recording
        Continuous recording, (n_volumes, n_units).
    words : pandas.DataFrame, shape (n_words, ...)
        The story's words in order, with ``onset`` in seconds.
    settings : EncodingSettings

    Returns
    -------
    pandas.DataFrame
        One row per unit, ``layer`` missing.
    """
    onsets = words["onset"].to_numpy(dtype=float)
    features = position_features(np.zeros(len(onsets), dtype=int), np.arange(len(onsets)))
    design = lanczos_resample(
        features, onsets, recording.sample_times, window=settings.lanczos_window
    )
    return score_design(recording, {"0": design}, settings, layered=False)


@dataclass
class AliceTask:
    """The alice2016 recording prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    recording: Recording
    encoding: EncodingSettings

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's word features, resampled and scored against every ROI."""
        words = self.recording.stimuli.table
        features = story_word_features(self.benchmark, self.settings, words, weights)
        return score_timed_features(self.recording, features, self.encoding)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The authors' regressors and the position control, through the same pipeline."""
        return {
            NUISANCE_CONTROL: score_regressors(self.recording, NUISANCE_REGRESSORS, self.encoding),
            POSITION_CONTROL: score_position_control(
                self.recording, self.recording.stimuli.table, self.encoding
            ),
        }

    def ceiling(self) -> pd.DataFrame | None:
        """The z-scored leave-one-subject-out ISC of every subject and ROI; none (NaN,
        flag ``none``) when a single subject is scored: there is no other to compare."""
        if len(self.recording.subjects) < 2:
            return None
        return noise_ceiling(self.recording)

    def workload(self) -> Workload:
        """The story's words (:func:`~brainalign.benchmarks.continuous.story_workload`)."""
        from brainalign.benchmarks.continuous import story_workload
        from brainalign.benchmarks.controls import position_feature_names

        regressors = {
            "n_regressors": len(NUISANCE_REGRESSORS),
            "n_subjects": len(self.recording.subjects),
            "position_width": len(position_feature_names()),
        }
        return story_workload(self.recording, self.settings, self.encoding, **regressors)


def prepare(benchmark: Benchmark, settings: RunSettings) -> AliceTask:
    """Load alice2016 for a run (options ``radius_mm`` and ``subjects``).

    Returns
    -------
    AliceTask
        Rows: one per (layer, subject, ROI), the ROI in ``unit``.

    Raises
    ------
    ValueError
        For a radius other than 6 or 10 or unknown subjects (named by the loader).
    """
    options = settings.options
    subjects = options.get("subjects")
    if isinstance(subjects, str):
        subjects = [subjects]
    recording = load(
        benchmark.dataset,
        radius_mm=options.get("radius_mm", 6),
        subjects=None if subjects is None else list(subjects),
    )
    return AliceTask(benchmark, settings, recording, EncodingSettings())
