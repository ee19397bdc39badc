"""Tests of the M/EEG readers against MNE-Python itself, on real recordings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

mne = pytest.importorskip("mne")

from brainalign.datasets import meeg  # noqa: E402
from brainalign.datasets.bids import BIDSFileError  # noqa: E402
from brainalign.stimuli import Stimuli  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "meeg"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "eeg_meg"
BRAINVISION = DATA / "test.vhdr"
EDF = DATA / "test_reduced.edf"
BDF = DATA / "test_bdf_stim_channel.bdf"
KIT = DATA / "test.sqd"
FIF_RAW = DATA / "sample_audvis_trunc_sss_raw.fif"
FIF_EVENTS = DATA / "test-eve.fif"
FIF_EVOKED = DATA / "test_mag_eeg-ave.fif"
EEGLAB_RAW = SHARED / "mne-testing-data" / "EEGLAB" / "test_raw.set"
EEGLAB_EPOCHS = SHARED / "mne-testing-data" / "EEGLAB" / "test_epochs_onefile.set"
CNT = SHARED / "mne-testing-data" / "CNT" / "scan41_short.cnt"

mne.set_log_level("ERROR")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _mne_raw(path: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mne.io.read_raw(path, **kwargs)


# ----------------------------------------------------------------------------- read_raw

DIRECT_READERS = {
    BRAINVISION: mne.io.read_raw_brainvision,
    EDF: mne.io.read_raw_edf,
    BDF: mne.io.read_raw_bdf,
    KIT: mne.io.read_raw_kit,
    FIF_RAW: mne.io.read_raw_fif,
}


@pytest.mark.parametrize("path", list(DIRECT_READERS), ids=lambda p: p.suffix)
def test_read_raw_matches_the_format_reader(path):
    raw = meeg.read_raw(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = DIRECT_READERS[path](path)
    assert raw.ch_names == direct.ch_names
    assert raw.info["sfreq"] == direct.info["sfreq"]
    assert raw.n_times == direct.n_times
    np.testing.assert_array_equal(raw.get_data(stop=50), direct.get_data(stop=50))


@pytest.mark.skipif(not EEGLAB_RAW.exists(), reason="shared EEGLAB file absent")
def test_read_raw_eeglab_from_shared_data():
    raw = meeg.read_raw(EEGLAB_RAW)
    direct = mne.io.read_raw_eeglab(EEGLAB_RAW)
    assert raw.ch_names == direct.ch_names and len(raw.annotations) == 154
    np.testing.assert_array_equal(raw.get_data(stop=20), direct.get_data(stop=20))


@pytest.mark.skipif(not CNT.exists(), reason="shared CNT file absent")
def test_read_raw_cnt_passes_data_format():
    raw = meeg.read_raw(CNT, data_format="int16")
    direct = mne.io.read_raw_cnt(CNT, data_format="int16")
    assert len(raw.ch_names) == 128
    np.testing.assert_array_equal(raw.get_data(stop=20), direct.get_data(stop=20))


def test_read_raw_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.edf"):
        meeg.read_raw(tmp_path / "nothere.edf")


def test_read_raw_unknown_suffix_lists_supported(tmp_path):
    path = tmp_path / "rec.xyz"
    path.write_bytes(b"0" * 10)
    with pytest.raises(meeg.MEEGFileError, match=r"rec.xyz.*'\.xyz'.*\.vhdr.*\.cnt"):
        meeg.read_raw(path)


def test_read_raw_unreadable_file_names_file_and_reason(tmp_path):
    path = tmp_path / "broken.edf"
    path.write_bytes(b"not an EDF header" * 20)
    with pytest.raises(meeg.MEEGFileError, match=r"broken.edf: MNE could not read this EDF"):
        meeg.read_raw(path)


def test_read_raw_of_an_evoked_fif_is_a_clear_error():
    with pytest.raises(meeg.MEEGFileError, match="test_mag_eeg-ave.fif"):
        meeg.read_raw(FIF_EVOKED)


# ----------------------------------------------------------------------------- events


def test_find_events_stim_channel_matches_mne():
    raw = _mne_raw(BDF)
    events, event_id = meeg.find_events(raw)
    np.testing.assert_array_equal(events, mne.find_events(raw))
    assert event_id == {"1": 1, "2": 2, "4": 4}
    kept, kept_id = meeg.find_events(raw, event_id={"two": 2})
    np.testing.assert_array_equal(kept, events[events[:, 2] == 2])
    assert kept_id == {"two": 2}


def test_find_events_annotations_match_mne():
    raw = _mne_raw(BRAINVISION)
    events, event_id = meeg.find_events(raw)
    expected, expected_id = mne.events_from_annotations(raw)
    np.testing.assert_array_equal(events, expected)
    assert event_id == expected_id
    chosen = {"Stimulus/S253": 10}
    events, event_id = meeg.find_events(raw, event_id=chosen)
    np.testing.assert_array_equal(events, mne.events_from_annotations(raw, event_id=chosen)[0])
    assert event_id == chosen


def test_no_events_names_file_stim_channels_and_annotations():
    with pytest.raises(meeg.NoEventsError) as info:
        meeg.find_events(FIF_RAW)
    message = str(info.value)
    assert "sample_audvis_trunc_sss_raw.fif" in message
    assert "STI 014" in message and "annotations: none" in message
    with pytest.raises(meeg.NoEventsError, match=r"test.vhdr.*no events matching.*Sync On"):
        meeg.find_events(BRAINVISION, event_id={"absent": 1})
    with pytest.raises(ValueError, match="source must be"):
        meeg.find_events(BDF, source="trigger")


def test_read_events_fif_matches_mne(tmp_path):
    events = meeg.read_events(FIF_EVENTS)
    np.testing.assert_array_equal(events, mne.read_events(FIF_EVENTS))
    assert events.shape == (31, 3)
    table = tmp_path / "events.tsv"
    table.write_text("onset\ttrial_type\n")
    with pytest.raises(meeg.MEEGFileError, match="events_from_table"):
        meeg.read_events(table)
    bad = tmp_path / "bad-eve.fif"
    bad.write_bytes(b"garbage")
    with pytest.raises(meeg.MEEGFileError, match="bad-eve.fif"):
        meeg.read_events(bad)


def _annotation_table(raw) -> pd.DataFrame:
    onsets = raw.annotations.onset - (raw.first_time if raw.annotations.orig_time else 0.0)
    return pd.DataFrame(
        {"onset": onsets, "duration": raw.annotations.duration,
         "trial_type": raw.annotations.description}
    )  # fmt: skip


def test_events_from_table_matches_events_from_annotations(tmp_path):
    raw = _mne_raw(BRAINVISION)
    table = _annotation_table(raw)
    events, event_id = meeg.events_from_table(table, raw)
    expected, expected_id = mne.events_from_annotations(raw, event_id=None)
    np.testing.assert_array_equal(events[:, [0, 2]], expected[:, [0, 2]])
    assert event_id == expected_id
    path = tmp_path / "sub-01_events.tsv"
    table.assign(value="n/a").to_csv(path, sep="\t", index=False)
    from_file, _ = meeg.events_from_table(path, raw)
    np.testing.assert_array_equal(from_file, events)


def test_events_from_table_reads_through_the_bids_reader(tmp_path):
    """n/a names are left out, durations are optional, bad onsets are named by row."""
    raw = meeg.read_raw(BRAINVISION)
    table = pd.DataFrame({"onset": [2.0, 0.5, 1.0], "trial_type": ["b", "n/a", "a"]})
    events, event_id = meeg.events_from_table(table, raw)
    sfreq = raw.info["sfreq"]
    np.testing.assert_array_equal(events[:, 0], np.round(np.array([1.0, 2.0]) * sfreq))
    assert event_id == {"a": 1, "b": 2} and events[:, 2].tolist() == [1, 2]
    path = tmp_path / "run_events.csv"
    table.assign(duration=0.1).to_csv(path, index=False)
    np.testing.assert_array_equal(meeg.events_from_table(path, raw)[0], events)
    only_b, b_id = meeg.events_from_table(table, raw, event_id={"b": 7})
    assert only_b[:, 2].tolist() == [7] and b_id == {"b": 7}
    bad = table.assign(onset=[2.0, 0.5, "late"])
    with pytest.raises(BIDSFileError, match=r"^events table: column 'onset'.*row 2: 'late'"):
        meeg.events_from_table(bad, raw)


def test_events_from_table_errors(tmp_path):
    raw = meeg.read_raw(BRAINVISION)
    with pytest.raises(BIDSFileError, match=r"events table has no column 'trial_type'"):
        meeg.events_from_table(pd.DataFrame({"onset": [1.0]}), raw)
    late = pd.DataFrame({"onset": [1.0, 100.0], "trial_type": ["a", "a"]})
    with pytest.raises(ValueError, match=r"1 onset\(s\) lie outside .*test.vhdr"):
        meeg.events_from_table(late, raw)
    early = pd.DataFrame({"onset": [-0.5, 1.0], "trial_type": ["a", "a"]})  # BIDS allows it
    with pytest.raises(ValueError, match=r"1 onset\(s\) lie outside .*e.g. \[-0.5\] s"):
        meeg.events_from_table(early, raw)
    with pytest.raises(meeg.NoEventsError, match=r"no events named \['z'\]"):
        meeg.events_from_table(early, raw, event_id={"z": 1})
    text = tmp_path / "events.txt"
    text.write_text("onset\ttrial_type\n1.0\ta\n")
    with pytest.raises(meeg.MEEGFileError, match="must be .tsv or .csv"):
        meeg.events_from_table(text, raw)
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        meeg.events_from_table(tmp_path / "nope.tsv", raw)


# ----------------------------------------------------------------------------- epochs


def _mne_epochs(path, events, event_id, **kwargs):
    raw = _mne_raw(path, preload=True)
    l_freq, h_freq = kwargs.pop("l_freq", None), kwargs.pop("h_freq", None)
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq)
    return mne.Epochs(raw, events, event_id, preload=True, **kwargs)


def test_epochs_recording_equals_mne_epochs_with_filter_decim_baseline():
    raw = _mne_raw(BDF)
    events = mne.find_events(raw)
    params = dict(tmin=-0.1, tmax=0.4, baseline=(None, 0), picks=["C3", "Cz"], decim=2)
    rec = meeg.epochs_recording(BDF, l_freq=1.0, h_freq=30.0, subject="s01", **params)
    expected = _mne_epochs(BDF, events, {"1": 1, "2": 2, "4": 4}, l_freq=1.0, h_freq=30.0, **params)
    np.testing.assert_array_equal(rec.data, expected.get_data().astype(np.float32))
    assert rec.data.shape == (9, 2, len(expected.times))
    assert rec.sfreq == expected.info["sfreq"] == 250.0
    np.testing.assert_allclose(rec.times, expected.times)
    assert rec.meta["tmin"] == pytest.approx(-0.1)
    assert rec.samples["stimulus_id"].tolist() == [str(c) for c in events[:, 2]]
    np.testing.assert_allclose(rec.samples["onset"], events[:, 0] / 500.0)
    assert rec.units["channel"].tolist() == ["C3", "Cz"]
    assert set(rec.samples["subject"]) == {"s01"} and set(rec.units["subject"]) == {"s01"}
    assert rec.meta["highpass_hz"] == 1.0 and rec.meta["lowpass_hz"] == 30.0
    assert sorted(rec.stimuli.stimulus_ids) == ["1", "2", "4"]
    # conditions only
    assert rec.stimuli.table["label"].tolist() == rec.stimuli.stimulus_ids.tolist()
    assert "text" not in rec.stimuli.table.columns


def test_rejection_drops_the_same_epochs_as_mne():
    raw = _mne_raw(EDF, preload=True)
    events = mne.find_events(raw)
    unrejected = mne.Epochs(raw, events, tmin=0.0, tmax=0.2, baseline=None, picks="eeg")
    peak_to_peak = np.ptp(unrejected.get_data(), axis=2).max(axis=1)
    threshold = float(np.median(peak_to_peak))
    params = dict(tmin=0.0, tmax=0.2, baseline=None, picks="eeg", reject={"eeg": threshold})
    rec = meeg.epochs_recording(EDF, **params)
    expected = _mne_epochs(EDF, events, {"4096": 4096, "4100": 4100}, **params)
    assert 0 < len(expected) < len(events)
    np.testing.assert_array_equal(rec.samples["trial"], expected.selection)
    np.testing.assert_array_equal(rec.data, expected.get_data().astype(np.float32))
    assert rec.meta["n_dropped"] == len(events) - len(expected)
    with pytest.raises(meeg.NoEventsError, match="all 13 epochs were dropped"):
        meeg.epochs_recording(EDF, **{**params, "reject": {"eeg": 1e-12}})


def test_annotation_epochs_and_stimulus_map():
    mapping = {"Stimulus/S253": "tone", "Stimulus/S255": "noise"}
    event_id = {"Stimulus/S253": 253, "Stimulus/S255": 255}
    stimuli = Stimuli(
        pd.DataFrame({"stimulus_id": ["tone", "noise"], "text": ["beep", "hiss"], "group": "a"})
    )
    rec = meeg.epochs_recording(
        BRAINVISION, event_id=event_id, stimulus_map=mapping, stimuli=stimuli,
        tmin=-0.05, tmax=0.1, picks="eeg",
    )  # fmt: skip
    raw = _mne_raw(BRAINVISION)
    events, _ = mne.events_from_annotations(raw, event_id=event_id)
    expected = _mne_epochs(BRAINVISION, events, event_id, tmin=-0.05, tmax=0.1, picks="eeg")
    np.testing.assert_array_equal(rec.data, expected.get_data().astype(np.float32))
    names = {253: "tone", 255: "noise"}
    assert rec.samples["stimulus_id"].tolist() == [names[c] for c in events[:, 2]]
    assert rec.stimuli is stimuli
    with pytest.raises(ValueError, match="stimulus_map has no entry for event 'Event/254'"):
        meeg.epochs_recording(BRAINVISION, stimulus_map=mapping)
    with pytest.raises(ValueError, match=r"\['noise'\] of the recording are not in the stimuli"):
        meeg.epochs_recording(
            BRAINVISION, event_id=event_id, stimulus_map=mapping,
            stimuli=Stimuli(stimuli.table.iloc[:1]),
        )  # fmt: skip


def test_epochs_at_stimulus_onsets_equal_epochs_at_events():
    raw = _mne_raw(BDF)
    events = mne.find_events(raw)
    shift = 0.25
    onsets = events[:, 0] / raw.info["sfreq"] - shift
    stimuli = Stimuli(
        pd.DataFrame(
            {"stimulus_id": [f"w{i}" for i in range(len(onsets))], "text": "x", "group": "g",
             "onset": onsets, "duration": 0.1}
        )
    )  # fmt: skip
    params = dict(tmin=-0.1, tmax=0.2, picks="eeg")
    by_stimuli = meeg.epochs_recording(BDF, stimuli=stimuli, stimulus_clock_start=shift, **params)
    by_events = meeg.epochs_recording(BDF, **params)
    np.testing.assert_array_equal(by_stimuli.data, by_events.data)
    assert by_stimuli.samples["stimulus_id"].tolist() == stimuli.stimulus_ids.tolist()
    np.testing.assert_allclose(by_stimuli.samples["onset"], onsets)
    with pytest.raises(ValueError, match=r"9 onset\(s\).*outside .*check the clocks"):
        meeg.epochs_recording(BDF, stimuli=stimuli, stimulus_clock_start=100.0, **params)


def test_events_from_an_eve_fif_file_and_positions(tmp_path):
    raw = _mne_raw(KIT)
    events = mne.find_events(raw)
    path = tmp_path / "kit-eve.fif"
    mne.write_events(path, events)
    params = dict(tmin=-0.05, tmax=0.1, picks="mag", baseline=None)
    rec = meeg.epochs_recording(KIT, events=path, **params)
    np.testing.assert_array_equal(rec.data, meeg.epochs_recording(KIT, **params).data)
    picked = raw.copy().pick("mag")
    np.testing.assert_allclose(
        rec.units[["x", "y", "z"]].to_numpy(), [ch["loc"][:3] for ch in picked.info["chs"]]
    )
    assert set(rec.units["coord_frame"]) == {"meg"} and set(rec.units["ch_type"]) == {"mag"}
    with pytest.raises(ValueError, match=r"all 31 event samples lie outside .*test.sqd"):
        meeg.epochs_recording(KIT, events=FIF_EVENTS, **params)


def test_channel_table_positions_and_missing_positions():
    info = _mne_raw(FIF_RAW).info
    table = meeg.channel_table(info, subject="s1")
    eeg = table[table["ch_type"] == "eeg"]
    expected = [info["chs"][info["ch_names"].index(n)]["loc"][:3] for n in eeg["channel"]]
    np.testing.assert_allclose(eeg[["x", "y", "z"]].to_numpy(), expected)
    assert set(eeg["coord_frame"]) == {"head"}
    stim = table[table["ch_type"] == "stim"]
    assert len(stim) and stim[["x", "y", "z"]].isna().all().all()
    assert set(table["subject"]) == {"s1"}


@pytest.mark.skipif(not EEGLAB_EPOCHS.exists(), reason="shared EEGLAB file absent")
def test_recording_from_mne_epochs_read_by_mne():
    epochs = mne.read_epochs_eeglab(EEGLAB_EPOCHS)
    rec = meeg.recording_from_epochs(epochs, subject="s1")
    np.testing.assert_array_equal(rec.data, epochs.get_data(picks="all").astype(np.float32))
    names = {v: k for k, v in epochs.event_id.items()}
    assert rec.samples["stimulus_id"].tolist() == [names[c] for c in epochs.events[:, 2]]


# ----------------------------------------------------------------------------- evoked


def test_evoked_recording_equals_mne_evokeds():
    rec = meeg.evoked_recording(FIF_EVOKED, picks="eeg", baseline=(None, 0))
    evokeds = mne.read_evokeds(FIF_EVOKED, baseline=(None, 0))
    expected = np.stack([e.copy().pick("eeg").data for e in evokeds]).astype(np.float32)
    np.testing.assert_array_equal(rec.data, expected)
    assert rec.samples["condition"].tolist() == [e.comment for e in evokeds]
    assert rec.samples["nave"].tolist() == [e.nave for e in evokeds]
    assert rec.sfreq == evokeds[0].info["sfreq"]
    np.testing.assert_allclose(rec.times, evokeds[0].times)
    assert rec.units["x"].notna().all() and rec.meta["source_file"].endswith("-ave.fif")
    mapped = meeg.evoked_recording(
        evokeds[:2], stimulus_map={"Left Auditory": "la", "Right Auditory": "ra"}
    )
    assert mapped.samples["stimulus_id"].tolist() == ["la", "ra"]
    assert mapped.data.shape == (2, 162, len(evokeds[0].times))


def test_evoked_recording_refuses_mismatched_evokeds():
    evokeds = mne.read_evokeds(FIF_EVOKED)
    cropped = evokeds[1].copy().crop(0.0, 0.2)
    with pytest.raises(ValueError, match="'Right Auditory' has another time axis"):
        meeg.evoked_recording([evokeds[0], cropped])
    with pytest.raises(meeg.MEEGFileError, match="sample_audvis_trunc_sss_raw.fif"):
        meeg.evoked_recording(FIF_RAW)


# ----------------------------------------------------------------------------- subjects


def _bdf_subject(subject: str, drop=(), order=None):
    raw = _mne_raw(BDF, preload=True)
    if drop:
        raw.drop_channels(list(drop))
    if order:
        raw.reorder_channels(order + ["Status"])
    return meeg.epochs_recording(raw, tmin=-0.1, tmax=0.2, subject=subject)


def test_concatenate_subjects_stacks_trials_and_reorders_channels():
    first = _bdf_subject("s1")
    second = _bdf_subject("s2", order=["Cz", "C3", "C4"])
    both = meeg.concatenate_subjects([first, second])
    assert both.data.shape == (18, 3, first.data.shape[2])
    assert both.samples["subject"].tolist() == ["s1"] * 9 + ["s2"] * 9
    assert both.units["channel"].tolist() == ["C3", "C4", "Cz"]
    assert "subject" not in both.units.columns
    np.testing.assert_array_equal(both.data[9:], second.data[:, [1, 2, 0]])
    assert both.meta["subjects"] == ["s1", "s2"] and len(both.stimuli) == 3


def test_concatenate_subjects_names_missing_and_extra_channels():
    first, second = _bdf_subject("s1"), _bdf_subject("s2", drop=["C4"])
    with pytest.raises(meeg.ChannelMismatchError, match=r"'s2': missing \['C4'\], extra \[\]"):
        meeg.concatenate_subjects([first, second])
    common = meeg.concatenate_subjects([first, second], channels="common")
    assert common.units["channel"].tolist() == ["C3", "Cz"]
    np.testing.assert_array_equal(common.data[:9], first.data[:, [0, 2]])


def test_concatenate_subjects_refuses_incompatible_recordings():
    first = _bdf_subject("s1")
    with pytest.raises(ValueError, match="appear more than once"):
        meeg.concatenate_subjects([first, first])
    anonymous = meeg.epochs_recording(BDF, tmin=-0.1, tmax=0.2)
    with pytest.raises(ValueError, match=r"recordings\[1\].*has no subject"):
        meeg.concatenate_subjects([first, anonymous])
    decimated = meeg.epochs_recording(BDF, tmin=-0.1, tmax=0.2, decim=2, subject="s2")
    with pytest.raises(ValueError, match="sfreq 250.0 Hz differs"):
        meeg.concatenate_subjects([first, decimated])
    with pytest.raises(ValueError, match="channels must be"):
        meeg.concatenate_subjects([first], channels="all")


# ----------------------------------------------------------------------------- continuous


def test_continuous_recording_equals_mne_pipeline():
    rec = meeg.continuous_recording(
        EDF, picks="eeg", tmin=1.0, tmax=4.0, l_freq=1.0, h_freq=40.0, sfreq=128.0,
        subject="s1",
    )  # fmt: skip
    raw = _mne_raw(EDF).crop(1.0, 4.0).pick("eeg").load_data()
    raw.filter(1.0, 40.0).resample(128.0)
    np.testing.assert_array_equal(rec.data, raw.get_data().T.astype(np.float32))
    assert rec.sampling == "continuous" and rec.sfreq == 128.0
    np.testing.assert_allclose(rec.sample_times, 1.0 + raw.times)
    np.testing.assert_allclose(rec.samples["duration"], 1 / 128.0)
    events = mne.find_events(_mne_raw(EDF))
    np.testing.assert_allclose(rec.stimuli.onsets, events[:, 0] / 512.0)
    assert rec.stimuli.table["condition"].tolist() == [str(c) for c in events[:, 2]]
    assert rec.stimuli.table["label"].tolist() == [str(c) for c in events[:, 2]]
    assert "text" not in rec.stimuli.table.columns


def test_continuous_recording_with_a_stimulus_clock():
    words = Stimuli(
        pd.DataFrame(
            {"stimulus_id": ["w0", "w1"], "text": ["hello", "world"], "group": "story",
             "onset": [0.5, 1.5], "duration": [0.4, 0.4]}
        )
    )  # fmt: skip
    rec = meeg.continuous_recording(BDF, picks="eeg", stimuli=words, stimulus_clock_start=2.0)
    assert rec.stimuli is words
    np.testing.assert_allclose(rec.sample_times[:3], [-2.0, -1.998, -1.996])
    with pytest.raises(ValueError, match="no onset falls within the recording"):
        meeg.continuous_recording(BDF, picks="eeg", stimuli=words, stimulus_clock_start=-50.0)
    no_events = meeg.continuous_recording(FIF_RAW, picks="eeg")
    assert len(no_events.stimuli) == 0 and no_events.data.shape == (301, 60)


def test_concatenate_continuous_subjects_keeps_onsets():
    raw = _mne_raw(BDF, preload=True)
    first = meeg.continuous_recording(raw, picks="eeg", tmax=1.0, subject="s1")
    second = meeg.continuous_recording(raw, picks="eeg", tmax=1.0, subject="s2")
    both = meeg.concatenate_subjects([first, second])
    assert both.sampling == "continuous" and both.data.shape == (1002, 3)
    np.testing.assert_array_equal(both.sample_times[501:], first.sample_times)
    assert both.samples["subject"].unique().tolist() == ["s1", "s2"]
    assert len(both.stimuli) == len(first.stimuli)
