"""fMRI readers: NIfTI runs (continuous), trial responses (event-related), through nilearn.

Three ways to turn a 4D NIfTI run into a :class:`~brainalign.datasets.Recording`:

- :func:`load_fmri_run`: the time series itself (``sampling="continuous"``), one sample per
  volume, with the run's events as the stimulus timeline and fMRIPrep confounds as
  regressors (and, optionally, regressed out).
- :func:`estimate_trial_betas`: one response per stimulus estimated with nilearn's GLM,
  least-squares-all (LSA) or least-squares-separate (LSS; Mumford et al. 2012).
- :func:`load_beta_maps`: one response per stimulus from beta maps the user already has.

Units are chosen by a *unit spec*: :class:`VoxelMask` (one unit per voxel),
:class:`Parcels` (one unit per label of an atlas, nilearn's ``NiftiLabelsMasker``) or
:class:`Spheres` (one unit per sphere around a coordinate, ``NiftiSpheresMasker``).

Time convention
---------------
Volume ``i`` (0-based) gets ``onset = (i + slice_time_ref) * tr`` seconds on the clock of
``events.tsv`` (the run's first volume starts at 0 s, as in BIDS). ``slice_time_ref=0``
(the default, as in nilearn's ``FirstLevelModel``) puts each sample at the start of its
volume, which is where :attr:`Recording.sample_times` and the project's resampling expect
it; data slice-time corrected to the middle of the volume (fMRIPrep's default) are best
described with ``slice_time_ref=0.5``.

Memory
------
Volumes are read through nibabel's array proxy (``img.dataobj``; memory-mapped for an
uncompressed ``.nii``) ``chunk_volumes`` at a time, each chunk masked with the nilearn
masker (no cleaning inside the masker), into one preallocated float32 result. Cleaning
(confound regression, detrending, standardisation, filtering) then runs through
``nilearn.signal.clean`` on blocks of units. Cleaning acts on each unit's time series
separately, so this equals the masker cleaning the whole run at once (tested), and every
option keeps the memory bound: peak memory beyond the result is one chunk of volumes (or one
block of float64 unit time series), ``chunk_bytes`` by default 64 MB. Gzipped files are
decompressed as a stream: each chunk read re-reads the file from the start (slow for many
chunks, but still bounded in memory); use an uncompressed ``.nii`` for large runs. A gzipped
run is also decompressed once to its end first, so that a truncated or damaged file (its
CRC) is an error rather than garbage data.

Missing values
--------------
nilearn's maskers silently turn NaN and infinite voxels into 0, so every reader here
checks the voxels its units use (inside the mask, the labels or the spheres) chunk by
chunk *before* masking. ``nan="raise"`` (the default) refuses them, naming the file and
how many voxels and volumes hold them; ``nan="drop_voxels"`` leaves those voxels out (a
voxel unit is dropped; a parcel or sphere averages its other voxels); ``nan="zero"`` sets
them to 0 (what nilearn does silently). What was done is recorded in ``meta["nan"]``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from brainalign.datasets.bids import content_kind, events_to_stimuli, stimuli_column_name
from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

ImgLike = Any  # a path or a nibabel image
NanPolicy = Literal["raise", "drop_voxels", "zero"]
NAN_POLICIES = ("raise", "drop_voxels", "zero")
#: Errors nibabel/gzip raise while reading the data of a truncated or corrupt file.
READ_ERRORS = (EOFError, OSError, ValueError, zlib.error)
CHUNK_BYTES = 64 * 2**20
AFFINE_ATOL = 1e-4
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
CONFOUND_STRATEGIES: dict[str, tuple[str, ...]] = {
    "motion6": MOTION,
    "motion12": MOTION + tuple(f"{m}_derivative1" for m in MOTION),
    "motion24": MOTION
    + tuple(f"{m}_derivative1" for m in MOTION)
    + tuple(f"{m}_power2" for m in MOTION)
    + tuple(f"{m}_derivative1_power2" for m in MOTION),
    "wm_csf": ("white_matter", "csf"),
    "global_signal": ("global_signal",),
}


class FMRIError(ValueError):
    """Bad fMRI input: the message names the file and the problem."""


# --------------------------------------------------------------------------- unit specs


@dataclass(frozen=True)
class VoxelMask:
    """One unit per voxel of a mask image.

    Parameters
    ----------
    img : path or nibabel image, shape (nx, ny, nz)
        Binary mask, or a probabilistic map / statistical map to threshold.
    threshold : float, optional
        Keep voxels with value ``> threshold`` (default: every non-zero voxel).
    name : str
        Written to the ``roi`` column of the units table.
    """

    img: ImgLike
    threshold: float | None = None
    name: str = "mask"


@dataclass(frozen=True)
class Parcels:
    """One unit per parcel of a labels image (mean over its voxels, ``NiftiLabelsMasker``).

    Parameters
    ----------
    img : path or nibabel image, shape (nx, ny, nz)
        Integer labels, 0 = background.
    names : mapping of int to str, or path to a TSV, optional
        Name of each label. A TSV needs a label column (``roiNumber``, ``index`` or
        ``label``) and a name column (``label`` or ``name``); an optional ``hemisphere``
        column is copied to the units table. Default: ``"parcel_<label>"``.
    """

    img: ImgLike
    names: Mapping[int, str] | str | os.PathLike | None = None

    @classmethod
    def from_masks(
        cls, masks: Sequence[ImgLike], names: Sequence[str], threshold: float | None = None
    ) -> Parcels:
        """Build a labels image from per-region masks (label ``k + 1`` for mask ``k``).

        Parameters
        ----------
        masks : sequence of path or image, each shape (nx, ny, nz)
            One mask (or map to threshold) per region, all on the same grid.
        names : sequence of str, length len(masks)
        threshold : float, optional
            Voxels ``> threshold`` belong to a region (default: non-zero voxels).

        Raises
        ------
        FMRIError
            If lengths differ, grids differ, a region is empty, or regions overlap.
        """
        import nibabel as nib

        if len(masks) != len(names) or not masks:
            raise FMRIError(
                f"Parcels.from_masks: got {len(masks)} masks and {len(names)} names; "
                "give one name per mask (at least one)"
            )
        first = _load_image(masks[0], "masks[0]")
        labels = np.zeros(first.shape[:3], dtype=np.int32)
        for k, mask in enumerate(masks):
            img = _load_image(mask, f"masks[{k}]")
            _check_same_grid(img, first, f"masks[{k}]", "masks[0]")
            inside = _threshold(_read_data(img, f"masks[{k}] {_image_name(mask)}"), threshold)
            if not inside.any():
                raise FMRIError(f"Parcels.from_masks: mask {k} ({names[k]!r}) is empty")
            overlap = inside & (labels > 0)
            if overlap.any():
                other = names[int(labels[overlap][0]) - 1]
                raise FMRIError(
                    f"Parcels.from_masks: {names[k]!r} overlaps {other!r} in "
                    f"{int(overlap.sum())} voxels; a labels image needs disjoint regions "
                    "(use Spheres/separate calls for overlapping regions)"
                )
            labels[inside] = k + 1
        image = nib.Nifti1Image(labels, first.affine)
        return cls(image, names={k + 1: n for k, n in enumerate(names)})


@dataclass(frozen=True)
class Spheres:
    """One unit per sphere around a coordinate in mm (mean over it, ``NiftiSpheresMasker``).

    Parameters
    ----------
    coords_mm : array-like, shape (n_spheres, 3)
        Centres in world (e.g. MNI) millimetres.
    radius_mm : float
        Radius in mm (voxel centres at distance ``<= radius_mm``, nilearn's rule).
    names : sequence of str, optional
        One name per sphere (default ``sphere_<k>``).
    allow_overlap : bool
        Passed to nilearn; overlapping spheres are an error otherwise.
    """

    coords_mm: Any
    radius_mm: float
    names: Sequence[str] | None = None
    allow_overlap: bool = False


UnitSpec = VoxelMask | Parcels | Spheres


@dataclass
class _Units:
    masker: Any  # a fitted nilearn masker that does no cleaning
    table: pd.DataFrame
    kind: str
    reference: Any = field(default=None)  # image whose grid the run must match
    inside: np.ndarray | None = None  # voxels the units use (None: spheres, grid-dependent)
    spec: Any = None  # the unit spec the masker was built from
    excluded: np.ndarray | None = None  # spheres: voxels left out (nan="drop_voxels")


# --------------------------------------------------------------------------- images


def _load_image(img: ImgLike, what: str) -> Any:
    """A nibabel image from a path or an image (lazy: data stay on disk)."""
    import nibabel as nib

    if isinstance(img, str | os.PathLike):
        path = Path(img)
        if not path.exists():
            raise FileNotFoundError(f"{what}: no such file {path}")
        try:
            return nib.load(path)
        except Exception as error:  # nibabel raises several types for bad files
            raise FMRIError(
                f"{what}: cannot read {path} as an image ({error}); if it is a NIfTI file it "
                "is truncated or corrupt: download it again"
            ) from error
    if not hasattr(img, "affine") or not hasattr(img, "dataobj"):
        raise FMRIError(f"{what}: expected a path or a nibabel image, got {type(img).__name__}")
    return img


def _image_name(img: ImgLike) -> str:
    if isinstance(img, str | os.PathLike):
        return str(img)
    filename = getattr(img, "get_filename", lambda: None)()
    return str(filename) if filename else "<in-memory image>"


def _read_data(img: Any, what: str, index: Any = Ellipsis) -> np.ndarray:
    """``img.dataobj[index]`` as an array; a truncated or corrupt file raises FMRIError.

    Parameters
    ----------
    img : nibabel image
    what : str
        The file (or argument) named in the error.
    index : slice tuple, optional
        What to read (default everything).
    """
    if index is Ellipsis:
        _check_gzip(img, what)
    try:
        return np.asarray(img.dataobj[index])
    except READ_ERRORS as error:
        raise FMRIError(
            f"{what}: cannot read the image data: the file is truncated or corrupt "
            f"({type(error).__name__}: {error}); download it again"
        ) from error


def _check_gzip(img: Any, what: str) -> None:
    """Decompress a ``.gz`` image's file once to its end, so its CRC and length are checked.

    nibabel stops reading a gzipped file as soon as it has the bytes it asked for, so a
    file cut short after the data or with damaged bytes inside would otherwise be read
    as garbage without an error. Memory stays flat (16 MB blocks).
    """
    import gzip

    filename = getattr(img, "get_filename", lambda: None)()
    if not filename or not str(filename).endswith(".gz"):
        return
    try:
        with gzip.open(filename, "rb") as stream:
            while stream.read(16 * 2**20):
                pass
    except READ_ERRORS as error:
        raise FMRIError(
            f"{what}: the file is truncated or corrupt ({type(error).__name__}: {error}); "
            "download it again"
        ) from error


def _threshold(values: np.ndarray, threshold: float | None) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim == 4 and values.shape[3] == 1:
        values = values[..., 0]
    return values > threshold if threshold is not None else values != 0


def _check_same_grid(img: Any, reference: Any, img_name: str, reference_name: str) -> None:
    """Raise unless ``img`` and ``reference`` share the voxel grid (shape and affine)."""
    same_shape = tuple(img.shape[:3]) == tuple(reference.shape[:3])
    same_affine = np.allclose(img.affine, reference.affine, atol=AFFINE_ATOL, rtol=0)
    if same_shape and same_affine:
        return
    raise FMRIError(
        f"{img_name} and {reference_name} are not on the same voxel grid: "
        f"shape {tuple(img.shape[:3])} vs {tuple(reference.shape[:3])}, affine\n"
        f"{np.array2string(np.asarray(img.affine), precision=3)}\nvs\n"
        f"{np.array2string(np.asarray(reference.affine), precision=3)}\n"
        "Resample one onto the other first, e.g. "
        "nilearn.image.resample_to_img(mask, run, interpolation='nearest') for a mask or "
        "labels image."
    )


def _world_coordinates(ijk: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World (mm) coordinates of voxel indices, shape (n, 3)."""
    return ijk @ affine[:3, :3].T + affine[:3, 3]


# --------------------------------------------------------------------------- maskers


def _voxel_units(spec: VoxelMask) -> _Units:
    import nibabel as nib
    from nilearn.maskers import NiftiMasker

    img = _load_image(spec.img, "VoxelMask.img")
    inside = _threshold(_read_data(img, f"VoxelMask {_image_name(spec.img)}"), spec.threshold)
    if inside.ndim != 3:
        raise FMRIError(f"VoxelMask {_image_name(spec.img)}: expected a 3D image, got {img.shape}")
    if not inside.any():
        raise FMRIError(
            f"VoxelMask {_image_name(spec.img)}: no voxel above threshold {spec.threshold}"
        )
    mask_img = nib.Nifti1Image(inside.astype(np.uint8), img.affine)
    masker = NiftiMasker(mask_img=mask_img, standardize=None).fit()
    ijk = np.argwhere(inside)  # C order, the order nilearn's masking uses
    xyz = _world_coordinates(ijk, img.affine)
    table = pd.DataFrame(
        {
            "roi": spec.name,
            "i": ijk[:, 0],
            "j": ijk[:, 1],
            "k": ijk[:, 2],
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
        }
    )
    return _Units(masker, table, "voxels", reference=mask_img, inside=inside, spec=spec)


def _read_label_names(names: Mapping[int, str] | str | os.PathLike | None) -> pd.DataFrame:
    """Label names as a table with columns ``label``, ``roi`` (and ``hemisphere``)."""
    if names is None:
        return pd.DataFrame(columns=["label", "roi"])
    if isinstance(names, Mapping):
        return pd.DataFrame({"label": list(names), "roi": [str(v) for v in names.values()]})
    path = Path(names)
    if not path.exists():
        raise FileNotFoundError(f"Parcels.names: no such file {path}")
    table = pd.read_csv(path, sep="\t")
    table.columns = [str(c).strip() for c in table.columns]
    label_col = next((c for c in ("roiNumber", "index", "label") if c in table.columns), None)
    name_col = next((c for c in ("label", "name") if c in table.columns and c != label_col), None)
    if label_col is None or name_col is None:
        raise FMRIError(
            f"{path}: need a label column (roiNumber, index or label) and a name column "
            f"(label or name); found {list(table.columns)}"
        )
    out = pd.DataFrame(
        {"label": table[label_col].astype(int), "roi": table[name_col].astype(str).str.strip()}
    )
    if "hemisphere" in table.columns:
        out["hemisphere"] = table["hemisphere"].astype(str).str.strip()
    return out


def _parcel_units(spec: Parcels) -> _Units:
    import nibabel as nib
    from nilearn.maskers import NiftiLabelsMasker

    img = _load_image(spec.img, "Parcels.img")
    values = _read_data(img, f"Parcels {_image_name(spec.img)}")
    if values.ndim == 4 and values.shape[3] == 1:
        values = values[..., 0]
    if values.ndim != 3:
        raise FMRIError(f"Parcels {_image_name(spec.img)}: expected a 3D labels image")
    labels = np.rint(values).astype(np.int64)
    if not np.allclose(values, labels):
        raise FMRIError(
            f"Parcels {_image_name(spec.img)}: labels must be integers; for a probabilistic "
            "map use VoxelMask(img, threshold=...) or threshold it into a labels image"
        )
    present = np.unique(labels[labels != 0])
    if present.size == 0:
        raise FMRIError(f"Parcels {_image_name(spec.img)}: no label other than background 0")
    labels_img = nib.Nifti1Image(labels.astype(np.int32), img.affine)
    masker = NiftiLabelsMasker(
        labels_img, background_label=0, resampling_target=None, standardize=None
    ).fit()
    names = _read_label_names(spec.names).set_index("label")
    ijk_all = np.argwhere(labels != 0)
    centroid = (
        pd.DataFrame(_world_coordinates(ijk_all, img.affine), columns=["x", "y", "z"])
        .assign(label=labels[labels != 0])
        .groupby("label")
    )
    table = pd.DataFrame({"label": present})
    table["roi"] = [names["roi"].get(lab, f"parcel_{lab}") for lab in present]
    if "hemisphere" in names.columns:
        table["hemisphere"] = [names["hemisphere"].get(lab, "") for lab in present]
    table = table.join(centroid.mean(), on="label").join(
        centroid.size().rename("n_voxels"), on="label"
    )
    return _Units(masker, table, "parcels", reference=labels_img, inside=labels != 0, spec=spec)


def _sphere_units(spec: Spheres, excluded: np.ndarray | None = None, grid: Any = None) -> _Units:
    """Sphere units; ``excluded`` (3D bool on ``grid``'s voxels) are left out of every mean."""
    import nibabel as nib
    from nilearn.maskers import NiftiSpheresMasker

    coords = np.asarray(spec.coords_mm, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) == 0:
        raise FMRIError(f"Spheres.coords_mm must have shape (n_spheres, 3), got {coords.shape}")
    if not spec.radius_mm > 0:
        raise FMRIError(f"Spheres.radius_mm must be positive mm, got {spec.radius_mm!r}")
    names = (
        list(spec.names) if spec.names is not None else [f"sphere_{k}" for k in range(len(coords))]
    )
    if len(names) != len(coords):
        raise FMRIError(f"Spheres: {len(names)} names for {len(coords)} coordinates")
    masker = NiftiSpheresMasker(
        [tuple(c) for c in coords],
        radius=float(spec.radius_mm),
        allow_overlap=spec.allow_overlap,
        standardize=None,
        mask_img=None
        if excluded is None
        else nib.Nifti1Image((~excluded).astype(np.uint8), grid.affine),
    ).fit()
    table = pd.DataFrame(
        {"roi": names, "x": coords[:, 0], "y": coords[:, 1], "z": coords[:, 2]}
    ).assign(radius_mm=float(spec.radius_mm))
    return _Units(masker, table, "spheres", spec=spec, excluded=excluded)


def _make_units(spec: UnitSpec | ImgLike) -> _Units:
    """Fitted nilearn masker and units table for a unit spec (a bare image = VoxelMask)."""
    if isinstance(spec, Parcels):
        return _parcel_units(spec)
    if isinstance(spec, Spheres):
        return _sphere_units(spec)
    if not isinstance(spec, VoxelMask):
        spec = VoxelMask(spec)
    return _voxel_units(spec)


def _chunk_size(img: Any, chunk_volumes: int | None) -> int:
    if chunk_volumes is not None:
        if int(chunk_volumes) < 1:
            raise FMRIError(f"chunk_volumes must be >= 1, got {chunk_volumes!r}")
        return int(chunk_volumes)
    volume_bytes = int(np.prod(img.shape[:3])) * 8  # scaled data can arrive as float64
    return max(1, CHUNK_BYTES // volume_bytes)


def check_nan_policy(nan: str) -> None:
    """Raise unless ``nan`` is one of :data:`NAN_POLICIES`."""
    if nan not in NAN_POLICIES:
        raise FMRIError(f"nan={nan!r}: use one of {list(NAN_POLICIES)}")


def _sphere_voxels(spec: Spheres, img: Any) -> np.ndarray:
    """Voxels of ``img``'s grid inside any sphere, 3D bool (nilearn's rule).

    A voxel belongs to a sphere when its centre is at most ``radius_mm`` from the seed;
    the voxel nearest the seed always does (as in ``NiftiSpheresMasker``).
    """
    shape = tuple(img.shape[:3])
    affine = np.asarray(img.affine, dtype=float)
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = _world_coordinates(ijk, affine)
    inside = np.zeros(len(ijk), dtype=bool)
    inverse = np.linalg.inv(affine)
    for seed in np.asarray(spec.coords_mm, dtype=float):
        inside |= np.sum((xyz - seed) ** 2, axis=1) <= float(spec.radius_mm) ** 2
        nearest = np.rint(inverse[:3, :3] @ seed + inverse[:3, 3]).astype(int)
        if np.all(nearest >= 0) and np.all(nearest < shape):
            inside[np.ravel_multi_index(tuple(nearest), shape)] = True
    return inside.reshape(shape)


def _inside(units: _Units, img: Any) -> np.ndarray:
    """Voxels whose values the units use, 3D bool on ``img``'s grid."""
    if units.inside is not None:
        return units.inside
    inside = _sphere_voxels(units.spec, img)
    if units.excluded is not None:
        inside &= ~units.excluded
    return inside


@dataclass
class _Masked:
    """A masked image and where it held NaN or infinite values inside the units' voxels."""

    data: np.ndarray  # (n_volumes, n_units)
    first: np.ndarray | None  # (n_units,) float64, see _mask_4d
    bad_voxels: np.ndarray  # 3D bool: voxels non-finite in at least one volume
    bad_volumes: int  # volumes with at least one non-finite voxel
    example: tuple[int, ...] | None  # (i, j, k, volume) of the first non-finite value


def _mask_4d(
    img: Any,
    units: _Units,
    chunk_volumes: int | None,
    what: str,
    *,
    dtype: type = np.float32,
    subtract_first: bool = False,
) -> _Masked:
    """Mask a 4D image chunk by chunk of volumes, setting non-finite voxels to 0 first.

    Returns
    -------
    _Masked
        ``data``, shape (n_volumes, n_units) ``dtype``: the masked time series, or
        (``subtract_first``) their difference to the first volume: a float32 difference
        keeps about 7 digits of the fluctuations, where a float32 copy of a signal around
        1000 keeps only 4 of them. ``first``, shape (n_units,) float64: the first volume's
        values (``subtract_first``), else None. ``bad_voxels``/``bad_volumes``: where the
        voxels the units use held NaN or inf (those values were masked as 0).
    """
    import nibabel as nib

    if len(img.shape) != 4:
        raise FMRIError(f"{what}: expected a 4D image (x, y, z, time), got shape {img.shape}")
    if units.reference is not None:
        _check_same_grid(img, units.reference, what, "the mask/labels image")
    _check_gzip(img, what)
    inside = _inside(units, img)
    n_volumes = img.shape[3]
    step = _chunk_size(img, chunk_volumes)
    out = np.empty((n_volumes, len(units.table)), dtype=dtype)
    first = None
    bad_voxels = np.zeros(img.shape[:3], dtype=bool)
    bad_volumes, example = 0, None
    for start in range(0, n_volumes, step):
        stop = min(start + step, n_volumes)
        block = _read_data(img, what, (..., slice(start, stop)))
        if np.issubdtype(block.dtype, np.inexact):
            nonfinite = ~np.isfinite(block)
            if nonfinite.any():
                block = np.where(nonfinite, 0, block)  # what nilearn does, now explicit
                used = nonfinite[inside]  # (n_inside, n_chunk)
                if used.any():
                    bad_voxels[inside] |= used.any(axis=1)
                    bad_volumes += int(used.any(axis=0).sum())
                    if example is None:
                        i, j, k, t = np.argwhere(nonfinite & inside[..., None])[0].tolist()
                        example = (i, j, k, start + t)
            del nonfinite
        masked = np.asarray(units.masker.transform(nib.Nifti1Image(block, img.affine)))
        del block
        if subtract_first:
            first = masked[0].astype(np.float64) if first is None else first
            masked = masked - first
        if not np.all(np.isfinite(masked)):
            raise FMRIError(f"{what}: masked data contain NaN or infinite values")
        out[start:stop] = masked
    return _Masked(out, first, bad_voxels, bad_volumes, example)


def _nan_error(what: str, masked: _Masked, n_volumes: int, *, volume_word: str) -> FMRIError:
    i, j, k, t = masked.example if masked.example is not None else (0, 0, 0, 0)
    return FMRIError(
        f"{what}: {int(masked.bad_voxels.sum())} voxel(s) used by the units hold NaN or "
        f"infinite values in {masked.bad_volumes} of {n_volumes} {volume_word}(s) (first at "
        f"voxel (i, j, k) = ({i}, {j}, {k}), {volume_word} {t}); nilearn's maskers would "
        "silently turn them into 0. Pass nan='drop_voxels' to leave those voxels out, "
        "nan='zero' to set them to 0, or fix the file"
    )


def _without_voxels(units: _Units, bad: np.ndarray, img: Any, what: str) -> _Units:
    """The units rebuilt without the voxels ``bad`` (3D bool), for nan='drop_voxels'."""
    import nibabel as nib

    spec = units.spec
    if isinstance(spec, Parcels):
        labels = np.asarray(units.reference.dataobj).copy()
        emptied = sorted(set(np.unique(labels[bad]).tolist()) - set(np.unique(labels[~bad])))
        emptied = [label for label in emptied if label != 0]
        if emptied:
            rois = units.table.set_index("label")["roi"]
            raise FMRIError(
                f"{what}: with nan='drop_voxels' parcel(s) "
                f"{[str(rois.get(label, label)) for label in emptied]} have no finite voxel "
                "left; use nan='zero', a labels image without them, or fix the file"
            )
        labels[bad] = 0
        return _parcel_units(Parcels(nib.Nifti1Image(labels, units.reference.affine), spec.names))
    if isinstance(spec, Spheres):
        excluded = bad if units.excluded is None else bad | units.excluded
        empty = [
            str(name)
            for name, one in zip(units.table["roi"], np.asarray(spec.coords_mm), strict=True)
            if not (_sphere_voxels(Spheres([one], spec.radius_mm), img) & ~excluded).any()
        ]
        if empty:
            raise FMRIError(
                f"{what}: with nan='drop_voxels' sphere(s) {empty} have no finite voxel left; "
                "use nan='zero', other coordinates, or fix the file"
            )
        return _sphere_units(spec, excluded=excluded, grid=img)
    raise AssertionError(f"unexpected unit spec {type(spec).__name__}")  # voxels: see below


def _keep_columns(data: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``data[:, keep]`` compacted in place in blocks of rows (no second full copy)."""
    n_rows, n_columns = data.shape
    n_kept = int(keep.sum())
    flat = data.reshape(-1)
    step = max(1, CHUNK_BYTES // max(1, n_columns * data.itemsize))
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        rows = flat[start * n_columns : stop * n_columns].reshape(-1, n_columns)[:, keep]
        flat[start * n_kept : stop * n_kept] = rows.reshape(-1)
    return flat[: n_rows * n_kept].reshape(n_rows, n_kept)


def _mask_images(
    images: Sequence[tuple[Any, str]],
    units: _Units,
    chunk_volumes: int | None,
    nan: str,
    *,
    dtype: type = np.float32,
    subtract_first: bool = False,
    volume_word: str = "volume",
) -> tuple[np.ndarray, np.ndarray | None, _Units, dict[str, Any]]:
    """Mask 4D images (stacked along time) and apply the ``nan`` policy.

    Parameters
    ----------
    images : sequence of (nibabel image, str)
        4D images and the file names used in messages.
    units : _Units
    chunk_volumes : int, optional
    nan : {"raise", "drop_voxels", "zero"}
    dtype, subtract_first
        As in :func:`_mask_4d` (``subtract_first`` needs one image).

    Returns
    -------
    data : numpy.ndarray, shape (n_volumes, n_units)
    first : numpy.ndarray, shape (n_units,), or None
    units : _Units
        The units of ``data`` (fewer with ``nan="drop_voxels"``).
    report : dict
        ``policy``, ``voxels`` (how many voxels held NaN/inf) and ``volumes``, for ``meta``.

    Raises
    ------
    FMRIError
        ``nan="raise"`` and a voxel the units use is NaN or infinite.
    """
    check_nan_policy(nan)
    results = [
        _mask_4d(img, units, chunk_volumes, what, dtype=dtype, subtract_first=subtract_first)
        for img, what in images
    ]
    bad = np.zeros(images[0][0].shape[:3], dtype=bool)
    for result in results:
        bad |= result.bad_voxels
    n_volumes = sum(int(img.shape[3]) for img, _ in images)
    report = {
        "policy": nan,
        "voxels": int(bad.sum()),
        "volumes": sum(r.bad_volumes for r in results),
    }
    data = np.concatenate([r.data for r in results]) if len(results) > 1 else results[0].data
    first = results[0].first
    if not bad.any() or nan == "zero":
        return data, first, units, report
    if nan == "raise":
        (img, what), result = next(
            (pair, r) for pair, r in zip(images, results, strict=True) if r.bad_voxels.any()
        )
        if len(images) > 1:
            what = f"{what} (and {sum(r.bad_voxels.any() for r in results) - 1} other map(s))"
            result = _Masked(result.data, None, bad, report["volumes"], result.example)
        raise _nan_error(what, result, n_volumes, volume_word=volume_word)
    if units.kind == "voxels":
        table = units.table
        keep = ~bad[table["i"].to_numpy(), table["j"].to_numpy(), table["k"].to_numpy()]
        if not keep.any():
            raise FMRIError(
                f"{images[0][1]}: with nan='drop_voxels' no voxel of the mask is left; every "
                "one holds NaN or infinite values"
            )
        dropped = _Units(
            units.masker,
            table[keep].reset_index(drop=True),
            units.kind,
            reference=units.reference,
            inside=units.inside & ~bad,
            spec=units.spec,
        )
        return _keep_columns(data, keep), None if first is None else first[keep], dropped, report
    del data, results
    units = _without_voxels(units, bad, images[0][0], images[0][1])
    results = [
        _mask_4d(img, units, chunk_volumes, what, dtype=dtype, subtract_first=subtract_first)
        for img, what in images
    ]
    data = np.concatenate([r.data for r in results]) if len(results) > 1 else results[0].data
    return data, results[0].first, units, report


# --------------------------------------------------------------------------- tables


def _read_table(table: str | os.PathLike | pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    if isinstance(table, pd.DataFrame):
        return table.copy(), f"{what} (DataFrame)"
    path = Path(table)
    if not path.exists():
        raise FileNotFoundError(f"{what}: no such file {path}")
    sep = "," if path.suffix == ".csv" else "\t"
    return pd.read_csv(path, sep=sep, na_values=["n/a"]), str(path)


def read_events(
    events: str | os.PathLike | pd.DataFrame,
    stimulus_column: str = "trial_type",
    *,
    group: str | None = None,
) -> Stimuli:
    """Read a BIDS events table into Stimuli sorted by onset.

    A thin call of :func:`brainalign.datasets.bids.events_to_stimuli` (the project's one
    reader of events tables, with its checks, ids and content rule), with the rows put in
    onset order (stable), the order the GLM and the stimulus timeline use.

    Parameters
    ----------
    events : path or DataFrame, shape (n_events, n_columns)
        ``events.tsv`` (tab-separated, ``n/a`` for missing) or a table, with ``onset`` and
        ``duration`` in seconds on the run clock (volume 0 at 0 s).
    stimulus_column : str
        Column naming what was presented (``trial_type``, ``stim_id``, ``word``, ...).
    group : str, optional
        Stimuli group of every row (default: the events file's run label).

    Returns
    -------
    Stimuli
        Shape (n_events, n_columns): see ``events_to_stimuli``; ``label`` for conditions and
        ids, ``text`` for word/sentence columns (and an events ``text`` column is kept as
        the text), ``image`` for ``stim_file``.

    Raises
    ------
    brainalign.datasets.bids.BIDSFileError
        If ``onset``/``duration``/``stimulus_column`` are missing, timings are not numbers,
        durations are negative, or the stimulus is ``n/a`` (naming file, column and rows).
    """
    stimuli = events_to_stimuli(events, stimulus_column=stimulus_column, group=group)
    return Stimuli(stimuli.table.sort_values("onset", kind="stable"))


def read_confounds(
    confounds: str | os.PathLike | pd.DataFrame,
    columns: str | Sequence[str] | None,
    n_volumes: int,
) -> pd.DataFrame:
    """Select confound columns from an fMRIPrep ``desc-confounds_timeseries.tsv``.

    Parameters
    ----------
    confounds : path or DataFrame, shape (n_volumes, n_columns)
    columns : str or sequence of str, optional
        Column names, or a strategy: ``"motion6"``, ``"motion12"`` (+ derivatives),
        ``"motion24"`` (+ squares), ``"wm_csf"``, ``"global_signal"``, joined with ``+``
        (``"motion24+wm_csf"``). Default: every column.
    n_volumes : int
        Rows the table must have.

    Returns
    -------
    pandas.DataFrame, shape (n_volumes, n_selected)
        Leading ``n/a`` (the first row of fMRIPrep's derivatives and framewise
        displacement) are set to 0, as nilearn's ``load_confounds`` does.

    Raises
    ------
    FMRIError
        If a column is missing (named), the row count differs from ``n_volumes``, or values
        are missing other than at the start.
    """
    table, name = _read_table(confounds, "confounds")
    names = _confound_names(columns, table)
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise FMRIError(
            f"{name}: confound column(s) {missing} not found; available: {list(table.columns)}"
        )
    selected = table[names].apply(pd.to_numeric, errors="coerce")
    if len(selected) != n_volumes:
        raise FMRIError(f"{name}: {len(selected)} rows but the run has {n_volumes} volumes")
    values = selected.to_numpy(dtype=float, copy=True)
    leading = np.cumprod(np.isnan(values), axis=0).astype(bool)
    if np.any(np.isnan(values) & ~leading):
        bad = [
            c for c, col in zip(names, (np.isnan(values) & ~leading).T, strict=True) if col.any()
        ]
        raise FMRIError(f"{name}: confound column(s) {bad} have missing values inside the run")
    values[leading] = 0.0
    return pd.DataFrame(values, columns=names)


def _confound_names(columns: str | Sequence[str] | None, table: pd.DataFrame) -> list[str]:
    if columns is None:
        return list(table.columns)
    if isinstance(columns, str):
        names: list[str] = []
        for part in columns.split("+"):
            if part not in CONFOUND_STRATEGIES:
                raise FMRIError(
                    f"confound_columns={columns!r}: unknown strategy {part!r}; use a list of "
                    f"column names or one of {sorted(CONFOUND_STRATEGIES)} (joined with '+')"
                )
            names += [n for n in CONFOUND_STRATEGIES[part] if n not in names]
        return names
    return list(columns)


def _empty_stimuli() -> Stimuli:
    return Stimuli(pd.DataFrame({"stimulus_id": [], "group": [], "label": []}))


# --------------------------------------------------------------------------- TR and cleaning


def header_tr(img: Any) -> float | None:
    """Repetition time from a NIfTI header in seconds (None when unset)."""
    zooms = img.header.get_zooms()
    if len(zooms) < 4 or not zooms[3] > 0:
        return None
    tr = float(zooms[3])
    _, time_unit = img.header.get_xyzt_units()
    if time_unit == "msec":
        return tr / 1000.0
    if time_unit == "usec":
        return tr / 1e6
    return tr


def resolve_tr(img: Any, tr: float | None, what: str) -> float:
    """The run's TR: the argument checked against the header, or the header's.

    Raises
    ------
    FMRIError
        If both exist and differ by more than 1 ms, or neither exists.
    """
    from_header = header_tr(img)
    if tr is not None:
        if not tr > 0:
            raise FMRIError(f"tr must be positive seconds, got {tr!r}")
        if from_header is not None and abs(from_header - tr) > 1e-3:
            raise FMRIError(
                f"{what}: tr={tr} s but the header says {from_header} s; check which is right "
                "(a header TR of 1 often means unset: then fix the header or trust tr by "
                "resaving the file)"
            )
        return float(tr)
    if from_header is None:
        raise FMRIError(f"{what}: the header has no TR; pass tr= in seconds")
    return from_header


def _needs_cleaning(
    confounds: np.ndarray | None, detrend: bool, standardize: Any, high_pass: Any, low_pass: Any
) -> bool:
    return bool(
        confounds is not None or detrend or standardize or high_pass is not None or low_pass
    )


def clean_in_blocks(
    data: np.ndarray,
    *,
    tr: float,
    confounds: np.ndarray | None = None,
    detrend: bool = False,
    standardize: bool | str = False,
    standardize_confounds: bool = True,
    high_pass: float | None = None,
    low_pass: float | None = None,
    offset: np.ndarray | None = None,
    block_bytes: int = CHUNK_BYTES,
) -> np.ndarray:
    """Clean each column with ``nilearn.signal.clean``, a block of columns at a time, in place.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_samples, n_units)
        Time series (float32); overwritten with the cleaned series and returned.
    tr : float
        Repetition time in seconds (for the filters).
    confounds : numpy.ndarray, shape (n_samples, n_confounds), optional
    detrend, standardize, standardize_confounds, high_pass, low_pass
        As in ``nilearn.signal.clean`` (frequencies in Hz, Butterworth filter).
    offset : numpy.ndarray, shape (n_units,), optional
        Added (in float64) to each column before cleaning: ``data`` then holds differences
        to it (see ``_mask_4d``).
    block_bytes : int
        Float64 bytes per block of columns.

    Returns
    -------
    numpy.ndarray, shape (n_samples, n_units)
    """
    from nilearn.signal import clean

    if not _needs_cleaning(confounds, detrend, standardize, high_pass, low_pass):
        if offset is not None:
            data += offset.astype(data.dtype)
        return data
    standardize = nilearn_standardize(standardize)
    n_samples, n_units = data.shape
    width = max(1, block_bytes // max(1, n_samples * 8))
    for start in range(0, n_units, width):
        stop = min(start + width, n_units)
        block = data[:, start:stop].astype(np.float64)
        if offset is not None:
            block += offset[start:stop]
        data[:, start:stop] = clean(
            block,
            detrend=detrend,
            standardize=standardize,
            confounds=confounds,
            standardize_confounds=standardize_confounds,
            filter="butterworth",
            low_pass=low_pass,
            high_pass=high_pass,
            t_r=tr,
        )
    return data


def nilearn_standardize(standardize: bool | str | None) -> str | None:
    """nilearn 0.14+ spelling of ``standardize`` (True -> "zscore_sample", False -> None)."""
    if standardize is None or standardize is False:
        return None
    if standardize is True:
        return "zscore_sample"
    if standardize not in ("zscore_sample", "zscore", "psc"):
        raise FMRIError(
            f"standardize must be False, True, 'zscore_sample', 'zscore' or 'psc', "
            f"got {standardize!r}"
        )
    return standardize


# --------------------------------------------------------------------------- continuous


def check_slice_time_ref(slice_time_ref: float) -> None:
    """Raise unless ``slice_time_ref`` is a fraction of the TR in [0, 1]."""
    if not 0.0 <= slice_time_ref <= 1.0:
        raise FMRIError(
            f"slice_time_ref must be in [0, 1] (fraction of a TR), got {slice_time_ref}"
        )


def continuous_samples(n_volumes: int, tr: float, slice_time_ref: float, run: str) -> pd.DataFrame:
    """Samples of a run: ``volume``, ``onset`` = (volume + slice_time_ref) * tr, ``duration``."""
    check_slice_time_ref(slice_time_ref)
    volumes = np.arange(n_volumes)
    return pd.DataFrame(
        {"volume": volumes, "onset": (volumes + slice_time_ref) * tr, "duration": tr, "run": run}
    )


def _run_name(img: ImgLike, run: str | None) -> str:
    if run is not None:
        return run
    if isinstance(img, str | os.PathLike):
        name = Path(img).name
        for suffix in (".nii.gz", ".nii", ".func.gii", ".gii"):
            name = name.removesuffix(suffix)
        return name
    return "run"


def _regressors_table(confounds: pd.DataFrame | None, subject: str) -> pd.DataFrame | None:
    if confounds is None:
        return None
    table = confounds.copy()
    table.insert(0, "sample", np.arange(len(table)))
    table.insert(0, "subject", subject)
    return table


def assemble_continuous(
    data: np.ndarray,
    units: pd.DataFrame,
    *,
    tr: float,
    slice_time_ref: float,
    run: str,
    subject: str,
    events: str | os.PathLike | pd.DataFrame | Stimuli | None,
    stimulus_column: str,
    confounds: pd.DataFrame | None,
    meta: dict[str, Any],
) -> Recording:
    """Build the continuous Recording shared by the NIfTI and GIfTI readers.

    ``events`` is an events table (read with :func:`read_events`, group ``run``), the
    Stimuli already read from one, or None (no stimuli).
    """
    samples = continuous_samples(data.shape[0], tr, slice_time_ref, run)
    if isinstance(events, Stimuli):
        stimuli = events
    elif events is not None:
        stimuli = read_events(events, stimulus_column, group=run)
    else:
        stimuli = _empty_stimuli()
    units = units.copy()
    units.insert(0, "subject", subject)
    return Recording(
        data=data,
        samples=samples,
        units=units,
        sampling="continuous",
        stimuli=stimuli,
        tr=tr,
        regressors=_regressors_table(confounds, subject),
        meta=meta,
    )


def load_fmri_run(
    img: ImgLike,
    *,
    masker: UnitSpec | ImgLike,
    events: str | os.PathLike | pd.DataFrame | None = None,
    stimulus_column: str = "trial_type",
    confounds: str | os.PathLike | pd.DataFrame | None = None,
    confound_columns: str | Sequence[str] | None = None,
    regress_confounds: bool = True,
    tr: float | None = None,
    slice_time_ref: float = 0.0,
    detrend: bool = False,
    standardize: bool | Literal["zscore_sample", "zscore", "psc"] = False,
    standardize_confounds: bool = True,
    high_pass: float | None = None,
    low_pass: float | None = None,
    subject: str = "sub-01",
    run: str | None = None,
    chunk_volumes: int | None = None,
    name: str | None = None,
    nan: NanPolicy = "raise",
) -> Recording:
    """Load a 4D NIfTI run as a continuous Recording (one sample per volume).

    Parameters
    ----------
    img : path or nibabel image, shape (nx, ny, nz, n_volumes)
        The run (``.nii`` is memory-mapped; ``.nii.gz`` is streamed).
    masker : VoxelMask, Parcels, Spheres, or a mask image
        What the units are (a bare image or path means ``VoxelMask(img)``). Mask and labels
        images must be on the run's voxel grid.
    events : path or DataFrame, optional
        BIDS ``events.tsv`` (``onset``, ``duration`` in s on the run clock, volume 0 at 0 s),
        read by :func:`read_events`.
    stimulus_column : str
        Events column naming the stimulus (default ``trial_type``).
    confounds : path or DataFrame, optional
        fMRIPrep ``desc-confounds_timeseries.tsv``, shape (n_volumes, n_columns).
    confound_columns : str or list of str, optional
        Columns or a strategy (see :func:`read_confounds`); default all columns.
    regress_confounds : bool
        Regress the confounds out of the data (else only keep them in ``regressors``).
    tr : float, optional
        Repetition time in seconds; default the header's. Both given must agree.
    slice_time_ref : float
        Fraction of the TR at which each volume is placed (0 = start; see module notes).
    detrend, standardize, standardize_confounds, high_pass, low_pass
        Cleaning, exactly as nilearn maskers / ``nilearn.signal.clean`` (Hz, Butterworth).
    subject, run : str
        Written to ``units``/``samples`` (``run`` defaults to the file name).
    chunk_volumes : int, optional
        Volumes read per chunk (default: about 64 MB of voxels per chunk).
    name : str, optional
        ``meta["name"]`` (default the run name).
    nan : {"raise", "drop_voxels", "zero"}
        What to do with NaN or infinite values in the voxels the units use (checked before
        masking; nilearn would turn them into 0 silently): refuse them (default, naming
        the file and how many voxels and volumes), leave those voxels out (a voxel unit is
        dropped, a parcel or sphere averages its other voxels), or set them to 0.
        Recorded in ``meta["nan"]``.

    Returns
    -------
    Recording
        ``data`` (n_volumes, n_units) float32, ``sampling="continuous"``, ``tr``;
        ``samples``: ``volume``, ``onset``, ``duration``, ``run``; ``units``: ``subject``,
        ``roi`` and voxel ``i, j, k`` + world ``x, y, z`` mm (VoxelMask), ``label``, ``roi``,
        centroid ``x, y, z``, ``n_voxels`` (Parcels) or centre and ``radius_mm`` (Spheres);
        ``stimuli``: one row per event in onset order (:func:`read_events`, group = the
        run name); ``regressors``: the selected confounds.

    Raises
    ------
    FMRIError
        Grid mismatch between run and mask/labels, bad confounds, TR mismatch, a truncated
        or corrupt file, NaN or infinite voxels (``nan="raise"``).
    brainalign.datasets.bids.BIDSFileError
        Bad events (see :func:`read_events`), raised before the run is read.
    """
    image = _load_image(img, "img")
    what = _image_name(img)
    if len(image.shape) != 4:
        raise FMRIError(f"{what}: expected a 4D run (x, y, z, time), got shape {image.shape}")
    run_tr = resolve_tr(image, tr, what)
    nilearn_standardize(standardize)  # fail early on bad values
    check_slice_time_ref(slice_time_ref)
    check_nan_policy(nan)
    n_volumes = image.shape[3]
    confound_table = (
        read_confounds(confounds, confound_columns, n_volumes) if confounds is not None else None
    )
    run_name = _run_name(img, run)
    stimuli = (  # read first, to fail before the expensive part
        read_events(events, stimulus_column, group=run_name) if events is not None else None
    )
    units = _make_units(masker)
    regress = (
        confound_table.to_numpy() if confound_table is not None and regress_confounds else None
    )
    cleaning = _needs_cleaning(regress, detrend, standardize, high_pass, low_pass)
    data, first, units, nan_report = _mask_images(
        [(image, what)], units, chunk_volumes, nan, subtract_first=cleaning
    )
    clean_in_blocks(
        data,
        offset=first,
        tr=run_tr,
        confounds=regress,
        detrend=detrend,
        standardize=standardize,
        standardize_confounds=standardize_confounds,
        high_pass=high_pass,
        low_pass=low_pass,
    )
    meta = {
        "name": name or run_name,
        "source": what,
        "units": units.kind,
        "slice_time_ref": slice_time_ref,
        "nan": nan_report,
        "cleaning": {
            "confounds": list(confound_table.columns)
            if confound_table is not None and regress_confounds
            else [],
            "detrend": detrend,
            "standardize": standardize,
            "standardize_confounds": standardize_confounds,
            "high_pass": high_pass,
            "low_pass": low_pass,
        },
    }
    return assemble_continuous(
        data,
        units.table,
        tr=run_tr,
        slice_time_ref=slice_time_ref,
        run=run_name,
        subject=subject,
        events=stimuli,
        stimulus_column=stimulus_column,
        confounds=confound_table,
        meta=meta,
    )


# --------------------------------------------------------------------------- event-related


def _event_recording(
    data: np.ndarray,
    stimulus_ids: Sequence[str],
    units: pd.DataFrame,
    stimuli: Stimuli,
    subject: str,
    meta: dict[str, Any],
) -> Recording:
    units = units.copy()
    units.insert(0, "subject", subject)
    samples = pd.DataFrame({"stimulus_id": list(stimulus_ids)})
    return Recording(
        data=data, samples=samples, units=units, sampling="event", stimuli=stimuli, meta=meta
    )


def load_beta_maps(
    maps: ImgLike | Sequence[ImgLike],
    stimulus_ids: Sequence[str],
    *,
    masker: UnitSpec | ImgLike,
    stimuli: Stimuli | None = None,
    subject: str = "sub-01",
    name: str = "beta-maps",
    chunk_volumes: int | None = None,
    nan: NanPolicy = "raise",
) -> Recording:
    """One response per stimulus from beta (or t) maps the user already has.

    Parameters
    ----------
    maps : 4D image/path, shape (nx, ny, nz, n_stimuli), or sequence of 3D images/paths
        One map per stimulus, in the order of ``stimulus_ids``.
    stimulus_ids : sequence of str, length n_stimuli
        Unique identifiers.
    masker : VoxelMask, Parcels, Spheres, or a mask image
    stimuli : Stimuli, optional
        The stimuli (default: a table of the ids, ``label`` = id, ``group`` = ``name``).
    subject, name : str
    chunk_volumes : int, optional
        Maps read per chunk of a 4D file (default: about 64 MB of voxels per chunk).
    nan : {"raise", "drop_voxels", "zero"}
        What to do with NaN or infinite values in the voxels the units use (checked before
        masking; nilearn would turn them into 0 silently): refuse them (default, naming
        the file and how many voxels and maps), leave those voxels out (a voxel unit is
        dropped, a parcel or sphere averages its other voxels), or set them to 0.
        Recorded in ``meta["nan"]``.

    Returns
    -------
    Recording
        ``data`` (n_stimuli, n_units) float32, ``sampling="event"``, ``samples`` with
        ``stimulus_id``.

    Raises
    ------
    FMRIError
        Repeated ids, a map count that differs from the ids, a grid mismatch, a truncated
        or corrupt file, NaN or infinite voxels (``nan="raise"``).
    """
    import nibabel as nib

    ids = [str(s) for s in stimulus_ids]
    if len(set(ids)) != len(ids):
        raise FMRIError("load_beta_maps: stimulus_ids must be unique")
    check_nan_policy(nan)
    units = _make_units(masker)
    images = []
    if isinstance(maps, str | os.PathLike) or hasattr(maps, "dataobj"):
        image = _load_image(maps, "maps")
        what = _image_name(maps)
        if len(image.shape) == 3:
            image = nib.Nifti1Image(_read_data(image, what)[..., None], image.affine)
        images.append((image, what))
    else:
        for k, one in enumerate(maps):
            image = _load_image(one, f"maps[{k}]")
            what = f"maps[{k}] {_image_name(one)}"
            if len(image.shape) != 3:
                raise FMRIError(f"{what}: expected a 3D map, got {image.shape}")
            images.append((nib.Nifti1Image(_read_data(image, what)[..., None], image.affine), what))
        chunk_volumes = 1
    nan_report: dict[str, Any] = {"policy": nan, "voxels": 0, "volumes": 0}
    if images:
        data, _, units, nan_report = _mask_images(
            images, units, chunk_volumes, nan, volume_word="map"
        )
    else:
        data = np.empty((0, len(units.table)), np.float32)
    if data.shape[0] != len(ids):
        raise FMRIError(f"load_beta_maps: {data.shape[0]} maps but {len(ids)} stimulus_ids")
    if stimuli is None:
        stimuli = Stimuli(pd.DataFrame({"stimulus_id": ids, "group": name, "label": ids}))
    unknown = sorted(set(ids) - set(map(str, stimuli.stimulus_ids)))
    if unknown:
        raise FMRIError(f"load_beta_maps: stimulus_ids not in stimuli: {unknown[:5]}")
    meta = {
        "name": name,
        "units": units.kind,
        "response": "beta maps (user supplied)",
        "nan": nan_report,
    }
    return _event_recording(data, ids, units.table, stimuli, subject, meta)


def _design(
    frame_times: np.ndarray,
    events: pd.DataFrame,
    confounds: pd.DataFrame | None,
    glm: dict[str, Any],
) -> pd.DataFrame:
    from nilearn.glm.first_level import make_first_level_design_matrix

    return make_first_level_design_matrix(
        frame_times,
        events[["onset", "duration", "trial_type"]],
        hrf_model=glm["hrf_model"],
        drift_model=glm["drift_model"],
        high_pass=glm["high_pass"],
        drift_order=glm["drift_order"],
        add_regs=None if confounds is None else confounds.to_numpy(),
        add_reg_names=None if confounds is None else list(confounds.columns),
        min_onset=glm["min_onset"],
    )


def _fit_columns(
    Y: np.ndarray, design: pd.DataFrame, columns: list[str], noise_model: str
) -> np.ndarray:
    """GLM coefficients of ``columns`` for every unit, shape (len(columns), n_units)."""
    from nilearn.glm.first_level import run_glm

    labels, results = run_glm(Y, design.to_numpy(), noise_model=noise_model)
    rows = [design.columns.get_loc(c) for c in columns]
    beta = np.empty((len(rows), Y.shape[1]))
    for label, result in results.items():
        beta[:, labels == label] = result.theta[rows]
    return beta


def _stimulus_names(events: pd.DataFrame, stimulus_column: str) -> pd.Series:
    """Each event's stimulus: its ``stimulus_column`` value as a string, shape (n_events,)."""
    kept = stimuli_column_name(stimulus_column, content_kind(stimulus_column))
    return events[kept].astype(str)


def _glm_events(events: pd.DataFrame, trial_type: Any) -> pd.DataFrame:
    """The events nilearn's design needs: ``onset``, ``duration`` (s) and ``trial_type``."""
    return pd.DataFrame(
        {"onset": events["onset"], "duration": events["duration"], "trial_type": trial_type}
    )


def _per_stimulus_table(
    events: pd.DataFrame, stimulus: pd.Series, stimulus_column: str, group: str
) -> pd.DataFrame:
    """One row per stimulus, in order of first onset, from the event rows of ``read_events``.

    ``onset`` and ``duration`` are the first presentation's; other event columns are kept
    when they are the same at every presentation of each stimulus (a column that varies,
    such as the ``text`` of trials grouped by condition, describes events, not stimuli);
    ``n_presentations`` counts the events.
    """
    kept = stimuli_column_name(stimulus_column, content_kind(stimulus_column))
    per_event = events.drop(columns=["stimulus_id", "group", kept])
    constant = per_event.groupby(stimulus.to_numpy(), sort=False).nunique(dropna=False).le(1)
    columns = [c for c in per_event.columns if c in ("onset", "duration") or constant[c].all()]
    first = ~stimulus.duplicated().to_numpy()
    table = per_event.loc[first, columns].reset_index(drop=True)
    order = stimulus[first].tolist()
    table.insert(0, "stimulus_id", order)
    table.insert(1, "group", group)
    table["n_presentations"] = stimulus.value_counts().loc[order].to_numpy()
    return table


def trial_regressor_names(n: int) -> list[str]:
    """Design-matrix names of the per-stimulus regressors (``stim_00000`` ...)."""
    return [f"stim_{k:05d}" for k in range(n)]


def estimate_trial_betas(
    img: ImgLike,
    events: str | os.PathLike | pd.DataFrame,
    *,
    masker: UnitSpec | ImgLike,
    method: Literal["lsa", "lss"] = "lsa",
    stimulus_column: str = "trial_type",
    confounds: str | os.PathLike | pd.DataFrame | None = None,
    confound_columns: str | Sequence[str] | None = None,
    tr: float | None = None,
    slice_time_ref: float = 0.0,
    hrf_model: str = "glover",
    drift_model: str | None = "cosine",
    high_pass: float = 0.01,
    drift_order: int = 1,
    noise_model: Literal["ar1", "ols"] = "ar1",
    signal_scaling: Literal[False, 0] = 0,
    min_onset: float = -24.0,
    subject: str = "sub-01",
    run: str | None = None,
    chunk_volumes: int | None = None,
    name: str | None = None,
    nan: NanPolicy = "raise",
) -> Recording:
    """One response (GLM beta) per stimulus, by least-squares-all or least-squares-separate.

    The design is nilearn's ``make_first_level_design_matrix`` and the fit nilearn's
    ``run_glm``: the machinery of ``FirstLevelModel`` (same defaults: Glover HRF, cosine
    drifts at 0.01 Hz, AR(1) noise, mean scaling to percent signal change), applied to the
    masked units (voxels, or ROI mean time series for Parcels/Spheres).

    - ``"lsa"``: one GLM with one regressor per stimulus (all its presentations).
    - ``"lss"``: one GLM per stimulus, with that stimulus as one regressor and all other
      events as a second one (Mumford et al. 2012, NeuroImage 59:2636).

    Parameters
    ----------
    img : path or image, shape (nx, ny, nz, n_volumes)
    events : path or DataFrame, shape (n_events, n_columns)
        BIDS events (read by :func:`read_events`); ``stimulus_column`` identifies the
        stimulus of each event.
    masker : VoxelMask, Parcels, Spheres, or a mask image
    method : {"lsa", "lss"}
    confounds, confound_columns
        fMRIPrep confounds added to the design (see :func:`read_confounds`).
    tr, slice_time_ref
        As in :func:`load_fmri_run`; frame times are ``(i + slice_time_ref) * tr``.
    hrf_model, drift_model, high_pass, drift_order, noise_model, min_onset
        As in nilearn's ``FirstLevelModel``.
    signal_scaling : {0, False}
        0: scale each unit to percent of its mean (FirstLevelModel's default); False: raw.
    nan : {"raise", "drop_voxels", "zero"}
        What to do with NaN or infinite values in the voxels the units use (checked before
        masking; nilearn would turn them into 0 silently): refuse them (default, naming
        the file and how many voxels and volumes), leave those voxels out (a voxel unit is
        dropped, a parcel or sphere averages its other voxels), or set them to 0.
        Recorded in ``meta["nan"]``.

    Returns
    -------
    Recording
        ``data`` (n_stimuli, n_units) float32, ``sampling="event"``; ``samples`` with
        ``stimulus_id`` (the distinct values of ``stimulus_column``) in order of first
        onset; ``stimuli`` one row per stimulus: its content (``label``, ``text`` or
        ``image``, see :func:`read_events`), its first presentation's ``onset`` and
        ``duration``, the event columns that are equal at all its presentations, and
        ``n_presentations``.

    Raises
    ------
    FMRIError
        Bad method, scaling, image (truncated, corrupt, or NaN/infinite voxels with
        ``nan="raise"``), grid, TR or confounds.
    brainalign.datasets.bids.BIDSFileError
        Bad events (see :func:`read_events`).
    """
    from nilearn.glm.first_level.first_level import mean_scaling

    if method not in ("lsa", "lss"):
        raise FMRIError(f"method must be 'lsa' or 'lss', got {method!r}")
    if signal_scaling not in (0, False) or signal_scaling is True:
        raise FMRIError(f"signal_scaling must be 0 or False, got {signal_scaling!r}")
    image = _load_image(img, "img")
    what = _image_name(img)
    if len(image.shape) != 4:
        raise FMRIError(f"{what}: expected a 4D run (x, y, z, time), got shape {image.shape}")
    run_tr = resolve_tr(image, tr, what)
    check_slice_time_ref(slice_time_ref)
    check_nan_policy(nan)
    n_volumes = image.shape[3]
    run_name = _run_name(img, run)
    table = read_events(events, stimulus_column, group=run_name).table
    confound_table = (
        read_confounds(confounds, confound_columns, n_volumes) if confounds is not None else None
    )
    units = _make_units(masker)
    Y, _, units, nan_report = _mask_images(
        [(image, what)], units, chunk_volumes, nan, dtype=np.float64
    )
    if signal_scaling is not False:
        Y, _ = mean_scaling(Y, signal_scaling)

    stimulus = _stimulus_names(table, stimulus_column)
    order = list(dict.fromkeys(stimulus))  # first-onset order
    regressor = dict(zip(order, trial_regressor_names(len(order)), strict=True))
    frame_times = (np.arange(n_volumes) + slice_time_ref) * run_tr
    glm = {
        "hrf_model": hrf_model,
        "drift_model": drift_model,
        "high_pass": high_pass,
        "drift_order": drift_order,
        "min_onset": min_onset,
    }
    if method == "lsa":
        design = _design(
            frame_times, _glm_events(table, stimulus.map(regressor)), confound_table, glm
        )
        beta = _fit_columns(Y, design, [regressor[s] for s in order], noise_model)
    else:
        beta = np.empty((len(order), Y.shape[1]))
        for k, stim in enumerate(order):
            trial_type = np.where(stimulus == stim, "target", "others")
            design = _design(frame_times, _glm_events(table, trial_type), confound_table, glm)
            beta[k] = _fit_columns(Y, design, ["target"], noise_model)[0]
    stim_table = _per_stimulus_table(table, stimulus, stimulus_column, run_name)
    meta = {
        "name": name or run_name,
        "source": what,
        "units": units.kind,
        "response": f"GLM beta ({method.upper()})",
        "glm": {**glm, "noise_model": noise_model, "signal_scaling": signal_scaling},
        "tr": run_tr,
        "slice_time_ref": slice_time_ref,
        "confounds": [] if confound_table is None else list(confound_table.columns),
        "nan": nan_report,
    }
    return _event_recording(
        beta.astype(np.float32), order, units.table, Stimuli(stim_table), subject, meta
    )
