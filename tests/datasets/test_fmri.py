"""fMRI readers against nilearn, on small runs built from real MNI maps and atlases.

Fixtures (tests/data/fmri, see SOURCE.txt): a 10 x 18 x 9 grid of 3 mm voxels over the left
temporal/frontal cortex; the Fedorenko-lab language parcels and the MNI grey-matter mask
resampled onto it; a 40-volume run built from NeuroVault map 10426 (responses to 8 events
with known amplitudes, drift, motion and noise), its events.tsv and an fMRIPrep-style
confounds table.
"""

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.glm.first_level import FirstLevelModel
from nilearn.maskers import NiftiLabelsMasker, NiftiMasker, NiftiSpheresMasker
from numpy.testing import assert_allclose, assert_array_equal

from brainalign.datasets.bids import BIDSFileError
from brainalign.datasets.fmri import (
    CONFOUND_STRATEGIES,
    FMRIError,
    Parcels,
    Spheres,
    VoxelMask,
    estimate_trial_betas,
    load_beta_maps,
    load_fmri_run,
    read_confounds,
)
from brainalign.datasets.surface import load_gifti_run, read_gifti_timeseries

DATA = Path(__file__).resolve().parents[1] / "data" / "fmri"
BOLD = DATA / "sub-01_task-demo_bold.nii.gz"
EVENTS = DATA / "sub-01_task-demo_events.tsv"
CONFOUNDS = DATA / "sub-01_task-demo_desc-confounds_timeseries.tsv"
GM_MASK = DATA / "gm_mask_crop.nii.gz"
PARCELS = DATA / "lang_parcels_crop.nii.gz"
LABELS_TSV = DATA / "lang_parcels_labels.tsv"
SHARED_FSAVERAGE = Path(__file__).resolve().parents[3] / "shared/data/mni/fsaverage5"
TRUE_AMPLITUDES = np.array([3.0, 1.0, 2.5, 0.5, 2.0, 1.5, 3.5, 0.8])  # make_fixtures.py


@pytest.fixture(scope="module")
def bold_nii(tmp_path_factory) -> Path:
    """The run as an uncompressed .nii (memory-mapped by nibabel)."""
    path = tmp_path_factory.mktemp("fmri") / "sub-01_task-demo_bold.nii"
    path.write_bytes(gzip.decompress(BOLD.read_bytes()))  # same bytes, not re-scaled
    return path


def _nilearn_confounds(columns):
    return read_confounds(CONFOUNDS, columns, 40).to_numpy()


# ----------------------------------------------------------------------------- masking


@pytest.mark.parametrize("chunk_volumes", [1, 7, None])
def test_voxel_masking_in_chunks_equals_niftimasker_exactly(bold_nii, chunk_volumes):
    rec = load_fmri_run(bold_nii, masker=GM_MASK, chunk_volumes=chunk_volumes)
    expected = NiftiMasker(mask_img=str(GM_MASK), standardize=None).fit_transform(str(bold_nii))
    assert rec.data.shape == (40, int(nib.load(GM_MASK).get_fdata().sum()))
    assert_array_equal(rec.data, expected.astype(np.float32))
    assert rec.data.std(axis=0).min() > 0  # real variation in every voxel


def test_memory_mapped_and_gzipped_runs_agree(bold_nii):
    assert_array_equal(
        load_fmri_run(bold_nii, masker=GM_MASK, chunk_volumes=9).data,
        load_fmri_run(BOLD, masker=GM_MASK).data,
    )


def test_cleaning_equals_niftimasker_with_same_options(bold_nii):
    confounds = _nilearn_confounds("motion24+wm_csf")
    options = {"detrend": True, "standardize": "zscore_sample", "high_pass": 0.01, "low_pass": 0.1}
    rec = load_fmri_run(
        bold_nii,
        masker=GM_MASK,
        confounds=CONFOUNDS,
        confound_columns="motion24+wm_csf",
        tr=2.0,
        chunk_volumes=6,
        **options,
    )
    masker = NiftiMasker(mask_img=str(GM_MASK), t_r=2.0, **options)
    expected = masker.fit_transform(str(bold_nii), confounds=confounds)
    assert_allclose(rec.data, expected, rtol=1e-5, atol=1e-5)
    assert_allclose(rec.data.mean(axis=0), 0, atol=1e-5)
    assert list(rec.regressors.columns[2:]) == list(CONFOUND_STRATEGIES["motion24"]) + [
        "white_matter",
        "csf",
    ]


