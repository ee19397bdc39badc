"""One implementation for numpy and torch arrays, on CPU or GPU.

The alignment functions are written once against the array API standard and run on
whatever array they are given: numpy arrays on the CPU, torch tensors on the CPU or a
GPU. :func:`namespace` returns the array namespace of the inputs (``xp``) through
`array-api-compat <https://data-apis.org/array-api-compat/>`_, the same shim
scikit-learn and SciPy use, so ``xp.linalg.eigh``, ``xp.argsort`` and friends dispatch to
numpy or torch. Results come back as the kind of array that went in, on the same
device. Nothing here imports torch unless a torch tensor is passed in or asked for.

Typical use inside a module::

    xp = namespace(X, Y)
    X = as_float(X, xp)
    ...
    return result                      # an xp array, like the inputs

and for a user who has numpy data and wants the GPU::

    X_gpu = to_backend(X, "torch_cuda")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
from array_api_compat import array_namespace, is_numpy_array, is_torch_array
from array_api_compat import device as array_device

__all__ = [
    "BACKENDS",
    "alignment_device",
    "run_device",
    "on_compute_device",
    "returned_like_input",
    "as_float",
    "at_least_float32",
    "namespace",
    "to_backend",
    "to_numpy",
    "working_float64",
]

#: Names accepted by :func:`to_backend`.
BACKENDS: tuple[str, ...] = ("numpy", "torch", "torch_cuda")

Backend = Literal["numpy", "torch", "torch_cuda"]


def namespace(*arrays: Any) -> Any:
    """The array namespace shared by ``arrays`` (numpy or torch, array-API compatible).

    Lists, tuples, scalars and ``None`` are skipped; if nothing is an array the
    namespace is numpy's.

    Raises
    ------
    TypeError
        If numpy arrays and torch tensors are mixed: convert one side with
        :func:`to_backend` first.
    """
    found = [a for a in arrays if is_numpy_array(a) or is_torch_array(a)]
    if not found:
        return array_namespace(np.empty(0))
    kinds = {"torch" if is_torch_array(a) else "numpy" for a in found}
    if len(kinds) > 1:
        raise TypeError(
            "got both numpy arrays and torch tensors; convert them to one kind first, "
            "e.g. brainalign.alignment.backend.to_backend(x, 'torch')"
        )
    return array_namespace(*found)


def as_float(x: Any, xp: Any, dtype: Any = None) -> Any:
    """``x`` as a floating-point array of namespace ``xp``, keeping its device.

    Integer and boolean arrays become float64; float arrays keep their precision unless
    ``dtype`` is given. Lists become float64 arrays of ``xp``.
    """
    if not (is_numpy_array(x) or is_torch_array(x)):
        x = np.asarray(x, dtype=np.float64)
        if xp is not array_namespace(x):
            x = xp.asarray(x)
    if dtype is not None:
        return xp.astype(x, dtype)
    if not xp.isdtype(x.dtype, "real floating"):
        return xp.astype(x, xp.float64)
    return x


def at_least_float32(dtype: Any, xp: Any) -> Any:
    """``dtype`` if it has 32 bits or more, else ``xp.float32`` (float16, bfloat16).

    The documented rule for half precision: numpy's and torch's linear algebra does not
    take it, and a half-precision result carries only about 3 significant digits, so
    half-precision inputs are computed (and returned) in float32.
    """
    if xp.finfo(dtype).bits < 32:
        return xp.float32
    return dtype


def working_float64(x: Any, xp: Any) -> Any:
    """``x`` (a float array) as float64 on its own device, for accumulating sums safely.

    Squares and sums of squares of float16 or float32 data overflow (values near 1e10
    in float32, 256 in float16) or lose the small differences of large values (a large
    common mean); float64 keeps every representable float32 input exact and its
    squared sums finite. Devices without float64 (Apple's ``mps``) get float32. A
    float64 array is returned as is (no copy).
    """
    if is_torch_array(x) and x.device.type == "mps":
        return xp.astype(x, xp.float32, copy=False)
    return xp.astype(x, xp.float64, copy=False)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy (or view) of a numpy array or a torch tensor on any device."""
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _like(values: Any, like: Any) -> Any:
    """``values`` (numpy or array-like) as an array of ``like``'s backend, device and dtype."""
    xp = namespace(like)
    return xp.asarray(np.asarray(values), dtype=like.dtype, device=array_device(like))


def to_backend(x: Any, backend: Backend = "numpy", *, dtype: Any = None) -> Any:
    """``x`` on a backend: ``"numpy"``, ``"torch"`` (CPU) or ``"torch_cuda"`` (GPU).

    Parameters
    ----------
    x : array-like
    backend : {"numpy", "torch", "torch_cuda"}
    dtype : optional
        A numpy or torch dtype (e.g. ``numpy.float32``); default: keep float arrays'
        precision, float64 for the rest.

    Raises
    ------
    ValueError
        For an unknown backend name, or ``"torch_cuda"`` without a CUDA device.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; use one of {list(BACKENDS)}")
    if backend == "numpy":
        arr = to_numpy(x)
        if dtype is None and not np.issubdtype(arr.dtype, np.floating):
            dtype = np.float64
        return arr if dtype is None else arr.astype(dtype, copy=False)
    import torch

    if backend == "torch_cuda" and not torch.cuda.is_available():
        raise ValueError(
            "backend='torch_cuda' but torch sees no CUDA device; use 'torch' (CPU) or 'numpy'"
        )
    device = "cuda" if backend == "torch_cuda" else "cpu"
    tensor = x if is_torch_array(x) else torch.as_tensor(np.asarray(x))
    if dtype is not None:
        torch_dtype = dtype if isinstance(dtype, torch.dtype) else _torch_dtype(dtype)
        tensor = tensor.to(torch_dtype)
    elif not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    return tensor.to(device)


def _torch_dtype(dtype: Any) -> Any:
    import torch

    name = np.dtype(dtype).name
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ValueError(f"dtype {dtype!r} has no torch equivalent") from None


_RUN_DEVICE: ContextVar[str | None] = ContextVar("brainalign_run_device", default=None)


@contextmanager
def alignment_device(device: str | None) -> Iterator[None]:
    """Run the encoding fits inside the block on ``device`` (a run's ``--device``).

    :func:`~brainalign.alignment.encoding.cross_validated_encoding` calls given numpy
    arrays and no ``device`` of their own compute on this device instead, in float64,
    so that where a run computes never changes its numbers (float64 on the device
    equals the numpy path within rounding, ~1e-10; see :func:`run_device`).
    :meth:`Benchmark.run <brainalign.benchmarks.benchmark.Benchmark.run>` sets it from
    :meth:`RunSettings.alignment_device
    <brainalign.benchmarks.settings.RunSettings.alignment_device>`.

    Parameters
    ----------
    device : str or None
        ``"cuda"``, ``"cuda:N"`` or ``"cpu"``; None leaves numpy arrays on numpy.
    """
    token = _RUN_DEVICE.set(device)
    try:
        yield
    finally:
        _RUN_DEVICE.reset(token)


def run_device() -> str | None:
    """The device set by the innermost :func:`alignment_device` block, or None."""
    return _RUN_DEVICE.get()


def on_compute_device(x: Any) -> tuple[Any, Any, bool]:
    """``x`` where the alignment computes it, with its namespace.

    torch tensors stay on their device. numpy arrays (or array-likes) stay numpy, or,
    inside an :func:`alignment_device` block, become float64 tensors on that device (so a
    run's ``--device`` computes there without changing the numbers).

    Parameters
    ----------
    x : array-like or torch.Tensor

    Returns
    -------
    xp : namespace
        numpy's or torch's (array API compatible).
    array : numpy.ndarray or torch.Tensor
        ``x`` on its compute device.
    numpy_input : bool
        Whether ``x`` was not a torch tensor (give the result back as numpy with
        :func:`returned_like_input`).
    """
    if is_torch_array(x):
        return namespace(x), x, False
    device = run_device()
    if device is None:
        array = np.asarray(x)
        return namespace(array), array, True
    import torch

    tensor = torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)
    return namespace(tensor), tensor, True


def returned_like_input(result: Any, numpy_input: bool) -> Any:
    """``result`` as numpy when the input was numpy (:func:`on_compute_device`), else as is."""
    return to_numpy(result) if numpy_input else result
