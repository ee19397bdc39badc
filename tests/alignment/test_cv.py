"""Tests for the blocked, gapped K-fold splitter."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import KFold

from brainalign.alignment.cv import BlockedKFold


@settings(max_examples=300, deadline=None)
@given(
    n_samples=st.integers(10, 500),
    n_splits=st.integers(2, 10),
    gap=st.integers(0, 10),
)
def test_blocked_kfold_properties(n_samples, n_splits, gap):
    X = np.zeros((n_samples, 1))
    try:
        folds = list(BlockedKFold(n_splits, gap=gap).split(X))
    except ValueError:
        # Only the documented reason may raise here (n_samples >= n_splits always): a
        # fold with no training samples, which needs n - (largest block) - 2 * gap <= 0.
        block = -(-n_samples // n_splits)
        assert n_samples - block - 2 * gap <= 0
        return
    assert len(folds) == n_splits == BlockedKFold(n_splits, gap=gap).get_n_splits()
    tests = [test for _, test in folds]
    np.testing.assert_array_equal(np.concatenate(tests), np.arange(n_samples))  # partition
    sizes = [test.size for test in tests]
    assert max(sizes) - min(sizes) <= 1
    indices = np.arange(n_samples)
    for train, test in folds:
        assert train.dtype.kind == "i" and test.dtype.kind == "i"
        assert np.all(np.diff(test) == 1)  # contiguous
        assert not np.intersect1d(train, test).size
        distance = np.abs(train[:, None] - test[None, :]).min(axis=1)
        assert np.all(distance > gap)
        expected = indices[(indices < test[0] - gap) | (indices > test[-1] + gap)]
        np.testing.assert_array_equal(train, expected)


def test_gap_zero_equals_kfold():
    X = np.zeros((23, 2))
    ours = list(BlockedKFold(4).split(X))
    theirs = list(KFold(4).split(X))
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_gap_drops_neighbours_on_both_sides():
    folds = list(BlockedKFold(3, gap=2).split(np.zeros(12)))
    np.testing.assert_array_equal(folds[1][1], [4, 5, 6, 7])
    np.testing.assert_array_equal(folds[1][0], [0, 1, 10, 11])
    np.testing.assert_array_equal(folds[0][0], [6, 7, 8, 9, 10, 11])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_splits": 1}, "n_splits"), ({"gap": -1}, "gap"), ({"n_splits": 2.5}, "integer")],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlockedKFold(**kwargs)


def test_too_few_samples_or_empty_training_raise_with_advice():
    with pytest.raises(ValueError, match="at least 5 samples"):
        list(BlockedKFold(5).split(np.zeros(4)))
    with pytest.raises(ValueError, match="no training samples.*Lower gap"):
        list(BlockedKFold(2, gap=5).split(np.zeros(10)))


def test_repr_and_sklearn_compatibility():
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    assert repr(BlockedKFold(3, gap=2)) == "BlockedKFold(gap=2, n_splits=3)"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    scores = cross_val_score(Ridge(), X, X @ [1.0, 2.0, 3.0], cv=BlockedKFold(4, gap=1))
    assert scores.shape == (4,) and np.all(scores > 0.99)
