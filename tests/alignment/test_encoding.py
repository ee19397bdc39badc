"""Tests for cross-validated encoding: signal recovery, held-out scoring, no leaks."""

import warnings

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
    result = cross_validated_encoding(X, Y, return_predictions=True, sampling="continuous")
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
    result = cross_validated_encoding(X, Y, sampling="continuous")
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
    result = cross_validated_encoding(X, Y, sampling="continuous")
    assert abs(result.fold_scores[0].mean()) < 0.2

    control = cross_validated_encoding(X, readout + 0.0 * Y, sampling="continuous")
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
        cross_validated_encoding(X_, Y_, gap=gap, inner_splits=3, sampling="continuous")
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
    result = cross_validated_encoding(X, Y, inner_splits=3, sampling="continuous")
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
        result = cross_validated_encoding(X, Y, return_predictions=True, sampling="continuous")
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
        cross_validated_encoding(X, Y, sampling="continuous", **kwargs)


# --------------------------------------------------------------------------- groups


def _stories(n_stories=5, length=60, seed=1):
    X, Y = _planted(n=n_stories * length, seed=seed)
    return X, Y, np.repeat([f"story{i}" for i in range(n_stories)], length)


def test_groups_hold_out_whole_stories_and_nest_group_folds(recorded):
    from sklearn.model_selection import GroupKFold, check_cv

    X, Y, groups = _stories()
    alphas = np.logspace(0, 4, 5)
    result = cross_validated_encoding(
        X, Y, groups=groups, n_splits=5, alphas=alphas, sampling="continuous"
    )
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
        cross_validated_encoding(
            X, Y, cv=KFold(4, shuffle=True, random_state=0), alphas=[1.0], sampling="continuous"
        )
    result = cross_validated_encoding(
        X,
        Y,
        cv=TimeSeriesSplit(3),
        alphas=[1.0, 10.0],
        return_predictions=True,
        sampling="continuous",
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
        cross_validated_encoding(X, Y, alphas=[1.0], sampling="continuous", **kwargs)


def test_stimulus_ids_must_match_row_by_row():
    X, Y = _planted(n=60)
    ids = np.array([f"w{i}" for i in range(60)])
    cross_validated_encoding(
        X, Y, alphas=[1.0], feature_ids=ids, response_ids=ids.copy(), sampling="continuous"
    )
    shuffled = ids.copy()
    shuffled[[3, 7]] = shuffled[[7, 3]]
    with pytest.raises(ValueError, match=r"differ at 2 of 60 rows \(row 3: 'w3' vs 'w7'"):
        cross_validated_encoding(
            X, Y, alphas=[1.0], feature_ids=ids, response_ids=shuffled, sampling="continuous"
        )
    as_objects = shuffled.astype(object)  # ids from pandas (.to_numpy()) are object arrays
    with pytest.raises(ValueError, match=r"row 3: 'w3' vs 'w7'"):
        cross_validated_encoding(
            X, Y, alphas=[1.0], feature_ids=ids.astype(object), response_ids=as_objects,
            sampling="continuous",
        )  # fmt: skip
    with pytest.raises(ValueError, match="60 and 59 stimulus ids"):
        cross_validated_encoding(
            X, Y, alphas=[1.0], feature_ids=ids, response_ids=ids[:-1], sampling="continuous"
        )
    with pytest.raises(ValueError, match="both feature_ids and response_ids"):
        cross_validated_encoding(X, Y, alphas=[1.0], feature_ids=ids, sampling="continuous")


def test_nan_names_samples_and_units():
    X, Y = _planted(n=60)
    Y[[5, 9], 2] = np.nan
    with pytest.raises(ValueError, match=r"rows \(samples\) \[5, 9\] and columns \(units\) \[2\]"):
        cross_validated_encoding(X, Y, alphas=[1.0], sampling="continuous")


# ------------------------------------------------------- event-related or time series


def _items(n=300, n_features=40, n_targets=20, noise=0.5, seed=5):
    """Independent items (one row per image), responses linear in their own features."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    W = rng.standard_normal((n_features, n_targets))
    signal = X @ W
    Y = signal + noise * signal.std(axis=0) * rng.standard_normal((n, n_targets))
    return X, Y, signal


@pytest.fixture
def outer_splits(monkeypatch):
    """Record the outer (train, test) splits the encoding function uses."""
    seen = []
    original = encoding._outer_splits

    def spy(*args, **kwargs):
        splits = original(*args, **kwargs)
        seen.append(splits)
        return splits

    monkeypatch.setattr(encoding, "_outer_splits", spy)
    return seen


def test_event_defaults_recover_planted_weights_where_time_series_defaults_fail():
    # The measured failure: one row per image, scored with FIR delays 1-4 and blocked
    # folds, predicts each image from its neighbours' features: r ~ 0. The event
    # defaults (no delays, shuffled K-fold over items) find the planted weights.
    X, Y, signal = _items()
    event = cross_validated_encoding(X, Y, sampling="event", return_predictions=True)
    series = cross_validated_encoding(X, Y, sampling="continuous")
    assert np.median(event.scores) > 0.8  # noise sd = signal sd / 2: ceiling ~0.89
    assert abs(np.median(series.scores)) < 0.15
    assert np.median(event.scores) - np.median(series.scores) > 0.65
    # the held-out predictions are the planted weights' predictions, up to the noise
    assert np.median(pearson_columns(event.predictions, signal)) > 0.9
    assert event.settings == {
        "sampling": "event",
        "sampling_from": "argument",
        "delays": (0,),
        "gap": 0,
        "seed": 0,
        "cv": "KFold(n_splits=5, random_state=0, shuffle=True)",
        "inner_cv": ("KFold(n_splits=5, random_state=0, shuffle=True)",) * 5,
    }
    assert series.settings["delays"] == (1, 2, 3, 4) and series.settings["gap"] == 4
    assert series.settings["cv"] == repr(BlockedKFold(5, gap=4))
    assert series.settings["inner_cv"] == (repr(BlockedKFold(5, gap=4)),) * 5


def test_event_splits_are_scikit_learns_and_match_a_plain_sklearn_pipeline():
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y, _ = _items(n=120, n_features=10, n_targets=4)
    # One alpha: the project's pipeline is StandardScaler + Ridge on sklearn's folds.
    result = cross_validated_encoding(
        X, Y, sampling="event", seed=7, alphas=[10.0], return_predictions=True
    )
    outer = KFold(5, shuffle=True, random_state=7)
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=10.0))
    np.testing.assert_allclose(
        result.predictions, cross_val_predict(pipe, X, Y, cv=outer), rtol=1e-9, atol=1e-9
    )
    for k, (train, test) in enumerate(outer.split(X)):
        fitted = pipe.fit(X[train], Y[train])
        np.testing.assert_allclose(
            result.fold_scores[k], pearson_columns(fitted.predict(X[test]), Y[test]), atol=1e-10
        )
    # A grid of alphas: the same as a manual loop over sklearn's shuffled KFolds, outer
    # and inner, with the project's RidgeCV (one alpha per target).
    alphas = np.logspace(-1, 4, 6)
    result = cross_validated_encoding(X, Y, sampling="event", seed=7, alphas=alphas)
    for k, (train, test) in enumerate(outer.split(X)):
        mean, std = X[train].mean(0), X[train].std(0)
        y_mean, y_std = Y[train].mean(0), Y[train].std(0)
        model = RidgeCV(alphas, cv=KFold(5, shuffle=True, random_state=7)).fit(
            (X[train] - mean) / std, (Y[train] - y_mean) / y_std
        )
        np.testing.assert_array_equal(result.best_alphas[k], model.best_alphas_)
        predicted = model.predict((X[test] - mean) / std)
        np.testing.assert_allclose(
            result.fold_scores[k], pearson_columns(predicted, Y[test]), atol=1e-10
        )


def test_seed_draws_the_event_folds(outer_splits):
    X, Y, _ = _items(n=100, n_features=8, n_targets=3)
    first = cross_validated_encoding(X, Y, sampling="event", seed=3, return_predictions=True)
    again = cross_validated_encoding(X, Y, sampling="event", seed=3, return_predictions=True)
    other = cross_validated_encoding(X, Y, sampling="event", seed=4)
    for (train_a, test_a), (train_b, test_b) in zip(*outer_splits[:2], strict=True):
        np.testing.assert_array_equal(test_a, test_b)
        np.testing.assert_array_equal(train_a, train_b)
    np.testing.assert_array_equal(first.fold_scores, again.fold_scores)
    np.testing.assert_array_equal(first.predictions, again.predictions)
    assert not np.array_equal(outer_splits[0][0][1], outer_splits[2][0][1])
    assert not np.allclose(first.fold_scores, other.fold_scores)
    assert other.settings["seed"] == 4 and "random_state=4" in other.settings["cv"]
    # every item held out exactly once, in shuffled (not contiguous) folds
    tests = [test for _, test in outer_splits[0]]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(100))
    assert any(np.any(np.diff(test) > 1) for test in tests)


def test_event_groups_keep_repeats_of_an_item_together(outer_splits):
    # 60 images shown 5 times each, rows interleaved. The responses are image-specific
    # and unrelated to the features of other images: held out properly, r ~ 0. If the
    # repeats of an image were split between training and test, the ridge would recall
    # its training responses and score high (the leaky control shows it does).
    rng = np.random.default_rng(6)
    n_images, n_repeats = 60, 5
    images = np.tile(np.arange(n_images), n_repeats)
    X = rng.standard_normal((n_images, 100))[images]
    Y = rng.standard_normal((n_images, 10))[images] + 0.3 * rng.standard_normal((300, 10))
    grouped = cross_validated_encoding(X, Y, sampling="event", groups=images)
    leaky = cross_validated_encoding(X, Y, sampling="event")
    assert abs(np.median(grouped.scores)) < 0.2
    assert np.median(leaky.scores) > 0.6
    for train, test in outer_splits[0]:
        assert set(images[train]).isdisjoint(images[test])
    assert grouped.settings["cv"] == "GroupKFold(n_splits=5, random_state=None, shuffle=False)"
    assert grouped.settings["inner_cv"] == (
        ("GroupKFold(n_splits=5, random_state=None, shuffle=False)",) * 5
    )


def test_event_inner_folds_are_grouped_when_training_holds_several_groups(recorded):
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, check_cv

    X, Y, _ = _items(n=90, n_features=6, n_targets=2)
    groups = np.repeat(np.arange(3), 30)
    alphas = np.logspace(0, 3, 4)
    result = cross_validated_encoding(
        X, Y, sampling="event", groups=groups, cv=LeaveOneGroupOut(), alphas=alphas
    )
    # each training set holds 2 groups: inner GroupKFold(2) over them
    assert result.settings["inner_cv"] == (repr(GroupKFold(2)),) * 3
    for k, (train, _) in enumerate(LeaveOneGroupOut().split(X, Y, groups)):
        Xz = (X[train] - X[train].mean(0)) / X[train].std(0)
        Yz = (Y[train] - Y[train].mean(0)) / Y[train].std(0)
        inner = check_cv(list(GroupKFold(2).split(Xz, None, groups[train])))
        np.testing.assert_array_equal(
            result.best_alphas[k], RidgeCV(alphas, cv=inner).fit(Xz, Yz).best_alphas_
        )


def test_without_sampling_one_warning_names_the_choice_and_how_to_change_it():
    X, Y = _planted(n=120)
    with pytest.warns(UserWarning) as seen:
        result = cross_validated_encoding(X, Y, alphas=[1.0])
    assert len(seen) == 1
    assert str(seen[0].message) == (
        "sampling not given: treating the rows as a time series (FIR delays 1-4, contiguous "
        "blocked folds with gap 4); pass sampling='event' for one row per stimulus or image "
        "(no delays, shuffled K-fold), or sampling='continuous' to silence this."
    )
    assert seen[0].filename == __file__  # points at the caller
    assert result.settings["sampling"] == "continuous"
    assert result.settings["sampling_from"] == "assumed"
    # the same numbers as sampling="continuous": backwards compatible
    explicit = cross_validated_encoding(X, Y, alphas=[1.0], sampling="continuous")
    np.testing.assert_array_equal(result.fold_scores, explicit.fold_scores)
    with pytest.warns(UserWarning, match=r"FIR delays 1-4, group folds \(GroupKFold\)"):
        cross_validated_encoding(X, Y, alphas=[1.0], groups=np.repeat(np.arange(4), 30))
    with pytest.warns(UserWarning, match=r"FIR delays 1-4, the folds of cv=BlockedKFold"):
        cross_validated_encoding(X, Y, alphas=[1.0], cv=BlockedKFold(3, gap=4))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling": "continuous"},
        {"sampling": "event"},
        {"delays": (1, 2)},  # delays given: an explicit choice, no warning
        {"delays": (0,), "cv": BlockedKFold(4)},
    ],
)
def test_no_warning_when_the_kind_or_the_delays_are_given(kwargs):
    X, Y = _planted(n=120)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cross_validated_encoding(X, Y, alphas=[1.0], **kwargs)


def test_shuffled_cv_warns_only_for_a_time_series():
    from sklearn.model_selection import KFold

    X, Y, _ = _items(n=100, n_features=5, n_targets=2)
    shuffled = KFold(4, shuffle=True, random_state=0)
    for sampling in ("continuous", None):
        with pytest.warns(UserWarning, match=r"shuffles samples: rows of a time series") as seen:
            cross_validated_encoding(X, Y, delays=(0,), cv=shuffled, sampling=sampling)
        assert len(seen) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cross_validated_encoding(X, Y, cv=shuffled, sampling="event")
    assert result.settings["cv"] == repr(shuffled)


def test_event_with_delays_warns_but_uses_them():
    # Rows in presentation order, each response driven by the previous item: delays
    # (0, 1) are an explicit choice, honoured with a warning.
    X, Y, _ = _items(n=200, n_features=5, n_targets=3, noise=0.3)
    Y = np.roll(Y, 1, axis=0)
    with pytest.warns(UserWarning, match=r"sampling='event' with delays=\(0, 1\)"):
        delayed = cross_validated_encoding(X, Y, sampling="event", delays=(0, 1))
    plain = cross_validated_encoding(X, Y, sampling="event")
    assert delayed.settings["delays"] == (0, 1) and delayed.settings["gap"] == 0
    assert np.median(delayed.scores) > 0.7 > 0.2 > np.median(plain.scores)


def test_event_with_a_gap_uses_contiguous_blocks():
    X, Y, _ = _items(n=100, n_features=5, n_targets=2)
    result = cross_validated_encoding(X, Y, sampling="event", gap=2, alphas=[1.0])
    assert result.settings["cv"] == repr(BlockedKFold(5, gap=2))
    assert result.settings["inner_cv"] == (repr(BlockedKFold(5, gap=2)),) * 5
    blocked = cross_validated_encoding(
        X, Y, delays=(0,), cv=BlockedKFold(5, gap=2), gap=2, alphas=[1.0]
    )
    np.testing.assert_array_equal(result.fold_scores, blocked.fold_scores)


def _event_recording(Y, n_times=None):
    import pandas as pd

    from brainalign.datasets import Recording, Stimuli

    ids = [f"img{i}" for i in range(Y.shape[0])]
    data = Y if n_times is None else np.repeat(Y[:, :, None], n_times, axis=2)
    return Recording(
        data.astype(np.float32),
        pd.DataFrame({"stimulus_id": ids}),
        pd.DataFrame({"roi": [f"n{j}" for j in range(Y.shape[1])]}),
        "event",
        Stimuli(pd.DataFrame({"stimulus_id": ids, "text": "a", "group": "g"})),
        meta={"name": "toy V4"},
    )


def test_a_recording_gives_its_data_and_sampling():
    import pandas as pd

    from brainalign.datasets import Recording, Stimuli

    X, Y, _ = _items(n=100, n_features=8, n_targets=3)
    recording = _event_recording(Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the kind is known: no warning
        from_recording = cross_validated_encoding(X, recording, return_predictions=True)
    from_arrays = cross_validated_encoding(
        X, recording.data, sampling="event", return_predictions=True
    )
    np.testing.assert_array_equal(from_recording.fold_scores, from_arrays.fold_scores)
    np.testing.assert_array_equal(from_recording.predictions, from_arrays.predictions)
    assert from_recording.settings["sampling_from"] == "recording"
    assert {k: v for k, v in from_recording.settings.items() if k != "sampling_from"} == {
        k: v for k, v in from_arrays.settings.items() if k != "sampling_from"
    }
    # the same sampling again is fine; its stimulus ids are checked against feature_ids
    ids = np.array(recording.samples["stimulus_id"].tolist())
    cross_validated_encoding(X, recording, sampling="event", feature_ids=ids)
    with pytest.raises(ValueError, match=r"differ at 2 of 100 rows"):
        cross_validated_encoding(X, recording, feature_ids=ids[[1, 0, *range(2, 100)]])

    continuous = Recording(
        Y.astype(np.float32),
        pd.DataFrame({"onset": 2.0 * np.arange(100)}),
        pd.DataFrame({"roi": ["a", "b", "c"]}),
        "continuous",
        Stimuli(pd.DataFrame({"stimulus_id": ["story"], "text": "a", "group": "g"})),
        tr=2.0,
    )
    result = cross_validated_encoding(X, continuous, alphas=[1.0])
    expected = cross_validated_encoding(X, continuous.data, alphas=[1.0], sampling="continuous")
    np.testing.assert_array_equal(result.fold_scores, expected.fold_scores)
    assert result.settings["delays"] == (1, 2, 3, 4)


def test_recording_conflicts_and_time_resolved_data_are_refused():
    X, Y, _ = _items(n=60, n_features=4, n_targets=2)
    with pytest.raises(ValueError, match=r"sampling='continuous' contradicts Y, a Recording"):
        cross_validated_encoding(X, _event_recording(Y), sampling="continuous")
    with pytest.raises(ValueError, match=r"data of shape \(60, 2, 3\).*not time-resolved"):
        cross_validated_encoding(X, _event_recording(Y, n_times=3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sampling": "events"}, r"sampling='events'; pass 'event'"),
        ({"sampling": "event", "n_splits": 40}, "too few for n_splits=40"),
        ({"sampling": "event", "seed": -1}, "seed must be at least 0"),
        ({"sampling": "event", "inner_splits": 1}, "inner_splits must be at least 2"),
    ],
)
def test_bad_sampling_settings_raise(kwargs, match):
    X, Y, _ = _items(n=60, n_features=4, n_targets=2)
    with pytest.raises(ValueError, match=match):
        cross_validated_encoding(X, Y, alphas=[1.0], **kwargs)
