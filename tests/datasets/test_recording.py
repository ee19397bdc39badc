import numpy as np
import pandas as pd
import pytest

from brainalign.datasets import Recording, Stimuli


def _stimuli(n=3):
    return Stimuli(
        pd.DataFrame({"stimulus_id": [f"s{i}" for i in range(n)], "text": "a", "group": "g"})
    )


def _recording():
    units = pd.DataFrame({"subject": ["a", "a", "b", "b"], "roi": ["x", "y", "x", "y"]})
    samples = pd.DataFrame({"onset": [0.0, 2.0, 4.0], "duration": 2.0})
    regressors = pd.DataFrame(
        {"subject": ["a"] * 3 + ["b"] * 3, "sample": [0, 1, 2] * 2, "rate": np.arange(6.0)}
    )
    return Recording(
        np.arange(12, dtype=float).reshape(3, 4),
        samples,
        units,
        "continuous",
        _stimuli(),
        tr=2.0,
        regressors=regressors,
        meta={"name": "toy"},
    )


def test_select_returns_new_recording_and_keeps_regressors_aligned():
    recording = _recording()
    selected = recording.select(subject="b", onset=[2.0, 4.0])
    assert selected.data.tolist() == [[6.0, 7.0], [10.0, 11.0]]
    assert recording.data.shape == (3, 4)  # nothing mutated
    assert selected.regressor_matrix("b", ["rate"])[:, 0].tolist() == [4.0, 5.0]


def test_select_errors_name_the_column_and_values():
    recording = _recording()
    with pytest.raises(KeyError, match="cannot select on 'run'"):
        recording.select(run=1)
    with pytest.raises(KeyError, match=r"subject=\['c'\] not found"):
        recording.select(subject="c")


def test_shape_mismatch_and_nan_are_rejected():
    units = pd.DataFrame({"roi": ["x"]})
    samples = pd.DataFrame({"onset": [0.0, 1.0]})
    with pytest.raises(ValueError, match="2 samples but the samples table has 3"):
        Recording(np.zeros((2, 1)), pd.concat([samples, samples[:1]]), units, "event", _stimuli())
    with pytest.raises(ValueError, match="NaN"):
        Recording(np.full((2, 1), np.nan), samples, units, "event", _stimuli())
    with pytest.raises(ValueError, match="tr"):
        Recording(np.zeros((2, 1)), samples, units, "continuous", _stimuli())


def test_stimuli_validation():
    with pytest.raises(ValueError, match="unique"):
        Stimuli(pd.DataFrame({"stimulus_id": ["a", "a"], "text": "x", "group": "g"}))
    with pytest.raises(ValueError, match="content column"):
        Stimuli(pd.DataFrame({"stimulus_id": ["a"], "group": "g"}))
    with pytest.raises(ValueError, match=r"'onset' must hold finite seconds; rows \[1\]"):
        Stimuli(
            pd.DataFrame(
                {"stimulus_id": ["a", "b"], "text": "x", "group": "g", "onset": [0, np.nan]}
            )
        )
    with pytest.raises(ValueError, match=r"'duration' must hold finite, non-negative seconds"):
        Stimuli(pd.DataFrame({"stimulus_id": ["a"], "text": "x", "group": "g", "duration": [-1.0]}))
    # BIDS allows events before the first sample; labels are content no model reads
    early = Stimuli(
        pd.DataFrame({"stimulus_id": ["a"], "label": "face", "group": "g", "onset": [-0.5]})
    )
    assert early.onsets.tolist() == [-0.5]


def test_samples_must_reference_known_stimuli():
    stimuli = Stimuli(pd.DataFrame({"stimulus_id": ["a", "b"], "text": "x", "group": "g"}))
    samples = pd.DataFrame({"stimulus_id": ["a", "c", "d"]})
    units = pd.DataFrame({"roi": ["r"]})
    with pytest.raises(ValueError, match=r"2 stimulus id\(s\) of the samples are not in the "):
        Recording(np.zeros((3, 1)), samples, units, "event", stimuli, meta={"name": "x"})


# Repeated presentations ----------------------------------------------------------------


