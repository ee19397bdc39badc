"""Surface fMRI: GIfTI time series on a mesh (e.g. fsaverage5) as a continuous Recording.

A functional GIfTI file (``*.func.gii``, one hemisphere) holds one data array per volume
(``NIFTI_INTENT_TIME_SERIES``, each of shape (n_vertices,)) or one 2D array (n_vertices,
n_volumes); nibabel's ``agg_data`` reads both. Units are vertices: ``hemisphere``,
``vertex`` (index in the mesh) and ``x, y, z`` in mm from the mesh. Timing, events,
confounds and cleaning are the same as :func:`brainalign.datasets.fmri.load_fmri_run`
(cleaning is ``nilearn.signal.clean``, what nilearn's ``SurfaceMasker`` applies).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from brainalign.datasets.fmri import (
    FMRIError,
    NanPolicy,
    assemble_continuous,
    check_nan_policy,
    check_slice_time_ref,
    clean_in_blocks,
    nilearn_standardize,
    read_confounds,
    read_events,
)
from brainalign.datasets.recording import Recording

HEMISPHERES = ("left", "right")
MeshSpec = str | Mapping[str, Any]


def mesh_coordinates(mesh: MeshSpec, hemisphere: str, mesh_type: str = "pial") -> np.ndarray:
    """Vertex coordinates of one hemisphere, shape (n_vertices, 3) in mm.

    Parameters
    ----------
    mesh : "fsaverage5" or mapping {"left": mesh, "right": mesh}
        ``"fsaverage5"`` is the mesh bundled with nilearn (no download); a mapping gives a
        GIfTI surface file (``*.surf.gii``, ``.gii.gz``) or a nilearn mesh per hemisphere.
    hemisphere : {"left", "right"}
    mesh_type : str
        For ``"fsaverage5"``: ``pial``, ``white_matter``, ``inflated``, ``sphere``, ``flat``.
    """
    if isinstance(mesh, str):
        if mesh != "fsaverage5":
            raise FMRIError(
                f"mesh={mesh!r}: only 'fsaverage5' is available without download; pass "
                "{'left': path, 'right': path} to your own GIfTI surface files"
            )
        from nilearn.datasets import load_fsaverage

        meshes = load_fsaverage("fsaverage5")
        if mesh_type not in meshes:
            raise FMRIError(
                f"mesh_type={mesh_type!r} not in fsaverage5; choose from {list(meshes)}"
            )
        return np.asarray(meshes[mesh_type].parts[hemisphere].coordinates, dtype=float)
    if hemisphere not in mesh:
        raise FMRIError(f"mesh has no {hemisphere!r} entry; it has {list(mesh)}")
    part = mesh[hemisphere]
    if hasattr(part, "coordinates"):
        return np.asarray(part.coordinates, dtype=float)
    from nilearn.surface import load_surf_mesh

    path = Path(part)
    if not path.exists():
        raise FileNotFoundError(f"mesh[{hemisphere!r}]: no such file {path}")
    return np.asarray(load_surf_mesh(path).coordinates, dtype=float)


def read_gifti_timeseries(path: str | os.PathLike) -> np.ndarray:
    """Data of a functional GIfTI file, shape (n_volumes, n_vertices) float32.

    One data array per volume (a time series) or per map (beta or t maps, whatever
    their intent), each (n_vertices,).

    Raises
    ------
    FMRIError
        If the file cannot be read as GIfTI or holds no data arrays.
    """
    import nibabel as nib

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"GIfTI file not found: {path}")
    try:
        image = nib.load(path)
    except Exception as error:  # nibabel raises several types for bad files
        raise FMRIError(
            f"{path}: cannot read as GIfTI ({error}); the file is truncated, corrupt or not "
            "GIfTI: download it again"
        ) from error
    if not isinstance(image, nib.gifti.GiftiImage):
        raise FMRIError(f"{path}: not a GIfTI image ({type(image).__name__})")
    if not image.darrays:
        raise FMRIError(f"{path}: the GIfTI file holds no data arrays")
    shapes = sorted({tuple(array.data.shape) for array in image.darrays})
    if len(shapes) != 1:
        raise FMRIError(f"{path}: data arrays differ in shape ({shapes}); expected one per volume")
    raw = image.agg_data()
    if isinstance(raw, tuple):  # arrays not marked as a time series: one map each
        raw = np.stack(raw, axis=-1)
    data = np.asarray(raw, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise FMRIError(f"{path}: expected (n_vertices, n_volumes) data, got {data.shape}")
    return np.ascontiguousarray(data.T)


def _apply_nan_policy(
    data: np.ndarray,
    table: pd.DataFrame,
    nan: str,
    path: str | os.PathLike,
    report: dict[str, Any],
) -> tuple[np.ndarray, pd.DataFrame]:
    """Refuse, drop or zero the NaN/infinite vertices of one hemisphere.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_volumes, n_vertices)
    table : pandas.DataFrame, shape (n_vertices, n_columns)
    nan : {"raise", "drop_voxels", "zero"}
    path : path
        The file, named in the error.
    report : dict
        ``voxels`` and ``volumes`` counts, updated in place.

    Returns
    -------
    data, table
        With the vertices dropped (``drop_voxels``) or values set to 0 (``zero``).
    """
    bad = ~np.isfinite(data)
    if not bad.any():
        return data, table
    bad_vertices = bad.any(axis=0)
    report["voxels"] += int(bad_vertices.sum())
    report["volumes"] = max(report["volumes"], int(bad.any(axis=1).sum()))
    if nan == "raise":
        volume, vertex = np.argwhere(bad)[0].tolist()
        raise FMRIError(
            f"{path}: {int(bad_vertices.sum())} vertex(es) hold NaN or infinite values in "
            f"{int(bad.any(axis=1).sum())} of {data.shape[0]} volume(s) (first at vertex "
            f"{vertex}, volume {volume}). Pass nan='drop_voxels' to leave those vertices out, "
            "nan='zero' to set them to 0, or fix the file"
        )
    if nan == "zero":
        data[bad] = 0.0
        return data, table
    keep = ~bad_vertices
    if not keep.any():
        raise FMRIError(f"{path}: with nan='drop_voxels' no vertex is left; every one is NaN")
    return np.ascontiguousarray(data[:, keep]), table[keep].reset_index(drop=True)


def load_gifti_run(
    left: str | os.PathLike | None = None,
    right: str | os.PathLike | None = None,
    *,
    tr: float,
    mesh: MeshSpec = "fsaverage5",
    mesh_type: str = "pial",
    events: str | os.PathLike | pd.DataFrame | None = None,
    stimulus_column: str = "trial_type",
    confounds: str | os.PathLike | pd.DataFrame | None = None,
    confound_columns: str | Sequence[str] | None = None,
    regress_confounds: bool = True,
    slice_time_ref: float = 0.0,
    detrend: bool = False,
    standardize: bool | Literal["zscore_sample", "zscore", "psc"] = False,
    standardize_confounds: bool = True,
    high_pass: float | None = None,
    low_pass: float | None = None,
    subject: str = "sub-01",
    run: str | None = None,
    name: str | None = None,
    nan: NanPolicy = "raise",
) -> Recording:
    """Load a surface fMRI run (one GIfTI file per hemisphere) as a continuous Recording.

    Parameters
    ----------
    left, right : path, optional
        Functional GIfTI of each hemisphere, data shape (n_vertices, n_volumes); at least
        one. Both must have the same number of volumes.
    tr : float
        Repetition time in seconds (GIfTI has no standard header field for it).
    mesh : "fsaverage5" or mapping {"left": path, "right": path}
        Mesh giving the vertex coordinates; its vertex count must match the data.
    mesh_type : str
        Which fsaverage5 surface gives the coordinates (default ``pial``).
    events, stimulus_column, confounds, confound_columns, regress_confounds, slice_time_ref,
    detrend, standardize, standardize_confounds, high_pass, low_pass, subject, run, name
        As in :func:`brainalign.datasets.fmri.load_fmri_run`.
    nan : {"raise", "drop_voxels", "zero"}
        NaN or infinite values: refuse them (default; the error names the file and how
        many vertices and volumes), drop the vertices that hold them, or set them to 0.
        Recorded in ``meta["nan"]``.

    Returns
    -------
    Recording
        ``data`` (n_volumes, n_vertices_left + n_vertices_right) float32, ``continuous``;
        ``units``: ``subject``, ``roi`` (= hemisphere), ``hemisphere``, ``vertex``,
        ``x, y, z`` (mm, from the mesh); samples, stimuli and regressors as for NIfTI runs.

    Raises
    ------
    FMRIError
        Vertex count differs from the mesh, volume counts differ between hemispheres, bad
        events/confounds, NaN or infinite values (``nan="raise"``), or no file given.
    """
    files = {h: f for h, f in zip(HEMISPHERES, (left, right), strict=True) if f is not None}
    if not files:
        raise FMRIError("load_gifti_run: give left= and/or right= GIfTI files")
    if tr is None or not tr > 0:
        raise FMRIError(f"load_gifti_run: tr must be positive seconds, got {tr!r}")
    nilearn_standardize(standardize)  # fail early on bad values
    check_slice_time_ref(slice_time_ref)
    check_nan_policy(nan)
    parts, tables = [], []
    nan_report: dict[str, Any] = {"policy": nan, "voxels": 0, "volumes": 0}
    for hemisphere, path in files.items():
        data = read_gifti_timeseries(path)
        coords = mesh_coordinates(mesh, hemisphere, mesh_type)
        if data.shape[1] != len(coords):
            raise FMRIError(
                f"{path}: {data.shape[1]} vertices but the {hemisphere} {mesh_type} mesh has "
                f"{len(coords)}; give the mesh the data were sampled on (mesh=...)"
            )
        table = pd.DataFrame(
            {
                "roi": hemisphere,
                "hemisphere": hemisphere,
                "vertex": np.arange(len(coords)),
                "x": coords[:, 0],
                "y": coords[:, 1],
                "z": coords[:, 2],
            }
        )
        data, table = _apply_nan_policy(data, table, nan, path, nan_report)
        parts.append(data)
        tables.append(table)
    n_volumes = {p.shape[0] for p in parts}
    if len(n_volumes) != 1:
        raise FMRIError(
            f"load_gifti_run: hemispheres have different numbers of volumes "
            f"{[p.shape[0] for p in parts]} ({list(files.values())})"
        )
    data = np.concatenate(parts, axis=1)
    confound_table = (
        read_confounds(confounds, confound_columns, data.shape[0])
        if confounds is not None
        else None
    )
    first = Path(next(iter(files.values()))).name
    run_name = run or first.split(".")[0].replace("_hemi-L", "").replace("_hemi-R", "")
    # read (and check) the events once, before the cleaning
    stimuli = read_events(events, stimulus_column, group=run_name) if events is not None else None
    regress = (
        confound_table.to_numpy() if confound_table is not None and regress_confounds else None
    )
    clean_in_blocks(
        data,
        tr=float(tr),
        confounds=regress,
        detrend=detrend,
        standardize=standardize,
        standardize_confounds=standardize_confounds,
        high_pass=high_pass,
        low_pass=low_pass,
    )
    meta = {
        "name": name or run_name,
        "source": [str(f) for f in files.values()],
        "units": "vertices",
        "mesh": mesh if isinstance(mesh, str) else {h: str(m) for h, m in mesh.items()},
        "mesh_type": mesh_type,
        "slice_time_ref": slice_time_ref,
        "nan": nan_report,
        "cleaning": {
            "confounds": list(confound_table.columns) if regress is not None else [],
            "detrend": detrend,
            "standardize": standardize,
            "high_pass": high_pass,
            "low_pass": low_pass,
        },
    }
    return assemble_continuous(
        data,
        pd.concat(tables, ignore_index=True),
        tr=float(tr),
        slice_time_ref=slice_time_ref,
        run=run_name,
        subject=subject,
        events=stimuli,
        stimulus_column=stimulus_column,
        confounds=confound_table,
        meta=meta,
    )
