"""Bootstrap evaluation of model RDMs, number for number against rsatoolbox's
eval_bootstrap_pattern / eval_bootstrap_rdm / eval_bootstrap driven by the same indices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.spatial.distance import squareform

from brainalign.alignment.rsa import compare_rdms, rdm_noise_ceiling
from brainalign.alignment.rsa_inference import (
    BOOTSTRAP_COMPARISONS,
    bootstrap_rdm_evaluation,
)

evaluate = pytest.importorskip("rsatoolbox.inference.evaluate")
from rsatoolbox.model import ModelFixed  # noqa: E402
from rsatoolbox.rdm import RDMs  # noqa: E402

#: Our method name -> rsatoolbox's.
RSATOOLBOX = {
    "spearman": "spearman",
    "pearson": "corr",
    "cosine": "cosine",
    "kendall_tau_a": "tau-a",
    "kendall_tau_b": "kendall",
}
EVALUATORS = {
    "stimuli": "eval_bootstrap_pattern",
    "subjects": "eval_bootstrap_rdm",
    "both": "eval_bootstrap",
}
N_COND = 12
N_PAIRS = N_COND * (N_COND - 1) // 2


@pytest.fixture(scope="module")
def rdms() -> tuple[np.ndarray, np.ndarray]:
    """3 models (one categorical, with many ties) and 5 data RDMs (one with ties)."""
    rng = np.random.default_rng(1)
    data = rng.random((5, N_PAIRS))
    data[4] = np.round(data[4] * 4) / 4
    models = 0.5 * data[:3] + rng.random((3, N_PAIRS))
    models[2] = np.round(models[2] * 2)
    return models, data


def _models(models: np.ndarray) -> list[ModelFixed]:
    return [ModelFixed(f"m{i}", RDMs(m[None, :])) for i, m in enumerate(models)]


def _recording_samplers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[np.ndarray]]:
    """Wrap rsatoolbox's samplers so that the indices they draw are kept."""
    drawn: dict[str, list[np.ndarray]] = {"stimuli": [], "subjects": []}
    pattern, rdm, both = (
        evaluate.bootstrap_sample_pattern,
        evaluate.bootstrap_sample_rdm,
        evaluate.bootstrap_sample,
    )

    def record_pattern(*args, **kwargs):
        out = pattern(*args, **kwargs)
        drawn["stimuli"].append(out[1])
        return out

    def record_rdm(*args, **kwargs):
        out = rdm(*args, **kwargs)
        drawn["subjects"].append(out[1])
        return out

    def record_both(*args, **kwargs):
        out = both(*args, **kwargs)
        drawn["subjects"].append(out[1])
        drawn["stimuli"].append(out[2])
        return out

    monkeypatch.setattr(evaluate, "bootstrap_sample_pattern", record_pattern)
    monkeypatch.setattr(evaluate, "bootstrap_sample_rdm", record_rdm)
    monkeypatch.setattr(evaluate, "bootstrap_sample", record_both)
    return drawn


