"""Compiled kernels (numba, optional) for the few loops arrays do poorly.

Each kernel here has an array twin that runs on every backend (numpy, torch, CPU or GPU)
and gives the same numbers; the tests check the two against each other and against brute
force. A kernel is used for numpy arrays when numba is installed (``pip install
brainalign[fast]``) and ``BRAINALIGN_NUMBA`` is not ``0``; otherwise the twin runs.
Kernels release the GIL, so the callers' threads (``n_jobs``) run them in parallel.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

#: Entries per run sorted by insertion before the merges of the inversion count.
_RUN = 8


@cache
def _kernels() -> dict[str, Any] | None:
    """The compiled kernels, or None without numba (compiled once, cached on disk)."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, cache=True)
    def count_in_place(keys, weights, n, keys_out, weights_out):  # pragma: no cover
        """(discordant, tied) weighted pairs of keys[:n] (all four arrays are scratch)."""
        count = 0
        for low in range(0, n, _RUN):  # runs of _RUN sorted by insertion: each entry
            for t in range(low + 1, min(low + _RUN, n)):  # meets the larger before it
                key, weight = keys[t], weights[t]
                u, passed = t - 1, 0
                while u >= low and keys[u] > key:
                    keys[u + 1], weights[u + 1] = keys[u], weights[u]
                    passed += weights[u]
                    u -= 1
                keys[u + 1], weights[u + 1] = key, weight
                count += weight * passed
        width = _RUN
        while width < n:  # bottom-up merge sort; a left entry meets the smaller right
            for low in range(0, n, 2 * width):
                middle, high = min(low + width, n), min(low + 2 * width, n)
                i, j, k = low, middle, low
                right_before = 0
                while i < middle and j < high:  # branch-free: selects, not jumps
                    key_left, key_right = keys[i], keys[j]
                    weight_left, weight_right = weights[i], weights[j]
                    right = 1 if key_right < key_left else 0
                    keys_out[k] = key_right if right else key_left
                    weights_out[k] = weight_right if right else weight_left
                    right_before += weight_right * right
                    count += weight_left * right_before * (1 - right)
                    j += right
                    i += 1 - right
                    k += 1
                while i < middle:
                    keys_out[k], weights_out[k] = keys[i], weights[i]
                    count += weights[i] * right_before
                    i += 1
                    k += 1
                while j < high:
                    keys_out[k], weights_out[k] = keys[j], weights[j]
                    j += 1
                    k += 1
            keys, keys_out = keys_out, keys
            weights, weights_out = weights_out, weights
            width *= 2
        ties, group, squares = 0, 0, 0
        for k in range(n):
            if k > 0 and keys[k] != keys[k - 1]:
                ties += (group * group - squares) // 2
                group, squares = 0, 0
            group += weights[k]
            squares += weights[k] * weights[k]
        return count, ties + (group * group - squares) // 2

    @numba.njit(nogil=True, cache=True)
    def weighted_inversions(z, w, discordant, tied):  # pragma: no cover (compiled)
        length = z.shape[1]
        keys, weights = np.empty(length, np.int64), np.empty(length, np.int64)
        keys_out, weights_out = np.empty(length, np.int64), np.empty(length, np.int64)
        for row in range(z.shape[0]):
            n = 0  # entries of weight 0 (padding, undrawn pairs) take part in no pair
            for k in range(length):
                if w[row, k] != 0:
                    keys[n], weights[n] = z[row, k], w[row, k]
                    n += 1
            discordant[row], tied[row] = count_in_place(keys, weights, n, keys_out, weights_out)

    @numba.njit(nogil=True, cache=True)
    def inversions_in_orders(pooled, w, orders, paired, discordant, tied):  # pragma: no cover
        length = orders.shape[1]
        keys, weights = np.empty(length, np.int64), np.empty(length, np.int64)
        keys_out, weights_out = np.empty(length, np.int64), np.empty(length, np.int64)
        for resample in range(pooled.shape[0]):
            for data in range(orders.shape[0]):
                source = data if paired else 0
                n = 0
                for k in range(length):
                    pair = orders[data, k]
                    if w[resample, pair] != 0:
                        keys[n] = pooled[resample, source, pair]
                        weights[n] = w[resample, pair]
                        n += 1
                discordant[resample, data], tied[resample, data] = count_in_place(
                    keys, weights, n, keys_out, weights_out
                )

    return {
        "weighted_inversions": weighted_inversions,
        "inversions_in_orders": inversions_in_orders,
    }


def compiled_available() -> bool:
    """Whether the compiled kernels are used (numba installed, BRAINALIGN_NUMBA != 0)."""
    return os.environ.get("BRAINALIGN_NUMBA", "1") != "0" and _kernels() is not None


def weighted_inversions(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Weighted discordant and tied pairs of each row (see
    :func:`brainalign.alignment.rsa_inference._weighted_inversions`, its array twin).

    Parameters
    ----------
    z : numpy.ndarray of int, shape (n_rows, n)
        Values in sequence order.
    w : numpy.ndarray of int, shape (n_rows, n)
        Non-negative integer weights.

    Returns
    -------
    (discordant, tied) : two numpy.ndarray of int64, shape (n_rows,), or None
        Sums of w_p w_q over p < q with z_p > z_q, and with z_p == z_q; None when the
        compiled kernels are not available.
    """
    if not compiled_available():
        return None
    discordant = np.empty(z.shape[0], dtype=np.int64)
    tied = np.empty(z.shape[0], dtype=np.int64)
    _kernels()["weighted_inversions"](
        np.ascontiguousarray(z, dtype=np.int64),
        np.ascontiguousarray(w, dtype=np.int64),
        discordant,
        tied,
    )
    return discordant, tied


def inversions_in_orders(
    pooled: np.ndarray, w: np.ndarray, orders: np.ndarray, paired: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Weighted discordant and tied pairs of pooled RDMs read in each data RDM's order.

    Parameters
    ----------
    pooled : numpy.ndarray of int, shape (n_resamples, k, n_pairs)
        Pooled RDMs as non-negative integers; k = n_data when ``paired`` (row s is read in
        data RDM s's order), else 1 (read in every data RDM's order).
    w : numpy.ndarray of int, shape (n_resamples, n_pairs)
        Pair weights of each resample.
    orders : numpy.ndarray of int, shape (n_data, n_pairs)
        Each data RDM's pairs in ascending order (ties in any fixed order).
    paired : bool

    Returns
    -------
    (discordant, tied) : two numpy.ndarray of int64, shape (n_resamples, n_data), or None
        As :func:`weighted_inversions` of the pairs of weight > 0 in each order; None when
        the compiled kernels are not available.
    """
    if not compiled_available():
        return None
    shape = (pooled.shape[0], orders.shape[0])
    discordant, tied = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    _kernels()["inversions_in_orders"](
        np.ascontiguousarray(pooled, dtype=np.int64),
        np.ascontiguousarray(w, dtype=np.int64),
        np.ascontiguousarray(orders, dtype=np.int64),
        bool(paired),
        discordant,
        tied,
    )
    return discordant, tied
