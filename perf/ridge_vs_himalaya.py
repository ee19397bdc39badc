"""Ridge with a cross-validated penalty per target: brainalign against himalaya.

Two problem sizes, each fitted by

- brainalign ``RidgeCV`` (``solver="auto"``: the dual form when a fit has fewer rows
  than features, else the primal form; the form used is printed);
- himalaya ``RidgeCV`` and himalaya ``KernelRidgeCV`` (linear kernel), the two
  estimators a himalaya user would pick from, with the same alphas, the same inner
  splits and the same score;

each estimator in its own subprocess (a fresh interpreter that loads the problem from
``.npy`` files), so that its peak memory is its own: the peak resident set size over
all its repeats (Linux ``VmHWM``, reset once the data are loaded) minus the resident
size at that point.
Times are the best of ``--repeats`` fits. The ratio printed is the *faster* himalaya
estimator's time over brainalign's, and the memory ratio is that estimator's peak over
brainalign's. Before any ratio is printed the script checks that the fits agree: the
same alpha for every target (a different one only where the two alphas' mean CV scores
are within 1e-5, a tie, counted and printed) and the same predictions on the first 500
rows for the targets with equal alphas (relative to the largest prediction).

Sizes:

- ``demo`` (always): the demo's shape, 290 samples x 1,536 features (384 x 4 delays) x
  162 targets, float64, 19 alphas (1e-1 .. 1e8), ``BlockedKFold(5, gap=4)``, Pearson r;
  fitted with an intercept and, as a second problem, without (himalaya
  ``KernelRidgeCV``'s default); each on one BLAS thread and on all cores (the default
  of both libraries; brainalign then scores the splits on parallel threads, himalaya
  runs multi-threaded BLAS, which spin-waits on a busy machine: its demo fits were
  measured at 0.1-9 s with 2 threads on a loaded 2-core machine);
- ``large`` (``--large``, in addition): 2,000 samples x 768 features x 20,000 targets,
  float32, 15 alphas (1e-2 .. 1e5), ``BlockedKFold(5)``, R^2, with an intercept: the
  problem of ``perf/ridge_large.py``. It takes several minutes on a 2-core machine.

Run: ``python perf/ridge_vs_himalaya.py [--large] [--repeats N] [--threads N]``
(``--repeats`` defaults to 5 for the demo and 1 for the large size; ``--threads N``
runs every problem with N BLAS threads only, instead of the demo at 1 and all and the
large size at all). The load average before and after is printed: the machine may be
shared, and the timings move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ESTIMATORS = ("brainalign RidgeCV", "himalaya RidgeCV", "himalaya KernelRidgeCV")
TIE_TOLERANCE = 1e-5
N_PREDICT = 500

SIZES = {
    "demo": {
        "alphas": np.logspace(-1, 8, 19),
        "gap": 4,
        "scoring": "pearson",
        "prediction_rtol": 1e-8,
    },
    "large": {
        "alphas": np.logspace(-2, 5, 15),  # perf/ridge_large.py's ALPHAS
        "gap": 0,
        "scoring": "r2",
        # float32: brainalign vs himalaya RidgeCV 1e-6, vs KernelRidgeCV (its float32
        # 1,600 x 1,600 kernel eigendecompositions) 9e-5, measured
        "prediction_rtol": 5e-4,
    },
}


def make_demo() -> tuple[np.ndarray, np.ndarray]:
    """float64 ``X`` (290, 1536) and ``Y`` (290, 162) with signal of varied strength."""
    rng = np.random.default_rng(0)
    n_samples, n_features, n_targets = 290, 384 * 4, 162
    X = rng.normal(size=(n_samples, n_features))
    weights = rng.normal(size=(n_features, n_targets)) * rng.random(n_targets) * 0.1
    return X, X @ weights + rng.normal(size=(n_samples, n_targets))


def make_large() -> tuple[np.ndarray, np.ndarray]:
    """``perf/ridge_large.py``'s float32 problem: 2,000 x 768 features, 20,000 targets."""
    sys.path.insert(0, str(Path(__file__).parent))
    from ridge_large import make_problem

    return make_problem(20_000)


