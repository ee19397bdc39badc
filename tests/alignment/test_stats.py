"""Tests for brainalign.alignment.stats: permutation tests, bootstrap, corrections."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import squareform

from brainalign.alignment import stats as S
from brainalign.alignment.stats import permutation as permutation_module

# ------------------------------------------------------------------------- helpers


def _pearson(a, b):
    """Column-wise Pearson r with scipy (the reference)."""
    return scipy.stats.pearsonr(a, b, axis=0).statistic


def _data(n=40, units=6, signal=0.4, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, units))
    R = signal * P + rng.normal(size=(n, units))
    return P, R


def _ar1(rng, n, units, phi):
    x = np.empty((n, units))
    x[0] = rng.normal(size=units)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal(size=units)
    return x


def _t(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


# ------------------------------------------------------- permutation_test: the null


@pytest.mark.parametrize(
    ("null", "kwargs"),
    [("circular_shift", {"min_shift": 5}), ("block", {"block_size": 7}), ("shuffle", {})],
)
def test_null_matches_scipy_pearson_on_permuted_rows(null, kwargs):
    P, R = _data(n=41)
    result = S.permutation_test(
        P, R, n_permutations=30, design="event", null=null, seed=3, return_null=True, **kwargs
    )
    indices = S.permutation_indices(41, 30, null=null, seed=3, **kwargs)
    reference = np.stack([_pearson(P[order], R) for order in indices])
    assert_allclose(result.null, reference, rtol=1e-10, atol=1e-13)
    assert_allclose(result.observed, _pearson(P, R), rtol=1e-12)
    # p-values from the reference null, Phipson & Smyth; ties (e.g. the identity order,
    # drawn here for the block null) count, whatever the rounding.
    expected_p = (1 + (reference >= result.observed - 1e-12).sum(0)) / 31
    assert_allclose(result.p_values, expected_p, rtol=0)
    max_null = reference.max(axis=1)
    expected_fwe = (1 + (max_null[:, None] >= result.observed[None, :] - 1e-12).sum(0)) / 31
    assert_allclose(result.p_fwe, expected_fwe, rtol=0)
    assert np.all(result.p_fwe >= result.p_values)
    assert result.method == null and result.null.shape == (30, 6)


def test_circular_shift_indices_roll_the_predictions():
    indices = S.permutation_indices(50, 200, null="circular_shift", seed=0)
    shifts = (np.arange(50)[None, :] - indices)[:, 0] % 50
    for order, shift in zip(indices[:5], shifts[:5], strict=True):
        x = np.arange(50.0)
        assert_array_equal(x[order], np.roll(x, shift))
    # default min_shift is 10% of the samples
    assert shifts.min() >= 5 and shifts.max() <= 45
    assert len(np.unique(shifts)) > 30


def test_block_indices_are_permutations_of_contiguous_blocks():
    indices = S.permutation_indices(23, 50, null="block", block_size=5, seed=1)
    assert_array_equal(np.sort(indices, axis=1), np.tile(np.arange(23), (50, 1)))
    blocks = indices[:, :20].reshape(50, 4, 5)
    # Each slot holds one whole block, in order; the 3 leftover samples stay at the end.
    assert_array_equal(blocks - blocks[:, :, :1], np.broadcast_to(np.arange(5), (50, 4, 5)))
    assert np.all(blocks[:, :, 0] % 5 == 0)
    assert_array_equal(indices[:, 20:], np.tile([20, 21, 22], (50, 1)))
    assert len({tuple(row) for row in blocks[:, :, 0]}) > 15


def test_default_null_follows_the_design():
    P, R = _data()
    assert S.permutation_test(P, R, n_permutations=5).method == "circular_shift"
    assert S.permutation_test(P, R, n_permutations=5, design="event").method == "shuffle"


def test_shuffle_on_continuous_design_warns_and_event_does_not():
    P, R = _data()
    with pytest.warns(UserWarning, match="autocorrelation"):
        S.permutation_test(P, R, n_permutations=5, null="shuffle")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.permutation_test(P, R, n_permutations=5, design="event", null="shuffle")


# --------------------------------------------------- permutation_test: validity


def test_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(11)
    P, R = rng.normal(size=(30, 3000)), rng.normal(size=(30, 3000))
    result = S.permutation_test(P, R, n_permutations=99, design="event", seed=2)
    # Under the null P(p <= k / 100) = k / 100 exactly (discrete, Phipson & Smyth).
    for level in (0.05, 0.2, 0.5, 0.8):
        assert abs(np.mean(result.p_values <= level) - level) < 0.03
    assert result.p_values.min() >= 0.01 and result.p_values.max() <= 1.0


def test_circular_shift_keeps_autocorrelation_and_shuffle_does_not():
    """Independent AR(1) series: a shuffle null gives far too many false positives."""
    rng = np.random.default_rng(5)
    P, R = _ar1(rng, 120, 400, 0.9), _ar1(rng, 120, 400, 0.9)
    kwargs = {"n_permutations": 99, "alternative": "two-sided", "seed": 1}
    with pytest.warns(UserWarning):
        shuffled = S.permutation_test(P, R, null="shuffle", **kwargs)
    shifted = S.permutation_test(P, R, **kwargs)
    blocked = S.permutation_test(P, R, null="block", block_size=20, **kwargs)
    assert np.mean(shuffled.p_values <= 0.05) > 0.3
    assert np.mean(shifted.p_values <= 0.05) < 0.1
    assert np.mean(blocked.p_values <= 0.05) < 0.15


def test_a_real_effect_is_detected_with_fwe_control():
    P, R = _data(n=200, units=20, signal=0.0, seed=4)
    R[:, :3] += 0.8 * P[:, :3]
    result = S.permutation_test(P, R, n_permutations=199, design="event")
    assert np.all(result.p_fwe[:3] == 1 / 200)
    assert np.all(result.p_fwe[3:] > 0.05)


def test_alternatives():
    P, R = _data(seed=8)
    kwargs = {"n_permutations": 50, "design": "event", "return_null": True, "seed": 9}
    greater = S.permutation_test(P, R, **kwargs)
    less = S.permutation_test(-P, R, alternative="less", **kwargs)
    assert_allclose(less.p_values, greater.p_values)
    assert_allclose(less.p_fwe, greater.p_fwe)
    both = S.permutation_test(P, R, alternative="two-sided", **kwargs)
    expected = (1 + (np.abs(both.null) >= np.abs(both.observed)).sum(0)) / 51
    assert_allclose(both.p_values, expected)


def test_constant_column_is_nan_and_left_out_of_the_max():
    P, R = _data(seed=2)
    P[:, 1] = 3.0
    result = S.permutation_test(P, R, n_permutations=40, design="event", return_null=True)
    assert np.isnan(result.observed[1]) and np.isnan(result.p_values[1])
    assert np.isnan(result.p_fwe[1]) and np.all(np.isnan(result.null[:, 1]))
    others = np.delete(np.arange(6), 1)
    assert np.all(np.isfinite(result.p_fwe[others]))
    max_null = result.null[:, others].max(axis=1)
    expected = (1 + (max_null[:, None] >= result.observed[None, others]).sum(0)) / 41
    assert_allclose(result.p_fwe[others], expected)


@pytest.mark.parametrize(
    ("null", "kwargs"), [("circular_shift", {}), ("block", {"block_size": 6}), ("shuffle", {})]
)
def test_permutation_test_numpy_and_torch_agree(null, kwargs):
    P, R = _data(n=37)
    args = {"n_permutations": 25, "design": "event", "null": null, "return_null": True}
    np_result = S.permutation_test(P, R, **args, **kwargs)
    torch_result = S.permutation_test(_t(P), _t(R), **args, **kwargs)
    assert isinstance(torch_result.p_values, torch.Tensor)
    for field in ("observed", "p_values", "p_fwe", "null"):
        assert_allclose(getattr(torch_result, field).numpy(), getattr(np_result, field), atol=1e-14)


@pytest.mark.parametrize(
    ("null", "kwargs"), [("circular_shift", {}), ("block", {"block_size": 5}), ("shuffle", {})]
)
def test_batches_give_the_same_answer(monkeypatch, null, kwargs):
    P, R = _data(n=30)
    args = {"n_permutations": 20, "design": "event", "null": null, "return_null": True}
    whole = S.permutation_test(P, R, **args, **kwargs)
    monkeypatch.setattr(
        permutation_module, "_BATCH_FLOATS", 6 * 6 * 3
    )  # batches of 3 permutations or fewer
    monkeypatch.setattr(permutation_module, "_NULL_BATCH_FLOATS", 6 * 6 * 3)
    monkeypatch.setattr(permutation_module, "_GATHER_FLOATS", 30 * 6 * 3)
    batched = S.permutation_test(P, R, **args, **kwargs)
    assert_array_equal(batched.null, whole.null)
    assert_array_equal(batched.p_values, whole.p_values)
    assert_array_equal(batched.p_fwe, whole.p_fwe)


@pytest.mark.parametrize("null", ["circular_shift", "block", "shuffle"])
def test_null_is_not_kept_unless_asked(monkeypatch, null):
    """Without return_null the memory is a few batches, not (n_permutations, n_units)."""
    import tracemalloc

    monkeypatch.setattr(permutation_module, "_NULL_BATCH_FLOATS", 2**16)  # 0.5 MB batches
    monkeypatch.setattr(permutation_module, "_GATHER_FLOATS", 2**16)
    rng = np.random.default_rng(3)
    P = rng.standard_normal((30, 2000))
    R = 0.2 * P + rng.standard_normal((30, 2000))
    n_permutations = 3000
    full_null_bytes = n_permutations * P.shape[1] * 8  # 48 MB
    extra = {"block_size": 5} if null == "block" else {}
    tracemalloc.start()
    result = S.permutation_test(
        P, R, n_permutations=n_permutations, design="event", null=null, **extra
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.null is None
    assert peak < full_null_bytes / 4, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_permutations": 0}, "n_permutations must be at least 1"),
        ({"null": "block"}, "needs block_size"),
        ({"null": "block", "block_size": 50}, "block_size=50 is too big"),
        ({"null": "block", "block_size": 30}, "at most 20"),
        ({"min_shift": 21}, "min_shift=21"),
        ({"design": "blocked"}, "design='blocked'"),
        ({"null": "phase"}, "null='phase'"),
        ({"alternative": "bigger"}, "alternative='bigger'"),
        ({"metric": "spearman"}, "metric='spearman'"),
        ({"seed": -1}, "seed must be at least 0"),
    ],
)
def test_permutation_test_bad_options(kwargs, match):
    P, R = _data(n=40)
    with pytest.raises(ValueError, match=match):
        S.permutation_test(P, R, **kwargs)


def test_permutation_test_bad_data():
    P, R = _data(n=40)
    with pytest.raises(ValueError, match="same shape"):
        S.permutation_test(P, R[:, :3])
    with pytest.raises(ValueError, match="same shape"):
        S.permutation_test(P, R[:30])
    with pytest.raises(ValueError, match="at least 3 samples"):
        S.permutation_test(P[:2], R[:2])
    R[3, 2] = np.nan
    with pytest.raises(ValueError, match="responses holds NaN"):
        S.permutation_test(P, R)


# ----------------------------------------------- p-values and max-stat from a null


def test_permutation_p_values_tiny_exact():
    null = np.array([[0.1, -0.5], [0.5, 0.2], [0.7, -0.9], [-1.0, 0.0]])
    observed = np.array([0.5, -0.5])
    assert_allclose(S.permutation_p_values(observed, null), [3 / 5, 4 / 5])
    assert_allclose(S.permutation_p_values(observed, null, alternative="less"), [4 / 5, 3 / 5])
    assert_allclose(S.permutation_p_values(observed, null, alternative="two-sided"), [4 / 5, 3 / 5])
    # A tie within rounding counts as a tie.
    assert S.permutation_p_values(np.array(0.3), np.array([0.1 + 0.2])) == 1.0


def test_max_statistic_correction_any_shape():
    rng = np.random.default_rng(3)
    null = rng.normal(size=(60, 4, 3, 2))
    observed = rng.normal(size=(4, 3, 2)) * 2
    observed[1, 2, 0] = np.nan
    p_fwe = S.max_statistic_correction(observed, null)
    max_null = null.reshape(60, -1).max(axis=1)
    expected = np.array(
        [(1 + np.sum(max_null >= o)) / 61 if np.isfinite(o) else np.nan for o in observed.ravel()]
    ).reshape(4, 3, 2)
    assert_allclose(p_fwe, expected)
    two = S.max_statistic_correction(observed, null, alternative="two-sided")
    max_abs = np.abs(null).reshape(60, -1).max(axis=1)
    expected_two = [
        (1 + np.sum(max_abs >= abs(o))) / 61 if np.isfinite(o) else np.nan for o in observed.ravel()
    ]
    assert_allclose(two.ravel(), expected_two)
    assert_allclose(S.max_statistic_correction(_t(observed), _t(null)).numpy(), expected)
    with pytest.raises(ValueError, match="null must have shape"):
        S.max_statistic_correction(observed, null[:, :3])


# ------------------------------------------------------------------------ Mantel


def _rdm(rng, n, noise=0.0, base=None):
    if base is None:
        x = rng.normal(size=(n, 4))
        base = squareform(scipy.spatial.distance.pdist(x))
    return base + noise * squareform(rng.random(n * (n - 1) // 2))


def _recorded_scipy_mantel(a, b, method, n_resamples, seed, alternative="greater"):
    """scipy.stats.permutation_test relabelling a's stimuli; records its permutations."""
    calls = []
    iu = np.triu_indices(a.shape[0], k=1)
    corr = scipy.stats.spearmanr if method == "spearman" else scipy.stats.pearsonr

    def statistic(order):
        calls.append(np.array(order))
        return corr(a[np.ix_(order, order)][iu], b[iu]).statistic

    res = scipy.stats.permutation_test(
        (np.arange(a.shape[0]),),
        statistic,
        permutation_type="pairings",
        vectorized=False,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=seed,
    )
    return res, np.array(calls[1:])


