"""Glass brain and surface maps (nilearn) on the MNI mask fixture; MEG topomaps (MNE)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.report.brain_maps import (
    _channel_values,
    plot_glass_brain,
    plot_surface_map,
    plot_topomap,
    volume_image,
)
from tests.report.pictures import assert_picture

DATA = Path(__file__).resolve().parents[1] / "data"
MASK = DATA / "fmri" / "mni_gm_crop_mask.nii.gz"
EVOKED = DATA / "meg" / "elekta_mag-ave.fif"
N_VOXELS = 756  # mni_gm_crop_mask.nii.gz, see tests/data/fmri/SOURCE.txt


@pytest.fixture(scope="module")
def voxel_values():
    return np.random.default_rng(0).normal(size=N_VOXELS)


@pytest.fixture(scope="module")
def evoked():
    import mne

    return mne.read_evokeds(EVOKED, condition=0, verbose=False)


def test_volume_image_matches_nilearn_unmask(voxel_values, tmp_path):
    from nilearn.masking import unmask

    image = volume_image(voxel_values, MASK)
    expected = unmask(voxel_values, str(MASK))
    np.testing.assert_array_equal(image.get_fdata(), expected.get_fdata())
    np.testing.assert_array_equal(image.affine, expected.affine)
    outside = volume_image(voxel_values, MASK, outside=np.nan).get_fdata()
    assert np.isnan(outside).sum() == outside.size - N_VOXELS
    image.to_filename(tmp_path / "stat.nii.gz")
    again = volume_image(tmp_path / "stat.nii.gz")
    np.testing.assert_array_equal(again.get_fdata(), expected.get_fdata())


def test_glass_brain_from_values_and_from_image(voxel_values, tmp_path):
    path = plot_glass_brain(voxel_values, tmp_path / "g.png", mask_img=MASK, colorbar_label="r")
    assert_picture(tmp_path / "g.png", path)
    image = volume_image(np.abs(voxel_values), MASK)
    assert_picture(tmp_path / "p.png", plot_glass_brain(image, tmp_path / "p.png", title="|r|"))


def test_surface_map_from_volume_and_per_vertex(voxel_values, tmp_path):
    path = plot_surface_map(voxel_values, tmp_path / "s.png", mask_img=MASK, colorbar_label="r")
    assert_picture(tmp_path / "s.png", path)
    per_vertex = np.linspace(0, 1, 2 * 10242)  # fsaverage5: 10242 vertices per hemisphere
    path = plot_surface_map(per_vertex, tmp_path / "v.png", hemispheres=["left"], views=["lateral"])
    assert_picture(tmp_path / "v.png", path)


def test_topomap_of_real_meg_sensors(evoked, tmp_path):
    values = evoked.data[:, 10]
    mask = np.abs(values) > np.percentile(np.abs(values), 90)
    path = plot_topomap(values, evoked.info, tmp_path / "t.png", mask=mask, colorbar_label="fT")
    assert_picture(tmp_path / "t.png", path)
    shuffled = pd.Series(values, index=evoked.ch_names).iloc[::-1]
    np.testing.assert_array_equal(_channel_values(shuffled, evoked.info), values)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, v: plot_glass_brain(v[:-1], p, mask_img=MASK), r"one value per mask voxel"),
        (lambda p, v: plot_glass_brain(v, p), "need mask_img"),
        (lambda p, v: plot_glass_brain(MASK, p, mask_img=MASK), "mask_img is for values"),
        (lambda p, v: plot_glass_brain(v * 0, p, mask_img=MASK), "nothing to draw"),
        (lambda p, v: plot_glass_brain(v, p, mask_img="nope.nii.gz"), "does not exist"),
        (lambda p, v: plot_surface_map(v[:100], p), r"shape \(20484,\)"),
        (lambda p, v: plot_surface_map(v, p, mask_img=MASK, hemispheres=["top"]), "hemispheres"),
    ],
)
def test_brain_map_bad_input(voxel_values, tmp_path, call, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        call(tmp_path / "m.png", voxel_values)
    assert not list(tmp_path.iterdir())


def test_topomap_bad_input(evoked, tmp_path):
    import mne

    values = evoked.data[:, 10]
    path = tmp_path / "t.png"
    with pytest.raises(ValueError, match=r"one value per channel of info: shape \(102,\)"):
        plot_topomap(values[:-1], evoked.info, path)
    with pytest.raises(ValueError, match="lack 1 channel"):
        plot_topomap(pd.Series(values[1:], index=evoked.ch_names[1:]), evoked, path)
    with pytest.raises(ValueError, match="mask must be boolean"):
        plot_topomap(values, evoked, path, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="must be an mne.Info"):
        plot_topomap(values, {"ch_names": []}, path)
    mixed = mne.read_evokeds(DATA / "meeg" / "test_mag_eeg-ave.fif", condition=0, verbose=False)
    with pytest.raises(ValueError, match="several channel types"):
        plot_topomap(np.zeros(len(mixed.ch_names)), mixed.info, path)
    assert not list(tmp_path.iterdir())
