"""Sliding (time-resolved) decoding: brainalign against MNE's SlidingEstimator.

Random epochs of a real size (300 epochs x 64 channels x 300 time points, a weak
planted signal in the middle), 5 unshuffled folds. Each estimator is the same on both
sides with the same folds:

- ridge, fixed penalty: ``sklearn.linear_model.Ridge(alpha=10)`` per time point in MNE;
  ``sliding_scores(estimator="ridge", alphas=10.0)`` here (closed form, every time
  point in one batched eigendecomposition per fold);
- ridge, penalty by inner CV: ``RidgeCV(alphas, cv=KFold(5))`` (a grid search per time
  point) in MNE; ``alphas=..., inner_cv=5`` here;
- logistic regression, two classes and three classes:
  ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))`` fitted per time
  point (lbfgs) in MNE; ``estimator="logistic"`` here (batched Newton: every time point
  of a fold solved together, see :mod:`brainalign.alignment.batched_logistic`), with
  ``n_jobs`` 1 and 2.

MNE runs with ``n_jobs=1`` and ``n_jobs=2``; the script prints the times, the ratio of
each MNE run to brainalign's, and the largest score difference. For logistic regression
that difference is to MNE's default pipeline (lbfgs stops at ``tol=1e-4``, short of the
optimum, so a test epoch near the boundary can flip); the script also checks the scores
against MNE with ``LogisticRegression(tol=1e-10)`` (the optimum) at every 10th time point.

Run: ``python perf/sliding_vs_mne.py [--epochs 300] [--channels 64] [--times 300]
[--skip-inner] [--skip-multiclass] [--repeat 1]`` (``--repeat N``: best of N runs of
each, for a shared machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def timed(function, repeat=1):
    """Best wall time of ``repeat`` calls (the machine may be shared), and the result."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


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
    parser.add_argument("--skip-multiclass", action="store_true", help="skip 3-class logistic")
    parser.add_argument("--repeat", type=int, default=1, help="report the best of N runs")
    args = parser.parse_args()
    mne.set_log_level("error")

    rng = np.random.default_rng(0)
    n, c, t = args.epochs, args.channels, args.times
    X = rng.standard_normal((n, c, t))
    y_value = rng.standard_normal(n)
    X[:, :8, t // 3 : 2 * t // 3] += 0.3 * y_value[:, None, None]
    y_class = (y_value > 0).astype(int)
    y_three = np.digitize(y_value, np.quantile(y_value, [1 / 3, 2 / 3]))
    alphas = [0.1, 1.0, 10.0, 100.0, 1000.0]

    def logistic(tol=1e-4):
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, tol=tol))

    cases = [("ridge alpha=10", Ridge(alpha=10.0), y_value, {"alphas": 10.0})]
    if not args.skip_inner:
        cases.append(
            (
                "ridge inner-CV alpha",
                RidgeCV(alphas=alphas, cv=KFold(5)),
                y_value,
                {"alphas": alphas, "inner_cv": 5},
            )
        )
    cases.append(("logistic 2 classes", logistic(), y_class, {"estimator": "logistic"}))
    if not args.skip_multiclass:
        cases.append(("logistic 3 classes", logistic(), y_three, {"estimator": "logistic"}))
    print(f"{n} epochs x {c} channels x {t} time points, 5 folds")
    for name, estimator, y, ours_kwargs in cases:
        mne_times = {}
        ref = None
        for n_jobs in (1, 2):
            seconds, ref = timed(
                lambda est=estimator, y=y, n_jobs=n_jobs: cross_val_multiscore(
                    SlidingEstimator(est, n_jobs=n_jobs), X, y, cv=5
                ),
                args.repeat,
            )
            mne_times[n_jobs] = seconds
        is_logistic = ours_kwargs.get("estimator") == "logistic"
        for n_jobs in (1, 2) if is_logistic else (1,):
            ours_s, ours = timed(
                lambda y=y, n_jobs=n_jobs, kw=ours_kwargs: sliding_scores(
                    X, y, cv=5, n_jobs=n_jobs, **kw
                ),
                args.repeat,
            )
            diff = np.abs(ours.scores[..., 0] - ref).max()
            print(
                f"{name:22s} brainalign(n_jobs={n_jobs}) {ours_s:6.2f} s | MNE n_jobs=1 "
                f"{mne_times[1]:6.2f} s ({mne_times[1] / ours_s:5.1f}x), n_jobs=2 "
                f"{mne_times[2]:6.2f} s ({mne_times[2] / ours_s:5.1f}x) | vs faster MNE "
                f"{min(mne_times.values()) / ours_s:5.1f}x | max |score diff| {diff:.1e}"
            )
        if is_logistic:
            every = slice(None, None, 10)
            exact = cross_val_multiscore(
                SlidingEstimator(logistic(tol=1e-10), n_jobs=2), X[:, :, every], y, cv=5
            )
            diff = np.abs(ours.scores[:, every, 0] - exact).max()
            print(f"{name:22s} max |score diff| to MNE at tol=1e-10 (every 10th time) {diff:.1e}")


if __name__ == "__main__":
    main()
