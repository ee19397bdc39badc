"""Model features on the M/EEG clock, checked against brute-force loops and scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from brainalign.alignment.meeg_clock import (
    OnsetOutsideRecordingError,
    impulse_features,
    nearest_samples,
    onset_impulses,
    resample_features,
    sample_times,
)
from brainalign.benchmarks.controls import sound_envelope, sound_envelope_on_clock

SPEECH = Path(__file__).parents[1] / "data" / "speech" / "jfk.wav"


def brute_impulses(onsets, values, sfreq, n_samples, start):
    """One loop over events: nearest sample by comparing every sample's distance."""
    out = np.zeros((n_samples, values.shape[1]))
    grid = start + np.arange(n_samples) / sfreq
    for onset, row in zip(onsets, values, strict=True):
        distance = np.abs(grid - onset)
        # nearest sample; a tie between two samples goes to the later one
        best = np.flatnonzero(np.isclose(distance, distance.min(), rtol=0, atol=1e-12))[-1]
        out[best] += row
    return out


def brute_lanczos(times, values, targets, cutoff, window, dt):
    """The formula of resample_features written out with two loops."""
    out = np.zeros((targets.size, values.shape[1]))
    for k, t in enumerate(targets):
        if t < times[0] - dt / 2 or t > times[-1] + dt / 2:
            continue
        weights = 0.0
        for f, tf in enumerate(times):
            u = 2 * cutoff * (t - tf)
            if abs(u) <= window:
                weight = np.sinc(u) * np.sinc(u / window)
                out[k] += weight * values[f]
                weights += weight
        out[k] /= weights
    return out


# ------------------------------------------------------------------ impulses


def test_impulse_features_equal_a_brute_force_loop():
    rng = np.random.default_rng(0)
    sfreq, n_samples, start = 100.0, 500, 2.0
    onsets = start + rng.uniform(0, (n_samples - 1) / sfreq, size=300)
    onsets[:3] = [start + 0.1, start + 0.1 + 1e-4, start + 0.1 - 1e-4]  # one sample, summed
    values = rng.normal(size=(300, 4))
    got = impulse_features(onsets, values, sfreq=sfreq, n_samples=n_samples, start=start)
    assert got.shape == (n_samples, 4)
    np.testing.assert_allclose(got, brute_impulses(onsets, values, sfreq, n_samples, start))
    np.testing.assert_allclose(got[10], values[:3].sum(axis=0))


def test_half_sample_onsets_round_up_not_to_even():
    # 0.025 s and 0.035 s at 100 Hz are exactly 2.5 and 3.5 samples (in binary, 2.5 and
    # 3.5 after the product); numpy.round would send both to even samples 2 and 4
    index, inside = nearest_samples([0.0, 0.025, 0.035, 0.0049], sfreq=100, n_samples=10)
    assert index.tolist() == [0, 3, 4, 0] and inside.all()
    # a start offset shifts the grid
    index, _ = nearest_samples([1.0], sfreq=100, n_samples=10, start=0.96)
    assert index.tolist() == [4]


def test_onsets_outside_the_recording_are_refused_or_counted():
    onsets = [-0.2, 0.0, 0.5, 0.994, 0.996, 3.0]  # grid 0 ... 0.99 s at 100 Hz
    with pytest.raises(OnsetOutsideRecordingError, match=r"3 of 6 onsets .*rows \[0, 4, 5\]"):
        onset_impulses(onsets, sfreq=100, n_samples=100)
    with pytest.warns(UserWarning, match="3 of 6 onsets fall outside"):
        kept = impulse_features(onsets, np.arange(6.0), sfreq=100, n_samples=100, outside="drop")
    assert kept[:, 0].tolist() == [
        1.0 if k == 0 else 2.0 if k == 50 else 3.0 if k == 99 else 0.0 for k in range(100)
    ]


