"""Searchlights: neighbourhoods equal nilearn's, rsatoolbox's and MNE's; scores equal a loop."""

from pathlib import Path

import numpy as np
import pytest
import torch

from brainalign.alignment.rsa import compare_rdms, rdm
from brainalign.alignment.searchlight import (
    Searchlights,
    searchlight_rsa,
    sensor_searchlights,
    volume_searchlights,
)

DATA = Path(__file__).resolve().parents[1] / "data"
MASK = DATA / "fmri" / "mni_gm_crop_mask.nii.gz"
EVOKED = DATA / "meg" / "elekta_mag-ave.fif"


@pytest.fixture(scope="module")
def mask_img():
    import nibabel as nib

    return nib.load(MASK)


def _as_sets(searchlights):
    return [set(searchlights[i].tolist()) for i in range(len(searchlights))]


def test_volume_spheres_equal_nilearn_sphere_affinity(mask_img):
    """Radius in mm through the 3 mm affine, as nilearn's SearchLight builds its spheres."""
    from nilearn.maskers.nifti_spheres_masker import apply_mask_and_get_affinity

    searchlights = volume_searchlights(mask_img, radius=7.0)
    mask = np.asarray(mask_img.dataobj) > 0
    voxels = np.argwhere(mask)
    assert searchlights.n_units == len(voxels) == 756
    world = voxels @ mask_img.affine[:3, :3].T + mask_img.affine[:3, 3]
    _, affinity = apply_mask_and_get_affinity(world, None, 7.0, True, mask_img=mask_img)
    affinity = affinity.tocsr()
    expected = [
        set(affinity.indices[affinity.indptr[i] : affinity.indptr[i + 1]]) for i in range(756)
    ]
    assert _as_sets(searchlights) == expected
    np.testing.assert_array_equal(searchlights.centers, np.arange(756))
    assert searchlights.sizes.min() < searchlights.sizes.max() <= 57  # 57 in a full sphere


def test_volume_spheres_equal_rsatoolbox_truncated_spheres(mask_img):
    """rsatoolbox counts voxels strictly closer than the radius in voxels (identity affine)."""
    from rsatoolbox.util.searchlight import get_volume_searchlight

    mask = np.asarray(mask_img.dataobj) > 0
    centers, neighbours = get_volume_searchlight(
        mask, radius=2, threshold=0.0, truncate_at_boundary=True
    )
    ours = volume_searchlights(mask, radius=2 - 1e-9, affine=np.eye(4))
    # rsatoolbox indexes the full grid; map to mask-voxel order
    flat_to_unit = np.full(mask.size, -1)
    flat_to_unit[np.flatnonzero(mask)] = np.arange(mask.sum())
    assert flat_to_unit[centers].tolist() == ours.centers.tolist()
    assert _as_sets(ours) == [set(flat_to_unit[n].tolist()) for n in neighbours]


def test_min_size_drops_edge_centres(mask_img):
    full = volume_searchlights(mask_img, radius=7.0)
    trimmed = volume_searchlights(mask_img, radius=7.0, min_size=20)
    assert len(trimmed) == int((full.sizes >= 20).sum()) < len(full)
    assert trimmed.sizes.min() >= 20


def test_sensor_adjacency_is_mnes_plus_the_sensor():
    import mne

    info = mne.read_evokeds(EVOKED, verbose=False)[0].info
    searchlights = sensor_searchlights(info)
    adjacency, _ = mne.channels.find_ch_adjacency(info, ch_type=None)
    adjacency = adjacency.tocsr()
    for i in range(len(searchlights)):
        expected = set(adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]]) | {i}
        assert set(searchlights[i].tolist()) == expected
    assert len(searchlights) == 102


def test_sensor_radius_in_metres():
    positions = np.array([[0, 0, 0], [0.03, 0, 0], [0.05, 0, 0], [0.2, 0, 0]])
    searchlights = sensor_searchlights(positions, radius=0.03)
    assert _as_sets(searchlights) == [{0, 1}, {0, 1, 2}, {1, 2}, {3}]


def _loop_reference(data, searchlights, models, metric, comparison):
    return np.stack(
        [
            compare_rdms(models, rdm(data[:, searchlights[i]], metric), comparison)
            for i in range(len(searchlights))
        ]
    )


