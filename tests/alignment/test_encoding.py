"""Tests for cross-validated encoding: signal recovery, held-out scoring, no leaks."""

import numpy as np
import pytest

from brainalign.alignment import encoding
from brainalign.alignment.cv import BlockedKFold
from brainalign.alignment.encoding import EncodingResult, cross_validated_encoding
from brainalign.alignment.metrics import pearson_columns
from brainalign.alignment.ridge import RidgeCV
from brainalign.alignment.temporal import fir_delays

DELAYS = (1, 2, 3, 4)


def _planted(n=300, n_features=20, n_targets=8, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    W = rng.standard_normal((n_features * len(DELAYS), n_targets))
    signal = fir_delays(X, DELAYS) @ W
    Y = signal + noise * signal.std(axis=0) * rng.standard_normal((n, n_targets))
    return X, Y


@pytest.fixture
def recorded(monkeypatch):
    """Replace RidgeCV in the encoding module by one that records what it is given."""
    calls = []

    class RecordingRidgeCV(RidgeCV):
        def fit(self, X, Y):
            calls.append({"fit_X": np.array(X), "fit_Y": np.array(Y)})
            return super().fit(X, Y)

        def predict(self, X):
            calls[-1]["predict_X"] = np.array(X)
            return super().predict(X)

    monkeypatch.setattr(encoding, "RidgeCV", RecordingRidgeCV)
    return calls


def test_planted_signal_through_delays_is_recovered():
    X, Y = _planted(noise=0.5)
    result = cross_validated_encoding(X, Y, return_predictions=True)
    assert isinstance(result, EncodingResult)
    assert result.scores.shape == (8,)
    assert result.fold_scores.shape == result.best_alphas.shape == (5, 8)
    assert np.all(result.scores > 0.8)  # noise sd = signal sd / 2: ceiling ~0.89
    assert result.predictions.shape == Y.shape
    # Predictions are in Y's units and each fold's score is their r on its block.
    for k, (_, test) in enumerate(BlockedKFold(5, gap=4).split(X)):
        np.testing.assert_allclose(
            pearson_columns(result.predictions[test], Y[test]), result.fold_scores[k], atol=1e-10
        )
    assert abs(np.mean(result.predictions) - np.mean(Y)) < 0.2 * np.std(Y)


def test_pure_noise_scores_near_zero():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 100))  # 400 delayed columns > 236 training rows
    Y = rng.standard_normal((300, 50))
    result = cross_validated_encoding(X, Y)
    assert result.predictions is None
    assert abs(result.scores.mean()) < 0.05
    assert np.all(np.abs(result.scores) < 0.3)


def test_relation_present_only_in_a_held_out_block_is_not_learned():
    # Y follows the (delayed) features only inside fold 0's test block, and is noise
    # everywhere else. Held out, that relation cannot be learned: r ~ 0. A pipeline that
    # fitted on the held-out rows would find it (the control below shows it is learnable).
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 10))
    readout = fir_delays(X, DELAYS) @ rng.standard_normal((40, 6))
    Y = rng.standard_normal((300, 6)) * readout.std(axis=0)
    test0 = next(BlockedKFold(5, gap=4).split(X))[1]
    Y[test0] = readout[test0]
    result = cross_validated_encoding(X, Y)
    assert abs(result.fold_scores[0].mean()) < 0.2

    control = cross_validated_encoding(X, readout + 0.0 * Y)
    assert control.fold_scores[0].min() > 0.9


def test_held_out_stimuli_and_responses_never_reach_training(recorded):
    # Change the raw features and responses of fold 2's held-out block. Through the FIR
    # delays those stimuli also sit in the next max(delays) rows, which the gap drops,
    # and z-scoring must use training rows only; so fold 2's training data must be
    # bit-for-bit unchanged. With gap=0 it is not: the check can fail.
    X, Y = _planted(n=200, n_features=8, n_targets=3)
    test2 = list(BlockedKFold(5, gap=4).split(X))[2][1]
    X2, Y2 = X.copy(), Y.copy()
    X2[test2] = 1000.0 * X2[test2] + 50.0
    Y2[test2] = -7.0 * Y2[test2] + 3.0

    def fold2_training(X_, Y_, gap):
        recorded.clear()
        cross_validated_encoding(X_, Y_, gap=gap, inner_splits=3)
        return recorded[2]["fit_X"], recorded[2]["fit_Y"]

    for before, after in zip(fold2_training(X, Y, None), fold2_training(X2, Y2, None), strict=True):
        np.testing.assert_array_equal(before, after)
    leaky_before = fold2_training(X, Y, 0)[0]
    leaky_after = fold2_training(X2, Y2, 0)[0]
    assert not np.array_equal(leaky_before, leaky_after)


