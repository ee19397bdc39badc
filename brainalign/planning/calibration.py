"""A small calibration of this machine, for the time and memory a plan predicts.

:func:`calibrate` runs one short child process (a few seconds) that imports what a run
imports (torch, transformers, scikit-learn, brainalign's encoders and alignment) and
then measures

- ``baseline_bytes``: its resident set size (bytes) after those imports, after saving,
  loading and running a tiny random BERT (what loading any model pulls in), and after
  the products and the fit below have run (their arrays freed): the memory any run
  starts from (libraries loaded, thread pools and allocator caches warmed up);
- ``gflops_float32`` and ``gflops_float64``: matrix-product throughput (GFLOP/s) of
  torch in float32 (what a forward pass runs in) and of numpy in float64 (what the
  alignment fits run in), on square products of :data:`GEMM_SIZE`, with the threads
  torch and BLAS use by default;
- ``ridge_seconds_per_target``: one small ridge encoding fit (:data:`RIDGE_SHAPE`),
  whose time is mostly per-target work (folds, penalties, scores) rather than products.

The numbers are cached as JSON in the brainalign cache folder (``BRAINALIGN_DATA``, see
:func:`brainalign.datasets.download.default_cache_dir`), keyed by host name, CPU count
and the torch, numpy and Python versions; :func:`machine_calibration` reads the cache and
calibrates only when it has no entry for this machine (``refresh=True``, the CLI's
``--recalibrate``, measures again).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "GEMM_SIZE",
    "RIDGE_SHAPE",
    "Calibration",
    "CalibrationError",
    "calibrate",
    "calibration_path",
    "machine_calibration",
]

#: Side of the square matrix products timed (float32 and float64).
GEMM_SIZE = 768

#: Seconds spent timing each dtype's products (after one warm-up product).
_GEMM_SECONDS = 0.15

#: (n_samples, n_features, n_targets) of the ridge fit timed: one
#: :func:`~brainalign.alignment.encoding.cross_validated_encoding` with its defaults
#: (5 x 5 folds, the default penalties), whose time grows with the targets.
RIDGE_SHAPE = (200, 32, 300)

_CHILD = r"""
import json, os, resource, sys, tempfile, time
import numpy, scipy.linalg, sklearn.model_selection, pandas, torch, transformers
import soundfile, tokenizers
import brainalign.scoring, brainalign.runs, brainalign.benchmarks.benchmark
import brainalign.alignment.encoding, brainalign.encoders.text
with tempfile.TemporaryDirectory() as folder:  # what loading and running any model pulls in
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
    transformers.BertModel(config).save_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder)
    with torch.inference_mode():
        model(torch.zeros((2, 8), dtype=torch.long), output_hidden_states=True)
    del model

def resident():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS"))

n, budget = int(sys.argv[1]), float(sys.argv[2])
RIDGE = tuple(int(v) for v in sys.argv[3].split(","))

def rate(product, a, b):
    product(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        product(a, b)
        count += 1
    return 2.0 * n ** 3 * count / (time.perf_counter() - start) / 1e9

g = numpy.random.default_rng(0)
a64, b64 = g.standard_normal((n, n)), g.standard_normal((n, n))
a32, b32 = torch.from_numpy(a64.astype("float32")), torch.from_numpy(b64.astype("float32"))
from brainalign.alignment.encoding import cross_validated_encoding as fit
X, Y = g.standard_normal((RIDGE[0], RIDGE[1])), g.standard_normal((RIDGE[0], RIDGE[2]))
fit(X, Y[:, :2], sampling="event")
start = time.perf_counter()
fit(X, Y, sampling="event")
per_target = (time.perf_counter() - start) / RIDGE[2]
f32, f64 = rate(torch.matmul, a32, b32), rate(numpy.matmul, a64, b64)
del a64, b64, a32, b32, X, Y
import gc; gc.collect()
print(json.dumps({"baseline_bytes": resident(), "gflops_float32": f32, "gflops_float64": f64,
                  "ridge_seconds_per_target": per_target}))
"""


class CalibrationError(RuntimeError):
    """The calibration child process failed (its error output is in the message)."""


@dataclass(frozen=True)
class Calibration:
    """Measured numbers of this machine.

    Attributes
    ----------
    baseline_bytes : int
        Resident memory (bytes) of a process that has imported torch, transformers and
        brainalign's encoders and alignment.
    gflops_float32 : float
        torch float32 matrix-product throughput (GFLOP/s).
    gflops_float64 : float
        numpy float64 matrix-product throughput (GFLOP/s).
    ridge_seconds_per_target : float
        Seconds per target of a default ridge encoding fit of :data:`RIDGE_SHAPE`
        (its per-target work: folds, penalties, scores; not a matrix product).
    machine : str
        The cache key it was measured under (host, CPUs, versions).
    """

    baseline_bytes: int
    gflops_float32: float
    gflops_float64: float
    ridge_seconds_per_target: float
    machine: str


def _machine() -> str:
    """Host name, CPU count and the versions that change the numbers."""
    import numpy

    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:  # noqa: BLE001 - torch not installed: the key says so
        torch_version = "none"
    return (
        f"{platform.node() or 'host'}-cpu{os.cpu_count()}-torch{torch_version}-"
        f"numpy{numpy.__version__}-py{platform.python_version()}"
    )


def calibration_path() -> Path:
    """Where this machine's calibration is cached (JSON)."""
    from brainalign.datasets.download import default_cache_dir

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in _machine())
    return default_cache_dir() / "calibration" / f"{safe}.json"


def calibrate() -> Calibration:
    """Measure this machine now (a child process of a few seconds) and cache the result.

    Returns
    -------
    Calibration

    Raises
    ------
    CalibrationError
        When the child process fails (its error output is quoted).
    """
    from brainalign._io import atomic_path

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(GEMM_SIZE),
            str(_GEMM_SECONDS),
            ",".join(str(v) for v in RIDGE_SHAPE),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise CalibrationError(
            f"the calibration process failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-2000:]}"
        )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    result = Calibration(
        baseline_bytes=int(measured["baseline_bytes"]),
        gflops_float32=float(measured["gflops_float32"]),
        gflops_float64=float(measured["gflops_float64"]),
        ridge_seconds_per_target=float(measured["ridge_seconds_per_target"]),
        machine=_machine(),
    )
    path = calibration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(asdict(result), indent=1) + "\n", encoding="utf-8")
    return result


def machine_calibration(refresh: bool = False) -> Calibration:
    """This machine's calibration: the cached one, else measured now (:func:`calibrate`).

    Parameters
    ----------
    refresh : bool, default False
        Measure again even when a cached calibration exists.

    Returns
    -------
    Calibration
    """
    path = calibration_path()
    if not refresh and path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            return Calibration(**cached)
        except (ValueError, TypeError):  # a damaged cache file: measure again
            pass
    return calibrate()