def test_parcels_equal_niftilabelsmasker_with_names_and_centroids(bold_nii):
    rec = load_fmri_run(
        bold_nii,
        masker=Parcels(PARCELS, names=LABELS_TSV),
        detrend=True,
        standardize="zscore_sample",
        chunk_volumes=5,
    )
    masker = NiftiLabelsMasker(str(PARCELS), detrend=True, standardize="zscore_sample")
    assert_allclose(rec.data, masker.fit_transform(str(bold_nii)), rtol=1e-5, atol=1e-6)
    assert rec.units["roi"].tolist() == [
        "IFG orbitalis",
        "IFG",
        "anterior temporal",
        "posterior temporal",
    ]
    assert rec.units["hemisphere"].unique().tolist() == ["left"]
    labels = nib.load(PARCELS)
    ijk = np.argwhere(np.asarray(labels.dataobj) == 4)
    centroid = nib.affines.apply_affine(labels.affine, ijk).mean(axis=0)
    row = rec.units.set_index("label").loc[4]
    assert_allclose(row[["x", "y", "z"]].to_numpy(dtype=float), centroid)
    assert row["n_voxels"] == len(ijk)


def test_parcels_from_per_region_masks_equal_labels_image(tmp_path, bold_nii):
    labels = nib.load(PARCELS)
    values = np.asarray(labels.dataobj)
    paths = []
    for label in (2, 6):
        path = tmp_path / f"roi_{label}.nii.gz"
        nib.save(nib.Nifti1Image((values == label).astype(np.uint8), labels.affine), path)
        paths.append(path)
    from_masks = load_fmri_run(bold_nii, masker=Parcels.from_masks(paths, ["IFG", "PT"]))
    whole = load_fmri_run(bold_nii, masker=Parcels(PARCELS)).select(label=[2, 6])
    assert_array_equal(from_masks.data, whole.data)
    assert from_masks.units["roi"].tolist() == ["IFG", "PT"]
    with pytest.raises(FMRIError, match="overlaps"):
        Parcels.from_masks([paths[0], paths[0]], ["a", "b"])


def test_spheres_equal_niftispheresmasker(bold_nii):
    coords = [(-54.0, -10.0, -4.0), (-57.0, -31.0, 2.0)]
    rec = load_fmri_run(bold_nii, masker=Spheres(coords, 6.0, names=["aSTG", "pSTG"]))
    masker = NiftiSpheresMasker(coords, radius=6.0, standardize=None)
    assert_allclose(rec.data, masker.fit_transform(str(bold_nii)), rtol=1e-6)
    assert rec.units[["roi", "x", "radius_mm"]].values.tolist() == [
        ["aSTG", -54.0, 6.0],
        ["pSTG", -57.0, 6.0],
    ]


def test_thresholded_probabilistic_map_as_voxel_mask(bold_nii):
    stat = nib.load(BOLD).slicer[..., 0]  # any real map on the grid
    rec = load_fmri_run(bold_nii, masker=VoxelMask(stat, threshold=1000.0, name="bright"))
    assert rec.n_units == int((stat.get_fdata() > 1000.0).sum())
    assert set(rec.units["roi"]) == {"bright"}


# ----------------------------------------------------------------------------- tables


def test_samples_units_stimuli_and_regressors():
    rec = load_fmri_run(
        BOLD,
        masker=GM_MASK,
        events=EVENTS,
        stimulus_column="stim_id",
        confounds=CONFOUNDS,
        confound_columns=["trans_x", "framewise_displacement"],
        regress_confounds=False,
        slice_time_ref=0.5,
        subject="sub-07",
    )
    assert rec.sampling == "continuous" and rec.tr == 2.0
    assert_allclose(rec.sample_times, (np.arange(40) + 0.5) * 2.0)
    assert rec.samples["run"].unique().tolist() == ["sub-01_task-demo_bold"]
    mask = nib.load(GM_MASK)
    first = rec.units.iloc[0]
    assert_allclose(
        first[["x", "y", "z"]].to_numpy(dtype=float),
        nib.affines.apply_affine(mask.affine, first[["i", "j", "k"]].to_numpy(dtype=int)),
    )
    assert rec.units["subject"].unique().tolist() == ["sub-07"]
    table = rec.stimuli.table
    assert table["stimulus_id"].tolist() == [f"s{i:02d}" for i in range(1, 9)]
    assert table["label"].tolist() == table["stimulus_id"].tolist()  # stim_id: a label
    assert table["text"].iloc[0] == "the cat sat"  # the events' own text column
    assert rec.stimuli.groups() == ["sub-01_task-demo_bold"]
    assert_allclose(rec.stimuli.onsets, 6.0 + 9.0 * np.arange(8))
    assert rec.regressors["framewise_displacement"].iloc[0] == 0.0  # leading n/a
    raw = load_fmri_run(BOLD, masker=GM_MASK)
    assert_array_equal(rec.data, raw.data)  # regress_confounds=False leaves data alone


