"""Temporal response functions: MNE-Python's numbers, lags inside runs, recovery on real EEG.

Real data: the noise is real EEG (``tests/data/meeg/test_reduced.edf``, BioSemi, 8
channels resampled to 128 Hz, see that folder's SOURCE.txt) and the stimulus is the
real word stream of the alice2016 story (word onsets and lengths from the TextGrid
bundled with the package), sampled at 128 Hz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.trf import (
    TRF,
    TemporalResponseFunction,
    cross_validated_trf,
    lag_samples,
    lagged_design,
    laplacian_penalty,
)

pytest.importorskip("mne")

ROOT = Path(__file__).resolve().parents[2]
EDF = ROOT / "tests" / "data" / "meeg" / "test_reduced.edf"
TEXTGRID = (
    ROOT
    / "brainalign"
    / "datasets"
    / "data"
    / "alice2016"
    / "DownTheRabbitHoleFinal_exp120_pad_1.TextGrid"
)
SFREQ = 128.0
TMIN, TMAX = -0.1, 0.4


@pytest.fixture(scope="module")
def eeg_noise() -> np.ndarray:
    """Real EEG, 8 channels x 6 s at 128 Hz, each channel z-scored: shape (768, 8)."""
    import mne

    raw = mne.io.read_raw_edf(EDF, preload=True, verbose="error")
    raw.pick(raw.ch_names[:8]).resample(SFREQ, verbose="error")
    data = raw.get_data().T
    return (data - data.mean(axis=0)) / data.std(axis=0)


@pytest.fixture(scope="module")
def words() -> np.ndarray:
    """Real word stream at 128 Hz: (n_samples, 2) = onset impulse, word length at onset."""
    from brainalign.datasets.textgrid import read_textgrid

    table = read_textgrid(TEXTGRID)["word"]
    table = table[(table["text"] != "sp") & (table["onset"] >= 20.0)]
    n = int(round(8 * 6.0 * SFREQ))
    X = np.zeros((n, 2))
    index = np.round((table["onset"].to_numpy() - 20.0) * SFREQ).astype(int)
    keep = index < n
    X[index[keep], 0] = 1.0
    X[index[keep], 1] = table["text"].str.len().to_numpy()[keep] / 5.0
    return X


def planted_kernel(lags: np.ndarray) -> np.ndarray:
    """A smooth TRF per feature, shape (2, n_lags): an N100/P200-like wave and a late one."""
    t = lags / SFREQ
    onset = -np.exp(-(((t - 0.1) / 0.03) ** 2)) + 0.7 * np.exp(-(((t - 0.2) / 0.04) ** 2))
    length = 0.8 * np.exp(-(((t - 0.3) / 0.05) ** 2))
    return np.stack([onset, length])


@pytest.fixture(scope="module")
def epochs(eeg_noise, words):
    """3-D epochs on real noise: X (768, 8, 2), y (768, 8, 2), the planted kernel."""
    n_times, n_epochs = eeg_noise.shape
    X = words.reshape(n_epochs, n_times, 2).transpose(1, 0, 2)
    lags = lag_samples(TMIN, TMAX, SFREQ)
    kernel = planted_kernel(lags)
    design = lagged_design(
        X.transpose(1, 0, 2).reshape(-1, 2), lags, groups=np.repeat(np.arange(n_epochs), n_times)
    )
    signal = (design @ kernel.ravel()).reshape(n_epochs, n_times).T
    signal /= signal.std()
    noise = eeg_noise
    # target 0: good SNR (noise std 0.3 of the signal's), target 1: noise alone
    y = np.stack([signal + 0.3 * noise, noise[:, ::-1]], axis=2)
    return X, y, kernel


# --- MNE-Python's numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tmin", "tmax", "sfreq"),
    [(-0.1, 0.4, 128.0), (0.013, 0.2, 100.0), (-0.3, -0.05, 64.0), (0.0, 0.0, 10.0)],
)
def test_lags_follow_mne_rule(tmin, tmax, sfreq):
    from mne.decoding.receptive_field import _times_to_delays

    np.testing.assert_array_equal(
        lag_samples(tmin, tmax, sfreq), _times_to_delays(tmin, tmax, sfreq)
    )


def test_epoch_centering_equals_mne_receptive_field_with_sklearn_ridge(epochs):
    from mne.decoding import ReceptiveField
    from sklearn.linear_model import Ridge

    X, y, _ = epochs
    alpha = 30.0
    rf = ReceptiveField(TMIN, TMAX, SFREQ, estimator=Ridge(alpha=alpha)).fit(X, y)
    trf = TemporalResponseFunction(TMIN, TMAX, SFREQ, alphas=[alpha]).fit(X, y)
    assert trf.coef_.shape == rf.coef_.shape == (2, 2, 65)
    np.testing.assert_allclose(trf.coef_, rf.coef_, rtol=1e-6, atol=1e-9 * np.abs(rf.coef_).max())
    np.testing.assert_array_equal(trf.delays_, rf.delays_)
    np.testing.assert_allclose(trf.times_, rf.delays_ / SFREQ)
    # predictions equal on the training X (MNE adds a constant on new X, see Notes)
    np.testing.assert_allclose(trf.predict(X), rf.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reg_type", ["ridge", "laplacian", ("laplacian", "ridge")])
def test_global_centering_equals_mne_time_delaying_ridge(epochs, reg_type):
    from mne.decoding import ReceptiveField, TimeDelayingRidge

    X, y, _ = epochs
    alpha = 100.0
    tdr = TimeDelayingRidge(TMIN, TMAX, SFREQ, alpha=alpha, reg_type=reg_type)
    rf = ReceptiveField(TMIN, TMAX, SFREQ, estimator=tdr).fit(X, y)
    trf = TRF(TMIN, TMAX, SFREQ, alphas=[alpha], reg_type=reg_type, centering="global")
    trf.fit(X, y)
    scale = np.abs(rf.coef_).max()
    np.testing.assert_allclose(trf.coef_, rf.coef_, rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(trf.intercept_, rf.estimator_.intercept_, atol=1e-9)
    np.testing.assert_allclose(trf.predict(X), rf.predict(X), rtol=1e-6, atol=1e-9)


def test_float_estimator_on_one_run_equals_mne(epochs):
    """ReceptiveField(estimator=float) on 2-D data: TimeDelayingRidge, one run."""
    from mne.decoding import ReceptiveField

    X, y, _ = epochs
    rf = ReceptiveField(TMIN, TMAX, SFREQ, estimator=10.0).fit(X[:, 0], y[:, 0])
    trf = TRF(TMIN, TMAX, SFREQ, alphas=[10.0], centering="global").fit(X[:, 0], y[:, 0])
    np.testing.assert_allclose(trf.coef_, rf.coef_, rtol=1e-6, atol=1e-9 * np.abs(rf.coef_).max())


@pytest.mark.parametrize(
    "reg_type", ["ridge", "laplacian", ("laplacian", "ridge"), ("ridge", "laplacian")]
)
def test_penalty_matrix_equals_mne(reg_type):
    from mne.decoding.time_delaying_ridge import _compute_reg_neighbors

    np.testing.assert_array_equal(
        laplacian_penalty(3, 7, reg_type), _compute_reg_neighbors(3, 7, reg_type)
    )


# --- lags inside runs ------------------------------------------------------------------------


def test_lags_never_cross_runs_and_fit_equals_per_run_designs(epochs):
    X3, y3, _ = epochs
    X = X3[:, :3].transpose(1, 0, 2).reshape(-1, 2)
    y = y3[:, :3, 0].T.reshape(-1, 1)
    groups = np.repeat(["a", "b", "c"], X3.shape[0])
    lags = lag_samples(TMIN, TMAX, SFREQ)
    # by hand: shift each run on its own, zeros past its ends
    blocks = []
    for run in range(3):
        part = X[groups == "abc"[run]]
        block = np.zeros((part.shape[0], 2, lags.size))
        for k, lag in enumerate(lags):
            if lag >= 0:
                block[lag:, :, k] = part[: part.shape[0] - lag]
            else:
                block[:lag, :, k] = part[-lag:]
        blocks.append(block.reshape(part.shape[0], -1))
    by_hand = np.vstack(blocks)
    np.testing.assert_array_equal(lagged_design(X, lags, groups=groups), by_hand)
    alpha = 5.0
    trf = TRF(TMIN, TMAX, SFREQ, alphas=[alpha], fit_intercept=False).fit(X, y, groups=groups)
    expected = np.linalg.solve(
        by_hand.T @ by_hand + alpha * np.eye(by_hand.shape[1]), by_hand.T @ y
    )
    np.testing.assert_allclose(trf.coef_.reshape(1, -1), expected.T, rtol=1e-8, atol=1e-12)
    # 3-D epochs are the same runs
    three_d = TRF(TMIN, TMAX, SFREQ, alphas=[alpha], fit_intercept=False).fit(
        X3[:, :3], y3[:, :3, :1]
    )
    np.testing.assert_allclose(three_d.coef_, trf.coef_, rtol=1e-10)
    # ... and differ from one long run whose lags cross the joins
    joined = TRF(TMIN, TMAX, SFREQ, alphas=[alpha], fit_intercept=False).fit(X, y)
    assert not np.allclose(joined.coef_, trf.coef_, rtol=1e-6)


# --- penalties chosen per target ---------------------------------------------------------------


@pytest.mark.parametrize(("centering", "scoring"), [("epoch", "pearson"), ("zero", "r2")])
def test_best_alphas_equal_ridgecv_on_lagged_design(epochs, centering, scoring):
    X3, y3, _ = epochs
    X = X3.transpose(1, 0, 2).reshape(-1, 2)
    y = y3.transpose(1, 0, 2).reshape(-1, 2)
    groups = np.repeat(np.arange(8), X3.shape[0])
    alphas = np.logspace(-1, 5, 7)
    trf = TRF(TMIN, TMAX, SFREQ, alphas=alphas, cv=4, centering=centering, scoring=scoring)
    trf.fit(X, y, groups=groups)
    lags = trf.delays_
    design = lagged_design(X, lags, groups=groups, centering=centering)
    cv = BlockedKFold(4, gap=int(lags[-1] - lags[0]))
    ridge = RidgeCV(alphas, cv=cv, scoring=scoring).fit(design, y)
    np.testing.assert_array_equal(trf.best_alphas_, ridge.best_alphas_)
    np.testing.assert_allclose(trf.cv_scores_, ridge.cv_scores_, rtol=1e-10)
    np.testing.assert_allclose(trf.coef_.reshape(2, -1), ridge.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(trf.intercept_, ridge.intercept_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(trf.predict(X, groups), ridge.predict(design), rtol=1e-8)
    assert trf.best_alphas_[0] != trf.best_alphas_[1]  # signal and noise targets differ


def test_kernels_ignore_a_large_feature_offset(epochs):
    """Both MNE conventions remove the features' mean: an offset of 1e4 changes no kernel.

    ``"epoch"`` also keeps every prediction (and so the penalties chosen). ``"global"``
    predicts as MNE's TimeDelayingRidge does, raw lags minus ``mean(X) . coef.sum``, so
    only the samples whose lags all fall inside the run are unchanged.
    """
    X, y, _ = epochs
    shifted = X + 1e4
    fits = [TRF(TMIN, TMAX, SFREQ, alphas=[10.0, 1e3], cv=3).fit(x, y) for x in (X, shifted)]
    scale = np.abs(fits[0].coef_).max()
    np.testing.assert_allclose(fits[1].coef_, fits[0].coef_, atol=1e-6 * scale)
    np.testing.assert_allclose(fits[1].predict(shifted), fits[0].predict(X), atol=1e-6)
    fits = [
        TRF(TMIN, TMAX, SFREQ, alphas=[10.0], centering="global").fit(x, y) for x in (X, shifted)
    ]
    np.testing.assert_allclose(fits[1].coef_, fits[0].coef_, atol=1e-6 * scale)
    inside = slice(fits[0].delays_[-1], fits[0].delays_[0])  # lags -13..51 all inside
    np.testing.assert_allclose(
        fits[1].predict(shifted)[inside], fits[0].predict(X)[inside], atol=1e-6
    )


def test_laplacian_cv_scores_equal_direct_solves(epochs):
    """One generalised eigendecomposition per fold gives what a solve per alpha gives."""
    X3, y3, _ = epochs
    X = X3[:, :4].transpose(1, 0, 2).reshape(-1, 2)
    y = y3[:, :4].transpose(1, 0, 2).reshape(-1, 2)
    alphas = np.logspace(0, 4, 5)
    lags = lag_samples(0.0, 0.2, SFREQ)
    trf = TRF(0.0, 0.2, SFREQ, alphas=alphas, reg_type="laplacian", centering="global", cv=3)
    trf.fit(X, y)
    R = laplacian_penalty(2, lags.size, "laplacian")
    raw = lagged_design(X, lags)
    expected = np.zeros((alphas.size, 2))
    for train, val in BlockedKFold(3, gap=int(lags[-1])).split(X):
        mean, ybar = X[train].mean(axis=0), y[train].mean(axis=0)
        Z = lagged_design(X - mean, lags)[train]  # lags of the whole series, as fitted
        for i, alpha in enumerate(alphas):
            w = np.linalg.solve(Z.T @ Z + alpha * R, Z.T @ (y[train] - ybar))
            pred = raw[val] @ w + ybar - np.repeat(mean, lags.size) @ w
            expected[i] += [np.corrcoef(pred[:, j], y[val, j])[0, 1] for j in range(2)]
    np.testing.assert_allclose(trf.cv_scores_, expected / 3, rtol=1e-8, atol=1e-12)


def test_bands_use_one_penalty_per_feature_space(epochs):
    from brainalign.alignment.banded import BandedRidgeCV

    X3, y3, _ = epochs
    X = X3.transpose(1, 0, 2).reshape(-1, 2)
    y = y3.transpose(1, 0, 2).reshape(-1, 2)
    alphas = np.logspace(-1, 5, 4)
    trf = TRF(0.0, 0.3, SFREQ, alphas=alphas, bands=[[1], [0]], cv=3).fit(X, y)
    lags = trf.delays_
    design = lagged_design(X, lags, centering="epoch")
    n = lags.size
    banded = BandedRidgeCV(
        [np.arange(n, 2 * n), np.arange(n)],
        alphas=alphas,
        cv=list(BlockedKFold(3, gap=int(lags[-1])).split(X)),
        scoring="pearson",
        random_state=0,
    ).fit(design, y)
    np.testing.assert_allclose(trf.coef_.reshape(2, -1), banded.coef_, rtol=1e-10)


# --- recovery on real noise ------------------------------------------------------------------


def test_planted_trf_recovered_on_real_eeg_noise(epochs):
    X, y, kernel = epochs
    trf = TRF(TMIN, TMAX, SFREQ, alphas=np.logspace(-1, 4, 6)).fit(X, y)
    for feature in range(2):
        r = np.corrcoef(trf.coef_[0, feature], kernel[feature])[0, 1]
        assert r > 0.9, (feature, r)
    fraction = trf.lag_variance(X, y)
    assert fraction.shape == (2, trf.delays_.size)
    # the onset kernel's largest magnitude (0.1 s) carries the most variance of target 0
    assert abs(trf.times_[np.argmax(fraction[0])] - 0.1) <= 0.03
    assert fraction[0].max() > 10 * fraction[1].max()
    result = cross_validated_trf(
        X, y, TRF(TMIN, TMAX, SFREQ, alphas=np.logspace(-1, 4, 6), cv=3), cv=4
    )
    assert result.fold_scores.shape == result.best_alphas.shape == (4, 2)
    assert result.scores[0] > 0.8 and result.scores[0] - result.scores[1] > 0.6
    assert result.settings["gap"] == 64


def test_smoothness_penalty_beats_ridge_at_low_snr(epochs):
    """At low SNR the Laplacian (smooth kernel) prior recovers the kernel better."""
    X, y, kernel = epochs
    noisy = y[:, :, :1] + 3.0 * y[:, :, 1:]
    fits = {
        reg: TRF(TMIN, TMAX, SFREQ, alphas=[300.0], reg_type=(reg, "ridge"), centering="global")
        .fit(X, noisy)
        .coef_[0, 0]
        for reg in ("ridge", "laplacian")
    }
    r = {reg: np.corrcoef(coef, kernel[0])[0, 1] for reg, coef in fits.items()}
    assert r["laplacian"] > r["ridge"]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tmin": 0.2, "tmax": 0.1}, r"tmin \(0.2 s\) must be at most tmax \(0.1 s\)"),
        ({"sfreq": 0.0}, "sfreq must be a positive sampling frequency in Hz; got 0.0"),
        ({"sfreq": -128.0}, "got -128.0"),
        (
            {"tmax": 10.0},
            r"run 0 has 768 samples \(6 s\), not more than the largest absolute lag of 1280",
        ),
        ({"centering": "run"}, "centering='run'"),
        ({"reg_type": "tikhonov"}, "reg_type='tikhonov'"),
    ],
)
def test_bad_settings_are_named(epochs, kwargs, message):
    X, y, _ = epochs
    settings = {"tmin": TMIN, "tmax": TMAX, "sfreq": SFREQ, "alphas": [1.0]} | kwargs
    with pytest.raises(ValueError, match=message):
        TRF(**settings).fit(X, y)


def test_bad_data_is_named(epochs):
    X3, y3, _ = epochs
    X, y = X3[:, 0], y3[:, 0]
    trf = TRF(TMIN, TMAX, SFREQ, alphas=[1.0])
    with pytest.raises(ValueError, match="X has 768 samples but y has 767"):
        trf.fit(X, y[:-1])
    bad = y.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"y has NaN or inf at samples \[5\] \(columns \[1\]\)"):
        trf.fit(X, bad)
    with pytest.raises(ValueError, match="run 1 has 40 samples"):
        trf.fit(X, y, groups=np.repeat([0, 1, 2], [700, 40, 28]))
    with pytest.raises(ValueError, match="bands must hold every feature"):
        TRF(TMIN, TMAX, SFREQ, alphas=[1.0], bands=[[0]]).fit(X, y)


def test_zero_centering_equals_mtrfpy(epochs):
    """mTRFpy (optional): lambda = alpha / (sfreq * n_trials), weights = coef_ * sfreq."""
    mtrf_model = pytest.importorskip("mtrf.model")
    X, y, _ = epochs
    tmin, tmax, lam = -13 / SFREQ, 51 / SFREQ, 0.05  # whole samples: mTRF floors/ceils
    model = mtrf_model.TRF(direction=1, kind="multi", zeropad=True, method="ridge")
    trials = range(X.shape[1])
    model.train([X[:, e] for e in trials], [y[:, e] for e in trials], int(SFREQ), tmin, tmax, lam)
    alpha = lam * SFREQ * X.shape[1]
    trf = TRF(tmin, tmax, SFREQ, alphas=[alpha], centering="zero").fit(X, y)
    theirs = model.weights.transpose(2, 0, 1) / SFREQ
    np.testing.assert_allclose(trf.coef_, theirs, rtol=1e-6, atol=1e-9 * np.abs(theirs).max())
    np.testing.assert_allclose(trf.predict(X)[:, 0], model.predict([X[:, 0]])[0], atol=1e-8)
