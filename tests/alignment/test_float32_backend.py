"""torch float32 gives the numpy float64 numbers to 1e-5: one engine for CPU and GPU.

Every method runs once on float64 numpy arrays and once on float32 torch tensors (the
precision a GPU run would use); the results must agree to 1e-5 (relative to the scale
of the result). Data are standardised so float32 rounding stays well inside that.
"""

import numpy as np
import pytest
import torch

from brainalign.alignment.kernel_ridge import KernelRidgeCV
from brainalign.alignment.metrics import pearson_columns, r2_columns
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.rsa import compare_rdms, rdm, rdm_noise_ceiling
from brainalign.alignment.similarity import cka, procrustes_distance
from brainalign.alignment.stats import bootstrap_mean, fdr_bh, permutation_test

TOL = 1e-5


def _close(ours32, ours64):
    got = ours32.double().numpy() if isinstance(ours32, torch.Tensor) else np.asarray(ours32)
    want = np.asarray(ours64, dtype=np.float64)
    scale = max(1.0, float(np.nanmax(np.abs(want))))
    np.testing.assert_allclose(got, want, atol=TOL * scale, rtol=0)


def _t32(a):
    return torch.from_numpy(np.ascontiguousarray(a)).float()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30))
    Y = X[:, :10] @ rng.standard_normal((10, 6)) + rng.standard_normal((120, 6))
    return X, (Y - Y.mean(0)) / Y.std(0)


def test_ridge_and_kernel_ridge(data):
    X, Y = data
    for model in (RidgeCV(np.logspace(-1, 3, 5)), KernelRidgeCV(np.logspace(-1, 3, 5))):
        wide = model.fit(X, Y)
        alphas, predictions = wide.best_alphas_, wide.predict(X)
        narrow = type(model)(np.logspace(-1, 3, 5)).fit(_t32(X), _t32(Y))
        np.testing.assert_array_equal(narrow.best_alphas_.double().numpy(), alphas)
        _close(narrow.predict(_t32(X)), predictions)


def test_scores(data):
    X, Y = data
    P = X[:, :6]
    _close(pearson_columns(_t32(P), _t32(Y)), pearson_columns(P, Y))
    _close(r2_columns(_t32(Y), _t32(P)), r2_columns(Y, P))


@pytest.mark.parametrize("metric", ["correlation", "squared_euclidean", "cosine"])
@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a", "corr_cov"])
def test_rdms_and_comparisons(data, metric, method):
    X, _ = data
    patterns = X[:12] / 3
    rdms64 = rdm(patterns, metric)
    rdms32 = rdm(_t32(patterns), metric)
    _close(rdms32, rdms64)
    models = np.random.default_rng(1).random((3, rdms64.shape[0]))
    _close(compare_rdms(_t32(models), rdms32), compare_rdms(models, rdms64))


def test_noise_ceiling(data):
    X, _ = data
    subjects = np.stack(
        [rdm(X[:10] + 0.5 * np.random.default_rng(s).standard_normal((10, 30))) for s in range(4)]
    )
    low64, high64 = rdm_noise_ceiling(subjects, "pearson")
    low32, high32 = rdm_noise_ceiling(_t32(subjects), "pearson")
    _close(low32, low64)
    _close(high32, high64)


def test_similarity(data):
    X, Y = data
    _close(cka(_t32(X), _t32(Y)), cka(X, Y))
    _close(cka(_t32(X), _t32(Y), debiased=True), cka(X, Y, debiased=True))
    _close(procrustes_distance(_t32(X), _t32(Y)), procrustes_distance(X, Y))


def test_statistics(data):
    X, Y = data
    P = X[:, :6]
    wide = permutation_test(P, Y, n_permutations=200, seed=3)
    narrow = permutation_test(_t32(P), _t32(Y), n_permutations=200, seed=3)
    _close(narrow.observed, wide.observed)
    # p-values count null >= observed: float32 may flip exact ties, so compare counts
    np.testing.assert_allclose(narrow.p_values.double().numpy(), wide.p_values, atol=2 / 201)
    boot64 = bootstrap_mean(Y[:20], n_resamples=300, seed=4)
    boot32 = bootstrap_mean(_t32(Y[:20]), n_resamples=300, seed=4)
    _close(boot32.low, boot64.low)
    _close(boot32.high, boot64.high)
    p = np.random.default_rng(5).random(50)
    rejected32, adjusted32 = fdr_bh(_t32(p))
    rejected64, adjusted64 = fdr_bh(p)
    _close(adjusted32, adjusted64)