def test_repeated_trial_types_get_unique_stimulus_ids():
    """The bids reader's rule: <run>_event-<row> when a value repeats; conditions are labels."""
    rec = load_fmri_run(BOLD, masker=GM_MASK, events=EVENTS)
    table = rec.stimuli.table
    assert table["stimulus_id"].tolist()[:2] == [
        "sub-01_task-demo_bold_event-0000",
        "sub-01_task-demo_bold_event-0001",
    ]
    assert table["label"].tolist()[:4] == ["sentence", "nonword", "sentence", "nonword"]
    assert table["text"].tolist()[:2] == ["the cat sat", "bleg florp"]


def test_events_are_sorted_by_onset_from_a_path_or_a_dataframe():
    events = pd.read_csv(EVENTS, sep="\t")
    shuffled = events.iloc[[3, 0, 7, 1, 2, 6, 4, 5]]
    rec = load_fmri_run(BOLD, masker=Parcels(PARCELS), events=shuffled, stimulus_column="stim_id")
    table = rec.stimuli.table
    assert_allclose(table["onset"], events["onset"])
    assert table["stimulus_id"].tolist() == events["stim_id"].tolist()
    assert table["event_index"].tolist() == [1, 3, 4, 0, 6, 7, 5, 2]  # rows of the table
    early = events.assign(onset=events["onset"] - 8.0)  # BIDS allows events before volume 0
    rec = load_fmri_run(BOLD, masker=Parcels(PARCELS), events=early, stimulus_column="stim_id")
    assert rec.stimuli.onsets[0] == -2.0
    by_path = estimate_trial_betas(BOLD, EVENTS, masker=Parcels(PARCELS), method="lsa")
    by_frame = estimate_trial_betas(BOLD, shuffled, masker=Parcels(PARCELS), method="lsa")
    assert_array_equal(by_frame.data, by_path.data)
    assert by_frame.samples["stimulus_id"].tolist() == ["sentence", "nonword"]


# ----------------------------------------------------------------------------- errors


def test_grid_mismatch_names_both_grids_and_suggests_resampling(tmp_path, bold_nii):
    wrong = tmp_path / "mask_1mm_shift.nii.gz"
    mask = nib.load(GM_MASK)
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj), mask.affine + np.eye(4) * 0), wrong)
    shifted = mask.affine.copy()
    shifted[0, 3] += 1.0
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj), shifted), wrong)
    with pytest.raises(FMRIError, match=r"(?s)not on the same voxel grid.*Resample") as info:
        load_fmri_run(bold_nii, masker=wrong)
    assert "(10, 18, 9)" in str(info.value) and "-62" in str(info.value)
    small = tmp_path / "mask_small.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), mask.affine), small)
    with pytest.raises(FMRIError, match=r"shape \(10, 18, 9\) vs \(5, 5, 5\)"):
        load_fmri_run(bold_nii, masker=Parcels(small))


def test_bad_events_are_reported(tmp_path):
    bad = tmp_path / "events.tsv"
    pd.read_csv(EVENTS, sep="\t").drop(columns="duration").to_csv(bad, sep="\t", index=False)
    with pytest.raises(BIDSFileError, match=r"events.tsv' has no column\(s\) \['duration'\]"):
        load_fmri_run(BOLD, masker=GM_MASK, events=bad)
    with pytest.raises(BIDSFileError, match=r"no column 'word' to take stimuli from"):
        load_fmri_run(BOLD, masker=GM_MASK, events=EVENTS, stimulus_column="word")
    negative = pd.read_csv(EVENTS, sep="\t").assign(duration=-1.0)
    with pytest.raises(BIDSFileError, match=r"^events table: column 'duration' is negative"):
        estimate_trial_betas(BOLD, negative, masker=GM_MASK)


