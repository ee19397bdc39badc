"""Banded ridge with random search: brainalign against himalaya, same problem, one run.

300 samples, two bands of 400 and 800 features, 2,000 targets, the same 20 candidate
band weightings (Dirichlet draws, first one equal weights), 13 alphas, 5 contiguous
folds, R^2 scoring, intercept fitted; both on numpy in float64. The script checks that
the chosen deltas and the predictions agree before printing the time ratio.

Run: ``python perf/banded_vs_himalaya.py [--n-iter 20] [--n-targets 2000] [--repeats 1]``.
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
    parser.add_argument("--n-iter", type=int, default=20)
    parser.add_argument("--n-targets", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    from himalaya.backend import set_backend
    from himalaya.ridge import BandedRidgeCV as HimalayaBandedRidgeCV
    from himalaya.scoring import r2_score

    from brainalign.alignment.banded import BandedRidgeCV, dirichlet_weightings

    warnings.filterwarnings("ignore", category=UserWarning)
    set_backend("numpy")
    rng = np.random.default_rng(0)
    n_samples, widths, n_targets = 300, (400, 800), args.n_targets
    X = rng.standard_normal((n_samples, sum(widths)))
    weights = rng.standard_normal((sum(widths), n_targets)) * 0.05
    weights[widths[0] :] *= rng.random(n_targets) * 0.5  # band B matters less, varies
    Y = X @ weights + rng.standard_normal((n_samples, n_targets))
    alphas = np.logspace(-1, 5, 13)
    gammas = dirichlet_weightings(args.n_iter, 2, random_state=0)
    groups = np.repeat([0, 1], widths)

    ours_s, ours = best_of(
        args.repeats,
        lambda: BandedRidgeCV(
            bands=[slice(0, widths[0]), slice(widths[0], sum(widths))],
            alphas=alphas,
            n_iter=gammas,
            cv=5,
            scoring="r2",
        ).fit(X, Y),
    )
    theirs_s, theirs = best_of(
        args.repeats,
        lambda: HimalayaBandedRidgeCV(
            groups=groups,
            solver_params=dict(
                n_iter=gammas, alphas=alphas, score_func=r2_score, progress_bar=False
            ),
            fit_intercept=True,
            cv=5,
        ).fit(X, Y),
    )
    delta_diff = np.abs(ours.deltas_ - theirs.deltas_).max()
    pred_diff = np.abs(ours.predict(X) - theirs.predict(X)).max()
    print(f"problem: {n_samples} samples x bands {widths} x {n_targets} targets,")
    print(f"         {args.n_iter} weightings x {alphas.size} alphas x 5 folds")
    print(f"max |deltas difference| {delta_diff:.2e}, max |prediction difference| {pred_diff:.2e}")
    if delta_diff > 1e-8 or pred_diff > 1e-8:
        raise SystemExit("results differ; timings not comparable")
    print(f"brainalign BandedRidgeCV: {ours_s:8.2f} s")
    print(f"himalaya   BandedRidgeCV: {theirs_s:8.2f} s")
    print(f"ratio himalaya / brainalign: {theirs_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
