"""Temporal response functions (TRFs) for M/EEG and iEEG, matched to MNE-Python.

A TRF models each response channel as a sum of the stimulus features at a range of
lags::

    y[t] = b + sum_f sum_k w[f, k] * x[t - lags[k], f] + noise

with ``lags = arange(round(tmin * sfreq), round(tmax * sfreq) + 1)`` samples
(MNE-Python's rule). A positive lag means the response follows the feature; a
negative lag means the response precedes it. Lags never cross the boundary of a run
or epoch: a lagged copy reads zeros where it would reach outside its own run, as
MNE-Python does per epoch.

How the intercept is handled decides the numbers; MNE-Python has two conventions and
mTRF a third, all reproduced here (``centering``):

``"epoch"`` (default)
    Each lagged copy of a feature is centred on its own samples within each run
    (zeros outside stay zero), then an ordinary ridge with an unpenalised intercept is
    fitted: the numbers of ``mne.decoding.ReceptiveField(estimator=sklearn Ridge(alpha))``
    (its ``_delay_time_series(fill_mean=True)`` fills with the mean and shifts each
    epoch's lagged segment to that mean, which after scikit-learn's column centring is
    exactly this design).
``"zero"``
    Zero-padded lags of the raw ``X`` and an ordinary ridge with an unpenalised
    intercept (the lagged columns centred on the training samples): the convention of
    the mTRF toolbox / mTRFpy (a column of ones, unpenalised) and of
    :func:`~brainalign.alignment.temporal.fir_delays` with
    :class:`~brainalign.alignment.ridge.RidgeCV`. mTRFpy scales its ``lambda`` by the
    sampling rate and divides its covariances by the number of trials, so its
    ``lambda`` is ``alpha / (sfreq * n_trials)`` here.
``"global"``
    ``X`` and ``y`` minus their means over the training samples, then lagged with
    zeros; the lagged design is not re-centred and no further intercept is fitted;
    ``intercept_ = mean(y) - mean(X) . coef_.sum(lags)``. The numbers of
    ``mne.decoding.TimeDelayingRidge`` (what ``ReceptiveField`` uses when
    ``estimator`` is a float), whose ``predict`` convolves the raw ``X``.

MNE's scaling conventions, matched as they are: the penalty is **not** divided by the
number of samples (sklearn's ``Ridge`` and ``TimeDelayingRidge`` both minimise
``||y - Zw||^2 + alpha * w' R w`` with the plain sum of squares), and
``TimeDelayingRidge``'s ``reg_type="laplacian"`` penalises the graph Laplacian of a
path over lags (and, for the second entry, over neighbouring features): diagonal
``1, 2, ..., 2, 1`` and ``-1`` between neighbours, without any added identity, so a
constant kernel is not penalised by the time term.

With ``fit_intercept=False`` the conventions coincide (zero-padded lags of the raw
``X``, no centring).

The penalty of each target is chosen by inner cross-validation with one
decomposition per fold and :mod:`~brainalign.alignment.ridge`'s formula
(``_eigh``, ``_ridge_apply``): the numbers of
:class:`~brainalign.alignment.ridge.RidgeCV` on the lagged design (tested), but each
fold's ``Z'Z`` is the product over all samples minus the product over the samples
left out (one pass over the held-out samples per fold instead of over the ``k - 1``
training blocks), centred as the convention says (which ``RidgeCV`` cannot do for
``"global"``), and validation scores are computed from the held-out samples' products,
not from predictions. A Laplacian penalty uses the generalised eigendecomposition of
``(R, Z'Z)`` per fold instead. With ``bands`` the fit is
:class:`~brainalign.alignment.banded.BandedRidgeCV`'s.

Only numpy arrays (float64) are handled; lagged designs are held in memory
(``n_samples x n_features * n_lags`` float64).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainalign.alignment._checks import _first, check_alphas, check_int
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.encoding import EncodingResult, _mean_over_defined_folds
from brainalign.alignment.metrics import pearson_columns
from brainalign.alignment.ridge import (
    DEFAULT_ALPHAS,
    _best_alphas,
    _check_scoring,
    _check_split_list,
    _eigh,
    _ridge_apply,
)

__all__ = [
    "CENTERINGS",
    "REG_TYPES",
    "TRF",
    "TemporalResponseFunction",
    "cross_validated_trf",
    "lag_samples",
    "laplacian_penalty",
    "lagged_design",
]

#: Intercept conventions of :class:`TemporalResponseFunction` (see the module docstring).
CENTERINGS: tuple[str, ...] = ("epoch", "global", "zero")
#: Penalty kinds, per axis (lags, features), as in MNE's ``TimeDelayingRidge``.
REG_TYPES: tuple[str, ...] = ("ridge", "laplacian")


# --- lags ------------------------------------------------------------------------------------


def lag_samples(tmin: float, tmax: float, sfreq: float) -> np.ndarray:
    """Lags in samples from ``tmin`` to ``tmax`` seconds, MNE-Python's rule.

    Parameters
    ----------
    tmin, tmax : float
        First and last lag in seconds; negative lags (the response precedes the
        feature) are allowed. ``tmin <= tmax``.
    sfreq : float
        Sampling frequency in Hz, positive.

    Returns
    -------
    lags : numpy.ndarray of int, shape (n_lags,)
        ``arange(int(round(tmin * sfreq)), int(round(tmax * sfreq)) + 1)``, ascending.

    Raises
    ------
    ValueError
        If ``sfreq`` is not positive and finite, ``tmin``/``tmax`` are not finite
        numbers, or ``tmin > tmax``.
    """
    if not isinstance(sfreq, numbers.Real) or not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive sampling frequency in Hz; got {sfreq!r}.")
    for name, value in (("tmin", tmin), ("tmax", tmax)):
        if not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite lag in seconds; got {value!r}.")
    if tmin > tmax:
        raise ValueError(
            f"tmin ({tmin} s) must be at most tmax ({tmax} s); swap them (a negative lag "
            "means the response precedes the feature)."
        )
    return np.arange(int(round(tmin * sfreq)), int(round(tmax * sfreq)) + 1)


def lagged_design(
    X: ArrayLike,
    lags: Sequence[int] | np.ndarray,
    *,
    groups: ArrayLike | None = None,
    centering: str | None = None,
) -> np.ndarray:
    """Lagged copies of the features, inside each run, feature-major columns.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features, runs concatenated in time order.
    lags : sequence of int, shape (n_lags,)
        Lags in samples (negative allowed): ``out[t, f * n_lags + k] =
        X[t - lags[k], f]``, zero where ``t - lags[k]`` falls outside the run of ``t``.
    groups : array-like, shape (n_samples,), optional
        Run of each sample, each run contiguous; lags never cross runs.
    centering : {None, "zero", "epoch"}, default None
        None or ``"zero"``: the raw zero-padded lags. ``"epoch"``: each lagged copy
        minus its mean over its valid samples in each run (zeros stay zero), the design
        of MNE's ``ReceptiveField`` with a scikit-learn estimator. (``"global"``
        centres on a training mean, so it is no fixed design.)

    Returns
    -------
    design : numpy.ndarray, shape (n_samples, n_features * n_lags), float64
        Column ``f * n_lags + k`` is feature ``f`` at ``lags[k]`` (MNE's layout).

    Raises
    ------
    ValueError
        If ``X`` is not 2-D and finite, ``groups`` is malformed, or a run is not
        longer than the largest absolute lag.
    """
    if centering not in (None, "zero", "epoch"):
        raise ValueError(f"centering={centering!r}; use None, 'zero' or 'epoch'.")
    X_arr = _finite("X", X, ndim=2)
    lags = np.asarray(lags, dtype=np.int64)
    bounds = _run_bounds(groups, X_arr.shape[0])
    _check_run_lengths(bounds, lags, None)
    design, _ = _lag(X_arr, lags, bounds, centering == "epoch")
    return design.reshape(X_arr.shape[0], -1)


def _lag(
    X: np.ndarray, lags: np.ndarray, bounds: list[tuple[int, int]], centre: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Lagged design (n, n_features, n_lags) and validity mask (n, n_lags)."""
    n, n_features = X.shape
    out = np.zeros((n, n_features, lags.size))
    valid = np.zeros((n, lags.size), dtype=bool)
    for start, stop in bounds:
        for k, lag in enumerate(lags.tolist()):
            lo, hi = start + max(lag, 0), stop + min(lag, 0)
            segment = X[lo - lag : hi - lag]
            out[lo:hi, :, k] = segment - segment.mean(axis=0) if centre else segment
            valid[lo:hi, k] = True
    return out, valid


def laplacian_penalty(n_features: int, n_lags: int, reg_type: str | Sequence[str]) -> np.ndarray:
    """The penalty matrix of MNE's ``TimeDelayingRidge`` for this ``reg_type``.

    Parameters
    ----------
    n_features, n_lags : int
    reg_type : {"ridge", "laplacian"} or (str, str)
        One kind for both axes, or (lags, features). ``"laplacian"`` on an axis adds
        the path-graph Laplacian over neighbours on it (diagonal ``1, 2, ..., 2, 1``,
        ``-1`` between neighbours); when neither axis is Laplacian (or each Laplacian
        axis has length 1) the penalty is the identity.

    Returns
    -------
    R : numpy.ndarray, shape (n_features * n_lags, n_features * n_lags)
        Feature-major order (rows ``f * n_lags + k``).
    """
    time_kind, feature_kind = _check_reg_type(reg_type)
    reg_time = time_kind == "laplacian" and n_lags > 1
    reg_features = feature_kind == "laplacian" and n_features > 1
    if not reg_time and not reg_features:
        return np.eye(n_features * n_lags)
    R = np.zeros((n_features * n_lags,) * 2)
    if reg_time:
        R += np.kron(np.eye(n_features), _path_laplacian(n_lags))
    if reg_features:
        R += np.kron(_path_laplacian(n_features), np.eye(n_lags))
    return R


def _path_laplacian(n: int) -> np.ndarray:
    """Graph Laplacian of a path of ``n`` nodes."""
    L = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    L[0, 0] = L[-1, -1] = 1.0
    return L


# --- the lagged data of one fit -------------------------------------------------------------


class _Lagged:
    """Lagged features of one convention, stored in a well-conditioned form.

    The raw design (what the coefficients multiply) is ``design + lag_shift (x)
    valid + col_shift``: for ``"global"`` ``design`` holds the lags of ``X - mean(X)``
    and ``lag_shift`` the mean (so a fold's centring is a small correction); for
    ``"zero"`` ``design`` is column-centred and ``col_shift`` holds the column means;
    for ``"epoch"`` (centred per run) and ``"none"`` it is the raw design. Products over
    the rows of a fold are the products over all rows minus those over the rows left
    out when those are fewer (one pass over the data per fold, not ``k - 1``).

    Parameters
    ----------
    X : numpy.ndarray, shape (n_samples, n_features)
    lags : numpy.ndarray of int, shape (n_lags,)
    bounds : list of (start, stop)
        The runs.
    convention : {"epoch", "global", "zero", "none"}
    """

    def __init__(
        self, X: np.ndarray, lags: np.ndarray, bounds: list[tuple[int, int]], convention: str
    ) -> None:
        self.X, self.n_lags, self.convention = X, lags.size, convention
        self.lag_shift = X.mean(axis=0) if convention == "global" else None
        source = X - self.lag_shift if convention == "global" else X
        design, valid = _lag(source, lags, bounds, convention == "epoch")
        self.design = design.reshape(X.shape[0], -1)
        self.valid = valid.astype(np.float64)
        self.col_shift = None
        if convention == "zero":
            self.col_shift = self.design.mean(axis=0)
            self.design -= self.col_shift
        self._all: dict[str, Any] | None = None
        self._y: np.ndarray | None = None

    def raw_times(self, rows: Any, M: np.ndarray) -> np.ndarray:
        """The raw design's ``rows`` times ``M`` (n_features * n_lags, m)."""
        out = self.design[rows] @ M
        if self.lag_shift is not None:
            per_lag = np.tensordot(self.lag_shift, M.reshape(self.X.shape[1], self.n_lags, -1), 1)
            out += self.valid[rows] @ per_lag
        if self.col_shift is not None:
            out += self.col_shift @ M
        return out

    def raw_lag(self, k: int) -> np.ndarray:
        """The raw design's columns at lag ``k``, shape (n_samples, n_features)."""
        out = self.design.reshape(self.design.shape[0], -1, self.n_lags)[:, :, k]
        if self.lag_shift is not None:
            out = out + self.valid[:, k, None] * self.lag_shift
        if self.col_shift is not None:
            out = out + self.col_shift.reshape(-1, self.n_lags)[:, k]
        return out

    def normal_equations(
        self, P: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``Z'Z``, ``Z'(y - ybar)``, the raw offset ``o`` and ``ybar`` from products ``P``.

        ``Z`` is the training design of the convention (centred on the rows' means as
        the convention says); the intercept is ``ybar - o . w``.
        """
        n, p = P["n"], self.design.shape[1]
        if self.convention == "none":
            return P["DD"], P["Dy"], np.zeros(p), np.zeros(P["y1"].shape[0])
        if self.convention in ("epoch", "zero"):
            mu, C, c, ybar = self.raw_moments(P)
            return C, c, mu, ybar
        # "global" (MNE's TimeDelayingRidge): Z = D - delta (x) valid, delta small
        ybar = P["y1"] / n
        x_mean = P["X1"] / n
        delta = x_mean - self.lag_shift
        A = (P["DV"][:, None, :] * delta[None, :, None]).reshape(p, p)
        G = P["DD"] - A - A.T + np.kron(np.outer(delta, delta), P["VV"])
        Dy_c = P["Dy"] - np.outer(P["D1"], ybar)
        Vy_c = P["Vy"] - np.outer(P["V1"], ybar)
        b = Dy_c - np.kron(delta[:, None], Vy_c)
        return G, b, np.repeat(x_mean, self.n_lags), ybar

    def raw_moments(
        self, P: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, centred Gram and centred cross-products of the raw design over ``P``'s rows.

        Returns ``mu`` (p,), ``C`` (p, p), ``c`` (p, n_targets) and ``ybar``
        (n_targets,): a prediction ``raw @ w + const`` has variance ``w'Cw / n`` and
        covariance ``w'c / n`` with ``y`` over those rows.
        """
        n, p = P["n"], self.design.shape[1]
        ybar = P["y1"] / n
        DD, D1, Dy = P["DD"], P["D1"], P["Dy"]
        if self.lag_shift is not None:  # raw = D + lag_shift (x) valid
            s = self.lag_shift
            A = (P["DV"][:, None, :] * s[None, :, None]).reshape(p, p)
            DD = DD + A + A.T + np.kron(np.outer(s, s), P["VV"])
            D1 = D1 + np.kron(s, P["V1"])
            Dy = Dy + np.kron(s[:, None], P["Vy"])
        mu = D1 / n
        C = DD - n * np.outer(mu, mu)
        c = Dy - np.outer(D1, ybar)
        if self.col_shift is not None:  # raw = D + col_shift: same centred moments
            mu = mu + self.col_shift
        return mu, C, c, ybar

    def products(self, rows: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Products over ``rows``; from all rows minus the others when they are fewer."""
        n = self.design.shape[0]
        if self._y is not y:
            self._all, self._y = None, y
        if rows.size == n:
            if self._all is None:
                self._all = self._direct(slice(None), y)
            return self._all
        if 2 * rows.size <= n:
            return self._direct(rows, y)
        return self._minus(self.products(np.arange(n), y), self._others(rows), y)

    def validation_products(self, vals: list[np.ndarray], y: np.ndarray) -> list[dict[str, Any]]:
        """Products over each fold's validation rows.

        When the validation rows partition all rows (k-fold without gaps, leave one run
        out), their sum is the all-rows products, so those take no pass of their own.
        """
        products = [self._direct(val, y) for val in vals]
        n = self.design.shape[0]
        joined = np.concatenate(vals) if vals else np.array([], dtype=np.int64)
        if joined.size == n and np.array_equal(np.sort(joined), np.arange(n)):
            total = {key: sum(P[key] for P in products) for key in products[0]}
            self._all, self._y = total, y
        return products

    def fold_products(
        self, train: np.ndarray, val: np.ndarray, P_val: dict[str, Any], y: np.ndarray
    ) -> dict[str, Any]:
        """Products over the training rows of one fold, given its validation products.

        The training products are all rows' minus the validation rows' minus the rest
        (gaps, rows outside the fit), so a fold costs no pass over its training rows.
        """
        if 2 * train.size <= self.design.shape[0]:
            return self._direct(train, y)
        P_all = self.products(np.arange(self.design.shape[0]), y)
        rest = self._others(np.concatenate([train, val]))
        P_kept = self._minus(P_all, rest, y)
        return {key: P_kept[key] - P_val[key] for key in P_kept}

    def _others(self, rows: np.ndarray) -> np.ndarray:
        left_out = np.ones(self.design.shape[0], dtype=bool)
        left_out[rows] = False
        return np.flatnonzero(left_out)

    def _minus(self, P: dict[str, Any], rows: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        if rows.size == 0:
            return P
        out = self._direct(rows, y)
        return {key: P[key] - value for key, value in out.items()}

    def _direct(self, rows: Any, y: np.ndarray) -> dict[str, Any]:
        D, Y = self.design[rows], y[rows]
        out = {"n": D.shape[0], "DD": D.T @ D, "Dy": D.T @ Y, "D1": D.sum(0), "y1": Y.sum(0)}
        if self.convention == "global":
            V = self.valid[rows]
            out |= {"DV": D.T @ V, "VV": V.T @ V, "Vy": V.T @ Y, "V1": V.sum(0)}
            out["X1"] = self.X[rows].sum(0)
        return out


def _convention(fit_intercept: bool, centering: str) -> str:
    return centering if fit_intercept else "none"


# --- the estimator -----------------------------------------------------------------------


class TemporalResponseFunction(RegressorMixin, BaseEstimator):
    """Temporal response function: lagged ridge with a per-target penalty, MNE's numbers.

    Lags run from ``tmin`` to ``tmax`` seconds (MNE's rule, see :func:`lag_samples`)
    and never cross run or epoch boundaries. Each target's penalty is chosen from
    ``alphas`` by inner cross-validation (contiguous blocks with a gap of the lag span
    by default), then the model is refitted on all samples. At a single ``alpha`` the
    numbers equal MNE-Python's ``ReceptiveField`` (``centering="epoch"``: with
    ``estimator=sklearn.linear_model.Ridge(alpha)``; ``centering="global"``: with
    ``estimator=alpha``, i.e. ``TimeDelayingRidge``, including ``reg_type``).

    Parameters
    ----------
    tmin, tmax : float
        First and last lag in seconds (negative: the response precedes the feature).
    sfreq : float
        Sampling frequency of ``X`` and ``y`` in Hz.
    alphas : array-like of float, shape (n_alphas,), default DEFAULT_ALPHAS
        Positive penalties to choose from per target (one value: a fixed penalty).
        Not divided by the number of samples (MNE's and scikit-learn's convention).
    reg_type : {"ridge", "laplacian"} or (str, str), default "ridge"
        Penalty matrix as in MNE's ``TimeDelayingRidge`` (see
        :func:`laplacian_penalty`): ``"laplacian"`` smooths the kernel over lags and
        neighbouring features; ``("laplacian", "ridge")`` over lags only.
    fit_intercept : bool, default True
    centering : {"epoch", "global", "zero"}, default "epoch"
        Intercept convention (module docstring): ``"epoch"`` is MNE's
        ``ReceptiveField`` with scikit-learn's ``Ridge``, ``"global"`` is MNE's
        ``TimeDelayingRidge``, ``"zero"`` is mTRF's (zero-padded lags, unpenalised
        intercept). Ignored when ``fit_intercept=False``.
    cv : int, splitter or list of (train, validation) index pairs, default 5
        Inner folds choosing the penalties. An int ``k`` means
        ``BlockedKFold(k, gap=lags[-1] - lags[0])`` over the concatenated samples. A
        splitter is called as ``split(X, y, groups)`` (e.g. ``GroupKFold`` over
        epochs).
    bands : sequence of array-like of int, optional
        Feature spaces (indices into the columns of ``X``) with one penalty each,
        through :class:`~brainalign.alignment.banded.BandedRidgeCV` (``reg_type="ridge"``,
        not with ``centering="global"``; every feature in exactly one band).
    scoring : {"pearson", "r2"}, default "pearson"
        Validation score that chooses the penalties.
    target_batch_size : int, default 10_000

    Attributes
    ----------
    coef_ : numpy.ndarray, shape (n_targets, n_features, n_lags)
        Kernel of each target, lags ascending (``times_``): MNE's ``coef_`` layout
        (MNE drops the first axis for 1-D ``y``; here it is always there).
    intercept_ : numpy.ndarray, shape (n_targets,)
    best_alphas_ : numpy.ndarray, shape (n_targets,)
    cv_scores_ : numpy.ndarray, shape (n_alphas, n_targets)
        Mean validation score of each penalty (not set with ``bands``).
    delays_ : numpy.ndarray of int, shape (n_lags,)
        Lags in samples (MNE's ``delays_``).
    times_ : numpy.ndarray, shape (n_lags,)
        Lags in seconds, ``delays_ / sfreq``.
    n_features_in_ : int

    Notes
    -----
    ``X`` may be 3-D, ``(n_times, n_epochs, n_features)`` with ``y``
    ``(n_times, n_epochs[, n_targets])``, like MNE: the epochs are concatenated
    epoch by epoch (epoch 0's samples first) and each is a run. With
    ``centering="epoch"``, :meth:`predict` centres the lags of the new ``X`` on the new
    data, as MNE does; MNE additionally adds ``(mean(X_new) - mean(X_train)) .
    coef_.sum(lags)``, a constant that is zero on the training data and cancels in
    Pearson r. With ``centering="global"`` predictions are MNE's
    ``TimeDelayingRidge.predict``: the raw lags (zeros outside the run) times
    ``coef_`` plus ``intercept_ = mean(y) - mean(X) . coef_.sum(lags)``, so at the
    first and last samples of a run, where some lags fall outside it, a feature with a
    mean far from zero offsets the prediction (and the validation scores that choose
    the penalties) by ``mean(X)`` times the missing part of the kernel; centre such
    features first or use ``centering="epoch"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 2))
    >>> y = np.convolve(X[:, 0], [0.0, 1.0, 0.5], mode="full")[:1000, None]
    >>> trf = TemporalResponseFunction(0.0, 0.02, 100.0, alphas=[1.0]).fit(X, y)
    >>> trf.coef_.shape, trf.times_.tolist()
    ((1, 2, 3), [0.0, 0.01, 0.02])
    """

    def __init__(
        self,
        tmin: float,
        tmax: float,
        sfreq: float,
        *,
        alphas: ArrayLike = DEFAULT_ALPHAS,
        reg_type: str | Sequence[str] = "ridge",
        fit_intercept: bool = True,
        centering: str = "epoch",
        cv: int | object = 5,
        bands: Sequence[ArrayLike] | None = None,
        scoring: str = "pearson",
        target_batch_size: int = 10_000,
    ) -> None:
        self.tmin = tmin
        self.tmax = tmax
        self.sfreq = sfreq
        self.alphas = alphas
        self.reg_type = reg_type
        self.fit_intercept = fit_intercept
        self.centering = centering
        self.cv = cv
        self.bands = bands
        self.scoring = scoring
        self.target_batch_size = target_batch_size

    def fit(
        self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
    ) -> TemporalResponseFunction:
        """Choose a penalty per target by inner cross-validation, then refit on all samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_times, n_epochs, n_features)
        y : array-like, shape (n_samples[, n_targets]) or (n_times, n_epochs[, n_targets])
        groups : array-like, shape (n_samples,), optional
            Run of each sample (2-D ``X`` only), each run contiguous.

        Returns
        -------
        self : TemporalResponseFunction

        Raises
        ------
        ValueError
            Bad lags (see :func:`lag_samples`), ``X``/``y`` of different lengths or
            holding NaN or inf, a run not longer than the largest absolute lag, an
            unknown ``reg_type``/``centering``/``scoring``, bad ``bands``, or ``cv``
            giving an empty split.
        """
        lags = self._lags()
        X2, y2, bounds = _check_inputs(X, y, groups)
        _check_run_lengths(bounds, lags, self.sfreq)
        convention = self._convention()
        lagged = _Lagged(X2, lags, bounds, convention)
        rows = np.arange(X2.shape[0])
        splits = _inner_splits(self.cv, lags, rows.size, y2, _labels(bounds))
        solution = _fit_rows(self, lagged, y2, rows, splits)
        self.coef_ = solution.coef.T.reshape(y2.shape[1], X2.shape[1], lags.size)
        self.intercept_ = solution.intercept
        self.best_alphas_ = solution.best_alphas
        if solution.cv_scores is not None:
            self.cv_scores_ = solution.cv_scores
        self.delays_ = lags
        self.times_ = lags / float(self.sfreq)
        self.n_features_in_ = X2.shape[1]
        return self

    def predict(self, X: ArrayLike, groups: ArrayLike | None = None) -> np.ndarray:
        """Predicted responses, lags inside each run.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_times, n_epochs, n_features)
        groups : array-like, shape (n_samples,), optional

        Returns
        -------
        y_pred : numpy.ndarray, shape (n_samples, n_targets), or
            (n_times, n_epochs, n_targets) for 3-D ``X``
        """
        lagged, shape = self._lagged(X, groups)
        coef = self.coef_.reshape(self.coef_.shape[0], -1)
        pred = lagged.raw_times(slice(None), coef.T) + self.intercept_
        return pred if shape is None else pred.reshape(shape[1], shape[0], -1).swapaxes(0, 1)

    def score(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None) -> Any:  # type: ignore[override]
        """Per-target Pearson r of the predictions (not averaged over targets).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_times, n_epochs, n_features)
        y : array-like, shape (n_samples[, n_targets]) or (n_times, n_epochs[, n_targets])
        groups : array-like, shape (n_samples,), optional

        Returns
        -------
        r : numpy.ndarray, shape (n_targets,)
            Nan where ``y`` or the prediction is constant.
        """
        _, y2, _ = _check_inputs(X, y, groups)
        pred = self.predict(X, groups)
        return pearson_columns(
            pred.reshape(-1, pred.shape[-1], order="F") if pred.ndim == 3 else pred, y2
        )

    def lag_variance(
        self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None
    ) -> np.ndarray:
        """Time course of explained variance: each lag's share of the response variance.

        For lag ``k`` and target ``j``: ``var_t(sum_f Z[t, f, k] * coef_[j, f, k]) /
        var_t(y[t, j])``, where ``Z`` is the lagged design predictions use (the
        prediction from that one kernel slice alone, its variance over samples as a
        fraction of the response's). The entries need not sum to the R^2 of the full
        prediction: slices at neighbouring lags of an autocorrelated feature covary.

        Parameters
        ----------
        X, y, groups : as in :meth:`score`

        Returns
        -------
        fraction : numpy.ndarray, shape (n_targets, n_lags)
            Nan for a constant target.
        """
        _, y2, _ = _check_inputs(X, y, groups)
        lagged, _ = self._lagged(X, groups)
        n_targets, _, n_lags = self.coef_.shape
        var_y = y2.var(axis=0)
        out = np.empty((n_targets, n_lags))
        for k in range(n_lags):
            out[:, k] = (lagged.raw_lag(k) @ self.coef_[:, :, k].T).var(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(var_y[:, None] > 0, out / var_y[:, None], np.nan)

    def _lagged(self, X: ArrayLike, groups: ArrayLike | None) -> tuple[_Lagged, Any]:
        """The lagged design of new ``X`` and its 3-D shape (or None)."""
        check_is_fitted(self, "coef_")
        shape = np.shape(X) if np.ndim(X) == 3 else None
        X2, _, bounds = _check_inputs(X, None, groups)
        if X2.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X2.shape[1]} features but the model was fitted on "
                f"{self.n_features_in_}; pass the same feature columns as in fit."
            )
        _check_run_lengths(bounds, self.delays_, self.sfreq)
        return _Lagged(X2, self.delays_, bounds, self._convention()), shape

    def _lags(self) -> np.ndarray:
        return lag_samples(self.tmin, self.tmax, self.sfreq)

    def _convention(self) -> str:
        if self.centering not in CENTERINGS:
            raise ValueError(f"centering={self.centering!r}; use one of {list(CENTERINGS)}.")
        return _convention(self.fit_intercept, self.centering)


TRF = TemporalResponseFunction
"""Short alias of :class:`TemporalResponseFunction`."""


# --- fitting on rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Solution:
    coef: np.ndarray  # (p, n_targets), feature-major rows
    intercept: np.ndarray  # (n_targets,)
    best_alphas: np.ndarray  # (n_targets,)
    cv_scores: np.ndarray | None  # (n_alphas, n_targets)


def _fit_rows(
    trf: TemporalResponseFunction,
    lagged: _Lagged,
    y: np.ndarray,
    rows: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
) -> _Solution:
    """Fit on ``rows`` with inner ``splits`` (indices into ``rows``)."""
    alphas = check_alphas(trf.alphas)
    _check_scoring(trf.scoring)
    batch = check_int("target_batch_size", trf.target_batch_size, minimum=1)
    R = laplacian_penalty(lagged.X.shape[1], lagged.n_lags, trf.reg_type)
    plain = np.array_equal(R, np.eye(R.shape[0]))
    if trf.bands is not None:
        if not plain or lagged.convention == "global":
            raise ValueError(
                "bands needs reg_type='ridge' and centering 'epoch' or 'zero' (banded ridge "
                f"penalises each band's identity); got reg_type={trf.reg_type!r}, "
                f"centering={trf.centering!r}."
            )
        return _fit_banded(trf, lagged, y, rows, splits, alphas, batch)
    return _fit_penalised(lagged, y, rows, splits, alphas, None if plain else R, trf.scoring)


def _fit_banded(
    trf: TemporalResponseFunction,
    lagged: _Lagged,
    y: np.ndarray,
    rows: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray,
    batch: int,
) -> _Solution:
    """Banded ridge over feature spaces, each band's lags sharing its penalty."""
    from brainalign.alignment.banded import BandedRidgeCV

    n_features, n_lags = lagged.X.shape[1], lagged.n_lags
    seen = np.zeros(n_features, dtype=int)
    columns = []
    for band in trf.bands:
        features = np.asarray(band, dtype=np.int64).ravel()
        if features.size == 0 or features.min() < 0 or features.max() >= n_features:
            raise ValueError(
                f"bands entry {features.tolist()} must hold feature indices in "
                f"0..{n_features - 1} (columns of X)."
            )
        seen[features] += 1
        columns.append((features[:, None] * n_lags + np.arange(n_lags)).ravel())
    if not np.all(seen == 1):
        raise ValueError(
            f"bands must hold every feature of X exactly once; features "
            f"{_first(np.flatnonzero(seen != 1))} appear {seen[seen != 1].tolist()[:10]} times."
        )
    model = BandedRidgeCV(
        columns,
        alphas=alphas,
        cv=splits,
        fit_intercept=lagged.convention != "none",
        scoring=trf.scoring,
        target_batch_size=batch,
        random_state=0,
    ).fit(lagged.design[rows], y[rows])
    coef = model.coef_.T
    intercept = model.intercept_
    if lagged.col_shift is not None:  # the stored design is column-centred
        intercept = intercept - lagged.col_shift @ coef
    return _Solution(coef, intercept, model.best_alphas_, None)


def _fit_penalised(
    lagged: _Lagged,
    y: np.ndarray,
    rows: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray,
    R: np.ndarray | None,
    scoring: str,
) -> _Solution:
    """Ridge ``(Z'Z + alpha R) w = Z'y`` with one decomposition per fold.

    ``R=None`` is the identity: ``Z'Z = V S^2 V'`` and ``w(alpha) = V (S^2 + alpha)^-1
    V' Z'y``, :mod:`~brainalign.alignment.ridge`'s formula (``_eigh``,
    ``_ridge_apply``), so the numbers are :class:`~brainalign.alignment.ridge.RidgeCV`'s
    on the lagged design; only ``Z'Z`` is formed differently (from products over all
    rows minus the rows left out, and centred as the convention says). Otherwise ``V``
    solves the generalised eigenproblem ``R v = lambda Z'Z v`` (``V' Z'Z V = I``,
    ``V' R V = diag(lambda)``) and ``w(alpha) = V (1 + alpha lambda)^-1 V' Z'y``; MNE's
    ``TimeDelayingRidge`` solves the same system directly for one penalty. Validation
    scores come from the validation rows' products (:class:`_MomentScorer`), so each
    fold reads its validation rows once and no penalty reads them again.
    """
    scores = np.zeros((alphas.size, y.shape[1]))
    val_products = lagged.validation_products([rows[val] for _, val in splits], y)
    for k, ((train, val), P_val) in enumerate(zip(splits, val_products, strict=True)):
        P_train = lagged.fold_products(rows[train], rows[val], P_val, y)
        fold = _decompose(lagged, P_train, R, k)
        score = _MomentScorer(scoring, lagged, P_val, y[rows[val]])
        for i, alpha in enumerate(alphas):
            scores[i] += score(fold.apply(fold.V, float(alpha)), fold)
    scores /= len(splits)
    best = _best_alphas(scores, alphas, np)
    fold = _decompose(lagged, lagged.products(rows, y), R, None)
    coef = fold.apply(fold.V, best)
    return _Solution(coef, fold.ybar - fold.offset @ coef, best, scores)


class _MomentScorer:
    """Validation scores of coefficients from the validation rows' products alone.

    The prediction of a validation row is ``raw @ w + ybar_train - o . w``; its
    Pearson r with ``y`` is ``w'c / sqrt(w'Cw * ss_y)`` and its residual sum of squares
    is ``ss_y - 2 w'c + w'Cw + n m^2`` with ``m = ybar_val - ybar_train - (mu - o) . w``
    (``mu``, ``C``, ``c`` from :meth:`_Lagged.raw_moments`), so scoring a penalty costs
    ``p^2`` per target instead of a pass over the validation samples. The same
    definitions as :class:`~brainalign.alignment.metrics.TargetScorer`: NaN where ``y``
    is constant on the validation rows, and for Pearson r where the prediction is.
    """

    def __init__(self, scoring: str, lagged: _Lagged, P_val: dict[str, Any], y_val: Any) -> None:
        self.scoring, self.n = scoring, P_val["n"]
        self.mu, self.C, self.c, self.ybar = lagged.raw_moments(P_val)
        self.constant = np.max(y_val, axis=0) == np.min(y_val, axis=0)
        centred = y_val - self.ybar
        self.ss_y = np.sum(centred * centred, axis=0)

    def __call__(self, W: np.ndarray, fold: _Fold) -> np.ndarray:
        cov = np.sum(W * self.c, axis=0)
        var = np.sum((self.C @ W) * W, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scoring == "pearson":
                r = np.clip(cov / np.sqrt(var * self.ss_y), -1.0, 1.0)
                return np.where(self.constant | (var <= 0), np.nan, r)
            m = self.ybar - fold.ybar - (self.mu - fold.offset) @ W
            sse = self.ss_y - 2.0 * cov + var + self.n * m * m
            return np.where(self.constant, np.nan, 1.0 - sse / self.ss_y)


@dataclass(frozen=True)
class _Fold:
    """One fold's decomposition: ``apply(left, alpha)`` is ``left @ w(alpha)`` in V's basis."""

    V: np.ndarray  # (p, p)
    spectrum: np.ndarray  # (p,): S^2 (ridge) or the generalised eigenvalues
    proj: np.ndarray  # (p, n_targets): V' Z' y_c
    offset: np.ndarray  # (p,) raw offset o, intercept = ybar - o . w
    ybar: np.ndarray  # (n_targets,)
    generalised: bool

    def apply(self, left: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        if not self.generalised:
            return _ridge_apply(left, self.spectrum, self.proj, alpha)
        return left @ (self.proj / (1.0 + self.spectrum[:, None] * alpha))


def _decompose(lagged: _Lagged, P: dict[str, Any], R: np.ndarray | None, k: Any) -> _Fold:
    """One fold's decomposition from its training products ``P``."""
    from scipy.linalg import LinAlgError, eigh

    G, b, offset, ybar = lagged.normal_equations(P)
    if R is None:
        s2, V = _eigh(G)
        return _Fold(V, s2, V.T @ b, offset, ybar, generalised=False)
    try:
        lam, V = eigh(R, G)
    except LinAlgError:
        where = "all samples" if k is None else f"the training samples of inner fold {k}"
        raise ValueError(
            f"The lagged design on {where} ({P['n']} samples x {G.shape[0]} lagged "
            "features) is rank-deficient, which a Laplacian penalty cannot regularise "
            "(it leaves constant kernels unpenalised). Use more samples, fewer lags, "
            "drop constant features, or reg_type='ridge'."
        ) from None
    return _Fold(V, np.clip(lam, 0.0, None), V.T @ b, offset, ybar, generalised=True)


# --- held-out scores -------------------------------------------------------------------------


def cross_validated_trf(
    X: ArrayLike,
    y: ArrayLike,
    trf: TemporalResponseFunction,
    *,
    groups: ArrayLike | None = None,
    cv: int | object = 5,
    return_predictions: bool = False,
) -> EncodingResult:
    """Held-out Pearson r per target of a TRF, with outer and inner blocked folds.

    The lagged design is built once over all samples (lags inside runs; for
    ``centering="epoch"`` each run's lagged copies centred over the whole run, which
    uses ``X`` only). Each outer fold fits ``trf``'s model on its training samples
    (penalties chosen by ``trf.cv`` inside them) and scores the held-out samples.

    Why not :func:`~brainalign.alignment.encoding.cross_validated_encoding`: it lags
    with :func:`~brainalign.alignment.temporal.fir_delays` (non-negative delays only),
    z-scores features and responses per fold (so kernels lose their units and the
    penalties their MNE meaning) and has no Laplacian penalty. This function returns
    the same :class:`~brainalign.alignment.encoding.EncodingResult`, with ``scores``
    defined the same way (each target's mean over the folds where its r is defined,
    a warning naming the others), so the two kinds of result can be tabulated alike.

    Parameters
    ----------
    X, y : as in :meth:`TemporalResponseFunction.fit`
    trf : TemporalResponseFunction
        Unfitted settings (lags, alphas, penalty, convention, inner ``cv``).
    groups : array-like, shape (n_samples,), optional
        Runs (2-D ``X``); passed to a splitter ``cv`` as ``split(X, y, groups)``.
    cv : int or splitter, default 5
        Outer folds: an int ``k`` means ``BlockedKFold(k, gap=lags[-1] - lags[0])``.
    return_predictions : bool, default False

    Returns
    -------
    EncodingResult
        ``scores`` (n_targets,), ``fold_scores`` and ``best_alphas`` (n_folds,
        n_targets), ``predictions`` (n_samples, n_targets; NaN in gaps) and
        ``settings`` (``lags`` in samples, ``sfreq``, ``gap``, ``cv``, ``centering``,
        ``reg_type``).

    Raises
    ------
    ValueError
        As :meth:`TemporalResponseFunction.fit`, or when a fold leaves too few
        samples for the inner folds.
    """
    lags = trf._lags()
    X2, y2, bounds = _check_inputs(X, y, groups)
    _check_run_lengths(bounds, lags, trf.sfreq)
    convention = trf._convention()
    lagged = _Lagged(X2, lags, bounds, convention)
    labels = _labels(bounds)
    outer = _inner_splits(cv, lags, X2.shape[0], y2, labels)
    fold_scores = np.empty((len(outer), y2.shape[1]))
    best = np.empty_like(fold_scores)
    predictions = np.full(y2.shape, np.nan) if return_predictions else None
    for k, (train, test) in enumerate(outer):
        inner = _inner_splits(trf.cv, lags, train.size, y2[train], labels[train])
        solution = _fit_rows(trf, lagged, y2, train, inner)
        pred = lagged.raw_times(test, solution.coef) + solution.intercept
        fold_scores[k] = pearson_columns(pred, y2[test])
        best[k] = solution.best_alphas
        if predictions is not None:
            predictions[test] = pred
    constant = np.flatnonzero(np.ptp(y2, axis=0) == 0)
    scores, n_valid = _mean_over_defined_folds(fold_scores, constant)
    return EncodingResult(
        scores=scores,
        fold_scores=fold_scores,
        best_alphas=best,
        predictions=predictions,
        settings={
            "lags": tuple(lags.tolist()),
            "sfreq": float(trf.sfreq),
            "gap": int(lags[-1] - lags[0]),
            "cv": repr(cv),
            "centering": trf.centering if trf.fit_intercept else "none",
            "reg_type": trf.reg_type,
        },
        n_valid_folds=n_valid,
    )


# --- inputs ----------------------------------------------------------------------------------


def _inner_splits(
    cv: int | object, lags: np.ndarray, n: int, y: np.ndarray, groups: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``cv`` as checked (train, validation) index pairs over ``n`` rows."""
    design = np.zeros((n, 1))  # what a splitter is shown as X: only its length counts
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        split_iter = BlockedKFold(int(cv), gap=int(lags[-1] - lags[0])).split(design)
    elif isinstance(cv, list | tuple):
        split_iter = cv
    elif callable(getattr(cv, "split", None)) and not isinstance(cv, str):
        split_iter = cv.split(design, y, groups)  # type: ignore[attr-defined]
    else:
        raise ValueError(
            f"cv must be an int (blocked folds), a splitter with split(X, y, groups) or a "
            f"list of (train, validation) index arrays; got {cv!r}."
        )
    return _check_split_list(split_iter, cv, n)


def _check_inputs(
    X: ArrayLike, y: ArrayLike | None, groups: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray | None, list[tuple[int, int]]]:
    """2-D ``X`` (n, n_features), 2-D ``y`` (n, n_targets) and the runs' bounds."""
    X_arr = np.asarray(X)
    if X_arr.ndim == 3:
        if groups is not None:
            raise ValueError(
                "groups applies to 2-D X only; 3-D X (n_times, n_epochs, n_features) "
                "makes each epoch a run already."
            )
        n_times, n_epochs, _ = X_arr.shape
        X2 = _finite("X", X_arr.transpose(1, 0, 2).reshape(n_times * n_epochs, -1), 2)
        bounds = [(e * n_times, (e + 1) * n_times) for e in range(n_epochs)]
        y2 = None if y is None else _epochs_y(y, n_times, n_epochs)
    elif X_arr.ndim == 2:
        X2 = _finite("X", X_arr, 2)
        bounds = _run_bounds(groups, X2.shape[0])
        y2 = None
        if y is not None:
            y_arr = np.asarray(y)
            y2 = _finite("y", y_arr[:, None] if y_arr.ndim == 1 else y_arr, 2)
    else:
        raise ValueError(
            f"X must be (n_samples, n_features) or (n_times, n_epochs, n_features); got "
            f"shape {X_arr.shape}. Reshape a single feature with X.reshape(-1, 1)."
        )
    if y2 is not None and y2.shape[0] != X2.shape[0]:
        raise ValueError(
            f"X has {X2.shape[0]} samples but y has {y2.shape[0]}; they must be the same "
            "samples in the same order (resample the features onto the recording first)."
        )
    return X2, y2, bounds


def _epochs_y(y: ArrayLike, n_times: int, n_epochs: int) -> np.ndarray:
    y_arr = np.asarray(y)
    if y_arr.ndim == 2:
        y_arr = y_arr[:, :, None]
    if y_arr.ndim != 3 or y_arr.shape[:2] != (n_times, n_epochs):
        raise ValueError(
            f"y has shape {y_arr.shape}; with 3-D X it must be ({n_times}, {n_epochs}"
            "[, n_targets]) (n_times, n_epochs[, n_targets])."
        )
    return _finite("y", y_arr.transpose(1, 0, 2).reshape(n_times * n_epochs, -1), 2)


def _finite(name: str, A: ArrayLike, ndim: int) -> np.ndarray:
    arr = np.asarray(A, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} has NaN or inf at samples {_first(np.flatnonzero(bad.any(axis=1)))} "
            f"(columns {_first(np.flatnonzero(bad.any(axis=0)))}); interpolate or drop "
            "those samples first."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    return arr


def _run_bounds(groups: ArrayLike | None, n_samples: int) -> list[tuple[int, int]]:
    from brainalign.alignment.temporal import _run_bounds as bounds

    return bounds(groups, n_samples)


def _labels(bounds: list[tuple[int, int]]) -> np.ndarray:
    """Run index of each sample."""
    return np.repeat(np.arange(len(bounds)), [stop - start for start, stop in bounds])


def _check_run_lengths(
    bounds: list[tuple[int, int]], lags: np.ndarray, sfreq: float | None
) -> None:
    widest = int(np.abs(lags).max())
    for r, (start, stop) in enumerate(bounds):
        if stop - start <= widest:
            unit = "" if sfreq is None else f" ({(stop - start) / sfreq:g} s)"
            span = "" if sfreq is None else f" ({lags[0] / sfreq:g} to {lags[-1] / sfreq:g} s)"
            raise ValueError(
                f"run {r} has {stop - start} samples{unit}, not more than the largest "
                f"absolute lag of {widest} samples; the lags {lags[0]}..{lags[-1]} "
                f"samples{span} are wider than the run. Use a narrower tmin..tmax or "
                "longer runs."
            )


def _check_reg_type(reg_type: str | Sequence[str]) -> tuple[str, str]:
    kinds = (reg_type, reg_type) if isinstance(reg_type, str) else tuple(reg_type)
    if len(kinds) != 2 or any(kind not in REG_TYPES for kind in kinds):
        raise ValueError(
            f"reg_type={reg_type!r}; use 'ridge', 'laplacian' or a pair (lags, features) "
            f"of them, e.g. ('laplacian', 'ridge')."
        )
    return kinds  # type: ignore[return-value]
