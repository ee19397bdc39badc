"""Cross-validated linear encoding models: features in, held-out Pearson r out."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
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
    finite_2d,
)
from brainalign.alignment.backend import namespace, run_device, to_numpy, working_float64
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import _pearson_2d
from brainalign.alignment.ridge import DEFAULT_ALPHAS, RidgeCV, RidgeDecomposition
from brainalign.alignment.targets import TargetSource, _release_pages, as_target_source
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
        splitter of each outer fold). Out-of-core runs add ``targets`` (repr of the
        target source) and ``target_batch_size`` (int, the batch used).
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
    target_batch_size: int | str | None = None,
    predictions_path: str | os.PathLike | None = None,
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
    Y : array-like, torch.Tensor, Recording or TargetSource, shape (n_samples, n_targets)
        Responses (voxels, neurons, channels, ROIs), one row per sample of ``X``. 1-D
        (n_samples,) is one target. A :class:`~brainalign.datasets.recording.Recording` with 2-D
        ``data`` (n_samples, n_units) gives its ``data`` and its ``sampling`` (and, when
        ``feature_ids`` are given, its ``samples["stimulus_id"]`` as ``response_ids``).
        **Out of core**: a ``numpy.memmap`` (e.g. ``numpy.load(path, mmap_mode="r")``),
        a path to a ``.npy`` file, or a
        :class:`~brainalign.alignment.targets.TargetSource` (e.g.
        :class:`~brainalign.datasets.fmri_targets.FMRITargets`, the voxels of a NIfTI
        run) is read ``target_batch_size`` columns at a time: per outer fold the
        features are factored once (:meth:`RidgeCV.decompose`) and each batch is read,
        z-scored with its training rows' statistics, fitted, scored and dropped, so
        memory holds one batch (plus the per-target scores and penalties) however many
        targets there are. The numbers are those of the in-memory path (same folds,
        same penalties; equal to rounding, about 1e-14).
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
    target_batch_size : int or "auto", optional
        Targets fitted and scored together (``RidgeCV``'s ``target_batch_size``);
        default None: all at once for ``Y`` in memory, ``"auto"`` for ``Y`` out of core.
        ``"auto"``: :func:`~brainalign.alignment.memory.auto_target_batch_size`, the
        largest batch whose modelled peak
        (:func:`~brainalign.alignment.memory.encoding_peak_bytes`) fits half the
        available memory of the device. Memory grows with it, results do not change.
        When a torch device runs out of memory mid-run, the fold is retried once with
        half the batch (a warning says so) and the rest of the run keeps the smaller
        batch.
    predictions_path : str or os.PathLike, optional
        With ``return_predictions=True``: write the predictions to this ``.npy`` file
        (a temporary file in the same folder, renamed when complete) and return them
        memory-mapped read-only. Required when ``Y`` is out of core (the predictions
        are as large as ``Y``); optional otherwise.

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
        Recording given as ``Y``, or that Recording is time-resolved (3-D). Out of
        core: a target source whose ``n_samples`` differs from ``X``'s rows (both
        numbers), a batch read holding NaN or inf (naming the target columns, their
        ids and the rows), ``return_predictions=True`` without ``predictions_path``,
        ``predictions_path`` without ``return_predictions`` or in a missing folder.

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
    source = as_target_source(Y)
    if device is None and not (is_torch_array(X) or is_torch_array(Y)) and run_device():
        # a run's device (alignment_device): float64 there, so the numbers do not change
        device = run_device()
        X = np.asarray(X, dtype=np.float64)
        Y = Y if source is not None else np.asarray(Y, dtype=np.float64)
    torch_device = _check_device(device)
    if source is None:
        X_arr, Y_arr = _backend_arrays(X, Y, torch_device)
        n_targets = Y_arr.shape[1]
    else:
        X_arr, Y_arr = _source_design(X, source, torch_device), None
        n_targets = source.n_targets
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
    n_samples = X_arr.shape[0]
    batch = _batch_size(target_batch_size, n_targets, source is None, X_arr, len(used_delays))
    if predictions_path is not None and not return_predictions:
        raise ValueError(
            f"predictions_path={os.fspath(predictions_path)!r} but return_predictions=False; "
            "pass return_predictions=True to write the held-out predictions there."
        )
    if source is not None and return_predictions and predictions_path is None:
        raise ValueError(
            f"return_predictions=True with targets read from disk ({source!r}): the "
            f"predictions ({n_samples} x {n_targets}) are written to a .npy file; pass "
            "predictions_path='predictions.npy' (written atomically)."
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
    y_view = np.zeros((n_samples, 1)) if Y_arr is None else _split_view(Y_arr)
    outer = _outer_splits(_split_view(delayed), y_view, outer_cv, group_arr)
    inner_used: list[str] = []

    def inner_splits_of(train: np.ndarray, X_train: Any) -> object:
        """The inner splits of the outer fold training on rows ``train``."""
        train_groups = None if group_arr is None else group_arr[train]
        splitter, inner = _inner_splitter(
            inner_cv, train_groups, _split_view(X_train), inner_splits, gap, blocked, seed
        )
        inner_used.append(repr(splitter))
        return inner

    folds = _Folds(outer, inner_splits_of, alphas, inner_splits, inner_cv, gap)
    batches = _TargetBatches(
        batch,
        (n_samples, delayed.shape[1], n_targets),
        X_arr.shape[1],
        planned=partial(
            _planned_bytes, delayed, X_arr.shape[1], n_targets, len(outer), inner_splits,
            len(alphas), source is None,
        ),
    )  # fmt: skip
    if source is None:
        fold_scores, best_alphas, constant, predictions = _fit_in_memory(
            delayed, Y_arr, folds, batches, return_predictions
        )
        predictions = None if predictions is None else to_numpy(predictions)
        if predictions_path is not None:
            predictions = _save_npy(predictions, predictions_path)
    else:
        fold_scores, best_alphas, constant, predictions = _fit_out_of_core(
            delayed, source, folds, batches, predictions_path if return_predictions else None
        )
    scores, n_valid = _mean_over_defined_folds(fold_scores, constant)
    return EncodingResult(
        scores=scores,
        fold_scores=fold_scores,
        best_alphas=best_alphas,
        predictions=predictions,
        settings={
            "sampling": kind,
            "sampling_from": sampling_from,
            "delays": used_delays,
            "gap": gap,
            "seed": seed,
            "cv": repr(outer_cv),
            "inner_cv": tuple(inner_used),
        }
        | ({} if source is None else {"targets": repr(source), "target_batch_size": batches.size}),
        n_valid_folds=n_valid,
    )


@dataclass(frozen=True)
class _Folds:
    """The outer splits of a run, and how to make the inner splits of each."""

    outer: list[tuple[np.ndarray, np.ndarray]]
    inner_of: Any  # (train rows, X_train) -> splits for RidgeCV's cv
    alphas: np.ndarray
    inner_splits: int
    inner_cv: object | None
    gap: int

    def too_few(self, k: int, train: np.ndarray, n_samples: int, err: ValueError) -> ValueError:
        """The error for an outer fold whose training rows the inner splits refused."""
        inner_name = (
            f"inner_splits={self.inner_splits}" if self.inner_cv is None else f"{self.inner_cv!r}"
        )
        return ValueError(
            f"outer fold {k} has {train.size} training samples (n_samples={n_samples}, "
            f"gap={self.gap}), too few for {inner_name}: {err}"
        )


def _fit_in_memory(
    delayed: Any, Y: Any, folds: _Folds, batches: _TargetBatches, with_predictions: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The outer folds with all of ``Y`` in memory: one RidgeCV fit per fold.

    Returns
    -------
    fold_scores, best_alphas : numpy.ndarray, shape (n_folds, n_targets)
    constant : numpy.ndarray of int
        Indices of the constant targets (warned about here).
    predictions : array of ``Y``'s backend, shape (n_samples, n_targets), or None
    """
    xp = namespace(Y)
    n_samples, n_targets = Y.shape
    constant = np.flatnonzero(to_numpy(xp.max(Y, axis=0) == xp.min(Y, axis=0)))
    _warn_constant(constant, n_targets)
    fold_scores = np.empty((len(folds.outer), n_targets))
    best_alphas = np.empty((len(folds.outer), n_targets))
    predictions = None
    if with_predictions:
        predictions = xp.full((n_samples, n_targets), xp.nan, dtype=Y.dtype, device=array_device(Y))
    for k, (train, test) in enumerate(folds.outer):
        train_idx, test_idx = _index(train, delayed), _index(test, delayed)
        X_train = xp.take(delayed, train_idx, axis=0)
        inner = folds.inner_of(train, X_train)
        fit = partial(
            _fit_fold, X_train, delayed, Y, train_idx, test_idx, folds.alphas, inner,
            with_predictions=with_predictions,
        )  # fmt: skip
        try:
            fold = batches.run(k, fit)
        except EncodingOutOfMemoryError:
            raise
        except ValueError as err:
            raise folds.too_few(k, train, n_samples, err) from err
        fold_scores[k] = fold.scores
        best_alphas[k] = _on_grid(to_numpy(fold.best_alphas), folds.alphas)
        if predictions is not None:
            predictions[test_idx] = fold.predictions
    return fold_scores, best_alphas, constant, predictions


