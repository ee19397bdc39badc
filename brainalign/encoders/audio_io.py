"""Reading audio for the audio encoder: decoding, mono mix-down and resampling.

Decoders
--------
No decoder is written here. WAV, FLAC, OGG/Vorbis, AIFF and the other formats
libsndfile reads (:data:`SOUNDFILE_SUFFIXES`) are read with ``soundfile``; everything
else (MP3, MP4/M4A/AAC, Opus in WebM, video files with an audio track, ...) with PyAV
(``av``, FFmpeg), which decodes the first audio stream. FFmpeg removes an MP3's encoder
delay and padding when the file says how long they are (a LAME/Xing header), so an MP3
and the WAV it was made from decode to the same length (tested on the real
``jfk.wav``/``jfk.mp3``).

Samples
-------
Every input becomes one float32 mono signal: several channels are mixed down as their
**mean** (``samples.mean(axis=channels)``, no -3 dB pan law), integer PCM is scaled to
[-1, 1) by the decoder (soundfile ``dtype="float32"``, FFmpeg's planar float format).
A signal is then resampled to the rate the model's feature extractor expects
(its ``sampling_rate``) by :func:`resample`: ``scipy.signal.resample_poly`` with the
up/down factors of the reduced fraction ``target_rate / source_rate`` (44.1 kHz to
16 kHz is up 160, down 441) and scipy's default Kaiser-windowed low-pass filter.

Bounded memory
--------------
:func:`open_audio` returns an :class:`AudioSource` that reads any stretch
``[start, stop)`` of the resampled signal without holding the whole file:
soundfile seeks into the file; a PyAV-decoded file is first decoded once, frame by
frame, into a temporary float32 mono WAV file at its own rate (deleted on close), which
is then read the same way. A resampled stretch is computed from the source samples it
depends on only (:func:`resampled_segment`): the polyphase filter has ``2 * 10 *
max(up, down) + 1`` taps, so output sample ``n`` depends on input samples within
``10 * max(up, down) / up`` of ``n * down / up``; reading that margin around the
stretch, starting at a multiple of ``down``, gives the same samples as resampling the
whole signal (tested to 1e-6). The encoder reads one window at a time this way, so its
memory does not grow with the length of the audio.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SOUNDFILE_SUFFIXES",
    "AudioReadError",
    "AudioSource",
    "array_sha256",
    "mono_samples",
    "open_audio",
    "read_audio",
    "resample",
    "resample_factors",
    "resampled_segment",
]

#: File suffixes (lower case) read with soundfile (libsndfile); others go to PyAV.
SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".au", ".w64")

_BLOCK = 1 << 18  # samples per block when streaming a file through


class AudioReadError(ValueError):
    """Audio that cannot be used: unreadable or empty file, bad array, non-finite samples."""


# --------------------------------------------------------------------------- resampling


def resample_factors(source_rate: int, target_rate: int) -> tuple[int, int]:
    """The ``(up, down)`` factors of ``resample_poly`` taking ``source_rate`` to ``target_rate``.

    Parameters
    ----------
    source_rate, target_rate : int
        Sampling rates in Hz.

    Returns
    -------
    (int, int)
        The reduced fraction ``target_rate / source_rate`` as numerator and denominator
        (``(1, 1)`` for equal rates).
    """
    ratio = Fraction(_check_rate(target_rate, "target rate"), _check_rate(source_rate, "rate"))
    return ratio.numerator, ratio.denominator


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample a 1-D signal with ``scipy.signal.resample_poly`` (polyphase FIR).

    Parameters
    ----------
    samples : numpy.ndarray, shape (n_samples,)
        The signal at ``source_rate`` Hz.
    source_rate, target_rate : int
        Sampling rates in Hz.

    Returns
    -------
    numpy.ndarray, shape (ceil(n_samples * target_rate / source_rate),)
        float32; ``samples`` itself (as float32) when the rates are equal.
    """
    from scipy.signal import resample_poly

    up, down = resample_factors(source_rate, target_rate)
    samples = np.asarray(samples, dtype=np.float32)
    if up == down == 1:
        return samples
    return resample_poly(samples, up, down).astype(np.float32, copy=False)


