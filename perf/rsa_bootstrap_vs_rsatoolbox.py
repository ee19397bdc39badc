"""Bootstrap evaluation of model RDMs: brainalign against rsatoolbox, same resamples, one run.

Problem: the 8 model RDMs of the Kriegeskorte et al. 2008 demo (92_modelRDMs.mat) and the
figure-1 monkey-IT and human-IT RDMs -- 10 model RDMs -- evaluated against the 8 human-IT
RDMs (4 subjects x 2 sessions, 92 x 92) with a bootstrap over stimuli and its noise
ceiling per resample: ``rsatoolbox.inference.eval_bootstrap_pattern`` against
``brainalign.alignment.rsa_inference.bootstrap_rdm_evaluation(resample="stimuli")``.

rsatoolbox draws its resamples with numpy's global RNG; its sampler is wrapped to record
the indices it draws, and brainalign is given the same indices, so the two evaluate the
same resamples and must give the same numbers, checked (max |difference| of evaluations
and noise ceilings) before any ratio is printed.

Spearman: both at ``--resamples`` (default 1,000). Kendall tau-a: rsatoolbox (about 0.1 s
per resample here) at ``--kendall-resamples`` (default 100), its time scaled linearly to
``--resamples`` (each resample costs the same; the output says so); brainalign runs all
``--resamples``, the first ``--kendall-resamples`` of them rsatoolbox's (the numbers are
checked on those), the others drawn with numpy. brainalign's time is also given without
the noise ceiling (``noise_ceiling=False``): the model evaluations alone, whose resampled
RDMs are fixed RDMs with weighted pairs; the noise ceiling compares each data RDM with
pooled RDMs that change with every resample and is computed resample by resample.
Both sides run on ``--threads`` BLAS/torch threads (default 1) so the figures are
comparable on a shared machine; rsatoolbox is timed once (a long run averages the load of
a shared machine), brainalign as the best of ``--repeats`` runs (default 3).

Run: ``python perf/rsa_bootstrap_vs_rsatoolbox.py [--resamples 1000]
[--kendall-resamples 100] [--backend numpy|torch|torch_cuda]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "kriegeskorte2008_92"


def load_problem() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(model names, 10 model RDMs (10, 4186), 8 human-IT RDMs (8, 4186)), float64."""
    import scipy.io
    from scipy.spatial.distance import squareform

    def structs(name: str, variable: str):
        mat = scipy.io.loadmat(DATA / name, struct_as_record=False, squeeze_me=True)
        return mat[variable]

    brain = structs("92_brainRDMs.mat", "RDMs").ravel()
    data = np.array([squareform(s.RDM, checks=False) for s in brain], dtype=np.float64)
    models = structs("92_modelRDMs.mat", "Models")
    names = [s.name for s in models]
    rdms = [squareform(s.RDM, checks=False) for s in models]
    with np.load(DATA / "fig1_mIT_hIT_rdms.npz") as figure1:
        for key in ("mIT_674neurons", "hITvisStim_316vx"):
            names.append(f"fig1 {key}")
            rdms.append(figure1[key])
    return names, np.array(rdms, dtype=np.float64), data


def run_rsatoolbox(names, models, data, method: str, n_resamples: int, seed: int):
    """rsatoolbox's eval_bootstrap_pattern: (seconds, evaluations, noise ceilings, indices)."""
    from rsatoolbox.inference import evaluate
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    drawn: list[np.ndarray] = []
    original = evaluate.bootstrap_sample_pattern

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        drawn.append(out[1])
        return out

    model_list = [ModelFixed(n, RDMs(r[None, :])) for n, r in zip(names, models, strict=True)]
    evaluate.bootstrap_sample_pattern = recording
    try:
        np.random.seed(seed)  # noqa: NPY002 (rsatoolbox draws from the global RNG)
        start = time.perf_counter()
        result = evaluate.eval_bootstrap_pattern(
            model_list, RDMs(data), method=method, N=n_resamples
        )
        seconds = time.perf_counter() - start
    finally:
        evaluate.bootstrap_sample_pattern = original
    return seconds, result.evaluations, result.noise_ceiling.T, np.array(drawn)


