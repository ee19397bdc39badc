"""Dataset readers on broken real files: NaN voxels, truncated or corrupt files, infinite
RDM values, pickled arrays, repeated word pairs and misspelt dataset names.

Every test copies a fixture of tests/data into tmp_path, breaks the copy (NaN written into
voxels, bytes cut off or flipped) and checks that the error or warning names the file,
the field or position, and what to do.
"""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nilearn.maskers import NiftiSpheresMasker
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import squareform

from brainalign.cli import main
from brainalign.datasets import catalogue
from brainalign.datasets.behaviour import BehaviourFormatError, read_rdms, read_word_pairs
from brainalign.datasets.fmri import (
    FMRIError,
    Parcels,
    Spheres,
    estimate_trial_betas,
    load_beta_maps,
    load_fmri_run,
)
from brainalign.datasets.surface import load_gifti_run

DATA = Path(__file__).resolve().parents[1] / "data"
BOLD = DATA / "fmri" / "sub-01_task-demo_bold.nii.gz"
EVENTS = DATA / "fmri" / "sub-01_task-demo_events.tsv"
GM_MASK = DATA / "fmri" / "gm_mask_crop.nii.gz"
PARCELS = DATA / "fmri" / "lang_parcels_crop.nii.gz"
SIMLEX = DATA / "word_similarity" / "EN-SIMLEX-999.txt"
RDM_NPY = DATA / "behaviour" / "118_animate_RDM.npy"
FIG1_NPZ = DATA / "kriegeskorte2008_92" / "fig1_mIT_hIT_rdms.npz"
BAD_VOLUMES = slice(2, 5)  # volumes 2, 3, 4


# ----------------------------------------------------------------------------- fMRI NaN


def _inside(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj) != 0


def _bad_voxels(region: np.ndarray, n: int = 3) -> np.ndarray:
    """``n`` voxels (i, j, k) of ``region`` spread over it, shape (n, 3)."""
    ijk = np.argwhere(region)
    return ijk[np.linspace(0, len(ijk) - 1, n).astype(int)]


def _nan_run(tmp_path: Path, voxels: np.ndarray, name: str = "nan_bold.nii.gz") -> Path:
    """The fixture run saved as float32 with NaN at ``voxels`` in volumes 2-4."""
    image = nib.load(BOLD)
    data = np.asarray(image.dataobj, dtype=np.float32)
    for i, j, k in voxels:
        data[i, j, k, BAD_VOLUMES] = np.nan
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data, image.affine, header), path)
    return path


def _float_run(tmp_path: Path) -> Path:
    return _nan_run(tmp_path, np.empty((0, 3), dtype=int), "float_bold.nii.gz")


def test_nan_voxels_in_the_mask_are_refused_naming_file_voxels_and_volumes(tmp_path):
    path = _nan_run(tmp_path, _bad_voxels(_inside(GM_MASK)))
    with pytest.raises(FMRIError) as caught:
        load_fmri_run(path, masker=GM_MASK, events=EVENTS)
    message = str(caught.value)
    assert str(path) in message
    assert "3 voxel(s)" in message and "3 of 40 volume(s)" in message
    assert "nan='drop_voxels'" in message and "nan='zero'" in message


