"""Noise ceilings, and the one definition of a score normalised by its ceiling.

* :func:`leave_one_out_isc`: the leave-one-subject-out inter-subject correlation, with
  every subject's time course z-scored (within each run) before the others are averaged.
* :func:`ceiling_flags` and :func:`normalized_scores`: when a ceiling can divide a score
  (finite and at least :data:`CEILING_FLOOR`), and ``score / ceiling`` where it can,
  NaN with the reason where it cannot. Every normalised number brainalign reports (result
  rows, layer summaries, the leaderboard, figures) comes from :func:`normalized_scores`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment.metrics import _pearson_2d

__all__ = [
    "CEILING_FLAGS",
    "CEILING_FLOOR",
    "ceiling_flags",
    "leave_one_out_isc",
    "normalized_scores",
]

CEILING_FLOOR = 0.1
"""The smallest ceiling a score is divided by.

A ceiling is an estimate with its own sampling error: a Pearson r over a few hundred
samples has a standard error of about 0.05, so a ceiling below 0.1 is mostly noise, and
dividing by it (or by a negative one) gives a ratio that explodes or flips sign. Such
ceilings are kept in the ``ceiling`` column, but the score is not normalised by them
(``normalized_score`` NaN, ``ceiling_flag`` ``"below_floor"``)."""

CEILING_FLAGS = {
    "ok": "finite and at least CEILING_FLOOR: normalized_score = score / ceiling",
    "none": "the benchmark has no ceiling for this row (NaN)",
    "not_finite": "the ceiling could not be estimated (NaN or infinite)",
    "below_floor": "the ceiling is below CEILING_FLOOR (negative, zero or tiny)",
}
"""Values of the ``ceiling_flag`` column and what each means."""


def ceiling_flags(
    ceiling: ArrayLike, *, defined: ArrayLike | None = None, floor: float = CEILING_FLOOR
) -> np.ndarray:
    """Whether each ceiling can normalise a score, and why not.

    Parameters
    ----------
    ceiling : array-like of float, shape (n,)
    defined : array-like of bool, shape (n,), optional
        False where the benchmark defines no ceiling at all (flag ``"none"`` rather
        than ``"not_finite"``); default: every NaN ceiling is ``"none"``.
    floor : float, default CEILING_FLOOR

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        One of the keys of :data:`CEILING_FLAGS` per ceiling.
    """
    values = np.asarray(ceiling, dtype=np.float64).reshape(-1)
    exists = ~np.isnan(values) if defined is None else np.asarray(defined, dtype=bool).reshape(-1)
    if exists.shape != values.shape:
        raise ValueError(f"defined has shape {exists.shape}; expected {values.shape}")
    flags = np.full(values.shape, "ok", dtype=object)
    finite = np.isfinite(values)
    flags[finite & (values < floor)] = "below_floor"
    flags[~finite] = "not_finite"
    flags[~finite & ~exists] = "none"
    return flags.astype(str)


def normalized_scores(
    score: ArrayLike, ceiling: ArrayLike, *, floor: float = CEILING_FLOOR
) -> tuple[np.ndarray, np.ndarray]:
    """``score / ceiling`` where the ceiling is usable, else NaN, with the reason.

    The ratio is not clipped (a model can exceed a noisy ceiling); a ceiling that is not
    finite or below ``floor`` never divides (no sign flip, no explosion near zero).

    Parameters
    ----------
    score, ceiling : array-like of float, shape (n,)
    floor : float, default CEILING_FLOOR

    Returns
    -------
    normalized : numpy.ndarray of float64, shape (n,)
    flags : numpy.ndarray of str, shape (n,)
        :func:`ceiling_flags` of ``ceiling``.
    """
    scores = np.asarray(score, dtype=np.float64).reshape(-1)
    ceilings = np.asarray(ceiling, dtype=np.float64).reshape(-1)
    if scores.shape != ceilings.shape:
        raise ValueError(f"score {scores.shape} and ceiling {ceilings.shape} differ in shape")
    flags = ceiling_flags(ceilings, floor=floor)
    usable = flags == "ok"
    normalized = np.full(scores.shape, np.nan)
    normalized[usable] = scores[usable] / ceilings[usable]
    return normalized, flags


def _zscore_within(data: np.ndarray, runs: np.ndarray | None) -> np.ndarray:
    """Z-score axis 1 of (n_subjects, n_samples, n_units) within each run.

    A time course constant within a run becomes 0 there (it carries no shared signal).
    """
    out = np.empty_like(data)
    labels = np.zeros(data.shape[1], dtype=int) if runs is None else runs
    for run in np.unique(labels):
        rows = labels == run
        block = data[:, rows]
        centred = block - block.mean(axis=1, keepdims=True)
        std = centred.std(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, rows] = np.where(std > 0, centred / np.where(std > 0, std, 1.0), 0.0)
    return out


def leave_one_out_isc(data: ArrayLike, *, runs: ArrayLike | None = None) -> np.ndarray:
    """Leave-one-subject-out inter-subject correlation, per subject and unit.

    Each subject's time course of each unit is first z-scored (within each run, when
    ``runs`` are given): recordings have an arbitrary scale per subject (scanner gain,
    ROI size, preprocessing), and averaging raw time courses would let the subjects with
    the largest variance dominate the "others". Then, for subject ``s`` and unit ``u``,
    the Pearson r between ``z[s, :, u]`` and the mean of ``z[o, :, u]`` over all other
    subjects ``o != s``. This is the leave-one-out ISC of Nastase et al. (2019),
    "Measuring shared responses across subjects using intersubject correlation", *Social
    Cognitive and Affective Neuroscience* 14(6): 667-685 (step 1 of which is the
    z-transform), the usual noise ceiling for naturalistic fMRI: the stimulus-driven
    response shared across people bounds what a stimulus model can predict of one
    person's response. Rescaling any subject's data leaves every value unchanged.

    Parameters
    ----------
    data : array-like, shape (n_subjects, n_samples, n_units)
        Responses of every subject to the same stimulus, time-locked (same samples in
        the same order) and in the same unit space (e.g. a common template or ROI
        averages). Computed in float64.
    runs : array-like, shape (n_samples,), optional
        Run (or story) of each sample; time courses are z-scored within each run.
        Default: one run.

    Returns
    -------
    isc : numpy.ndarray, shape (n_subjects, n_units)
        NaN where the subject's time course or the others' mean is constant.

    Raises
    ------
    ValueError
        If ``data`` is not 3-D, has fewer than 2 subjects or 2 samples, holds NaN or
        inf, or ``runs`` has the wrong length.
    """
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(
            f"data must be 3-D (n_subjects, n_samples, n_units); got shape {arr.shape}. "
            "Stack subjects on the first axis, e.g. numpy.stack(per_subject)."
        )
    n_subjects, n_samples, _ = arr.shape
    if n_subjects < 2:
        raise ValueError(
            f"leave_one_out_isc needs at least 2 subjects; got {n_subjects}. With one "
            "subject use a split-half or repeat-based ceiling instead."
        )
    if n_samples < 2:
        raise ValueError(f"leave_one_out_isc needs at least 2 samples; got {n_samples}.")
    if not np.all(np.isfinite(arr)):
        subjects = np.flatnonzero(~np.isfinite(arr).reshape(n_subjects, -1).all(axis=1))
        raise ValueError(
            f"data has NaN or inf values for subjects {subjects.tolist()}; drop or "
            "impute those samples or units for every subject first."
        )
    labels = None
    if runs is not None:
        labels = np.asarray(runs)
        if labels.shape != (n_samples,):
            raise ValueError(
                f"runs has shape {labels.shape}; expected ({n_samples},), one label per sample"
            )
    z = _zscore_within(arr, labels)
    total = z.sum(axis=0)
    isc = np.empty((n_subjects, arr.shape[2]))
    for s in range(n_subjects):
        others = (total - z[s]) / (n_subjects - 1)
        isc[s] = _pearson_2d(z[s], others)
    return isc