@pytest.mark.parametrize("method", ["spearman", "pearson"])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_mantel_matches_scipy_permutation_test_same_permutations(method, alternative):
    rng = np.random.default_rng(0)
    a = _rdm(rng, 9)
    b = _rdm(rng, 9, noise=1.5, base=a)
    res, perms = _recorded_scipy_mantel(a, b, method, 199, 4, alternative)
    ours = S.mantel_test(
        a, b, method=method, alternative=alternative, permutations=perms, return_null=True
    )
    assert_allclose(ours.statistic, res.statistic, rtol=1e-12)
    assert_allclose(ours.null, res.null_distribution, rtol=1e-10, atol=1e-13)
    assert ours.p_value == pytest.approx(res.pvalue, rel=1e-12)
    assert ours.n_permutations == 199


def test_mantel_exact_null_equals_scipy_enumeration():
    rng = np.random.default_rng(1)
    a = np.round(_rdm(rng, 5), 1)  # rounding makes ties in the ranks
    b = np.round(_rdm(rng, 5, noise=0.5, base=a), 1)
    iu = np.triu_indices(5, k=1)
    res = scipy.stats.permutation_test(
        (np.arange(5),),
        lambda order: scipy.stats.spearmanr(a[np.ix_(order, order)][iu], b[iu]).statistic,
        permutation_type="pairings",
        vectorized=False,
        n_resamples=np.inf,
    )
    all_perms = np.array(list(itertools.permutations(range(5))))
    ours = S.mantel_test(a, b, permutations=all_perms, return_null=True)
    assert_allclose(np.sort(ours.null), np.sort(res.null_distribution), rtol=1e-12, atol=1e-14)
    count = np.sum(res.null_distribution >= ours.statistic - 1e-12)
    assert ours.p_value == pytest.approx((1 + count) / 121)
    assert ours.statistic == pytest.approx(scipy.stats.spearmanr(a[iu], b[iu]).statistic)


