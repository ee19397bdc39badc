"""RSA: brainalign.alignment.rsa against rsatoolbox, same problems, one run.

Three problems, each checked for equal numbers before its time ratio is printed:

1. one RDM of 92 conditions x 1000 channels (correlation distance, and crossnobis over
   4 runs with a shrinkage noise precision), compared with 10 model RDMs (Spearman);
2. time-resolved RSA: 92 conditions x 64 channels x 200 time points -> 200 RDMs,
   compared with 3 model RDMs by Spearman (model x time);
3. the same 200 x 3 comparison by Kendall tau-b (brainalign's vectorised O(n_pairs**2)
   sign products against scipy's O(n_pairs log n_pairs) per pair in rsatoolbox's loop).

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


if __name__ == "__main__":
    main()
