"""Encoding scores when a unit's Pearson r is undefined in some outer folds.

A unit constant on one fold's held-out rows has no r there (NaN). Its score used to be
NaN silently; it now averages the folds where r is defined, says so once, and reports
how many folds each score averages. Other units' numbers do not change by a bit.
"""

import warnings

import numpy as np
import pytest

from brainalign.alignment.encoding import cross_validated_encoding


def _data(seed=0, n=120, p=6, t=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, t)) + rng.standard_normal((n, t))
    return X, Y


def _run(X, Y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cross_validated_encoding(
            X, Y, sampling="continuous", delays=(0,), n_splits=4, alphas=[1.0, 100.0], **kwargs
        )
    return result, [w for w in caught if issubclass(w.category, UserWarning)]


def test_unit_constant_in_one_fold_averages_the_other_folds():
    X, Y = _data()
    Y[:30, 1] = 2.0  # the first blocked fold holds out rows 0-29
    Y[90:, 3] = -1.0  # the last fold
    result, caught = _run(X, Y)
    folds = result.fold_scores
    assert np.isnan(folds[0, 1]) and np.isnan(folds[3, 3])
    assert np.all(np.isfinite(result.scores))
    assert result.scores[1] == pytest.approx(np.nanmean(folds[:, 1]), rel=1e-15)
    assert result.scores[3] == pytest.approx(np.nanmean(folds[:, 3]), rel=1e-15)
    assert result.n_valid_folds.tolist() == [4, 3, 4, 3, 4]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "2 of 5 response units" in message and "[1, 3]" in message
    assert "average the remaining folds" in message


def test_ordinary_units_are_bit_identical():
    X, Y = _data(1)
    Y[:30, 0] = 0.0
    result, _ = _run(X, Y)
    ordinary = [1, 2, 3, 4]
    # the previous definition: a plain mean over folds
    assert np.array_equal(result.scores[ordinary], result.fold_scores[:, ordinary].mean(axis=0))
    clean, caught = _run(X, Y[:, ordinary])
    assert caught == []
    assert np.array_equal(clean.fold_scores, result.fold_scores[:, ordinary])
    assert np.array_equal(clean.scores, result.scores[ordinary])
    assert clean.n_valid_folds.tolist() == [4, 4, 4, 4]


def test_constant_unit_stays_nan_with_the_constant_warning_only():
    X, Y = _data(2)
    Y[:, 2] = 5.0
    result, caught = _run(X, Y)
    assert np.isnan(result.scores[2]) and result.n_valid_folds[2] == 0
    assert np.all(np.isfinite(np.delete(result.scores, 2)))
    assert len(caught) == 1 and "are constant" in str(caught[0].message)


def test_float16_inputs_are_accepted():
    X, Y = _data(3)
    result, _ = _run(X.astype(np.float16), Y.astype(np.float16))
    reference, _ = _run(
        X.astype(np.float16).astype(np.float64), Y.astype(np.float16).astype(np.float64)
    )
    assert np.array_equal(result.scores, reference.scores)


def test_nan_input_is_named():
    X, Y = _data(4)
    Y[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"rows \(samples\) \[7\] and columns \(units\) \[2\]"):
        _run(X, Y)