def resampled_segment(
    read: Any, n_source: int, up: int, down: int, start: int, stop: int
) -> np.ndarray:
    """Samples ``[start, stop)`` of ``resample_poly(x, up, down)``, reading only what they need.

    Parameters
    ----------
    read : callable
        ``read(a, b)`` returns source samples ``x[a:b]`` (float32, 1-D).
    n_source : int
        Length of the whole source signal ``x``.
    up, down : int
        Coprime factors (:func:`resample_factors`).
    start, stop : int
        The stretch of the resampled signal, ``0 <= start <= stop <= ceil(n_source * up
        / down)``.

    Returns
    -------
    numpy.ndarray, shape (stop - start,)
        float32, equal (to rounding) to the same stretch of the whole signal resampled.
    """
    from scipy.signal import resample_poly

    if up == down == 1:
        return read(start, stop)
    margin = 10 * max(up, down) // up + 2  # source samples each output sample depends on
    first = max(0, (start * down) // up - margin)
    first -= first % down  # so that the chunk's output grid is the whole signal's
    last = min(n_source, -(-stop * down // up) + margin)
    chunk = resample_poly(read(first, last), up, down)
    offset = first * up // down
    return chunk[start - offset : stop - offset].astype(np.float32, copy=False)


def _check_rate(rate: Any, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)):
        raise AudioReadError(f"sampling {what} {rate!r} is not a number of samples per second")
    if float(rate) != int(rate) or int(rate) < 1:
        raise AudioReadError(f"sampling {what} {rate!r}; use a positive whole number of Hz")
    return int(rate)


# --------------------------------------------------------------------------- sources


def array_sha256(samples: np.ndarray, sampling_rate: int) -> str:
    """sha256 (hex) of a float32 signal and its rate: ``f"{rate}:{n}:"`` + the bytes."""
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    header = f"{int(sampling_rate)}:{samples.shape[0]}:".encode()
    return hashlib.sha256(header + samples.tobytes()).hexdigest()


class AudioSource:
    """One mono float32 signal at the model's rate, read stretch by stretch.

    Made by :func:`open_audio`; a context manager (closing deletes the temporary file
    of a PyAV-decoded input).

    Attributes
    ----------
    name : str
        The file path, or ``"array i"``, for messages.
    sampling_rate : int
        The rate samples are returned at (the model's), Hz.
    source_rate : int
        The rate of the file or array, Hz.
    n_samples : int
        Length of the resampled signal, ``ceil(n_source * up / down)``.
    decoder : str
        ``"soundfile"``, ``"pyav"`` or ``"array"``.
    """

    def __init__(
        self,
        name: str,
        sampling_rate: int,
        source_rate: int,
        n_source: int,
        decoder: str,
        *,
        array: np.ndarray | None = None,
        path: Path | None = None,
        temporary: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        self.name, self.decoder = name, decoder
        self.sampling_rate, self.source_rate = int(sampling_rate), int(source_rate)
        self._up, self._down = resample_factors(self.source_rate, self.sampling_rate)
        self._n_source = int(n_source)
        self.n_samples = -(-self._n_source * self._up // self._down)
        self._array, self._path, self._temporary = array, path, temporary
        self._file: Any = None

    @property
    def duration(self) -> float:
        """Length in seconds, ``n_samples / sampling_rate``."""
        return self.n_samples / self.sampling_rate

    @property
    def resampled(self) -> bool:
        """Whether the source rate differs from the model's."""
        return self.source_rate != self.sampling_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of the resampled signal, float32, shape (stop - start,).

        Raises
        ------
        AudioReadError
            If the stretch holds an inf or NaN sample (the message gives its time).
        """
        start, stop = max(0, int(start)), min(self.n_samples, int(stop))
        if stop <= start:
            return np.zeros(0, np.float32)
        segment = resampled_segment(
            self._read_source, self._n_source, self._up, self._down, start, stop
        )
        bad = np.flatnonzero(~np.isfinite(segment))
        if bad.size:
            raise AudioReadError(
                f"{self.name}: sample {start + int(bad[0])} (at "
                f"{(start + int(bad[0])) / self.sampling_rate:.3f} s) is {segment[bad[0]]}; "
                "audio must be finite. Clean the signal (e.g. np.nan_to_num) first"
            )
        return segment

    def _read_source(self, first: int, last: int) -> np.ndarray:
        if self._array is not None:
            return self._array[first:last]
        import soundfile

        if self._file is None:
            self._file = soundfile.SoundFile(str(self._path))
        self._file.seek(first)
        block = self._file.read(last - first, dtype="float32", always_2d=True)
        return block.mean(axis=1, dtype=np.float32)

    def close(self) -> None:
        """Close the file and delete a temporary decoded copy."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"AudioSource({self.name!r}, {self.duration:.3f} s, {self.source_rate} -> "
            f"{self.sampling_rate} Hz, {self.decoder})"
        )


def open_audio(
    audio: str | os.PathLike | np.ndarray,
    *,
    sampling_rate: int | None,
    array_rate: int | None = None,
    name: str | None = None,
) -> AudioSource:
    """Open a file or an array as an :class:`AudioSource` at ``sampling_rate`` Hz.

    Parameters
    ----------
    audio : path-like or numpy.ndarray
        A file (soundfile for :data:`SOUNDFILE_SUFFIXES`, PyAV for anything else), or
        samples of shape (n_samples,) or (n_samples, n_channels).
    sampling_rate : int or None
        The rate to return samples at (the model's), Hz; ``None`` keeps the input's.
    array_rate : int, optional
        The rate of an array, Hz; required for arrays, refused for files (which state
        their own).
    name : str, optional
        How the input is named in messages (default: the path, or ``"array"``).

    Returns
    -------
    AudioSource

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    AudioReadError
        For a file the decoder cannot read (its message is quoted), a file or array
        without samples, an array without a rate, of more than 2 dimensions, or with a
        non-finite sample.
    """
    target = None if sampling_rate is None else _check_rate(sampling_rate, "target rate")
    if isinstance(audio, np.ndarray):
        label = name or "array"
        if array_rate is None:
            raise AudioReadError(
                f"{label}: an array of samples has no sampling rate; pass sampling_rate= "
                "(Hz) with it"
            )
        samples = mono_samples(audio, label)
        rate = _check_rate(array_rate, "rate")
        return AudioSource(label, target or rate, rate, len(samples), "array", array=samples)
    if not isinstance(audio, (str, os.PathLike)):
        raise TypeError(
            f"audio is a {type(audio).__name__}; pass a file path or a numpy array of samples"
        )
    path = Path(audio).expanduser()
    label = name or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {str(path)!r} does not exist")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        rate, n_source = _soundfile_info(path, label)
        source = AudioSource(label, target or rate, rate, n_source, "soundfile", path=path)
    else:
        temporary = tempfile.TemporaryDirectory(prefix="brainalign-audio-")
        decoded = Path(temporary.name) / "decoded.wav"
        try:
            rate, n_source = _decode_with_pyav(path, decoded, label)
        except BaseException:
            temporary.cleanup()
            raise
        source = AudioSource(
            label, target or rate, rate, n_source, "pyav", path=decoded, temporary=temporary
        )
    if source.n_samples == 0:
        source.close()
        raise AudioReadError(f"{label}: the file holds no audio samples (empty)")
    return source


def read_audio(
    audio: str | os.PathLike | np.ndarray,
    *,
    sampling_rate: int | None = None,
    array_rate: int | None = None,
) -> tuple[np.ndarray, int]:
    """A whole file or array as one mono float32 signal, optionally resampled.

    Parameters
    ----------
    audio : path-like or numpy.ndarray
        As for :func:`open_audio`.
    sampling_rate : int, optional
        Resample to this rate (Hz). Default: keep the file's (or ``array_rate``).
    array_rate : int, optional
        The rate of an array (required for arrays).

    Returns
    -------
    samples : numpy.ndarray, shape (n_samples,)
        float32, channels averaged.
    rate : int
        Their rate, Hz.
    """
    with open_audio(audio, sampling_rate=sampling_rate, array_rate=array_rate) as source:
        return source.read(0, source.n_samples), source.sampling_rate


def mono_samples(audio: np.ndarray, label: str = "array") -> np.ndarray:
    """An array of samples as checked float32 mono.

    Parameters
    ----------
    audio : numpy.ndarray, shape (n_samples,) or (n_samples, n_channels)
        Float or integer samples; channels are averaged (the mean over the last axis).
    label : str
        How the array is named in messages.

    Returns
    -------
    numpy.ndarray, shape (n_samples,)
        float32.

    Raises
    ------
    AudioReadError
        For another shape or dtype, no samples, or a non-finite sample.
    """
    if audio.ndim not in (1, 2):
        raise AudioReadError(
            f"{label} has shape {audio.shape}; pass (n_samples,) or (n_samples, n_channels)"
        )
    if not (np.issubdtype(audio.dtype, np.floating) or np.issubdtype(audio.dtype, np.integer)):
        raise AudioReadError(f"{label} has dtype {audio.dtype}; pass float or integer samples")
    samples = audio.astype(np.float32) if audio.ndim == 1 else audio.mean(axis=1, dtype=np.float32)
    if samples.size == 0:
        raise AudioReadError(f"{label} holds no samples (shape {audio.shape})")
    bad = np.flatnonzero(~np.isfinite(samples))
    if bad.size:
        raise AudioReadError(
            f"{label}: sample {int(bad[0])} is {samples[bad[0]]}; audio must be finite "
            f"({bad.size} non-finite samples). Clean it (e.g. np.nan_to_num) first"
        )
    return samples


def _soundfile_info(path: Path, label: str) -> tuple[int, int]:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError, soundfile.LibsndfileError) as error:
        raise AudioReadError(
            f"could not read audio file {label!r} with soundfile ({error}); check the file "
            "or convert it (e.g. to WAV or FLAC)"
        ) from error
    return int(info.samplerate), int(info.frames)


def _decode_with_pyav(path: Path, out: Path, label: str) -> tuple[int, int]:
    """Decode the first audio stream of ``path`` into a float32 mono WAV, frame by frame.

    Returns the stream's rate (Hz) and the number of samples written.
    """
    import av
    import soundfile

    def unreadable(error: Exception) -> AudioReadError:
        return AudioReadError(
            f"could not decode audio file {label!r} with PyAV/FFmpeg ({error}); check the "
            "file or convert it (e.g. to WAV or FLAC)"
        )

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise unreadable(error) from error
    n_written, rate = 0, None
    with container:
        if not container.streams.audio:
            raise AudioReadError(f"audio file {label!r} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")  # planar float, same layout and rate
        writer = None
        try:
            for frame in (*_decoded_frames(container, stream, unreadable), None):
                for converted in resampler.resample(frame):  # None flushes the resampler
                    if rate is None:
                        rate = int(converted.sample_rate)
                        writer = soundfile.SoundFile(
                            str(out), "w", samplerate=rate, channels=1, subtype="FLOAT"
                        )
                    elif int(converted.sample_rate) != rate:
                        raise AudioReadError(
                            f"audio file {label!r} changes its sampling rate mid-stream "
                            f"({rate} -> {converted.sample_rate} Hz); convert it first"
                        )
                    block = converted.to_ndarray().mean(axis=0, dtype=np.float32)
                    writer.write(block)
                    n_written += block.size
        finally:
            if writer is not None:
                writer.close()
    if rate is None or n_written == 0:
        raise AudioReadError(f"audio file {label!r} holds no audio samples (empty)")
    return rate, n_written


def _decoded_frames(container: Any, stream: Any, unreadable: Any) -> Any:
    import av

    try:
        yield from container.decode(stream)
    except (av.error.FFmpegError, ValueError) as error:
        raise unreadable(error) from error
