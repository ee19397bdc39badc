"""The array backend: one namespace per input kind, conversions both ways."""

import numpy as np
import pytest
import torch

from brainalign.alignment.backend import as_float, namespace, to_backend, to_numpy


def test_namespace_follows_the_input_kind():
    xp_np = namespace(np.ones(3), None, [1, 2])
    xp_torch = namespace(torch.ones(3))
    assert xp_np.asarray([1.0]).__class__ is np.ndarray
    assert isinstance(xp_torch.asarray([1.0]), torch.Tensor)


def test_mixed_kinds_are_refused_with_a_way_out():
    with pytest.raises(TypeError, match="to_backend"):
        namespace(np.ones(2), torch.ones(2))


def test_as_float_keeps_precision_and_promotes_integers():
    xp = namespace(torch.ones(1))
    assert as_float(torch.ones(2, dtype=torch.float32), xp).dtype == torch.float32
    assert as_float(torch.arange(3), xp).dtype == torch.float64
    assert as_float([1, 2], namespace()).dtype == np.float64


def test_round_trip_numpy_torch():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = to_backend(x, "torch")
    assert t.dtype == torch.float64 and t.device.type == "cpu"
    np.testing.assert_array_equal(to_numpy(t), x)
    assert to_backend(t, "numpy").dtype == np.float64
    assert to_backend(x, "torch", dtype=np.float32).dtype == torch.float32


def test_unknown_backend_and_missing_cuda_are_clear():
    with pytest.raises(ValueError, match="use one of"):
        to_backend(np.ones(2), "jax")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            to_backend(np.ones(2), "torch_cuda")