# --- the parent: problems, subprocesses, checks, printing ------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="also the 2,000 x 768 x 20,000 size")
    parser.add_argument("--repeats", type=int, default=None, help="best of N (5 demo, 1 large)")
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: demo 1 and all)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    parser.add_argument("--intercept", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    print(f"before: {_load()}; {os.cpu_count()} cores")
    demo_threads = [args.threads] if args.threads else [1, None]  # None: all cores
    problems = [("demo", intercept, n) for intercept in (True, False) for n in demo_threads]
    if args.large:
        problems.append(("large", True, args.threads))
    with tempfile.TemporaryDirectory(prefix="ridge_vs_himalaya_") as tmp:
        for size in dict.fromkeys(size for size, _, _ in problems):
            X, Y = make_demo() if size == "demo" else make_large()
            np.save(Path(tmp, f"{size}_X.npy"), X)
            np.save(Path(tmp, f"{size}_Y.npy"), Y)
        for size, intercept, threads in problems:
            repeats = args.repeats or (5 if size == "demo" else 1)
            _compare(Path(tmp), size, intercept, repeats, threads)
    print(f"after: {_load()}")


def _compare(tmp: Path, size: str, intercept: bool, repeats: int, threads: int | None) -> None:
    """Run the three estimators on one problem and print times, memory and checks."""
    X = np.load(tmp / f"{size}_X.npy", mmap_mode="r")
    Y_shape = np.load(tmp / f"{size}_Y.npy", mmap_mode="r").shape
    settings = SIZES[size]
    print(
        f"\n{size}: {X.shape[0]} samples x {X.shape[1]} features x {Y_shape[1]} targets, "
        f"{X.dtype}, {settings['alphas'].size} alphas, 5 folds (gap {settings['gap']}), "
        f"{settings['scoring']}, {'with' if intercept else 'no'} intercept; best of {repeats}; "
        f"BLAS threads {threads or 'all'}"
    )
    runs = {name: _run_worker(tmp, name, size, intercept, repeats, threads) for name in ESTIMATORS}
    ours = runs["brainalign RidgeCV"]
    for name, run in runs.items():
        extra = (
            f"  (solver_ {run['solver']}, folds {run['fold_solvers']})" if "solver" in run else ""
        )
        print(
            f"  {name:24s} {run['seconds'] * 1e3:10.1f} ms   peak {run['peak_mb']:7.1f} MB{extra}"
        )
    for name in ESTIMATORS[1:]:
        _check(f"{name} vs brainalign", tmp, ours, runs[name], settings)
    faster = min(ESTIMATORS[1:], key=lambda name: runs[name]["seconds"])
    print(
        f"  -> faster himalaya estimator ({faster}) / brainalign: time "
        f"{runs[faster]['seconds'] / ours['seconds']:.2f}x, peak memory "
        f"{runs[faster]['peak_mb'] / max(ours['peak_mb'], 1e-9):.2f}x"
    )


def _run_worker(
    tmp: Path, name: str, size: str, intercept: bool, repeats: int, threads: int | None
) -> dict:
    """One estimator's fits in a fresh interpreter; its JSON summary (arrays in ``tmp``)."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        name,
        "--problem",
        str(tmp / size),
        "--intercept",
        str(int(intercept)),
        "--repeats",
        str(repeats),
    ] + ([] if threads is None else ["--threads", str(threads)])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(label: str, tmp: Path, ours: dict, theirs: dict, settings: dict) -> None:
    """Assert equal alphas (or ties) and equal predictions where the alphas are equal."""
    alphas = settings["alphas"]
    a_ours, a_theirs = np.load(ours["alphas"]), np.load(theirs["alphas"])
    scores = np.load(ours["cv_scores"]).astype(np.float64)  # (n_alphas, n_targets)
    same = np.isclose(a_ours, a_theirs, rtol=1e-5)  # himalaya rounds alphas in float32
    grid = np.abs(np.log(a_theirs)[None, :] - np.log(alphas)[:, None]).argmin(axis=0)
    at_theirs = scores[grid, np.arange(scores.shape[1])]
    tie = ~same & (scores.max(axis=0) - at_theirs < TIE_TOLERANCE)
    p_ours, p_theirs = np.load(ours["predictions"]), np.load(theirs["predictions"])
    scale = np.abs(p_ours).max()
    error = np.abs(p_ours[:, same] - p_theirs[:, same]).max() / scale if same.any() else 0.0
    print(
        f"  {label}: alphas equal for {same.sum()}/{same.size} targets, "
        f"{tie.sum()} ties; max |prediction difference| / scale {error:.1e}"
    )
    assert np.all(same | tie), f"{label}: different alphas beyond ties"
    assert error < settings["prediction_rtol"], f"{label}: predictions differ by {error:.1e}"


def _load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


# --- the worker: one estimator in its own process ----------------------------------------


def _worker(args: argparse.Namespace) -> None:
    """Fit one estimator ``--repeats`` times; print a JSON summary, save its arrays."""
    from threadpoolctl import threadpool_limits

    from brainalign.alignment.cv import BlockedKFold

    warnings.filterwarnings("ignore")
    size = Path(args.problem).name
    settings = SIZES[size]
    fit = _estimator(args.worker, bool(args.intercept), settings)
    X = np.load(f"{args.problem}_X.npy")
    Y = np.load(f"{args.problem}_Y.npy")
    splits = list(BlockedKFold(5, gap=settings["gap"]).split(X))
    with threadpool_limits(limits=args.threads, user_api="blas"):
        resident = _reset_peak()
        times = []
        for _ in range(args.repeats):
            model = None  # free the previous fit first
            start = time.perf_counter()
            model = fit(X, Y, splits)
            times.append(time.perf_counter() - start)
        peak = _peak_bytes() - resident
        predictions = np.asarray(model.predict(X[:N_PREDICT]))
    stem = f"{args.problem}_{int(args.intercept)}_{args.worker.replace(' ', '_')}"
    summary = {"seconds": min(times), "peak_mb": peak / 1e6}
    for key, value in (
        ("alphas", model.best_alphas_),
        ("predictions", predictions),
        ("cv_scores", model.cv_scores_),
    ):
        np.save(f"{stem}_{key}.npy", np.asarray(value))
        summary[key] = f"{stem}_{key}.npy"
    if hasattr(model, "solver_"):
        summary["solver"] = model.solver_
        summary["fold_solvers"] = "/".join(model.fold_solvers_)
    print(json.dumps(summary))


def _estimator(name: str, intercept: bool, settings: dict):
    """``fit(X, Y, splits) -> fitted model`` for one of ``ESTIMATORS``."""
    alphas, scoring = settings["alphas"], settings["scoring"]
    if name == "brainalign RidgeCV":
        from brainalign.alignment.ridge import RidgeCV

        return lambda X, Y, splits: RidgeCV(
            alphas, cv=splits, fit_intercept=intercept, scoring=scoring
        ).fit(X, Y)
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import correlation_score, r2_score

    set_backend("numpy")
    params = {
        "score_func": correlation_score if scoring == "pearson" else r2_score,
        "local_alpha": True,
    }
    kind = HimalayaRidgeCV if name == "himalaya RidgeCV" else KernelRidgeCV
    return lambda X, Y, splits: kind(
        alphas=alphas, cv=splits, fit_intercept=intercept, solver_params=params
    ).fit(X, Y)


def _reset_peak() -> int:
    """Reset the peak resident set size (Linux >= 4.0); return the current size, bytes.

    Without the reset, the peak would be the largest of the interpreter's whole life
    (importing the libraries passes through more than a small fit uses).
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        pass  # then the peak below is the process's lifetime peak (ru_maxrss)
    return _status_bytes("VmRSS")


def _peak_bytes() -> int:
    """The peak resident set size since :func:`_reset_peak` (or since start), bytes."""
    try:
        return _status_bytes("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _status_bytes(field: str) -> int:
    """A ``kB`` field of Linux's ``/proc/self/status``, in bytes."""
    with open("/proc/self/status") as status:
        values = dict(line.split(":", 1) for line in status if ":" in line)
    return int(values[field].split()[0]) * 1024


if __name__ == "__main__":
    main()
