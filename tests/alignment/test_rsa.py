"""RSA against rsatoolbox, number for number, on numpy and torch float64 inputs."""

import warnings

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

from brainalign.alignment import rsa

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.data import Dataset, TemporalDataset  # noqa: E402
from rsatoolbox.data.noise import cov_from_residuals, prec_from_residuals  # noqa: E402
from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs, calc_rdm, calc_rdm_movie, compare  # noqa: E402

N_COND, N_CHAN, N_RUNS = 12, 20, 3
RSATOOLBOX_NAMES = {
    "spearman": "spearman",
    "pearson": "corr",
    "kendall_tau_a": "tau-a",
    "kendall_tau_b": "kendall",
    "cosine": "cosine",
    "corr_cov": "corr_cov",
    "cosine_cov": "cosine_cov",
}
# rsatoolbox's _build_rdms casts NaN into string descriptors when it averages trials.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
CONDITIONS = np.array([f"c{i:02d}" for i in range(N_COND)])


def _close(actual, desired, rtol=1e-8):
    """Tight check; atol scaled to the data so entries near 0 (crossnobis) still count."""
    actual = actual.numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    scale = max(np.max(np.abs(desired)), 1e-300)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=1e-12 * scale)


def _both(x):
    """The same float64 data as numpy and as a torch tensor."""
    return [np.asarray(x, dtype=np.float64), torch.as_tensor(np.asarray(x, dtype=np.float64))]


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(scope="module")
def patterns(rng):
    return rng.standard_normal((N_COND, N_CHAN)) + rng.standard_normal(N_CHAN)


@pytest.fixture(scope="module")
def precision(rng):
    mixing = rng.standard_normal((N_CHAN, N_CHAN)) * 0.3 + np.eye(N_CHAN)
    return prec_from_residuals(rng.standard_normal((60, N_CHAN)) @ mixing)


@pytest.fixture(scope="module")
def trials(rng):
    """Single measurements: N_RUNS runs of every condition, shuffled, with labels."""
    signal = rng.standard_normal((N_COND, N_CHAN))
    conditions = np.tile(CONDITIONS, N_RUNS)
    runs = np.repeat(np.arange(N_RUNS), N_COND)
    data = signal[np.tile(np.arange(N_COND), N_RUNS)] + rng.standard_normal((len(runs), N_CHAN))
    order = rng.permutation(len(runs))
    return data[order], conditions[order], runs[order]


# ----------------------------------------------------------------------------- RDMs


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("squared_euclidean", "euclidean"),
        ("correlation", "correlation"),
        ("mahalanobis", "mahalanobis"),
    ],
)
def test_rdm_matches_rsatoolbox_calc_rdm(patterns, precision, metric, reference):
    noise = precision if metric == "mahalanobis" else None
    expected = calc_rdm(Dataset(patterns), method=reference, noise=noise).get_vectors()[0]
    for data, prec in zip(_both(patterns), _both(precision), strict=True):
        got = rsa.rdm(data, metric, noise=prec if noise is not None else None)
        assert type(got) is type(data)
        _close(got, expected)


def test_euclidean_is_the_root_of_rsatoolbox_euclidean_and_scipy_over_sqrt_channels(patterns):
    rsatoolbox_squared = calc_rdm(Dataset(patterns), method="euclidean").get_vectors()[0]
    scipy_dist = scipy.spatial.distance.pdist(patterns) / np.sqrt(N_CHAN)
    for data in _both(patterns):
        got = rsa.rdm(data, "euclidean")
        _close(got, np.sqrt(rsatoolbox_squared))
        _close(got, scipy_dist)


def test_cosine_and_correlation_match_scipy_pdist(patterns):
    for metric in ("cosine", "correlation"):
        expected = scipy.spatial.distance.pdist(patterns, metric)
        for data in _both(patterns):
            _close(rsa.rdm(data, metric), expected)


def test_mahalanobis_without_noise_is_squared_euclidean_as_in_rsatoolbox(patterns):
    expected = calc_rdm(Dataset(patterns), method="mahalanobis").get_vectors()[0]
    _close(rsa.rdm(patterns, "mahalanobis"), expected)
    _close(rsa.rdm(patterns, "squared_euclidean"), expected)


