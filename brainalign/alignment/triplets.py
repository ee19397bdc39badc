"""Odd-one-out triplets: how often a representation picks the odd item a person picked.

In a triplet odd-one-out trial a person sees three items and names the one that does not
belong with the other two. Following THINGS / SPoSE (Hebart et al. 2020, 2023) a trial is
stored as three item indices with the **odd one out last**: ``triplets[:, :2]`` is the
pair the person judged most similar (:class:`brainalign.datasets.behaviour.Triplets`).

Model choice. For a triplet ``(i, j, k)`` the similarity of each of its three pairs is
computed from the items' features, in float64:

* ``similarity="cosine"``: ``x_a . x_b / (|x_a| |x_b|)`` on the raw features (a row of
  zeros has cosine 0 with everything, as :func:`sklearn.metrics.pairwise.
  cosine_similarity`); the choice of Muttenthaler et al. (2023), "Human alignment of
  neural network representations" (ICLR), for the zero-shot odd-one-out accuracy of a
  network's features.
* ``similarity="dot"``: the dot product ``x_a . x_b``, the similarity of SPoSE (Hebart et
  al. 2020) and of the probing/VICE embeddings, where the norm of a vector carries
  meaning.

The model's odd one out is the item **outside the most similar pair**. It is correct when
that item is the person's choice, i.e. when the pair ``(i, j)`` is the most similar.

Ties. When the largest similarity is shared by ``m`` pairs (exact float64 equality), the
model makes no unique choice: with ``ties="split"`` (default) the triplet counts ``1/m``
when the person's pair is among them (the expected accuracy of breaking the tie at random;
a model whose features are the same for every item scores exactly chance, 1/3) and 0
otherwise; with ``ties="wrong"`` it counts 0, which extends Muttenthaler et al.'s rule
(all three similarities equal: incorrect) to every tie. Their code breaks a partial tie
by the first pair in file order, which is the person's pair in this format: it would
count a tie as correct, so it is not offered.

Accuracy is the mean of the per-triplet correctness (:func:`odd_one_out_correct`, values
in {0, 1/3, 1/2, 1}); chance is :data:`CHANCE` = 1/3. Feed the per-triplet values to
:func:`brainalign.alignment.stats.bootstrap_mean` for confidence intervals.

Ceiling (:func:`odd_one_out_ceiling`). When the same triplet, as an unordered set of
items, was answered several times (by different people), two numbers say how well any
model could do:

* ``agreement`` -- the definition of Hebart et al. (2023, THINGS-data, eLife 12:e82580)
  and of Brain-Score's Hebart2023 benchmark (ceiling 0.6767): per set, the share of its
  answers that equal the set's most frequent answer, averaged over sets. The answer
  being predicted is part of the majority it is predicted by, so this is an **upper**
  bound (with two answers per set it is at least 1/2).
* ``leave_one_out`` -- per answer, the majority choice of the set's *other* answers
  predicts it (a tie among the others' most frequent choices is split evenly, as above);
  the expected accuracy, averaged over answers within a set and then over sets. No
  answer predicts itself, so this is the honest (lower) estimate of what a model that
  knew the population's choices would score.

Nothing here knows about datasets or encoders: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CHANCE",
    "SIMILARITIES",
    "TIES",
    "TripletCeiling",
    "check_triplets",
    "odd_one_out_accuracy",
    "odd_one_out_ceiling",
    "odd_one_out_correct",
    "triplet_similarities",
]

#: Accuracy of a random choice among three items.
CHANCE = 1.0 / 3.0
#: Pair similarities :func:`triplet_similarities` computes.
SIMILARITIES = ("cosine", "dot")
#: Tie rules of :func:`odd_one_out_correct`.
TIES = ("split", "wrong")
#: Largest number of items whose Gram matrix (n_items x n_items, float64) is formed;
#: above it the pair similarities are computed triplet by triplet, in chunks.
GRAM_MAX_ITEMS = 4096
_CHUNK = 65536


def check_triplets(triplets: Any, n_items: int, *, name: str = "triplets") -> np.ndarray:
    """Checked triplet indices.

    Parameters
    ----------
    triplets : array-like of int, shape (n_triplets, 3)
        0-based item indices, the odd one out last.
    n_items : int
        Number of items the indices refer to (rows of the features).
    name : str
        How the triplets are named in errors (e.g. the file they were read from).

    Returns
    -------
    numpy.ndarray of intp, shape (n_triplets, 3)

    Raises
    ------
    ValueError
        For a shape other than (n >= 1, 3), non-integer values, an index outside
        ``0 .. n_items - 1`` or a triplet that repeats an item (each names the row).
    """
    array = np.asarray(triplets)
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] < 1:
        raise ValueError(
            f"{name}: expected an (n_triplets >= 1, 3) array of item indices; got shape "
            f"{array.shape}"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: item indices must be integers; got dtype {array.dtype}")
    outside = (array < 0) | (array >= n_items)
    if outside.any():
        row = int(np.flatnonzero(outside.any(axis=1))[0])
        raise ValueError(
            f"{name}: row {row} holds {array[row].tolist()}, outside the {n_items} items "
            f"(indices 0..{n_items - 1}); the triplets refer to another item table"
        )
    repeated = (array[:, 0] == array[:, 1]) | (array[:, 0] == array[:, 2])
    repeated |= array[:, 1] == array[:, 2]
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise ValueError(f"{name}: row {row} repeats an item: {array[row].tolist()}")
    return array.astype(np.intp)


def _checked_features(features: Any) -> np.ndarray:
    """Features as float64 (n_items, ..., n_dims), finite, at least 3 items."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim < 2 or array.shape[0] < 3 or array.shape[-1] < 1:
        raise ValueError(
            f"features: expected an (n_items >= 3, ..., n_dims) array; got shape {array.shape}"
        )
    finite = np.isfinite(array)
    if not finite.all():
        bad = ~finite.reshape(len(array), -1).all(axis=1)
        raise ValueError(
            f"features: {int(bad.sum())} item(s) hold NaN or inf, the first at row "
            f"{int(np.flatnonzero(bad)[0])}; a similarity of such an item is undefined"
        )
    return array


