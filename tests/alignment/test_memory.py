"""The memory model of an encoding fit against measured peak memory, and batch sizing."""

import json
import os
import subprocess
import sys

import numpy as np
import psutil
import pytest

from brainalign.alignment import memory
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.alignment.memory import (
    MEMORY_FRACTION,
    auto_target_batch_size,
    available_memory_bytes,
    encoding_peak_bytes,
)

TOLERANCE = 0.25  # stated in encoding_peak_bytes' docstring
FOLDS = {"n_splits": 3, "inner_splits": 3, "n_alphas": 7}

# Runs one fit and prints the peak resident memory it added: the peak resident size
# minus the resident size before the fit (which already holds X, and Y when in memory).
# The peak is the process's high-water mark reset before the fit (Linux: VmHWM after
# writing 5 to /proc/self/clear_refs), i.e. getrusage's ru_maxrss of the fit alone:
# ru_maxrss itself keeps the peak of the forking parent (pytest) across exec.
CHILD = """
import json, sys
import numpy as np, psutil
from threadpoolctl import threadpool_limits
from brainalign.alignment.encoding import cross_validated_encoding

cfg = json.loads(sys.argv[1])
kwargs = dict(sampling="event", n_splits=3, inner_splits=3, alphas=np.logspace(-1, 8, 7))
with threadpool_limits(1, user_api="blas"):
    rng = np.random.default_rng(0)  # warm up: imports and lazy initialisation
    cross_validated_encoding(rng.standard_normal((30, 4)), rng.standard_normal((30, 2)), **kwargs)
    X = np.load(cfg["X"])
    Y = np.load(cfg["Y"], mmap_mode="r" if cfg["out_of_core"] else None)
    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")
    before = psutil.Process().memory_info().rss
    cross_validated_encoding(X, Y, target_batch_size=cfg["batch"], **kwargs)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
print(json.dumps({"added": peak - before}))
"""


