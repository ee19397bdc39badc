"""Split-half ceiling speed: brainalign's batched splits against a loop over splits, one run.

Problem: 1,000 items x 100 units x 10 repeats, 1,000 random splits (a vision study:
images x recording sites x presentations), with every repeat present and with unequal
repeat counts (each (item, unit) keeps 2 to 10 repeats, NaN-padded, the NaN scattered).
The goal: under 2 s on 2 cores.

* ``brainalign``: :func:`brainalign.alignment.ceiling.split_half_ceiling`. Available
  repeats are moved to the front once; per repeat count ``k`` and unit it keeps the sum
  and the Gram matrix (k x k) of the repeats over items, so each split's half sums,
  sums of squares and cross products are small quadratic forms of the split's weight
  vectors, batched over chunks of splits.
* loop over splits: the straightforward implementation, one Python iteration per split,
  vectorised within it (per repeat count, the two half means of every entry by fancy
  indexing, then a masked Pearson r per unit over items). Same random draws.

The script checks that both agree (max abs difference < 1e-10) before printing the times
and the ratio. brainalign's time is the best of ``--repeats`` runs; the loop runs once.

Run: ``python perf/split_half_ceiling.py [--threads 2] [--repeats 3] [--splits 1000]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

GOAL_S = 2.0


def timed(function, repeats: int = 1):
    """Best wall time of ``repeats`` calls, and the result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def loop_over_splits(responses: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Split-half ceiling, one split at a time (the documented draw procedure)."""
    x = np.asarray(responses, dtype=np.float64)
    n_items, n_units, n_repeats = x.shape
    available = ~np.isnan(x)
    counts = available.sum(axis=2)
    order = np.argsort(~available, axis=2, kind="stable")
    compact = np.take_along_axis(x, order, axis=2)  # available repeats first, in order
    usable = counts >= 2
    rng = np.random.Generator(np.random.PCG64(seed))
    corrected = np.full((n_splits, n_units), np.nan)
    for s in range(n_splits):
        perm = rng.permutation(n_repeats)
        first = np.zeros((n_items, n_units))
        second = np.zeros((n_items, n_units))
        for k in np.unique(counts[usable]):
            entries = counts == k
            pick, half = perm[perm < k], k // 2
            values = compact[entries]
            first[entries] = values[:, pick[:half]].mean(axis=1)
            second[entries] = values[:, pick[half : 2 * half]].mean(axis=1)
        n = usable.sum(axis=0)
        a = np.where(usable, first - first.sum(axis=0) / n, 0.0)
        b = np.where(usable, second - second.sum(axis=0) / n, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
        corrected[s] = np.where(n >= 3, 2 * r / (1 + r), np.nan)
    reliability = np.nanmean(corrected, axis=0)
    return np.where(reliability >= 0, np.sqrt(np.abs(reliability)), np.nan)


def problem(n_items: int, n_units: int, n_repeats: int, unequal: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_items, n_units, 1)) * rng.uniform(0.1, 1.5, n_units)[:, None]
    x = signal + rng.standard_normal((n_items, n_units, n_repeats))
    if unequal:
        counts = rng.integers(2, n_repeats + 1, size=(n_items, n_units))
        x[np.arange(n_repeats) >= counts[..., None]] = np.nan
        x = rng.permuted(x, axis=2)  # the NaN scattered along the repeats axis
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--repeats-axis", type=int, default=10, help="repeats per item")
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for brainalign")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default: 2)")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from brainalign.alignment.ceiling import split_half_ceiling

    print(
        f"{args.items} items x {args.units} units x {args.repeats_axis} repeats, "
        f"{args.splits} splits, {args.threads} BLAS threads, {os.cpu_count()} CPUs"
    )
    print("load average before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"{'repeats':<22}{'brainalign s':>14}{'loop s':>9}{'ratio':>9}   goal < {GOAL_S} s")
    with threadpool_limits(limits=args.threads):
        for unequal in (False, True):
            x = problem(args.items, args.units, args.repeats_axis, unequal)
            ours, ceiling = timed(
                lambda x=x: split_half_ceiling(x, n_splits=args.splits, seed=0), args.repeats
            )
            loop, expected = timed(lambda x=x: loop_over_splits(x, args.splits, 0))
            difference = np.nanmax(np.abs(ceiling - expected))
            assert np.array_equal(np.isnan(ceiling), np.isnan(expected)) and difference < 1e-10
            label = "2 to 10 (NaN-padded)" if unequal else "all present"
            met = "met" if ours < GOAL_S else "NOT met"
            print(f"{label:<22}{ours:>14.3f}{loop:>9.2f}{loop / ours:>8.1f}x   {met}")
    print("ceilings agree with the loop over splits (max abs difference < 1e-10)")
    print("load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
