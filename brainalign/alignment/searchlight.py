"""Searchlight RSA: an RDM in every small neighbourhood of voxels or sensors.

A searchlight is a centre unit and its neighbours: the voxels of a mask within a radius
in millimetres of the centre voxel (world coordinates from the image affine, as
nilearn's searchlight and sphere masker measure it), or the sensors within a radius of
the centre sensor or adjacent to it in MNE's channel adjacency. :class:`Searchlights`
holds them as a compressed sparse row list; :func:`volume_searchlights` and
:func:`sensor_searchlights` build them and :func:`searchlight_rsa` scores model RDMs in
each one.

Speed without a Python loop per centre: centres are grouped by neighbourhood size
(inside the brain almost all spheres have the same number of voxels), and each group is
processed in chunks of ``chunk_size`` centres with one batched call of
:func:`~brainalign.alignment.rsa.rdm` (patterns gathered into an array of shape
``(chunk, n_conditions, size)``) and one of
:func:`~brainalign.alignment.rsa.compare_rdms`. Chunks run in ``n_jobs`` threads (numpy
and torch release the GIL in their kernels). Memory is bounded by
``chunk_size * n_conditions * size`` values per thread. Because the RDM and comparison
code is the backend code of :mod:`~brainalign.alignment.rsa`, torch tensors (CPU or GPU)
work as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment._checks import check_int
from brainalign.alignment._threads import resolve_n_jobs, thread_map
from brainalign.alignment.backend import as_float, namespace
from brainalign.alignment.rsa import compare_rdms, rdm

__all__ = [
    "Searchlights",
    "searchlight_rsa",
    "sensor_searchlights",
    "volume_searchlights",
]


@dataclass(frozen=True)
class Searchlights:
    """Neighbourhoods of units (voxels of a mask, or sensors), one per centre.

    Attributes
    ----------
    centers : numpy.ndarray of int, shape (n_centers,)
        Unit index of each searchlight's centre (a column of the data).
    indptr : numpy.ndarray of int, shape (n_centers + 1,)
        ``indices[indptr[i]:indptr[i + 1]]`` are the units of searchlight ``i``
        (compressed sparse row layout), sorted, the centre included.
    indices : numpy.ndarray of int, shape (indptr[-1],)
    n_units : int
        Number of units (columns of the data) the indices refer to.
    """

    centers: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    n_units: int

    def __len__(self) -> int:
        return len(self.centers)

    def __getitem__(self, i: int) -> np.ndarray:
        """The units of searchlight ``i``, shape (size_i,)."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    @property
    def sizes(self) -> np.ndarray:
        """Number of units per searchlight, shape (n_centers,)."""
        return np.diff(self.indptr)

    @classmethod
    def from_lists(
        cls, centers: ArrayLike, members: Sequence[ArrayLike], n_units: int
    ) -> Searchlights:
        """Build from a list of unit-index arrays (one per centre).

        Raises
        ------
        ValueError
            If lengths differ, a searchlight is empty, or an index is out of range.
        """
        centers_arr = np.asarray(centers, dtype=np.intp).ravel()
        if len(members) != len(centers_arr):
            raise ValueError(
                f"{len(centers_arr)} centres but {len(members)} neighbourhoods; give one each."
            )
        sorted_members = [np.unique(np.asarray(m, dtype=np.intp)) for m in members]
        if any(m.size == 0 for m in sorted_members):
            raise ValueError("a searchlight has no units; every neighbourhood needs at least one.")
        indptr = np.concatenate([[0], np.cumsum([m.size for m in sorted_members])])
        indices = np.concatenate(sorted_members) if sorted_members else np.empty(0, np.intp)
        for name, values in (("centers", centers_arr), ("indices", indices)):
            if values.size and (values.min() < 0 or values.max() >= n_units):
                raise ValueError(f"{name} refer to units outside 0..{n_units - 1}.")
        return cls(centers_arr, indptr.astype(np.intp), indices, int(n_units))


def _neighbours_within(coordinates: np.ndarray, centers: np.ndarray, radius: float) -> Searchlights:
    """Units within ``radius`` (inclusive) of each centre, by a k-d tree."""
    from scipy.spatial import cKDTree

    tree = cKDTree(coordinates)
    members = tree.query_ball_point(coordinates[centers], r=radius)
    return Searchlights.from_lists(centers, members, len(coordinates))


