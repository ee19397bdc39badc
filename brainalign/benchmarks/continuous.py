"""Encoding studies on continuous recordings (naturalistic fMRI): the shared steps.

Word-level (or audio-frame-level) model features are Lanczos-resampled to the volume
clock, delayed with an FIR basis, and mapped to every unit by ridge regression with
per-unit alphas, scored by held-out Pearson r in contiguous cross-validation blocks (see
:func:`brainalign.alignment.encoding.cross_validated_encoding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import leave_one_out_isc
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.units import restrict_run_features
from brainalign.datasets.recording import Recording
from brainalign.encoders.features import Features

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark, ModelScores
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.planning.workload import Workload


@dataclass(frozen=True)
class EncodingSettings:
    """How features are mapped onto a continuous recording.

    Parameters
    ----------
    delays : tuple of int
        FIR delays in volumes (default 1-4 volumes, 2-8 s at TR = 2 s).
    n_splits : int
        Outer cross-validation folds: contiguous blocks of time, never shuffled.
    gap : int, optional
        Volumes dropped from training on each side of a held-out block; defaults to
        ``max(delays)`` so delayed copies of held-out stimuli never enter training.
    inner_splits : int
        Inner folds (contiguous blocks, same gap) that choose each unit's alpha.
    alphas : tuple of float, optional
        Log-spaced ridge grid; the encoding function's default when omitted.
    lanczos_window : int
        Lobes of the Lanczos kernel used to resample word features to volumes.
    """

    delays: tuple[int, ...] = (1, 2, 3, 4)
    n_splits: int = 5
    gap: int | None = None
    inner_splits: int = 5
    alphas: tuple[float, ...] | None = None
    lanczos_window: int = 3
    extra: dict = field(default_factory=dict)

    def encoding_options(self, delays: tuple[int, ...] | None = None) -> dict:
        """Keyword arguments for :func:`cross_validated_encoding`."""
        options = {
            "delays": tuple(delays if delays is not None else self.delays),
            "n_splits": self.n_splits,
            "gap": self.gap if self.gap is not None else max(self.delays),
            "inner_splits": self.inner_splits,
        }
        if self.alphas is not None:
            options["alphas"] = np.asarray(self.alphas, dtype=float)
        return options


def story_word_features(
    benchmark: Benchmark,
    settings: RunSettings,
    words: pd.DataFrame,
    weights: str,
    *,
    instruction: str | None = None,
    instruction_format: str = "plain",
) -> Features:
    """Every layer's features of each word of a story, read with its preceding words.

    A causal model reads every preceding word; a bidirectional one a window of
    ``settings.context_words`` (:meth:`~brainalign.encoders.text.TextEncoder.
    encode_words`). With the run's store, a complete entry is read back and a missing
    one is streamed into it.

    Parameters
    ----------
    benchmark : Benchmark
        Its batch size and name (for progress bars).
    settings : RunSettings
    words : pandas.DataFrame, shape (n_words, ...)
        ``stimulus_id``, ``text``, ``onset`` (seconds) and optionally ``space_before``.
    weights : {"pretrained", "untrained"}
    instruction, instruction_format
        A task instruction read before every window, and how
        (:class:`~brainalign.encoders.text.TextEncoder`); never pooled, part of the key.

    Returns
    -------
    Features
        (n_words, n_dims) per layer, with the words' onsets.
    """
    from brainalign.encoders.text import TextEncoder

    window = {} if settings.context_words is None else {"context_words": settings.context_words}
    window.update(settings.text_instruction())  # a run's instruction (registered benchmarks)
    if instruction is not None:  # a study's own
        window.update(instruction=instruction, instruction_format=instruction_format)
    encoder = TextEncoder(
        settings.model,
        **settings.model_options(benchmark, weights),
        **window,
    )
    options: dict = {
        "layers": settings.layers,
        "stimulus_ids": words["stimulus_id"].astype(str).to_numpy(),
        "onsets": words["onset"].to_numpy(dtype=float),
    }
    if "space_before" in words.columns:
        options["space_before"] = words["space_before"].to_numpy(dtype=bool)
    texts = words["text"].astype(str).tolist()
    features = encoder.encode_words(texts, **options, store=settings.feature_store())
    return restrict_run_features(features, settings, weights)


def features_to_volumes(
    features: Features, sample_times: np.ndarray, window: int = 3
) -> dict[str, np.ndarray]:
    """Lanczos-resample word-level features onto volume times.

    Parameters
    ----------
    features : Features
        Word-level features with ``onsets`` (seconds on the recording's clock).
    sample_times : numpy.ndarray, shape (n_volumes,)
        Volume onsets in seconds (``Recording.sample_times``).
    window : int
        Number of Lanczos lobes.

    Returns
    -------
    dict of str to numpy.ndarray, each shape (n_volumes, n_dims)
    """
    if features.onsets is None:
        raise ValueError("features have no word onsets; extract them with onsets=... to resample")
    return {
        name: lanczos_resample(
            np.asarray(array, dtype=np.float64), features.onsets, sample_times, window=window
        )
        for name, array in features.layers.items()
    }


def unit_labels(recording: Recording) -> np.ndarray:
    """What the ``unit`` column holds for a recording's units: the ROI, else the voxel.

    Returns
    -------
    numpy.ndarray, shape (n_units,)
        ``units["roi"]`` when the recording has ROIs (alice2016), else ``units["voxel"]``
        (voxel-wise recordings such as lebel2023).

    Raises
    ------
    ValueError
        When the units have neither column.
    """
    for column in ("roi", "voxel"):
        if column in recording.units.columns:
            return recording.units[column].to_numpy()
    raise ValueError(
        f"the recording's units have no 'roi' or 'voxel' column (columns: "
        f"{list(recording.units.columns)}); one of them names each unit in the results"
    )


def _rows(recording: Recording, scores: np.ndarray, layer: object) -> pd.DataFrame:
    """One row per unit: ``layer, subject, unit`` (:func:`unit_labels`), ``score``."""
    return pd.DataFrame(
        {
            "layer": pd.array([layer] * len(scores), dtype="Int64"),
            "subject": recording.units["subject"].to_numpy(),
            "unit": unit_labels(recording),
            "score": scores,
        }
    )


def score_design(
    recording: Recording,
    design: Mapping[str, np.ndarray],
    settings: EncodingSettings,
    *,
    layered: bool = True,
) -> pd.DataFrame:
    """Score each layer's design matrix against every unit of ``recording``.

    Parameters
    ----------
    recording : Recording
        Continuous recording, (n_volumes, n_units).
    design : mapping of str to numpy.ndarray, each shape (n_volumes, n_features)
        One design matrix per layer (layer names are integer strings).
    settings : EncodingSettings
    layered : bool, default True
        False for a layer-free design (a control): ``layer`` is missing.

    Returns
    -------
    pandas.DataFrame
        One row per (layer, unit) with ``layer, subject, unit, score`` (held-out r).
    """
    frames = []
    for layer, X in design.items():
        result = cross_validated_encoding(
            X, recording.data, sampling="continuous", **settings.encoding_options()
        )
        frames.append(_rows(recording, result.scores, int(layer) if layered else pd.NA))
    return pd.concat(frames, ignore_index=True)


def score_timed_features(
    recording: Recording, features: Features, settings: EncodingSettings
) -> ModelScores:
    """A model's scores from time-stamped features (words or audio frames): every layer
    Lanczos-resampled to the volumes (:func:`features_to_volumes`), then
    :func:`score_design`.

    Returns
    -------
    ModelScores
        The rows, the width of the last layer and the layers whose features were
        constant (:func:`~brainalign.benchmarks.benchmark.constant_feature_sets`).
    """
    from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets

    design = features_to_volumes(features, recording.sample_times, settings.lanczos_window)
    n_dims = next(reversed(design.values())).shape[1]
    rows = score_design(recording, design, settings)
    return ModelScores(rows, n_dims, constant=constant_feature_sets(features))


def score_regressors(
    recording: Recording, names: list[str], settings: EncodingSettings
) -> pd.DataFrame:
    """Score the recording's own per-subject regressors through the same pipeline.

    The regressors of the bundled datasets are already convolved with an HRF, so a
    zero delay is added to the FIR delays (a control should not be handicapped).

    Returns
    -------
    pandas.DataFrame
        One row per unit, ``layer`` missing.
    """
    delays = tuple(sorted({0, *settings.delays}))
    frames = []
    for subject in recording.subjects:
        subset = recording.select(subject=subject)
        regressors = subset.regressor_matrix(subject, names)
        result = cross_validated_encoding(
            regressors, subset.data, sampling="continuous", **settings.encoding_options(delays)
        )
        frames.append(_rows(subset, result.scores, pd.NA))
    return pd.concat(frames, ignore_index=True)


def story_workload(
    recording: Recording,
    settings: RunSettings,
    encoding: EncodingSettings,
    *,
    n_regressors: int = 0,
    n_subjects: int = 1,
    position_width: int = 0,
) -> Workload:
    """The workload of a story benchmark: the recording's words read by the text encoder
    (causal windows, or preceding-word windows), a delayed ridge per layer onto every
    unit, and the controls (per-subject regressors, a position design) on the same fits.

    Parameters
    ----------
    recording : Recording
        Continuous, (n_volumes, n_units), its words in ``stimuli``.
    settings : RunSettings
    encoding : EncodingSettings
    n_regressors, n_subjects : int
        Columns of the recording's own regressors, fitted once per subject (0: none).
    position_width : int
        Columns of a position control (0: none).
    """
    from brainalign.planning.workload import Fit, Width, Workload, feature_set_fits, text_set

    words = recording.stimuli.table["text"].astype(str).tolist()
    options = {
        "n_delays": len(encoding.delays),
        "n_splits": encoding.n_splits,
        "inner_splits": encoding.inner_splits,
        "n_alphas": None if encoding.alphas is None else len(encoding.alphas),
    }
    shape = {"n_samples": recording.n_samples, "n_targets": recording.n_units}
    fits = list(feature_set_fits(settings, "ridge", **shape, **options))
    per_subject = {**shape, "n_targets": max(1, recording.n_units // max(n_subjects, 1))}
    if n_regressors:
        fits.append(
            Fit(
                "ridge",
                **per_subject,
                width=Width("fixed", n_regressors),
                over="once",
                repeats=n_subjects,
                **{**options, "n_delays": options["n_delays"] + 1},
            )
        )
    if position_width:
        fits.append(Fit("ridge", **shape, width=Width("fixed", position_width), over="once",
                        **options))  # fmt: skip
    return Workload(
        stimuli=(text_set(words, "window", settings, f"{len(words)} words"),),
        fits=tuple(fits),
        data_bytes=int(recording.data.nbytes),
    )


def noise_ceiling(recording: Recording) -> pd.DataFrame:
    """Leave-one-subject-out inter-subject correlation of every (subject, ROI).

    Each subject's time course is correlated with the mean of the other subjects'
    z-scored time courses in the same ROI
    (:func:`~brainalign.alignment.ceiling.leave_one_out_isc`; within each run when the
    samples have a ``run`` column): how well the shared, stimulus-driven signal predicts
    one subject, an upper bound on what any stimulus model can reach.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, unit`` (the ROI), ``ceiling``.
    """
    subjects = recording.subjects
    if len(subjects) < 2:
        raise ValueError("the noise ceiling needs at least two subjects")
    rois = list(dict.fromkeys(recording.units["roi"]))
    stacked = np.empty((len(subjects), recording.n_samples, len(rois)))
    for i, subject in enumerate(subjects):
        for j, roi in enumerate(rois):
            column = np.flatnonzero(
                (recording.units["subject"] == subject).to_numpy()
                & (recording.units["roi"] == roi).to_numpy()
            )
            if len(column) != 1:
                raise ValueError(f"subject {subject!r} has {len(column)} units for ROI {roi!r}")
            stacked[i, :, j] = recording.data[:, column[0]]
    runs = recording.samples["run"].to_numpy() if "run" in recording.samples else None
    isc = leave_one_out_isc(stacked, runs=runs)
    return pd.DataFrame(
        {
            "subject": np.repeat(subjects, len(rois)),
            "unit": np.tile(rois, len(subjects)),
            "ceiling": isc.reshape(-1),
        }
    )
