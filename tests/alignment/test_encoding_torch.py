"""cross_validated_encoding on torch tensors: the same numbers as numpy, on the device."""

import warnings

import numpy as np
import pytest

from brainalign.alignment import encoding
from brainalign.alignment.encoding import EncodingOutOfMemoryError, cross_validated_encoding
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.temporal import fir_delays

torch = pytest.importorskip("torch")

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

# A short grid with clear winners: float32 and float64 fits pick the same penalties
# (on the default grid, penalties past 1e7 score alike to 1e-7 and float32 rounding
# may pick a neighbour).
ALPHAS = np.logspace(-2, 3, 6)
N_SAMPLES, N_FEATURES, N_TARGETS = 120, 6, 5


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delayed planted signal, one constant feature and one constant target; 4 runs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    X[:, 2] = 1.5  # a constant feature: z-scored to 0
    W = rng.standard_normal((2 * N_FEATURES, N_TARGETS))
    Y = fir_delays(X, (1, 2)) @ W + rng.standard_normal((N_SAMPLES, N_TARGETS))
    Y[:, 3] = -2.0  # a constant target: NaN score, exactly as numpy
    groups = np.repeat(np.arange(4), N_SAMPLES // 4)
    return X, Y, groups


CASES = {
    "event": dict(sampling="event"),
    "continuous": dict(sampling="continuous", delays=(1, 2)),
    "continuous_groups": dict(sampling="continuous", delays=(0, 1, 2), use_groups=True),
    "event_groups": dict(sampling="event", use_groups=True, n_splits=4),
}


def _run(X, Y, groups, case, **kwargs):
    options = dict(CASES[case])
    if options.pop("use_groups", False):
        options["groups"] = groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the constant target's warning
        return cross_validated_encoding(
            X, Y, alphas=ALPHAS, return_predictions=True, **options, **kwargs
        )


def _assert_same(result, expected, atol: float) -> None:
    assert isinstance(result.scores, np.ndarray)
    assert isinstance(result.predictions, np.ndarray)
    np.testing.assert_array_equal(np.isnan(result.scores), np.isnan(expected.scores))
    np.testing.assert_allclose(result.scores, expected.scores, atol=atol, rtol=0)
    np.testing.assert_allclose(result.fold_scores, expected.fold_scores, atol=atol, rtol=0)
    np.testing.assert_array_equal(result.best_alphas, expected.best_alphas)
    scale = np.nanmax(np.abs(expected.predictions))
    np.testing.assert_allclose(result.predictions, expected.predictions, atol=atol * scale)
    np.testing.assert_array_equal(result.n_valid_folds, expected.n_valid_folds)
    assert result.settings == expected.settings


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_float64_equals_numpy(case):
    X, Y, groups = _data()
    expected = _run(X, Y, groups, case)
    assert np.isnan(expected.scores[3]) and np.all(np.isfinite(expected.scores[[0, 1, 2, 4]]))
    result = _run(torch.as_tensor(X), torch.as_tensor(Y), groups, case)
    _assert_same(result, expected, atol=1e-10)
    assert result.predictions.dtype == np.float64


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_float32_equals_numpy_within_1e5(case):
    X, Y, groups = _data(1)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    expected = _run(X32, Y32, groups, case)  # numpy computes in float64
    result = _run(torch.from_numpy(X32), torch.from_numpy(Y32), torch.as_tensor(groups), case)
    _assert_same(result, expected, atol=1e-5)
    assert result.predictions.dtype == np.float32


def test_device_cpu_moves_numpy_inputs_to_torch():
    X, Y, groups = _data(2)
    expected = _run(X, Y, groups, "continuous")
    seen = []

    class SpyRidgeCV(RidgeCV):
        def fit(self, X, Y):
            seen.append((type(X), X.dtype))
            return super().fit(X, Y)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encoding, "RidgeCV", SpyRidgeCV)
        result = _run(X, Y, groups, "continuous", device="cpu")
        _assert_same(result, expected, atol=1e-10)
        assert seen and all(kind is torch.Tensor and dt == torch.float64 for kind, dt in seen)
        # numpy float32 (and anything not float64) goes to the device as float32
        seen.clear()
        float32 = _run(
            X.astype(np.float32), Y.astype(np.float32), groups, "continuous", device="cpu"
        )
        assert seen and all(dt == torch.float32 for _, dt in seen)
    assert float32.predictions.dtype == np.float32


def test_numpy_partner_of_a_tensor_joins_it():
    X, Y, groups = _data(3)
    expected = _run(X, Y, groups, "event")
    _assert_same(_run(X, torch.as_tensor(Y), groups, "event"), expected, atol=1e-10)


def test_target_batches_change_nothing():
    X, Y, groups = _data(4)
    whole = _run(torch.as_tensor(X), torch.as_tensor(Y), groups, "continuous")
    batched = _run(
        torch.as_tensor(X), torch.as_tensor(Y), groups, "continuous", target_batch_size=2
    )
    _assert_same(batched, whole, atol=1e-12)
    with pytest.raises(ValueError, match="target_batch_size must be at least 1"):
        _run(X, Y, groups, "event", target_batch_size=0)


