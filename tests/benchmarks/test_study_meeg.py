"""A continuous study on the M/EEG clock: impulses and a TRF, checked against MNE.

Real EEG (tests/data/eeg_long/test_raw.set: 32 channels, 128 Hz) in two 60 s runs of a
story (words of Alice at about three per second); a response to the first principal
component of a tiny GPT-2's layer-2 word features, 200 ms after each word, is planted
into the first 8 channels.
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

from brainalign.benchmarks.study import Study, StudyInputError
from brainalign.datasets.recording import Recording
from brainalign.encoders.text import TextEncoder
from brainalign.stimuli import Stimuli

DATA = Path(__file__).resolve().parents[1] / "data"
SFREQ, RUN_S, ALPHA = 128.0, 60.0, 100.0
OPTIONS = {"tmin": 0.0, "tmax": 0.4, "n_components": 4, "alphas": [ALPHA]}
PLANTED = np.arange(8)


@pytest.fixture(scope="module")
def story(tiny_gpt2_dir, alice_words):
    raw = mne.io.read_raw_eeglab(DATA / "eeg_long" / "test_raw.set", preload=True, verbose="error")
    n = int(RUN_S * SFREQ)
    eeg = raw.get_data()[:, : 2 * n].T
    eeg = (eeg - eeg.mean(0)) / eeg.std(0)
    rng = np.random.default_rng(3)
    words, runs = [], []
    for r in range(2):
        onsets = np.cumsum(rng.uniform(0.25, 0.45, 200)) + 0.5
        onsets = onsets[onsets < RUN_S - 1.0]
        for i, onset in enumerate(onsets):
            words.append((f"r{r}-{i:03d}", alice_words[r * 200 + i], onset, f"run-{r}"))
        runs.append(np.full(n, f"run-{r}"))
    table = pd.DataFrame(words, columns=["stimulus_id", "text", "onset", "group"])
    features = TextEncoder(str(tiny_gpt2_dir)).encode_words(
        table["text"].tolist(), layers=[2], stimulus_ids=table["stimulus_id"].tolist()
    )
    components = PCA(4, whiten=True, svd_solver="full").fit_transform(features["2"])
    design = np.zeros((2 * n, 4))
    for r in range(2):
        rows = (table["group"] == f"run-{r}").to_numpy()
        samples = r * n + np.round(table["onset"].to_numpy()[rows] * SFREQ).astype(int)
        np.add.at(design, samples, components[rows])
    t = np.arange(int(0.4 * SFREQ) + 1) / SFREQ
    kernel = np.exp(-0.5 * ((t - 0.2) / 0.04) ** 2)
    drive = np.concatenate(
        [np.convolve(design[r * n : (r + 1) * n, 0], kernel)[:n] for r in range(2)]
    )
    eeg[:, PLANTED] += 0.8 * drive[:, None] / drive.std()
    recording = Recording(
        eeg,
        pd.DataFrame({"onset": np.tile(np.arange(n) / SFREQ, 2), "run": np.concatenate(runs)}),
        pd.DataFrame({"subject": "s1", "unit": raw.ch_names}),
        "continuous",
        Stimuli(table),
        sfreq=SFREQ,
    )
    return recording, design


@pytest.fixture(scope="module")
def rows(story, tiny_gpt2_dir):
    study = Study("eeg-story", responses=story[0], options=OPTIONS)
    assert study.on_meeg_clock and study.groups == "run"
    return study, study.benchmark().run(str(tiny_gpt2_dir), layers=[2], untrained_twin=False)


def _mne_leave_one_run_out(design: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    folds = []
    for test in range(2):
        train = 1 - test
        rf = mne.decoding.ReceptiveField(
            OPTIONS["tmin"], OPTIONS["tmax"], SFREQ, estimator=Ridge(alpha=ALPHA)
        )
        rf.fit(design[train * n : (train + 1) * n], y[train * n : (train + 1) * n])
        predicted = rf.predict(design[test * n : (test + 1) * n])
        held = y[test * n : (test + 1) * n]
        folds.append([np.corrcoef(predicted[:, j], held[:, j])[0, 1] for j in range(y.shape[1])])
    return np.mean(folds, axis=0)


def test_rows_equal_mne_receptive_field_with_runs_held_out(story, rows):
    recording, design = story
    _, table = rows
    n = recording.n_samples // 2
    expected = _mne_leave_one_run_out(design, recording.data, n)
    model = table[table["control"] == ""]
    # float32 forward passes batched differently move r by ~1e-7
    np.testing.assert_allclose(model["score"].to_numpy(), expected, rtol=0, atol=1e-6)
    scores = model["score"].to_numpy()
    assert scores[PLANTED].min() > 0.3 and scores[PLANTED].min() > np.delete(scores, PLANTED).max()


def test_the_control_is_word_onsets_through_the_same_trf(story, rows):
    recording, _ = story
    study, table = rows
    onsets = np.zeros((recording.n_samples, 1))
    n = recording.n_samples // 2
    words = recording.stimuli.table
    for r in range(2):
        at = words.loc[words["group"] == f"run-{r}", "onset"].to_numpy()
        np.add.at(onsets, r * n + np.round(at * SFREQ).astype(int), 1.0)
    control = table[table["control"] == "word-onsets"]
    expected = _mne_leave_one_run_out(onsets, recording.data, n)
    np.testing.assert_allclose(control["score"].to_numpy(), expected, rtol=1e-6, atol=1e-9)
    described = study.benchmark()
    assert "TRF from 0 to 0.4 s" in described.cross_validation
    assert "word-onsets" in described.controls and "4 whitened principal" in described.presentation


def test_clock_options_are_refused_on_the_other_clock(story):
    recording, _ = story
    with pytest.raises(StudyInputError, match="delays .* tmin and tmax"):
        Study("eeg", responses=recording, options={"delays": [1, 2]})
    with pytest.raises(StudyInputError, match="tmin=0.5 must be below tmax=0.1"):
        Study("eeg", responses=recording, options={"tmin": 0.5, "tmax": 0.1})
    with pytest.raises(StudyInputError, match="n_components=0"):
        Study("eeg", responses=recording, options={"n_components": 0})
    fmri = Recording(
        recording.data[:300],
        pd.DataFrame({"onset": np.arange(300) * 2.0}),
        recording.units,
        "continuous",
        Stimuli(recording.stimuli.table.assign(onset=np.linspace(1, 590, len(recording.stimuli)))),
        tr=2.0,
    )
    with pytest.raises(
        StudyInputError, match=r"\['tmin'\] are for continuous responses on the M/EEG"
    ):
        Study("fmri", responses=fmri, options={"tmin": 0.0})
    assert not Study("fmri", responses=fmri).on_meeg_clock