def test_missing_confound_columns_are_named():
    with pytest.raises(FMRIError, match=r"\['a_comp_cor_00'\] not found"):
        load_fmri_run(
            BOLD, masker=GM_MASK, confounds=CONFOUNDS, confound_columns=["csf", "a_comp_cor_00"]
        )
    with pytest.raises(FMRIError, match="unknown strategy 'motion7'"):
        load_fmri_run(BOLD, masker=GM_MASK, confounds=CONFOUNDS, confound_columns="motion7")


def test_tr_mismatch_and_missing_tr(tmp_path):
    with pytest.raises(FMRIError, match=r"tr=2.5 s but the header says 2.0 s"):
        load_fmri_run(BOLD, masker=GM_MASK, tr=2.5)
    image = nib.load(BOLD)
    no_tr = nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine)
    no_tr.header.set_zooms((3.0, 3.0, 3.0, 0.0))
    with pytest.raises(FMRIError, match="no TR; pass tr="):
        load_fmri_run(no_tr, masker=GM_MASK)
    assert load_fmri_run(no_tr, masker=GM_MASK, tr=2.0).tr == 2.0


def test_missing_file_and_3d_run():
    with pytest.raises(FileNotFoundError, match="nope.nii"):
        load_fmri_run(DATA / "nope.nii", masker=GM_MASK)
    with pytest.raises(FMRIError, match="expected a 4D run"):
        load_fmri_run(GM_MASK, masker=GM_MASK)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"slice_time_ref": 1.5}, "slice_time_ref must be in"),
        ({"standardize": "l2"}, "standardize must be"),
        ({"chunk_volumes": 0}, "chunk_volumes must be >= 1"),
    ],
)
def test_bad_options_are_named(option, message):
    with pytest.raises(FMRIError, match=message):
        load_fmri_run(BOLD, masker=GM_MASK, **option)


# ----------------------------------------------------------------------------- event-related


def _first_level(noise_model):
    return FirstLevelModel(
        t_r=2.0, mask_img=str(GM_MASK), noise_model=noise_model, minimize_memory=True
    )


@pytest.mark.parametrize("noise_model", ["ar1", "ols"])
def test_lsa_equals_firstlevelmodel_effect_sizes(noise_model):
    rec = estimate_trial_betas(
        BOLD,
        EVENTS,
        masker=GM_MASK,
        method="lsa",
        stimulus_column="stim_id",
        confounds=CONFOUNDS,
        confound_columns="motion6",
        noise_model=noise_model,
    )
    events = pd.read_csv(EVENTS, sep="\t").assign(trial_type=lambda t: t["stim_id"])
    confounds = read_confounds(CONFOUNDS, "motion6", 40)
    model = _first_level(noise_model).fit(str(BOLD), events=events, confounds=confounds)
    masker = NiftiMasker(mask_img=str(GM_MASK), standardize=None).fit()
    for k, stim in enumerate(rec.samples["stimulus_id"]):
        effect = model.compute_contrast(stim, output_type="effect_size")
        assert_allclose(rec.data[k], np.ravel(masker.transform(effect)), rtol=1e-5, atol=1e-6)
    assert rec.sampling == "event" and rec.samples["stimulus_id"].tolist()[0] == "s01"