def test_zscoring_uses_training_statistics(recorded):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 6)) * [1, 10, 100, 0.1, 1, 1] + [0, 5, -5, 0, 0, 0]
    X[:, 4] = 2.0  # constant: must become 0, not NaN
    X[100:, 5] += 40.0  # a shift late in the series, where training and test stats differ
    Y = fir_delays(X, DELAYS)[:, :3] + rng.standard_normal((150, 3))
    result = cross_validated_encoding(X, Y, inner_splits=3)
    assert np.all(np.isfinite(result.scores))
    delayed = fir_delays(X, DELAYS)
    for call, (train, test) in zip(recorded, BlockedKFold(5, gap=4).split(X), strict=True):
        mean, std = delayed[train].mean(axis=0), delayed[train].std(axis=0)
        scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 1e-9)
        np.testing.assert_allclose(call["fit_X"], (delayed[train] - mean) * scale, atol=1e-12)
        np.testing.assert_allclose(call["predict_X"], (delayed[test] - mean) * scale, atol=1e-9)
        y_mean, y_std = Y[train].mean(axis=0), Y[train].std(axis=0)
        np.testing.assert_allclose(call["fit_Y"], (Y[train] - y_mean) / y_std, atol=1e-12)
        # The zero-std columns (the constant feature, and delays not yet in range) are 0.
        assert np.all(call["fit_X"][:, std <= 1e-9] == 0)


def test_constant_target_scores_nan_and_others_are_unaffected():
    X, Y = _planted(n=150, n_features=5, n_targets=3, noise=0.3)
    Y[:, 1] = 4.0
    with pytest.warns(
        UserWarning, match=r"1 of 3 response units are constant \(units \[1\]\)"
    ) as seen:
        result = cross_validated_encoding(X, Y, return_predictions=True)
    assert len(seen) == 1  # one warning, not one per fold
    assert np.isnan(result.scores[1]) and np.all(result.scores[[0, 2]] > 0.8)
    np.testing.assert_allclose(result.predictions[:, 1], 4.0)


