"""Cross-validated linear encoding models: features in, held-out Pearson r out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_alphas, check_int, check_xy
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
    n_splits: int = 5,
    gap: int | None = None,
    alphas: ArrayLike = DEFAULT_ALPHAS,
    inner_splits: int = 5,
    return_predictions: bool = False,
) -> EncodingResult:
    """Fit and score a delayed ridge encoding model with nested blocked cross-validation.

    1. FIR delays (:func:`~brainalign.alignment.temporal.fir_delays`) on the whole
       series; they have no learned parameters.
    2. Outer :class:`~brainalign.alignment.cv.BlockedKFold` ``(n_splits, gap)``:
       contiguous test blocks with ``gap`` samples dropped from training on each side.
    3. Per outer fold, z-score the delayed features and ``Y`` with means and standard
       deviations of the **training rows only** (columns constant on the training
       rows become 0), fit :class:`~brainalign.alignment.ridge.RidgeCV` on the training
       rows with inner ``BlockedKFold(inner_splits, gap)`` over their positions, and
       score the held-out block by Pearson r per target.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features already on the sampling clock of ``Y`` (e.g. Lanczos-resampled to
        volumes with :func:`~brainalign.alignment.temporal.lanczos_resample`).
    Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        Responses (voxels, channels, ROIs), one row per sample of ``X``. 1-D is one
        target.
    delays : sequence of int, default (1, 2, 3, 4)
        FIR delays in samples.
    n_splits : int, default 5
        Outer folds.
    gap : int, optional
        Samples dropped from training on each side of every held-out block, in the
        outer and the inner cross-validation. Defaults to ``max(delays)``, the least
        that keeps delayed copies of held-out stimuli out of training.
    alphas : array-like of float, default DEFAULT_ALPHAS
        Ridge penalties, log-spaced; the default ``numpy.logspace(-1, 8, 19)`` suits
        z-scored features with hundreds to thousands of columns and a few hundred
        samples (see :data:`~brainalign.alignment.ridge.DEFAULT_ALPHAS`).
    inner_splits : int, default 5
        Inner folds used to choose the penalty per target.
    return_predictions : bool, default False
        Also return the held-out predictions.

    Returns
    -------
    EncodingResult

    Raises
    ------
    ValueError
        If ``X`` and ``Y`` have different numbers of rows, hold NaN or inf, or there
        are too few samples for the outer or inner folds with this gap.
    """
    X_arr, Y_arr, _ = check_xy(
        X,
        Y,
        hint="resample the features onto the response's samples first (lanczos_resample)",
    )
    delayed = fir_delays(X_arr, delays)
    alphas = check_alphas(alphas)
    gap = max(int(d) for d in delays) if gap is None else check_int("gap", gap, minimum=0)
    outer = BlockedKFold(n_splits, gap=gap)
    inner = BlockedKFold(inner_splits, gap=gap)

    n_samples, n_targets = Y_arr.shape
    fold_scores = np.empty((n_splits, n_targets))
    best_alphas = np.empty((n_splits, n_targets))
    predictions = np.empty((n_samples, n_targets)) if return_predictions else None
    for k, (train, test) in enumerate(outer.split(delayed)):
        X_train, Y_train = delayed[train], Y_arr[train]
        x_mean, x_scale = _zscore_params(X_train)
        y_mean, y_scale = _zscore_params(Y_train)
        model = RidgeCV(alphas, cv=inner)
        try:
            model.fit((X_train - x_mean) * x_scale, (Y_train - y_mean) * y_scale)
        except ValueError as err:
            raise ValueError(
                f"outer fold {k} has {train.size} training samples (n_samples={n_samples}, "
                f"n_splits={n_splits}, gap={gap}), too few for inner_splits={inner_splits}: "
                f"{err}"
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
