"""KernelRidgeCV against himalaya's KernelRidgeCV and scikit-learn's KernelRidge."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import r2_score

from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.kernel_ridge import KernelRidgeCV, kernel_matrix
from brainalign.alignment.metrics import pearson_columns, r2_columns
from brainalign.alignment.ridge import RidgeCV

himalaya_kernel_ridge = pytest.importorskip("himalaya.kernel_ridge")
himalaya_scoring = pytest.importorskip("himalaya.scoring")

KERNELS = [
    ("linear", None),
    ("polynomial", {"degree": 2, "coef0": 0.5}),
    ("polynomial", None),
    ("rbf", {"gamma": 0.003}),
    ("rbf", None),
]


def _data(n=48, p=120, n_targets=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, n_targets)) * rng.random(n_targets) * 0.2
    Y = X @ W + rng.standard_normal((n, n_targets)) + 2.0
    return X, Y, rng.standard_normal((7, p))


@pytest.mark.parametrize(("kernel", "params"), KERNELS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("scoring", ["pearson", "r2"])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_matches_himalaya_kernel_ridge_cv(kernel, params, fit_intercept, scoring):
    X, Y, X_new = _data(seed=len(kernel) + int(fit_intercept))
    alphas = np.logspace(-2, 4, 13)
    cv = BlockedKFold(4, gap=2)
    score_func = {"pearson": himalaya_scoring.correlation_score, "r2": himalaya_scoring.r2_score}
    ours = KernelRidgeCV(
        alphas,
        kernel=kernel,
        kernel_params=params,
        cv=cv,
        fit_intercept=fit_intercept,
        scoring=scoring,
    ).fit(X, Y)
    theirs = himalaya_kernel_ridge.KernelRidgeCV(
        alphas=alphas,
        kernel=kernel,
        kernel_params=params,
        cv=list(cv.split(X)),  # himalaya takes an int, a splitter or a list of splits
        fit_intercept=fit_intercept,
        solver_params={"score_func": score_func[scoring]},
    ).fit(X, Y)
    # himalaya's alphas come back as exp(log(alpha)), hence rtol rather than equality.
    np.testing.assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-12)
    # himalaya adds 1e-10 * log(alpha) to the mean score to break ties: atol covers it.
    np.testing.assert_allclose(ours.cv_scores_.max(axis=0), theirs.cv_scores_, atol=2e-9)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, rtol=1e-8, atol=1e-10)
    if fit_intercept:
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict(X_new), theirs.predict(X_new), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(
    ("kernel", "params"),
    [*KERNELS, ("polynomial", {"degree": 3, "gamma": 0.01, "coef0": 2.0})],
)
def test_single_alpha_equals_sklearn_kernel_ridge(kernel, params):
    # sklearn's KernelRidge has no intercept, and the same kernels and defaults.
    X, Y, X_new = _data(seed=3)
    sk_kernel = "poly" if kernel == "polynomial" else kernel
    for alpha in (0.3, 50.0):
        ours = KernelRidgeCV([alpha], kernel=kernel, kernel_params=params, fit_intercept=False).fit(
            X, Y
        )
        ref = KernelRidge(alpha=alpha, kernel=sk_kernel, **(params or {})).fit(X, Y)
        np.testing.assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), rtol=1e-8)
        np.testing.assert_allclose(
            kernel_matrix(X_new, X, kernel=kernel, **(params or {})),
            ref._get_kernel(X_new, X),
            rtol=1e-12,
        )


def test_linear_kernel_equals_ridge_cv():
    # A linear kernel is ridge regression in its dual form, with the same CV scores.
    X, Y, X_new = _data(seed=4)
    alphas = np.logspace(-1, 4, 11)
    for scoring in ("pearson", "r2"):
        kernel = KernelRidgeCV(alphas, cv=3, scoring=scoring).fit(X, Y)
        ridge = RidgeCV(alphas, cv=3, scoring=scoring).fit(X, Y)
        np.testing.assert_allclose(kernel.cv_scores_, ridge.cv_scores_, rtol=1e-9, atol=1e-11)
        np.testing.assert_array_equal(kernel.best_alphas_, ridge.best_alphas_)
        np.testing.assert_allclose(kernel.predict(X_new), ridge.predict(X_new), rtol=1e-9)


def test_r2_cv_scores_equal_brute_force_sklearn():
    X, Y, _ = _data(n=40, p=60, n_targets=4, seed=5)
    alphas = np.logspace(-1, 3, 5)
    cv = BlockedKFold(3, gap=1)
    model = KernelRidgeCV(alphas, kernel="rbf", cv=cv, scoring="r2").fit(X, Y)
    brute = np.zeros((alphas.size, 4))
    for i, alpha in enumerate(alphas):
        for train, val in cv.split(X):
            # Centring Y (the intercept) and the kernel in feature space, by hand.
            K = kernel_matrix(X, kernel="rbf")
            ref = KernelRidge(alpha=alpha, kernel="precomputed")
            K_tr, K_val = K[np.ix_(train, train)], K[np.ix_(val, train)]
            col = K_tr.mean(axis=0)
            K_tr_c = K_tr - col[None] - col[:, None] + col.mean()
            K_val_c = K_val - col[None] - K_val.mean(axis=1)[:, None] + col.mean()
            y_mean = Y[train].mean(axis=0)
            pred = ref.fit(K_tr_c, Y[train] - y_mean).predict(K_val_c) + y_mean
            brute[i] += r2_score(Y[val], pred, multioutput="raw_values")
    np.testing.assert_allclose(model.cv_scores_, brute / 3, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kernel", ["linear", "polynomial", "rbf"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_numpy_and_torch_agree(kernel, fit_intercept):
    X, Y, X_new = _data(seed=6)
    kwargs = {"kernel": kernel, "cv": BlockedKFold(3, gap=1), "fit_intercept": fit_intercept}
    ours = KernelRidgeCV(np.logspace(-2, 4, 7), **kwargs).fit(X, Y)
    on_torch = KernelRidgeCV(np.logspace(-2, 4, 7), **kwargs).fit(torch.tensor(X), torch.tensor(Y))
    assert isinstance(on_torch.dual_coef_, torch.Tensor)
    assert on_torch.dual_coef_.dtype == torch.float64
    np.testing.assert_allclose(on_torch.cv_scores_.numpy(), ours.cv_scores_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(on_torch.best_alphas_.numpy(), ours.best_alphas_)
    np.testing.assert_allclose(on_torch.dual_coef_.numpy(), ours.dual_coef_, rtol=1e-9, atol=1e-12)
    pred = on_torch.predict(torch.tensor(X_new))
    assert isinstance(pred, torch.Tensor)
    np.testing.assert_allclose(pred.numpy(), ours.predict(X_new), rtol=1e-9)


def test_one_target_score_and_constant_target():
    X, Y, _ = _data(seed=7)
    Y[:, 1] = 0.25
    model = KernelRidgeCV([1.0, 10.0, 100.0], kernel="rbf").fit(X, Y)
    assert np.all(np.isnan(model.cv_scores_[:, 1]))
    assert model.best_alphas_[1] == 1.0
    np.testing.assert_allclose(model.predict(X)[:, 1], 0.25)
    single = KernelRidgeCV([1.0, 10.0, 100.0], kernel="rbf").fit(X, Y[:, 0])
    assert single.dual_coef_.shape == (X.shape[0],)
    assert isinstance(single.intercept_, float)
    assert isinstance(single.score(X, Y[:, 0]), float)
    np.testing.assert_array_equal(model.score(X, Y), pearson_columns(model.predict(X), Y))
    r2_model = clone(model).set_params(scoring="r2").fit(X, Y)
    np.testing.assert_array_equal(r2_model.score(X, Y), r2_columns(Y, r2_model.predict(X)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": "sigmoid"}, "kernel='sigmoid'"),
        ({"kernel": "rbf", "kernel_params": {"degree": 2}}, r"\['degree'\]"),
        ({"kernel": "linear", "kernel_params": {"gamma": 1.0}}, "none"),
        ({"scoring": "mse"}, "scoring='mse'"),
        ({"alphas": [0.0]}, "positive"),
        ({"cv": "kfold"}, "cv must be"),
        ({"target_batch_size": 0}, "target_batch_size"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    X, Y, _ = _data(n=20, p=30, n_targets=2)
    with pytest.raises(ValueError, match=match):
        KernelRidgeCV(**kwargs).fit(X, Y)


def test_bad_data_and_predict_checks():
    X, Y, _ = _data(n=20, p=30, n_targets=2)
    with pytest.raises(ValueError, match="20 rows"):
        KernelRidgeCV().fit(X, Y[:19])
    with pytest.raises(ValueError, match="NaN or inf"):
        KernelRidgeCV().fit(np.where(X > 2.5, np.nan, X), Y)
    with pytest.raises(NotFittedError):
        KernelRidgeCV().predict(X)
    model = KernelRidgeCV(cv=2).fit(X, Y)
    with pytest.raises(ValueError, match="30"):
        model.predict(X[:, :5])
    with pytest.raises(TypeError, match="to_backend"):
        model.predict(torch.tensor(X))
    assert repr(KernelRidgeCV()) == "KernelRidgeCV()"
