"""Banded ridge regression (one penalty per feature space) and variance partitioning.

Banded ridge (Nunez-Elizalde et al. 2019; Dupre la Tour et al. 2022) fits one linear
model on several feature spaces ("bands", e.g. a language model's layer and word
rates) but regularises each band separately. With band weights ``gamma`` (a point on
the simplex, one weight per band) and a global penalty ``alpha``, each band ``X_b`` is
scaled by ``sqrt(gamma_b)`` and ordinary ridge with penalty ``alpha`` is solved::

    b* = argmin_b || sum_b sqrt(gamma_b) X_b b_b - Y ||^2 + alpha ||b||^2

which is the same as scaling band ``b`` by ``exp(delta_b / 2)`` with penalty 1, where
``delta_b = log(gamma_b / alpha)`` (himalaya's "deltas"), i.e. a penalty of
``alpha / gamma_b`` on band ``b``'s coefficients. :class:`BandedRidgeCV` chooses
``(gamma, alpha)`` per target by random search, exactly as
``himalaya.ridge.BandedRidgeCV(solver="random_search")``: candidate weightings are
Dirichlet samples (or given), and for each weighting and each cross-validation split
one eigendecomposition scores every alpha for every target at once. The kernel
(dual) form ``K = sum_b gamma_b X_b X_b^T`` is used when samples <= features, so a new
weighting costs a sum of precomputed band kernels and one ``n_train x n_train``
eigendecomposition per split; otherwise the primal ``n_features x n_features`` form.

:func:`variance_partitioning` fits every non-empty subset of bands under outer
cross-validation and splits the held-out R^2 into set-theoretic unique and shared
parts (Lescroart et al. 2015; de Heer et al. 2017). :meth:`BandedRidgeCV.split_r2`
gives the product-measure split of the joint model's R^2 (Dupre la Tour et al. 2022,
``himalaya.scoring.r2_score_split``).

Everything runs on numpy arrays or torch tensors (CPU or GPU) through array-API
operations (:mod:`brainalign.alignment.backend`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from array_api_compat import device as array_device
from array_api_compat import is_torch_array
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import (
    check_alphas,
    check_int,
    check_xy_arrays,
    finite_2d,
)
from brainalign.alignment.backend import _like, as_float, namespace, to_numpy
from brainalign.alignment.metrics import _pearson_2d, _r2_2d
from brainalign.alignment.ridge import (
    DEFAULT_ALPHAS,
    _batches,
    _check_scoring,
    _check_split_list,
    _eigh,
    _resolve_cv,
    _ridge_apply,
    _split_kernels,
    _to_index,
)

__all__ = [
    "BANDED_SCORINGS",
    "BandedRidgeCV",
    "dirichlet_weightings",
    "partition_r2",
    "variance_partitioning",
]

BANDED_SCORINGS: tuple[str, ...] = ("r2", "neg_mse", "pearson")
"""Validation scores accepted by :class:`BandedRidgeCV`: per-target R^2, minus the mean
squared error (himalaya's ``l2_neg_loss``), or Pearson r."""

_ALPHA_TIE_SLOPE = 1e-10
"""Added ``slope * log(alpha)`` to mean scores before choosing alpha, as himalaya does:
of (numerically) equal scores the largest alpha wins."""


# --- the estimator ------------------------------------------------------------------------


class BandedRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with one penalty per feature space, chosen per target by CV.

    For each candidate band weighting ``gamma`` (rows of ``n_iter`` or Dirichlet
    samples) and each split of ``cv``, one eigendecomposition of the weighted training
    kernel scores every ``alpha`` for every target on the validation rows. Per
    weighting, each target takes the alpha with the best mean score over splits (ties
    to the larger alpha); across weightings a target moves to a later weighting only if
    its score beats the current best by more than the dtype's machine epsilon. The
    model is then refitted on all rows. This reproduces
    ``himalaya.ridge.BandedRidgeCV(solver="random_search")`` (``local_alpha=True``,
    ``conservative=False``, no alpha jitter) number for number.

    Parameters
    ----------
    bands : sequence of slices or of integer index arrays, or None, default None
        The columns of ``X`` in each band; together they must cover every column of
        ``X`` exactly once. ``None``: ``fit`` and ``predict`` take ``X`` as a list of
        2-D arrays, one per band (columns concatenated in that order); a single 2-D
        ``X`` is then one band (plain ridge).
    alphas : array-like of float, shape (n_alphas,), default DEFAULT_ALPHAS
        Positive global penalties to try for each weighting.
    n_iter : int or array-like, shape (n_iter, n_bands), default 20
        An int draws that many weightings from Dirichlet distributions with
        ``concentration`` (the first is replaced by equal weights ``1 / n_bands``), as
        himalaya does; an array gives the weightings (non-negative, each row with at
        least one positive weight; rows need not sum to 1).
    concentration : float or sequence of float, default (0.1, 1.0)
        Dirichlet concentrations, cycled through (himalaya's default).
    random_state : int or None, default None
        Seed of the Dirichlet draws (``numpy.random.RandomState``, like himalaya).
    cv : int or splitter, default 5
        An int ``k`` means ``BlockedKFold(k)``: contiguous, unshuffled blocks. Any
        object with ``split(X)`` yielding ``(train, validation)`` indices is accepted,
        and so is a list of ``(train, validation)`` index arrays (as for
        :class:`~brainalign.alignment.ridge.RidgeCV`).
    fit_intercept : bool, default True
        Centre ``X`` and ``Y`` with the training means (the intercept is unpenalised).
    scoring : {"r2", "neg_mse", "pearson"}, default "r2"
        Validation score: per-target R^2, minus the mean squared error (himalaya's
        default ``l2_neg_loss``), or Pearson r.
    target_batch_size : int, default 10_000
        Targets scored together; memory grows with it, results do not change.

    Attributes
    ----------
    gammas_ : array, shape (n_iter, n_bands)
        The candidate band weightings that were searched.
    cv_scores_ : array, shape (n_iter, n_targets)
        For each weighting, the mean validation score over splits at the best alpha.
        Nan where every alpha gave an undefined score (constant validation responses).
    best_gammas_ : array, shape (n_bands, n_targets)
        Chosen band weighting per target.
    best_alphas_ : array, shape (n_targets,)
        Chosen global penalty per target (an element of ``alphas``). Equals himalaya's
        ``best_alphas_`` (``1 / exp(deltas_).sum(0)``) when weightings sum to 1.
    deltas_ : array, shape (n_bands, n_targets)
        ``log(best_gammas_ / best_alphas_)``: log scaling of each band (band ``b``'s
        penalty is ``exp(-deltas_[b])``); ``-inf`` for a band with weight 0.
    coef_ : array, shape (n_targets, n_features), or (n_features,) for 1-D Y
        Weights on the columns of ``X`` (in ``X``'s column order).
    intercept_ : array, shape (n_targets,), or float for 1-D Y
    bands_ : list of numpy.ndarray of int
        Column indices of each band.
    n_features_in_ : int

    Notes
    -----
    Targets whose scores are nan for every weighting and alpha (e.g. constant
    responses) keep the first weighting and the first alpha. :meth:`score` returns
    per-target R^2 (not averaged). Integer inputs become float64; float inputs keep
    their precision. Primal-form fits recompute ``X_train^T Y`` per weighting rather
    than caching it, to keep memory at one split's worth.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 8))
    >>> Y = X[:, :3] @ rng.standard_normal((3, 4)) + rng.standard_normal((60, 4))
    >>> model = BandedRidgeCV(bands=[slice(0, 3), slice(3, 8)], n_iter=5, random_state=0)
    >>> model.fit(X, Y).deltas_.shape
    (2, 4)
    """

    def __init__(
        self,
        bands: Sequence[slice | ArrayLike] | None = None,
        *,
        alphas: ArrayLike = DEFAULT_ALPHAS,
        n_iter: int | ArrayLike = 20,
        concentration: float | Sequence[float] = (0.1, 1.0),
        random_state: int | None = None,
        cv: int | object = 5,
        fit_intercept: bool = True,
        scoring: str = "r2",
        target_batch_size: int = 10_000,
    ) -> None:
        self.bands = bands
        self.alphas = alphas
        self.n_iter = n_iter
        self.concentration = concentration
        self.random_state = random_state
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.target_batch_size = target_batch_size

    def fit(self, X: ArrayLike | Sequence[ArrayLike], Y: ArrayLike) -> BandedRidgeCV:
        """Search band weightings and penalties per target, then refit on all rows.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or list of n_bands arrays of
            shape (n_samples, n_features_b) when ``bands`` is None
        Y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : BandedRidgeCV

        Raises
        ------
        ValueError
            If the bands do not cover the columns exactly once, rows differ, inputs
            hold NaN or inf, ``alphas``/``n_iter``/``scoring`` are invalid, or ``cv``
            gives an empty split.
        """
        X_arr, bands = _assemble_bands(X, self.bands)
        X_arr, Y_arr, one_target = check_xy_arrays(X_arr, Y)
        xp = namespace(X_arr)
        alphas_np = check_alphas(self.alphas)
        batch = check_int("target_batch_size", self.target_batch_size, minimum=1)
        _check_scoring(self.scoring, BANDED_SCORINGS)
        gammas_np = _candidate_weightings(
            self.n_iter, len(bands), self.concentration, self.random_state
        )
        splits = _splits(self.cv, X_arr.shape[0])

        problem = _BandedProblem(X_arr, bands, self.fit_intercept)
        gammas = _like(gammas_np, X_arr)
        alphas = _like(alphas_np, X_arr)
        search = _random_search(problem, Y_arr, gammas, alphas, splits, self.scoring, batch)
        coef = _refit(problem, Y_arr, gammas, alphas, search, batch)  # (n_features, n_t)

        best_gammas = xp.take(gammas, search.gamma_index, axis=0).T
        best_alphas = xp.take(alphas, search.alpha_index)
        if self.fit_intercept:
            intercept = xp.mean(Y_arr, axis=0) - xp.mean(X_arr, axis=0) @ coef
        else:
            intercept = xp.zeros(Y_arr.shape[1], dtype=Y_arr.dtype, device=array_device(Y_arr))

        self.bands_ = bands
        self.gammas_ = gammas
        self.cv_scores_ = search.cv_scores
        self.best_gammas_ = best_gammas
        self.best_alphas_ = best_alphas
        self.deltas_ = xp.log(best_gammas) - xp.log(best_alphas)[None, :]
        self.coef_ = coef.T
        self.intercept_ = intercept
        self.n_features_in_ = X_arr.shape[1]
        if one_target:
            self.cv_scores_ = self.cv_scores_[:, 0]
            self.best_gammas_ = self.best_gammas_[:, 0]
            self.best_alphas_ = self.best_alphas_[0]
            self.deltas_ = self.deltas_[:, 0]
            self.coef_ = self.coef_[0]
            self.intercept_ = float(intercept[0])
        return self

    def predict(self, X: ArrayLike | Sequence[ArrayLike]) -> Any:
        """Predict responses from all bands.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or list of band arrays
            The same layout as in :meth:`fit`.

        Returns
        -------
        Y_pred : array, shape (n_samples, n_targets), or (n_samples,) for 1-D ``Y``
        """
        X_arr = self._predict_input(X)
        coef = self.coef_
        return X_arr @ (coef if coef.ndim == 1 else coef.T) + self.intercept_

    def predict_split(self, X: ArrayLike | Sequence[ArrayLike]) -> Any:
        """Each band's part of the prediction, without the intercept.

        ``predict_split(X).sum(0) + intercept_ == predict(X)``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or list of band arrays

        Returns
        -------
        Y_parts : array, shape (n_bands, n_samples, n_targets), or
            (n_bands, n_samples) for 1-D ``Y``
            ``Y_parts[b] = X[:, bands_[b]] @ coef_[:, bands_[b]].T``.
        """
        X_arr = self._predict_input(X)
        xp = namespace(X_arr)
        coef = self.coef_ if self.coef_.ndim == 2 else self.coef_[None, :]
        parts = []
        for cols in self.bands_:
            idx = _to_index(cols, X_arr)
            parts.append(xp.take(X_arr, idx, axis=1) @ xp.take(coef, idx, axis=1).T)
        stacked = xp.stack(parts, axis=0)
        return stacked if self.coef_.ndim == 2 else stacked[:, :, 0]

    def split_r2(self, X: ArrayLike | Sequence[ArrayLike], Y: ArrayLike) -> Any:
        """Product-measure split of the R^2 into one part per band.

        ``r2[b] = sum_i (2 y_i p_bi - p_bi sum_c p_ci) / sum_i y_i^2`` with ``y`` and
        each band's prediction ``p_b`` (:meth:`predict_split`) centred over the rows
        given, i.e. ``himalaya.scoring.r2_score_split`` applied to centred inputs
        (himalaya requires zero-mean ``y``). The parts sum to the R^2 of the joint
        prediction after removing its mean offset, which is the joint R^2 whenever the
        prediction's mean matches ``Y``'s (e.g. zero-mean data without intercept). A
        part can be negative (a band whose prediction anticorrelates with the others).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or list of band arrays
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)

        Returns
        -------
        r2 : array, shape (n_bands, n_targets), or (n_bands,) for 1-D ``Y``
            Nan for constant columns of ``Y``.
        """
        parts = self.predict_split(X)
        xp = namespace(parts)
        Y_arr = as_float(Y, xp, parts.dtype)
        one_target = Y_arr.ndim == 1
        if one_target:
            Y_arr, parts = Y_arr[:, None], parts[:, :, None]
        if tuple(Y_arr.shape) != tuple(parts.shape[1:]):
            raise ValueError(
                f"Y has shape {tuple(Y_arr.shape)} but the predictions have "
                f"{tuple(parts.shape[1:])}; pass the responses of the rows of X."
            )
        r2 = _product_measure(Y_arr, parts)
        return r2[:, 0] if one_target else r2

    def score(self, X: ArrayLike | Sequence[ArrayLike], Y: ArrayLike) -> Any:  # type: ignore[override]
        """Per-target R^2 of the predictions (not averaged over targets).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or list of band arrays
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)

        Returns
        -------
        r2 : array, shape (n_targets,), or float for 1-D ``Y``
            Nan for constant columns of ``Y``.
        """
        pred = self.predict(X)
        xp = namespace(pred)
        Y_arr = as_float(Y, xp, pred.dtype)
        if tuple(Y_arr.shape) != tuple(pred.shape):
            raise ValueError(
                f"Y has shape {tuple(Y_arr.shape)} but the predictions have "
                f"{tuple(pred.shape)}; pass the responses of the rows of X."
            )
        if Y_arr.ndim == 1:
            return float(_r2_2d(Y_arr[:, None], pred[:, None])[0])
        return _r2_2d(Y_arr, pred)

    def _predict_input(self, X: ArrayLike | Sequence[ArrayLike]) -> Any:
        check_is_fitted(self, "coef_")
        if isinstance(X, list | tuple):
            X_arr, _ = _assemble_bands(X, self.bands, n_bands=len(self.bands_))
        else:
            X_arr = X  # the bands were checked against the columns in fit
        xp = namespace(X_arr, self.coef_)
        X_arr = finite_2d("X", X_arr, xp)
        if X_arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X_arr.shape[1]} features but the model was fitted on "
                f"{self.n_features_in_}; pass the same feature columns as in fit."
            )
        return xp.astype(X_arr, self.coef_.dtype)


# --- the search ---------------------------------------------------------------------------


class _BandedProblem:
    """Band-weighted ridge factorisations of row subsets of ``X``.

    Dual form (``n_samples <= n_features``): one centred Gram matrix per band,
    ``G_b = X0_b X0_b^T``, computed once; a weighting's kernel is ``sum_b gamma_b G_b``
    and a training subset's centred kernel is a block of it re-centred in closed form.
    Primal form: per weighting, the training rows' ``X_c^T X_c`` scaled by
    ``sqrt(gamma)`` per column. ``X0`` is ``X`` minus its column means (when fitting an
    intercept), as himalaya centres before splitting.
    """

    def __init__(self, X: Any, bands: list[np.ndarray], fit_intercept: bool) -> None:
        xp = namespace(X)
        self.xp = xp
        self.fit_intercept = fit_intercept
        self.X0 = X - xp.mean(X, axis=0) if fit_intercept else X
        self.n_features = X.shape[1]
        band_of = np.empty(self.n_features, dtype=np.int64)
        for b, cols in enumerate(bands):
            band_of[cols] = b
        self.band_of = _to_index(band_of, X)
        self.dual = X.shape[0] <= X.shape[1]
        if self.dual:
            grams = []
            for cols in bands:
                Xb = xp.take(self.X0, _to_index(cols, X), axis=1)
                grams.append(Xb @ Xb.T)
            self.grams = xp.stack(grams, axis=0)  # (n_bands, n, n)

    def column_scale(self, gamma: Any) -> Any:
        """``sqrt(gamma)`` of each column's band, shape (n_features,)."""
        return self.xp.take(self.xp.sqrt(gamma), self.band_of)

    def kernel(self, gamma: Any) -> Any:
        """``sum_b gamma_b G_b``, shape (n_samples, n_samples); dual form only."""
        return self.xp.tensordot(gamma, self.grams, axes=1)

    def factorize_split(self, gamma: Any, train: Any, val: Any) -> _SplitFactors:
        """Factors predicting the validation rows from the training rows."""
        if self.dual:
            return self._dual_split(self.kernel(gamma), train, val)
        return self._primal_split(self.column_scale(gamma), train, val)

    def _dual_split(self, G: Any, train: Any, val: Any) -> _SplitFactors:
        K, K_val = _split_kernels(G, train, val, self.fit_intercept)
        s2, U = _eigh(K, float32_in_float64=False)
        return _SplitFactors(s2=s2, left=K_val @ U, project=U.T)

    def _primal_split(self, scale: Any, train: Any, val: Any) -> _SplitFactors:
        xp = self.xp
        X_train = xp.take(self.X0, train, axis=0)
        X_val = xp.take(self.X0, val, axis=0)
        if self.fit_intercept:
            mean = xp.mean(X_train, axis=0)
            X_train, X_val = X_train - mean, X_val - mean
        Z_train = X_train * scale
        s2, V = _eigh(Z_train.T @ Z_train, float32_in_float64=False)
        return _SplitFactors(s2=s2, left=(X_val * scale) @ V, project=(Z_train @ V).T)


@dataclass(frozen=True)
class _SplitFactors:
    """Validation predictions of centred training responses ``Y_c`` for any alpha.

    ``predict(project @ Y_c, alpha) = left @ ((project @ Y_c) / (s2 + alpha))``:
    ``Z_val Z_tr^T (Z_tr Z_tr^T + alpha)^-1 Y_c`` in either form.
    """

    s2: Any  # (k,)
    left: Any  # (n_val, k)
    project: Any  # (k, n_train)

    def predict(self, B: Any, alpha: Any) -> Any:
        return _ridge_apply(self.left, self.s2, B, alpha)


@dataclass(frozen=True)
class _SearchResult:
    gamma_index: Any  # (n_targets,) int
    alpha_index: Any  # (n_targets,) int
    cv_scores: Any  # (n_iter, n_targets)


def _random_search(
    problem: _BandedProblem,
    Y: Any,
    gammas: Any,
    alphas: Any,
    splits: list[tuple[np.ndarray, np.ndarray]],
    scoring: str,
    batch: int,
) -> _SearchResult:
    """Himalaya's random search: best alpha per weighting, first clear winner across."""
    xp = namespace(Y)
    n_targets = Y.shape[1]
    dev = array_device(Y)
    eps = float(xp.finfo(Y.dtype).eps)
    tie_slope = _ALPHA_TIE_SLOPE * xp.log(alphas)[:, None]
    split_idx = [(_to_index(tr, Y), _to_index(va, Y)) for tr, va in splits]
    best_score = xp.full((n_targets,), -xp.inf, dtype=Y.dtype, device=dev)
    gamma_index = xp.zeros((n_targets,), dtype=xp.int64, device=dev)
    alpha_index = xp.zeros((n_targets,), dtype=xp.int64, device=dev)
    cv_scores = []
    for i in range(gammas.shape[0]):
        mean = _mean_split_scores(problem, Y, gammas[i, :], alphas, split_idx, scoring, batch)
        ranked = xp.where(xp.isnan(mean), -xp.inf, mean + tie_slope)
        argbest = xp.argmax(ranked, axis=0)
        score = xp.squeeze(xp.take_along_axis(ranked, argbest[None, :], axis=0), axis=0)
        better = score > best_score + eps
        best_score = xp.where(better, score, best_score)
        gamma_index = xp.where(better, xp.full_like(gamma_index, i), gamma_index)
        alpha_index = xp.where(better, argbest, alpha_index)
        cv_scores.append(xp.squeeze(xp.take_along_axis(mean, argbest[None, :], axis=0), axis=0))
    return _SearchResult(gamma_index, alpha_index, xp.stack(cv_scores, axis=0))


def _mean_split_scores(
    problem: _BandedProblem,
    Y: Any,
    gamma: Any,
    alphas: Any,
    split_idx: list[tuple[Any, Any]],
    scoring: str,
    batch: int,
) -> Any:
    """Mean validation score over splits, shape (n_alphas, n_targets), one weighting."""
    xp = namespace(Y)
    n_targets = Y.shape[1]
    score_2d = _SCORERS[scoring]
    total = xp.zeros((alphas.shape[0], n_targets), dtype=Y.dtype, device=array_device(Y))
    for train, val in split_idx:
        factors = problem.factorize_split(gamma, train, val)
        for cols in _batches(n_targets, batch):
            Y_train = xp.take(Y[:, cols], train, axis=0)
            Y_val = xp.take(Y[:, cols], val, axis=0)
            if problem.fit_intercept:
                train_mean = xp.mean(Y_train, axis=0)
                Y_train, Y_val = Y_train - train_mean, Y_val - train_mean
            B = factors.project @ Y_train
            rows = [score_2d(Y_val, factors.predict(B, alphas[a])) for a in range(alphas.shape[0])]
            total[:, cols] += xp.stack(rows, axis=0)
    return total / len(split_idx)


def _refit(
    problem: _BandedProblem,
    Y: Any,
    gammas: Any,
    alphas: Any,
    search: _SearchResult,
    batch: int,
) -> Any:
    """Coefficients on all rows with each target's weighting and alpha.

    One eigendecomposition per weighting chosen by at least one target. Returns shape
    (n_features, n_targets), on the unscaled columns of ``X``.
    """
    xp = problem.xp
    X0 = problem.X0
    Y0 = Y - xp.mean(Y, axis=0) if problem.fit_intercept else Y
    coef = xp.zeros((X0.shape[1], Y.shape[1]), dtype=Y.dtype, device=array_device(Y))
    gamma_index = to_numpy(search.gamma_index)
    for i in np.unique(gamma_index):
        scale = problem.column_scale(gammas[int(i), :])
        if problem.dual:
            s2, U = _eigh(problem.kernel(gammas[int(i), :]), float32_in_float64=False)
        else:
            Z = X0 * scale
            s2, V = _eigh(Z.T @ Z, float32_in_float64=False)
        targets = np.flatnonzero(gamma_index == i)
        for part in _batches(targets.size, batch):
            cols = _to_index(targets[part], Y)
            alpha = xp.take(alphas, xp.take(search.alpha_index, cols))
            Y_part = xp.take(Y0, cols, axis=1)
            if problem.dual:  # scale^2 X0^T U (s2 + alpha)^-1 U^T Y
                dual_coef = _ridge_apply(U, s2, U.T @ Y_part, alpha[None, :])
                block = (scale * scale)[:, None] * (X0.T @ dual_coef)
            else:  # scale V (s2 + alpha)^-1 V^T Z^T Y
                block = scale[:, None] * _ridge_apply(V, s2, V.T @ (Z.T @ Y_part), alpha)
            coef[:, cols] = block
    return coef


def dirichlet_weightings(
    n_iter: int,
    n_bands: int,
    concentration: float | Sequence[float] = (0.1, 1.0),
    random_state: int | None = None,
) -> np.ndarray:
    """Candidate band weightings on the simplex, drawn as himalaya draws them.

    Draws from ``Dirichlet([c] * n_bands)`` for each concentration ``c`` in turn
    (``numpy.random.RandomState(random_state)``; ``inf`` means equal weights),
    interleaves them, keeps the first ``n_iter`` and replaces the first by equal
    weights ``1 / n_bands`` -- the same numbers as himalaya's
    ``generate_dirichlet_samples`` followed by ``gammas[0] = 1 / n_spaces``.

    Parameters
    ----------
    n_iter : int
        Number of weightings, at least 1.
    n_bands : int
        Number of bands, at least 1.
    concentration : float or sequence of float, default (0.1, 1.0)
        Positive Dirichlet concentrations (small: sparse weightings, 1: uniform over
        the simplex).
    random_state : int or None

    Returns
    -------
    gammas : numpy.ndarray, shape (n_iter, n_bands)
        Non-negative rows summing to 1.
    """
    n_iter = check_int("n_iter", n_iter, minimum=1)
    n_bands = check_int("n_bands", n_bands, minimum=1)
    conc = np.atleast_1d(np.asarray(concentration, dtype=np.float64))
    if conc.ndim != 1 or conc.size == 0 or not np.all(conc > 0):
        raise ValueError(
            f"concentration must be a positive number or a list of them; got {concentration!r}."
        )
    rng = np.random.RandomState(random_state)
    per = int(np.ceil(n_iter / conc.size))
    draws = []
    for c in conc:
        if c == np.inf:
            draws.append(np.full((per, n_bands), 1.0 / n_bands))
        else:
            draws.append(rng.dirichlet([c] * n_bands, per))
    gammas = np.swapaxes(np.stack(draws, axis=0), 0, 1).reshape(-1, n_bands)[:n_iter]
    gammas[0] = 1.0 / n_bands
    return gammas


def _candidate_weightings(
    n_iter: int | ArrayLike,
    n_bands: int,
    concentration: float | Sequence[float],
    random_state: int | None,
) -> np.ndarray:
    """The weightings to search, shape (n_iter, n_bands), from an int or an array."""
    if isinstance(n_iter, int | np.integer) and not isinstance(n_iter, bool):
        return dirichlet_weightings(int(n_iter), n_bands, concentration, random_state)
    gammas = np.asarray(to_numpy(n_iter) if is_torch_array(n_iter) else n_iter, dtype=float)
    if gammas.ndim != 2 or gammas.shape[1] != n_bands or gammas.shape[0] == 0:
        raise ValueError(
            f"n_iter must be an int or an array of band weightings of shape (n_iter, "
            f"{n_bands}) (one column per band); got shape {gammas.shape}."
        )
    if not np.all(np.isfinite(gammas) & (gammas >= 0)) or not np.all(gammas.max(axis=1) > 0):
        raise ValueError(
            "n_iter weightings must be finite and non-negative with at least one positive "
            "weight per row; e.g. use rows on the simplex such as [[0.5, 0.5], [0.9, 0.1]]."
        )
    return gammas


# --- variance partitioning ----------------------------------------------------------------


def variance_partitioning(
    X_bands: Mapping[str, ArrayLike],
    Y: ArrayLike,
    *,
    cv: int | object = 5,
    model: BaseEstimator | None = None,
) -> pd.DataFrame:
    """Unique and shared held-out R^2 of every band and combination of bands.

    Fits ``model`` on every non-empty subset of the bands (for bands A, B: A, B and
    A+B; for three bands all seven subsets) under the outer cross-validation ``cv``,
    scores each held-out fold by R^2 per target and averages over folds. The R^2 of the
    joint and reduced models are then split set-theoretically (Lescroart et al. 2015;
    de Heer et al. 2017), see :func:`partition_r2`: for two bands
    ``unique:A = R2(A+B) - R2(B)``, ``unique:B = R2(A+B) - R2(A)`` and
    ``shared:A&B = R2(A) + R2(B) - R2(A+B)``; for more bands, by inclusion-exclusion.

    Negative values can occur and are kept, not clipped: held-out R^2 of a reduced
    model can exceed that of the joint model (extra bands cost variance through
    overfitting or poorer hyperparameter choice), and estimation noise makes small
    true parts scatter around zero. Clipping would bias every part upwards.

    Parameters
    ----------
    X_bands : mapping of str to array-like, each shape (n_samples, n_features_b)
        The feature spaces by name (1 to 6 bands; names must not contain ``&``).
        numpy arrays or torch tensors (not mixed with the other kind).
    Y : array-like, shape (n_samples, n_targets) or (n_samples,)
    cv : int or splitter, default 5
        Outer folds; an int ``k`` means ``BlockedKFold(k)`` (contiguous blocks). Use
        ``BlockedKFold(k, gap=...)`` for delayed features.
    model : estimator or None, default None
        Fitted on each subset's concatenated columns in each outer fold (after
        ``sklearn.base.clone``). A :class:`BandedRidgeCV` gets the subset's bands set
        through ``bands``; any other regressor sees one feature space. Default:
        ``BandedRidgeCV()`` (blocked 5-fold inner CV, R^2 scoring).

    Returns
    -------
    scores : pandas.DataFrame
        Long form, one row per (target, partition) with columns ``target`` (int),
        ``partition`` (str) and ``r2`` (float): ``"model:A&B"`` for the cross-validated
        R^2 of the model on bands A and B, ``"unique:A"`` and ``"shared:A&B"`` for the
        parts. Nan where a target is constant in a validation fold.

    Raises
    ------
    ValueError
        For no bands or more than 6, a band name with ``&``, bands with different
        numbers of rows or rows different from ``Y``, or an invalid ``cv``.
    """
    names, arrays, Y_arr = _check_bands_mapping(X_bands, Y)
    splits = _splits(cv, Y_arr.shape[0])
    base = BandedRidgeCV() if model is None else model
    r2_by_subset = {}
    for subset in _nonempty_subsets(len(names)):
        r2_by_subset[frozenset(names[i] for i in subset)] = _cross_validated_r2(
            base, [arrays[i] for i in subset], Y_arr, splits
        )
    parts = partition_r2(r2_by_subset)
    rows = {f"model:{_label(s, names)}": to_numpy(v) for s, v in r2_by_subset.items()}
    rows.update({k: to_numpy(v) for k, v in parts.items()})
    return _tidy(rows, Y_arr.shape[1])


def partition_r2(r2_by_subset: Mapping[frozenset[str], Any]) -> dict[str, Any]:
    """Set-theoretic unique and shared parts from the R^2 of every subset of bands.

    Treat each band's explained variance as a set and R^2(S) as the measure of the
    union over the bands in S. The region explained by exactly the bands in ``T`` (and
    no other) is, by Moebius inversion,
    ``f(T) = sum_{V nonempty subset of T} (-1)^(|T| - |V|) (R2(N) - R2(N \\ V))``,
    with ``N`` all bands and ``R2(empty) = 0``. For two bands this is
    ``unique:A = R2(AB) - R2(B)`` and ``shared:A&B = R2(A) + R2(B) - R2(AB)``. The
    parts sum to ``R2(N)``, and ``R2(S)`` is the sum of the parts touching ``S``.
    Negative parts are kept.

    Parameters
    ----------
    r2_by_subset : mapping of frozenset of str to array, shape (n_targets,)
        R^2 of the model on each non-empty subset of the bands.

    Returns
    -------
    parts : dict of str to array, shape (n_targets,)
        ``"unique:A"`` for single bands and ``"shared:A&B"`` (names in the order of
        first appearance) for each set of two or more bands.

    Raises
    ------
    ValueError
        If a non-empty subset is missing.
    """
    all_bands = frozenset().union(*r2_by_subset)
    order = _band_order(r2_by_subset)
    for subset in _nonempty_subsets(len(order)):
        if frozenset(order[i] for i in subset) not in r2_by_subset:
            missing = sorted(order[i] for i in subset)
            raise ValueError(
                f"r2_by_subset lacks the subset {missing}; give the R^2 of every "
                "non-empty subset of the bands."
            )
    total = r2_by_subset[all_bands]

    def drop_gain(V: frozenset[str]) -> Any:
        rest = all_bands - V
        return total - r2_by_subset[rest] if rest else total

    parts = {}
    for subset in _nonempty_subsets(len(order)):
        T = [order[i] for i in subset]
        value = 0.0
        for size in range(1, len(T) + 1):
            for V in combinations(T, size):
                value = value + (-1) ** (len(T) - size) * drop_gain(frozenset(V))
        kind = "unique" if len(T) == 1 else "shared"
        parts[f"{kind}:{'&'.join(T)}"] = value
    return parts


def _cross_validated_r2(
    base: BaseEstimator, arrays: list[Any], Y: Any, splits: list[tuple[np.ndarray, np.ndarray]]
) -> Any:
    """Mean over outer folds of the held-out R^2 per target, shape (n_targets,)."""
    xp = namespace(Y)
    X = xp.concat(arrays, axis=1) if len(arrays) > 1 else arrays[0]
    model = clone(base)
    if isinstance(model, BandedRidgeCV):
        widths = np.asarray([a.shape[1] for a in arrays])
        stops = np.cumsum(widths)
        model.set_params(
            bands=[slice(int(s - w), int(s)) for s, w in zip(stops, widths, strict=True)]
        )
    total = 0.0
    for train, test in splits:
        tr, te = _to_index(train, X), _to_index(test, X)
        model.fit(xp.take(X, tr, axis=0), xp.take(Y, tr, axis=0))
        pred = as_float(model.predict(xp.take(X, te, axis=0)), xp, Y.dtype)
        total = total + _r2_2d(xp.take(Y, te, axis=0), xp.reshape(pred, (te.shape[0], -1)))
    return total / len(splits)


def _check_bands_mapping(
    X_bands: Mapping[str, ArrayLike], Y: ArrayLike
) -> tuple[list[str], list[Any], Any]:
    if not isinstance(X_bands, Mapping) or not 1 <= len(X_bands) <= 6:
        raise ValueError(
            "X_bands must be a dict of 1 to 6 named feature arrays, e.g. "
            f"{{'semantic': X_sem, 'spectral': X_spec}}; got {type(X_bands).__name__}"
            f"{' of length ' + str(len(X_bands)) if isinstance(X_bands, Mapping) else ''}."
        )
    names = [str(k) for k in X_bands]
    bad = [n for n in names if "&" in n or ":" in n or not n]
    if bad:
        raise ValueError(f"band names must be non-empty without '&' or ':'; got {bad}.")
    xp = namespace(*X_bands.values(), Y)
    Y_arr = as_float(Y, xp)
    if Y_arr.ndim == 1:
        Y_arr = Y_arr[:, None]
    Y_arr = finite_2d("Y", Y_arr, xp)
    arrays = []
    for name, A in X_bands.items():
        arr = finite_2d(f"X_bands[{name!r}]", A, xp)
        if arr.shape[0] != Y_arr.shape[0]:
            raise ValueError(
                f"X_bands[{name!r}] has {arr.shape[0]} rows but Y has {Y_arr.shape[0]}; "
                "every band and Y must be the same samples in the same order."
            )
        arrays.append(arr)
    dtype = xp.result_type(Y_arr.dtype, *[a.dtype for a in arrays])
    return names, [xp.astype(a, dtype) for a in arrays], xp.astype(Y_arr, dtype)


def _nonempty_subsets(n: int) -> list[tuple[int, ...]]:
    return [s for size in range(1, n + 1) for s in combinations(range(n), size)]


def _band_order(r2_by_subset: Iterable[frozenset[str]]) -> list[str]:
    """Band names in order of first appearance (singletons first, then the rest)."""
    order: list[str] = []
    for subset in sorted(r2_by_subset, key=len):
        for name in sorted(subset):
            if name not in order:
                order.append(name)
    return order


def _label(subset: frozenset[str], names: list[str]) -> str:
    return "&".join(n for n in names if n in subset)


def _tidy(rows: dict[str, np.ndarray], n_targets: int) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"target": np.arange(n_targets), "partition": name, "r2": values})
        for name, values in rows.items()
    ]
    return pd.concat(frames, ignore_index=True)