def _run_rsatoolbox(models, data, method, resample, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(evaluate, EVALUATORS[resample])(
            _models(models), RDMs(data), method=RSATOOLBOX[method], N=n
        )


def _given_indices(drawn: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    names = {"stimuli": "stimulus_indices", "subjects": "subject_indices"}
    return {names[key]: np.array(rows) for key, rows in drawn.items() if rows}


@pytest.mark.parametrize("resample", ["stimuli", "subjects", "both"])
@pytest.mark.parametrize("method", BOOTSTRAP_COMPARISONS)
def test_equals_rsatoolbox(rdms, monkeypatch, method, resample):
    models, data = rdms
    drawn = _recording_samplers(monkeypatch)
    np.random.seed(3)  # noqa: NPY002 (rsatoolbox draws from the global RNG)
    reference = _run_rsatoolbox(models, data, method, resample, 25)
    ours = bootstrap_rdm_evaluation(
        models, data, method=method, resample=resample, **_given_indices(drawn)
    )
    assert ours.n_resamples == 25
    assert_allclose(ours.distribution, reference.evaluations, rtol=1e-10, atol=1e-12)
    assert_allclose(
        ours.noise_ceiling_distribution, reference.noise_ceiling.T, rtol=1e-10, atol=1e-12
    )
    with np.errstate(invalid="ignore"):
        low, high = reference.get_ci(0.95, test_type="bootstrap")
    assert_allclose(ours.low, low, rtol=1e-10)
    assert_allclose(ours.high, high, rtol=1e-10)
    # the resamples really differ from each other and from the data as given
    assert np.ptp(ours.distribution[:, 0]) > 1e-3


def _fixed_sampler(monkeypatch, name: str, rows: np.ndarray, by: str) -> None:
    """Make rsatoolbox draw the given rows of indices, one per resample."""
    queue = list(rows)

    def sample(rdms, *args, **kwargs):
        idx = queue.pop(0)
        if by == "pattern":
            return rdms.subsample_pattern("index", idx), idx
        return rdms.subsample("index", idx), idx

    monkeypatch.setattr(evaluate, name, sample)


@pytest.mark.parametrize("method", ["spearman", "kendall_tau_a", "pearson"])
def test_degenerate_stimulus_resamples_are_nan(rdms, monkeypatch, method):
    """< 3 distinct stimuli: a NaN row, as rsatoolbox; 3 distinct: a number."""
    models, data = rdms
    rows = np.array(
        [
            [0] * N_COND,
            [1] * 6 + [2] * 6,
            [1] * 4 + [2] * 4 + [7] * 4,
            list(range(N_COND)),
            [5, 5, 5, 0, 1, 2, 3, 4, 6, 7, 8, 9],
        ]
    )
    _fixed_sampler(monkeypatch, "bootstrap_sample_pattern", rows, "pattern")
    reference = _run_rsatoolbox(models, data, method, "stimuli", len(rows))
    ours = bootstrap_rdm_evaluation(models, data, method=method, stimulus_indices=rows)
    assert np.isnan(ours.distribution[:2]).all()
    assert np.isfinite(ours.distribution[2:]).all()
    assert_allclose(ours.distribution, reference.evaluations, rtol=1e-10, atol=1e-12)
    assert_allclose(ours.noise_ceiling_distribution, reference.noise_ceiling.T, rtol=1e-10)
    # all stimuli once: the data as given
    assert_allclose(ours.distribution[3], ours.evaluation, rtol=1e-12)


@pytest.mark.parametrize("method", ["spearman", "cosine", "kendall_tau_b"])
def test_one_distinct_subject_uses_pooled_rdm_for_both_bounds(rdms, monkeypatch, method):
    models, data = rdms
    rows = np.array([[2] * 5, [0, 0, 0, 0, 1], [4, 3, 2, 1, 0]])
    _fixed_sampler(monkeypatch, "bootstrap_sample_rdm", rows, "rdm")
    reference = _run_rsatoolbox(models, data, method, "subjects", len(rows))
    ours = bootstrap_rdm_evaluation(
        models, data, method=method, resample="subjects", subject_indices=rows
    )
    assert_allclose(ours.distribution, reference.evaluations, rtol=1e-10, atol=1e-12)
    assert_allclose(ours.noise_ceiling_distribution, reference.noise_ceiling.T, rtol=1e-10)
    low, up = rdm_noise_ceiling(data, method)
    assert_allclose(ours.noise_ceiling_distribution[2], [low, up], rtol=1e-12)


def test_point_values_and_interval(rdms):
    models, data = rdms
    result = bootstrap_rdm_evaluation(models, data, method="pearson", n_resamples=40, seed=5)
    assert_allclose(result.evaluation, compare_rdms(models, data, "pearson").mean(axis=1))
    assert_allclose(result.noise_ceiling, rdm_noise_ceiling(data, "pearson"))
    assert result.distribution.shape == (40, 3)
    assert result.noise_ceiling_distribution.shape == (40, 2)
    assert result.stimulus_indices.shape == (40, N_COND)
    assert result.subject_indices is None
    framed = np.vstack([np.full((1, 3), -np.inf), np.full((1, 3), np.inf), result.distribution])
    assert_allclose(result.low, np.quantile(framed, 0.025, axis=0))
    assert_allclose(result.high, np.quantile(framed, 0.975, axis=0))
    assert np.all(result.low < result.evaluation) and np.all(result.evaluation < result.high)
    # lower bound below upper bound in every resample
    assert np.all(
        result.noise_ceiling_distribution[:, 0] <= result.noise_ceiling_distribution[:, 1]
    )


def test_seed_reproducible_and_both_draws_subjects_then_stimuli(rdms):
    models, data = rdms
    a = bootstrap_rdm_evaluation(models, data, resample="both", n_resamples=6, seed=11)
    b = bootstrap_rdm_evaluation(models, data, resample="both", n_resamples=6, seed=11)
    assert_allclose(a.distribution, b.distribution)
    rng = np.random.default_rng(11)
    assert np.array_equal(a.subject_indices, rng.integers(0, 5, size=(6, 5)))
    assert np.array_equal(a.stimulus_indices, rng.integers(0, N_COND, size=(6, N_COND)))
    c = bootstrap_rdm_evaluation(models, data, resample="both", n_resamples=6, seed=12)
    assert not np.allclose(a.distribution, c.distribution)


@pytest.mark.parametrize("method", ["spearman", "kendall_tau_a"])
def test_torch_equals_numpy(rdms, method):
    torch = pytest.importorskip("torch")
    models, data = rdms
    ours = bootstrap_rdm_evaluation(models, data, method=method, resample="both", n_resamples=8)
    tensors = bootstrap_rdm_evaluation(
        torch.from_numpy(models),
        torch.from_numpy(data),
        method=method,
        resample="both",
        n_resamples=8,
    )
    assert isinstance(tensors.distribution, torch.Tensor)
    for name in (
        "evaluation",
        "distribution",
        "low",
        "high",
        "noise_ceiling",
        "noise_ceiling_distribution",
    ):
        assert_allclose(getattr(tensors, name).numpy(), getattr(ours, name), rtol=1e-12)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_threads_give_the_same_numbers(rdms, monkeypatch, method):
    import brainalign.alignment.rsa_inference as module

    monkeypatch.setattr(module, "_BATCH_FLOATS", 2000)  # several batches of resamples
    models, data = rdms
    one = bootstrap_rdm_evaluation(models, data, method=method, resample="both", n_resamples=12)
    two = bootstrap_rdm_evaluation(
        models, data, method=method, resample="both", n_resamples=12, n_jobs=2
    )
    assert np.array_equal(one.distribution, two.distribution, equal_nan=True)
    assert np.array_equal(
        one.noise_ceiling_distribution, two.noise_ceiling_distribution, equal_nan=True
    )


def test_no_noise_ceiling_with_one_data_rdm(rdms):
    models, data = rdms
    result = bootstrap_rdm_evaluation(models, data[0], noise_ceiling=False, n_resamples=5)
    assert result.noise_ceiling_distribution is None
    assert np.isnan(result.noise_ceiling).all()
    assert_allclose(result.evaluation, compare_rdms(models, data[0], "spearman"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "corr_cov"}, "method='corr_cov' is not supported"),
        ({"resample": "pairs"}, "resample='pairs'"),
        ({"confidence_level": 1.5}, "confidence_level"),
        ({"n_resamples": 0}, "n_resamples must be at least 1"),
        ({"n_jobs": 0}, "n_jobs must be a positive number of threads"),
        ({"stimulus_indices": np.zeros((3, 5), dtype=int)}, r"shape \(n_resamples, 12\)"),
        ({"stimulus_indices": np.full((3, N_COND), 12)}, r"must lie in \[0, 12\)"),
        ({"stimulus_indices": np.zeros((3, N_COND))}, "integer array"),
        ({"subject_indices": np.zeros((3, 5), dtype=int)}, "does not use it"),
        (
            {
                "resample": "both",
                "subject_indices": np.zeros((3, 5), dtype=int),
                "stimulus_indices": np.zeros((4, N_COND), dtype=int),
            },
            "has 4 rows but the other indices have 3",
        ),
    ],
)
def test_bad_options(rdms, kwargs, message):
    models, data = rdms
    with pytest.raises(ValueError, match=message):
        bootstrap_rdm_evaluation(models, data, **kwargs)