def test_mantel_random_permutations_condensed_and_torch():
    rng = np.random.default_rng(2)
    a = _rdm(rng, 12)
    b = _rdm(rng, 12, noise=2.0, base=a)
    square = S.mantel_test(a, b, n_permutations=300, seed=7, return_null=True)
    condensed = S.mantel_test(squareform(a), squareform(b), n_permutations=300, seed=7)
    on_torch = S.mantel_test(_t(a), _t(b), n_permutations=300, seed=7, return_null=True)
    assert condensed.p_value == square.p_value == on_torch.p_value
    assert_allclose(on_torch.null.numpy(), square.null, atol=1e-14)
    assert square.p_value < 0.01 and square.null.shape == (300,)
    # Independent RDMs: not significant.
    assert S.mantel_test(a, _rdm(rng, 12), n_permutations=300).p_value > 0.05


def test_mantel_bad_input():
    rng = np.random.default_rng(3)
    a = _rdm(rng, 6)
    with pytest.raises(ValueError, match="6 items but rdm_b has 5"):
        S.mantel_test(a, a[:5, :5])
    asym = a.copy()
    asym[0, 1] += 1
    with pytest.raises(ValueError, match="not symmetric"):
        S.mantel_test(asym, a)
    with pytest.raises(ValueError, match="all dissimilarities equal"):
        S.mantel_test(a, np.ones((6, 6)) - np.eye(6))
    with pytest.raises(ValueError, match="not a condensed RDM"):
        S.mantel_test(np.arange(7.0), np.arange(7.0))
    with pytest.raises(ValueError, match="permutation of 0..5"):
        S.mantel_test(a, a, permutations=np.zeros((3, 6), dtype=int))
    with pytest.raises(ValueError, match="n_permutations must be at least 1"):
        S.mantel_test(a, a, n_permutations=0)


