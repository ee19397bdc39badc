"""Encoding targets read a batch of columns at a time, so whole brains stay on disk.

:func:`~brainalign.alignment.encoding.cross_validated_encoding` accepts, as ``Y``,
anything with the :class:`TargetSource` protocol (and wraps a memory-mapped array in
:class:`ArrayTargets`): it reads ``target_batch_size`` columns, fits and scores them,
and drops them before the next batch, so its peak memory does not grow with the
number of targets beyond one batch. fMRI runs read voxel by voxel from their NIfTI
file are :class:`brainalign.datasets.fmri_targets.FMRITargets`.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["ArrayTargets", "TargetSource", "as_target_source"]


@runtime_checkable
class TargetSource(Protocol):
    """Responses (n_samples, n_targets) that can be read a batch of columns at a time.

    Attributes
    ----------
    n_samples : int
        Rows: samples (stimuli, volumes), in the order of the rows of ``X``.
    n_targets : int
        Columns: voxels, neurons, channels.
    target_ids : numpy.ndarray, shape (n_targets,)
        A name or index per column, used in messages.
    """

    n_samples: int
    n_targets: int
    target_ids: np.ndarray

    def read(self, columns: slice) -> np.ndarray:
        """Columns ``columns`` (a slice with step 1) as float64, shape (n_samples, n_batch)."""
        ...


class ArrayTargets:
    """A 2-D array (usually memory-mapped) read as a :class:`TargetSource`.

    Each :meth:`read` copies one batch of columns to a float64 array. A memory-mapped
    array (a ``.npy`` file) is read with ``os.preadv`` straight from its file, one
    contiguous run of the batch's bytes per row (or per column of a Fortran-ordered
    array), not through the mapping: reading through it would leave every touched page
    mapped, and the kernel maps up to 64 KiB around each faulting page, so a batch of a
    wide file would make most of the file resident. Other mapped arrays (unusual
    strides) are sliced and their pages then released (``madvise(MADV_DONTNEED)``). The
    resident size stays that of one batch however many batches are read.

    Parameters
    ----------
    data : path to a ``.npy`` file, numpy.memmap or numpy.ndarray, shape (n_samples, n_targets)
        A path is opened with ``numpy.load(path, mmap_mode="r")``. A 1-D array is one
        target.
    target_ids : array-like, shape (n_targets,), optional
        Default ``numpy.arange(n_targets)``.

    Raises
    ------
    ValueError
        If the file is not a ``.npy`` array, the array is not 1-D or 2-D, or
        ``target_ids`` has the wrong length.
    FileNotFoundError
        If the path does not exist.
    """

    def __init__(self, data: Any, target_ids: Any = None) -> None:
        array = _open(data)
        self.data = array[:, None] if array.ndim == 1 else array
        self.n_samples, self.n_targets = self.data.shape
        ids = np.arange(self.n_targets) if target_ids is None else np.asarray(target_ids)
        if ids.shape != (self.n_targets,):
            raise ValueError(
                f"target_ids has shape {ids.shape}; expected ({self.n_targets},), one per "
                "column of the targets."
            )
        self.target_ids = ids
        self._layout = _file_layout(self.data)

    def read(self, columns: slice) -> np.ndarray:
        """Columns ``columns`` as float64, shape (n_samples, n_batch), a new array.

        Raises
        ------
        ValueError
            If the file is shorter than its header says (truncated).
        """
        start, stop, _ = columns.indices(self.n_targets)
        if self._layout is not None:
            block = _read_file_columns(self._layout, self.data.dtype, self.n_samples, start, stop)
            return block.astype(np.float64, copy=False)
        block = np.array(self.data[:, start:stop], dtype=np.float64)
        _release_pages(self.data)
        return block

    def __repr__(self) -> str:
        name = getattr(self.data, "filename", None)
        where = f"{name!s}" if name else "in memory"
        return f"ArrayTargets({self.n_samples} x {self.n_targets} {self.data.dtype}, {where})"


def as_target_source(Y: Any) -> TargetSource | None:
    """``Y`` as a :class:`TargetSource` if it is one or is memory-mapped, else None.

    A :class:`TargetSource` is returned as is, a ``numpy.memmap`` (as from
    ``numpy.load(path, mmap_mode="r")``) or a path to a ``.npy`` file becomes an
    :class:`ArrayTargets`; anything else (arrays in memory, tensors) gives None.
    """
    if isinstance(Y, str | os.PathLike | np.memmap):
        return ArrayTargets(Y)
    if all(hasattr(Y, name) for name in ("read", "n_samples", "n_targets", "target_ids")):
        return Y
    return None


def _open(data: Any) -> np.ndarray:
    """``data`` as an array: a ``.npy`` path memory-mapped read-only, arrays as they are."""
    if isinstance(data, str | os.PathLike):
        if not os.path.exists(data):
            raise FileNotFoundError(f"targets: no such file {os.fspath(data)!r}")
        try:
            array = np.load(data, mmap_mode="r", allow_pickle=False)
        except ValueError as err:
            raise ValueError(
                f"targets: cannot read {os.fspath(data)!r} as a .npy array ({err}); save "
                "the targets with numpy.save (shape (n_samples, n_targets))."
            ) from err
    else:
        array = data if isinstance(data, np.ndarray) else np.asarray(data)
    if array.ndim not in (1, 2) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"targets must be a numeric 2-D array (n_samples, n_targets); got shape "
            f"{array.shape}, dtype {array.dtype}."
        )
    return array


@dataclass(frozen=True)
class _FileLayout:
    """Where a memory-mapped 2-D array's elements are in its file."""

    filename: str
    origin: int  # byte offset of element [0, 0]
    row_stride: int  # bytes
    column_stride: int  # bytes