def _cube(n_stimuli=5, n_units=3, n_repeats=4, seed=0):
    """Responses (stimuli, units, repeats) with unequal repeat counts, NaN-padded."""
    rng = np.random.default_rng(seed)
    cube = rng.standard_normal((n_stimuli, n_units, n_repeats)).astype(np.float32)
    cube[1, :, 3] = np.nan  # stimulus s1 shown 3 times
    cube[2, :, 2:] = np.nan  # s2 shown twice
    cube[3, 0, 1:] = np.nan  # unit 0 measured in one presentation of s3 only
    return cube


def _repeats(**kwargs):
    stimuli = _stimuli(5)
    return Recording.from_repeats(_cube(), stimuli=stimuli, meta={"name": "rep"}, **kwargs)


def test_from_repeats_builds_long_form_event_rows():
    recording = _repeats(samples=pd.DataFrame({"category": list("aabbc")}))
    assert recording.sampling == "event"
    assert recording.n_samples == 4 + 3 + 2 + 4 + 4
    assert recording.samples.columns.tolist() == ["stimulus_id", "repeat", "category"]
    assert recording.samples["stimulus_id"].tolist()[:9] == ["s0"] * 4 + ["s1"] * 3 + ["s2"] * 2
    assert recording.samples["repeat"].tolist()[:9] == [0, 1, 2, 3, 0, 1, 2, 0, 1]
    assert recording.samples["category"].tolist()[4:9] == ["a"] * 3 + ["b"] * 2
    assert recording.units["unit"].tolist() == ["0", "1", "2"]
    assert recording.n_repeats == 4
    assert recording.data.dtype == np.float32
    np.testing.assert_array_equal(recording.data[4], _cube()[1, :, 0])
    # NaN only where unit 0 of s3 was not measured
    assert np.isnan(recording.data).sum() == 3
    assert "5 stimuli" in repr(recording)


def test_from_repeats_round_trips_through_repeat_array():
    cube = _cube()
    ids, array = _repeats().repeat_array()
    assert ids.tolist() == ["s0", "s1", "s2", "s3", "s4"]
    assert array.shape == cube.shape and array.dtype == np.float32
    np.testing.assert_array_equal(array, cube)  # NaN in the same places
    # interior gaps stay in place: repeat indices are positions on the last axis
    gappy = cube.copy()
    gappy[4, :, 1] = np.nan
    recording = Recording.from_repeats(gappy, stimuli=_stimuli(5))
    assert recording.samples["repeat"].tolist()[-3:] == [0, 2, 3]
    np.testing.assert_array_equal(recording.repeat_array()[1], gappy)


def test_average_repeats_is_the_nanmean_per_stimulus():
    recording = _repeats(samples=pd.DataFrame({"category": list("aabbc")}))
    averaged = recording.average_repeats()
    np.testing.assert_allclose(averaged.data, np.nanmean(_cube(), axis=2), rtol=1e-6)
    assert averaged.data.dtype == np.float32 and np.isfinite(averaged.data).all()
    assert averaged.samples.columns.tolist() == ["stimulus_id", "category", "n_repeats"]
    assert averaged.samples["n_repeats"].tolist() == [4, 3, 2, 4, 4]
    assert averaged.samples["category"].tolist() == list("aabbc")
    assert averaged.units.equals(recording.units) and averaged.stimuli is recording.stimuli
    assert averaged.n_repeats == 1
    assert averaged.average_repeats() is averaged  # no repeat column: unchanged
    # columns that vary within a stimulus (per-presentation onsets) are dropped
    varying = Recording(
        recording.data,
        recording.samples.assign(onset=np.arange(recording.n_samples, dtype=float)),
        recording.units,
        "event",
        recording.stimuli,
    )
    assert "onset" not in varying.average_repeats().samples.columns


def test_select_keeps_repeats_and_checks_them_again():
    recording = _repeats()
    first = recording.select(repeat=[0, 1])
    assert first.samples["repeat"].tolist() == [0, 1] * 5
    assert first.n_repeats == 2
    np.testing.assert_array_equal(first.repeat_array()[1], _cube()[:, :, :2])
    assert recording.select(unit="1").data.shape == (recording.n_samples, 1)
    with pytest.raises(ValueError, match=r"no finite value in any repeat.*\['s3'\], units \[0\]"):
        recording.select(repeat=[2, 3])  # s3 then has no value of unit 0


