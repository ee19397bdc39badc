"""Content-free controls shared by the benchmarks.

* :func:`random_vectors`: a control that keeps only the identity of each item: one
  random vector per item, fixed by a seed and the item's key, so an item gets the same
  vector whatever the other items, in every run and dataset.
* :func:`position_features`: a control that keeps only *where* each item sits in its
  passage or story (its index, the log of it, its relative position and a few smooth
  sinusoids of the relative position), "a model with no linguistic content" in the
  sense of Hadidi et al. (2025), who showed that such features alone can score well on
  neural benchmarks whose splits let position carry over between train and test.
* :func:`sound_envelope`: a control that keeps only how loud the sound is over time
  (the RMS envelope of the waveform), the acoustic drive of auditory cortex that an
  audio model has to beat; :func:`sound_envelope_on_clock` puts it on an M/EEG
  recording's sample grid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = [
    "position_feature_names",
    "position_features",
    "random_vectors",
    "sound_envelope",
    "sound_envelope_on_clock",
]


def random_vectors(keys: Sequence[str], n_dims: int, *, seed: int = 0) -> np.ndarray:
    """One standard-normal vector per key, from a generator seeded by ``"{seed}:{key}"``.

    Parameters
    ----------
    keys : sequence of str, length n_items
        What identifies each item (a word's text, an image's index).
    n_dims : int
        Dimensions per vector (positive).
    seed : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_items, n_dims)
        Row ``i`` is drawn from ``numpy.random.default_rng`` seeded with the first 8
        bytes (little-endian) of the SHA-256 of ``f"{seed}:{keys[i]}"``.
    """
    if isinstance(n_dims, bool) or not isinstance(n_dims, int | np.integer) or n_dims < 1:
        raise ValueError(f"n_dims={n_dims!r}; it must be a positive integer")
    vectors = np.empty((len(keys), int(n_dims)))
    for row, key in enumerate(keys):
        digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
        vectors[row] = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(
            int(n_dims)
        )
    return vectors


def position_feature_names(n_harmonics: int = 2) -> list[str]:
    """Column names of :func:`position_features`.

    Parameters
    ----------
    n_harmonics : int
        Number of sinusoid pairs.

    Returns
    -------
    list of str, length 3 + 2 * n_harmonics
        ``position``, ``log1p_position``, ``relative_position``, then ``sin_k``,
        ``cos_k`` for k = 1..n_harmonics.
    """
    n_harmonics = _check_harmonics(n_harmonics)
    names = ["position", "log1p_position", "relative_position"]
    for k in range(1, n_harmonics + 1):
        names += [f"sin_{k}", f"cos_{k}"]
    return names


def _check_harmonics(n_harmonics: int) -> int:
    if isinstance(n_harmonics, bool) or not isinstance(n_harmonics, int | np.integer):
        raise ValueError(f"n_harmonics={n_harmonics!r}; it must be an integer >= 0")
    if n_harmonics < 0:
        raise ValueError(f"n_harmonics={n_harmonics!r}; it must be an integer >= 0")
    return int(n_harmonics)


def _ranks_within_groups(codes: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... in order of appearance within each group, shape (n_items,)."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    first_of_group = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    ranks = np.empty(len(codes))
    ranks[order] = np.arange(len(codes)) - first_of_group
    return ranks


def position_features(
    groups: Sequence[object] | np.ndarray,
    positions: Sequence[float] | np.ndarray | None = None,
    *,
    n_harmonics: int = 2,
) -> np.ndarray:
    """Features that encode only the position of each item within its group.

    For item ``i`` of group ``g`` at position ``p`` (``positions[i]``, or its 0-based
    rank in order of appearance within ``g`` when ``positions`` is None), with ``lo``
    and ``hi`` the smallest and largest position in ``g``, the relative position is
    ``r = (p - lo) / (hi - lo)`` (0 when the group holds one position) and the row is::

        [p, log(1 + p), r, sin(pi r), cos(pi r), ..., sin(K pi r), cos(K pi r)]

    with ``K = n_harmonics``. No one-hot columns: the basis is smooth, so a linear map
    can only express smooth functions of position (a ramp, an onset effect, a
    U-shape), never memorise one position's response. Nothing about the items'
    content enters.

    Parameters
    ----------
    groups : array-like, shape (n_items,)
        Passage, story or sentence of each item (any hashable labels; items of a group
        need not be contiguous).
    positions : array-like of float, shape (n_items,), optional
        Position of each item within its group (a sentence or word index, >= 0).
        Default: the item's rank in order of appearance within its group (0, 1, ...).
    n_harmonics : int, default 2
        Number of sine/cosine pairs of the relative position.

    Returns
    -------
    numpy.ndarray of float64, shape (n_items, 3 + 2 * n_harmonics)
        Columns named by :func:`position_feature_names`.

    Raises
    ------
    ValueError
        If ``groups`` is not 1-D or empty, ``positions`` has another length, holds
        NaN, inf or negative values, or ``n_harmonics`` is not an integer >= 0.
    """
    n_harmonics = _check_harmonics(n_harmonics)
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"groups has shape {labels.shape}; expected a non-empty 1-D array, one label per item"
        )
    _, codes = np.unique(labels.astype(str), return_inverse=True)
    if positions is None:
        p = _ranks_within_groups(codes)
    else:
        p = np.asarray(positions, dtype=np.float64)
        if p.shape != labels.shape:
            raise ValueError(
                f"positions has shape {p.shape}; expected {labels.shape}, one per item"
            )
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError(
                "positions must be finite and >= 0 (an index within the group); got "
                f"values from {np.nanmin(p)} to {np.nanmax(p)}"
            )
    n_groups = int(codes.max()) + 1
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, codes, p)
    np.maximum.at(hi, codes, p)
    span = (hi - lo)[codes]
    relative = np.where(span > 0, (p - lo[codes]) / np.where(span > 0, span, 1.0), 0.0)
    columns = [p, np.log1p(p), relative]
    for k in range(1, n_harmonics + 1):
        columns += [np.sin(np.pi * k * relative), np.cos(np.pi * k * relative)]
    return np.column_stack(columns)


def sound_envelope(
    samples: np.ndarray, sampling_rate: float, *, frame_s: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """The RMS envelope of a mono waveform in consecutive frames.

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_samples,)
        The waveform (any scale).
    sampling_rate : float
        Samples per second.
    frame_s : float
        Frame length in seconds (default 10 ms); a last partial frame is dropped.

    Returns
    -------
    times : numpy.ndarray of float64, shape (n_frames,)
        Centre of each frame in seconds from the first sample.
    envelope : numpy.ndarray of float64, shape (n_frames,)
        ``sqrt(mean(samples[frame] ** 2))`` of each frame.

    Raises
    ------
    ValueError
        For a waveform that is not 1-D, shorter than one frame or not finite, or a
        non-positive rate or frame length.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"samples has shape {samples.shape}; expected a mono waveform (n,)")
    if not (sampling_rate > 0 and frame_s > 0):
        raise ValueError(
            f"sampling_rate={sampling_rate!r} and frame_s={frame_s!r} must be positive"
        )
    width = int(round(frame_s * sampling_rate))
    n_frames = samples.size // max(width, 1)
    if width < 1 or n_frames < 1:
        raise ValueError(
            f"{samples.size} samples at {sampling_rate} Hz are shorter than one "
            f"{frame_s * 1000:g} ms frame"
        )
    if not np.isfinite(samples).all():
        raise ValueError("the waveform holds NaN or infinite samples")
    frames = samples[: n_frames * width].reshape(n_frames, width)
    envelope = np.sqrt(np.mean(frames**2, axis=1))
    times = (np.arange(n_frames) + 0.5) * width / sampling_rate
    return times, envelope


