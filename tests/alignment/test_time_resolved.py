"""Time-resolved decoding and encoding: equal to MNE's SlidingEstimator /
GeneralizingEstimator + cross_val_multiscore, on real EEG epochs (test_reduced.edf,
two event codes) and on planted signals; clear errors for bad input."""

from pathlib import Path

import numpy as np
import pytest

from brainalign.alignment.time_resolved import (
    concatenate_epochs,
    generalization_scores,
    sliding_scores,
    time_resolved_encoding,
)

mne = pytest.importorskip("mne")
decoding = pytest.importorskip("mne.decoding")
from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV  # noqa: E402
from sklearn.model_selection import GroupKFold, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

EDF = Path(__file__).resolve().parents[1] / "data" / "meeg" / "test_reduced.edf"
TOL = 1e-9


@pytest.fixture(scope="module")
def eeg_epochs():
    """13 real EEG epochs (138 channels, 32 samples at 128 Hz), event codes 4096/4100."""
    mne.set_log_level("error")
    raw = mne.io.read_raw_edf(EDF, preload=True)
    events = mne.find_events(raw, "Status", shortest_event=1)
    epochs = mne.Epochs(
        raw,
        events,
        {"a": 4096, "b": 4100},
        tmin=-0.05,
        tmax=0.2,
        baseline=None,
        picks="eeg",
        preload=True,
        decim=4,
    )
    X = epochs.get_data() * 1e6  # microvolts: penalties on the data's own scale
    return X, (epochs.events[:, 2] == 4100).astype(int), epochs.times


def _mne(estimator, X, y, cv, generalize=False, groups=None, scoring=None):
    kind = decoding.GeneralizingEstimator if generalize else decoding.SlidingEstimator
    return decoding.cross_val_multiscore(
        kind(estimator, scoring=scoring), X, y, cv=cv, groups=groups
    )


def test_ridge_fixed_alpha_equals_mne_on_real_eeg_dual_and_primal(eeg_epochs):
    X, y, times = eeg_epochs
    value = y + 0.1 * np.arange(y.size)  # a continuous target
    for picks in (slice(None), slice(0, 5)):  # 138 channels > 8 epochs (dual); 5 (primal)
        Xp = X[:, picks]
        ours = sliding_scores(Xp, value, alphas=50.0, cv=3, times=times)
        ref = _mne(Ridge(alpha=50.0), Xp, value, cv=3)
        assert ours.scores.shape == (3, times.size, 1)
        np.testing.assert_allclose(ours.scores[..., 0], ref, atol=TOL)


def test_ridge_inner_cv_alpha_equals_mne_ridgecv():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 6, 10))
    y = X[:, :3, 4:7].sum(axis=(1, 2)) + 2.0 * rng.standard_normal(80)
    alphas = [0.1, 3.0, 100.0, 3000.0]
    ours = sliding_scores(X, y, alphas=alphas, inner_cv=4, cv=5)
    ref = _mne(RidgeCV(alphas=alphas, cv=KFold(4)), X, y, cv=5)
    np.testing.assert_allclose(ours.scores[..., 0], ref, atol=TOL)
    ours_gen = generalization_scores(X, y, alphas=alphas, inner_cv=4, cv=5)
    ref_gen = _mne(RidgeCV(alphas=alphas, cv=KFold(4)), X, y, cv=5, generalize=True)
    np.testing.assert_allclose(ours_gen.scores[..., 0], ref_gen, atol=TOL)


def test_generalization_ridge_equals_mne_on_real_eeg(eeg_epochs):
    X, y, times = eeg_epochs
    value = y + 0.1 * np.arange(y.size)
    ours = generalization_scores(X[:, :20], value, alphas=10.0, cv=3, times=times)
    ref = _mne(Ridge(alpha=10.0), X[:, :20], value, cv=3, generalize=True)
    np.testing.assert_allclose(ours.scores[..., 0], ref, atol=TOL)
    frame = ours.frame
    assert list(frame.columns) == ["train_time", "test_time", "output", "score", "n_folds"]
    assert len(frame) == times.size**2
    row = frame[(frame.train_time == times[3]) & (frame.test_time == times[7])]
    assert row.score.item() == pytest.approx(ref[:, 3, 7].mean(), abs=TOL)


def test_logistic_pipeline_equals_mne_on_real_eeg(eeg_epochs):
    X, y, times = eeg_epochs
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    ours = sliding_scores(X, y, estimator="logistic", cv=3, times=times, n_jobs=2)
    np.testing.assert_array_equal(ours.scores[..., 0], _mne(pipeline, X, y, cv=3))
    auc = sliding_scores(X, y, estimator=pipeline, scoring="roc_auc", cv=3)
    np.testing.assert_array_equal(auc.scores[..., 0], _mne(pipeline, X, y, 3, scoring="roc_auc"))
    gen = generalization_scores(X[:, :, :6], y, estimator=pipeline, cv=3)
    np.testing.assert_array_equal(gen.scores[..., 0], _mne(pipeline, X[:, :, :6], y, 3, True))


