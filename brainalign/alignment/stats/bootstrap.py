"""Bootstrap confidence intervals of mean scores, correlations and their differences.

:func:`bootstrap_mean`, :func:`bootstrap_correlation`, :func:`bootstrap_difference`
    Resample subjects (rows of a score table), stimuli (rows of predictions and responses,
    together) or both (subjects, then one stimulus resample shared by all subjects: the
    crossed design of subjects who saw the same stimuli). Percentile intervals; BCa
    (Efron 1987) for one-level resampling. Resampled means and correlations are computed
    from resample counts with matrix products, never one resample at a time.
    :func:`bootstrap_indices` gives the draws.

Part of :mod:`brainalign.alignment.stats` (numpy or torch in, the same kind out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from array_api_compat import device as array_device
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_int
from brainalign.alignment.backend import as_float, namespace, to_numpy
from brainalign.alignment.stats._common import (
    _BATCH_FLOATS,
    Seed,
    _check_choice,
    _check_finite,
    _rng,
    _standardize_columns,
    _to_device,
)

__all__ = [
    "BootstrapResult",
    "bootstrap_correlation",
    "bootstrap_difference",
    "bootstrap_indices",
    "bootstrap_mean",
]

Resample = Literal["stimuli", "subjects", "both"]

_RESAMPLES = ("stimuli", "subjects", "both")
_CI_METHODS = ("percentile", "bca")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class BootstrapResult:
    """Result of the bootstrap functions.

    Attributes
    ----------
    estimate : array, shape (...)
        The statistic on the data as given (one value per unit / cell).
    low, high : array, shape (...)
        Confidence interval bounds; nan where any resample's statistic was nan.
    standard_error : array, shape (...)
        Standard deviation of the bootstrap distribution (ddof=1).
    confidence_level : float
    n_resamples : int
    method : str
        ``"percentile"`` or ``"bca"``.
    resample : str
        What was resampled: ``"subjects"``, ``"stimuli"`` or ``"both"``.
    distribution : array, shape (n_resamples, ...), or None
        The bootstrap distribution, if ``return_distribution=True``.
    p_value : array, shape (...), or None
        For :func:`bootstrap_difference` only: two-sided bootstrap p-value of a zero
        difference, ``min(1, 2 * min(P(d* <= 0), P(d* >= 0)))`` with the ``(1 + #) /
        (1 + n_resamples)`` count, i.e. the smallest ``1 - confidence_level`` whose
        percentile interval excludes 0.
    """

    estimate: Any
    low: Any
    high: Any
    standard_error: Any
    confidence_level: float
    n_resamples: int
    method: str
    resample: str
    distribution: Any | None = None
    p_value: Any | None = None


# ------------------------------------------------------------------ input checking
def _check_confidence(confidence_level: float) -> float:
    level = float(confidence_level)
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"confidence_level must be strictly between 0 and 1; got {confidence_level!r} "
            "(e.g. 0.95)."
        )
    return level


# ------------------------------------------------------------------------- bootstrap
def bootstrap_indices(n: int, n_resamples: int, *, seed: Seed = 0) -> np.ndarray:
    """Bootstrap resamples: ``n`` draws with replacement from ``range(n)`` per row.

    Parameters
    ----------
    n : int
    n_resamples : int
    seed : int or numpy.random.Generator

    Returns
    -------
    indices : numpy.ndarray of int, shape (n_resamples, n)
        ``numpy.random.default_rng(seed).integers(0, n, size=(n_resamples, n))``, the
        draws :func:`bootstrap_mean` uses.
    """
    n = check_int("n", n, minimum=1)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    return _rng(seed).integers(0, n, size=(n_resamples, n))


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """(n_resamples, n) how often each row was drawn in each resample."""
    n_resamples = indices.shape[0]
    offsets = indices + (np.arange(n_resamples) * n)[:, None]
    counts = np.bincount(offsets.ravel(), minlength=n_resamples * n)
    return counts.reshape(n_resamples, n).astype(np.float64)


def _quantiles(sorted_dist: Any, q: Any, xp: Any) -> Any:
    """Linear-interpolated quantiles (numpy's default) of each column, per-column ``q``.

    ``sorted_dist`` (n_resamples, m) sorted along axis 0; ``q`` (m,) in [0, 1].
    """
    n = sorted_dist.shape[0]
    position = q * (n - 1)
    lower = xp.clip(xp.floor(position), min=0, max=n - 1)
    upper = xp.clip(lower + 1, min=0, max=n - 1)
    weight = position - lower
    lo = xp.take_along_axis(sorted_dist, xp.astype(lower, xp.int64)[None, :], axis=0)[0]
    hi = xp.take_along_axis(sorted_dist, xp.astype(upper, xp.int64)[None, :], axis=0)[0]
    return lo + weight * (hi - lo)


def _bca_levels(dist: Any, estimate: Any, jackknife: Any, alpha: float, xp: Any) -> tuple[Any, Any]:
    """BCa-adjusted lower and upper quantile levels per column (as scipy.stats.bootstrap).

    The per-column bias correction ``z0`` and acceleration ``a`` (from the jackknife
    values, shape (n, m)) go through scipy.special on the CPU (m values only).
    """
    from scipy.special import ndtr, ndtri

    below = xp.sum(xp.astype(dist < estimate, xp.float64), axis=0)
    at_or_below = xp.sum(xp.astype(dist <= estimate, xp.float64), axis=0)
    z0 = ndtri(to_numpy((below + at_or_below) / (2.0 * dist.shape[0])))
    deviation = to_numpy(xp.mean(jackknife, axis=0) - jackknife)
    with np.errstate(invalid="ignore", divide="ignore"):
        accel = (deviation**3).sum(axis=0) / (6.0 * ((deviation**2).sum(axis=0)) ** 1.5)
    levels = []
    for z_alpha in (ndtri(alpha), -ndtri(alpha)):
        shifted = z0 + z_alpha
        levels.append(ndtr(z0 + shifted / (1.0 - accel * shifted)))
    return _to_device(levels[0], xp, dist), _to_device(levels[1], xp, dist)


def _summarize(
    dist: Any,
    estimate: Any,
    *,
    confidence_level: float,
    method: str,
    resample: str,
    jackknife: Any | None,
    return_distribution: bool,
    p_value: Any | None = None,
) -> BootstrapResult:
    """Intervals from a (n_resamples, ...) bootstrap distribution of any trailing shape."""
    xp = namespace(dist)
    shape = tuple(estimate.shape)
    flat = xp.reshape(dist, (dist.shape[0], -1))
    flat_estimate = xp.reshape(estimate, (-1,))
    alpha = (1.0 - confidence_level) / 2.0
    if method == "bca":
        low_q, high_q = _bca_levels(flat, flat_estimate, jackknife, alpha, xp)
    else:
        low_q = xp.full(flat_estimate.shape, alpha, dtype=xp.float64, device=array_device(flat))
        high_q = 1.0 - low_q
    has_nan = xp.any(xp.isnan(flat), axis=0) | xp.isnan(low_q) | xp.isnan(high_q)
    ordered = xp.sort(xp.where(xp.isnan(flat), 0.0, flat), axis=0)
    low_q = xp.where(xp.isnan(low_q), 0.0, low_q)
    high_q = xp.where(xp.isnan(high_q), 1.0, high_q)
    low = xp.where(has_nan, xp.nan, _quantiles(ordered, low_q, xp))
    high = xp.where(has_nan, xp.nan, _quantiles(ordered, high_q, xp))
    return BootstrapResult(
        estimate=estimate,
        low=xp.reshape(low, shape),
        high=xp.reshape(high, shape),
        standard_error=xp.std(dist, axis=0, correction=1),
        confidence_level=confidence_level,
        n_resamples=dist.shape[0],
        method=method,
        resample=resample,
        distribution=dist if return_distribution else None,
        p_value=p_value,
    )


def _check_scores(name: str, scores: ArrayLike, xp: Any) -> Any:
    arr = as_float(scores, xp, xp.float64)
    if arr.ndim < 1 or arr.shape[0] < 2:
        raise ValueError(
            f"{name} must be (n_subjects, ...) with at least 2 subjects (rows); got shape "
            f"{tuple(arr.shape)}."
        )
    _check_finite(name, arr, xp)
    return arr


def _check_bootstrap_options(
    n_resamples: int, confidence_level: float, method: str
) -> tuple[int, float, str]:
    return (
        check_int("n_resamples", n_resamples, minimum=1),
        _check_confidence(confidence_level),
        _check_choice("method", method, _CI_METHODS),
    )


def _resampled_means(scores: Any, counts: np.ndarray, xp: Any) -> Any:
    """(n_resamples, ...) means over resampled rows: one matrix product."""
    n = scores.shape[0]
    flat = xp.reshape(scores, (n, -1))
    means = (_to_device(counts, xp, scores) @ flat) / n
    return xp.reshape(means, (counts.shape[0], *scores.shape[1:]))


def _leave_one_out_means(scores: Any, xp: Any) -> Any:
    """(n, m) jackknife means: the mean of every row but one."""
    n = scores.shape[0]
    flat = xp.reshape(scores, (n, -1))
    return (xp.sum(flat, axis=0) - flat) / (n - 1)


def bootstrap_mean(
    scores: ArrayLike,
    *,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
    seed: Seed = 0,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Bootstrap confidence interval of the mean over subjects (rows) of a score table.

    Parameters
    ----------
    scores : array-like, shape (n_subjects, ...)
        One row per subject (or any independent unit of resampling), any trailing shape
        (units, layers, heads); numpy or torch. Finite, at least 2 rows.
    n_resamples : int, default 1000
    confidence_level : float, default 0.95
    method : {"percentile", "bca"}, default "percentile"
        Percentile interval (linear interpolation, as :func:`numpy.percentile`) or
        bias-corrected and accelerated (as ``scipy.stats.bootstrap(method="BCa")``).
    seed : int or numpy.random.Generator, default 0
        Resamples are :func:`bootstrap_indices` ``(n_subjects, n_resamples, seed=seed)``.
    return_distribution : bool, default False

    Returns
    -------
    BootstrapResult
        ``estimate``, ``low``, ``high``, ``standard_error`` of shape ``scores.shape[1:]``.
    """
    n_resamples, confidence_level, method = _check_bootstrap_options(
        n_resamples, confidence_level, method
    )
    xp = namespace(scores)
    arr = _check_scores("scores", scores, xp)
    counts = _counts(bootstrap_indices(arr.shape[0], n_resamples, seed=seed), arr.shape[0])
    return _summarize(
        _resampled_means(arr, counts, xp),
        xp.mean(arr, axis=0),
        confidence_level=confidence_level,
        method=method,
        resample="subjects",
        jackknife=_leave_one_out_means(arr, xp) if method == "bca" else None,
        return_distribution=return_distribution,
    )


# ---- resampled correlations from weighted moments


def _check_prediction_data(
    xp: Any, responses: ArrayLike, *predictions: ArrayLike
) -> tuple[Any, list[Any]]:
    """Responses and predictions as float64 (n_subjects, n_samples, n_units) arrays."""
    R = as_float(responses, xp, xp.float64)
    if R.ndim not in (2, 3):
        raise ValueError(
            "responses must be (n_samples, n_units) or (n_subjects, n_samples, n_units); "
            f"got shape {tuple(R.shape)}."
        )
    preds = []
    for i, p in enumerate(predictions):
        P = as_float(p, xp, xp.float64)
        if tuple(P.shape) != tuple(R.shape):
            raise ValueError(
                f"predictions{'' if len(predictions) == 1 else ' ' + 'ab'[i]} has shape "
                f"{tuple(P.shape)} but responses has {tuple(R.shape)}; they must match."
            )
        _check_finite("predictions", P, xp)
        preds.append(P if P.ndim == 3 else P[None])
    _check_finite("responses", R, xp)
    R = R if R.ndim == 3 else R[None]
    if R.shape[1] < 3:
        raise ValueError(f"need at least 3 samples (stimuli); got {R.shape[1]}.")
    return R, preds


def _check_resample(resample: str, n_subjects: int, two_d: bool) -> str:
    _check_choice("resample", resample, _RESAMPLES)
    if two_d and resample != "stimuli":
        raise ValueError(
            f"resample={resample!r} needs 3-D (n_subjects, n_samples, n_units) data; "
            "2-D data can only be resampled by stimuli."
        )
    if resample != "stimuli" and n_subjects < 2:
        raise ValueError(f"resample={resample!r} needs at least 2 subjects; got {n_subjects}.")
    return resample


class _Moments:
    """Per subject and unit, standardized columns and their products, flattened.

    Each of ``p, r, pp, rr, pr`` is (n_samples, n_subjects * n_units); a weighted sum
    ``w @ x`` gives the moments of any resample of the stimuli with counts ``w``.
    """

    def __init__(self, P: Any, R: Any, xp: Any) -> None:
        n_subjects, n_samples, n_units = P.shape
        self.shape = (n_subjects, n_units)
        self.n = n_samples
        p = xp.reshape(xp.permute_dims(P, (1, 0, 2)), (n_samples, -1))
        r = xp.reshape(xp.permute_dims(R, (1, 0, 2)), (n_samples, -1))
        p, _ = _standardize_columns(p, xp)
        r, _ = _standardize_columns(r, xp)
        self.columns = (p, r, p * p, r * r, p * r)

    def correlations(self, weights: Any, xp: Any) -> Any:
        """(n_resamples, n_subjects, n_units) r for stimulus counts ``weights``."""
        means = [weights @ column / self.n for column in self.columns]
        return self._r_from_means(*means, xp)

    def leave_one_out(self, xp: Any) -> Any:
        """(n_samples, n_subjects, n_units) r with each stimulus left out in turn."""
        means = [(xp.sum(c, axis=0) - c) / (self.n - 1) for c in self.columns]
        return self._r_from_means(*means, xp)

    def _r_from_means(self, sp: Any, sr: Any, spp: Any, srr: Any, spr: Any, xp: Any) -> Any:
        var_p, var_r = spp - sp * sp, srr - sr * sr
        # Standardized columns have variance 1/n; a resample with (almost) none is constant.
        flat_resample = (var_p * self.n < 1e-10) | (var_r * self.n < 1e-10)
        den = xp.sqrt(xp.where(flat_resample, 1.0, var_p * var_r))
        r = xp.clip((spr - sp * sr) / den, min=-1.0, max=1.0)
        r = xp.where(flat_resample, xp.nan, r)
        return xp.reshape(r, (sp.shape[0], *self.shape))


def _subject_mean(r: Any, subject_counts: Any | None, xp: Any) -> Any:
    """Mean over (resampled) subjects of (n_resamples, n_subjects, n_units) r."""
    if subject_counts is None:
        return xp.mean(r, axis=1)
    weighted = xp.matmul(subject_counts[:, None, :], r)[:, 0, :]
    return weighted / r.shape[1]


def _draw_resamples(
    resample: str, n_subjects: int, n_samples: int, n_resamples: int, seed: Seed
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Subject and stimulus counts (None where that level is not resampled)."""
    rng = _rng(seed)
    subjects = stimuli = None
    if resample in ("subjects", "both"):
        subjects = _counts(bootstrap_indices(n_subjects, n_resamples, seed=rng), n_subjects)
    if resample in ("stimuli", "both"):
        stimuli = _counts(bootstrap_indices(n_samples, n_resamples, seed=rng), n_samples)
    return subjects, stimuli


def _correlation_distribution(
    moments: _Moments, subjects: np.ndarray | None, stimuli: np.ndarray | None, like: Any, xp: Any
) -> Any:
    """(n_resamples, n_units) mean-over-subjects r for every resample, in batches."""
    n_subjects, n_units = moments.shape
    n_resamples = (subjects if subjects is not None else stimuli).shape[0]
    fixed = None
    if stimuli is None:
        ones = xp.ones((1, moments.n), dtype=xp.float64, device=array_device(like))
        fixed = moments.correlations(ones, xp)
    batch = max(1, _BATCH_FLOATS // (8 * n_subjects * n_units))
    pieces = []
    for start in range(0, n_resamples, batch):
        stop = min(start + batch, n_resamples)
        if stimuli is None:
            r = xp.broadcast_to(fixed, (stop - start, n_subjects, n_units))
        else:
            r = moments.correlations(_to_device(stimuli[start:stop], xp, like), xp)
        counts = None if subjects is None else _to_device(subjects[start:stop], xp, like)
        pieces.append(_subject_mean(r, counts, xp))
    return xp.concat(pieces, axis=0)


def _correlation_jackknife(moments: _Moments, resample: str, xp: Any) -> Any:
    """(n_left_out, n_units) leave-one-out estimates for BCa (one-level resampling)."""
    if resample == "stimuli":
        return xp.mean(moments.leave_one_out(xp), axis=1)
    ones = xp.ones((1, moments.n), dtype=xp.float64, device=array_device(moments.columns[0]))
    return _leave_one_out_means(moments.correlations(ones, xp)[0], xp)


def _check_bca(method: str, resample: str) -> None:
    if method == "bca" and resample == "both":
        raise ValueError(
            "method='bca' is not available with resample='both' (no jackknife for a "
            "two-level resample); use method='percentile'."
        )


def bootstrap_correlation(
    predictions: ArrayLike,
    responses: ArrayLike,
    *,
    resample: Resample = "stimuli",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
    seed: Seed = 0,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Bootstrap interval of a per-unit Pearson r, resampling stimuli and/or subjects.

    Parameters
    ----------
    predictions, responses : array-like, shape ([n_subjects,] n_samples, n_units)
        Predictions and recorded responses (numpy or torch, same shape, finite). For
        3-D data the statistic is the mean over subjects of each subject's r.
    resample : {"stimuli", "subjects", "both"}, default "stimuli"
        ``"stimuli"``: resample rows (samples), predictions and responses together, and
        recompute r (the same stimulus resample for every subject). ``"subjects"`` (3-D
        only): resample subjects' r. ``"both"`` (3-D only): subjects, then stimuli.
        Rows must be exchangeable: stimulus resampling of an autocorrelated time series
        understates the uncertainty.
    n_resamples : int, default 1000
    confidence_level : float, default 0.95
    method : {"percentile", "bca"}, default "percentile"
        BCa is available for one-level resampling (``"stimuli"`` or ``"subjects"``).
    seed : int or numpy.random.Generator, default 0
        Subject indices are drawn first, then stimulus indices, from one generator.
    return_distribution : bool, default False

    Returns
    -------
    BootstrapResult
        Arrays of shape (n_units,). A resample in which a column is (almost) constant
        gives nan for that unit, and its interval is nan.
    """
    n_resamples, confidence_level, method = _check_bootstrap_options(
        n_resamples, confidence_level, method
    )
    xp = namespace(predictions, responses)
    R, (P,) = _check_prediction_data(xp, responses, predictions)
    resample = _check_resample(resample, R.shape[0], xp.asarray(responses).ndim == 2)
    _check_bca(method, resample)
    moments = _Moments(P, R, xp)
    subjects, stimuli = _draw_resamples(resample, R.shape[0], R.shape[1], n_resamples, seed)
    ones = xp.ones((1, R.shape[1]), dtype=xp.float64, device=array_device(R))
    return _summarize(
        _correlation_distribution(moments, subjects, stimuli, R, xp),
        xp.mean(moments.correlations(ones, xp)[0], axis=0),
        confidence_level=confidence_level,
        method=method,
        resample=resample,
        jackknife=_correlation_jackknife(moments, resample, xp) if method == "bca" else None,
        return_distribution=return_distribution,
    )


def _difference_p_value(dist: Any, xp: Any) -> Any:
    """Two-sided bootstrap p-value of a zero difference (nan where dist has nan)."""
    n = dist.shape[0]
    at_most = (1.0 + xp.sum(xp.astype(dist <= 0, xp.float64), axis=0)) / (1.0 + n)
    at_least = (1.0 + xp.sum(xp.astype(dist >= 0, xp.float64), axis=0)) / (1.0 + n)
    p = xp.clip(2.0 * xp.minimum(at_most, at_least), max=1.0)
    return xp.where(xp.any(xp.isnan(dist), axis=0), xp.nan, p)


def bootstrap_difference(
    a: ArrayLike,
    b: ArrayLike,
    responses: ArrayLike | None = None,
    *,
    resample: Resample | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
    seed: Seed = 0,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Paired bootstrap of the difference between two models' mean scores (a - b).

    Two uses:

    * ``responses`` is None: ``a`` and ``b`` are score tables (n_subjects, ...) of the
      two models on the same subjects; subjects are resampled (paired) and the
      difference of the means over subjects is bootstrapped.
    * ``responses`` given: ``a`` and ``b`` are the two models' predictions, shaped like
      ``responses``, (n_samples, n_units) or (n_subjects, n_samples, n_units); the
      statistic is ``r(a) - r(b)`` per unit (averaged over subjects for 3-D), with both
      models evaluated on the same resamples of stimuli and/or subjects.

    Parameters
    ----------
    a, b : array-like
        Scores or predictions of model A and model B (same shape).
    responses : array-like, optional
    resample : {"stimuli", "subjects", "both"}, optional
        Default ``"subjects"`` for score tables (the only choice there), ``"stimuli"``
        for predictions.
    n_resamples, confidence_level, method, seed, return_distribution
        As :func:`bootstrap_correlation`.

    Returns
    -------
    BootstrapResult
        ``estimate`` (difference), interval, and ``p_value``: the two-sided bootstrap
        p-value of no difference, ``min(1, 2 min((1 + #{d* <= 0}), (1 + #{d* >= 0})) /
        (1 + n_resamples))``.
    """
    n_resamples, confidence_level, method = _check_bootstrap_options(
        n_resamples, confidence_level, method
    )
    xp = namespace(a, b, responses)
    if responses is None:
        return _score_difference(
            a, b, xp, resample, n_resamples, confidence_level, method, seed, return_distribution
        )
    R, (Pa, Pb) = _check_prediction_data(xp, responses, a, b)
    resample = _check_resample(resample or "stimuli", R.shape[0], xp.asarray(responses).ndim == 2)
    _check_bca(method, resample)
    moments_a, moments_b = _Moments(Pa, R, xp), _Moments(Pb, R, xp)
    subjects, stimuli = _draw_resamples(resample, R.shape[0], R.shape[1], n_resamples, seed)
    dist = _correlation_distribution(moments_a, subjects, stimuli, R, xp) - (
        _correlation_distribution(moments_b, subjects, stimuli, R, xp)
    )
    ones = xp.ones((1, R.shape[1]), dtype=xp.float64, device=array_device(R))
    estimate = xp.mean(
        moments_a.correlations(ones, xp)[0] - moments_b.correlations(ones, xp)[0], axis=0
    )
    jackknife = None
    if method == "bca":
        jackknife = _correlation_jackknife(moments_a, resample, xp) - _correlation_jackknife(
            moments_b, resample, xp
        )
    return _summarize(
        dist,
        estimate,
        confidence_level=confidence_level,
        method=method,
        resample=resample,
        jackknife=jackknife,
        return_distribution=return_distribution,
        p_value=_difference_p_value(dist, xp),
    )


def _score_difference(
    a: ArrayLike,
    b: ArrayLike,
    xp: Any,
    resample: str | None,
    n_resamples: int,
    confidence_level: float,
    method: str,
    seed: Seed,
    return_distribution: bool,
) -> BootstrapResult:
    if resample not in (None, "subjects"):
        raise ValueError(
            f"resample={resample!r} needs predictions and responses; score tables can only "
            "be resampled by subjects (resample='subjects')."
        )
    A, B = _check_scores("a", a, xp), _check_scores("b", b, xp)
    if tuple(A.shape) != tuple(B.shape):
        raise ValueError(
            f"a and b must be paired score tables of the same shape; got {tuple(A.shape)} "
            f"and {tuple(B.shape)}."
        )
    diff = A - B
    counts = _counts(bootstrap_indices(diff.shape[0], n_resamples, seed=seed), diff.shape[0])
    dist = _resampled_means(diff, counts, xp)
    return _summarize(
        dist,
        xp.mean(diff, axis=0),
        confidence_level=confidence_level,
        method=method,
        resample="subjects",
        jackknife=_leave_one_out_means(diff, xp) if method == "bca" else None,
        return_distribution=return_distribution,
        p_value=xp.reshape(
            _difference_p_value(xp.reshape(dist, (n_resamples, -1)), xp), tuple(diff.shape[1:])
        ),
    )
