"""Whole-brain encoding out of core: peak memory flat in the number of targets.

Writes once, into a temporary folder, a float32 ``.npy`` file of 2,000 samples x
100,000 targets (800 MB; a planted linear signal of 1,536 features plus noise), then
runs :func:`~brainalign.alignment.encoding.cross_validated_encoding` in fresh
subprocesses:

- out of core on the first 20,000 and on all 100,000 targets (``Y`` the memory-mapped
  file, read ``--batch`` targets at a time, the default ``"auto"`` replaced by a fixed
  batch so that both runs have several batches);
- the plain in-memory path on 20,000 targets (``Y`` loaded with ``numpy.load``).

Each child reports seconds and its peak resident memory (VmHWM, reset after the
imports; the RSS before the fit, which holds ``X`` and, in memory, ``Y``, is printed
too). Prints the ratio of the out-of-core peaks at 100k / 20k (the goal: close to 1,
i.e. flat beyond one batch), and out-of-core / in-memory at 20k for time and memory,
next to :func:`~brainalign.alignment.memory.encoding_peak_bytes`' model.
``sampling="event"``: no FIR delays (1,536 features), shuffled K-fold; few folds and
penalties (printed) keep the run within ~15 minutes on 2 cores.

Usage:  python perf/whole_brain.py [--batch 5000] [--n-splits 2] [--inner-splits 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_SAMPLES, N_FEATURES = 2000, 1536
SMALL, N_TARGETS = 20_000, 100_000  # targets of the two out-of-core runs
ALPHAS = np.logspace(0, 6, 5)

CHILD = """
import json, sys, time
import numpy as np
from brainalign.alignment.encoding import cross_validated_encoding

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))

cfg = json.loads(sys.argv[1])
X = np.load(cfg["X"])
Y = np.load(cfg["Y"], mmap_mode="r")[:, : cfg["targets"]]
if not cfg["out_of_core"]:
    Y = np.array(Y)  # the plain path: all targets in memory (float32, as on disk)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak: the parent's and the imports' do not count
before = status("VmRSS:")
t0 = time.perf_counter()
result = cross_validated_encoding(
    X, Y, sampling="event", n_splits=cfg["n_splits"], inner_splits=cfg["inner_splits"],
    alphas=cfg["alphas"], target_batch_size=cfg["batch"] if cfg["out_of_core"] else None,
)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "before": before, "peak": status("VmHWM:"),
                  "mean_r": float(np.nanmean(result.scores)),
                  "first": result.scores[:5].tolist()}))
"""


def write_targets(folder: Path) -> tuple[Path, Path]:
    """``X`` (2,000 x 1,536 float64) and ``Y`` (2,000 x 100,000 float32) on disk.

    ``Y`` is written 5,000 columns at a time (a planted signal ``X W`` plus as much
    noise), never whole in memory.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    x_path, y_path = folder / "X.npy", folder / "Y.npy"
    np.save(x_path, X)
    Y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.float32, shape=(N_SAMPLES, N_TARGETS))
    for start in range(0, N_TARGETS, 5000):
        width = min(5000, N_TARGETS - start)
        signal = X @ (rng.standard_normal((N_FEATURES, width)) / np.sqrt(N_FEATURES))
        Y[:, start : start + width] = signal + rng.standard_normal(signal.shape)
    Y.flush()
    del Y
    return x_path, y_path


def run(cfg: dict) -> dict:
    """One fit in a fresh process; its report."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--n-splits", type=int, default=2)
    parser.add_argument("--inner-splits", type=int, default=2)
    args = parser.parse_args()
    from brainalign.alignment.memory import auto_target_batch_size, encoding_peak_bytes

    print(
        f"X {N_SAMPLES} x {N_FEATURES} float64; Y float32 .npy on disk; sampling='event' "
        f"(no delays); n_splits={args.n_splits}, inner_splits={args.inner_splits}, "
        f"alphas={ALPHAS.tolist()}; out-of-core target_batch_size={args.batch} "
        f"('auto' here would give {auto_target_batch_size(N_SAMPLES, N_FEATURES)})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        x_path, y_path = write_targets(Path(tmp))
        print(f"wrote Y ({y_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
        base = {"X": str(x_path), "Y": str(y_path), "alphas": ALPHAS.tolist(), "batch": args.batch}
        base |= {"n_splits": args.n_splits, "inner_splits": args.inner_splits}
        reports = {}
        for name, targets, out_of_core in (
            ("out-of-core 20k", SMALL, True),
            ("out-of-core 100k", N_TARGETS, True),
            ("in-memory 20k", SMALL, False),
        ):
            report = run(base | {"targets": targets, "out_of_core": out_of_core})
            model = encoding_peak_bytes(
                N_SAMPLES,
                N_FEATURES,
                targets,
                n_alphas=ALPHAS.size,
                n_splits=args.n_splits,
                inner_splits=args.inner_splits,
                target_batch_size=args.batch if out_of_core else None,
                targets_in_memory=not out_of_core,
            )
            report["model"] = model
            reports[name] = report
            print(
                f"{name:>17}: {report['seconds']:7.1f} s, peak RSS {report['peak'] / 2**30:6.2f} "
                f"GiB (RSS before the fit {report['before'] / 2**30:.2f} GiB, added "
                f"{(report['peak'] - report['before']) / 2**30:.2f} GiB; model "
                f"{model / 2**30:.2f} GiB), mean r {report['mean_r']:.3f}",
                flush=True,
            )
    small, large = reports["out-of-core 20k"], reports["out-of-core 100k"]
    plain = reports["in-memory 20k"]
    same = np.allclose(small["first"], plain["first"], rtol=0, atol=1e-10)
    print(f"peak RSS out-of-core 100k / 20k: {large['peak'] / small['peak']:.2f}")
    print(
        f"out-of-core / in-memory at 20k: time {small['seconds'] / plain['seconds']:.2f}, "
        f"peak RSS {small['peak'] / plain['peak']:.2f}; same scores (1e-10): {same}"
    )


if __name__ == "__main__":
    main()