def _unit_rows(array: np.ndarray) -> np.ndarray:
    """Rows (over the last axis) scaled to unit norm; rows of zeros stay zero."""
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.where(norms > 0, norms, 1.0)


def _pair_similarities_2d(X: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Dot products of the pairs (0, 1), (0, 2), (1, 2) of each triplet: (n_triplets, 3)."""
    pairs = ((0, 1), (0, 2), (1, 2))
    if len(X) <= GRAM_MAX_ITEMS:
        gram = X @ X.T
        # Read the upper triangle only, so both orders of a pair give the same number.
        return np.column_stack(
            [gram[np.minimum(t[:, a], t[:, b]), np.maximum(t[:, a], t[:, b])] for a, b in pairs]
        )
    out = np.empty((len(t), 3))
    for start in range(0, len(t), _CHUNK):
        rows = X[t[start : start + _CHUNK]]  # (chunk, 3, n_dims)
        for column, (a, b) in enumerate(pairs):
            out[start : start + _CHUNK, column] = np.einsum("nd,nd->n", rows[:, a], rows[:, b])
    return out


def triplet_similarities(features: Any, triplets: Any, similarity: str = "cosine") -> np.ndarray:
    """Similarity of the three pairs of every triplet.

    Parameters
    ----------
    features : array-like, shape (n_items, n_dims) or (n_items, ..., n_dims)
        One row per item; extra middle axes (e.g. heads: (n_items, n_heads, d_head)) are
        scored separately, all at once.
    triplets : array-like of int, shape (n_triplets, 3)
        0-based item indices, the person's odd one out last.
    similarity : {"cosine", "dot"}
        See the module documentation.

    Returns
    -------
    numpy.ndarray of float64, shape (n_triplets, 3) or (n_triplets, 3, ...)
        Columns: the pairs (item 0, item 1) -- the person's similar pair --, (item 0,
        item 2) and (item 1, item 2).

    Raises
    ------
    ValueError
        For bad features (NaN, inf, fewer than 3 items), bad triplets
        (:func:`check_triplets`) or an unknown similarity.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity={similarity!r}: use one of {list(SIMILARITIES)}")
    X = _checked_features(features)
    t = check_triplets(triplets, len(X))
    if similarity == "cosine":
        X = _unit_rows(X)
    batch = X.shape[1:-1]
    flat = X.reshape(len(X), -1, X.shape[-1])  # (n_items, n_batch, n_dims)
    columns = [_pair_similarities_2d(flat[:, b], t) for b in range(flat.shape[1])]
    return np.stack(columns, axis=-1).reshape(len(t), 3, *batch)


def _correct_from_similarities(sims: np.ndarray, ties: str) -> np.ndarray:
    """Per-triplet correctness from (n_triplets, 3, ...) pair similarities."""
    if ties not in TIES:
        raise ValueError(f"ties={ties!r}: use one of {list(TIES)}")
    best = sims.max(axis=1)
    at_best = sims == best[:, None]
    human_best = at_best[:, 0]
    if ties == "wrong":
        return (human_best & (at_best.sum(axis=1) == 1)).astype(np.float64)
    return np.where(human_best, 1.0 / at_best.sum(axis=1), 0.0)


