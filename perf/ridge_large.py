"""Large ridge with one alpha per target: brainalign against himalaya and scikit-learn.

The problem of a whole-brain encoding model: 2,000 samples x 768 features (one
transformer layer) x 20,000 targets (voxels), float32 on the CPU, 15 log-spaced alphas
(1e-2 .. 1e5), 5 contiguous folds (``BlockedKFold(5)``), intercept fitted, R^2 scoring.

* brainalign ``RidgeCV(alphas, cv=splits, scoring="r2")``;
* himalaya ``RidgeCV`` (numpy backend) on the same splits and alphas with
  ``score_func=himalaya.scoring.r2_score`` (himalaya's solver default is
  ``l2_neg_loss``; R^2 is passed explicitly so that both choose alphas by the same
  score). The script checks the chosen alphas (equal up to himalaya's float32
  ``exp(-log(alpha))`` round trip; a different choice is counted as a tie when the two
  best mean scores differ by less than 1e-5) and the best mean CV scores (within 1e-5)
  before printing the time ratio;
* scikit-learn ``RidgeCV(alphas, alpha_per_target=True)``: efficient leave-one-out
  CV, a different criterion from k-fold, so only the time and how far its chosen
  alphas are from ours (fraction equal, median |log10 ratio|) are printed.

Each time is the best of ``--repeats`` runs; peak memory is the largest ``tracemalloc``
peak of the runs (numpy reports its buffers to tracemalloc). The load average
(``os.getloadavg``) before and after is printed: the machine is shared.

Run: ``python perf/ridge_large.py [--targets 20000] [--repeats 2] [--threads N]
[--no-sklearn]``. ``perf/ridge_vs_himalaya.py --large`` runs this script.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
import warnings

import numpy as np

N_SAMPLES, N_FEATURES, N_FOLDS = 2000, 768, 5
ALPHAS = np.logspace(-2, 5, 15)
SCORE_TOLERANCE = 1e-5


def timed(repeats: int, function) -> tuple[float, float, object]:
    """Best wall time of ``repeats`` calls, the largest traced peak (bytes), the result."""
    times, peak, result = [], 0, None
    for _ in range(repeats):
        result = None  # free the previous fit before the next one
        tracemalloc.start()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return min(times), peak, result


def make_problem(n_targets: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``X`` (2000, 768) and ``Y`` (2000, n_targets) with signal of varied size."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES), dtype=np.float32)
    strength = rng.random(n_targets, dtype=np.float32) * 0.05
    weights = rng.standard_normal((N_FEATURES, n_targets), dtype=np.float32) * strength
    Y = X @ weights
    Y += rng.standard_normal((N_SAMPLES, n_targets), dtype=np.float32)
    Y += 3.0
    return X, Y


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for each library")
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: all cores)"
    )
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads, user_api="blas"):
        run(args)


def run(args: argparse.Namespace) -> None:
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import r2_score

    from brainalign.alignment.cv import BlockedKFold
    from brainalign.alignment.ridge import RidgeCV

    warnings.filterwarnings("ignore", category=UserWarning)
    set_backend("numpy")
    X, Y = make_problem(args.targets)
    splits = list(BlockedKFold(N_FOLDS, gap=0).split(X))
    print(
        f"problem: {N_SAMPLES} samples x {N_FEATURES} features x {args.targets} targets, "
        f"float32, {ALPHAS.size} alphas ({ALPHAS[0]:g}..{ALPHAS[-1]:g}), {N_FOLDS} folds, "
        f"R^2; best of {args.repeats}; BLAS threads {args.threads or 'all'} of "
        f"{os.cpu_count()} cores; Y is {Y.nbytes / 1e6:.0f} MB"
    )
    print(f"before: {load()}")

    ours_s, ours_peak, ours = timed(
        args.repeats, lambda: RidgeCV(ALPHAS, cv=splits, scoring="r2").fit(X, Y)
    )
    print(f"brainalign RidgeCV         {ours_s:8.2f} s   peak {ours_peak / 1e6:7.0f} MB")
    him_s, him_peak, him = timed(
        args.repeats,
        lambda: HimalayaRidgeCV(
            alphas=ALPHAS,
            cv=splits,
            fit_intercept=True,
            solver_params={"score_func": r2_score, "local_alpha": True},
        ).fit(X, Y),
    )
    print(
        f"himalaya RidgeCV           {him_s:8.2f} s   peak {him_peak / 1e6:7.0f} MB   "
        f"-> himalaya / brainalign {him_s / ours_s:.2f}x"
    )
    check_against_himalaya(ours, him)

    if not args.no_sklearn:
        from sklearn.linear_model import RidgeCV as SklearnRidgeCV

        sk_s, sk_peak, sk = timed(
            args.repeats,
            lambda: SklearnRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y),
        )
        print(
            f"scikit-learn RidgeCV (LOO) {sk_s:8.2f} s   peak {sk_peak / 1e6:7.0f} MB   "
            f"-> scikit-learn / brainalign {sk_s / ours_s:.2f}x"
        )
        compare_alphas_with_sklearn(ours, sk)
    print(f"after: {load()}")


def check_against_himalaya(ours, him) -> None:
    """Assert equal alphas (up to ties) and best CV scores within SCORE_TOLERANCE."""
    ours_alphas = np.asarray(ours.best_alphas_, dtype=np.float64)
    him_alphas = np.asarray(him.best_alphas_, dtype=np.float64)
    # himalaya stores exp(-log(alpha)) in float32: equal to the grid within 1e-6.
    same = np.isclose(ours_alphas, him_alphas, rtol=1e-5)
    scores = np.asarray(ours.cv_scores_, dtype=np.float64)  # (n_alphas, n_targets)
    grid_index = np.abs(np.log(him_alphas)[None, :] - np.log(ALPHAS)[:, None]).argmin(0)
    ours_best = scores.max(axis=0)
    at_their_alpha = scores[grid_index, np.arange(scores.shape[1])]
    tie = ~same & (ours_best - at_their_alpha < SCORE_TOLERANCE)
    score_error = np.abs(ours_best - np.asarray(him.cv_scores_, dtype=np.float64)).max()
    print(
        f"  alphas equal for {same.mean():.4%} of targets; the {int((~same).sum())} others "
        f"are ties (best mean score within {SCORE_TOLERANCE:g}): {bool(np.all(same | tie))}; "
        f"max |best CV score difference| {score_error:.1e}"
    )
    assert np.all(same | tie), "brainalign and himalaya chose different alphas beyond ties"
    assert score_error < SCORE_TOLERANCE, f"best CV scores differ by {score_error}"


def compare_alphas_with_sklearn(ours, sk) -> None:
    """Print how the LOO-chosen alphas differ from the 5-fold ones (not a check)."""
    ours_alphas = np.asarray(ours.best_alphas_, dtype=np.float64)
    sk_alphas = np.asarray(sk.alpha_, dtype=np.float64)
    log_ratio = np.abs(np.log10(sk_alphas / ours_alphas))
    differ = log_ratio[log_ratio >= 1e-6]
    among = f"{np.median(differ):.2f}" if differ.size else "-"
    print(
        f"  scikit-learn's leave-one-out alphas equal ours for {np.mean(log_ratio < 1e-6):.1%} "
        f"of targets; median |log10 ratio| {np.median(log_ratio):.2f} (among those that "
        f"differ {among}; max {log_ratio.max():.2f}); a grid step is "
        f"{np.log10(ALPHAS[1] / ALPHAS[0]):.2f}"
    )


if __name__ == "__main__":
    main()
