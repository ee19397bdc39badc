"""Brain-Score (brainio) netCDF assemblies as ``Recording``.

Brain-Score stores a ``DataAssembly`` (an xarray ``DataArray``) with
``brainio.packaging.write_netcdf``: the MultiIndex of each dimension is reset first, so
its levels land in the file as plain coordinate variables that share the dimension
(``stimulus_id(presentation)``, ``repetition(presentation)``, ``neuroid_id(neuroid)``,
``region(neuroid)`` ...), and the data variable is called ``data`` or, when the array
had no name, ``__xarray_dataarray_variable__``. This module reads such a file with
xarray (``engine="h5netcdf"``) and maps

* ``presentation`` -> samples (``sampling="event"``; every presentation coordinate is a
  column of ``samples``),
* ``neuroid`` -> units (every neuroid coordinate is a column of ``units``),
* ``time_bin`` (when present) -> the time axis: data (n_samples, n_units, n_times) and
  ``meta["time_bins"]`` with ``time_bin_start``/``time_bin_end`` as stored (milliseconds
  by Brain-Score convention; not converted).

Spike-time assemblies (``SpikeTimesAssembly``: a single ``event`` dimension, one spike
time per event with the neuroid's coordinates) are not samples x units; read them with
:func:`read_spike_times`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainalign.datasets.recording import Recording
from brainalign.stimuli import Stimuli

PathLike = str | os.PathLike
SAMPLE_DIM, UNIT_DIM, TIME_DIM, EVENT_DIM = "presentation", "neuroid", "time_bin", "event"
#: Column aliases added to the tables when the file lacks the project's name for them.
ALIASES = {
    "samples": {"stimulus_id": "image_id"},
    "units": {"subject": "animal", "roi": "region"},
}


class AssemblyFormatError(ValueError):
    """Raised when a file is not a Brain-Score assembly of the expected kind."""


def _open(path: PathLike) -> Any:
    """Open ``path`` as an xarray Dataset, loaded into memory and closed."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"assembly file not found: {path}")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as dataset:
            return dataset.load()
    except (OSError, ValueError) as error:
        raise AssemblyFormatError(
            f"{path}: cannot open as a netCDF4/HDF5 file with xarray ({error})"
        ) from error


def _data_variable(dataset: Any, path: Path, variable: str | None) -> Any:
    names = list(dataset.data_vars)
    if variable is not None:
        if variable not in names:
            raise AssemblyFormatError(f"{path}: no data variable {variable!r}; it has {names}")
        return dataset[variable]
    if len(names) != 1:
        raise AssemblyFormatError(
            f"{path}: expected one data variable, found {names}; pass variable= to choose"
        )
    return dataset[names[0]]


def _coordinate_table(array: Any, dim: str) -> pd.DataFrame:
    """Every coordinate whose only dimension is ``dim``, as columns (file order)."""
    columns = {
        name: np.asarray(coord.values)
        for name, coord in array.coords.items()
        if coord.dims == (dim,)
    }
    table = pd.DataFrame(columns, index=pd.RangeIndex(array.sizes[dim]))
    for name, values in columns.items():
        if values.dtype.kind == "U":
            table[name] = values.astype(object)
    return table


def _add_aliases(table: pd.DataFrame, kind: str) -> dict[str, str]:
    added = {}
    for wanted, source in ALIASES[kind].items():
        if wanted not in table.columns and source in table.columns:
            table[wanted] = table[source]
            added[wanted] = source
    return added


def _stimuli_table(samples: pd.DataFrame, path: Path) -> pd.DataFrame:
    """One row per distinct stimulus; the images live in the StimulusSet, not the file."""
    if "stimulus_id" not in samples.columns:
        raise AssemblyFormatError(
            f"{path}: the presentation dimension has no stimulus_id (or image_id) "
            f"coordinate; it has {list(samples.columns)}"
        )
    ids = pd.unique(samples["stimulus_id"].astype(str))
    return pd.DataFrame({"stimulus_id": ids, "group": path.stem, "image": None})


def _select_experiment(array: Any, experiment: str, path: Path) -> Any:
    """The presentations of one value of the ``experiment`` coordinate."""
    if "experiment" not in array.coords or array.coords["experiment"].dims != (SAMPLE_DIM,):
        raise AssemblyFormatError(
            f"{path}: experiment={experiment!r} given but the assembly has no 'experiment' "
            "presentation coordinate"
        )
    values = np.asarray(array.coords["experiment"].values).astype(str)
    if experiment not in set(values):
        raise AssemblyFormatError(
            f"{path}: experiment={experiment!r} not found; the file has {sorted(set(values))}"
        )
    return array.isel({SAMPLE_DIM: np.flatnonzero(values == experiment)})


