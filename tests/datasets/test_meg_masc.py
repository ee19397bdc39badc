"""The MEG-MASC reader on a real KIT recording in the published BIDS layout."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.meeg_clock import impulse_features, onset_impulses
from brainalign.datasets.bids import NoMatchingRunsError
from brainalign.datasets.catalogue import load
from brainalign.datasets.meg_masc import (
    MEGMASCFormatError,
    MEGMASCRun,
    load_meg_masc,
    meg_masc_sounds,
    parse_trial_type,
    read_meg_masc_events,
)

ROOT = Path(__file__).parents[1] / "data" / "meg_masc"
MEG = ROOT / "sub-01" / "ses-0" / "meg"
EVENTS = MEG / "sub-01_ses-0_task-0_events.tsv"
CON = MEG / "sub-01_ses-0_task-0_meg.con"


@pytest.fixture(scope="module")
def run() -> MEGMASCRun:
    return load_meg_masc(ROOT, "01", "0", session="0")


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    """The events file read independently: pandas and ast, one dict per row."""
    table = pd.read_csv(EVENTS, sep="\t")
    parsed = pd.DataFrame([ast.literal_eval(text) for text in table["trial_type"]])
    return pd.concat([table.drop(columns="trial_type"), parsed], axis=1)


@pytest.fixture
def copy(tmp_path) -> Path:
    root = tmp_path / "meg_masc"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("make_fixture.py"))
    return root


def test_words_table_equals_the_events_file(run, published):
    expected = published.loc[published["kind"] == "word"].reset_index(drop=True)
    words = run.words
    assert words["text"].tolist() == expected["word"].tolist()
    np.testing.assert_allclose(words["onset"], expected["onset"])
    np.testing.assert_allclose(words["duration"], expected["duration"])
    np.testing.assert_allclose(words["sound_onset"], expected["start"])
    assert words["story"].tolist() == expected["story"].tolist()
    assert words["word_index"].tolist() == expected["word_index"].tolist()
    assert set(words["sound_file"]) == {str(ROOT.absolute() / "stimuli/audio/lw1_0.wav")}
    assert words["stimulus_id"].tolist() == [f"lw1_word-{n:05d}" for n in range(5)]
    assert (words["group"] == "sub-01_ses-0_task-0").all()
    # the recording's stimuli are the words
    stimuli = run.recording.stimuli.table
    assert stimuli["text"].tolist() == expected["word"].tolist()
    np.testing.assert_allclose(stimuli["onset"], expected["onset"])


def test_phonemes_and_sounds(run, published):
    expected = published.loc[published["kind"] == "phoneme"].reset_index(drop=True)
    assert (
        run.phonemes["phoneme"].tolist()
        == expected["phoneme"].tolist()
        == [
            "ae_B",
            "n_I",
            "d_E",
        ]
    )
    np.testing.assert_allclose(run.phonemes["onset"], expected["onset"])
    # the kind='sound' row names 'lw1_0.0.wav' (the sound id printed as a float, as in the
    # published annotations); it is the same file as the words'
    assert run.sounds[["story", "onset", "source"]].values.tolist() == [["lw1", 0.05, "sound"]]
    assert run.sounds["sound_file"].tolist() == [str(ROOT.absolute() / "stimuli/audio/lw1_0.wav")]
    # without the sound row, the onset comes from the words: onset - start
    derived = meg_masc_sounds(run.events.loc[run.events["kind"] != "sound"])
    assert derived["source"].tolist() == ["words"]
    np.testing.assert_allclose(derived["onset"], [0.05])


def test_recording_equals_mne_reading_the_kit_file(run):
    raw = mne.io.read_raw_kit(CON, verbose="error").pick("meg")
    recording = run.recording
    assert recording.sfreq == raw.info["sfreq"] == 1000.0
    assert recording.units["channel"].tolist() == raw.ch_names
    assert recording.data.shape == (raw.n_times, len(raw.ch_names))
    np.testing.assert_allclose(recording.data, raw.get_data().T.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(recording.samples["onset"], raw.times)
    assert recording.meta["subject"] == "01"


def test_words_go_onto_the_meg_clock(run):
    recording = run.recording
    grid = {"sfreq": recording.sfreq, "n_samples": recording.data.shape[0]}
    regressor = onset_impulses(run.words["onset"], **grid)[:, 0]
    assert np.flatnonzero(regressor).tolist() == [350, 700, 1400, 1600, 1800]
    lengths = run.words["text"].str.len().to_numpy(dtype=float)
    features = impulse_features(run.words["onset"], lengths, **grid)
    assert features[[350, 700, 1400, 1600, 1800], 0].tolist() == [3.0, 2.0, 2.0, 6.0, 9.0]


def test_the_catalogue_loads_a_run_with_this_reader():
    loaded = load("meg-masc", path=ROOT, subject="01", task="0", session="0")
    assert isinstance(loaded, MEGMASCRun)
    assert loaded.words["text"].tolist() == ["And", "so", "my", "fellow", "Americans"]


def test_read_meg_masc_events_alone(published):
    events = read_meg_masc_events(EVENTS)
    assert events["kind"].tolist() == published["kind"].tolist()
    np.testing.assert_allclose(events["onset"], published["onset"])
    assert events["event_index"].tolist() == list(range(len(published)))


# ------------------------------------------------------------------ bad input


def test_a_run_without_events_is_refused(copy):
    (copy / "sub-01/ses-0/meg/sub-01_ses-0_task-0_events.tsv").unlink()
    with pytest.raises(MEGMASCFormatError, match=r"has no events\.tsv"):
        load_meg_masc(copy, "01", "0", session="0")


def _replace_line(root: Path, line: int, trial_type: str) -> None:
    file = root / "sub-01/ses-0/meg/sub-01_ses-0_task-0_events.tsv"
    lines = file.read_text().splitlines()
    fields = lines[line - 1].split("\t")
    fields[2] = trial_type
    lines[line - 1] = "\t".join(fields)
    file.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("trial_type", "message"),
    [
        ("word_onset", r"line 4: trial_type 'word_onset' is not a Python dict literal"),
        ("__import__('os').getcwd()", "line 4: trial_type .* is not a Python dict literal"),
        ("[1, 2]", "line 4: trial_type '\\[1, 2\\]' is a list, not a dict"),
        ("{'kind': 'syllable'}", "line 4: trial_type has kind 'syllable'"),
        ("{'kind': 'word', 'story': 'lw1'}", r"line 4: a 'word' annotation needs key\(s\)"),
    ],
)
def test_an_unparseable_trial_type_names_its_line(copy, trial_type, message):
    _replace_line(copy, 4, trial_type)
    with pytest.raises(MEGMASCFormatError, match=message):
        load_meg_masc(copy, "01", "0", session="0")


def test_a_missing_sound_file_is_refused_unless_asked(copy):
    (copy / "stimuli/audio/lw1_0.wav").unlink()
    with pytest.raises(MEGMASCFormatError, match=r"sound file 'stimuli/audio/lw1_0\.0\.wav'"):
        load_meg_masc(copy, "01", "0", session="0")
    loaded = load_meg_masc(copy, "01", "0", session="0", check_files=False)
    assert loaded.words["sound_file"].isna().all()


def test_sound_names_are_matched_ignoring_case(copy):
    audio = copy / "stimuli/audio"
    (audio / "lw1_0.wav").rename(audio / "LW1_0.WAV")
    loaded = load_meg_masc(copy, "01", "0", session="0")
    assert set(loaded.words["sound_file"]) == {str(audio / "LW1_0.WAV")}


def test_a_run_that_does_not_exist_lists_what_does():
    with pytest.raises(NoMatchingRunsError, match="task: 0"):
        load_meg_masc(ROOT, "01", "3", session="0")


def test_parse_trial_type_evaluates_literals_only():
    assert parse_trial_type("{'kind': 'sound', 'story': 'lw1', 'sound': 'a.wav'}") == {
        "kind": "sound",
        "story": "lw1",
        "sound": "a.wav",
    }
    with pytest.raises(MEGMASCFormatError, match="cell 7"):
        parse_trial_type("{'kind': open('x')}", where="cell 7")
