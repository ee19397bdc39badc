"""Batched logistic regression (Newton at every time point at once) equals scikit-learn's
``StandardScaler`` + ``LogisticRegression`` pipeline, and ``estimator="logistic"`` decoding
equals MNE's SlidingEstimator / GeneralizingEstimator, on real EEG epochs
(tests/data/eeg_long/test_raw.set, 32 channels at 128 Hz) with planted class effects."""

from pathlib import Path

import numpy as np
import pytest

from brainalign.alignment.batched_logistic import fit_batched_logistic
from brainalign.alignment.time_resolved import generalization_scores, sliding_scores

mne = pytest.importorskip("mne")
decoding = pytest.importorskip("mne.decoding")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

EEG = Path(__file__).resolve().parents[1] / "data" / "eeg_long" / "test_raw.set"
N_EPOCHS, N_TIMES = 96, 12
RTOL = 1e-5
PLANTED = {"binary": slice(4, 8), "three_classes": slice(3, 9)}  # samples with an effect


def _pipeline(tol=1e-4):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000, tol=tol))


@pytest.fixture(scope="module")
def noise():
    """96 consecutive real EEG epochs (microvolts), shape (96, 32, 12) at 128 Hz."""
    mne.set_log_level("error")
    raw = mne.io.read_raw_eeglab(EEG, preload=True)
    data = raw.get_data()[:, : N_EPOCHS * N_TIMES] * 1e6
    return data.reshape(32, N_EPOCHS, N_TIMES).transpose(1, 0, 2).copy()


