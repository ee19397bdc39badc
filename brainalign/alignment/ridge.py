"""Ridge regression with a cross-validated penalty per target, many targets at once.

One decomposition per split scores every penalty for every target: for training
features ``X`` (centred when fitting an intercept) with thin SVD ``X = U S V^T``, the
ridge solution for penalty ``alpha`` is::

    coef(alpha) = V S (S^2 + alpha)^-1 U^T Y

so a new ``alpha`` only rescales ``k`` numbers per target. The SVD factors are read
off the eigendecomposition of the smaller Gram matrix, chosen per fit (each inner
fold's training rows, and all rows for the refit) by :class:`RidgeCV`'s ``solver``:

- **dual** (kernel) form, ``X X^T = U S^2 U^T``: ``k = n_rows``. The default
  (``solver="auto"``) when the rows are fewer than the features. The Gram matrix of all
  the rows is computed once per :meth:`RidgeCV.fit`; each inner fold's Gram matrix is a
  (re-centred) block of it, so a fold costs one ``n_train x n_train``
  eigendecomposition rather than a pass over the features.
- **primal** form, ``X^T X = V S^2 V^T``: ``k = n_features``. The default otherwise.

Both give the same numbers (up to rounding); the one with the smaller ``k`` is cheaper,
in the eigendecomposition (``k^3``) and in scoring each alpha (``n_val x k`` per
target). ``_ridge_apply`` is the one place the formula above is evaluated, for
validation predictions and for the final coefficients alike. Kernel ridge
(:mod:`brainalign.alignment.kernel_ridge`) reuses the same machinery with a kernel
matrix in place of ``X X^T``.

Everything runs on the inputs' array backend (numpy, or torch on CPU or GPU; see
:mod:`brainalign.alignment.backend`) through array-API operations. A small numpy fit
(``n_samples * n_features * n_targets`` up to ``2**28``, the demo's size included) runs
its BLAS on one thread and scores the splits on as many Python threads as the caller's
BLAS setting allows (all cores by default): its matrices are too small for threads
inside each product to pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_numpy_array
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import (
    check_alphas,
    check_int,
    check_predict_X,
    check_xy_arrays,
    finite_2d,
)
from brainalign.alignment._threads import blas_controller, one_blas_thread, thread_map
from brainalign.alignment.backend import namespace, to_numpy
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import TargetScorer, _constant, pearson_columns, r2_columns

__all__ = ["DEFAULT_ALPHAS", "SCORINGS", "SOLVERS", "RidgeCV", "RidgeDecomposition"]

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

SCORINGS: tuple[str, ...] = ("pearson", "r2")
"""Names accepted by the ``scoring`` parameters: per-target Pearson r or R^2."""

SOLVERS: tuple[str, ...] = ("auto", "primal", "dual")
"""Names accepted by :class:`RidgeCV`'s ``solver``: ``"auto"`` picks, for each fit
(every inner fold's training rows and the final refit on all rows), the dual (kernel)
form when the rows are fewer than the features and the primal form otherwise;
``"primal"`` and ``"dual"`` force one form for every fit."""


class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression choosing its penalty per target by blocked cross-validation.

    For each split of ``cv`` one decomposition of the training rows scores every
    ``alpha`` for every target by ``scoring`` (Pearson r or R^2) of its predictions on
    the validation rows; each target then gets the ``alpha`` with the best mean score,
    and the model is refitted on all rows with one more decomposition. Targets are
    processed in batches of ``target_batch_size`` so 100k voxels fit in memory. Works
    for any shape, including ``n_features > n_samples``, and on numpy arrays or torch
    tensors (CPU or GPU): the fitted attributes are arrays of the kind given to
    :meth:`fit`.

    Parameters
    ----------
    alphas : array-like of float, shape (n_alphas,), default DEFAULT_ALPHAS
        Positive penalties to try (default ``numpy.logspace(-1, 8, 19)``).
    cv : int or splitter, default 5
        An int ``k`` means ``BlockedKFold(k, gap=0)``: contiguous, unshuffled blocks.
        Any object with a ``split(X)`` method yielding ``(train, validation)`` index
        arrays is accepted, e.g. ``BlockedKFold(k, gap=max(delays))`` for delayed
        features, and so is a list of ``(train, validation)`` index arrays.
    fit_intercept : bool, default True
        Centre ``X`` and ``Y`` with the training means (the intercept is not penalised).
    target_batch_size : int, default 10_000
        Targets scored and solved together; memory grows with it, results do not change.
    scoring : {"pearson", "r2"}, default "pearson"
        Score used to choose alphas on the validation rows and returned by
        :meth:`score`: per-target Pearson r, or per-target R^2
        (:func:`~brainalign.alignment.metrics.r2_columns`).
    solver : {"auto", "primal", "dual"}, default "auto"
        Which Gram matrix is decomposed (see :data:`SOLVERS`). ``"auto"`` decides per
        fit: the dual (kernel) form ``X X^T`` (``n_rows x n_rows``) for an inner fold,
        or the final refit, with fewer rows than features, else the primal form
        ``X^T X`` (``n_features x n_features``). ``"primal"`` or ``"dual"`` forces one
        form everywhere. The results are the same up to rounding; only time and memory
        differ. What was used is recorded in ``solver_`` and ``fold_solvers_``. The
        form auto does not pick has the larger, rank-deficient Gram matrix: besides
        being slower, in float32 its rounding in the null space is divided by alpha
        (measured: 1e-3 relative error in the coefficients at alpha 0.01, against 1e-7
        in the form auto picks).

    Attributes
    ----------
    cv_scores_ : array, shape (n_alphas, n_targets)
        Mean validation score over the ``cv`` splits (a 1-D ``Y`` is one target).
        Nan where some split gave an undefined score (a constant validation response,
        or for Pearson r a constant prediction).
    best_alphas_ : array, shape (n_targets,)
        Penalty with the highest ``cv_scores_`` per target. Nan scores count as -inf;
        ties go to the first alpha in ``alphas`` order (so a target whose scores are
        all nan gets ``alphas[0]``).
    coef_ : array, shape (n_targets, n_features), or (n_features,) for 1-D Y
        Weights refitted on all rows with each target's own penalty.
    intercept_ : array, shape (n_targets,), or float for 1-D Y
    solver_ : {"primal", "dual"}
        The form of the final refit on all rows (the one ``coef_`` came from).
    fold_solvers_ : tuple of {"primal", "dual"}, length n_splits
        The form used for each ``cv`` split, in split order.
    n_features_in_ : int

    Notes
    -----
    :meth:`score` returns the per-target score named by ``scoring`` (Pearson r by
    default), not scikit-learn's R^2 averaged over targets. Precision: integer inputs
    become float64; float16 (and torch bfloat16) inputs are computed in float32 (linear
    algebra has no half precision), so the fitted attributes and predictions are
    float32; float32 stays float32 (float32 arithmetic, eigendecompositions in float64)
    and float64 stays float64. ``X`` and ``Y`` are brought to their common precision.
    Threads: a small numpy fit scores its splits on parallel threads, one BLAS thread
    each, as many as numpy's BLAS is allowed (``threadpoolctl.threadpool_limits(1)``
    makes it sequential); the numbers do not depend on it.

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
        scoring: str = "pearson",
        solver: str = "auto",
    ) -> None:
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.target_batch_size = target_batch_size
        self.scoring = scoring
        self.solver = solver

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
            is empty or not all positive, ``scoring`` or ``solver`` is unknown, or
            ``cv`` gives an empty split.
        """
        X_arr, Y_arr, one_target = check_xy_arrays(X, Y)
        xp = namespace(X_arr)
        alphas = check_alphas(self.alphas)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        _check_scoring(self.scoring)
        _check_solver(self.solver)
        splits = _check_splits(_resolve_cv(self.cv), X_arr)

        threads = _fold_threads(X_arr, Y_arr.shape[1], len(splits))
        with _blas_threads_for_fit(X_arr, Y_arr.shape[1]):
            gram = _GramSVD(X_arr, self.fit_intercept, self.solver)
            scores = _cv_scores(
                gram, Y_arr, splits, alphas, batch, self.fit_intercept, self.scoring, threads
            )
            best_alphas = _best_alphas(scores, alphas, xp)
            svd = gram.factorize(_all_rows(X_arr), None, min(batch, Y_arr.shape[1]))
            coef = _refit(svd, Y_arr, best_alphas, batch, self.fit_intercept).T
        folds = tuple(gram.form(train.size) for train, _ in splits)
        self._set_fitted(scores, best_alphas, coef, xp.mean(X_arr, axis=0), Y_arr, one_target)
        self.solver_, self.fold_solvers_ = svd.form, folds
        return self

    def decompose(self, X: ArrayLike) -> RidgeDecomposition:
        """Factor ``X`` once for :meth:`fit_decomposed`: every ``cv`` split and all rows.

        The decompositions :meth:`fit` computes, kept so that any number of target
        batches can be fitted with them (e.g. the voxels of a whole brain, a batch at a
        time, by :func:`~brainalign.alignment.encoding.cross_validated_encoding`).
        Holds ``len(cv)`` split factorisations at once (each ``k^2 + n_val k``, ``k``
        the smaller of the split's rows and the features) and the refit's.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            numpy array or torch tensor; kept by reference, not copied.

        Returns
        -------
        RidgeDecomposition

        Raises
        ------
        ValueError
            If ``X`` holds NaN or inf, ``solver`` or ``target_batch_size`` is invalid,
            or ``cv`` gives an empty split.
        """
        xp = namespace(X)
        X_arr = finite_2d("X", X, xp)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        _check_solver(self.solver)
        splits = _check_splits(_resolve_cv(self.cv), X_arr)
        with _blas_threads_for_fit(X_arr, batch):
            gram = _GramSVD(X_arr, self.fit_intercept, self.solver)
            gram.prepare([train.size for train, _ in splits])
            svds = tuple(gram.factorize(train, val, batch) for train, val in splits)
            full = gram.factorize(_all_rows(X_arr), None, batch)
        return RidgeDecomposition(
            X=X_arr, X_mean=xp.mean(X_arr, axis=0), splits=splits, split_svds=svds, full_svd=full
        )

    def fit_decomposed(self, decomposition: RidgeDecomposition, Y: ArrayLike) -> RidgeCV:
        """:meth:`fit` on the ``X`` of ``decomposition`` (from :meth:`decompose`).

        The same numbers as ``fit(X, Y)`` (to rounding), without factoring ``X`` again:
        call it once per batch of targets. ``cv``, ``solver`` and ``fit_intercept``
        are those the decomposition was made with.

        Parameters
        ----------
        decomposition : RidgeDecomposition
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)
            Of the backend of the decomposed ``X``; brought to its precision.

        Returns
        -------
        self : RidgeCV

        Raises
        ------
        ValueError
            If ``Y``'s rows differ from ``X``'s, it holds NaN or inf, or ``alphas``,
            ``scoring`` or ``target_batch_size`` is invalid.
        """
        X_arr = decomposition.X
        xp = namespace(X_arr)
        _, Y_arr, one_target = check_xy_arrays(X_arr[:, :1], Y)
        Y_arr = xp.astype(Y_arr, X_arr.dtype, copy=False)
        alphas = check_alphas(self.alphas)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        _check_scoring(self.scoring)
        pairs = list(zip(decomposition.split_svds, decomposition.splits, strict=True))

        def one_split(pair: tuple[_SplitSVD, tuple[np.ndarray, np.ndarray]]) -> Any:
            svd, split = pair
            return _factored_split_scores(
                svd, Y_arr, split, alphas, batch, self.fit_intercept, self.scoring
            )

        n_targets = Y_arr.shape[1]
        threads = _fold_threads(X_arr, n_targets, len(pairs))
        with _blas_threads_for_fit(X_arr, n_targets):
            scores = _mean_over_splits(one_split, pairs, Y_arr, alphas.size, threads)
            best_alphas = _best_alphas(scores, alphas, xp)
            full = decomposition.full_svd
            coef = _refit(full, Y_arr, best_alphas, batch, self.fit_intercept).T
        self._set_fitted(scores, best_alphas, coef, decomposition.X_mean, Y_arr, one_target)
        self.solver_ = full.form
        self.fold_solvers_ = tuple(svd.form for svd in decomposition.split_svds)
        return self

    def _set_fitted(
        self,
        scores: Any,
        best_alphas: Any,
        coef: Any,
        X_mean: Any,
        Y: Any,
        one_target: bool,
    ) -> None:
        """Set the fitted attributes shared by :meth:`fit` and :meth:`fit_decomposed`."""
        xp = namespace(Y)
        if self.fit_intercept:
            intercept = xp.mean(Y, axis=0) - coef @ X_mean
        else:
            intercept = xp.zeros(Y.shape[1], dtype=Y.dtype, device=array_device(Y))
        self.cv_scores_ = scores
        self.best_alphas_ = best_alphas
        self.coef_ = coef[0] if one_target else coef
        self.intercept_ = float(intercept[0]) if one_target else intercept
        self.n_features_in_ = coef.shape[1]

    def predict(self, X: ArrayLike) -> Any:
        """Predict responses.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Of the same kind (numpy or torch) as the arrays given to :meth:`fit`.

        Returns
        -------
        Y_pred : array, shape (n_samples, n_targets), or (n_samples,) if the model was
            fitted on 1-D ``Y``.
        """
        check_is_fitted(self, "coef_")
        X_arr = check_predict_X(X, self.n_features_in_, self.coef_)
        coef = self.coef_
        return X_arr @ (coef if coef.ndim == 1 else coef.T) + self.intercept_

    def score(self, X: ArrayLike, Y: ArrayLike) -> Any:  # type: ignore[override]
        """Per-target score of the predictions for ``X`` against ``Y``.

        Pearson r (default) or R^2, as set by ``scoring``; unlike scikit-learn's
        ``score`` it is not averaged over targets.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)

        Returns
        -------
        score : array, shape (n_targets,), or float for 1-D ``Y``
            Nan for targets whose response (or, for Pearson r, prediction) is constant.
        """
        return _score_columns(self.scoring, self.predict(X), Y)


@dataclass(frozen=True)
class RidgeDecomposition:
    """``X`` factored for :meth:`RidgeCV.fit_decomposed`, from :meth:`RidgeCV.decompose`.

    Attributes
    ----------
    X : array, shape (n_samples, n_features)
        The decomposed features (by reference).
    X_mean : array, shape (n_features,)
        Their column means (for the intercept).
    splits : list of (numpy.ndarray, numpy.ndarray)
        The ``cv`` splits' (training, validation) rows.
    split_svds : tuple of _SplitSVD, length n_splits
        Each split's factors, ``left`` predicting its validation rows.
    full_svd : _SplitSVD
        The factors of all rows, ``apply`` giving coefficients.
    """

    X: Any
    X_mean: Any
    splits: list[tuple[np.ndarray, np.ndarray]]
    split_svds: tuple[_SplitSVD, ...]
    full_svd: _SplitSVD


# --- cross-validated scoring, shared with kernel ridge -----------------------------------


def _cv_scores(
    gram: _GramSVD,
    Y: Any,
    splits: list[tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray,
    batch: int,
    fit_intercept: bool,
    scoring: str,
    n_threads: int = 1,
) -> Any:
    """Mean validation score of every alpha for every target, shape (n_alphas, n_targets).

    One factorisation per split; all alphas and a batch of targets share it.
    ``n_threads > 1`` scores that many splits at once, on threads (see
    :func:`_fold_threads`); the sum over splits is taken in split order either way, so
    the numbers do not depend on it.
    """
    gram.prepare([train.size for train, _ in splits])

    def one_split(split: tuple[np.ndarray, np.ndarray]) -> Any:
        return _split_scores(gram, Y, split, alphas, batch, fit_intercept, scoring)

    return _mean_over_splits(one_split, splits, Y, alphas.size, n_threads)


def _mean_over_splits(one_split: Any, items: list, Y: Any, n_alphas: int, n_threads: int) -> Any:
    """Mean of ``one_split(item)`` (n_alphas, n_targets) over ``items``, in their order.

    ``n_threads > 1`` computes that many at once on threads; the sum is taken in item
    order either way, so the numbers do not depend on it.
    """
    if n_threads > 1:
        return sum(thread_map(one_split, items, n_threads)) / len(items)
    xp = namespace(Y)
    scores = xp.zeros((n_alphas, Y.shape[1]), dtype=Y.dtype, device=array_device(Y))
    for item in items:
        scores += one_split(item)
    return scores / len(items)


def _split_scores(
    gram: _GramSVD,
    Y: Any,
    split: tuple[np.ndarray, np.ndarray],
    alphas: np.ndarray,
    batch: int,
    fit_intercept: bool,
    scoring: str,
) -> Any:
    """Validation score of every alpha for every target on one split, (n_alphas, n_targets)."""
    svd = gram.factorize(split[0], split[1], min(batch, Y.shape[1]))
    return _factored_split_scores(svd, Y, split, alphas, batch, fit_intercept, scoring)


def _factored_split_scores(
    svd: _SplitSVD,
    Y: Any,
    split: tuple[np.ndarray, np.ndarray],
    alphas: np.ndarray,
    batch: int,
    fit_intercept: bool,
    scoring: str,
) -> Any:
    """:func:`_split_scores` with the split's factors ``svd`` already computed."""
    xp = namespace(Y)
    train, val = split
    n_targets = Y.shape[1]
    train_idx, val_idx = _to_index(train, Y), _to_index(val, Y)
    parts = []
    for cols in _batches(n_targets, batch):
        Y_train = xp.take(Y[:, cols], train_idx, axis=0)
        Y_val = xp.take(Y[:, cols], val_idx, axis=0)
        B = svd.project(_centred(Y_train, fit_intercept))
        if fit_intercept and scoring == "r2":
            # R^2 needs predictions in Y's units: rather than adding the intercept (the
            # training mean) to every alpha's predictions, subtract it once from the
            # validation responses (the same residuals and R^2).
            Y_val = Y_val - xp.mean(Y_train, axis=0)
        parts.append(_alpha_scores(svd, B, Y_val, alphas, scoring))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=1)


def _alpha_scores(svd: _SplitSVD, B: Any, Y_val: Any, alphas: np.ndarray, scoring: str) -> Any:
    """Validation scores of every alpha for one split and target batch.

    Parameters
    ----------
    svd : _SplitSVD
        The split's factors, ``left`` predicting the validation rows.
    B : array, shape (k, n_targets)
        ``svd.project`` of the centred training responses.
    Y_val : array, shape (n_val, n_targets)
        Validation responses (minus the training means for R^2 with an intercept).
    alphas : numpy array, shape (n_alphas,)
    scoring : {"pearson", "r2"}

    Returns
    -------
    array, shape (n_alphas, n_targets)
    """
    xp = namespace(B)
    score = TargetScorer(scoring, Y_val)
    n_alphas, (n_val, n_targets) = len(alphas), Y_val.shape
    if n_val < n_targets or n_alphas * n_targets * n_val > _ALL_ALPHAS_FLOATS:
        return xp.stack([score(svd.apply(B, float(alpha))) for alpha in alphas])
    # Few targets: every alpha's predictions from one product, scored in one pass (per
    # alpha, the calls cost more than the arithmetic: 4x faster at 888 rows x 9 targets;
    # with more targets than rows the per-alpha form, scaling the rows, is faster).
    scaled = xp.concat([B / (svd.s2[:, None] + float(alpha)) for alpha in alphas], axis=1)
    predictions = svd.left @ scaled
    if svd.outer is not None:
        predictions = svd.outer @ predictions
    predictions = xp.reshape(predictions, (predictions.shape[0], n_alphas, n_targets))
    return score.many(xp.permute_dims(predictions, (1, 0, 2)))


#: Validation predictions (n_alphas x n_val x n_targets) up to which every alpha is scored
#: at once (8 MiB of float64).
_ALL_ALPHAS_FLOATS = 2**20


def _best_alphas(scores: Any, alphas: np.ndarray, xp: Any) -> Any:
    """Per target, the alpha with the highest score; nan counts as -inf, ties go first."""
    best = xp.argmax(xp.where(xp.isnan(scores), -xp.inf, scores), axis=0)
    grid = xp.asarray(alphas, dtype=scores.dtype, device=array_device(scores))
    return xp.take(grid, best)


def _refit(svd: _SplitSVD, Y: Any, best_alphas: Any, batch: int, fit_intercept: bool) -> Any:
    """``svd.apply`` with each target's alpha on all rows, shape (n_out, n_targets)."""
    xp = namespace(Y)
    parts = [
        svd.apply(svd.project(_centred(Y[:, cols], fit_intercept)), best_alphas[cols])
        for cols in _batches(Y.shape[1], batch)
    ]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=1)