def test_bad_rdms(rdms):
    models, data = rdms
    with pytest.raises(ValueError, match="same conditions"):
        bootstrap_rdm_evaluation(models[:, :-1], data)
    with pytest.raises(ValueError, match="not n\\*\\(n-1\\)/2"):
        bootstrap_rdm_evaluation(models[:, :-1], data[:, :-1])
    bad = data.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="data_rdms has NaN"):
        bootstrap_rdm_evaluation(models, bad)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_rdm_evaluation(models, data[:1])
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_rdm_evaluation(models, data[:1], resample="subjects", noise_ceiling=False)


def test_given_indices_set_the_number_of_resamples(rdms):
    models, data = rdms
    stimuli = np.random.default_rng(4).integers(0, N_COND, size=(7, N_COND))
    result = bootstrap_rdm_evaluation(
        models, data, resample="both", stimulus_indices=stimuli, n_resamples=1000
    )
    assert result.n_resamples == 7
    assert result.subject_indices.shape == (7, 5)
    assert np.array_equal(result.stimulus_indices, stimuli)


def test_undefined_similarity_is_nan_and_left_out_of_that_interval(rdms):
    """A categorical model constant on the drawn stimuli: NaN for it, not for the others."""
    _, data = rdms
    labels = np.array([0] * 6 + [1] * 6)
    rows, cols = np.triu_indices(N_COND, 1)
    categorical = (labels[rows] != labels[cols]).astype(float)
    models = np.vstack([categorical, data[0] + 0.1])
    stimuli = np.array([[0, 1, 2, 3, 4, 5] * 2] + [list(range(N_COND))] * 3)
    stimuli[2, :4] = 7
    result = bootstrap_rdm_evaluation(
        models, data, method="pearson", stimulus_indices=stimuli, confidence_level=0.5
    )
    assert np.isnan(result.distribution[0, 0]) and np.isfinite(result.distribution[1:]).all()
    assert np.isfinite(result.low).all() and np.isfinite(result.high[1])
    framed = np.concatenate([[-np.inf, np.inf], result.distribution[1:, 0]])
    assert_allclose(result.low[0], np.quantile(framed, 0.25))
    assert_allclose(
        result.high[1], np.quantile(np.r_[-np.inf, np.inf, result.distribution[:, 1]], 0.75)
    )
    # too few resamples for a 95% interval: NaN, as rsatoolbox
    assert np.isnan(bootstrap_rdm_evaluation(models, data, stimulus_indices=stimuli).low).all()


