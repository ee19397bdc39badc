"""Noise ceilings: how well can any model predict these responses?"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment.metrics import _pearson_2d


def leave_one_out_isc(data: ArrayLike) -> np.ndarray:
    """Leave-one-subject-out inter-subject correlation, per subject and unit.

    For subject ``s`` and unit ``u``, the Pearson r between ``data[s, :, u]`` and the
    mean of ``data[o, :, u]`` over all other subjects ``o != s``. This is the
    leave-one-out ISC of Nastase et al. (2019), "Measuring shared responses across
    subjects using intersubject correlation", *Social Cognitive and Affective
    Neuroscience* 14(6): 667-685, the usual noise ceiling for naturalistic fMRI: the
    stimulus-driven response shared across people bounds what a stimulus model can
    predict of one person's response.

    Parameters
    ----------
    data : array-like, shape (n_subjects, n_samples, n_units)
        Responses of every subject to the same stimulus, time-locked (same samples in
        the same order) and in the same unit space (e.g. a common template or ROI
        averages). Computed in float64.

    Returns
    -------
    isc : numpy.ndarray, shape (n_subjects, n_units)
        Nan where the subject's time course or the others' mean is constant.

    Raises
    ------
    ValueError
        If ``data`` is not 3-D, has fewer than 2 subjects or 2 samples, or holds NaN or
        inf.
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
    total = arr.sum(axis=0)
    isc = np.empty((n_subjects, arr.shape[2]))
    for s in range(n_subjects):
        others = (total - arr[s]) / (n_subjects - 1)
        isc[s] = _pearson_2d(arr[s], others)
    return isc
