"""Time handling for encoding models: Lanczos resampling and FIR delays.

Word- or frame-level features arrive at event times (seconds); fMRI arrives once per
volume. :func:`lanczos_resample` brings features onto the volume clock, and
:func:`fir_delays` stacks shifted copies so a linear model can learn a finite impulse
response in place of a fixed haemodynamic response function.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

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
) -> np.ndarray:
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
    resampled : numpy.ndarray, shape (n_targets, n_dims), float64

    Raises
    ------
    ValueError
        If the arrays are empty, their lengths disagree, a time or value is not finite,
        ``window`` or ``cutoff`` is not positive, or ``cutoff`` is not given and cannot
        be derived (fewer than two target times, or no positive spacing).
    """
    values_arr = np.asarray(values, dtype=np.float64)
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
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1))
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

    out = np.empty((targets.size, values_arr.shape[1]), dtype=np.float64)
    chunk = max(1, _KERNEL_CHUNK_ELEMENTS // events.size)
    for start in range(0, targets.size, chunk):
        stop = min(start + chunk, targets.size)
        kernel = _lanczos_kernel(targets[start:stop, None] - events[None, :], cutoff, window)
        out[start:stop] = kernel @ values_arr
    return out


def _lanczos_kernel(x: np.ndarray, cutoff: float, window: float) -> np.ndarray:
    """Lanczos weights ``L(x)`` for time offsets ``x`` in seconds (see lanczos_resample)."""
    u = 2.0 * cutoff * x
    kernel = np.sinc(u) * np.sinc(u / window)
    kernel[np.abs(u) > window] = 0.0
    return kernel


def fir_delays(X: ArrayLike, delays: Sequence[int]) -> np.ndarray:
    """Stack time-shifted copies of features (a finite impulse response design).

    Block ``k`` of the output is ``X`` delayed by ``delays[k]`` samples:
    ``out[t, block k] = X[t - delays[k]]``, with zeros where ``t - delays[k] < 0``
    (a delay at least ``n_samples`` gives an all-zero block).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Features on the response's sampling clock (e.g. one row per fMRI volume).
    delays : sequence of int
        Non-negative delays in samples (e.g. volumes): ``(1, 2, 3, 4)`` covers the
        haemodynamic lag of 2-8 s at TR = 2 s.

    Returns
    -------
    delayed : numpy.ndarray, shape (n_samples, n_features * len(delays))
        Columns are ordered delay-major: all features at ``delays[0]``, then all at
        ``delays[1]``, and so on. Floating inputs keep their dtype; others become
        float64.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D or ``delays`` is empty, negative or not integers.
    """
    X_arr = np.asarray(X)
    if X_arr.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got shape {X_arr.shape}. Reshape "
            "a single series with X.reshape(-1, 1)."
        )
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
    dtype = X_arr.dtype if np.issubdtype(X_arr.dtype, np.floating) else np.float64
    n_samples, n_features = X_arr.shape
    out = np.zeros((n_samples, n_features * len(checked)), dtype=dtype)
    for k, delay in enumerate(checked):
        if delay < n_samples:
            out[delay:, k * n_features : (k + 1) * n_features] = X_arr[: n_samples - delay]
    return out