# ---------------------------------------------------------------------- bootstrap


def test_bootstrap_mean_percentile_is_numpy_percentile_of_the_resamples():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(15, 4, 3))
    result = S.bootstrap_mean(scores, n_resamples=500, seed=3, return_distribution=True)
    indices = S.bootstrap_indices(15, 500, seed=3)
    dist = scores[indices].mean(axis=1)
    assert_allclose(result.distribution, dist, rtol=1e-12)
    assert_allclose(result.low, np.percentile(dist, 2.5, axis=0), rtol=1e-12)
    assert_allclose(result.high, np.percentile(dist, 97.5, axis=0), rtol=1e-12)
    assert_allclose(result.estimate, scores.mean(0))
    assert_allclose(result.standard_error, dist.std(axis=0, ddof=1), rtol=1e-12)
    assert result.low.shape == (4, 3)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_mean_close_to_scipy_bootstrap(method):
    rng = np.random.default_rng(1)
    x = rng.exponential(size=25)  # skewed: BCa and percentile differ
    ours = S.bootstrap_mean(x[:, None], n_resamples=20000, method=method, seed=0)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=20000, method="BCa" if method == "bca" else method, rng=0
    )
    assert_allclose(ours.low[0], ref.confidence_interval.low, atol=0.01)
    assert_allclose(ours.high[0], ref.confidence_interval.high, atol=0.015)
    assert_allclose(ours.standard_error[0], ref.standard_error, rtol=0.03)


