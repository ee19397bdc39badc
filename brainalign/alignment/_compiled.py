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


@cache
def _kernels() -> dict[str, Any] | None:
    """The compiled kernels, or None without numba (compiled once, cached on disk)."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(nogil=True, cache=True)
    def weighted_inversions(z, w, discordant, tied):  # pragma: no cover (compiled)
        n_rows, n = z.shape
        keys, weights = np.empty(n, np.int64), np.empty(n, np.int64)
        keys_out, weights_out = np.empty(n, np.int64), np.empty(n, np.int64)
        for row in range(n_rows):
            keys[:] = z[row]
            weights[:] = w[row]
            count = 0
            width = 1
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
            discordant[row] = count
            ties, group, squares = 0, 0, 0
            for k in range(n):
                if k > 0 and keys[k] != keys[k - 1]:
                    ties += (group * group - squares) // 2
                    group, squares = 0, 0
                group += weights[k]
                squares += weights[k] * weights[k]
            tied[row] = ties + (group * group - squares) // 2

    return {"weighted_inversions": weighted_inversions}


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