def run_brainalign(
    models,
    data,
    method: str,
    indices: np.ndarray,
    backend: str,
    repeats: int,
    noise_ceiling: bool = True,
    n_jobs: int = 1,
):
    """brainalign on the given resamples, best of ``repeats``: (seconds, evaluations,
    noise ceilings or None)."""
    from brainalign.alignment.backend import to_backend, to_numpy
    from brainalign.alignment.rsa_inference import bootstrap_rdm_evaluation

    models_b, data_b = to_backend(models, backend), to_backend(data, backend)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = bootstrap_rdm_evaluation(
            models_b,
            data_b,
            method=method,
            resample="stimuli",
            stimulus_indices=indices,
            noise_ceiling=noise_ceiling,
            n_jobs=n_jobs,
        )
        if backend == "torch_cuda":
            import torch

            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    distribution = to_numpy(result.distribution)
    ceilings = result.noise_ceiling_distribution
    return min(times), distribution, None if ceilings is None else to_numpy(ceilings)


def compare_one(args, names, models, data, ours_name: str, theirs_name: str, n: int) -> None:
    t_theirs, evals, ceilings, indices = run_rsatoolbox(
        names, models, data, theirs_name, n, args.seed
    )
    if n < args.resamples:  # rsatoolbox's resamples first, then more of the same kind
        rng = np.random.default_rng(args.seed)
        more = rng.integers(0, indices.shape[1], size=(args.resamples - n, indices.shape[1]))
        indices = np.vstack([indices, more])
    t_ours, our_evals, our_ceilings = run_brainalign(
        models, data, ours_name, indices, args.backend, args.repeats, n_jobs=args.jobs
    )
    error = max(
        np.nanmax(np.abs(our_evals[:n] - evals)), np.nanmax(np.abs(our_ceilings[:n] - ceilings))
    )
    if not error < 1e-9:
        raise SystemExit(f"{ours_name}: results differ from rsatoolbox (max |diff| {error:.1e})")
    t_models, _, _ = run_brainalign(
        models,
        data,
        ours_name,
        indices,
        args.backend,
        args.repeats,
        noise_ceiling=False,
        n_jobs=args.jobs,
    )
    t_one, _, _ = (
        run_brainalign(models, data, ours_name, indices, args.backend, args.repeats)
        if args.jobs != 1
        else (t_ours, None, None)
    )
    scale = args.resamples / n
    note = (
        "" if n == args.resamples else f"  (rsatoolbox timed at {n} resamples, scaled x{scale:g})"
    )
    t_theirs = t_theirs * scale
    print(
        f"{ours_name:<14} {args.resamples} resamples: brainalign {t_ours:8.2f} s   "
        f"rsatoolbox {t_theirs:8.2f} s   ratio (rsatoolbox / brainalign) "
        f"{t_theirs / t_ours:6.1f}x   max |diff| {error:.1e}{note}"
    )
    if args.jobs != 1:
        print(
            f"{'':<14} brainalign on one thread (n_jobs=1) {t_one:8.2f} s; ratio "
            f"{t_theirs / t_one:6.1f}x"
        )
    print(
        f"{'':<14} brainalign without the noise ceiling {t_models:8.2f} s (noise ceiling "
        f"{max(t_ours - t_models, 0.0) / t_ours:.0%} of its time); ratio to all of "
        f"rsatoolbox {t_theirs / t_models:6.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--kendall-resamples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="brainalign: best of N runs")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads, both")
    parser.add_argument(
        "--jobs",
        type=int,
        default=-1,
        help="brainalign's n_jobs: threads over batches of resamples (-1: every core; "
        "rsatoolbox's bootstrap has no such option and runs one resample at a time)",
    )
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch", "torch_cuda"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")  # rsatoolbox's progress bars
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    names, models, data = load_problem()
    print(
        f"{models.shape[0]} model RDMs vs {data.shape[0]} human-IT RDMs, 92 conditions, "
        f"bootstrap over stimuli with noise ceiling; backend {args.backend}; "
        f"{args.threads} BLAS thread(s); brainalign n_jobs={args.jobs}"
    )
    with threadpool_limits(limits=args.threads):
        compare_one(args, names, models, data, "spearman", "spearman", args.resamples)
        n_kendall = min(args.kendall_resamples, args.resamples)
        compare_one(args, names, models, data, "kendall_tau_a", "tau-a", n_kendall)


if __name__ == "__main__":
    main()