def test_nan_outside_the_mask_is_ignored(tmp_path):
    path = _nan_run(tmp_path, _bad_voxels(~_inside(GM_MASK)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nilearn's zero-filling warning must not reach users
        rec = load_fmri_run(path, masker=GM_MASK)
    assert rec.meta["nan"] == {"policy": "raise", "voxels": 0, "volumes": 0}
    assert_allclose(rec.data, load_fmri_run(_float_run(tmp_path), masker=GM_MASK).data)


def test_nan_drop_voxels_and_zero_on_a_voxel_mask(tmp_path):
    voxels = _bad_voxels(_inside(GM_MASK))
    path = _nan_run(tmp_path, voxels)
    clean = load_fmri_run(_float_run(tmp_path), masker=GM_MASK, detrend=True)
    columns = [
        int(np.flatnonzero((clean.units[["i", "j", "k"]].to_numpy() == v).all(axis=1))[0])
        for v in voxels
    ]
    dropped = load_fmri_run(path, masker=GM_MASK, detrend=True, nan="drop_voxels")
    keep = np.setdiff1d(np.arange(clean.data.shape[1]), columns)
    assert dropped.data.shape == (40, clean.data.shape[1] - 3)
    assert_allclose(dropped.data, clean.data[:, keep], rtol=1e-5, atol=1e-4)
    assert_array_equal(
        dropped.units[["i", "j", "k"]].to_numpy(), clean.units[["i", "j", "k"]].to_numpy()[keep]
    )
    assert dropped.meta["nan"] == {"policy": "drop_voxels", "voxels": 3, "volumes": 3}

    zeroed = load_fmri_run(path, masker=GM_MASK, nan="zero")
    raw = load_fmri_run(_float_run(tmp_path), masker=GM_MASK)
    assert_array_equal(zeroed.data[BAD_VOLUMES, columns], 0.0)
    expected = raw.data.copy()
    expected[BAD_VOLUMES, columns] = 0.0
    assert_allclose(zeroed.data, expected)
    assert zeroed.meta["nan"]["policy"] == "zero"


def test_nan_in_parcels_refused_dropped_or_zeroed(tmp_path):
    labels = np.asarray(nib.load(PARCELS).dataobj).astype(int)
    voxels = _bad_voxels(labels != 0)
    path = _nan_run(tmp_path, voxels)
    with pytest.raises(FMRIError, match=re.escape(str(path)) + r".*3 voxel\(s\)"):
        load_fmri_run(path, masker=Parcels(PARCELS))
    # drop_voxels = the parcels without those voxels
    dropped = load_fmri_run(path, masker=Parcels(PARCELS), nan="drop_voxels")
    holed = labels.copy()
    holed[tuple(voxels.T)] = 0
    holed_img = nib.Nifti1Image(holed.astype(np.int32), nib.load(PARCELS).affine)
    expected = load_fmri_run(_float_run(tmp_path), masker=Parcels(holed_img))
    assert_allclose(dropped.data, expected.data, rtol=1e-5)
    assert_array_equal(dropped.units["n_voxels"], expected.units["n_voxels"])
    # zero = nilearn's silent behaviour, now asked for
    zeroed = load_fmri_run(path, masker=Parcels(PARCELS), nan="zero")
    clean = load_fmri_run(_float_run(tmp_path), masker=Parcels(PARCELS))
    same = np.ones(40, dtype=bool)
    same[BAD_VOLUMES] = False
    assert_allclose(zeroed.data[same], clean.data[same], rtol=1e-5)
    assert not np.allclose(zeroed.data[BAD_VOLUMES], clean.data[BAD_VOLUMES])


def test_nan_in_spheres_refused_dropped_or_zeroed(tmp_path):
    image = nib.load(BOLD)
    voxel = _bad_voxels(_inside(GM_MASK), 1)
    centre = image.affine[:3, :3] @ voxel[0] + image.affine[:3, 3]
    spheres = Spheres([centre], radius_mm=4.0, names=["probe"])
    path = _nan_run(tmp_path, voxel)
    with pytest.raises(FMRIError, match=r"1 voxel\(s\).*3 of 40 volume\(s\)"):
        load_fmri_run(path, masker=spheres)
    zeroed = load_fmri_run(path, masker=spheres, nan="zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nilearn's "converted to zeroes" warning
        nilearn = NiftiSpheresMasker([tuple(centre)], radius=4.0).fit_transform(str(path))
    assert_allclose(zeroed.data, nilearn, rtol=1e-5)
    dropped = load_fmri_run(path, masker=spheres, nan="drop_voxels")
    clean = load_fmri_run(_float_run(tmp_path), masker=spheres)
    assert np.isfinite(dropped.data).all() and dropped.meta["nan"]["voxels"] == 1
    same = np.ones(40, dtype=bool)
    same[BAD_VOLUMES] = False
    assert not np.allclose(dropped.data[same], clean.data[same])  # one voxel fewer throughout


def test_nan_in_beta_maps_names_the_map(tmp_path):
    voxels = _bad_voxels(_inside(GM_MASK))
    run = nib.load(_nan_run(tmp_path, voxels))
    maps = []
    for volume in (0, 2):  # volume 2 holds the NaN
        path = tmp_path / f"beta_{volume}.nii.gz"
        nib.save(nib.Nifti1Image(np.asarray(run.dataobj[..., volume]), run.affine), path)
        maps.append(path)
    with pytest.raises(FMRIError) as caught:
        load_beta_maps(maps, ["a", "b"], masker=GM_MASK)
    message = str(caught.value)
    assert f"maps[1] {maps[1]}" in message and "3 voxel(s)" in message
    assert "1 of 2 map(s)" in message
    with pytest.raises(FMRIError, match=re.escape(str(maps[1])) + r".*1 of 1 map\(s\)"):
        load_beta_maps(maps[1], ["b"], masker=GM_MASK)
    dropped = load_beta_maps(maps, ["a", "b"], masker=GM_MASK, nan="drop_voxels")
    full = load_beta_maps(maps[0], ["a"], masker=GM_MASK)
    assert dropped.data.shape == (2, full.data.shape[1] - 3)
    assert dropped.meta["nan"] == {"policy": "drop_voxels", "voxels": 3, "volumes": 1}


def test_nan_in_glm_run_is_refused(tmp_path):
    path = _nan_run(tmp_path, _bad_voxels(_inside(GM_MASK)))
    with pytest.raises(FMRIError, match=re.escape(str(path)) + r".*3 of 40 volume\(s\)"):
        estimate_trial_betas(path, EVENTS, masker=GM_MASK)
    rec = estimate_trial_betas(path, EVENTS, masker=GM_MASK, nan="drop_voxels")
    assert np.isfinite(rec.data).all() and rec.meta["nan"]["voxels"] == 3


def test_unknown_nan_policy(tmp_path):
    with pytest.raises(FMRIError, match=r"nan='skip': use one of \['raise', 'drop_voxels'"):
        load_fmri_run(BOLD, masker=GM_MASK, nan="skip")


def _write_func_gifti(path: Path, data: np.ndarray) -> None:
    arrays = [
        nib.gifti.GiftiDataArray(column.astype(np.float32), intent="NIFTI_INTENT_TIME_SERIES")
        for column in data.T
    ]
    nib.save(nib.gifti.GiftiImage(darrays=arrays), path)


def test_nan_in_gifti_refused_dropped_or_zeroed(tmp_path):
    rng = np.random.default_rng(0)
    data = 100 + rng.normal(size=(10242, 6))
    data[[5, 700], 1:3] = np.nan
    path = tmp_path / "sub-01_hemi-L_bold.func.gii"
    _write_func_gifti(path, data)
    with pytest.raises(FMRIError) as caught:
        load_gifti_run(path, tr=2.0)
    message = str(caught.value)
    assert str(path) in message and "2 vertex(es)" in message and "2 of 6 volume(s)" in message
    assert "nan='drop_voxels'" in message
    dropped = load_gifti_run(path, tr=2.0, nan="drop_voxels")
    assert dropped.data.shape == (6, 10240)
    assert 5 not in set(dropped.units["vertex"]) and 700 not in set(dropped.units["vertex"])
    zeroed = load_gifti_run(path, tr=2.0, nan="zero")
    assert_array_equal(zeroed.data[1:3, [5, 700]], 0.0)


# ----------------------------------------------------------------------------- truncated


def _truncated(tmp_path: Path, source: Path, keep: float = 0.5) -> Path:
    data = source.read_bytes()
    path = tmp_path / source.name
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_truncated_nii_gz_run_names_the_file(tmp_path):
    path = _truncated(tmp_path, BOLD)
    for read in (
        lambda: load_fmri_run(path, masker=GM_MASK),
        lambda: estimate_trial_betas(path, EVENTS, masker=GM_MASK),
        lambda: load_beta_maps(path, [str(k) for k in range(40)], masker=GM_MASK),
    ):
        with pytest.raises(FMRIError) as caught:
            read()
        message = str(caught.value)
        assert str(path) in message
        assert "truncated or corrupt" in message and "download it again" in message


def test_truncated_uncompressed_nii_names_the_file(tmp_path):
    path = tmp_path / "sub-01_task-demo_bold.nii"
    data = gzip.decompress(BOLD.read_bytes())
    path.write_bytes(data[: len(data) - 5000])
    with pytest.raises(FMRIError, match=re.escape(str(path)) + ".*truncated or corrupt"):
        load_fmri_run(path, masker=GM_MASK)


def test_corrupt_nii_gz_with_flipped_bytes_names_the_file(tmp_path):
    path = tmp_path / BOLD.name
    data = bytearray(BOLD.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(FMRIError, match=re.escape(str(path)) + ".*truncated or corrupt"):
        load_fmri_run(path, masker=GM_MASK)


def test_truncated_mask_names_the_file(tmp_path):
    path = _truncated(tmp_path, GM_MASK, keep=0.6)
    with pytest.raises(FMRIError, match=re.escape(str(path)) + ".*truncated or corrupt"):
        load_fmri_run(BOLD, masker=path)
    (tmp_path / "tiny").mkdir()
    tiny = _truncated(tmp_path / "tiny", GM_MASK, keep=0.01)  # not even a header
    with pytest.raises(FMRIError, match=re.escape(str(tiny)) + ".*download it again"):
        load_fmri_run(BOLD, masker=tiny)


# ----------------------------------------------------------------------------- RDMs


def _mit_rdm() -> np.ndarray:
    """The monkey IT RDM of the Kriegeskorte fixture, square (92, 92)."""
    with np.load(FIG1_NPZ) as archive:
        return squareform(archive["mIT_674neurons"], checks=False)


def test_infinite_dissimilarity_is_refused_with_its_position(tmp_path):
    square = _mit_rdm()
    square[3, 7] = square[7, 3] = np.inf
    path = tmp_path / "mIT.npy"
    np.save(path, square)
    with pytest.raises(BehaviourFormatError) as caught:
        read_rdms(path)
    message = str(caught.value)
    assert str(path) in message and "2 infinite value(s)" in message
    assert "RDM 'mIT' at row 3, column 7" in message
    condensed = squareform(_mit_rdm(), checks=False)
    condensed[1] = np.inf  # pair (0, 2)
    np.savez(tmp_path / "condensed.npz", mIT=condensed)
    with pytest.raises(BehaviourFormatError, match=r"RDM 'mIT' at row 0, column 2"):
        read_rdms(tmp_path / "condensed.npz")


def test_infinite_value_in_a_stack_names_the_rdm(tmp_path):
    stack = np.stack([_mit_rdm()] * 2)
    stack[1, 0, 5] = stack[1, 5, 0] = -np.inf
    path = tmp_path / "stack.npz"
    np.savez(path, mIT=stack)
    with pytest.raises(BehaviourFormatError, match=r"RDM 1 \(mIT\[1\]\) at row 0, column 5"):
        read_rdms(path)


def test_nan_missing_pair_is_still_kept(tmp_path):
    square = _mit_rdm()
    square[3, 7] = square[7, 3] = np.nan
    path = tmp_path / "mIT.npy"
    np.save(path, square)
    assert np.isnan(read_rdms(path).dissimilarities).sum() == 1


@pytest.mark.parametrize("source", [RDM_NPY, FIG1_NPZ])
def test_truncated_npy_and_npz_give_one_clear_error(tmp_path, source):
    path = _truncated(tmp_path, source, keep=0.7)
    with pytest.raises(BehaviourFormatError) as caught:
        read_rdms(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "truncated or corrupt" in message


def test_truncated_compressed_npz_member_gives_one_clear_error(tmp_path):
    with np.load(FIG1_NPZ) as archive:
        arrays = {key: archive[key] for key in archive.files}
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **arrays)
    data = bytearray(compressed.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 256] = bytes(256)  # zeroed bytes inside a member
    compressed.write_bytes(bytes(data))
    with pytest.raises(BehaviourFormatError, match=re.escape(str(compressed))):
        read_rdms(compressed)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_object_arrays_are_refused_without_unpickling(tmp_path, suffix):
    square = 1.0 - np.load(RDM_NPY)
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = square, "labels"
    path = tmp_path / f"objects{suffix}"
    if suffix == ".npz":
        np.savez(path, rdms=objects)
    else:
        np.save(path, objects, allow_pickle=True)
    with pytest.raises(BehaviourFormatError) as caught:
        read_rdms(path)
    message = str(caught.value)
    assert str(path) in message and "object array" in message and "unpickl" in message


# ----------------------------------------------------------------------------- word pairs


def test_duplicate_word_pairs_warn_with_lines_and_ratings(tmp_path):
    lines = SIMLEX.read_text().splitlines()
    first, second = lines[0].split("\t"), lines[1]
    conflicting = "\t".join([first[0], first[1], "9.99"])
    path = tmp_path / SIMLEX.name
    path.write_text("\n".join([*lines, conflicting, second]) + "\n")
    with pytest.warns(UserWarning) as caught:
        rec = read_word_pairs(path)
    messages = [str(w.message) for w in caught]
    conflict = next(m for m in messages if "different ratings" in m)
    assert str(path) in conflict
    assert f"({first[0]!r}, {first[1]!r}) on lines 1 ({float(first[2]):g}), 1000 (9.99)" in (
        conflict
    )
    exact = next(m for m in messages if "same rating" in m)
    words = second.split("\t")
    assert f"({words[0]!r}, {words[1]!r}) on lines 2" in exact and "1001" in exact
    assert rec.data.shape == (len(lines) + 2, 1)  # rows kept
    assert len(rec.meta["duplicate_pairs"]) == 2
    with warnings.catch_warnings():  # a published file read by the catalogue: recorded
        warnings.simplefilter("error")
        recorded = read_word_pairs(path, duplicates="record")
    assert recorded.meta["duplicate_pairs"] == rec.meta["duplicate_pairs"]
    with pytest.raises(ValueError, match="duplicates='drop'"):
        read_word_pairs(path, duplicates="drop")


def test_unique_word_pairs_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_word_pairs(SIMLEX)


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("call", [catalogue.load, catalogue.info, catalogue.fetch])
def test_misspelt_dataset_name_suggests_the_close_one(call):
    with pytest.raises(catalogue.UnknownDatasetError) as caught:
        call("simlex99")
    message = str(caught.value)
    assert "unknown dataset 'simlex99'; did you mean simlex999?" in message
    assert "available: " + ", ".join(catalogue.available()) in message


def test_dataset_name_suggestion_ignores_case_and_underscores():
    with pytest.raises(catalogue.UnknownDatasetError, match="did you mean glasgow-norms"):
        catalogue.info("Glasgow_Norms")
    with pytest.raises(catalogue.UnknownDatasetError) as caught:
        catalogue.info("zzzz")
    assert "did you mean" not in str(caught.value)


def test_cli_datasets_info_suggests_the_close_name(capsys):
    assert main(["datasets", "info", "simlex99"]) == 2
    captured = capsys.readouterr()
    assert "did you mean simlex999?" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_fixtures_are_untouched():
    """The tests above broke copies only."""
    assert nib.load(BOLD).get_data_dtype() == np.int16
    assert np.isfinite(np.load(RDM_NPY)).all()