def _score_columns(scoring: str, Y_pred: Any, Y: ArrayLike) -> Any:
    """The per-target score named by ``scoring`` (validated)."""
    _check_scoring(scoring)
    if scoring == "pearson":
        return pearson_columns(Y_pred, Y)
    return r2_columns(Y, Y_pred)


# --- factorisations -------------------------------------------------------------------------


@dataclass(frozen=True)
class _SplitSVD:
    """Thin-SVD factors ``X_c = U S V^T`` of one split's centred training rows.

    :meth:`apply` evaluates ``outer @ left @ (project(Y_c) / (s2 + alpha))``, i.e.
    ``X_val V S (S^2 + alpha)^-1 U^T Y_c`` (validation predictions) or
    ``V S (S^2 + alpha)^-1 U^T Y_c`` (coefficients). Dual form: ``project`` is
    ``U^T``; ``left`` is ``X_val V S = K_val U`` for predictions, or ``U`` with
    ``outer = X_c^T`` for coefficients (cheaper than forming ``X_c^T U``); for a kernel
    (no ``outer``) the coefficients are the dual coefficients ``U (S^2 + alpha)^-1 U^T
    Y_c``. Primal form: ``project`` is ``V^T X_c^T`` (``= S U^T``), as ``basis^T``
    with ``basis = X_c V`` formed once, or as ``V^T`` times ``X_train^T``; ``left`` is
    ``X_val V`` or ``V``. Arrays are of any backend (numpy or torch).
    """

    s2: Any  # (k,) squared singular values (kernel eigenvalues)
    left: Any  # (n_val, k), (n_train, k) or (n_features, k)
    basis: Any  # (n_train, k) U or X_c V, or (n_features, k) V
    form: str  # "dual" or "primal"
    X_train: Any = None  # centred training rows when basis is V (primal form only)
    outer: Any = None  # (n_features, n_train) X_c^T, dual coefficients only

    def project(self, Y_c: Any) -> Any:
        """Map centred training responses (n_train, n_targets) to (k, n_targets)."""
        if self.X_train is None:
            return self.basis.T @ Y_c
        return self.basis.T @ (self.X_train.T @ Y_c)

    def apply(self, B: Any, alpha: float | Any) -> Any:
        """Predictions (n_val, n_targets) or coefficients (n_features, n_targets)."""
        out = _ridge_apply(self.left, self.s2, B, alpha)
        return out if self.outer is None else self.outer @ out


