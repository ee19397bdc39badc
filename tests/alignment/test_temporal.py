"""Tests for Lanczos resampling and FIR delays."""

import numpy as np
import pytest

from brainalign.alignment.temporal import fir_delays, hrf_regressors, lanczos_resample


def _reference_lanczos(values, event_times, target_times, window=3):
    """Huth-lab definition, written out independently: a loop over target times.

    Their kernel at sampling rate ``fs = 1 / mean(diff(target_times))`` is
    ``window * sin(pi u) * sin(pi u / window) / (pi^2 u^2)`` with ``u = fs * dt``, 1 at
    ``u = 0`` and 0 for ``|u| > window``; the output is the unnormalised weighted sum.
    """
    fs = 1.0 / np.mean(np.diff(target_times))
    out = np.zeros((len(target_times), values.shape[1]))
    for i, t in enumerate(target_times):
        u = fs * (t - event_times)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = window * np.sin(np.pi * u) * np.sin(np.pi * u / window) / (np.pi**2 * u**2)
        w[u == 0] = 1.0
        w[np.abs(u) > window] = 0.0
        out[i] = w @ values
    return out


def test_lanczos_matches_huth_definition():
    rng = np.random.default_rng(0)
    event_times = np.sort(rng.uniform(0, 60, size=150))  # words at irregular times
    values = rng.standard_normal((150, 4))
    target_times = np.arange(30) * 2.0 + 1.0  # TR = 2 s
    for window in (2, 3):
        got = lanczos_resample(values, event_times, target_times, window=window)
        expected = _reference_lanczos(values, event_times, target_times, window=window)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        assert got.shape == (30, 4) and got.dtype == np.float64


def test_lanczos_on_the_target_grid_is_the_identity():
    # The kernel is 1 at 0 and 0 at every other multiple of the TR.
    rng = np.random.default_rng(1)
    times = np.arange(20) * 1.5
    values = rng.standard_normal((20, 3))
    np.testing.assert_allclose(lanczos_resample(values, times, times), values, atol=1e-12)


def test_lanczos_default_cutoff_is_target_nyquist_and_support_is_finite():
    target_times = np.array([0.0, 2.0, 4.0, 6.0])
    values = np.ones((1, 1))
    default = lanczos_resample(values, np.array([0.5]), target_times)
    explicit = lanczos_resample(values, np.array([0.5]), target_times, cutoff=0.25)
    np.testing.assert_array_equal(default, explicit)
    # window=3 lobes of width TR = 2 s: an event 6.5 s away contributes nothing,
    # one 5.5 s away does.
    assert lanczos_resample(values, np.array([6.5]), np.array([0.0, 2.0]))[0, 0] == 0.0
    assert lanczos_resample(values, np.array([5.5]), np.array([0.0, 2.0]))[0, 0] != 0.0


def test_lanczos_low_passes_a_dense_slow_signal_as_a_sum():
    # 4 events per TR of a slow sinusoid: the result is ~4x the signal (unnormalised).
    event_times = np.arange(0, 200, 0.5)
    signal = np.sin(2 * np.pi * event_times / 40.0)[:, None]
    target_times = np.arange(20, 180, 2.0)
    out = lanczos_resample(signal, event_times, target_times)[:, 0]
    expected = 4.0 * np.sin(2 * np.pi * target_times / 40.0)
    assert np.max(np.abs(out - expected)) < 0.1


@pytest.mark.parametrize(
    ("values", "events", "targets", "kwargs", "match"),
    [
        (np.ones((3, 2)), np.arange(2.0), np.arange(4.0), {}, "3 rows"),
        (np.ones((3, 2)), np.array([0.0, np.nan, 1.0]), np.arange(4.0), {}, "event_times"),
        (np.ones((3, 2)), np.arange(3.0), np.array([0.0, np.inf]), {}, "target_times"),
        (np.ones((0, 2)), np.arange(0.0), np.arange(4.0), {}, "at least one"),
        (np.ones((3, 2)), np.arange(3.0), np.array([1.0]), {}, "single target"),
        (np.ones((3, 2)), np.arange(3.0), np.arange(4.0)[::-1], {}, "increase"),
        (np.ones((3, 2)), np.arange(3.0), np.arange(4.0), {"cutoff": -1.0}, "cutoff"),
        (np.ones((3, 2)), np.arange(3.0), np.arange(4.0), {"window": 0}, "window"),
        (np.ones(3), np.arange(3.0), np.arange(4.0), {}, "2-D"),
    ],
)
def test_lanczos_rejects_bad_input(values, events, targets, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lanczos_resample(values, events, targets, **kwargs)


def test_fir_delays_shifts_blocks_in_delay_order():
    X = np.arange(12, dtype=np.float32).reshape(6, 2) + 1
    out = fir_delays(X, [0, 2, 1])
    assert out.shape == (6, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0:2], X)
    np.testing.assert_array_equal(out[:2, 2:4], 0)
    np.testing.assert_array_equal(out[2:, 2:4], X[:-2])
    np.testing.assert_array_equal(out[0, 4:6], 0)
    np.testing.assert_array_equal(out[1:, 4:6], X[:-1])
    for t in range(6):
        for k, d in enumerate([0, 2, 1]):
            expected = X[t - d] if t >= d else np.zeros(2)
            np.testing.assert_array_equal(out[t, 2 * k : 2 * k + 2], expected)


