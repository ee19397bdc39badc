"""Streamed video decoding with PyAV: frames at chosen times, clip by clip, as RGB arrays.

The video encoder (:mod:`brainalign.encoders.video`) reads a movie through this module,
which never holds the whole movie in memory: :func:`iter_clips` decodes the video
stream once, forward from the start, and keeps only the frames of the clips still being
filled; a clip is handed out as soon as its last frame is decoded.

The clock
---------
Time 0 is the first frame's presentation time (the stream's ``start_time``); a frame's
time is ``(pts - start_time) * time_base`` in seconds, exactly as PyAV reports it.
The duration is the stream's own (``stream.duration * time_base``), else the
container's, else ``n_frames / fps``: the end of the last frame, so a video of 250
frames at 25 fps lasts 10 s and its last frame starts at 9.96 s.

Which frame a time gets
-----------------------
A time ``t`` gets the *latest frame shown at or before* ``t``: the frame with the
largest time ``<= t`` (1 µs of rounding allowed, so ``t = k / fps`` is frame ``k``
even when ``k / fps`` is rounded down in floating point). This is the frame a viewer
sees at ``t``. Times outside the video are clamped: ``t < 0`` gets the first frame,
``t >= duration`` the last frame. :func:`clip_frame_times` lays out the frame times of
clips centred on given times; clamping only ever happens to frames of a clip that
reach past either end (the encoder refuses centre times outside ``[0, duration]``).

Errors
------
A missing file raises :class:`FileNotFoundError`; a file PyAV cannot open or decode
(empty, truncated, not a video) raises :class:`UnreadableVideoError` naming the file and
PyAV's message; a time beyond the duration raises :class:`VideoTimeError` naming the
time and the duration. Nothing heavy is imported at module level (PyAV is imported by
the functions that read).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TIME_TOLERANCE",
    "UnreadableVideoError",
    "VideoInfo",
    "VideoTimeError",
    "check_times",
    "clip_frame_times",
    "iter_clips",
    "probe_video",
    "read_frames",
]

#: Seconds of rounding allowed when a requested time is compared with a frame's time.
TIME_TOLERANCE = 1e-6


class UnreadableVideoError(ValueError):
    """PyAV cannot open or decode a video file (empty, truncated, not a video)."""


class VideoTimeError(ValueError):
    """A requested time lies outside the video (beyond its duration, negative, not finite)."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` reads from a video file's first video stream.

    Attributes
    ----------
    path : Path
        The file.
    duration : float
        Seconds from the first frame's start to the last frame's end.
    fps : float
        Native frame rate (the stream's average rate), frames per second.
    n_frames : int or None
        Frames in the stream, as its metadata states (``None`` when it does not).
    width, height : int
        Frame size in pixels.
    codec : str
        The codec's name (``h264``, ...).
    start_pts : int
        The stream's ``start_time`` in ``time_base`` units: the first frame is time 0.
    time_base : float
        Seconds per ``pts`` unit.
    """

    path: Path
    duration: float
    fps: float
    n_frames: int | None
    width: int
    height: int
    codec: str
    start_pts: int
    time_base: float

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels, the shape of one decoded frame's first two axes."""
        return (self.height, self.width)


def _open(path: Path) -> Any:
    """The container of a video file, or a clear error naming the file and PyAV's message."""
    import av

    if not path.is_file():
        raise FileNotFoundError(f"video file {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise UnreadableVideoError(
            f"video file {str(path)!r} is empty (0 bytes); re-copy or re-export the video"
        )
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as error:
        raise UnreadableVideoError(
            f"PyAV cannot open {str(path)!r} as a video ({error}); check that the file is a "
            "complete video (e.g. it plays in a video player) or re-encode it"
        ) from error
    if not container.streams.video:
        container.close()
        raise UnreadableVideoError(
            f"{str(path)!r} has no video stream (only "
            f"{', '.join(s.type for s in container.streams) or 'nothing'}); pass a video file"
        )
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Duration, native frame rate, frame count and frame size of a video file.

    Only the container's headers are read (no frame is decoded).

    Parameters
    ----------
    path : str or path-like
        A video file PyAV (FFmpeg) can read; its first video stream is used.

    Returns
    -------
    VideoInfo

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    UnreadableVideoError
        If it is empty, PyAV cannot open it, it has no video stream, or neither its
        duration nor its frame count and rate are known.
    """
    path = Path(path).expanduser()
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        time_base = float(stream.time_base) if stream.time_base else 0.0
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        n_frames = int(stream.frames) if stream.frames else None
        if stream.duration and time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000  # av.time_base: microseconds
        elif n_frames and fps:
            duration = n_frames / fps
        else:
            duration = 0.0
        if duration <= 0 or fps <= 0 or not time_base:
            raise UnreadableVideoError(
                f"{str(path)!r}: its video stream states no usable duration ({duration} s), "
                f"frame rate ({fps}) or time base; re-encode it (e.g. into an .mp4)"
            )
        return VideoInfo(
            path=path,
            duration=duration,
            fps=fps,
            n_frames=n_frames,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            codec=str(stream.codec_context.name),
            start_pts=int(stream.start_time or 0),
            time_base=time_base,
        )


def check_times(times: Any, info: VideoInfo, what: str = "time") -> np.ndarray:
    """Sample times as float64 seconds, each finite and within ``[0, duration]``.

    Parameters
    ----------
    times : array-like of float, shape (n_times,)
        Seconds on the video's clock (0 = its first frame).
    info : VideoInfo
        The video they refer to.
    what : str
        How the times are named in messages.

    Returns
    -------
    numpy.ndarray, shape (n_times,), float64

    Raises
    ------
    VideoTimeError
        For an empty or non-1-D input, or a time that is not finite, negative, or beyond
        the duration (the message names the first such time, how many there are and the
        duration).
    """
    try:
        values = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise VideoTimeError(f"{what}s must be numbers in seconds ({error})") from error
    if values.ndim != 1 or values.size == 0:
        raise VideoTimeError(
            f"{what}s have shape {values.shape}; pass a non-empty 1-D array of seconds"
        )
    bad = ~np.isfinite(values) | (values < 0) | (values > info.duration + TIME_TOLERANCE)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise VideoTimeError(
            f"{what} {float(values[first])!r} s (index {first}; {int(bad.sum())} of {values.size} "
            f"{what}s) is outside the video {str(info.path)!r}, which lasts "
            f"{info.duration:g} s; give {what}s in [0, {info.duration:g}] seconds on the "
            "video's clock (0 = its first frame)"
        )
    return values


def clip_frame_times(centres: Any, n_frames: int, frame_rate: float) -> np.ndarray:
    """Frame times of clips of ``n_frames`` frames at ``frame_rate`` Hz centred on times.

    Frame ``k`` of the clip centred on ``c`` is at ``c + (k - (n_frames - 1) / 2) /
    frame_rate``: the clip spans ``(n_frames - 1) / frame_rate`` seconds with ``c`` in
    its middle (between the two middle frames when ``n_frames`` is even).

    Parameters
    ----------
    centres : array-like of float, shape (n_clips,)
        Seconds.
    n_frames : int
        Frames per clip (a video model's ``num_frames``).
    frame_rate : float
        Frames per second within a clip.

    Returns
    -------
    numpy.ndarray, shape (n_clips, n_frames), float64
        Seconds; may reach below 0 or past the end (:func:`iter_clips` clamps them).
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames={n_frames!r}; it must be a positive integer")
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate={frame_rate!r}; it must be a positive number of Hz")
    offsets = (np.arange(n_frames) - (n_frames - 1) / 2) / float(frame_rate)
    return np.asarray(centres, dtype=np.float64)[:, None] + offsets[None, :]


def iter_clips(
    path: str | os.PathLike,
    clip_times: Any,
    *,
    info: VideoInfo | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the frames of each clip, streaming: one forward pass, few frames held.

    The video stream is decoded once from its start. Each decoded frame is converted to
    RGB only when some requested time falls on it (see the module docstring: the latest
    frame at or before the time; times before 0 get the first frame, times at or after
    the duration the last frame), and kept only until every clip that uses it is
    complete. Memory is therefore the frames of the clips in progress (for clips
    centred on increasing times: about one clip span), whatever the video's length.

    Parameters
    ----------
    path : str or path-like
        The video file.
    clip_times : array-like of float, shape (n_clips, n_frames)
        Seconds of every frame of every clip, e.g. from :func:`clip_frame_times`, in
        any order.
    info : VideoInfo, optional
        :func:`probe_video` of the file, if already read.

    Yields
    ------
    index : int
        The clip's row in ``clip_times``.
    frames : numpy.ndarray, shape (n_frames, height, width, 3), uint8
        Its frames, RGB. Clips come in order of their latest frame time (ties: row
        order), so in row order when the rows are sorted.

    Raises
    ------
    FileNotFoundError, UnreadableVideoError
        If the file does not exist or cannot be opened or decoded (naming the file and
        PyAV's message).
    ValueError
        If ``clip_times`` is not a non-empty 2-D array of finite numbers.
    """
    import av

    times = np.asarray(clip_times, dtype=np.float64)
    if times.ndim != 2 or times.size == 0 or not np.isfinite(times).all():
        raise ValueError(
            f"clip_times has shape {times.shape} (or non-finite values); pass an "
            "(n_clips, n_frames) array of seconds"
        )
    path = Path(path).expanduser()
    info = probe_video(path) if info is None else info
    n_clips, n_frames = times.shape
    flat = times.ravel()
    order = np.argsort(flat, kind="stable")  # requests in time order
    at_end = flat >= info.duration - TIME_TOLERANCE  # these take the last frame
    slots: dict[int, list[np.ndarray | None]] = {}
    filled = np.zeros(n_clips, dtype=np.int64)
    pending = 0  # next request (position in ``order``) without a frame

    def give(frame: np.ndarray, until: float | None) -> Iterator[tuple[int, np.ndarray]]:
        """Give ``frame`` to every pending request before ``until`` (None: all left)."""
        nonlocal pending
        while pending < len(order):
            request = int(order[pending])
            if until is not None and (at_end[request] or flat[request] + TIME_TOLERANCE >= until):
                return
            clip, k = divmod(request, n_frames)
            frames = slots.setdefault(clip, [None] * n_frames)
            frames[k] = frame
            filled[clip] += 1
            pending += 1
            if filled[clip] == n_frames:
                yield clip, np.stack(slots.pop(clip))  # type: ignore[arg-type]

    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        previous: Any = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    raise UnreadableVideoError(
                        f"{str(path)!r}: a decoded frame has no presentation time; re-encode "
                        "the video (e.g. into an .mp4)"
                    )
                when = (frame.pts - info.start_pts) * info.time_base
                if previous is not None:
                    # ``previous`` is shown until ``when``: it serves earlier requests
                    if _needed(flat, order, pending, at_end, when):
                        yield from give(previous.to_ndarray(format="rgb24"), when)
                elif when > TIME_TOLERANCE:  # requests before the first frame: clamped
                    yield from give(frame.to_ndarray(format="rgb24"), when)
                previous = frame
                if pending == len(order):  # every clip complete: decode no further
                    break
        except av.FFmpegError as error:
            raise UnreadableVideoError(
                f"PyAV could not decode {str(path)!r} ({error}); the file may be truncated "
                "or corrupt: re-encode or re-copy it"
            ) from error
        if pending < len(order):
            if previous is None:
                raise UnreadableVideoError(
                    f"{str(path)!r}: PyAV decoded no frame from its video stream; the file "
                    "may be truncated or corrupt"
                )
            yield from give(previous.to_ndarray(format="rgb24"), None)


def _needed(
    flat: np.ndarray, order: np.ndarray, pending: int, at_end: np.ndarray, until: float
) -> bool:
    """Whether the next pending request falls before ``until`` (so a frame serves it)."""
    if pending >= len(order):
        return False
    request = int(order[pending])
    return not at_end[request] and flat[request] + TIME_TOLERANCE < until


def read_frames(path: str | os.PathLike, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """The frames shown at given times (a few frames; for a movie use :func:`iter_clips`).

    Parameters
    ----------
    path : str or path-like
        The video file.
    times : array-like of float, shape (n_times,)
        Seconds within ``[0, duration]``.

    Returns
    -------
    numpy.ndarray, shape (n_times, height, width, 3), uint8
        RGB; frame ``i`` is the latest frame at or before ``times[i]``.

    Raises
    ------
    VideoTimeError
        For a time outside ``[0, duration]``.
    FileNotFoundError, UnreadableVideoError
        As :func:`iter_clips`.
    """
    info = probe_video(path)
    values = check_times(times, info)
    ((_, frames),) = iter_clips(info.path, values[None, :], info=info)
    return frames