class _GramSVD:
    """Thin SVDs of row subsets of ``X``, each in the dual or the primal form.

    Dual form: ``G = X0 X0^T`` once (when the first subset needs it); a training
    subset's centred Gram matrix and its cross-products with validation rows are blocks
    of ``G`` re-centred in closed form, and ``eigh`` gives ``U`` and ``S^2``. Primal
    form: the ``n_features x n_features`` matrix ``X_c^T X_c`` per subset gives ``V``
    and ``S^2``. ``X0`` is ``X`` minus its column means (when fitting an intercept),
    which keeps the closed-form re-centring free of cancellation. :meth:`form` says
    which form a subset of a given size gets (``solver``, see :data:`SOLVERS`).

    :meth:`from_kernel` builds the dual form from a kernel matrix instead (kernel
    ridge): ``G`` is then the kernel, centred in feature space over all rows when
    fitting an intercept, and the coefficients are dual coefficients.
    """

    def __init__(self, X: Any, fit_intercept: bool, solver: str = "auto") -> None:
        xp = namespace(X)
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.X0 = X - xp.mean(X, axis=0) if fit_intercept else X
        self._G: Any = None

    @classmethod
    def from_kernel(cls, K: Any, fit_intercept: bool) -> _GramSVD:
        """Dual-form factorisations of blocks of the kernel matrix ``K`` (n, n)."""
        gram = cls.__new__(cls)
        gram.fit_intercept = fit_intercept
        gram.solver = "dual"
        gram.X0 = None
        gram._G = _centre_kernel(K) if fit_intercept else K
        return gram

    @property
    def G(self) -> Any:
        """``X0 X0^T`` (or the kernel), shape (n_samples, n_samples), computed once."""
        if self._G is None:
            self._G = self.X0 @ self.X0.T
        return self._G

    def prepare(self, n_rows: list[int]) -> None:
        """Compute ``G`` now if a fit of any of ``n_rows`` rows takes the dual form.

        Called before splits are factored on threads, so that they share one ``G``.
        """
        if any(self.form(n) == "dual" for n in n_rows):
            _ = self.G

    def form(self, n_rows: int) -> str:
        """``"dual"`` or ``"primal"``: the form a subset of ``n_rows`` rows is factored in.

        ``solver="auto"`` gives the dual form for fewer rows than features (its Gram
        matrix is the smaller one), else the primal form.
        """
        if self.solver != "auto":
            return self.solver
        return "dual" if n_rows < self.X0.shape[1] else "primal"

    def factorize(self, train: Any, val: Any | None, n_targets: int = 0) -> _SplitSVD:
        """Factor the rows ``train``; ``left`` predicts rows ``val``, or gives coefficients.

        ``n_targets`` (the columns of each later ``project`` call) lets the primal form
        pick the cheaper projection.
        """
        if self.form(len(train)) == "dual":
            return self._dual(train, val)
        return self._primal(train, val, n_targets)

    def _dual(self, train: Any, val: Any | None) -> _SplitSVD:
        train_rows = train
        train = _to_index(train, self.G)
        val = None if val is None else _to_index(val, self.G)
        K, K_val = _split_kernels(self.G, train, val, self.fit_intercept)
        s2, U = _eigh(K)
        if val is None:
            if self.X0 is None:  # kernel: dual coefficients
                return _SplitSVD(s2=s2, left=U, basis=U, form="dual")
            X_train, _ = self._training_rows(train_rows)
            return _SplitSVD(s2=s2, left=U, basis=U, form="dual", outer=X_train.T)
        return _SplitSVD(s2=s2, left=K_val @ U, basis=U, form="dual")  # left = X_val V S

    def _training_rows(self, train: Any) -> tuple[Any, Any]:
        """Rows ``train`` of ``X0``, centred on their mean when fitting an intercept.

        Returns the rows and the mean subtracted (None without an intercept). All rows
        in order are ``X0`` itself, without a copy: already centred on all rows.
        """
        xp = namespace(self.X0)
        n_samples = self.X0.shape[0]
        rows = np.asarray(to_numpy(train))
        if rows.size == n_samples and np.array_equal(rows, np.arange(n_samples)):
            return self.X0, None
        X_train = xp.take(self.X0, _to_index(rows, self.X0), axis=0)
        if not self.fit_intercept:
            return X_train, None
        mean = xp.mean(X_train, axis=0)
        return X_train - mean, mean

    def _primal(self, train: Any, val: Any | None, n_targets: int) -> _SplitSVD:
        xp = namespace(self.X0)
        X_train, mean = self._training_rows(train)
        s2, V = _eigh(X_train.T @ X_train)
        if val is None:
            left = V
        else:
            X_val = xp.take(self.X0, _to_index(val, self.X0), axis=0)
            left = (X_val if mean is None else X_val - mean) @ V
        if n_targets > X_train.shape[0]:
            # (X_c V)^T Y_c costs n_train * k per target, V^T (X_c^T Y_c) adds k * k more
            return _SplitSVD(s2=s2, left=left, basis=X_train @ V, form="primal")
        return _SplitSVD(s2=s2, left=left, basis=V, form="primal", X_train=X_train)