def volume_searchlights(
    mask: Any,
    radius: float,
    *,
    affine: ArrayLike | None = None,
    min_size: int = 1,
) -> Searchlights:
    """Spheres of ``radius`` millimetres around every voxel of a brain mask.

    Units are the mask's voxels in the order ``data[mask]`` (and nilearn's
    ``NiftiMasker``) gives them: C order of the voxel grid. A voxel belongs to a sphere
    when the distance between its centre and the centre voxel, in world coordinates
    (``affine @ [i, j, k, 1]``), is at most ``radius`` (as in nilearn); spheres are cut
    at the mask's edge.

    Parameters
    ----------
    mask : nibabel image or array-like of bool, shape (nx, ny, nz)
        The mask; an image brings its affine.
    radius : float
        Sphere radius in millimetres (world units of the affine). ``0`` gives
        single-voxel searchlights.
    affine : array-like, shape (4, 4), optional
        Voxel-to-world transform, for an array mask. Required with an array: radii are
        never silently taken as voxels.
    min_size : int, default 1
        Drop centres whose sphere holds fewer voxels (e.g. at the mask's edge).

    Returns
    -------
    Searchlights

    Raises
    ------
    ValueError
        For a mask that is not 3-D or is empty, an array without ``affine``, a bad affine,
        or a negative radius.
    """
    if hasattr(mask, "affine") and hasattr(mask, "get_fdata"):
        if affine is not None:
            raise ValueError("mask is an image with its own affine; do not pass affine=.")
        affine = mask.affine
        mask = np.asarray(mask.dataobj)
    mask_arr = np.asarray(mask)
    if mask_arr.ndim != 3:
        raise ValueError(f"mask must be 3-D (nx, ny, nz); got shape {mask_arr.shape}.")
    if affine is None:
        raise ValueError(
            "an array mask needs affine= (voxel to millimetres); pass the image's affine, "
            "or numpy.eye(4) for 1 mm voxels"
        )
    affine_arr = np.asarray(affine, dtype=np.float64)
    if affine_arr.shape != (4, 4) or not np.all(np.isfinite(affine_arr)):
        raise ValueError(f"affine must be a finite 4 x 4 matrix; got shape {affine_arr.shape}.")
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a non-negative number of millimetres; got {radius!r}.")
    voxels = np.argwhere(mask_arr > 0) if mask_arr.dtype != bool else np.argwhere(mask_arr)
    if len(voxels) == 0:
        raise ValueError("mask has no voxels; check the mask image (all zeros?).")
    world = voxels @ affine_arr[:3, :3].T + affine_arr[:3, 3]
    searchlights = _neighbours_within(world, np.arange(len(voxels)), float(radius))
    return _drop_small(searchlights, check_int("min_size", min_size, minimum=1))


def sensor_searchlights(
    sensors: Any,
    *,
    radius: float | None = None,
    ch_type: str | None = None,
) -> Searchlights:
    """Neighbourhoods of sensors: within a distance, or adjacent in MNE's sense.

    Parameters
    ----------
    sensors : mne.Info or array-like, shape (n_channels, 3)
        An MNE ``Info`` (channel positions, and the adjacency MNE knows for its
        system), or sensor positions in metres.
    radius : float, optional
        Distance in metres (e.g. 0.04): each sensor with every sensor within it.
        Required for positions; for an ``Info`` without it, MNE's channel adjacency
        (:func:`mne.channels.find_ch_adjacency`: the template for the system, or a
        Delaunay triangulation of the positions) plus the sensor itself.
    ch_type : str, optional
        Channel type for :func:`mne.channels.find_ch_adjacency` when the ``Info``
        holds several (e.g. ``"mag"``, ``"grad"``, ``"eeg"``).

    Returns
    -------
    Searchlights
        Units are the channels in ``Info`` (or position) order.

    Raises
    ------
    ValueError
        For positions without a radius, positions of the wrong shape or not finite
        (e.g. channels without a montage), or a negative radius.
    """
    if hasattr(sensors, "ch_names") and hasattr(sensors, "get"):
        if radius is None:
            import mne

            adjacency, _ = mne.channels.find_ch_adjacency(sensors, ch_type=ch_type)
            adjacency = adjacency.tocsr()
            n = adjacency.shape[0]
            members = [
                np.union1d(adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]], [i])
                for i in range(n)
            ]
            return Searchlights.from_lists(np.arange(n), members, n)
        positions = np.array([ch["loc"][:3] for ch in sensors["chs"]], dtype=np.float64)
    else:
        positions = np.asarray(sensors, dtype=np.float64)
        if radius is None:
            raise ValueError("sensor positions need radius= (metres), e.g. radius=0.04.")
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"sensor positions must be (n_channels, 3); got {positions.shape}.")
    if not np.all(np.isfinite(positions)):
        raise ValueError(
            "some sensor positions are NaN or inf (channels without a montage?); set a "
            "montage or drop those channels"
        )
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a non-negative number of metres; got {radius!r}.")
    return _neighbours_within(positions, np.arange(len(positions)), float(radius))


def _drop_small(searchlights: Searchlights, min_size: int) -> Searchlights:
    keep = np.flatnonzero(searchlights.sizes >= min_size)
    if len(keep) == len(searchlights):
        return searchlights
    if len(keep) == 0:
        raise ValueError(f"no searchlight holds min_size={min_size} units; lower min_size.")
    return Searchlights.from_lists(
        searchlights.centers[keep], [searchlights[i] for i in keep], searchlights.n_units
    )


