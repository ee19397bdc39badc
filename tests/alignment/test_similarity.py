"""Tests for brainalign.alignment.similarity against independent references.

References written here, in plain numpy (or torch where the original is torch):

- Kornblith et al. (2019), "Similarity of Neural Network Representations Revisited",
  the functions of their published Colab notebook ``CKA.ipynb``
  (https://github.com/google-research/google-research/tree/master/representation_similarity):
  ``gram_linear``, ``gram_rbf``, ``center_gram`` (with ``unbiased``), ``cka`` and
  ``feature_space_linear_cka`` (with ``debiased``), transcribed below.
- Huh et al. (2024), "The Platonic Representation Hypothesis", ``mutual_knn`` and
  ``compute_nearest_neighbors`` from https://github.com/minyoungg/platonic-rep
  (``metrics.py``), transcribed in torch.
- CCA by whitening (``Cxx^-1/2 Cxy Cyy^-1/2``, eigh-based), a different algorithm from
  the QR/SVD route of the module, and scikit-learn's iterative CCA.
- PWCCA: the weighting of Morcos et al.'s ``compute_pwcca`` (google/svcca ``pwcca.py``:
  QR of the canonical variates, ``sum |P^T acts|``) on centred data.
- scipy: ``orthogonal_procrustes``, ``spatial.procrustes``, ``stats.spearmanr``,
  ``stats.pearsonr``; scikit-learn ``NearestNeighbors``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.cross_decomposition import CCA
from sklearn.neighbors import NearestNeighbors

from brainalign.alignment.similarity import (
    cca,
    cka,
    linear_cka_matrix,
    mutual_knn,
    procrustes_distance,
    pwcca,
    rsa_ratings,
    svcca,
)

RTOL = 1e-8

# --------------------------------------------------------------------------- references
# Kornblith et al. 2019, Colab "CKA.ipynb" (Apache 2.0), transcribed.


def ref_gram_linear(x):
    return x.dot(x.T)


def ref_gram_rbf(x, threshold=1.0):
    dot_products = x.dot(x.T)
    sq_norms = np.diag(dot_products)
    sq_distances = -2 * dot_products + sq_norms[:, None] + sq_norms[None, :]
    sq_median_distance = np.median(sq_distances)
    return np.exp(-sq_distances / (2 * threshold**2 * sq_median_distance))


def ref_center_gram(gram, unbiased=False):
    if not np.allclose(gram, gram.T):
        raise ValueError("Input must be a symmetric matrix.")
    gram = gram.copy()
    if unbiased:
        n = gram.shape[0]
        np.fill_diagonal(gram, 0)
        means = np.sum(gram, 0, dtype=np.float64) / (n - 2)
        means -= np.sum(means) / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0)
    else:
        means = np.mean(gram, 0, dtype=np.float64)
        means -= np.mean(means) / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def ref_cka(gram_x, gram_y, debiased=False):
    gram_x = ref_center_gram(gram_x, unbiased=debiased)
    gram_y = ref_center_gram(gram_y, unbiased=debiased)
    scaled_hsic = gram_x.ravel().dot(gram_y.ravel())
    normalization_x = np.linalg.norm(gram_x)
    normalization_y = np.linalg.norm(gram_y)
    return scaled_hsic / (normalization_x * normalization_y)


def _ref_debiased_dot_product_similarity_helper(
    xty, sum_squared_rows_x, sum_squared_rows_y, squared_norm_x, squared_norm_y, n
):
    return (
        xty
        - n / (n - 2.0) * sum_squared_rows_x.dot(sum_squared_rows_y)
        + squared_norm_x * squared_norm_y / ((n - 1) * (n - 2))
    )


def ref_feature_space_linear_cka(features_x, features_y, debiased=False):
    features_x = features_x - np.mean(features_x, 0, keepdims=True)
    features_y = features_y - np.mean(features_y, 0, keepdims=True)
    dot_product_similarity = np.linalg.norm(features_x.T.dot(features_y)) ** 2
    normalization_x = np.linalg.norm(features_x.T.dot(features_x))
    normalization_y = np.linalg.norm(features_y.T.dot(features_y))
    if debiased:
        n = features_x.shape[0]
        sum_squared_rows_x = np.einsum("ij,ij->i", features_x, features_x)
        sum_squared_rows_y = np.einsum("ij,ij->i", features_y, features_y)
        squared_norm_x = np.sum(sum_squared_rows_x)
        squared_norm_y = np.sum(sum_squared_rows_y)
        dot_product_similarity = _ref_debiased_dot_product_similarity_helper(
            dot_product_similarity,
            sum_squared_rows_x,
            sum_squared_rows_y,
            squared_norm_x,
            squared_norm_y,
            n,
        )
        normalization_x = np.sqrt(
            _ref_debiased_dot_product_similarity_helper(
                normalization_x**2,
                sum_squared_rows_x,
                sum_squared_rows_x,
                squared_norm_x,
                squared_norm_x,
                n,
            )
        )
        normalization_y = np.sqrt(
            _ref_debiased_dot_product_similarity_helper(
                normalization_y**2,
                sum_squared_rows_y,
                sum_squared_rows_y,
                squared_norm_y,
                squared_norm_y,
                n,
            )
        )
    return dot_product_similarity / (normalization_x * normalization_y)


# Huh et al. 2024, platonic-rep metrics.py (MIT), transcribed in torch.


def ref_compute_nearest_neighbors(feats, topk=1):
    assert feats.ndim == 2, f"Expected feats to be 2D, got {feats.ndim}"
    knn = (feats @ feats.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]
    return knn


def ref_mutual_knn(feats_A, feats_B, topk):
    knn_A = ref_compute_nearest_neighbors(feats_A, topk)
    knn_B = ref_compute_nearest_neighbors(feats_B, topk)
    n = knn_A.shape[0]
    topk = knn_A.shape[1]
    range_tensor = torch.arange(n, device=knn_A.device).unsqueeze(1)
    lvm_mask = torch.zeros(n, n, device=knn_A.device)
    llm_mask = torch.zeros(n, n, device=knn_A.device)
    lvm_mask[range_tensor, knn_A] = 1.0
    llm_mask[range_tensor, knn_B] = 1.0
    acc = (lvm_mask * llm_mask).sum(dim=1) / topk
    return acc.mean().item()


def ref_huh_score(X, Y, k):
    """Their usage: rows L2-normalised (torch.nn.functional.normalize) before the metric."""
    fa = torch.nn.functional.normalize(torch.as_tensor(X), p=2, dim=-1)
    fb = torch.nn.functional.normalize(torch.as_tensor(Y), p=2, dim=-1)
    return ref_mutual_knn(fa, fb, k)


# CCA by whitening: canonical correlations are the singular values of
# Cxx^{-1/2} Cxy Cyy^{-1/2} (Hotelling 1936), and the canonical variates are
# Xc Cxx^{-1/2} a_i.


def _inv_sqrt(C):
    w, V = np.linalg.eigh(C)
    return (V / np.sqrt(w)) @ V.T


def ref_cca(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Wx, Wy = _inv_sqrt(Xc.T @ Xc), _inv_sqrt(Yc.T @ Yc)
    A, rho, Bt = np.linalg.svd(Wx @ (Xc.T @ Yc) @ Wy, full_matrices=False)
    return rho, Xc @ Wx @ A, Yc @ Wy @ Bt.T


def ref_pwcca(X, Y):
    """Morcos et al. compute_pwcca weighting (smaller side, QR of variates), centred data."""
    rho, var_x, var_y = ref_cca(X, Y)
    if X.shape[1] <= Y.shape[1]:
        dirns, acts = var_x, X - X.mean(0)
    else:
        dirns, acts = var_y, Y - Y.mean(0)
    P, _ = np.linalg.qr(dirns)
    weights = np.sum(np.abs(P.T @ acts), axis=1)
    weights = weights / np.sum(weights)
    return np.sum(weights * rho)


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20240521)


def related_pair(rng, n=40, p=12, q=8, noise=1.0):
    """X and a noisy linear read-out Y of it: similarity well inside (0, 1)."""
    X = rng.standard_normal((n, p)) + rng.standard_normal(p)
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q)) + 3.0
    return X, Y


def random_orthogonal(rng, d):
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


# --------------------------------------------------------------------------- CKA


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("shape", [(40, 12, 8), (15, 30, 50)])
@pytest.mark.parametrize("method", ["auto", "feature", "gram"])
def test_linear_cka_matches_kornblith(rng, debiased, shape, method):
    n, p, q = shape
    X, Y = related_pair(rng, n, p, q)
    got = cka(X, Y, debiased=debiased, method=method)
    assert isinstance(got, float)
    want_gram = ref_cka(ref_gram_linear(X), ref_gram_linear(Y), debiased=debiased)
    want_feat = ref_feature_space_linear_cka(X, Y, debiased=debiased)
    assert_allclose(want_gram, want_feat, rtol=1e-10)  # the reference agrees with itself
    assert_allclose(got, want_gram, rtol=RTOL)
    assert 0.05 < got < 0.99


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("sigma", [None, 0.5, 2.0])
def test_rbf_cka_matches_kornblith(rng, debiased, sigma):
    X, Y = related_pair(rng, n=30)
    threshold = 1.0 if sigma is None else sigma
    want = ref_cka(ref_gram_rbf(X, threshold), ref_gram_rbf(Y, threshold), debiased=debiased)
    assert_allclose(cka(X, Y, "rbf", debiased=debiased, sigma=sigma), want, rtol=RTOL)


def test_rbf_median_includes_diagonal_with_odd_and_even_n(rng):
    for n in (7, 8):
        X, Y = related_pair(rng, n=n, p=3, q=2)
        want = ref_cka(ref_gram_rbf(X), ref_gram_rbf(Y))
        assert_allclose(cka(X, Y, "rbf"), want, rtol=RTOL)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_invariances(rng, kernel, debiased):
    X, Y = related_pair(rng)
    base = cka(X, Y, kernel, debiased=debiased)
    Qx, Qy = random_orthogonal(rng, X.shape[1]), random_orthogonal(rng, Y.shape[1])
    assert_allclose(cka(X @ Qx * 7.5, Y @ Qy * 0.01, kernel, debiased=debiased), base, rtol=1e-9)
    assert_allclose(cka(X + 4.0, Y - 2.0, kernel, debiased=debiased), base, rtol=1e-9)
    assert_allclose(cka(X, X, kernel, debiased=debiased), 1.0, rtol=1e-12)
    assert_allclose(cka(Y, X, kernel, debiased=debiased), base, rtol=1e-12)
    # not invariant to a general (non-orthogonal) linear map: the test can fail
    stretch = np.diag(np.linspace(0.1, 10, X.shape[1]))
    assert abs(cka(X @ stretch, Y, kernel, debiased=debiased) - base) > 1e-3


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(4, 25),
    p=st.integers(1, 30),
    scale=st.floats(1e-3, 1e3),
)
def test_cka_routes_agree_and_orthogonal_invariance_property(seed, n, p, scale):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n, 5))
    for debiased in (False, True):
        feat = cka(X, Y, debiased=debiased, method="feature")
        gram = cka(X, Y, debiased=debiased, method="gram")
        assert_allclose(feat, gram, rtol=1e-8, atol=1e-12)
        rotated = cka(X @ random_orthogonal(rng, p) * scale, Y, debiased=debiased)
        assert_allclose(rotated, gram, rtol=1e-7, atol=1e-12)
    assert -1e-12 <= cka(X, Y) <= 1 + 1e-12


def test_cka_numpy_and_torch_agree(rng):
    X, Y = related_pair(rng)
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    for kwargs in (
        {},
        {"debiased": True},
        {"method": "gram"},
        {"kernel": "rbf"},
        {"kernel": "rbf", "debiased": True, "sigma": 0.7},
    ):
        got = cka(Xt, Yt, **kwargs)
        assert isinstance(got, torch.Tensor) and got.ndim == 0 and got.dtype == torch.float64
        assert_allclose(got.item(), cka(X, Y, **kwargs), rtol=1e-12)


def test_cka_float32_keeps_precision_and_is_close(rng):
    X, Y = related_pair(rng)
    got = cka(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y, dtype=torch.float32))
    assert got.dtype == torch.float32
    assert_allclose(got.item(), cka(X, Y), rtol=1e-5)


def test_cka_constant_representation_is_nan(rng):
    X, _ = related_pair(rng)
    const = np.full((X.shape[0], 3), 2.5)
    assert np.isnan(cka(X, const))
    assert np.isnan(cka(const, X, debiased=True))
    assert np.isnan(cka(X, const, "rbf"))
    assert torch.isnan(cka(torch.as_tensor(X), torch.as_tensor(const)))


def test_cka_bad_options(rng):
    X, Y = related_pair(rng)
    with pytest.raises(ValueError, match="kernel='cosine'"):
        cka(X, Y, "cosine")
    with pytest.raises(ValueError, match="method='fast'"):
        cka(X, Y, method="fast")
    with pytest.raises(ValueError, match="method='feature' works only"):
        cka(X, Y, "rbf", method="feature")
    with pytest.raises(ValueError, match="sigma must be a positive"):
        cka(X, Y, "rbf", sigma=0.0)
    with pytest.raises(ValueError, match="sigma=2.0 is the RBF"):
        cka(X, Y, sigma=2.0)
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        cka(X[:3], Y[:3], debiased=True)
    dup = np.repeat(X[:3], [2, 2, 36], axis=0)
    with pytest.raises(ValueError, match="median squared distance"):
        cka(dup, np.repeat(Y[:3], [2, 2, 36], axis=0), "rbf")


# --------------------------------------------------------------------------- batch CKA


@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_matrix_matches_pairwise(rng, debiased):
    n = 25
    Xs = [rng.standard_normal((n, p)) for p in (3, 10, 40)]
    Xs.append(np.ones((n, 2)))  # constant: NaN row
    Ys = [Xs[1] @ rng.standard_normal((10, 6)) + rng.standard_normal((n, 6)), Xs[0]]
    got = linear_cka_matrix(Xs, Ys, debiased=debiased)
    assert got.shape == (4, 2)
    for i, X in enumerate(Xs[:3]):
        for j, Y in enumerate(Ys):
            want = ref_cka(ref_gram_linear(X), ref_gram_linear(Y), debiased=debiased)
            assert_allclose(got[i, j], want, rtol=RTOL)
    assert np.all(np.isnan(got[3]))
    got_t = linear_cka_matrix([torch.as_tensor(X) for X in Xs], torch.as_tensor(Ys[0]))
    assert got_t.shape == (4, 1)
    assert_allclose(got_t.numpy(), linear_cka_matrix(Xs, Ys[0]), rtol=1e-12)


def test_linear_cka_matrix_bad_input(rng):
    X = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="Xs is empty"):
        linear_cka_matrix([], [X])
    with pytest.raises(ValueError, match=r"different numbers of rows.*\[9, 10\]"):
        linear_cka_matrix([X], [X[:9]])
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"Ys\[1\] has NaN or inf values in rows \[4\]"):
        linear_cka_matrix([X], [X, bad])


# --------------------------------------------------------------------------- shared checks


ALL_SCALAR = [
    lambda X, Y: cka(X, Y),
    lambda X, Y: procrustes_distance(X, Y),
    lambda X, Y: mutual_knn(X, Y, k=2),
    lambda X, Y: svcca(X, Y),
    lambda X, Y: pwcca(X, Y),
    lambda X, Y: cca(X, Y),
]


@pytest.mark.parametrize("measure", ALL_SCALAR)
def test_bad_arrays_raise_naming_the_argument(rng, measure):
    X, Y = related_pair(rng, n=10)
    with pytest.raises(ValueError, match="X has 10 rows .* but Y has 9"):
        measure(X, Y[:9])
    with pytest.raises(ValueError, match="at least 3"):
        measure(X[:2], Y[:2])
    bad = Y.copy()
    bad[[2, 7], 0] = np.inf
    with pytest.raises(ValueError, match=r"Y has NaN or inf values in rows \[2, 7\]"):
        measure(X, bad)
    with pytest.raises(ValueError, match="X must be 2-D"):
        measure(X[:, 0], Y)
    with pytest.raises(TypeError, match="numpy arrays and torch tensors"):
        measure(X, torch.as_tensor(Y))


# --------------------------------------------------------------------------- Procrustes


def _scipy_euclidean(X, Y, center, scale):
    if center:
        X, Y = X - X.mean(0), Y - Y.mean(0)
    if scale:
        X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    width = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, width - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, width - Y.shape[1])))
    R, _ = scipy.linalg.orthogonal_procrustes(Y, X)
    return np.linalg.norm(X - Y @ R)


@pytest.mark.parametrize("shape", [(30, 6, 6), (30, 9, 4), (12, 40, 25)])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scale", [True, False])
def test_procrustes_euclidean_matches_scipy_orthogonal_procrustes(rng, shape, center, scale):
    n, p, q = shape
    X, Y = related_pair(rng, n, p, q)
    got = procrustes_distance(X, Y, metric="euclidean", center=center, scale=scale)
    assert_allclose(got, _scipy_euclidean(X, Y, center, scale), rtol=RTOL)


@pytest.mark.parametrize("shape", [(30, 6, 6), (30, 9, 4), (12, 40, 25)])
def test_procrustes_angular_matches_scipy(rng, shape):
    n, p, q = shape
    X, Y = related_pair(rng, n, p, q)
    got = procrustes_distance(X, Y)
    chord = _scipy_euclidean(X, Y, True, True)
    assert_allclose(got, 2 * np.arcsin(chord / 2), rtol=RTOL)  # chord = 2 sin(theta/2)
    if p == q:
        # scipy.spatial.procrustes: disparity = 1 - cos(theta)^2 (optimal scaling too)
        _, _, disparity = scipy.spatial.procrustes(X, Y)
        assert_allclose(np.cos(got) ** 2, 1 - disparity, rtol=RTOL)
    assert 0 < got < np.pi / 2
    assert_allclose(procrustes_distance(X, Y, scale=False), got, rtol=1e-12)


def test_procrustes_invariances_and_metric_properties(rng):
    X, Y = related_pair(rng, 30, 7, 5)
    Z = rng.standard_normal((30, 9))
    for metric in ("angular", "euclidean"):
        d = procrustes_distance(X, Y, metric=metric)
        Q = random_orthogonal(rng, 7)
        assert_allclose(procrustes_distance(X @ Q * 3 + 1, Y, metric=metric), d, rtol=1e-9)
        assert_allclose(procrustes_distance(Y, X, metric=metric), d, rtol=1e-10)
        assert procrustes_distance(X, X @ Q * 5 - 2, metric=metric) < 1e-6
        d_xz = procrustes_distance(X, Z, metric=metric)
        d_yz = procrustes_distance(Y, Z, metric=metric)
        assert d <= d_xz + d_yz + 1e-12
    # without centring, translation matters
    assert procrustes_distance(X + 5, Y, center=False) != pytest.approx(
        procrustes_distance(X, Y, center=False)
    )


def test_procrustes_torch_and_degenerate(rng):
    X, Y = related_pair(rng, 20, 5, 6)
    for metric in ("angular", "euclidean"):
        for scale in (True, False):
            got = procrustes_distance(
                torch.as_tensor(X), torch.as_tensor(Y), metric=metric, scale=scale
            )
            assert got.ndim == 0
            want = procrustes_distance(X, Y, metric=metric, scale=scale)
            assert_allclose(got.item(), want, rtol=1e-12)
    const = np.full((20, 3), 4.0)
    assert np.isnan(procrustes_distance(X, const))
    assert np.isnan(procrustes_distance(X, const, metric="euclidean"))
    # without normalisation the distance is defined: ||Yc|| against a constant
    assert_allclose(
        procrustes_distance(const, Y, metric="euclidean", scale=False),
        np.linalg.norm(Y - Y.mean(0)),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="metric='cosine'"):
        procrustes_distance(X, Y, metric="cosine")


# --------------------------------------------------------------------------- mutual kNN


@pytest.mark.parametrize("k", [1, 5, 10])
def test_mutual_knn_matches_huh_et_al(rng, k):
    X, Y = related_pair(rng, n=60, p=10, q=20, noise=2.0)
    got = mutual_knn(X, Y, k=k)
    # their masks are float32 (torch.zeros default); scores are multiples of 1 / (n k),
    # so rtol=1e-6 still demands the very same neighbour overlaps
    assert_allclose(got, ref_huh_score(X, Y, k), rtol=1e-6)
    assert 0 < got < 1


def test_mutual_knn_matches_sklearn_nearest_neighbors(rng):
    X, Y = related_pair(rng, n=50, p=8, q=6, noise=1.5)
    k = 7

    def neighbours(A):
        nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(A)
        idx = nn.kneighbors(A, return_distance=False)
        return [set(row) - {i} for i, row in enumerate(idx)]

    overlap = [len(a & b) for a, b in zip(neighbours(X), neighbours(Y), strict=True)]
    assert_allclose(mutual_knn(X, Y, k=k), np.mean(overlap) / k, rtol=1e-12)
    got_t = mutual_knn(torch.as_tensor(X), torch.as_tensor(Y), k=k)
    assert_allclose(got_t.item(), np.mean(overlap) / k, rtol=1e-12)


def test_mutual_knn_properties_and_errors(rng):
    X, Y = related_pair(rng, n=30)
    Q = random_orthogonal(rng, X.shape[1])
    scales = rng.uniform(0.1, 10, size=(30, 1))
    assert mutual_knn(X, X @ Q * scales, k=5) == 1.0
    assert mutual_knn(X, Y, k=29) == 1.0
    with pytest.raises(ValueError, match="k=30 must be smaller than the number of stimuli"):
        mutual_knn(X, Y, k=30)
    with pytest.raises(ValueError, match="k must be at least 1"):
        mutual_knn(X, Y, k=0)
    with pytest.raises(ValueError, match="k must be an integer"):
        mutual_knn(X, Y, k=2.5)
    zero = X.copy()
    zero[3] = 0
    with pytest.raises(ValueError, match=r"X has all-zero rows \[3\]"):
        mutual_knn(zero, Y)


def test_mutual_knn_ties_broken_by_lower_index(rng):
    # X: every stimulus equally similar to every other, so its neighbours are the
    # lowest other indices; Y: no ties, neighbours from scikit-learn
    k = 2
    X = np.ones((6, 2))
    Y = rng.standard_normal((6, 3))
    knn_x = [set([j for j in range(6) if j != i][:k]) for i in range(6)]
    idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(Y).kneighbors(Y)[1]
    knn_y = [set(row) - {i} for i, row in enumerate(idx)]
    want = np.mean([len(a & b) for a, b in zip(knn_x, knn_y, strict=True)]) / k
    assert_allclose(mutual_knn(X, Y, k=k), want, rtol=1e-12)
    assert_allclose(mutual_knn(torch.as_tensor(X), torch.as_tensor(Y), k=k).item(), want)


# --------------------------------------------------------------------------- CCA family


def test_cca_matches_whitening_reference_and_sklearn(rng):
    X, Y = related_pair(rng, n=60, p=5, q=4, noise=2.0)
    got = cca(X, Y)
    want, _, _ = ref_cca(X, Y)
    assert got.shape == (4,)
    assert_allclose(got, want, rtol=RTOL)
    model = CCA(n_components=2, scale=False, max_iter=5000, tol=1e-14).fit(X, Y)
    xs, ys = model.transform(X, Y)
    sk = [np.corrcoef(xs[:, i], ys[:, i])[0, 1] for i in range(2)]
    assert_allclose(got[:2], sk, rtol=1e-6)


def test_cca_invariant_to_invertible_maps_and_torch(rng):
    X, Y = related_pair(rng, n=50, p=6, q=5, noise=2.0)
    base = cca(X, Y)
    A = rng.standard_normal((6, 6)) + 3 * np.eye(6)
    B = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    assert_allclose(cca(X @ A + 2, Y @ B - 1), base, rtol=1e-8)
    assert_allclose(cca(Y, X), base, rtol=1e-10)
    got_t = cca(torch.as_tensor(X), torch.as_tensor(Y))
    assert isinstance(got_t, torch.Tensor)
    assert_allclose(got_t.numpy(), base, rtol=1e-10)


def test_cca_rank_deficient_and_constant(rng):
    X, Y = related_pair(rng, n=40, p=4, q=6)
    X_dup = np.hstack([X, X[:, :2] + X[:, 2:3]])  # rank 4 with 6 columns
    assert_allclose(cca(X_dup, Y), cca(X, Y), rtol=1e-8)
    with pytest.raises(ValueError, match="Y is constant"):
        cca(X, np.ones((40, 2)))
    with pytest.warns(UserWarning, match="1 by construction"):
        out = cca(rng.standard_normal((10, 6)), rng.standard_normal((10, 6)))
    assert_allclose(out[:2], 1.0, rtol=1e-8)


def _ref_svcca(X, Y, keep=0.99, n_components=None):
    def reduce(A):
        Ac = A - A.mean(0)
        U, s, _ = np.linalg.svd(Ac, full_matrices=False)
        if n_components is None:
            frac = np.cumsum(s**2) / np.sum(s**2)
            k = int(np.searchsorted(frac, keep) + 1)
        else:
            k = n_components
        return U[:, :k] * s[:k]

    rho, _, _ = ref_cca(reduce(X), reduce(Y))
    return rho.mean()


def test_svcca_matches_reference(rng):
    n = 80
    latent = rng.standard_normal((n, 4)) * [5, 3, 2, 1]
    X = latent @ rng.standard_normal((4, 12)) + 0.05 * rng.standard_normal((n, 12))
    Y = latent @ rng.standard_normal((4, 9)) + 0.3 * rng.standard_normal((n, 9))
    for keep in (0.5, 0.9, 0.99):
        assert_allclose(svcca(X, Y, keep=keep), _ref_svcca(X, Y, keep=keep), rtol=RTOL)
    assert_allclose(svcca(X, Y, n_components=3), _ref_svcca(X, Y, n_components=3), rtol=RTOL)
    all_dims = svcca(X, Y, keep=1.0)
    assert_allclose(all_dims, np.mean(cca(X, Y)), rtol=1e-12)
    got_t = svcca(torch.as_tensor(X), torch.as_tensor(Y), keep=0.9)
    assert_allclose(got_t.item(), svcca(X, Y, keep=0.9), rtol=1e-10)
    Q = random_orthogonal(rng, 12)
    assert_allclose(svcca(X @ Q * 4 + 1, Y, keep=0.9), svcca(X, Y, keep=0.9), rtol=1e-8)


def test_svcca_errors_and_constant(rng):
    X, Y = related_pair(rng, n=20, p=3, q=4)
    for bad in (0.0, 1.5, "all"):
        with pytest.raises(ValueError, match="keep must be a fraction"):
            svcca(X, Y, keep=bad)
    with pytest.raises(ValueError, match="n_components=4 exceeds the rank of X"):
        svcca(X, Y, n_components=4)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        svcca(X, Y, n_components=0)
    assert np.isnan(svcca(X, np.zeros((20, 2))))


def test_pwcca_matches_reference(rng):
    X, Y = related_pair(rng, n=70, p=5, q=8, noise=2.0)
    got = pwcca(X, Y)
    assert_allclose(got, ref_pwcca(X, Y), rtol=RTOL)
    assert_allclose(pwcca(Y, X), ref_pwcca(Y, X), rtol=RTOL)  # weights from the smaller side
    rho = cca(X, Y)
    assert rho.min() < got < rho.max()
    assert got != pytest.approx(rho.mean(), rel=1e-6)
    got_t = pwcca(torch.as_tensor(X), torch.as_tensor(Y))
    assert_allclose(got_t.item(), got, rtol=1e-10)
    A = rng.standard_normal((8, 8)) + 3 * np.eye(8)
    assert_allclose(pwcca(X + 1, Y @ A), got, rtol=1e-8)  # weights depend on X only here
    assert np.isnan(pwcca(np.ones((70, 2)), Y))


# --------------------------------------------------------------------------- ratings


def _square(condensed):
    M = scipy.spatial.distance.squareform(np.nan_to_num(condensed, nan=0.0))
    i, j = np.triu_indices(M.shape[0], 1)
    M[i, j] = condensed
    M[j, i] = condensed
    return M


def test_rsa_ratings_matches_scipy_with_nans_and_ties(rng):
    n = 15
    m = n * (n - 1) // 2
    model = rng.standard_normal(m)
    human = np.round(model + rng.standard_normal(m), 0)  # many ties
    human[rng.choice(m, 30, replace=False)] = np.nan
    model_nan = model.copy()
    model_nan[rng.choice(m, 10, replace=False)] = np.nan
    ok = ~np.isnan(human) & ~np.isnan(model_nan)
    want_s = scipy.stats.spearmanr(model_nan[ok], human[ok]).statistic
    want_p = scipy.stats.pearsonr(model_nan[ok], human[ok]).statistic
    assert_allclose(rsa_ratings(model_nan, human), want_s, rtol=RTOL)
    assert_allclose(rsa_ratings(model_nan, human, "pearson"), want_p, rtol=RTOL)
    # square forms, one given only in the upper triangle (lower NaN)
    upper_only = _square(human)
    upper_only[np.tril_indices(n)] = np.nan
    assert_allclose(rsa_ratings(_square(model_nan), upper_only), want_s, rtol=RTOL)
    assert_allclose(rsa_ratings(_square(model_nan), human), want_s, rtol=RTOL)
    got_t = rsa_ratings(torch.as_tensor(_square(model_nan)), torch.as_tensor(human))
    assert got_t.ndim == 0
    assert_allclose(got_t.item(), want_s, rtol=1e-12)


def test_rsa_ratings_errors_and_constant(rng):
    model = rng.standard_normal(10)  # 5 stimuli
    with pytest.raises(ValueError, match="method='kendall'"):
        rsa_ratings(model, model, "kendall")
    with pytest.raises(ValueError, match="human_ratings has 9 values"):
        rsa_ratings(model, model[:9])
    with pytest.raises(ValueError, match="covers 5 stimuli but human_ratings covers 4"):
        rsa_ratings(model, model[:6])
    asym = _square(model)
    asym[0, 1] += 1
    with pytest.raises(ValueError, match="model_similarity is not symmetric"):
        rsa_ratings(asym, model)
    with pytest.raises(ValueError, match="square"):
        rsa_ratings(np.ones((3, 4)), model)
    sparse = np.full(10, np.nan)
    sparse[:2] = 1.0, 2.0
    with pytest.raises(ValueError, match="only 2 stimulus pairs are rated"):
        rsa_ratings(model, sparse)
    with pytest.raises(ValueError, match="infinite"):
        rsa_ratings(model, np.where(np.arange(10) == 3, np.inf, model))
    with pytest.raises(ValueError, match="at least 3 stimuli"):
        rsa_ratings(np.ones(1), np.ones(1))
    assert np.isnan(rsa_ratings(model, np.ones(10)))


def test_no_warnings_on_ordinary_input(rng):
    X, Y = related_pair(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cka(X, Y)
        svcca(X, Y)
        pwcca(X, Y)
        procrustes_distance(X, Y)
