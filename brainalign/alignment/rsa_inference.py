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
over pairs are matrix products. The Kendall taus are weighted pair counts too (scipy's
formula: all pairs - tied in one - tied in the other + tied in both - 2 * discordant):

* model against data RDM, both fixed: the tied pairs are sums over the fixed tie groups;
  the discordant pairs are the weighted inversions of the data in model order, counted
  with a structure that depends only on the two RDMs (:func:`_inversion_plan`): blocks
  of 64 entries in (model, data) order and chunks of 64 in data order; pairs inside a
  block or chunk are 0/1 matrices applied to the weights of all resamples at once
  (batched matrix products, exact in float32 while n_pairs**2 / 2 < 2**24), pairs
  across them a (block x chunk) grid of weights;
* noise ceiling, each data RDM against pooled RDMs that change with every resample
  (twice the sums of the half-integer weighted ranks: exact integers): the pairs of
  weight 0 dropped, a bottom-up merge count of weighted inversions per row, each entry
  one integer key so that a merge is a sort (:func:`_weighted_inversions`).

The Spearman noise ceiling ranks the pooled RDMs (means of ranks) by an integer sort
over the drawn pairs only (:func:`_integer_weighted_ranks`). With numba installed, the
Kendall noise ceiling counts its weighted inversions with a compiled merge count
(:mod:`brainalign.alignment._compiled`; the array path above runs otherwise, and on
torch). Batches of resamples (and the Kendall model-data pairs) run on ``n_jobs``
threads.

Speed against rsatoolbox (perf/rsa_bootstrap_vs_rsatoolbox.py: 10 models, 8 data RDMs of
92 stimuli, 1,000 resamples with the noise ceiling, one BLAS thread, 2-core machine):
Spearman about 30x faster with ``n_jobs=-1`` (18x on one thread), Kendall tau-a about
25x (15x on one thread); without the noise ceiling about 60x and 40x.

Computation is float64 whatever the input precision. A similarity that is undefined on a
resample (e.g. a categorical model RDM that is constant on the drawn stimuli) is NaN and
left out of that model's interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_torch_array

from brainalign.alignment._checks import check_int
from brainalign.alignment._compiled import inversions_in_orders, weighted_inversions
from brainalign.alignment._threads import resolve_n_jobs, thread_map
from brainalign.alignment.backend import as_float, namespace, to_numpy
from brainalign.alignment.rsa import compare_rdms, rdm_noise_ceiling

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
#: Elements per batch of the Kendall noise-ceiling rows (resamples x 2 data RDMs x pairs).
_KENDALL_BATCH = 1 << 22

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
    flat = _flat_index(order, V.shape[-1], xp)
    values = xp.reshape(xp.take(xp.reshape(V, (-1,)), flat), tuple(V.shape))
    return _ranks_in_order(values, order, flat, W, xp)


