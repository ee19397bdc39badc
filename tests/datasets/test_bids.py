"""BIDS discovery, events, channels and electrodes on real bids-examples layouts.

Fixtures: tests/data/bids/{eeg_matchingpennies,ieeg_visual,ds000246} (see SOURCE.txt
there). Their tables and sidecars are real; signal files are placeholders, except the
one-sample iEEG files of ieeg_visual sub-02, which mne-bids reads.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.datasets.bids import (
    TEXT_COLUMNS,
    BIDSFileError,
    NoMatchingRunsError,
    NotABIDSRootError,
    bids_entities,
    bids_runs,
    bids_units,
    content_kind,
    events_to_stimuli,
    load_bids_meeg,
    read_channels,
    read_electrodes,
    stimuli_column_name,
)
from brainalign.stimuli import Stimuli

BIDS = Path(__file__).resolve().parents[1] / "data" / "bids"
LAYOUTS = ("eeg_matchingpennies", "ieeg_visual", "ds000246")
IEEG = BIDS / "ieeg_visual"
PENNIES = BIDS / "eeg_matchingpennies"
CTF = BIDS / "ds000246"
IEEG_EVENTS = IEEG / "sub-01/ses-01/ieeg/sub-01_ses-01_task-visual_run-01_events.tsv"
PENNIES_EVENTS = PENNIES / "sub-05/eeg/sub-05_task-matchingpennies_events.tsv"


def reference_events(path: Path) -> pd.DataFrame:
    """The events table as pandas reads it with BIDS's n/a (an independent reading)."""
    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def write_events(directory: Path, text: str, name="sub-01_task-x_run-1_events.tsv") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- discovery


@pytest.mark.parametrize("layout", LAYOUTS)
def test_entities_equal_mne_bids_get_entity_vals(layout):
    from mne_bids import get_datatypes, get_entity_vals

    root = BIDS / layout
    found = bids_entities(root)
    for entity in ("subject", "session", "task", "run"):
        assert found[entity] == get_entity_vals(root, entity), entity
    assert found["datatype"] == [d for d in get_datatypes(root) if d != "anat"]


def test_expected_entities_of_each_layout():
    assert bids_entities(PENNIES)["subject"] == ["05", "06"]
    ieeg = bids_entities(IEEG)
    assert (ieeg["subject"], ieeg["session"], ieeg["run"]) == (["01", "02"], ["01"], ["01", "02"])
    ctf = bids_entities(CTF)
    assert (ctf["subject"], ctf["task"], ctf["datatype"]) == (["0001"], ["AEF"], ["meg"])


def test_only_recordings_count_for_entities():
    """mne-bids reads acq- from every file name; ds000246's recordings have none."""
    from mne_bids import get_entity_vals

    assert get_entity_vals(CTF, "acquisition") == ["LPA", "NAS", "RPA"]  # the photos
    assert bids_entities(CTF)["acquisition"] == []


def test_emptyroom_only_on_request():
    from mne_bids import get_entity_vals

    with_room = bids_entities(CTF, include_emptyroom=True)
    assert with_room["subject"] == get_entity_vals(CTF, "subject", ignore_subjects=None)
    assert with_room["task"] == get_entity_vals(CTF, "task", ignore_subjects=None)
    assert with_room["task"] == ["AEF", "noise"]
    room = bids_runs(CTF, subject="emptyroom")
    assert room["task"].tolist() == ["noise"] and room["path"][0].endswith("_meg.ds")


