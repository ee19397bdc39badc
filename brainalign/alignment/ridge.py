"""Ridge regression with a cross-validated penalty per target, many targets at once.

One decomposition per split scores every penalty for every target: for training
features ``X`` (centred when fitting an intercept) with thin SVD ``X = U S V^T``, the
ridge solution for penalty ``alpha`` is::

    coef(alpha) = V S (S^2 + alpha)^-1 U^T Y

so a new ``alpha`` only rescales ``k`` numbers per target. The SVD factors are read
off the eigendecomposition of the smaller Gram matrix (``X X^T = U S^2 U^T`` when
``n_samples <= n_features``, ``X^T X = V S^2 V^T`` otherwise). The Gram matrix of all
the rows is computed once per :meth:`RidgeCV.fit`; each inner fold's Gram matrix is a
(re-centred) block of it, so a fold costs one small eigendecomposition rather than a
pass over the features. ``_ridge_apply`` is the one place the formula above is
evaluated, for validation predictions and for the final coefficients alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import as_finite_2d, check_alphas, check_int, check_xy
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import _pearson_2d, pearson_columns

DEFAULT_ALPHAS: tuple[float, ...] = tuple(np.logspace(-1, 8, 19).tolist())
"""Default ridge penalties: 19 values, half a decade apart, from 0.1 to 1e8.