def test_grouped_folds_equal_mne_and_recover_planted_signal():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 10, 16))
    y = np.tile([0, 1], 60)
    X[:, :4, 6:10] += 0.8 * (2 * y - 1)[:, None, None]  # signal at samples 6..9 only
    groups = np.repeat(np.arange(6), 20)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    ours = sliding_scores(X, y, estimator=pipeline, cv=3, groups=groups, scoring="roc_auc")
    ref = _mne(pipeline, X, y, GroupKFold(3), groups=groups, scoring="roc_auc")
    np.testing.assert_array_equal(ours.scores[..., 0], ref)
    assert "GroupKFold" in ours.settings["cv"]
    mean = ours.mean[:, 0]
    assert mean[6:10].min() > 0.9 and np.abs(mean[:5] - 0.5).max() < 0.2
    frame = ours.frame
    assert list(frame.columns) == ["time", "output", "score", "n_folds"]
    np.testing.assert_allclose(frame.score.to_numpy(), mean)


def test_multi_output_ridge_scores_each_output():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 5, 8))
    Y = np.stack([X[:, 0, :].sum(1), X[:, 4, :].sum(1)], axis=1) + rng.standard_normal((90, 2))
    ours = sliding_scores(X, Y, alphas=1.0, cv=3, scoring="pearson")
    assert ours.outputs == ["y0", "y1"] and ours.scores.shape == (3, 8, 2)
    for k in range(2):  # each output equals decoding it alone
        alone = sliding_scores(X, Y[:, k], alphas=1.0, cv=3, scoring="pearson")
        np.testing.assert_allclose(ours.scores[..., k], alone.scores[..., 0], atol=TOL)


def test_encoding_equals_sklearn_ridge_per_channel_and_time():
    rng = np.random.default_rng(3)
    F = rng.standard_normal((60, 4))
    E = rng.standard_normal((60, 3, 5))
    E[:, 1, 2] += 2.0 * F[:, 0]  # channel 1 at sample 2 is driven by the features
    result = time_resolved_encoding(F, E, alphas=[5.0], cv=5, channels=["a", "b", "c"])
    assert result.scores.shape == (5, 5, 3)
    for k, (train, test) in enumerate(KFold(5).split(F)):
        for t in range(5):
            pred = Ridge(alpha=5.0).fit(F[train], E[train, :, t]).predict(F[test])
            r = [np.corrcoef(pred[:, c], E[test, c, t])[0, 1] for c in range(3)]
            np.testing.assert_allclose(result.scores[k, t], r, atol=TOL)
    frame = result.frame
    best = frame.loc[frame.score.idxmax()]
    assert (best.time, best.channel) == (2.0, "b") and best.score > 0.8


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored by KFold")
def test_bad_input_gives_clear_errors(eeg_epochs):
    X, y, times = eeg_epochs
    with pytest.raises(ValueError, match="one class"):
        sliding_scores(X, np.zeros(len(y), int), estimator="logistic")
    with pytest.raises(ValueError, match="groups .* in both training and test"):
        sliding_scores(X, y, estimator="logistic", cv=KFold(3), groups=np.arange(13) % 2)
    with pytest.raises(ValueError, match="shape"):
        sliding_scores(X[:, :, 0], y)
    with pytest.raises(ValueError, match="times"):
        sliding_scores(X, y, times=times[:-1])
    bad = X.copy()
    bad[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf values in epochs \[2\]"):
        sliding_scores(bad, y)
    with pytest.raises(ValueError, match="scoring"):
        sliding_scores(X, y, scoring="roc_auc")


def test_concatenate_epochs_checks_time_axes_and_channels(eeg_epochs):
    X, _, times = eeg_epochs
    names = [f"EEG{i}" for i in range(X.shape[1])]
    stacked, groups = concatenate_epochs(
        [X, X[:5]], [times, times], [names, names], names=["run1", "run2"]
    )
    assert stacked.shape == (18, *X.shape[1:]) and list(groups[-6:]) == ["run1"] + ["run2"] * 5
    shifted = times + 0.01
    with pytest.raises(ValueError, match="different time axes") as error:
        concatenate_epochs([X, X], [times, shifted], names=["sub-1", "sub-2"])
    assert f"{times[0]:.6g}" in str(error.value) and f"{shifted[0]:.6g}" in str(error.value)
    other = names[:-1] + ["EEG999"]
    with pytest.raises(ValueError, match=r"missing \['EEG137'\], extra \['EEG999'\]"):
        concatenate_epochs([X, X], [times, times], [names, other])