# --- helpers --------------------------------------------------------------------------------


def _product_measure(Y: Any, parts: Any) -> Any:
    """``himalaya.scoring.r2_score_split`` on centred ``Y`` (n, t) and ``parts`` (b, n, t)."""
    xp = namespace(Y, parts)
    Y_c = Y - xp.mean(Y, axis=0)
    P = parts - xp.mean(parts, axis=1)[:, None, :]
    sst = xp.sum(Y_c * Y_c, axis=0)
    joint = xp.sum(P, axis=0)
    r2 = xp.sum(2.0 * Y_c[None, :, :] * P - P * joint[None, :, :], axis=1) / xp.where(
        sst == 0, xp.ones_like(sst), sst
    )
    return xp.where((sst == 0)[None, :], xp.nan, r2)


def _score_neg_mse(y_true: Any, y_pred: Any) -> Any:
    xp = namespace(y_true)
    residual = y_true - y_pred
    return -xp.sum(residual * residual, axis=0) / y_true.shape[0]


_SCORERS = {"r2": _r2_2d, "neg_mse": _score_neg_mse, "pearson": _pearson_2d}


def _assemble_bands(
    X: ArrayLike | Sequence[ArrayLike], bands: Sequence[Any] | None, n_bands: int | None = None
) -> tuple[Any, list[np.ndarray]]:
    """One 2-D array of all columns and each band's column indices (checked partition)."""
    if isinstance(X, list | tuple):
        if bands is not None:
            raise ValueError(
                "X is a list of band arrays but bands is also given; pass either a 2-D X "
                "with bands=[slices or index arrays], or a list of arrays with bands=None."
            )
        if len(X) == 0:
            raise ValueError("X is an empty list; give one 2-D array per band.")
        if n_bands is not None and len(X) != n_bands:
            raise ValueError(f"X has {len(X)} band arrays but the model was fitted on {n_bands}.")
        xp = namespace(*X)
        arrays = [finite_2d(f"X[{i}]", A, xp) for i, A in enumerate(X)]
        rows = {a.shape[0] for a in arrays}
        if len(rows) > 1:
            raise ValueError(
                "the band arrays in X have different numbers of rows "
                f"{[a.shape[0] for a in arrays]}; "
                "they must be the same samples."
            )
        dtype = xp.result_type(*[a.dtype for a in arrays])
        arrays = [xp.astype(a, dtype) for a in arrays]
        stops = np.cumsum([a.shape[1] for a in arrays])
        starts = stops - np.asarray([a.shape[1] for a in arrays])
        return xp.concat(arrays, axis=1), [
            np.arange(a, b) for a, b in zip(starts, stops, strict=True)
        ]
    n_features = _n_columns(X)
    if bands is None:
        return X, [np.arange(n_features)]
    return X, _check_band_columns(bands, n_features)