def _split_kernels(G: Any, train: Any, val: Any | None, fit_intercept: bool) -> tuple[Any, Any]:
    """One split's blocks of a Gram (or kernel) matrix, re-centred on the training rows.

    Parameters
    ----------
    G : array, shape (n_samples, n_samples)
        ``X0 X0^T`` (or a kernel matrix) over all rows.
    train, val : integer index arrays of ``G``'s backend, or ``val=None``
    fit_intercept : bool
        Re-centre in closed form on the mean ``m`` of the training rows:
        ``K_ij - x_i . m - x_j . m + m . m``.

    Returns
    -------
    K : array, shape (n_train, n_train)
        The training rows' centred Gram matrix.
    K_val : array, shape (n_val, n_train), or None when ``val`` is None
        Cross-products of the validation rows with the training rows, centred alike.
    """
    xp = namespace(G)
    G_rows = xp.take(G, train, axis=1)  # (n, n_train)
    K = xp.take(G_rows, train, axis=0)
    K_val = None if val is None else xp.take(G_rows, val, axis=0)
    if fit_intercept:
        row_means = xp.mean(G_rows, axis=1)  # x_i . m, m = mean of training rows
        train_means = xp.take(row_means, train)
        grand = xp.mean(train_means)  # m . m
        K = K - train_means[:, None] - train_means[None, :] + grand
        if K_val is not None:
            K_val = K_val - xp.take(row_means, val)[:, None] - train_means[None, :] + grand
    return K, K_val