def test_onset_impulses_count_onsets_per_sample_like_numpy_histogram():
    rng = np.random.default_rng(1)
    sfreq, n_samples = 50.0, 400
    onsets = rng.uniform(0, (n_samples - 1) / sfreq, size=1000)
    got = onset_impulses(onsets, sfreq=sfreq, n_samples=n_samples)[:, 0]
    edges = (np.arange(n_samples + 1) - 0.5) / sfreq  # sample k owns [k - 1/2, k + 1/2)
    expected, _ = np.histogram(onsets, bins=edges)
    np.testing.assert_array_equal(got, expected)
    assert got.sum() == 1000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"onsets": [np.nan], "values": [[1.0]]}, "NaN or infinite at rows"),
        ({"onsets": [0.1, 0.2], "values": [[1.0]]}, r"expected \(2, n_dims\)"),
        ({"onsets": [0.1], "values": [[np.inf]]}, "values are NaN or infinite"),
        ({"onsets": [0.1], "values": [[1.0]], "sfreq": 0}, "sfreq must be a positive"),
        ({"onsets": [0.1], "values": [[1.0]], "n_samples": 0}, "n_samples must be at least 1"),
        ({"onsets": [0.1], "values": [[1.0]], "outside": "clip"}, "outside must be"),
    ],
)
def test_impulse_features_refuse_bad_input(kwargs, message):
    options = {"sfreq": 100.0, "n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        impulse_features(options.pop("onsets"), options.pop("values"), **options)


# ------------------------------------------------------------------ resampling


def test_lanczos_downsampling_equals_the_formula_written_out():
    rng = np.random.default_rng(2)
    frames = 0.3 + np.arange(120) / 50.0  # 50 Hz frames starting at 0.3 s
    values = rng.normal(size=(120, 3))
    sfreq, n_samples, start = 20.0, 70, 0.0
    got = resample_features(frames, values, sfreq=sfreq, n_samples=n_samples, start=start)
    targets = sample_times(sfreq=sfreq, n_samples=n_samples, start=start)
    expected = brute_lanczos(frames, values, targets, cutoff=10.0, window=3, dt=1 / 50)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert np.all(got[targets < 0.3 - 0.01] == 0) and np.all(got[targets > frames[-1] + 0.01] == 0)


def test_the_blocks_do_not_change_the_numbers(monkeypatch):
    import brainalign.alignment.meeg_clock as clock

    rng = np.random.default_rng(3)
    frames = np.arange(900) / 30.0 + rng.uniform(-0.005, 0.005, size=900)  # jittered 30 Hz
    values = rng.normal(size=(900, 2))
    options = {"sfreq": 40.0, "n_samples": 1200}
    blocked = resample_features(frames, values, **options)
    monkeypatch.setattr(clock, "_TARGET_BLOCK", 10**9)
    np.testing.assert_allclose(resample_features(frames, values, **options), blocked, atol=1e-12)


def test_lanczos_upsampling_interpolates_through_the_frames():
    rng = np.random.default_rng(4)
    frames = np.arange(60) / 50.0
    values = rng.normal(size=(60, 2))
    got = resample_features(frames, values, sfreq=200.0, n_samples=240)
    np.testing.assert_allclose(got[::4][:60], values, atol=1e-12)  # every 4th sample is a frame


def test_lanczos_downsampling_filters_what_would_alias_like_scipy():
    fs, sfreq = 100.0, 25.0
    t = np.arange(1000) / fs
    slow = np.sin(2 * np.pi * 2.0 * t)
    fast = np.sin(2 * np.pi * 20.0 * t)  # above the 12.5 Hz target Nyquist: aliases to 5 Hz
    both = np.column_stack([slow, fast])
    got = resample_features(t, both, sfreq=sfreq, n_samples=250)
    reference = signal.resample_poly(both, 1, 4, axis=0)  # scipy's anti-aliased decimation
    interior = slice(20, 230)
    np.testing.assert_allclose(got[interior, 0], reference[interior, 0], atol=0.02)
    np.testing.assert_allclose(got[interior, 0], slow[::4][interior], atol=0.02)
    assert np.abs(got[interior, 1]).max() < 0.05  # filtered out ...
    assert np.abs(fast[::4]).max() > 0.9  # ... where plain decimation keeps it, aliased
    assert np.abs(reference[interior, 1]).max() < 0.05


def test_a_constant_stays_that_constant_up_to_the_edges():
    frames = np.arange(500) / 100.0
    got = resample_features(frames, np.full(500, 3.0), sfreq=30.0, n_samples=150)
    assert got.shape == (150, 1)
    np.testing.assert_allclose(got[:, 0], 3.0, rtol=1e-12)


def test_linear_equals_numpy_interp_and_refuses_to_downsample():
    rng = np.random.default_rng(5)
    frames = 0.5 + np.arange(40) / 50.0
    values = rng.normal(size=(40, 2))
    got = resample_features(frames, values, sfreq=120.0, n_samples=130, method="linear")
    grid = np.arange(130) / 120.0
    span = (grid >= frames[0] - 0.01) & (grid <= frames[-1] + 0.01)
    for column in range(2):
        expected = np.where(span, np.interp(grid, frames, values[:, column]), 0.0)
        np.testing.assert_allclose(got[:, column], expected)
    with pytest.raises(ValueError, match="no anti-aliasing filter"):
        resample_features(frames, values, sfreq=20.0, n_samples=30, method="linear")


@pytest.mark.parametrize(
    ("times", "values", "message"),
    [
        ([0.0], [1.0], "at least two frames"),
        ([0.0, 0.1, 0.1], [1.0, 2.0, 3.0], "must increase strictly"),
        ([0.0, 0.1, 0.2, 0.5], [1.0, 2.0, 3.0, 4.0], "0.3 s gap after row 2"),
        ([0.0, 0.1], [[1.0, 2.0, 3.0]], r"expected \(2, n_dims\)"),
        ([0.0, 0.1], [1.0, np.nan], "NaN or infinite"),
    ],
)
def test_resample_features_refuses_bad_input(times, values, message):
    with pytest.raises(ValueError, match=message):
        resample_features(times, values, sfreq=10.0, n_samples=5)
    with pytest.raises(ValueError, match="method must be"):
        resample_features([0.0, 0.1], [1.0, 2.0], sfreq=10.0, n_samples=5, method="cubic")


# ------------------------------------------------------------------ envelope control


@pytest.fixture(scope="module")
def speech():
    audio, rate = sf.read(SPEECH)
    return audio, float(rate)


def test_envelope_on_a_grid_through_the_frames_is_the_rms_envelope(speech):
    audio, rate = speech
    times, envelope = sound_envelope(audio, rate)  # 10 ms frames, centres at 5, 15 ... ms
    onset = 1.25
    got = sound_envelope_on_clock(
        audio, rate, onset=onset, sfreq=100.0, n_samples=1400, start=onset + 0.005 - 1.0
    )
    np.testing.assert_allclose(got[100 : 100 + times.size], envelope, atol=1e-12)
    assert np.all(got[:99] == 0) and np.all(got[101 + times.size :] == 0)


def test_envelope_at_meg_rate_follows_the_hilbert_envelope_of_the_speech(speech):
    audio, rate = speech
    sfreq, onset = 50.0, 0.5
    n_samples = int((audio.size / rate + 1.0) * sfreq)
    got = sound_envelope_on_clock(audio, rate, onset=onset, sfreq=sfreq, n_samples=n_samples)
    # independent envelope: |analytic signal|, low-passed below 25 Hz, sampled at 50 Hz
    hilbert = np.abs(signal.hilbert(audio))
    sos = signal.butter(4, 20.0, fs=rate, output="sos")
    smooth = signal.sosfiltfilt(sos, hilbert)
    grid = np.arange(n_samples) / sfreq
    inside = (grid >= onset + 0.05) & (grid <= onset + audio.size / rate - 0.05)
    reference = np.interp(grid[inside] - onset, np.arange(audio.size) / rate, smooth)
    assert np.corrcoef(got[inside], reference)[0, 1] > 0.95
    # the RMS of a sine is amplitude / sqrt(2), |hilbert| its amplitude: the ratio of means
    ratio = got[inside].mean() / reference.mean()
    assert 0.6 < ratio < 0.95
