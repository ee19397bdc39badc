"""Permutation test speed: brainalign's batched test against per-permutation loops, one run.

Problem: 300 samples x 10,000 units, 1,000 permutations (the size of one subject's
whole-brain encoding scores at a coarse parcellation, or many ROIs x subjects).

* ``brainalign``: :func:`brainalign.alignment.stats.permutation_test` with the default
  circular-shift null (one FFT cross-correlation per unit serves every shift), and with
  the block null (batched gathers of the permuted rows, one reduction per batch).
* naive numpy: one Python iteration per permutation, each reordering the predictions and
  recomputing every unit's r (column-wise, already vectorised over units).
* naive scipy: one ``scipy.stats.pearsonr`` call per permutation and unit; timed on a
  subset and extrapolated (the full loop is 10 million calls).

Both naive versions use the same permutations as brainalign, and the script checks that
the null values agree before printing the time ratios.

brainalign's time is the best of ``--repeats`` runs (the first run pays page faults);
the loops run once.

``--large`` instead runs the size of a whole-brain map: 300 samples x 10,000 units and
10,000 permutations, with the circular-shift null (default, continuous design) and the
shuffle null (event design), without ``return_null``: the (10,000, 10,000) float64 null
would be 800 MB, and :func:`permutation_test` keeps only per-unit counts and the
per-permutation maxima, working through batches of a few tens of MB. It prints the best
of ``--repeats`` times, the peak traced memory (``tracemalloc``; numpy reports its
buffers to it), the naive numpy loop's time extrapolated from ``--naive-permutations``
permutations with the ratio, and the load average (the machine may be shared).

Run: ``python perf/stats_speed.py [--naive-permutations 100] [--threads 1] [--large]``.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np


def timed(function, repeats: int = 1):
    """Best wall time of ``repeats`` calls, and the result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def column_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a_c = a - a.mean(axis=0)
    b_c = b - b.mean(axis=0)
    return (a_c * b_c).sum(axis=0) / np.sqrt((a_c * a_c).sum(axis=0) * (b_c * b_c).sum(axis=0))


def naive_numpy_null(P: np.ndarray, R: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.stack([column_pearson(P[order], R) for order in indices])


def naive_scipy_null(P: np.ndarray, R: np.ndarray, indices: np.ndarray, units: int):
    from scipy.stats import pearsonr

    return np.array(
        [[pearsonr(P[order, j], R[:, j]).statistic for j in range(units)] for order in indices]
    )


def compare(P, R, K, null, design, extra, args) -> tuple:
    """Time brainalign and both naive loops on one null; check they agree."""
    from brainalign.alignment.stats import permutation_indices, permutation_test

    seconds, result = timed(
        partial(
            permutation_test,
            P,
            R,
            n_permutations=K,
            design=design,
            null=null,
            return_null=True,
            **extra,
        ),
        repeats=args.repeats,
    )
    indices = permutation_indices(P.shape[0], K, null=null, seed=0, **extra)
    n_naive = min(args.naive_permutations, K)
    naive_s, naive = timed(partial(naive_numpy_null, P, R, indices[:n_naive]))
    error = np.abs(naive - result.null[:n_naive]).max()
    assert error < 1e-10, f"{null}: null values differ from the numpy loop by {error}"
    n_sp, units_sp = args.scipy_permutations, args.scipy_units
    scipy_s, scipy_null = timed(partial(naive_scipy_null, P, R, indices[:n_sp], units_sp))
    error = np.abs(scipy_null - result.null[:n_sp, :units_sp]).max()
    assert error < 1e-10, f"{null}: null values differ from scipy by {error}"
    scale = (K / n_sp) * (P.shape[1] / units_sp)
    return null, seconds, naive_s * K / n_naive, scipy_s * scale, n_naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument(
        "--naive-permutations",
        type=int,
        default=1000,
        help="permutations run by the naive numpy loop (time extrapolated to --permutations)",
    )
    parser.add_argument("--scipy-permutations", type=int, default=2)
    parser.add_argument("--scipy-units", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for brainalign")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    parser.add_argument(
        "--large",
        action="store_true",
        help="10,000 permutations x 10,000 units, circular shift and shuffle, no null kept",
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    if args.large:
        with threadpool_limits(limits=args.threads):
            large(args)
        return

    rng = np.random.default_rng(0)
    P = rng.normal(size=(args.samples, args.units))
    R = 0.1 * P + rng.normal(size=(args.samples, args.units))
    K = args.permutations
    print(f"{args.samples} samples x {args.units} units, {K} permutations")

    nulls = (
        ("circular_shift", "continuous", {}),
        ("block", "continuous", {"block_size": 10}),
        ("shuffle", "event", {}),
    )
    with threadpool_limits(limits=args.threads):
        rows = [compare(P, R, K, null, design, extra, args) for null, design, extra in nulls]

    print(
        f"{'null':<16}{'brainalign s':>14}{'numpy loop s':>14}{'ratio':>9}"
        f"{'scipy loop s (est.)':>22}{'ratio':>10}"
    )
    for null, ours, naive, scipy_s, n_naive in rows:
        note = "" if n_naive == K else f"  (numpy loop: {n_naive} permutations, extrapolated)"
        print(
            f"{null:<16}{ours:>14.2f}{naive:>14.2f}{naive / ours:>8.1f}x"
            f"{scipy_s:>22.0f}{scipy_s / ours:>9.0f}x{note}"
        )
    print("null values agree with both naive loops (max abs difference < 1e-10)")


def large(args: argparse.Namespace) -> None:
    """10,000 permutations x 10,000 units: time, peak memory, naive-loop ratio."""
    import os
    import tracemalloc

    from brainalign.alignment.stats import permutation_indices, permutation_test

    n_samples, n_units, K = 300, 10_000, 10_000
    rng = np.random.default_rng(0)
    P = rng.normal(size=(n_samples, n_units))
    R = 0.1 * P + rng.normal(size=(n_samples, n_units))
    n_naive = min(args.naive_permutations, K)
    print(
        f"{n_samples} samples x {n_units} units, {K} permutations, float64, no null kept "
        f"(it would be {K * n_units * 8 / 1e6:.0f} MB); best of {args.repeats}"
    )
    print("load average before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"{'null':<16}{'brainalign s':>14}{'peak MB':>9}{'numpy loop s (est.)':>21}{'ratio':>9}")
    for null, design in (("circular_shift", "continuous"), ("shuffle", "event")):
        times, peak = [], 0
        for _ in range(args.repeats):
            tracemalloc.start()
            start = time.perf_counter()
            result = permutation_test(P, R, n_permutations=K, design=design, null=null)
            times.append(time.perf_counter() - start)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            assert result.null is None
        indices = permutation_indices(n_samples, K, null=null, seed=0)
        naive_s, _ = timed(partial(naive_numpy_null, P, R, indices[:n_naive]))
        naive_s *= K / n_naive
        ours = min(times)
        print(f"{null:<16}{ours:>14.2f}{peak / 1e6:>9.0f}{naive_s:>21.1f}{naive_s / ours:>8.1f}x")
    print(f"(numpy loop: {n_naive} permutations, extrapolated to {K})")
    print("load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
