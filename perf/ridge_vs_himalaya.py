"""Per-target-alpha ridge with blocked CV: brainalign against himalaya, same problem, one run.

The problem has the demo's shape: 290 training volumes, 384 features x 4 delays, 162
targets (27 subjects x 6 ROIs), 19 alphas, 5 contiguous inner folds with a gap of 4.
Both select alphas by Pearson r on the same splits; the script checks that the chosen
alphas and predictions agree before printing the time ratio.

Run: ``python perf/ridge_vs_himalaya.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def best_of(repeats: int, function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import correlation_score

    from brainalign.alignment.cv import BlockedKFold
    from brainalign.alignment.ridge import RidgeCV

    warnings.filterwarnings("ignore", category=UserWarning)
    rng = np.random.default_rng(0)
    n_samples, n_features, n_targets = 290, 384 * 4, 162
    X = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, n_targets)) * rng.random(n_targets) * 0.1
    Y = X @ weights + rng.normal(size=(n_samples, n_targets))
    alphas = np.logspace(-1, 8, 19)
    cv = BlockedKFold(5, gap=4)
    splits = list(cv.split(X))
    solver = {"score_func": correlation_score, "local_alpha": True}

    ours_s, ours = best_of(args.repeats, lambda: RidgeCV(alphas, cv=cv).fit(X, Y))
    primal_s, primal = best_of(
        args.repeats,
        lambda: HimalayaRidgeCV(
            alphas=alphas, cv=splits, fit_intercept=True, solver_params=solver
        ).fit(X, Y),
    )
    kernel_s, _ = best_of(
        args.repeats,
        lambda: KernelRidgeCV(alphas=alphas, cv=splits, solver_params=solver).fit(X, Y),
    )
    same_alphas = np.allclose(ours.best_alphas_, primal.best_alphas_, rtol=1e-12)
    max_diff = np.abs(ours.predict(X) - primal.predict(X)).max()
    print(
        f"problem: {n_samples} samples x {n_features} features x {n_targets} targets, "
        f"{len(alphas)} alphas, {len(splits)} folds (best of {args.repeats})"
    )
    print(f"brainalign RidgeCV           {ours_s * 1e3:8.1f} ms")
    print(f"himalaya RidgeCV             {primal_s * 1e3:8.1f} ms  -> {primal_s / ours_s:.1f}x")
    print(
        f"himalaya KernelRidgeCV       {kernel_s * 1e3:8.1f} ms  -> {kernel_s / ours_s:.1f}x "
        "(no intercept; shown for speed only)"
    )
    print(
        f"same alphas as himalaya RidgeCV: {same_alphas}; max |prediction difference| "
        f"{max_diff:.1e}"
    )


if __name__ == "__main__":
    main()
