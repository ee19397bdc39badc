"""Content-free controls shared by the benchmarks.

A control with no stimulus content keeps only the identity of each item: one random
vector per item, fixed by a seed and the item's key, so an item gets the same vector
whatever the other items, in every run and dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["random_vectors"]


def random_vectors(keys: Sequence[str], n_dims: int, *, seed: int = 0) -> np.ndarray:
    """One standard-normal vector per key, from a generator seeded by ``"{seed}:{key}"``.

    Parameters
    ----------
    keys : sequence of str, length n_items
        What identifies each item (a word's text, an image's index).
    n_dims : int
        Dimensions per vector (positive).
    seed : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_items, n_dims)
        Row ``i`` is drawn from ``numpy.random.default_rng`` seeded with the first 8
        bytes (little-endian) of the SHA-256 of ``f"{seed}:{keys[i]}"``.
    """
    if isinstance(n_dims, bool) or not isinstance(n_dims, int | np.integer) or n_dims < 1:
        raise ValueError(f"n_dims={n_dims!r}; it must be a positive integer")
    vectors = np.empty((len(keys), int(n_dims)))
    for row, key in enumerate(keys):
        digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
        vectors[row] = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(
            int(n_dims)
        )
    return vectors
