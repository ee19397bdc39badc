"""cross_validated_encoding on numpy against torch (CPU, and CUDA where there is one).

Two continuous (time-series) problems, FIR delays 1-4, default outer and inner
``BlockedKFold(5, gap=4)``, the default 19 penalties:

* demo: 290 samples x 1,536 features (6,144 delayed) x 162 targets, the demo's size;
* large: 2,000 samples x 768 features (3,072 delayed) x 20,000 targets.

Each problem runs through the same function with

* numpy float64 arrays (the numpy path: everything on the host, in float64);
* torch float64 tensors on the CPU: must give the numpy numbers (scores within 1e-10,
  the same penalties), checked before the time ratio is printed;
* torch float32 tensors on the CPU: the float32 path; prints the largest score
  difference to numpy and the share of equal penalties (float32 rounding may pick a
  neighbouring penalty where the validation scores of two penalties agree to ~1e-7,
  which moves that target's score by about as little);
* with a CUDA device, the float64 and float32 tensors on it, checked against the
  CPU numbers alike, and the CUDA vs CPU ratio (after a warm-up run on a small
  problem; ``torch.cuda.synchronize`` before the clock stops).

Each time is the best of ``--repeats`` runs. The load average before and after is
printed: the machine may be shared.

Run: ``python perf/encoding_device.py [--sizes demo large] [--repeats 1]
[--targets N]`` (``--targets`` overrides the large problem's 20,000).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np

DELAYS = (1, 2, 3, 4)
SIZES = {"demo": (290, 1536, 162), "large": (2000, 768, 20_000)}


def make_problem(n_samples: int, n_features: int, n_targets: int, seed: int = 0):
    """float64 features and responses with a delayed planted signal of varied size."""
    from brainalign.alignment.temporal import fir_delays

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    # the signal comes from a few hundred delayed features, as from a layer's
    # leading components, scaled so r spans ~0 to ~0.8 across targets
    n_used = min(64, n_features)
    weights = rng.standard_normal((n_used * len(DELAYS), n_targets))
    signal = fir_delays(X[:, :n_used], DELAYS) @ weights
    signal *= rng.random(n_targets) * 1.5 / signal.std(axis=0)
    Y = signal + rng.standard_normal((n_samples, n_targets)) + 3.0
    return X, Y


def best_time(repeats: int, run: Callable[[], object], sync: Callable[[], None]):
    """Best wall time (s) of ``repeats`` calls of ``run`` and its last result."""
    times, result = [], None
    for _ in range(repeats):
        result = None
        start = time.perf_counter()
        result = run()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), result


def compare(name: str, result, reference, exact: bool) -> None:
    """Print (and for float64, assert) how close ``result`` is to ``reference``."""
    defined = ~np.isnan(reference.scores)
    diff = np.max(np.abs(result.scores[defined] - reference.scores[defined]))
    same_alphas = np.mean(result.best_alphas == reference.best_alphas)
    print(f"    {name}: max |r - r_numpy| {diff:.1e}, equal penalties {same_alphas:.4f}")
    if exact:
        assert diff < 1e-10 and same_alphas == 1.0, f"{name} differs from numpy"
        np.testing.assert_array_equal(np.isnan(result.scores), np.isnan(reference.scores))


def run_size(label: str, shape: tuple[int, int, int], repeats: int) -> None:
    import torch

    from brainalign.alignment.encoding import cross_validated_encoding

    X, Y = make_problem(*shape)
    print(
        f"\n{label}: {shape[0]} samples x {shape[1]} features ({shape[1] * len(DELAYS)} "
        f"delayed) x {shape[2]} targets, delays {DELAYS}; Y {Y.nbytes / 1e6:.0f} MB float64"
    )
    print(f"  before: {load()}")

    def encode(X, Y):
        return lambda: cross_validated_encoding(X, Y, sampling="continuous")

    def nothing() -> None:
        return None

    numpy_s, reference = best_time(repeats, encode(X, Y), nothing)
    print(f"  numpy float64        {numpy_s:8.2f} s")
    times = {}
    for dtype in (torch.float64, torch.float32):
        Xt, Yt = torch.as_tensor(X, dtype=dtype), torch.as_tensor(Y, dtype=dtype)
        seconds, result = best_time(repeats, encode(Xt, Yt), nothing)
        times["cpu", dtype] = seconds
        name = f"torch CPU {str(dtype).removeprefix('torch.')}"
        print(f"  {name:<20} {seconds:8.2f} s   numpy / torch {numpy_s / seconds:5.2f}x")
        compare(name, result, reference, exact=dtype == torch.float64)
    if torch.cuda.is_available():
        warm_X, warm_Y = make_problem(100, 16, 8)
        cross_validated_encoding(warm_X, warm_Y, sampling="continuous", device="cuda")
        for dtype in (torch.float64, torch.float32):
            Xt = torch.as_tensor(X, dtype=dtype, device="cuda")
            Yt = torch.as_tensor(Y, dtype=dtype, device="cuda")
            seconds, result = best_time(repeats, encode(Xt, Yt), torch.cuda.synchronize)
            name = f"torch CUDA {str(dtype).removeprefix('torch.')}"
            print(
                f"  {name:<20} {seconds:8.2f} s   numpy / CUDA {numpy_s / seconds:6.1f}x   "
                f"CPU / CUDA ({str(dtype).removeprefix('torch.')}) "
                f"{times['cpu', dtype] / seconds:6.1f}x"
            )
            compare(name, result, reference, exact=dtype == torch.float64)
    else:
        print("  (no CUDA device: CUDA timings skipped)")
    print(f"  after: {load()}")


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["demo", "large"])
    parser.add_argument("--repeats", type=int, default=1, help="best of N for each backend")
    parser.add_argument("--targets", type=int, default=None, help="targets of 'large'")
    args = parser.parse_args()
    import torch

    warnings.filterwarnings("ignore", category=UserWarning)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores, CUDA: "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}"
    )
    for label in args.sizes:
        shape = SIZES[label]
        if label == "large" and args.targets:
            shape = (shape[0], shape[1], args.targets)
        run_size(label, shape, args.repeats)


if __name__ == "__main__":
    main()
