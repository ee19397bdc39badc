"""Noise ceilings, and the one definition of a score normalised by its ceiling.

* :func:`leave_one_out_isc`: the leave-one-subject-out inter-subject correlation, with
  every subject's time course z-scored (within each run) before the others are averaged.
* :func:`ceiling_flags` and :func:`normalized_scores`: when a ceiling can divide a score
  (finite and at least :data:`CEILING_FLOOR`), and ``score / ceiling`` where it can,
  NaN with the reason where it cannot. Every normalised number brainalign reports (result
  rows, layer summaries, the leaderboard, figures) comes from :func:`normalized_scores`.
* :func:`split_half_reliability` and :func:`split_half_ceiling`: the Spearman-Brown
  corrected split-half reliability of responses to repeated presentations, and its
  square root; :func:`ceiling_from_reliability` is the one definition of a ceiling from a
  reliability (its square root, NaN where negative).

The ISC and the split-half reliability run on the array backend of their input: a torch
tensor stays on its device (CPU or CUDA) and the result is a tensor there; numpy input
gives numpy, computed on the run's device inside
:func:`~brainalign.alignment.backend.alignment_device` (a run's ``--device cuda``), in
float64, so the device never changes the numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_torch_array
from numpy.typing import ArrayLike

from brainalign.alignment.backend import (
    namespace,
    on_compute_device,
    returned_like_input,
    to_numpy,
)
from brainalign.alignment.metrics import _pearson_2d

__all__ = [
    "CEILING_FLAGS",
    "CEILING_FLOOR",
    "ceiling_flags",
    "ceiling_from_reliability",
    "leave_one_out_isc",
    "normalized_scores",
    "split_half_ceiling",
    "split_half_reliability",
]

CEILING_FLOOR = 0.1
"""The smallest ceiling a score is divided by.

