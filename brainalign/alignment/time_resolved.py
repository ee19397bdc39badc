"""Time-resolved decoding and encoding on epochs, and temporal generalisation.

Decoding (:func:`sliding_scores`, :func:`generalization_scores`)
    One estimator per time point, trained on the channels at that time point of the
    training epochs and scored on the held-out epochs, at the same time point
    (sliding) or at every time point (temporal generalisation, train time x test
    time). The numbers equal MNE's ``cross_val_multiscore`` of a
    ``SlidingEstimator`` / ``GeneralizingEstimator`` with the same estimator, the
    same folds and the same scoring. ``estimator="ridge"`` is computed in closed form
    for all time points at once (one batched eigendecomposition per fold and inner
    fold, shared by every penalty and output); ``estimator="logistic"`` (with a 1-D
    class target, and (K - 1)(n_channels + 1) <= 160 for K > 2 classes, n_channels + 1
    <= 160 for two, where Newton is the faster solver) by batched Newton iterations on
    every time point of a fold together
    (:mod:`brainalign.alignment.batched_logistic`), to the optimum of the pipeline's
    ``LogisticRegression`` (scikit-learn's default ``tol=1e-4`` stops its lbfgs short
    of that optimum, so a test epoch within that distance of the decision boundary can
    be classified differently; above 160 unknowns scikit-learn fits each time point
    with ``tol=1e-10``, so ``"logistic"`` is the same optimum on every path; pass a
    pipeline of your own to get other fits);
    any other estimator is cloned and fitted per time point, as MNE does.

Encoding (:func:`time_resolved_encoding`)
    Stimulus features (n_epochs, n_features) predict every channel at every time
    point; channels x times are extra targets of one
    :class:`~brainalign.alignment.ridge.RidgeCV` fit per fold (one decomposition
    shared by all of them), scored by held-out Pearson r (or R^2) per channel and
    time.

Folds
    Epochs are independent items: folds split epochs, never time points, so every
    time point of an epoch lands on the same side of a split and nothing is shuffled
    across time. ``cv`` as an int gives scikit-learn's (and MNE's) default
    unshuffled ``StratifiedKFold`` for classifiers and ``KFold`` otherwise, or
    ``GroupKFold`` when ``groups`` are given (e.g. runs or sessions, whose epochs
    share slow drifts); splits that put a group on both sides are refused.

Results come back as :class:`TimeResolvedResult`: the per-fold arrays and a tidy
DataFrame of fold-averaged scores (``time``, or ``train_time`` and ``test_time``;
``output`` or ``channel``; ``score``). numpy in, numpy out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_alphas, check_int
from brainalign.alignment._threads import one_blas_thread, resolve_n_jobs, thread_map
from brainalign.alignment.metrics import pearson_columns, r2_columns
from brainalign.alignment.ridge import DEFAULT_ALPHAS, RidgeCV, _eigh

__all__ = [
    "LOGISTIC_TOL",
    "TimeResolvedResult",
    "concatenate_epochs",
    "generalization_scores",
    "sliding_scores",
    "time_resolved_encoding",
]

Estimator = str | Any
_RIDGE_SCORINGS = ("r2", "pearson")


@dataclass(frozen=True)
class TimeResolvedResult:
    """Scores of :func:`sliding_scores`, :func:`generalization_scores` or
    :func:`time_resolved_encoding`.

    Attributes
    ----------
    scores : numpy.ndarray
        Per fold: shape (n_folds, n_times, n_outputs) for sliding decoding and
        encoding (outputs are channels there), (n_folds, n_train_times,
        n_test_times, n_outputs) for temporal generalisation.
    times : numpy.ndarray, shape (n_times,)
        The time of each time point (seconds, or sample indices when no times were
        given).
    outputs : list of str
        Names of the last axis of ``scores``: the decoded outputs (``"y"``, or
        ``"y0"``, ``"y1"``, ...; ``"all"`` for a scorer that averages them) or the
        channels.
    frame : pandas.DataFrame
        Fold-averaged scores, one row per (time [, test_time], output): columns
        ``time`` (or ``train_time`` and ``test_time``), ``output`` (or ``channel``),
        ``score``, ``n_folds``.
    settings : dict
        What was used: estimator, scoring, folds, alphas.
    """

    scores: np.ndarray
    times: np.ndarray
    outputs: list[str]
    frame: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        """Scores averaged over folds: ``scores.mean(axis=0)``."""
        return self.scores.mean(axis=0)


# --------------------------------------------------------------------------- public
def sliding_scores(
    X: ArrayLike,
    y: ArrayLike,
    *,
    estimator: Estimator = "ridge",
    cv: int | object = 5,
    groups: ArrayLike | None = None,
    scoring: str | Callable | None = None,
    times: ArrayLike | None = None,
    alphas: float | ArrayLike = DEFAULT_ALPHAS,
    inner_cv: int | object = 5,
    n_jobs: int = 1,
) -> TimeResolvedResult:
    """Cross-validated decoding of ``y`` at each time point of epochs ``X``.

    Equals ``mne.decoding.cross_val_multiscore(SlidingEstimator(est, scoring),
    X, y, groups=groups, cv=cv)`` with ``est`` the estimator named below (within
    floating-point rounding for ``"ridge"``, which is solved in closed form; for
    ``"logistic"``, with ``est`` fitted to convergence, e.g.
    ``LogisticRegression(max_iter=1000, tol=1e-10)``: see the module docstring).

    Parameters
    ----------
    X : array-like, shape (n_epochs, n_channels, n_times)
        Epochs (e.g. ``mne.Epochs.get_data()``), finite.
    y : array-like, shape (n_epochs,) or (n_epochs, n_outputs)
        Decoding target: class labels for a classifier, values for a regressor.
    estimator : "ridge", "logistic" or a scikit-learn estimator, default "ridge"
        ``"ridge"``: ridge regression with intercept, penalty ``alphas`` (one value:
        ``sklearn.linear_model.Ridge(alpha)``; several: chosen per output and time
        point by R^2 over ``inner_cv`` on the training epochs, as
        ``sklearn.linear_model.RidgeCV(alphas, cv=KFold(inner_cv))``), all time
        points solved together. ``"logistic"``: ``make_pipeline(StandardScaler(),
        LogisticRegression(max_iter=1000, tol=1e-10))``, i.e. solved to its optimum
        (:data:`LOGISTIC_TOL`), at all time points together for a 1-D ``y`` and up to
        160 unknowns
        (see the module docstring; binary: sigmoid loss, three or more classes:
        multinomial, as scikit-learn; ``settings["solver"]`` says so), else fitted
        per time point; accuracy (default) and binary ``"roc_auc"`` are computed for
        all time points at once, other scorers on each time point's fitted pipeline.
        Any other estimator is cloned and fitted at each time point.
    cv : int or splitter, default 5
        Folds over epochs (see the module docstring): an int gives unshuffled
        ``StratifiedKFold`` (classifiers) or ``KFold``, or ``GroupKFold`` when
        ``groups`` are given; a splitter is called as ``split(X, y, groups)``.
    groups : array-like, shape (n_epochs,), optional
        Group of each epoch (run, session, subject); no group may be on both sides of
        a split.
    scoring : str or callable, optional
        For ``"ridge"``: ``"r2"`` (default, MNE's default for a regressor) or
        ``"pearson"``, per output. Otherwise a scikit-learn scoring name or
        callable; default the estimator's ``score`` (accuracy for classifiers).
    times : array-like, shape (n_times,), optional
        Time of each sample (seconds, e.g. ``epochs.times``); default sample indices.
    alphas : float or array-like of float, default DEFAULT_ALPHAS
        Ridge penalties (``"ridge"`` only).
    inner_cv : int or splitter, default 5
        Inner folds choosing the ridge penalty among several ``alphas`` (an int
        means contiguous ``KFold(inner_cv)`` over the training epochs).
    n_jobs : int, default 1
        Threads over time points for estimators other than ``"ridge"`` (each fit runs
        with one BLAS thread; ``"logistic"`` splits the time points into ``n_jobs``
        blocks solved together).

    Returns
    -------
    TimeResolvedResult
        ``scores`` of shape (n_folds, n_times, n_outputs); ``frame`` with columns
        ``time``, ``output``, ``score``, ``n_folds``.

    Raises
    ------
    ValueError
        For epochs that are not 3-D or hold NaN/inf, ``y`` of the wrong length, a
        classifier target with one class (overall or in a training fold), ``times``
        of the wrong length or not increasing, unknown scoring, or folds that put a
        group in both training and test epochs.
    """
    return _decode(
        X, y, False, _DecodeOptions(estimator, cv, groups, scoring, times, alphas, inner_cv, n_jobs)
    )


def generalization_scores(
    X: ArrayLike,
    y: ArrayLike,
    *,
    estimator: Estimator = "ridge",
    cv: int | object = 5,
    groups: ArrayLike | None = None,
    scoring: str | Callable | None = None,
    times: ArrayLike | None = None,
    alphas: float | ArrayLike = DEFAULT_ALPHAS,
    inner_cv: int | object = 5,
    n_jobs: int = 1,
) -> TimeResolvedResult:
    """Temporal generalisation: train at each time point, test at every time point.

    Equals ``mne.decoding.cross_val_multiscore(GeneralizingEstimator(est, scoring),
    X, y, groups=groups, cv=cv)``. Parameters as :func:`sliding_scores`.

    Returns
    -------
    TimeResolvedResult
        ``scores`` of shape (n_folds, n_train_times, n_test_times, n_outputs);
        ``frame`` with columns ``train_time``, ``test_time``, ``output``, ``score``,
        ``n_folds``.

    Raises
    ------
    ValueError
        As :func:`sliding_scores`.
    """
    return _decode(
        X, y, True, _DecodeOptions(estimator, cv, groups, scoring, times, alphas, inner_cv, n_jobs)
    )


def time_resolved_encoding(
    features: ArrayLike,
    epochs: ArrayLike,
    *,
    cv: int | object = 5,
    groups: ArrayLike | None = None,
    scoring: str = "pearson",
    times: ArrayLike | None = None,
    channels: Sequence[str] | None = None,
    alphas: ArrayLike = DEFAULT_ALPHAS,
    inner_cv: int | object = 5,
) -> TimeResolvedResult:
    """Cross-validated ridge encoding of every channel at every time point.

    Per outer fold, one :class:`~brainalign.alignment.ridge.RidgeCV` (penalty per
    channel and time point chosen over ``inner_cv`` by ``scoring``) is fitted with
    the ``n_channels * n_times`` responses as targets, and scored per target on the
    held-out epochs.

    Parameters
    ----------
    features : array-like, shape (n_epochs, n_features)
        Stimulus features of each epoch (e.g. a model layer).
    epochs : array-like, shape (n_epochs, n_channels, n_times)
        Responses.
    cv, groups : as :func:`sliding_scores` (a regressor: ``KFold`` or ``GroupKFold``).
    scoring : {"pearson", "r2"}, default "pearson"
        Held-out score per channel and time point, also used to choose penalties.
    times : array-like, shape (n_times,), optional
    channels : sequence of str, optional
        Channel names (default ``"0"``, ``"1"``, ...).
    alphas : array-like of float, default DEFAULT_ALPHAS
    inner_cv : int or splitter, default 5
        :class:`~brainalign.alignment.ridge.RidgeCV`'s ``cv``: an int means
        contiguous blocks of the training epochs.

    Returns
    -------
    TimeResolvedResult
        ``scores`` of shape (n_folds, n_times, n_channels); ``frame`` with columns
        ``time``, ``channel``, ``score``, ``n_folds``. ``settings["best_alphas"]``
        holds each fold's penalties, shape (n_folds, n_times, n_channels).

    Raises
    ------
    ValueError
        As :func:`sliding_scores`, and for features that are not 2-D, or channel
        names of the wrong length.
    """
    Y, time_axis = _check_epochs("epochs", epochs, times)
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2 or F.shape[0] != Y.shape[0]:
        raise ValueError(
            f"features must be (n_epochs, n_features) with n_epochs={Y.shape[0]} (the "
            f"epochs); got shape {F.shape}."
        )
    if not np.all(np.isfinite(F)):
        raise ValueError("features hold NaN or inf values; impute or drop those epochs.")
    if scoring not in _RIDGE_SCORINGS:
        raise ValueError(f"scoring={scoring!r}; use one of {list(_RIDGE_SCORINGS)}.")
    names = _channel_names(channels, Y.shape[1])
    splits, splitter = _folds(F, None, cv, groups, classifier=False)
    n_epochs, n_channels, n_times = Y.shape
    targets = np.moveaxis(Y, 1, 2).reshape(n_epochs, n_times * n_channels)
    scores, best = [], []
    for train, test in splits:
        model = RidgeCV(alphas, cv=inner_cv, scoring=scoring).fit(F[train], targets[train])
        scores.append(np.asarray(model.score(F[test], targets[test])).reshape(n_times, -1))
        best.append(np.asarray(model.best_alphas_).reshape(n_times, -1))
    scores_arr = np.stack(scores)
    settings = {
        "estimator": "RidgeCV",
        "scoring": scoring,
        "cv": repr(splitter),
        "inner_cv": repr(inner_cv),
        "alphas": np.asarray(alphas, dtype=float).tolist(),
        "best_alphas": np.stack(best),
    }
    frame = _sliding_frame(scores_arr, time_axis, names, "channel")
    return TimeResolvedResult(scores_arr, time_axis, names, frame, settings)


def concatenate_epochs(
    arrays: Sequence[ArrayLike],
    times: Sequence[ArrayLike],
    channels: Sequence[Sequence[str]] | None = None,
    *,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack epochs of several runs or subjects, checking they share time and channels.

    Parameters
    ----------
    arrays : sequence of array-like, each shape (n_epochs_i, n_channels, n_times)
    times : sequence of array-like, each shape (n_times,)
        Each array's time axis (seconds); they must agree within 1e-9 s.
    channels : sequence of sequence of str, optional
        Each array's channel names; they must be equal, in the same order.
    names : sequence of str, optional
        A name per array for messages and ``groups`` (default ``"0"``, ``"1"``, ...).

    Returns
    -------
    X : numpy.ndarray, shape (sum n_epochs_i, n_channels, n_times)
    groups : numpy.ndarray of str, shape (sum n_epochs_i,)
        The name of the array each epoch came from: pass as ``groups`` for folds
        that keep each run or subject on one side.

    Raises
    ------
    ValueError
        When time axes differ (both are described), channel names differ (the
        differing names are listed), or an array is not 3-D.
    """
    labels = [str(i) for i in range(len(arrays))] if names is None else [str(n) for n in names]
    if not arrays or len(times) != len(arrays) or len(labels) != len(arrays):
        raise ValueError(
            f"concatenate_epochs needs one time axis (and name) per array; got "
            f"{len(arrays)} arrays, {len(times)} time axes, {len(labels)} names."
        )
    checked = [
        _check_epochs(f"epochs {n!r}", a, t) for a, t, n in zip(arrays, times, labels, strict=True)
    ]
    ref_data, ref_times = checked[0]
    for (data, axis), label in zip(checked[1:], labels[1:], strict=True):
        if axis.shape != ref_times.shape or not np.allclose(axis, ref_times, rtol=0, atol=1e-9):
            raise ValueError(
                f"epochs {labels[0]!r} and {label!r} have different time axes: "
                f"{_describe_times(ref_times)} vs {_describe_times(axis)}; crop or resample "
                "them to one time axis first (e.g. Epochs.crop, Epochs.resample)."
            )
        if data.shape[1] != ref_data.shape[1]:
            raise ValueError(
                f"epochs {labels[0]!r} have {ref_data.shape[1]} channels and {label!r} "
                f"{data.shape[1]}; pick the same channels in both."
            )
    if channels is not None:
        _check_same_channels(channels, labels)
    X = np.concatenate([data for data, _ in checked])
    groups = np.repeat(np.asarray(labels), [data.shape[0] for data, _ in checked])
    return X, groups


# --------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class _DecodeOptions:
    """The keyword arguments of :func:`sliding_scores` / :func:`generalization_scores`."""

    estimator: Estimator
    cv: int | object
    groups: ArrayLike | None
    scoring: str | Callable | None
    times: ArrayLike | None
    alphas: float | ArrayLike
    inner_cv: int | object
    n_jobs: int


def _decode(
    X: ArrayLike, y: ArrayLike, generalize: bool, args: _DecodeOptions
) -> TimeResolvedResult:
    """Shared body of :func:`sliding_scores` and :func:`generalization_scores`."""
    data, time_axis = _check_epochs("X", X, args.times)
    estimator = args.estimator
    ridge = isinstance(estimator, str) and estimator == "ridge"
    model = None if ridge else _resolve_estimator(estimator)
    from sklearn.base import is_classifier

    classifier = model is not None and is_classifier(model)
    target = _check_target(y, data.shape[0], classifier)
    splits, splitter = _folds(data, target, args.cv, args.groups, classifier)
    if classifier:
        _check_fold_classes(target, splits)
    if ridge:
        scoring = "r2" if args.scoring is None else args.scoring
        scores, settings = _ridge_scores(data, target, splits, scoring, args, generalize)
        outputs = ["y"] if np.ndim(y) == 1 else [f"y{i}" for i in range(target.shape[1])]
    else:
        scorer = _scorer(model, args.scoring)
        n_threads = resolve_n_jobs(args.n_jobs)
        y_fit = target[:, 0] if np.ndim(y) == 1 else target
        batched = (  # "logistic", a 1-D target, and not too many channels
            isinstance(estimator, str) and np.ndim(y) == 1 and _newton_pays(y_fit, data.shape[1])
        )
        if batched:
            fold = partial(_logistic_fold, args.scoring)
            fold_data = np.ascontiguousarray(np.moveaxis(data, 2, 0))  # time point first
        else:
            fold, fold_data = partial(_generic_fold, model), data
        scores = np.stack(
            [
                fold(scorer, fold_data, y_fit, train, test, generalize, n_threads)
                for train, test in splits
            ]
        )[..., None]
        outputs = ["y"] if np.ndim(y) == 1 else ["all"]
        settings = {"estimator": repr(model)}
        if batched:
            settings["solver"] = "batched Newton (brainalign.alignment.batched_logistic)"
        scoring = args.scoring
    settings.update(
        {
            "scoring": scoring if isinstance(scoring, str | None) else repr(scoring),
            "cv": repr(splitter),
        }
    )
    if generalize:
        frame = _generalization_frame(scores, time_axis, outputs)
    else:
        frame = _sliding_frame(scores, time_axis, outputs, "output")
    return TimeResolvedResult(scores, time_axis, outputs, frame, settings)


def _ridge_scores(
    data: np.ndarray,
    target: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    scoring: str,
    args: _DecodeOptions,
    generalize: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Ridge decoding scores of every fold, and the settings used."""
    if scoring not in _RIDGE_SCORINGS:
        raise ValueError(
            f"scoring={scoring!r} with estimator='ridge'; use one of "
            f"{list(_RIDGE_SCORINGS)}, or pass a scikit-learn estimator for other scorers."
        )
    alphas = np.atleast_1d(check_alphas(args.alphas))
    # one shift per channel (the same at every time point, so generalisation is unchanged)
    centred = data - data.mean(axis=(0, 2), keepdims=True)
    # (n_times, n_epochs, n_channels), contiguous so that batched matmul uses BLAS
    centred = np.ascontiguousarray(np.moveaxis(centred, 2, 0))
    Y0 = target - target.mean(axis=0)
    min_train = min(train.size for train, _ in splits)
    total = None if data.shape[1] > min_train else _Moments.of(centred, Y0)
    scores = np.stack(
        [
            _ridge_fold(centred, Y0, train, test, alphas, args.inner_cv, scoring, generalize, total)
            for train, test in splits
        ]
    )
    settings = {"estimator": "ridge", "alphas": alphas.tolist(), "inner_cv": repr(args.inner_cv)}
    return scores, settings


_NEWTON_MAX_UNKNOWNS = 160
LOGISTIC_TOL = 1e-10
"""Gradient tolerance of ``estimator="logistic"`` on every path (batched Newton or
scikit-learn's lbfgs per time point): the optimum, not scikit-learn's default 1e-4."""


def _newton_pays(labels: np.ndarray, n_channels: int) -> bool:
    """Whether ``"logistic"`` with class ``labels`` (n_epochs,) takes the batched Newton
    path: at most 160 unknowns per Newton system, (n_channels + 1) for two classes,
    (K - 1)(n_channels + 1) for K. Newton costs ~n_epochs unknowns^2 + unknowns^3 per
    time point and iteration; above that size scikit-learn's lbfgs per time point is as
    fast (measured, 240 epochs: lbfgs 1.2x slower than Newton at 129 unknowns, 3x
    faster at 307)."""
    n_classes = np.unique(labels).size
    return max(1, n_classes - 1) * (n_channels + 1) <= _NEWTON_MAX_UNKNOWNS


def _resolve_estimator(estimator: Estimator) -> Any:
    """``"logistic"`` as its pipeline; a scikit-learn estimator as is."""
    if isinstance(estimator, str):
        if estimator != "logistic":
            raise ValueError(
                f"estimator={estimator!r}; use 'ridge', 'logistic' or a scikit-learn estimator."
            )
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # the optimum, as the batched path reaches it: one definition of "logistic"
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, tol=LOGISTIC_TOL))
    if not callable(getattr(estimator, "fit", None)):
        raise ValueError(f"estimator must have a fit method; got {estimator!r}.")
    return estimator


def _scorer(model: Any, scoring: str | Callable | None) -> Callable:
    from sklearn.metrics import check_scoring

    try:
        return check_scoring(model, scoring=scoring)
    except (ValueError, TypeError) as error:
        raise ValueError(f"scoring={scoring!r} is not usable with {model!r}: {error}") from None


def _generic_fold(
    model: Any,
    scorer: Callable,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    generalize: bool,
    n_threads: int,
) -> np.ndarray:
    """Scores of clones of ``model`` fitted per time point, (n_times[, n_times])."""
    from sklearn.base import clone

    X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]

    def at_time(t: int) -> np.ndarray:
        fitted = clone(model).fit(X_train[:, :, t], y_train)
        tests = range(X.shape[2]) if generalize else (t,)
        return np.array([scorer(fitted, X_test[:, :, s], y_test) for s in tests], dtype=float)

    # one BLAS thread: per-time-point fits are small, and threaded BLAS only adds waits
    with one_blas_thread():
        rows = thread_map(at_time, range(X.shape[2]), n_threads)
    return np.stack(rows) if generalize else np.concatenate(rows)


# --------------------------------------------------------------------------- batched logistic
_LOGISTIC_BLOCK = 2**22  # decision values held at once in generalisation (32 MiB)


def _logistic_fold(
    scoring: str | Callable | None,
    scorer: Callable,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    generalize: bool,
    n_threads: int,
) -> np.ndarray:
    """:func:`_generic_fold` for ``estimator="logistic"``, every time point fitted at once,
    with ``X`` of shape (n_times, n_epochs, n_channels).

    :func:`~brainalign.alignment.batched_logistic.fit_batched_logistic` reaches the
    optimum of the pipeline's ``LogisticRegression`` at each time point; accuracy (the
    default) and binary ``"roc_auc"`` are computed from the decision values of all time
    points together, any other scorer is called on each time point's fitted pipeline;
    ``scorer`` is ``scoring`` checked by :func:`_scorer`. ``n_threads`` threads share
    the time points (blocks of consecutive training time points), each with one BLAS
    thread.

    Returns
    -------
    numpy.ndarray, shape (n_times,) or (n_times, n_times)
    """
    from brainalign.alignment.batched_logistic import fit_batched_logistic

    A_train, A_test = X[:, train], X[:, test]  # (n_times, n_train | n_test, n_channels)
    y_train, y_test = y[train], y[test]

    def chunk_scores(times: slice) -> np.ndarray:
        """Scores of the models of training time points ``times``."""
        fitted = fit_batched_logistic(A_train[times], y_train)
        vectorised = _vectorised_score(scoring, fitted.classes, y_test)
        if vectorised is None:
            tests = A_test if generalize else A_test[times]
            return _scorer_per_time(fitted, scorer, tests, y_test, generalize)
        if not generalize:
            return vectorised(fitted, fitted.decision_function(A_test[times])[:, None])[:, 0]
        step = max(1, _LOGISTIC_BLOCK // (A_test[..., 0].size * fitted.intercept.shape[1]))
        blocks = [
            vectorised(fitted, fitted.decision_all(A_test, slice(start, start + step)))
            for start in range(0, fitted.mean.shape[0], step)
        ]
        return np.concatenate(blocks)

    bounds = np.linspace(0, X.shape[0], min(n_threads, X.shape[0]) + 1).astype(int)
    chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    # one BLAS thread: threads over blocks of time points use the cores better
    with one_blas_thread():
        return np.concatenate(thread_map(chunk_scores, chunks, n_threads))


def _vectorised_score(
    scoring: str | Callable | None, classes: np.ndarray, y_test: np.ndarray
) -> Callable[[Any, np.ndarray], np.ndarray] | None:
    """Accuracy (``scoring`` None, the pipeline's ``score``, or ``"accuracy"``) or binary
    ``"roc_auc"`` of decision values (n_a, n_b, n_test, n_rows) as an array (n_a, n_b);
    None for any other scoring (or ROC AUC of a test fold without both classes)."""
    if scoring is None or (isinstance(scoring, str) and scoring == "accuracy"):

        def accuracy(fitted: Any, decision: np.ndarray) -> np.ndarray:
            return (fitted.predict_labels(decision) == y_test).mean(axis=-1)

        return accuracy
    binary = classes.size == 2 and np.array_equal(np.unique(y_test), classes)
    if isinstance(scoring, str) and scoring == "roc_auc" and binary:

        def auc(fitted: Any, decision: np.ndarray) -> np.ndarray:
            from scipy.stats import rankdata

            positive = y_test == classes[1]
            n_pos, n_neg = int(positive.sum()), int((~positive).sum())
            ranks = rankdata(decision[..., 0], axis=-1)  # ties get their average rank
            rank_sum = ranks[..., positive].sum(axis=-1)
            return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

        return auc
    return None


def _scorer_per_time(
    fitted: Any, scorer: Callable, A_test: np.ndarray, y_test: np.ndarray, generalize: bool
) -> np.ndarray:
    """Scores by a scikit-learn ``scorer`` of each time point's fitted pipeline, on the
    test epochs at the same time point (``A_test`` one time point per model) or at every
    time point (``generalize``)."""

    def at_time(t: int) -> np.ndarray:
        pipeline = fitted.sklearn_pipeline(t)
        tests = A_test if generalize else A_test[t : t + 1]
        return np.array([scorer(pipeline, block, y_test) for block in tests], dtype=float)

    rows = [at_time(t) for t in range(fitted.coef.shape[0])]
    return np.stack(rows) if generalize else np.concatenate(rows)


# --------------------------------------------------------------------------- batched ridge
def _ridge_fold(
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    alphas: np.ndarray,
    inner_cv: int | object,
    scoring: str,
    generalize: bool,
    total: _Moments | None,
) -> np.ndarray:
    """One outer fold of ridge decoding at every time point.

    ``X`` (n_times, n_epochs, n_channels) and ``Y`` are centred over all epochs (ridge
    with an intercept is unchanged by a shift of either that is the same at every time
    point); ``total`` holds their moments over all epochs (primal form), so the training
    moments are ``total`` minus the test epochs' moments.

    Returns
    -------
    numpy.ndarray, shape (n_times, n_outputs) or (n_times, n_times, n_outputs)
    """
    A_test = X[:, test]  # (n_times, n_test, n_channels), contiguous
    if total is None:
        fit = _TimeRidge.dual(X[:, train], Y[train])
    else:
        fit = _TimeRidge.primal(total - _Moments.of(A_test, Y[test]))
    if alphas.size == 1:
        coef = fit.coef(float(alphas[0]))
    else:
        coef = fit.coef(_inner_alphas(X[:, train], Y[train], fit, total, alphas, inner_cv))
    if generalize:
        pred = fit.predict_all(coef, A_test)  # (n_train_times, n_test_times, n_test, n_out)
    else:
        pred = fit.predict(coef, A_test)[:, None]  # (n_times, 1, n_test, n_out)
    scores = _score(pred, Y[test], scoring)
    return scores if generalize else scores[:, 0]


def _inner_alphas(
    A: np.ndarray,
    Y: np.ndarray,
    outer: _TimeRidge,
    total: _Moments | None,
    alphas: np.ndarray,
    inner_cv: int | object,
) -> np.ndarray:
    """Per time point and output, the alpha with the best mean inner-fold R^2.

    ``inner_cv`` as an int is contiguous ``KFold`` (``BlockedKFold(gap=0)``), as
    ``sklearn.linear_model.RidgeCV(cv=k)``; nan scores count as -inf; ties go to the
    first alpha (as ``GridSearchCV``). Returns shape (n_times, n_outputs).
    """
    from brainalign.alignment.ridge import _check_splits, _resolve_cv

    splits = _check_splits(_resolve_cv(inner_cv), A[0])
    total_scores = np.zeros((alphas.size, A.shape[0], Y.shape[1]))
    for train, val in splits:
        if total is None:
            fit = _TimeRidge.dual(A[:, train], Y[train])
        else:
            fit = _TimeRidge.primal(outer.moments - _Moments.of(A[:, val], Y[val]))
        for i, alpha in enumerate(alphas):
            coef = fit.coef(np.full((A.shape[0], Y.shape[1]), alpha))
            pred = fit.predict(coef, A[:, val])[:, None]
            total_scores[i] += _score(pred, Y[val], "r2")[:, 0]
    mean = total_scores / len(splits)
    best = np.argmax(np.where(np.isnan(mean), -np.inf, mean), axis=0)
    return alphas[best]


@dataclass(frozen=True)
class _Moments:
    """Sums over epochs at every time point: ``n``, ``sum x``, ``sum y``, ``sum x x^T``,
    ``sum x y^T``; the moments of a subset are those of all epochs minus the rest."""

    n: int
    sx: np.ndarray  # (n_times, n_channels)
    sy: np.ndarray  # (n_outputs,)
    sxx: np.ndarray  # (n_times, n_channels, n_channels)
    sxy: np.ndarray  # (n_times, n_channels, n_outputs)

    @classmethod
    def of(cls, A: np.ndarray, Y: np.ndarray) -> _Moments:
        """Moments of epochs ``A`` (n_times, n_rows, n_channels) and ``Y`` (n_rows, n_outputs)."""
        A = np.ascontiguousarray(A)  # a strided view would make matmul skip BLAS
        At = A.transpose(0, 2, 1)
        return cls(A.shape[1], A.sum(axis=1), Y.sum(axis=0), np.matmul(At, A), np.matmul(At, Y))

    def __sub__(self, other: _Moments) -> _Moments:
        return _Moments(
            self.n - other.n,
            self.sx - other.sx,
            self.sy - other.sy,
            self.sxx - other.sxx,
            self.sxy - other.sxy,
        )


class _TimeRidge:
    """Ridge fits of one set of training epochs at every time point, in closed form.

    Primal form (channels no more than training epochs), from the centred moments
    ``C_xx = X_c^T X_c`` and ``C_xy = X_c^T Y_c`` of every time point: one batched
    ``solve(C_xx + alpha I, C_xy)`` for one alpha, or one batched eigendecomposition
    ``C_xx = V S^2 V^T`` shared by every alpha and output, ``coef = V (V^T C_xy) /
    (S^2 + alpha)``, the formula of :mod:`brainalign.alignment.ridge`. Dual form, from
    the data: ``A_c A_c^T = U S^2 U^T`` and ``coef = A_c^T U (U^T Y_c) / (S^2 + alpha)``.
    """

    def __init__(self, x_mean: np.ndarray, y_mean: np.ndarray) -> None:
        self.x_mean = x_mean  # (n_times, n_channels)
        self.y_mean = y_mean  # (n_outputs,)
        self.moments: _Moments | None = None
        self._cxx: np.ndarray | None = None
        self._cxy: np.ndarray | None = None
        self._eig: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def primal(cls, moments: _Moments) -> _TimeRidge:
        x_mean, y_mean = moments.sx / moments.n, moments.sy / moments.n
        fit = cls(x_mean, y_mean)
        fit.moments = moments
        fit._cxx = moments.sxx - moments.n * x_mean[:, :, None] * x_mean[:, None, :]
        fit._cxy = moments.sxy - moments.n * x_mean[:, :, None] * y_mean[None, None, :]
        return fit

    @classmethod
    def dual(cls, A: np.ndarray, Y: np.ndarray) -> _TimeRidge:
        fit = cls(A.mean(axis=1), Y.mean(axis=0))
        Ac = A - fit.x_mean[:, None, :]
        s2, U = _eigh(np.matmul(Ac, Ac.transpose(0, 2, 1)))
        fit._eig = (
            s2,
            np.matmul(Ac.transpose(0, 2, 1), U),
            np.matmul(U.transpose(0, 2, 1), Y - fit.y_mean),
        )
        return fit

    def coef(self, alpha: float | np.ndarray) -> np.ndarray:
        """Coefficients (n_times, n_channels, n_outputs) for one alpha or (n_times, n_outputs)."""
        if np.ndim(alpha) == 0 and self._cxx is not None:
            eye = np.eye(self._cxx.shape[1])
            return np.linalg.solve(self._cxx + float(alpha) * eye, self._cxy)
        if self._eig is None:
            s2, V = _eigh(self._cxx)
            self._eig = (s2, V, np.matmul(V.transpose(0, 2, 1), self._cxy))
        s2, basis, B = self._eig
        alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (s2.shape[0], B.shape[2]))
        return np.matmul(basis, B / (s2[:, :, None] + alphas[:, None, :]))

    def predict(self, coef: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Predictions at the same time points, shape (n_times, n_rows, n_outputs)."""
        return np.matmul(A - self.x_mean[:, None, :], coef) + self.y_mean

    def predict_all(self, coef: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Predictions of every train time's model at every test time point.

        Returns
        -------
        numpy.ndarray, shape (n_train_times, n_test_times, n_rows, n_outputs)
        """
        n_test_times, n_rows, n_channels = A.shape
        flat = A.reshape(n_test_times * n_rows, n_channels)
        offset = np.einsum("tc,tco->to", self.x_mean, coef) - self.y_mean  # (n_times, n_out)
        pred = np.matmul(flat[None], coef) - offset[:, None, :]
        return pred.reshape(coef.shape[0], n_test_times, n_rows, coef.shape[2])


def _score(pred: np.ndarray, Y: np.ndarray, scoring: str) -> np.ndarray:
    """Score (n_a, n_b, n_outputs) of predictions (n_a, n_b, n_rows, n_outputs) of ``Y``."""
    n_a, n_b, n_rows, n_out = pred.shape
    flat = np.moveaxis(pred, 2, 0).reshape(n_rows, -1)
    truth = np.tile(Y, (1, n_a * n_b))
    score = r2_columns(truth, flat) if scoring == "r2" else pearson_columns(flat, truth)
    return np.asarray(score).reshape(n_a, n_b, n_out)


# --------------------------------------------------------------------------- checks
def _check_epochs(
    name: str, X: ArrayLike, times: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """Epochs as float64 (n_epochs, n_channels, n_times) and their time axis."""
    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 3:
        raise ValueError(
            f"{name} must be epochs of shape (n_epochs, n_channels, n_times); got shape "
            f"{data.shape}."
        )
    if not np.all(np.isfinite(data)):
        bad = np.flatnonzero(~np.isfinite(data).all(axis=(1, 2)))
        raise ValueError(
            f"{name} holds NaN or inf values in epochs {bad[:10].tolist()}; drop or "
            "interpolate them first."
        )
    if times is None:
        return data, np.arange(data.shape[2], dtype=np.float64)
    axis = np.asarray(times, dtype=np.float64)
    if axis.shape != (data.shape[2],):
        raise ValueError(
            f"times for {name} has shape {axis.shape}; expected ({data.shape[2]},), one "
            "time per sample of the epochs."
        )
    if axis.size > 1 and not np.all(np.diff(axis) > 0):
        raise ValueError(
            f"times for {name} must be strictly increasing; got {_describe_times(axis)}."
        )
    return data, axis


def _describe_times(axis: np.ndarray) -> str:
    if axis.size < 2:
        return f"{axis.size} sample(s) {axis.tolist()}"
    step = float(np.median(np.diff(axis)))
    return (
        f"{axis.size} samples from {axis[0]:.6g} to {axis[-1]:.6g} s "
        f"(step {step:.6g} s, {1 / step:.6g} Hz)"
    )


def _check_target(y: ArrayLike, n_epochs: int, classifier: bool) -> np.ndarray:
    """``y`` as (n_epochs, n_outputs); a classifier target needs two classes."""
    target = np.asarray(y)
    if target.ndim not in (1, 2) or target.shape[0] != n_epochs:
        raise ValueError(
            f"y must be (n_epochs,) or (n_epochs, n_outputs) with n_epochs={n_epochs}; "
            f"got shape {target.shape}."
        )
    if classifier:
        classes = np.unique(target)
        if classes.size < 2:
            raise ValueError(
                f"the decoding target has one class ({classes.tolist()}); a classifier needs "
                "at least two (check the event ids / conditions selected)."
            )
        return target.reshape(n_epochs, -1)
    target = target.astype(np.float64)
    if not np.all(np.isfinite(target)):
        raise ValueError("y holds NaN or inf values; drop those epochs first.")
    return target.reshape(n_epochs, -1)


def _check_fold_classes(target: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for k, (train, _) in enumerate(splits):
        classes = np.unique(target[train])
        if classes.size < 2:
            raise ValueError(
                f"fold {k} trains on one class ({classes.tolist()}); use stratified or "
                "fewer folds, or balance the classes across groups."
            )


def _folds(
    X: np.ndarray,
    y: np.ndarray | None,
    cv: int | object,
    groups: ArrayLike | None,
    classifier: bool,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], object]:
    """Checked (train, test) epoch indices, and the splitter that gave them."""
    from sklearn.model_selection import GroupKFold, check_cv

    labels = None if groups is None else np.asarray(groups)
    if labels is not None and labels.shape != (X.shape[0],):
        raise ValueError(
            f"groups has shape {labels.shape}; expected ({X.shape[0]},), one per epoch."
        )
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        n_splits = check_int("cv", cv, minimum=2)
        if labels is not None:
            splitter: object = GroupKFold(n_splits)
        else:
            y_cv = None if y is None else (y[:, 0] if y.shape[1] == 1 else y)
            splitter = check_cv(n_splits, y_cv, classifier=classifier)
    elif callable(getattr(cv, "split", None)):
        splitter = cv
    else:
        raise ValueError(f"cv must be an int or a splitter with split(X, y, groups); got {cv!r}.")
    y_split = None if y is None else (y[:, 0] if y.shape[1] == 1 else y)
    try:
        raw = list(splitter.split(X.reshape(X.shape[0], -1), y_split, labels))  # type: ignore[attr-defined]
    except ValueError as error:
        raise ValueError(f"cv {splitter!r} could not split {X.shape[0]} epochs: {error}") from None
    splits = []
    for k, (train, test) in enumerate(raw):
        train, test = np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp)
        if train.size == 0 or test.size == 0:
            raise ValueError(f"fold {k} of {splitter!r} has an empty training or test set.")
        if labels is not None:
            shared = np.intersect1d(labels[train], labels[test])
            if shared.size:
                raise ValueError(
                    f"fold {k} of {splitter!r} puts groups {shared[:10].tolist()} in both "
                    "training and test epochs; use a group splitter (GroupKFold, "
                    "LeaveOneGroupOut) so each group stays on one side."
                )
        splits.append((train, test))
    if not splits:
        raise ValueError(f"cv {splitter!r} produced no splits.")
    return splits, splitter


def _channel_names(channels: Sequence[str] | None, n_channels: int) -> list[str]:
    if channels is None:
        return [str(i) for i in range(n_channels)]
    names = [str(c) for c in channels]
    if len(names) != n_channels:
        raise ValueError(f"channels has {len(names)} names for {n_channels} channels.")
    return names


def _check_same_channels(channels: Sequence[Sequence[str]], labels: list[str]) -> None:
    if len(channels) != len(labels):
        raise ValueError(f"channels has {len(channels)} name lists for {len(labels)} arrays.")
    ref = [str(c) for c in channels[0]]
    for names, label in zip(channels[1:], labels[1:], strict=True):
        names = [str(c) for c in names]
        if names != ref:
            missing = sorted(set(ref) - set(names))
            extra = sorted(set(names) - set(ref))
            detail = (
                f"missing {missing[:10]}, extra {extra[:10]}"
                if missing or extra
                else "the same names in a different order"
            )
            raise ValueError(
                f"epochs {label!r} have different channels from {labels[0]!r}: {detail}; "
                "pick (and order) the same channels in every array first."
            )


# --------------------------------------------------------------------------- frames
def _sliding_frame(
    scores: np.ndarray, times: np.ndarray, outputs: list[str], column: str
) -> pd.DataFrame:
    mean = scores.mean(axis=0)  # (n_times, n_outputs)
    n_times, n_out = mean.shape
    return pd.DataFrame(
        {
            "time": np.repeat(times, n_out),
            column: np.tile(np.asarray(outputs, dtype=object), n_times),
            "score": mean.ravel(),
            "n_folds": scores.shape[0],
        }
    )


def _generalization_frame(
    scores: np.ndarray, times: np.ndarray, outputs: list[str]
) -> pd.DataFrame:
    mean = scores.mean(axis=0)  # (n_train, n_test, n_outputs)
    n_train, n_test, n_out = mean.shape
    return pd.DataFrame(
        {
            "train_time": np.repeat(times, n_test * n_out),
            "test_time": np.tile(np.repeat(times, n_out), n_train),
            "output": np.tile(np.asarray(outputs, dtype=object), n_train * n_test),
            "score": mean.ravel(),
            "n_folds": scores.shape[0],
        }
    )
