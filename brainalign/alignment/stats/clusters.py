"""Cluster-based permutation tests (one sample, sign flips) over time and time x sensors.

:func:`cluster_permutation_1samp` gives the numbers of
:func:`mne.stats.permutation_cluster_1samp_test` (Maris & Oostenveld 2007, *J.
Neurosci. Methods* 164:177-190) for the same data and seed: the same t statistic, the
same default threshold, the same cluster definition and order, the same sign-flip
orders (the exact enumeration when the observations are few, MNE's random draws
otherwise) and the same p-values. What differs is the speed: the t statistics of a
batch of sign flips are one matrix product, and the clusters of a batch of flips are
found by one connected-components pass over a graph holding every flip of the batch.

Definitions (as MNE's):

- statistic: the one-sample t of each test (time point, or time x sensor),
  ``mean / sqrt(var(ddof=1) / n)``;
- threshold (default): ``t.ppf(1 - 0.05 / (1 + (tail == 0)), n - 1)``, negated for
  ``tail=-1``;
- cluster: a connected set of tests beyond the threshold with the same sign; tests are
  connected when neighbouring in time (one sample apart) or, with ``adjacency``, when
  the sensors are adjacent at the same time point; its statistic is the sum of its t
  values;
- null: for each sign flip the cluster statistic with the largest magnitude (0 when
  the flip has no cluster), with the observed maximum as the first entry of ``H0``;
- p-value of a cluster: the share of ``H0`` at least as extreme (``H0 >= s``, ``H0 <=
  s`` or ``|H0| >= |s|`` for ``tail`` 1, -1, 0).

Part of :mod:`brainalign.alignment.stats`. numpy in, numpy out (the clustering is a
graph search on the CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_int
from brainalign.alignment.stats._common import Seed, _check_finite, _rng

__all__ = ["ClusterResult", "cluster_permutation_1samp", "ttest_1samp"]

#: Floats per batch of permuted statistics (about 64 MB in float64).
_PERM_BATCH_FLOATS = 2**23


@dataclass(frozen=True)
class ClusterResult:
    """Result of :func:`cluster_permutation_1samp`; unpacks as MNE's 4-tuple.

    Attributes
    ----------
    t_obs : numpy.ndarray, shape (n_times,) or (n_times, n_channels)
        The statistic of each test on the data as given.
    clusters : list of tuple of numpy.ndarray
        One entry per cluster: the indices of its tests along each axis of ``t_obs``
        (``(time_indices,)`` or ``(time_indices, channel_indices)``), positive
        clusters first, each direction ordered by the cluster's first test.
    cluster_p_values : numpy.ndarray, shape (n_clusters,)
    H0 : numpy.ndarray, shape (n_permutations,)
        The observed maximum cluster statistic followed by the maximum of each sign
        flip (signed).
    threshold : float
    n_permutations : int
        ``len(H0)`` (the flips plus the identity).
    exact : bool
        Whether every sign flip was enumerated.
    """

    t_obs: np.ndarray
    clusters: list[tuple[np.ndarray, ...]]
    cluster_p_values: np.ndarray
    H0: np.ndarray
    threshold: float
    n_permutations: int
    exact: bool

    def __iter__(self):  # noqa: D105 - unpack as (t_obs, clusters, cluster_p_values, H0)
        return iter((self.t_obs, self.clusters, self.cluster_p_values, self.H0))


def ttest_1samp(X: ArrayLike) -> np.ndarray:
    """One-sample t statistic per column, as :func:`mne.stats.ttest_1samp_no_p`.

    Parameters
    ----------
    X : array-like, shape (n_observations, n_tests)

    Returns
    -------
    t : numpy.ndarray, shape (n_tests,)
        ``mean / sqrt(var(ddof=1) / n)``.
    """
    X = np.asarray(X, dtype=np.float64)
    return np.mean(X, axis=0) / np.sqrt(np.var(X, axis=0, ddof=1) / X.shape[0])


def cluster_permutation_1samp(
    X: ArrayLike,
    threshold: float | None = None,
    n_permutations: int | str = 1024,
    tail: int = 0,
    adjacency: Any = None,
    seed: Seed | None = 0,
    stat_fun: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ClusterResult:
    """Cluster-based one-sample permutation test over time, or over time x sensors.

    Equal to ``mne.stats.permutation_cluster_1samp_test(X, threshold, n_permutations,
    tail, adjacency=adjacency, rng=seed)`` (same ``t_obs``, clusters in the same order,
    same ``H0`` and p-values); see the module docstring for the definitions.

    Parameters
    ----------
    X : array-like, shape (n_observations, n_times) or (n_observations, n_times, n_channels)
        One row per subject (or epoch): e.g. decoding scores minus chance, or
        condition differences. Finite values.
    threshold : float, optional
        Cluster-forming threshold on the statistic; default from the t distribution
        at p < 0.05 (two-sided for ``tail=0``). Positive for ``tail`` 0 and 1,
        negative for ``tail=-1``.
    n_permutations : int or "all", default 1024
        Number of entries of ``H0`` (the identity plus ``n_permutations - 1`` sign
        flips). When it is at least the number of distinct flips
        (``2 ** (n_observations - (tail == 0)) - 1``), or ``"all"``, every flip is
        enumerated (an exact test) and ``seed`` is not used.
    tail : {0, 1, -1}, default 0
        Two-sided, upper or lower tail.
    adjacency : scipy.sparse matrix, shape (n_channels, n_channels), optional
        Sensor adjacency (e.g. from :func:`mne.channels.find_ch_adjacency`), applied at
        every time point of 3-D ``X``; or an adjacency of all ``n_times * n_channels``
        tests. ``None``: neighbours on the grid (time, and channel index for 3-D
        ``X``), as MNE.
    seed : int or numpy.random.Generator, default 0
        Seeds :func:`numpy.random.default_rng` (MNE's ``rng=``).
    stat_fun : callable, optional
        ``stat_fun(X_flipped) -> (n_tests,)`` on the (n_observations, n_tests) data;
        default :func:`ttest_1samp` (computed for a batch of flips at once). A custom
        function is called once per flip.

    Returns
    -------
    ClusterResult
        Unpacks as ``t_obs, clusters, cluster_p_values, H0``. With no cluster in the
        data, ``clusters``, ``cluster_p_values`` and ``H0`` are empty (as MNE).

    Raises
    ------
    ValueError
        For X of the wrong shape or with NaN/inf, fewer than 2 observations, a tail or
        threshold of the wrong sign, or an adjacency of the wrong size or kind.

    Notes
    -----
    Not supported (MNE options): ``t_power`` other than 1, ``step_down_p``,
    ``exclude``, threshold-free cluster enhancement, ``max_step`` other than 1.
    """
    data, sample_shape = _check_data(X)
    tail = _check_tail(tail)
    n_obs = data.shape[0]
    threshold = _check_threshold(threshold, tail, n_obs)
    graph = _test_graph(sample_shape, adjacency)
    flip_stats = _flip_statistics(data, stat_fun)

    t_obs = ttest_1samp(data) if stat_fun is None else _call_stat(stat_fun, data)
    labels, sums = _clusters_of_batch(t_obs[None, :], threshold, tail, graph)
    orders, exact = _sign_flip_orders(n_obs, n_permutations, tail, _rng_of(seed))
    t_obs_out = t_obs.reshape(sample_shape)
    if sums.size == 0:
        empty = np.array([])
        return ClusterResult(t_obs_out, [], empty, empty, threshold, 0, exact)

    clusters = [
        np.unravel_index(np.flatnonzero(labels[0] == k), sample_shape) for k in range(sums.size)
    ]
    null = _null_maxima(flip_stats, orders, threshold, tail, graph, t_obs.size)
    observed_max = {1: sums.max(), -1: sums.min(), 0: np.abs(sums).max()}[tail]
    H0 = np.concatenate([[observed_max], null])
    p_values = _p_values(sums, H0, tail)
    return ClusterResult(t_obs_out, clusters, p_values, H0, threshold, H0.size, exact)


# --------------------------------------------------------------------------- checks
def _check_data(X: ArrayLike) -> tuple[np.ndarray, tuple[int, ...]]:
    data = np.asarray(X, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise ValueError(
            "X must have shape (n_observations, n_times) or (n_observations, n_times, "
            f"n_channels); got shape {data.shape}."
        )
    if data.shape[0] < 2:
        raise ValueError(f"X needs at least 2 observations (rows); got {data.shape[0]}.")
    _check_finite("X", data, np)
    return data.reshape(data.shape[0], -1), data.shape[1:]


def _check_tail(tail: object) -> int:
    if tail not in (-1, 0, 1) or isinstance(tail, bool):
        raise ValueError(f"tail={tail!r}; use 0 (two-sided), 1 (upper) or -1 (lower).")
    return int(tail)  # type: ignore[call-overload]


def _check_threshold(threshold: float | None, tail: int, n_obs: int) -> float:
    """MNE's default threshold, or the given one checked against ``tail``."""
    if threshold is None:
        from scipy.stats import t as t_dist

        value = -float(t_dist.ppf(0.05 / (1 + (tail == 0)), n_obs - 1))
        return -value if tail < 0 else value
    value = float(threshold)
    if not np.isfinite(value) or (tail < 0 < value) or (tail >= 0 > value):
        raise ValueError(
            f"threshold={threshold!r} does not fit tail={tail}: use a positive threshold "
            "for tail 0 or 1 and a negative one for tail -1."
        )
    return value


def _rng_of(seed: Seed | None) -> np.random.Generator:
    return np.random.default_rng() if seed is None else _rng(seed)


def _call_stat(stat_fun: Callable[[np.ndarray], np.ndarray], data: np.ndarray) -> np.ndarray:
    out = np.asarray(stat_fun(data), dtype=np.float64).reshape(-1)
    if out.size != data.shape[1]:
        raise ValueError(
            f"stat_fun returned {out.size} values for {data.shape[1]} tests; it must "
            "return one statistic per column of its (n_observations, n_tests) input."
        )
    return out


# --------------------------------------------------------------------------- graph
def _test_graph(sample_shape: tuple[int, ...], adjacency: Any) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(rows, cols)`` (both directions) between neighbouring tests, flat indices."""
    from scipy import sparse

    n_tests = int(np.prod(sample_shape))
    if adjacency is None:
        return _lattice_edges(sample_shape)
    if not sparse.issparse(adjacency):
        raise ValueError(
            f"adjacency must be a scipy sparse matrix (n_channels x n_channels, e.g. from "
            f"mne.channels.find_ch_adjacency); got {type(adjacency).__name__}."
        )
    size = adjacency.shape[0]
    if adjacency.shape != (size, size):
        raise ValueError(f"adjacency must be square; got shape {adjacency.shape}.")
    adjacency = sparse.coo_array(adjacency + adjacency.T)
    keep = adjacency.row != adjacency.col
    rows, cols = adjacency.row[keep], adjacency.col[keep]
    if size == n_tests:
        return rows.astype(np.intp), cols.astype(np.intp)
    n_times = sample_shape[0]
    if len(sample_shape) != 2 or size != sample_shape[1]:
        raise ValueError(
            f"adjacency has {size} rows but X has tests of shape {sample_shape}: give an "
            "(n_channels x n_channels) adjacency with X of shape (n_observations, "
            "n_times, n_channels), channels in the adjacency's order, or an adjacency of "
            f"all {n_tests} tests."
        )
    offsets = np.arange(n_times)[:, None] * size
    space_r, space_c = (rows[None, :] + offsets).ravel(), (cols[None, :] + offsets).ravel()
    earlier = np.arange((n_times - 1) * size)
    time_r = np.concatenate([earlier, earlier + size])
    time_c = np.concatenate([earlier + size, earlier])
    return np.concatenate([space_r, time_r]), np.concatenate([space_c, time_c])


def _lattice_edges(sample_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours one step apart along each axis (``scipy.ndimage.label``'s default)."""
    index = np.arange(int(np.prod(sample_shape))).reshape(sample_shape)
    rows, cols = [], []
    for axis in range(len(sample_shape)):
        lo = np.take(index, np.arange(sample_shape[axis] - 1), axis=axis).ravel()
        hi = np.take(index, np.arange(1, sample_shape[axis]), axis=axis).ravel()
        rows += [lo, hi]
        cols += [hi, lo]
    return np.concatenate(rows), np.concatenate(cols)


# --------------------------------------------------------------------------- clusters
def _clusters_of_batch(
    stats: np.ndarray, threshold: float, tail: int, graph: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of each row of ``stats`` (n_batch, n_tests), all rows in one graph search.

    Returns
    -------
    labels : numpy.ndarray of int, shape (n_batch, n_tests)
        Cluster number of each test, -1 outside clusters. Numbered as MNE orders
        them: per row, positive clusters before negative ones, each by first test.
    sums : numpy.ndarray, shape (n_clusters,)
        Sum of the statistic over each cluster, in label order.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n_batch, n_tests = stats.shape
    # direction: 0 positive, 1 negative; -1 not beyond the threshold
    direction = np.full(stats.shape, -1, dtype=np.int8)
    if tail >= 0:
        direction[stats > threshold] = 0
    if tail == 0:
        direction[stats < -threshold] = 1
    if tail < 0:
        direction[stats < threshold] = 1
    labels = np.full(stats.shape, -1, dtype=np.intp)
    active = np.flatnonzero(direction.ravel() >= 0)
    if active.size == 0:
        return labels, np.array([])
    rows, cols = graph
    same = (direction[:, rows] >= 0) & (direction[:, rows] == direction[:, cols])
    batch_idx, edge_idx = np.nonzero(same)
    base = batch_idx * n_tests
    remap = np.full(n_batch * n_tests, -1, dtype=np.intp)
    remap[active] = np.arange(active.size)
    edge_r, edge_c = remap[base + rows[edge_idx]], remap[base + cols[edge_idx]]
    graph_m = sparse.coo_array(
        (np.ones(edge_r.size), (edge_r, edge_c)), shape=(active.size, active.size)
    )
    _, comp = connected_components(graph_m, directed=False)
    # order components by (row, direction, first test), MNE's order
    batch_of, test_of = np.divmod(active, n_tests)
    key = (batch_of * 2 + direction.ravel()[active]) * n_tests + test_of
    first = np.full(comp.max() + 1, np.iinfo(np.intp).max, dtype=np.intp)
    np.minimum.at(first, comp, key)
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    labels.ravel()[active] = rank[comp]
    sums = np.bincount(rank[comp], weights=stats.ravel()[active], minlength=first.size)
    return labels, sums


def _batch_maxima(labels: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Per row of ``labels``, the cluster sum of largest magnitude (signed); 0 if none."""
    n_batch = labels.shape[0]
    out = np.zeros(n_batch)
    if sums.size == 0:
        return out
    row_of = np.zeros(sums.size, dtype=np.intp)
    clustered = labels >= 0
    row_of[labels[clustered]] = np.nonzero(clustered)[0]
    best = np.full(n_batch, -1.0)
    np.maximum.at(best, row_of, np.abs(sums))
    # the first cluster (in MNE's order) reaching the maximum magnitude, as np.argmax
    hit = np.abs(sums) == best[row_of]
    chosen = np.full(n_batch, -1, dtype=np.intp)
    first_hit = np.flatnonzero(hit)[::-1]
    chosen[row_of[first_hit]] = first_hit
    has = chosen >= 0
    out[has] = sums[chosen[has]]
    return out


# --------------------------------------------------------------------------- permutations
def _sign_flip_orders(
    n_obs: int, n_permutations: int | str, tail: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """The 0/1 orders of MNE's ``_get_1samp_orders`` (sign ``2 * order - 1``)."""
    max_perms = 2 ** (n_obs - (tail == 0)) - 1
    if isinstance(n_permutations, str):
        if n_permutations != "all":
            raise ValueError(f'n_permutations={n_permutations!r}; use an int or "all".')
        n_permutations = max_perms
    n_perm = check_int("n_permutations", n_permutations, minimum=1)
    if max_perms < n_perm:
        codes = np.arange(1, max_perms + 1)
        return _binary_rows(codes, n_obs), True
    if n_obs <= 20:
        codes = rng.choice(max_perms, n_perm - 1, replace=False) + 1
        return _binary_rows(np.asarray(codes), n_obs), False
    orders = np.zeros((n_perm - 1, n_obs), dtype=np.int64)
    seen: set[tuple[int, ...]] = set()
    use = n_obs - (tail == 0)
    i = 0
    while i < n_perm - 1:
        signs = tuple((rng.uniform(size=use) < 0.5).astype(int))
        if signs not in seen:
            orders[i, :use] = signs
            if tail == 0 and rng.uniform() < 0.5:
                orders[i] = 1 - orders[i]
            seen.add(signs)
            i += 1
    return orders, False


def _binary_rows(codes: np.ndarray, n_bits: int) -> np.ndarray:
    """Each code as its ``n_bits`` binary digits, most significant first."""
    shifts = np.arange(n_bits - 1, -1, -1, dtype=np.int64)
    return (codes.astype(np.int64)[:, None] >> shifts) & 1


def _flip_statistics(
    data: np.ndarray, stat_fun: Callable[[np.ndarray], np.ndarray] | None
) -> Callable[[np.ndarray], np.ndarray]:
    """A function of signs (n_flips, n_obs) giving statistics (n_flips, n_tests)."""
    if stat_fun is not None:
        return lambda signs: np.stack([_call_stat(stat_fun, data * s[:, None]) for s in signs])
    n = data.shape[0]
    sum_sq = np.sum(data**2, axis=0)
    scale = np.sqrt(n * (n - 1))

    def t_values(signs: np.ndarray) -> np.ndarray:
        mean = (signs @ data) / n
        denom_sq = np.maximum(sum_sq - n * mean * mean, 0.0)
        ok = denom_sq > 0
        return np.where(ok, mean / np.sqrt(np.where(ok, denom_sq, 1.0)) * scale, 0.0)

    return t_values


def _null_maxima(
    flip_stats: Callable[[np.ndarray], np.ndarray],
    orders: np.ndarray,
    threshold: float,
    tail: int,
    graph: tuple[np.ndarray, np.ndarray],
    n_tests: int,
) -> np.ndarray:
    """Maximum cluster statistic of each sign flip, shape (n_flips,)."""
    batch = max(1, _PERM_BATCH_FLOATS // max(n_tests, graph[0].size))
    out = []
    for start in range(0, len(orders), batch):
        signs = 2.0 * orders[start : start + batch] - 1.0
        labels, sums = _clusters_of_batch(flip_stats(signs), threshold, tail, graph)
        out.append(_batch_maxima(labels, sums))
    return np.concatenate(out) if out else np.array([])


def _p_values(sums: np.ndarray, H0: np.ndarray, tail: int) -> np.ndarray:
    """MNE's ``_pval_from_histogram``: share of ``H0`` at least as extreme."""
    if tail == -1:
        return np.mean(H0[None, :] <= sums[:, None], axis=1)
    if tail == 1:
        return np.mean(H0[None, :] >= sums[:, None], axis=1)
    return np.mean(np.abs(H0)[None, :] >= np.abs(sums)[:, None], axis=1)
