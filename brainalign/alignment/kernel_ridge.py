"""Kernel ridge regression with a cross-validated penalty per target.

For many more features than samples (and for non-linear kernels) the ``n x n`` kernel
matrix is the natural object. One eigendecomposition of each split's (centred)
training kernel ``K = U diag(s) U^T`` scores every penalty for every target::

    dual_coef(alpha) = U (s + alpha)^-1 U^T Y,     Y_val_pred = K_val dual_coef(alpha)

the same formula, and the same code (:func:`brainalign.alignment.ridge._ridge_apply`
through ``_GramSVD.from_kernel``), as :class:`~brainalign.alignment.ridge.RidgeCV` in
its dual form. Kernels and their parameters are himalaya's
(``himalaya.kernel_ridge.KernelRidgeCV``), which are scikit-learn's.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device as array_device
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import check_alphas, check_int, check_predict_X, check_xy_arrays
from brainalign.alignment.backend import namespace
from brainalign.alignment.ridge import (
    DEFAULT_ALPHAS,
    _all_rows,
    _best_alphas,
    _blas_threads_for_fit,
    _check_scoring,
    _check_splits,
    _cv_scores,
    _fold_threads,
    _GramSVD,
    _refit,
    _resolve_cv,
    _score_columns,
)

__all__ = ["KERNELS", "KernelRidgeCV", "kernel_matrix"]

#: Kernel names and the parameters each accepts (``kernel_params`` keys).
KERNELS: dict[str, tuple[str, ...]] = {
    "linear": (),
    "polynomial": ("degree", "gamma", "coef0"),
    "rbf": ("gamma",),
}


class KernelRidgeCV(RegressorMixin, BaseEstimator):
    """Kernel ridge regression choosing its penalty per target by cross-validation.

    For each split of ``cv`` one eigendecomposition of the training kernel scores every
    ``alpha`` for every target by ``scoring`` on the validation rows; each target gets
    the ``alpha`` with the best mean score and the dual coefficients are refitted on
    all rows with one more eigendecomposition. Suited to ``n_features >> n_samples``;
    runs on numpy arrays or torch tensors (CPU or GPU). Small numpy fits score the
    splits on parallel threads, as :class:`~brainalign.alignment.ridge.RidgeCV` does.

    Parameters
    ----------
    alphas : array-like of float, shape (n_alphas,), default DEFAULT_ALPHAS
        Positive penalties to try (default ``numpy.logspace(-1, 8, 19)``).
    kernel : {"linear", "polynomial", "rbf"}, default "linear"
        ``linear``: ``K(x, y) = <x, y>``. ``polynomial``: ``(gamma <x, y> + coef0) **
        degree``. ``rbf``: ``exp(-gamma ||x - y||^2)``. As in himalaya and
        scikit-learn.
    kernel_params : dict, optional
        ``degree`` (default 3), ``gamma`` (default ``1 / n_features``) and ``coef0``
        (default 1) for ``polynomial``; ``gamma`` (default ``1 / n_features``) for
        ``rbf``; nothing for ``linear``.
    cv : int or splitter, default 5
        An int ``k`` means ``BlockedKFold(k, gap=0)``; or any object with a
        ``split(X)`` method yielding ``(train, validation)`` index arrays; or a list
        of ``(train, validation)`` index arrays (as himalaya accepts).
    fit_intercept : bool, default True
        Centre the kernel in feature space and ``Y`` with the training means (the
        intercept is not penalised). himalaya's default is False.
    target_batch_size : int, default 10_000
        Targets scored and solved together; memory grows with it, results do not change.
    scoring : {"pearson", "r2"}, default "pearson"
        Score used to choose alphas and returned by :meth:`score`.

    Attributes
    ----------
    cv_scores_ : array, shape (n_alphas, n_targets)
        Mean validation score over the splits, for every alpha (himalaya keeps only
        the best alpha's: ``cv_scores_.max(axis=0)``). Nan where some split's score is
        undefined.
    best_alphas_ : array, shape (n_targets,)
        Penalty with the highest ``cv_scores_`` per target; nan counts as -inf and ties
        go to the first alpha in ``alphas`` order.
    dual_coef_ : array, shape (n_samples, n_targets), or (n_samples,) for 1-D Y
        Dual coefficients refitted on all rows: predictions are
        ``kernel(X_new, X_fit_) @ dual_coef_ + intercept_``.
    intercept_ : array, shape (n_targets,), or float for 1-D Y
        Zero when ``fit_intercept=False``.
    X_fit_ : array, shape (n_samples, n_features)
        The training features (needed to evaluate the kernel at prediction time).
    n_features_in_ : int

    Notes
    -----
    Negative kernel eigenvalues (rounding errors) are set to 0, as in
    :class:`~brainalign.alignment.ridge.RidgeCV`; himalaya instead excludes, during
    cross-validation, the alphas smaller than twice the most negative eigenvalue. The
    two agree for positive semi-definite kernels and sensible alphas. himalaya breaks
    near-ties towards larger alphas (a ``1e-10 * log(alpha)`` bonus); here ties go to
    the first alpha.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 500))
    >>> Y = X @ rng.standard_normal((500, 3)) * 0.05 + rng.standard_normal((50, 3))
    >>> model = KernelRidgeCV(alphas=np.logspace(0, 4, 5), kernel="rbf").fit(X, Y)
    >>> model.dual_coef_.shape, model.best_alphas_.shape
    ((50, 3), (3,))
    """

    def __init__(
        self,
        alphas: ArrayLike = DEFAULT_ALPHAS,
        *,
        kernel: str = "linear",
        kernel_params: dict[str, float] | None = None,
        cv: int | object = 5,
        fit_intercept: bool = True,
        target_batch_size: int = 10_000,
        scoring: str = "pearson",
    ) -> None:
        self.alphas = alphas
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.target_batch_size = target_batch_size
        self.scoring = scoring

    def fit(self, X: ArrayLike, Y: ArrayLike) -> KernelRidgeCV:
        """Choose a penalty per target by cross-validation, then refit on all rows.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : KernelRidgeCV

        Raises
        ------
        ValueError
            For mismatched rows, NaN or inf, bad ``alphas``, an unknown ``kernel``,
            ``kernel_params`` key or ``scoring``, or a ``cv`` giving an empty split.
        """
        X_arr, Y_arr, one_target = check_xy_arrays(X, Y)
        xp = namespace(X_arr)
        alphas = check_alphas(self.alphas)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        _check_scoring(self.scoring)
        params = _check_kernel(self.kernel, self.kernel_params)
        splits = _check_splits(_resolve_cv(self.cv), X_arr)

        threads = _fold_threads(X_arr, Y_arr.shape[1], len(splits))
        with _blas_threads_for_fit(X_arr, Y_arr.shape[1]):
            K = kernel_matrix(X_arr, None, kernel=self.kernel, **params)
            gram = _GramSVD.from_kernel(K, self.fit_intercept)
            scores = _cv_scores(
                gram, Y_arr, splits, alphas, batch, self.fit_intercept, self.scoring, threads
            )
            best_alphas = _best_alphas(scores, alphas, xp)
            svd = gram.factorize(_all_rows(X_arr), None)
            dual = _refit(svd, Y_arr, best_alphas, batch, self.fit_intercept)
        if self.fit_intercept:
            intercept = xp.mean(Y_arr, axis=0) - xp.mean(K, axis=0) @ dual
        else:
            intercept = xp.zeros_like(Y_arr[0])

        self.cv_scores_ = scores
        self.best_alphas_ = best_alphas
        self.dual_coef_ = dual[:, 0] if one_target else dual
        self.intercept_ = float(intercept[0]) if one_target else intercept
        self.X_fit_ = X_arr
        self.n_features_in_ = X_arr.shape[1]
        return self

    def predict(self, X: ArrayLike) -> Any:
        """Predict responses: ``kernel(X, X_fit_) @ dual_coef_ + intercept_``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Of the same kind (numpy or torch) as the arrays given to :meth:`fit`.

        Returns
        -------
        Y_pred : array, shape (n_samples, n_targets), or (n_samples,) for a model
            fitted on 1-D ``Y``.
        """
        check_is_fitted(self, "dual_coef_")
        X_arr = check_predict_X(X, self.n_features_in_, self.X_fit_)
        params = _check_kernel(self.kernel, self.kernel_params)
        if self.kernel == "linear":
            # X (X_fit' a) rather than (X X_fit') a: the same number, without summing
            # large kernel entries that cancel (float32 keeps 1e-6 instead of 1e-4)
            return X_arr @ (self.X_fit_.T @ self.dual_coef_) + self.intercept_
        K = kernel_matrix(X_arr, self.X_fit_, kernel=self.kernel, **params)
        return K @ self.dual_coef_ + self.intercept_

    def score(self, X: ArrayLike, Y: ArrayLike) -> Any:  # type: ignore[override]
        """Per-target Pearson r (default) or R^2 of the predictions, as set by ``scoring``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)

        Returns
        -------
        score : array, shape (n_targets,), or float for 1-D ``Y``
        """
        return _score_columns(self.scoring, self.predict(X), Y)


def kernel_matrix(
    X: Any,
    Y: Any | None = None,
    *,
    kernel: str = "linear",
    degree: float = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> Any:
    """Kernel between the rows of ``X`` and of ``Y`` (himalaya's and sklearn's kernels).

    Parameters
    ----------
    X : array, shape (n_samples_X, n_features)
    Y : array, shape (n_samples_Y, n_features), optional
        Default ``X``.
    kernel : {"linear", "polynomial", "rbf"}
    degree : float, default 3
        Polynomial degree.
    gamma : float, optional
        Polynomial and rbf scale; default ``1 / n_features``.
    coef0 : float, default 1
        Polynomial offset.

    Returns
    -------
    K : array, shape (n_samples_X, n_samples_Y)
        Of ``X``'s backend and precision.
    """
    _check_kernel(kernel, None)
    xp = namespace(X, Y)
    same = Y is None
    Y = X if same else Y
    cross = X @ Y.T
    if kernel == "linear":
        return cross
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    if kernel == "polynomial":
        return (gamma * cross + coef0) ** degree
    sq_norms_X = xp.sum(X * X, axis=1)
    sq_norms_Y = sq_norms_X if same else xp.sum(Y * Y, axis=1)
    distances = xp.clip(sq_norms_X[:, None] - 2.0 * cross + sq_norms_Y[None, :], min=0.0)
    if same:  # exact zeros on the diagonal, as scikit-learn's euclidean_distances
        diagonal = xp.eye(X.shape[0], dtype=xp.bool, device=array_device(X))
        distances = xp.where(diagonal, xp.zeros_like(distances), distances)
    return xp.exp(-gamma * distances)


def _check_kernel(kernel: object, kernel_params: dict[str, float] | None) -> dict[str, float]:
    """``kernel_params`` as a dict after checking ``kernel`` and the parameter names."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r}; use one of {list(KERNELS)}.")
    params = dict(kernel_params or {})
    unknown = sorted(set(params) - set(KERNELS[kernel]))  # type: ignore[index]
    if unknown:
        raise ValueError(
            f"kernel_params {unknown} do not apply to kernel={kernel!r}; it accepts "
            f"{list(KERNELS[kernel]) or 'none'}."  # type: ignore[index]
        )
    return params
