"""Precision: half precision, float32 and huge or offset values give the float64 numbers.

The similarity measures square and sum (float16 Gram matrices overflowed: CKA came out
0 or NaN; float32 ones did for values near 1e10), and the Euclidean-type RDMs took the
Gram trick ``k_ii + k_jj - 2 k_ij`` in the input's precision (BOLD-like data, a mean of
1e4 and differences of 1, lost 2.5% in float32). Each measure here is checked against a
plain float64 computation on the same (already rounded) input values.

Rule for float16 and large-offset inputs: the reference is computed from the input
*after* its own rounding (``A.astype(float16).astype(float64)``); nothing can recover
what the rounding of the input lost (at 1e4 the float16 step is 8), but everything
after it is float64 arithmetic, so the result matches that reference to the rounding
of the returned float32 (well within 1e-6 relative).
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.spatial.distance import pdist

from brainalign.alignment import rsa
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.similarity import (
    cca,
    cka,
    linear_cka_matrix,
    mutual_knn,
    procrustes_distance,
    pwcca,
    svcca,
)

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.data import Dataset  # noqa: E402
from rsatoolbox.rdm import calc_rdm  # noqa: E402

RTOL = 1e-6
# rsatoolbox's _build_rdms casts NaN into string descriptors when it averages trials.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")


def _pair(seed=0, n=60, p=12, q=9):
    """Related representations with CKA well inside (0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X[:, :q] @ rng.standard_normal((q, q)) + 1.5 * rng.standard_normal((n, q))
    return X, Y


def _numpy_linear_cka(X, Y):
    """Plain float64 linear CKA (Kornblith et al. 2019, feature-space form)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    cross = np.linalg.norm(Yc.T @ Xc) ** 2
    return cross / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))


def _variants(X, Y):
    """(label, X, Y) in float16, float32, float64 and float32 scaled by 1e10 and 1e20."""
    out = [(dt.__name__, X.astype(dt), Y.astype(dt)) for dt in (np.float16, np.float32)]
    out.append(("float64", X, Y))
    for scale in (1e10, 1e20):
        out.append(
            (f"float32*{scale:g}", (X * scale).astype(np.float32), (Y * scale).astype(np.float32))
        )
    return out


def _as64(A):
    return np.asarray(A).astype(np.float64)


@pytest.mark.parametrize("method", ["feature", "gram"])
def test_linear_cka_any_precision_gives_the_float64_answer(method):
    X, Y = _pair()
    for label, A, B in _variants(X, Y):
        want = _numpy_linear_cka(_as64(A), _as64(B))
        got = cka(A, B, method=method)
        assert isinstance(got, float), label
        assert np.isfinite(got) and 0.1 < got < 0.95, (label, got)
        assert_allclose(got, want, rtol=RTOL, err_msg=label)


@pytest.mark.parametrize(
    "kwargs", [{"debiased": True}, {"kernel": "rbf"}, {"kernel": "rbf", "debiased": True}]
)
def test_other_cka_variants_any_precision(kwargs):
    X, Y = _pair(1)
    for label, A, B in _variants(X, Y):
        assert_allclose(
            cka(A, B, **kwargs), cka(_as64(A), _as64(B), **kwargs), rtol=RTOL, err_msg=label
        )


def test_float16_cka_was_zero_now_matches():
    """The reported case: float16 gave 0.0 (true value about 0.49)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 64)) * 8
    Y = X @ rng.standard_normal((64, 64)) + 20 * rng.standard_normal((200, 64))
    X16, Y16 = X.astype(np.float16), Y.astype(np.float16)
    want = _numpy_linear_cka(_as64(X16), _as64(Y16))
    assert 0.2 < want < 0.8
    assert_allclose(cka(X16, Y16), want, rtol=RTOL)
    assert_allclose(linear_cka_matrix([X16], [Y16])[0, 0], want, rtol=RTOL)


def test_linear_cka_matrix_any_precision():
    X, Y = _pair(2)
    for label, A, B in _variants(X, Y):
        got = linear_cka_matrix([A, B], [B])
        assert got.dtype == (np.float64 if A.dtype == np.float64 else np.float32), label
        want = [_numpy_linear_cka(_as64(A), _as64(B)), 1.0]
        assert_allclose(got[:, 0], want, rtol=RTOL, err_msg=label)


@pytest.mark.parametrize(
    "measure",
    [
        procrustes_distance,
        lambda X, Y: procrustes_distance(X, Y, metric="euclidean"),
        svcca,
        pwcca,
        mutual_knn,
    ],
    ids=["procrustes_angular", "procrustes_euclidean", "svcca", "pwcca", "mutual_knn"],
)
def test_other_measures_any_precision(measure):
    X, Y = _pair(4)
    for label, A, B in _variants(X, Y):
        got = measure(A, B)
        assert np.isfinite(got), label
        assert_allclose(got, measure(_as64(A), _as64(B)), rtol=RTOL, err_msg=label)