def _bca_reference(dist, estimate, jackknife, confidence_level=0.95):
    """BCa bounds with scipy.stats.bootstrap's formula, on a given distribution."""
    from scipy.special import ndtr, ndtri

    n_resamples = dist.shape[0]
    z0 = ndtri(((dist < estimate).sum(0) + (dist <= estimate).sum(0)) / (2 * n_resamples))
    dev = jackknife.mean(0) - jackknife
    accel = (dev**3).sum(0) / (6 * ((dev**2).sum(0)) ** 1.5)
    za = ndtri((1 - confidence_level) / 2)
    lo_q = ndtr(z0 + (z0 + za) / (1 - accel * (z0 + za)))
    hi_q = ndtr(z0 + (z0 - za) / (1 - accel * (z0 - za)))
    low = [np.percentile(dist[:, j], 100 * q) for j, q in enumerate(lo_q)]
    high = [np.percentile(dist[:, j], 100 * q) for j, q in enumerate(hi_q)]
    return np.array(low), np.array(high)


def test_bca_mean_matches_scipy_formula_on_our_distribution():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(20, 3))
    res = S.bootstrap_mean(x, n_resamples=400, method="bca", seed=1, return_distribution=True)
    jack = np.stack([np.delete(x, i, axis=0).mean(0) for i in range(20)])
    low, high = _bca_reference(res.distribution, x.mean(0), jack)
    assert_allclose(res.low, low, rtol=1e-12)
    assert_allclose(res.high, high, rtol=1e-12)
    assert not np.allclose(res.low, np.percentile(res.distribution, 2.5, axis=0))