def test_runs_table_rows_entities_and_sidecars():
    runs = bids_runs(IEEG)
    assert runs["group"].tolist() == [
        "sub-01_ses-01_task-visual_run-01",
        "sub-02_ses-01_task-visual_run-01",
        "sub-02_ses-01_task-visual_run-02",
    ]
    assert (runs["datatype"] == "ieeg").all() and (runs["extension"] == ".vhdr").all()
    for column in ("path", "events", "channels", "electrodes", "coordsystem", "sidecar_json"):
        assert all(Path(p).is_file() for p in runs[column]), column
    # electrodes.tsv has no task/run: one file serves both runs of sub-02 (inheritance)
    assert runs["electrodes"][1] == runs["electrodes"][2]
    assert runs["electrodes"][1].endswith("sub-02_ses-01_electrodes.tsv")
    assert runs["events"][2].endswith("sub-02_ses-01_task-visual_run-02_events.tsv")


def test_root_level_json_sidecar_is_inherited():
    runs = bids_runs(PENNIES)
    assert len(runs) == 2
    assert (runs["sidecar_json"] == str(PENNIES / "task-matchingpennies_eeg.json")).all()
    assert runs["electrodes"].isna().all()


def test_ctf_runs_are_ds_folders_without_events():
    runs = bids_runs(CTF)
    assert runs["run"].tolist() == ["01", "02"]
    assert all(Path(p).is_dir() and p.endswith("_meg.ds") for p in runs["path"])
    assert runs["events"].isna().all() and runs["channels"].notna().all()


def test_filters_match_mne_bids_find_matching_paths():
    from mne_bids import find_matching_paths

    ours = bids_runs(IEEG, subject="02", run="02")["path"].tolist()
    theirs = find_matching_paths(
        IEEG, subjects="02", runs="02", datatypes="ieeg", suffixes="ieeg", extensions=".vhdr"
    )
    assert ours == [str(p.fpath) for p in theirs]
    assert bids_runs(IEEG, run=2)["path"].tolist() == ours  # numbers match zero padding
    assert bids_runs(IEEG, subject="sub-02", run="run-02")["path"].tolist() == ours
    assert len(bids_runs(IEEG, subject=["01", "02"], run=1)) == 2


def test_no_match_names_root_filters_and_available_values():
    with pytest.raises(NoMatchingRunsError) as error:
        bids_runs(IEEG, subject="03", task="visual")
    message = str(error.value)
    assert str(IEEG) in message and "subject='03'" in message
    assert "subject='03' matches no recording on its own" in message
    assert "subject: 01, 02" in message and "run: 01, 02" in message


def test_no_match_when_filters_only_conflict_together():
    with pytest.raises(NoMatchingRunsError, match="not all of them together"):
        bids_runs(IEEG, subject="01", run="02")


def test_not_a_bids_root(tmp_path):
    with pytest.raises(NotABIDSRootError, match=r"ieeg_visual'?: pass that folder"):
        bids_runs(IEEG / "sub-01")
    with pytest.raises(NotABIDSRootError, match="no dataset_description.json"):
        bids_entities(tmp_path)
    with pytest.raises(NotABIDSRootError, match="does not exist"):
        bids_runs(tmp_path / "missing")