def test_lss_equals_one_firstlevelmodel_per_trial_and_recovers_amplitudes():
    rec = estimate_trial_betas(
        BOLD, EVENTS, masker=GM_MASK, method="lss", stimulus_column="stim_id", noise_model="ols"
    )
    events = pd.read_csv(EVENTS, sep="\t")
    masker = NiftiMasker(mask_img=str(GM_MASK), standardize=None).fit()
    for k in (0, 5):
        trial_type = np.where(events["stim_id"] == f"s{k + 1:02d}", "target", "others")
        model = _first_level("ols").fit(str(BOLD), events=events.assign(trial_type=trial_type))
        effect = model.compute_contrast("target", output_type="effect_size")
        assert_allclose(rec.data[k], np.ravel(masker.transform(effect)), rtol=1e-5, atol=1e-6)
    # the run was simulated as amplitude x map + linear drift + trans_x + noise: with that
    # model, the trial betas projected on their mean pattern follow the true amplitudes
    fitted = estimate_trial_betas(
        BOLD,
        EVENTS,
        masker=GM_MASK,
        method="lss",
        stimulus_column="stim_id",
        drift_model="polynomial",
        confounds=CONFOUNDS,
        confound_columns=["trans_x"],
    )
    mean_pattern = fitted.data.mean(axis=0)
    strength = fitted.data @ mean_pattern / (mean_pattern @ mean_pattern)
    assert np.corrcoef(strength, TRUE_AMPLITUDES)[0, 1] > 0.95


def test_lsa_on_parcels_and_repeated_stimuli():
    rec = estimate_trial_betas(BOLD, EVENTS, masker=Parcels(PARCELS), method="lsa")
    assert rec.samples["stimulus_id"].tolist() == ["sentence", "nonword"]
    stimuli = rec.stimuli.table
    assert stimuli["n_presentations"].tolist() == [4, 4]
    assert stimuli["label"].tolist() == ["sentence", "nonword"]
    assert stimuli["onset"].tolist() == [6.0, 15.0]  # first presentations
    assert "text" not in stimuli.columns  # differs across presentations: event, not stimulus
    assert "event_index" not in stimuli.columns
    each = estimate_trial_betas(BOLD, EVENTS, masker=Parcels(PARCELS), stimulus_column="stim_id")
    assert each.stimuli.table["text"].tolist()[:2] == ["the cat sat", "bleg florp"]
    assert each.stimuli.table["n_presentations"].tolist() == [1] * 8
    assert rec.data.shape == (2, 4)
    with pytest.raises(FMRIError, match="method must be 'lsa' or 'lss'"):
        estimate_trial_betas(BOLD, EVENTS, masker=GM_MASK, method="lss2")


def test_beta_maps_from_3d_list_and_4d_image(tmp_path):
    image = nib.load(BOLD)
    paths = []
    maps = nib.Nifti1Image(image.get_fdata()[..., :3].astype(np.float32), image.affine)
    for k in range(3):
        path = tmp_path / f"beta_{k}.nii.gz"
        nib.save(maps.slicer[..., k], path)
        paths.append(path)
    ids = ["a", "b", "c"]
    from_list = load_beta_maps(paths, ids, masker=Parcels(PARCELS))
    from_4d = load_beta_maps(maps, ids, masker=Parcels(PARCELS))
    assert_array_equal(from_list.data, from_4d.data)
    expected = NiftiLabelsMasker(str(PARCELS), standardize=None).fit_transform(
        image.slicer[..., :3]
    )
    assert_allclose(from_4d.data, expected, rtol=1e-6)
    assert from_list.samples["stimulus_id"].tolist() == ids and from_list.sampling == "event"
    assert from_list.stimuli.table["label"].tolist() == ids
    with pytest.raises(FMRIError, match="3 maps but 2 stimulus_ids"):
        load_beta_maps(paths, ["a", "b"], masker=GM_MASK)


# ----------------------------------------------------------------------------- surface


def _write_func_gifti(path, data):
    """A real-format functional GIfTI: one NIFTI_INTENT_TIME_SERIES array per volume."""
    arrays = [
        nib.gifti.GiftiDataArray(column.astype(np.float32), intent="NIFTI_INTENT_TIME_SERIES")
        for column in data.T
    ]
    nib.save(nib.gifti.GiftiImage(darrays=arrays), path)