def test_repeat_array_without_repeat_column():
    units = pd.DataFrame({"roi": ["x", "y"]})
    samples = pd.DataFrame({"stimulus_id": ["s2", "s0"]})
    recording = Recording(np.array([[1.0, 2.0], [3.0, 4.0]]), samples, units, "event", _stimuli())
    ids, array = recording.repeat_array()
    assert ids.tolist() == ["s2", "s0"] and array.shape == (2, 2, 1)
    assert array[:, :, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert recording.n_repeats == 1
    twice = Recording(
        np.zeros((2, 2)), pd.DataFrame({"stimulus_id": ["s1", "s1"]}), units, "event", _stimuli()
    )
    with pytest.raises(ValueError, match=r"stimulus ids \['s1'\] occur on several rows.*'repeat'"):
        twice.repeat_array()
    continuous = _recording()
    with pytest.raises(ValueError, match="needs a 'stimulus_id' column"):
        continuous.repeat_array()


def test_nan_without_repeat_column_names_where_and_what_to_do():
    units = pd.DataFrame({"roi": ["x", "y", "z"]})
    samples = pd.DataFrame({"stimulus_id": ["s0", "s1", "s2"]})
    data = np.zeros((3, 3))
    data[1, 2] = data[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN") as error:
        Recording(data, samples, units, "event", _stimuli(), meta={"name": "toy"})
    message = str(error.value)
    assert "toy: data hold 2 NaN value(s)" in message
    assert "(sample row, stimulus_id, unit) [(1, 's1', 2), (2, 's2', 0)]" in message
    assert "'repeat' column" in message and "Drop or fill" in message
    continuous = pd.DataFrame({"onset": [0.0, 2.0, 4.0]})
    with pytest.raises(ValueError, match=r"\(sample row, unit\) \[\(1, 2\), \(2, 0\)\]"):
        Recording(data, continuous, units, "continuous", _stimuli(), tr=2.0)


def test_inf_is_never_allowed_even_with_repeats():
    cube = _cube()
    cube[0, 1, 2] = np.inf
    with pytest.raises(ValueError, match=r"1 infinite value\(s\), e.g. at .*\[\(2, 's0', 1\)\]"):
        Recording.from_repeats(cube, stimuli=_stimuli(5))
    units = pd.DataFrame({"roi": ["x"]})
    with pytest.raises(ValueError, match="infinite values are never allowed"):
        Recording(np.array([[-np.inf]]), pd.DataFrame({"onset": [0.0]}), units, "event", _stimuli())


def test_repeat_errors():
    stimuli = _stimuli()
    units = pd.DataFrame({"roi": ["x"]})
    with pytest.raises(ValueError, match=r"\(stimulus_id, repeat\) pair\(s\).*\('s0', 1\)"):
        Recording(
            np.zeros((3, 1)),
            pd.DataFrame({"stimulus_id": ["s0", "s0", "s0"], "repeat": [0, 1, 1]}),
            units,
            "event",
            stimuli,
        )
    with pytest.raises(ValueError, match="needs sampling='event' and a 'stimulus_id' column"):
        Recording(np.zeros((2, 1)), pd.DataFrame({"repeat": [0, 1]}), units, "event", stimuli)
    with pytest.raises(ValueError, match="needs sampling='event'"):
        Recording(
            np.zeros((2, 1)),
            pd.DataFrame({"stimulus_id": ["s0", "s0"], "repeat": [0, 1]}),
            units,
            "continuous",
            stimuli,
            tr=1.0,
        )
    with pytest.raises(ValueError, match=r"0-based presentation indices.*rows \[1\] hold \[-1\]"):
        Recording(
            np.zeros((2, 1)),
            pd.DataFrame({"stimulus_id": ["s0", "s0"], "repeat": [0, -1]}),
            units,
            "event",
            stimuli,
        )
    with pytest.raises(ValueError, match=r"rows \[0\] hold \[0.5\]"):
        Recording(
            np.zeros((1, 1)), pd.DataFrame({"stimulus_id": ["s0"], "repeat": [0.5]}), units,
            "event", stimuli,
        )  # fmt: skip
    cube = _cube()
    cube[2, 1] = np.nan  # unit 1 of s2 never measured
    with pytest.raises(ValueError, match=r"stimuli \['s2'\], units \[1\]; every"):
        Recording.from_repeats(cube, stimuli=_stimuli(5))


def test_from_repeats_shape_errors_name_the_shapes():
    cube = _cube()
    with pytest.raises(ValueError, match=r"\(n_stimuli, n_units, n_repeats\); got shape \(5, 3\)"):
        Recording.from_repeats(cube[:, :, 0], stimuli=_stimuli(5))
    with pytest.raises(ValueError, match=r"\(5 stimuli\) but stimuli.stimulus_ids has shape \(3,"):
        Recording.from_repeats(cube, stimuli=_stimuli(3))
    with pytest.raises(ValueError, match=r"but stimulus_ids has shape \(2,\)"):
        Recording.from_repeats(cube, stimuli=_stimuli(5), stimulus_ids=["s0", "s1"])
    with pytest.raises(ValueError, match=r"must be unique .*repeated: \['s0'\]"):
        Recording.from_repeats(cube, stimuli=_stimuli(5), stimulus_ids=["s0"] * 5)
    with pytest.raises(ValueError, match=r"\(3 units\) but the units table has 2 rows"):
        Recording.from_repeats(cube, stimuli=_stimuli(5), units=pd.DataFrame({"roi": ["a", "b"]}))
    with pytest.raises(ValueError, match="samples table has 4 rows; give one row per stimulus"):
        Recording.from_repeats(cube, stimuli=_stimuli(5), samples=pd.DataFrame({"c": range(4)}))
    with pytest.raises(ValueError, match="may not hold a 'repeat' column"):
        Recording.from_repeats(
            cube, stimuli=_stimuli(5), samples=pd.DataFrame({"repeat": range(5)})
        )
    with pytest.raises(ValueError, match="stimulus_id column differs"):
        Recording.from_repeats(
            cube, stimuli=_stimuli(5), samples=pd.DataFrame({"stimulus_id": list("abcde")})
        )


def test_from_repeats_with_explicit_ids_and_units():
    stimuli = _stimuli(6)
    units = pd.DataFrame({"subject": "m1", "channel": ["c0", "c1", "c2"]})
    recording = Recording.from_repeats(
        _cube(), stimuli=stimuli, units=units, stimulus_ids=["s5", "s4", "s3", "s2", "s1"]
    )
    assert recording.subjects == ["m1"]
    ids, array = recording.repeat_array()
    assert ids.tolist() == ["s5", "s4", "s3", "s2", "s1"]
    np.testing.assert_array_equal(array, _cube())


def test_a_study_with_repeats_gives_a_split_half_ceiling_and_mean_responses():
    from brainalign.alignment.ceiling import split_half_ceiling

    rng = np.random.default_rng(12)
    n_stimuli, n_units, n_repeats = 60, 4, 6
    signal = rng.standard_normal((n_stimuli, n_units, 1)) * np.array([0.1, 0.5, 1.0, 2.0])[:, None]
    cube = signal + rng.standard_normal((n_stimuli, n_units, n_repeats))
    cube[rng.random((n_stimuli, n_units, n_repeats)) < 0.15] = np.nan  # missed presentations
    cube[:, :, 0] = np.where(np.isnan(cube).all(axis=2), 0.0, cube[:, :, 0])  # one each
    stimuli = _stimuli(n_stimuli)
    recording = Recording.from_repeats(cube, stimuli=stimuli, meta={"name": "study"})
    ids, array = recording.repeat_array()
    assert ids.tolist() == stimuli.stimulus_ids.tolist()
    ceiling = split_half_ceiling(array, n_splits=50)
    assert ceiling.shape == (n_units,) and np.all(np.diff(ceiling[1:]) > 0)
    means = recording.average_repeats()
    assert means.data.shape == (n_stimuli, n_units) and np.isfinite(means.data).all()
    np.testing.assert_allclose(means.data, np.nanmean(cube.astype(np.float32), axis=2), rtol=1e-5)