@pytest.mark.parametrize("with_noise", [False, True])
def test_crossnobis_matches_rsatoolbox(trials, precision, with_noise):
    data, conditions, runs = trials
    noise = precision if with_noise else None
    dataset = Dataset(data, obs_descriptors={"cond": conditions, "run": runs})
    expected = calc_rdm(
        dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=noise
    ).get_vectors()[0]
    for X, prec in zip(_both(data), _both(precision), strict=True):
        got = rsa.rdm(
            X,
            "crossnobis",
            conditions=conditions,
            partitions=runs,
            noise=prec if with_noise else None,
        )
        assert got.shape == (N_COND * (N_COND - 1) // 2,)
        _close(got, expected)


@pytest.mark.parametrize("metric", ["crossnobis", "mahalanobis"])
def test_diagonal_precision_matches_rsatoolbox_with_the_full_matrix(rng, trials, metric):
    """A diagonal precision takes the channel-scaling path: same numbers as the matrix."""
    data, conditions, runs = trials
    variances = rng.random(N_CHAN) + 0.5
    diag_prec = np.diag(1.0 / variances)
    if metric == "crossnobis":
        dataset = Dataset(data, obs_descriptors={"cond": conditions, "run": runs})
        expected = calc_rdm(
            dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=diag_prec
        ).get_vectors()[0]
        labels = {"conditions": conditions, "partitions": runs}
    else:
        expected = calc_rdm(Dataset(data), method="mahalanobis", noise=diag_prec).get_vectors()[0]
        labels = {}
    for X, prec in zip(_both(data), _both(diag_prec), strict=True):
        _close(rsa.rdm(X, metric, noise=prec, **labels), expected)
    # Dense and diagonal paths agree to rounding: one off-diagonal entry forces the matmul.
    nearly = diag_prec.copy()
    nearly[N_CHAN - 1, 0] = nearly[0, N_CHAN - 1] = 1e-300
    np.testing.assert_allclose(
        rsa.rdm(data, metric, noise=nearly, **labels),
        rsa.rdm(data, metric, noise=diag_prec, **labels),
        rtol=1e-12,
        atol=1e-14,
    )


def test_crossnobis_with_unequal_trials_per_cell_matches_rsatoolbox(rng, trials, precision):
    """Unbalanced cells (2 trials of one condition in one run) use the general sums."""
    data, conditions, runs = trials
    extra = rng.standard_normal((2, N_CHAN))
    data = np.concatenate([data, extra])
    conditions = np.concatenate([conditions, CONDITIONS[[3, 5]]])
    runs = np.concatenate([runs, [0, 2]])
    dataset = Dataset(data, obs_descriptors={"cond": conditions, "run": runs})
    expected = calc_rdm(
        dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=precision
    ).get_vectors()[0]
    for X, prec in zip(_both(data), _both(precision), strict=True):
        _close(
            rsa.rdm(X, "crossnobis", conditions=conditions, partitions=runs, noise=prec), expected
        )


def test_crossnobis_with_two_trials_per_cell_matches_rsatoolbox(rng):
    """Balanced cells with 2 trials each: gathered and summed in cell order."""
    conditions = np.tile(CONDITIONS, 2 * N_RUNS)
    runs = np.repeat(np.arange(N_RUNS), 2 * N_COND)
    data = rng.standard_normal((len(runs), N_CHAN))
    dataset = Dataset(data, obs_descriptors={"cond": conditions, "run": runs})
    expected = calc_rdm(
        dataset, method="crossnobis", descriptor="cond", cv_descriptor="run"
    ).get_vectors()[0]
    for X in _both(data):
        _close(rsa.rdm(X, "crossnobis", conditions=conditions, partitions=runs), expected)


def test_conditions_average_repeated_rows_like_rsatoolbox(trials):
    data, conditions, _ = trials
    dataset = Dataset(data, obs_descriptors={"cond": conditions})
    for metric in ("euclidean", "correlation"):
        expected = calc_rdm(dataset, method=metric, descriptor="cond").get_vectors()[0]
        name = "squared_euclidean" if metric == "euclidean" else metric
        for X in _both(data):
            _close(rsa.rdm(X, name, conditions=conditions), expected)


def test_batched_rdms_equal_one_at_a_time(rng):
    data = rng.standard_normal((4, 3, N_COND, N_CHAN))
    for metric in ("euclidean", "correlation", "cosine", "squared_euclidean"):
        batched = rsa.rdm(data, metric)
        assert batched.shape == (4, 3, N_COND * (N_COND - 1) // 2)
        for i in range(4):
            for j in range(3):
                np.testing.assert_allclose(batched[i, j], rsa.rdm(data[i, j], metric), rtol=1e-12)


def test_rdm_square_round_trip_matches_scipy_squareform(rng):
    vector = rng.standard_normal(N_COND * (N_COND - 1) // 2)
    for v in _both(vector):
        square = rsa.rdm_to_square(v)
        _close(square, scipy.spatial.distance.squareform(vector), rtol=0)
        _close(rsa.square_to_rdm(square), vector, rtol=0)
    batch = rng.standard_normal((2, 3, 10))
    squares = rsa.rdm_to_square(batch)
    assert squares.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(squares[1, 2], scipy.spatial.distance.squareform(batch[1, 2]))


def test_square_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="not n\\*\\(n-1\\)/2"):
        rsa.rdm_to_square(np.ones(7))
    asymmetric = np.arange(9.0).reshape(3, 3)
    np.fill_diagonal(asymmetric, 0)
    with pytest.raises(ValueError, match="not symmetric"):
        rsa.square_to_rdm(asymmetric)
    with pytest.raises(ValueError, match="non-zero diagonal"):
        rsa.square_to_rdm(np.ones((3, 3)))
    with pytest.raises(ValueError, match="n_conditions, n_conditions"):
        rsa.square_to_rdm(np.ones((3, 4)))


# ----------------------------------------------------------------------------- noise


@pytest.mark.parametrize("method", rsa.NOISE_METHODS)
def test_noise_precision_matches_rsatoolbox(rng, method):
    residuals = rng.standard_normal((40, N_CHAN)) @ (np.eye(N_CHAN) + 0.2) + 3.0
    expected_cov = cov_from_residuals(residuals, method=method)
    expected_prec = prec_from_residuals(residuals, method=method)
    for R in _both(residuals):
        _close(rsa.noise_covariance(R, method), expected_cov)
        _close(rsa.noise_precision(R, method), expected_prec)
    _close(
        rsa.noise_precision(residuals, method, dof=30),
        prec_from_residuals(residuals, method=method, dof=30),
    )


def test_diag_noise_precision_is_the_inverse(rng):
    """The reciprocal shortcut gives numpy's and torch's matrix inverse to the last bit or so."""
    residuals = rng.standard_normal((30, N_CHAN)) * (rng.random(N_CHAN) + 0.1)
    covariance = rsa.noise_covariance(residuals, "diag")
    got = rsa.noise_precision(residuals, "diag")
    np.testing.assert_allclose(got, np.linalg.inv(covariance), rtol=1e-15, atol=0)
    assert np.count_nonzero(got) == N_CHAN
    got = rsa.noise_precision(torch.as_tensor(residuals), "diag")
    expected = torch.linalg.inv(torch.as_tensor(covariance)).numpy()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-15, atol=0)


def test_noise_precision_refuses_bad_input():
    with pytest.raises(ValueError, match="use one of"):
        rsa.noise_precision(np.ones((5, 2)), "ledoit")
    with pytest.raises(ValueError, match="n_residuals, n_channels"):
        rsa.noise_precision(np.ones(5))
    with pytest.raises(ValueError, match="dof"):
        rsa.noise_precision(np.random.default_rng(0).standard_normal((5, 2)), dof=0)
    constant_channel = np.random.default_rng(0).standard_normal((5, 3))
    constant_channel[:, 1] = 2.0
    with pytest.raises(ValueError, match="channel 1 has zero noise variance"):
        rsa.noise_precision(constant_channel, "diag")


# ----------------------------------------------------------------------------- comparisons


@pytest.fixture(scope="module")
def rdm_sets(rng):
    """Model RDMs with ties (rounded, a step function) and data RDMs (one also tied)."""
    n_pairs = N_COND * (N_COND - 1) // 2
    models = rng.standard_normal((3, n_pairs))
    models[0] = np.round(models[0])  # heavy ties
    models[1] = (models[1] > 0.3).astype(float)  # binary model: two tie groups
    data = models[2] + rng.standard_normal((4, n_pairs))
    data[3] = np.round(data[3] * 2) / 2
    return models, data


@pytest.mark.parametrize("method", rsa.COMPARISONS)
def test_compare_rdms_matches_rsatoolbox(rdm_sets, method):
    models, data = rdm_sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compare(RDMs(models), RDMs(data), method=RSATOOLBOX_NAMES[method])
    for a, b in zip(_both(models), _both(data), strict=True):
        got = rsa.compare_rdms(a, b, method)
        assert got.shape == (3, 4) and type(got) is type(a)
        _close(got, expected, rtol=1e-10)


def test_rank_methods_match_scipy_with_ties(rdm_sets):
    models, data = rdm_sets
    for i in range(2):
        for j in range(4):
            rho = scipy.stats.spearmanr(models[i], data[j]).statistic
            tau = scipy.stats.kendalltau(models[i], data[j]).statistic
            _close(rsa.compare_rdms(models[i], data[j], "spearman"), rho, rtol=1e-12)
            _close(rsa.compare_rdms(models[i], data[j], "kendall_tau_b"), tau, rtol=1e-12)


@pytest.mark.parametrize("n_cond", [3, 5, 17, 24])
def test_kendall_merge_counting_matches_scipy_at_any_size(rng, n_cond):
    """Sizes below, at and between the powers of two the inversion counter pads to."""
    n_pairs = n_cond * (n_cond - 1) // 2
    a = rng.integers(0, 4, size=(2, n_pairs)).astype(float)  # many ties
    b = np.vstack([rng.standard_normal(n_pairs), rng.integers(0, 3, n_pairs), a[0][::-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau_a = compare(RDMs(a), RDMs(b), method="tau-a")
    for x, y in zip(_both(a), _both(b), strict=True):
        tau_b = rsa.compare_rdms(x, y, "kendall_tau_b")
        _close(rsa.compare_rdms(x, y, "kendall_tau_a"), tau_a, rtol=1e-12)
        for i in range(2):
            for j in range(3):
                expected = scipy.stats.kendalltau(a[i], b[j]).statistic
                _close(tau_b[i, j], expected, rtol=1e-12)


def test_kendall_chunking_gives_the_same_numbers(rdm_sets, monkeypatch):
    models, data = rdm_sets
    whole = rsa.compare_rdms(models, data, "kendall_tau_b")
    monkeypatch.setattr(rsa, "_KENDALL_CHUNK_ELEMENTS", 50)
    np.testing.assert_allclose(rsa.compare_rdms(models, data, "kendall_tau_b"), whole, rtol=1e-14)


@pytest.mark.parametrize("method", rsa.COMPARISONS)
def test_nan_pairs_are_dropped_jointly_like_rsatoolbox(rdm_sets, method):
    models, data = (x.copy() for x in rdm_sets)
    missing = [3, 17, 40]
    models[:, missing] = np.nan
    data[:, missing] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compare(RDMs(models), RDMs(data), method=RSATOOLBOX_NAMES[method])
    for a, b in zip(_both(models), _both(data), strict=True):
        _close(rsa.compare_rdms(a, b, method), expected, rtol=1e-10)


def test_nan_at_different_pairs_is_refused(rdm_sets):
    models, data = (x.copy() for x in rdm_sets)
    models[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN at different pairs"):
        rsa.compare_rdms(models, data)


def test_output_shape_follows_inputs(rdm_sets):
    models, data = rdm_sets
    assert rsa.compare_rdms(models[0], data[0]).shape == ()
    assert rsa.compare_rdms(models[0], data).shape == (4,)
    assert rsa.compare_rdms(models, data[0]).shape == (3,)


def test_undefined_similarity_is_nan_not_zero(rdm_sets):
    models, data = rdm_sets
    constant = np.ones(models.shape[1])
    for method in ("spearman", "pearson", "kendall_tau_b"):
        assert np.isnan(rsa.compare_rdms(constant, data[0], method))


def test_compare_refuses_bad_input(rdm_sets):
    models, data = rdm_sets
    with pytest.raises(ValueError, match="use one of .*'kendall_tau_b'"):
        rsa.compare_rdms(models, data, "kendall")
    with pytest.raises(ValueError, match="same conditions"):
        rsa.compare_rdms(models, data[:, :55])
    with pytest.raises(ValueError, match="not n\\*\\(n-1\\)/2"):
        rsa.compare_rdms(models[:, :60], data[:, :60])
    with pytest.raises(ValueError, match="n_pairs"):
        rsa.compare_rdms(models[None], data)
    bad = data.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        rsa.compare_rdms(models, bad)
    with pytest.raises(TypeError, match="to_backend"):
        rsa.compare_rdms(models, torch.as_tensor(data))


# ----------------------------------------------------------------------------- time-resolved


def test_time_resolved_rdms_match_rsatoolbox_calc_rdm_movie(rng):
    n_times = 5
    epochs = rng.standard_normal((N_COND, N_CHAN, n_times))
    dataset = TemporalDataset(epochs, time_descriptors={"time": np.arange(n_times)})
    for metric, reference in (("correlation", "correlation"), ("squared_euclidean", "euclidean")):
        expected = calc_rdm_movie(dataset, method=reference).get_vectors()
        for X in _both(epochs):
            got = rsa.time_resolved_rdms(X, metric)
            assert got.shape == (n_times, N_COND * (N_COND - 1) // 2)
            _close(got, expected)


def test_time_resolved_crossnobis_matches_rsatoolbox_per_time_point(rng, trials, precision):
    _, conditions, runs = trials
    epochs = rng.standard_normal((len(runs), N_CHAN, 3))
    got = rsa.time_resolved_rdms(
        epochs, "crossnobis", conditions=conditions, partitions=runs, noise=precision
    )
    for t in range(3):
        dataset = Dataset(epochs[:, :, t], obs_descriptors={"cond": conditions, "run": runs})
        expected = calc_rdm(
            dataset, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=precision
        ).get_vectors()[0]
        _close(got[t], expected)


def test_compare_time_resolved_is_model_by_time(rng, rdm_sets):
    models, _ = rdm_sets
    data_rdms = models[2] + rng.standard_normal((6, models.shape[1]))
    expected = compare(RDMs(models), RDMs(data_rdms), method="spearman")
    for m, d in zip(_both(models), _both(data_rdms), strict=True):
        got = rsa.compare_time_resolved(m, d, "spearman")
        assert got.shape == (3, 6)
        _close(got, expected, rtol=1e-10)
        assert rsa.compare_time_resolved(m[0], d).shape == (6,)
    with pytest.raises(ValueError, match="n_times, n_pairs"):
        rsa.compare_time_resolved(models, data_rdms[0])


# ----------------------------------------------------------------------------- noise ceiling


@pytest.mark.parametrize("method", rsa.COMPARISONS)
def test_noise_ceiling_matches_rsatoolbox_boot_noise_ceiling(rng, method):
    n_pairs = N_COND * (N_COND - 1) // 2
    subjects = 2.0 * rng.standard_normal(n_pairs) + rng.standard_normal((5, n_pairs)) + 5.0
    subjects[4] = np.round(subjects[4])  # ties
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = boot_noise_ceiling(RDMs(subjects), method=RSATOOLBOX_NAMES[method])
    for S in _both(subjects):
        lower, upper = rsa.rdm_noise_ceiling(S, method)
        _close(lower, expected[0], rtol=1e-10)
        _close(upper, expected[1], rtol=1e-10)
        assert float(lower) < float(upper)


def test_noise_ceiling_with_shared_nans_matches_rsatoolbox(rng):
    n_pairs = N_COND * (N_COND - 1) // 2
    subjects = rng.standard_normal(n_pairs) + rng.standard_normal((4, n_pairs))
    subjects[:, [1, 30]] = np.nan
    for method in ("spearman", "pearson", "cosine"):
        expected = boot_noise_ceiling(RDMs(subjects), method=RSATOOLBOX_NAMES[method])
        _close(np.array(rsa.rdm_noise_ceiling(subjects, method)), np.array(expected), 1e-10)


def test_noise_ceiling_needs_two_subjects():
    with pytest.raises(ValueError, match="n_subjects >= 2"):
        rsa.rdm_noise_ceiling(np.ones((1, 10)))
    with pytest.raises(ValueError, match="n_subjects >= 2"):
        rsa.rdm_noise_ceiling(np.ones(10))


# ----------------------------------------------------------------------------- bad input


def test_rdm_refuses_bad_input(patterns, trials, precision):
    data, conditions, runs = trials
    with pytest.raises(ValueError, match="use one of .*'crossnobis'"):
        rsa.rdm(patterns, "manhattan")
    with pytest.raises(ValueError, match="n_conditions, n_channels"):
        rsa.rdm(patterns[0])
    with pytest.raises(ValueError, match="at least 2"):
        rsa.rdm(patterns[:1])
    nan_data = patterns.copy()
    nan_data[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rsa.rdm(nan_data)
    with pytest.raises(ValueError, match="precision matrix"):
        rsa.rdm(patterns, "mahalanobis", noise=precision[:5, :5])
    with pytest.raises(ValueError, match="only used by"):
        rsa.rdm(patterns, "correlation", noise=precision)
    with pytest.raises(ValueError, match="zero variance"):
        rsa.rdm(np.vstack([patterns, np.ones(N_CHAN)]), "correlation")
    with pytest.raises(ValueError, match="one label per row"):
        rsa.rdm(patterns, conditions=CONDITIONS[:5])


def test_crossnobis_refuses_missing_labels_and_single_partition(trials):
    data, conditions, runs = trials
    with pytest.raises(ValueError, match="needs conditions="):
        rsa.rdm(data, "crossnobis", partitions=runs)
    with pytest.raises(ValueError, match="at least 2 partitions"):
        rsa.rdm(data, "crossnobis", conditions=conditions, partitions=np.zeros(len(runs)))
    keep = ~((runs == 1) & (conditions == "c03"))
    with pytest.raises(ValueError, match="'c03' has no measurement in partition 1"):
        rsa.rdm(data[keep], "crossnobis", conditions=conditions[keep], partitions=runs[keep])
