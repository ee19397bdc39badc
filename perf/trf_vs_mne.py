"""Temporal response functions with a per-target penalty: brainalign against MNE and mTRFpy.

The problem: 64 channels x 10 minutes at 128 Hz (76,800 samples) cut into 5 runs of
2 minutes, 8 stimulus features x 50 lags (0 .. 49 samples, 400 lagged features), 8
log-spaced penalties, 5 folds (leave one run out: the folds an MNE user writes with
epochs), Pearson r per channel on the held-out run, best penalty per channel, refit
on all runs. Every tool does the same search with the same folds:

* MNE ``TimeDelayingRidge`` (``ReceptiveField(estimator=TimeDelayingRidge(alpha))``),
  a loop over penalties x folds as an MNE user writes it, then one refit on all runs
  per distinct chosen penalty; against brainalign ``TRF(centering="global")``;
* MNE ``ReceptiveField(estimator=sklearn Ridge(alpha))``, the same loop; against
  brainalign ``TRF(centering="epoch")``;
* mTRFpy ``TRF.train(..., k=5, reg_per_y_channel=True)`` if installed (its own
  leave-one-trial-out search; its weights are brainalign's times ``sfreq``); against
  brainalign ``TRF(centering="zero")`` with ``alpha = lambda * sfreq * 4`` (mTRFpy
  scales lambda by the sampling rate and averages covariances over the 4 training
  trials of a fold).

Next to each time the script prints how far the numbers are apart (``NUMBERS DIFFER``
past the tolerances): the mean validation scores of every penalty and channel (within
1e-6), the chosen penalties (equal) and the refitted kernels (relative 1e-6; for
mTRFpy the refit uses 5 trials, so brainalign's kernels are refitted at
``lambda * sfreq * 5``, per channel, outside the timing).

Run: ``python perf/trf_vs_mne.py [--minutes 10] [--channels 64] [--skip-ridge]
[--skip-mtrf]``. Times are single runs (each is seconds to minutes); the load average
is printed because the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

SFREQ = 128.0
N_RUNS, N_FEATURES, N_LAGS = 5, 8, 50
TMIN, TMAX = 0.0, (N_LAGS - 1) / SFREQ
ALPHAS = np.logspace(0, 7, 8)


def make_problem(minutes: float, n_channels: int, seed: int = 0):
    """X (n_times, n_runs, 8) and y (n_times, n_runs, n_channels) with a planted TRF."""
    rng = np.random.default_rng(seed)
    n_times = int(minutes * 60 * SFREQ) // N_RUNS
    X = rng.standard_normal((n_times, N_RUNS, N_FEATURES))
    X = np.cumsum(X, axis=0) * 0.05 + X  # some autocorrelation
    kernel = rng.standard_normal((n_channels, N_FEATURES, N_LAGS)) * np.hanning(N_LAGS)
    y = np.zeros((n_times, N_RUNS, n_channels))
    for run in range(N_RUNS):
        for f in range(N_FEATURES):
            conv = np.apply_along_axis(
                lambda k, x=X[:, run, f]: np.convolve(x, k)[:n_times], 1, kernel[:, f]
            )
            y[:, run] += conv.T
    strength = np.logspace(-2, 0, n_channels)
    y = y * strength + rng.standard_normal(y.shape) * y.std()
    return X, y


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def mne_search(X, y, make_estimator):
    """The MNE user's loop: penalties x leave-one-run-out folds, then refits."""
    from mne.decoding import ReceptiveField

    scores = np.zeros((ALPHAS.size, y.shape[2]))
    for i, alpha in enumerate(ALPHAS):
        for held in range(N_RUNS):
            train = [r for r in range(N_RUNS) if r != held]
            rf = ReceptiveField(TMIN, TMAX, SFREQ, estimator=make_estimator(alpha))
            rf.fit(X[:, train], y[:, train])
            pred = rf.predict(X[:, [held]])[:, 0]
            scores[i] += pearson(pred, y[:, held])
    scores /= N_RUNS
    best = ALPHAS[np.argmax(scores, axis=0)]
    coef = np.zeros((y.shape[2], N_FEATURES, N_LAGS))
    for alpha in np.unique(best):
        rf = ReceptiveField(TMIN, TMAX, SFREQ, estimator=make_estimator(alpha)).fit(X, y)
        coef[best == alpha] = rf.coef_[best == alpha]
    return scores, best, coef


def brainalign_search(X, y, centering, alphas=ALPHAS):
    from sklearn.model_selection import LeaveOneGroupOut

    from brainalign.alignment.trf import TRF

    trf = TRF(TMIN, TMAX, SFREQ, alphas=alphas, centering=centering, cv=LeaveOneGroupOut())
    return trf.fit(X, y)


def mtrf_search(X, y):
    from mtrf.model import TRF as MTRF

    model = MTRF(direction=1, kind="multi", zeropad=True, method="ridge", preload=True)
    stimulus = [np.ascontiguousarray(X[:, r]) for r in range(N_RUNS)]
    response = [np.ascontiguousarray(y[:, r]) for r in range(N_RUNS)]
    lambdas = ALPHAS / (SFREQ * (N_RUNS - 1))
    metric = model.train(
        stimulus,
        response,
        int(SFREQ),
        TMIN,
        TMAX,
        list(lambdas),
        k=N_RUNS,
        reg_per_y_channel=True,
        verbose=False,
    )
    return model, np.asarray(metric), lambdas