def test_fir_delays_longer_than_the_series_gives_zeros():
    out = fir_delays(np.ones((3, 1), dtype=int), (5,))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("delays", [(1, -1), (1.0, 2), (1.5,), (), "12", (True,)])
def test_fir_delays_rejects_bad_delays(delays):
    with pytest.raises(ValueError, match="delays"):
        fir_delays(np.ones((4, 2)), delays)


def test_fir_delays_rejects_1d_features():
    with pytest.raises(ValueError, match="2-D"):
        fir_delays(np.ones(4), (1,))


def test_fir_delays_stay_inside_runs():
    X = np.arange(1.0, 8.0)[:, None]  # runs a (3 samples) and b (4 samples)
    groups = np.array(["a", "a", "a", "b", "b", "b", "b"])
    out = fir_delays(X, [0, 1, 2], groups=groups)
    np.testing.assert_array_equal(out[:, 0], X[:, 0])
    np.testing.assert_array_equal(out[:, 1], [0, 1, 2, 0, 4, 5, 6])
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 0, 0, 4, 5])
    # one run is the plain case
    np.testing.assert_array_equal(fir_delays(X, [1, 2], groups=np.zeros(7)), fir_delays(X, [1, 2]))


@pytest.mark.parametrize(
    ("groups", "match"),
    [(np.array([0, 0, 1, 1, 0]), "contiguously"), (np.zeros(4), r"expected \(5,\)")],
)
def test_fir_delays_rejects_bad_groups(groups, match):
    with pytest.raises(ValueError, match=match):
        fir_delays(np.ones((5, 2)), [1], groups=groups)


@pytest.mark.parametrize("hrf_model", ["spm", "glover"])
@pytest.mark.parametrize("with_durations", [False, True])
def test_hrf_regressors_equal_nilearn_compute_regressor(hrf_model, with_durations):
    from nilearn.glm.first_level import compute_regressor

    rng = np.random.default_rng(3)
    n_events, n_features = 40, 5
    onsets = np.sort(rng.uniform(0, 150, n_events))
    durations = rng.uniform(0.1, 3.0, n_events) if with_durations else np.zeros(n_events)
    values = rng.standard_normal((n_events, n_features))
    frame_times = np.arange(90) * 2.0 + 1.0  # TR 2 s, slice-timing reference 1 s
    ours = hrf_regressors(
        onsets,
        values,
        frame_times,
        durations=durations if with_durations else None,
        hrf_model=hrf_model,
    )
    assert ours.shape == (90, n_features)
    for j in range(n_features):
        theirs, _ = compute_regressor(
            np.vstack([onsets, durations, values[:, j]]), hrf_model, frame_times
        )
        np.testing.assert_allclose(ours[:, j], theirs[:, 0], rtol=1e-9, atol=1e-12)


def test_hrf_regressors_early_onsets_warn_like_nilearn():
    frame_times = np.arange(20) * 2.0 + 30.0
    with pytest.warns(UserWarning, match="lower min_onset"):
        hrf_regressors([1.0, 40.0], [1.0, 2.0], frame_times)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hrf_model": "fir"}, "use one of"),
        ({"frame_times": [0.0]}, "at least 2 volume times"),
        ({"frame_times": [0.0, 2.0, 1.0]}, "increasing"),
        ({"values": np.ones((3, 2))}, "one onset per event"),
        ({"durations": [-1.0, 0.0]}, "non-negative"),
        ({"values": [1.0, np.nan]}, "values holds NaN"),
    ],
)
def test_hrf_regressors_reject_bad_input(kwargs, match):
    arguments = {"onsets": [1.0, 5.0], "values": [1.0, 2.0], "frame_times": np.arange(10.0) * 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hrf_regressors(**arguments)