def searchlight_rsa(
    data: Any,
    searchlights: Searchlights,
    model_rdms: Any,
    *,
    metric: str = "correlation",
    comparison: str = "spearman",
    conditions: Any = None,
    chunk_size: int = 512,
    n_jobs: int = 1,
) -> Any:
    """Compare model RDMs with the data's RDM in every searchlight.

    Parameters
    ----------
    data : array of shape (n_rows, n_units) or (n_rows, n_units, n_times)
        Patterns (numpy or torch): one row per condition (or per trial with
        ``conditions``), one column per unit of ``searchlights``; a trailing time axis
        gives a time-resolved searchlight (M/EEG).
    searchlights : Searchlights
    model_rdms : array of shape (n_pairs,) or (n_models, n_pairs)
        Condensed model RDMs over the same conditions, same kind as ``data``.
    metric : str, default "correlation"
        RDM dissimilarity (see :func:`~brainalign.alignment.rsa.rdm`); ``"crossnobis"``
        is not available here (it needs partitions per unit set).
    comparison : str, default "spearman"
        RDM comparison (see :func:`~brainalign.alignment.rsa.compare_rdms`).
    conditions : sequence of shape (n_rows,), optional
        Condition of each row, averaged first.
    chunk_size : int, default 512
        Searchlights per batched RDM computation.
    n_jobs : int, default 1
        Threads; ``-1`` uses every core.

    Returns
    -------
    scores : array of shape (n_centers, n_models) or (n_centers, n_models, n_times)
        Same kind as ``data``; one row per searchlight, in ``searchlights`` order.

    Raises
    ------
    ValueError
        For data whose columns do not match ``searchlights.n_units``, a model RDM over a
        different number of conditions, or the errors of ``rdm`` / ``compare_rdms``
        (e.g. a constant pattern under the correlation distance).
    """
    if metric == "crossnobis":
        raise ValueError("metric='crossnobis' is not available in searchlight_rsa; use rdm().")
    xp = namespace(data, model_rdms)
    X = as_float(data, xp)
    models = as_float(model_rdms, xp)
    if models.ndim == 1:
        models = xp.reshape(models, (1, -1))
    if X.ndim not in (2, 3):
        raise ValueError(
            f"data must be (n_rows, n_units) or (n_rows, n_units, n_times); got {tuple(X.shape)}."
        )
    if X.shape[1] != searchlights.n_units:
        raise ValueError(
            f"data has {X.shape[1]} units (columns) but the searchlights index "
            f"{searchlights.n_units}; build them from the same mask or sensors."
        )
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    n_threads = resolve_n_jobs(n_jobs)
    time_resolved = X.ndim == 3
    if time_resolved:
        X = xp.permute_dims(X, (2, 0, 1))  # (n_times, n_rows, n_units)

    chunks = _size_chunks(searchlights, chunk_size)

    def score(chunk: np.ndarray) -> Any:
        members = np.stack([searchlights[i] for i in chunk])  # (chunk, size)
        index = xp.asarray(members.ravel(), device=_device(X))
        patterns = xp.take(X, index, axis=X.ndim - 1)
        patterns = xp.reshape(patterns, (*X.shape[:-1], len(chunk), members.shape[1]))
        # (..., n_rows, chunk, size) -> (chunk, ..., n_rows, size)
        order = (X.ndim - 1, *range(X.ndim - 2), X.ndim - 2, X.ndim)
        try:
            rdms = rdm(xp.permute_dims(patterns, order), metric, conditions=conditions)
        except ValueError as error:
            centre = int(searchlights.centers[chunk[0]])
            raise ValueError(
                f"searchlight centred on unit {centre} (one of {len(chunk)} of "
                f"{members.shape[1]} units): {error} Small searchlights at the edge of a "
                "mask are the usual cause: raise min_size when building them."
            ) from error
        flat = xp.reshape(rdms, (-1, rdms.shape[-1]))  # (chunk [* n_times], n_pairs)
        similarity = compare_rdms(models, flat, comparison)  # (n_models, chunk [* n_times])
        similarity = xp.reshape(similarity, (models.shape[0], *rdms.shape[:-1]))
        axes = (1, 0, 2) if time_resolved else (1, 0)
        return xp.permute_dims(similarity, axes)

    results = thread_map(score, chunks, n_threads)
    order = np.argsort(np.concatenate(chunks), kind="stable")
    stacked = xp.concat(results, axis=0)
    return xp.take(stacked, xp.asarray(order, device=_device(X)), axis=0)


def _size_chunks(searchlights: Searchlights, chunk_size: int) -> list[np.ndarray]:
    """Searchlight indices grouped by size, in chunks of at most ``chunk_size``."""
    sizes = searchlights.sizes
    chunks = []
    for size in np.unique(sizes):
        same = np.flatnonzero(sizes == size)
        chunks.extend(same[i : i + chunk_size] for i in range(0, len(same), chunk_size))
    return chunks


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)