def _fit_out_of_core(
    delayed: Any,
    source: TargetSource,
    folds: _Folds,
    batches: _TargetBatches,
    predictions_path: str | os.PathLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The outer folds with the targets read from ``source`` one batch at a time.

    Per outer fold the delayed features are z-scored and factored once
    (:meth:`RidgeCV.decompose`); then each batch of targets is read, z-scored with its
    training rows' statistics, fitted (:meth:`RidgeCV.fit_decomposed`) and scored, and
    dropped. Only the per-target scores and penalties stay in memory; the predictions,
    when asked for, go to a ``.npy`` file written atomically at ``predictions_path``.

    Returns
    -------
    As :func:`_fit_in_memory`, with the predictions as a read-only memory-mapped
    ``numpy.ndarray`` of the file (or None).
    """
    n_samples, n_targets = source.n_samples, source.n_targets
    state = _Stream(
        source=source,
        fold_scores=np.empty((len(folds.outer), n_targets)),
        best_alphas=np.empty((len(folds.outer), n_targets)),
        constant=np.zeros(n_targets, dtype=bool),
    )
    with _PredictionFile(predictions_path, (n_samples, n_targets), delayed.dtype) as out:
        state.predictions = out.array
        xp = namespace(delayed)
        for k, (train, test) in enumerate(folds.outer):
            train_idx, test_idx = _index(train, delayed), _index(test, delayed)
            X_train = xp.take(delayed, train_idx, axis=0)
            inner = folds.inner_of(train, X_train)
            try:
                X_test_z, decomposition = _factor_fold(
                    X_train, delayed, test_idx, folds.alphas, inner, batches.size
                )
            except ValueError as err:
                raise folds.too_few(k, train, n_samples, err) from err
            del X_train
            fit = partial(
                _stream_fold, state, k, X_test_z, decomposition, train_idx, test_idx, test,
                folds.alphas,
            )  # fmt: skip
            batches.run(k, fit)
            del X_test_z, decomposition, fit
    constant = np.flatnonzero(state.constant)
    _warn_constant(constant, n_targets, stacklevel=4)
    return state.fold_scores, state.best_alphas, constant, out.result


@dataclass
class _Stream:
    """What the out-of-core folds fill in, target batch by target batch."""

    source: TargetSource
    fold_scores: np.ndarray  # (n_folds, n_targets)
    best_alphas: np.ndarray  # (n_folds, n_targets)
    constant: np.ndarray  # (n_targets,) bool, from the first fold's reads
    predictions: np.ndarray | None = None  # (n_samples, n_targets) memory-mapped file


def _factor_fold(
    X_train: Any, delayed: Any, test_idx: Any, alphas: np.ndarray, inner: object, batch: int
) -> tuple[Any, RidgeDecomposition]:
    """An outer fold's z-scored held-out features and its training features' factors.

    Z-scores with the training rows' statistics (:func:`_zscore_params`), then
    :meth:`RidgeCV.decompose` over the inner splits ``inner`` (``batch`` targets per
    later fit).

    Returns
    -------
    X_test_z : array, shape (n_test, n_delayed_features)
    decomposition : RidgeDecomposition
    """
    xp = namespace(delayed)
    x_mean, x_scale = _zscore_params(X_train)
    X_test_z = (xp.take(delayed, test_idx, axis=0) - x_mean) * x_scale
    ridge = RidgeCV(alphas, cv=inner, target_batch_size=batch)
    return X_test_z, ridge.decompose((X_train - x_mean) * x_scale)


def _stream_fold(
    state: _Stream,
    k: int,
    X_test_z: Any,
    decomposition: RidgeDecomposition,
    train_idx: Any,
    test_idx: Any,
    test: np.ndarray,
    alphas: np.ndarray,
    batch: int,
) -> None:
    """Outer fold ``k`` over every target batch of ``state.source`` (see _fit_out_of_core).

    Each batch is read, fitted with the fold's ``decomposition`` and scored on the
    held-out rows; its scores, penalties and predictions go into ``state``.
    """
    xp = namespace(X_test_z)
    ridge = RidgeCV(alphas, cv=decomposition.splits, target_batch_size=batch)
    with_predictions = state.predictions is not None
    for cols in _column_batches(state.source.n_targets, batch):
        Y = _read_targets(state.source, cols, X_test_z)
        if k == 0:
            state.constant[cols] = to_numpy(xp.max(Y, axis=0) == xp.min(Y, axis=0))
        fit = partial(ridge.fit_decomposed, decomposition)
        fold = _fit_targets(fit, X_test_z, Y, train_idx, test_idx, batch, with_predictions)
        del Y
        state.fold_scores[k, cols] = fold.scores
        state.best_alphas[k, cols] = _on_grid(to_numpy(fold.best_alphas), alphas)
        if with_predictions:
            if k == 0:
                state.predictions[:, cols] = np.nan
            state.predictions[test, cols] = to_numpy(fold.predictions)
            _release_pages(state.predictions)


def _read_targets(source: TargetSource, cols: slice, like: Any) -> Any:
    """Columns ``cols`` of ``source``, checked finite, on ``like``'s backend and dtype.

    Raises
    ------
    ValueError
        If the block has the wrong shape or holds NaN or inf (naming the first columns,
        their target ids and rows).
    """
    block = np.asarray(source.read(cols))
    expected = (source.n_samples, cols.stop - cols.start)
    if block.shape != expected:
        raise ValueError(
            f"{source!r}.read({cols}) returned shape {block.shape}; expected {expected} "
            "(n_samples, columns read)."
        )
    bad = ~np.isfinite(block)
    if bad.any():
        columns = cols.start + np.flatnonzero(bad.any(axis=0))
        rows = np.flatnonzero(bad.any(axis=1))
        ids = [source.target_ids[c].item() for c in columns[:5]]
        raise ValueError(
            f"Y ({source!r}) has NaN or inf in target column(s) {columns[:5].tolist()}"
            f"{' ...' if columns.size > 5 else ''} (target ids {ids}), at sample rows "
            f"{rows[:5].tolist()}{' ...' if rows.size > 5 else ''}; impute those values "
            "or drop those targets first."
        )
    if is_numpy_array(like):
        return block.astype(like.dtype, copy=False)
    return namespace(like).astype(_as_tensor(block, array_device(like)), like.dtype)


def _column_batches(n_targets: int, size: int) -> list[slice]:
    """Consecutive column slices of at most ``size`` targets."""
    return [slice(start, min(start + size, n_targets)) for start in range(0, n_targets, size)]


class _PredictionFile:
    """Held-out predictions written to a ``.npy`` file: a temporary file, then renamed.

    Inside the ``with`` block ``array`` is the writable memory map of the temporary
    file (None when there is no path); on success the file is renamed to ``path`` and
    ``result`` is it opened read-only; on an error the temporary file is removed.
    """

    def __init__(self, path: str | os.PathLike | None, shape: tuple[int, int], dtype: Any):
        self.path = None if path is None else Path(path)
        self.shape, self.dtype = shape, np.dtype(str(dtype).removeprefix("torch."))
        self.array: np.ndarray | None = None
        self.result: np.ndarray | None = None
        self.tmp: Path | None = None

    def __enter__(self) -> _PredictionFile:
        if self.path is not None:
            if not self.path.parent.is_dir():
                raise ValueError(
                    f"predictions_path={str(self.path)!r}: folder {str(self.path.parent)!r} "
                    "does not exist; create it or pass a path in an existing folder."
                )
            self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self.array = np.lib.format.open_memmap(
                self.tmp, mode="w+", dtype=self.dtype, shape=self.shape
            )
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if self.tmp is None:
            return
        if self.array is not None:
            self.array.flush()
        self.array = None
        if kind is not None:
            self.tmp.unlink(missing_ok=True)
            return
        os.replace(self.tmp, self.path)
        self.result = np.load(self.path, mmap_mode="r")


def _save_npy(predictions: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """``predictions`` saved to ``path`` atomically; returned read-only memory-mapped."""
    with _PredictionFile(path, predictions.shape, predictions.dtype) as out:
        out.array[...] = predictions
    return out.result


def _batch_size(
    target_batch_size: int | str | None,
    n_targets: int,
    in_memory: bool,
    X: Any,
    n_delays: int,
) -> int:
    """Targets per batch: as given, all (None, in memory), or sized from memory ("auto").

    ``"auto"`` (what None means for targets read from disk) is
    :func:`~brainalign.alignment.memory.auto_target_batch_size` for ``X``'s shape,
    dtype and device, at most ``n_targets``.
    """
    if target_batch_size is None and in_memory:
        return n_targets
    if target_batch_size is None or target_batch_size == "auto":
        from brainalign.alignment.memory import auto_target_batch_size

        dtype = "float32" if "float32" in str(X.dtype) else "float64"
        where = str(array_device(X))
        size = auto_target_batch_size(
            X.shape[0],
            X.shape[1],
            n_delays=n_delays,
            dtype=dtype,
            device=where if where.startswith("cuda") else None,
        )
        return max(1, min(size, n_targets))
    if isinstance(target_batch_size, str):
        raise ValueError(
            f"target_batch_size={target_batch_size!r}; pass a positive int, 'auto' (sized "
            "from the available memory) or None."
        )
    return check_int("target_batch_size", target_batch_size, minimum=1)


def _source_design(X: Any, source: TargetSource, device: Any) -> Any:
    """``X`` checked against the rows of ``source``, as numpy float64 or a tensor.

    Raises
    ------
    ValueError
        If the rows differ (both numbers), ``X`` is not 2-D or holds NaN or inf.
    """
    n_rows = X.shape[0] if hasattr(X, "shape") and len(X.shape) else len(X)
    if n_rows != source.n_samples:
        raise ValueError(
            f"X has {n_rows} rows (samples) but Y ({source!r}) has {source.n_samples}; "
            "resample the features onto the response's samples first (lanczos_resample)."
        )
    if device is None and not is_torch_array(X):
        return finite_2d("X", np.asarray(to_numpy(X), dtype=np.float64), namespace())
    target = device if device is not None else X.device
    tensor = _as_tensor(X, target)
    return finite_2d("X", tensor, namespace(tensor))


def _warn_constant(constant: np.ndarray, n_targets: int, stacklevel: int = 4) -> None:
    """Warn once, naming them, when some targets are constant (their scores are NaN)."""
    if constant.size:
        warnings.warn(
            f"{constant.size} of {n_targets} response units are constant (units "
            f"{constant[:10].tolist()}{' ...' if constant.size > 10 else ''}); their scores "
            "are NaN.",
            UserWarning,
            stacklevel=stacklevel,
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
    x_mean, x_scale = _zscore_params(X_train)
    X_test_z = (xp.take(delayed, test_idx, axis=0) - x_mean) * x_scale
    model = RidgeCV(alphas, cv=inner, target_batch_size=batch)
    fit = partial(model.fit, (X_train - x_mean) * x_scale)
    return _fit_targets(fit, X_test_z, Y, train_idx, test_idx, batch, with_predictions)


def _fit_targets(
    fit: Any,
    X_test_z: Any,
    Y: Any,
    train_idx: Any,
    test_idx: Any,
    batch: int,
    with_predictions: bool,
) -> _Fold:
    """Z-score targets on their training rows, ``fit`` them, and score the held-out rows.

    The one fold step of the in-memory and the out-of-core paths.

    Parameters
    ----------
    fit : callable
        ``fit(Y_train_z)`` returns a fitted :class:`RidgeCV` (``RidgeCV.fit`` with the
        z-scored training features bound, or ``RidgeCV.fit_decomposed`` with their
        decomposition).
    X_test_z : array, shape (n_test, n_delayed_features)
        Held-out features, z-scored with the training rows' statistics.
    Y : array, shape (n_samples, n_targets)
        All rows of these targets.
    train_idx, test_idx : integer index arrays of ``Y``'s backend and device
    batch : int
        Columns scored at a time.
    with_predictions : bool
        Also return the held-out predictions in ``Y``'s units.
    """
    xp = namespace(Y)
    Y_train = xp.take(Y, train_idx, axis=0)
    y_mean, y_scale = _zscore_params(Y_train)
    model = fit((Y_train - y_mean) * y_scale)
    del Y_train
    pred_z = model.predict(X_test_z)
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
    planned : callable, optional
        ``planned(batch_size) -> (bytes, free bytes, device)``: the memory model's peak
        of the fit and the device's free memory, for the message.
    """

    def __init__(
        self,
        size: int,
        shape: tuple[int, int, int],
        n_features: int,
        planned: Any = None,
    ) -> None:
        self.size, self.tried = size, [size]
        self.shape, self.n_features, self.planned = shape, n_features, planned

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
        plan = ""
        if self.planned is not None:
            try:
                needed, free, device = self.planned(self.tried[-1])
                plan = (
                    f" The memory model (alignment.memory.encoding_peak_bytes) puts the "
                    f"fit with {self.tried[-1]} targets per batch at {needed / 2**30:.2f} "
                    f"GiB; {free / 2**30:.2f} GiB is free on {device} now."
                )
            except Exception:  # noqa: BLE001 - the numbers are extra; the error stands
                plan = ""
        return (
            f"out of device memory in outer fold {fold} of cross_validated_encoding with "
            f"n_samples={n_samples}, n_features={n_delayed} ({self.n_features} features x "
            f"{n_delayed // max(self.n_features, 1)} delays), n_targets={n_targets}; "
            f"target_batch_size tried: {tried}.{plan} Pass a smaller target_batch_size "
            f"(e.g. {smaller}), fewer features, delays or targets, float32 inputs instead "
            f"of float64, or device='cpu'. ({err})"
        )


def _planned_bytes(
    delayed: Any,
    n_features: int,
    n_targets: int,
    n_splits: int,
    inner_splits: int,
    n_alphas: int,
    targets_in_memory: bool,
    batch_size: int,
) -> tuple[int, int, str]:
    """The memory model's peak of the fit at ``batch_size`` targets per batch, the free
    memory of the device ``delayed`` is on, and that device's name."""
    from brainalign.alignment.memory import available_memory_bytes, encoding_peak_bytes

    itemsize = np.dtype(str(delayed.dtype).removeprefix("torch.")).itemsize
    dtype = "float32" if itemsize == 4 else "float64"
    device = str(array_device(delayed)) if is_torch_array(delayed) else "cpu"
    needed = encoding_peak_bytes(
        delayed.shape[0], n_features, n_targets, n_delays=delayed.shape[1] // max(n_features, 1),
        n_alphas=n_alphas, n_splits=n_splits, inner_splits=inner_splits, dtype=dtype,
        target_batch_size=batch_size, targets_in_memory=targets_in_memory,
    )  # fmt: skip
    return needed, available_memory_bytes(device), device


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