def test_cca_any_precision_and_result_dtype():
    X, Y = _pair(5)
    for label, A, B in _variants(X, Y):
        got = cca(A, B)
        assert got.dtype == (np.float64 if A.dtype == np.float64 else np.float32), label
        assert_allclose(got, cca(_as64(A), _as64(B)), rtol=RTOL, err_msg=label)


def test_procrustes_unscaled_euclidean_keeps_data_units_at_1e10():
    X, Y = _pair(6)
    A, B = (X * 1e10).astype(np.float32), (Y * 1e10).astype(np.float32)
    got = procrustes_distance(A, B, metric="euclidean", scale=False)
    assert_allclose(
        got, procrustes_distance(_as64(A), _as64(B), metric="euclidean", scale=False), rtol=RTOL
    )
    assert got > 1e10


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_torch_low_precision_keeps_device_and_gives_float32(dtype):
    X, Y = _pair(7)
    A, B = torch.as_tensor(X).to(dtype), torch.as_tensor(Y).to(dtype)
    for scale in (1.0, 1e10 if dtype != torch.float16 else 1.0):
        As, Bs = A * scale, B * scale  # rounded to dtype again
        want = _numpy_linear_cka(As.double().numpy(), Bs.double().numpy())
        got = cka(As, Bs)
        assert isinstance(got, torch.Tensor) and got.ndim == 0
        assert got.dtype == torch.float32 and got.device == A.device
        assert_allclose(got.item(), want, rtol=RTOL)
    got = procrustes_distance(A, B)
    assert got.dtype == torch.float32
    assert_allclose(got.item(), procrustes_distance(A.double(), B.double()).item(), rtol=RTOL)


def test_torch_float64_stays_float64():
    X, Y = _pair(8)
    got = cka(torch.as_tensor(X), torch.as_tensor(Y))
    assert got.dtype == torch.float64
    assert_allclose(got.item(), _numpy_linear_cka(X, Y), rtol=1e-12)


# ----------------------------------------------------------------------------- RSA

SQUARED = ("squared_euclidean", "mahalanobis")


def _bold_like(seed=0, n_cond=24, n_chan=80, offset=1e4):
    """A large common mean (per channel) plus small condition differences."""
    rng = np.random.default_rng(seed)
    base = offset * (1 + 0.1 * rng.random(n_chan))
    return base + rng.standard_normal((n_cond, n_chan))


def _scipy_rdm(data, metric, precision=None):
    """Reference from scipy's pdist, in float64, on the values given."""
    X = _as64(data)
    n_chan = X.shape[1]
    if metric == "mahalanobis":
        return pdist(X, "mahalanobis", VI=precision) ** 2 / n_chan
    squared = pdist(X, "sqeuclidean") / n_chan
    return np.sqrt(squared) if metric == "euclidean" else squared


def _precision(n_chan, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_chan, n_chan))
    return A @ A.T / n_chan + np.eye(n_chan)


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "mahalanobis"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rdm_with_large_offset_matches_scipy(metric, dtype):
    data = _bold_like(offset=1e4 if dtype != np.float16 else 1e2).astype(dtype)
    precision = _precision(data.shape[1]) if metric == "mahalanobis" else None
    noise = None if precision is None else precision.astype(dtype)
    got = rsa.rdm(data, metric, noise=noise)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    want = _scipy_rdm(data, metric, None if noise is None else _as64(noise))
    assert np.all(want > 0)
    assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rdm_with_large_offset_matches_rsatoolbox(dtype):
    data = _bold_like(1).astype(dtype)
    precision = _precision(data.shape[1], 1)
    for metric, noise in (("euclidean", None), ("mahalanobis", precision)):
        want = calc_rdm(Dataset(_as64(data)), method=metric, noise=noise).get_vectors()[0]
        ours = "squared_euclidean" if metric == "euclidean" else metric
        got = rsa.rdm(data, ours, noise=None if noise is None else noise.astype(dtype))
        # rsatoolbox takes the Gram trick uncentred in float64: ~1e-7 of its own error here
        assert_allclose(got, want, rtol=RTOL)


def test_crossnobis_with_large_offset_matches_the_definition():
    rng = np.random.default_rng(2)
    n_cond, n_part, n_chan = 6, 3, 40
    conditions = np.tile(np.arange(n_cond), n_part)
    partitions = np.repeat(np.arange(n_part), n_cond)
    means = rng.standard_normal((n_cond, n_chan))
    data = 1e4 + means[conditions] + 0.5 * rng.standard_normal((n_cond * n_part, n_chan))
    precision = _precision(n_chan, 2)
    for dtype in (np.float32, np.float64):
        X = data.astype(dtype)
        Xc = _as64(X) - _as64(X).mean(0)  # exact reference: centred, float64, one pattern per cell
        cells = Xc.reshape(n_part, n_cond, n_chan)
        rows, cols = np.triu_indices(n_cond, 1)
        want = np.zeros(rows.size)
        for k in range(n_part):
            train = np.delete(cells, k, axis=0).mean(0)
            d_train, d_test = train[rows] - train[cols], cells[k][rows] - cells[k][cols]
            want += np.einsum("pi,ij,pj->p", d_train, precision, d_test) / n_chan / n_part
        got = rsa.rdm(
            X,
            "crossnobis",
            conditions=conditions,
            partitions=partitions,
            noise=precision.astype(dtype),
        )
        assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())
        ref = calc_rdm(
            Dataset(_as64(X), obs_descriptors={"cond": conditions, "run": partitions}),
            method="crossnobis",
            descriptor="cond",
            cv_descriptor="run",
            noise=precision,
        ).get_vectors()[0]
        assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(want).max())  # rsatoolbox uncentred


