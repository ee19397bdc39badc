"""Model features on the M/EEG clock: word impulses, resampled frames, onset regressors.

M/EEG is sampled hundreds of times a second, so word-level features are not averaged
into volumes as for fMRI (:func:`brainalign.benchmarks.continuous.features_to_volumes`)
but placed on the recording's own sample grid, ready for a temporal response function
(:func:`brainalign.alignment.temporal.fir_delays` and a ridge):

- :func:`impulse_features`: each word's feature vector as an impulse at the sample
  nearest its onset, zero elsewhere;
- :func:`onset_impulses`: the word-onset nuisance regressor (1 at each word onset), the
  control a word-level model has to beat;
- :func:`resample_features`: frame-locked features (an audio model's frames, an
  envelope) resampled onto the sample grid, low-passed where the grid is coarser than
  the frames.

The sample grid is ``start + k / sfreq`` for ``k = 0 ... n_samples - 1``, in seconds on
the same clock as the onsets (``Recording.samples["onset"]`` of a continuous M/EEG
recording is such a grid). Arrays in, arrays out: nothing here knows about datasets
or models.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from brainalign.alignment.temporal import lanczos_resample

__all__ = [
    "OnsetOutsideRecordingError",
    "impulse_features",
    "nearest_samples",
    "onset_impulses",
    "resample_features",
    "sample_times",
]

Outside = Literal["raise", "drop"]
#: Target samples resampled per block by :func:`resample_features` (Lanczos).
_TARGET_BLOCK = 256
#: Largest frame step, as a multiple of the median, that :func:`resample_features` takes.
_MAX_STEP_RATIO = 1.5


class OnsetOutsideRecordingError(ValueError):
    """Raised when an onset falls outside the recording's sample grid."""


