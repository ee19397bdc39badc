"""Shared steps of continuous encoding studies, on the real alice2016 recording."""

import dataclasses

import numpy as np
import pytest
from scipy.stats import pearsonr

from brainalign.benchmarks.continuous import (
    EncodingSettings,
    features_to_volumes,
    noise_ceiling,
    score_design,
    score_regressors,
)
from brainalign.datasets import load
from brainalign.encoders.features import Features


@pytest.fixture(scope="module")
def recording():
    return load("alice2016", subjects=["s18", "s22", "s23", "s24"])


def _z(x):
    return (x - x.mean()) / x.std()


def test_noise_ceiling_is_leave_one_subject_out_isc_of_z_scored_time_courses(recording):
    ceiling = noise_ceiling(recording).set_index(["subject", "unit"])["ceiling"]
    others = [
        _z(recording.select(subject=s, roi="LIFG").data[:, 0].astype(float))
        for s in ("s18", "s22", "s24")
    ]
    expected = pearsonr(
        recording.select(subject="s23", roi="LIFG").data[:, 0], np.mean(others, axis=0)
    )[0]
    assert ceiling[("s23", "LIFG")] == pytest.approx(expected, abs=1e-6)
    assert len(ceiling) == 4 * 6


def test_features_to_volumes_needs_onsets_and_keeps_layers(recording):
    words = recording.stimuli.table
    features = Features(
        layers={"0": np.ones((len(words), 2)), "3": np.zeros((len(words), 1))},
        stimulus_ids=words["stimulus_id"].to_numpy(),
        onsets=words["onset"].to_numpy(),
    )
    design = features_to_volumes(features, recording.sample_times)
    assert list(design) == ["0", "3"]
    assert design["0"].shape == (362, 2)
    # A constant feature per word becomes a word-rate signal centred on each volume onset:
    # it follows the word count in [onset - 1 s, onset + 1 s), not the one a volume later.
    edges = np.append(recording.sample_times, 744.0)
    centred = np.histogram(words["onset"], bins=edges - recording.tr / 2)[0]
    later = np.histogram(words["onset"], bins=edges + recording.tr / 2)[0]
    assert np.corrcoef(design["0"][:, 0], centred)[0, 1] > 0.85
    assert np.corrcoef(design["0"][:, 0], later)[0, 1] < 0.2
    with pytest.raises(ValueError, match="no word onsets"):
        features_to_volumes(
            Features(features.layers, features.stimulus_ids), recording.sample_times
        )


def test_word_rate_design_predicts_language_rois_better_than_noise(recording):
    """The real signal is there: the word-rate design beats a random design."""
    words = recording.stimuli.table
    rate = Features(
        {"0": np.ones((len(words), 1))},
        words["stimulus_id"].to_numpy(),
        onsets=words["onset"].to_numpy(),
    )
    design = features_to_volumes(rate, recording.sample_times)
    design["1"] = np.random.default_rng(0).normal(size=(362, 1))
    rows = score_design(recording, design, EncodingSettings())
    by_layer = rows.groupby("layer")["score"].median()
    assert by_layer[0] > 0.1 > by_layer[1]


def test_nuisance_regressors_through_the_same_pipeline(recording):
    rows = score_regressors(recording, ["word_rate", "sound_power"], EncodingSettings())
    assert len(rows) == 4 * 6
    assert rows["layer"].isna().all()
    assert rows["score"].median() > 0.1


def test_alice2016_ceilings_equal_an_independent_numpy_computation():
    """The bundled recording of all 27 subjects: z-score each subject's ROI time course,
    average the other 26, correlate; rescaling one subject by 100 changes nothing."""
    full = load("alice2016")
    ceiling = noise_ceiling(full).set_index(["subject", "unit"])["ceiling"]
    subjects = full.subjects
    rois = list(dict.fromkeys(full.units["roi"]))
    stacked = np.stack(
        [full.select(subject=s).data.astype(np.float64) for s in subjects]
    )  # (27, 362, 6), ROIs in file order
    z = (stacked - stacked.mean(axis=1, keepdims=True)) / stacked.std(axis=1, keepdims=True)
    for i, subject in enumerate(subjects):
        others = (z.sum(axis=0) - z[i]) / (len(subjects) - 1)
        for j, roi in enumerate(rois):
            expected = np.corrcoef(stacked[i, :, j], others[:, j])[0, 1]
            assert ceiling[(subject, roi)] == pytest.approx(expected, abs=1e-9)

    scaled_data = full.data.copy()
    scaled_data[:, (full.units["subject"] == "s46").to_numpy()] *= 100.0
    scaled = dataclasses.replace(full, data=scaled_data)
    rescaled = noise_ceiling(scaled).set_index(["subject", "unit"])["ceiling"]
    # float32 data: x100 rounds each value by up to 6e-8 relative
    np.testing.assert_allclose(rescaled.to_numpy(), ceiling.to_numpy(), atol=1e-6)
