"""Input checks shared by the alignment modules: one message for each kind of bad input."""

from __future__ import annotations

import operator

import numpy as np
from numpy.typing import ArrayLike


def check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int, or raise a ValueError naming it."""
    try:
        if isinstance(value, bool | np.bool_):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer; got {value!r}.") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {number}.")
    return number


def as_finite_2d(name: str, A: ArrayLike) -> np.ndarray:
    arr = np.asarray(A, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_columns); got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(
            f"{name} has NaN or inf values in rows {rows[:10].tolist()}"
            f"{' ...' if rows.size > 10 else ''}; impute or drop them first."
        )
    return arr


def check_alphas(alphas: ArrayLike) -> np.ndarray:
    arr = np.asarray(alphas, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("alphas is empty; give at least one positive penalty.")
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(
            f"alphas must all be positive and finite; got {arr[~(np.isfinite(arr) & (arr > 0))]}."
            " Use e.g. numpy.logspace(-1, 8, 19)."
        )
    return arr
