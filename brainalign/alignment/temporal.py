"""Time handling for encoding models: Lanczos resampling, FIR delays, HRF convolution.

Word- or frame-level features arrive at event times (seconds); fMRI arrives once per
volume. :func:`lanczos_resample` brings features onto the volume clock, and
:func:`fir_delays` stacks shifted copies so a linear model can learn a finite impulse
response in place of a fixed haemodynamic response function. :func:`hrf_regressors`
takes the other route: each feature becomes an event regressor convolved with a
canonical HRF (nilearn's SPM or Glover model) and sampled at the volume times.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import device as array_device
from array_api_compat import is_torch_array
from numpy.typing import ArrayLike

from brainalign.alignment.backend import (
    namespace,
    on_compute_device,
    returned_like_input,
    to_numpy,
)

# Rows of the (n_targets, n_events) kernel matrix built at a time, to bound memory
# (about 32 MiB of float64 per chunk).
_KERNEL_CHUNK_ELEMENTS = 4_000_000


def lanczos_resample(
    values: ArrayLike,
    event_times: ArrayLike,
    target_times: ArrayLike,
    *,
    window: float = 3,
    cutoff: float | None = None,
) -> Any:
    """Resample event-timed values onto target times with a Lanczos kernel.

    This is the Lanczos interpolation of the Huth lab (``lanczosinterp2D`` and
    ``lanczosfun`` in their ``interpdata.py``; Huth et al. 2016, *Nature*; LeBel,
    Jain & Huth 2023), used to downsample word embeddings to fMRI volumes::

        out[t] = sum_e L(target_times[t] - event_times[e]) * values[e]

        L(x) = sinc(2 * cutoff * x) * sinc(2 * cutoff * x / window)  if |x| <= window / (2 * cutoff)
        L(x) = 0                                                     otherwise

    with ``sinc(u) = sin(pi u) / (pi u)`` and ``sinc(0) = 1`` (``numpy.sinc``). This
    equals their ``window * sin(pi u) * sin(pi u / window) / (pi**2 u**2)`` with
    ``u = 2 * cutoff * x``: their ``cutoff`` argument is the target *sampling rate*
    ``1 / TR``, which is ``2 * cutoff`` here, because ``cutoff`` here is the low-pass
    frequency in Hz (Nyquist by default). The kernel is 1 at ``x = 0``, has its first
    zero at ``x = 1 / (2 * cutoff)`` (one TR by default), keeps ``window`` lobes on
    each side and is zero beyond them.

    As in the original, the weights are **not normalised** to sum to one: ``out[t]``
    is a weighted *sum* of the events near ``t``, so a series with ``k`` events per
    target interval comes out scaled by about ``k`` (more words in a volume, more
    drive). Z-score the result if only its shape matters.

    Parameters
    ----------
    values : array-like, shape (n_events, n_dims)
        One row per event (e.g. per word), e.g. model features.
    event_times : array-like, shape (n_events,)
        Time of each event in seconds (e.g. word midpoints), on the same clock as
        ``target_times``. Need not be sorted or evenly spaced.
    target_times : array-like, shape (n_targets,)
        Times in seconds to resample onto (e.g. volume acquisition times).
    window : float, default 3
        Number of sinc lobes kept on each side of the kernel centre (Lanczos ``a``).
    cutoff : float, optional
        Low-pass cutoff frequency in Hz. Defaults to the Nyquist frequency of the
        target sampling, ``1 / (2 * median(diff(target_times)))``; the Huth code uses
        the mean spacing, which is the same for evenly spaced volumes.

    Returns
    -------
    resampled : array, shape (n_targets, n_dims), float64
        numpy for numpy ``values`` (computed on the run's device inside
        :func:`~brainalign.alignment.backend.alignment_device`), a tensor on ``values``'
        device for a torch tensor (the times may stay numpy).

    Raises
    ------
    ValueError
        If the arrays are empty, their lengths disagree, a time or value is not finite,
        ``window`` or ``cutoff`` is not positive, or ``cutoff`` is not given and cannot
        be derived (fewer than two target times, or no positive spacing).
    """
    xp, values_arr, numpy_input = on_compute_device(values)
    values_arr = xp.astype(values_arr, xp.float64) if values_arr.dtype != xp.float64 else values_arr
    events = np.asarray(event_times, dtype=np.float64)
    targets = np.asarray(target_times, dtype=np.float64)
    if values_arr.ndim != 2:
        raise ValueError(
            f"values must be 2-D (n_events, n_dims); got shape {values_arr.shape}. "
            "Reshape a single series with values.reshape(-1, 1)."
        )
    if events.ndim != 1 or targets.ndim != 1:
        raise ValueError(
            f"event_times and target_times must be 1-D; got shapes {events.shape} and "
            f"{targets.shape}."
        )
    if values_arr.shape[0] == 0 or targets.size == 0:
        raise ValueError(
            f"lanczos_resample needs at least one event and one target time; got "
            f"{values_arr.shape[0]} events and {targets.size} target times."
        )
    if events.shape[0] != values_arr.shape[0]:
        raise ValueError(
            f"event_times has {events.shape[0]} entries but values has "
            f"{values_arr.shape[0]} rows; give one time per row of values."
        )
    for name, arr in (("event_times", events), ("target_times", targets), ("values", values_arr)):
        ns = namespace(arr)
        finite = to_numpy(ns.all(ns.reshape(ns.isfinite(arr), (arr.shape[0], -1)), axis=1))
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"{name} has non-finite entries (NaN or inf) at rows {bad[:10].tolist()}; "
                "drop or fill those events first."
            )
    if not (np.isfinite(window) and window > 0):
        raise ValueError(f"window must be a positive number of lobes; got {window!r}.")
    if cutoff is None:
        if targets.size < 2:
            raise ValueError(
                "cutoff cannot be derived from a single target time; pass cutoff (Hz) "
                "explicitly, e.g. cutoff=1 / (2 * TR)."
            )
        spacing = float(np.median(np.diff(targets)))
        if not spacing > 0:
            raise ValueError(
                f"target_times have median spacing {spacing} s; they must increase. Sort "
                "them, or pass cutoff (Hz) explicitly."
            )
        cutoff = 1.0 / (2.0 * spacing)
    elif not (np.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff must be a positive frequency in Hz; got {cutoff!r}.")

    device = array_device(values_arr)
    events_x = xp.asarray(events, device=device)
    targets_x = xp.asarray(targets, device=device)
    chunk = max(1, _KERNEL_CHUNK_ELEMENTS // events.size)
    parts = []
    for start in range(0, targets.size, chunk):
        offsets = targets_x[start : start + chunk, None] - events_x[None, :]
        parts.append(_lanczos_kernel(offsets, cutoff, window, xp) @ values_arr)
    out = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
    return returned_like_input(out, numpy_input)


def _lanczos_kernel(x: Any, cutoff: float, window: float, xp: Any) -> Any:
    """Lanczos weights ``L(x)`` for time offsets ``x`` in seconds (see lanczos_resample)."""
    u = 2.0 * cutoff * x
    kernel = _sinc(u, xp) * _sinc(u / window, xp)
    return xp.where(xp.abs(u) > window, xp.zeros_like(kernel), kernel)


def _sinc(u: Any, xp: Any) -> Any:
    """``sin(pi u) / (pi u)``, 1 at 0, as :func:`numpy.sinc` computes it."""
    y = np.pi * xp.where(u == 0, xp.full_like(u, 1.0e-20), u)
    return xp.sin(y) / y


def fir_delays(
    X: ArrayLike | Any, delays: Sequence[int], *, groups: ArrayLike | Any | None = None
) -> Any:
    """Stack time-shifted copies of features (a finite impulse response design).

    Block ``k`` of the output is ``X`` delayed by ``delays[k]`` samples:
    ``out[t, block k] = X[t - delays[k]]``, with zeros where ``t - delays[k] < 0``
    (a delay at least ``n_samples`` gives an all-zero block).

    Parameters
    ----------
    X : array-like or torch.Tensor, shape (n_samples, n_features)
        Features on the response's sampling clock (e.g. one row per fMRI volume). A
        torch tensor (CPU or GPU) is delayed on its own device and gives a tensor
        there; anything else gives a numpy array.
    delays : sequence of int
        Non-negative delays in samples (e.g. volumes): ``(1, 2, 3, 4)`` covers the
        haemodynamic lag of 2-8 s at TR = 2 s.
    groups : array-like, shape (n_samples,), optional
        Run (or story) of each sample, each run's samples contiguous. Delays then stay
        inside a run: the first ``d`` samples of every run get zeros at delay ``d``
        instead of the end of the previous run, which was recorded at another time.

    Returns
    -------
    delayed : numpy.ndarray or torch.Tensor, shape (n_samples, n_features * len(delays))
        Of ``X``'s kind and device. Columns are ordered delay-major: all features at
        ``delays[0]``, then all at ``delays[1]``, and so on. Floating inputs keep their
        dtype; others become float64.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, ``delays`` is empty, negative or not integers, or
        ``groups`` has the wrong length or a run that is not contiguous.
    """
    X_arr = X if is_torch_array(X) else np.asarray(X)
    if X_arr.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got shape {tuple(X_arr.shape)}. "
            "Reshape a single series with X.reshape(-1, 1)."
        )
    checked = _check_delays(delays)
    xp = namespace(X_arr)
    dtype = X_arr.dtype if xp.isdtype(X_arr.dtype, "real floating") else xp.float64
    n_samples, n_features = X_arr.shape
    out = xp.zeros((n_samples, n_features * len(checked)), dtype=dtype, device=array_device(X_arr))
    labels = None if groups is None else to_numpy(groups)
    for start, stop in _run_bounds(labels, n_samples):
        length = stop - start
        for k, delay in enumerate(checked):
            if delay < length:
                columns = slice(k * n_features, (k + 1) * n_features)
                out[start + delay : stop, columns] = X_arr[start : stop - delay]
    return out


def _check_delays(delays: Sequence[int]) -> list[int]:
    """``delays`` as a non-empty list of non-negative ints, or a ValueError saying why."""
    if isinstance(delays, (str, bytes)) or not isinstance(delays, Sequence | np.ndarray):
        raise ValueError(f"delays must be a sequence of non-negative ints; got {delays!r}.")
    checked = []
    for delay in delays:
        try:
            if isinstance(delay, bool | np.bool_):
                raise TypeError
            value = operator.index(delay)
        except TypeError:
            raise ValueError(
                f"delays must be whole numbers of samples; got {delay!r} in {list(delays)}. "
                "Convert seconds to samples first (e.g. round(seconds / TR))."
            ) from None
        if value < 0:
            raise ValueError(
                f"delays must be non-negative (a response follows its stimulus); got "
                f"{value} in {list(delays)}."
            )
        checked.append(value)
    if not checked:
        raise ValueError("delays is empty; give at least one delay, e.g. (1, 2, 3, 4).")
    return checked


def _run_bounds(groups: ArrayLike | None, n_samples: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of contiguous equal ``groups`` values."""
    if groups is None:
        return [(0, n_samples)]
    labels = np.asarray(groups)
    if labels.shape != (n_samples,):
        raise ValueError(
            f"groups has shape {labels.shape}; expected ({n_samples},), one run label per sample."
        )
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [n_samples]])
    seen = labels[starts]
    if len(set(seen.tolist())) != len(seen):
        raise ValueError(
            "groups must hold each run's samples contiguously (sorted by run); a run label "
            "appears in more than one stretch. Sort the samples by run first."
        )
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