def test_float32_input_is_computed_in_float64(rdms):
    models, data = rdms
    expected = bootstrap_rdm_evaluation(
        models.astype(np.float32).astype(np.float64),
        data.astype(np.float32).astype(np.float64),
        n_resamples=5,
    )
    result = bootstrap_rdm_evaluation(
        models.astype(np.float32), data.astype(np.float32), n_resamples=5
    )
    assert result.distribution.dtype == np.float64
    assert_allclose(result.distribution, expected.distribution, rtol=1e-12)
    assert_allclose(result.evaluation, expected.evaluation, rtol=1e-12)


def _explicitly_resampled(rdms: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """The resampled RDMs as rsatoolbox builds them: every pair of drawn stimuli, pairs of
    two copies of one stimulus NaN (dropped by compare_rdms)."""
    n_cond = drawn.size
    rows, cols = np.triu_indices(n_cond, 1)
    first, second = np.sort(drawn)[rows], np.sort(drawn)[cols]
    out = np.full((rdms.shape[0], rows.size), np.nan)
    kept = first != second
    square = np.array([squareform(r) for r in rdms])
    out[:, kept] = square[:, first[kept], second[kept]]
    return out


@pytest.mark.parametrize("method", ["kendall_tau_a", "kendall_tau_b"])
def test_weighted_kendall_equals_kendall_of_explicitly_resampled_rdms(method):
    """The weighted-pair Kendall taus against the plain taus of the resampled RDMs, with
    ties in models and data (categorical, rounded, a few equal values), stimuli drawn many
    times, and more pairs than one block of the weighted count (31 stimuli, 465 pairs)."""
    rng = np.random.default_rng(7)
    n_cond = 31
    n_pairs = n_cond * (n_cond - 1) // 2
    data = rng.random((3, n_pairs))
    data[1] = np.round(data[1] * 5) / 5
    data[2, :40] = data[2, 40:80]  # a few tied pairs
    labels = rng.integers(0, 3, n_cond)
    rows, cols = np.triu_indices(n_cond, 1)
    models = np.vstack(
        [
            (labels[rows] != labels[cols]).astype(float),
            np.round(data[0] * 3) + rng.random(n_pairs) * 0.1,
            data[2] + rng.random(n_pairs),
        ]
    )
    stimuli = rng.integers(0, n_cond, size=(6, n_cond))
    stimuli[0, :10] = 4  # one stimulus drawn 10 times
    stimuli[1] = np.arange(n_cond)  # the data as given
    ours = bootstrap_rdm_evaluation(models, data, method=method, stimulus_indices=stimuli)
    for row, drawn in zip(ours.distribution, stimuli, strict=True):
        resampled = compare_rdms(
            _explicitly_resampled(models, drawn), _explicitly_resampled(data, drawn), method
        )
        assert_allclose(row, resampled.mean(axis=1), rtol=1e-12, atol=1e-14)
    assert_allclose(ours.distribution[1], ours.evaluation, rtol=1e-12)


@pytest.mark.parametrize("compiled", ["0", "1"])
def test_weighted_inversions_and_ties_equal_brute_force(monkeypatch, compiled):
    """The array path and, where numba is installed, the compiled kernel."""
    from brainalign.alignment._compiled import compiled_available
    from brainalign.alignment.rsa_inference import _weighted_inversions

    monkeypatch.setenv("BRAINALIGN_NUMBA", compiled)
    if compiled == "1" and not compiled_available():
        pytest.skip("numba is not installed: no compiled kernel to check")
    rng = np.random.default_rng(3)
    for n in (1, 2, 9, 40, 300):
        z = rng.integers(0, max(2, n // 4), size=(5, n))
        w = rng.integers(0, 4, size=(5, n))
        later = np.triu(np.ones((n, n), dtype=bool), 1)
        pairs = w[:, :, None] * w[:, None, :] * later
        above = z[:, :, None] > z[:, None, :]
        equal = z[:, :, None] == z[:, None, :]
        discordant, tied = _weighted_inversions(z, w, np)
        assert np.array_equal(discordant, (pairs * above).sum(axis=(1, 2)))
        assert np.array_equal(tied, (pairs * equal).sum(axis=(1, 2)))


@pytest.mark.parametrize("method", ["kendall_tau_a", "kendall_tau_b"])
def test_kendall_noise_ceiling_with_few_ties_equals_rsatoolbox(rdms, monkeypatch, method):
    """Data RDMs with a few tied pairs (handled pair by pair, not by sorting; the fixture's
    heavily tied RDM takes the sorting path in test_equals_rsatoolbox)."""
    models, data = rdms
    data = data[:4].copy()
    data[1, :5] = data[1, 5:10]
    data[2, 3] = data[2, 7]
    drawn = _recording_samplers(monkeypatch)
    np.random.seed(5)  # noqa: NPY002 (rsatoolbox draws from the global RNG)
    reference = _run_rsatoolbox(models, data, method, "both", 20)
    ours = bootstrap_rdm_evaluation(
        models, data, method=method, resample="both", **_given_indices(drawn)
    )
    assert_allclose(ours.distribution, reference.evaluations, rtol=1e-10, atol=1e-12)
    assert_allclose(
        ours.noise_ceiling_distribution, reference.noise_ceiling.T, rtol=1e-10, atol=1e-12
    )
