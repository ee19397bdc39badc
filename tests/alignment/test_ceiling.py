"""Tests for the leave-one-subject-out ISC noise ceiling."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from brainalign.alignment.ceiling import leave_one_out_isc


def test_matches_brute_force_pearsonr():
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((50, 6))
    data = shared + rng.standard_normal((4, 50, 6)) * np.array([0.3, 1, 3, 10, 0.1, 1])
    isc = leave_one_out_isc(data)
    assert isc.shape == (4, 6)
    for s in range(4):
        others = np.delete(data, s, axis=0).mean(axis=0)
        for u in range(6):
            assert isc[s, u] == pytest.approx(pearsonr(data[s, :, u], others[:, u])[0], abs=1e-12)
    # More noise, lower ceiling.
    assert np.all(isc[:, 4] > isc[:, 0]) and np.all(isc[:, 0] > isc[:, 3])


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