A ceiling is an estimate with its own sampling error: a Pearson r over a few hundred
samples has a standard error of about 0.05, so a ceiling below 0.1 is mostly noise, and
dividing by it (or by a negative one) gives a ratio that explodes or flips sign. Such
ceilings are kept in the ``ceiling`` column, but the score is not normalised by them
(``normalized_score`` NaN, ``ceiling_flag`` ``"below_floor"``)."""

CEILING_FLAGS = {
    "ok": "finite and at least CEILING_FLOOR: normalized_score = score / ceiling",
    "none": "the benchmark has no ceiling for this row (NaN)",
    "not_finite": "the ceiling could not be estimated (NaN or infinite)",
    "below_floor": "the ceiling is below CEILING_FLOOR (negative, zero or tiny)",
}
"""Values of the ``ceiling_flag`` column and what each means."""


def ceiling_flags(
    ceiling: ArrayLike, *, defined: ArrayLike | None = None, floor: float = CEILING_FLOOR
) -> np.ndarray:
    """Whether each ceiling can normalise a score, and why not.

    Parameters
    ----------
    ceiling : array-like of float, shape (n,)
    defined : array-like of bool, shape (n,), optional
        False where the benchmark defines no ceiling at all (flag ``"none"`` rather
        than ``"not_finite"``); default: every NaN ceiling is ``"none"``.
    floor : float, default CEILING_FLOOR

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        One of the keys of :data:`CEILING_FLAGS` per ceiling.
    """
    values = np.asarray(ceiling, dtype=np.float64).reshape(-1)
    exists = ~np.isnan(values) if defined is None else np.asarray(defined, dtype=bool).reshape(-1)
    if exists.shape != values.shape:
        raise ValueError(f"defined has shape {exists.shape}; expected {values.shape}")
    flags = np.full(values.shape, "ok", dtype=object)
    finite = np.isfinite(values)
    flags[finite & (values < floor)] = "below_floor"
    flags[~finite] = "not_finite"
    flags[~finite & ~exists] = "none"
    return flags.astype(str)


def normalized_scores(
    score: ArrayLike, ceiling: ArrayLike, *, floor: float = CEILING_FLOOR
) -> tuple[np.ndarray, np.ndarray]:
    """``score / ceiling`` where the ceiling is usable, else NaN, with the reason.

    The ratio is not clipped (a model can exceed a noisy ceiling); a ceiling that is not
    finite or below ``floor`` never divides (no sign flip, no explosion near zero).

    Parameters
    ----------
    score, ceiling : array-like of float, shape (n,)
    floor : float, default CEILING_FLOOR

    Returns
    -------
    normalized : numpy.ndarray of float64, shape (n,)
    flags : numpy.ndarray of str, shape (n,)
        :func:`ceiling_flags` of ``ceiling``.
    """
    scores = np.asarray(score, dtype=np.float64).reshape(-1)
    ceilings = np.asarray(ceiling, dtype=np.float64).reshape(-1)
    if scores.shape != ceilings.shape:
        raise ValueError(f"score {scores.shape} and ceiling {ceilings.shape} differ in shape")
    flags = ceiling_flags(ceilings, floor=floor)
    usable = flags == "ok"
    normalized = np.full(scores.shape, np.nan)
    normalized[usable] = scores[usable] / ceilings[usable]
    return normalized, flags


def _zscore_within(data: Any, runs: np.ndarray | None, xp: Any) -> Any:
    """Z-score axis 1 of (n_subjects, n_samples, n_units) within each run.

    A time course constant within a run becomes 0 there (it carries no shared signal).
    """
    out = xp.empty_like(data)
    labels = np.zeros(data.shape[1], dtype=int) if runs is None else runs
    for run in np.unique(labels):
        rows = np.flatnonzero(labels == run)
        if rows[-1] - rows[0] + 1 == rows.size:  # a contiguous run: a view, no gather
            rows = slice(int(rows[0]), int(rows[-1]) + 1)
        else:
            rows = xp.asarray(rows, device=array_device(data))
        block = data[:, rows]
        centred = block - xp.mean(block, axis=1, keepdims=True)
        std = xp.std(centred, axis=1, keepdims=True)
        safe = xp.where(std > 0, std, xp.ones_like(std))
        out[:, rows] = xp.where(std > 0, centred / safe, xp.zeros_like(centred))
    return out


def leave_one_out_isc(data: ArrayLike, *, runs: ArrayLike | None = None) -> Any:
    """Leave-one-subject-out inter-subject correlation, per subject and unit.

    Each subject's time course of each unit is first z-scored (within each run, when
    ``runs`` are given): recordings have an arbitrary scale per subject (scanner gain,
    ROI size, preprocessing), and averaging raw time courses would let the subjects with
    the largest variance dominate the "others". Then, for subject ``s`` and unit ``u``,
    the Pearson r between ``z[s, :, u]`` and the mean of ``z[o, :, u]`` over all other
    subjects ``o != s``. This is the leave-one-out ISC of Nastase et al. (2019),
    "Measuring shared responses across subjects using intersubject correlation", *Social
    Cognitive and Affective Neuroscience* 14(6): 667-685 (step 1 of which is the
    z-transform), the usual noise ceiling for naturalistic fMRI: the stimulus-driven
    response shared across people bounds what a stimulus model can predict of one
    person's response. Rescaling any subject's data leaves every value unchanged.

    Parameters
    ----------
    data : array-like, shape (n_subjects, n_samples, n_units)
        Responses of every subject to the same stimulus, time-locked (same samples in
        the same order) and in the same unit space (e.g. a common template or ROI
        averages). Computed in float64.
    runs : array-like, shape (n_samples,), optional
        Run (or story) of each sample; time courses are z-scored within each run.
        Default: one run.

    Returns
    -------
    isc : array, shape (n_subjects, n_units)
        NaN where the subject's time course or the others' mean is constant. numpy for
        numpy ``data`` (computed on the run's device inside
        :func:`~brainalign.alignment.backend.alignment_device`), a tensor on ``data``'s
        device for a torch tensor.

    Raises
    ------
    ValueError
        If ``data`` is not 3-D, has fewer than 2 subjects or 2 samples, holds NaN or
        inf, or ``runs`` has the wrong length.
    """
    xp, arr, numpy_input = on_compute_device(data)
    arr = xp.astype(arr, xp.float64)
    if arr.ndim != 3:
        raise ValueError(
            f"data must be 3-D (n_subjects, n_samples, n_units); got shape {arr.shape}. "
            "Stack subjects on the first axis, e.g. numpy.stack(per_subject)."
        )
    n_subjects, n_samples, _ = arr.shape
    if n_subjects < 2:
        raise ValueError(
            f"leave_one_out_isc needs at least 2 subjects; got {n_subjects}. With one "
            "subject use a split-half or repeat-based ceiling instead."
        )
    if n_samples < 2:
        raise ValueError(f"leave_one_out_isc needs at least 2 samples; got {n_samples}.")
    finite = to_numpy(xp.all(xp.reshape(xp.isfinite(arr), (n_subjects, -1)), axis=1))
    if not finite.all():
        subjects = np.flatnonzero(~finite)
        raise ValueError(
            f"data has NaN or inf values for subjects {subjects.tolist()}; drop or "
            "impute those samples or units for every subject first."
        )
    labels = None
    if runs is not None:
        labels = np.asarray(runs)
        if labels.shape != (n_samples,):
            raise ValueError(
                f"runs has shape {labels.shape}; expected ({n_samples},), one label per sample"
            )
    z = _zscore_within(arr, labels, xp)
    total = xp.sum(z, axis=0)
    isc = [_pearson_2d(z[s], (total - z[s]) / (n_subjects - 1)) for s in range(n_subjects)]
    return returned_like_input(xp.stack(isc), numpy_input)


def ceiling_from_reliability(reliability: ArrayLike) -> Any:
    """The ceiling of a correlation score from the reliability of the data: its square root.

    A reliability (split-half Spearman-Brown corrected correlation, or the reliability of
    item means) is on the scale of r squared: it is the correlation the data would reach
    with an independent replication of themselves. A model's prediction can correlate
    with the data at most ``sqrt(reliability)`` in expectation, so the ceiling, on the
    scale of the score, is that square root. This is the one definition of the rule;
    :func:`split_half_ceiling` and
    :func:`brainalign.benchmarks.norms.reliability_ceiling` go through it.

    Parameters
    ----------
    reliability : array-like of float, shape (n,) or any shape

    Returns
    -------
    array of float64, same shape as ``reliability``
        numpy, or a tensor on its device for a torch tensor. ``sqrt(reliability)``
        where the reliability is at least 0. NaN where it is negative (the data do not
        replicate: there is no ceiling) or NaN; such ceilings
        are flagged by :func:`ceiling_flags` (``"not_finite"``) and never divide a score.
    """
    if is_torch_array(reliability):
        xp = namespace(reliability)
        values = xp.astype(reliability, xp.float64)
        return xp.where(values >= 0, xp.sqrt(xp.clip(values, min=0.0)), xp.nan)
    values = np.asarray(reliability, dtype=np.float64)
    ceiling = np.full(values.shape, np.nan)
    usable = values >= 0  # False for NaN
    ceiling[usable] = np.sqrt(values[usable])
    return ceiling


_CONSTANT_TOLERANCE = 1e-10
"""A half whose variance over items is below this fraction of its sum of squares (after
centring each unit on its mean) is constant up to rounding: its correlation is undefined."""


def _split_weights(perms: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging weights of the two halves of ``k`` available repeats, per split.

    Parameters
    ----------
    perms : numpy.ndarray of int, shape (n_splits, n_repeats)
        One permutation of ``0 .. n_repeats - 1`` per split.
    k : int
        Number of available repeats (at least 2), at positions ``0 .. k - 1``.

    Returns
    -------
    first, second : numpy.ndarray, shape (n_splits, k)
        ``1 / (k // 2)`` on the repeats of each half, 0 elsewhere (the left-out repeat
        of an odd ``k`` has 0 in both).
    """
    order = perms[perms < k].reshape(len(perms), k)  # row-major: each row's order kept
    half = k // 2
    first = np.zeros((len(perms), k))
    second = np.zeros((len(perms), k))
    np.put_along_axis(first, order[:, :half], 1.0 / half, axis=1)
    np.put_along_axis(second, order[:, half : 2 * half], 1.0 / half, axis=1)
    return first, second