Sized for z-scored features with hundreds to thousands of columns and a few hundred
samples. With z-scored columns the largest eigenvalue of the Gram matrix is at most
``n_samples * n_features`` (about 2e6 for 300 samples x 6000 delayed features) and the
smallest is near zero when columns outnumber samples, so the grid runs from nearly
unpenalised (0.1) to past the point where the penalty dominates every direction (1e8),
beyond which validation r no longer changes. If many targets pick an end of the grid,
extend it. A tuple, so the shared default cannot be changed in place.
"""


class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression choosing its penalty per target by blocked cross-validation.

    For each split of ``cv`` one decomposition of the training rows scores every
    ``alpha`` for every target by the Pearson r of its predictions on the validation
    rows; each target then gets the ``alpha`` with the best mean r, and the model is
    refitted on all rows with one more decomposition. Targets are processed in batches
    of ``target_batch_size`` so 100k voxels fit in memory. Works for any shape,
    including ``n_features > n_samples``.

    Parameters
    ----------
    alphas : array-like of float, shape (n_alphas,), default DEFAULT_ALPHAS
        Positive penalties to try (default ``numpy.logspace(-1, 8, 19)``).
    cv : int or splitter, default 5
        An int ``k`` means ``BlockedKFold(k, gap=0)``: contiguous, unshuffled blocks.
        Any object with a ``split(X)`` method yielding ``(train, validation)`` index
        arrays is accepted, e.g. ``BlockedKFold(k, gap=max(delays))`` for delayed
        features.
    fit_intercept : bool, default True
        Centre ``X`` and ``Y`` with the training means (the intercept is not penalised).
    target_batch_size : int, default 10_000
        Targets scored and solved together; memory grows with it, results do not change.

    Attributes
    ----------
    cv_scores_ : numpy.ndarray, shape (n_alphas, n_targets)
        Mean validation Pearson r over the ``cv`` splits (a 1-D ``Y`` is one target).
        Nan where some split gave an undefined r (a constant prediction or constant
        validation response).
    best_alphas_ : numpy.ndarray, shape (n_targets,)
        Penalty with the highest ``cv_scores_`` per target. Nan scores count as -inf;
        ties go to the first alpha in ``alphas`` order (so a target whose scores are
        all nan gets ``alphas[0]``).
    coef_ : numpy.ndarray, shape (n_targets, n_features), or (n_features,) for 1-D Y
        Weights refitted on all rows with each target's own penalty.
    intercept_ : numpy.ndarray, shape (n_targets,), or float for 1-D Y
    n_features_in_ : int

    Notes
    -----
    :meth:`score` returns the per-target Pearson r, not scikit-learn's R^2.
    ``X`` and ``Y`` are converted to float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10))
    >>> Y = X @ rng.standard_normal((10, 3)) + 0.1 * rng.standard_normal((200, 3))
    >>> model = RidgeCV(alphas=np.logspace(-2, 4, 7)).fit(X, Y)
    >>> model.best_alphas_.shape, model.coef_.shape
    ((3,), (3, 10))
    """

    def __init__(
        self,
        alphas: ArrayLike = DEFAULT_ALPHAS,
        *,
        cv: int | object = 5,
        fit_intercept: bool = True,
        target_batch_size: int = 10_000,
    ) -> None:
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.target_batch_size = target_batch_size

    def fit(self, X: ArrayLike, Y: ArrayLike) -> RidgeCV:
        """Choose a penalty per target by cross-validation, then refit on all rows.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : RidgeCV

        Raises
        ------
        ValueError
            If the rows of ``X`` and ``Y`` differ, either holds NaN or inf, ``alphas``
            is empty or not all positive, or ``cv`` gives an empty split.
        """
        X_arr, Y_arr, one_target = check_xy(X, Y)
        alphas = check_alphas(self.alphas)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        splits = _check_splits(_resolve_cv(self.cv), X_arr)
        n_targets = Y_arr.shape[1]
        gram = _GramSVD(X_arr, self.fit_intercept)

        scores = np.zeros((alphas.size, n_targets))
        for train, val in splits:
            svd = gram.factorize(train, val)
            for cols in _batches(n_targets, batch):
                B = svd.project(_centred(Y_arr[train, cols], self.fit_intercept))
                Y_val = Y_arr[val, cols]
                for i, alpha in enumerate(alphas):
                    scores[i, cols] += _pearson_2d(svd.apply(B, alpha), Y_val)
        scores /= len(splits)
        best = np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
        best_alphas = alphas[best]

        everything = np.arange(X_arr.shape[0])
        svd = gram.factorize(everything, None)
        coef = np.empty((n_targets, X_arr.shape[1]))
        for cols in _batches(n_targets, batch):
            B = svd.project(_centred(Y_arr[:, cols], self.fit_intercept))
            coef[cols] = svd.apply(B, best_alphas[cols]).T
        if self.fit_intercept:
            intercept = Y_arr.mean(axis=0) - coef @ X_arr.mean(axis=0)
        else:
            intercept = np.zeros(n_targets)

        self.cv_scores_ = scores
        self.best_alphas_ = best_alphas
        self.coef_ = coef[0] if one_target else coef
        self.intercept_ = float(intercept[0]) if one_target else intercept
        self.n_features_in_ = X_arr.shape[1]
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict responses.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        Y_pred : numpy.ndarray, shape (n_samples, n_targets), or (n_samples,) if the
            model was fitted on 1-D ``Y``.
        """
        check_is_fitted(self, "coef_")
        X_arr = as_finite_2d("X", X)
        if X_arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X_arr.shape[1]} features but the model was fitted on "
                f"{self.n_features_in_}; pass the same feature columns as in fit."
            )
        return X_arr @ np.asarray(self.coef_).T + self.intercept_

    def score(self, X: ArrayLike, Y: ArrayLike) -> np.ndarray | float:  # type: ignore[override]
        """Pearson r between predictions and ``Y``, per target.

        Unlike scikit-learn's ``score`` this is not R^2 and not averaged over targets.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)

        Returns
        -------
        r : numpy.ndarray, shape (n_targets,), or float for 1-D ``Y``
            Nan for targets whose prediction or response is constant.
        """
        return pearson_columns(self.predict(X), Y)


@dataclass(frozen=True)
class _SplitSVD:
    """Thin-SVD factors ``X_c = U S V^T`` of one split's centred training rows.

    :meth:`apply` evaluates ``outer @ left @ (project(Y_c) / (s2 + alpha))``, i.e.
    ``X_val V S (S^2 + alpha)^-1 U^T Y_c`` (validation predictions) or
    ``V S (S^2 + alpha)^-1 U^T Y_c`` (coefficients). Dual form: ``project`` is
    ``U^T``; ``left`` is ``X_val V S = K_val U`` for predictions, or ``U`` with
    ``outer = X_c^T`` for coefficients (cheaper than forming ``X_c^T U``). Primal form:
    ``project`` is ``V^T X_c^T`` (``= S U^T``) and ``left`` is ``X_val V`` or ``V``.
    """

    s2: np.ndarray  # (k,) squared singular values
    left: np.ndarray  # (n_val, k), (n_train, k) or (n_features, k)
    basis: np.ndarray  # (n_train, k) U, or (n_features, k) V
    X_train: np.ndarray | None = None  # centred training rows, primal form only
    outer: np.ndarray | None = None  # (n_features, n_train) X_c^T, dual coefficients only

    def project(self, Y_c: np.ndarray) -> np.ndarray:
        """Map centred training responses (n_train, n_targets) to (k, n_targets)."""
        if self.X_train is None:
            return self.basis.T @ Y_c
        return self.basis.T @ (self.X_train.T @ Y_c)

    def apply(self, B: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        """Predictions (n_val, n_targets) or coefficients (n_features, n_targets)."""
        out = _ridge_apply(self.left, self.s2, B, alpha)
        return out if self.outer is None else self.outer @ out


class _GramSVD:
    """Thin SVDs of row subsets of ``X`` from one shared Gram matrix.

    Dual form (``n_samples <= n_features``): ``G = X0 X0^T`` once; a training subset's
    centred Gram matrix and its cross-products with validation rows are blocks of ``G``
    re-centred in closed form, and ``eigh`` gives ``U`` and ``S^2``. Primal form: the
    ``n_features x n_features`` matrix ``X_c^T X_c`` per subset gives ``V`` and ``S^2``.
    ``X0`` is ``X`` minus its column means (when fitting an intercept), which keeps the
    closed-form re-centring free of cancellation.
    """

    def __init__(self, X: np.ndarray, fit_intercept: bool) -> None:
        self.fit_intercept = fit_intercept
        self.X0 = X - X.mean(axis=0) if fit_intercept else X
        self.dual = X.shape[0] <= X.shape[1]
        self.G = self.X0 @ self.X0.T if self.dual else None

    def factorize(self, train: np.ndarray, val: np.ndarray | None) -> _SplitSVD:
        """Factor the rows ``train``; ``left`` predicts rows ``val``, or gives coefficients."""
        if self.dual:
            return self._dual(train, val)
        return self._primal(train, val)

    def _dual(self, train: np.ndarray, val: np.ndarray | None) -> _SplitSVD:
        G = self.G
        K = G[np.ix_(train, train)]
        if self.fit_intercept:
            row_means = G[:, train].mean(axis=1)  # x_i . m, m = mean of training rows
            grand = row_means[train].mean()  # m . m
            K = K - row_means[train][:, None] - row_means[train][None, :] + grand
        s2, U = _eigh(K)
        if val is None:
            X_train = self.X0[train]
            if self.fit_intercept:
                X_train = X_train - X_train.mean(axis=0)
            return _SplitSVD(s2=s2, left=U, basis=U, outer=X_train.T)
        K_val = G[np.ix_(val, train)]
        if self.fit_intercept:
            K_val = K_val - row_means[val][:, None] - row_means[train][None, :] + grand
        return _SplitSVD(s2=s2, left=K_val @ U, basis=U)  # left = X_val V S

    def _primal(self, train: np.ndarray, val: np.ndarray | None) -> _SplitSVD:
        X_train = self.X0[train]
        mean = X_train.mean(axis=0) if self.fit_intercept else np.zeros(X_train.shape[1])
        X_train = X_train - mean
        s2, V = _eigh(X_train.T @ X_train)
        left = V if val is None else (self.X0[val] - mean) @ V
        return _SplitSVD(s2=s2, left=left, basis=V, X_train=X_train)


def _ridge_apply(
    left: np.ndarray, s2: np.ndarray, B: np.ndarray, alpha: float | np.ndarray
) -> np.ndarray:
    """The ridge formula: ``left @ (B / (s2 + alpha))``, alpha scalar or per target.

    Parameters
    ----------
    left : numpy.ndarray, shape (n_out, k)
    s2 : numpy.ndarray, shape (k,)
    B : numpy.ndarray, shape (k, n_targets)
    alpha : float or numpy.ndarray, shape (n_targets,)

    Returns
    -------
    numpy.ndarray, shape (n_out, n_targets)
    """
    return left @ (B / (s2[:, None] + alpha))


def _eigh(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of a symmetric PSD matrix, rounding negatives up to 0."""
    s2, vectors = np.linalg.eigh(M)
    return np.clip(s2, 0.0, None), vectors


