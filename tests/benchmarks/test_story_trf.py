"""Story TRFs on real EEG with planted word responses: recovery, ceiling, bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from brainalign.benchmarks.story_trf import (
    StoryRun,
    StoryTRFSettings,
    check_runs,
    envelope_design,
    onset_design,
    score_story_runs,
    session_ceiling,
    word_impulse_design,
)

DATA = Path(__file__).parents[1] / "data"
SFREQ = 128.0
RUN_S = 55.0
PLANTED = np.arange(8)  # channels that receive the words' responses
SETTINGS = StoryTRFSettings(
    tmin=0.0, tmax=0.5, sfreq=SFREQ, n_components=4, alphas=(1e-1, 1e1, 1e3)
)


def _kernel() -> np.ndarray:
    """A response peaking 200 ms after the word, (n_lags,)."""
    t = np.arange(int(0.5 * SFREQ) + 1) / SFREQ
    return np.exp(-0.5 * ((t - 0.2) / 0.05) ** 2)


@pytest.fixture(scope="module")
def story(tmp_path_factory, alice_words):
    """Four ~55 s runs of real EEG (2 stories x 2 sessions) with planted responses."""
    raw = mne.io.read_raw_eeglab(DATA / "eeg_long" / "test_raw.set", preload=True, verbose="error")
    eeg = raw.get_data().T  # (30504, 32) real EEG in volts
    eeg = (eeg - eeg.mean(0)) / eeg.std(0)
    rng = np.random.default_rng(0)
    n = int(RUN_S * SFREQ)
    folder = tmp_path_factory.mktemp("story")
    speech, rate = sf.read(DATA / "speech" / "jfk.wav")
    stories = {}
    for s, name in enumerate(("a", "b")):
        onsets = np.cumsum(rng.uniform(0.25, 0.45, size=140)) + 0.5
        onsets = onsets[onsets < RUN_S - 1.0]
        words = alice_words[s * 200 : s * 200 + onsets.size]
        wav = folder / f"{name}.wav"
        sf.write(
            wav,
            np.tile(speech, int(np.ceil(RUN_S * rate / speech.size)))[: int(RUN_S * rate)],
            rate,
        )
        stories[name] = (onsets, words, rng.standard_normal((onsets.size, 24)), wav)
    runs, planted = [], {}
    for r, (session, name) in enumerate([("0", "a"), ("0", "b"), ("1", "a"), ("1", "b")]):
        onsets, words, features, wav = stories[name]
        drive = np.zeros(n)
        np.add.at(drive, np.round(onsets * SFREQ).astype(int), features[:, 0] + features[:, 1])
        response = np.convolve(drive, _kernel())[:n]
        data = eeg[r * n : (r + 1) * n].copy()
        data[:, PLANTED] += 0.6 * response[:, None] / response.std()
        planted[name] = response
        table = pd.DataFrame(
            {
                "stimulus_id": [f"{name}-{i}" for i in range(onsets.size)],
                "text": words,
                "onset": onsets,
            }
        )
        runs.append(
            StoryRun(
                subject="01",
                session=session,
                story=name,
                data=data,
                channels=tuple(raw.ch_names),
                sfreq=SFREQ,
                words=table,
                sounds=pd.DataFrame({"sound_file": [str(wav)], "onset": [0.0]}),
            )  # fmt: skip
        )
    features = {name: value[2] for name, value in stories.items()}
    return runs, features


def test_planted_responses_are_recovered_on_real_eeg(story):
    runs, features = story
    check_runs(runs, SETTINGS)
    designs = word_impulse_design(runs, features, SETTINGS.n_components)
    assert [d.shape for d in designs] == [(int(RUN_S * SFREQ), 4)] * 4
    rows = score_story_runs(runs, designs, SETTINGS)
    assert rows["n_runs"].unique().tolist() == [4]
    scores = rows["score"].to_numpy()
    planted, other = scores[PLANTED], np.delete(scores, PLANTED)
    assert planted.min() > 0.2
    assert planted.min() > other.max() + 0.15
    assert np.abs(other).max() < 0.1  # real EEG without a planted response: near zero
    onsets = score_story_runs(runs, onset_design(runs), SETTINGS)["score"].to_numpy()
    assert (planted > onsets[PLANTED]).all() and planted.mean() > onsets[
        PLANTED
    ].mean() + 0.15  # the words' content, not their timing
    envelope = score_story_runs(runs, envelope_design(runs), SETTINGS)["score"].to_numpy()
    assert np.isfinite(envelope).all() and (planted > envelope[PLANTED]).all()


def test_constant_word_features_give_zero_impulses(story):
    runs, features = story
    constant = {name: np.ones_like(value) for name, value in features.items()}
    designs = word_impulse_design(runs, constant, 4)
    assert all(not d.any() for d in designs)


def test_session_ceiling_equals_the_correlation_of_aligned_sessions(story):
    runs, _ = story
    ceiling = session_ceiling(runs)
    a = np.concatenate([runs[0].data, runs[1].data])
    b = np.concatenate([runs[2].data, runs[3].data])
    expected = np.array([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])])
    np.testing.assert_allclose(ceiling["reliability"], expected, rtol=1e-10)
    usable = expected >= 0
    np.testing.assert_allclose(ceiling["ceiling"][usable], np.sqrt(expected[usable]), rtol=1e-10)
    assert ceiling["ceiling"][~usable].isna().all()
    assert ceiling["ceiling"][PLANTED].min() > ceiling["ceiling"].drop(PLANTED).max()
    assert set(ceiling["ceiling_stories"]) == {2}
    one_session = session_ceiling(runs[:2])
    assert one_session["ceiling"].isna().all() and set(one_session["ceiling_stories"]) == {0}


def test_a_run_whose_sound_starts_later_is_aligned_on_the_sound(story):
    runs, _ = story
    shift = 64  # session 1's story "a" starts its sound 0.5 s later, with 0.5 s of extra EEG
    late = replace(
        runs[2],
        data=np.concatenate([runs[3].data[:shift], runs[2].data]),
        sounds=runs[2].sounds.assign(onset=shift / SFREQ),
        words=runs[2].words.assign(onset=runs[2].words["onset"] + shift / SFREQ),
    )
    moved = session_ceiling([runs[0], late])
    np.testing.assert_allclose(
        moved["reliability"], session_ceiling([runs[0], runs[2]])["reliability"]
    )


def test_runs_that_cannot_be_scored_together_are_refused(story):
    runs, _ = story
    with pytest.raises(ValueError, match="sampled at 100 Hz but the features are placed at 128 Hz"):
        check_runs([replace(runs[0], sfreq=100.0)], SETTINGS)
    with pytest.raises(ValueError, match=r"missing \['EEG 031'\]"):
        check_runs(
            [runs[0], replace(runs[1], channels=runs[1].channels[:-1], data=runs[1].data[:, :-1])],
            SETTINGS,
        )
    with pytest.raises(ValueError, match="list different words"):
        check_runs([runs[0], replace(runs[2], words=runs[2].words.iloc[::-1])], SETTINGS)
    with pytest.raises(ValueError, match="no longer than the lags"):
        check_runs([replace(runs[0], data=runs[0].data[:32])], SETTINGS)
    with pytest.raises(ValueError, match="no runs"):
        check_runs([], SETTINGS)
    with pytest.raises(ValueError, match="has 138 words|words but its features"):
        word_impulse_design(runs, {"a": np.zeros((3, 4)), "b": np.zeros((3, 4))}, 4)
    with pytest.raises(ValueError, match="names no sound file"):
        envelope_design([replace(runs[0], sounds=runs[0].sounds.iloc[:0])])