@pytest.mark.parametrize(
    ("metric", "theirs", "comparison"),
    [("correlation", "correlation", "spearman"), ("squared_euclidean", "euclidean", "pearson")],
)
def test_volume_searchlight_rsa_equals_a_loop_and_rsatoolbox(mask_img, metric, theirs, comparison):
    from rsatoolbox.util.searchlight import get_searchlight_RDMs

    rng = np.random.default_rng(0)
    n_conditions = 8
    searchlights = volume_searchlights(mask_img, radius=4.5, min_size=3)
    data = rng.standard_normal((n_conditions, searchlights.n_units))
    models = rng.random((2, n_conditions * (n_conditions - 1) // 2))
    scores = searchlight_rsa(
        data, searchlights, models, metric=metric, comparison=comparison, chunk_size=50
    )
    assert scores.shape == (len(searchlights), 2)
    np.testing.assert_allclose(
        scores, _loop_reference(data, searchlights, models, metric, comparison), atol=1e-12
    )
    # rsatoolbox's own searchlight RDMs for the same neighbourhoods
    members = [searchlights[i] for i in range(len(searchlights))]
    theirs = get_searchlight_RDMs(
        data, searchlights.centers, members, np.arange(n_conditions), method=theirs, verbose=False
    ).dissimilarities
    ours = np.stack([rdm(data[:, m], metric) for m in members])
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_threads_and_torch_give_the_same_scores(mask_img):
    rng = np.random.default_rng(1)
    searchlights = volume_searchlights(mask_img, radius=4.5, min_size=3)
    data = rng.standard_normal((6, searchlights.n_units))
    model = rng.random(15)
    one = searchlight_rsa(data, searchlights, model, chunk_size=64)
    two = searchlight_rsa(data, searchlights, model, chunk_size=64, n_jobs=2)
    np.testing.assert_array_equal(one, two)
    on_torch = searchlight_rsa(torch.from_numpy(data), searchlights, torch.from_numpy(model))
    assert isinstance(on_torch, torch.Tensor)
    np.testing.assert_allclose(on_torch.numpy(), one, atol=1e-12)


def test_time_resolved_sensor_searchlight_on_real_meg():
    import mne

    evokeds = mne.read_evokeds(EVOKED, verbose=False)
    data = np.stack([e.data for e in evokeds]) * 1e13  # (7 conditions, 102 mags, 21 times), fT
    searchlights = sensor_searchlights(evokeds[0].info)
    rng = np.random.default_rng(2)
    models = rng.random((3, 21))
    scores = searchlight_rsa(data, searchlights, models, comparison="pearson", chunk_size=16)
    assert scores.shape == (102, 3, 21)
    for t in (0, 10, 20):
        expected = _loop_reference(data[:, :, t], searchlights, models, "correlation", "pearson")
        np.testing.assert_allclose(scores[:, :, t], expected, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: volume_searchlights(np.ones((3, 3, 3)), 2.0), "needs affine"),
        (lambda m: volume_searchlights(np.ones((3, 3)), 2.0, affine=np.eye(4)), "must be 3-D"),
        (lambda m: volume_searchlights(np.zeros((3, 3, 3)), 2.0, affine=np.eye(4)), "no voxels"),
        (lambda m: volume_searchlights(m, -1.0), "non-negative"),
        (lambda m: volume_searchlights(m, 1.0, min_size=99), "lower min_size"),
        (lambda m: sensor_searchlights(np.zeros((4, 3))), "need radius"),
        (lambda m: sensor_searchlights(np.full((2, 3), np.nan), radius=0.1), "montage"),
        (
            lambda m: searchlight_rsa(np.ones((4, 5)), volume_searchlights(m, 3.0), np.ones(6)),
            "5 units",
        ),
        (
            lambda m: searchlight_rsa(
                np.ones((4, 756)), volume_searchlights(m, 3.0), np.ones(6), metric="crossnobis"
            ),
            "crossnobis",
        ),
        (lambda m: Searchlights.from_lists([0], [[0, 5]], n_units=3), "outside 0..2"),
        (  # a one-voxel sphere has no variance across voxels
            lambda m: searchlight_rsa(
                np.random.default_rng(0).standard_normal((4, 756)),
                volume_searchlights(m, 1.0),
                np.ones(6),
            ),
            "searchlight centred on unit 0 .* min_size",
        ),
    ],
)
def test_bad_input_is_a_clear_error(mask_img, call, match):
    with pytest.raises(ValueError, match=match):
        call(mask_img)