def _centred(Y: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """Training responses minus their means; exactly constant columns become exactly 0.

    Zeroing constant columns makes their predictions exactly constant, so their
    validation r is nan (undefined) rather than the correlation of rounding noise.
    """
    if not fit_intercept:
        return Y
    Y_c = Y - Y.mean(axis=0)
    Y_c[:, Y.max(axis=0) == Y.min(axis=0)] = 0.0
    return Y_c


def _batches(n_targets: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n_targets)) for start in range(0, n_targets, size)]


def _resolve_cv(cv: int | object) -> object:
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        return BlockedKFold(int(cv), gap=0)
    if isinstance(cv, str) or not callable(getattr(cv, "split", None)):
        raise ValueError(
            f"cv must be an int (number of blocked folds) or a splitter with a split(X) "
            f"method; got {cv!r}."
        )
    return cv


def _check_splits(cv: object, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    splits = []
    for k, (train, val) in enumerate(cv.split(X)):  # type: ignore[attr-defined]
        train = np.asarray(train, dtype=np.intp)
        val = np.asarray(val, dtype=np.intp)
        if train.size == 0 or val.size < 2:
            raise ValueError(
                f"cv split {k} has {train.size} training and {val.size} validation rows; "
                "each split needs at least 1 training and 2 validation rows. Use fewer "
                "folds or a smaller gap."
            )
        splits.append((train, val))
    if not splits:
        raise ValueError(f"cv {cv!r} produced no splits.")
    return splits
