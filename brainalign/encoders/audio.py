"""Per-frame features of speech and sound from Hugging Face audio models.

:class:`AudioEncoder` runs an audio model (Wav2Vec2, HuBERT, WavLM, Data2Vec-Audio, the
encoder of Whisper, the Audio Spectrogram Transformer, CLAP's audio tower) over audio
files or arrays and returns, for every hidden state (``"0"`` = the output of the
embedding/front end, then one per block or stage), one row per **frame**, stamped with
its time in seconds. Models load through
:func:`~brainalign.encoders.loading.load_model` with ``modality="audio"`` (Whisper: the
encoder of the encoder-decoder; CLAP: the ``audio_config`` tower). Audio is read by
:mod:`brainalign.encoders.audio_io` (soundfile or PyAV, mean over channels, resampled
to the feature extractor's ``sampling_rate`` with ``scipy.signal.resample_poly``; a
resampled input is logged and recorded in the provenance) and preprocessed by the
model's own feature extractor.

Frames and their times
----------------------
Every family's output frames sit on a grid on the waveform (rates of the model's
feature extractor; sizes below for the standard configs):

conv front ends (Wav2Vec2, HuBERT, WavLM, Data2Vec-Audio)
    Frame ``i`` is computed from samples ``[i * S, i * S + R)`` of the convolutional
    feature encoder, ``S`` the product of ``conv_stride`` and ``R`` its receptive field
    (``conv_kernel[0] + sum_l (conv_kernel[l] - 1) * prod(conv_stride[:l])``): S = 320,
    R = 400 samples (20 ms, 25 ms at 16 kHz). Only frames whose receptive field lies
    inside the audio exist (``(n - R) // S + 1`` of ``n`` samples). The transformer
    blocks then see the whole window.
Whisper (encoder)
    Mel frame ``m`` (hop 160, 400-sample periodic Hann window, centred, first tap zero)
    reads samples ``160 m - 199 .. 160 m + 199``; encoder frame ``i`` (two 3-tap
    convolutions, the second with stride 2) reads mel frames ``2i - 2 .. 2i + 2``,
    i.e. samples ``320 i - 519 .. 320 i + 519`` (S = 320, R = 1039), centred on
    ``320 i``. Whisper pads (or cuts) every input to its ``chunk_length`` (30 s): only
    the frames whose centre lies before the end of the real audio are kept, so a
    2-second clip gives 100 frames, not 1500.
AST
    Fbank frame ``m`` reads samples ``[160 m, 160 m + 400)``; the patch embedding reads
    16 x 16 patches every ``time_stride`` fbank frames, so time column ``t`` reads
    samples ``[1600 t, 1600 t + 2800)`` (S = 1600, R = 2800 for time_stride 10).
    **A frame is a time column**: its features are the mean over the frequency patches
    of that column (``frequency_out_dimension`` tokens; the CLS and distillation tokens
    are left out), for hidden states and per-head outputs alike. The input is padded to
    ``max_length`` fbank frames (10.24 s); frames whose centre lies past the real audio
    are dropped.
CLAP audio tower (HTS-AT, a Swin transformer)
    The log-mel spectrogram of the window, padded to ``max_length_s`` (10 s,
    "repeatpad"), is interpolated to ``spec_size * freq_ratio`` time columns and folded
    into ``freq_ratio`` chunks stacked along the frequency axis (``reshape_mel2img``).
    Every hidden state (a map ``(channels, rows, cols)``) is unfolded back: rows are
    split into ``freq_ratio`` chunks, averaged over the frequency rows of each chunk,
    and the chunks laid end to end in time. Stages halve the resolution, so the rows
    are the frames of the **last** stage (``freq_ratio * cols_last`` per window, 32 per
    10 s: 0.3125 s of interpolated spectrogram each) and finer stages are averaged over
    the columns inside each frame. A frame's time is the centre of its columns mapped
    back through the interpolation (``align_corners=True``) onto the mel frames.

``Features.onsets`` is the **centre of the frame's receptive field** on the waveform, in
seconds from the start of its audio: ``(first + last) / 2 / sampling_rate`` for the
frame's first and last input samples above (``(i * 320 + 199.5) / 16000`` for
Wav2Vec2, ``0.02 i`` for Whisper, ``(1600 t + 1399.5) / 16000`` for AST), plus its
window's start. ``Features.stimulus_ids`` gives each frame its audio's id; several
inputs are concatenated in order, each with times from 0.

Long audio: overlapping windows
-------------------------------
Audio longer than a window is encoded in windows of ``window_s`` seconds starting every
``window_s - overlap_s`` seconds (the hop is rounded down to whole frames, so every
window's frames are frames of the one grid). Defaults: Wav2Vec2-like 20 s windows with
5 s of overlap (their attention cost grows with the square of the length and they were
pre-trained on crops of at most ~16 s); Whisper its ``chunk_length`` (30 s) with 5 s;
AST its ``max_length`` (1024 fbank frames, 10.255 s) with a quarter of it (2.56 s);
CLAP ``max_length_s`` (10 s) without overlap (its interpolated frames are not on a
sample grid, so windows cannot share frames; each window's frames are kept). Windows are
batched (``batch_size``
windows of equal length per forward pass).

**Which window a frame comes from**: a frame is taken from the window in which it has the
most left context, i.e. from the *earliest* window that holds its whole receptive field
(frames whose field runs past the start or end of the audio count as held by the windows
touching that edge). Equivalently, window ``k > 0`` contributes the frames after those
of window ``k - 1``, each seeing at least ``overlap_s`` of audio before it (as a causal
text window contributes its last ``stride`` tokens). Each window is encoded once, so
audio is re-encoded only where windows overlap: at most ``overlap_s`` per window. Audio
that fits in one window is one forward pass (tested equal to a plain forward, 1e-5).
Each window goes through the feature extractor on its own (Wav2Vec2's per-utterance
normalisation and Whisper's log-mel ceiling are per window).

Per-head and per-block features -- ``heads=`` and ``blocks=``
    For Wav2Vec2, HuBERT, Data2Vec-Audio, WavLM, Whisper, AST and CLAP
    (:data:`CAPTURE_FAMILIES`; hooks registered in
    :mod:`brainalign.encoders.hooks`, WavLM through :class:`WavLMCapture`, CLAP through
    :class:`~brainalign.encoders.clap_heads.ClapCapture`), also ``"L.heads"``
    ``(n_frames, n_heads, d_head)``, each head's output before the attention output
    projection, and ``"L.attention"``/``"L.mlp"`` ``(n_frames, d_model)``, the attention
    and feed-forward outputs before the residual sum, for every requested ``L >= 1``
    (block ``L - 1``), taken per frame like the hidden states. WavLM's attention never
    calls its output projection as a module (it passes the weight to
    ``torch.nn.functional.multi_head_attention_forward``), so its heads are recomputed
    from the attention module's input and gated position bias and checked, on every
    pass, to give the module's own output through the projection.

    CLAP's hidden state ``L`` is the output of Swin **stage** ``L - 1`` (after its
    patch merging), so ``"L.heads"``, ``"L.attention"`` and ``"L.mlp"`` are those of
    the **last Swin block of stage** ``L - 1`` (the earlier blocks of a stage are not
    captured; ``n_heads`` and ``d_model`` are that stage's). The block attends within
    (shifted) windows of its stage's token map; the heads and attention output are put
    back at each token's own position of the map (windows reversed, cyclic shift undone,
    padding cropped), where ``block output = block input + attention + mlp`` holds
    before the patch merging, and then pooled into frames by the same function as the
    hidden states (mean over the frequency rows of each chunk, then over the columns
    inside each last-stage frame), so heads, blocks and hidden states share one frame
    definition. Each pass checks that identity and that the heads through the output
    projection give the attention output (``RuntimeError`` otherwise).

Streaming into the store -- ``store=``
    :meth:`AudioEncoder.encode_audio` keys the entry itself (:meth:`~AudioEncoder.
    audio_store_key`: model, weights, feature extractor, windows, layers, captures,
    dtype, and each input's id and content sha256: the file's bytes, or an array's
    mono float32 samples and rate) and writes every window's frames into it as they are
    computed; audio is read window by window, so memory stays flat in the length of the
    audio. A complete entry is returned without decoding or a forward pass.

Word-locked and epoch pooling
-----------------------------
:func:`pool_intervals` averages frame features over time intervals: word intervals
(onset, offset) from a forced alignment, or M/EEG epochs (:func:`event_intervals`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.audio_io import (
    AudioReadError,
    AudioSource,
    array_sha256,
    mono_samples,
    open_audio,
)
from brainalign.encoders.common import (
    LoadedModelAccess,
    check_batch_size,
    check_layer_indices,
    content_sha256,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.features import Features
from brainalign.encoders.hooks import CaptureLifecycle
from brainalign.encoders.loading import load_model
from brainalign.encoders.sinks import Sink, collect, load_stored

if TYPE_CHECKING:
    import pandas as pd

    from brainalign.encoders.store import FeatureStore

__all__ = [
    "AUDIO_FAMILIES",
    "CAPTURE_FAMILIES",
    "CONV_WINDOW_S",
    "WINDOW_OVERLAP_S",
    "AudioEncoder",
    "AudioReadError",
    "FrameGrid",
    "WavLMCapture",
    "Window",
    "event_intervals",
    "plan_windows",
    "pool_intervals",
    "wavlm_heads",
]

logger = logging.getLogger(__name__)

#: ``model_type`` -> family of every audio model the encoder knows.
AUDIO_FAMILIES: dict[str, str] = {
    "wav2vec2": "conv",
    "hubert": "conv",
    "wavlm": "conv",
    "data2vec-audio": "conv",
    "whisper": "whisper",
    "audio-spectrogram-transformer": "ast",
    "clap_audio_model": "clap",
}

#: Default window of the convolutional family, in seconds: its models take any length,
#: and attention costs grow with its square.
CONV_WINDOW_S = 20
#: Default overlap of consecutive windows, in seconds (at most half a window; a quarter of
#: it for AST).
WINDOW_OVERLAP_S = 5

#: Families whose per-head and per-block outputs can be captured (``heads=``/``blocks=``).
CAPTURE_FAMILIES: tuple[str, ...] = (
    "wav2vec2",
    "hubert",
    "data2vec-audio",
    "wavlm",
    "whisper",
    "audio-spectrogram-transformer",
    "clap_audio_model",
)


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FrameGrid:
    """Where a model's output frames sit on the waveform of one window.

    Parameters
    ----------
    stride : int or None
        Samples between consecutive frames (``S``); ``None`` when frames are not on a
        sample grid (CLAP), which rules out overlapping windows.
    field : int
        Receptive field ``R`` of a frame, in samples (an estimate for CLAP).
    offset : int
        First sample of frame 0's field relative to the window start (negative for
        Whisper's centred frames).
    max_frames : int or None
        Frames of a full window for models with a fixed input length (Whisper, AST,
        CLAP); ``None`` for conv front ends.
    padded : bool
        Whether the feature extractor pads every window to a fixed length; then frames
        whose centre lies past the real audio are dropped. Otherwise (conv front ends)
        only frames whose whole field is inside the audio exist.
    centres : tuple of float, optional
        For ``stride=None``: each frame's centre in samples from the window start.
    """

    stride: int | None
    field: int
    offset: int
    max_frames: int | None = None
    padded: bool = False
    centres: tuple[float, ...] | None = None

    def centre(self, frame: int) -> float:
        """Centre of a frame's receptive field, in samples from its window's start."""
        if self.stride is None:
            assert self.centres is not None
            return self.centres[frame]
        return self.offset + (self.field - 1) / 2 + frame * self.stride

    def n_frames(self, n_samples: int) -> int:
        """Frames a window of ``n_samples`` real samples gives (see :class:`FrameGrid`)."""
        if self.stride is None:
            assert self.centres is not None
            return int(np.searchsorted(np.asarray(self.centres), n_samples, side="left"))
        if not self.padded:
            count = max(0, (n_samples - self.offset - self.field) // self.stride + 1)
        else:
            first = self.offset + (self.field - 1) / 2
            count = max(0, math.ceil((n_samples - first) / self.stride))
        return count if self.max_frames is None else min(count, self.max_frames)


@dataclass(frozen=True)
class Window:
    """One window of one audio input and the frames taken from it.

    Attributes
    ----------
    start, stop : int
        Its samples ``[start, stop)`` of the audio (model rate).
    first, last : int
        Its local frames ``first .. last - 1`` are kept.
    row : int
        Frame index, within this audio, of local frame ``first``.
    """

    start: int
    stop: int
    first: int
    last: int
    row: int


def plan_windows(
    n_samples: int, grid: FrameGrid, window: int, hop: int
) -> tuple[list[Window], int]:
    """Windows over ``n_samples`` samples and the frames each contributes.

    Windows start at ``0, hop, 2 hop, ...`` until one reaches the end; each is
    ``window`` samples long (the last may be shorter). Every frame is taken from the
    earliest window holding its whole receptive field (or, at the ends of the audio,
    touching that end), see the module docstring.

    Parameters
    ----------
    n_samples : int
        Length of the audio (model rate).
    grid : FrameGrid
    window, hop : int
        Window length and hop in samples; ``hop`` a multiple of ``grid.stride``
        (``hop == window`` for grids without a stride).

    Returns
    -------
    windows : list of Window
        Only windows that contribute frames, in order.
    n_frames : int
        Frames of the whole audio.

    Raises
    ------
    ValueError
        If the overlap is too short for a frame's receptive field (a frame would be
        taken from no window).
    """
    if n_samples <= window:
        starts = [0]
    else:
        starts = [k * hop for k in range(math.ceil((n_samples - window) / hop) + 1)]
    windows: list[Window] = []
    next_row = 0
    for start in starts:
        stop = min(start + window, n_samples)
        n_local = grid.n_frames(stop - start)
        if grid.stride is None:  # no shared grid: no overlap, every frame kept
            if n_local:
                windows.append(Window(start, stop, 0, n_local, next_row))
            next_row += n_local
            continue
        base = start // grid.stride
        first = 0 if start == 0 else max(0, math.ceil(-grid.offset / grid.stride))
        if stop == n_samples:
            last = n_local
        else:
            last = min(n_local, (stop - start - grid.offset - grid.field) // grid.stride + 1)
        if next_row < base + first:
            raise ValueError(
                f"windows of {window} samples every {hop} overlap by {window - hop} "
                f"samples, too few for frames with a receptive field of {grid.field} "
                "samples; use a longer overlap_s"
            )
        first = max(first, next_row - base)
        if last > first:
            windows.append(Window(start, stop, first, last, base + first))
            next_row = base + last
    total = grid.n_frames(n_samples) if grid.stride is not None else next_row
    if grid.stride is not None and grid.max_frames is not None:  # padded, fixed windows
        first_centre = grid.offset + (grid.field - 1) / 2
        total = max(0, math.ceil((n_samples - first_centre) / grid.stride))
    if next_row != total:  # pragma: no cover - the arithmetic above guarantees it
        raise RuntimeError(f"window plan covers {next_row} of {total} frames")
    return windows, total


def _conv_grid(config: Any) -> FrameGrid:
    kernels, strides = list(config.conv_kernel), list(config.conv_stride)
    field, jump = kernels[0], strides[0]
    for kernel, stride in zip(kernels[1:], strides[1:], strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return FrameGrid(stride=jump, field=field, offset=0)


def _whisper_grid(extractor: Any, config: Any) -> FrameGrid:
    hop, n_fft = int(extractor.hop_length), int(extractor.n_fft)
    mel_half = n_fft // 2 - 1  # periodic Hann: the first tap is zero
    frames = int(config.max_source_positions)
    return FrameGrid(
        stride=2 * hop,
        field=4 * hop + 2 * mel_half + 1,
        offset=-2 * hop - mel_half,
        max_frames=frames,
        padded=True,
    )


def _ast_grid(extractor: Any, config: Any) -> FrameGrid:
    rate = int(extractor.sampling_rate)
    hop, length = rate // 100, rate * 25 // 1000  # kaldi fbank: 10 ms shift, 25 ms frames
    stride = int(config.time_stride)
    max_frames = (int(config.max_length) - 16) // stride + 1
    return FrameGrid(
        stride=stride * hop, field=15 * hop + length, offset=0, max_frames=max_frames, padded=True
    )


def _clap_grid(extractor: Any, config: Any) -> FrameGrid:
    hop = int(extractor.hop_length)
    n_mel = int(extractor.nb_max_samples) // hop + 1
    freq_ratio = int(config.spec_size) // int(config.num_mel_bins)
    width = int(config.spec_size) * freq_ratio  # interpolated time columns
    cols = int(config.spec_size) // int(_pair(config.patch_stride)[1])
    cols //= 2 ** (len(config.depths) - 1)
    n_frames = freq_ratio * cols
    per_frame = width / n_frames
    scale = (n_mel - 1) / (width - 1) if width > 1 else 1.0
    centres = tuple(((j + 0.5) * per_frame - 0.5) * scale * hop for j in range(n_frames))
    return FrameGrid(
        stride=None,
        field=round(per_frame * scale * hop),
        offset=0,
        max_frames=n_frames,
        padded=True,
        centres=centres,
    )


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _AudioItem:
    """One input: what to open, its id, name and content digest."""

    audio: Any  # Path or mono float32 array
    stimulus_id: Any
    name: str
    sha256: str
    rate: int | None  # arrays only


def _audio_items(
    audio: Any, sampling_rate: int | None, stimulus_ids: Sequence[Any] | None
) -> list[_AudioItem]:
    """Every input checked and hashed (files by bytes, arrays by mono samples and rate)."""
    if isinstance(audio, (str, os.PathLike, np.ndarray)):
        items = [audio]
    elif isinstance(audio, Sequence) and not isinstance(audio, (bytes, bytearray)):
        items = list(audio)
    else:
        raise TypeError(
            f"audio is a {type(audio).__name__}; pass a file path, an array of samples, or a "
            "list of them"
        )
    if not items:
        raise ValueError("audio is empty; pass at least one file or array")
    is_file = [isinstance(item, (str, os.PathLike)) for item in items]
    if not all(is_file) and sampling_rate is None:
        raise AudioReadError(
            "an array of samples has no sampling rate; pass sampling_rate= (Hz) with arrays"
        )
    if all(is_file) and sampling_rate is not None:
        raise ValueError("sampling_rate= is for arrays; audio files state their own rate (drop it)")
    ids = _ids(items, is_file, stimulus_ids)
    checked = []
    for index, (item, file) in enumerate(zip(items, is_file, strict=True)):
        if file:
            path = Path(item).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"audio {index}: file {str(path)!r} does not exist")
            checked.append(_AudioItem(path, ids[index], str(path), content_sha256(path), None))
        elif isinstance(item, np.ndarray):
            name = f"audio {index} (array)"
            samples = mono_samples(item, name)
            assert sampling_rate is not None
            digest = array_sha256(samples, sampling_rate)
            checked.append(_AudioItem(samples, ids[index], name, digest, int(sampling_rate)))
        else:
            raise TypeError(
                f"audio {index} is a {type(item).__name__}; each input must be a file path "
                "or a numpy array of samples"
            )
    return checked


def _ids(items: list[Any], is_file: list[bool], stimulus_ids: Sequence[Any] | None) -> list[Any]:
    n_items = len(items)
    if stimulus_ids is None:
        if all(is_file):
            stems = [Path(item).stem for item in items]
            if len(set(stems)) == n_items:
                return stems
            raise ValueError("the audio files' names (stems) repeat; pass stimulus_ids=")
        return list(range(n_items))
    ids = np.asarray(stimulus_ids).tolist()
    if np.ndim(ids) != 1 or len(ids) != n_items:
        raise ValueError(
            f"stimulus_ids has {np.size(ids)} entries; expected {n_items}, one per audio input"
        )
    if len(set(ids)) != n_items:
        raise ValueError("stimulus_ids repeat; give each audio input a unique id")
    return ids


# --------------------------------------------------------------------------- encoder


class AudioEncoder(LoadedModelAccess):
    """Hidden states of every layer of an audio model, one row per frame.

    Parameters
    ----------
    model : str or path-like
        Hub id or local directory of an audio model (Wav2Vec2, HuBERT, WavLM,
        Data2Vec-Audio, Whisper, AST) or of CLAP (its audio tower is loaded), with the
        feature extractor's ``preprocessor_config.json``.
    weights : {"pretrained", "untrained"}
    seed : int
        Seed of the untrained weights.
    device : str
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; features are float32.
    batch_size : int
        Windows per forward pass.
    window_s, overlap_s : float, optional
        Window length and overlap in seconds (see the module docstring for the
        defaults). Whisper, AST and CLAP windows are at most their fixed input length;
        CLAP takes no overlap.
    feature_extractor : object, optional
        Use this feature extractor instead of the model's own.
    progress : bool or str
        Progress bar over batches (on a terminal only).

    Raises
    ------
    ModelLoadError
        If the model or its feature extractor cannot be loaded.
    ValueError
        For a model that is not an audio model of a known family, or bad settings.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        weights: Literal["pretrained", "untrained"] = "pretrained",
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 4,
        window_s: float | None = None,
        overlap_s: float | None = None,
        feature_extractor: Any = None,
        progress: bool | str = True,
    ) -> None:
        check_batch_size(batch_size)
        loaded = load_model(
            model,
            modality="audio",
            weights=weights,
            seed=seed,
            device=device,
            dtype=dtype,
            preprocessor=feature_extractor,
        )
        self.model_id = os.fspath(model)
        self._model, self._extractor = loaded.model, loaded.preprocessor
        self._provenance = loaded.provenance
        self.model_type = str(loaded.config.model_type)
        self.family = AUDIO_FAMILIES.get(self.model_type)
        if self.family is None and hasattr(loaded.config, "conv_kernel"):
            self.family = "conv"
        if self.family is None:
            raise ValueError(
                f"{self.model_id!r} is a {self.model_type!r} model, not an audio model the "
                f"encoder knows ({', '.join(sorted(AUDIO_FAMILIES))}); use one of those"
            )
        rate = getattr(self._extractor, "sampling_rate", None)
        if not isinstance(rate, int) or rate < 1:
            raise ValueError(
                f"the feature extractor of {self.model_id!r} ({type(self._extractor).__name__}) "
                f"states no sampling_rate ({rate!r}); pass feature_extractor="
            )
        self.sampling_rate = rate
        self.n_layers = loaded.n_layers
        if self.family == "clap":  # the patch embedding, then one map per Swin stage
            self.n_layers = len(loaded.config.depths) + 1
        self.source, self.weights, self.seed = loaded.source, weights, seed
        self.device, self.dtype = device, dtype
        self.batch_size, self.progress = batch_size, progress
        self.grid = self._frame_grid(loaded.config)
        self.window, self.hop = self._windows(window_s, overlap_s)
        self._inputs = set(inspect.signature(self._model.forward).parameters)

    @property
    def feature_extractor(self) -> Any:
        """The feature extractor (the model's own, or the one given)."""
        return self._extractor

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self.window / self.sampling_rate

    @property
    def overlap_s(self) -> float:
        """Overlap of consecutive windows in seconds."""
        return (self.window - self.hop) / self.sampling_rate

    def __repr__(self) -> str:
        return (
            f"AudioEncoder({self.model_id!r}, {self.weights}, {self.model_type}, "
            f"window_s={self.window_s:g}, overlap_s={self.overlap_s:g})"
        )

    # ----------------------------------------------------------------- settings

    def _frame_grid(self, config: Any) -> FrameGrid:
        extractor = self._extractor
        try:
            if self.family == "conv":
                return _conv_grid(config)
            if self.family == "whisper":
                grid = _whisper_grid(extractor, config)
                expected = grid.max_frames * grid.stride
                if int(extractor.n_samples) != expected:
                    raise ValueError(
                        f"the feature extractor pads to {extractor.n_samples} samples but "
                        f"the encoder takes {grid.max_frames} frames ({expected} samples); "
                        "pass a matching feature_extractor (chunk_length)"
                    )
                return grid
            if self.family == "ast":
                return _ast_grid(extractor, config)
            return _clap_grid(extractor, config)
        except AttributeError as error:
            raise ValueError(
                f"cannot place the frames of {self.model_id!r} ({self.model_type}) in time: "
                f"{error}; pass the model's own feature extractor"
            ) from error

    def _windows(self, window_s: float | None, overlap_s: float | None) -> tuple[int, int]:
        """Window length and hop in samples, checked against the model's input limit."""
        rate, grid = self.sampling_rate, self.grid
        limit = self._max_window()
        default_window = {"conv": CONV_WINDOW_S * rate}.get(self.family, limit)
        window = default_window if window_s is None else round(float(window_s) * rate)
        if window < grid.field or (limit is not None and window > limit):
            most = "" if limit is None else f" and at most {limit / rate:g} s (the model's input)"
            raise ValueError(
                f"window_s={window_s!r} for {self.model_id!r}; windows must be at least "
                f"{grid.field / rate:g} s (one frame){most}"
            )
        if grid.stride is None:
            if overlap_s not in (None, 0, 0.0):
                raise ValueError(
                    f"overlap_s={overlap_s!r}: {self.model_type} frames are not on a sample "
                    "grid, so its windows cannot overlap; use overlap_s=0"
                )
            return window, window
        default_overlap = {"ast": window // 4}.get(self.family, WINDOW_OVERLAP_S * rate)
        overlap = default_overlap if overlap_s is None else round(float(overlap_s) * rate)
        if overlap_s is None:
            overlap = min(overlap, window // 2)
        hop = (window - overlap) // grid.stride * grid.stride
        if hop < grid.stride:
            raise ValueError(
                f"overlap_s={overlap_s!r} leaves no hop between windows of {window / rate:g} s; "
                "use a shorter overlap"
            )
        return window, hop

    def _max_window(self) -> int | None:
        extractor = self._extractor
        if self.family == "whisper":
            return int(extractor.n_samples)
        if self.family == "clap":
            return int(extractor.nb_max_samples)
        if self.family == "ast":
            hop, length = self.sampling_rate // 100, self.sampling_rate * 25 // 1000
            return (int(self._model.config.max_length) - 1) * hop + length
        return None

    # ----------------------------------------------------------------- keys

    def audio_store_key(
        self,
        audio: Any,
        *,
        sampling_rate: int | None = None,
        stimulus_ids: Sequence[Any] | None = None,
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`encode_audio` with the same arguments.

        :meth:`encode_audio` builds it itself (``store=`` only); this shows it. Inputs
        enter by id and content sha256 (a file's bytes; an array's mono float32 samples
        and rate), never by path.
        """
        items = _audio_items(audio, sampling_rate, stimulus_ids)
        return self._key(items, self._check_layers(layers), heads=heads, blocks=blocks)

    def _key(
        self, items: list[_AudioItem], layer_ids: list[int], *, heads: bool, blocks: bool
    ) -> dict[str, Any]:
        from brainalign.encoders.store import feature_key, json_sha256, weights_fingerprint

        provenance, extractor = self._provenance, self._extractor
        weights = weights_fingerprint(
            provenance,
            self._model.config,
            tower=provenance.get("tower"),
            encoder_of=provenance.get("encoder_of"),
        )
        extractor_config = extractor.to_dict() if hasattr(extractor, "to_dict") else None
        context = {
            "mode": "audio-windows",
            "sampling_rate": self.sampling_rate,
            "window_samples": self.window,
            "hop_samples": self.hop,
            "mono": "mean over channels",
            "resampling": "scipy.signal.resample_poly",
            "feature_extractor": type(extractor).__name__,
            "feature_extractor_sha256": json_sha256(extractor_config),
        }
        stimuli = json_sha256(
            {
                "format": "brainalign.audio-stimuli/1",
                "stimulus_id": [item.stimulus_id for item in items],
                "sha256": [item.sha256 for item in items],
                "array_rate": [item.rate for item in items],
            }
        )
        captures = {"heads": bool(heads), "blocks": bool(blocks)}
        return feature_key(
            model=self.model_id,
            weights=weights,
            tokenizer=None,
            layers=[str(layer) for layer in layer_ids],
            pooling=self._pooling_name(),
            context=context,
            dtype=self.dtype,
            stimuli=stimuli,
            extra={"capture": captures} if heads or blocks else None,
        )

    def _pooling_name(self) -> str:
        return {
            "ast": "time-columns (mean over frequency patches)",
            "clap": "time-frames (mean over frequency rows, last-stage frames)",
        }.get(self.family or "", "frames")

    # ----------------------------------------------------------------- encoding

    def encode_audio(
        self,
        audio: Any,
        *,
        sampling_rate: int | None = None,
        stimulus_ids: Sequence[Any] | None = None,
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
        store: FeatureStore | None = None,
    ) -> Features:
        """Per-frame features of every requested layer, with frame times.

        Parameters
        ----------
        audio : path-like, numpy.ndarray, or a sequence of them
            Audio files (any format soundfile or PyAV reads) or arrays of samples,
            shape (n_samples,) or (n_samples, n_channels) (channels are averaged).
        sampling_rate : int, optional
            Rate of the arrays, Hz (required with arrays; files state theirs). Inputs at
            another rate than the model's are resampled (logged, and recorded in
            ``provenance["audio"]``).
        stimulus_ids : sequence, optional
            One unique id per input. Default: the file stems, else ``0 .. n - 1``.
        layers : sequence of int, optional
            Hidden-state indices (0 = front-end output). Default: all.
        heads, blocks : bool
            Also ``"L.heads"`` (n_frames, n_heads, d_head) and ``"L.attention"``,
            ``"L.mlp"`` (n_frames, d_model) for ``L >= 1`` (CLAP: of the last Swin
            block of stage ``L - 1``); families in :data:`CAPTURE_FAMILIES` only.
        store : FeatureStore, optional
            Stream the frames into the entry of :meth:`audio_store_key` of these
            arguments; a complete entry is returned without a forward pass.

        Returns
        -------
        Features
            ``layers[str(L)]`` float32 (n_frames, d) for all inputs' frames in order;
            ``stimulus_ids`` (n_frames,) each frame's input id; ``onsets`` (n_frames,)
            each frame's time in seconds from its input's start (see the module
            docstring); ``provenance["audio"]`` one dict per input (id, name, decoder,
            rates, duration, frames, windows).

        Raises
        ------
        FileNotFoundError
            For a missing file.
        AudioReadError
            For an unreadable or empty file (the decoder's message is quoted), an array
            without ``sampling_rate``, non-finite samples, or audio shorter than one
            frame.
        ValueError
            For bad layers or ids, or ``heads``/``blocks`` with a family outside
            :data:`CAPTURE_FAMILIES`
            (:class:`~brainalign.encoders.heads.UnsupportedArchitectureError`).
        """
        heads, blocks = bool(heads), bool(blocks)
        if heads or blocks:
            self._check_capture_support()
        items = _audio_items(audio, sampling_rate, stimulus_ids)
        layer_ids = self._check_layers(layers)
        key = self._key(items, layer_ids, heads=heads, blocks=blocks) if store else None
        found = load_stored(store, key)
        if found is not None:
            return found
        capture = self._layer_capture(layer_ids, heads=heads, blocks=blocks)
        with contextlib.ExitStack() as stack:
            sources = [stack.enter_context(self._open(item)) for item in items]
            plans = [plan_windows(s.n_samples, self.grid, self.window, self.hop) for s in sources]
            ids, onsets, described = self._rows(items, sources, plans)
            provenance = self._run_provenance(layer_ids, heads, blocks, described)

            def fill(sink: Sink) -> None:
                self._run(sources, plans, layer_ids, capture, sink)

            return collect(fill, len(ids), ids, onsets, provenance, store, key)

    extract = encode_audio

    def _open(self, item: _AudioItem) -> AudioSource:
        source = open_audio(
            item.audio, sampling_rate=self.sampling_rate, array_rate=item.rate, name=item.name
        )
        if source.resampled:
            logger.info(
                "%s: resampling from %d Hz to %d Hz (the rate of %s)",
                item.name,
                source.source_rate,
                source.sampling_rate,
                self.model_id,
            )
        return source

    def _rows(
        self, items: list[_AudioItem], sources: list[AudioSource], plans: list[Any]
    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Per-frame ids and onsets of all inputs, and one description per input."""
        ids, onsets, described = [], [], []
        for item, source, (windows, n_frames) in zip(items, sources, plans, strict=True):
            if n_frames == 0:
                raise AudioReadError(
                    f"{item.name} is {source.duration:.4f} s long, shorter than one frame of "
                    f"{self.model_id!r} ({self.grid.field / self.sampling_rate:.4f} s)"
                )
            times = np.empty(n_frames, np.float64)
            for window in windows:
                local = np.arange(window.first, window.last)
                centres = np.array([self.grid.centre(j) for j in local], np.float64)
                rows = slice(window.row, window.row + len(local))
                times[rows] = (window.start + centres) / self.sampling_rate
            onsets.append(times)
            ids.extend([item.stimulus_id] * n_frames)
            described.append(
                {
                    "stimulus_id": item.stimulus_id,
                    "name": item.name,
                    "sha256": item.sha256,
                    "decoder": source.decoder,
                    "source_rate": source.source_rate,
                    "sampling_rate": source.sampling_rate,
                    "resampled_from": source.source_rate if source.resampled else None,
                    "duration_s": source.duration,
                    "n_frames": n_frames,
                    "n_windows": len(windows),
                }
            )
        return np.asarray(ids), np.concatenate(onsets), described

    def _run_provenance(
        self, layer_ids: list[int], heads: bool, blocks: bool, described: list[dict[str, Any]]
    ) -> dict[str, Any]:
        extractor = self._extractor
        return {
            "model": self.model_id,
            **self._provenance,
            "pooling": self._pooling_name(),
            "frame_onsets": "centre of the frame's receptive field, seconds from the start "
            "of its audio",
            "frame_stride_s": None
            if self.grid.stride is None
            else self.grid.stride / self.sampling_rate,
            "frame_field_s": self.grid.field / self.sampling_rate,
            "window_s": self.window_s,
            "overlap_s": self.overlap_s,
            "window_rule": "earliest window holding the frame's receptive field",
            "sampling_rate": self.sampling_rate,
            "feature_extractor": type(extractor).__name__,
            "feature_extractor_config": extractor.to_dict()
            if hasattr(extractor, "to_dict")
            else None,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "layers": [str(layer) for layer in layer_ids],
            "captures": {"heads": heads, "blocks": blocks},
            "audio": described,
        }

    def _run(
        self,
        sources: list[AudioSource],
        plans: list[Any],
        layer_ids: list[int],
        capture: Any,
        sink: Sink,
    ) -> None:
        """Encode every window in batches and hand each window's frames to ``sink``."""
        import torch

        with thread_limit(), torch.inference_mode(), capture or contextlib.nullcontext():
            for batch in progress_bar(
                self._batches(sources, plans), self.progress, f"encoding ({self.model_id})"
            ):
                outputs = self._forward([samples for *_, samples in batch])
                frames = {str(layer): self._frames(outputs[layer]) for layer in layer_ids}
                if capture is not None:
                    frames.update(self._captured_frames(capture))
                for index, (row_offset, window, _) in enumerate(batch):
                    rows = row_offset + window.row + np.arange(window.last - window.first)
                    sink.write(
                        rows,
                        {
                            name: values[index, window.first : window.last]
                            for name, values in frames.items()
                        },
                    )

    def _batches(
        self, sources: list[AudioSource], plans: list[Any]
    ) -> Iterator[list[tuple[int, Window, np.ndarray]]]:
        """Batches of (row offset of the input, window, samples), equal-length windows.

        Samples are read when a window joins a batch, so only one batch is held; an
        input is closed after its last window is read.
        """
        batch: list[tuple[int, Window, np.ndarray]] = []
        row_offset = 0
        for source, (windows, n_frames) in zip(sources, plans, strict=True):
            for window in windows:
                samples = source.read(window.start, window.stop)
                if batch and (
                    len(batch) == self.batch_size
                    or (not self.grid.padded and len(samples) != len(batch[0][2]))
                ):
                    yield batch
                    batch = []
                batch.append((row_offset, window, samples))
            source.close()
            row_offset += n_frames
        if batch:
            yield batch

    def _forward(self, windows: list[np.ndarray]) -> tuple[Any, ...]:
        """Preprocess a batch of windows and return all hidden states."""
        import torch

        options: dict[str, Any] = {}
        if self.family == "clap":
            options["truncation"] = (
                "rand_trunc" if not self._model.config.enable_fusion else "fusion"
            )
        prepared = self._extractor(
            windows, sampling_rate=self.sampling_rate, return_tensors="pt", **options
        )
        model_dtype = next(self._model.parameters()).dtype
        inputs = {}
        for name, value in prepared.items():
            if name not in self._inputs:
                continue
            value = torch.as_tensor(value)
            if name == "is_longer":  # no window is longer than the model's input
                value = torch.zeros_like(value, dtype=torch.bool)
            elif value.is_floating_point():
                value = value.to(dtype=model_dtype)
            inputs[name] = value.to(self.device)
        output = self._model(**inputs, output_hidden_states=True)
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is None or len(hidden_states) != self.n_layers:
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected {self.n_layers}"
            )
        return hidden_states

    def _frames(self, hidden: Any) -> np.ndarray:
        """A hidden state as frames, (batch, n_frames_of_a_window, ...) float32 numpy."""
        hidden = hidden.float()
        if self.family == "ast":
            hidden = self._ast_columns(hidden)
        elif self.family == "clap":
            hidden = self._clap_frames(hidden)
        return hidden.cpu().numpy()

    def _ast_columns(self, tokens: Any) -> Any:
        """AST tokens (batch, n_prefix + F * T, d) -> time columns (batch, T, d)."""
        config = self._model.config
        n_freq = (int(config.num_mel_bins) - int(config.patch_size)) // int(
            config.frequency_stride
        ) + 1
        n_time = (int(config.max_length) - int(config.patch_size)) // int(config.time_stride) + 1
        patches = tokens[:, tokens.shape[1] - n_freq * n_time :]
        return patches.unflatten(1, (n_freq, n_time)).mean(dim=1)

    def _clap_frames(self, maps: Any) -> Any:
        """CLAP maps (batch, C, rows, cols) -> frames (batch, freq_ratio * cols_last, C)."""
        config = self._model.config
        chunks = int(config.spec_size) // int(config.num_mel_bins)
        batch, channels, rows, cols = maps.shape
        per_chunk = maps.reshape(batch, channels, chunks, rows // chunks, cols).mean(dim=3)
        frames = per_chunk.reshape(batch, channels, chunks * cols)
        n_frames = self.grid.max_frames
        assert n_frames is not None
        frames = frames.reshape(batch, channels, n_frames, -1).mean(dim=3)
        return frames.transpose(1, 2)

    # ----------------------------------------------------------------- captures

    def _check_capture_support(self) -> None:
        from brainalign.encoders.heads import UnsupportedArchitectureError

        if self.model_type not in CAPTURE_FAMILIES:
            raise UnsupportedArchitectureError(
                f"heads=True or blocks=True is not available for {self.model_id!r} "
                f"({self.model_type}): no head-capture paths are registered for it. Audio "
                "families with per-head and per-block "
                f"capture: {', '.join(CAPTURE_FAMILIES)}. Use heads=False and blocks=False"
            )

    def _layer_capture(self, layer_ids: list[int], *, heads: bool, blocks: bool) -> Any:
        if not (heads or blocks):
            return None
        from brainalign.encoders.heads import LayerCapture

        captured = [layer - 1 for layer in layer_ids if layer >= 1]
        if not captured:
            return None
        if self.model_type == "wavlm":
            return WavLMCapture(self._model, captured, heads=heads, blocks=blocks)
        if self.family == "clap":  # one capture per stage: its last Swin block
            from brainalign.encoders.clap_heads import ClapCapture

            return ClapCapture(self._model, captured, heads=heads, blocks=blocks)
        return LayerCapture(self._model, captured, heads=heads, blocks=blocks)

    def _captured_frames(self, capture: Any) -> dict[str, np.ndarray]:
        frames: dict[str, np.ndarray] = {}
        for block in capture.layers:
            layer = block + 1
            if capture.store_blocks:
                frames[f"{layer}.attention"] = self._token_frames(capture.attention_output[block])
                frames[f"{layer}.mlp"] = self._token_frames(capture.mlp_output[block])
            if capture.store_heads:
                per_head = capture.heads[block]  # (batch, *tokens, n_heads, d_head)
                flat = self._token_frames(per_head.flatten(start_dim=-2))
                frames[f"{layer}.heads"] = flat.reshape(*flat.shape[:2], per_head.shape[-2], -1)
        return frames

    def _token_frames(self, tokens: Any) -> np.ndarray:
        """Captured tokens as frames: (batch, seq, d), or CLAP's (batch, rows, cols, d)
        maps, -> (batch, n_frames_of_a_window, d), pooled like the hidden states."""
        if self.family == "clap":
            tokens = tokens.movedim(-1, 1)  # the hidden states' (batch, d, rows, cols)
        return self._frames(tokens)

    def _check_layers(self, layers: Sequence[int] | None) -> list[int]:
        assert self.n_layers is not None
        return check_layer_indices(layers, self.n_layers, self.model_id)


# --------------------------------------------------------------------------- WavLM


class WavLMCapture(CaptureLifecycle):
    """Per-head and per-block outputs of WavLM blocks (``LayerCapture``'s interface).

    WavLM's attention hands its projection weights to
    ``torch.nn.functional.multi_head_attention_forward``, so its output projection is
    never called as a module and :class:`~brainalign.encoders.heads.LayerCapture`'s
    pre-hook cannot see the heads. A forward hook on each block's attention module
    instead recomputes them from the module's own input, weights and position bias:
    WavLM's gate (``gru_rel_pos_linear`` of each head's input, summed in pairs of 4,
    sigmoids ``a, b``, gate ``a * (b * gru_rel_pos_const - 1) + 2``) scales the
    relative position bias, and head ``h`` is ``softmax(q_h k_h^T / sqrt(d_head) +
    gate_h * bias_h) v_h``. Every forward pass checks the result: the heads through
    the output projection must give the module's own attention output (to 1e-4 of its
    scale), else a ``RuntimeError`` says the recomputation no longer matches
    transformers' WavLM.

    Attributes
    ----------
    layers : tuple of int
        Captured block indices.
    heads, attention_output, mlp_output : dict of int to torch.Tensor
        ``(batch, seq, n_heads, d_head)``, ``(batch, seq, d_model)`` and
        ``(batch, seq, d_model)`` (attention output: the module's output, before the
        residual sum; MLP: ``feed_forward``'s output).
    """

    def __init__(self, model: Any, layers: Sequence[int], *, heads: bool, blocks: bool) -> None:
        self._blocks = model.encoder.layers
        self.layers = tuple(sorted(set(layers)))
        self.store_heads, self.store_blocks = bool(heads), bool(blocks)
        self.heads: dict[int, Any] = {}
        self.attention_output: dict[int, Any] = {}
        self.mlp_output: dict[int, Any] = {}
        self._handles: list[Any] = []

    def _stores(self) -> tuple[dict[int, Any], ...]:
        return (self.heads, self.attention_output, self.mlp_output)

    def _install(self, layer: int) -> None:
        block = self._blocks[layer]
        self._handles.append(
            block.attention.register_forward_hook(self._attention_hook(layer), with_kwargs=True)
        )
        if self.store_blocks:
            self._handles.append(block.feed_forward.register_forward_hook(self._mlp_hook(layer)))

    def _mlp_hook(self, layer: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.mlp_output[layer] = output.detach().clone()

        return hook

    def _attention_hook(self, layer: int) -> Any:
        def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            attended = output[0].detach()
            if self.store_blocks:
                self.attention_output[layer] = attended.clone()
            if self.store_heads:
                heads = wavlm_heads(module, hidden, output[2], kwargs.get("attention_mask"))
                rebuilt = module.out_proj(heads.flatten(start_dim=2))
                scale = float(attended.abs().max()) or 1.0
                if float((rebuilt - attended).abs().max()) > 1e-4 * max(scale, 1.0):
                    raise RuntimeError(
                        f"WavLM block {layer}: the recomputed heads do not give the "
                        "attention output; this transformers version computes WavLM "
                        "attention differently. Use heads=False"
                    )
                self.heads[layer] = heads

        return hook


def wavlm_heads(module: Any, hidden: Any, position_bias: Any, attention_mask: Any = None) -> Any:
    """Each head's output of a ``WavLMAttention``, ``(batch, seq, n_heads, d_head)``.

    Parameters
    ----------
    module : WavLMAttention
    hidden : torch.Tensor, shape (batch, seq, d_model)
        The module's input.
    position_bias : torch.Tensor, shape (batch * n_heads, seq, seq)
        The ungated relative position bias (the module's third output).
    attention_mask : torch.Tensor, optional
        1 for real frames, 0 for padding (keys masked out).
    """
    import torch

    batch, seq, _ = hidden.shape
    n_heads, d_head = module.num_heads, module.head_dim
    per_head = hidden.view(batch, seq, n_heads, d_head).permute(0, 2, 1, 3)
    projected = module.gru_rel_pos_linear(per_head).view(batch, n_heads, seq, 2, 4).sum(-1)
    gate_a, gate_b = torch.sigmoid(projected).chunk(2, dim=-1)
    gate = gate_a * (gate_b * module.gru_rel_pos_const - 1.0) + 2.0  # (batch, heads, seq, 1)
    bias = gate * position_bias.view(batch, n_heads, seq, seq)

    def split(linear: Any) -> Any:
        return linear(hidden).view(batch, seq, n_heads, d_head).transpose(1, 2)

    q, k, v = split(module.q_proj), split(module.k_proj), split(module.v_proj)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d_head) + bias
    if attention_mask is not None:
        padding = attention_mask.ne(1)[:, None, None, :]
        scores = scores.masked_fill(padding, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).transpose(1, 2)


# --------------------------------------------------------------------------- pooling


def event_intervals(
    onsets: Sequence[float] | np.ndarray, tmin: float, tmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``[onset + tmin, onset + tmax)`` around events, for :func:`pool_intervals`.

    Parameters
    ----------
    onsets : array-like, shape (n_events,)
        Event times in seconds (e.g. an M/EEG epoch's stimulus onsets on the audio's
        clock).
    tmin, tmax : float
        Interval bounds relative to each onset, seconds (``tmin < tmax``; ``tmin`` may
        be negative).

    Returns
    -------
    starts, stops : numpy.ndarray, shape (n_events,)
        float64 seconds.
    """
    if not tmin < tmax:
        raise ValueError(f"tmin={tmin!r} must be below tmax={tmax!r}")
    onsets = np.asarray(onsets, dtype=np.float64)
    return onsets + float(tmin), onsets + float(tmax)


def pool_intervals(
    features: Features,
    starts: Sequence[float] | np.ndarray | pd.DataFrame,
    stops: Sequence[float] | np.ndarray | None = None,
    *,
    stimulus_ids: Sequence[Any] | np.ndarray | None = None,
    durations: dict[Any, float] | None = None,
) -> Features:
    """Average frame features over time intervals: one row per word (or epoch).

    Row ``i`` is the mean of the frames of audio ``stimulus_ids[i]`` whose time
    (``features.onsets``) falls in ``[starts[i], stops[i])``. An interval that holds
    no frame (shorter than the frame spacing) takes the frame nearest to its midpoint
    instead, so no row is ever NaN. Works on every array (hidden states, heads, blocks).

    Parameters
    ----------
    features : Features
        Frame features with ``onsets`` (from :meth:`AudioEncoder.encode_audio`).
    starts : array-like, shape (n_intervals,), or pandas.DataFrame
        Interval starts in seconds; or a table with ``onset`` and ``offset`` columns
        (and ``stimulus_id`` when the features hold several inputs), e.g. the words of
        a forced alignment.
    stops : array-like, shape (n_intervals,), optional
        Interval ends in seconds (not with a table).
    stimulus_ids : array-like, shape (n_intervals,), optional
        The audio each interval lies in; may be left out when the features hold one.
    durations : dict, optional
        Each audio's duration in seconds, by id. Default: ``provenance["audio"]`` of the
        encoder.

    Returns
    -------
    Features
        Arrays (n_intervals, ...), ``stimulus_ids`` the intervals' audio ids, ``onsets``
        the starts, provenance with ``interval_pooling``.

    Raises
    ------
    ValueError
        For features without onsets, a start not below its stop, an unknown audio id,
        or an interval outside ``[0, duration]`` of its audio (the message names the
        value and the duration).
    """
    starts, stops, ids = _intervals(features, starts, stops, stimulus_ids)
    if features.onsets is None:
        raise ValueError("these features have no onsets (frame times); pool encoder frames")
    lengths = _durations(features, durations)
    frame_ids = np.asarray(features.stimulus_ids)
    times = np.asarray(features.onsets, dtype=np.float64)
    selections = []
    for index, (start, stop, audio_id) in enumerate(
        zip(starts.tolist(), stops.tolist(), ids.tolist(), strict=True)
    ):
        if audio_id not in lengths:
            raise ValueError(
                f"interval {index}: audio {audio_id!r} is not among the features' inputs "
                f"({', '.join(map(repr, list(lengths)[:5]))})"
            )
        duration = lengths[audio_id]
        for what, value in (("start", start), ("stop", stop)):
            if not 0.0 <= value <= duration + 1e-9:
                raise ValueError(
                    f"interval {index}: {what} {value!r} s is outside audio {audio_id!r}, "
                    f"which lasts {duration:.6g} s; give times in seconds from its start"
                )
        if not start < stop:
            raise ValueError(f"interval {index}: start {start!r} s is not before stop {stop!r} s")
        rows = np.flatnonzero(frame_ids == audio_id)
        inside = rows[(times[rows] >= start) & (times[rows] < stop)]
        if inside.size == 0:
            inside = rows[[int(np.argmin(np.abs(times[rows] - (start + stop) / 2)))]]
        selections.append(inside)
    layers = {
        name: np.stack([np.asarray(array[rows]).mean(axis=0) for rows in selections]).astype(
            np.float32, copy=False
        )
        for name, array in features.layers.items()
    }
    provenance = dict(features.provenance)
    provenance["interval_pooling"] = (
        "mean of the frames with onset in [start, stop); the frame nearest the midpoint when none"
    )
    return Features(layers=layers, stimulus_ids=ids, onsets=starts, provenance=provenance)


def _intervals(
    features: Features, starts: Any, stops: Any, stimulus_ids: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if hasattr(starts, "columns"):
        table = starts
        missing = {"onset", "offset"} - set(table.columns)
        if missing or stops is not None:
            raise ValueError(
                f"an interval table needs 'onset' and 'offset' columns (missing {sorted(missing)}) "
                "and no stops="
            )
        starts, stops = table["onset"].to_numpy(), table["offset"].to_numpy()
        if stimulus_ids is None and "stimulus_id" in table.columns:
            stimulus_ids = table["stimulus_id"].to_numpy()
    if stops is None:
        raise ValueError("pass stops= (interval ends, seconds) with starts=")
    starts = np.asarray(starts, dtype=np.float64)
    stops = np.asarray(stops, dtype=np.float64)
    if starts.ndim != 1 or starts.shape != stops.shape or starts.size == 0:
        raise ValueError(
            f"starts {starts.shape} and stops {stops.shape} must be equal, non-empty 1-D arrays"
        )
    if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(stops))):
        raise ValueError("interval starts and stops must be finite seconds")
    if stimulus_ids is None:
        inputs = list(dict.fromkeys(np.asarray(features.stimulus_ids).tolist()))
        if len(inputs) != 1:
            raise ValueError(
                f"the features hold {len(inputs)} audio inputs; pass stimulus_ids= (or a "
                "'stimulus_id' column) saying which each interval lies in"
            )
        ids = np.asarray(inputs * len(starts))
    else:
        ids = np.asarray(stimulus_ids)
        if ids.shape != starts.shape:
            raise ValueError(f"stimulus_ids has shape {ids.shape}; expected {starts.shape}")
    return starts, stops, ids


def _durations(features: Features, durations: dict[Any, float] | None) -> dict[Any, float]:
    if durations is not None:
        return {key: float(value) for key, value in durations.items()}
    described = features.provenance.get("audio")
    if not described:
        raise ValueError(
            "these features do not record their audio's durations (provenance['audio']); "
            "pass durations={stimulus_id: seconds}"
        )
    return {entry["stimulus_id"]: float(entry["duration_s"]) for entry in described}