def _check_grid(sfreq: float, n_samples: int, start: float) -> None:
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise ValueError(f"sfreq must be a positive number of samples per second; got {sfreq!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise ValueError(f"n_samples must be an integer; got {n_samples!r}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1; got {n_samples}")
    if not np.isfinite(start):
        raise ValueError(f"start must be a finite time in seconds; got {start!r}")


def sample_times(*, sfreq: float, n_samples: int, start: float = 0.0) -> np.ndarray:
    """Times of the samples of a grid: ``start + k / sfreq``.

    Parameters
    ----------
    sfreq : float
        Samples per second (Hz).
    n_samples : int
        Number of samples.
    start : float
        Time of the first sample in seconds.

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples,)
        Seconds.
    """
    _check_grid(sfreq, n_samples, start)
    return start + np.arange(n_samples) / float(sfreq)


def _as_onsets(onsets: ArrayLike) -> np.ndarray:
    times = np.asarray(onsets, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"onsets must be 1-D (n_events,); got shape {times.shape}")
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise ValueError(
            f"onsets are NaN or infinite at rows {bad[:10].tolist()}; drop or fix those events"
        )
    return times


def nearest_samples(
    onsets: ArrayLike,
    *,
    sfreq: float,
    n_samples: int,
    start: float = 0.0,
    outside: Outside = "raise",
) -> tuple[np.ndarray, np.ndarray]:
    """The sample nearest each onset, and which onsets fall inside the recording.

    The index is ``floor((onset - start) * sfreq + 0.5)``: rounding to the nearest
    sample, halves rounded up (an onset exactly between samples ``k`` and ``k + 1``
    goes to ``k + 1``), unlike :func:`numpy.round`, which rounds halves to even.

    Parameters
    ----------
    onsets : array-like, shape (n_events,)
        Seconds, on the clock of ``start``.
    sfreq, n_samples, start
        The grid (see :func:`sample_times`).
    outside : {"raise", "drop"}
        What to do with onsets whose nearest sample is not in ``0 ... n_samples - 1``:
        raise :class:`OnsetOutsideRecordingError`, or leave them out with a
        :class:`UserWarning` that gives their number.

    Returns
    -------
    index : numpy.ndarray of int64, shape (n_inside,)
        Sample of each kept onset, in input order.
    inside : numpy.ndarray of bool, shape (n_events,)
        Which onsets were kept.
    """
    _check_grid(sfreq, n_samples, start)
    if outside not in ("raise", "drop"):
        raise ValueError(f"outside must be 'raise' or 'drop'; got {outside!r}")
    times = _as_onsets(onsets)
    index = np.floor((times - start) * float(sfreq) + 0.5).astype(np.int64)
    inside = (index >= 0) & (index < n_samples)
    n_out = int((~inside).sum())
    if n_out:
        last = start + (n_samples - 1) / float(sfreq)
        message = (
            f"{n_out} of {times.size} onsets fall outside the recording ({start:.4f} to "
            f"{last:.4f} s at {sfreq:g} Hz), e.g. rows {np.flatnonzero(~inside)[:5].tolist()} "
            f"at {times[~inside][:5].round(4).tolist()} s"
        )
        if outside == "raise":
            raise OnsetOutsideRecordingError(
                f"{message}; check that onsets and start are on the same clock, or pass "
                "outside='drop' to leave them out"
            )
        warnings.warn(f"{message}; left out (outside='drop')", UserWarning, stacklevel=3)
    return index[inside], inside


def impulse_features(
    onsets: ArrayLike,
    values: ArrayLike,
    *,
    sfreq: float,
    n_samples: int,
    start: float = 0.0,
    outside: Outside = "raise",
) -> np.ndarray:
    """Each event's feature vector as an impulse at the sample nearest its onset.

    ``out[k] = sum of values[e] over the events e whose nearest sample is k`` (see
    :func:`nearest_samples` for the rounding), zero where no event falls: several
    words in one sample are **summed**, not averaged, so the regressor keeps the drive
    of every word (at 100 Hz two words rarely share a 10 ms sample).

    Parameters
    ----------
    onsets : array-like, shape (n_events,)
        Event onsets in seconds (e.g. word onsets on the recording's clock); need not
        be sorted.
    values : array-like, shape (n_events, n_dims) or (n_events,)
        One feature vector per event (a 1-D array is one feature).
    sfreq : float
        Samples per second of the recording (Hz).
    n_samples : int
        Number of samples of the recording.
    start : float
        Time of the first sample in seconds, on the onsets' clock.
    outside : {"raise", "drop"}
        Onsets outside the recording: raise :class:`OnsetOutsideRecordingError`, or
        leave them out with a warning that counts them.

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples, n_dims)

    Raises
    ------
    ValueError
        For onsets and values of different lengths, non-finite onsets or values, a bad
        grid, or (``outside="raise"``) onsets outside the recording.
    """
    times = _as_onsets(onsets)
    features = np.asarray(values, dtype=np.float64)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2 or features.shape[0] != times.size:
        raise ValueError(
            f"values has shape {features.shape}; expected ({times.size}, n_dims): one row per onset"
        )
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad.size:
        raise ValueError(f"values are NaN or infinite in rows {bad[:10].tolist()}")
    index, inside = nearest_samples(
        times, sfreq=sfreq, n_samples=n_samples, start=start, outside=outside
    )
    out = np.zeros((n_samples, features.shape[1]), dtype=np.float64)
    np.add.at(out, index, features[inside])
    return out


def onset_impulses(
    onsets: ArrayLike,
    *,
    sfreq: float,
    n_samples: int,
    start: float = 0.0,
    outside: Outside = "raise",
) -> np.ndarray:
    """The event-onset nuisance regressor: the number of onsets at each sample.

    :func:`impulse_features` with a value of 1 per event: 1 at the sample nearest
    each word onset (2 where two words share a sample), 0 elsewhere. Lagged with
    :func:`~brainalign.alignment.temporal.fir_delays`, it models the response evoked
    by any word, whatever the word; a model's features should explain more.

    Parameters
    ----------
    onsets : array-like, shape (n_events,)
    sfreq, n_samples, start, outside
        As in :func:`impulse_features`.

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples, 1)
    """
    times = _as_onsets(onsets)
    return impulse_features(
        times,
        np.ones((times.size, 1)),
        sfreq=sfreq,
        n_samples=n_samples,
        start=start,
        outside=outside,
    )


def _frame_spacing(times: np.ndarray) -> float:
    if times.size < 2:
        raise ValueError("resample_features needs at least two frames to know their rate")
    steps = np.diff(times)
    if not (steps > 0).all():
        bad = np.flatnonzero(steps <= 0)
        raise ValueError(
            f"frame times must increase strictly; they do not after rows {bad[:5].tolist()}"
        )
    dt = float(np.median(steps))
    if steps.max() > _MAX_STEP_RATIO * dt:
        gap = int(np.argmax(steps))
        raise ValueError(
            f"frame times are not evenly spaced: a {steps[gap]:.4g} s gap after row {gap} "
            f"against a median step of {dt:.4g} s; resample each sound's frames separately "
            "and add the results (each is 0 outside its sound)"
        )
    return dt


def _banded_lanczos(
    features: np.ndarray, frames: np.ndarray, targets: np.ndarray, *, window: float, cutoff: float
) -> np.ndarray:
    """:func:`lanczos_resample` over blocks of targets, each with only the frames its
    kernel reaches (``|t - frame| <= window / (2 cutoff)``): the same numbers in time
    linear in the length instead of quadratic."""
    if not (np.isfinite(window) and window > 0):
        raise ValueError(f"window must be a positive number of lobes; got {window!r}")
    reach = window / (2.0 * cutoff)
    out = np.zeros((targets.size, features.shape[1]), dtype=np.float64)
    for first in range(0, targets.size, _TARGET_BLOCK):
        block = targets[first : first + _TARGET_BLOCK]
        lo = int(np.searchsorted(frames, block[0] - reach, side="left"))
        hi = int(np.searchsorted(frames, block[-1] + reach, side="right"))
        if hi > lo:
            out[first : first + block.size] = lanczos_resample(
                features[lo:hi], frames[lo:hi], block, window=window, cutoff=cutoff
            )
    return out


def resample_features(
    times: ArrayLike,
    values: ArrayLike,
    *,
    sfreq: float,
    n_samples: int,
    start: float = 0.0,
    method: Literal["lanczos", "linear"] = "lanczos",
    window: float = 3,
) -> np.ndarray:
    """Frame-locked features resampled onto the M/EEG sample grid.

    For features with a value at every frame (an audio model's frames, an envelope),
    not at sparse events. With frame spacing ``dt = median(diff(times))`` (frame rate
    ``1 / dt``):

    - ``method="lanczos"`` (default): the windowed-sinc low-pass interpolation of
      :func:`~brainalign.alignment.temporal.lanczos_resample` with cutoff
      ``fc = min(1 / dt, sfreq) / 2`` Hz, its weights normalised to sum to one so that
      a constant stays that constant:
      ``out[k] = sum_f L(t_k - times[f]) values[f] / sum_f L(t_k - times[f])``
      (the unnormalised sum of :func:`lanczos_resample` suits sparse events, where
      more words should mean more drive; frames are a sampled signal). When
      upsampling (``sfreq >= 1 / dt``) the cutoff is the frames' Nyquist frequency and
      this is Lanczos interpolation (``out`` equals ``values`` at the frame times).
      When downsampling the cutoff is the target Nyquist frequency ``sfreq / 2``: the
      kernel is the anti-aliasing filter, and content above ``sfreq / 2`` is
      attenuated instead of folding back.
    - ``method="linear"``: :func:`numpy.interp` per feature; only for upsampling
      (it has no anti-aliasing filter, so downsampling with it is refused).

    Samples more than ``dt / 2`` before the first frame or after the last are set to
    0 (no input there: silence before or after the sound), so the features of one
    sound can be added to those of the next.

    Parameters
    ----------
    times : array-like, shape (n_frames,)
        Time of each frame in seconds (e.g. frame centres plus the sound's onset on the
        recording's clock), strictly increasing and evenly spaced (no step over 1.5
        times the median: one sound per call), at least two.
    values : array-like, shape (n_frames, n_dims) or (n_frames,)
    sfreq, n_samples, start
        The target grid (see :func:`sample_times`).
    method : {"lanczos", "linear"}
    window : float
        Lanczos lobes on each side (``method="lanczos"``).

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples, n_dims)

    Raises
    ------
    ValueError
        For a bad grid, times that do not increase, values of the wrong shape or not
        finite, an unknown method, or ``method="linear"`` when downsampling.
    """
    targets = sample_times(sfreq=sfreq, n_samples=n_samples, start=start)
    frames = _as_onsets(times)
    features = np.asarray(values, dtype=np.float64)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2 or features.shape[0] != frames.size:
        raise ValueError(
            f"values has shape {features.shape}; expected ({frames.size}, n_dims): one row "
            "per frame time"
        )
    if not np.isfinite(features).all():
        raise ValueError("values hold NaN or infinite entries")
    dt = _frame_spacing(frames)
    span = (targets >= frames[0] - dt / 2) & (targets <= frames[-1] + dt / 2)
    out = np.zeros((n_samples, features.shape[1]), dtype=np.float64)
    if not span.any():
        return out
    if method == "lanczos":
        cutoff = min(1.0 / dt, float(sfreq)) / 2.0
        with_ones = np.column_stack([features, np.ones(frames.size)])
        summed = _banded_lanczos(with_ones, frames, targets[span], window=window, cutoff=cutoff)
        out[span] = summed[:, :-1] / summed[:, -1:]
    elif method == "linear":
        if sfreq < 1.0 / dt * (1 - 1e-9):
            raise ValueError(
                f"method='linear' has no anti-aliasing filter: it cannot downsample "
                f"{1 / dt:g} Hz frames to {sfreq:g} Hz; use method='lanczos'"
            )
        for column in range(features.shape[1]):
            out[span, column] = np.interp(targets[span], frames, features[:, column])
    else:
        raise ValueError(f"method must be 'lanczos' or 'linear'; got {method!r}")
    return out
