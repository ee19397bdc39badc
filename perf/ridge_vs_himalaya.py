"""Per-target-alpha ridge and kernel ridge with blocked CV: brainalign against himalaya.

The problem has the demo's shape: 290 training volumes, 384 features x 4 delays, 162
targets (27 subjects x 6 ROIs), 19 alphas, 5 contiguous inner folds with a gap of 4.
All models select alphas by Pearson r on the same splits; the script checks that the
chosen alphas and predictions agree before printing the time ratios. It times

- brainalign ``RidgeCV`` against himalaya's ``RidgeCV`` (and its ``KernelRidgeCV``
  without an intercept, for speed only, as before);
- brainalign ``KernelRidgeCV`` against himalaya's ``KernelRidgeCV``, both with an
  intercept, for a linear and an rbf kernel;
- brainalign's torch backend (CPU tensors) against its numpy backend, for ``RidgeCV``
  and ``KernelRidgeCV`` on the same problem.

Run: ``python perf/ridge_vs_himalaya.py [--repeats 5] [--threads 1]``.

``--large`` runs ``perf/ridge_large.py`` instead (2,000 samples x 768 features x 20,000
targets in float32 against himalaya's and scikit-learn's RidgeCV, R^2 scoring; a few
minutes): ``python perf/ridge_vs_himalaya.py --large [--repeats 2]``.
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
    parser.add_argument(
        "--repeats", type=int, default=None, help="best of N (default 5; 2 with --large)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS and torch threads (default 1: small matrices, stable timings on a busy "
        "machine, where multi-threaded BLAS spin-waits)",
    )
    parser.add_argument(
        "--large",
        action="store_true",
        help="run perf/ridge_large.py (20,000 targets, float32, vs himalaya and scikit-learn)",
    )
    args, rest = parser.parse_known_args()
    if args.large:
        _run_large(rest + ["--repeats", str(args.repeats or 2)])
        return
    args.repeats = args.repeats or 5
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        _run(args.repeats)


def _run_large(argv: list[str]) -> None:
    """``perf/ridge_large.py`` with ``argv`` (this script's ``--threads`` is not passed on)."""
    import runpy
    import sys
    from pathlib import Path

    sys.argv = [str(Path(__file__).with_name("ridge_large.py")), *argv]
    runpy.run_path(sys.argv[0], run_name="__main__")


def _run(repeats: int) -> None:
    import torch
    from himalaya.kernel_ridge import KernelRidgeCV as HimalayaKernelRidgeCV
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import correlation_score

    from brainalign.alignment.cv import BlockedKFold
    from brainalign.alignment.kernel_ridge import KernelRidgeCV
    from brainalign.alignment.ridge import RidgeCV

    warnings.filterwarnings("ignore", category=UserWarning)
    rng = np.random.default_rng(0)
    n_samples, n_features, n_targets = 290, 384 * 4, 162
    X = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, n_targets)) * rng.random(n_targets) * 0.1
    Y = X @ weights + rng.normal(size=(n_samples, n_targets))
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    alphas = np.logspace(-1, 8, 19)
    cv = BlockedKFold(5, gap=4)
    splits = list(cv.split(X))
    solver = {"score_func": correlation_score, "local_alpha": True}
    time_it = lambda function: best_of(repeats, function)  # noqa: E731

    print(
        f"problem: {n_samples} samples x {n_features} features x {n_targets} targets, "
        f"{len(alphas)} alphas, {len(splits)} folds (best of {repeats}); "
        f"torch threads {torch.get_num_threads()}"
    )

    # --- ridge -------------------------------------------------------------------------
    ours_s, ours = time_it(lambda: RidgeCV(alphas, cv=cv).fit(X, Y))
    primal_s, primal = time_it(
        lambda: HimalayaRidgeCV(
            alphas=alphas, cv=splits, fit_intercept=True, solver_params=solver
        ).fit(X, Y)
    )
    kernel_s, _ = time_it(
        lambda: HimalayaKernelRidgeCV(alphas=alphas, cv=splits, solver_params=solver).fit(X, Y)
    )
    torch_s, on_torch = time_it(lambda: RidgeCV(alphas, cv=cv).fit(X_t, Y_t))
    print(f"brainalign RidgeCV (numpy)         {ours_s * 1e3:8.1f} ms")
    print(
        f"himalaya RidgeCV                   {primal_s * 1e3:8.1f} ms  -> {primal_s / ours_s:.1f}x"
    )
    print(
        f"himalaya KernelRidgeCV             {kernel_s * 1e3:8.1f} ms  -> {kernel_s / ours_s:.1f}x "
        "(no intercept; shown for speed only)"
    )
    print(
        f"brainalign RidgeCV (torch CPU)     {torch_s * 1e3:8.1f} ms  -> torch/numpy "
        f"{torch_s / ours_s:.2f}x"
    )
    _agreement("RidgeCV vs himalaya RidgeCV", ours, primal, X)
    _agreement("RidgeCV torch vs numpy", ours, on_torch, X)

    # --- kernel ridge -----------------------------------------------------------------
    for kernel in ("linear", "rbf"):
        k_ours_s, k_ours = time_it(
            lambda kernel=kernel: KernelRidgeCV(alphas, kernel=kernel, cv=cv).fit(X, Y)
        )
        k_him_s, k_him = time_it(
            lambda kernel=kernel: HimalayaKernelRidgeCV(
                alphas=alphas, kernel=kernel, cv=splits, fit_intercept=True, solver_params=solver
            ).fit(X, Y)
        )
        k_torch_s, k_torch = time_it(
            lambda kernel=kernel: KernelRidgeCV(alphas, kernel=kernel, cv=cv).fit(X_t, Y_t)
        )
        print(f"brainalign KernelRidgeCV {kernel:6s} (numpy)      {k_ours_s * 1e3:8.1f} ms")
        print(
            f"himalaya KernelRidgeCV {kernel:6s} (intercept)  {k_him_s * 1e3:8.1f} ms  -> "
            f"{k_him_s / k_ours_s:.1f}x"
        )
        print(
            f"brainalign KernelRidgeCV {kernel:6s} (torch CPU)  {k_torch_s * 1e3:8.1f} ms  -> "
            f"torch/numpy {k_torch_s / k_ours_s:.2f}x"
        )
        _agreement(f"KernelRidgeCV {kernel} vs himalaya", k_ours, k_him, X)
        _agreement(f"KernelRidgeCV {kernel} torch vs numpy", k_ours, k_torch, X)


def _agreement(label: str, reference, other, X: np.ndarray) -> None:
    """Print whether two fitted models chose the same alphas and predict the same."""
    from brainalign.alignment.backend import to_backend, to_numpy

    alphas_ref, alphas_other = to_numpy(reference.best_alphas_), to_numpy(other.best_alphas_)
    X_other = X if isinstance(other.best_alphas_, np.ndarray) else to_backend(X, "torch")
    diff = np.abs(to_numpy(reference.predict(X)) - to_numpy(other.predict(X_other))).max()
    same = np.allclose(alphas_ref, alphas_other, rtol=1e-12)
    print(f"  {label}: same alphas {same}; max |prediction difference| {diff:.1e}")


if __name__ == "__main__":
    main()
