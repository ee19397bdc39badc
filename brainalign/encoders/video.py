"""Per-layer features of video clips from Hugging Face video models, time-stamped.

:class:`VideoEncoder` runs a video model from ``transformers`` (VideoMAE, TimeSformer,
ViViT, or X-CLIP's vision tower) on clips cut from a movie and returns one pooled
feature vector per clip for every hidden state (``output_hidden_states=True``): layer
``"0"`` is the embedding output, then one per block.

Clips
-----
:meth:`VideoEncoder.encode_video` takes a video file and *sample times* (seconds on the
video's clock, 0 = its first frame): each TR of an fMRI run (``tr=`` builds the grid
with :func:`tr_grid`, or pass ``times=``), or each event (pass the event times, e.g.
``onsets + durations / 2`` to centre on the events). Around each sample time it cuts a
clip of the model's length (``config.num_frames`` frames) at ``frame_rate`` frames per
second (default: the video's native rate), **centred** on the time: frame ``k`` is at
``t + (k - (num_frames - 1) / 2) / frame_rate``
(:func:`~brainalign.encoders.video_io.clip_frame_times`). Each frame time gets the latest
decoded frame at or before it (:mod:`~brainalign.encoders.video_io`). Sample times must
lie within ``[0, duration]``; frames of a clip that reach before 0 s repeat the first
frame, past the end the last frame (*clamping*; ``provenance["n_clamped_frames"]`` and
``provenance["clamped_clips"]`` say how many frames and which clips).

The video is decoded once, forward, clip by clip
(:func:`~brainalign.encoders.video_io.iter_clips`), and clips run in batches of
``batch_size``: memory holds one batch of clips and the frames of the clips being
filled, whatever the video's length. ``Features.onsets`` are the sample times (each
clip's centre) in seconds and ``Features.stimulus_ids`` the video's id (its file stem
unless ``video_id=`` is given) on every row.

Frames are preprocessed by the model's own processor (loaded by
:func:`~brainalign.encoders.loading.load_model` for ``modality="video"``: the video
processor where one can be used, else the image processor, PIL backend), or by the
``processor`` given: a video processor is called as ``processor(videos=clips)``, an
image processor (``VideoMAEImageProcessor``, ``VivitImageProcessor``) as
``processor([[frame, ...], ...])``; both must return ``pixel_values`` of shape
(n_clips, num_frames, 3, height, width).

Pooling
-------
``"cls"``
    The CLS token (TimeSformer, ViViT, X-CLIP; the default for them). VideoMAE has none
    and refuses it.
``"mean"``
    The mean over the patch (tubelet) tokens, the CLS token left out (the default for
    VideoMAE, whose classifier also averages its tokens).

X-CLIP's vision tower (``XCLIPVisionModel``, what ``load_model`` loads from an X-CLIP
checkpoint's ``vision_config``) encodes each frame of a clip as an image, frames
exchanging information only through its cross-frame message tokens. Its hidden states
are per frame; a clip's vector is the **mean over the clip's frames** of the per-frame
pooled tokens (each frame's CLS token for ``"cls"``, its patch tokens' mean for
``"mean"``). X-CLIP's multi-frame integration transformer and projection, which sit
outside the vision tower, are not applied (``provenance["frame_pooling"]`` says so).

Per-head and per-block features -- ``heads=`` and ``blocks=``
    For VideoMAE, TimeSformer, ViViT and X-CLIP (:data:`VIDEO_HEAD_FAMILIES`), every requested
    layer ``L >= 1`` adds ``"L.heads"`` (n_clips, n_heads, d_head), each head's output
    before the attention output projection, and ``"L.attention"`` / ``"L.mlp"``
    (n_clips, d_model), the attention and MLP block outputs before the residual sum,
    from the same forward passes, pooled over tokens like the hidden states. VideoMAE
    and ViViT use :class:`~brainalign.encoders.heads.LayerCapture` (module paths
    registered in :mod:`brainalign.encoders.hooks`), as does X-CLIP.

    TimeSformer's divided space-time blocks run a temporal attention over each patch's
    frames, then a spatial attention over each frame's patches with a copy of the CLS
    token per frame; :class:`~brainalign.encoders.timesformer_heads.TimesformerCapture`
    maps both back onto the layer's tokens. ``"L.heads"`` are the **spatial** heads: a
    patch token's are those of its frame's spatial attention, the CLS token's the mean
    over frames of its copies' (as the block averages the CLS update). ``heads=True``
    also adds ``"L.temporal_heads"`` (n_clips, n_heads, d_head), the **temporal**
    heads, with ``pooling="mean"`` only: the CLS token has no temporal attention, so
    with ``pooling="cls"`` there is nothing to pool and the array is left out
    (``provenance["temporal_heads"]`` says so). ``"L.attention"`` is the block's whole
    attention update (``temporal_dense`` of the temporal attention plus the spatial
    attention for patch tokens; the frame mean of the spatial one for CLS), so
    ``"L" = "L-1" + "L.attention" + "L.mlp"`` for either pooling. Only
    ``attention_type="divided_space_time"`` (the default) is supported.

    X-CLIP's blocks attend over each frame's tokens plus an appended cross-frame
    **message token** (built from every frame's CLS token by the block's message
    attention) that the block drops from its output. ``"L.heads"`` and
    ``"L.attention"`` are the heads' and attention's outputs at the frame's own tokens
    (the message token's row left out), pooled like the hidden states (CLS or patch
    mean per frame, then the mean over the clip's frames), so ``"L" = "L-1" +
    "L.attention" + "L.mlp"`` holds; the heads' inputs include the message token, so
    cross-frame information reaches them as it reaches the hidden states.

Streaming into the feature store -- ``store=``
    As for the other encoders: each batch's pooled rows go straight into the store entry
    whose key the encoder builds from its settings, the video file's sha256 and the
    sample times (:meth:`VideoEncoder.video_store_key`); a complete entry is returned
    without decoding or a forward pass; an error mid-way leaves no entry.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_batch_size,
    check_layer_indices,
    content_sha256,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.features import Features
from brainalign.encoders.loading import load_model
from brainalign.encoders.sinks import Sink, collect, load_stored
from brainalign.encoders.video_io import (
    TIME_TOLERANCE,
    VideoInfo,
    check_times,
    clip_frame_times,
    iter_clips,
    probe_video,
)

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "FRAME_MODEL_TYPES",
    "HEAD_REFUSALS",
    "VIDEO_FAMILIES",
    "VIDEO_HEAD_FAMILIES",
    "VideoEncoder",
    "tr_grid",
]

VideoPooling = Literal["cls", "mean"]

#: ``model_type`` of each supported video family -> tokens before its patch tokens
#: (1: a CLS token; 0: none).
VIDEO_FAMILIES: dict[str, int] = {
    "videomae": 0,
    "timesformer": 1,
    "vivit": 1,
    "xclip_vision_model": 1,
}

#: Families whose model encodes each frame as an image (input (n_clips * n_frames, 3,
#: H, W), hidden states per frame): a clip's vector is the mean over its frames.
FRAME_MODEL_TYPES = frozenset({"xclip_vision_model"})

#: Families with per-head and per-block capture (``heads=``/``blocks=``).
VIDEO_HEAD_FAMILIES: tuple[str, ...] = ("videomae", "timesformer", "vivit", "xclip_vision_model")

#: Families captured by their own class rather than the hooks registry.
_OWN_CAPTURE = frozenset({"timesformer"})

#: Why ``heads=``/``blocks=`` are refused for a video family (none is, today; a family
#: added without per-head capture says why here).
HEAD_REFUSALS: dict[str, str] = {}


def tr_grid(
    tr: float,
    duration: float,
    *,
    start: float = 0.0,
    at: Literal["onset", "middle"] = "onset",
) -> np.ndarray:
    """Sample times of fMRI volumes on a video's clock: one per TR within the video.

    Parameters
    ----------
    tr : float
        Repetition time, seconds.
    duration : float
        The video's duration, seconds (``probe_video(path).duration``).
    start : float
        Video time (seconds) at which the first volume starts.
    at : {"onset", "middle"}
        ``"onset"``: the start of each volume (``start + i * tr``, where
        :attr:`~brainalign.datasets.recording.Recording.sample_times` puts them);
        ``"middle"``: its middle (``start + (i + 0.5) * tr``).

    Returns
    -------
    numpy.ndarray, shape (n_volumes,), float64
        Every such time within ``[0, duration]``, increasing.

    Raises
    ------
    ValueError
        For a non-positive ``tr`` or ``duration``, a negative ``start``, another ``at``,
        or no volume within the video.
    """
    if not np.isfinite(tr) or tr <= 0:
        raise ValueError(f"tr={tr!r}; it must be a positive number of seconds")
    if not np.isfinite(duration) or duration <= 0:
        raise ValueError(f"duration={duration!r}; it must be a positive number of seconds")
    if not np.isfinite(start) or start < 0:
        raise ValueError(f"start={start!r}; it must be a number of seconds >= 0")
    if at not in ("onset", "middle"):
        raise ValueError(f"at={at!r}; use 'onset' or 'middle'")
    first = start + (0.5 * tr if at == "middle" else 0.0)
    n_volumes = int(np.floor((duration - first) / tr + TIME_TOLERANCE)) + 1
    if n_volumes < 1:
        raise ValueError(
            f"no volume of TR {tr} s starting at {start} s lies within the video's "
            f"{duration} s; check tr and start"
        )
    return first + tr * np.arange(n_volumes)


def _numpy(pooled: Any) -> np.ndarray:
    """A pooled tensor as a float32 numpy array on the CPU."""
    return pooled.float().cpu().numpy().astype(np.float32, copy=False)


class VideoEncoder(LoadedModelAccess):
    """Pooled hidden states of every layer of a video model, one row per clip.

    Parameters
    ----------
    model : str or path-like
        Hugging Face hub id or local directory of a VideoMAE, TimeSformer, ViViT or X-CLIP
        model (:data:`VIDEO_FAMILIES`; X-CLIP: its vision tower only). Loaded with
        :func:`~brainalign.encoders.loading.load_model` (``modality="video"``);
        ``MODEL@untrained`` works as everywhere.
    weights : {"pretrained", "untrained"}
        ``"untrained"``: random weights from the model's own initialisation under
        ``torch.manual_seed(seed)``.
    seed : int
        Seed of the untrained weights.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; features are always float32.
    batch_size : int
        Clips per forward pass.
    pooling : {"cls", "mean"}, optional
        See the module docstring. Default: ``"cls"`` for families with a CLS token,
        ``"mean"`` for VideoMAE.
    frame_rate : float, optional
        Frames per second within a clip. Default: the video's native rate (consecutive
        frames). VideoMAE's Kinetics checkpoints, for instance, saw every 4th frame of
        30 fps video: ``frame_rate=7.5``.
    processor : callable, optional
        Video or image processor to use instead of the model's own (see the module
        docstring). Needed when the model directory has no processor config.
    progress : bool or str
        Progress bar over batches (on a terminal only), named by the string if given.

    Attributes
    ----------
    model_id : str
        The model as given.
    model_type : str
        ``config.model_type`` of the (tower) model.
    n_layers : int
        Hidden states per clip (blocks + 1).
    n_frames : int
        Frames per clip (``config.num_frames``).

    Raises
    ------
    ModelLoadError
        If the model or its processor cannot be found or loaded.
    ValueError
        For another model family (the message lists the supported ones), ``"cls"``
        pooling for VideoMAE, or out-of-range settings.
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
        pooling: VideoPooling | None = None,
        frame_rate: float | None = None,
        processor: Any = None,
        progress: bool | str = True,
    ) -> None:
        if pooling not in (None, "cls", "mean"):
            raise ValueError(f"pooling={pooling!r}; use 'cls', 'mean' or None (the default)")
        check_batch_size(batch_size)
        if frame_rate is not None and (
            isinstance(frame_rate, bool) or not np.isfinite(frame_rate) or frame_rate <= 0
        ):
            raise ValueError(f"frame_rate={frame_rate!r}; give a positive number of Hz or None")
        loaded = load_model(
            model,
            modality="video",
            weights=weights,
            seed=seed,
            device=device,
            dtype=dtype,
            preprocessor=processor,
        )
        self.model_id = os.fspath(model)
        self.model_type = loaded.provenance["model_type"]
        if self.model_type not in VIDEO_FAMILIES:
            raise ValueError(
                f"model {self.model_id!r} has model_type {self.model_type!r}, which the video "
                f"encoder does not support; supported: {', '.join(sorted(VIDEO_FAMILIES))}"
            )
        n_prefix = VIDEO_FAMILIES[self.model_type]
        pooling = pooling or ("cls" if n_prefix else "mean")
        if pooling == "cls" and not n_prefix:
            raise ValueError(
                f"pooling='cls' needs a CLS token, but {self.model_id!r} ({self.model_type}) "
                "has none; use pooling='mean' (the default for it)"
            )
        n_frames = getattr(loaded.config, "num_frames", None)
        if not isinstance(n_frames, int) or n_frames < 1 or loaded.n_layers is None:
            raise ValueError(
                f"the config of {self.model_id!r} states num_frames={n_frames!r} and "
                f"{loaded.n_layers} hidden states; a video model's config needs both"
            )
        self._model = loaded.model
        self._processor = loaded.preprocessor
        self._provenance = loaded.provenance
        self.source = loaded.source
        self.n_layers: int = loaded.n_layers
        self.n_frames: int = n_frames
        self._n_prefix = n_prefix
        self.weights = weights
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.pooling: str = pooling
        self.frame_rate = None if frame_rate is None else float(frame_rate)
        self.progress = progress

    @property
    def processor(self) -> Any:
        """The video or image processor (or the callable given as ``processor=``)."""
        return self._processor

    def __repr__(self) -> str:
        return f"VideoEncoder({self.model_id!r}, {self.weights}, pooling={self.pooling!r})"

    # ----------------------------------------------------------------- public

    def video_store_key(
        self,
        video: str | os.PathLike,
        *,
        times: Sequence[float] | np.ndarray | None = None,
        tr: float | None = None,
        layers: Sequence[int] | None = None,
        video_id: str | None = None,
        heads: bool = False,
        blocks: bool = False,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`encode_video` with the same arguments.

        :meth:`encode_video` builds it itself (``store=`` only); this is for inspecting
        the entry. It hashes the video file (sha256 of its bytes).

        Returns
        -------
        dict
            :func:`~brainalign.encoders.store.feature_key` of the model id, weights
            (kind, weight sha256 or seed, revision, config sha256, tower), layers,
            pooling, the clip layout (frames, frame rate, centring, clamping, frame
            pooling), the processor's configuration, dtype, captures, and the
            :func:`~brainalign.encoders.store.stimulus_hash` of the table
            ``{"stimulus_id": video id per clip, "image": the file's sha256 per clip,
            "onset": sample times}``.
        """
        info = probe_video(video)
        centres = self._sample_times(info, times, tr)
        layer_ids = check_layer_indices(layers, self.n_layers, self.model_id)
        ident = video_id if video_id is not None else info.path.stem
        frame_rate = self.frame_rate or info.fps
        return self._key(
            content_sha256(info.path), ident, centres, layer_ids, frame_rate, heads, blocks
        )

    def encode_video(
        self,
        video: str | os.PathLike,
        *,
        times: Sequence[float] | np.ndarray | None = None,
        tr: float | None = None,
        layers: Sequence[int] | None = None,
        video_id: str | None = None,
        heads: bool = False,
        blocks: bool = False,
        store: FeatureStore | None = None,
    ) -> Features:
        """Encode the clips of a video centred on sample times, one row per time.

        Parameters
        ----------
        video : str or path-like
            A video file PyAV (FFmpeg) reads; its first video stream is used.
        times : array-like of float, shape (n_clips,), optional
            Sample times in seconds on the video's clock (0 = its first frame), each
            within ``[0, duration]``, in any order: the centre of each clip.
        tr : float, optional
            Instead of ``times``: one clip per fMRI volume, centred on each volume's
            onset ``0, tr, 2 tr, ...`` within the video (:func:`tr_grid`; use it
            directly for another start or the volumes' middles).
        layers : sequence of int, optional
            Hidden-state indices to keep (0 = embedding output). Default: all.
        video_id : str, optional
            The stimulus id of every row. Default: the file's stem.
        heads : bool
            VideoMAE, TimeSformer, ViViT and X-CLIP (:data:`VIDEO_HEAD_FAMILIES`). Also
            return ``"L.heads"``, shape (n_clips, n_heads, d_head), for every requested
            layer ``L >= 1``: each head's output before the attention output projection,
            pooled over tokens like the hidden states (TimeSformer: the spatial heads,
            plus ``"L.temporal_heads"`` with ``pooling="mean"``; see the module
            docstring).
        blocks : bool
            Same families. Also return ``"L.attention"`` and ``"L.mlp"``,
            (n_clips, d_model), the attention and MLP block outputs before the residual
            sum, pooled the same way.
        store : FeatureStore, optional
            Stream each batch's rows into the store entry of :meth:`video_store_key` of
            the same arguments; a complete entry is returned without decoding or a
            forward pass. An error mid-way leaves no entry.

        Returns
        -------
        Features
            ``layers`` maps ``str(index)`` (then ``"L.attention"``, ``"L.mlp"``,
            ``"L.heads"``, ``"L.temporal_heads"``) to float32 arrays with one row per
            sample time, in the order given; ``onsets`` are the sample times (s),
            ``stimulus_ids`` the video id. With a store, the entry read back
            memory-mapped.

        Raises
        ------
        FileNotFoundError
            If the video does not exist.
        UnreadableVideoError
            If PyAV cannot open or decode it (naming the file and PyAV's message).
        VideoTimeError
            For a sample time outside ``[0, duration]`` (naming the time and the
            duration), or no times.
        ValueError
            For both or neither of ``times`` and ``tr``, layers out of range, or
            ``heads``/``blocks`` for a family without per-head capture
            (:class:`~brainalign.encoders.heads.UnsupportedArchitectureError`, listing
            the supported families).
        FeatureStoreError
            If the store cannot be written or holds a conflicting entry.
        """
        heads, blocks = bool(heads), bool(blocks)
        if heads or blocks:
            self._check_capture_support()
        info = probe_video(video)
        centres = self._sample_times(info, times, tr)
        layer_ids = check_layer_indices(layers, self.n_layers, self.model_id)
        ident = video_id if video_id is not None else info.path.stem
        frame_rate = self.frame_rate or info.fps
        sha256 = content_sha256(info.path)
        key = None
        if store is not None:
            key = self._key(sha256, ident, centres, layer_ids, frame_rate, heads, blocks)
        found = load_stored(store, key)
        if found is not None:
            return found

        clip_times = clip_frame_times(centres, self.n_frames, frame_rate)
        capture = self._layer_capture(layer_ids, heads=heads, blocks=blocks)
        provenance = self._provenance_of(info, sha256, ident, clip_times, frame_rate)
        if heads and self.model_type == "timesformer":
            provenance["temporal_heads"] = self._temporal_heads_note()

        def fill(sink: Sink) -> None:
            self._run(info, clip_times, layer_ids, capture, sink, provenance)

        ids = np.full(len(centres), ident, dtype=object).astype(str)
        return collect(fill, len(centres), ids, centres, provenance, store, key)

    extract = encode_video

    # ----------------------------------------------------------------- running

    def _run(
        self,
        info: VideoInfo,
        clip_times: np.ndarray,
        layer_ids: list[int],
        capture: Any,
        sink: Sink,
        provenance: dict[str, Any],
    ) -> None:
        """Decode the clips, run them in batches, pool and hand each batch to ``sink``."""
        import torch

        with thread_limit(), torch.inference_mode(), capture or contextlib.nullcontext():
            for rows, clips in self._batches(info, clip_times):
                pixel_values = self._preprocess(clips)
                provenance["pixel_size"] = list(pixel_values.shape[-2:])
                hidden_states = self._forward(pixel_values)
                pooled = {
                    str(layer): _numpy(self._pool(hidden_states[layer])) for layer in layer_ids
                }
                if capture is not None:
                    pooled.update(self._pool_captures(capture))
                sink.write(np.asarray(rows), pooled)

    def _batches(
        self, info: VideoInfo, clip_times: np.ndarray
    ) -> Iterator[tuple[list[int], list[np.ndarray]]]:
        """Batches of decoded clips (rows, frames), as the decoder completes them."""
        n_batches = -(-len(clip_times) // self.batch_size)
        name = f"encoding {info.path.name} ({self.model_id})"
        clips = iter_clips(info.path, clip_times, info=info)
        for _ in progress_bar(range(n_batches), self.progress, name):
            rows, frames = [], []
            for index, clip in clips:
                rows.append(index)
                frames.append(clip)
                if len(rows) == self.batch_size:
                    break
            if rows:
                yield rows, frames

    def _preprocess(self, clips: list[np.ndarray]) -> Any:
        """``pixel_values`` (n_clips, n_frames, 3, H, W) from the processor."""
        import torch
        from transformers.video_processing_utils import BaseVideoProcessor

        try:
            if isinstance(self._processor, BaseVideoProcessor):
                output = self._processor(videos=list(clips), return_tensors="pt")
            else:
                output = self._processor([list(clip) for clip in clips], return_tensors="pt")
            pixel_values = torch.as_tensor(output["pixel_values"])
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"the processor {type(self._processor).__name__} did not return pixel_values "
                f"for a batch of clips ({error}); pass a video processor (or a video image "
                f"processor such as VideoMAEImageProcessor) for {self.model_id!r}"
            ) from error
        expected = (len(clips), self.n_frames, 3)
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[:3]) != expected:
            raise ValueError(
                f"the processor {type(self._processor).__name__} returned pixel_values of "
                f"shape {tuple(pixel_values.shape)}; {self.model_id!r} needs (n_clips, "
                f"num_frames={self.n_frames}, 3, height, width)"
            )
        return pixel_values

    def _forward(self, pixel_values: Any) -> tuple[Any, ...]:
        """All hidden states of one batch (per frame for :data:`FRAME_MODEL_TYPES`)."""
        model_dtype = next(self._model.parameters()).dtype
        if self.model_type in FRAME_MODEL_TYPES:
            pixel_values = pixel_values.flatten(0, 1)  # (n_clips * n_frames, 3, H, W)
        output = self._model(
            pixel_values=pixel_values.to(device=self.device, dtype=model_dtype),
            output_hidden_states=True,
        )
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is None or len(hidden_states) != self.n_layers:
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected "
                f"{self.n_layers} (blocks + 1)"
            )
        return hidden_states

    def _pool(self, hidden: Any) -> Any:
        """(n, n_tokens, *channels) -> (n_clips, *channels): CLS or patch mean, then
        the mean over frames for per-frame models."""
        hidden = hidden.float()
        pooled = hidden[:, 0] if self.pooling == "cls" else hidden[:, self._n_prefix :].mean(1)
        if self.model_type in FRAME_MODEL_TYPES:
            pooled = pooled.unflatten(0, (-1, self.n_frames)).mean(1)
        return pooled

    def _pool_captures(self, capture: Any) -> dict[str, np.ndarray]:
        """Pooled ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"`` of one batch."""
        pooled: dict[str, np.ndarray] = {}
        for block in capture.layers:
            layer = block + 1
            if capture.store_blocks:
                attention = self._layer_tokens(capture.attention_output[block])
                pooled[f"{layer}.attention"] = _numpy(self._pool(attention))
                pooled[f"{layer}.mlp"] = _numpy(self._pool(capture.mlp_output[block]))
            if capture.store_heads:
                per_head = self._layer_tokens(capture.heads[block])  # (n, tokens, heads, d)
                pooled[f"{layer}.heads"] = _numpy(self._pool(per_head))
                temporal = getattr(capture, "temporal_heads", {}).get(block)
                if temporal is not None and self.pooling == "mean":
                    # (n_clips, n_patch_tokens, n_heads, d_head): patch tokens only
                    pooled[f"{layer}.temporal_heads"] = _numpy(temporal.float().mean(1))
        return pooled

    def _layer_tokens(self, captured: Any) -> Any:
        """The layer's own tokens of a captured attention array: X-CLIP's attention also
        runs over an appended message token, which is not a token of the layer."""
        if self.model_type not in FRAME_MODEL_TYPES:
            return captured
        config = self._model.config
        n_tokens = (config.image_size // config.patch_size) ** 2 + 1
        return captured[:, :n_tokens]

    def _temporal_heads_note(self) -> str:
        """What ``provenance["temporal_heads"]`` says for TimeSformer with ``heads=True``."""
        if self.pooling == "mean":
            return (
                "'L.temporal_heads': each temporal head's output (before "
                "temporal_attention.output.dense), mean over the patch tokens"
            )
        return (
            "left out: the CLS token has no temporal attention, so pooling='cls' has "
            "nothing to pool; use pooling='mean' for 'L.temporal_heads'"
        )

    # ----------------------------------------------------------------- checks

    def _check_capture_support(self) -> None:
        """Refuse ``heads``/``blocks`` for families without per-head capture, early."""
        from brainalign.encoders.heads import (
            UnsupportedArchitectureError,
            architecture_spec,
            supported_architectures,
        )

        registered = set(supported_architectures()) | _OWN_CAPTURE
        supported = ", ".join(f for f in VIDEO_HEAD_FAMILIES if f in registered) or "none"
        reason = HEAD_REFUSALS.get(self.model_type)
        if reason is not None:
            raise UnsupportedArchitectureError(
                f"heads=True or blocks=True is not supported for {self.model_id!r} "
                f"({self.model_type}): {reason}. Video families with per-head capture: "
                f"{supported}; use heads=False and blocks=False for this model"
            )
        if self.model_type == "timesformer":
            from brainalign.encoders.timesformer_heads import check_divided_space_time

            check_divided_space_time(self._model.config, self.model_id)
            return
        try:
            architecture_spec(self._model)
        except UnsupportedArchitectureError as error:
            raise UnsupportedArchitectureError(
                f"heads=True or blocks=True: {error}\nVideo families with per-head capture: "
                f"{supported}"
            ) from error

    def _layer_capture(self, layer_ids: list[int], *, heads: bool, blocks: bool) -> Any:
        """Hooks on the blocks of the requested layers ``L >= 1``, or None."""
        if not (heads or blocks):
            return None
        from brainalign.encoders.heads import LayerCapture

        captured = [layer - 1 for layer in layer_ids if layer >= 1]
        if not captured:  # only the embedding output: no block to capture
            return None
        if self.model_type == "timesformer":
            from brainalign.encoders.timesformer_heads import TimesformerCapture

            return TimesformerCapture(self._model, captured, heads=heads, blocks=blocks)
        return LayerCapture(self._model, captured, heads=heads, blocks=blocks)

    def _sample_times(self, info: VideoInfo, times: Any, tr: float | None) -> np.ndarray:
        """Checked sample times from ``times=`` or ``tr=`` (exactly one)."""
        if (times is None) == (tr is None):
            raise ValueError(
                "give exactly one of times= (sample times in seconds) and tr= (a TR grid "
                "over the whole video)"
            )
        if tr is not None:
            times = tr_grid(tr, info.duration)
        return check_times(times, info, "sample time")

    # ----------------------------------------------------------------- provenance, keys

    def _provenance_of(
        self,
        info: VideoInfo,
        sha256: str,
        video_id: str,
        clip_times: np.ndarray,
        frame_rate: float,
    ) -> dict[str, Any]:
        before = clip_times < -TIME_TOLERANCE
        after = clip_times >= info.duration - TIME_TOLERANCE
        clamped = before | after
        processor = self._processor
        return {
            "model": self.model_id,
            **self._provenance,
            "pooling": self.pooling,
            "frame_pooling": (
                "mean over the clip's frames of the per-frame pooled tokens"
                if self.model_type in FRAME_MODEL_TYPES
                else None
            ),
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "video": str(info.path),
            "video_sha256": sha256,
            "video_id": video_id,
            "duration_s": info.duration,
            "native_fps": info.fps,
            "frame_size": [info.height, info.width],
            "n_clips": len(clip_times),
            "n_frames": self.n_frames,
            "frame_rate": frame_rate,
            "clip_span_s": (self.n_frames - 1) / frame_rate,
            "onsets": "the centre (sample time) of each clip, seconds",
            "frame_sampling": "the latest decoded frame at or before each frame time",
            "clamping": "frames before 0 s repeat the first frame, after the end the last",
            "n_clamped_frames": int(clamped.sum()),
            "clamped_clips": np.flatnonzero(clamped.any(axis=1)).tolist(),
            "processor": type(processor).__name__,
            "processor_config": processor.to_dict() if hasattr(processor, "to_dict") else None,
            "pixel_size": None,  # set by the first batch
        }

    def _key(
        self,
        sha256: str,
        video_id: str,
        centres: np.ndarray,
        layer_ids: list[int],
        frame_rate: float,
        heads: bool,
        blocks: bool,
    ) -> dict[str, Any]:
        from brainalign.encoders.store import (
            feature_key,
            json_sha256,
            stimulus_hash,
            weights_fingerprint,
        )

        processor = self._processor
        processor_config = processor.to_dict() if hasattr(processor, "to_dict") else None
        context = {
            "mode": "video-clips",
            "n_frames": self.n_frames,
            "frame_rate": float(frame_rate),
            "centred": True,
            "frame_sampling": "at-or-before",
            "clamping": "repeat-first-last",
            "frame_pooling": "mean" if self.model_type in FRAME_MODEL_TYPES else None,
            "processor": type(processor).__name__,
            "processor_sha256": json_sha256(processor_config),
        }
        n_clips = len(centres)
        table = {
            "stimulus_id": [str(video_id)] * n_clips,
            "image": [sha256] * n_clips,
            "onset": centres.tolist(),
        }
        captures = {"heads": bool(heads), "blocks": bool(blocks)}
        return feature_key(
            model=self.model_id,
            weights=weights_fingerprint(
                self._provenance, self._model.config, tower=self._provenance.get("tower")
            ),
            tokenizer=None,
            layers=[str(layer) for layer in layer_ids],
            pooling=self.pooling,
            context=context,
            dtype=self.dtype,
            stimuli=stimulus_hash(table),
            extra={"capture": captures} if any(captures.values()) else None,
        )
