"""The voxels of a 4D fMRI run as encoding targets, read a batch of voxels at a time.

:class:`FMRITargets` is a :class:`~brainalign.alignment.targets.TargetSource`: hand it
to :func:`~brainalign.alignment.encoding.cross_validated_encoding` as ``Y`` to fit a
whole brain without loading it. Each :meth:`FMRITargets.read` slices the NIfTI file's
array proxy (``img.dataobj``) to the bounding box of the batch's voxels, a chunk of
volumes at a time, so memory holds one batch of time series and one chunk of the box.
The voxels and their order are those of the same mask in
:func:`~brainalign.datasets.fmri.load_fmri_run` (nilearn's masker, C order); no
cleaning (detrending, confounds, standardising) is applied: the encoding z-scores each
target on its training rows.

A gzipped run is decompressed from the start for each chunk read (bounded memory, but
slow for many batches): use an uncompressed ``.nii`` for a whole brain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainalign.datasets.fmri import (
    CHUNK_BYTES,
    FMRIError,
    ImgLike,
    VoxelMask,
    _check_same_grid,
    _image_name,
    _load_image,
    _read_data,
    _voxel_units,
)

__all__ = ["FMRITargets"]


class FMRITargets:
    """Voxel time series of a 4D NIfTI run, read a batch of voxels at a time.

    Parameters
    ----------
    img : path or nibabel image, shape (nx, ny, nz, n_volumes)
        The run (stays on disk).
    mask : path, nibabel image or VoxelMask, shape (nx, ny, nz)
        Which voxels are targets (a bare image: its non-zero voxels), on ``img``'s
        grid.
    chunk_bytes : int, default 64 MiB
        Largest block of the bounding box read at once (volumes per read are sized
        from it).

    Attributes
    ----------
    n_samples : int
        Volumes.
    n_targets : int
        Voxels in the mask.
    target_ids : numpy.ndarray of str, shape (n_targets,)
        ``"voxel(i,j,k)"``, the voxel's array indices.
    units : pandas.DataFrame
        One row per voxel: ``roi``, ``i``, ``j``, ``k`` and world ``x``, ``y``, ``z``
        (mm), as in :func:`~brainalign.datasets.fmri.load_fmri_run`'s units table.

    Raises
    ------
    FMRIError
        If ``img`` is not 4D, the mask is empty or on another grid, or a file cannot be
        read (the message names it).
    FileNotFoundError
        If a path does not exist.
    """

    def __init__(self, img: ImgLike, mask: ImgLike | VoxelMask, *, chunk_bytes: int = CHUNK_BYTES):
        self.name = _image_name(img)
        self.img = _load_image(img, "FMRITargets img")
        if len(self.img.shape) != 4:
            raise FMRIError(
                f"{self.name}: expected a 4D image (x, y, z, time), got shape {self.img.shape}"
            )
        units = _voxel_units(mask if isinstance(mask, VoxelMask) else VoxelMask(mask))
        _check_same_grid(self.img, units.reference, self.name, "the mask image")
        if int(chunk_bytes) < 1:
            raise FMRIError(f"chunk_bytes must be >= 1, got {chunk_bytes!r}")
        self.chunk_bytes = int(chunk_bytes)
        self.units: pd.DataFrame = units.table
        self._ijk = self.units[["i", "j", "k"]].to_numpy()
        self.n_samples = int(self.img.shape[3])
        self.n_targets = len(self._ijk)
        self.target_ids = np.array([f"voxel({i},{j},{k})" for i, j, k in self._ijk.tolist()])

    def read(self, columns: slice) -> np.ndarray:
        """Voxels ``columns`` (in mask order) as float64, shape (n_samples, n_batch).

        Raises
        ------
        FMRIError
            If the file is truncated or corrupt.
        """
        ijk = self._ijk[columns]
        out = np.empty((self.n_samples, len(ijk)), dtype=np.float64)
        if not len(ijk):
            return out
        low, high = ijk.min(axis=0), ijk.max(axis=0) + 1
        box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
        i, j, k = (ijk - low).T
        step = max(1, self.chunk_bytes // (int(np.prod(high - low)) * 8))
        for start in range(0, self.n_samples, step):
            stop = min(start + step, self.n_samples)
            block = _read_data(self.img, self.name, (*box, slice(start, stop)))
            out[start:stop] = block[i, j, k, :].T
        return out

    def __repr__(self) -> str:
        return f"FMRITargets({self.name}, {self.n_samples} volumes x {self.n_targets} voxels)"