def sound_envelope_on_clock(
    samples: np.ndarray,
    sampling_rate: float,
    *,
    onset: float,
    sfreq: float,
    n_samples: int,
    start: float = 0.0,
    frame_s: float = 0.01,
) -> np.ndarray:
    """The RMS envelope of a sound on an M/EEG recording's sample grid.

    :func:`sound_envelope` (RMS in ``frame_s`` frames, i.e. a boxcar low-pass of the
    squared waveform) placed at ``onset`` and resampled onto ``start + k / sfreq`` by
    :func:`~brainalign.alignment.meeg_clock.resample_features` (Lanczos; low-passed at
    ``sfreq / 2`` when ``sfreq`` is below the frame rate ``1 / frame_s``, interpolated
    otherwise). Samples before the sound or after it are 0, so the envelopes of the
    sounds of a run can be summed.

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_audio_samples,)
        Mono waveform.
    sampling_rate : float
        Its samples per second.
    onset : float
        Seconds, on the recording's clock, at which the sound's first sample plays.
    sfreq, n_samples, start
        The recording's grid: samples per second, number of samples, time of the first.
    frame_s : float
        RMS frame length in seconds (default 10 ms: envelope content up to 50 Hz).

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples,)
    """
    from brainalign.alignment.meeg_clock import resample_features

    times, envelope = sound_envelope(samples, sampling_rate, frame_s=frame_s)
    if times.size < 2:
        raise ValueError(
            f"the sound is {np.size(samples) / sampling_rate:.4f} s long: fewer than two "
            f"{frame_s * 1000:g} ms frames, too short to resample"
        )
    return resample_features(
        onset + times, envelope, sfreq=sfreq, n_samples=n_samples, start=start
    )[:, 0]
