"""Column-wise scores between predictions and recordings."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pearson_columns(a: ArrayLike, b: ArrayLike) -> np.ndarray | float:
    """Pearson correlation of each pair of matching columns.

    Parameters
    ----------
    a, b : array-like, shape (n_samples, n_targets) or (n_samples,)
        Two arrays of the same shape, e.g. predictions and recorded responses. A 1-D
        pair is one column. Computed in float64 whatever the input dtype.

    Returns
    -------
    r : numpy.ndarray, shape (n_targets,), or float
        ``r[j]`` is the Pearson correlation of ``a[:, j]`` and ``b[:, j]``, clipped to
        [-1, 1]. A 1-D pair gives a float. ``r[j]`` is nan where either column is
        constant (all its values equal), because the correlation is undefined there:
        it is never silently reported as 0.

    Raises
    ------
    ValueError
        If the shapes differ, the arrays are not 1-D or 2-D, or there are fewer than 2
        samples.
    """
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"pearson_columns needs arrays of the same shape; got {a_arr.shape} and "
            f"{b_arr.shape}. Pass (n_samples, n_targets) arrays with matching rows and columns."
        )
    if a_arr.ndim not in (1, 2):
        raise ValueError(
            f"pearson_columns needs 1-D or 2-D arrays (n_samples, n_targets); got "
            f"{a_arr.ndim}-D arrays of shape {a_arr.shape}."
        )
    if a_arr.shape[0] < 2:
        raise ValueError(f"pearson_columns needs at least 2 samples (rows); got {a_arr.shape[0]}.")
    if a_arr.ndim == 1:
        return float(_pearson_2d(a_arr[:, None], b_arr[:, None])[0])
    return _pearson_2d(a_arr, b_arr)


def _pearson_2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Pearson r of two float64 (n_samples, n_targets) arrays, unchecked.

    The one implementation of the formula; :func:`pearson_columns` validates and
    calls it, and the ridge cross-validation calls it directly in its inner loop.
    """
    constant = (a.max(axis=0) == a.min(axis=0)) | (b.max(axis=0) == b.min(axis=0))
    a_c = a - a.mean(axis=0)
    b_c = b - b.mean(axis=0)
    num = np.einsum("ij,ij->j", a_c, b_c)
    den = np.sqrt(np.einsum("ij,ij->j", a_c, a_c) * np.einsum("ij,ij->j", b_c, b_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
    r = np.clip(r, -1.0, 1.0)
    r[constant] = np.nan
    return r
