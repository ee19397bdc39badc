"""Cross-validated linear encoding models: features in, held-out Pearson r out."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_numpy_array, is_torch_array
from numpy.typing import ArrayLike

from brainalign.alignment._checks import (
    check_alphas,
    check_int,
    check_matching_ids,
    check_xy,
    check_xy_arrays,
)
from brainalign.alignment.backend import namespace, run_device, to_numpy, working_float64
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import _pearson_2d
from brainalign.alignment.ridge import DEFAULT_ALPHAS, RidgeCV
from brainalign.alignment.temporal import fir_delays

__all__ = [
    "DEFAULT_DELAYS",
    "SAMPLINGS",
    "EncodingOutOfMemoryError",
    "EncodingResult",
    "cross_validated_encoding",
]

#: What the rows of ``Y`` are: one row per stimulus, or samples of a time series.
SAMPLINGS = ("event", "continuous")
#: FIR delays (samples) used when ``delays`` is not given, by kind of data.
DEFAULT_DELAYS = {"event": (0,), "continuous": (1, 2, 3, 4)}


@dataclass(frozen=True)
class EncodingResult:
    """Held-out performance of a cross-validated encoding model.

    Every array is a numpy array, also when the model was fitted on torch tensors on
    a GPU (the small per-fold results are copied back to the host).

    Attributes
    ----------
    scores : numpy.ndarray, shape (n_targets,)
        Mean of the held-out Pearson r over the outer folds where it is defined. A
        fold's r is undefined (NaN in ``fold_scores``) when the target's held-out
        response or its prediction is constant in that fold; such a target averages
        its remaining ``n_valid_folds`` folds (a warning says which targets), and is
        NaN only when no fold defines it (e.g. a constant unit).
    fold_scores : numpy.ndarray, shape (n_folds, n_targets)
        Held-out Pearson r of each outer fold; NaN where undefined.
    best_alphas : numpy.ndarray, shape (n_folds, n_targets)
        Ridge penalty chosen by the inner cross-validation of each outer fold.
    predictions : numpy.ndarray, shape (n_samples, n_targets), or None
        Held-out predictions in the units of ``Y`` (each row predicted by the fold
        that held it out), when ``return_predictions=True``; in the working precision
        (float64 for numpy inputs, the tensors' dtype for torch inputs).
    settings : dict
        What was used, defaults included: ``sampling`` (``"event"`` or
        ``"continuous"``), ``sampling_from`` (``"argument"``, ``"recording"`` when
        ``Y`` was a Recording, or ``"assumed"`` when neither said), ``delays`` (tuple of
        int), ``gap`` (int, samples), ``seed`` (int), ``cv`` (repr of the outer
        splitter) and ``inner_cv`` (tuple of str, shape (n_folds,): repr of the inner
        splitter of each outer fold).
    """

    scores: np.ndarray
    fold_scores: np.ndarray
    best_alphas: np.ndarray
    predictions: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    n_valid_folds: np.ndarray | None = None
    """numpy.ndarray of int, shape (n_targets,): outer folds whose r is defined (not
    NaN), i.e. how many folds each entry of ``scores`` averages."""


def cross_validated_encoding(
    X: ArrayLike,
    Y: ArrayLike | Any,
    *,
    sampling: str | None = None,
    delays: Sequence[int] | None = None,
    cv: object | None = None,
    groups: ArrayLike | None = None,
    n_splits: int = 5,
    gap: int | None = None,
    alphas: ArrayLike = DEFAULT_ALPHAS,
    inner_cv: object | None = None,
    inner_splits: int = 5,
    seed: int = 0,
    return_predictions: bool = False,
    feature_ids: ArrayLike | None = None,
    response_ids: ArrayLike | None = None,
    device: str | Any | None = None,
    target_batch_size: int | None = None,
) -> EncodingResult:
    """Fit and score a delayed ridge encoding model with nested cross-validation.

    What the rows of ``Y`` are decides the defaults (``sampling``, or the Recording's):

    - ``"event"`` (one row per stimulus: image, sentence, trial average; rows are
      independent items): ``delays=(0,)``; outer
      ``KFold(n_splits, shuffle=True, random_state=seed)``, or ``GroupKFold(n_splits)``
      with ``groups``; inner shuffled ``KFold(inner_splits)`` over the training rows, or
      ``GroupKFold`` over the training groups when they hold at least two; ``gap=0``.
    - ``"continuous"`` (samples of a time series): ``delays=(1, 2, 3, 4)``; outer
      ``BlockedKFold(n_splits, gap=max(delays))`` (contiguous blocks), or
      ``GroupKFold(n_splits)`` with ``groups``; inner ``GroupKFold`` over the training
      groups when they hold at least two, else ``BlockedKFold(inner_splits, gap)``.
    - not given, and ``Y`` not a Recording: the continuous defaults, with a warning
      when ``delays`` is not given either.

    Each default applies only to a parameter left unset; what was used is in
    :attr:`EncodingResult.settings`.

    1. FIR delays (:func:`~brainalign.alignment.temporal.fir_delays`) on the whole
       series (inside each run when ``groups`` are given); they have no learned
       parameters.
    2. Outer splits: ``cv`` if given, else the default of the table.
    3. Per outer fold, z-score the delayed features and ``Y`` with means and standard
       deviations of the **training rows only** (columns constant on the training
       rows become 0), fit :class:`~brainalign.alignment.ridge.RidgeCV` on the training
       rows with the inner splits, and score the held-out rows by Pearson r per target.
       Inner splits: ``inner_cv`` if given (called with the training rows' groups),
       else the default of the table.

    **One device from features to scores.** Steps 1 and 3 run on the array backend of
    the inputs: torch tensors (CPU or CUDA) stay torch tensors on their device through
    the delays, the z-scoring, the ridge fits, the predictions and the Pearson r
    (computed in float64 there); only the per-fold scores and penalties, and the
    predictions when asked for, come back to the host. numpy (or array-like) inputs
    run in numpy, in float64, unless ``device`` is given. Fold indices are computed
    in numpy (splitters of torch inputs see a numpy stand-in with the same number of
    rows) and moved to the device. torch float32 inputs stay float32 (the z-scoring
    statistics and r in float64, the ridge eigendecompositions in float64) and agree
    with the numpy float64 path to about 1e-5; float64 tensors to about 1e-10.

    Parameters
    ----------
    X : array-like or torch.Tensor, shape (n_samples, n_features)
        Features on the samples of ``Y``: one row per stimulus for event-related data,
        or already on the sampling clock of a time series (e.g. Lanczos-resampled to
        volumes with :func:`~brainalign.alignment.temporal.lanczos_resample`).
    Y : array-like or torch.Tensor, shape (n_samples, n_targets) or (n_samples,), or Recording
        Responses (voxels, neurons, channels, ROIs), one row per sample of ``X``. 1-D
        is one target. A :class:`~brainalign.datasets.recording.Recording` with 2-D
        ``data`` (n_samples, n_units) gives its ``data`` and its ``sampling`` (and, when
        ``feature_ids`` are given, its ``samples["stimulus_id"]`` as ``response_ids``).
    sampling : {"event", "continuous"}, optional
        ``"event"``: one row per stimulus (image, sentence, trial average), rows
        independent. ``"continuous"``: samples of a time series (fMRI volumes, M/EEG
        samples). Not given (and ``Y`` not a Recording): the continuous defaults, with
        a warning when ``delays`` is not given either.
    delays : sequence of int, optional
        FIR delays in samples. Default ``(0,)`` for event data (no delays), else
        ``(1, 2, 3, 4)``. Other delays than ``(0,)`` with ``sampling="event"`` are used
        but warn: they mix each item with its neighbouring rows.
    cv : splitter, optional
        Any scikit-learn splitter (``split(X, y, groups)``), e.g. ``LeaveOneGroupOut()``
        or ``GroupKFold(5)``. Unless ``sampling="event"``, a splitter that shuffles
        (``shuffle=True``) draws a warning: shuffled rows of a time series leak
        neighbouring samples into training and inflate scores.
    groups : array-like, shape (n_samples,), optional
        Run, story, passage, or repeated stimulus of each sample (each run's samples
        contiguous when ``delays`` are not just 0). Passed to the outer and inner
        splitters: rows of one group are never split between training and test.
    n_splits : int, default 5
        Outer folds when ``cv`` is not given.
    gap : int, optional
        Samples dropped from training on each side of every held-out block of the
        blocked splitters. Continuous default: ``max(delays)``, the least that keeps
        delayed copies of held-out stimuli out of training. Event default: 0; a
        positive ``gap`` with ``sampling="event"`` is honoured by using the blocked
        splitters (contiguous blocks in row order) instead of shuffled ones.
    alphas : array-like of float, default DEFAULT_ALPHAS
        Ridge penalties, log-spaced; the default ``numpy.logspace(-1, 8, 19)`` suits
        z-scored features with hundreds to thousands of columns and a few hundred
        samples (see :data:`~brainalign.alignment.ridge.DEFAULT_ALPHAS`).
    inner_cv : splitter, optional
        Splitter choosing the penalty inside each outer training set.
    inner_splits : int, default 5
        Inner folds of the default inner splitters.
    seed : int, default 0
        ``random_state`` of the shuffled default ``KFold`` splitters of event data
        (outer and inner); the same seed gives the same folds. Unused otherwise.
    return_predictions : bool, default False
        Also return the held-out predictions. Rows held out by no outer split (e.g. in
        a gap) are NaN; rows held out twice keep the last prediction.
    feature_ids, response_ids : array-like, shape (n_samples,), optional
        Stimulus (or sample) ids of the rows of ``X`` and ``Y``; when given they must be
        equal row by row (an error lists the first mismatches).
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device, optional
        Where to compute. None: on the inputs' backend (numpy arrays in numpy; torch
        tensors on their device, a numpy partner moved there). Given: ``X`` and ``Y``
        become torch tensors on that device first. Tensors keep their dtype; numpy
        float64 stays float64 (both supported devices, CPU and CUDA, compute in
        float64) and every other numpy dtype becomes float32; pass float32 arrays for
        the faster, half-size float32 path (``X`` and ``Y`` are then brought to their
        common precision). Checked before any work.
    target_batch_size : int, optional
        Targets fitted and scored together (``RidgeCV``'s ``target_batch_size``);
        default None: all at once. Memory grows with it, results do not change. When
        a torch device runs out of memory mid-run, the fold is retried once with half
        the batch (a warning says so) and the rest of the run keeps the smaller batch.

    Warns
    -----
    UserWarning
        Once, naming the units, when some columns of ``Y`` are constant: their score
        is NaN (undefined), never 0. Once, naming how many units and the first few,
        when some units have an undefined r in some outer folds (constant on those
        held-out or training rows): their scores average the remaining folds. When
        the device ran out of memory and the fold is retried in smaller batches. Once
        when neither ``sampling`` nor ``delays`` is given (the rows are treated as a
        time series; the message says how to change it). When ``cv`` shuffles and
        the data are not ``sampling="event"``. When ``sampling="event"`` comes with
        delays other than ``(0,)``.

    Returns
    -------
    EncodingResult
        Its arrays are numpy arrays whatever the backend (copied back from the
        device); ``predictions`` are in the working precision (float32 for float32
        tensors), scores float64, ``best_alphas`` exact values of ``alphas``.

    Raises
    ------
    EncodingOutOfMemoryError
        When the device runs out of memory again after the retry with half the target
        batch; the message names ``n_samples``, ``n_features``, ``n_targets`` and the
        batch sizes tried (a :class:`MemoryError` and a :class:`ValueError`).
    ValueError
        If ``device`` does not exist (the message says which CUDA devices torch sees),
        ``X`` and ``Y`` are tensors on different devices, ``target_batch_size`` is not
        a positive int, ``X`` and ``Y`` have different numbers of rows, hold NaN or
        inf (the message names the samples and units), their ids differ, ``groups``
        has the wrong length or fewer than 2 groups for group folds, a split is empty,
        there are too few samples for the outer or inner folds with this gap,
        ``sampling`` is not ``"event"``, ``"continuous"`` or None, it contradicts the
        Recording given as ``Y``, or that Recording is time-resolved (3-D).

    Examples
    --------
    One row per image (event-related), 5 repeats of each image kept together:

    >>> result = cross_validated_encoding(
    ...     features, responses, sampling="event", groups=image_ids
    ... )  # doctest: +SKIP
    >>> result.settings["cv"]  # doctest: +SKIP
    'GroupKFold(n_splits=5, random_state=None, shuffle=False)'

    The same numpy data computed on the GPU, in float32:

    >>> result = cross_validated_encoding(
    ...     features.astype("float32"),
    ...     responses.astype("float32"),
    ...     sampling="event",
    ...     device="cuda",
    ... )  # doctest: +SKIP
    """
    Y, sampling, sampling_from, response_ids = _unpack_responses(
        Y, sampling, feature_ids, response_ids
    )
    if device is None and not (is_torch_array(X) or is_torch_array(Y)) and run_device():
        # a run's device (alignment_device): float64 there, so the numbers do not change
        device = run_device()
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    torch_device = _check_device(device)
    X_arr, Y_arr = _backend_arrays(X, Y, torch_device)
    if (feature_ids is None) != (response_ids is None):
        raise ValueError("give both feature_ids and response_ids, or neither.")
    if feature_ids is not None:
        check_matching_ids(feature_ids, response_ids)
    group_arr = _check_groups(groups, X_arr.shape[0])
    kind = "continuous" if sampling is None else sampling
    used_delays = DEFAULT_DELAYS[kind] if delays is None else delays
    delay_groups = None if group_arr is None or tuple(used_delays) == (0,) else group_arr
    delayed = fir_delays(X_arr, used_delays, groups=delay_groups)
    used_delays = tuple(int(d) for d in used_delays)
    alphas = check_alphas(alphas)
    seed = check_int("seed", seed, minimum=0)
    n_samples, n_targets = Y_arr.shape
    batch = (
        n_targets
        if target_batch_size is None
        else check_int("target_batch_size", target_batch_size, minimum=1)
    )
    if gap is None:
        gap = max(used_delays) if kind == "continuous" else 0
    else:
        gap = check_int("gap", gap, minimum=0)
    blocked = kind == "continuous" or gap > 0
    outer_cv = _outer_splitter(cv, group_arr, n_splits, gap, blocked, seed, n_samples)

    if sampling == "event" and delays is not None and used_delays != (0,):
        warnings.warn(
            f"sampling='event' with delays={used_delays}: FIR delays mix each row with "
            "its neighbouring rows, which are independent items (stimuli) in event-related "
            "data; used as given, but pass delays=(0,) unless the row order is time.",
            UserWarning,
            stacklevel=2,
        )
    if sampling is None and delays is None:
        warnings.warn(_assumed_message(cv, group_arr, gap), UserWarning, stacklevel=2)
    if kind == "continuous" and getattr(outer_cv, "shuffle", False):
        warnings.warn(
            f"cv={outer_cv!r} shuffles samples: rows of a time series (sampling="
            f"{sampling!r}) are correlated with their neighbours, so shuffled folds put "
            "near-copies of held-out rows in training and inflate held-out scores. Prefer "
            "contiguous blocks (BlockedKFold) or group folds (GroupKFold, "
            "LeaveOneGroupOut); for one row per stimulus (independent items) pass "
            "sampling='event'.",
            UserWarning,
            stacklevel=2,
        )
    outer = _outer_splits(_split_view(delayed), _split_view(Y_arr), outer_cv, group_arr)

    xp = namespace(Y_arr)
    constant = np.flatnonzero(to_numpy(xp.max(Y_arr, axis=0) == xp.min(Y_arr, axis=0)))
    if constant.size:
        warnings.warn(
            f"{constant.size} of {n_targets} response units are constant (units "
            f"{constant[:10].tolist()}{' ...' if constant.size > 10 else ''}); their scores "
            "are NaN.",
            UserWarning,
            stacklevel=2,
        )
    fold_scores = np.empty((len(outer), n_targets))
    best_alphas = np.empty((len(outer), n_targets))
    inner_used = []
    predictions = None
    if return_predictions:
        predictions = xp.full(
            (n_samples, n_targets), xp.nan, dtype=Y_arr.dtype, device=array_device(Y_arr)
        )
    batches = _TargetBatches(batch, (n_samples, delayed.shape[1], n_targets), X_arr.shape[1])
    for k, (train, test) in enumerate(outer):
        train_idx, test_idx = _index(train, delayed), _index(test, delayed)
        X_train = xp.take(delayed, train_idx, axis=0)
        train_groups = None if group_arr is None else group_arr[train]
        splitter, inner = _inner_splitter(
            inner_cv, train_groups, _split_view(X_train), inner_splits, gap, blocked, seed
        )
        inner_used.append(repr(splitter))
        fit = partial(
            _fit_fold, X_train, delayed, Y_arr, train_idx, test_idx, alphas, inner,
            with_predictions=return_predictions,
        )  # fmt: skip
        try:
            fold = batches.run(k, fit)
        except EncodingOutOfMemoryError:
            raise
        except ValueError as err:
            inner_name = f"inner_splits={inner_splits}" if inner_cv is None else f"{inner_cv!r}"
            raise ValueError(
                f"outer fold {k} has {train.size} training samples (n_samples={n_samples}, "
                f"gap={gap}), too few for {inner_name}: {err}"
            ) from err
        fold_scores[k] = fold.scores
        best_alphas[k] = _on_grid(to_numpy(fold.best_alphas), alphas)
        if predictions is not None:
            predictions[test_idx] = fold.predictions
    scores, n_valid = _mean_over_defined_folds(fold_scores, constant)
    return EncodingResult(
        scores=scores,
        fold_scores=fold_scores,
        best_alphas=best_alphas,
        predictions=None if predictions is None else to_numpy(predictions),
        settings={
            "sampling": kind,
            "sampling_from": sampling_from,
            "delays": used_delays,
            "gap": gap,
            "seed": seed,
            "cv": repr(outer_cv),
            "inner_cv": tuple(inner_used),
        },
        n_valid_folds=n_valid,
    )


def _mean_over_defined_folds(
    fold_scores: np.ndarray, constant: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the mean fold score over the folds where it is defined, and their count.

    Targets defined in every fold get exactly ``fold_scores.mean(axis=0)``; targets
    undefined in some folds average the others (one UserWarning names them); targets
    undefined in all folds are NaN (warned about here unless ``constant``, the
    indices of constant units, already covers them).

    Parameters
    ----------
    fold_scores : numpy.ndarray, shape (n_folds, n_targets)
    constant : numpy.ndarray of int, shape (n_constant,)

    Returns
    -------
    scores : numpy.ndarray, shape (n_targets,)
    n_valid_folds : numpy.ndarray of int, shape (n_targets,)
    """
    defined = ~np.isnan(fold_scores)
    n_folds = fold_scores.shape[0]
    n_valid = defined.sum(axis=0)
    scores = fold_scores.mean(axis=0)
    partial = np.flatnonzero((n_valid > 0) & (n_valid < n_folds))
    if partial.size:
        kept = fold_scores[:, partial]
        scores[partial] = np.where(defined[:, partial], kept, 0.0).sum(axis=0) / n_valid[partial]
    never = np.setdiff1d(np.flatnonzero(n_valid == 0), constant)
    if partial.size or never.size:
        parts = []
        if partial.size:
            parts.append(
                f"{partial.size} of {fold_scores.shape[1]} response units have an undefined "
                f"(NaN) held-out Pearson r in some of the {n_folds} outer folds (units "
                f"{partial[:10].tolist()}{' ...' if partial.size > 10 else ''}): the unit "
                "or its prediction is constant on that fold's rows. Their scores average "
                "the remaining folds (EncodingResult.n_valid_folds says how many)"
            )
        if never.size:
            parts.append(
                f"{never.size} units are undefined in every fold (units "
                f"{never[:10].tolist()}{' ...' if never.size > 10 else ''}) and score NaN"
            )
        warnings.warn(
            "; ".join(parts) + ". Check fold_scores, or use folds that vary each unit.",
            UserWarning,
            stacklevel=3,
        )
    return scores, n_valid


class EncodingOutOfMemoryError(MemoryError, ValueError):
    """The device ran out of memory even with the targets in half-size batches.

    A :class:`MemoryError` (and a :class:`ValueError`, so callers that turn bad
    input into a message catch it); the message names the problem's shape, the
    target batch sizes tried, and what to change.
    """


@dataclass(frozen=True)
class _Fold:
    """What one outer fold returns: small results, and held-out predictions if asked."""

    scores: np.ndarray  # (n_targets,) float64 held-out Pearson r
    best_alphas: Any  # (n_targets,) array of the inputs' backend
    predictions: Any  # (n_test, n_targets) in Y's units, or None


def _fit_fold(
    X_train: Any,
    delayed: Any,
    Y: Any,
    train_idx: Any,
    test_idx: Any,
    alphas: np.ndarray,
    inner: object,
    batch: int,
    *,
    with_predictions: bool,
) -> _Fold:
    """Z-score on the training rows, fit RidgeCV, and score the held-out rows.

    Parameters
    ----------
    X_train : array, shape (n_train, n_delayed_features)
        ``delayed[train_idx]``, already taken for the inner splitter.
    delayed : array, shape (n_samples, n_delayed_features)
    Y : array, shape (n_samples, n_targets)
    train_idx, test_idx : integer index arrays of ``delayed``'s backend and device
    alphas : numpy.ndarray, shape (n_alphas,)
    inner : splits for :class:`RidgeCV` (``cv``)
    batch : int
        ``target_batch_size`` of the fit and of the scoring.
    with_predictions : bool
        Also return the held-out predictions in ``Y``'s units.
    """
    xp = namespace(Y)
    Y_train = xp.take(Y, train_idx, axis=0)
    x_mean, x_scale = _zscore_params(X_train)
    y_mean, y_scale = _zscore_params(Y_train)
    model = RidgeCV(alphas, cv=inner, target_batch_size=batch)
    model.fit((X_train - x_mean) * x_scale, (Y_train - y_mean) * y_scale)
    pred_z = model.predict((xp.take(delayed, test_idx, axis=0) - x_mean) * x_scale)
    Y_test_z = (xp.take(Y, test_idx, axis=0) - y_mean) * y_scale
    scores = _held_out_r(pred_z, Y_test_z, batch)
    predictions = None
    if with_predictions:
        constant = y_scale == 0
        y_std = xp.where(constant, xp.zeros_like(y_scale), 1.0 / xp.where(constant, 1.0, y_scale))
        predictions = pred_z * y_std + y_mean
    return _Fold(scores=scores, best_alphas=model.best_alphas_, predictions=predictions)


def _held_out_r(pred: Any, Y: Any, batch: int) -> np.ndarray:
    """Pearson r per column of two (n_test, n_targets) arrays, in float64, as numpy.

    Computed on the arrays' device, ``batch`` columns at a time (the float64 copies of
    float32 inputs are made one batch at a time); only the (n_targets,) result moves.
    """
    xp = namespace(Y)
    n_targets = Y.shape[1]
    parts = [
        to_numpy(
            _pearson_2d(
                working_float64(pred[:, start : start + batch], xp),
                working_float64(Y[:, start : start + batch], xp),
            )
        )
        for start in range(0, n_targets, batch)
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _TargetBatches:
    """The target batch size of the fits, halved once when the device runs out of memory.

    Parameters
    ----------
    size : int
        Targets per batch to start with.
    shape : tuple of int
        ``(n_samples, n_delayed_features, n_targets)``, for the message.
    n_features : int
        Features before the delays, for the message.
    """

    def __init__(self, size: int, shape: tuple[int, int, int], n_features: int) -> None:
        self.size, self.tried = size, [size]
        self.shape, self.n_features = shape, n_features

    def run(self, fold: int, fit: Any) -> _Fold:
        """``fit(size)``; on out of memory, once, again with half the targets per batch.

        Raises
        ------
        EncodingOutOfMemoryError
            When the retry runs out of memory too (or the batch is a single target).
        """
        try:
            return fit(self.size)
        except _out_of_memory_errors() as err:
            if len(self.tried) > 1 or self.size == 1:
                raise EncodingOutOfMemoryError(self._message(fold, err)) from err
        # Outside the except block, so the failed attempt's arrays are freed first.
        self.size = max(1, self.size // 2)
        self.tried.append(self.size)
        _release_device_memory()
        warnings.warn(
            f"out of device memory in outer fold {fold} with target_batch_size="
            f"{self.tried[0]}; retrying with {self.size} targets per batch.",
            UserWarning,
            stacklevel=3,
        )
        return self.run(fold, fit)

    def _message(self, fold: int, err: BaseException) -> str:
        n_samples, n_delayed, n_targets = self.shape
        tried = " then ".join(str(size) for size in self.tried)
        smaller = max(1, self.tried[-1] // 4)
        return (
            f"out of device memory in outer fold {fold} of cross_validated_encoding with "
            f"n_samples={n_samples}, n_features={n_delayed} ({self.n_features} features x "
            f"{n_delayed // max(self.n_features, 1)} delays), n_targets={n_targets}; "
            f"target_batch_size tried: {tried}. Pass a smaller target_batch_size (e.g. "
            f"{smaller}), fewer features, delays or targets, float32 inputs instead of "
            f"float64, or device='cpu'. ({err})"
        )


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """torch's out-of-memory error when torch is in use (imported), else nothing."""
    torch = sys.modules.get("torch")
    error = getattr(torch, "OutOfMemoryError", None)
    return () if error is None else (error,)


def _release_device_memory() -> None:
    """Return cached CUDA blocks to the driver (when torch and CUDA are in use)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _check_device(device: Any) -> Any:
    """``device`` as a ``torch.device`` after checking that it exists, or None.

    Raises
    ------
    ValueError
        For a name torch does not parse, a device type other than CPU or CUDA, no CUDA
        device, or a CUDA index past the last device; the message lists what exists.
    """
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a device name; pass 'cpu', 'cuda', 'cuda:N' or a "
            "torch.device (or None to compute on the inputs' own backend)."
        ) from None
    if parsed.type == "cpu":
        return parsed
    if parsed.type != "cuda":
        raise ValueError(
            f"device={device!r}: cross_validated_encoding runs on 'cpu' or 'cuda' devices "
            f"(the ridge solver needs float64 linear algebra); got type {parsed.type!r}."
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError(
            f"device={device!r} but torch {torch.__version__} sees no CUDA device "
            "(torch.cuda.is_available() is False, 0 devices); pass device='cpu' or leave "
            "device out, or install a CUDA build of torch on a machine with a GPU."
        )
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"device={device!r} does not exist: torch sees {count} CUDA device(s), "
            f"cuda:0 to cuda:{count - 1}; pass one of them."
        )
    return parsed


def _backend_arrays(X: Any, Y: Any, device: Any) -> tuple[Any, Any]:
    """``X`` and ``Y`` checked, as numpy float64, or as torch tensors on one device.

    numpy (or array-like) inputs with no ``device`` stay numpy, as float64. With a
    ``device``, or when either input is a torch tensor, both become torch tensors on
    ``device`` (else the tensor's device); see :func:`_as_tensor` for the precision.
    """
    hint = "resample the features onto the response's samples first (lanczos_resample)"
    tensors = [A for A in (X, Y) if is_torch_array(A)]
    if device is None and not tensors:
        X_arr, Y_arr, _ = check_xy(X, Y, hint=hint)
        return X_arr, Y_arr
    if device is None:
        devices = {A.device for A in tensors}
        if len(devices) > 1:
            raise ValueError(
                f"X and Y are torch tensors on different devices ({X.device} and "
                f"{Y.device}); pass device='cuda' or device='cpu' to put both on one."
            )
        device = devices.pop()
    X_arr, Y_arr, _ = check_xy_arrays(_as_tensor(X, device), _as_tensor(Y, device), hint)
    return X_arr, Y_arr


def _as_tensor(A: Any, device: Any) -> Any:
    """``A`` as a torch tensor on ``device``: tensors keep their dtype; numpy float64
    becomes float64, anything else float32 (checked for finiteness later)."""
    import torch

    if is_torch_array(A):
        return A.detach().to(device)
    arr = np.asarray(A)
    dtype = torch.float64 if arr.dtype == np.float64 else torch.float32
    return torch.as_tensor(arr, dtype=dtype, device=device)


def _split_view(A: Any) -> Any:
    """What splitters are given for the rows of ``A``: ``A`` itself if numpy, else a
    (n_rows, 1) numpy stand-in, so tensors never leave their device to be split."""
    return A if is_numpy_array(A) else np.zeros((A.shape[0], 1))


def _index(rows: np.ndarray, like: Any) -> Any:
    """Row indices for ``like``: the numpy array itself, or a tensor on its device."""
    if is_numpy_array(like):
        return rows
    return namespace(like).asarray(rows, device=array_device(like))


def _on_grid(chosen: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Each chosen penalty as the nearest value of ``alphas`` (float64, on a log scale).

    float32 fits carry the grid in float32 (0.1 comes back as 0.10000000149); this
    returns the exact penalty that was chosen.
    """
    distance = np.abs(np.log(alphas)[:, None] - np.log(chosen.astype(np.float64))[None, :])
    return alphas[np.argmin(distance, axis=0)]


def _unpack_responses(
    Y: Any,
    sampling: str | None,
    feature_ids: ArrayLike | None,
    response_ids: ArrayLike | None,
) -> tuple[Any, str | None, str, ArrayLike | None]:
    """``Y``'s array, the sampling, where it came from, and the response ids.

    A Recording is recognised by its ``data``, ``samples`` and ``sampling`` attributes
    (``alignment/`` does not import ``datasets/``).
    """
    if sampling is not None and sampling not in SAMPLINGS:
        raise ValueError(
            f"sampling={sampling!r}; pass 'event' (one row per stimulus: image, sentence, "
            "trial) or 'continuous' (rows are samples of a time series), or leave it out."
        )
    if not all(hasattr(Y, name) for name in ("data", "samples", "sampling")):
        return Y, sampling, "assumed" if sampling is None else "argument", response_ids
    meta = getattr(Y, "meta", None)
    name = meta.get("name", "recording") if isinstance(meta, dict) else "recording"
    kind = Y.sampling
    if kind not in SAMPLINGS:
        raise ValueError(
            f"Y ({name}) has sampling={kind!r}; a Recording's sampling must be 'event' or "
            "'continuous'."
        )
    if sampling is not None and sampling != kind:
        raise ValueError(
            f"sampling={sampling!r} contradicts Y, a Recording ({name}) with "
            f"sampling={kind!r}; leave sampling out (it comes from the recording), or pass "
            "Y=recording.data to choose another."
        )
    data = np.asarray(Y.data)
    if data.ndim != 2:
        raise ValueError(
            f"Y is a Recording ({name}) with data of shape {data.shape}; encoding needs 2-D "
            "data (n_samples, n_units), not time-resolved (n_samples, n_units, n_times). "
            "Select one time point or average a time window first, e.g. "
            f"Y=recording.data[:, :, k] with sampling={kind!r}."
        )
    samples = Y.samples
    if feature_ids is not None and response_ids is None and "stimulus_id" in samples:
        response_ids = np.asarray(samples["stimulus_id"].tolist())
    return data, kind, "recording", response_ids


def _assumed_message(cv: object | None, groups: np.ndarray | None, gap: int) -> str:
    """The warning when neither ``sampling`` nor ``delays`` is given."""
    if cv is not None:
        folds = f"the folds of cv={cv!r}"
    elif groups is not None:
        folds = "group folds (GroupKFold) over groups"
    else:
        folds = f"contiguous blocked folds with gap {gap}"
    return (
        f"sampling not given: treating the rows as a time series (FIR delays 1-4, {folds}); "
        "pass sampling='event' for one row per stimulus or image (no delays, shuffled "
        "K-fold), or sampling='continuous' to silence this."
    )


def _check_groups(groups: ArrayLike | None, n_samples: int) -> np.ndarray | None:
    if groups is None:
        return None
    labels = to_numpy(groups)
    if labels.shape != (n_samples,):
        raise ValueError(
            f"groups has shape {labels.shape}; expected ({n_samples},), one label per sample."
        )
    return labels


def _outer_splitter(
    cv: object | None,
    groups: np.ndarray | None,
    n_splits: int,
    gap: int,
    blocked: bool,
    seed: int,
    n_samples: int,
) -> object:
    """The outer splitter: ``cv``, or the default for these data."""
    from sklearn.model_selection import GroupKFold, KFold

    if cv is not None:
        if isinstance(cv, str) or not callable(getattr(cv, "split", None)):
            raise ValueError(
                f"cv must be a splitter with a split(X, y, groups) method; got {cv!r}."
            )
        return cv
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise ValueError(
                f"groups holds {n_groups} group; group folds need at least 2 (or leave "
                "groups=None for folds over samples)."
            )
        return GroupKFold(min(check_int("n_splits", n_splits, minimum=2), n_groups))
    if blocked:
        return BlockedKFold(n_splits, gap=gap)
    n_splits = check_int("n_splits", n_splits, minimum=2)
    if n_samples < 2 * n_splits:
        raise ValueError(
            f"{n_samples} samples are too few for n_splits={n_splits} outer folds with at "
            f"least 2 held-out samples each; lower n_splits or add samples."
        )
    return KFold(n_splits, shuffle=True, random_state=seed)


def _outer_splits(
    X: np.ndarray,
    Y: np.ndarray,
    cv: object,
    groups: np.ndarray | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer (train, test) index arrays, checked."""
    splits = []
    for k, (train, test) in enumerate(cv.split(X, Y, groups)):  # type: ignore[attr-defined]
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
    blocked: bool,
    seed: int,
) -> tuple[object, object]:
    """The splitter inside one outer training set, and what RidgeCV is given."""
    from sklearn.model_selection import GroupKFold, KFold, check_cv

    if inner_cv is None:
        n_groups = 0 if train_groups is None else len(np.unique(train_groups))
        if n_groups < 2:
            if blocked:
                splitter = BlockedKFold(inner_splits, gap=gap)
            else:
                n_splits = check_int("inner_splits", inner_splits, minimum=2)
                splitter = KFold(n_splits, shuffle=True, random_state=seed)
            return splitter, splitter
        inner_cv = GroupKFold(min(check_int("inner_splits", inner_splits, minimum=2), n_groups))
    if isinstance(inner_cv, str) or not callable(getattr(inner_cv, "split", None)):
        raise ValueError(f"inner_cv must be a splitter with a split method; got {inner_cv!r}.")
    return inner_cv, check_cv(list(inner_cv.split(X_train, None, train_groups)))


def _zscore_params(train: Any) -> tuple[Any, Any]:
    """Column means and inverse standard deviations of training rows.

    Computed in float64 on the rows' backend and device (float32 rows are widened for
    the statistics, which are returned in the rows' dtype). A column whose standard
    deviation is at most 1e-10 of its largest magnitude is treated as constant: its
    inverse scale is 0, so it becomes 0 after z-scoring instead of amplified rounding
    noise.

    Parameters
    ----------
    train : array, shape (n_rows, n_columns)
        numpy array or torch tensor.

    Returns
    -------
    mean, scale : array, shape (n_columns,)
        Of ``train``'s backend, device and dtype; z-scored data is
        ``(data - mean) * scale``.
    """
    xp = namespace(train)
    wide = working_float64(train, xp)
    mean = xp.mean(wide, axis=0)
    std = xp.std(wide, axis=0)
    constant = std <= 1e-10 * xp.max(xp.abs(wide), axis=0)
    scale = xp.where(constant, xp.zeros_like(std), 1.0 / xp.where(constant, 1.0, std))
    return xp.astype(mean, train.dtype, copy=False), xp.astype(scale, train.dtype, copy=False)
