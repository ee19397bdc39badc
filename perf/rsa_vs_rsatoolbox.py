"""RSA: brainalign.alignment.rsa against rsatoolbox, same problems, one run.

Three problems, each checked for equal numbers before its time ratio is printed:

1. one RDM of 92 conditions x 1000 channels (correlation distance, and crossnobis over
   4 runs with a shrinkage noise precision), compared with 10 model RDMs (Spearman);
2. time-resolved RSA: 92 conditions x 64 channels x 200 time points -> 200 RDMs,
   compared with 3 model RDMs by Spearman (model x time);
3. the same 200 x 3 comparison by Kendall tau-b (brainalign's vectorised O(n_pairs**2)
   sign products against scipy's O(n_pairs log n_pairs) per pair in rsatoolbox's loop);
4. a large crossnobis RDM: 92 conditions x 10,000 channels x 8 runs, one pattern per
   condition per run (736 single trials), without a noise precision (identity) and with
   a diagonal one (``noise_precision(residuals, "diag")``, univariate noise
   normalisation). A full (shrinkage) precision is not timed at this size: it is a
   10,000 x 10,000 float64 matrix (800 MB) whose estimation is an O(n_channels**3)
   inverse in both libraries, and applying it costs both the same
   (n_runs * n_conditions) x n_channels**2 product, so there is nothing to gain;
   problem 1 times a shrinkage precision at 1,000 channels. rsatoolbox's
   ``calc_rdm(method="crossnobis")`` takes the precision as a dense matrix
   (``noise=None`` becomes ``numpy.eye(n_channels)``, also 800 MB) and multiplies by
   it once per run; brainalign skips the identity and scales channels by a diagonal
   precision (same numbers: each product has one non-zero term). The precision matrix
   is built once, outside the timings, and given to both. ``--no-large`` skips it.

Both sides run on one CPU thread (BLAS and torch) so the figures are comparable and
stable on a shared machine; pass ``--threads N`` to change that.

Run: ``python perf/rsa_vs_rsatoolbox.py [--repeats 3] [--backend numpy|torch|torch_cuda]``.
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


def report(name: str, ours: float, theirs: float, ours_result, theirs_result) -> None:
    from brainalign.alignment.backend import to_numpy

    error = np.max(np.abs(to_numpy(ours_result) - np.asarray(theirs_result)))
    print(
        f"{name:<46} brainalign {ours * 1e3:9.1f} ms   rsatoolbox {theirs * 1e3:9.1f} ms   "
        f"ratio (rsatoolbox / brainalign) {theirs / ours:7.1f}x   max |diff| {error:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch", "torch_cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--no-large", action="store_true", help="skip the 92 x 10,000 x 8 crossnobis problem"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        run_all(args)


def run_all(args: argparse.Namespace) -> None:
    from rsatoolbox.data import Dataset, TemporalDataset
    from rsatoolbox.data.noise import prec_from_residuals
    from rsatoolbox.rdm import RDMs, calc_rdm, calc_rdm_movie, compare

    from brainalign.alignment import rsa
    from brainalign.alignment.backend import to_backend

    def on(x):
        return to_backend(x, args.backend)

    def synced(function):
        """Wait for the GPU before the clock stops."""
        if args.backend != "torch_cuda":
            return function
        import torch

        def run():
            out = function()
            torch.cuda.synchronize()
            return out

        return run

    rng = np.random.default_rng(0)
    n_cond, n_chan, n_runs = 92, 1000, 4
    n_pairs = n_cond * (n_cond - 1) // 2
    patterns = rng.standard_normal((n_cond, n_chan))
    models = rng.standard_normal((10, n_pairs))
    print(f"backend {args.backend}; best of {args.repeats}; {args.threads} thread(s)")

    # 1. one big RDM + comparison with 10 models
    def theirs_rdm():
        data_rdm = calc_rdm(Dataset(patterns), method="correlation")
        return compare(RDMs(models), data_rdm, method="spearman")

    patterns_b, models_b = on(patterns), on(models)

    def ours_rdm():
        return rsa.compare_rdms(models_b, rsa.rdm(patterns_b, "correlation"), "spearman")

    t_theirs, r_theirs = best_of(args.repeats, theirs_rdm)
    t_ours, r_ours = best_of(args.repeats, synced(ours_rdm))
    report("92x1000 correlation RDM + spearman vs 10", t_ours, t_theirs, r_ours, r_theirs[:, 0])

    conditions = np.tile(np.arange(n_cond), n_runs)
    runs = np.repeat(np.arange(n_runs), n_cond)
    trials = patterns[conditions] + rng.standard_normal((len(runs), n_chan))
    residuals = rng.standard_normal((400, n_chan))
    dataset = Dataset(trials, obs_descriptors={"cond": conditions, "run": runs})

    def theirs_cross():
        precision = prec_from_residuals(residuals)
        return calc_rdm(
            dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=precision
        ).get_vectors()[0]

    trials_b, residuals_b = on(trials), on(residuals)

    def ours_cross():
        precision = rsa.noise_precision(residuals_b)
        return rsa.rdm(
            trials_b, "crossnobis", conditions=conditions, partitions=runs, noise=precision
        )

    t_theirs, r_theirs = best_of(args.repeats, theirs_cross)
    t_ours, r_ours = best_of(args.repeats, synced(ours_cross))
    report("92x1000 crossnobis, 4 runs, shrinkage prec.", t_ours, t_theirs, r_ours, r_theirs)

    # 2. time-resolved RSA
    n_meg, n_times = 64, 200
    epochs = rng.standard_normal((n_cond, n_meg, n_times))
    time_models = rng.standard_normal((3, n_pairs))
    temporal = TemporalDataset(epochs, time_descriptors={"time": np.arange(n_times)})

    def theirs_time(method):
        movie = calc_rdm_movie(temporal, method="correlation")
        return compare(RDMs(time_models), movie, method=method)

    epochs_b, time_models_b = on(epochs), on(time_models)

    def ours_time(method):
        data_rdms = rsa.time_resolved_rdms(epochs_b, "correlation")
        return rsa.compare_time_resolved(time_models_b, data_rdms, method)

    t_theirs, r_theirs = best_of(args.repeats, lambda: theirs_time("spearman"))
    t_ours, r_ours = best_of(args.repeats, synced(lambda: ours_time("spearman")))
    report("time-resolved 92x64x200, spearman vs 3", t_ours, t_theirs, r_ours, r_theirs)

    t_theirs, r_theirs = best_of(1, lambda: theirs_time("kendall"))
    t_ours, r_ours = best_of(1, synced(lambda: ours_time("kendall_tau_b")))
    report("time-resolved 92x64x200, kendall tau-b vs 3", t_ours, t_theirs, r_ours, r_theirs)

    if not args.no_large:
        large_crossnobis(args, on, synced)


def large_crossnobis(args: argparse.Namespace, on, synced) -> None:
    """Problem 4: 92 conditions x 10,000 channels x 8 runs, identity and diagonal noise."""
    import os

    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    from brainalign.alignment import rsa
    from brainalign.alignment.backend import to_numpy

    rng = np.random.default_rng(1)
    n_cond, n_chan, n_runs = 92, 10_000, 8
    conditions = np.tile(np.arange(n_cond), n_runs)
    runs = np.repeat(np.arange(n_runs), n_cond)
    signal = rng.standard_normal((n_cond, n_chan))
    scale = rng.random(n_chan) + 0.5  # channels with different noise levels
    trials = signal[conditions] + rng.standard_normal((len(runs), n_chan)) * scale
    residuals = rng.standard_normal((200, n_chan)) * scale
    dataset = Dataset(trials, obs_descriptors={"cond": conditions, "run": runs})
    precision = to_numpy(rsa.noise_precision(residuals, "diag"))  # (n_chan, n_chan), 800 MB
    trials_b, precision_b = on(trials), on(precision)
    print(f"load average before problem 4: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for label, theirs_noise, ours_noise in (
        ("identity", None, None),
        ("diag prec.", precision, precision_b),
    ):

        def theirs(noise=theirs_noise):
            return calc_rdm(
                dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=noise
            ).get_vectors()[0]

        def ours(noise=ours_noise):
            return rsa.rdm(
                trials_b, "crossnobis", conditions=conditions, partitions=runs, noise=noise
            )

        t_theirs, r_theirs = best_of(args.repeats, theirs)
        t_ours, r_ours = best_of(args.repeats, synced(ours))
        np.testing.assert_allclose(to_numpy(r_ours), r_theirs, rtol=1e-8, atol=1e-12)
        report(f"92x10000 crossnobis, 8 runs, {label}", t_ours, t_theirs, r_ours, r_theirs)
    print(f"load average after problem 4: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
