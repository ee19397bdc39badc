"""Tests of the Brain-Score assembly reader on brainio's own test files (tests/data/brainio)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_array_equal

from brainalign.datasets.brainio import AssemblyFormatError, read_assembly, read_spike_times

BRAINIO = Path(__file__).resolve().parents[1] / "data" / "brainio"


def _reference(name: str) -> xr.DataArray:
    with xr.open_dataset(BRAINIO / name, engine="h5netcdf") as dataset:
        return dataset[list(dataset.data_vars)[0]].load()


def test_two_dimensional_assembly():
    rec = read_assembly(BRAINIO / "assy_test_TestMe.nc")
    reference = _reference("assy_test_TestMe.nc")
    assert rec.data.shape == (6, 3) and rec.sampling == "event"
    assert_array_equal(rec.data, reference.values.astype(np.float32))
    assert rec.samples["stimulus_id"].tolist() == ["n0", "n1", "n1", "n0", "n4", "n9"]
    assert rec.samples["repetition"].tolist() == [1, 1, 2, 1, 1, 1]
    assert rec.units["neuroid_id"].tolist() == ["alpha", "beta", "gamma"]
    assert rec.units["foo"].tolist() == [1, 2, 5]
    assert rec.stimuli.stimulus_ids.tolist() == ["n0", "n1", "n4", "n9"]
    assert rec.meta["coords"] == {
        "presentation": ["stimulus_id", "repetition"],
        "neuroid": ["neuroid_id", "foo"],
    }


def test_time_binned_assembly_with_image_id():
    rec = read_assembly(BRAINIO / "assy_test_package_assembly.nc")
    reference = _reference("assy_test_package_assembly.nc")
    assert rec.data.shape == (6, 3, 1)
    assert_array_equal(rec.data, reference.values)
    assert rec.samples["stimulus_id"].tolist() == rec.samples["image_id"].tolist()
    assert rec.meta["aliases"] == {"stimulus_id": "image_id"}
    assert rec.meta["time_bins"].to_dict("list") == {"time_bin_start": [0], "time_bin_end": [10]}
    assert rec.meta["variable"] == "__xarray_dataarray_variable__"


def test_spike_time_assembly():
    path = BRAINIO / "assy_test_package_assembly_extras.nc"
    with pytest.raises(AssemblyFormatError, match=r"extras.nc.*\('event',\).*read_spike_times"):
        read_assembly(path)
    spikes = read_spike_times(path)
    reference = _reference("assy_test_package_assembly_extras.nc")
    assert len(spikes) == 1000
    assert_array_equal(spikes.times, reference.values)
    assert spikes.units["neuroid_id"].tolist() == ["A-019", "D-009"]
    assert spikes.units["roi"].tolist() == spikes.units["region"].tolist()
    assert "electrode" in spikes.units.columns and "datetime" in spikes.events.columns
    a019 = spikes.times_of("A-019")
    assert len(a019) == 500 and np.all(np.diff(a019) >= 0)
    with pytest.raises(KeyError, match="no neuroid"):
        spikes.times_of("Z-000")
    with pytest.raises(AssemblyFormatError, match="spike-time"):
        read_spike_times(BRAINIO / "assy_test_TestMe.nc")


def test_multiindex_levels_attrs_and_dimension_order(tmp_path):
    """Write as brainio's write_netcdf does (reset the MultiIndexes, then to_netcdf)."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal((4, 5, 2))  # stored as (neuroid, presentation, time_bin)
    presentation = pd.MultiIndex.from_arrays(
        [["s1", "s2", "s3", "s1", "s2"], [0, 0, 0, 1, 1]], names=["stimulus_id", "repetition"]
    )
    neuroid = pd.MultiIndex.from_arrays(
        [["n1", "n2", "n3", "n4"], ["IT", "IT", "V4", "V4"], ["m1", "m1", "m2", "m2"]],
        names=["neuroid_id", "region", "animal"],
    )
    coords = xr.Coordinates.from_pandas_multiindex(presentation, "presentation")
    coords = coords.merge(xr.Coordinates.from_pandas_multiindex(neuroid, "neuroid")).coords
    array = xr.DataArray(
        values,
        dims=("neuroid", "presentation", "time_bin"),
        coords={
            **coords,
            "time_bin_start": ("time_bin", [70, 120]),
            "time_bin_end": ("time_bin", [120, 170]),
        },
        attrs={"identifier": "test.assembly", "stimulus_set_identifier": "test.stimuli"},
        name="data",
    )
    path = tmp_path / "assembly.nc"
    array.reset_index(["presentation", "neuroid"]).to_netcdf(path, engine="h5netcdf")
    rec = read_assembly(path)
    assert rec.data.shape == (5, 4, 2)
    np.testing.assert_allclose(rec.data, values.transpose(1, 0, 2), rtol=1e-6)
    assert rec.samples["repetition"].tolist() == [0, 0, 0, 1, 1]
    assert rec.units["region"].tolist() == ["IT", "IT", "V4", "V4"]
    assert rec.units["subject"].tolist() == ["m1", "m1", "m2", "m2"]
    assert rec.subjects == ["m1", "m2"]
    assert rec.meta["attrs"]["identifier"] == "test.assembly"
    assert rec.select(roi="V4").n_units == 2


def test_errors_name_the_file(tmp_path):
    not_assembly = tmp_path / "grid.nc"
    xr.DataArray(np.zeros((2, 3)), dims=("x", "y"), name="v").to_netcdf(
        not_assembly, engine="h5netcdf"
    )
    with pytest.raises(AssemblyFormatError, match=r"grid.nc: not a neural assembly.*\('x', 'y'\)"):
        read_assembly(not_assembly)
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("not netcdf")
    with pytest.raises(AssemblyFormatError, match="garbage.nc: cannot open"):
        read_assembly(garbage)
    with_nan = tmp_path / "nan.nc"
    xr.DataArray(
        np.array([[1.0, np.nan]]),
        dims=("presentation", "neuroid"),
        coords={"stimulus_id": ("presentation", ["a"]), "neuroid_id": ("neuroid", ["x", "y"])},
        name="data",
    ).to_netcdf(with_nan, engine="h5netcdf")
    with pytest.raises(AssemblyFormatError, match="nan.nc: 1 of 2 values are NaN"):
        read_assembly(with_nan)
    with pytest.raises(FileNotFoundError):
        read_assembly(tmp_path / "missing.nc")
