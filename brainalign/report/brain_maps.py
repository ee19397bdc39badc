"""Brain maps: glass brain and fsaverage surface (nilearn), sensor topographies (MNE).

Each function writes its figure atomically (``.png`` or ``.svg`` by suffix) and returns
the path; nilearn and MNE are imported inside the functions. Signed values get a
diverging colormap symmetric about 0, unsigned ones a sequential colormap.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.report.plots import colour_scale, new_figure, output_path, save_figure, to_numpy

SEQUENTIAL = "YlOrRd"
"""Colormap of unsigned brain maps (readable on the white glass brain)."""

HEMISPHERES = ("left", "right")


def _load_image(image: Any, name: str) -> Any:
    """A nibabel image from an image or a path."""
    import nibabel

    if isinstance(image, str | os.PathLike):
        if not Path(image).is_file():
            raise FileNotFoundError(f"{name} file {str(image)!r} does not exist")
        return nibabel.load(image)
    if not hasattr(image, "affine") or not hasattr(image, "get_fdata"):
        raise ValueError(
            f"{name} must be a NIfTI image or a path to one; got {type(image).__name__}"
        )
    return image


def _mask_array(mask_img: Any) -> tuple[Any, np.ndarray]:
    """The mask image and its boolean 3-D array (non-zero voxels)."""
    mask = _load_image(mask_img, "mask_img")
    data = np.asarray(mask.get_fdata())
    if data.ndim != 3:
        raise ValueError(f"mask_img must be 3-D; got shape {data.shape}")
    inside = data != 0
    if not inside.any():
        raise ValueError("mask_img has no non-zero voxel")
    return mask, inside


def volume_image(values: Any, mask_img: Any = None, *, outside: float = 0.0) -> Any:
    """A 3-D statistic image from an image, a path, or values per voxel and a mask.

    Parameters
    ----------
    values : nibabel image, path, or array-like of shape (n_voxels,)
        A 3-D image (a 4-D image with one volume is squeezed), or one value per non-zero
        voxel of ``mask_img`` in C order (as ``nilearn.maskers.NiftiMasker`` returns).
    mask_img : nibabel image or path, optional
        Needed for values per voxel.
    outside : float, default 0.0
        Value given to voxels outside the mask.

    Returns
    -------
    nibabel.Nifti1Image
        float64, on the mask's grid for values per voxel.
    """
    import nibabel

    if isinstance(values, str | os.PathLike) or hasattr(values, "affine"):
        if mask_img is not None:
            raise ValueError("mask_img is for values per voxel; an image carries its own grid")
        image = _load_image(values, "values")
        data = np.asarray(image.get_fdata(), dtype=np.float64)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise ValueError(f"values must be a 3-D image; got shape {data.shape}")
        return nibabel.Nifti1Image(data, image.affine)
    if mask_img is None:
        raise ValueError("values per voxel need mask_img (the mask they were taken with)")
    mask, inside = _mask_array(mask_img)
    vector = to_numpy(values, "values")
    if vector.ndim != 1 or vector.shape[0] != int(inside.sum()):
        raise ValueError(
            f"values must have one value per mask voxel: shape ({int(inside.sum())},); got "
            f"{vector.shape}"
        )
    data = np.full(inside.shape, outside, dtype=np.float64)
    data[inside] = vector
    return nibabel.Nifti1Image(data, mask.affine)


def plot_glass_brain(
    values: Any,
    path: str | os.PathLike,
    *,
    mask_img: Any = None,
    threshold: float = 0.0,
    signed: bool | None = None,
    display_mode: str = "lzry",
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Path:
    """Glass-brain projections (nilearn ``plot_glass_brain``) of a statistic map.

    Parameters
    ----------
    values : nibabel image, path, or array-like of shape (n_voxels,)
        A 3-D statistic image in MNI space, or values per voxel of ``mask_img``.
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    mask_img : nibabel image or path, optional
        Mask of values per voxel (non-zero voxels, C order).
    threshold : float, default 0.0
        Voxels with ``|value| <= threshold`` are not drawn (by default: zeros, i.e.
        voxels outside the mask).
    signed : bool, optional
        Signed values are projected by largest absolute value with a diverging colormap;
        default: signed when any value is negative.
    display_mode : str, default "lzry"
        nilearn's projections (``"ortho"``, ``"lyrz"``, ...).
    colorbar_label : str, optional
    title : str, optional

    Returns
    -------
    Path
    """
    from nilearn import plotting

    path = output_path(path)
    image = volume_image(values, mask_img)
    data = np.asarray(image.get_fdata())
    if not np.isfinite(data).all():
        raise ValueError("values hold NaN or infinite voxels; set them to 0 or mask them")
    if not (np.abs(data) > threshold).any():
        raise ValueError(f"no voxel has |value| > threshold={threshold}: nothing to draw")
    cmap, vmin, vmax, signed = colour_scale(data, signed=signed, sequential=SEQUENTIAL)
    figure = new_figure(10.0, 3.2)
    display = plotting.plot_glass_brain(
        image, figure=figure, display_mode=display_mode, colorbar=True, plot_abs=False,
        threshold=threshold, cmap=cmap, vmin=vmin, vmax=vmax, symmetric_cbar=signed,
        title=title,
    )  # fmt: skip
    if colorbar_label and getattr(display, "_cbar", None) is not None:
        display._cbar.set_label(colorbar_label)
    return save_figure(figure, path)  # a pyplot-free figure: nothing to close


def _surface_values(values: Any, mask_img: Any, mesh: Any) -> dict[str, np.ndarray]:
    """Values per vertex and hemisphere: projected from a volume, or given per vertex."""
    from nilearn.surface import SurfaceImage

    n_vertices = {hemi: mesh["pial"].parts[hemi].n_vertices for hemi in HEMISPHERES}
    is_image = isinstance(values, str | os.PathLike) or hasattr(values, "affine")
    if is_image or mask_img is not None:
        image = volume_image(values, mask_img, outside=np.nan)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            surface = SurfaceImage.from_volume(
                mesh=mesh["pial"], volume_img=image, inner_mesh=mesh["white_matter"]
            )
        return {hemi: np.asarray(surface.data.parts[hemi], dtype=float) for hemi in HEMISPHERES}
    vector = to_numpy(values, "values")
    total = sum(n_vertices.values())
    if vector.ndim != 1 or vector.shape[0] != total:
        raise ValueError(
            f"values per vertex must have shape ({total},) (left then right hemisphere); got "
            f"{vector.shape}; or pass a volume image (or values per voxel with mask_img)"
        )
    split = n_vertices["left"]
    return {"left": vector[:split], "right": vector[split:]}


def plot_surface_map(
    values: Any,
    path: str | os.PathLike,
    *,
    mask_img: Any = None,
    hemispheres: Sequence[str] = HEMISPHERES,
    views: Sequence[str] = ("lateral", "medial"),
    threshold: float | None = None,
    signed: bool | None = None,
    mesh: str = "fsaverage5",
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Path:
    """A map on the inflated fsaverage surface (nilearn ``plot_surf_stat_map``).

    A volume is projected onto the pial surface (sampled between the white-matter and
    pial meshes, nilearn ``SurfaceImage.from_volume``); vertices with no voxel under
    them (NaN) are left uncoloured over the sulcal-depth background.

    Parameters
    ----------
    values : nibabel image, path, or array-like
        A 3-D statistic image in MNI space; values per voxel of ``mask_img`` (shape
        (n_voxels,)); or values per vertex of ``mesh``, left then right hemisphere
        (shape (20484,) for fsaverage5).
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    mask_img : nibabel image or path, optional
        Mask of values per voxel.
    hemispheres : sequence of {"left", "right"}, default both
    views : sequence of str, default ("lateral", "medial")
        nilearn views; one panel per hemisphere and view, one colour scale.
    threshold : float, optional
        Vertices with ``|value| < threshold`` are not coloured.
    signed : bool, optional
        Default: signed when any value is negative.
    mesh : str, default "fsaverage5"
        Passed to ``nilearn.datasets.load_fsaverage`` (fsaverage5 ships with nilearn,
        so needs no download).
    colorbar_label : str, optional
    title : str, optional

    Returns
    -------
    Path
    """
    from nilearn import datasets, plotting

    path = output_path(path)
    unknown = [h for h in hemispheres if h not in HEMISPHERES]
    if unknown or not hemispheres:
        raise ValueError(f"hemispheres must be among {HEMISPHERES}; got {list(hemispheres)}")
    surface_mesh = datasets.load_fsaverage(mesh)
    per_hemisphere = _surface_values(values, mask_img, surface_mesh)
    drawn = np.concatenate([per_hemisphere[h] for h in hemispheres])
    cmap, vmin, vmax, signed = colour_scale(drawn, signed=signed, sequential=SEQUENTIAL)
    sulcal = datasets.load_fsaverage_data(mesh=mesh, data_type="sulcal")
    panels = [(hemi, view) for hemi in hemispheres for view in views]
    figure = new_figure(3.0 * len(panels) + 0.8, 3.0)
    for index, (hemi, view) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1, projection="3d")
        plotting.plot_surf_stat_map(
            surf_mesh=surface_mesh["inflated"].parts[hemi], stat_map=per_hemisphere[hemi],
            bg_map=sulcal.data.parts[hemi], hemi=hemi, view=view, axes=axes, figure=figure,
            colorbar=index == len(panels) - 1, cmap=cmap, vmin=vmin, vmax=vmax,
            symmetric_cbar=signed, threshold=threshold, title=f"{hemi} {view}",
        )  # fmt: skip
    colorbars = [a for a in figure.axes if a.name != "3d"]
    if colorbar_label and colorbars:
        colorbars[-1].set_ylabel(colorbar_label)
    figure.subplots_adjust(left=0.0, right=0.95, bottom=0.0, top=0.9, wspace=0.0)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def _channel_values(values: Any, info: Any) -> np.ndarray:
    """Values in the order of ``info['ch_names']`` (a Series is matched by name)."""
    names = list(info["ch_names"])
    if isinstance(values, pd.Series):
        missing = [name for name in names if name not in values.index]
        if missing:
            raise ValueError(
                f"values lack {len(missing)} channel(s) of info, e.g. {missing[:3]}; index the "
                "Series by every channel name (or pick those channels from info)"
            )
        values = values.loc[names]
    vector = to_numpy(values, "values")
    if vector.ndim != 1 or vector.shape[0] != len(names):
        raise ValueError(
            f"values must have one value per channel of info: shape ({len(names)},); got "
            f"{vector.shape}"
        )
    return vector


def plot_topomap(
    values: Any,
    info: Any,
    path: str | os.PathLike,
    *,
    mask: Any = None,
    signed: bool | None = None,
    colorbar_label: str | None = None,
    title: str | None = None,
) -> Path:
    """Sensor topography (MNE ``plot_topomap``) of one value per channel.

    Parameters
    ----------
    values : array-like of shape (n_channels,) or pandas.Series
        One value per channel of ``info`` in its order, or a Series indexed by channel
        name (reordered to ``info``). Finite.
    info : mne.Info, or an object with ``.info`` (Evoked, Raw, Epochs)
        Sensor positions; one channel type only (pick one first, e.g.
        ``mne.pick_info(info, mne.pick_types(info, meg="mag"))``).
    path : path-like
        Output ``.png`` or ``.svg``, written atomically.
    mask : array-like of bool, shape (n_channels,), optional
        Channels to mark (e.g. significant ones).
    signed : bool, optional
        Default: signed when any value is negative.
    colorbar_label : str, optional
    title : str, optional

    Returns
    -------
    Path
    """
    import mne

    path = output_path(path)
    info = getattr(info, "info", info)
    if not isinstance(info, mne.Info):
        raise ValueError(f"info must be an mne.Info (or have .info); got {type(info).__name__}")
    kinds = sorted(set(info.get_channel_types()))
    if len(kinds) != 1:
        raise ValueError(
            f"info holds several channel types {kinds}; pick one, e.g. "
            "mne.pick_info(info, mne.pick_types(info, meg='mag'))"
        )
    data = _channel_values(values, info)
    if not np.isfinite(data).all():
        raise ValueError("values must be finite for every channel")
    marks = None
    if mask is not None:
        marks = np.asarray(mask)
        if marks.dtype != bool or marks.shape != data.shape:
            raise ValueError(
                f"mask must be boolean with shape {data.shape}; got {marks.dtype} {marks.shape}"
            )
    cmap, vmin, vmax, _ = colour_scale(data, signed=signed, sequential="viridis")
    figure = new_figure(4.2, 3.6)
    axes = figure.add_subplot()
    image, _ = mne.viz.plot_topomap(
        data, info, ch_type=kinds[0], axes=axes, show=False, mask=marks, cmap=cmap,
        vlim=(vmin, vmax),
    )  # fmt: skip
    figure.colorbar(image, ax=axes, label=colorbar_label or "", shrink=0.8)
    if title:
        axes.set_title(title)
    return save_figure(figure, path)
