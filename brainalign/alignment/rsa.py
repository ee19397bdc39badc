"""Representational similarity analysis (RSA): RDMs, their comparison and noise ceilings.

Small flat functions in the style of mne-rsa, with rsatoolbox's exact definitions, written
once against the array API so that numpy arrays and torch tensors (CPU or GPU) go in and
the same kind comes out (see :mod:`brainalign.alignment.backend`).

RDMs are kept *condensed*: the upper triangle of the (n_conditions, n_conditions) matrix
above the diagonal, row by row, a vector of ``n_pairs = n_conditions * (n_conditions - 1) / 2``
entries -- the order of :func:`scipy.spatial.distance.squareform` and of rsatoolbox's
``RDMs.get_vectors()``. Every function takes leading batch dimensions, so many RDMs (one per
time point, subject, searchlight) are computed and compared in one vectorised call.

Dissimilarities (``metric`` of :func:`rdm`; ``x``, ``y`` are two condition patterns of
``n_channels`` values, ``P`` a noise precision matrix):

=====================  ================================================  ================
metric                 definition                                        rsatoolbox
=====================  ================================================  ================
``squared_euclidean``  ``sum((x - y) ** 2) / n_channels``                ``'euclidean'``
``euclidean``          ``sqrt(sum((x - y) ** 2) / n_channels)``          its square root
``correlation``        ``1 - pearson(x, y)`` (across channels)           ``'correlation'``
``cosine``             ``1 - x.y / (|x| |y|)``                           none (scipy's)
``mahalanobis``        ``(x - y) P (x - y)' / n_channels`` (squared)     ``'mahalanobis'``
``crossnobis``         ``(x - y)_train P (x - y)_test' / n_channels``,   ``'crossnobis'``
                       leaving one partition out as the test set,
                       averaged over partitions
=====================  ================================================  ================

rsatoolbox calls the squared Euclidean distance divided by the number of channels
``'euclidean'``; here that is ``"squared_euclidean"`` (identical numbers) and
``"euclidean"`` is its square root, a true (channel-normalised) Euclidean distance.

Comparisons (``method`` of :func:`compare_rdms`), rsatoolbox's name in brackets:
``"spearman"`` (``'spearman'``, average ranks for ties), ``"pearson"`` (``'corr'``),
``"kendall_tau_a"`` (``'tau-a'``), ``"kendall_tau_b"`` (``'kendall'``, = scipy's
``kendalltau``), ``"cosine"`` (``'cosine'``), ``"corr_cov"`` and ``"cosine_cov"``
(``'corr_cov'``, ``'cosine_cov'``: Pearson / cosine after whitening by the covariance of
RDM entries for i.i.d. pattern noise, rsatoolbox's default ``sigma_k = I``).

NaN entries in RDMs follow rsatoolbox: a pair that is NaN in one RDM is dropped from all
RDMs of the comparison, and every RDM of the call must have its NaNs at the same pairs
(else a ValueError). Where a similarity is undefined (an RDM with zero norm, or all ranks
tied) the result is NaN; rsatoolbox returns 0 there for the cosine-type methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_torch_array

from brainalign.alignment.backend import (
    _like,
    as_float,
    at_least_float32,
    namespace,
    to_numpy,
    working_float64,
)

__all__ = [
    "COMPARISONS",
    "METRICS",
    "NOISE_METHODS",
    "compare_rdms",
    "compare_time_resolved",
    "noise_covariance",
    "noise_precision",
    "rdm",
    "SubjectConsistency",
    "rdm_noise_ceiling",
    "rdm_to_square",
    "square_to_rdm",
    "subject_consistency",
    "time_resolved_rdms",
]

#: Dissimilarity names accepted by :func:`rdm`.
METRICS: tuple[str, ...] = (
    "euclidean",
    "squared_euclidean",
    "correlation",
    "cosine",
    "mahalanobis",
    "crossnobis",
)
#: Comparison names accepted by :func:`compare_rdms` and :func:`rdm_noise_ceiling`.
COMPARISONS: tuple[str, ...] = (
    "spearman",
    "pearson",
    "kendall_tau_a",
    "kendall_tau_b",
    "cosine",
    "corr_cov",
    "cosine_cov",
)
#: Covariance estimators accepted by :func:`noise_covariance` / :func:`noise_precision`.
NOISE_METHODS: tuple[str, ...] = ("shrinkage_diag", "shrinkage_eye", "diag", "full")

Metric = Literal[
    "euclidean", "squared_euclidean", "correlation", "cosine", "mahalanobis", "crossnobis"
]
Comparison = Literal[
    "spearman", "pearson", "kendall_tau_a", "kendall_tau_b", "cosine", "corr_cov", "cosine_cov"
]
NoiseMethod = Literal["shrinkage_diag", "shrinkage_eye", "diag", "full"]

# Elements of the rank rows merged at once when many RDMs are compared by Kendall tau
# (bounds the memory of the broadcast pairs of RDMs).
_KENDALL_CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------- condensed form


def _n_conditions_from_pairs(n_pairs: int, name: str = "rdms") -> int:
    """The number of conditions whose RDM has ``n_pairs`` entries, or a ValueError."""
    n_cond = int(round((1 + math.sqrt(1 + 8 * n_pairs)) / 2))
    if n_cond * (n_cond - 1) // 2 != n_pairs or n_pairs < 1:
        raise ValueError(
            f"{name} has {n_pairs} entries on its last axis, which is not n*(n-1)/2 for any "
            "number of conditions n >= 2; give condensed RDMs (upper triangle, see "
            "square_to_rdm)."
        )
    return n_cond


def _pair_indices(n_cond: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each condensed entry (scipy squareform / rsatoolbox order)."""
    return np.triu_indices(n_cond, 1)


def _on_device(array_np: np.ndarray, like: Any, xp: Any, dtype: Any = None) -> Any:
    """``array_np`` as an ``xp`` array on the device of ``like``."""
    return xp.asarray(array_np, dtype=dtype, device=array_device(like))


def _upper_triangle(square: Any, xp: Any) -> Any:
    """(..., n, n) -> (..., n_pairs): the entries above the diagonal, row by row."""
    n_cond = square.shape[-1]
    rows, cols = _pair_indices(n_cond)
    flat = xp.reshape(square, (*square.shape[:-2], n_cond * n_cond))
    return xp.take(flat, _on_device(rows * n_cond + cols, square, xp), axis=-1)