def test_bca_correlation_matches_scipy_formula_with_leave_one_stimulus_out():
    P, R = _data(n=25, units=3, signal=0.7, seed=12)
    res = S.bootstrap_correlation(P, R, n_resamples=300, method="bca", return_distribution=True)
    jack = np.stack([_pearson(np.delete(P, i, 0), np.delete(R, i, 0)) for i in range(25)])
    low, high = _bca_reference(res.distribution, _pearson(P, R), jack)
    assert_allclose(res.low, low, rtol=1e-10)
    assert_allclose(res.high, high, rtol=1e-10)


def test_bootstrap_mean_coverage():
    rng = np.random.default_rng(4)
    scores = rng.normal(loc=1.0, size=(30, 400))  # 400 independent experiments
    result = S.bootstrap_mean(scores, n_resamples=400)
    coverage = np.mean((result.low <= 1.0) & (result.high >= 1.0))
    assert 0.89 <= coverage <= 0.98


def _manual_two_level(P, R, n_resamples, seed, subjects=True, stimuli=True):
    rng = np.random.default_rng(seed)
    n_subjects, n = P.shape[:2]
    subj = rng.integers(0, n_subjects, (n_resamples, n_subjects)) if subjects else None
    stim = rng.integers(0, n, (n_resamples, n)) if stimuli else None
    out = []
    for b in range(n_resamples):
        rows = stim[b] if stimuli else np.arange(n)
        who = subj[b] if subjects else np.arange(n_subjects)
        out.append(np.mean([_pearson(P[s][rows], R[s][rows]) for s in who], axis=0))
    return np.array(out)


def test_bootstrap_correlation_stimuli_matches_scipy_pearson_on_resampled_rows():
    P, R = _data(n=30, units=4)
    res = S.bootstrap_correlation(P, R, n_resamples=60, seed=5, return_distribution=True)
    expected = _manual_two_level(P[None], R[None], 60, 5, subjects=False)
    assert_allclose(res.distribution, expected, rtol=1e-10, atol=1e-13)
    assert_allclose(res.estimate, _pearson(P, R), rtol=1e-12)
    assert_allclose(res.low, np.percentile(expected, 2.5, axis=0), rtol=1e-10)


