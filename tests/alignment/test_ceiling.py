"""Noise ceilings: the z-scored leave-one-subject-out ISC and normalisation by a ceiling."""

import numpy as np
import pytest
from scipy.stats import pearsonr, zscore

from brainalign.alignment.ceiling import (
    CEILING_FLOOR,
    ceiling_flags,
    leave_one_out_isc,
    normalized_scores,
)


def test_matches_brute_force_pearsonr_of_z_scored_time_courses():
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((50, 6))
    data = shared + rng.standard_normal((4, 50, 6)) * np.array([0.3, 1, 3, 10, 0.1, 1])
    data *= np.array([1.0, 50.0, 0.01, 7.0])[:, None, None]  # arbitrary scale per subject
    isc = leave_one_out_isc(data)
    assert isc.shape == (4, 6)
    z = zscore(data, axis=1)
    for s in range(4):
        others = np.delete(z, s, axis=0).mean(axis=0)
        for u in range(6):
            assert isc[s, u] == pytest.approx(pearsonr(data[s, :, u], others[:, u])[0], abs=1e-12)
    # More noise, lower ceiling.
    assert np.all(isc[:, 4] > isc[:, 0]) and np.all(isc[:, 0] > isc[:, 3])


def test_rescaling_or_offsetting_one_subject_changes_nothing():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((1, 80, 5)) + rng.standard_normal((5, 80, 5))
    changed = data.copy()
    changed[2] = changed[2] * 100.0 + 1e4
    np.testing.assert_allclose(leave_one_out_isc(changed), leave_one_out_isc(data), atol=1e-10)


def test_runs_are_z_scored_separately():
    rng = np.random.default_rng(4)
    runs = np.repeat([0, 1], 40)
    data = rng.standard_normal((1, 80, 2)) + 0.5 * rng.standard_normal((3, 80, 2))
    shifted = data.copy()
    shifted[0, runs == 1] = shifted[0, runs == 1] * 20 + 5  # one run of one subject rescaled
    z = np.concatenate([zscore(data[:, runs == r], axis=1) for r in (0, 1)], axis=1)
    expected = np.array(
        [[pearsonr(z[s, :, u], np.delete(z, s, 0).mean(0)[:, u])[0] for u in (0, 1)]
         for s in range(3)]
    )  # fmt: skip
    np.testing.assert_allclose(leave_one_out_isc(data, runs=runs), expected, atol=1e-12)
    np.testing.assert_allclose(leave_one_out_isc(shifted, runs=runs), expected, atol=1e-12)
    with pytest.raises(ValueError, match="runs has shape"):
        leave_one_out_isc(data, runs=runs[:-1])


def test_two_subjects_and_constant_units():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((2, 30, 3))
    data[1, :, 2] = 5.0
    isc = leave_one_out_isc(data)
    r = pearsonr(data[0, :, 0], data[1, :, 0])[0]
    np.testing.assert_allclose(isc[:, 0], [r, r], atol=1e-12)
    assert np.all(np.isnan(isc[:, 2]))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.ones((1, 10, 2)), "at least 2 subjects"),
        (np.ones((10, 2)), "3-D"),
        (np.ones((3, 1, 2)), "at least 2 samples"),
        (np.r_[np.ones((2, 10, 2)), np.full((1, 10, 2), np.nan)], r"subjects \[2\]"),
    ],
)
def test_bad_input_raises(data, match):
    with pytest.raises(ValueError, match=match):
        leave_one_out_isc(data)


def test_normalized_scores_never_divide_by_an_unusable_ceiling():
    score = np.array([0.2, 0.2, 0.2, 0.2, 0.2, -0.1, 0.3])
    ceiling = np.array([0.5, -0.3, 0.0, 1e-6, np.nan, 0.4, np.inf])
    normalized, flags = normalized_scores(score, ceiling)
    assert flags.tolist() == [
        "ok", "below_floor", "below_floor", "below_floor", "none", "ok", "not_finite"
    ]  # fmt: skip
    np.testing.assert_allclose(normalized[[0, 5]], [0.4, -0.25])
    assert np.isnan(normalized[1:5]).all() and np.isnan(normalized[6])
    assert normalized[0] > 0  # no sign flip anywhere: a negative ceiling gives NaN
    at_floor, below = normalized_scores([0.05, 0.05], [CEILING_FLOOR, CEILING_FLOOR * 0.999])
    assert at_floor[0] == pytest.approx(0.5) and np.isnan(at_floor[1])
    assert below.tolist() == ["ok", "below_floor"]


def test_ceiling_flags_say_whether_a_ceiling_exists():
    flags = ceiling_flags([np.nan, np.nan, 0.5], defined=[False, True, True])
    assert flags.tolist() == ["none", "not_finite", "ok"]
    with pytest.raises(ValueError, match="defined has shape"):
        ceiling_flags([0.5], defined=[True, False])
    with pytest.raises(ValueError, match="differ in shape"):
        normalized_scores([0.1, 0.2], [0.5])