def test_gifti_run_on_fsaverage5_equals_surfacemasker(tmp_path):
    from nilearn.datasets import load_fsaverage
    from nilearn.maskers import SurfaceMasker
    from nilearn.surface import SurfaceImage

    rng = np.random.default_rng(0)
    n_vertices, n_volumes = 10242, 12
    data = {h: 100 + rng.normal(size=(n_vertices, n_volumes)) for h in ("left", "right")}
    paths = {h: tmp_path / f"sub-01_hemi-{h[0].upper()}_bold.func.gii" for h in data}
    for hemisphere, path in paths.items():
        _write_func_gifti(path, data[hemisphere])
    rec = load_gifti_run(
        paths["left"], paths["right"], tr=1.5, detrend=True, standardize="zscore_sample"
    )
    assert rec.data.shape == (n_volumes, 2 * n_vertices) and rec.tr == 1.5
    mesh = load_fsaverage("fsaverage5")["pial"]
    image = SurfaceImage(mesh=mesh, data={h: data[h].astype(np.float32) for h in data})
    masker = SurfaceMasker(detrend=True, standardize="zscore_sample", t_r=1.5)
    assert_allclose(rec.data, masker.fit_transform(image), rtol=1e-5, atol=1e-5)
    right = rec.units[rec.units["hemisphere"] == "right"]
    assert_allclose(right[["x", "y", "z"]].to_numpy(), mesh.parts["right"].coordinates)
    assert right["vertex"].iloc[-1] == n_vertices - 1
    assert rec.samples["run"].iloc[0] == "sub-01_bold"


@pytest.mark.skipif(not SHARED_FSAVERAGE.exists(), reason="needs ../shared/data/mni")
def test_gifti_with_mesh_files_matches_bundled_fsaverage5(tmp_path):
    path = tmp_path / "left.func.gii"
    _write_func_gifti(path, np.random.default_rng(1).normal(size=(10242, 3)))
    mesh = {"left": SHARED_FSAVERAGE / "pial_left.gii.gz"}
    from_files = load_gifti_run(path, tr=2.0, mesh=mesh)
    bundled = load_gifti_run(path, tr=2.0)
    assert_allclose(from_files.units[["x", "y", "z"]], bundled.units[["x", "y", "z"]])


def test_gifti_single_2d_array_equals_one_array_per_volume(tmp_path):
    data = np.random.default_rng(2).normal(size=(10242, 4)).astype(np.float32)
    per_volume, single = tmp_path / "a.func.gii", tmp_path / "b.func.gii"
    _write_func_gifti(per_volume, data)
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(data)]), single)
    assert_array_equal(load_gifti_run(per_volume, tr=2.0).data, data.T)
    assert_array_equal(load_gifti_run(single, tr=2.0).data, data.T)


def test_gifti_vertex_count_mismatch(tmp_path):
    path = tmp_path / "left.func.gii"
    _write_func_gifti(path, np.zeros((100, 3)))
    with pytest.raises(FMRIError, match="100 vertices but the left pial mesh has 10242"):
        load_gifti_run(path, tr=2.0)
    with pytest.raises(FMRIError, match="give left= and/or right="):
        load_gifti_run(tr=2.0)


def test_gifti_run_reads_events_through_the_same_reader(tmp_path):
    path = tmp_path / "sub-01_hemi-L_bold.func.gii"
    _write_func_gifti(path, np.random.default_rng(3).normal(size=(10242, 4)))
    rec = load_gifti_run(path, tr=2.0, events=EVENTS, stimulus_column="stim_id")
    assert rec.stimuli.stimulus_ids.tolist() == [f"s{i:02d}" for i in range(1, 9)]
    assert rec.stimuli.table["label"][0] == "s01" and rec.stimuli.groups() == ["sub-01_bold"]
    with pytest.raises(BIDSFileError, match="no column 'word'"):
        load_gifti_run(path, tr=2.0, events=EVENTS, stimulus_column="word")


@pytest.mark.parametrize(
    "intent", ["NIFTI_INTENT_NONE", "NIFTI_INTENT_ESTIMATE", "NIFTI_INTENT_TIME_SERIES"]
)
def test_gifti_maps_of_any_intent_read_one_row_per_array(tmp_path, intent):
    maps = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    darrays = [nib.gifti.GiftiDataArray(row, intent=intent) for row in maps]
    nib.save(nib.gifti.GiftiImage(darrays=darrays), tmp_path / "maps.func.gii")
    assert_array_equal(read_gifti_timeseries(tmp_path / "maps.func.gii"), maps)
    uneven = darrays[:2] + [nib.gifti.GiftiDataArray(maps[0, :6], intent=intent)]
    nib.save(nib.gifti.GiftiImage(darrays=uneven), tmp_path / "uneven.func.gii")
    with pytest.raises(FMRIError, match=r"data arrays differ in shape \(\[\(6,\), \(12,\)\]\)"):
        read_gifti_timeseries(tmp_path / "uneven.func.gii")