def split_half_reliability(responses: ArrayLike, *, n_splits: int = 100, seed: int = 0) -> Any:
    """Split-half reliability of each unit's responses to repeated presentations.

    For each of ``n_splits`` random splits, the available (non-NaN) repeats of each
    (item, unit) are split into two halves of ``floor(k / 2)`` repeats each (``k``
    available repeats; when ``k`` is odd one repeat, chosen at random, is left out), and
    each half is averaged. Per unit, the Pearson r between the two half means across the
    items with at least 2 repeats is Spearman-Brown corrected to the reliability of the
    mean of all repeats, ``2 r / (1 + r)``. The result is the mean over splits of the
    corrected r's (the corrected value of each split, then averaged; not the corrected
    mean r). With ``k`` odd, the estimate is that of the mean of ``k - 1`` repeats,
    slightly below the reliability of the mean of all ``k``.

    The random draws: ``rng = numpy.random.Generator(numpy.random.PCG64(seed))``; for
    each split in turn ``perm = rng.permutation(n_repeats)``. An (item, unit) with ``k``
    available repeats numbers them ``0 .. k - 1`` in their order along the repeats axis;
    with ``order = perm[perm < k]`` (a uniformly random permutation of ``0 .. k - 1``),
    repeats ``order[:k // 2]`` form the first half and ``order[k // 2 : 2 * (k // 2)]``
    the second. The
    randomness of a split is thus shared by all (item, unit) entries with the same ``k``:
    each entry's split is uniformly random, but entries with equal ``k`` are split
    alike. The estimate does not depend on the order of the repeats in distribution
    (exactly, with 2 repeats: the halves can only swap, and r is symmetric).

    Parameters
    ----------
    responses : array-like, shape (n_items, n_units, n_repeats)
        Responses to each presentation, NaN where an (item, unit) has fewer repeats
        (:meth:`brainalign.datasets.Recording.repeat_array` gives this array). Computed
        in float64.
    n_splits : int, default 100
        Number of random splits.
    seed : int, default 0
        Seed of the random splits.

    Returns
    -------
    reliability : array of float64, shape (n_units,)
        numpy for numpy ``responses`` (computed on the run's device inside
        :func:`~brainalign.alignment.backend.alignment_device`), a tensor on their device
        for a torch tensor (the random splits are drawn on the host, so every backend
        uses the same splits).
        Mean over splits of the Spearman-Brown corrected split-half r. A split gives
        NaN for a unit with fewer than 3 items having at least 2 repeats, or whose half
        means are constant across items; NaN splits are left out of the mean, and the
        unit's reliability is NaN when no split is defined. Can be negative (no reliable
        signal; ``-inf`` if a split's halves correlate at exactly -1): see
        :func:`ceiling_from_reliability`.

    Raises
    ------
    ValueError
        If ``responses`` is not 3-D, holds inf, ``n_splits`` is below 1, or no
        (item, unit) has 2 repeats or more.

    See Also
    --------
    split_half_ceiling : the square root, on the scale of a correlation score.
    """
    xp, arr, numpy_input = on_compute_device(responses)
    arr = xp.astype(arr, xp.float64)
    if arr.ndim != 3:
        raise ValueError(
            f"responses must be 3-D (n_items, n_units, n_repeats); got shape {arr.shape}. "
            "Recording.repeat_array() returns this array for a recording with repeats."
        )
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 1:
        raise ValueError(f"n_splits must be an integer >= 1; got {n_splits!r}")
    infinite = to_numpy(xp.isinf(arr))
    if infinite.any():
        where = np.argwhere(infinite)[:5].tolist()
        raise ValueError(
            f"responses hold {int(infinite.sum())} infinite value(s), e.g. at "
            f"(item, unit, repeat) {where}; only NaN may mark a missing repeat"
        )
    device = array_device(arr)
    n_items, n_units, n_repeats = arr.shape
    available = ~xp.isnan(arr)
    counts = xp.sum(xp.astype(available, xp.int64), axis=2)  # (n_items, n_units)
    usable = counts >= 2
    counts_host, usable_host = to_numpy(counts), to_numpy(usable)
    if not usable_host.any():
        raise ValueError(
            f"responses of shape {tuple(arr.shape)} hold repeats of one presentation only: "
            "no split-half possible. Every (item, unit) has fewer than 2 non-NaN repeats; "
            "a split-half ceiling needs items presented at least twice."
        )
    n = xp.sum(xp.astype(usable, xp.float64), axis=0)[:, None]  # (n_units, 1)
    # Centre each unit on its mean (split-half means shift by the same constant, so r is
    # unchanged) to keep the sums of squares below free of cancellation.
    kept = usable[:, :, None] & available
    n_kept = xp.sum(xp.astype(kept, xp.float64), axis=(0, 2))
    centre = xp.sum(xp.where(kept, arr, 0.0), axis=(0, 2)) / xp.clip(n_kept, min=1.0)
    centred = arr - centre[None, :, None]
    # Available repeats to the front, in their order (stable sort), zeros behind.
    order = xp.argsort(xp.astype(~available, xp.int8), axis=2, stable=True)
    compact = xp.take_along_axis(centred, order, axis=2)
    compact = xp.where(xp.isnan(compact), 0.0, compact)

    # Per count k: each unit's sum and Gram matrix of the k available repeats over items.
    groups = []
    for k in np.unique(counts_host[usable_host]).tolist():
        rows = xp.where((counts == k)[:, :, None], compact[:, :, :k], 0.0)
        sums = xp.sum(rows, axis=0)  # (n_units, k)
        by_unit = xp.permute_dims(rows, (1, 2, 0))  # (n_units, k, n_items)
        gram = by_unit @ xp.permute_dims(by_unit, (0, 2, 1))  # (n_units, k, k)
        groups.append((k, sums, gram))

    rng = np.random.Generator(np.random.PCG64(seed))
    total = xp.zeros(n_units, dtype=xp.float64, device=device)
    defined = xp.zeros(n_units, dtype=xp.int64, device=device)
    chunk = max(1, min(n_splits, 4_000_000 // max(1, n_units * n_repeats)))
    for start in range(0, n_splits, chunk):
        size = min(chunk, n_splits - start)
        perms = np.stack([rng.permutation(n_repeats) for _ in range(size)])
        sa = sb = saa = sbb = sab = xp.zeros((n_units, size), dtype=xp.float64, device=device)
        for k, sums, gram in groups:
            first, second = (xp.asarray(w.T, device=device) for w in _split_weights(perms, k))
            sa = sa + sums @ first
            sb = sb + sums @ second
            gram_first = gram @ first  # (n_units, k, size)
            saa = saa + xp.sum(gram_first * first, axis=1)
            sab = sab + xp.sum(gram_first * second, axis=1)
            sbb = sbb + xp.sum((gram @ second) * second, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            var_a = saa - sa * sa / n
            var_b = sbb - sb * sb / n
            cov = sab - sa * sb / n
            ok = (
                (n >= 3) & (var_a > _CONSTANT_TOLERANCE * saa) & (var_b > _CONSTANT_TOLERANCE * sbb)
            )
            r = xp.clip(cov / xp.sqrt(var_a * var_b), min=-1.0, max=1.0)
            corrected = 2.0 * r / (1.0 + r)
        total = total + xp.sum(xp.where(ok, corrected, 0.0), axis=1)
        defined = defined + xp.sum(xp.astype(ok, xp.int64), axis=1)
    some = defined > 0
    safe = xp.astype(xp.where(some, defined, xp.ones_like(defined)), xp.float64)
    reliability = xp.where(some, total / safe, xp.nan)
    return returned_like_input(reliability, numpy_input)


def split_half_ceiling(responses: ArrayLike, *, n_splits: int = 100, seed: int = 0) -> Any:
    """Noise ceiling of a correlation score from repeated presentations, per unit.

    ``ceiling_from_reliability(split_half_reliability(responses, ...))``: the square root
    of the Spearman-Brown corrected split-half reliability, NaN where it is negative or
    undefined. The usual ceiling of event-related data with repeats (a user's study,
    vision datasets), scored against the mean response over all repeats.

    Parameters
    ----------
    responses : array-like, shape (n_items, n_units, n_repeats)
        NaN-padded where an (item, unit) has fewer repeats.
    n_splits : int, default 100
    seed : int, default 0

    Returns
    -------
    ceiling : array of float64, shape (n_units,)
        Of the kind :func:`split_half_reliability` returns.

    Raises
    ------
    ValueError
        As :func:`split_half_reliability`.
    """
    return ceiling_from_reliability(split_half_reliability(responses, n_splits=n_splits, seed=seed))
