"""Column-wise scores against scipy and scikit-learn, on numpy and torch."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import explained_variance_score, r2_score

from brainalign.alignment.metrics import explained_variance_columns, pearson_columns, r2_columns

SCORES = [
    (r2_columns, r2_score),
    (explained_variance_columns, explained_variance_score),
]


def _pair(n=40, n_targets=5, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.standard_normal((n, n_targets)) * rng.uniform(0.5, 3.0, n_targets) + 2.0
    y_pred = 0.6 * y_true + rng.standard_normal((n, n_targets)) + rng.normal(size=n_targets)
    return y_true, y_pred


@pytest.mark.parametrize(("ours", "reference"), SCORES)
def test_scores_match_sklearn_raw_values(ours, reference):
    y_true, y_pred = _pair()
    y_pred[:, 4] = -y_true[:, 4]  # a negative score
    expected = reference(y_true, y_pred, multioutput="raw_values")
    result = ours(y_true, y_pred)
    assert isinstance(result, np.ndarray) and result.shape == (5,)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-14)
    assert result[4] < 0
    single = ours(y_true[:, 0], y_pred[:, 0])
    assert isinstance(single, float)
    assert single == pytest.approx(reference(y_true[:, 0], y_pred[:, 0]), rel=1e-12)


def test_r2_and_explained_variance_differ_by_the_mean_error():
    y_true, y_pred = _pair(seed=1)
    shifted = y_pred + 5.0
    np.testing.assert_allclose(
        explained_variance_columns(y_true, shifted),
        explained_variance_columns(y_true, y_pred),
        rtol=1e-12,
    )
    assert np.all(r2_columns(y_true, shifted) < r2_columns(y_true, y_pred))
    assert r2_columns(y_true, y_true) == pytest.approx(np.ones(5))


@pytest.mark.parametrize(("ours", "reference"), SCORES)
def test_constant_target_is_nan_where_sklearn_says_one_or_zero(ours, reference):
    y_true, y_pred = _pair(seed=2)
    y_true[:, 1] = 0.1  # constant, predicted perfectly: sklearn says 1.0
    y_pred[:, 1] = 0.1
    y_true[:, 2] = 0.5  # constant, predicted badly: sklearn says 0.0
    # Constant, but its float mean is not exactly 0.3: sklearn divides by a rounding
    # error (a huge number, not 0.0); max == min here, so ours is nan.
    y_true[:, 3] = 0.3
    result = ours(y_true, y_pred)
    expected = reference(y_true, y_pred, multioutput="raw_values")
    assert expected[1] == 1.0 and expected[2] == 0.0
    assert np.all(np.isnan(result[1:4]))
    keep = [0, 4]
    np.testing.assert_allclose(result[keep], expected[keep], rtol=1e-12)


def test_pearson_matches_scipy_and_constant_columns_are_nan():
    y_true, y_pred = _pair(seed=3)
    y_pred[:, 3] = 1.5
    r = pearson_columns(y_pred, y_true)
    expected = [pearsonr(y_pred[:, j], y_true[:, j])[0] for j in (0, 1, 2, 4)]
    np.testing.assert_allclose(r[[0, 1, 2, 4]], expected, rtol=1e-12)
    assert np.isnan(r[3])


@pytest.mark.parametrize("score", [pearson_columns, r2_columns, explained_variance_columns])
def test_numpy_and_torch_agree(score):
    y_true, y_pred = _pair(seed=4)
    y_true[:, 2] = 7.0
    expected = score(y_true, y_pred)
    result = score(torch.tensor(y_true), torch.tensor(y_pred))
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12, equal_nan=True)
    # float32 tensors are scored in float64, like float32 numpy arrays
    result32 = score(torch.tensor(y_true, dtype=torch.float32), torch.tensor(y_pred))
    assert result32.dtype == torch.float64
    single = score(torch.tensor(y_true[:, 0]), torch.tensor(y_pred[:, 0]))
    assert isinstance(single, float)


@pytest.mark.parametrize("score", [pearson_columns, r2_columns, explained_variance_columns])
def test_bad_input_raises(score):
    name = score.__name__
    with pytest.raises(ValueError, match=f"{name} needs arrays of the same shape"):
        score(np.ones((5, 2)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        score(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        score(np.ones((3, 2, 2)), np.ones((3, 2, 2)))
    with pytest.raises(TypeError, match="to_backend"):
        score(np.ones((3, 2)), torch.ones((3, 2)))
