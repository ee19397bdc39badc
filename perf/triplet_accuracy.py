"""Odd-one-out accuracy at THINGS scale: vectorised against the per-triplet loop.

Features of ``--items`` items (1,854: the THINGS concepts) with ``--dims`` dimensions
(768: a base-size model's layer) and ``--triplets`` random triplets (453,642: the size of
THINGS-data's validationset.txt), standard-normal, seeded.

vectorised
    :func:`brainalign.alignment.triplets.odd_one_out_accuracy` (cosine): the rows scaled
    to unit norm once, their Gram matrix (one BLAS product), then three gathers per
    triplet and a comparison;
naive
    the per-triplet loop of the reference implementation of Muttenthaler et al. (2023)
    (``human_alignment/utils/evaluation/helpers.py: get_predictions``) written in numpy:
    for each triplet, the three cosine distances, the pair with the smallest one, the
    item outside it. Run on the first ``--naive-triplets`` triplets and scaled to all of
    them (it is linear in the number of triplets).

Printed: the best of ``--repeats`` runs of each, seconds, the naive time scaled to every
triplet, the ratio, and that both choose the same odd one out on the triplets both saw.

Measured on 2 CPU cores shared with other jobs (1,854 items x 768 dims, 453,642
triplets): vectorised 0.29 s, naive 0.55 s per 20,000 triplets (12.4 s for all), ratio
43x, the same choices. Run ``python perf/triplet_accuracy.py`` (about 10 s).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from brainalign.alignment.triplets import odd_one_out_accuracy, odd_one_out_correct


def _naive_correct(features: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """One triplet at a time: cosine distances of the three pairs, odd one outside the best."""
    pairs = ((0, 1), (0, 2), (1, 2))
    correct = np.empty(len(triplets))
    for row, triplet in enumerate(triplets):
        x = features[triplet]
        distances = [
            1.0 - x[a] @ x[b] / (np.linalg.norm(x[a]) * np.linalg.norm(x[b])) for a, b in pairs
        ]
        correct[row] = float(int(np.argmin(distances)) == 0)  # pair (0, 1): odd one = item 2
    return correct


def _random_triplets(rng: np.random.Generator, n_items: int, n_triplets: int) -> np.ndarray:
    """(n_triplets, 3) distinct items per row, drawn uniformly."""
    draws = rng.integers(0, n_items, size=(2 * n_triplets + 100, 3))
    distinct = (draws[:, 0] != draws[:, 1]) & (draws[:, 0] != draws[:, 2])
    distinct &= draws[:, 1] != draws[:, 2]
    return draws[distinct][:n_triplets]


def _best(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=1854)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--triplets", type=int, default=453642)
    parser.add_argument("--naive-triplets", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    features = rng.standard_normal((args.items, args.dims)).astype(np.float32)
    triplets = _random_triplets(rng, args.items, args.triplets)
    subset = triplets[: args.naive_triplets]
    features64 = features.astype(np.float64)

    vectorised = _best(lambda: odd_one_out_accuracy(features, triplets), args.repeats)
    naive = _best(lambda: _naive_correct(features64, subset), args.repeats)
    naive_all = naive * args.triplets / len(subset)
    same = np.array_equal(odd_one_out_correct(features, subset), _naive_correct(features64, subset))
    print(f"{args.items} items x {args.dims} dims, {args.triplets} triplets")
    print(f"vectorised: {vectorised:.3f} s")
    print(f"naive:      {naive:.3f} s for {len(subset)} triplets -> {naive_all:.1f} s for all")
    print(f"ratio naive / vectorised: {naive_all / vectorised:.0f}x; same choices: {same}")


if __name__ == "__main__":
    main()
