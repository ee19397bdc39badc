"""Epochs of a study scored per time point: one fit for all time points vs a loop.

Problem: 200 stimuli x 2 trials, 64 channels, ``--times`` time points in the scored
window (default 150: 0-0.6 s at 250 Hz), stimulus features of 256 dimensions; the event
defaults (5 shuffled outer folds, 5 inner folds choosing each target's penalty over
the 19 default alphas). A planted response (a random projection of the features in
half of the channels) makes the scores non-trivial.

It times, on the same arrays:

* what ``sampling: epochs`` does (:class:`brainalign.benchmarks.study.epochs.
  EpochsEncodingTask`): one :func:`~brainalign.alignment.encoding.
  cross_validated_encoding` call with every channel x time point as a target, so one
  ridge decomposition per fold (and inner fold) serves all of them;
* the naive alternative: the same call once per time point (64 targets each), as a
  user scoring each time point as an event study would;

checks that both give the same scores (they must: each target's fit is independent),
and prints the ratio. Then the ceiling: ``split_half_reliability`` over all channel x
time targets at once (what the study does).

Run: ``python perf/study_epochs.py [--times 150] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=150)
    parser.add_argument("--stimuli", type=int, default=200)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))

    from brainalign.alignment.ceiling import split_half_reliability
    from brainalign.alignment.encoding import cross_validated_encoding

    rng = np.random.default_rng(0)
    n, c, t = args.stimuli, args.channels, args.times
    X = rng.normal(size=(n, 256))
    signal = X @ rng.normal(size=(256, c // 2)) / 16
    trials = rng.normal(size=(n, c, t, 2))
    trials[:, : c // 2, t // 4 : t // 2, :] += signal[:, :, None, None]
    Y = trials.mean(axis=3)  # trials averaged per stimulus, (n, c, t)

    start = time.perf_counter()
    together = cross_validated_encoding(X, Y.reshape(n, -1), sampling="event", seed=0).scores
    one_fit = time.perf_counter() - start
    start = time.perf_counter()
    looped = np.stack(
        [
            cross_validated_encoding(X, Y[:, :, k], sampling="event", seed=0).scores
            for k in range(t)
        ],
        axis=1,
    )
    loop = time.perf_counter() - start
    difference = float(np.max(np.abs(together.reshape(c, t) - looped)))
    print(f"problem: {n} stimuli, {c} channels x {t} time points, 256 features, 5 x 5 folds")
    print(f"one fit per fold for all time points: {one_fit:8.2f} s")
    print(f"a fit per time point (loop):          {loop:8.2f} s")
    print(f"ratio loop / one fit:                 {loop / one_fit:8.1f} x")
    print(f"largest score difference:             {difference:.2e}")

    start = time.perf_counter()
    reliability = split_half_reliability(trials.reshape(n, c * t, 2))
    print(
        f"split-half ceiling, {c * t} targets x 100 splits: {time.perf_counter() - start:.2f} s "
        f"(median reliability {np.nanmedian(reliability):.3f})"
    )


if __name__ == "__main__":
    main()
