"""Out-of-core encoding targets: memory-mapped arrays and fMRI voxels read in batches.

The out-of-core path must give the numbers of the in-memory path (same folds, same
penalties) while holding one batch of targets at a time.
"""

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import psutil
import pytest

from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.targets import ArrayTargets, as_target_source
from brainalign.alignment.temporal import fir_delays
from brainalign.datasets.fmri import FMRIError
from brainalign.datasets.fmri_targets import FMRITargets

FMRI = Path(__file__).parents[1] / "data" / "fmri"
RUN, MASK = FMRI / "sub-01_task-demo_bold.nii.gz", FMRI / "gm_mask_crop.nii.gz"
DELAYS = (1, 2)


def _planted(n=150, n_features=12, n_targets=90, seed=0):
    """Seeded targets with a planted delayed signal, a constant and a pure-noise unit."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    W = rng.standard_normal((n_features * len(DELAYS), n_targets))
    signal = fir_delays(X, DELAYS) @ W
    Y = signal + signal.std(axis=0) * rng.standard_normal((n, n_targets))
    Y[:, 3] = 2.5  # constant: NaN score in both paths
    Y[:, 4] = rng.standard_normal(n)  # no signal
    return X, Y


def _assert_same(a, b):
    """Two EncodingResults equal at 1e-10, penalties and NaN positions exactly."""
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.fold_scores, b.fold_scores, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(a.best_alphas, b.best_alphas)
    np.testing.assert_array_equal(a.n_valid_folds, b.n_valid_folds)
    if a.predictions is not None:
        np.testing.assert_allclose(a.predictions, b.predictions, rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def planted_file(tmp_path_factory):
    X, Y = _planted()
    path = tmp_path_factory.mktemp("targets") / "Y.npy"
    np.save(path, Y)
    return X, Y, path


@pytest.mark.parametrize(
    ("settings", "batch"),
    [({"sampling": "event"}, 17), ({"sampling": "continuous", "delays": DELAYS}, 40)],
)
def test_memmap_targets_give_the_in_memory_numbers(planted_file, tmp_path, settings, batch):
    X, Y, path = planted_file
    kwargs = {"n_splits": 4, "inner_splits": 3, "return_predictions": True, **settings}
    with pytest.warns(UserWarning, match=r"units \[3\]"):
        expected = cross_validated_encoding(X, Y, **kwargs)
    out = tmp_path / "predictions.npy"
    with pytest.warns(UserWarning, match=r"units \[3\]"):
        result = cross_validated_encoding(
            X,
            np.load(path, mmap_mode="r"),
            target_batch_size=batch,
            predictions_path=out,
            **kwargs,
        )
    _assert_same(expected, result)
    assert np.isnan(result.scores[3])
    if settings["sampling"] == "continuous":  # the planted signal is delayed
        assert np.median(result.scores[5:]) > 0.5 > abs(result.scores[4])
    assert result.settings["target_batch_size"] == batch
    assert result.settings["cv"] == expected.settings["cv"]
    # predictions went to the file, atomically (no temporary file is left behind)
    assert isinstance(result.predictions, np.memmap)
    np.testing.assert_array_equal(np.load(out), result.predictions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.npy"]


def test_float32_file_and_default_auto_batch_match_float64_in_memory(tmp_path):
    X, Y = _planted(n_targets=30)
    path = tmp_path / "Y32.npy"
    np.save(path, Y.astype(np.float32))
    kwargs = {"sampling": "event", "n_splits": 3, "inner_splits": 3}
    with pytest.warns(UserWarning, match="constant"):
        expected = cross_validated_encoding(X, Y.astype(np.float32), **kwargs)
    with pytest.warns(UserWarning, match="constant"):
        result = cross_validated_encoding(X, str(path), **kwargs)
    _assert_same(expected, result)
    # "auto" (the default out of core) found room for all 30 targets in one batch
    assert result.settings["target_batch_size"] == 30


def test_torch_device_streams_batches_with_the_same_numbers(planted_file):
    X, Y, path = planted_file
    kwargs = {"sampling": "event", "n_splits": 3, "inner_splits": 3, "device": "cpu"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = cross_validated_encoding(X, Y, **kwargs)
        result = cross_validated_encoding(
            X, np.load(path, mmap_mode="r"), target_batch_size=25, **kwargs
        )
    _assert_same(expected, result)


def test_ridge_decomposition_fits_target_batches_like_one_fit():
    X, Y = _planted(n=120, n_targets=40)
    design = fir_delays(X, DELAYS)  # 24 features, 96 training rows: both forms occur
    for solver in ("auto", "primal", "dual"):
        whole = RidgeCV(cv=4, solver=solver).fit(design, Y)
        ridge = RidgeCV(cv=4, solver=solver, target_batch_size=16)
        decomposition = ridge.decompose(design)
        parts = [
            RidgeCV(cv=4, solver=solver).fit_decomposed(decomposition, Y[:, start : start + 16])
            for start in range(0, 40, 16)
        ]
        for name in ("coef_", "intercept_", "cv_scores_"):
            stacked = np.concatenate(
                [getattr(p, name) for p in parts], axis=1 if name == "cv_scores_" else 0
            )
            np.testing.assert_allclose(stacked, getattr(whole, name), rtol=0, atol=1e-10)
        np.testing.assert_array_equal(
            np.concatenate([p.best_alphas_ for p in parts]), whole.best_alphas_
        )
        assert parts[0].fold_solvers_ == whole.fold_solvers_
        assert parts[0].solver_ == whole.solver_


def test_fmri_voxels_are_read_in_batches_as_nilearn_masks_them():
    from nilearn.maskers import NiftiMasker

    source = FMRITargets(RUN, MASK, chunk_bytes=20_000)  # several reads per batch
    masked = NiftiMasker(mask_img=str(MASK), standardize=None).fit_transform(str(RUN))
    assert (source.n_samples, source.n_targets) == masked.shape == (40, 1032)
    batches = [source.read(slice(start, start + 100)) for start in range(0, 1032, 100)]
    np.testing.assert_array_equal(np.concatenate(batches, axis=1), masked)
    first = source.units.iloc[0]
    assert source.target_ids[0] == f"voxel({first.i},{first.j},{first.k})"


def test_fmri_source_encodes_like_the_masked_array_in_memory():
    source = FMRITargets(RUN, MASK)
    Y = np.concatenate([source.read(slice(0, source.n_targets))], axis=1)
    X = np.random.default_rng(3).standard_normal((source.n_samples, 6))
    kwargs = {"sampling": "continuous", "delays": DELAYS, "n_splits": 4, "inner_splits": 3}
    expected = cross_validated_encoding(X, Y, **kwargs)
    result = cross_validated_encoding(X, source, target_batch_size=300, **kwargs)
    _assert_same(expected, result)
    assert result.settings["targets"] == repr(source)


def test_fmri_source_refuses_a_mask_on_another_grid(tmp_path):
    mask = nib.load(MASK)
    moved = nib.Nifti1Image(np.asarray(mask.dataobj), mask.affine + np.diag([0, 0, 0, 0]) + 1)
    nib.save(moved, tmp_path / "moved.nii.gz")
    with pytest.raises(FMRIError, match="same voxel grid"):
        FMRITargets(RUN, tmp_path / "moved.nii.gz")
    with pytest.raises(FMRIError, match="4D"):
        FMRITargets(MASK, MASK)


def test_reading_batches_keeps_one_batch_resident(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.ones((2000, 6000), dtype=np.float32))  # 48 MB
    process = psutil.Process()
    targets = ArrayTargets(path)
    before = process.memory_info().rss
    for start in range(0, 6000, 500):
        targets.read(slice(start, start + 500))
    grown = process.memory_info().rss - before
    assert grown < 20e6  # one batch: 8 MB as float64, 4 MB of mapped pages
    # touching the whole mapping without releasing it keeps all 48 MB resident
    float(np.asarray(targets.data).sum())
    assert process.memory_info().rss - before > 40e6


@pytest.mark.parametrize("order", ["C", "F"])
def test_file_reads_match_the_array_for_views_and_both_orders(tmp_path, order):
    array = np.random.default_rng(1).standard_normal((40, 70)).astype(np.float32)
    np.save(tmp_path / "a.npy", np.asarray(array, order=order))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    for view, expected in (
        (mapped, array),  # read from the file
        (mapped[5:33, 3:61], array[5:33, 3:61]),  # a window: read from the file
        (mapped[::2, ::3], array[::2, ::3]),  # strided: sliced, pages released
    ):
        targets = ArrayTargets(view)
        parts = [targets.read(slice(s, s + 13)) for s in range(0, targets.n_targets, 13)]
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), expected)
        assert parts[0].dtype == np.float64


def test_nan_in_a_memmap_names_the_target_column(planted_file, tmp_path):
    X, Y, _ = planted_file
    bad = Y.copy()
    bad[7, 61] = np.nan
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    with pytest.raises(ValueError, match=r"target column\(s\) \[61\].*ids \[61\].*rows \[7\]"):
        cross_validated_encoding(
            X, np.load(path, mmap_mode="r"), sampling="event", target_batch_size=20
        )


def test_source_rows_other_than_x_rows_are_refused_with_both_numbers(planted_file):
    X, _, path = planted_file
    with pytest.raises(ValueError, match=r"X has 149 rows .* has 150"):
        cross_validated_encoding(X[:149], np.load(path, mmap_mode="r"), sampling="event")


@pytest.mark.parametrize("size", [0, -3, "half", 2.5])
def test_bad_target_batch_size_is_refused(planted_file, size):
    X, _, path = planted_file
    with pytest.raises(ValueError, match="target_batch_size"):
        cross_validated_encoding(
            X, np.load(path, mmap_mode="r"), sampling="event", target_batch_size=size
        )


def test_predictions_out_of_core_need_a_path(planted_file, tmp_path):
    X, Y, path = planted_file
    with pytest.raises(ValueError, match="pass predictions_path="):
        cross_validated_encoding(
            X, np.load(path, mmap_mode="r"), sampling="event", return_predictions=True
        )
    with pytest.raises(ValueError, match="return_predictions=False"):
        cross_validated_encoding(X, Y, sampling="event", predictions_path=tmp_path / "p.npy")
    with pytest.raises(ValueError, match="does not exist"):
        cross_validated_encoding(
            X,
            np.load(path, mmap_mode="r"),
            sampling="event",
            return_predictions=True,
            predictions_path=tmp_path / "missing" / "p.npy",
        )


def test_in_memory_predictions_can_be_written_to_a_file_too(planted_file, tmp_path):
    X, Y, _ = planted_file
    kwargs = {"sampling": "event", "n_splits": 3, "inner_splits": 3, "return_predictions": True}
    with pytest.warns(UserWarning, match="constant"):
        expected = cross_validated_encoding(X, Y, **kwargs)
    with pytest.warns(UserWarning, match="constant"):
        result = cross_validated_encoding(X, Y, predictions_path=tmp_path / "p.npy", **kwargs)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected.predictions)
    np.testing.assert_array_equal(result.predictions, expected.predictions)


def test_what_counts_as_out_of_core(tmp_path):
    array = np.zeros((5, 3))
    np.save(tmp_path / "a.npy", array)
    assert as_target_source(array) is None
    assert isinstance(as_target_source(np.load(tmp_path / "a.npy", mmap_mode="r")), ArrayTargets)
    assert isinstance(as_target_source(tmp_path / "a.npy"), ArrayTargets)
    with pytest.raises(FileNotFoundError, match="no such file"):
        ArrayTargets(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="target_ids has shape"):
        ArrayTargets(array, target_ids=["a"])