def rdm_to_square(rdms: Any) -> Any:
    """Condensed RDMs to square, symmetric matrices with a zero diagonal.

    Parameters
    ----------
    rdms : array of shape (..., n_pairs)
        Condensed RDMs (numpy or torch).

    Returns
    -------
    square : array of shape (..., n_conditions, n_conditions)
        Same kind and device as ``rdms``.
    """
    xp = namespace(rdms)
    vectors = as_float(rdms, xp)
    if vectors.ndim < 1:
        raise ValueError("rdms must have at least one axis (..., n_pairs); got a scalar.")
    n_pairs = vectors.shape[-1]
    n_cond = _n_conditions_from_pairs(n_pairs)
    rows, cols = _pair_indices(n_cond)
    index = np.full((n_cond, n_cond), n_pairs, dtype=np.int64)  # n_pairs -> the zero slot
    index[rows, cols] = np.arange(n_pairs)
    index[cols, rows] = np.arange(n_pairs)
    zero = xp.zeros((*vectors.shape[:-1], 1), dtype=vectors.dtype, device=array_device(vectors))
    extended = xp.concat([vectors, zero], axis=-1)
    flat = xp.take(extended, _on_device(index.ravel(), vectors, xp), axis=-1)
    return xp.reshape(flat, (*vectors.shape[:-1], n_cond, n_cond))


def square_to_rdm(square: Any, *, atol: float = 1e-10) -> Any:
    """Square RDMs to condensed vectors (upper triangle, row by row).

    Parameters
    ----------
    square : array of shape (..., n_conditions, n_conditions)
        Symmetric matrices with a zero diagonal.
    atol : float
        Tolerance, relative to the largest absolute entry, for the symmetry and zero-
        diagonal checks.

    Returns
    -------
    rdms : array of shape (..., n_pairs)

    Raises
    ------
    ValueError
        If the matrices are not square, not symmetric, or have a non-zero diagonal.
    """
    xp = namespace(square)
    mats = as_float(square, xp)
    if mats.ndim < 2 or mats.shape[-1] != mats.shape[-2] or mats.shape[-1] < 2:
        raise ValueError(
            "square must have shape (..., n_conditions, n_conditions) with n_conditions >= 2; "
            f"got {tuple(mats.shape)}."
        )
    scale = float(xp.max(xp.abs(mats))) if mats.shape[-1] else 0.0
    limit = atol * max(scale, 1.0)
    asymmetry = float(xp.max(xp.abs(mats - xp.matrix_transpose(mats))))
    if not asymmetry <= limit:
        raise ValueError(
            f"square is not symmetric (largest |A - A.T| = {asymmetry:.3g}); an RDM must be "
            "symmetric: average it with its transpose first if that is what you mean."
        )
    diagonal = float(xp.max(xp.abs(xp.linalg.diagonal(mats))))
    if not diagonal <= limit:
        raise ValueError(
            f"square has a non-zero diagonal (largest |value| = {diagonal:.3g}); a "
            "dissimilarity matrix has zeros there."
        )
    return _upper_triangle(mats, xp)


# ----------------------------------------------------------------------------- RDMs


def _row_major(x: Any, xp: Any) -> Any:
    """``x`` in C order (a view if it already is): batched matmuls of permuted arrays
    otherwise fall off the BLAS path (numpy) and run 100x slower."""
    return xp.reshape(xp.reshape(x, (-1,)), tuple(x.shape))