@pytest.mark.parametrize(
    ("resample", "subjects", "stimuli"), [("both", True, True), ("subjects", True, False)]
)
def test_bootstrap_correlation_two_level(resample, subjects, stimuli):
    rng = np.random.default_rng(6)
    P = rng.normal(size=(4, 25, 3))
    R = 0.5 * P + rng.normal(size=(4, 25, 3))
    res = S.bootstrap_correlation(
        P, R, resample=resample, n_resamples=40, seed=2, return_distribution=True
    )
    expected = _manual_two_level(P, R, 40, 2, subjects=subjects, stimuli=stimuli)
    assert_allclose(res.distribution, expected, rtol=1e-10, atol=1e-13)
    per_subject = np.stack([_pearson(P[s], R[s]) for s in range(4)])
    assert_allclose(res.estimate, per_subject.mean(0), rtol=1e-12)
    if resample == "subjects":
        same = S.bootstrap_mean(per_subject, n_resamples=40, seed=2)
        assert_allclose(res.low, same.low, rtol=1e-12)


def test_bootstrap_correlation_coverage():
    rng = np.random.default_rng(7)
    rho, n, units = 0.5, 80, 300
    x = rng.normal(size=(n, units))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, units))
    res = S.bootstrap_correlation(x, y, n_resamples=400, seed=1)
    coverage = np.mean((res.low <= rho) & (res.high >= rho))
    assert 0.88 <= coverage <= 0.98


def test_bootstrap_correlation_bca_close_to_scipy():
    P, R = _data(n=40, units=1, signal=0.6, seed=9)

    def pearson(x, y, axis):
        return scipy.stats.pearsonr(x, y, axis=axis).statistic

    ref = scipy.stats.bootstrap(
        (P[:, 0], R[:, 0]), pearson, paired=True, n_resamples=10000, method="BCa", rng=0
    )
    ours = S.bootstrap_correlation(P, R, n_resamples=10000, method="bca")
    assert_allclose(ours.low[0], ref.confidence_interval.low, atol=0.015)
    assert_allclose(ours.high[0], ref.confidence_interval.high, atol=0.015)


def test_bootstrap_difference_of_score_tables():
    rng = np.random.default_rng(8)
    a = rng.normal(0.3, 0.1, size=(12, 5))
    b = a - rng.normal(0.05, 0.05, size=(12, 5))
    b[:, 4] = a[:, 4]  # identical models on the last unit
    res = S.bootstrap_difference(a, b, n_resamples=300, seed=1, return_distribution=True)
    same = S.bootstrap_mean(a - b, n_resamples=300, seed=1)
    assert_allclose(res.low, same.low)
    assert_allclose(res.estimate, (a - b).mean(0))
    d = res.distribution
    expected_p = np.minimum(1, 2 * np.minimum((1 + (d <= 0).sum(0)), (1 + (d >= 0).sum(0))) / 301)
    assert_allclose(res.p_value, expected_p)
    assert np.all(res.p_value[:4] < 0.05) and res.p_value[4] == 1.0


@pytest.mark.parametrize("resample", ["stimuli", "both"])
def test_bootstrap_difference_of_predictions_uses_the_same_resamples(resample):
    rng = np.random.default_rng(9)
    R = rng.normal(size=(3, 30, 4))
    Pa = R + rng.normal(size=R.shape)
    Pb = R + 2 * rng.normal(size=R.shape)
    kwargs = {"resample": resample, "n_resamples": 50, "seed": 4, "return_distribution": True}
    diff = S.bootstrap_difference(Pa, Pb, R, **kwargs)
    ra = S.bootstrap_correlation(Pa, R, **kwargs)
    rb = S.bootstrap_correlation(Pb, R, **kwargs)
    assert_allclose(diff.distribution, ra.distribution - rb.distribution, atol=1e-14)
    assert_allclose(diff.estimate, ra.estimate - rb.estimate, atol=1e-14)
    assert diff.p_value.shape == (4,)


