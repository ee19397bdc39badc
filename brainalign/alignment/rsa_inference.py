"""Bootstrap evaluation of model RDMs against data RDMs (rsatoolbox's ``eval_bootstrap*``).

One function, :func:`bootstrap_rdm_evaluation`, resamples stimuli (conditions), subjects
(data RDMs) or both, and returns each model's evaluation -- the mean over data RDMs of
:func:`~brainalign.alignment.rsa.compare_rdms` -- on the data as given and on every
resample, bootstrap intervals, and the noise ceiling of every resample. With the same
resampling indices the numbers equal rsatoolbox's ``eval_bootstrap_pattern``
(``resample="stimuli"``), ``eval_bootstrap_rdm`` (``"subjects"``) and ``eval_bootstrap``
(``"both"``) for ``rsatoolbox.model.ModelFixed`` models.

How rsatoolbox resamples, and so how this module does:

* A stimulus resample draws ``n_conditions`` stimuli with replacement. The resampled RDM
  holds, for every pair of drawn stimuli, the original dissimilarity; a pair of two copies
  of one stimulus is NaN and left out of every comparison. So an original pair (i, j)
  appears ``c_i * c_j`` times, ``c`` the number of times each stimulus was drawn.
  Resamples with fewer than 3 distinct stimuli are NaN rows, as in rsatoolbox.
* A subject resample draws data RDMs with replacement; a model's evaluation is the mean
  of its similarity to the drawn RDMs (copies counted).
* The noise ceiling of a resample (rsatoolbox's ``boot_noise_ceiling`` on the resampled
  RDMs, grouped by subject): for each *distinct* drawn subject, the similarity of its RDM
  to the pooled RDM of the other drawn subjects (lower bound) and to the pooled RDM of all
  drawn subjects (upper bound), averaged over distinct subjects; pooling is the method's
  ``pool_rdm`` (see :func:`~brainalign.alignment.rsa.rdm_noise_ceiling`) with copies
  counted. With one distinct subject both bounds use the pooled RDM of all (rsatoolbox).

Nothing is computed one resample at a time. For Pearson, cosine and Spearman every
statistic is a sum over the original pairs weighted by ``c_i * c_j``: the weighted ranks
of a fixed RDM come from one sort of it and a cumulative sum of the weights, and the sums
over pairs are matrix products. The Kendall taus are computed on the resampled RDMs
themselves (gathered with one index array), all resamples, models and data RDMs in one
batch, the left-out pairs moved to a common largest value and their (concordant)
contribution subtracted. Speed against rsatoolbox (perf/rsa_bootstrap_vs_rsatoolbox.py):
Spearman about 20x faster; the Kendall taus are not faster, each resampled comparison
costing an O(n_pairs log**2 n_pairs) inversion count (see that script's output).

Computation is float64 whatever the input precision. A similarity that is undefined on a
resample (e.g. a categorical model RDM that is constant on the drawn stimuli) is NaN and
left out of that model's interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_torch_array

from brainalign.alignment._checks import check_int
from brainalign.alignment.backend import as_float, namespace, to_numpy
from brainalign.alignment.rsa import (
    _kendall_counts,
    _rank_stats,
    compare_rdms,
    rdm_noise_ceiling,
)

__all__ = ["BOOTSTRAP_COMPARISONS", "RDMBootstrapResult", "bootstrap_rdm_evaluation"]

#: Comparison methods accepted by :func:`bootstrap_rdm_evaluation`.
BOOTSTRAP_COMPARISONS: tuple[str, ...] = (
    "spearman",
    "pearson",
    "cosine",
    "kendall_tau_a",
    "kendall_tau_b",
)
_RESAMPLES = ("stimuli", "subjects", "both")
#: Floats per batch of intermediate (resamples x RDMs x pairs) arrays.
_BATCH_FLOATS = 1 << 21
#: Elements per batch of the Kendall rows (resamples x models x data RDMs x pairs).
_KENDALL_BATCH = 1 << 21

BootstrapComparison = Literal["spearman", "pearson", "cosine", "kendall_tau_a", "kendall_tau_b"]
Resample = Literal["stimuli", "subjects", "both"]


@dataclass(frozen=True)
class RDMBootstrapResult:
    """Result of :func:`bootstrap_rdm_evaluation`.

    Attributes
    ----------
    evaluation : array, shape (n_models,)
        Mean over data RDMs of each model's similarity, on the data as given.
    distribution : array, shape (n_resamples, n_models)
        The evaluation on each resample (rsatoolbox's ``Result.evaluations``); a row is
        NaN where the resample drew fewer than 3 distinct stimuli.
    low, high : array, shape (n_models,)
        Bootstrap confidence interval as rsatoolbox's ``Result.get_ci(confidence_level,
        test_type='bootstrap')``: quantiles (numpy's linear interpolation) of the non-NaN
        resampled evaluations framed by -inf and +inf, i.e. of n_resamples + 2 values --
        a little wider than the plain percentile interval; NaN when n_resamples is too
        small for ``confidence_level`` (fewer than about 2 / (1 - confidence_level)).
        NaN resamples of a model are left out of its interval.
    noise_ceiling : array, shape (2,)
        Lower and upper bound of the noise ceiling on the data as given
        (:func:`~brainalign.alignment.rsa.rdm_noise_ceiling`); NaN without a noise ceiling.
    noise_ceiling_distribution : array, shape (n_resamples, 2), or None
        Lower and upper bound on each resample (rsatoolbox's ``Result.noise_ceiling``,
        transposed); None when ``noise_ceiling=False``.
    stimulus_indices : numpy.ndarray of int, shape (n_resamples, n_conditions), or None
        The stimuli drawn in each resample (None when only subjects were resampled).
    subject_indices : numpy.ndarray of int, shape (n_resamples, n_subjects), or None
        The data RDMs drawn in each resample (None when only stimuli were resampled).
    method : str
    resample : str
    confidence_level : float
    n_resamples : int
    """

    evaluation: Any
    distribution: Any
    low: Any
    high: Any
    noise_ceiling: Any
    noise_ceiling_distribution: Any | None
    stimulus_indices: np.ndarray | None
    subject_indices: np.ndarray | None
    method: str
    resample: str
    confidence_level: float
    n_resamples: int


# ----------------------------------------------------------------------------- checks


def _check_rdms(name: str, rdms: Any, xp: Any) -> Any:
    V = as_float(rdms, xp, xp.float64)
    if V.ndim == 1:
        V = V[None, :]
    if V.ndim != 2 or V.shape[0] == 0:
        raise ValueError(
            f"{name} must be condensed RDMs of shape (n_rdms, n_pairs) or (n_pairs,); got "
            f"shape {tuple(V.shape)}. Use square_to_rdm for square matrices."
        )
    if not bool(xp.all(xp.isfinite(V))):
        raise ValueError(
            f"{name} has NaN or inf values; the bootstrap needs complete RDMs (drop the "
            "conditions with missing dissimilarities first)."
        )
    return V


def _n_conditions(n_pairs: int) -> int:
    n_cond = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n_cond * (n_cond - 1) // 2 != n_pairs or n_cond < 3:
        raise ValueError(
            f"RDMs have {n_pairs} entries, which is not n*(n-1)/2 for a number of conditions "
            "n >= 3; give condensed RDMs (upper triangle, see square_to_rdm)."
        )
    return n_cond


def _check_indices(
    name: str, indices: Any, n: int, n_resamples: int | None
) -> tuple[np.ndarray, int]:
    arr = np.asarray(to_numpy(indices) if is_torch_array(indices) else indices)
    if arr.ndim != 2 or arr.shape[1] != n or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be an integer array of shape (n_resamples, {n}); got shape "
            f"{arr.shape} and dtype {arr.dtype}."
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(
            f"{name} must lie in [0, {n}); got values from {arr.min()} to {arr.max()}."
        )
    if n_resamples is not None and arr.shape[0] != n_resamples:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but the other indices have {n_resamples}; give "
            "one row per resample in both."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no resamples.")
    return arr.astype(np.int64), arr.shape[0]


def _resolve_indices(
    resample: str,
    n_cond: int,
    n_subjects: int,
    n_resamples: int,
    seed: int | np.random.Generator,
    stimulus_indices: Any,
    subject_indices: Any,
) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """The indices of each resample: given ones checked (their rows set n_resamples),
    missing ones drawn, subjects first, then stimuli."""
    wanted = {"stimuli": resample in ("stimuli", "both"), "subjects": resample != "stimuli"}
    given = {"stimuli": stimulus_indices, "subjects": subject_indices}
    sizes = {"stimuli": n_cond, "subjects": n_subjects}
    names = {"stimuli": "stimulus_indices", "subjects": "subject_indices"}
    checked: dict[str, np.ndarray | None] = {"stimuli": None, "subjects": None}
    rows = None
    for key in ("subjects", "stimuli"):
        if given[key] is None:
            continue
        if not wanted[key]:
            raise ValueError(
                f"{names[key]} was given but resample={resample!r} does not use it; leave "
                "it out or change resample."
            )
        checked[key], rows = _check_indices(names[key], given[key], sizes[key], rows)
    rows = n_resamples if rows is None else rows
    rng = seed if isinstance(seed, np.random.Generator) else None
    if rng is None:
        rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    for key in ("subjects", "stimuli"):
        if wanted[key] and checked[key] is None:
            checked[key] = rng.integers(0, sizes[key], size=(rows, sizes[key]))
    return checked["stimuli"], checked["subjects"], rows


# ----------------------------------------------------------------------------- helpers


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """(n_resamples, n) how often each index was drawn in each resample."""
    offsets = indices + (np.arange(indices.shape[0]) * n)[:, None]
    return np.bincount(offsets.ravel(), minlength=indices.shape[0] * n).reshape(-1, n)


def _cummax(x: Any) -> Any:
    """Running maximum along the last axis (not in the array API: one line per backend)."""
    if is_torch_array(x):
        return x.cummax(dim=-1).values
    return np.maximum.accumulate(x, axis=-1)


def _inverse_permutation(order: Any, xp: Any) -> Any:
    """The inverse of each permutation along the last axis (a scatter: one line per
    backend, as the array API has none; argsort would sort again)."""
    position = xp.broadcast_to(
        xp.arange(order.shape[-1], dtype=order.dtype, device=array_device(order)),
        tuple(order.shape),
    )
    if is_torch_array(order):
        return xp.empty_like(order).scatter_(-1, order, position)
    inverse = np.empty_like(order)
    np.put_along_axis(inverse, order, position, axis=-1)
    return inverse


def _weighted_ranks(V: Any, W: Any, xp: Any) -> Any:
    """Average ranks (scipy's rankdata) of each row of V when entry p appears W[r, p]
    times: (weight of smaller values) + (weight of equal values + 1) / 2.

    V is (a, P), fixed RDMs sorted once, or (R, a, P), one set per resample; W is (R, P).
    Returns (R, a, P); zero-weight entries get a rank of no meaning.
    """
    if V.ndim == 2:
        return _fixed_weighted_ranks(V, W, xp)
    order = xp.argsort(V, axis=-1, stable=False)  # ties share a rank: any order will do
    values = xp.take_along_axis(V, order, axis=-1)
    weights = xp.take_along_axis(xp.broadcast_to(W[:, None, :], tuple(V.shape)), order, axis=-1)
    upto = xp.cumulative_sum(weights, axis=-1)
    opens, closes = _group_edges(values, xp)
    if bool(xp.all(opens)):  # no ties: rank = weight before + (own weight + 1) / 2
        ranks = upto - (weights - 1) / 2
    else:
        zero = xp.zeros_like(upto)
        smaller = _cummax(xp.where(opens, upto - weights, zero))
        total = upto[..., -1:]
        larger = xp.flip(_cummax(xp.flip(xp.where(closes, total - upto, zero), axis=-1)), axis=-1)
        ranks = (smaller + (total - larger) + 1) / 2
    return xp.take_along_axis(ranks, _inverse_permutation(order, xp), axis=-1)


def _group_edges(sorted_rows: Any, xp: Any) -> tuple[Any, Any]:
    """For rows sorted ascending: whether each position opens / closes a tie group."""
    edge = xp.ones(
        (*tuple(sorted_rows.shape[:-1]), 1), dtype=xp.bool, device=array_device(sorted_rows)
    )
    differs = sorted_rows[..., 1:] != sorted_rows[..., :-1]
    return xp.concat([edge, differs], axis=-1), xp.concat([differs, edge], axis=-1)


def _fixed_weighted_ranks(V: Any, W: Any, xp: Any) -> Any:
    """:func:`_weighted_ranks` of fixed RDMs V (a, P): one sort, then per resample a
    gather, a cumulative sum and two gathers. The tie group of entry p spans sorted
    positions start..end; its rank is (weight before start + weight up to end + 1) / 2."""
    a, n = V.shape
    order = xp.argsort(V, axis=-1, stable=False)
    opens, closes = _group_edges(xp.take_along_axis(V, order, axis=-1), xp)
    position = xp.arange(n, dtype=order.dtype, device=array_device(V))
    zero = xp.zeros_like(order)
    start = _cummax(xp.where(opens, position, zero))
    end = (
        n
        - 1
        - xp.flip(_cummax(xp.flip(xp.where(closes, n - 1 - position, zero), axis=-1)), axis=-1)
    )
    unsort = _inverse_permutation(order, xp)
    row = (xp.arange(a, dtype=order.dtype, device=array_device(V)) * (n + 1))[:, None]
    # cumulative weights with a leading 0: upto[j] = weight of the first j sorted entries
    first = xp.reshape(xp.take_along_axis(start, unsort, axis=-1) + row, (-1,))
    last = xp.reshape(xp.take_along_axis(end, unsort, axis=-1) + 1 + row, (-1,))
    weights = xp.reshape(xp.take(W, xp.reshape(order, (-1,)), axis=1), (W.shape[0], a, n))
    lead = xp.zeros((W.shape[0], a, 1), dtype=W.dtype, device=array_device(W))
    upto = xp.reshape(
        xp.cumulative_sum(xp.concat([lead, weights], axis=-1), axis=-1), (W.shape[0], -1)
    )
    ranks = (xp.take(upto, first, axis=1) + xp.take(upto, last, axis=1) + 1) / 2
    return xp.reshape(ranks, (W.shape[0], a, n))


def _weighted_center(V: Any, W: Any, n: Any, xp: Any) -> Any:
    """V minus its W-weighted mean over the last axis (n = sum of W)."""
    return V - xp.sum(V * W, axis=-1, keepdims=True) / n


def _weighted_cosine(X: Any, Y: Any, W: Any, xp: Any, paired: bool) -> Any:
    """sum w x y / sqrt(sum w x^2 sum w y^2) per resample: X (R, a, P), Y (R, b, P),
    W (R, P) -> (R, a, b), or (R, a) for matched rows when ``paired``."""
    Wx = X * W[:, None, :]
    norm_x = xp.sqrt(xp.sum(Wx * X, axis=-1))
    norm_y = xp.sqrt(xp.sum(Y * Y * W[:, None, :], axis=-1))
    if paired:
        return _safe_ratio(xp.sum(Wx * Y, axis=-1), norm_x * norm_y, xp)
    dots = Wx @ xp.matrix_transpose(Y)
    return _safe_ratio(dots, norm_x[:, :, None] * norm_y[:, None, :], xp)


def _safe_ratio(num: Any, den: Any, xp: Any) -> Any:
    """num / den, NaN where den is 0 (an undefined similarity)."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.full_like(num, xp.nan))


def _prepare(V: Any, W: Any, n: Any, method: str, xp: Any) -> Any:
    """The per-RDM transform before the weighted cosine: ranks and/or centring."""
    if method == "cosine":
        return xp.broadcast_to(V, (W.shape[0], *tuple(V.shape[-2:]))) if V.ndim == 2 else V
    if method == "spearman":
        V = _weighted_ranks(V, W, xp)
    elif V.ndim == 2:
        V = xp.broadcast_to(V, (W.shape[0], *tuple(V.shape)))
    return _weighted_center(V, W[:, None, :], n[:, None, None], xp)


def _pool_transform(V: Any, W: Any, n: Any, method: str, xp: Any) -> Any:
    """rsatoolbox's pool_rdm transform of each resampled RDM, over the weighted pairs."""
    if method not in ("cosine", "pearson"):
        return _weighted_ranks(V, W, xp)
    Wb, nb = W[:, None, :], n[:, None, None]
    if V.ndim == 2:
        V = xp.broadcast_to(V, (W.shape[0], *tuple(V.shape)))
    if method == "cosine":
        return V / xp.sqrt(xp.sum(V * V * Wb, axis=-1, keepdims=True) / nb)
    centred = _weighted_center(V, Wb, nb, xp)
    return centred / xp.sqrt(xp.sum(centred * centred * Wb, axis=-1, keepdims=True) / nb)


# ----------------------------------------------------------------------------- Kendall


def _kendall_resampled(X: Any, Y: Any, valid: Any, method: str, xp: Any, paired: bool) -> Any:
    """Kendall tau of resampled RDMs whose left-out pairs (``valid`` False) are dropped.

    X (R, a, P), Y (R, b, P), valid (R, P) -> (R, a, b), or (R, a) when ``paired``.
    Left-out pairs get one common value above all others in both RDMs: tied among
    themselves and concordant with every kept pair, so those n_valid * n_left pairs are
    subtracted from concordant - discordant.
    """
    n_rows, n = X.shape[0], X.shape[-1]
    top_x = xp.max(X) + 1.0
    top_y = xp.max(Y) + 1.0
    mask = valid[:, None, :]
    _, dense_x, ties_x = _rank_stats(xp.where(mask, X, top_x), xp)
    _, dense_y, ties_y = _rank_stats(xp.where(mask, Y, top_y), xp)
    if n * n < 2**31:  # int32 ranks: the inversion counting sorts them about 1.7x faster
        dense_x, dense_y = xp.astype(dense_x, xp.int32), xp.astype(dense_y, xp.int32)
    if paired:
        rows_x = xp.reshape(dense_x, (-1, n))
        rows_y = xp.reshape(dense_y, (-1, n))
        joint, discordant = _kendall_counts(rows_x, rows_y, xp)
        joint = xp.reshape(joint, tuple(dense_x.shape[:2]))
        discordant = xp.reshape(discordant, tuple(dense_x.shape[:2]))
    else:
        a, b = dense_x.shape[1], dense_y.shape[1]
        shape = (n_rows, a, b, n)
        rows_x = xp.reshape(xp.broadcast_to(dense_x[:, :, None, :], shape), (-1, n))
        rows_y = xp.reshape(xp.broadcast_to(dense_y[:, None, :, :], shape), (-1, n))
        joint, discordant = _kendall_counts(rows_x, rows_y, xp)
        joint = xp.reshape(joint, (n_rows, a, b))
        discordant = xp.reshape(discordant, (n_rows, a, b))
        ties_x, ties_y = ties_x[:, :, None], ties_y[:, None, :]
    n_valid = xp.sum(xp.astype(valid, xp.int64), axis=-1)
    n_left = n - n_valid
    n_valid = n_valid[:, None, None] if not paired else n_valid[:, None]
    n_left = n_left[:, None, None] if not paired else n_left[:, None]
    total = n * (n - 1) // 2
    left_ties = n_left * (n_left - 1) // 2
    difference = total - ties_x - ties_y + joint - 2 * discordant - n_valid * n_left
    kept = n_valid * (n_valid - 1) // 2
    difference = xp.astype(difference, X.dtype)
    if method == "kendall_tau_a":
        tau = difference / xp.astype(kept, X.dtype)
    else:
        untied = (kept - (ties_x - left_ties)) * (kept - (ties_y - left_ties))
        tau = _safe_ratio(difference, xp.sqrt(xp.astype(untied, X.dtype)), xp)
    return xp.clip(tau, min=-1.0, max=1.0)


# ----------------------------------------------------------------------------- batches


@dataclass
class _Batch:
    """One batch of resamples: pair weights (R, P), their sums (R,), and for the Kendall
    taus the original pair behind each resampled pair (R, P) and whether it is kept."""

    weights: Any
    n_pairs: Any
    source: Any | None = None
    valid: Any | None = None


def _pair_layout(n_cond: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.triu_indices(n_cond, 1)
    index = np.zeros((n_cond, n_cond), dtype=np.int64)
    index[rows, cols] = np.arange(rows.size)
    index[cols, rows] = np.arange(rows.size)
    return rows, cols, index


def _make_batch(
    stimuli: np.ndarray | None, n_rows: int, n_cond: int, method: str, like: Any, xp: Any
) -> _Batch:
    rows, cols, index = _pair_layout(n_cond)
    dev = array_device(like)
    if stimuli is None:
        weights = np.ones((n_rows, rows.size))
        source = np.broadcast_to(np.arange(rows.size), (n_rows, rows.size))
        valid = np.ones((n_rows, rows.size), dtype=bool)
    else:
        # < 3 distinct stimuli: NaN later (as rsatoolbox); computed as the full set meanwhile
        few = (_counts(stimuli, n_cond) > 0).sum(axis=1) < 3
        stimuli = np.where(few[:, None], np.arange(n_cond), stimuli)
        counts = _counts(stimuli, n_cond).astype(np.float64)
        weights = counts[:, rows] * counts[:, cols]
        drawn = np.sort(stimuli, axis=1)
        first, second = drawn[:, rows], drawn[:, cols]
        source = index[first, second]
        valid = first != second
    batch = _Batch(
        weights=xp.asarray(weights, dtype=like.dtype, device=dev),
        n_pairs=xp.asarray(weights.sum(axis=1), dtype=like.dtype, device=dev),
    )
    if method.startswith("kendall"):
        batch.source = xp.asarray(np.ascontiguousarray(source), device=dev)
        batch.valid = xp.asarray(valid, device=dev)
    return batch


def _gather(V: Any, source: Any, xp: Any) -> Any:
    """Resampled RDMs: V (k, P) or (R, k, P), source (R, P) -> (R, k, P)."""
    if V.ndim == 2:
        taken = xp.take(V, xp.reshape(source, (-1,)), axis=-1)
        taken = xp.reshape(taken, (V.shape[0], *tuple(source.shape)))
        return xp.permute_dims(taken, (1, 0, 2))
    index = xp.broadcast_to(source[:, None, :], tuple(V.shape))
    return xp.take_along_axis(V, index, axis=-1)


def _similarity(
    X: Any, Y: Any, batch: _Batch, method: str, xp: Any, paired: bool, prepared_y: Any = None
) -> Any:
    """Similarity of resampled RDMs: X (a, P) or (R, a, P) with Y (b, P) or (R, b, P).

    ``prepared_y``: ``_prepare(Y, ...)`` if already computed for this batch (not Kendall).
    """
    if method.startswith("kendall"):
        gx, gy = _gather(X, batch.source, xp), _gather(Y, batch.source, xp)
        return _kendall_resampled(gx, gy, batch.valid, method, xp, paired)
    W, n = batch.weights, batch.n_pairs
    if prepared_y is None:
        prepared_y = _prepare(Y, W, n, method, xp)
    return _weighted_cosine(_prepare(X, W, n, method, xp), prepared_y, W, xp, paired)


def _noise_ceiling(
    data: Any, prepared: Any, subject_weights: Any, batch: _Batch, method: str, xp: Any
) -> Any:
    """(R, 2) lower and upper noise-ceiling bound of each resample (boot_noise_ceiling).

    ``prepared``: ``_prepare(data, ...)`` of this batch, or None (Kendall).
    """
    if method == "spearman":  # centred ranks: a common shift of the ranks, same pooled ranks
        transformed = prepared
    else:
        transformed = _pool_transform(data, batch.weights, batch.n_pairs, method, xp)
    S = subject_weights[:, :, None]
    n_drawn = xp.sum(subject_weights, axis=1)[:, None, None]
    total = xp.sum(transformed * S, axis=1, keepdims=True)
    pooled_all = total / n_drawn
    others_n = n_drawn - S
    several = xp.sum(xp.astype(subject_weights > 0, data.dtype), axis=1)[:, None, None] > 1
    safe_n = xp.where(others_n > 0, others_n, xp.ones_like(others_n))
    pooled_others = xp.where(several, (total - transformed * S) / safe_n, pooled_all)
    lower = _similarity(pooled_others, data, batch, method, xp, True, prepared)
    upper = _similarity(pooled_all, data, batch, method, xp, False, prepared)[:, 0, :]
    drawn = xp.astype(subject_weights > 0, data.dtype)
    n_distinct = xp.sum(drawn, axis=1)
    bounds = [
        xp.sum(xp.where(drawn > 0, b, xp.zeros_like(b)), axis=1) / n_distinct
        for b in (lower, upper)
    ]
    return xp.stack(bounds, axis=1)


def _batch_size(n_models: int, n_data: int, n_pairs: int, method: str) -> int:
    """Resamples per batch: the Kendall taus hold one row per model-data pair, the other
    methods a few rows per RDM (models, data, pooled RDMs)."""
    if method.startswith("kendall"):
        per_resample = n_pairs * max(n_models * n_data, 2 * n_data)
        return max(1, _KENDALL_BATCH // per_resample)
    return max(1, _BATCH_FLOATS // ((n_models + 2 * n_data) * n_pairs))


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """rsatoolbox's bootstrap interval (``Result.get_ci(level, 'bootstrap')``): numpy's
    linear-interpolated quantiles of the resampled values framed by -inf and +inf (the
    empirical distribution of n + 2 values: slightly wider than plain percentiles, and
    infinite when n_resamples is too small for the level). NaN values are left out, per
    model (rsatoolbox would return NaN)."""
    tail = (1.0 - level) / 2
    low, high = np.full(values.shape[1], np.nan), np.full(values.shape[1], np.nan)
    for model, column in enumerate(values.T):
        framed = np.concatenate([[-np.inf, np.inf], column[np.isfinite(column)]])
        with np.errstate(invalid="ignore"):
            low[model], high[model] = np.quantile(framed, [tail, 1.0 - tail])
    return low, high


# ----------------------------------------------------------------------------- public


def bootstrap_rdm_evaluation(
    model_rdms: Any,
    data_rdms: Any,
    *,
    method: BootstrapComparison = "spearman",
    resample: Resample = "stimuli",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
    stimulus_indices: Any = None,
    subject_indices: Any = None,
    noise_ceiling: bool = True,
) -> RDMBootstrapResult:
    """Bootstrap the evaluation of fixed model RDMs on data RDMs (rsatoolbox's
    ``eval_bootstrap_pattern`` / ``eval_bootstrap_rdm`` / ``eval_bootstrap``).

    Parameters
    ----------
    model_rdms : array of shape (n_models, n_pairs) or (n_pairs,)
        Condensed model RDMs (numpy or torch), no NaN.
    data_rdms : array of shape (n_subjects, n_pairs) or (n_pairs,)
        Condensed data RDMs, one per subject (or session), no NaN.
    method : {"spearman", "pearson", "cosine", "kendall_tau_a", "kendall_tau_b"}
        Comparison, as :func:`~brainalign.alignment.rsa.compare_rdms` (rsatoolbox's
        ``'spearman'``, ``'corr'``, ``'cosine'``, ``'tau-a'``, ``'kendall'``).
    resample : {"stimuli", "subjects", "both"}
        What to draw with replacement: conditions (``eval_bootstrap_pattern``), data RDMs
        (``eval_bootstrap_rdm``) or both (``eval_bootstrap``).
    n_resamples : int
        Resamples to draw; ignored where indices are given (their number of rows counts).
    confidence_level : float
        Of the bootstrap interval (``RDMBootstrapResult.low`` / ``high``), in (0, 1).
    seed : int or numpy.random.Generator
        For drawing the indices not given: subjects first, then stimuli, with
        ``Generator.integers``.
    stimulus_indices : array of int, shape (n_resamples, n_conditions), optional
        The conditions drawn in each resample (e.g. rsatoolbox's ``pattern_idx``).
    subject_indices : array of int, shape (n_resamples, n_subjects), optional
        The data RDMs drawn in each resample (rsatoolbox's ``rdm_idx``).
    noise_ceiling : bool
        Whether to compute the noise ceiling of the data and of every resample (needs
        n_subjects >= 2).

    Returns
    -------
    RDMBootstrapResult
        Arrays of the inputs' kind and device, float64; the indices as numpy arrays.

    Raises
    ------
    ValueError
        For an unknown method or resample, RDMs of different sizes, NaN/inf values,
        fewer than 2 data RDMs where subjects are resampled or a noise ceiling is asked
        for, or indices of the wrong shape or range.
    """
    if method not in BOOTSTRAP_COMPARISONS:
        raise ValueError(
            f"method={method!r} is not supported for the bootstrap; use one of "
            f"{list(BOOTSTRAP_COMPARISONS)}."
        )
    if resample not in _RESAMPLES:
        raise ValueError(f"resample={resample!r} is not known; use one of {list(_RESAMPLES)}.")
    level = float(confidence_level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1); got {confidence_level!r}.")
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    xp = namespace(model_rdms, data_rdms)
    models = _check_rdms("model_rdms", model_rdms, xp)
    data = _check_rdms("data_rdms", data_rdms, xp)
    if models.shape[1] != data.shape[1]:
        raise ValueError(
            f"model_rdms have {models.shape[1]} pairs per RDM but data_rdms have "
            f"{data.shape[1]}; RDMs must be over the same conditions."
        )
    n_cond = _n_conditions(data.shape[1])
    n_subjects = data.shape[0]
    if n_subjects < 2 and (noise_ceiling or resample != "stimuli"):
        raise ValueError(
            "data_rdms holds one RDM: resampling subjects and the noise ceiling need at least "
            "2; use resample='stimuli' with noise_ceiling=False."
        )
    stimuli, subjects, n_rows = _resolve_indices(
        resample, n_cond, n_subjects, n_resamples, seed, stimulus_indices, subject_indices
    )
    evaluation = xp.mean(compare_rdms(models, data, method), axis=1)
    subject_counts = (
        np.ones((n_rows, n_subjects)) if subjects is None else _counts(subjects, n_subjects)
    )
    distribution, ceilings = _bootstrap(
        models, data, stimuli, subject_counts, method, noise_ceiling, xp
    )
    low, high = _interval(to_numpy(distribution), level)
    dev = array_device(data)
    point_ceiling = (
        xp.stack(list(rdm_noise_ceiling(data, method)))
        if noise_ceiling
        else xp.full((2,), xp.nan, dtype=data.dtype, device=dev)
    )
    return RDMBootstrapResult(
        evaluation=evaluation,
        distribution=distribution,
        low=xp.asarray(low, dtype=data.dtype, device=dev),
        high=xp.asarray(high, dtype=data.dtype, device=dev),
        noise_ceiling=point_ceiling,
        noise_ceiling_distribution=ceilings,
        stimulus_indices=stimuli,
        subject_indices=subjects,
        method=method,
        resample=resample,
        confidence_level=level,
        n_resamples=n_rows,
    )


def _bootstrap(
    models: Any,
    data: Any,
    stimuli: np.ndarray | None,
    subject_counts: np.ndarray,
    method: str,
    noise_ceiling: bool,
    xp: Any,
) -> tuple[Any, Any | None]:
    """(n_resamples, n_models) evaluations and (n_resamples, 2) noise ceilings, in batches."""
    n_rows, n_subjects = subject_counts.shape
    n_cond = _n_conditions(data.shape[1])
    dev = array_device(data)
    step = _batch_size(models.shape[0], n_subjects, data.shape[1], method)
    fixed = None
    if stimuli is None:  # only subjects: the model-data similarities never change
        fixed = compare_rdms(models, data, method)[None, :, :]
    evaluations, ceilings = [], []
    for begin in range(0, n_rows, step):
        end = min(begin + step, n_rows)
        part = None if stimuli is None else stimuli[begin:end]
        counts = xp.asarray(subject_counts[begin:end], dtype=data.dtype, device=dev)
        batch = _make_batch(part, end - begin, n_cond, method, data, xp)
        prepared = None
        if not method.startswith("kendall") and (fixed is None or noise_ceiling):
            prepared = _prepare(data, batch.weights, batch.n_pairs, method, xp)
        if fixed is None:
            sims = _similarity(models, data, batch, method, xp, False, prepared)
        else:
            sims = fixed
        evaluations.append(xp.sum(sims * counts[:, None, :], axis=-1) / n_subjects)
        if noise_ceiling:
            ceilings.append(_noise_ceiling(data, prepared, counts, batch, method, xp))
    distribution = xp.concat(evaluations, axis=0)
    ceiling = xp.concat(ceilings, axis=0) if noise_ceiling else None
    if stimuli is not None:  # fewer than 3 distinct stimuli: NaN, as rsatoolbox
        distinct = (_counts(stimuli, n_cond) > 0).sum(axis=1)
        few = xp.asarray(distinct < 3, device=dev)[:, None]
        distribution = xp.where(few, xp.nan, distribution)
        ceiling = None if ceiling is None else xp.where(few, xp.nan, ceiling)
    return distribution, ceiling
