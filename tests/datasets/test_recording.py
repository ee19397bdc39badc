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
