"""Sliding (time-resolved) decoding: brainalign against MNE's SlidingEstimator.

Random epochs of a real size (300 epochs x 64 channels x 300 time points, a weak
planted signal in the middle), 5 unshuffled folds. Three estimators, each the same on
both sides with the same folds:

- ridge, fixed penalty: ``sklearn.linear_model.Ridge(alpha=10)`` per time point in MNE;
  ``sliding_scores(estimator="ridge", alphas=10.0)`` here (closed form, every time
  point in one batched eigendecomposition per fold);
- ridge, penalty by inner CV: ``RidgeCV(alphas, cv=KFold(5))`` (a grid search per time
  point) in MNE; ``alphas=..., inner_cv=5`` here;
- logistic regression: ``make_pipeline(StandardScaler(), LogisticRegression())``, fitted
  per time point on both sides (``n_jobs`` threads here).

MNE runs with ``n_jobs=1`` and ``n_jobs=2``; the script checks the scores agree
(max abs difference), then prints the times and the ratio to MNE's faster run.

Run: ``python perf/sliding_vs_mne.py [--epochs 300] [--channels 64] [--times 300]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    import mne
    from mne.decoding import SlidingEstimator, cross_val_multiscore
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from brainalign.alignment.time_resolved import sliding_scores

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--times", type=int, default=300)
    parser.add_argument("--skip-inner", action="store_true", help="skip the RidgeCV case")
    args = parser.parse_args()
    mne.set_log_level("error")

    rng = np.random.default_rng(0)
    n, c, t = args.epochs, args.channels, args.times
    X = rng.standard_normal((n, c, t))
    y_value = rng.standard_normal(n)
    X[:, :8, t // 3 : 2 * t // 3] += 0.3 * y_value[:, None, None]
    y_class = (y_value > 0).astype(int)
    alphas = [0.1, 1.0, 10.0, 100.0, 1000.0]

    cases = [
        ("ridge alpha=10", Ridge(alpha=10.0), y_value, {"alphas": 10.0}),
        (
            "logistic",
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
            y_class,
            {"estimator": "logistic"},
        ),
    ]
    if not args.skip_inner:
        cases.insert(
            1,
            (
                "ridge inner-CV alpha",
                RidgeCV(alphas=alphas, cv=KFold(5)),
                y_value,
                {"alphas": alphas, "inner_cv": 5},
            ),
        )
    print(f"{n} epochs x {c} channels x {t} time points, 5 folds")
    for name, estimator, y, ours_kwargs in cases:
        mne_times = {}
        ref = None
        for n_jobs in (1, 2):
            seconds, ref = timed(
                lambda est=estimator, y=y, n_jobs=n_jobs: cross_val_multiscore(
                    SlidingEstimator(est, n_jobs=n_jobs), X, y, cv=5
                )
            )
            mne_times[n_jobs] = seconds
        threads = (1, 2) if ours_kwargs.get("estimator") == "logistic" else (1,)
        for n_jobs in threads:
            ours_s, ours = timed(
                lambda y=y, n_jobs=n_jobs, kw=ours_kwargs: sliding_scores(
                    X, y, cv=5, n_jobs=n_jobs, **kw
                )
            )
            diff = np.abs(ours.scores[..., 0] - ref).max()
            fastest = min(mne_times.values())
            print(
                f"{name:22s} brainalign(n_jobs={n_jobs}) {ours_s:7.2f} s | MNE n_jobs=1 "
                f"{mne_times[1]:7.2f} s, n_jobs=2 {mne_times[2]:7.2f} s | speed-up vs faster "
                f"MNE {fastest / ours_s:6.1f}x | max |score diff| {diff:.1e}"
            )


if __name__ == "__main__":
    main()
