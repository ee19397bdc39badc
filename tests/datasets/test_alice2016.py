"""alice2016 on the real released files."""

import numpy as np
import pytest

from brainalign.datasets import alice2016, available, load
from brainalign.datasets.catalogue import UnknownDatasetError


@pytest.fixture(scope="module")
def recording():
    return load("alice2016")


def test_shapes_and_tables(recording):
    assert recording.data.shape == (362, 27 * 6)
    assert recording.data.dtype == np.float32
    assert recording.tr == 2.0 and recording.sampling == "continuous"
    assert list(recording.units["roi"][:6]) == ["LATL", "RATL", "LPTL", "LIPL", "LPreM", "LIFG"]
    assert len(recording.subjects) == 27
    assert len(recording.stimuli) == 2127
    assert recording.regressors.shape == (27 * 362, 4)


def test_s33_excluded_with_reason(recording):
    assert "s33" not in recording.subjects
    assert "s33" in alice2016.available_subjects()
    assert "zero" in recording.meta["excluded_subjects"]["s33"]
    with pytest.raises(ValueError, match="s33"):
        load("alice2016", subjects=["s33"])


def test_first_subject_values_match_released_file(recording):
    released = np.loadtxt(alice2016.bundled_data_dir() / "6mm" / "s18-timecourses.txt")
    np.testing.assert_allclose(recording.select(subject="s18").data, released, rtol=1e-6)
    wide = load("alice2016", radius_mm=10, subjects=["s18"])
    assert not np.allclose(wide.data, released)


def test_silence_is_not_a_word(recording):
    words = recording.stimuli.table
    assert not words["text"].isin(["sp", ""]).any()
    assert (words["text"] == words["text"].str.strip()).all()
    assert words["text"].iloc[0] == "Alice" and words["text"].iloc[-1] == "cake"
    assert (np.diff(words["onset"]) > 0).all()
    assert (words["duration"] > 0).all()


def test_word_onset_falls_in_the_right_volume(recording):
    onsets = recording.sample_times
    assert onsets[0] == 20.0 and onsets[-1] == 20.0 + 2 * 361
    words = recording.stimuli.table
    volume_of_word = np.searchsorted(onsets, words["onset"], side="right") - 1
    # "Alice" starts at 20.06 s: inside volume 0 ([20, 22) s); "cake" at 742.98 s: volume 361.
    assert volume_of_word[0] == 0 and volume_of_word[-1] == 361
    assert words["onset"].iloc[-1] < onsets[-1] + recording.tr


def test_clock_matches_the_datasets_own_word_rate_regressor(recording):
    """Rebuild the word-rate regressor from TextGrid onsets and our volume clock.

    The authors' regressor is the word rate convolved with SPM's HRF; if our mapping of
    volumes onto the TextGrid clock were off by a volume, the best lag would not be 0.
    """
    from nilearn.glm.first_level import compute_regressor

    words = recording.stimuli.table
    events = np.vstack([words["onset"], np.zeros(len(words)), np.ones(len(words))])
    rebuilt = compute_regressor(events, "spm", recording.sample_times, oversampling=50)[0][:, 0]
    released = recording.regressor_matrix("s18", ["word_rate"])[:, 0]

    def lagged_r(lag):
        if lag >= 0:
            return np.corrcoef(rebuilt[: 362 - lag], released[lag:])[0, 1]
        return np.corrcoef(rebuilt[-lag:], released[: 362 + lag])[0, 1]

    r_by_lag = {lag: lagged_r(lag) for lag in (-2, -1, 0, 1, 2)}
    assert r_by_lag[0] > 0.95
    assert max(r_by_lag, key=r_by_lag.get) == 0


def test_unknown_dataset_and_radius():
    assert "alice2016" in available()
    with pytest.raises(UnknownDatasetError, match="available: alice2016"):
        load("alice2017")
    with pytest.raises(ValueError, match="radius_mm"):
        load("alice2016", radius_mm=8)
    with pytest.raises(ValueError, match="unknown subject"):
        load("alice2016", subjects=["s99"])


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no time courses"):
        alice2016.load_alice2016(data_dir=tmp_path)


def test_apostrophe_clitics_attach_to_the_word_before(recording):
    words = recording.stimuli.table
    attached = words[~words["space_before"]]
    assert set(attached["text"]) == {"'d", "'ll", "'m", "'re", "'s", "'ve"}
    assert len(attached) == 23
    assert words.loc[words["text"] == "n't", "space_before"].all()
