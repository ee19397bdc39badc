"""Unpenalised linear encoders: ordinary least squares and Brain-Score's PLS regression.

- :class:`OLS` is scikit-learn's ``LinearRegression`` (minimum-norm least squares,
  every target at once) written once for numpy and torch (CPU or GPU) through the
  array API: a thin SVD of the centred features.
- :class:`PLSRegression` is a thin wrapper of scikit-learn's
  ``sklearn.cross_decomposition.PLSRegression`` with Brain-Score's settings
  (``n_components=25, scale=False``, as ``brainscore_core.metrics.regression.
  pls_regression``), adding input checks and this project's per-target scores. It
  runs on the CPU in scikit-learn; torch inputs are copied there and the results
  copied back.

Both score per target with Pearson r by default (``scoring="pearson"``) or R^2, like
:class:`~brainalign.alignment.ridge.RidgeCV`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import check_int, check_predict_X, check_xy_arrays
from brainalign.alignment.backend import _like, namespace, to_numpy
from brainalign.alignment.ridge import (
    _check_scoring,
    _score_columns,
)

__all__ = ["OLS", "PLSRegression"]


class OLS(RegressorMixin, BaseEstimator):
    """Ordinary least squares for many targets at once (scikit-learn's LinearRegression).

    ``coef_`` minimises ``||Y - X coef^T - intercept||^2`` per target; when that has
    many solutions (more features than samples, collinear columns) it is the one of
    minimum norm, as ``numpy.linalg.lstsq`` and scikit-learn give. Computed from one
    thin SVD of the (centred) features; singular values at most ``max(n_samples,
    n_features) * eps * s_max`` count as zero (numpy's ``lstsq`` and torch's ``pinv``
    default).

    Parameters
    ----------
    fit_intercept : bool, default True
        Centre ``X`` and ``Y`` before solving; ``intercept_ = mean(Y) - coef_ @
        mean(X)``.
    scoring : {"pearson", "r2"}, default "pearson"
        What :meth:`score` returns per target.

    Attributes
    ----------
    coef_ : array, shape (n_targets, n_features), or (n_features,) for 1-D Y
    intercept_ : array, shape (n_targets,), or float for 1-D Y
    rank_ : int
        Number of singular values above the cutoff.
    singular_values_ : array, shape (min(n_samples, n_features),)
        Of the centred ``X`` (when fitting an intercept).
    n_features_in_ : int

    Notes
    -----
    Without a penalty, a model with as many effective parameters as training samples
    fits the training data exactly, and its held-out predictions can be poor: use
    :class:`~brainalign.alignment.ridge.RidgeCV` unless samples far outnumber features.
    """

    def __init__(self, *, fit_intercept: bool = True, scoring: str = "pearson") -> None:
        self.fit_intercept = fit_intercept
        self.scoring = scoring

    def fit(self, X: ArrayLike, Y: ArrayLike) -> OLS:
        """Solve least squares for every target.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : OLS

        Raises
        ------
        ValueError
            If the rows of ``X`` and ``Y`` differ, either holds NaN or inf, or
            ``scoring`` is unknown.
        """
        _check_scoring(self.scoring)
        X_arr, Y_arr, one_target = check_xy_arrays(X, Y)
        xp = namespace(X_arr)
        if self.fit_intercept:
            x_mean, y_mean = xp.mean(X_arr, axis=0), xp.mean(Y_arr, axis=0)
            X_arr, Y_arr = X_arr - x_mean, Y_arr - y_mean
        U, s, Vt = xp.linalg.svd(X_arr, full_matrices=False)
        kept = s > _rank_cutoff(s, X_arr.shape, xp)
        s_inv = xp.where(kept, 1.0 / xp.where(kept, s, xp.ones_like(s)), xp.zeros_like(s))
        coef = ((Vt.T * s_inv) @ (U.T @ Y_arr)).T  # (n_targets, n_features)
        if self.fit_intercept:
            intercept = y_mean - coef @ x_mean
        else:
            intercept = xp.zeros_like(Y_arr[0])

        self.coef_ = coef[0] if one_target else coef
        self.intercept_ = float(intercept[0]) if one_target else intercept
        self.rank_ = int(xp.sum(xp.astype(kept, xp.int64)))
        self.singular_values_ = s
        self.n_features_in_ = X_arr.shape[1]
        return self

    def predict(self, X: ArrayLike) -> Any:
        """Predict responses.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        Y_pred : array, shape (n_samples, n_targets), or (n_samples,) for 1-D ``Y``
        """
        check_is_fitted(self, "coef_")
        X_arr = check_predict_X(X, self.n_features_in_, self.coef_)
        coef = self.coef_
        return X_arr @ (coef if coef.ndim == 1 else coef.T) + self.intercept_

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


class PLSRegression(RegressorMixin, BaseEstimator):
    """Partial least squares regression with Brain-Score's defaults.

    Wraps :class:`sklearn.cross_decomposition.PLSRegression` (NIPALS, "PLS2": the
    components are shared by all targets, so a target's predictions depend on which
    other targets are fitted with it, exactly as in Brain-Score's ``pls_regression``
    mapping). Defaults ``n_components=25, scale=False`` are Brain-Score's.

    Parameters
    ----------
    n_components : int, default 25
        Number of PLS components; at most ``min(n_samples, n_features)``.
    scale : bool, default False
        Scale ``X`` and ``Y`` to unit variance before fitting (Brain-Score: False).
    max_iter : int, default 500
        NIPALS iterations per component (scikit-learn's default).
    tol : float, default 1e-6
        NIPALS convergence tolerance (scikit-learn's default).
    scoring : {"pearson", "r2"}, default "pearson"
        What :meth:`score` returns per target.

    Attributes
    ----------
    estimator_ : sklearn.cross_decomposition.PLSRegression
        The fitted scikit-learn model.
    coef_ : array, shape (n_targets, n_features)
        ``estimator_.coef_`` on the backend of the training data.
    intercept_ : array, shape (n_targets,)
    n_features_in_ : int

    Notes
    -----
    scikit-learn computes in float64 on the CPU: torch tensors (CPU or GPU) are copied
    to numpy for :meth:`fit` and :meth:`predict`, and results come back as tensors on
    the input's device.
    """

    def __init__(
        self,
        n_components: int = 25,
        *,
        scale: bool = False,
        max_iter: int = 500,
        tol: float = 1e-6,
        scoring: str = "pearson",
    ) -> None:
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.scoring = scoring

    def fit(self, X: ArrayLike, Y: ArrayLike) -> PLSRegression:
        """Fit the PLS model.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : PLSRegression

        Raises
        ------
        ValueError
            If the rows of ``X`` and ``Y`` differ, either holds NaN or inf,
            ``n_components`` exceeds ``min(n_samples, n_features)``, or ``scoring`` is
            unknown.
        """
        from sklearn.cross_decomposition import PLSRegression as SklearnPLS

        _check_scoring(self.scoring)
        n_components = check_int("n_components", self.n_components, minimum=1)
        X_arr, Y_arr, one_target = check_xy_arrays(X, Y)
        n_samples, n_features = X_arr.shape
        if n_components > min(n_samples, n_features):
            raise ValueError(
                f"n_components={n_components} but X has {n_samples} samples and "
                f"{n_features} features; PLS needs n_components <= "
                f"{min(n_samples, n_features)}. Lower n_components."
            )
        Y_np = to_numpy(Y_arr).astype(np.float64)
        self.estimator_ = SklearnPLS(
            n_components=n_components, scale=self.scale, max_iter=self.max_iter, tol=self.tol
        ).fit(to_numpy(X_arr).astype(np.float64), Y_np[:, 0] if one_target else Y_np)
        self.coef_ = _like(self.estimator_.coef_, X_arr)
        self.intercept_ = _like(self.estimator_.intercept_, X_arr)
        self.n_features_in_ = n_features
        self._fit_array = X_arr
        return self

    def predict(self, X: ArrayLike) -> Any:
        """Predict responses with the fitted PLS model.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        Y_pred : array, shape (n_samples, n_targets), or (n_samples,) for 1-D ``Y``
        """
        check_is_fitted(self, "estimator_")
        X_arr = check_predict_X(X, self.n_features_in_, self._fit_array)
        return _like(self.estimator_.predict(to_numpy(X_arr).astype(np.float64)), X_arr)

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


def _rank_cutoff(s: Any, shape: tuple[int, ...], xp: Any) -> Any:
    """Singular values at or below this are treated as zero (numpy lstsq's default)."""
    if s.shape[0] == 0:
        return 0.0
    return xp.max(s) * max(shape) * xp.finfo(s.dtype).eps