needs_proc = pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="measures peak memory through Linux /proc"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Seeded features and targets on disk, shared by the measured fits."""
    folder = tmp_path_factory.mktemp("memory")
    rng = np.random.default_rng(7)
    made = {}
    for name, shape in {
        "X600": (600, 1000),
        "Y600": (600, 3000),
        "X1000": (1000, 400),
        "Y1000": (1000, 2000),
        "Y1000_wide": (1000, 6000),
    }.items():
        made[name] = folder / f"{name}.npy"
        np.save(made[name], rng.standard_normal(shape))
    return made


def _measured(X, Y, batch, out_of_core):
    """Peak bytes a fit added, measured in a fresh process."""
    config = {"X": str(X), "Y": str(Y), "batch": batch, "out_of_core": out_of_core}
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["added"]


def _modelled(n, f, t, batch, out_of_core):
    peak = encoding_peak_bytes(
        n, f, t, target_batch_size=batch, targets_in_memory=not out_of_core, **FOLDS
    )
    return peak - (0 if out_of_core else n * t * 8)  # Y in memory was there before


@needs_proc
def test_model_matches_measured_peak_in_memory_dual_form(files):
    # 600 samples, 1,000 features: the inner folds (320 rows) take the dual form
    measured = _measured(files["X600"], files["Y600"], None, out_of_core=False)
    modelled = _modelled(600, 1000, 3000, None, out_of_core=False)
    assert modelled > 50e6
    assert abs(modelled - measured) <= TOLERANCE * measured, (modelled, measured)


@needs_proc
def test_model_matches_measured_peak_out_of_core_and_stays_flat(files):
    # 1,000 samples, 400 features: primal form; targets read 1,000 at a time
    narrow = _measured(files["X1000"], files["Y1000"], 1000, out_of_core=True)
    wide = _measured(files["X1000"], files["Y1000_wide"], 1000, out_of_core=True)
    for targets, measured in ((2000, narrow), (6000, wide)):
        modelled = _modelled(1000, 400, targets, 1000, out_of_core=True)
        assert modelled > 50e6
        assert abs(modelled - measured) <= TOLERANCE * measured, (targets, modelled, measured)
    # three times the targets, not three times the memory (the in-memory path: ~2.5x)
    assert wide < 1.25 * narrow
    in_memory = [_modelled(1000, 400, t, None, out_of_core=False) for t in (2000, 6000)]
    assert in_memory[1] > 2.5 * in_memory[0]


def test_model_terms_follow_the_shapes():
    base = {"n_samples": 2000, "n_features": 1536}
    out = encoding_peak_bytes(
        **base, n_targets=100_000, target_batch_size=5000, targets_in_memory=False
    )
    out_wider = encoding_peak_bytes(
        **base, n_targets=200_000, target_batch_size=5000, targets_in_memory=False
    )
    assert out_wider - out == 100_000 * (2 * 5 + 4) * 8  # only the per-target results
    inside = encoding_peak_bytes(**base, n_targets=100_000, target_batch_size=5000)
    assert inside > out + 2000 * 100_000 * 8  # Y itself and its z-scored copies
    half = encoding_peak_bytes(**base, n_targets=100_000, dtype="float32")
    assert half < 0.6 * encoding_peak_bytes(**base, n_targets=100_000)
    delayed = encoding_peak_bytes(**base, n_targets=1000, n_delays=4)
    assert delayed > encoding_peak_bytes(**base, n_targets=1000)


def test_auto_batch_is_the_largest_that_fits_the_budget():
    budget = 2 * 2**30
    batch = auto_target_batch_size(2000, 1536, memory_bytes=budget)

    def peak(b):
        return encoding_peak_bytes(2000, 1536, b, target_batch_size=b, targets_in_memory=False)

    assert peak(batch) <= budget < peak(batch + 1)
    assert auto_target_batch_size(2000, 1536, memory_bytes=1000) == 1
    assert auto_target_batch_size(2000, 1536, dtype="float32", memory_bytes=budget) > batch


def test_auto_batch_defaults_to_a_fraction_of_available_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device=None: 2**31)
    assert auto_target_batch_size(500, 100) == auto_target_batch_size(
        500, 100, memory_bytes=int(MEMORY_FRACTION * 2**31)
    )


def test_encoding_sizes_auto_batches_with_the_model(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((100, 8)), rng.standard_normal((100, 40))
    np.save(tmp_path / "Y.npy", Y)
    budget = encoding_peak_bytes(100, 8, 7, target_batch_size=7, targets_in_memory=False)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device=None: 2 * budget)
    kwargs = {"sampling": "event", "n_splits": 5, "inner_splits": 5}
    result = cross_validated_encoding(X, tmp_path / "Y.npy", **kwargs)
    assert result.settings["target_batch_size"] == 7
    expected = cross_validated_encoding(X, Y, **kwargs)
    np.testing.assert_allclose(result.scores, expected.scores, rtol=0, atol=1e-10)


def test_available_memory_of_the_host_and_bad_devices():
    available = available_memory_bytes()
    assert 0 < available <= psutil.virtual_memory().total
    assert available_memory_bytes("cpu") > 0
    with pytest.raises(ValueError, match="'tpu'"):
        available_memory_bytes("tpu")


def test_available_memory_without_cuda_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert available_memory_bytes("cuda") > 0
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            available_memory_bytes("cuda")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples=0"),
        ({"n_splits": 1}, "n_splits=1"),
        ({"dtype": "float16"}, "dtype='float16'"),
        ({"target_batch_size": 0}, "target_batch_size=0"),
        ({"n_features": 2.5}, "n_features=2.5"),
    ],
)
def test_bad_counts_are_refused(kwargs, match):
    arguments = {"n_samples": 100, "n_features": 10, "n_targets": 5} | kwargs
    with pytest.raises(ValueError, match=match):
        encoding_peak_bytes(**arguments)