def _file_layout(array: np.ndarray) -> _FileLayout | None:
    """The file layout of a memory-mapped array whose rows or columns are contiguous.

    None for arrays in memory, copy-on-write maps (their changes are not in the file)
    and strides that neither layout reads.
    """
    mapping = _mapping(array)
    filename = getattr(array, "filename", None)
    if mapping is None or filename is None or getattr(array, "mode", None) == "c":
        return None
    item = array.dtype.itemsize
    row_stride, column_stride = array.strides
    if column_stride != item and row_stride != item:
        return None
    offset = int(getattr(array, "offset", 0))
    start = offset - offset % mmap.ALLOCATIONGRANULARITY  # where the mapping begins
    address = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    origin = start + array.ctypes.data - address
    return _FileLayout(os.fspath(filename), origin, row_stride, column_stride)


def _read_file_columns(
    layout: _FileLayout, dtype: np.dtype, n_rows: int, start: int, stop: int
) -> np.ndarray:
    """Columns ``start:stop`` of all rows, read from the file, shape (n_rows, stop - start).

    One ``preadv`` per row (rows contiguous, C order) or per column (Fortran order).
    """
    item = dtype.itemsize
    if layout.column_stride == item:  # each row's columns are one run of bytes
        out = np.empty((n_rows, stop - start), dtype=dtype)
        runs = (
            (out[r], layout.origin + r * layout.row_stride + start * item) for r in range(n_rows)
        )
    else:  # each column is one run of bytes
        out_t = np.empty((stop - start, n_rows), dtype=dtype)
        out = out_t.T
        runs = (
            (out_t[c], layout.origin + (start + c) * layout.column_stride)
            for c in range(stop - start)
        )
    with open(layout.filename, "rb", buffering=0) as file:
        descriptor = file.fileno()
        for buffer, position in runs:
            if os.preadv(descriptor, [buffer], position) != buffer.nbytes:
                raise ValueError(
                    f"targets: {layout.filename!r} is shorter than its .npy header says "
                    "(truncated); write it again."
                )
    return out


def _mapping(array: np.ndarray) -> mmap.mmap | None:
    """The ``mmap`` object under ``array`` (following its bases), or None."""
    base: Any = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def _release_pages(array: np.ndarray) -> None:
    """Drop the resident pages of ``array``'s file mapping, if it is a shared one.

    Shared mappings only (``mode`` "r", "r+" or "w+": their pages stay in the page
    cache, written pages included); a copy-on-write mapping (``mode="c"``) is left
    alone: dropping its pages would drop the process's changes.
    """
    base = _mapping(array)
    mode = getattr(array, "mode", None)  # numpy.memmap and its views carry the mode
    if base is not None and mode in ("r", "r+", "w+") and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)
