"""OLS against scikit-learn's LinearRegression; PLSRegression with Brain-Score's settings."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression as SklearnPLS
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from brainalign.alignment.linear import OLS, PLSRegression
from brainalign.alignment.metrics import pearson_columns, r2_columns


def _data(n, p, n_targets=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 1.5
    Y = X @ rng.standard_normal((p, n_targets)) + rng.standard_normal((n, n_targets)) - 2.0
    return X, Y, rng.standard_normal((6, p)) + 1.5


# --- OLS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(80, 12), (30, 60), (25, 25)])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [1, 5])
def test_ols_equals_sklearn_linear_regression(n, p, fit_intercept, n_targets):
    X, Y, X_new = _data(n, p, n_targets, seed=n + p)
    if n_targets == 1:
        Y = Y[:, 0]
    ours = OLS(fit_intercept=fit_intercept).fit(X, Y)
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, Y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(
        ours.intercept_, np.broadcast_to(ref.intercept_, np.shape(ours.intercept_)), atol=1e-9
    )
    np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), rtol=1e-9, atol=1e-9)
    assert ours.rank_ == ref.rank_
    # The centred X of a wide problem has one zero singular value: rounding noise.
    atol = 1e-12 * ref.singular_.max()
    np.testing.assert_allclose(ours.singular_values_, ref.singular_, rtol=1e-10, atol=atol)


def test_ols_collinear_columns_give_the_minimum_norm_solution():
    X, Y, _ = _data(50, 6, seed=1)
    X = np.c_[X, X[:, :2] * 2.0]  # two exactly collinear columns: rank 6 of 8
    ours = OLS().fit(X, Y)
    ref = LinearRegression().fit(X, Y)
    assert ours.rank_ == 6
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    X_c, Y_c = X - X.mean(axis=0), Y - Y.mean(axis=0)
    np.testing.assert_allclose(ours.coef_.T, np.linalg.pinv(X_c) @ Y_c, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("n", "p"), [(60, 10), (20, 40)])
def test_ols_numpy_and_torch_agree(n, p):
    X, Y, X_new = _data(n, p, seed=2)
    ours = OLS().fit(X, Y)
    on_torch = OLS().fit(torch.tensor(X), torch.tensor(Y))
    assert isinstance(on_torch.coef_, torch.Tensor) and on_torch.coef_.dtype == torch.float64
    np.testing.assert_allclose(on_torch.coef_.numpy(), ours.coef_, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(
        on_torch.predict(torch.tensor(X_new)).numpy(), ours.predict(X_new), rtol=1e-9
    )
    assert on_torch.rank_ == ours.rank_


def test_ols_score_conventions():
    X, Y, _ = _data(60, 5, seed=3)
    model = OLS().fit(X[:40], Y[:40])
    np.testing.assert_array_equal(
        model.score(X[40:], Y[40:]), pearson_columns(model.predict(X[40:]), Y[40:])
    )
    r2_model = OLS(scoring="r2").fit(X[:40], Y[:40])
    np.testing.assert_array_equal(
        r2_model.score(X[40:], Y[40:]), r2_columns(Y[40:], r2_model.predict(X[40:]))
    )
    assert repr(OLS()) == "OLS()"
    assert clone(OLS(fit_intercept=False)).get_params()["fit_intercept"] is False


@pytest.mark.parametrize("estimator", [OLS(), PLSRegression(n_components=2)])
def test_bad_input_raises(estimator):
    X, Y, _ = _data(20, 4, seed=4)
    with pytest.raises(ValueError, match="20 rows"):
        clone(estimator).fit(X, Y[:19])
    with pytest.raises(ValueError, match="NaN or inf"):
        clone(estimator).fit(np.where(X > 2.5, np.inf, X), Y)
    with pytest.raises(ValueError, match="2-D"):
        clone(estimator).fit(X[:, 0], Y)
    with pytest.raises(ValueError, match="scoring='mae'"):
        clone(estimator).set_params(scoring="mae").fit(X, Y)
    with pytest.raises(NotFittedError):
        clone(estimator).predict(X)
    fitted = clone(estimator).fit(X, Y)
    with pytest.raises(ValueError, match="4"):
        fitted.predict(X[:, :3])


# --- PLS -------------------------------------------------------------------------------------


def test_pls_defaults_are_brainscore():
    # brainscore_core.metrics.regression.pls_regression: PLSRegression(n_components=25,
    # scale=False) from scikit-learn.
    params = PLSRegression().get_params()
    assert params["n_components"] == 25 and params["scale"] is False
    assert repr(PLSRegression()) == "PLSRegression()"


@pytest.mark.parametrize("n_targets", [1, 6])
def test_pls_equals_sklearn_with_brainscore_settings(n_targets):
    X, Y, X_new = _data(90, 40, n_targets, seed=5)
    if n_targets == 1:
        Y = Y[:, 0]
    ours = PLSRegression().fit(X, Y)
    ref = SklearnPLS(n_components=25, scale=False).fit(X, Y)
    np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    assert np.shape(ours.predict(X_new)) == np.shape(ref.predict(X_new))


def test_pls_torch_in_torch_out():
    X, Y, X_new = _data(50, 30, seed=6)
    ours = PLSRegression(n_components=5).fit(X, Y)
    on_torch = PLSRegression(n_components=5).fit(torch.tensor(X), torch.tensor(Y))
    pred = on_torch.predict(torch.tensor(X_new))
    assert isinstance(pred, torch.Tensor) and isinstance(on_torch.coef_, torch.Tensor)
    np.testing.assert_allclose(pred.numpy(), ours.predict(X_new), rtol=1e-12)
    score = on_torch.score(torch.tensor(X), torch.tensor(Y))
    assert isinstance(score, torch.Tensor) and score.shape == (4,)


def test_pls_too_many_components_is_a_clear_error():
    X, Y, _ = _data(30, 10, seed=7)
    with pytest.raises(ValueError, match=r"n_components=25 .* 10 features.*<= 10"):
        PLSRegression().fit(X, Y)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        PLSRegression(n_components=0).fit(X, Y)
