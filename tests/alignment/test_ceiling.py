"""Noise ceilings: the z-scored leave-one-subject-out ISC, split-half reliability, normalisation."""

import numpy as np
import pytest
from scipy.stats import pearsonr, zscore

from brainalign.alignment.ceiling import (
    CEILING_FLOOR,
    ceiling_flags,
    ceiling_from_reliability,
    leave_one_out_isc,
    normalized_scores,
    split_half_ceiling,
    split_half_reliability,
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


# Split-half reliability from repeated presentations ------------------------------------


def _loop_split_half(responses, n_splits, seed):
    """The documented procedure, written out split by split, entry by entry."""
    x = np.asarray(responses, dtype=np.float64)
    n_items, n_units, n_repeats = x.shape
    rng = np.random.Generator(np.random.PCG64(seed))
    corrected = np.full((n_splits, n_units), np.nan)
    for s in range(n_splits):
        perm = rng.permutation(n_repeats)
        for u in range(n_units):
            first, second = [], []
            for i in range(n_items):
                values = x[i, u][~np.isnan(x[i, u])]  # available repeats, in order
                k = len(values)
                if k < 2:
                    continue
                order, half = perm[perm < k], k // 2
                first.append(values[order[:half]].mean())
                second.append(values[order[half : 2 * half]].mean())
            if len(first) < 3 or np.ptp(first) == 0 or np.ptp(second) == 0:
                continue
            r = np.corrcoef(first, second)[0, 1]
            corrected[s, u] = 2 * r / (1 + r)
    out = np.full(n_units, np.nan)
    some = ~np.isnan(corrected).all(axis=0)
    out[some] = np.nanmean(corrected[:, some], axis=0)
    return out


def _planted(n_items, n_units, n_repeats, signal_sd, noise_sd, seed):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((n_items, n_units, 1)) * signal_sd
    return signal + rng.standard_normal((n_items, n_units, n_repeats)) * noise_sd


def test_split_half_matches_the_loop_with_unequal_repeat_counts():
    rng = np.random.default_rng(1)
    x = _planted(40, 6, 7, np.array([0.2, 1, 3, 0.5, 2, 1])[None, :, None], 1.0, 1)
    x += 100.0  # a large offset: no cancellation in the sums
    counts = rng.integers(1, 8, size=(40, 6))  # 1 to 7 repeats per (item, unit)
    x[np.arange(7) >= counts[..., None]] = np.nan
    shuffle = rng.permuted(np.arange(7)[None, None].repeat(40, 0).repeat(6, 1), axis=2)
    x = np.take_along_axis(x, shuffle, axis=2)  # the NaN scattered, not only at the end
    for n_splits, seed in ((1, 0), (25, 3), (40, 11)):
        np.testing.assert_allclose(
            split_half_reliability(x, n_splits=n_splits, seed=seed),
            _loop_split_half(x, n_splits, seed),
            rtol=0,
            atol=1e-12,
        )
    np.testing.assert_allclose(
        split_half_ceiling(x, n_splits=25, seed=3),
        ceiling_from_reliability(_loop_split_half(x, 25, 3)),
        atol=1e-12,
    )


def test_split_half_recovers_a_planted_reliability():
    signal_var, noise_var, k = np.array([0.05, 0.2, 1.0, 4.0]), 1.0, 6
    x = _planted(3000, 4, k, np.sqrt(signal_var)[None, :, None], np.sqrt(noise_var), 5)
    expected = signal_var / (signal_var + noise_var / k)  # reliability of the mean of k
    reliability = split_half_reliability(x, n_splits=50, seed=0)
    np.testing.assert_allclose(reliability, expected, atol=0.03)
    np.testing.assert_allclose(split_half_ceiling(x, n_splits=50), np.sqrt(reliability))
    # pure noise: reliability near 0, negative half of the time; never a NaN surprise
    noise = split_half_reliability(_planted(3000, 20, 4, 0.0, 1.0, 6), n_splits=20)
    assert np.all(np.abs(noise) < 0.15) and np.isfinite(noise).all()


def test_split_half_does_not_depend_on_the_order_of_repeats():
    x = _planted(200, 5, 2, 1.0, 1.0, 7)
    x[::7, 1, 1] = np.nan  # some items with one repeat only
    swapped = x[:, :, ::-1]
    # two repeats: the halves can only swap, and r is symmetric
    np.testing.assert_array_equal(
        split_half_reliability(swapped, n_splits=7), split_half_reliability(x, n_splits=7)
    )
    # more repeats: equal in distribution, close with many splits
    y = _planted(300, 4, 6, 0.7, 1.0, 8)
    y[np.random.default_rng(9).random(y.shape) < 0.2] = np.nan
    permuted = y[:, :, [3, 0, 5, 1, 4, 2]]
    np.testing.assert_allclose(
        split_half_reliability(permuted, n_splits=2000),
        split_half_reliability(y, n_splits=2000, seed=1),
        atol=0.01,
    )


def test_split_half_nan_rules():
    x = _planted(30, 4, 4, 1.0, 1.0, 10)
    x[:, 0] = 3.0  # a constant unit: every half constant
    x[2:, 1, 1:] = np.nan  # unit 1: only 2 items with 2 repeats or more
    x[:, 2, 1:] = np.nan  # unit 2: never repeated
    reliability = split_half_reliability(x, n_splits=10)
    assert np.isnan(reliability[:3]).all() and np.isfinite(reliability[3])
    ceiling = split_half_ceiling(x, n_splits=10)
    assert np.isnan(ceiling[:3]).all() and ceiling[3] == pytest.approx(np.sqrt(reliability[3]))
    assert ceiling_flags(ceiling).tolist() == ["none", "none", "none", "ok"]


def test_ceiling_from_reliability():
    ceiling = ceiling_from_reliability([0.81, 0.0, -0.2, np.nan, 1.0])
    np.testing.assert_array_equal(ceiling[[0, 1, 4]], [0.9, 0.0, 1.0])
    assert np.isnan(ceiling[[2, 3]]).all()
    assert ceiling_from_reliability(np.array([[0.25]])).shape == (1, 1)


@pytest.mark.parametrize(
    ("responses", "kwargs", "match"),
    [
        (np.ones((10, 2)), {}, r"3-D \(n_items, n_units, n_repeats\); got shape \(10, 2\)"),
        (np.ones((10, 2, 1)), {}, "repeats of one presentation only: no split-half possible"),
        (
            np.where(np.eye(3)[np.arange(6) % 3][:, None] == 1, 1.0, np.nan),  # 1 per item
            {},
            "repeats of one presentation only",
        ),
        (np.ones((10, 2, 3)), {"n_splits": 0}, "n_splits must be an integer >= 1; got 0"),
        (np.ones((10, 2, 3)), {"n_splits": 2.5}, "n_splits must be an integer >= 1"),
        (
            np.where(np.arange(6).reshape(1, 2, 3) == 4, np.inf, np.ones((4, 2, 3))),
            {},
            r"4 infinite value\(s\), e.g. at \(item, unit, repeat\) \[\[0, 1, 1\]",
        ),
    ],
)
def test_split_half_bad_input_raises(responses, kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_half_reliability(responses, **kwargs)
