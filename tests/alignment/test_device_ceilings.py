"""Resampling and noise ceilings on the inputs' backend: torch tensors stay on their
device, numpy inputs compute on a run's device, and the numbers equal the numpy path."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.alignment.backend import alignment_device
from brainalign.alignment.ceiling import (
    leave_one_out_isc,
    split_half_ceiling,
    split_half_reliability,
)
from brainalign.alignment.temporal import lanczos_resample

torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _words(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word features at irregular onsets, and fMRI volume times (TR 2 s)."""
    rng = np.random.default_rng(seed)
    onsets = np.sort(rng.uniform(0.0, 300.0, size=600))
    return rng.normal(size=(600, 9)), onsets, np.arange(0.0, 300.0, 2.0)


def _repeats(seed: int = 0) -> np.ndarray:
    """(items, units, repeats) with a shared signal, missing repeats and a constant unit."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(50, 40, 1))
    responses = signal + rng.normal(scale=1.5, size=(50, 40, 6))
    responses[rng.random(responses.shape) < 0.25] = np.nan
    responses[:, 7, :] = 2.0  # constant: NaN reliability on every backend
    responses[:10, 11, 1:] = np.nan  # some items seen once
    return responses


def _subjects(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(subjects, samples, units) sharing a time course, with runs out of order."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(1, 120, 25))
    data = shared + rng.normal(scale=[[[0.5]], [[1.0]], [[2.0]], [[4.0]]], size=(4, 120, 25))
    data[:, :40, 3] = 5.0  # constant within the first run
    runs = np.repeat([2, 0, 1], 40)
    runs[50:55] = 2  # a run that is not contiguous
    return data, runs


def test_lanczos_on_torch_equals_numpy_and_stays_on_the_device():
    values, onsets, times = _words()
    expected = lanczos_resample(values, onsets, times)
    result = lanczos_resample(torch.as_tensor(values), onsets, times)
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-12)
    single = lanczos_resample(torch.as_tensor(values, dtype=torch.float32), onsets, times)
    np.testing.assert_allclose(single.numpy(), expected, rtol=0, atol=1e-5)


def test_lanczos_kernel_equals_numpy_sinc_at_and_near_zero():
    values = np.eye(5)
    onsets = np.array([0.0, 1.0, 2.0, 2.5, 6.0])
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    u = times[:, None] - onsets  # 2 * cutoff * offset, cutoff = 1 / (2 * 1 s)
    expected = np.sinc(u) * np.sinc(u / 3)
    expected[np.abs(u) > 3] = 0.0
    np.testing.assert_allclose(lanczos_resample(values, onsets, times), expected, atol=1e-15)
    on_torch = lanczos_resample(torch.as_tensor(values), onsets, times).numpy()
    np.testing.assert_allclose(on_torch, expected, atol=1e-15)


def test_isc_on_torch_equals_numpy():
    data, runs = _subjects()
    expected = leave_one_out_isc(data, runs=runs)
    assert np.isnan(expected[:, 3]).sum() == 0  # z-scored to 0 within the run only
    result = leave_one_out_isc(torch.as_tensor(data), runs=runs)
    assert isinstance(result, torch.Tensor)
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-12)
    single = leave_one_out_isc(torch.as_tensor(data, dtype=torch.float32), runs=runs)
    np.testing.assert_allclose(single.numpy(), expected, rtol=0, atol=1e-5)


def test_isc_z_scores_each_run_as_a_per_run_loop_does():
    data, runs = _subjects(1)
    z = np.empty_like(data)
    for run in np.unique(runs):
        block = data[:, runs == run]
        centred = block - block.mean(axis=1, keepdims=True)
        std = centred.std(axis=1, keepdims=True)
        z[:, runs == run] = np.where(std > 0, centred / np.where(std > 0, std, 1), 0)
    others = (z.sum(axis=0)[None] - z) / 3
    expected = [
        [np.corrcoef(z[s, :, u], others[s, :, u])[0, 1] for u in range(data.shape[2])]
        for s in range(4)
    ]
    np.testing.assert_allclose(leave_one_out_isc(data, runs=runs), expected, atol=1e-12)


def test_split_half_on_torch_equals_numpy_with_the_same_splits():
    responses = _repeats()
    expected = split_half_reliability(responses, n_splits=40, seed=3)
    assert np.isnan(expected[7]) and np.isfinite(np.delete(expected, 7)).all()
    result = split_half_reliability(torch.as_tensor(responses), n_splits=40, seed=3)
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=1e-12, equal_nan=True)
    single = split_half_reliability(
        torch.as_tensor(responses, dtype=torch.float32), n_splits=40, seed=3
    )
    np.testing.assert_allclose(single.numpy(), expected, rtol=0, atol=1e-5, equal_nan=True)


def test_run_device_computes_numpy_inputs_there_and_gives_numpy_back(monkeypatch):
    """Inside alignment_device (a run's --device) numpy inputs compute as tensors on that
    device and come back as numpy with the same numbers (CPU stands in for the GPU)."""
    values, onsets, times = _words(1)
    data, runs = _subjects(2)
    responses = _repeats(3)
    expected = (
        lanczos_resample(values, onsets, times),
        leave_one_out_isc(data, runs=runs),
        split_half_ceiling(responses, n_splits=20),
    )
    seen = []
    original = torch.as_tensor

    def recording(x, *args, **kwargs):
        tensor = original(x, *args, **kwargs)
        seen.append((tensor.device.type, tensor.dtype))
        return tensor

    monkeypatch.setattr(torch, "as_tensor", recording)
    with alignment_device("cpu"):
        results = (
            lanczos_resample(values, onsets, times),
            leave_one_out_isc(data, runs=runs),
            split_half_ceiling(responses, n_splits=20),
        )
    assert ("cpu", torch.float64) in seen
    for result, wanted in zip(results, expected, strict=True):
        assert isinstance(result, np.ndarray)
        np.testing.assert_allclose(result, wanted, rtol=0, atol=1e-12, equal_nan=True)


def test_bad_tensors_are_refused_as_numpy_is():
    data, runs = _subjects()
    data[1, 5, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf values for subjects \[1\]"):
        leave_one_out_isc(torch.as_tensor(data), runs=runs)
    responses = _repeats()
    responses[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="1 infinite value"):
        split_half_reliability(torch.as_tensor(responses))
    values, onsets, times = _words()
    values[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"values has non-finite entries .* rows \[4\]"):
        lanczos_resample(torch.as_tensor(values), onsets, times)


@needs_cuda
def test_cuda_resampling_and_ceilings_equal_numpy():
    values, onsets, times = _words()
    data, runs = _subjects()
    responses = _repeats()
    on_gpu = (
        lanczos_resample(torch.as_tensor(values, device="cuda"), onsets, times),
        leave_one_out_isc(torch.as_tensor(data, device="cuda"), runs=runs),
        split_half_reliability(torch.as_tensor(responses, device="cuda"), n_splits=30),
    )
    expected = (
        lanczos_resample(values, onsets, times),
        leave_one_out_isc(data, runs=runs),
        split_half_reliability(responses, n_splits=30),
    )
    for result, wanted in zip(on_gpu, expected, strict=True):
        assert result.device.type == "cuda"
        np.testing.assert_allclose(result.cpu().numpy(), wanted, atol=1e-10, equal_nan=True)


def test_split_half_ceiling_of_a_tensor_is_a_tensor():
    responses = _repeats(4)
    expected = split_half_ceiling(responses, n_splits=25)
    result = split_half_ceiling(torch.as_tensor(responses), n_splits=25)
    assert isinstance(result, torch.Tensor)
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-12, equal_nan=True)