def _integer_weighted_ranks(K: Any, W: Any, xp: Any) -> Any:
    """:func:`_weighted_ranks` of rows of non-negative integers K (R, a, m): each entry
    becomes one integer key (value, position), so the order is a plain sort of keys
    (several times faster than an argsort) and the positions come back from the keys."""
    m = K.shape[-1]
    top = (int(xp.max(K)) + 1) * m if K.shape[0] else m
    if top >= 2**62:
        raise ValueError("RDMs too large for the integer keys of the Spearman noise ceiling.")
    kind = xp.int32 if top < 2**31 else xp.int64
    position = xp.arange(m, dtype=kind, device=array_device(K))
    keys = xp.sort(xp.astype(K, kind) * m + position, axis=-1)
    order = xp.astype(keys % m, xp.int64)
    flat = _flat_index(order, m, xp)
    return _ranks_in_order(keys // m, order, flat, W, xp)


def _ranks_in_order(values: Any, order: Any, flat: Any, W: Any, xp: Any) -> Any:
    """Weighted average ranks from rows sorted ascending: ``values`` (R, a, n) sorted,
    ``order`` the positions they came from and ``flat`` their :func:`_flat_index`; W
    (R, n) the weight of each position -> ranks (R, a, n) in the original positions."""
    by_resample = order + xp.reshape(
        xp.arange(W.shape[0], dtype=order.dtype, device=array_device(W)) * W.shape[1], (-1, 1, 1)
    )
    weights = xp.take(xp.reshape(W, (-1,)), xp.reshape(by_resample, (-1,)))
    weights = xp.reshape(weights, tuple(values.shape))
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
    return _unsort(ranks, flat, xp)


def _flat_index(order: Any, n: int, xp: Any) -> Any:
    """Flat positions of ``order`` (..., n) of indices along the last axis, row by row:
    gathers and scatters with it are one flat take (numpy's take_along_axis builds
    broadcast index arrays and is several times slower)."""
    rows = math.prod(tuple(order.shape[:-1]))
    offsets = xp.arange(rows, dtype=order.dtype, device=array_device(order)) * n
    return xp.reshape(xp.reshape(order, (rows, -1)) + offsets[:, None], (-1,))


def _unsort(values: Any, flat: Any, xp: Any) -> Any:
    """``values`` sorted by an order (its :func:`_flat_index` ``flat``) put back in place:
    out[..., order[i]] = values[..., i] (an index assignment: numpy and torch have it, the
    array API does not)."""
    out = xp.empty_like(values)
    xp.reshape(out, (-1,))[flat] = xp.reshape(values, (-1,))
    return out


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


# ----------------------------------------------------------------------------- Kendall, fixed


#: Pairs per position block / value chunk of the weighted inversion count (about
#: sqrt(n_pairs) balances the block products against the block-grid sums).
_BLOCK = 64
#: Resamples per batch of the weighted discordant-pair count.
_KENDALL_RESAMPLES = 64


@dataclass
class _TieGroups:
    """Entries of one fixed RDM (or pair of RDMs) in tie groups of two or more: their
    indices in group order and each group's end in that order (cumulative)."""

    members: np.ndarray
    ends: np.ndarray


@dataclass
class _InversionPlan:
    """Structure of the weighted discordant-pair count of two fixed RDMs x and y.

    Entries sorted by (x, y) are cut into position blocks of ``_BLOCK``: a discordant
    pair is then a position pair p < q with y_p > y_q. Value chunks are ``_BLOCK``
    entries each in (y, position) order. ``blocks`` (n_blocks, _BLOCK + n_chunks, _BLOCK)
    stacks, per block, the 0/1 matrix of its pairs i < j with y_i > y_j (``_BLOCK`` rows)
    and the indicator of its entries in chunks <= v (one row per chunk v);
    ``across`` (n_chunks, _BLOCK, _BLOCK) marks the pairs of a chunk from an earlier
    block with a larger y. ``by_position`` / ``by_value``: the pair behind each slot of
    the blocks / chunks (n_pairs = padding, weight 0). Arrays of the backend.
    """

    by_position: Any
    by_value: Any
    blocks: Any
    across: Any
    joint_ties: _TieGroups


def _dense(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def _tie_groups(*dense: np.ndarray) -> _TieGroups:
    """Groups of entries equal in every one of the given dense-rank vectors."""
    key = np.zeros_like(dense[0])
    for ranks in dense:
        key = key * (int(ranks.max()) + 1) + ranks
    order = np.argsort(key, kind="stable")
    _, starts, sizes = np.unique(key[order], return_index=True, return_counts=True)
    tied = sizes > 1
    members = np.concatenate(
        [order[s : s + n] for s, n in zip(starts[tied], sizes[tied], strict=True)] or [[]]
    ).astype(np.int64)
    return _TieGroups(members=members, ends=np.cumsum(sizes[tied]))


def _inversion_plan(x: np.ndarray, y: np.ndarray, dtype: Any, xp: Any, dev: Any) -> _InversionPlan:
    """:class:`_InversionPlan` of the fixed RDMs x and y (n_pairs,), its arrays on ``dev``
    (the 0/1 matrices in ``dtype``)."""
    n, s = x.shape[0], _BLOCK
    a, b = _dense(x), _dense(y)
    n_blocks = -(-n // s)
    length = n_blocks * s
    pad = length - n
    by_position = np.concatenate([np.lexsort((b, a)), np.full(pad, n)])
    values = np.concatenate([b[by_position[:n]], np.full(pad, b.max() + 1)])
    rank_order = np.argsort(values, kind="stable")  # (y, position)
    chunk = np.empty(length, dtype=np.int64)
    chunk[rank_order] = np.arange(length) // s
    grid = values.reshape(n_blocks, s)
    later = np.triu(np.ones((s, s), dtype=bool), 1)
    within = later & (grid[:, :, None] > grid[:, None, :])
    upto = chunk.reshape(n_blocks, 1, s) <= np.arange(n_blocks)[None, :, None]
    members = rank_order.reshape(n_blocks, s)
    block_of, value_of = members // s, values[members]
    across = (block_of[:, :, None] < block_of[:, None, :]) & (
        value_of[:, :, None] > value_of[:, None, :]
    )
    return _InversionPlan(
        by_position=xp.asarray(by_position, device=dev),
        by_value=xp.asarray(by_position[rank_order], device=dev),
        blocks=xp.asarray(np.concatenate([within, upto], axis=1), dtype=dtype, device=dev),
        across=xp.asarray(across, dtype=dtype, device=dev),
        joint_ties=_tie_groups(a, b),
    )


def _weighted_tie_pairs(weights: Any, groups: _TieGroups, base: Any, xp: Any) -> Any:
    """Tied pairs of the resampled RDM, sum over tie groups of W (W - 1) / 2 (W: the
    group's weight), from ``base`` = that sum with every entry its own group."""
    if groups.members.size == 0:
        return base
    dev = array_device(weights)
    members = xp.asarray(groups.members, device=dev)
    taken = xp.take(weights, members, axis=0)
    lead = xp.zeros((1, weights.shape[1]), dtype=xp.float64, device=dev)
    upto = xp.cumulative_sum(xp.concat([lead, xp.astype(taken, xp.float64)], axis=0), axis=0)
    ends = xp.take(upto, xp.asarray(groups.ends, device=dev), axis=0)
    sums = ends - xp.concat([lead, ends[:-1]], axis=0)
    singles = xp.sum(taken * (taken - 1), axis=0, dtype=xp.float64) / 2
    return base - singles + xp.sum(sums * (sums - 1), axis=0) / 2


def _exclusive_prefix(x: Any, xp: Any) -> Any:
    """Sum of the slices before each one along the first axis (a loop of slice additions:
    numpy's cumulative sum along a leading axis is several times slower)."""
    running = xp.zeros_like(x[0])
    parts = []
    for index in range(x.shape[0]):
        parts.append(running)
        running = running + x[index]
    return xp.stack(parts, axis=0)


def _weighted_discordant(weights: Any, plan: _InversionPlan, xp: Any) -> Any:
    """Weighted discordant pairs of the fixed RDMs behind ``plan``: sum of w_p w_q over
    pairs with x_p < x_q and y_p > y_q, per resample. weights (n_pairs + 1, R), the last
    row 0 (padding), exact integers in its dtype -> (R,) float64.

    Every partial sum is a count of (weighted) pairs, an integer no larger than the total,
    so float32 is exact while n_pairs**2 / 2 < 2**24.
    """
    n_blocks, s = plan.across.shape[0], _BLOCK
    R = weights.shape[1]
    in_blocks = xp.reshape(xp.take(weights, plan.by_position, axis=0), (n_blocks, s, R))
    products = plan.blocks @ in_blocks
    within = xp.sum(xp.sum(products[:, :s, :] * in_blocks, axis=1), axis=0)
    # upto[g, v]: weight of block g's entries in chunks <= v; from it the weight of the
    # earlier blocks' entries in chunk v, times that of block g's in chunks < v
    upto = products[:, s:, :]
    earlier = _exclusive_prefix(upto, xp)
    earlier_in = earlier[:, 1:, :] - earlier[:, :-1, :]
    between = xp.sum(xp.sum(earlier_in * upto[:, :-1, :], axis=1), axis=0)
    in_chunks = xp.reshape(xp.take(weights, plan.by_value, axis=0), (n_blocks, s, R))
    chunk_products = plan.across @ in_chunks
    same_chunk = xp.sum(xp.sum(chunk_products * in_chunks, axis=1), axis=0)
    return xp.astype(within, xp.float64) + xp.astype(between + same_chunk, xp.float64)


def _exact_dtype(n_pairs: int, like: Any, xp: Any) -> Any:
    """float32 where every count (at most n_pairs**2 / 2, integers) is exact in it and the
    device is the CPU (a GPU may round float32 products, TF32), else float64."""
    on_cpu = not is_torch_array(like) or like.device.type == "cpu"
    return xp.float32 if on_cpu and n_pairs * (n_pairs - 1) // 2 < 2**24 else xp.float64


def _fixed_kendall(
    models: Any, data: Any, counts: np.ndarray, method: str, xp: Any, n_threads: int = 1
) -> Any:
    """Kendall tau of every fixed model RDM with every fixed data RDM on the resamples
    whose stimuli were drawn ``counts`` (R, n_conditions) times -> (R, n_models, n_data).

    The resampled RDM is the original pairs weighted by w_p = c_i c_j: tau's numerator
    is n_all - ties_x - ties_y + joint ties - 2 * discordant, all weighted pair counts
    (scipy's formula), the discordant pairs from :func:`_weighted_discordant`.
    """
    n_cond = counts.shape[1]
    rows, cols = np.triu_indices(n_cond, 1)
    n_pairs = rows.size
    weights_np = np.zeros((n_pairs + 1, counts.shape[0]))
    weights_np[:n_pairs] = (counts[:, rows] * counts[:, cols]).T
    dev = array_device(data)
    exact = xp.asarray(weights_np, dtype=xp.float64, device=dev)
    n_kept = xp.sum(exact, axis=0)
    n_all = n_kept * (n_kept - 1) / 2
    base = xp.sum(exact * (exact - 1), axis=0) / 2  # copies of one pair: tied in both
    models_np, data_np = to_numpy(models), to_numpy(data)
    dense_m = [_dense(m) for m in models_np]
    dense_d = [_dense(d) for d in data_np]
    ties_m = [_weighted_tie_pairs(exact, _tie_groups(m), base, xp) for m in dense_m]
    ties_d = [_weighted_tie_pairs(exact, _tie_groups(d), base, xp) for d in dense_d]
    # small batches of resamples keep the block arrays in cache (about 2x faster)
    dtype = _exact_dtype(n_pairs, data, xp)
    batches = [
        xp.asarray(
            np.ascontiguousarray(weights_np[:, begin : begin + _KENDALL_RESAMPLES]),
            dtype=dtype,
            device=dev,
        )
        for begin in range(0, counts.shape[0], _KENDALL_RESAMPLES)
    ]

    def one_pair(pair: tuple[int, int]) -> Any:
        i, j = pair
        plan = _inversion_plan(models_np[i], data_np[j], dtype, xp, dev)
        joint = _weighted_tie_pairs(exact, plan.joint_ties, base, xp)
        discordant = xp.concat([_weighted_discordant(w, plan, xp) for w in batches])
        difference = n_all - ties_m[i] - ties_d[j] + joint - 2 * discordant
        if method == "kendall_tau_a":
            return difference / n_all
        untied = (n_all - ties_m[i]) * (n_all - ties_d[j])
        return _safe_ratio(difference, xp.sqrt(untied), xp)

    pairs = [(i, j) for i in range(len(models_np)) for j in range(len(data_np))]
    taus = thread_map(one_pair, pairs, n_threads)
    shape = (len(models_np), len(data_np), counts.shape[0])
    tau = xp.permute_dims(xp.reshape(xp.stack(taus, axis=0), shape), (2, 0, 1))
    return xp.clip(tau, min=-1.0, max=1.0)


# ----------------------------------------------------------------------------- Kendall, pooled


#: Rows per call of the weighted inversion count.
_INVERSION_ROWS = 32
#: Most pairs of tied entries of a data RDM handled pair by pair in the noise ceiling
#: (as a multiple of n_pairs); above it the rows are sorted by (data, pooled) instead.
_TIED_PAIRS_PER_ENTRY = 4


def _merge_layout(n: int) -> tuple[int, int]:
    """Block width and number of merge levels for n entries: the fewest element passes,
    about 5 per pair offset inside a block and 12 per level, over the padded length."""

    def cost(levels: int) -> int:
        width = -(-n // 2**levels)
        return (5 * (width - 1) + 12 * levels) * width * 2**levels

    levels = min(range(max(1, n.bit_length())), key=cost)
    return -(-n // 2**levels), levels


def _weighted_inversions(z: Any, w: Any, xp: Any) -> tuple[Any, Any]:
    """Weighted discordant and tied pairs of a sequence: sums of w_p w_q over p < q with
    z_p > z_q, and with z_p == z_q, in each row. z (rows, n) non-negative integers, w
    (rows, n) non-negative integer weights, both int64 -> two (rows,) int64.

    Bottom-up merge counting (as rsa._count_inversions, with weights): the pairs inside
    blocks of ``width`` one by one, then level by level two sorted runs are merged. Each
    entry is one integer key (z, run side, weight), so a merge is a sort of keys -- no
    gathers -- and a left entry meets the weight of the right entries below it (equal z:
    left first, not counted). The tied pairs come from the sorted keys at the end.
    """
    if isinstance(z, np.ndarray):
        compiled = weighted_inversions(z, w)
        if compiled is not None:
            return compiled
    n_rows, n = z.shape
    width, levels = _merge_layout(n)
    n_pad = width * 2**levels
    dev = array_device(z)
    top = int(xp.max(z)) + 1 if n_rows else 1
    z = xp.concat([z, xp.full((n_rows, n_pad - n), top, dtype=xp.int64, device=dev)], axis=-1)
    w = xp.concat([w, xp.zeros((n_rows, n_pad - n), dtype=xp.int64, device=dev)], axis=-1)
    zb, wb = xp.reshape(z, (n_rows, -1, width)), xp.reshape(w, (n_rows, -1, width))
    count = xp.zeros((n_rows,), dtype=xp.int64, device=dev)
    for step in range(1, width):  # pairs step apart inside the blocks
        above = zb[..., :-step] > zb[..., step:]
        pairs = wb[..., :-step] * wb[..., step:]
        flat = xp.where(above, pairs, xp.zeros_like(pairs))
        count = count + xp.sum(xp.reshape(flat, (n_rows, -1)), axis=-1)
    weight_bits = max(1, int(xp.max(w)).bit_length()) if n_rows else 1
    bits = top.bit_length() + weight_bits + 1
    if bits > 62:
        raise ValueError("RDMs too large for the integer keys of the Kendall noise ceiling.")
    side = 1 << weight_bits
    # int32 (half the memory traffic) where the keys and the products below fit
    kind = xp.int32 if bits < 31 and n_pad * side * side < 2**31 else xp.int64
    keys = xp.astype(xp.reshape(z * (2 * side) + w, (n_rows, -1, width)), kind)
    keys = xp.sort(keys, axis=-1, stable=False)
    while width < n_pad:
        halves = xp.asarray(np.repeat([0, side], width), dtype=kind, device=dev)
        merged = xp.reshape(keys, (n_rows, -1, 2 * width)) + halves
        # equal keys are interchangeable, so any sort will do; numpy's stable sort merges
        # two sorted runs in linear time, its default one is faster on short runs
        merged = xp.sort(merged, axis=-1, stable=width > 64)
        right = xp.bitwise_and(merged, side)
        weights = xp.bitwise_and(merged, side - 1)
        right_weights = xp.where(right > 0, weights, xp.zeros_like(weights))
        # each left entry meets the weight of the right entries below it, before it
        below = xp.cumulative_sum(right_weights, axis=-1, dtype=kind)
        met = (weights - right_weights) * below
        count = count + xp.sum(xp.reshape(met, (n_rows, -1)), axis=-1, dtype=xp.int64)
        keys = merged - right
        width *= 2
    keys = xp.reshape(keys, (n_rows, n_pad))
    weights = xp.astype(xp.bitwise_and(keys, side - 1), xp.int64)
    return count, _sorted_tied_pairs(keys // (2 * side), weights, 0, xp)


@dataclass
class _DataOrder:
    """A fixed data RDM for the noise ceiling: its entries in ascending order, its tie
    groups, and its tied pairs (first, second; None when too many: sort instead)."""

    order: np.ndarray
    dense_sorted: np.ndarray
    ties: _TieGroups
    tied_pairs: tuple[np.ndarray, np.ndarray] | None


def _data_order(values: np.ndarray) -> _DataOrder:
    dense = _dense(values)
    order = np.argsort(dense, kind="stable")
    ties = _tie_groups(dense)
    sizes = np.diff(np.concatenate([[0], ties.ends]))
    tied_pairs = None
    if int(np.sum(sizes * (sizes - 1) // 2)) <= _TIED_PAIRS_PER_ENTRY * values.shape[0]:
        first, second = [], []
        for begin, size in zip(ties.ends - sizes, sizes, strict=True):
            i, j = np.triu_indices(int(size), 1)
            group = ties.members[begin : begin + size]
            first.append(group[i])
            second.append(group[j])
        tied_pairs = (
            np.concatenate(first or [[]]).astype(np.int64),
            np.concatenate(second or [[]]).astype(np.int64),
        )
    return _DataOrder(order, dense[order], ties, tied_pairs)


def _kendall_pooled(
    pooled: Any, data: list[_DataOrder], W: Any, method: str, xp: Any, paired: bool
) -> Any:
    """Kendall tau of each fixed data RDM with pooled RDMs on weighted pairs: pooled
    (R, k, P) non-negative integers (the pooled RDMs up to a positive factor per row),
    k = n_data (``paired``: the s-th with data RDM s) or 1 (with every data RDM), W (R, P)
    float64 pair weights -> (R, n_data).

    Entries in data order (fixed), ties in the data broken by the pooled value through
    the tied pairs themselves (or a sort where there are many); the discordant pairs are
    the weighted inversions of the pooled values in that order.
    """
    R, P = W.shape
    n_data = len(data)
    dev = array_device(W)
    n_kept = xp.sum(W, axis=-1)
    n_all = (n_kept * (n_kept - 1) / 2)[:, None]
    base = xp.sum(W * (W - 1), axis=-1) / 2
    Wt = xp.matrix_transpose(W)
    ties_x = xp.stack([_weighted_tie_pairs(Wt, fixed.ties, base, xp) for fixed in data], axis=1)
    few_ties = all(fixed.tied_pairs is not None for fixed in data)
    compiled = None
    if few_ties and isinstance(pooled, np.ndarray):
        orders = np.stack([fixed.order for fixed in data])
        compiled = inversions_in_orders(pooled, W.astype(np.int64), orders, paired)
    if compiled is not None:
        joint, wrong = _tied_pair_terms(pooled, W, data, base, xp, paired)
        discordant, tied = (xp.astype(count, xp.float64) for count in compiled)
        return _kendall_from_counts(
            n_all, ties_x, joint, discordant - wrong, base[:, None] + tied, method, xp
        )
    z, w, first = _weighted_in_data_order(pooled, W, data, xp)
    if not few_ties:  # many ties: sort by (data, pooled)
        ranks = xp.asarray(np.concatenate([fixed.dense_sorted for fixed in data]), device=dev)
        slots = first + xp.asarray(np.arange(n_data) * P, device=dev)[None, :, None]
        ranks = xp.reshape(xp.take(ranks, xp.reshape(slots, (-1,))), tuple(z.shape))
        key = ranks * (xp.max(z) + 1) + z
        by_key = xp.argsort(key, axis=-1, stable=True)
        z, w = xp.take_along_axis(z, by_key, axis=-1), xp.take_along_axis(w, by_key, axis=-1)
        key = xp.take_along_axis(key, by_key, axis=-1)
        joint = _sorted_tied_pairs(key, w, base[:, None], xp)
        wrong = xp.zeros_like(joint)
    else:  # the few tied pairs one by one
        joint, wrong = _tied_pair_terms(pooled, W, data, base, xp, paired)
    z, w = xp.reshape(z, (R * n_data, -1)), xp.reshape(w, (R * n_data, -1))
    rows = _INVERSION_ROWS  # a few rows at a time: their arrays stay in cache
    parts = [
        _weighted_inversions(z[begin : begin + rows], w[begin : begin + rows], xp)
        for begin in range(0, z.shape[0], rows)
    ]
    discordant, tied = (
        xp.reshape(xp.astype(xp.concat([part[i] for part in parts]), xp.float64), (R, n_data))
        for i in (0, 1)
    )
    # ties in the data are in data order, not pooled order: their pairs in the wrong
    # pooled order are not discordant (pair path)
    return _kendall_from_counts(
        n_all, ties_x, joint, discordant - wrong, base[:, None] + tied, method, xp
    )


def _kendall_from_counts(
    n_all: Any, ties_x: Any, joint: Any, discordant: Any, ties_y: Any, method: str, xp: Any
) -> Any:
    """Kendall tau from weighted pair counts (scipy's formula), clipped to [-1, 1]."""
    difference = n_all - ties_x - ties_y + joint - 2 * discordant
    if method == "kendall_tau_a":
        tau = difference / n_all
    else:
        tau = _safe_ratio(difference, xp.sqrt((n_all - ties_x) * (n_all - ties_y)), xp)
    return xp.clip(tau, min=-1.0, max=1.0)


def _weighted_in_data_order(
    pooled: Any, W: Any, data: list[_DataOrder], xp: Any
) -> tuple[Any, Any, Any]:
    """The pooled values and weights of the pairs of weight > 0, in the order of each
    data RDM: (R, n_data, m) int64 each, padded with weight-0 entries to the longest
    resample (a resample draws about 63% of the stimuli, so about 40% of the pairs, which
    the inversion count then handles alone), and their positions in data order.
    pooled (R, k, P) with k = n_data or 1 (shared by every data RDM)."""
    R, P = W.shape
    n_data, k = len(data), pooled.shape[1]
    dev = array_device(W)
    orders = xp.asarray(np.concatenate([fixed.order for fixed in data]), device=dev)
    first = _kept_pairs(xp.reshape(xp.take(W, orders, axis=-1), (R, n_data, P)), xp)
    slots = first + xp.asarray(np.arange(n_data) * P, device=dev)[None, :, None]
    pairs = xp.reshape(xp.take(orders, xp.reshape(slots, (-1,))), tuple(first.shape))
    resample = xp.arange(R, dtype=pairs.dtype, device=dev)[:, None, None]
    row = resample * k + (xp.arange(n_data, dtype=pairs.dtype, device=dev)[:, None] if k > 1 else 0)
    z = xp.take(xp.reshape(pooled, (-1,)), xp.reshape(row * P + pairs, (-1,)))
    w = xp.take(xp.reshape(W, (-1,)), xp.reshape(resample * P + pairs, (-1,)))
    shape = tuple(first.shape)
    return xp.reshape(z, shape), xp.astype(xp.reshape(w, shape), xp.int64), first


def _tied_pair_terms(
    pooled: Any, W: Any, data: list[_DataOrder], base: Any, xp: Any, paired: bool
) -> tuple[Any, Any]:
    """Over the tied pairs of each data RDM: weighted pairs tied in the pooled RDM too
    (plus ``base``) and those in descending pooled order, each (R, n_data)."""
    dev = array_device(W)
    joint, wrong = [], []
    for s, fixed in enumerate(data):
        first, second = (xp.asarray(i, device=dev) for i in fixed.tied_pairs)
        row = pooled[:, s if paired else 0, :]
        z1, z2 = xp.take(row, first, axis=-1), xp.take(row, second, axis=-1)
        pair_w = xp.take(W, first, axis=-1) * xp.take(W, second, axis=-1)
        zero = xp.zeros_like(pair_w)
        joint.append(base + xp.sum(xp.where(z1 == z2, pair_w, zero), axis=-1))
        wrong.append(xp.sum(xp.where(z1 > z2, pair_w, zero), axis=-1))
    return xp.stack(joint, axis=1), xp.stack(wrong, axis=1)


def _sorted_tied_pairs(key: Any, w: Any, base: Any, xp: Any) -> Any:
    """Weighted pairs of equal ``key`` in rows sorted by it (rows, n), plus ``base``."""
    opens, _ = _group_edges(key, xp)
    upto = xp.cumulative_sum(w, axis=-1)
    before_group = _cummax(xp.where(opens, upto - w, xp.zeros_like(upto)))
    return base + xp.sum(w * (upto - w - before_group), axis=-1)


# ----------------------------------------------------------------------------- batches


@dataclass
class _Batch:
    """One batch of resamples: pair weights (R, P), their sums (R,), and for the Kendall
    taus the data RDMs in order (:func:`_data_order`)."""

    weights: Any
    n_pairs: Any
    data_orders: list[_DataOrder] | None = None


def _usable(stimuli: np.ndarray, n_cond: int) -> np.ndarray:
    """The drawn stimuli, with every stimulus once in the resamples of fewer than 3
    distinct ones: those are NaN in the end (as in rsatoolbox), computed meanwhile."""
    few = (_counts(stimuli, n_cond) > 0).sum(axis=1) < 3
    return np.where(few[:, None], np.arange(n_cond), stimuli)


def _make_batch(stimuli: np.ndarray | None, n_rows: int, n_cond: int, like: Any, xp: Any) -> _Batch:
    rows, cols = np.triu_indices(n_cond, 1)
    if stimuli is None:
        weights = np.ones((n_rows, rows.size))
    else:
        counts = _counts(_usable(stimuli, n_cond), n_cond).astype(np.float64)
        weights = counts[:, rows] * counts[:, cols]
    dev = array_device(like)
    return _Batch(
        weights=xp.asarray(weights, dtype=like.dtype, device=dev),
        n_pairs=xp.asarray(weights.sum(axis=1), dtype=like.dtype, device=dev),
    )


def _similarity(
    X: Any, Y: Any, batch: _Batch, method: str, xp: Any, paired: bool, prepared_y: Any = None
) -> Any:
    """Similarity of resampled RDMs (not Kendall): X (a, P) or (R, a, P) with Y (b, P) or
    (R, b, P). ``prepared_y``: ``_prepare(Y, ...)`` if already computed for this batch."""
    W, n = batch.weights, batch.n_pairs
    if prepared_y is None:
        prepared_y = _prepare(Y, W, n, method, xp)
    return _weighted_cosine(_prepare(X, W, n, method, xp), prepared_y, W, xp, paired)


def _kept_pairs(W: Any, xp: Any) -> Any:
    """(..., m) the positions of weight > 0 of each row of W (..., P), in order, padded
    with positions of weight 0 to the longest row (a resample draws about 63% of the
    stimuli, so about 40% of the pairs)."""
    longest = int(xp.max(xp.sum(xp.astype(W > 0, xp.int64), axis=-1)))
    # a stable sort of 0/1 keys: the kept pairs first, in order (numpy: a radix sort)
    return xp.argsort(xp.astype(W == 0, xp.int8), axis=-1, stable=True)[..., :longest]


def _spearman_noise_ceiling(ranks: Any, subject_weights: Any, batch: _Batch, xp: Any) -> Any:
    """(R, 2) Spearman noise-ceiling bounds of each resample, from the data RDMs'
    weighted ranks ``ranks`` (R, n_data, P).

    The pooled RDMs are means of ranks: their order is that of twice the (weighted) sums
    of ranks, exact integers, so they are ranked by an integer sort
    (:func:`_integer_weighted_ranks`) over the pairs of weight > 0 only.
    """
    R, P = batch.weights.shape
    kept = _kept_pairs(batch.weights, xp)
    flat = _flat_index(kept, P, xp)
    W = xp.reshape(xp.take(xp.reshape(batch.weights, (-1,)), flat), tuple(kept.shape))
    n_data = ranks.shape[1]
    by_data = xp.reshape(
        xp.arange(n_data, dtype=kept.dtype, device=array_device(kept)) * P, (1, -1, 1)
    )
    rows = (xp.reshape(kept, (R, 1, -1)) + by_data) + xp.reshape(
        xp.arange(R, dtype=kept.dtype, device=array_device(kept)) * (n_data * P), (-1, 1, 1)
    )
    data = xp.reshape(xp.take(xp.reshape(ranks, (-1,)), xp.reshape(rows, (-1,))), tuple(rows.shape))
    S = subject_weights[:, :, None]
    twice = xp.astype(xp.round(2 * data), xp.int64) * xp.astype(S, xp.int64)
    total = xp.sum(twice, axis=1, keepdims=True)
    several = xp.sum(xp.astype(subject_weights > 0, xp.int64), axis=1)[:, None, None] > 1
    others = xp.where(several, total - twice, total)
    pooled = _integer_weighted_ranks(xp.concat([others, total], axis=1), W, xp)
    n = xp.sum(W, axis=-1)[:, None, None]
    centred_data = _weighted_center(data, W[:, None, :], n, xp)
    centred_pooled = _weighted_center(pooled, W[:, None, :], n, xp)
    lower = _weighted_cosine(centred_pooled[:, :n_data], centred_data, W, xp, paired=True)
    upper = _weighted_cosine(centred_pooled[:, n_data:], centred_data, W, xp, paired=False)
    return _mean_over_drawn(lower, upper[:, 0, :], subject_weights, xp)


def _mean_over_drawn(lower: Any, upper: Any, subject_weights: Any, xp: Any) -> Any:
    """(R, 2): the bounds (R, n_data) averaged over the distinct drawn subjects."""
    drawn = xp.astype(subject_weights > 0, lower.dtype)
    n_distinct = xp.sum(drawn, axis=1)
    bounds = [
        xp.sum(xp.where(drawn > 0, b, xp.zeros_like(b)), axis=1) / n_distinct
        for b in (lower, upper)
    ]
    return xp.stack(bounds, axis=1)


def _noise_ceiling(
    data: Any, prepared: Any, subject_weights: Any, batch: _Batch, method: str, xp: Any
) -> Any:
    """(R, 2) lower and upper noise-ceiling bound of each resample (boot_noise_ceiling).

    ``prepared``: ``_prepare(data, ...)`` of this batch, or None (Kendall).
    """
    transformed = _pool_transform(data, batch.weights, batch.n_pairs, method, xp)
    S = subject_weights[:, :, None]
    n_drawn = xp.sum(subject_weights, axis=1)[:, None, None]
    total = xp.sum(transformed * S, axis=1, keepdims=True)
    pooled_all = total / n_drawn
    others_n = n_drawn - S
    several = xp.sum(xp.astype(subject_weights > 0, data.dtype), axis=1)[:, None, None] > 1
    safe_n = xp.where(others_n > 0, others_n, xp.ones_like(others_n))
    pooled_others = xp.where(several, (total - transformed * S) / safe_n, pooled_all)
    if method.startswith("kendall"):
        # twice the sums of (half-integer) ranks: the pooled RDMs as exact integers
        all_key = xp.astype(xp.round(2 * total), xp.int64)
        others_key = xp.astype(xp.round(2 * (total - transformed * S)), xp.int64)
        others_key = xp.where(several, others_key, all_key)
        orders, W = batch.data_orders, batch.weights
        lower = _kendall_pooled(others_key, orders, W, method, xp, paired=True)
        upper = _kendall_pooled(all_key, orders, W, method, xp, paired=False)
    else:
        lower = _similarity(pooled_others, data, batch, method, xp, True, prepared)
        upper = _similarity(pooled_all, data, batch, method, xp, False, prepared)[:, 0, :]
    return _mean_over_drawn(lower, upper, subject_weights, xp)


def _batch_size(n_models: int, n_data: int, n_pairs: int, method: str) -> int:
    """Resamples per batch: a few rows per RDM (models, data, pooled RDMs)."""
    if method.startswith("kendall"):  # the pooled RDMs' rows (model rows: _fixed_kendall)
        return max(1, _KENDALL_BATCH // (n_pairs * 2 * n_data))
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
    n_jobs: int = 1,
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
    n_jobs : int
        Threads for batches of resamples on the CPU (-1: every core); ignored on a GPU.
        The numbers do not depend on it.

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
    on_gpu = is_torch_array(data) and data.device.type != "cpu"
    n_threads = 1 if on_gpu else resolve_n_jobs(n_jobs)
    distribution, ceilings = _bootstrap(
        models, data, stimuli, subject_counts, method, noise_ceiling, xp, n_threads
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
    n_threads: int,
) -> tuple[Any, Any | None]:
    """(n_resamples, n_models) evaluations and (n_resamples, 2) noise ceilings, in batches
    (on ``n_threads`` threads)."""
    n_rows, n_subjects = subject_counts.shape
    n_cond = _n_conditions(data.shape[1])
    dev = array_device(data)
    step = _batch_size(models.shape[0], n_subjects, data.shape[1], method)
    fixed = None
    if stimuli is None:  # only subjects: the model-data similarities never change
        fixed = compare_rdms(models, data, method)[None, :, :]
    elif method.startswith("kendall"):  # fixed RDMs, weighted pairs: all resamples at once
        counts = _counts(_usable(stimuli, n_cond), n_cond)
        fixed = _fixed_kendall(models, data, counts, method, xp, n_threads)
    orders = None
    if method.startswith("kendall") and noise_ceiling:
        orders = [_data_order(rdm) for rdm in to_numpy(data)]

    def one_batch(begin: int) -> tuple[Any, Any]:
        end = min(begin + step, n_rows)
        part = None if stimuli is None else stimuli[begin:end]
        counts = xp.asarray(subject_counts[begin:end], dtype=data.dtype, device=dev)
        batch = _make_batch(part, end - begin, n_cond, data, xp)
        batch.data_orders = orders
        prepared = ranks = None
        if method == "spearman":  # the data's ranks: centred here, pooled in the ceiling
            ranks = _weighted_ranks(data, batch.weights, xp)
            prepared = _weighted_center(
                ranks, batch.weights[:, None, :], batch.n_pairs[:, None, None], xp
            )
        elif not method.startswith("kendall") and (fixed is None or noise_ceiling):
            prepared = _prepare(data, batch.weights, batch.n_pairs, method, xp)
        if fixed is None:
            sims = _similarity(models, data, batch, method, xp, False, prepared)
        else:
            sims = fixed if fixed.shape[0] == 1 else fixed[begin:end]
        evaluation = xp.sum(sims * counts[:, None, :], axis=-1) / n_subjects
        if noise_ceiling and method == "spearman":
            return evaluation, _spearman_noise_ceiling(ranks, counts, batch, xp)
        if noise_ceiling:
            return evaluation, _noise_ceiling(data, prepared, counts, batch, method, xp)
        return evaluation, None

    parts = thread_map(one_batch, range(0, n_rows, step), n_threads)
    distribution = xp.concat([part[0] for part in parts], axis=0)
    ceiling = xp.concat([part[1] for part in parts], axis=0) if noise_ceiling else None
    if stimuli is not None:  # fewer than 3 distinct stimuli: NaN, as rsatoolbox
        distinct = (_counts(stimuli, n_cond) > 0).sum(axis=1)
        few = xp.asarray(distinct < 3, device=dev)[:, None]
        distribution = xp.where(few, xp.nan, distribution)
        ceiling = None if ceiling is None else xp.where(few, xp.nan, ceiling)
    return distribution, ceiling