def test_dataset_without_recordings(tmp_path):
    (tmp_path / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.8.0"}')
    (tmp_path / "sub-01/anat").mkdir(parents=True)
    (tmp_path / "sub-01/anat/sub-01_T1w.nii.gz").write_bytes(b"")
    with pytest.raises(NoMatchingRunsError, match="holds no recording files"):
        bids_runs(tmp_path)


@pytest.fixture
def fmri_root(tmp_path):
    """An fMRI layout in the style of bids-examples: real names, empty images."""
    (tmp_path / "dataset_description.json").write_text('{"Name": "f", "BIDSVersion": "1.8.0"}')
    (tmp_path / "task-lang_bold.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    for subject in ("01", "02"):
        func = tmp_path / f"sub-{subject}" / "ses-a" / "func"
        func.mkdir(parents=True)
        for run in ("1", "2"):
            stem = f"sub-{subject}_ses-a_task-lang_run-{run}"
            for suffix in ("bold", "sbref"):
                (func / f"{stem}_{suffix}.nii.gz").write_bytes(b"")
            write_events(
                func, "onset\tduration\tword\n0.5\t0.3\tthe\n1.0\t0.25\tcat\n", f"{stem}_events.tsv"
            )
    return tmp_path


def test_fmri_discovery_agrees_with_nilearn(fmri_root):
    from nilearn.interfaces.bids import get_bids_files, parse_bids_filename

    runs = bids_runs(fmri_root, datatype="func")
    expected = get_bids_files(
        str(fmri_root), file_tag="bold", file_type="nii.gz", modality_folder="func"
    )
    assert runs["path"].tolist() == sorted(expected)
    for path, row in zip(sorted(expected), runs.itertuples(), strict=True):
        entities = parse_bids_filename(path)["entities"]
        assert (row.subject, row.session, row.task, row.run) == (
            entities["sub"],
            entities["ses"],
            entities["task"],
            entities["run"],
        )
    assert (runs["sidecar_json"] == str(fmri_root / "task-lang_bold.json")).all()
    assert runs["events"].str.endswith("_events.tsv").all()
    assert len(bids_runs(fmri_root, suffix="sbref")) == 4


# ----------------------------------------------------------------------------- events


def test_ieeg_events_with_image_stimuli():
    stimuli = events_to_stimuli(IEEG_EVENTS, stimulus_column="stim_file")
    reference = reference_events(IEEG_EVENTS)
    table = stimuli.table
    assert isinstance(stimuli, Stimuli) and len(stimuli) == len(reference) == 420
    np.testing.assert_array_equal(table["onset"], reference["onset"])
    np.testing.assert_array_equal(table["duration"], reference["duration"])
    assert table["onset"][0] == 17.8533 and table["duration"][0] == 0.5
    assert table["trial_type"].tolist() == reference["trial_type"].astype(float).tolist()
    assert table["image"][0] == str(IEEG / "stimuli" / "stim_129.png")
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in table["image"].unique())
    # 211 images over 420 events (stim_211 recurs), so ids come from run label and row
    assert table["stim_file"].nunique() == reference["stim_file"].nunique() == 211
    assert table["stimulus_id"].is_unique
    assert table["stimulus_id"][7] == "sub-01_ses-01_task-visual_run-01_event-0007"
    assert (table["group"] == "sub-01_ses-01_task-visual_run-01").all()


def test_matchingpennies_trial_types_as_labels():
    stimuli = events_to_stimuli(PENNIES_EVENTS)
    reference = reference_events(PENNIES_EVENTS)
    table = stimuli.table
    np.testing.assert_array_equal(stimuli.onsets, reference["onset"])
    assert (table["duration"] == 0).all()
    assert "text" not in table.columns and "image" not in table.columns
    assert table["label"].tolist() == reference["trial_type"].tolist()
    assert table["label"][0] == "raised-right/match-true"
    assert table["trial_type"].value_counts().to_dict() == (
        reference["trial_type"].value_counts().to_dict()
    )
    np.testing.assert_array_equal(table["response_time"], reference["response_time"])
    assert table["hand_raised"][3] == "right" and table["event_index"].tolist() == list(
        range(len(reference))
    )


def test_dataframe_gives_the_same_stimuli_as_its_file():
    """A DataFrame (pandas' own reading, n/a as NaN) is read like the file it came from."""
    reference = reference_events(PENNIES_EVENTS)
    group = "sub-05_task-matchingpennies"
    from_file = events_to_stimuli(PENNIES_EVENTS).table
    from_frame = events_to_stimuli(reference, group=group).table
    for column in ("stimulus_id", "group", "label", "event_index", "trial_type"):
        assert from_frame[column].tolist() == from_file[column].tolist(), column
    np.testing.assert_array_equal(from_frame["onset"], from_file["onset"])
    np.testing.assert_array_equal(from_frame["response_time"], from_file["response_time"])
    assert events_to_stimuli(reference).groups() == ["events"]
    words = pd.DataFrame({"onset": [-0.2, 0.5], "duration": [0.3, 0.3], "word": ["a", "b"]})
    assert events_to_stimuli(words, stimulus_column="word").text == ["a", "b"]


def test_dataframe_errors_name_the_table_or_source():
    table = pd.DataFrame({"onset": [0.0, np.nan], "duration": [0.1, 0.1], "trial_type": "x"})
    with pytest.raises(BIDSFileError, match=r"^events table: column 'onset' is n/a in row 1;"):
        events_to_stimuli(table)
    with pytest.raises(BIDSFileError, match=r"^run 3 events: column 'onset' is n/a in row 1;"):
        events_to_stimuli(table, source="run 3 events")
    late = table.assign(onset=[0.0, 1.0], duration=[0.1, -0.1])
    with pytest.raises(BIDSFileError, match=r"'duration' is negative in row 1: -0.1;"):
        events_to_stimuli(late)
    named = table.assign(onset=[0.0, "soon"])
    with pytest.raises(BIDSFileError, match=r"not a finite number in row 1: 'soon'"):
        events_to_stimuli(named)
    with pytest.raises(BIDSFileError, match="events table has no folder.*stimuli_dir="):
        events_to_stimuli(table.assign(onset=0.0, stim_file="a.png"), stimulus_column="stim_file")
    with pytest.raises(TypeError, match="path to an events.tsv or a pandas DataFrame"):
        events_to_stimuli(table.to_numpy())


def test_missing_stimulus_files_are_named():
    with pytest.raises(BIDSFileError, match=r"2 of 2 stimulus files are missing.*left_hand"):
        events_to_stimuli(PENNIES_EVENTS, stimulus_column="stim_file")
    table = events_to_stimuli(PENNIES_EVENTS, stimulus_column="stim_file", check_files=False).table
    assert table["image"][0] == str(PENNIES / "stimuli" / "left_hand.png")
    labels = events_to_stimuli(PENNIES_EVENTS, stimulus_column="stim_file", content="label")
    assert labels.table["label"][:2].tolist() == ["left_hand.png", "right_hand.png"]
    frame = reference_events(PENNIES_EVENTS)
    folder = PENNIES / "pictures"
    paths = events_to_stimuli(
        frame, stimulus_column="stim_file", stimuli_dir=folder, check_files=False
    ).table["image"]
    assert paths[0] == str(folder / "left_hand.png")


def test_unique_words_are_their_own_ids(tmp_path):
    path = write_events(tmp_path, "onset\tduration\tword\n0\t0.3\tAlice\n0.4\t0.2\twas\n")
    stimuli = events_to_stimuli(path, stimulus_column="word")
    assert stimuli.stimulus_ids.tolist() == ["Alice", "was"] and stimuli.text == ["Alice", "was"]
    assert stimuli.groups() == ["sub-01_task-x_run-1"]
    assert events_to_stimuli(path, stimulus_column="word", group="story").groups() == ["story"]


def test_na_onset_is_an_error_naming_file_column_and_row(tmp_path):
    path = write_events(tmp_path, "onset\tduration\tword\n0\t0.3\ta\nn/a\t0.2\tb\n")
    with pytest.raises(BIDSFileError, match=r"'onset' is n/a in row 1 \(line 3\)") as e:
        events_to_stimuli(path, stimulus_column="word")
    assert str(path) in str(e.value)


def test_non_numeric_duration_is_an_error(tmp_path):
    path = write_events(tmp_path, "onset\tduration\tword\n0\t0.3s\ta\n")
    with pytest.raises(BIDSFileError, match=r"'duration'.*row 0 \(line 2\): '0.3s'"):
        events_to_stimuli(path, stimulus_column="word")


def test_missing_onset_column_and_unknown_stimulus_column(tmp_path):
    path = write_events(tmp_path, "duration\tword\n0.3\ta\n")
    with pytest.raises(BIDSFileError, match=r"no column\(s\) \['onset'\]"):
        events_to_stimuli(path, stimulus_column="word")
    with pytest.raises(BIDSFileError, match=r"no column 'word'.*\(stimulus_column=\)"):
        events_to_stimuli(IEEG_EVENTS, stimulus_column="word")
    with pytest.raises(BIDSFileError, match=r"no column\(s\) \['duration'\]"):
        events_to_stimuli(write_events(tmp_path, "onset\tword\n0.3\ta\n", "b_events.tsv"))
    no_duration = write_events(tmp_path, "onset\tword\n0.3\ta\n", "c_events.tsv")
    filled = events_to_stimuli(no_duration, stimulus_column="word", fill_duration=0.0)
    assert filled.table["duration"].tolist() == [0.0]


def test_negative_onsets_are_kept_negative_durations_are_errors(tmp_path):
    path = write_events(tmp_path, "onset\tduration\tword\n-0.5\t0.3\ta\n")
    assert events_to_stimuli(path, stimulus_column="word").onsets.tolist() == [-0.5]
    path = write_events(tmp_path, "onset\tduration\tword\n0\t0.3\ta\n1\t-0.3\tb\n")
    with pytest.raises(BIDSFileError, match=r"'duration' is negative in row 1 \(line 3\)"):
        events_to_stimuli(path, stimulus_column="word")


@pytest.mark.parametrize("column", [*TEXT_COLUMNS, "Word", "SENTENCE"])
def test_auto_content_is_text_for_word_and_sentence_columns(tmp_path, column):
    path = write_events(tmp_path, f"onset\tduration\t{column}\n0\t0.3\tthe cat\n")
    stimuli = events_to_stimuli(path, stimulus_column=column)
    assert stimuli.text == ["the cat"] and "label" not in stimuli.table.columns
    assert content_kind(column) == "text"


@pytest.mark.parametrize("column", ["trial_type", "value", "stim_id", "condition", "code"])
def test_auto_content_is_label_for_conditions_and_codes(tmp_path, column):
    path = write_events(tmp_path, f"onset\tduration\t{column}\n0\t0.3\t1\n1\t0.3\t1\n")
    table = events_to_stimuli(path, stimulus_column=column).table
    assert table["label"].tolist() == ["1", "1"] and "text" not in table.columns
    assert table["stimulus_id"].tolist() == [
        "sub-01_task-x_run-1_event-0000",
        "sub-01_task-x_run-1_event-0001",
    ]
    assert content_kind(column) == "label" and content_kind("stim_file") == "image"
    assert content_kind(column, "text") == "text"


def test_events_text_column_next_to_a_label_is_the_text(tmp_path):
    """A condition column names the stimulus; the events' own text column is its text."""
    text = "onset\tduration\ttrial_type\ttext\n0\t1\tsentence\tthe cat sat\n2\t1\tnonword\tn/a\n"
    path = write_events(tmp_path, text)
    table = events_to_stimuli(path).table
    assert table["label"].tolist() == ["sentence", "nonword"]
    assert table["text"][0] == "the cat sat" and pd.isna(table["text"][1])
    as_text = events_to_stimuli(path, stimulus_column="trial_type", content="text").table
    assert as_text["text"].tolist() == ["sentence", "nonword"]
    assert as_text["events_text"][0] == "the cat sat"
    assert stimuli_column_name("text", "text") == "events_text"
    assert stimuli_column_name("text", "label") == "text"
    assert stimuli_column_name("event_index", "label") == "events_event_index"


def test_csv_events_are_read_comma_separated(tmp_path):
    path = tmp_path / "sub-01_task-x_events.csv"
    path.write_text("onset,duration,word\n0,0.3,Alice\n0.4,n/a,was\n", encoding="utf-8")
    stimuli = events_to_stimuli(path, stimulus_column="word", fill_duration=0.1)
    assert stimuli.text == ["Alice", "was"] and stimuli.groups() == ["sub-01_task-x"]
    assert stimuli.table["duration"].tolist() == [0.3, 0.1]


def test_na_values(tmp_path):
    text = (
        "onset\tduration\tword\tresponse_time\n0\tn/a\ta\t0.51\n1\t0.2\tn/a\tn/a\n2\t0.2\tc\t0.7\n"
    )
    path = write_events(tmp_path, text)
    with pytest.raises(BIDSFileError, match=r"'duration' is n/a in row 0.*fill_duration"):
        events_to_stimuli(path, stimulus_column="word")
    with pytest.raises(BIDSFileError, match=r"'word' is n/a in row 1.*drop_na=True"):
        events_to_stimuli(path, stimulus_column="word", fill_duration=0.0)
    table = events_to_stimuli(path, stimulus_column="word", fill_duration=0.0, drop_na=True).table
    assert table["text"].tolist() == ["a", "c"] and table["event_index"].tolist() == [0, 2]
    assert table["duration"].tolist() == [0.0, 0.2]
    kept = events_to_stimuli(path, stimulus_column="onset", content="text", fill_duration=0.0)
    assert np.isnan(kept.table["response_time"][1]) and kept.table["response_time"][0] == 0.51
    assert pd.isna(kept.table["word"][1])


def test_events_columns_named_like_reserved_ones_are_kept(tmp_path):
    path = write_events(tmp_path, "onset\tduration\tgroup\tword\n0\t0.3\tA\tx\n")
    table = events_to_stimuli(path, stimulus_column="word").table
    assert table["events_group"][0] == "A" and table["group"][0] == "sub-01_task-x_run-1"


def test_missing_events_file_and_bad_content(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_events.tsv"):
        events_to_stimuli(tmp_path / "missing_events.tsv")
    with pytest.raises(ValueError, match="content must be 'auto', 'text', 'image' or 'label'"):
        events_to_stimuli(IEEG_EVENTS, content="audio")


# ----------------------------------------------------------------------------- units


def test_ieeg_electrodes_with_coordsystem_units():
    electrodes = read_electrodes(IEEG / "sub-01/ses-01/ieeg/sub-01_ses-01_electrodes.tsv")
    reference = reference_events(IEEG / "sub-01/ses-01/ieeg/sub-01_ses-01_electrodes.tsv")
    assert len(electrodes) == 118 and electrodes["name"][0] == "1"
    np.testing.assert_array_equal(electrodes[["x", "y", "z"]], reference[["x", "y", "z"]])
    assert electrodes.loc[0, ["x", "y", "z"]].tolist() == [19.0, -39.0, -16.0]
    assert electrodes[["x", "y", "z"]].iloc[-1].isna().all()  # electrode 118 is n/a
    assert (electrodes["coord_units"] == "mm").all() and (
        electrodes["coord_system"] == "ACPC"
    ).all()
    metres = read_electrodes(IEEG / "sub-01/ses-01/ieeg/sub-01_ses-01_electrodes.tsv", units="m")
    np.testing.assert_allclose(metres["x"], electrodes["x"] / 1000)
    assert (metres["coord_units"] == "m").all()


def test_unknown_units_cannot_be_converted(tmp_path):
    path = tmp_path / "sub-01_electrodes.tsv"
    path.write_text("name\tx\ty\tz\nA1\t1\t2\t3\n")
    electrodes = read_electrodes(path)
    assert pd.isna(electrodes["coord_units"][0])
    with pytest.raises(BIDSFileError, match="cannot convert positions to 'm'"):
        read_electrodes(path, units="m")
    path.write_text("name\tx\ty\tz\nA1\t1\tfar\t3\n")
    with pytest.raises(BIDSFileError, match=r"'y'.*row 0 \(line 2\): 'far'"):
        read_electrodes(path)


def test_channels_status_and_types():
    channels = read_channels(PENNIES / "sub-05/eeg/sub-05_task-matchingpennies_channels.tsv")
    assert channels["name"][0] == "FC5" and channels["status"][0] == "bad"
    assert channels["status_description"][0] == "Contains high frequency noise"
    assert pd.isna(channels["status_description"][1])
    meg = bids_units(bids_runs(CTF)["channels"][0], subject="0001")
    assert len(meg) == 340 and meg["x"].isna().all() and (meg["subject"] == "0001").all()
    assert meg["channel"][0] == "UDIO001" and meg["type"][0] == "TRIG"


def test_channels_errors(tmp_path):
    path = tmp_path / "channels.tsv"
    path.write_text("name\ttype\tunits\tstatus\nA\tEEG\tuV\tgood\nB\tEEG\tuV\tnoisy\n")
    with pytest.raises(BIDSFileError, match=r"status must be.*row 1 \(line 3\): 'noisy'"):
        read_channels(path)
    path.write_text("name\ttype\tunits\nA\tEEG\tuV\nA\tEEG\tuV\n")
    with pytest.raises(BIDSFileError, match="names must be unique"):
        read_channels(path)
    path.write_text("name\tunits\nA\tuV\n")
    with pytest.raises(BIDSFileError, match=r"no column\(s\) \['type'\]"):
        read_channels(path)


def test_units_table_joins_channels_and_electrodes():
    run = bids_runs(IEEG, subject="01").iloc[0]
    units = bids_units(run["channels"], run["electrodes"], subject="01")
    channels = read_channels(run["channels"])
    assert units["channel"].tolist() == channels["name"].tolist()
    assert units.columns[:8].tolist() == [
        "subject",
        "channel",
        "type",
        "signal_units",
        "status",
        "x",
        "y",
        "z",
    ]
    assert units.loc[0, ["x", "y", "z"]].tolist() == [19.0, -39.0, -16.0]
    assert units["signal_units"][0] == "µV" and units["type"][0] == "ECOG"


# ----------------------------------------------------------------------------- glue


def test_load_bids_meeg_agrees_with_mne_bids():
    """sub-02's iEEG files hold one real sample, so mne-bids reads them."""
    run = load_bids_meeg(IEEG, "02", "visual", run=1, units="m")
    assert run.raw.ch_names == run.units["channel"].tolist()
    assert set(run.raw.info["bads"]) == set(run.units["channel"][run.units["status"] == "bad"])
    positions = run.raw.get_montage().get_positions()["ch_pos"]
    ours = run.units.set_index("channel").loc[list(positions), ["x", "y", "z"]]
    np.testing.assert_allclose(ours.to_numpy(), np.array(list(positions.values())), atol=1e-12)
    assert len(run.stimuli) == 420 and run.stimuli.groups() == ["sub-02_ses-01_task-visual_run-01"]
    assert run.run["group"] == "sub-02_ses-01_task-visual_run-01"


def test_load_bids_meeg_needs_one_run():
    with pytest.raises(ValueError, match=r"2 recordings match.*pass run"):
        load_bids_meeg(IEEG, "02", "visual")
    with pytest.raises(NoMatchingRunsError, match="task='rest' matches no recording"):
        load_bids_meeg(IEEG, "02", "rest", run=1)
    with pytest.raises(ValueError, match="datatype must be one of"):
        load_bids_meeg(IEEG, "02", "visual", run=1, datatype="func")


def test_docs_page_examples_run(monkeypatch):
    """The code of docs/data/bids.md runs on the ieeg_visual fixture."""
    import re

    repository = Path(__file__).resolve().parents[2]
    page = (repository / "docs" / "data" / "bids.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", page, flags=re.S))
    monkeypatch.chdir(repository)
    namespace: dict = {}
    exec(compile(code, "docs/data/bids.md", "exec"), namespace)
    assert len(namespace["runs"]) == 2 and len(namespace["run"].stimuli) == 420