def odd_one_out_correct(
    features: Any, triplets: Any, similarity: str = "cosine", *, ties: str = "split"
) -> np.ndarray:
    """Whether the model's odd one out is the person's, triplet by triplet.

    Parameters
    ----------
    features : array-like, shape (n_items, n_dims) or (n_items, ..., n_dims)
        As :func:`triplet_similarities`.
    triplets : array-like of int, shape (n_triplets, 3)
        The person's odd one out last.
    similarity : {"cosine", "dot"}
    ties : {"split", "wrong"}
        How a shared largest similarity counts (module documentation).

    Returns
    -------
    numpy.ndarray of float64, shape (n_triplets,) or (n_triplets, ...)
        1 (correct), 0 (wrong), or 1/2, 1/3 for a tie that includes the person's pair
        (``ties="split"``).
    """
    return _correct_from_similarities(triplet_similarities(features, triplets, similarity), ties)


def odd_one_out_accuracy(
    features: Any, triplets: Any, similarity: str = "cosine", *, ties: str = "split"
) -> float | np.ndarray:
    """Fraction of triplets whose odd one out the model picks as the person did.

    Parameters
    ----------
    features : array-like, shape (n_items, n_dims) or (n_items, ..., n_dims)
        One row per item (float32 or float64; computed in float64).
    triplets : array-like of int, shape (n_triplets, 3)
        0-based item indices, the person's odd one out last.
    similarity : {"cosine", "dot"}
    ties : {"split", "wrong"}

    Returns
    -------
    float or numpy.ndarray of float64, shape (...)
        The mean of :func:`odd_one_out_correct` over triplets; a float for 2-D features.
        Chance is :data:`CHANCE` (1/3).
    """
    accuracy = odd_one_out_correct(features, triplets, similarity, ties=ties).mean(axis=0)
    return float(accuracy) if np.ndim(accuracy) == 0 else accuracy


@dataclass(frozen=True)
class TripletCeiling:
    """How consistent people are on triplets answered more than once.

    Attributes
    ----------
    agreement : float
        Mean over repeated sets of the share of answers equal to the set's most
        frequent answer (Hebart et al. 2023; an upper bound).
    leave_one_out : float
        Mean over repeated sets of the expected accuracy of predicting each answer by
        the majority of the set's other answers (ties split evenly; the honest bound).
    n_sets : int
        Unordered item sets answered at least twice.
    n_answers : int
        Answers to those sets.
    """

    agreement: float
    leave_one_out: float
    n_sets: int
    n_answers: int


def _choice_counts(triplets: np.ndarray) -> np.ndarray:
    """Answers per repeated set: (n_sets, 3) counts of each (sorted) item chosen as odd."""
    items = np.sort(triplets, axis=1)
    sets, inverse = np.unique(items, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    position = np.argmax(sets[inverse] == triplets[:, 2:3], axis=1)  # odd one among sorted
    counts = np.zeros((len(sets), 3), dtype=np.int64)
    np.add.at(counts, (inverse, position), 1)
    return counts[counts.sum(axis=1) >= 2]


def _leave_one_out_accuracy(counts: np.ndarray) -> np.ndarray:
    """Per set (n_sets,): expected accuracy of the others' majority predicting an answer."""
    n = counts.sum(axis=1)
    accuracy = np.zeros(len(counts))
    for k in range(3):
        others = counts - np.eye(3, dtype=np.int64)[k]  # one answer k left out
        top = others.max(axis=1, keepdims=True)
        majority = others == top
        hit = np.where(majority[:, k], 1.0 / majority.sum(axis=1), 0.0)
        accuracy += counts[:, k] * hit
    return accuracy / n


def odd_one_out_ceiling(triplets: Any) -> TripletCeiling | None:
    """Consistency of people's answers to triplets answered more than once.

    Parameters
    ----------
    triplets : array-like of int, shape (n_triplets, 3)
        Every answer (one row per trial), the odd one out last. Rows whose items form
        the same unordered set are answers to the same triplet.

    Returns
    -------
    TripletCeiling or None
        None when no set was answered twice (no ceiling can be estimated). Each set
        counts equally in both means (module documentation).
    """
    t = check_triplets(triplets, int(np.max(triplets)) + 1 if np.size(triplets) else 0)
    counts = _choice_counts(t)
    if not len(counts):
        return None
    n = counts.sum(axis=1)
    return TripletCeiling(
        agreement=float(np.mean(counts.max(axis=1) / n)),
        leave_one_out=float(np.mean(_leave_one_out_accuracy(counts))),
        n_sets=len(counts),
        n_answers=int(n.sum()),
    )