def test_fir_delays_on_torch_equals_numpy():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 4))
    runs = np.repeat([0, 1, 2], 10)
    delayed = fir_delays(torch.as_tensor(X), (0, 2, 11), groups=torch.as_tensor(runs))
    assert isinstance(delayed, torch.Tensor) and delayed.dtype == torch.float64
    np.testing.assert_array_equal(delayed.numpy(), fir_delays(X, (0, 2, 11), groups=runs))
    ints = fir_delays(torch.arange(6).reshape(3, 2), (1,))
    assert ints.dtype == torch.float64
    np.testing.assert_array_equal(ints.numpy(), [[0, 0], [0, 1], [2, 3]])
    single = fir_delays(torch.ones((4, 2), dtype=torch.float32), (1,))
    assert single.dtype == torch.float32


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("gpu", r"device='gpu' is not a device name"),
        ("meta", r"runs on 'cpu' or 'cuda' devices"),
        ("cuda:99", r"cuda:99"),
    ],
)
def test_bad_device_is_refused_before_any_work(device, match):
    X, Y, _ = _data()
    X[0, 0] = np.nan  # would fail the input check if that ran first
    with pytest.raises(ValueError, match=match):
        cross_validated_encoding(X, Y, sampling="event", device=device)


def test_missing_cuda_names_what_exists():
    X, Y, _ = _data()
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        with pytest.raises(ValueError, match=rf"sees {count} CUDA device\(s\), cuda:0 to"):
            cross_validated_encoding(X, Y, sampling="event", device=f"cuda:{count}")
    else:
        with pytest.raises(ValueError, match=r"is_available\(\) is False, 0 devices"):
            cross_validated_encoding(X, Y, sampling="event", device="cuda")


def test_tensors_on_different_devices_are_refused():
    X, Y, _ = _data()
    meta = torch.empty((N_SAMPLES, N_TARGETS), device="meta")
    with pytest.raises(ValueError, match="different devices"):
        cross_validated_encoding(torch.as_tensor(X), meta, sampling="event")


def _failing_ridge(fail_calls: set[int]):
    """A RidgeCV whose fit raises torch's out-of-memory error on the given calls."""
    sizes = []

    class FailingRidgeCV(RidgeCV):
        def fit(self, X, Y):
            sizes.append(self.target_batch_size)
            if len(sizes) in fail_calls:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().fit(X, Y)

    return FailingRidgeCV, sizes


@pytest.mark.filterwarnings("ignore:1 of 5 response units are constant")
def test_out_of_memory_retries_once_with_half_the_targets(monkeypatch):
    X, Y, groups = _data(6)
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    expected = _run(Xt, Yt, groups, "continuous")
    failing, sizes = _failing_ridge({1})
    monkeypatch.setattr(encoding, "RidgeCV", failing)
    with pytest.warns(UserWarning, match="target_batch_size=5; retrying with 2 targets"):
        result = cross_validated_encoding(
            Xt, Yt, sampling="continuous", delays=(1, 2), alphas=ALPHAS, return_predictions=True
        )
    # fold 0 failed at 5 targets, then it and the 4 other folds ran with 2
    assert sizes == [5, 2, 2, 2, 2, 2]
    _assert_same(result, expected, atol=1e-12)


@pytest.mark.filterwarnings("ignore:1 of 5 response units are constant")
def test_out_of_memory_twice_is_a_clear_error(monkeypatch):
    X, Y, _ = _data(7)
    failing, sizes = _failing_ridge({1, 3})  # fold 0 fails, its retry works; fold 1 fails
    monkeypatch.setattr(encoding, "RidgeCV", failing)
    with pytest.warns(UserWarning, match="retrying"):
        with pytest.raises(EncodingOutOfMemoryError) as info:
            cross_validated_encoding(
                torch.as_tensor(X), torch.as_tensor(Y), sampling="continuous", delays=(1, 2),
                alphas=ALPHAS, target_batch_size=4, device="cpu",
            )  # fmt: skip
    message = str(info.value)
    assert sizes == [4, 2, 2]
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    for part in (
        "outer fold 1",
        f"n_samples={N_SAMPLES}",
        f"n_features={2 * N_FEATURES} ({N_FEATURES} features x 2 delays)",
        f"n_targets={N_TARGETS}",
        "target_batch_size tried: 4 then 2",
        "The memory model (alignment.memory.encoding_peak_bytes) puts the fit with 2 targets",
        "GiB is free on cpu now",
        "Pass a smaller target_batch_size (e.g. 1)",
        "Tried to allocate 2.00 GiB",
    ):
        assert part in message
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_numpy_inputs_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from brainalign.alignment.encoding import cross_validated_encoding\n"
        "rng = np.random.default_rng(0)\n"
        "cross_validated_encoding(rng.standard_normal((40, 3)), rng.standard_normal((40, 2)),"
        " sampling='event', alphas=[1.0])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@needs_cuda
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_equals_numpy(case):
    X, Y, groups = _data(8)
    expected = _run(X, Y, groups, case)
    _assert_same(_run(X, Y, groups, case, device="cuda"), expected, atol=1e-10)
    on_gpu = _run(
        torch.as_tensor(X, device="cuda"), torch.as_tensor(Y, device="cuda"), groups, case
    )
    _assert_same(on_gpu, expected, atol=1e-10)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    _assert_same(_run(X32, Y32, groups, case, device="cuda"), _run(X32, Y32, groups, case), 1e-5)


@needs_cuda
def test_fir_delays_on_cuda_stays_there():
    X = torch.arange(12.0, device="cuda").reshape(6, 2)
    delayed = fir_delays(X, (0, 1), groups=np.repeat([0, 1], 3))
    assert delayed.device.type == "cuda"
    np.testing.assert_array_equal(
        delayed.cpu().numpy(), fir_delays(X.cpu().numpy(), (0, 1), groups=np.repeat([0, 1], 3))
    )