@pytest.fixture(scope="module")
def binary(noise):
    """Two classes, an effect on channels 0-3 at samples 4-7 (weak elsewhere)."""
    y = np.random.default_rng(0).permutation(np.repeat([3, 7], N_EPOCHS // 2))
    X = noise.copy()
    X[:, :4, 4:8] += 12.0 * (y == 7)[:, None, None]
    return X, y


@pytest.fixture(scope="module")
def three_classes(noise):
    """Three classes ('a', 'b', 'c'), each shifting different channels at samples 3-8."""
    codes = np.random.default_rng(1).permutation(np.arange(N_EPOCHS) % 3)
    X = noise.copy()
    for k in range(3):
        X[codes == k, 4 * k : 4 * k + 4, 3:9] += 15.0
    return X, np.array(["a", "b", "c"])[codes]


def _by_time(X):
    return np.ascontiguousarray(np.moveaxis(X, 2, 0))  # (n_times, n_epochs, n_channels)


def _assert_equals_sklearn(X, y, fitted, times=range(N_TIMES)):
    """Coefficients, intercepts, scaler and decision values of each time point equal
    scikit-learn's pipeline fitted to convergence (tol=1e-10) on the same values."""
    data = np.asarray(X, dtype=np.float64)
    for t in times:
        ref = _pipeline(tol=1e-10).fit(data[:, :, t], y)
        scaler, model = ref[0], ref[-1]
        np.testing.assert_array_equal(fitted.classes, model.classes_)
        np.testing.assert_allclose(fitted.mean[t], scaler.mean_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fitted.scale[t], scaler.scale_, rtol=1e-12)
        np.testing.assert_allclose(fitted.var[t], scaler.var_, rtol=1e-12, atol=1e-20)
        size = np.abs(model.coef_).max()
        np.testing.assert_allclose(fitted.coef[t], model.coef_, rtol=0, atol=RTOL * size)
        np.testing.assert_allclose(fitted.intercept[t], model.intercept_, atol=RTOL * size)
        decision = ref.decision_function(data[:, :, t]).reshape(len(y), -1)
        ours = fitted.decision_function(_by_time(data))[t]
        np.testing.assert_allclose(ours, decision, atol=RTOL * np.abs(decision).max())
        np.testing.assert_array_equal(
            fitted.sklearn_pipeline(t).predict(data[:, :, t]), ref.predict(data[:, :, t])
        )


def test_binary_coefficients_equal_sklearn_on_real_eeg(binary):
    X, y = binary
    fitted = fit_batched_logistic(_by_time(X), y)
    assert not fitted.refitted.any() and fitted.n_iter.max() < 20
    assert fitted.coef.shape == (N_TIMES, 1, 32) and fitted.intercept.shape == (N_TIMES, 1)
    _assert_equals_sklearn(X, y, fitted)
    # every train time's model on every test time: the same as the model on each time
    everywhere = fitted.decision_all(_by_time(X))
    for t in (0, 5):
        moved = np.broadcast_to(_by_time(X)[t], (N_TIMES,) + X[:, :, 0].shape)
        np.testing.assert_allclose(everywhere[:, t], fitted.decision_function(moved), atol=1e-10)


def test_multinomial_coefficients_equal_sklearn_on_real_eeg(three_classes):
    X, y = three_classes
    fitted = fit_batched_logistic(_by_time(X), y)
    assert fitted.coef.shape == (N_TIMES, 3, 32) and not fitted.refitted.any()
    np.testing.assert_allclose(fitted.intercept.sum(axis=1), 0.0, atol=1e-10)
    _assert_equals_sklearn(X, y, fitted, times=(0, 4, 11))


def test_float32_input_and_constant_channel(binary):
    X, y = binary
    X32 = X.astype(np.float32)
    X32[:, 9, :] = 4.5  # a constant channel: StandardScaler keeps scale 1, its weight is 0
    fitted = fit_batched_logistic(_by_time(X32), y)
    assert np.all(fitted.scale[:, 9] == 1.0) and np.all(fitted.coef[:, 0, 9] == 0.0)
    _assert_equals_sklearn(X32, y, fitted, times=(2, 5))
    ours = sliding_scores(X32, y, estimator="logistic", cv=4)
    ref = decoding.cross_val_multiscore(
        decoding.SlidingEstimator(_pipeline(1e-10)), X32.astype(np.float64), y, cv=4
    )
    np.testing.assert_array_equal(ours.scores[..., 0], ref)


def test_separable_data_has_the_finite_penalised_solution(binary):
    X, y = binary
    X = X.copy()
    X[:, 0, :] += 1000.0 * (y == 7)[:, None]  # channel 0 separates the classes everywhere
    assert np.all(X[y == 7, 0].min(axis=0) > X[y == 3, 0].max(axis=0))
    fitted = fit_batched_logistic(_by_time(X), y)
    assert np.all(np.isfinite(fitted.coef)) and not fitted.refitted.any()
    _assert_equals_sklearn(X, y, fitted, times=(0, 6))
    ours = sliding_scores(X, y, estimator="logistic", cv=4)
    ref = decoding.cross_val_multiscore(decoding.SlidingEstimator(_pipeline(1e-10)), X, y, cv=4)
    np.testing.assert_array_equal(ours.scores[..., 0], ref)
    assert ours.mean.min() > 0.9


@pytest.mark.parametrize("data", ["binary", "three_classes"])
def test_sliding_and_generalization_equal_mne(data, request):
    X, y = request.getfixturevalue(data)
    cv = StratifiedKFold(4)
    ours = sliding_scores(X, y, estimator="logistic", cv=cv)
    ref = decoding.cross_val_multiscore(decoding.SlidingEstimator(_pipeline(1e-10)), X, y, cv=cv)
    np.testing.assert_array_equal(ours.scores[..., 0], ref)
    # at its default tol=1e-4, lbfgs stops short of the optimum: a test epoch near the
    # decision boundary can flip (one epoch of 24, in one fold and time, for "binary")
    default = decoding.cross_val_multiscore(decoding.SlidingEstimator(_pipeline()), X, y, cv=cv)
    assert np.abs(ours.scores[..., 0] - default).max() <= 1 / 24 + 1e-12
    ref = decoding.cross_val_multiscore(
        decoding.GeneralizingEstimator(_pipeline(1e-10)), X, y, cv=cv
    )
    ours = generalization_scores(X, y, estimator="logistic", cv=cv, n_jobs=2)
    assert ours.scores.shape == (4, N_TIMES, N_TIMES, 1)
    assert "batched Newton" in ours.settings["solver"]
    np.testing.assert_array_equal(ours.scores[..., 0], ref)
    diagonal = np.diag(ours.mean[..., 0])  # decoded where the effect was planted only
    planted = np.zeros(N_TIMES, bool)
    planted[PLANTED[data]] = True
    assert diagonal[planted].min() > diagonal[~planted].max() + 0.15


def test_roc_auc_and_other_scorers_equal_mne(binary, three_classes):
    X, y = binary
    for generalize, kind in (
        (False, decoding.SlidingEstimator),
        (True, decoding.GeneralizingEstimator),
    ):
        function = generalization_scores if generalize else sliding_scores
        ref = decoding.cross_val_multiscore(kind(_pipeline(1e-10), scoring="roc_auc"), X, y, cv=4)
        ours = function(X, y, estimator="logistic", scoring="roc_auc", cv=4)
        np.testing.assert_allclose(ours.scores[..., 0], ref, rtol=0, atol=1e-6)
    # a scorer without a vectorised form is called on each time point's fitted pipeline
    X3, y3 = three_classes
    scorer = decoding.SlidingEstimator(_pipeline(1e-10), scoring="neg_log_loss")
    ref = decoding.cross_val_multiscore(scorer, X3, y3, cv=3)
    ours = sliding_scores(X3, y3, estimator="logistic", scoring="neg_log_loss", cv=3, n_jobs=2)
    np.testing.assert_allclose(ours.scores[..., 0], ref, rtol=1e-6)


def test_many_unknowns_keep_the_per_time_point_fits(noise):
    """Six classes x 33 columns = 165 unknowns per Newton system: lbfgs per time point."""
    y = np.arange(N_EPOCHS) % 6
    X = noise[:, :, :4]
    ours = sliding_scores(X, y, estimator="logistic", cv=2)
    assert "solver" not in ours.settings
    ref = decoding.cross_val_multiscore(
        decoding.SlidingEstimator(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        ),
        X,
        y,
        cv=2,
    )
    np.testing.assert_array_equal(ours.scores[..., 0], ref)


def test_threads_give_the_same_scores(three_classes):
    X, y = three_classes
    one = generalization_scores(X, y, estimator="logistic", cv=3, n_jobs=1)
    two = generalization_scores(X, y, estimator="logistic", cv=3, n_jobs=2)
    np.testing.assert_array_equal(one.scores, two.scores)


def test_time_points_newton_leaves_unconverged_are_fitted_by_sklearn(binary):
    X, y = binary
    fitted = fit_batched_logistic(_by_time(X[:, :, :3]), y, max_iter=1)
    assert fitted.refitted.all() and np.all(fitted.n_iter == 0)
    _assert_equals_sklearn(X[:, :, :3], y, fitted, times=range(3))


def test_bad_input_is_refused(binary):
    X, y = binary
    with pytest.raises(ValueError, match="trains on one class"):
        sliding_scores(X, np.sort(y), estimator="logistic", cv=KFold(2))
    with pytest.raises(ValueError, match=r"shape \(n_times, n_epochs, n_channels\)"):
        fit_batched_logistic(X[:, :, 0], y)
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_batched_logistic(np.full((2, 4, 3), np.nan), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="one label per epoch"):
        fit_batched_logistic(_by_time(X), y[:-1])
    with pytest.raises(ValueError, match="one class"):
        fit_batched_logistic(_by_time(X), np.zeros_like(y))
    with pytest.raises(ValueError, match="C and tol must be positive"):
        fit_batched_logistic(_by_time(X), y, C=0.0)
    fitted = fit_batched_logistic(_by_time(X[:, :, :2]), y)
    with pytest.raises(ValueError, match="the time points and channels of the fit"):
        fitted.decision_function(_by_time(X))
    with pytest.raises(ValueError, match="n_channels=32"):
        fitted.decision_all(_by_time(X[:, :5]))
