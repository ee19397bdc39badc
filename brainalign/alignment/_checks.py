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


def check_xy(
    X: ArrayLike, Y: ArrayLike, hint: str = "they must be the same samples in the same order"
) -> tuple[np.ndarray, np.ndarray, bool]:
    """X (n_samples, n_features) and Y (n_samples[, n_targets]) as finite float64 2-D arrays.

    Returns ``X, Y, one_target`` where ``one_target`` says Y was 1-D. ``hint`` ends the
    message for mismatched rows.
    """
    X_arr = as_finite_2d("X", X)
    Y_arr = np.asarray(Y, dtype=np.float64)
    one_target = Y_arr.ndim == 1
    if one_target:
        Y_arr = Y_arr[:, None]
    Y_arr = as_finite_2d("Y", Y_arr)
    if X_arr.shape[0] != Y_arr.shape[0]:
        raise ValueError(
            f"X has {X_arr.shape[0]} rows (samples) but Y has {Y_arr.shape[0]}; {hint}."
        )
    if X_arr.shape[1] == 0 or Y_arr.shape[1] == 0:
        raise ValueError(f"X and Y need at least one column; got X {X_arr.shape}, Y {Y_arr.shape}.")
    return X_arr, Y_arr, one_target
