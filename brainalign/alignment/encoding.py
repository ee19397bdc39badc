"""Cross-validated linear encoding models: features in, held-out Pearson r out."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_alphas, check_int, check_matching_ids, check_xy
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import _pearson_2d
from brainalign.alignment.ridge import DEFAULT_ALPHAS, RidgeCV
from brainalign.alignment.temporal import fir_delays


@dataclass(frozen=True)
class EncodingResult:
    """Held-out performance of a cross-validated encoding model.

    Attributes
    ----------
    scores : numpy.ndarray, shape (n_targets,)
        Mean over outer folds of the held-out Pearson r. Nan for a target whose r is
        undefined in some fold (constant response or prediction).
    fold_scores : numpy.ndarray, shape (n_folds, n_targets)
        Held-out Pearson r of each outer fold.
    best_alphas : numpy.ndarray, shape (n_folds, n_targets)
        Ridge penalty chosen by the inner cross-validation of each outer fold.
    predictions : numpy.ndarray, shape (n_samples, n_targets), or None
        Held-out predictions in the units of ``Y`` (each row predicted by the fold
        that held it out), when ``return_predictions=True``.
    """

    scores: np.ndarray
    fold_scores: np.ndarray
    best_alphas: np.ndarray
    predictions: np.ndarray | None = None


def cross_validated_encoding(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    delays: Sequence[int] = (1, 2, 3, 4),
    cv: object | None = None,
    groups: ArrayLike | None = None,
    n_splits: int = 5,
    gap: int | None = None,
    alphas: ArrayLike = DEFAULT_ALPHAS,
    inner_cv: object | None = None,
    inner_splits: int = 5,
    return_predictions: bool = False,
    feature_ids: ArrayLike | None = None,
    response_ids: ArrayLike | None = None,
) -> EncodingResult:
    """Fit and score a delayed ridge encoding model with nested cross-validation.

    1. FIR delays (:func:`~brainalign.alignment.temporal.fir_delays`) on the whole
       series (inside each run when ``groups`` are given); they have no learned
       parameters.
    2. Outer splits: ``cv`` if given, else :class:`~brainalign.alignment.cv.BlockedKFold`
       ``(n_splits, gap)`` (contiguous test blocks with ``gap`` samples dropped from
       training on each side) or, with ``groups``, ``GroupKFold(n_splits)`` (whole runs
       or stories held out).
    3. Per outer fold, z-score the delayed features and ``Y`` with means and standard
       deviations of the **training rows only** (columns constant on the training
       rows become 0), fit :class:`~brainalign.alignment.ridge.RidgeCV` on the training
       rows with the inner splits, and score the held-out rows by Pearson r per target.
       Inner splits: ``inner_cv`` if given (called with the training rows' groups);
       else ``GroupKFold(inner_splits)`` over the training rows' groups when they hold
       at least two groups; else ``BlockedKFold(inner_splits, gap)`` over their
       positions.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features already on the sampling clock of ``Y`` (e.g. Lanczos-resampled to
        volumes with :func:`~brainalign.alignment.temporal.lanczos_resample`).
    Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        Responses (voxels, channels, ROIs), one row per sample of ``X``. 1-D is one
        target.
    delays : sequence of int, default (1, 2, 3, 4)
        FIR delays in samples. ``(0,)`` for event-related data (one row per stimulus).
    cv : splitter, optional
        Any scikit-learn splitter (``split(X, y, groups)``), e.g. ``LeaveOneGroupOut()``
        or ``GroupKFold(5)``. A splitter that shuffles (``shuffle=True``) draws a
        warning: shuffled rows of a time series leak neighbouring samples into
        training and inflate scores.
    groups : array-like, shape (n_samples,), optional
        Run, story or passage of each sample (each run's samples contiguous when
        ``delays`` are not just 0). Passed to the outer and inner splitters.
    n_splits : int, default 5
        Outer folds when ``cv`` is not given.
    gap : int, optional
        Samples dropped from training on each side of every held-out block of the
        blocked splitters. Defaults to ``max(delays)``, the least that keeps delayed
        copies of held-out stimuli out of training.
    alphas : array-like of float, default DEFAULT_ALPHAS
        Ridge penalties, log-spaced; the default ``numpy.logspace(-1, 8, 19)`` suits
        z-scored features with hundreds to thousands of columns and a few hundred
        samples (see :data:`~brainalign.alignment.ridge.DEFAULT_ALPHAS`).
    inner_cv : splitter, optional
        Splitter choosing the penalty inside each outer training set.
    inner_splits : int, default 5
        Inner folds of the default inner splitters.
    return_predictions : bool, default False
        Also return the held-out predictions. Rows held out by no outer split (e.g. in
        a gap) are NaN; rows held out twice keep the last prediction.
    feature_ids, response_ids : array-like, shape (n_samples,), optional
        Stimulus (or sample) ids of the rows of ``X`` and ``Y``; when given they must be
        equal row by row (an error lists the first mismatches).

    Warns
    -----
    UserWarning
        Once, naming the units, when some columns of ``Y`` are constant: their score
        is NaN (undefined), never 0.

    Returns
    -------
    EncodingResult

    Raises
    ------
    ValueError
        If ``X`` and ``Y`` have different numbers of rows, hold NaN or inf (the message
        names the samples and units), their ids differ, ``groups``
        has the wrong length or fewer than 2 groups for group folds, a split is empty,
        or there are too few samples for the outer or inner folds with this gap.
    """
    X_arr, Y_arr, _ = check_xy(
        X,
        Y,
        hint="resample the features onto the response's samples first (lanczos_resample)",
    )
    if (feature_ids is None) != (response_ids is None):
        raise ValueError("give both feature_ids and response_ids, or neither.")
    if feature_ids is not None:
        check_matching_ids(feature_ids, response_ids)
    group_arr = _check_groups(groups, X_arr.shape[0])
    delay_groups = None if group_arr is None or tuple(delays) == (0,) else group_arr
    delayed = fir_delays(X_arr, delays, groups=delay_groups)
    alphas = check_alphas(alphas)
    gap = max(int(d) for d in delays) if gap is None else check_int("gap", gap, minimum=0)
    outer = _outer_splits(delayed, Y_arr, cv, group_arr, n_splits, gap)

    constant = np.flatnonzero(np.ptp(Y_arr, axis=0) == 0)
    if constant.size:
        warnings.warn(
            f"{constant.size} of {Y_arr.shape[1]} response units are constant (units "
            f"{constant[:10].tolist()}{' ...' if constant.size > 10 else ''}); their scores "
            "are NaN.",
            UserWarning,
            stacklevel=2,
        )
    n_samples, n_targets = Y_arr.shape
    fold_scores = np.empty((len(outer), n_targets))
    best_alphas = np.empty((len(outer), n_targets))
    predictions = np.full((n_samples, n_targets), np.nan) if return_predictions else None
    for k, (train, test) in enumerate(outer):
        X_train, Y_train = delayed[train], Y_arr[train]
        x_mean, x_scale = _zscore_params(X_train)
        y_mean, y_scale = _zscore_params(Y_train)
        train_groups = None if group_arr is None else group_arr[train]
        inner = _inner_splitter(inner_cv, train_groups, X_train, inner_splits, gap)
        model = RidgeCV(alphas, cv=inner)
        try:
            model.fit((X_train - x_mean) * x_scale, (Y_train - y_mean) * y_scale)
        except ValueError as err:
            inner_name = f"inner_splits={inner_splits}" if inner_cv is None else f"{inner_cv!r}"
            raise ValueError(
                f"outer fold {k} has {train.size} training samples (n_samples={n_samples}, "
                f"gap={gap}), too few for {inner_name}: {err}"
            ) from err
        pred_z = model.predict((delayed[test] - x_mean) * x_scale)
        fold_scores[k] = _pearson_2d(pred_z, (Y_arr[test] - y_mean) * y_scale)
        best_alphas[k] = model.best_alphas_
        if predictions is not None:
            with np.errstate(divide="ignore"):
                y_std = np.where(y_scale > 0, 1.0 / y_scale, 0.0)
            predictions[test] = pred_z * y_std + y_mean
    return EncodingResult(
        scores=fold_scores.mean(axis=0),
        fold_scores=fold_scores,
        best_alphas=best_alphas,
        predictions=predictions,
    )


def _check_groups(groups: ArrayLike | None, n_samples: int) -> np.ndarray | None:
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.shape != (n_samples,):
        raise ValueError(
            f"groups has shape {labels.shape}; expected ({n_samples},), one label per sample."
        )
    return labels


def _outer_splits(
    X: np.ndarray,
    Y: np.ndarray,
    cv: object | None,
    groups: np.ndarray | None,
    n_splits: int,
    gap: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer (train, test) index arrays, checked."""
    from sklearn.model_selection import GroupKFold

    if cv is None:
        if groups is None:
            cv = BlockedKFold(n_splits, gap=gap)
        else:
            n_groups = len(np.unique(groups))
            if n_groups < 2:
                raise ValueError(
                    f"groups holds {n_groups} group; group folds need at least 2 (or leave "
                    "groups=None for contiguous blocks)."
                )
            cv = GroupKFold(min(check_int("n_splits", n_splits, minimum=2), n_groups))
    elif isinstance(cv, str) or not callable(getattr(cv, "split", None)):
        raise ValueError(f"cv must be a splitter with a split(X, y, groups) method; got {cv!r}.")
    if getattr(cv, "shuffle", False):
        warnings.warn(
            f"cv={cv!r} shuffles samples: with a time series or stories, neighbouring "
            "samples leak into training and inflate held-out scores. Prefer contiguous "
            "blocks (BlockedKFold) or group folds (GroupKFold, LeaveOneGroupOut).",
            UserWarning,
            stacklevel=3,
        )
    splits = []
    for k, (train, test) in enumerate(cv.split(X, Y, groups)):
        train, test = np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp)
        if train.size == 0 or test.size < 2:
            raise ValueError(
                f"outer split {k} has {train.size} training and {test.size} test samples; "
                "each needs at least 1 training and 2 test samples."
            )
        splits.append((train, test))
    if not splits:
        raise ValueError(f"cv={cv!r} produced no splits.")
    return splits