def _n_columns(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(shape)}.")
    return int(shape[1])


def _check_band_columns(bands: Sequence[Any], n_features: int) -> list[np.ndarray]:
    """Each band's column indices; they must cover ``range(n_features)`` exactly once."""
    if isinstance(bands, str) or not isinstance(bands, Sequence) or len(bands) == 0:
        raise ValueError(
            f"bands must be a non-empty list of slices or integer index arrays; got {bands!r}."
        )
    columns = []
    for b, band in enumerate(bands):
        if isinstance(band, slice):
            cols = np.arange(n_features)[band]
            if band.stop is not None and band.stop > n_features:
                raise ValueError(f"bands[{b}] = {band} reaches past the {n_features} columns of X.")
        else:
            cols = np.asarray(to_numpy(band))
            if cols.ndim != 1 or not np.issubdtype(cols.dtype, np.integer):
                raise ValueError(
                    f"bands[{b}] must be a slice or a 1-D array of integer column indices; "
                    f"got {band!r}."
                )
            if cols.size and (cols.min() < 0 or cols.max() >= n_features):
                raise ValueError(
                    f"bands[{b}] has column indices outside 0..{n_features - 1}; X has "
                    f"{n_features} columns."
                )
        if cols.size == 0:
            raise ValueError(f"bands[{b}] = {band!r} selects no columns of X.")
        columns.append(cols.astype(np.int64))
    counts = np.bincount(np.concatenate(columns), minlength=n_features)
    if np.any(counts != 1):
        missing = np.flatnonzero(counts == 0)
        repeated = np.flatnonzero(counts > 1)
        raise ValueError(
            "bands must cover every column of X exactly once; "
            f"columns in no band: {missing[:10].tolist()}{' ...' if missing.size > 10 else ''}, "
            f"columns in several bands: {repeated[:10].tolist()}"
            f"{' ...' if repeated.size > 10 else ''}."
        )
    return columns


def _splits(cv: int | object, n_samples: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The checked splits of ``cv`` (an int: ``BlockedKFold(cv)``) over ``n_samples`` rows.

    The splitter is shown a placeholder ``(n_samples, 1)`` array, not ``X``: only the
    number of rows matters to it, :func:`variance_partitioning` has no single ``X``, and
    a torch ``X`` never reaches a scikit-learn splitter.
    """
    cv = _resolve_cv(cv)
    return _check_split_list(
        cv.split(np.zeros((n_samples, 1))),  # type: ignore[attr-defined]
        cv,
        n_samples,
    )
