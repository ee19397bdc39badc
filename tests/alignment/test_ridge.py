"""Tests for RidgeCV (and the Pearson and R^2 scoring it uses), on numpy and torch."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.metrics import pearson_columns, r2_columns
from brainalign.alignment.ridge import DEFAULT_ALPHAS, RidgeCV


def _data(n, p, n_targets, *, seed=0, noise=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    W = rng.standard_normal((p, n_targets))
    Y = X @ W + noise * rng.standard_normal((n, n_targets)) + 3.0
    return X, Y, W


def _assert_close(actual, expected, rtol=1e-6):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1e-300)
    assert np.abs(actual - expected).max() <= rtol * scale


# --- pearson_columns ---------------------------------------------------------------


def test_pearson_columns_matches_scipy_and_marks_constants_nan():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 4))
    b = a + rng.standard_normal((30, 4))
    b[:, 3] = 0.1  # constant column (whose float mean is not exactly 0.1)
    r = pearson_columns(a, b)
    assert r.shape == (4,) and r.dtype == np.float64
    for j in range(3):
        assert r[j] == pytest.approx(pearsonr(a[:, j], b[:, j])[0], abs=1e-12)
    assert np.isnan(r[3])
    assert pearson_columns(a[:, 0], b[:, 0]) == pytest.approx(r[0], abs=1e-15)
    assert isinstance(pearson_columns(a[:, 0], b[:, 0]), float)
    assert pearson_columns(a.astype(np.float32), a)[0] == pytest.approx(1.0)


def test_pearson_columns_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        pearson_columns(np.ones((5, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        pearson_columns(np.ones((1, 2)), np.ones((1, 2)))


# --- equivalence with scikit-learn at a fixed alpha ----------------------------------


@pytest.mark.parametrize(("n", "p"), [(80, 20), (30, 100)])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [1, 6])
def test_single_alpha_equals_sklearn_ridge(n, p, fit_intercept, n_targets):
    X, Y, _ = _data(n, p, n_targets, seed=n + p + n_targets, offset=2.0)
    if n_targets == 1:
        Y = Y[:, 0]
    for alpha in (0.5, 30.0):
        ours = RidgeCV(alphas=[alpha], fit_intercept=fit_intercept).fit(X, Y)
        ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
        _assert_close(ours.coef_, ref.coef_)
        # sklearn gives a scalar 0.0 without an intercept; ours is one per target.
        _assert_close(ours.intercept_, np.broadcast_to(ref.intercept_, np.shape(ours.intercept_)))
        X_new = np.random.default_rng(1).standard_normal((7, p))
        _assert_close(ours.predict(X_new), ref.predict(X_new))
        np.testing.assert_array_equal(ours.best_alphas_, np.full(n_targets, alpha))


def test_recovers_planted_weights():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((30, 5))
    X = rng.standard_normal((500, 30))
    Y = X @ W + 1.0 * rng.standard_normal((500, 5)) + 3.0
    model = RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(X[:400], Y[:400])
    for j in range(5):
        assert pearsonr(model.coef_[j], W[:, j])[0] > 0.95
    np.testing.assert_allclose(model.intercept_, 3.0, atol=0.5)
    assert np.all(model.score(X[400:], Y[400:]) > 0.9)


# --- alpha selection -------------------------------------------------------------------


def test_best_alphas_is_argmax_of_cv_scores():
    X, Y, _ = _data(90, 40, 8, seed=4, noise=8.0)
    alphas = np.logspace(-2, 4, 7)
    model = RidgeCV(alphas=alphas, cv=4).fit(X, Y)
    assert model.cv_scores_.shape == (7, 8)
    np.testing.assert_array_equal(model.best_alphas_, alphas[model.cv_scores_.argmax(axis=0)])


@pytest.mark.parametrize(("n", "p"), [(60, 15), (60, 90)])
def test_cv_scores_equal_brute_force_sklearn(n, p):
    X, Y, _ = _data(n, p, 4, seed=5, noise=6.0, offset=1.0)
    alphas = np.logspace(-2, 3, 6)
    cv = BlockedKFold(3, gap=2)
    model = RidgeCV(alphas=alphas, cv=cv).fit(X, Y)
    brute = np.zeros((alphas.size, Y.shape[1]))
    for i, alpha in enumerate(alphas):
        for train, val in cv.split(X):
            pred = Ridge(alpha=alpha).fit(X[train], Y[train]).predict(X[val])
            brute[i] += [pearsonr(pred[:, j], Y[val, j])[0] for j in range(Y.shape[1])]
    brute /= cv.get_n_splits()
    np.testing.assert_allclose(model.cv_scores_, brute, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(model.best_alphas_, alphas[brute.argmax(axis=0)])


def test_noisier_targets_get_larger_alphas():
    # Noisy targets have flat, noisy CV curves, so single choices scatter; the typical
    # choice must still be far more regularised than for clean targets.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 100))
    signal = X @ rng.standard_normal((100, 20))
    noise_sd = np.r_[np.full(10, 0.1), np.full(10, 2.0)] * signal.std(axis=0)
    Y = signal + noise_sd * rng.standard_normal((200, 20))
    model = RidgeCV(alphas=np.logspace(-3, 5, 17)).fit(X, Y)
    assert np.median(model.best_alphas_[10:]) >= 30 * np.median(model.best_alphas_[:10])


def test_constant_target_scores_nan_and_gets_first_alpha():
    X, Y, _ = _data(60, 10, 3, seed=7)
    Y[:, 1] = 0.1
    alphas = np.array([10.0, 1.0, 100.0])
    model = RidgeCV(alphas=alphas).fit(X, Y)
    assert np.all(np.isnan(model.cv_scores_[:, 1]))
    assert np.all(np.isfinite(model.cv_scores_[:, [0, 2]]))
    assert model.best_alphas_[1] == 10.0
    np.testing.assert_allclose(model.coef_[1], 0.0, atol=1e-12)
    np.testing.assert_allclose(model.predict(X)[:, 1], 0.1)


@pytest.mark.parametrize(("n", "p"), [(70, 20), (40, 60)])
def test_batching_does_not_change_results(n, p):
    X, Y, _ = _data(n, p, 25, seed=8, noise=5.0)
    whole = RidgeCV(alphas=np.logspace(-1, 4, 6)).fit(X, Y)
    batched = RidgeCV(alphas=np.logspace(-1, 4, 6), target_batch_size=4).fit(X, Y)
    np.testing.assert_allclose(batched.cv_scores_, whole.cv_scores_, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(batched.best_alphas_, whole.best_alphas_)
    np.testing.assert_allclose(batched.coef_, whole.coef_, rtol=1e-12, atol=1e-14)


# --- API ---------------------------------------------------------------------------------


def test_score_is_per_target_pearson():
    X, Y, _ = _data(80, 10, 3, seed=9)
    model = RidgeCV().fit(X, Y)
    np.testing.assert_array_equal(model.score(X, Y), pearson_columns(model.predict(X), Y))
    assert model.score(X, Y).shape == (3,)


def test_defaults_clone_and_not_fitted():
    model = RidgeCV()
    assert repr(model) == "RidgeCV()"
    assert clone(RidgeCV(alphas=[1.0, 2.0], cv=3)).get_params()["cv"] == 3
    np.testing.assert_allclose(DEFAULT_ALPHAS, np.logspace(-1, 8, 19))
    with pytest.raises(NotFittedError):
        model.predict(np.ones((2, 2)))


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "match"),
    [
        (np.ones((10, 2)), np.ones((9, 1)), {}, "10 rows"),
        (np.full((10, 2), np.nan), np.ones((10, 1)), {}, "NaN"),
        (np.ones((10, 2)), np.r_[np.ones(9), np.inf], {}, "NaN or inf"),
        (np.ones((10, 2)), np.ones(10), {"alphas": []}, "empty"),
        (np.ones((10, 2)), np.ones(10), {"alphas": [1.0, 0.0]}, "positive"),
        (np.ones((10, 2)), np.ones(10), {"alphas": [-1.0]}, "positive"),
        (np.ones((10, 2)), np.ones(10), {"cv": "blocks"}, "cv must be"),
        (np.ones((10, 2)), np.ones(10), {"cv": BlockedKFold(2, gap=5)}, "no training"),
        (np.ones((10, 2)), np.ones(10), {"target_batch_size": 0}, "target_batch_size"),
        (np.ones(10), np.ones(10), {}, "2-D"),
    ],
)
def test_bad_input_raises(X, Y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        RidgeCV(**kwargs).fit(X, Y)


def test_predict_checks_feature_count():
    X, Y, _ = _data(40, 5, 2)
    model = RidgeCV().fit(X, Y)
    with pytest.raises(ValueError, match="5"):
        model.predict(np.ones((3, 4)))


# --- scoring="r2" ------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(60, 15), (60, 90)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_r2_cv_scores_equal_brute_force_sklearn(n, p, fit_intercept):
    X, Y, _ = _data(n, p, 4, seed=11, noise=6.0, offset=1.0)
    alphas = np.logspace(-2, 3, 6)
    cv = BlockedKFold(3, gap=2)
    model = RidgeCV(alphas=alphas, cv=cv, fit_intercept=fit_intercept, scoring="r2").fit(X, Y)
    brute = np.zeros((alphas.size, Y.shape[1]))
    for i, alpha in enumerate(alphas):
        for train, val in cv.split(X):
            ref = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X[train], Y[train])
            brute[i] += r2_score(Y[val], ref.predict(X[val]), multioutput="raw_values")
    brute /= cv.get_n_splits()
    np.testing.assert_allclose(model.cv_scores_, brute, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(model.best_alphas_, alphas[brute.argmax(axis=0)])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_r2_scoring_matches_himalaya():
    himalaya_ridge = pytest.importorskip("himalaya.ridge")
    himalaya_scoring = pytest.importorskip("himalaya.scoring")
    X, Y, _ = _data(90, 30, 12, seed=12, noise=5.0)
    alphas = np.logspace(-1, 5, 13)
    cv = BlockedKFold(4, gap=2)
    ours = RidgeCV(alphas, cv=cv, scoring="r2").fit(X, Y)
    theirs = himalaya_ridge.RidgeCV(
        alphas=alphas,
        cv=list(cv.split(X)),
        fit_intercept=True,
        solver_params={"score_func": himalaya_scoring.r2_score, "local_alpha": True},
    ).fit(X, Y)
    np.testing.assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-12)
    np.testing.assert_allclose(ours.cv_scores_.max(axis=0), theirs.cv_scores_, atol=2e-9)
    np.testing.assert_allclose(ours.coef_, theirs.coef_.T, rtol=1e-8, atol=1e-12)


def test_score_follows_scoring():
    X, Y, _ = _data(80, 10, 3, seed=13)
    model = RidgeCV(scoring="r2").fit(X[:60], Y[:60])
    np.testing.assert_array_equal(
        model.score(X[60:], Y[60:]), r2_columns(Y[60:], model.predict(X[60:]))
    )
    with pytest.raises(ValueError, match="scoring='R2'"):
        RidgeCV(scoring="R2").fit(X, Y)


# --- numpy and torch ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(70, 20), (40, 90)])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("scoring", ["pearson", "r2"])
def test_numpy_and_torch_float64_agree(n, p, fit_intercept, scoring):
    X, Y, _ = _data(n, p, 9, seed=14, noise=5.0, offset=1.0)
    Y[:, 4] = 0.1  # a constant target takes the same path on both backends
    kwargs = {"cv": BlockedKFold(3, gap=1), "fit_intercept": fit_intercept, "scoring": scoring}
    alphas = np.logspace(-1, 4, 6)
    ours = RidgeCV(alphas, target_batch_size=4, **kwargs).fit(X, Y)
    on_torch = RidgeCV(alphas, target_batch_size=4, **kwargs).fit(torch.tensor(X), torch.tensor(Y))
    for name in ("cv_scores_", "best_alphas_", "coef_", "intercept_"):
        value = getattr(on_torch, name)
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float64, name
    np.testing.assert_allclose(
        on_torch.cv_scores_.numpy(), ours.cv_scores_, rtol=1e-9, atol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(on_torch.best_alphas_.numpy(), ours.best_alphas_)
    np.testing.assert_allclose(on_torch.coef_.numpy(), ours.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(on_torch.intercept_.numpy(), ours.intercept_, rtol=1e-9)
    X_new = np.random.default_rng(0).standard_normal((5, p))
    pred = on_torch.predict(torch.tensor(X_new))
    np.testing.assert_allclose(pred.numpy(), ours.predict(X_new), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        on_torch.score(torch.tensor(X), torch.tensor(Y)).numpy(),
        ours.score(X, Y),
        rtol=1e-9,
        equal_nan=True,
    )


def test_torch_one_target_float32_and_mixed_kinds():
    X, Y, _ = _data(50, 8, 1, seed=15)
    model = RidgeCV(cv=3).fit(torch.tensor(X), torch.tensor(Y[:, 0]))
    assert model.coef_.shape == (8,) and isinstance(model.intercept_, float)
    assert model.predict(torch.tensor(X)).shape == (50,)
    single = RidgeCV(cv=3).fit(X, Y[:, 0])
    np.testing.assert_allclose(model.coef_.numpy(), single.coef_, rtol=1e-9)
    low = RidgeCV(alphas=[1.0, 10.0], cv=3).fit(
        torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    )
    assert low.coef_.dtype == torch.float32
    reference = RidgeCV(alphas=[1.0, 10.0], cv=3).fit(X, Y)
    np.testing.assert_allclose(low.coef_.numpy(), reference.coef_, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="to_backend"):
        RidgeCV().fit(X, torch.tensor(Y))
    with pytest.raises(TypeError, match="to_backend"):
        model.predict(X)


def test_cv_accepts_a_list_of_splits_and_checks_indices():
    X, Y, _ = _data(60, 8, 3, seed=16)
    cv = BlockedKFold(3, gap=2)
    from_splitter = RidgeCV(cv=cv).fit(X, Y)
    from_list = RidgeCV(cv=list(cv.split(X))).fit(X, Y)
    np.testing.assert_array_equal(from_list.cv_scores_, from_splitter.cv_scores_)
    with pytest.raises(ValueError, match="outside 0..59"):
        RidgeCV(cv=[(np.arange(10, 70), np.arange(10))]).fit(X, Y)


# --- internals of the speed-ups ------------------------------------------------------


@pytest.mark.parametrize("scoring", ["pearson", "r2"])
@pytest.mark.parametrize("to_array", [np.asarray, torch.as_tensor])
def test_one_scorer_serves_many_predictions(scoring, to_array):
    """The scorer ridge keeps per fold gives the public metrics' numbers for every alpha."""
    from scipy.stats import pearsonr
    from sklearn.metrics import r2_score

    from brainalign.alignment.metrics import TargetScorer

    rng = np.random.default_rng(7)
    Y_val = rng.standard_normal((12, 5)) + 2.0
    Y_val[:, 1] = 0.3  # constant response: nan
    score = TargetScorer(scoring, to_array(Y_val))
    public = pearson_columns if scoring == "pearson" else lambda p, y: r2_columns(y, p)
    for k in range(3):
        pred = Y_val + rng.standard_normal((12, 5)) * (k + 0.5)
        pred[:, 2] = 1.5  # constant prediction: nan for Pearson r
        got = np.asarray(score(to_array(pred)))
        np.testing.assert_array_equal(got, np.asarray(public(to_array(pred), to_array(Y_val))))
        assert np.isnan(got[1])
        for j in (0, 3, 4):
            if scoring == "pearson":
                expected = pearsonr(pred[:, j], Y_val[:, j]).statistic
            else:
                expected = r2_score(Y_val[:, j], pred[:, j])
            np.testing.assert_allclose(got[j], expected, rtol=1e-12)


def test_small_eigh_runs_on_one_thread_numpy_or_cpu_torch():
    from contextlib import nullcontext

    from threadpoolctl import threadpool_info

    from brainalign.alignment import ridge

    with ridge._blas_threads_for_eigh(np.eye(4)):
        assert all(
            pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas"
        )
    before = torch.get_num_threads()
    with ridge._blas_threads_for_eigh(torch.eye(4)):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    big_tensor = torch.empty((ridge._ONE_THREAD_EIGH_MAX + 1, 1))
    assert isinstance(ridge._blas_threads_for_eigh(big_tensor), nullcontext)
    big = np.empty((ridge._ONE_THREAD_EIGH_MAX + 1, 1))
    assert isinstance(ridge._blas_threads_for_eigh(big), nullcontext)
    M = np.cov(np.random.default_rng(0).standard_normal((5, 40)))
    s2, vectors = ridge._eigh(M)
    np.testing.assert_allclose((vectors * s2) @ vectors.T, M, atol=1e-12)