def _inner_splitter(
    inner_cv: object | None,
    train_groups: np.ndarray | None,
    X_train: np.ndarray,
    inner_splits: int,
    gap: int,
) -> object:
    """The splitter RidgeCV uses inside one outer training set."""
    from sklearn.model_selection import GroupKFold, check_cv

    if inner_cv is None:
        n_groups = 0 if train_groups is None else len(np.unique(train_groups))
        if n_groups < 2:
            return BlockedKFold(inner_splits, gap=gap)
        inner_cv = GroupKFold(min(check_int("inner_splits", inner_splits, minimum=2), n_groups))
    if isinstance(inner_cv, str) or not callable(getattr(inner_cv, "split", None)):
        raise ValueError(f"inner_cv must be a splitter with a split method; got {inner_cv!r}.")
    return check_cv(list(inner_cv.split(X_train, None, train_groups)))


def _zscore_params(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and inverse standard deviations of training rows.

    A column whose standard deviation is at most 1e-10 of its largest magnitude is
    treated as constant: its inverse scale is 0, so it becomes 0 after z-scoring
    instead of amplified rounding noise.

    Returns
    -------
    mean, scale : numpy.ndarray, shape (n_columns,)
        Z-scored data is ``(data - mean) * scale``.
    """
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    constant = std <= 1e-10 * np.abs(train).max(axis=0)
    scale = np.zeros_like(std)
    scale[~constant] = 1.0 / std[~constant]
    return mean, scale