def test_one_dimensional_y_and_custom_settings():
    X, Y = _planted(n=120, n_features=4, n_targets=1, noise=0.3)
    result = cross_validated_encoding(
        X, Y[:, 0], delays=(0, 1, 2, 3, 4), n_splits=3, gap=6, alphas=[1.0, 100.0], inner_splits=2
    )
    assert result.scores.shape == (1,) and result.fold_scores.shape == (3, 1)
    assert set(np.unique(result.best_alphas)) <= {1.0, 100.0}
    assert result.scores[0] > 0.8


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "match"),
    [
        (np.ones((50, 2)), np.ones((40, 2)), {}, "50 rows"),
        (np.full((50, 2), np.nan), np.ones((50, 2)), {}, "X has NaN"),
        (np.ones((50, 2)), np.full((50, 2), np.inf), {}, "Y has NaN"),
        (np.ones((4, 2)), np.ones((4, 2)), {}, "at least 5 samples"),
        (
            np.ones((30, 2)),
            np.ones((30, 2)),
            {"inner_splits": 10},
            r"outer fold \d+ .*inner_splits=10",
        ),
        (np.ones((50, 2)), np.ones((50, 2)), {"gap": -1}, "gap"),
        (np.ones((50, 2)), np.ones((50, 2)), {"delays": (1, -2)}, "delays"),
        (np.ones((50, 2)), np.ones((50, 2)), {"alphas": [0.0]}, "positive"),
        (np.ones((50, 2, 2)), np.ones((50, 2)), {}, "2-D"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*response units are constant")
def test_bad_input_raises(X, Y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cross_validated_encoding(X, Y, **kwargs)


# --------------------------------------------------------------------------- groups


def _stories(n_stories=5, length=60, seed=1):
    X, Y = _planted(n=n_stories * length, seed=seed)
    return X, Y, np.repeat([f"story{i}" for i in range(n_stories)], length)


def test_groups_hold_out_whole_stories_and_nest_group_folds(recorded):
    from sklearn.model_selection import GroupKFold, check_cv

    X, Y, groups = _stories()
    alphas = np.logspace(0, 4, 5)
    result = cross_validated_encoding(X, Y, groups=groups, n_splits=5, alphas=alphas)
    assert result.fold_scores.shape == (5, Y.shape[1])
    delayed = fir_delays(X, DELAYS, groups=groups)  # delays never cross stories
    for k, (train, test) in enumerate(GroupKFold(5).split(X, Y, groups)):
        assert set(groups[train]).isdisjoint(groups[test])  # a story is never split
        # the same numbers by hand: z-score on training rows, group-fold RidgeCV inside
        mean, std = delayed[train].mean(0), delayed[train].std(0)
        y_mean, y_std = Y[train].mean(0), Y[train].std(0)
        inner = check_cv(list(GroupKFold(4).split(delayed[train], None, groups[train])))
        model = RidgeCV(alphas, cv=inner).fit(
            (delayed[train] - mean) / std, (Y[train] - y_mean) / y_std
        )
        np.testing.assert_array_equal(result.best_alphas[k], model.best_alphas_)
        predicted = model.predict((delayed[test] - mean) / std)
        np.testing.assert_allclose(
            result.fold_scores[k], pearson_columns(predicted, Y[test]), atol=1e-10
        )
    assert np.all(result.scores > 0.3)  # the planted signal is found across stories


def test_leave_one_group_out_event_related():
    from sklearn.model_selection import LeaveOneGroupOut

    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 6))
    Y = X @ rng.standard_normal((6, 3)) + 0.5 * rng.standard_normal((120, 3))
    runs = np.tile(np.arange(4), 30)  # interleaved runs are fine without delays
    result = cross_validated_encoding(
        X, Y, delays=(0,), cv=LeaveOneGroupOut(), groups=runs, alphas=[0.1, 1.0, 10.0]
    )
    assert result.fold_scores.shape == (4, 3)
    assert np.all(result.scores > 0.8)


def test_shuffled_splits_warn_and_uncovered_rows_stay_nan():
    from sklearn.model_selection import KFold, TimeSeriesSplit

    X, Y = _planted(n=120)
    with pytest.warns(UserWarning, match="shuffles samples"):
        cross_validated_encoding(X, Y, cv=KFold(4, shuffle=True, random_state=0), alphas=[1.0])
    result = cross_validated_encoding(
        X, Y, cv=TimeSeriesSplit(3), alphas=[1.0, 10.0], return_predictions=True
    )
    first_test = next(TimeSeriesSplit(3).split(X))[1][0]
    assert np.isnan(result.predictions[:first_test]).all()
    assert np.isfinite(result.predictions[first_test:]).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"groups": np.zeros(300)}, "at least 2"),
        ({"groups": np.zeros(10)}, r"expected \(300,\)"),
        ({"cv": "blocked"}, "split"),
        ({"inner_cv": 5}, "inner_cv must be a splitter"),
    ],
)
def test_bad_groups_and_splitters(kwargs, match):
    X, Y = _planted()
    with pytest.raises(ValueError, match=match):
        cross_validated_encoding(X, Y, alphas=[1.0], **kwargs)


def test_stimulus_ids_must_match_row_by_row():
    X, Y = _planted(n=60)
    ids = np.array([f"w{i}" for i in range(60)])
    cross_validated_encoding(X, Y, alphas=[1.0], feature_ids=ids, response_ids=ids.copy())
    shuffled = ids.copy()
    shuffled[[3, 7]] = shuffled[[7, 3]]
    with pytest.raises(ValueError, match=r"differ at 2 of 60 rows \(row 3: 'w3' vs 'w7'"):
        cross_validated_encoding(X, Y, alphas=[1.0], feature_ids=ids, response_ids=shuffled)
    with pytest.raises(ValueError, match="60 and 59 stimulus ids"):
        cross_validated_encoding(X, Y, alphas=[1.0], feature_ids=ids, response_ids=ids[:-1])
    with pytest.raises(ValueError, match="both feature_ids and response_ids"):
        cross_validated_encoding(X, Y, alphas=[1.0], feature_ids=ids)


def test_nan_names_samples_and_units():
    X, Y = _planted(n=60)
    Y[[5, 9], 2] = np.nan
    with pytest.raises(ValueError, match=r"rows \(samples\) \[5, 9\] and columns \(units\) \[2\]"):
        cross_validated_encoding(X, Y, alphas=[1.0])