#: Canonical HRF models of :func:`hrf_regressors` (nilearn's names).
HRF_MODELS: tuple[str, ...] = ("spm", "glover")


def hrf_regressors(
    onsets: ArrayLike,
    values: ArrayLike,
    frame_times: ArrayLike,
    *,
    durations: ArrayLike | None = None,
    hrf_model: str = "spm",
    oversampling: int = 50,
    min_onset: float = -24.0,
) -> np.ndarray:
    """Event features convolved with a canonical HRF, sampled at the volume times.

    Column ``j`` of the result is what
    :func:`nilearn.glm.first_level.compute_regressor` returns for the condition
    ``(onsets, durations, values[:, j])``: each event is a box of height
    ``values[e, j]`` from its onset for its duration (one high-resolution step when the
    duration is 0) on a grid ``oversampling`` times finer than the TR, convolved with
    nilearn's ``spm_hrf`` or ``glover_hrf`` and linearly interpolated at
    ``frame_times``. All columns are built and convolved at once (FFT convolution),
    rather than one nilearn call per feature.

    Parameters
    ----------
    onsets : array-like, shape (n_events,)
        Event onsets in seconds, on the clock of ``frame_times``.
    values : array-like, shape (n_events, n_features) or (n_events,)
        The features of each event (e.g. a word's layer activations).
    frame_times : array-like, shape (n_scans,)
        Acquisition time of each volume in seconds, increasing.
    durations : array-like, shape (n_events,), optional
        Seconds; default 0 (impulses).
    hrf_model : {"spm", "glover"}
    oversampling : int, default 50
        Steps of the high-resolution grid per TR.
    min_onset : float, default -24
        Start of the high-resolution grid relative to ``frame_times[0]``, in seconds.
        Events earlier than that are moved to the grid's start with a warning, as
        nilearn does; lower ``min_onset`` to keep them where they are.

    Returns
    -------
    numpy.ndarray, shape (n_scans, n_features)
        float64.

    Raises
    ------
    ValueError
        For an unknown ``hrf_model``, mismatched lengths, non-finite values, fewer than
        two or non-increasing ``frame_times``, or negative durations.
    """
    import warnings

    from nilearn.glm.first_level import glover_hrf, spm_hrf
    from scipy.interpolate import interp1d
    from scipy.signal import fftconvolve

    if hrf_model not in HRF_MODELS:
        raise ValueError(f"hrf_model={hrf_model!r}; use one of {list(HRF_MODELS)}.")
    frames = np.asarray(frame_times, dtype=np.float64)
    if frames.ndim != 1 or frames.size < 2 or not np.all(np.diff(frames) > 0):
        raise ValueError(
            "frame_times must be a 1-D increasing array of at least 2 volume times (seconds)."
        )
    onset_arr = np.asarray(onsets, dtype=np.float64)
    value_arr = np.asarray(values, dtype=np.float64)
    if value_arr.ndim == 1:
        value_arr = value_arr[:, None]
    n_events = onset_arr.shape[0] if onset_arr.ndim == 1 else -1
    if onset_arr.ndim != 1 or value_arr.ndim != 2 or value_arr.shape[0] != n_events:
        raise ValueError(
            f"onsets has shape {onset_arr.shape} and values {value_arr.shape}; give one onset "
            "per event and values of shape (n_events, n_features)."
        )
    duration_arr = (
        np.zeros(n_events) if durations is None else np.asarray(durations, dtype=np.float64)
    )
    if duration_arr.shape != (n_events,) or np.any(duration_arr < 0):
        raise ValueError(f"durations must be {n_events} non-negative seconds, one per event.")
    for name, arr in (("onsets", onset_arr), ("values", value_arr), ("durations", duration_arr)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds NaN or inf; drop or fill those events first.")
    oversampling = int(oversampling)

    # the high-resolution grid, exactly as nilearn builds it
    n_frames = frames.size
    first, last = frames.min(), frames.max()
    n_high = (n_frames - 1) / (last - first)
    n_high *= (last * (1 + 1.0 / (n_frames - 1)) - first - min_onset) * oversampling
    times_high = np.linspace(
        first + min_onset, last * (1 + 1.0 / (n_frames - 1)), int(np.rint(n_high + 1))
    )
    if np.any(onset_arr < frames[0] + min_onset):
        warnings.warn(
            f"some onsets are earlier than {frames[0] + min_onset} s (frame_times[0] + "
            "min_onset) and are moved there; lower min_onset to keep them in place.",
            UserWarning,
            stacklevel=2,
        )
    n_high_steps = times_high.size
    start = np.minimum(np.searchsorted(times_high, onset_arr), n_high_steps - 1)
    stop = np.minimum(np.searchsorted(times_high, onset_arr + duration_arr), n_high_steps - 1)
    stop[(stop < n_high_steps - 1) & (stop == start)] += 1  # a 0 s event lasts one step
    boxes = np.zeros((n_high_steps, value_arr.shape[1]))
    np.add.at(boxes, start, value_arr)
    np.subtract.at(boxes, stop, value_arr)
    boxes = np.cumsum(boxes, axis=0)

    t_r = float(np.min(np.diff(frames)))
    kernel = (spm_hrf if hrf_model == "spm" else glover_hrf)(t_r, oversampling)
    convolved = fftconvolve(boxes, kernel[:, None], axes=0)[:n_high_steps]
    return interp1d(times_high, convolved, axis=0)(frames)