def _ridge_apply(left: Any, s2: Any, B: Any, alpha: float | Any) -> Any:
    """The ridge formula: ``left @ (B / (s2 + alpha))``, alpha scalar or per target.

    Parameters
    ----------
    left : array, shape (n_out, k)
    s2 : array, shape (k,)
    B : array, shape (k, n_targets)
    alpha : float or array, shape (n_targets,)

    Returns
    -------
    array, shape (n_out, n_targets)

    Notes
    -----
    With one scalar alpha the diagonal scaling goes on the smaller operand: ``(left /
    (s2 + alpha)) @ B`` when ``left`` has fewer rows than ``B`` has columns (the
    validation rows of many targets), saving a pass over ``B`` per alpha.
    """
    if isinstance(alpha, float) and left.shape[0] < B.shape[1]:
        return (left / (s2 + alpha)) @ B
    return left @ (B / (s2[:, None] + alpha))


def _eigh(M: Any, *, float32_in_float64: bool = True) -> tuple[Any, Any]:
    """Eigendecomposition of a symmetric PSD matrix, rounding negatives up to 0.

    A float32 matrix is decomposed in float64 and the factors rounded back: the
    decomposition is a small share of the cost (one per split, of the smaller Gram
    side), and it keeps float32 fits within ~1e-6 of float64 ones. numpy matrices up
    to ``_ONE_THREAD_EIGH_MAX`` rows are decomposed on one BLAS thread (see
    :func:`_blas_threads_for_eigh`).

    ``float32_in_float64=False`` decomposes a float32 matrix in float32 (the input's
    precision, as himalaya does): the arithmetic of
    :class:`~brainalign.alignment.banded.BandedRidgeCV`, kept so its numbers stay as
    they were.
    """
    xp = namespace(M)
    with _blas_threads_for_eigh(M):
        if float32_in_float64 and M.dtype == xp.float32:
            s2, vectors = xp.linalg.eigh(xp.astype(M, xp.float64))
            s2, vectors = xp.astype(s2, xp.float32), xp.astype(vectors, xp.float32)
        else:
            s2, vectors = xp.linalg.eigh(M)
    return xp.clip(s2, min=0.0), vectors