@pytest.mark.parametrize("seed", range(8))
def test_property_float32_offset_rdms_agree_with_scipy(seed):
    rng = np.random.default_rng(100 + seed)
    n_cond, n_chan = int(rng.integers(3, 40)), int(rng.integers(1, 300))
    offset = 10 ** rng.uniform(1, 6) * rng.choice([-1, 1], size=n_chan) * (1 + rng.random(n_chan))
    spread = 10 ** rng.uniform(-1, 1)
    data = (offset + spread * rng.standard_normal((n_cond, n_chan))).astype(np.float32)
    for metric in ("squared_euclidean", "euclidean"):
        want = _scipy_rdm(data, metric)
        got = rsa.rdm(data, metric)
        assert np.all(got >= 0)
        assert_allclose(got, want, rtol=RTOL, err_msg=f"{metric}, n={n_cond}, p={n_chan}")
    torch_got = rsa.rdm(torch.as_tensor(data), "squared_euclidean")
    assert torch_got.dtype == torch.float32
    assert_allclose(torch_got.numpy(), _scipy_rdm(data, "squared_euclidean"), rtol=RTOL)


@pytest.mark.parametrize("metric", ["euclidean", "squared_euclidean", "mahalanobis"])
def test_identical_rows_give_exactly_zero(metric):
    data = _bold_like(3, n_cond=10)
    data = np.vstack([data, data[[2, 5]], data[[2]]])  # rows 10, 12 equal 2; 11 equals 5
    noise = _precision(data.shape[1], 3) if metric == "mahalanobis" else None
    for X in (
        data,
        data.astype(np.float32),
        torch.as_tensor(data),
        torch.as_tensor(data, dtype=torch.float32),
    ):
        got = np.asarray(
            rsa.rdm(
                X,
                metric,
                noise=noise
                if noise is None or isinstance(X, np.ndarray)
                else torch.as_tensor(noise),
            )
        )
        square = np.asarray(rsa.rdm_to_square(got))
        for i, j in ((2, 10), (2, 12), (10, 12), (5, 11)):
            assert square[i, j] == 0.0, (type(X), X.dtype, i, j, square[i, j])
        assert np.all(got >= 0)


# ----------------------------------------------------------------------------- ridge


def test_ridge_cv_computes_float16_in_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 12))
    Y = X @ rng.standard_normal((12, 4)) + rng.standard_normal((80, 4))
    X16, Y16 = X.astype(np.float16), Y.astype(np.float16)
    alphas = np.logspace(-1, 3, 5)
    model = RidgeCV(alphas=alphas).fit(X16, Y16)
    ref = RidgeCV(alphas=alphas).fit(X16.astype(np.float32), Y16.astype(np.float32))
    assert model.coef_.dtype == np.float32 and model.intercept_.dtype == np.float32
    assert np.array_equal(model.coef_, ref.coef_)
    assert np.array_equal(model.best_alphas_, ref.best_alphas_)
    pred = model.predict(X16)
    assert pred.dtype == np.float32
    assert np.array_equal(pred, ref.predict(X16.astype(np.float32)))
    assert np.all(model.score(X16, Y16) > 0.5)
    # torch half precision too
    t = RidgeCV(alphas=alphas).fit(torch.as_tensor(X16), torch.as_tensor(Y16))
    assert t.coef_.dtype == torch.float32
    assert_allclose(t.coef_.numpy(), ref.coef_, rtol=1e-4, atol=1e-5)


def test_ridge_cv_float32_and_float64_keep_their_precision():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 8))
    Y = X @ rng.standard_normal((8, 2))
    for dtype in (np.float32, np.float64):
        model = RidgeCV(alphas=[1.0, 10.0]).fit(X.astype(dtype), Y.astype(dtype))
        assert model.coef_.dtype == dtype


def test_float16_nan_still_named():
    from brainalign.alignment._checks import check_xy_arrays

    X = np.ones((5, 2), dtype=np.float16)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"rows \(samples\) \[3\] and columns \(units\) \[1\]"):
        check_xy_arrays(X, np.ones(5, dtype=np.float16))
    A, B, _ = check_xy_arrays(np.ones((5, 2), np.float16), np.ones(5, np.float16))
    assert A.dtype == np.float32 and B.dtype == np.float32
