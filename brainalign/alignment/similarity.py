"""Similarity between two representations of the same stimuli.

Every function takes ``X`` of shape ``(n_stimuli, p)`` and ``Y`` of shape
``(n_stimuli, q)``: row ``i`` of both is the same stimulus, the columns are units, voxels
or model features, and ``p`` and ``q`` may differ. They are written once against the
array API (see :mod:`brainalign.alignment.backend`) and run on numpy arrays or torch
tensors (CPU or GPU) with the input's precision.

Conventions shared by all functions here:

- **Scalars** come back as a Python ``float`` for numpy input and as a 0-d tensor on the
  input's device for torch input (no host synchronisation); ``float(result)`` works for
  both. Arrays come back as the input's kind.
- **Undefined values are NaN, never a made-up number.** A scalar measure that needs the
  spread of a representation (CKA, Procrustes with normalisation, SVCCA, PWCCA, a
  correlation of ratings) is NaN when that representation is constant (every row the
  same, so it carries no information about the stimuli). :func:`cca`, which returns a
  vector, raises a ValueError instead.
- **Bad input raises ValueError** naming the argument: not 2-D, different numbers of
  rows, fewer than 3 stimuli, NaN or inf values. Mixing numpy and torch raises the
  backend's TypeError.
- **Precision**: the arithmetic is float64 whatever the input's float type (numpy, and
  torch on any device with float64; Apple's ``mps`` has none and computes in float32),
  because these measures square and sum: float16 Gram matrices overflow (CKA came out
  0 or NaN) and so do float32 ones for values near 1e10. The inputs are upcast once on
  their own device (twice the memory of a float32 input; on GPUs with slow float64
  arithmetic, slower). Results come back in the input's precision: a Python float
  for numpy scalars (the float64 value), float32 tensors and arrays for float32 input,
  float64 for float64, and float32 for half-precision (float16, bfloat16) input. The
  rank tolerance of the CCA family uses the input's precision.

The measures:

- :func:`cka`, :func:`linear_cka_matrix`: centred kernel alignment (Kornblith et al.
  2019), linear or RBF kernel, biased or debiased HSIC (Song et al. 2012; Nguyen et al.
  2021).
- :func:`procrustes_distance`: orthogonal Procrustes shape metrics (Williams et al. 2021).
- :func:`mutual_knn`: mutual nearest-neighbour alignment (Huh et al. 2024).
- :func:`cca`, :func:`svcca`, :func:`pwcca`: canonical correlations, SVCCA (Raghu et al.
  2017) and projection-weighted CCA (Morcos et al. 2018).
- :func:`rsa_ratings`: correlation of a model's pairwise similarities with human
  pairwise ratings that may have unrated (NaN) pairs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
from array_api_compat import device as _device
from array_api_compat import is_numpy_array

from brainalign.alignment._checks import check_int
from brainalign.alignment.backend import (
    as_float,
    at_least_float32,
    namespace,
    to_numpy,
    working_float64,
)
from brainalign.alignment.metrics import _pearson_2d
from brainalign.alignment.rsa import _rank

__all__ = [
    "cca",
    "cka",
    "linear_cka_matrix",
    "mutual_knn",
    "procrustes_distance",
    "pwcca",
    "rsa_ratings",
    "svcca",
]

MIN_STIMULI = 3


# --------------------------------------------------------------------------- checks


def _check_2d(name: str, A: Any, xp: Any) -> Any:
    """``A`` as a finite floating 2-D array of ``xp``, or a ValueError naming ``name``."""
    A = as_float(A, xp)
    if A.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_stimuli, n_features); got shape {tuple(A.shape)}. "
            f"Reshape a single feature to (n_stimuli, 1)."
        )
    if A.shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {tuple(A.shape)}); give it features.")
    finite = xp.isfinite(A)
    if not bool(xp.all(finite)):
        rows = np.flatnonzero(~to_numpy(xp.all(finite, axis=1)))
        raise ValueError(
            f"{name} has NaN or inf values in rows {rows[:10].tolist()}"
            f"{' ...' if rows.size > 10 else ''}; drop or impute those stimuli first."
        )
    return A


def _check_pair(X: Any, Y: Any, names: tuple[str, str] = ("X", "Y")) -> tuple[Any, Any, Any, Any]:
    """``xp, X, Y, dtype``: two finite 2-D float64 arrays with the same rows (>= 3).

    ``dtype`` is the inputs' common float type (see :func:`_finish`); ``X`` and ``Y``
    are upcast to float64 on their device (see the module docstring, *Precision*).
    """
    xp = namespace(X, Y)
    X = _check_2d(names[0], X, xp)
    Y = _check_2d(names[1], Y, xp)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} has {X.shape[0]} rows (stimuli) but {names[1]} has {Y.shape[0]}; "
            "they must hold the same stimuli in the same order."
        )
    if X.shape[0] < MIN_STIMULI:
        raise ValueError(
            f"{names[0]} and {names[1]} have {X.shape[0]} stimuli (rows); similarity needs "
            f"at least {MIN_STIMULI}."
        )
    dtype = xp.result_type(X.dtype, Y.dtype)
    return xp, working_float64(X, xp), working_float64(Y, xp), dtype


def _is_constant(A: Any, xp: Any) -> bool:
    """True when every row of ``A`` equals its first row (no variation across stimuli)."""
    return bool(xp.all(A == A[0:1, :]))


# --------------------------------------------------------------------------- small tools


def _scalar(value: Any, xp: Any) -> Any:
    """A Python float for numpy, the 0-d tensor itself (same device) for torch."""
    if is_numpy_array(value) or isinstance(value, float | np.floating):
        return float(value)
    return value


def _finish(value: Any, xp: Any, dtype: Any) -> Any:
    """A float64 result in the precision of inputs of ``dtype`` (float32 for half).

    Scalars of numpy input become Python floats of the float64 value.
    """
    if is_numpy_array(value) and value.ndim == 0:
        return float(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return xp.astype(value, at_least_float32(dtype, xp), copy=False)


def _nan(like: Any, xp: Any, dtype: Any) -> Any:
    nan = xp.asarray(float("nan"), dtype=like.dtype, device=_device(like))
    return _finish(nan, xp, dtype)


def _centre(A: Any, xp: Any) -> Any:
    """Columns of ``A`` minus their means over stimuli."""
    return A - xp.mean(A, axis=0, keepdims=True)


def _eye(n: int, like: Any, xp: Any) -> Any:
    return xp.eye(n, dtype=like.dtype, device=_device(like))


def _inner(A: Any, B: Any, xp: Any) -> Any:
    """Frobenius inner product ``sum(A * B)``."""
    return xp.sum(A * B)


def _median(values: Any, xp: Any) -> Any:
    """Median of a 1-D array, averaging the two middle values for an even count (numpy's)."""
    ordered = xp.sort(values)
    m = ordered.shape[0]
    if m % 2:
        return ordered[m // 2]
    return (ordered[m // 2 - 1] + ordered[m // 2]) / 2


# --------------------------------------------------------------------------- CKA


def _linear_gram(X: Any, xp: Any) -> Any:
    """Centred linear Gram matrix ``Xc @ Xc.T``, shape (n, n)."""
    Xc = _centre(X, xp)
    return Xc @ xp.matrix_transpose(Xc)


def _rbf_gram(X: Any, sigma: float, xp: Any) -> Any:
    """RBF Gram matrix with bandwidth ``sigma * sqrt(median squared distance)``.

    As in Kornblith et al.'s ``gram_rbf``: the median is over all n*n entries of the
    squared-distance matrix, its n zero diagonal entries included.
    """
    Xc = _centre(X, xp)  # distances do not change; the products are better conditioned
    dots = Xc @ xp.matrix_transpose(Xc)
    sq_norms = xp.linalg.diagonal(dots)
    sq_dist = -2 * dots + sq_norms[:, None] + sq_norms[None, :]
    sq_dist = xp.where(sq_dist > 0, sq_dist, xp.zeros_like(sq_dist))
    sq_median = _median(xp.reshape(sq_dist, (-1,)), xp)
    if not bool(sq_median > 64 * xp.finfo(X.dtype).eps * xp.max(sq_dist)):  # 0 up to rounding
        raise ValueError(
            "the median squared distance between stimuli is 0 (more than half of the "
            "stimulus pairs are identical), so the RBF bandwidth is 0; remove duplicate "
            "stimuli or use kernel='linear'."
        )
    return xp.exp(-sq_dist / (2 * sigma**2 * sq_median))


def _centre_gram(K: Any, debiased: bool, xp: Any) -> Any:
    """Double-centred ``H K H`` or, when ``debiased``, U-centred Gram matrix.

    The U-centred matrix (Szekely & Rizzo 2014) has a zero diagonal, and the inner
    product of two of them divided by ``n (n - 3)`` is the unbiased HSIC estimator of
    Song et al. (2012); the factor cancels in CKA.
    """
    n = K.shape[0]
    if debiased:
        off_diag = 1 - _eye(n, K, xp)
        K = K * off_diag
        means = xp.sum(K, axis=0) / (n - 2)
        means = means - xp.sum(means) / (2 * (n - 1))
        return (K - means[:, None] - means[None, :]) * off_diag
    means = xp.mean(K, axis=0)
    means = means - xp.mean(means) / 2
    return K - means[:, None] - means[None, :]


def _gram(X: Any, kernel: str, sigma: float, debiased: bool, xp: Any) -> Any:
    if kernel == "linear":
        K = _linear_gram(X, xp)  # already double-centred
        return _centre_gram(K, True, xp) if debiased else K
    return _centre_gram(_rbf_gram(X, sigma, xp), debiased, xp)


def _debiased_dot(
    dot: Any, sq_rows_x: Any, sq_rows_y: Any, sq_norm_x: Any, sq_norm_y: Any, n: int
) -> Any:
    """``n (n - 3)`` times the unbiased HSIC of two linear kernels of centred features."""
    return (
        dot
        - n / (n - 2) * _dot1d(sq_rows_x, sq_rows_y)
        + sq_norm_x * sq_norm_y / ((n - 1) * (n - 2))
    )


def _dot1d(a: Any, b: Any) -> Any:
    """Dot product of two 1-D arrays (array-API ``vecdot`` is missing in older numpy)."""
    return (a[None, :] @ b[:, None])[0, 0]


def _feature_space_cka(X: Any, Y: Any, debiased: bool, xp: Any) -> Any:
    """Linear CKA from the (p, q), (p, p) and (q, q) cross-products of centred features."""
    Xc, Yc = _centre(X, xp), _centre(Y, xp)
    cross = xp.sum((xp.matrix_transpose(Yc) @ Xc) ** 2)
    self_x = xp.sum((xp.matrix_transpose(Xc) @ Xc) ** 2)
    self_y = xp.sum((xp.matrix_transpose(Yc) @ Yc) ** 2)
    if debiased:
        n = X.shape[0]
        rows_x, rows_y = xp.sum(Xc**2, axis=1), xp.sum(Yc**2, axis=1)
        norm_x, norm_y = xp.sum(rows_x), xp.sum(rows_y)
        cross = _debiased_dot(cross, rows_x, rows_y, norm_x, norm_y, n)
        self_x = _debiased_dot(self_x, rows_x, rows_x, norm_x, norm_x, n)
        self_y = _debiased_dot(self_y, rows_y, rows_y, norm_y, norm_y, n)
    return cross / xp.sqrt(self_x * self_y)


def _gram_cka(Kc: Any, Lc: Any, xp: Any) -> Any:
    """CKA of two centred (or U-centred) Gram matrices."""
    return _inner(Kc, Lc, xp) / xp.sqrt(_inner(Kc, Kc, xp) * _inner(Lc, Lc, xp))


def _feature_route_is_cheaper(n: int, p: int, q: int) -> bool:
    """Multiply-adds: feature route n (p^2 + q^2 + pq) vs Gram route n^2 (p + q)."""
    return p * p + q * q + p * q <= n * (p + q)


def _check_cka_options(
    kernel: str, debiased: bool, sigma: float | None, method: str, n: int
) -> float:
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel={kernel!r}; use 'linear' or 'rbf'.")
    if method not in ("auto", "feature", "gram"):
        raise ValueError(f"method={method!r}; use 'auto', 'feature' or 'gram'.")
    if method == "feature" and kernel != "linear":
        raise ValueError("method='feature' works only with kernel='linear'; use method='gram'.")
    if sigma is not None and kernel != "rbf":
        raise ValueError(f"sigma={sigma!r} is the RBF bandwidth factor; use it with kernel='rbf'.")
    sigma = 1.0 if sigma is None else sigma
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number; got {sigma!r}.")
    if debiased and n < 4:
        raise ValueError(
            f"debiased CKA needs at least 4 stimuli (the unbiased HSIC divides by n - 3); got {n}."
        )
    return float(sigma)


def cka(
    X: Any,
    Y: Any,
    kernel: Literal["linear", "rbf"] = "linear",
    *,
    debiased: bool = False,
    sigma: float | None = None,
    method: Literal["auto", "feature", "gram"] = "auto",
) -> Any:
    """Centred kernel alignment between two representations (Kornblith et al. 2019).

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``K``, ``L`` the stimulus-by-
    stimulus kernel (Gram) matrices of ``X`` and ``Y``. It is invariant to orthogonal
    transforms and isotropic scaling of either representation (and, linear kernel, to
    translation), and ``cka(X, X) == 1``.

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)
        Same stimuli, same order. At least 3 stimuli (4 when ``debiased``).
    kernel : {"linear", "rbf"}
        ``"rbf"``: ``k(x, x') = exp(-||x - x'||^2 / (2 sigma^2 m))`` where ``m`` is the
        median of the squared distances over all n*n stimulus pairs (diagonal zeros
        included, exactly as Kornblith et al.'s ``gram_rbf``).
    debiased : bool
        Use the unbiased HSIC estimator (Song et al. 2012) for all three HSIC terms, i.e.
        debiased CKA (Nguyen et al. 2021; Kornblith's ``center_gram(unbiased=True)``).
        Less biased upward when features outnumber stimuli; can be slightly negative.
    sigma : float, optional
        RBF bandwidth as a multiple of the median distance (Kornblith's ``threshold``);
        default 1.0. Only with ``kernel="rbf"``.
    method : {"auto", "feature", "gram"}
        How linear CKA is computed; the numbers agree to rounding. ``"feature"`` uses
        ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` (cost ``n (p^2 + q^2 + pq)``),
        ``"gram"`` the centred (n, n) Gram matrices (cost ``n^2 (p + q)``); ``"auto"``
        picks the cheaper. RBF always uses the Gram route.

    Returns
    -------
    float or 0-d tensor
        CKA in [0, 1] (debiased: at most 1, possibly slightly below 0). NaN when ``X``
        or ``Y`` is constant (every row the same): CKA is undefined there.

    Raises
    ------
    ValueError
        For bad arrays (see module docstring), an unknown ``kernel`` or ``method``, a
        non-positive ``sigma``, or an RBF bandwidth of 0 (mostly duplicate stimuli).
    """
    xp, X, Y, dtype = _check_pair(X, Y)
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    sigma = _check_cka_options(kernel, debiased, sigma, method, n)
    if _is_constant(X, xp) or _is_constant(Y, xp):
        return _nan(X, xp, dtype)
    use_feature = method == "feature" or (
        method == "auto" and kernel == "linear" and _feature_route_is_cheaper(n, p, q)
    )
    if use_feature:
        return _finish(_feature_space_cka(X, Y, debiased, xp), xp, dtype)
    Kc = _gram(X, kernel, sigma, debiased, xp)
    Lc = _gram(Y, kernel, sigma, debiased, xp)
    return _finish(_gram_cka(Kc, Lc, xp), xp, dtype)


def _as_list(name: str, arrays: Any) -> list[Any]:
    if isinstance(arrays, list | tuple):
        if not arrays:
            raise ValueError(f"{name} is empty; give at least one (n_stimuli, n_features) array.")
        return list(arrays)
    return [arrays]


def _unit_gram_rows(arrays: list[Any], name: str, debiased: bool, xp: Any) -> Any:
    """Stack of flattened centred Grams scaled to unit norm, shape (len(arrays), n*n).

    Rows of constant representations are NaN.
    """
    rows = []
    for index, A in enumerate(arrays):
        A = working_float64(_check_2d(f"{name}[{index}]", A, xp), xp)
        K = _gram(A, "linear", 1.0, debiased, xp)
        K = xp.reshape(K, (-1,))
        norm = xp.sqrt(_inner(K, K, xp))
        if _is_constant(A, xp):
            norm = xp.asarray(float("nan"), dtype=K.dtype, device=_device(K))
        rows.append(K / norm)
    return xp.stack(rows)


def linear_cka_matrix(Xs: Any, Ys: Any, *, debiased: bool = False) -> Any:
    """Linear CKA of every representation in ``Xs`` against every one in ``Ys``.

    Each centred Gram matrix is computed once, so comparing many layers with many
    targets costs ``n^2 (sum of widths)`` plus one (n_x, n*n) x (n*n, n_y) product,
    instead of one :func:`cka` call per pair.

    Parameters
    ----------
    Xs : list of arrays, shape (n_stimuli, p_i) each, or one array
    Ys : list of arrays, shape (n_stimuli, q_j) each, or one array
        All the same kind (numpy or torch), with the same stimuli in the same order.
    debiased : bool
        Debiased CKA (unbiased HSIC), as in :func:`cka`.

    Returns
    -------
    array, shape (n_x, n_y)
        ``out[i, j] == cka(Xs[i], Ys[j], debiased=debiased)``. Rows or columns of
        constant representations are NaN. A single array counts as a list of one.

    Raises
    ------
    ValueError
        For an empty list, or arrays that are not finite 2-D, have different numbers of
        rows, or fewer than 3 stimuli (4 when ``debiased``).
    """
    Xs, Ys = _as_list("Xs", Xs), _as_list("Ys", Ys)
    xp = namespace(*Xs, *Ys)
    n_rows = {int(A.shape[0]) for A in [*Xs, *Ys]}
    if len(n_rows) > 1:
        raise ValueError(
            f"Xs and Ys have different numbers of rows (stimuli): {sorted(n_rows)}; every "
            "array must hold the same stimuli in the same order."
        )
    n = n_rows.pop()
    if n < MIN_STIMULI or (debiased and n < 4):
        raise ValueError(
            f"Xs and Ys have {n} stimuli (rows); CKA needs at least "
            f"{4 if debiased else MIN_STIMULI}."
        )
    dtype = xp.result_type(*[as_float(A, xp).dtype for A in [*Xs, *Ys]])
    KX = _unit_gram_rows(Xs, "Xs", debiased, xp)
    KY = _unit_gram_rows(Ys, "Ys", debiased, xp)
    return _finish(KX @ xp.matrix_transpose(KY), xp, dtype)


# --------------------------------------------------------------------------- Procrustes


def _row_space_factor(A: Any, xp: Any) -> Any:
    """An (n, n) array ``R`` with ``R R^T == A A^T`` when ``A`` has more columns than rows.

    Products ``A^T B`` then keep their singular values, so nuclear norms can be taken on
    the smaller (n, q) matrix.
    """
    n, p = A.shape
    if p <= n:
        return A
    _, R = xp.linalg.qr(xp.matrix_transpose(A))
    return xp.matrix_transpose(R)


def _nuclear_norm_of_cross(X: Any, Y: Any, xp: Any) -> Any:
    """``||X^T Y||_*``, the sum of singular values of the (p, q) cross-product."""
    Xr, Yr = _row_space_factor(X, xp), _row_space_factor(Y, xp)
    return xp.sum(xp.linalg.svdvals(xp.matrix_transpose(Xr) @ Yr))


def procrustes_distance(
    X: Any,
    Y: Any,
    *,
    metric: Literal["angular", "euclidean"] = "angular",
    center: bool = True,
    scale: bool = True,
) -> Any:
    """Orthogonal Procrustes shape distance (Williams et al. 2021, "generalized shape metrics").

    With ``X`` and ``Y`` centred (``center``) and the narrower one zero-padded to the
    same width, the best rotation/reflection ``Q`` gives
    ``<X, Y Q> = ||X^T Y||_*`` (nuclear norm; zero-padding does not change it, so no
    padded copy is made). Then

    - ``metric="angular"``: ``arccos(||X^T Y||_* / (||X||_F ||Y||_F))`` in [0, pi/2], the
      Riemannian shape distance of Williams et al. (their ``alpha = 1`` case). It is
      invariant to scale, so ``scale`` does not change it.
    - ``metric="euclidean"``: ``min_Q ||X - Y Q||_F``, i.e.
      ``sqrt(||X||^2 + ||Y||^2 - 2 ||X^T Y||_*)``, after dividing ``X`` and ``Y`` by their
      Frobenius norms when ``scale`` (the chordal shape distance, ``2 sin(theta / 2)``
      with ``theta`` the angular distance); without ``scale`` it is the size-and-shape
      distance in the data's units.

    Both are metrics (symmetric, triangle inequality) and 0 when ``Y`` is an orthogonal
    transform (plus, with ``center``, a translation; with ``scale``, an isotropic
    rescaling) of ``X``.

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)
    metric : {"angular", "euclidean"}
    center : bool
        Subtract each column's mean first (translation invariance).
    scale : bool
        Normalise to unit Frobenius norm first (scale invariance; euclidean only).

    Returns
    -------
    float or 0-d tensor
        The distance. NaN when a normalisation divides by zero: ``X`` or ``Y`` constant
        (all zero when ``center=False``) with ``metric="angular"`` or ``scale=True``.
    """
    if metric not in ("angular", "euclidean"):
        raise ValueError(f"metric={metric!r}; use 'angular' or 'euclidean'.")
    xp, X, Y, dtype = _check_pair(X, Y)
    if center:
        degenerate = _is_constant(X, xp) or _is_constant(Y, xp)
        X, Y = _centre(X, xp), _centre(Y, xp)
    else:
        degenerate = bool(xp.all(X == 0)) or bool(xp.all(Y == 0))
    nuc = _nuclear_norm_of_cross(X, Y, xp)
    sq_x, sq_y = xp.sum(X**2), xp.sum(Y**2)
    if metric == "euclidean" and not scale:
        return _finish(xp.sqrt(xp.clip(sq_x + sq_y - 2 * nuc, min=0.0)), xp, dtype)
    if degenerate:
        return _nan(X, xp, dtype)
    cosine = xp.clip(nuc / xp.sqrt(sq_x * sq_y), min=-1.0, max=1.0)
    if metric == "angular":
        return _finish(xp.acos(cosine), xp, dtype)
    return _finish(xp.sqrt(xp.clip(2 - 2 * cosine, min=0.0)), xp, dtype)


# --------------------------------------------------------------------------- mutual kNN


def _knn_indices(A: Any, k: int, name: str, xp: Any) -> Any:
    """Indices of the ``k`` most cosine-similar other rows of each row, shape (n, k).

    Ties are broken by the lower stimulus index; a row is never its own neighbour.
    """
    norms = xp.linalg.vector_norm(A, axis=1)
    if not bool(xp.all(norms > 0)):
        rows = np.flatnonzero(to_numpy(norms) == 0)
        raise ValueError(
            f"{name} has all-zero rows {rows[:10].tolist()}; their cosine similarity is "
            "undefined. Drop those stimuli."
        )
    unit = A / norms[:, None]
    sims = unit @ xp.matrix_transpose(unit)
    n = A.shape[0]
    self_mask = xp.astype(_eye(n, sims, xp), xp.bool)
    sims = xp.where(self_mask, xp.asarray(-xp.inf, dtype=sims.dtype, device=_device(sims)), sims)
    return xp.argsort(-sims, axis=1, stable=True)[:, :k]


def mutual_knn(X: Any, Y: Any, k: int = 10) -> Any:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024, Platonic Representation).

    For each stimulus ``i``, ``kNN_X(i)`` are the ``k`` other stimuli whose rows of ``X``
    are most cosine-similar to row ``i`` (rows are L2-normalised, the stimulus itself is
    excluded); the score is ``mean_i |kNN_X(i) & kNN_Y(i)| / k``. It is invariant to
    rotations and per-row rescaling of either representation, but not to translation.

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)
    k : int
        Number of neighbours, ``1 <= k <= n_stimuli - 1`` (``k = n_stimuli - 1`` always
        gives 1). Huh et al. use 10.

    Returns
    -------
    float or 0-d tensor
        In [0, 1]; about ``k / (n_stimuli - 1)`` for unrelated representations. Tied
        similarities are broken by the lower stimulus index.

    Raises
    ------
    ValueError
        For bad arrays (see module docstring), ``k`` out of range, or an all-zero row.
    """
    xp, X, Y, dtype = _check_pair(X, Y)
    n = X.shape[0]
    k = check_int("k", k, minimum=1)
    if k >= n:
        raise ValueError(
            f"k={k} must be smaller than the number of stimuli ({n}); use k <= {n - 1}."
        )
    knn_x = _knn_indices(X, k, "X", xp)
    knn_y = _knn_indices(Y, k, "Y", xp)
    shared = xp.sum(xp.astype(knn_x[:, :, None] == knn_y[:, None, :], X.dtype), axis=(1, 2))
    return _finish(xp.mean(shared) / k, xp, dtype)


# --------------------------------------------------------------------------- CCA family


def _svd_basis(A: Any, xp: Any, dtype: Any) -> tuple[Any, Any]:
    """Left singular vectors and singular values of centred ``A`` above the rank tolerance.

    Tolerance as :func:`numpy.linalg.matrix_rank`: ``s_max * max(n, p) * eps``, with
    ``eps`` of the input's precision ``dtype`` (``A`` itself is float64): directions
    below the rounding of the data are not counted.
    """
    U, s, _ = xp.linalg.svd(_centre(A, xp), full_matrices=False)
    tol = s[0] * max(A.shape) * xp.finfo(dtype).eps
    rank = int(xp.sum(xp.astype(s > tol, xp.int64)))
    return U[:, :rank], s[:rank]


def _warn_if_trivial(rank_x: int, rank_y: int, n: int) -> None:
    if rank_x + rank_y > n:
        warnings.warn(
            f"the representations span {rank_x} + {rank_y} > {n} (n_stimuli) dimensions, so at "
            f"least {rank_x + rank_y - n} canonical correlations are 1 by construction; "
            "reduce the dimensions (e.g. svcca's keep / n_components) or use more stimuli.",
            UserWarning,
            stacklevel=3,
        )


def _bases(X: Any, Y: Any, xp: Any, constant: str, dtype: Any) -> tuple[Any, Any] | None:
    """Orthonormal bases of the centred column spaces, or None if one is constant."""
    if _is_constant(X, xp) or _is_constant(Y, xp):
        if constant == "raise":
            which = "X" if _is_constant(X, xp) else "Y"
            raise ValueError(
                f"{which} is constant (every row the same); canonical correlations are "
                "undefined. Remove constant representations first."
            )
        return None
    Ux, _ = _svd_basis(X, xp, dtype)
    Uy, _ = _svd_basis(Y, xp, dtype)
    return Ux, Uy


def _correlations(Ux: Any, Uy: Any, xp: Any) -> Any:
    """Canonical correlations: singular values of ``Ux^T Uy``, clipped to [0, 1]."""
    _warn_if_trivial(Ux.shape[1], Uy.shape[1], Ux.shape[0])
    rho = xp.linalg.svdvals(xp.matrix_transpose(Ux) @ Uy)
    return xp.clip(rho, min=0.0, max=1.0)


def cca(X: Any, Y: Any) -> Any:
    """Canonical correlations between two representations.

    Computed without regularisation from orthonormal bases of the centred column spaces
    (``rho = svdvals(Ux^T Uy)``, Bjorck & Golub 1973); columns beyond the numerical rank
    (``s_max * max(n, p) * eps``) are dropped. Invariant to any invertible linear map
    (and translation) of ``X`` or ``Y``. A UserWarning says when
    ``rank(X) + rank(Y) > n_stimuli``: some correlations are then 1 by construction.

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)

    Returns
    -------
    array, shape (min(rank X, rank Y),)
        Canonical correlations in [0, 1], largest first.

    Raises
    ------
    ValueError
        For bad arrays (see module docstring) or a constant ``X`` or ``Y``.
    """
    xp, X, Y, dtype = _check_pair(X, Y)
    Ux, Uy = _bases(X, Y, xp, constant="raise", dtype=dtype)
    return _finish(_correlations(Ux, Uy, xp), xp, dtype)


def _svcca_basis(
    A: Any, name: str, keep: float, n_components: int | None, xp: Any, dtype: Any
) -> Any:
    U, s = _svd_basis(A, xp, dtype)
    if n_components is not None:
        if n_components > U.shape[1]:
            raise ValueError(
                f"n_components={n_components} exceeds the rank of {name} ({U.shape[1]}); "
                f"use at most {U.shape[1]}."
            )
        return U[:, :n_components]
    variance = s**2
    explained = xp.cumulative_sum(variance) / xp.sum(variance)
    # smallest number of components reaching `keep` (tolerance for keep=1.0 rounding)
    n_keep = int(xp.sum(xp.astype(explained < keep - 1e-12, xp.int64))) + 1
    return U[:, : min(n_keep, U.shape[1])]


def svcca(X: Any, Y: Any, *, keep: float = 0.99, n_components: int | None = None) -> Any:
    """SVCCA similarity (Raghu et al. 2017): mean canonical correlation after an SVD.

    Each centred representation is reduced to its leading singular directions, the
    fewest that explain a fraction ``keep`` of its variance (or ``n_components`` of
    them), then :func:`cca` is applied and the canonical correlations are averaged.

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)
    keep : float
        Fraction of variance kept in each representation, in (0, 1]; default 0.99.
    n_components : int, optional
        Keep exactly this many directions in each (at most the rank of each); takes
        precedence over ``keep``.

    Returns
    -------
    float or 0-d tensor
        Mean canonical correlation in [0, 1]. NaN when ``X`` or ``Y`` is constant.
    """
    xp, X, Y, dtype = _check_pair(X, Y)
    if not (isinstance(keep, int | float) and 0 < keep <= 1):
        raise ValueError(f"keep must be a fraction of variance in (0, 1]; got {keep!r}.")
    if n_components is not None:
        n_components = check_int("n_components", n_components, minimum=1)
    if _is_constant(X, xp) or _is_constant(Y, xp):
        return _nan(X, xp, dtype)
    Ux = _svcca_basis(X, "X", keep, n_components, xp, dtype)
    Uy = _svcca_basis(Y, "Y", keep, n_components, xp, dtype)
    return _finish(xp.mean(_correlations(Ux, Uy, xp)), xp, dtype)


def pwcca(X: Any, Y: Any) -> Any:
    """Projection-weighted CCA (Morcos et al. 2018).

    The mean of the canonical correlations ``rho_i`` weighted by how much of the
    representation each canonical variate accounts for:
    ``alpha_i = sum_j |<h_i, x_j>|`` with ``h_i`` the unit-norm canonical variates and
    ``x_j`` the centred columns of the representation with fewer columns (``X`` on a
    tie), as in the authors' ``compute_pwcca``; ``PWCCA = sum_i alpha_i rho_i / sum_i
    alpha_i``. Differences from that code: no epsilon regularisation, and the weights
    use centred columns (their code adds the column means back, which only matters for
    uncentred data).

    Parameters
    ----------
    X : array (numpy or torch), shape (n_stimuli, p)
    Y : array of the same kind, shape (n_stimuli, q)

    Returns
    -------
    float or 0-d tensor
        In [0, 1]. NaN when ``X`` or ``Y`` is constant. Not symmetric when p != q.
    """
    xp, X, Y, dtype = _check_pair(X, Y)
    bases = _bases(X, Y, xp, constant="nan", dtype=dtype)
    if bases is None:
        return _nan(X, xp, dtype)
    Ux, Uy = bases
    _warn_if_trivial(Ux.shape[1], Uy.shape[1], Ux.shape[0])
    A, rho, Bt = xp.linalg.svd(xp.matrix_transpose(Ux) @ Uy, full_matrices=False)
    m = rho.shape[0]
    if X.shape[1] <= Y.shape[1]:
        variates, columns = Ux @ A[:, :m], _centre(X, xp)
    else:
        variates, columns = Uy @ xp.matrix_transpose(Bt)[:, :m], _centre(Y, xp)
    weights = xp.sum(xp.abs(xp.matrix_transpose(variates) @ columns), axis=1)
    rho = xp.clip(rho, min=0.0, max=1.0)
    return _finish(xp.sum(weights * rho) / xp.sum(weights), xp, dtype)


# --------------------------------------------------------------------------- ratings


def _n_from_condensed(name: str, m: int) -> int:
    n = (1 + math.isqrt(1 + 8 * m)) // 2
    if n * (n - 1) // 2 != m:
        raise ValueError(
            f"{name} has {m} values, which is not n * (n - 1) / 2 for any n; give a square "
            "(n, n) matrix or a condensed vector of the upper triangle (scipy squareform order)."
        )
    return n


def _condensed(name: str, M: Any, xp: Any) -> Any:
    """Upper-triangle pairs of a square matrix (scipy ``squareform`` order), or a vector.

    Where the upper entry is NaN the lower one is used, so a matrix rated in either
    triangle works; pairs rated in both triangles must agree.
    """
    M = as_float(M, xp)
    if bool(xp.any(xp.isinf(M))):
        raise ValueError(f"{name} has infinite values; use NaN for unrated pairs.")
    if M.ndim == 1:
        _n_from_condensed(name, M.shape[0])
        return M
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(
            f"{name} must be a square (n, n) matrix or a condensed vector; got shape "
            f"{tuple(M.shape)}."
        )
    n = M.shape[0]
    i, j = np.triu_indices(n, 1)
    flat = xp.reshape(M, (-1,))
    dev = _device(M)
    upper = xp.take(flat, xp.asarray(i * n + j, device=dev))
    lower = xp.take(flat, xp.asarray(j * n + i, device=dev))
    both = ~xp.isnan(upper) & ~xp.isnan(lower)
    gap = xp.abs(upper - lower)
    tol = 1e-7 * xp.maximum(xp.abs(upper), xp.abs(lower))
    if bool(xp.any(both & (gap > tol))):
        raise ValueError(
            f"{name} is not symmetric: some pairs (i, j) and (j, i) have different values. "
            f"Average it with its transpose first, or give a condensed vector."
        )
    return xp.where(xp.isnan(upper), lower, upper)


def rsa_ratings(
    model_similarity: Any,
    human_ratings: Any,
    method: Literal["spearman", "pearson"] = "spearman",
) -> Any:
    """Correlate a model's pairwise similarities with human pairwise similarity ratings.

    Turing-RSA style: the pairs of stimuli that are rated in both inputs (not NaN) are
    compared with Spearman's rank correlation (ties get average ranks, as
    :func:`scipy.stats.spearmanr`) or Pearson's correlation.

    Parameters
    ----------
    model_similarity : array (numpy or torch), shape (n, n) or (n * (n - 1) / 2,)
        The model's similarity (or dissimilarity, giving a negated correlation) of each
        pair of stimuli. A square matrix is read from its upper triangle, falling back
        to the lower triangle where the upper one is NaN; the diagonal is ignored. A
        vector is condensed in :func:`scipy.spatial.distance.squareform` order.
    human_ratings : array of the same kind, shape (n, n) or (n * (n - 1) / 2,)
        Human ratings of the same pairs; NaN marks an unrated pair.
    method : {"spearman", "pearson"}

    Returns
    -------
    float or 0-d tensor
        The correlation over the pairs rated in both. NaN when either side is constant
        over those pairs.

    Raises
    ------
    ValueError
        For an unknown ``method``; shapes that are neither square nor condensed, or that
        describe different numbers of stimuli; fewer than 3 stimuli; an asymmetric square
        matrix; infinite values; fewer than 3 pairs rated in both.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method={method!r}; use 'spearman' or 'pearson'.")
    xp = namespace(model_similarity, human_ratings)
    a = _condensed("model_similarity", model_similarity, xp)
    b = _condensed("human_ratings", human_ratings, xp)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"model_similarity covers {_n_from_condensed('model_similarity', a.shape[0])} "
            f"stimuli but human_ratings covers {_n_from_condensed('human_ratings', b.shape[0])}; "
            "they must rate the same stimuli in the same order."
        )
    if _n_from_condensed("model_similarity", a.shape[0]) < MIN_STIMULI:
        raise ValueError(f"rsa_ratings needs at least {MIN_STIMULI} stimuli.")
    dtype = xp.result_type(a.dtype, b.dtype)
    a, b = xp.astype(a, dtype), xp.astype(b, dtype)
    rated = ~xp.isnan(a) & ~xp.isnan(b)
    n_rated = int(xp.sum(xp.astype(rated, xp.int64)))
    if n_rated < 3:
        raise ValueError(
            f"only {n_rated} stimulus pairs are rated (not NaN) in both model_similarity and "
            "human_ratings; a correlation needs at least 3."
        )
    a, b = a[rated], b[rated]
    if method == "spearman":
        a, b = _rank(a, xp), _rank(b, xp)
    return _scalar(_pearson_2d(a[:, None], b[:, None])[0], xp)