def test_bootstrap_numpy_and_torch_agree():
    rng = np.random.default_rng(10)
    P = rng.normal(size=(3, 20, 4))
    R = P + rng.normal(size=P.shape)
    for numpy_result, torch_result in [
        (
            S.bootstrap_correlation(P, R, resample="both", n_resamples=30),
            S.bootstrap_correlation(_t(P), _t(R), resample="both", n_resamples=30),
        ),
        (
            S.bootstrap_correlation(P[0], R[0], n_resamples=30, method="bca"),
            S.bootstrap_correlation(_t(P[0]), _t(R[0]), n_resamples=30, method="bca"),
        ),
        (
            S.bootstrap_mean(P[:, 0], n_resamples=30, method="bca"),
            S.bootstrap_mean(_t(P[:, 0]), n_resamples=30, method="bca"),
        ),
        (
            S.bootstrap_difference(P, R, R, resample="both", n_resamples=30),
            S.bootstrap_difference(_t(P), _t(R), _t(R), resample="both", n_resamples=30),
        ),
    ]:
        assert isinstance(torch_result.low, torch.Tensor)
        for field in ("estimate", "low", "high", "standard_error"):
            assert_allclose(
                getattr(torch_result, field).numpy(), getattr(numpy_result, field), atol=1e-13
            )


def test_bootstrap_bad_input():
    P, R = _data(n=20)
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        S.bootstrap_mean(P, n_resamples=0)
    with pytest.raises(ValueError, match="confidence_level"):
        S.bootstrap_mean(P, confidence_level=95)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        S.bootstrap_mean(P[:1])
    with pytest.raises(ValueError, match="only be resampled by stimuli"):
        S.bootstrap_correlation(P, R, resample="subjects")
    with pytest.raises(ValueError, match="method='bca' is not available"):
        S.bootstrap_correlation(
            P[None].repeat(2, 0), R[None].repeat(2, 0), resample="both", method="bca"
        )
    with pytest.raises(ValueError, match="must match"):
        S.bootstrap_correlation(P, R[:10])
    with pytest.raises(ValueError, match="method='basic'"):
        S.bootstrap_mean(P, method="basic")
    with pytest.raises(ValueError, match="same shape"):
        S.bootstrap_difference(P, R[:, :2])
    with pytest.raises(ValueError, match="score tables can only"):
        S.bootstrap_difference(P, R, resample="stimuli")
    P[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        S.bootstrap_mean(P)


# ------------------------------------------------------------------------ fdr_bh


def test_fdr_bh_matches_scipy_exactly():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.random(200), rng.random(50) * 1e-3, [0.0, 1.0, 0.5, 0.5]])
    rejected, adjusted = S.fdr_bh(p, alpha=0.1)
    assert_array_equal(adjusted, scipy.stats.false_discovery_control(p, method="bh"))
    # The Benjamini-Hochberg step-up rule, by its definition.
    ordered = np.sort(p)
    below = np.flatnonzero(ordered <= np.arange(1, p.size + 1) * 0.1 / p.size)
    assert_array_equal(rejected, p <= ordered[below.max()])


def test_fdr_bh_keeps_shape_skips_nan_and_runs_on_torch():
    rng = np.random.default_rng(1)
    p = rng.random((6, 4, 3)) ** 3
    p[2, 1, 0] = p[5, 3, 2] = np.nan
    rejected, adjusted = S.fdr_bh(p)
    assert adjusted.shape == p.shape and rejected.dtype == bool
    finite = ~np.isnan(p)
    assert_array_equal(adjusted[finite], scipy.stats.false_discovery_control(p[finite]))
    assert np.all(np.isnan(adjusted[~finite])) and not rejected[~finite].any()
    assert_array_equal(rejected, np.nan_to_num(adjusted, nan=1) <= 0.05)
    t_rejected, t_adjusted = S.fdr_bh(_t(p))
    assert_allclose(t_adjusted.numpy(), adjusted, rtol=1e-15)
    assert_array_equal(t_rejected.numpy(), rejected)
    all_nan_rejected, all_nan = S.fdr_bh(np.full(3, np.nan))
    assert np.all(np.isnan(all_nan)) and not all_nan_rejected.any()


def test_fdr_bh_bad_input():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        S.fdr_bh(np.array([0.1, 1.2]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        S.fdr_bh(np.array([-0.1, 0.2]))
    with pytest.raises(ValueError, match="alpha must be strictly between"):
        S.fdr_bh(np.array([0.1]), alpha=5)