_ONE_THREAD_EIGH_MAX = 2048
"""Largest numpy matrix (rows) that :func:`_eigh` decomposes on one BLAS thread."""


def _blas_threads_for_eigh(M: Any) -> AbstractContextManager:
    """One BLAS thread for a small numpy eigendecomposition, else no change.

    LAPACK's symmetric eigensolver makes many small, synchronised BLAS calls; with
    OpenBLAS threads on a machine whose cores are busy (other processes, or the caller's
    own parallel jobs) each synchronisation waits for a descheduled thread: a 768 x 768
    ``numpy.linalg.eigh`` was measured at 0.5-6 s with 2 threads against 0.08 s with
    one on a loaded 2-core machine. Up to ``_ONE_THREAD_EIGH_MAX`` rows one thread
    costs little on an idle machine. The limit is process-wide for the duration of the
    call (threadpoolctl, as scikit-learn uses it). A CPU torch tensor gets the same rule
    through :func:`torch.set_num_threads` (a 2,000-row ``torch.linalg.eigh`` took 9.1 s
    with torch's threads on the loaded machine against 0.39 s for numpy on one); CUDA
    tensors are left alone.
    """
    if M.shape[0] > _ONE_THREAD_EIGH_MAX:
        return nullcontext()
    if is_numpy_array(M):
        return one_blas_thread()
    if str(array_device(M)) == "cpu":
        return _one_torch_thread()
    return nullcontext()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """torch's intra-op threads set to one for the duration, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_ONE_THREAD_FIT_MAX = 2**28
"""Largest ``n_samples * n_features * n_targets`` of a numpy fit run on one BLAS thread."""


def _small_numpy_fit(X: Any, n_targets: int) -> bool:
    """Whether a fit on ``X`` is numpy and at most ``_ONE_THREAD_FIT_MAX`` in size."""
    return is_numpy_array(X) and X.shape[0] * X.shape[1] * n_targets <= _ONE_THREAD_FIT_MAX


def _blas_threads_for_fit(X: Any, n_targets: int) -> AbstractContextManager:
    """One BLAS thread for a whole small numpy fit, else no change.

    A fit up to ``_ONE_THREAD_FIT_MAX`` (the demo's 290 x 1,536 x 162 is 7e7) is made
    of matrix products of a few MFLOP each and eigendecompositions of a few hundred
    rows, too small for a second BLAS thread to pay for its synchronisation, and on a
    busy machine each one waits for a descheduled thread (see
    :func:`_blas_threads_for_eigh`); the cores go to whole splits instead
    (:func:`_fold_threads`). Larger fits keep the caller's setting; torch tensors are
    left alone.
    """
    return one_blas_thread() if _small_numpy_fit(X, n_targets) else nullcontext()


def _fold_threads(X: Any, n_targets: int, n_splits: int) -> int:
    """Splits to score at once: for a small numpy fit, the BLAS threads the caller allows.

    The threads a caller gives numpy's BLAS (all cores by default, or fewer under
    ``threadpoolctl.threadpool_limits``) move from inside each small matrix product to
    across the splits, each split on one BLAS thread (its eigendecomposition, the
    largest part of a small fit, releases the GIL). 1 for larger fits and for torch.
    Read before :func:`_blas_threads_for_fit` limits BLAS to one thread.
    """
    if not _small_numpy_fit(X, n_targets):
        return 1
    pools = blas_controller().select(user_api="blas").info()
    allowed = max((pool["num_threads"] for pool in pools), default=1)
    return max(1, min(allowed, n_splits))


def _centre_kernel(K: Any) -> Any:
    """``K`` centred in feature space: ``K - row means - column means + grand mean``.

    The same as :class:`sklearn.preprocessing.KernelCenterer` ``fit_transform`` for a
    symmetric ``K``.
    """
    xp = namespace(K)
    means = xp.mean(K, axis=0)
    return K - means[:, None] - means[None, :] + xp.mean(means)


def _centred(Y: Any, fit_intercept: bool) -> Any:
    """Training responses minus their means; exactly constant columns become exactly 0.

    Zeroing constant columns makes their predictions exactly constant, so their
    validation r is nan (undefined) rather than the correlation of rounding noise.
    """
    if not fit_intercept:
        return Y
    xp = namespace(Y)
    Y_c = Y - xp.mean(Y, axis=0)
    constant = _constant(Y, xp)
    if bool(xp.any(constant)):
        Y_c = xp.where(constant, xp.zeros_like(Y_c), Y_c)
    return Y_c


def _batches(n_targets: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n_targets)) for start in range(0, n_targets, size)]


def _to_index(indices: Any, like: Any) -> Any:
    """Integer row indices as an array of ``like``'s backend and device."""
    xp = namespace(like)
    return xp.asarray(np.asarray(to_numpy(indices), dtype=np.int64), device=array_device(like))