def check(name: str, ours, theirs_scores, theirs_best, theirs_coef) -> None:
    score_diff = np.max(np.abs(ours.cv_scores_ - theirs_scores))
    same_alphas = np.mean(ours.best_alphas_ == theirs_best)
    coef_diff = np.max(np.abs(ours.coef_ - theirs_coef)) / np.max(np.abs(theirs_coef))
    print(
        f"  {name}: max |cv score diff| {score_diff:.1e}, chosen alphas equal for "
        f"{same_alphas:.0%} of channels, max relative kernel diff {coef_diff:.1e}"
    )
    if not (score_diff < 1e-6 and same_alphas == 1.0 and coef_diff < 1e-6):
        print(f"  {name}: NUMBERS DIFFER")


def check_mtrf(X, y, ours, model, metric) -> None:
    """mTRFpy against brainalign: same scores and choices; kernels after a 5-trial refit.

    mTRFpy's weights are brainalign's times ``sfreq`` (it divides by ``1 / fs``).
    """
    chosen = np.asarray(model.regularization).ravel()
    refit = np.zeros_like(ours.coef_)
    for lam in np.unique(chosen):  # each channel refitted at its own penalty
        refit[chosen == lam] = brainalign_search(
            X, y[:, :, chosen == lam], "zero", [lam * SFREQ * N_RUNS]
        ).coef_
    theirs = model.weights.transpose(2, 0, 1) / SFREQ
    score_diff = np.max(np.abs(ours.cv_scores_ - metric))
    same = np.mean(np.isclose(ours.best_alphas_ / (SFREQ * (N_RUNS - 1)), chosen))
    coef_diff = np.max(np.abs(refit - theirs)) / np.max(np.abs(theirs))
    print(
        f"  mTRFpy: max |cv score diff| {score_diff:.1e}, chosen penalties equal for "
        f"{same:.0%} of channels, max relative kernel diff {coef_diff:.1e}"
    )
    if not (score_diff < 1e-6 and same == 1.0 and coef_diff < 1e-6):
        print("  mTRFpy: NUMBERS DIFFER")


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--skip-ridge", action="store_true", help="skip MNE + sklearn Ridge")
    parser.add_argument("--skip-mtrf", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import mne

    mne.set_log_level("error")
    X, y = make_problem(args.minutes, args.channels)
    print(
        f"{X.shape[0] * N_RUNS} samples ({N_RUNS} runs) x {N_FEATURES} features x "
        f"{N_LAGS} lags -> {args.channels} channels; {ALPHAS.size} alphas, {N_RUNS} folds; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    mne_search(X[:200, :, :1], y[:200, :, :1], lambda a: a)  # warm numba up, untimed
    brainalign_search(X[:200], y[:200, :, :1], "global")  # and brainalign's imports

    rows = []
    t_ours, ours = timed(brainalign_search, X, y, "global")
    t_mne, (scores, best, coef) = timed(mne_search, X, y, lambda a: a)
    check("TimeDelayingRidge", ours, scores, best, coef)
    rows.append(("MNE TimeDelayingRidge", t_mne, 'TRF(centering="global")', t_ours))
    print(f"  times: MNE {t_mne:.2f} s, brainalign {t_ours:.2f} s", flush=True)

    if not args.skip_ridge:
        from sklearn.linear_model import Ridge

        t_ours, ours = timed(brainalign_search, X, y, "epoch")
        t_mne, (scores, best, coef) = timed(mne_search, X, y, lambda a: Ridge(alpha=a))
        check("sklearn Ridge", ours, scores, best, coef)
        rows.append(("MNE ReceptiveField + sklearn Ridge", t_mne, 'TRF(centering="epoch")', t_ours))
        print(f"  times: MNE {t_mne:.2f} s, brainalign {t_ours:.2f} s", flush=True)

    if not args.skip_mtrf:
        try:
            import mtrf  # noqa: F401
        except ImportError:
            print("  mTRFpy not installed: skipped")
        else:
            t_ours, ours = timed(brainalign_search, X, y, "zero")
            t_mtrf, (model, metric, lambdas) = timed(mtrf_search, X, y)
            check_mtrf(X, y, ours, model, metric)
            rows.append(("mTRFpy", t_mtrf, 'TRF(centering="zero")', t_ours))
            print(f"  times: mTRFpy {t_mtrf:.2f} s, brainalign {t_ours:.2f} s", flush=True)

    print(f"\n{'alternative':38s} {'time s':>8s}   {'brainalign':26s} {'time s':>8s} {'ratio':>7s}")
    for name, t_alt, ours_name, t_b in rows:
        print(f"{name:38s} {t_alt:8.2f}   {ours_name:26s} {t_b:8.2f} {t_alt / t_b:6.1f}x")
    fastest = min(rows, key=lambda row: row[1])
    print(
        f"fastest alternative: {fastest[0]} ({fastest[1]:.2f} s); brainalign's matching "
        f"estimator is {fastest[1] / fastest[3]:.1f}x faster; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