def _incomplete_hint(array: Any) -> str:
    """How to load an assembly with missing values."""
    if "experiment" in array.coords and array.coords["experiment"].dims == (SAMPLE_DIM,):
        values = sorted({str(v) for v in np.asarray(array.coords["experiment"].values)})
        if len(values) > 1:
            return (
                f"; load one experiment with experiment= one of {values} and "
                "drop_empty_neuroids=True"
            )
    return "; pass drop_empty_neuroids=True, or drop the incomplete presentations first"


def read_assembly(
    path: PathLike,
    *,
    variable: str | None = None,
    experiment: str | None = None,
    drop_empty_neuroids: bool = False,
) -> Recording:
    """Read a Brain-Score neural assembly (``NeuroidAssembly``) netCDF file.

    Parameters
    ----------
    path : str or path-like
        A ``.nc`` file written by brainio (``write_netcdf``) with dimensions
        ``presentation`` and ``neuroid`` and optionally ``time_bin``.
    variable : str, optional
        Name of the data variable when the file holds several.
    experiment : str, optional
        Keep only the presentations whose ``experiment`` coordinate has this value
        (Pereira 2018 holds two experiments with different subjects).
    drop_empty_neuroids : bool, default False
        Drop neuroids that are NaN for every kept presentation (and time bin), e.g. the
        voxels of subjects who did not do the selected experiment; listed in
        ``meta["dropped_neuroids"]``. NaN left after that is still an error.

    Returns
    -------
    Recording
        ``data`` float32, shape (n_presentations, n_neuroids) or (n_presentations,
        n_neuroids, n_time_bins) in the file's dimension order rearranged to that one.
        ``samples``: every ``presentation`` coordinate (``stimulus_id``, ``repetition``
        ...; ``stimulus_id`` is copied from ``image_id`` in older files). ``units``:
        every ``neuroid`` coordinate (``neuroid_id``, ``region`` ...; ``subject`` and
        ``roi`` are copied from ``animal`` and ``region`` when absent). ``stimuli``: the
        distinct ``stimulus_id`` (``image`` is None: the images are in the separate
        StimulusSet). ``meta``: ``attrs`` (file and variable attributes), ``coords``
        (which coordinate belongs to which dimension, i.e. the MultiIndex levels),
        ``time_bins`` (a DataFrame, when present), ``aliases``, ``variable``.

    Raises
    ------
    AssemblyFormatError
        If the file cannot be opened, is not an assembly (naming the file and the
        dimensions found), has other dimensions, holds NaN/inf values (the message says
        which experiments exist, when there are several), or has no ``experiment``
        coordinate or value as asked.
    """
    path = Path(path)
    dataset = _open(path)
    array = _data_variable(dataset, path, variable)
    dims = tuple(array.dims)
    if SAMPLE_DIM not in dims or UNIT_DIM not in dims:
        hint = (
            " It is a spike-time (event) assembly: use read_spike_times."
            if dims == (EVENT_DIM,)
            else ""
        )
        raise AssemblyFormatError(
            f"{path}: not a neural assembly: needs dimensions ('{SAMPLE_DIM}', "
            f"'{UNIT_DIM}'[, '{TIME_DIM}']), found {dims}.{hint}"
        )
    extra = [d for d in dims if d not in (SAMPLE_DIM, UNIT_DIM, TIME_DIM)]
    if extra:
        raise AssemblyFormatError(
            f"{path}: unsupported dimension(s) {extra} besides presentation/neuroid/time_bin"
        )
    if experiment is not None:
        array = _select_experiment(array, experiment, path)
    order = [SAMPLE_DIM, UNIT_DIM] + ([TIME_DIM] if TIME_DIM in dims else [])
    array = array.transpose(*order)
    if not np.issubdtype(array.dtype, np.number):
        raise AssemblyFormatError(f"{path}: data are not numeric (dtype {array.dtype})")
    dropped: list[str] = []
    if drop_empty_neuroids:
        finite = np.isfinite(np.asarray(array.values, dtype=np.float64))
        has_value = finite.any(axis=tuple(i for i in range(finite.ndim) if i != 1))
        ids = (
            np.asarray(array.coords["neuroid_id"].values)
            if "neuroid_id" in array.coords
            else np.arange(array.sizes[UNIT_DIM])
        )
        dropped = [str(v) for v in ids[~has_value]]
        array = array.isel({UNIT_DIM: np.flatnonzero(has_value)})
    values = np.asarray(array.values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise AssemblyFormatError(
            f"{path}: {int(np.sum(~np.isfinite(values)))} of {values.size} values are NaN or "
            "inf (Recording holds finite values only)" + _incomplete_hint(array)
        )
    samples = _coordinate_table(array, SAMPLE_DIM)
    units = _coordinate_table(array, UNIT_DIM)
    aliases = {**_add_aliases(samples, "samples"), **_add_aliases(units, "units")}
    samples["stimulus_id"] = (
        samples["stimulus_id"].astype(str) if ("stimulus_id" in samples.columns) else None
    )
    meta: dict[str, Any] = {
        "name": path.stem,
        "modality": "brainio",
        "file": str(path),
        "variable": array.name,
        "attrs": {**dataset.attrs, **array.attrs},
        "coords": {d: [c for c, v in array.coords.items() if v.dims == (d,)] for d in dims},
        "aliases": aliases,
        "experiment": experiment,
        "dropped_neuroids": dropped,
    }
    if TIME_DIM in dims:
        meta["time_bins"] = _coordinate_table(array, TIME_DIM)
    stimuli = _stimuli_table(samples, path)
    return Recording(
        data=values,
        samples=samples,
        units=units,
        sampling="event",
        stimuli=Stimuli(stimuli),
        meta=meta,
    )


@dataclass(frozen=True)
class SpikeTimes:
    """Spike events of a Brain-Score ``SpikeTimesAssembly``.

    A Recording does not fit: spikes are point events of varying number per neuroid,
    not a value per (sample, unit).

    Parameters
    ----------
    times : numpy.ndarray of float64, shape (n_events,)
        Spike time of each event, as stored (the file states no unit; Brain-Score's
        spike-time assemblies use seconds on the recording clock).
    events : pandas.DataFrame, shape (n_events, ...)
        Every ``event`` coordinate (``neuroid_id``, ``region``, ``electrode`` ...).
    units : pandas.DataFrame, shape (n_neuroids, ...)
        One row per distinct ``neuroid_id`` with the coordinates that are constant per
        neuroid (``subject``/``roi`` aliases as in :func:`read_assembly`).
    meta : dict
        ``file``, ``attrs``, ``variable``.
    """

    times: np.ndarray
    events: pd.DataFrame
    units: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    def times_of(self, neuroid_id: str) -> np.ndarray:
        """Sorted spike times of one neuroid, shape (n_spikes,)."""
        mask = (self.events["neuroid_id"] == neuroid_id).to_numpy()
        if not mask.any():
            raise KeyError(f"no neuroid {neuroid_id!r}; have {self.units['neuroid_id'].tolist()}")
        return np.sort(self.times[mask])


def read_spike_times(path: PathLike, *, variable: str | None = None) -> SpikeTimes:
    """Read a Brain-Score spike-time assembly (one ``event`` dimension).

    Parameters
    ----------
    path : str or path-like
        A ``.nc`` file whose data variable has the single dimension ``event`` and a
        ``neuroid_id`` coordinate.
    variable : str, optional
        Name of the data variable when the file holds several.

    Returns
    -------
    SpikeTimes
        See :class:`SpikeTimes`.

    Raises
    ------
    AssemblyFormatError
        If the file is not a spike-time assembly (naming the dimensions found) or has no
        ``neuroid_id`` coordinate.
    """
    path = Path(path)
    dataset = _open(path)
    array = _data_variable(dataset, path, variable)
    if tuple(array.dims) != (EVENT_DIM,):
        raise AssemblyFormatError(
            f"{path}: not a spike-time assembly: needs the single dimension '{EVENT_DIM}', "
            f"found {tuple(array.dims)}"
        )
    events = _coordinate_table(array, EVENT_DIM)
    if "neuroid_id" not in events.columns:
        raise AssemblyFormatError(
            f"{path}: spike-time assembly without a neuroid_id coordinate; "
            f"coordinates: {list(events.columns)}"
        )
    constant = [c for c in events.columns if (events.groupby("neuroid_id")[c].nunique() <= 1).all()]
    units = events[constant].drop_duplicates("neuroid_id").reset_index(drop=True)
    aliases = _add_aliases(units, "units")
    return SpikeTimes(
        times=np.asarray(array.values, dtype=np.float64),
        events=events,
        units=units,
        meta={
            "file": str(path),
            "variable": array.name,
            "attrs": {**dataset.attrs, **array.attrs},
            "aliases": aliases,
        },
    )