def _all_rows(X: Any) -> np.ndarray:
    return np.arange(X.shape[0])


# --- input checks -----------------------------------------------------------------------------


def _resolve_cv(cv: int | object) -> object:
    """``cv`` as a splitter: an int means ``BlockedKFold(cv)``.

    A list of ``(train, validation)`` index pairs is wrapped by scikit-learn's
    ``check_cv`` (himalaya accepts the same); a splitter is returned as is.
    """
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        return BlockedKFold(int(cv), gap=0)
    if isinstance(cv, list | tuple) and cv and all(_is_pair(split) for split in cv):
        from sklearn.model_selection import check_cv

        return check_cv(cv)
    if isinstance(cv, str) or not callable(getattr(cv, "split", None)):
        raise ValueError(
            f"cv must be an int (number of blocked folds), a splitter with a split(X) "
            f"method or a list of (train, validation) index arrays; got {cv!r}."
        )
    return cv


def _is_pair(split: object) -> bool:
    return isinstance(split, list | tuple) and len(split) == 2


def _check_splits(cv: object, X: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The splits of ``cv`` over the rows of ``X`` as numpy index arrays, checked."""
    return _check_split_list(cv.split(X), cv, X.shape[0])  # type: ignore[attr-defined]


def _check_split_list(
    split_iter: Iterable[tuple[ArrayLike, ArrayLike]], cv: object, n_samples: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    splits = []
    for k, (train, val) in enumerate(split_iter):
        train = np.asarray(to_numpy(train), dtype=np.intp)
        val = np.asarray(to_numpy(val), dtype=np.intp)
        for name, rows in (("training", train), ("validation", val)):
            if rows.size and (rows.min() < 0 or rows.max() >= n_samples):
                raise ValueError(
                    f"cv split {k} has {name} indices outside 0..{n_samples - 1} "
                    f"({rows.min()}..{rows.max()}); the splits must index the rows of X."
                )
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


def _check_scoring(scoring: object, choices: tuple[str, ...] = SCORINGS) -> None:
    if scoring not in choices:
        raise ValueError(f"scoring={scoring!r}; use one of {list(choices)}.")


def _check_solver(solver: object) -> None:
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ValueError(
            f"solver={solver!r}; use one of {list(SOLVERS)} ('auto' picks the dual form "
            "for fits with fewer rows than features, the primal form otherwise)."
        )
