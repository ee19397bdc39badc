"""Audio and video stimuli for extraction: files, folders and tables of media files.

:func:`media_files` reads what ``brainalign extract --stimuli`` is given when it is not
text or images: one audio or video file, a folder of them, or the paths of a table's
``audio`` or ``video`` column. Files are checked to exist (decoding errors name the file
later, when the encoder reads it); nothing is decoded here.

The kind (:data:`AUDIO_SUFFIXES` or :data:`VIDEO_SUFFIXES`) says what the files can give:
audio files give sound, video files give frames or (to an audio model) their sound
track; :func:`~brainalign.encoders.loading.modality_of` decides with the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "AUDIO_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaStimuli",
    "media_files",
    "media_kind",
]

#: File suffixes read as audio (soundfile, else PyAV).
AUDIO_SUFFIXES = frozenset(
    {".aac", ".aif", ".aiff", ".flac", ".m4a", ".mp3", ".oga", ".ogg", ".opus", ".wav"}
)
#: File suffixes read as video (PyAV).
VIDEO_SUFFIXES = frozenset({".avi", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".webm"})

MediaKind = Literal["audio", "video"]


@dataclass(frozen=True)
class MediaStimuli:
    """Audio or video files to encode, one stimulus each.

    Attributes
    ----------
    paths : tuple of pathlib.Path, length n_files
    stimulus_ids : numpy.ndarray, shape (n_files,)
        The table's ``stimulus_id`` column, else the file stems.
    kind : {"audio", "video"}
        What the files are (by suffix).
    source : str
        Where they came from, for messages.
    """

    paths: tuple[Path, ...]
    stimulus_ids: np.ndarray
    kind: MediaKind
    source: str

    def __len__(self) -> int:
        return len(self.paths)


def media_kind(path: str | os.PathLike) -> MediaKind | None:
    """``"audio"`` or ``"video"`` by the file's suffix (any case), else None."""
    suffix = Path(path).suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def media_files(
    files: str | os.PathLike | list[str | os.PathLike],
    *,
    stimulus_ids: np.ndarray | None = None,
    source: str | None = None,
    root: str | os.PathLike | None = None,
) -> MediaStimuli:
    """Media stimuli from one file, a folder, or a list of paths (a table's column).

    Parameters
    ----------
    files : path-like or list of path-like
        An audio or video file; a folder (its files with a media suffix, sorted by name;
        other files are skipped, but audio and video together are an error); or a list
        of paths (relative to ``root``).
    stimulus_ids : numpy.ndarray, optional
        One per file; default the file stems (which must then be unique).
    source : str, optional
        For messages; default the path given.
    root : path-like, optional
        Folder that relative paths of a list are relative to.

    Returns
    -------
    MediaStimuli

    Raises
    ------
    ValueError
        For a missing file, a file whose suffix is neither audio nor video, a folder with
        no media files or with both kinds, a list mixing kinds, or repeated ids.
    """
    if isinstance(files, list):
        base = Path(root) if root is not None else Path()
        paths = [Path(p) if Path(p).is_absolute() else base / p for p in files]
        where = source or "the media list"
    else:
        folder = Path(files)
        where = source or str(folder)
        if folder.is_dir():
            paths = sorted(p for p in folder.iterdir() if p.is_file() and media_kind(p))
            if not paths:
                raise ValueError(
                    f"{where}: the folder holds no audio or video files (suffixes "
                    f"{', '.join(sorted(AUDIO_SUFFIXES | VIDEO_SUFFIXES))})"
                )
        else:
            paths = [folder]
    for index, path in enumerate(paths):
        if not path.is_file():
            raise ValueError(f"{where}: media file {index} not found at {str(path)!r}")
        if media_kind(path) is None:
            raise ValueError(
                f"{where}: {str(path)!r} is neither an audio file "
                f"({', '.join(sorted(AUDIO_SUFFIXES))}) nor a video file "
                f"({', '.join(sorted(VIDEO_SUFFIXES))})"
            )
    kinds = {media_kind(path) for path in paths}
    if len(kinds) > 1:
        counts = {kind: sum(media_kind(p) == kind for p in paths) for kind in sorted(kinds)}
        raise ValueError(
            f"{where} mixes audio and video files ({counts}); extract each kind separately"
        )
    ids = np.asarray([p.stem for p in paths] if stimulus_ids is None else stimulus_ids)
    if len(ids) != len(paths):
        raise ValueError(f"{where}: {len(ids)} stimulus ids for {len(paths)} files")
    values, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"{where}: stimulus ids repeat ({values[counts > 1][:3].tolist()}); give every "
            "file a unique id (a table with a 'stimulus_id' column)"
        )
    (kind,) = kinds
    return MediaStimuli(tuple(paths), ids, kind, where)
