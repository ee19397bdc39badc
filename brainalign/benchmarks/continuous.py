"""Encoding studies on continuous recordings (naturalistic fMRI): the shared steps.

Word-level model features are Lanczos-resampled to the volume clock, delayed with an
FIR basis, and mapped to every unit by ridge regression with per-unit alphas, scored
by held-out Pearson r in contiguous cross-validation blocks (see
:func:`brainalign.alignment.encoding.cross_validated_encoding`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import leave_one_out_isc
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.alignment.temporal import lanczos_resample
from brainalign.datasets.recording import Recording
from brainalign.encoders.features import Features


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


def _rows(recording: Recording, scores: np.ndarray, **labels) -> pd.DataFrame:
    table = recording.units[["subject", "roi"]].copy()
    table["score"] = scores
    for key, value in labels.items():
        table[key] = value
    return table


def score_design(
    recording: Recording,
    design: Mapping[str, np.ndarray],
    model: str,
    settings: EncodingSettings,
    progress: Iterable | None = None,
) -> pd.DataFrame:
    """Score each layer's design matrix against every unit of ``recording``.

    Parameters
    ----------
    recording : Recording
        Continuous recording, (n_volumes, n_units).
    design : mapping of str to numpy.ndarray, each shape (n_volumes, n_features)
        One design matrix per layer (layer names are integer strings).
    model : str
        Label written in the ``model`` column.
    settings : EncodingSettings
    progress : callable, optional
        Wraps the iterable of layers (a progress bar).

    Returns
    -------
    pandas.DataFrame
        One row per (layer, unit) with ``model, layer, subject, roi, metric, score``.
    """
    layers = list(design)
    iterator = progress(layers) if progress is not None else layers
    frames = []
    for layer in iterator:
        result = cross_validated_encoding(
            design[layer], recording.data, **settings.encoding_options()
        )
        frames.append(
            _rows(recording, result.scores, model=model, layer=int(layer), metric="pearson_r")
        )
    return pd.concat(frames, ignore_index=True)


def score_regressors(
    recording: Recording, names: list[str], model: str, settings: EncodingSettings
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
            regressors, subset.data, **settings.encoding_options(delays)
        )
        frames.append(_rows(subset, result.scores, model=model, layer=pd.NA, metric="pearson_r"))
    return pd.concat(frames, ignore_index=True)


def noise_ceiling(recording: Recording) -> pd.DataFrame:
    """Leave-one-subject-out inter-subject correlation of every (subject, roi).

    Each subject's time course is correlated with the mean of the other subjects' time
    courses in the same ROI: how well the shared, stimulus-driven signal predicts one
    subject, an upper bound on what any stimulus model can reach.

    Returns
    -------
    pandas.DataFrame
        Columns ``subject, roi, ceiling``.
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
    isc = leave_one_out_isc(stacked)
    return pd.DataFrame(
        {
            "subject": np.repeat(subjects, len(rois)),
            "roi": np.tile(rois, len(subjects)),
            "ceiling": isc.reshape(-1),
        }
    )
