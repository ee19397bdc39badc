"""Input checks shared by the alignment modules: one message for each kind of bad input."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment.backend import as_float, at_least_float32, namespace, to_numpy


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


def finite_2d(name: str, A: Any, xp: Any) -> Any:
    """``A`` as a finite float 2-D array of namespace ``xp``, or a ValueError naming it.

    Integers become float64; half precision (float16, bfloat16) becomes float32, which
    numpy's and torch's linear algebra needs (the documented upcast of the estimators);
    float32 and float64 stay as they are.
    """
    arr = as_float(A, xp)
    arr = xp.astype(arr, at_least_float32(arr.dtype, xp), copy=False)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_columns); got shape {tuple(arr.shape)}."
        )
    if not bool(xp.all(xp.isfinite(arr))):
        bad = ~np.isfinite(to_numpy(arr))
        rows, columns = np.flatnonzero(bad.any(axis=1)), np.flatnonzero(bad.any(axis=0))
        raise ValueError(
            f"{name} has NaN or inf values in rows (samples) {_first(rows)} and columns "
            f"(units) {_first(columns)}; impute them or drop those samples or units first."
        )
    return arr


def _first(indices: np.ndarray, n: int = 10) -> str:
    """The first ``n`` indices as a list, with ``...`` when there are more."""
    return f"{indices[:n].tolist()}{' ...' if indices.size > n else ''}"


def _plain(value: object) -> object:
    """A numpy scalar as its Python value; anything else (a str of an object array) as is."""
    return value.item() if isinstance(value, np.generic) else value


def check_matching_ids(
    feature_ids: ArrayLike, response_ids: ArrayLike, what: str = "features and responses"
) -> None:
    """Raise unless two id sequences are equal, element by element, in order.

    Parameters
    ----------
    feature_ids, response_ids : array-like, shape (n_samples,)
        Stimulus ids of the rows of the two arrays.
    what : str
        The two arrays, for the message.

    Raises
    ------
    ValueError
        Listing the lengths, or the first positions where the ids differ.
    """
    a, b = np.asarray(feature_ids), np.asarray(response_ids)
    if a.shape != b.shape:
        raise ValueError(
            f"{what} have {a.shape[0] if a.ndim else 0} and {b.shape[0] if b.ndim else 0} "
            "stimulus ids; they must describe the same samples in the same order."
        )
    differ = np.flatnonzero(a != b)
    if differ.size:
        pairs = ", ".join(f"row {i}: {_plain(a[i])!r} vs {_plain(b[i])!r}" for i in differ[:5])
        raise ValueError(
            f"stimulus ids of {what} differ at {differ.size} of {a.size} rows ({pairs}"
            f"{' ...' if differ.size > 5 else ''}); put both in the same stimulus order."
        )


def as_finite_2d(name: str, A: ArrayLike) -> np.ndarray:
    """``A`` as a finite float64 numpy array of 2 dimensions, or a ValueError naming it."""
    return finite_2d(name, np.asarray(to_numpy(A), dtype=np.float64), namespace())


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


def check_xy_arrays(
    X: Any, Y: Any, hint: str = "they must be the same samples in the same order"
) -> tuple[Any, Any, bool]:
    """X (n_samples, n_features) and Y (n_samples[, n_targets]) as finite 2-D arrays.

    Both of one backend (numpy or torch, see :mod:`brainalign.alignment.backend`),
    integers as float64, both in their common float precision. Returns
    ``X, Y, one_target`` where ``one_target`` says Y was 1-D. ``hint`` ends the message
    for mismatched rows.
    """
    xp = namespace(X, Y)
    X_arr = finite_2d("X", X, xp)
    Y_arr = as_float(Y, xp)
    one_target = Y_arr.ndim == 1
    if one_target:
        Y_arr = Y_arr[:, None]
    Y_arr = finite_2d("Y", Y_arr, xp)
    if X_arr.shape[0] != Y_arr.shape[0]:
        raise ValueError(
            f"X has {X_arr.shape[0]} rows (samples) but Y has {Y_arr.shape[0]}; {hint}."
        )
    if X_arr.shape[1] == 0 or Y_arr.shape[1] == 0:
        raise ValueError(
            f"X and Y need at least one column; got X {tuple(X_arr.shape)}, Y {tuple(Y_arr.shape)}."
        )
    dtype = xp.result_type(X_arr.dtype, Y_arr.dtype)
    return xp.astype(X_arr, dtype), xp.astype(Y_arr, dtype), one_target


def check_xy(
    X: ArrayLike, Y: ArrayLike, hint: str = "they must be the same samples in the same order"
) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`check_xy_arrays` for numpy: X and Y as finite float64 numpy arrays."""
    as64 = [np.asarray(to_numpy(A), dtype=np.float64) for A in (X, Y)]
    return check_xy_arrays(*as64, hint)


def check_predict_X(X: Any, n_features: int, fitted: Any) -> Any:
    """``X`` for ``predict``: finite, 2-D, ``n_features`` columns, the fitted backend/dtype."""
    xp = namespace(X, fitted)
    X_arr = finite_2d("X", X, xp)
    if X_arr.shape[1] != n_features:
        raise ValueError(
            f"X has {X_arr.shape[1]} features but the model was fitted on "
            f"{n_features}; pass the same feature columns as in fit."
        )
    return xp.astype(X_arr, fitted.dtype)