def _check_name(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not known; use one of {list(allowed)}.")


def _check_finite(name: str, array: Any, xp: Any) -> None:
    if not bool(xp.all(xp.isfinite(array))):
        raise ValueError(f"{name} has NaN or inf values; impute or drop them first.")


def _label_codes(name: str, labels: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique labels and the code of each row (rsatoolbox's order: sorted values)."""
    values = np.asarray(to_numpy(labels) if not isinstance(labels, list | tuple) else labels)
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise ValueError(
            f"{name} must be a 1-D sequence with one label per row of data ({n_rows}); "
            f"got shape {values.shape}."
        )
    return np.unique(values, return_inverse=True)


def _group_sums(X: Any, codes: np.ndarray, n_groups: int, xp: Any) -> Any:
    """(..., n_rows, n_channels) -> (..., n_groups, n_channels) sums per group, one matmul."""
    onehot = np.zeros((n_groups, codes.shape[0]))
    onehot[codes, np.arange(codes.shape[0])] = 1.0
    return _on_device(onehot, X, xp, dtype=X.dtype) @ X


def _average_by_condition(X: Any, conditions: Any, xp: Any) -> Any:
    values, codes = _label_codes("conditions", conditions, X.shape[-2])
    counts = np.bincount(codes, minlength=values.shape[0]).astype(np.float64)
    sums = _group_sums(X, codes, values.shape[0], xp)
    return sums / _on_device(counts[:, None], X, xp, dtype=X.dtype)


def _check_precision(noise: Any, n_channels: int, xp: Any, like: Any) -> Any:
    if noise is None:
        return None
    precision = as_float(noise, xp)
    if precision.dtype != like.dtype:  # no copy of a (possibly 800 MB) matrix otherwise
        precision = xp.astype(precision, like.dtype)
    if tuple(precision.shape) != (n_channels, n_channels):
        raise ValueError(
            f"noise must be a (n_channels, n_channels) = ({n_channels}, {n_channels}) "
            f"precision matrix; got shape {tuple(precision.shape)}. Estimate one with "
            "noise_precision(residuals)."
        )
    _check_finite("noise", precision, xp)
    return precision


def _diagonal_if_diagonal(precision: Any, xp: Any) -> Any:
    """The diagonal of ``precision`` if every off-diagonal entry is 0, else None.

    The first row is checked first, so a dense matrix costs almost nothing; a diagonal
    one costs one pass over its entries.
    """
    diagonal = xp.linalg.diagonal(precision)
    first_row_off = precision[0, 1:]
    if bool(xp.any(first_row_off != 0)):
        return None
    if int(xp.count_nonzero(precision)) != int(xp.count_nonzero(diagonal)):
        return None
    return diagonal


def _weighted(X: Any, precision: Any, xp: Any) -> Any:
    """``X @ precision`` (``X`` itself for the identity, ``None``).

    A diagonal precision (e.g. ``noise_precision(residuals, "diag")``) scales the
    channels instead of multiplying by the matrix: the same numbers (each product has
    one non-zero term), O(n_channels) instead of O(n_channels**2) per pattern.
    """
    if precision is None:
        return X
    diagonal = _diagonal_if_diagonal(precision, xp)
    if diagonal is not None:
        return X * diagonal
    return X @ precision


def _squared_distances(X: Any, precision: Any, xp: Any) -> Any:
    """(x_i - x_j) P (x_i - x_j)' / n_channels as k_ii + k_jj - 2 k_ij (rsatoolbox's way).

    ``X`` should be centred over conditions (see :func:`_translated_to_origin`) so the
    three terms are of the size of the distances. A value at or below the rounding
    error of the sum, ``n_channels * eps * (k_ii + k_jj)``, is set to exactly 0: it
    cannot be told from 0, identical rows give it (as 0, or as +-1e-16 otherwise),
    and a squared distance is never negative.
    """
    weighted = _weighted(X, precision, xp)
    kernel = weighted @ xp.matrix_transpose(X)
    norms = xp.sum(weighted * X, axis=-1)
    n_cond = X.shape[-2]
    rows, cols = _pair_indices(n_cond)
    cross = _upper_triangle(kernel, xp)
    both = xp.take(norms, _on_device(rows, X, xp), axis=-1) + xp.take(
        norms, _on_device(cols, X, xp), axis=-1
    )
    dist = both - 2 * cross
    rounding = X.shape[-1] * xp.finfo(X.dtype).eps * xp.abs(both)
    dist = xp.where(dist > rounding, dist, xp.zeros_like(dist))
    return dist / X.shape[-1]


def _cosine_distances(X: Any, xp: Any, what: str) -> Any:
    norms = xp.sqrt(xp.sum(X * X, axis=-1))
    if not bool(xp.all(norms > 0)):
        raise ValueError(
            f"data has a condition pattern with zero {what}, for which the {what.split()[0]}"
            " distance is undefined; drop that condition or use metric='euclidean'."
        )
    unit = X / norms[..., None]
    return 1 - _upper_triangle(unit @ xp.matrix_transpose(unit), xp)


def _cell_sums(X: Any, codes: np.ndarray, counts: np.ndarray, xp: Any) -> Any:
    """(..., n_rows, n_channels) -> (..., n_cells, n_channels) sums per (partition, condition).

    ``codes`` is each row's cell (``partition * n_conditions + condition``) and ``counts``
    the rows per cell. When every cell has the same number of rows (a balanced design,
    e.g. one trial per condition and run) the rows are gathered in cell order and summed
    in place of the one-hot matrix product of :func:`_group_sums` (O(n_rows) instead of
    O(n_rows * n_cells) per channel); otherwise that product is used.
    """
    per_cell = int(counts.flat[0])
    if not np.all(counts == per_cell):
        return _group_sums(X, codes, counts.size, xp)
    order = _on_device(np.argsort(codes, kind="stable"), X, xp)
    rows = xp.take(X, order, axis=-2)
    if per_cell == 1:
        return rows
    grouped = xp.reshape(rows, (*X.shape[:-2], counts.size, per_cell, X.shape[-1]))
    return xp.sum(grouped, axis=-2)


def _crossnobis(X: Any, conditions: Any, partitions: Any, precision: Any, xp: Any) -> Any:
    """rsatoolbox's calc_rdm_crossnobis: leave one partition out, train vs test means."""
    if conditions is None or partitions is None:
        raise ValueError(
            "metric='crossnobis' needs conditions= (the condition of each row of data) and "
            "partitions= (the run / fold of each row); rows are single measurements."
        )
    cond_values, cond_codes = _label_codes("conditions", conditions, X.shape[-2])
    part_values, part_codes = _label_codes("partitions", partitions, X.shape[-2])
    n_cond, n_part = cond_values.shape[0], part_values.shape[0]
    if n_part < 2:
        raise ValueError(
            f"metric='crossnobis' needs at least 2 partitions (runs); got {n_part} "
            f"({part_values.tolist()}). Use metric='mahalanobis' for a single run."
        )
    if n_cond < 2:
        raise ValueError(f"conditions has {n_cond} distinct value; an RDM needs at least 2.")
    counts = np.zeros((n_part, n_cond))
    np.add.at(counts, (part_codes, cond_codes), 1.0)
    if not np.all(counts > 0):
        part, cond = np.argwhere(counts == 0)[0]
        raise ValueError(
            f"condition {cond_values[cond].item()!r} has no measurement in partition "
            f"{part_values[part].item()!r}; crossnobis needs every condition in every partition."
        )
    sums = _cell_sums(X, part_codes * n_cond + cond_codes, counts, xp)
    sums = xp.reshape(sums, (*X.shape[:-2], n_part, n_cond, X.shape[-1]))
    counts_x = _on_device(counts[..., None], X, xp, dtype=X.dtype)
    test = sums / counts_x
    train = (xp.sum(sums, axis=-3, keepdims=True) - sums) / (
        xp.sum(counts_x, axis=-3, keepdims=True) - counts_x
    )
    weighted = _weighted(train, precision, xp)
    kernel = weighted @ xp.matrix_transpose(test)  # (..., n_part, n_cond, n_cond)
    diag = xp.sum(weighted * test, axis=-1)
    rows, cols = _pair_indices(n_cond)
    rows_x, cols_x = _on_device(rows, X, xp), _on_device(cols, X, xp)
    dist = (
        xp.take(diag, rows_x, axis=-1)
        + xp.take(diag, cols_x, axis=-1)
        - _upper_triangle(kernel, xp)
        - _upper_triangle(xp.matrix_transpose(kernel), xp)
    ) / X.shape[-1]
    return xp.mean(dist, axis=-2)


def rdm(
    data: Any,
    metric: Metric = "correlation",
    *,
    conditions: Any = None,
    partitions: Any = None,
    noise: Any = None,
) -> Any:
    """Representational dissimilarity matrices, condensed, with rsatoolbox's definitions.

    Parameters
    ----------
    data : array of shape (..., n_rows, n_channels)
        Activity patterns (numpy or torch). Without ``conditions`` each row is one
        condition (n_rows = n_conditions). Leading axes are a batch (time points,
        subjects, ...): one RDM is computed for each, in one vectorised call.
    metric : {"euclidean", "squared_euclidean", "correlation", "cosine", "mahalanobis", \
"crossnobis"}
        The dissimilarity; definitions in the module docstring. All Euclidean-type
        distances are divided by n_channels, like rsatoolbox's. The Euclidean-type ones
        (``"euclidean"``, ``"squared_euclidean"``, ``"mahalanobis"``, ``"crossnobis"``)
        are computed from the channels centred over rows, in float64 whatever the
        input's precision (a float32 ``noise`` matrix is copied to float64), and
        returned in the input's precision (float32 for float16 input); squared
        distances below their rounding error are exactly 0, so identical rows give 0
        and none is negative (crossnobis, an unbiased estimate, can be negative and is
        not clipped).
    conditions : sequence of shape (n_rows,), optional
        The condition of each row. Rows of a condition are averaged first (and for
        ``"crossnobis"`` within each partition); conditions are ordered by sorted label,
        as rsatoolbox orders them. Required for ``"crossnobis"``.
    partitions : sequence of shape (n_rows,), optional
        The run / cross-validation fold of each row; only for ``"crossnobis"``, which needs
        at least 2 partitions, each holding every condition.
    noise : array of shape (n_channels, n_channels), optional
        Noise precision matrix (see :func:`noise_precision`) for ``"mahalanobis"`` and
        ``"crossnobis"``; default the identity, as in rsatoolbox (the Mahalanobis distance
        then equals ``"squared_euclidean"``).

    Returns
    -------
    rdms : array of shape (..., n_pairs)
        Upper triangles, n_pairs = n_conditions * (n_conditions - 1) / 2, in scipy
        ``squareform`` / rsatoolbox order. Same kind and device as ``data``.

    Raises
    ------
    ValueError
        For an unknown metric, wrong shapes, NaN or inf in ``data``, fewer than 2
        conditions, ``noise`` given for a metric that ignores it, a crossnobis call without
        labels or with fewer than 2 partitions, or a zero-variance (``"correlation"``) or
        zero (``"cosine"``) pattern.
    """
    _check_name("metric", metric, METRICS)
    xp = namespace(data, noise)
    X = as_float(data, xp)
    if X.ndim < 2:
        raise ValueError(
            f"data must be (..., n_conditions, n_channels); got shape {tuple(X.shape)}."
        )
    X = _row_major(X, xp)
    if X.shape[-1] < 1:
        raise ValueError("data has no channels (last axis is empty).")
    _check_finite("data", X, xp)
    out_dtype = X.dtype
    if metric in _GRAM_METRICS:
        X = _translated_to_origin(X, xp)
    if noise is not None and metric not in ("mahalanobis", "crossnobis"):
        raise ValueError(f"noise is only used by 'mahalanobis' and 'crossnobis', not {metric!r}.")
    if partitions is not None and metric != "crossnobis":
        raise ValueError(f"partitions is only used by metric='crossnobis', not {metric!r}.")
    precision = _check_precision(noise, X.shape[-1], xp, X)
    if metric == "crossnobis":
        dist = _crossnobis(X, conditions, partitions, precision, xp)
        return xp.astype(dist, at_least_float32(out_dtype, xp), copy=False)
    if conditions is not None:
        X = _average_by_condition(X, conditions, xp)
    if X.shape[-2] < 2:
        raise ValueError(f"data has {X.shape[-2]} condition; an RDM needs at least 2.")
    if metric in _GRAM_METRICS:
        squared = _squared_distances(X, precision, xp)
        if metric == "euclidean":
            squared = xp.sqrt(squared)
        return xp.astype(squared, at_least_float32(out_dtype, xp), copy=False)
    if metric == "correlation":
        return _cosine_distances(X - xp.mean(X, axis=-1, keepdims=True), xp, "variance")
    return _cosine_distances(X, xp, "cosine norm")


_GRAM_METRICS = ("euclidean", "squared_euclidean", "mahalanobis", "crossnobis")
"""Metrics computed by the Gram trick ``k_ii + k_jj - 2 k_ij``, in float64, centred."""


def _translated_to_origin(X: Any, xp: Any) -> Any:
    """``X`` (..., n_rows, n_channels) in float64, minus its mean over rows per channel.

    Euclidean, Mahalanobis and crossnobis distances do not change when every row moves
    by the same vector, but their Gram-trick evaluation ``k_ii + k_jj - 2 k_ij`` loses
    the digits that a large common mean takes (BOLD-like data: a mean of 1e4 and
    differences of 1 lost 2.5% in float32; equal rows came out -2e-16). Centring the
    channels over rows and accumulating in float64 (float32 on devices without it, see
    :func:`~brainalign.alignment.backend.working_float64`) keeps float32 results within
    1e-6 of scipy's ``pdist`` in float64.
    """
    X = working_float64(X, xp)
    return X - xp.mean(X, axis=-2, keepdims=True)


def time_resolved_rdms(
    epochs: Any,
    metric: Metric = "correlation",
    *,
    conditions: Any = None,
    partitions: Any = None,
    noise: Any = None,
) -> Any:
    """One RDM per time point from M/EEG patterns.

    Parameters
    ----------
    epochs : array of shape (n_rows, n_channels, n_times)
        Condition-averaged evoked patterns (n_rows = n_conditions), or single trials with
        ``conditions`` (and ``partitions`` for ``"crossnobis"``), as MNE's
        ``Epochs.get_data()`` lays them out.
    metric, conditions, partitions, noise
        As in :func:`rdm`; ``noise`` is one precision matrix for all time points.

    Returns
    -------
    rdms : array of shape (n_times, n_pairs)
    """
    xp = namespace(epochs)
    X = as_float(epochs, xp)
    if X.ndim != 3:
        raise ValueError(
            f"epochs must be (n_conditions, n_channels, n_times); got shape {tuple(X.shape)}."
        )
    return rdm(
        xp.permute_dims(X, (2, 0, 1)),
        metric,
        conditions=conditions,
        partitions=partitions,
        noise=noise,
    )


# ----------------------------------------------------------------------------- noise


def _residual_matrix(residuals: Any, xp: Any) -> Any:
    R = as_float(residuals, xp)
    if R.ndim != 2 or R.shape[0] < 2:
        raise ValueError(
            "residuals must be (n_residuals, n_channels) with at least 2 rows; "
            f"got shape {tuple(R.shape)}."
        )
    _check_finite("residuals", R, xp)
    return R - xp.mean(R, axis=0, keepdims=True)


def _covariance_shrink_eye(R: Any, dof: int, xp: Any) -> Any:
    """Ledoit & Wolf (2004) shrinkage towards a multiple of the identity (rsatoolbox)."""
    n, p = R.shape
    eye = xp.eye(p, dtype=R.dtype, device=array_device(R))
    s = (xp.matrix_transpose(R) @ R) / n
    squares = R * R
    b2 = xp.sum((xp.matrix_transpose(squares) @ squares) / n - s * s) / n
    m = xp.sum(xp.linalg.diagonal(s)) / p
    d2 = xp.sum((s - m * eye) ** 2)
    b2 = xp.minimum(d2, b2)
    return (b2 / d2 * m * eye + (d2 - b2) / d2 * s) * (n / dof)


def _covariance_shrink_diag(R: Any, dof: int, xp: Any) -> Any:
    """Schäfer & Strimmer (2005) shrinkage towards the diagonal (rsatoolbox's formula)."""
    n, p = R.shape
    s_sum = xp.matrix_transpose(R) @ R
    squares = R * R
    s2_sum = xp.matrix_transpose(squares) @ squares
    s = s_sum / dof
    var = xp.linalg.diagonal(s)
    std = xp.sqrt(var)
    s_mean = s_sum / std[None, :] / std[:, None] / (n - 1)
    s2_mean = s2_sum / var[None, :] / var[:, None] / (n - 1)
    var_hat = n / dof**2 * (s2_mean - s_mean**2)
    off = 1.0 - xp.eye(p, dtype=R.dtype, device=array_device(R))
    lamb = xp.sum(var_hat * off) / xp.sum(s_mean**2 * off)
    lamb = xp.clip(lamb, min=0.0, max=1.0)
    return s * (1.0 - off + (1.0 - lamb) * off)


def noise_covariance(
    residuals: Any, method: NoiseMethod = "shrinkage_diag", *, dof: int | None = None
) -> Any:
    """Noise covariance over channels, as rsatoolbox's ``cov_from_residuals``.

    Parameters
    ----------
    residuals : array of shape (n_residuals, n_channels)
        E.g. GLM residuals or single trials minus their condition mean. Columns are
        demeaned here.
    method : {"shrinkage_diag", "shrinkage_eye", "diag", "full"}
        ``"full"``: sample covariance ``R'R / dof``; ``"diag"``: its diagonal;
        ``"shrinkage_eye"``: Ledoit-Wolf shrinkage towards a multiple of the identity;
        ``"shrinkage_diag"``: Schäfer-Strimmer shrinkage towards the diagonal. Formulas
        exactly as rsatoolbox.data.noise.
    dof : int, optional
        Degrees of freedom; default n_residuals - 1 (subtract the GLM's regressors where
        residuals come from one).

    Returns
    -------
    covariance : array of shape (n_channels, n_channels)
    """
    _check_name("method", method, NOISE_METHODS)
    xp = namespace(residuals)
    R = _residual_matrix(residuals, xp)
    dof = R.shape[0] - 1 if dof is None else dof
    if isinstance(dof, bool) or not isinstance(dof, int | np.integer) or dof < 1:
        raise ValueError(f"dof must be a positive integer; got {dof!r}.")
    if method == "full":
        return (xp.matrix_transpose(R) @ R) / dof
    if method == "diag":
        variances = xp.sum(R * R, axis=0) / dof
        return xp.eye(R.shape[1], dtype=R.dtype, device=array_device(R)) * variances[None, :]
    if method == "shrinkage_eye":
        return _covariance_shrink_eye(R, dof, xp)
    return _covariance_shrink_diag(R, dof, xp)


def noise_precision(
    residuals: Any, method: NoiseMethod = "shrinkage_diag", *, dof: int | None = None
) -> Any:
    """Noise precision (inverse covariance), as rsatoolbox's ``prec_from_residuals``.

    Parameters
    ----------
    residuals : array of shape (n_residuals, n_channels)
    method : {"shrinkage_diag", "shrinkage_eye", "diag", "full"}
        See :func:`noise_covariance`. ``"full"`` needs more residuals than channels.
    dof : int, optional
        Degrees of freedom; default n_residuals - 1.

    Returns
    -------
    precision : array of shape (n_channels, n_channels)
        For ``rdm(..., metric="mahalanobis" or "crossnobis", noise=precision)``. For
        ``"diag"`` the inverse is the reciprocal of each variance (a general matrix
        inverse gives the same to within an ulp), without an O(n_channels**3)
        inversion, and :func:`rdm` then scales channels rather than multiplying by the
        matrix.

    Raises
    ------
    ValueError
        For ``"diag"``, if a channel has zero variance (its precision is undefined):
        drop constant channels first.
    """
    covariance = noise_covariance(residuals, method, dof=dof)
    xp = namespace(covariance)
    if method == "diag":
        return _diagonal_precision(xp.linalg.diagonal(covariance), xp)
    return xp.linalg.inv(covariance)


def _diagonal_precision(variances: Any, xp: Any) -> Any:
    """``diag(1 / variances)`` as a matrix; a ValueError for a zero variance."""
    if not bool(xp.all(variances > 0)):
        channel = int(xp.argmax(xp.astype(variances <= 0, xp.int32)))
        raise ValueError(
            f"channel {channel} has zero noise variance, so its precision is undefined; "
            "drop constant channels (or use method='shrinkage_diag')."
        )
    n = variances.shape[0]
    eye = xp.eye(n, dtype=variances.dtype, device=array_device(variances))
    return eye * (1.0 / variances)[None, :]


# ----------------------------------------------------------------------------- comparisons


def _as_rdm_batch(name: str, rdms: Any, xp: Any) -> Any:
    V = as_float(rdms, xp)
    if V.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be (n_pairs,) or (n_rdms, n_pairs) condensed RDMs; got shape "
            f"{tuple(V.shape)}. Use square_to_rdm for square matrices."
        )
    V = V[None, :] if V.ndim == 1 else V
    if V.shape[0] == 0:
        raise ValueError(f"{name} holds no RDMs.")
    _n_conditions_from_pairs(V.shape[1], name)
    if bool(xp.any(xp.isinf(V))):
        raise ValueError(f"{name} has infinite values; an RDM must be finite (NaN = missing).")
    return V


def _drop_nan_pairs(arrays: list[Any], names: list[str], xp: Any) -> tuple[list[Any], np.ndarray]:
    """Drop the pairs that are NaN, which must be the same pairs in every RDM (rsatoolbox)."""
    masks = [to_numpy(xp.any(xp.isnan(V), axis=0)) for V in arrays]
    for mask, name in zip(masks[1:], names[1:], strict=True):
        if not np.array_equal(mask, masks[0]):
            raise ValueError(
                f"{names[0]} and {name} have NaN at different pairs; RSA comparisons drop a "
                "pair only when it is missing in every RDM, so make the NaNs agree."
            )
    keep = ~masks[0]
    if keep.sum() < 2:
        raise ValueError("fewer than 2 RDM entries are not NaN; nothing to compare.")
    if keep.all():
        return arrays, keep
    index = _on_device(np.flatnonzero(keep), arrays[0], xp)
    return [xp.take(V, index, axis=-1) for V in arrays], keep


def _cummax(x: Any) -> Any:
    """Running maximum along the last axis (not in the array API: one line per backend)."""
    if is_torch_array(x):
        return x.cummax(dim=-1).values
    return np.maximum.accumulate(x, axis=-1)


def _tie_groups(sorted_rows: Any, xp: Any) -> tuple[Any, Any, Any]:
    """For rows sorted ascending: each position's tie-group start and end (int) and whether
    it opens a new group (bool)."""
    n = sorted_rows.shape[-1]
    position = xp.arange(n, dtype=xp.int64, device=array_device(sorted_rows))
    differs = sorted_rows[..., 1:] != sorted_rows[..., :-1]
    edge = xp.ones((*sorted_rows.shape[:-1], 1), dtype=xp.bool, device=array_device(sorted_rows))
    opens = xp.concat([edge, differs], axis=-1)
    closes = xp.concat([differs, edge], axis=-1)
    zero = xp.zeros_like(position)
    start = _cummax(xp.where(opens, position, zero))
    from_end = _cummax(xp.flip(xp.where(closes, n - 1 - position, zero), axis=-1))
    end = n - 1 - xp.flip(from_end, axis=-1)
    return start, end, opens


def _tied_pairs(start: Any, xp: Any) -> Any:
    """Number of tied pairs per row, sum of t (t - 1) / 2 over tie groups, from the starts."""
    position = xp.arange(start.shape[-1], dtype=xp.int64, device=array_device(start))
    return xp.sum(position - start, axis=-1)


def _rank_stats(V: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Per row: average ranks 1..n (scipy's rankdata), dense ranks 0.. (int) and the
    number of tied pairs, from one sort."""
    order = xp.argsort(V, axis=-1, stable=True)
    start, end, opens = _tie_groups(xp.take_along_axis(V, order, axis=-1), xp)
    unsort = xp.argsort(order, axis=-1)
    average = xp.astype(start + end, V.dtype) / 2 + 1
    dense = xp.cumulative_sum(xp.astype(opens, xp.int64), axis=-1) - 1
    return (
        xp.take_along_axis(average, unsort, axis=-1),
        xp.take_along_axis(dense, unsort, axis=-1),
        _tied_pairs(start, xp),
    )


def _rank(V: Any, xp: Any) -> Any:
    """Ranks 1..n along the last axis, ties given their average rank (scipy's rankdata)."""
    return _rank_stats(V, xp)[0]


def _center(V: Any, xp: Any) -> Any:
    return V - xp.mean(V, axis=-1, keepdims=True)


def _safe_ratio(num: Any, den: Any, xp: Any) -> Any:
    """num / den, NaN where den is 0 (an undefined similarity), without a warning."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.full_like(num, xp.nan))


def _cosine(A: Any, B: Any, xp: Any, paired: bool) -> Any:
    """Cosine of rows: all pairs (n_a, n_b), or matched rows (n,) when ``paired``."""
    norm_a = xp.sqrt(xp.sum(A * A, axis=-1))
    norm_b = xp.sqrt(xp.sum(B * B, axis=-1))
    if paired:
        return _safe_ratio(xp.sum(A * B, axis=-1), norm_a * norm_b, xp)
    return _safe_ratio(A @ xp.matrix_transpose(B), norm_a[:, None] * norm_b[None, :], xp)


def _whiten(V: Any, keep: np.ndarray, xp: Any) -> Any:
    """rsatoolbox's _cov_weighting with sigma_k = I: RDM entries made isotropic.

    ``-D / 2`` stretched out with its diagonal, row and column effects projected out
    (double centring, generalised to missing pairs), off-diagonal entries weighted by
    sqrt(2). Cosine of these vectors = cosine after whitening with rsatoolbox's _get_v.
    """
    n_cond = _n_conditions_from_pairs(keep.shape[0])
    n_pairs = keep.shape[0]
    rows, cols = _pair_indices(n_cond)
    indicator = np.zeros((n_pairs + n_cond, n_cond))
    indicator[np.arange(n_pairs), rows] += 1.0
    indicator[np.arange(n_pairs), cols] += 1.0
    indicator[n_pairs + np.arange(n_cond), np.arange(n_cond)] = 1.0  # 2 e_c, halved
    kept_rows = np.concatenate([keep, np.ones(n_cond, dtype=bool)])
    indicator = indicator[kept_rows]
    n_kept = int(keep.sum())
    weight = np.concatenate([np.full(n_kept, 0.5), np.ones(n_cond)])[:, None]
    projector_right = np.linalg.solve(indicator.T @ (weight * indicator), (weight * indicator).T)
    zeros = xp.zeros((V.shape[0], n_cond), dtype=V.dtype, device=array_device(V))
    W = -0.5 * xp.concat([V, zeros], axis=-1)
    W = W - (W @ _on_device(indicator, V, xp, V.dtype)) @ _on_device(
        projector_right, V, xp, V.dtype
    )
    scale = np.concatenate([np.full(n_kept, math.sqrt(2.0)), np.ones(n_cond)])
    return W * _on_device(scale, V, xp, V.dtype)


def _count_inversions(y: Any, xp: Any) -> Any:
    """Pairs i < j with y_i > y_j in each row of the integer array y (values < y.shape[-1]).

    Bottom-up merge counting, vectorised over rows: brute force inside blocks of 8, then
    at each level two sorted runs of width w are merged by a stable sort; the k-th element
    of the right run lands at position p_k, so w - (p_k - k) left elements exceed it.
    """
    n_rows, n = y.shape
    width = 8
    n_pad = width
    while n_pad < n:
        n_pad *= 2
    pad = xp.full((n_rows, n_pad - n), n, dtype=y.dtype, device=array_device(y))
    blocks = xp.reshape(xp.concat([y, pad], axis=-1), (n_rows, -1, width))
    later = np.triu(np.ones((width, width), dtype=bool), 1)
    greater = (blocks[..., :, None] > blocks[..., None, :]) & _on_device(later, y, xp)
    count = xp.astype(xp.count_nonzero(greater, axis=(-1, -2, -3)), xp.int64)
    current = xp.sort(blocks, axis=-1)
    while width < n_pad:
        merged = xp.reshape(current, (n_rows, -1, 2 * width))
        order = xp.argsort(merged, axis=-1, stable=True)
        position = xp.arange(2 * width, dtype=xp.int64, device=array_device(y))
        landed = xp.sum(xp.where(order >= width, position, xp.zeros_like(position)), axis=-1)
        count = count + xp.sum(width * width + width * (width - 1) // 2 - landed, axis=-1)
        current = xp.take_along_axis(merged, order, axis=-1)
        width *= 2
    return count


def _kendall_counts(dense_x: Any, dense_y: Any, xp: Any) -> tuple[Any, Any]:
    """Joint ties and discordant pairs of matched rows of dense ranks (scipy's method:
    sort by x then y, count inversions of y)."""
    n = dense_x.shape[-1]
    key = dense_x * n + dense_y
    order = xp.argsort(key, axis=-1, stable=True)
    joint = xp.take_along_axis(key, order, axis=-1)
    joint_ties = _tied_pairs(_tie_groups(joint, xp)[0], xp)
    return joint_ties, _count_inversions(xp.take_along_axis(dense_y, order, axis=-1), xp)


def _kendall(A: Any, B: Any, xp: Any, variant: str, paired: bool) -> Any:
    """Kendall tau as scipy / rsatoolbox: (concordant - discordant) over all pairs (tau-a)
    or over sqrt of the untied pairs of each (tau-b). O(n log^2 n) per pair of RDMs."""
    n = A.shape[-1]
    _, dense_a, ties_a = _rank_stats(A, xp)
    _, dense_b, ties_b = _rank_stats(B, xp)
    if paired:
        joint, discordant = _kendall_counts(dense_a, dense_b, xp)
    else:
        ties_a, ties_b = ties_a[:, None], ties_b[None, :]
        step = max(1, _KENDALL_CHUNK_ELEMENTS // (A.shape[0] * n))
        parts = []
        for begin in range(0, B.shape[0], step):
            block = dense_b[begin : begin + step]
            shape = (A.shape[0], block.shape[0], n)
            x = xp.reshape(xp.broadcast_to(dense_a[:, None, :], shape), (-1, n))
            y = xp.reshape(xp.broadcast_to(block[None, :, :], shape), (-1, n))
            counts = xp.stack(_kendall_counts(x, y, xp), axis=0)
            parts.append(xp.reshape(counts, (2, A.shape[0], block.shape[0])))
        counts = xp.concat(parts, axis=-1)
        joint, discordant = counts[0], counts[1]
    total = n * (n - 1) // 2
    difference = xp.astype(total - ties_a - ties_b + joint - 2 * discordant, A.dtype)
    if variant == "kendall_tau_a":
        return xp.clip(difference / total, min=-1.0, max=1.0)
    untied = xp.astype((total - ties_a) * (total - ties_b), A.dtype)
    return xp.clip(_safe_ratio(difference, xp.sqrt(untied), xp), min=-1.0, max=1.0)


def _similarity(A: Any, B: Any, keep: np.ndarray, method: str, xp: Any, paired: bool) -> Any:
    """Similarity of NaN-free RDM rows A (n_a, p) and B (n_b, p) by ``method``."""
    if method == "cosine":
        return _cosine(A, B, xp, paired)
    if method == "pearson":
        return _cosine(_center(A, xp), _center(B, xp), xp, paired)
    if method == "spearman":
        return _cosine(_center(_rank(A, xp), xp), _center(_rank(B, xp), xp), xp, paired)
    if method in ("kendall_tau_a", "kendall_tau_b"):
        return _kendall(A, B, xp, method, paired)
    if method == "corr_cov":
        A, B = _center(A, xp), _center(B, xp)
    return _cosine(_whiten(A, keep, xp), _whiten(B, keep, xp), xp, paired)


def compare_rdms(a: Any, b: Any, method: Comparison = "spearman") -> Any:
    """Similarity between RDMs, every RDM of ``a`` with every RDM of ``b``.

    Parameters
    ----------
    a : array of shape (n_pairs,) or (n_a, n_pairs)
        Condensed RDMs (e.g. models).
    b : array of shape (n_pairs,) or (n_b, n_pairs)
        Condensed RDMs (e.g. data, one per subject or time point).
    method : {"spearman", "pearson", "kendall_tau_a", "kendall_tau_b", "cosine", \
"corr_cov", "cosine_cov"}
        See the module docstring; each matches rsatoolbox's ``compare`` exactly.

    Returns
    -------
    similarity : array of shape a.shape[:-1] + b.shape[:-1]
        (n_a, n_b) for two batches, (n_b,) for one RDM against a batch, a 0-d array for
        two RDMs. NaN where the similarity is undefined (zero-norm RDM, all ranks tied).

    Raises
    ------
    ValueError
        For an unknown method, mismatched or non-triangular n_pairs, inf values, or NaNs
        at pairs that differ between RDMs.

    Notes
    -----
    The Kendall taus count discordant pairs by a vectorised merge sort, O(n_pairs
    log^2 n_pairs) per pair of RDMs; they are the slow methods for large RDMs.
    """
    _check_name("method", method, COMPARISONS)
    xp = namespace(a, b)
    a, b = as_float(a, xp), as_float(b, xp)
    A, B = _as_rdm_batch("a", a, xp), _as_rdm_batch("b", b, xp)
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"a has {A.shape[1]} pairs per RDM but b has {B.shape[1]}; RDMs must be over "
            "the same conditions."
        )
    (A, B), keep = _drop_nan_pairs([A, B], ["a", "b"], xp)
    similarity = _similarity(A, B, keep, method, xp, paired=False)
    return xp.reshape(similarity, (*tuple(a.shape[:-1]), *tuple(b.shape[:-1])))


def compare_time_resolved(model_rdms: Any, data_rdms: Any, method: Comparison = "spearman") -> Any:
    """Model-by-time similarity for time-resolved RSA.

    Parameters
    ----------
    model_rdms : array of shape (n_models, n_pairs) or (n_pairs,)
        Condensed model RDMs.
    data_rdms : array of shape (n_times, n_pairs)
        Neural RDMs, one per time point (see :func:`time_resolved_rdms`).
    method : str
        As in :func:`compare_rdms`.

    Returns
    -------
    similarity : array of shape (n_models, n_times), or (n_times,) for one model RDM
    """
    xp = namespace(model_rdms, data_rdms)
    data = as_float(data_rdms, xp)
    if data.ndim != 2:
        raise ValueError(f"data_rdms must be (n_times, n_pairs); got shape {tuple(data.shape)}.")
    return compare_rdms(model_rdms, data, method)


# ----------------------------------------------------------------------------- noise ceiling


def _pooling_transform(V: Any, method: str, xp: Any) -> Any:
    """Per-RDM transform whose mean is rsatoolbox's pool_rdm for ``method``."""
    if method in ("cosine", "cosine_cov"):
        return V / xp.sqrt(xp.mean(V * V, axis=-1, keepdims=True))
    if method in ("pearson", "corr_cov"):
        centred = _center(V, xp)
        return centred / xp.std(centred, axis=-1, keepdims=True)
    return _rank(V, xp)  # spearman and the Kendall taus: averaged ranks


def rdm_noise_ceiling(rdms: Any, method: Comparison = "spearman") -> tuple[Any, Any]:
    """Lower and upper bound of the noise ceiling across subjects (rsatoolbox).

    As ``rsatoolbox.inference.boot_noise_ceiling`` with each RDM its own subject, no
    bootstrap: the pooled RDM is the mean of the subjects' RDMs after the method's
    transform (``pool_rdm``: ranks for the rank methods, z-scores for ``"pearson"`` /
    ``"corr_cov"``, shifted to a minimum of 0, RMS-normalised RDMs for ``"cosine"`` /
    ``"cosine_cov"``).

    Parameters
    ----------
    rdms : array of shape (n_subjects, n_pairs)
        One condensed RDM per subject, n_subjects >= 2.
    method : str
        As in :func:`compare_rdms`.

    Returns
    -------
    lower : 0-d array
        Mean similarity of each subject's RDM to the pooled RDM of the other subjects.
    upper : 0-d array
        Mean similarity of each subject's RDM to the pooled RDM of all subjects.
    """
    consistency = subject_consistency(rdms, method)
    xp = namespace(rdms)
    return xp.mean(consistency.to_others), xp.mean(consistency.to_all)


@dataclass(frozen=True)
class SubjectConsistency:
    """How alike the subjects' RDMs are (:func:`subject_consistency`).

    Attributes
    ----------
    to_others : array, shape (n_subjects,)
        Each subject's similarity to the pooled RDM of the other subjects (the lower
        bound of the noise ceiling is their mean; a person's place in the human spread).
    to_all : array, shape (n_subjects,)
        Each subject's similarity to the pooled RDM of all subjects (the upper bound is
        their mean).
    pooled : array, shape (n_pairs,)
        The pooled RDM of all subjects (the mean after the method's transform), NaN at
        the pairs that are NaN in every subject's RDM: what a model is compared with to
        place it among the subjects.
    """

    to_others: Any
    to_all: Any
    pooled: Any


def subject_consistency(rdms: Any, method: Comparison = "spearman") -> SubjectConsistency:
    """Each subject's RDM against the pooled RDM of the others and of all (rsatoolbox).

    As ``rsatoolbox.inference.boot_noise_ceiling`` with each RDM its own subject, no
    bootstrap, but per subject; :func:`rdm_noise_ceiling` is the means.

    Parameters
    ----------
    rdms : array of shape (n_subjects, n_pairs)
        One condensed RDM per subject, n_subjects >= 2.
    method : str
        As in :func:`compare_rdms`.

    Returns
    -------
    SubjectConsistency
    """
    _check_name("method", method, COMPARISONS)
    xp = namespace(rdms)
    V = _as_rdm_batch("rdms", rdms, xp)
    if as_float(rdms, xp).ndim != 2 or V.shape[0] < 2:
        raise ValueError(
            f"rdms must be (n_subjects, n_pairs) with n_subjects >= 2; got shape "
            f"{tuple(as_float(rdms, xp).shape)}."
        )
    (V,), keep = _drop_nan_pairs([V], ["rdms"], xp)
    transformed = _pooling_transform(V, method, xp)
    n_subjects = V.shape[0]
    total = xp.sum(transformed, axis=0, keepdims=True)
    pooled_all = total / n_subjects
    pooled_others = (total - transformed) / (n_subjects - 1)
    if method in ("pearson", "corr_cov"):
        pooled_all = pooled_all - xp.min(pooled_all, axis=-1, keepdims=True)
        pooled_others = pooled_others - xp.min(pooled_others, axis=-1, keepdims=True)
    to_others = _similarity(pooled_others, V, keep, method, xp, paired=True)
    to_all = xp.reshape(_similarity(pooled_all, V, keep, method, xp, paired=False), (-1,))
    pooled = np.full(keep.shape, np.nan)
    pooled[keep] = to_numpy(pooled_all[0])
    return SubjectConsistency(to_others, to_all, _like(pooled, V))
