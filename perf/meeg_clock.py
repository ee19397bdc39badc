"""Features on the M/EEG clock: brainalign against the naive alternatives, one run.

Problem (one MEG-MASC story, about 10 minutes of speech):

* words: ``--words`` word onsets (2.5 words per second) with 256-dim features, placed as
  impulses on a 100 Hz grid. ``brainalign``: :func:`impulse_features` (one
  ``numpy.add.at``); naive: a Python loop over words, each finding its sample with
  ``numpy.argmin`` over the grid's times.
* frames: a 50 Hz audio model's frames (64 dims) over ``--minutes`` minutes, resampled
  to 100 Hz (upsampling) and 20 Hz (downsampling, anti-aliased). ``brainalign``:
  :func:`resample_features` (Lanczos over blocks of targets, each with only the frames
  its kernel reaches); naive: the dense :func:`lanczos_resample` over every frame
  (the project's fMRI path, built for a few hundred volumes), normalised the same way.

The script checks that the results agree before printing times and ratios; brainalign's
time is the best of ``--repeats`` runs, the naive ones run once.

Run: ``python perf/meeg_clock.py [--minutes 10] [--words 1500] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from brainalign.alignment.meeg_clock import impulse_features, resample_features, sample_times
from brainalign.alignment.temporal import lanczos_resample


def timed(function, repeats: int = 1):
    """Best wall time of ``repeats`` calls, and the result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def naive_impulses(onsets, values, grid):
    out = np.zeros((grid.size, values.shape[1]))
    for onset, row in zip(onsets, values, strict=True):
        out[int(np.argmin(np.abs(grid - onset)))] += row
    return out


def naive_resample(frames, values, targets, cutoff):
    """Dense Lanczos over every frame, normalised like resample_features."""
    with_ones = np.column_stack([values, np.ones(frames.size)])
    summed = lanczos_resample(with_ones, frames, targets, window=3, cutoff=cutoff)
    dt = float(np.median(np.diff(frames)))
    inside = (targets >= frames[0] - dt / 2) & (targets <= frames[-1] + dt / 2)
    return np.where(inside[:, None], summed[:, :-1] / summed[:, -1:], 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--words", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    seconds = args.minutes * 60
    print(f"{args.minutes:g} min of speech; load average {os.getloadavg()[0]:.2f}")

    sfreq, n_samples = 100.0, int(seconds * 100)
    onsets = np.sort(rng.uniform(0, seconds - 1, size=args.words))
    values = rng.normal(size=(args.words, 256))
    grid = {"sfreq": sfreq, "n_samples": n_samples}
    fast_s, fast = timed(lambda: impulse_features(onsets, values, **grid), args.repeats)
    slow_s, slow = timed(lambda: naive_impulses(onsets, values, sample_times(**grid)))
    np.testing.assert_allclose(fast, slow)
    print(
        f"impulses  {args.words} words x 256 -> {n_samples} samples: brainalign "
        f"{fast_s * 1e3:.1f} ms, Python loop {slow_s * 1e3:.1f} ms, ratio {slow_s / fast_s:.1f}x"
    )

    frames = 0.01 + np.arange(int(seconds * 50)) / 50.0
    features = rng.normal(size=(frames.size, 64))
    for target in (100.0, 20.0):
        grid = {"sfreq": target, "n_samples": int(seconds * target)}
        fast_s, fast = timed(lambda g=grid: resample_features(frames, features, **g), args.repeats)
        targets = sample_times(**grid)
        cutoff = min(50.0, target) / 2
        slow_s, slow = timed(lambda t=targets, c=cutoff: naive_resample(frames, features, t, c))
        np.testing.assert_allclose(fast, slow, atol=1e-9)
        print(
            f"frames    {frames.size} x 64 at 50 Hz -> {target:g} Hz: brainalign "
            f"{fast_s:.3f} s, dense lanczos_resample {slow_s:.3f} s, "
            f"ratio {slow_s / fast_s:.1f}x (max |diff| {np.abs(fast - slow).max():.1e})"
        )


if __name__ == "__main__":
    main()
