"""Video feature extraction: throughput, streamed decoding, and memory against video length.

Three measurements, each against the naive alternative in the same run:

decoding (no model)
    Clips of 16 frames (every 4th frame, VideoMAE's sampling) centred on every TR
    (2 s) of a 1-minute video: ``video_io.iter_clips`` (one forward pass over the stream,
    only the frames of the clips in progress held) against the recipe of the
    transformers video examples (``read_video_pyav``: for each clip, seek to the start
    and decode forward to its last frame).
throughput
    A ViT-base-sized VideoMAE with random weights (768 dims, 12 blocks, 12 heads,
    224 x 224 pixels, 16 frames, tubelets of 2: 1568 tokens per clip) through
    ``VideoEncoder.encode_video`` (decoding, preprocessing, every layer pooled) against
    a bare ``model(pixel_values, output_hidden_states=True)`` loop over the same clips
    preprocessed beforehand: frames per second of each, and the ratio. On 2 CPU cores a
    clip takes seconds, so only ``--clips`` clips are timed.
peak memory against video length
    Peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, each arm in its own
    subprocess) of extracting a small VideoMAE (64 dims, 2 blocks, 64 x 64 pixels, 16
    frames) at every TR (2 s) from a 1-minute and a 10-minute video, streamed into a
    feature store, against the naive route that decodes the whole video into one array
    first and cuts the clips from it.

The videos are the real clip tests/data/video/bikes.mp4 (10 s, 640 x 272, 25 fps)
decoded once, halved to 320 x 136 (so the naive arm of the 10-minute video fits in
about 2 GB) and looped, re-encoded with PyAV (H.264, ultrafast) into temporary files.

Run ``python perf/video_extraction.py`` (about 4 minutes on 2 CPU cores, most of it
the naive arm of the 10-minute video and the ViT-base clips).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

BIKES = Path(__file__).resolve().parents[1] / "tests" / "data" / "video" / "bikes.mp4"
WIDTH, HEIGHT, FPS = 320, 136, 25
TR, N_FRAMES, STEP = 2.0, 16, 4  # clips: 16 frames, every 4th frame, one per TR


# --------------------------------------------------------------------------- inputs


def make_video(path: Path, seconds: int) -> Path:
    """bikes.mp4 at 320 x 136, looped to ``seconds`` s, re-encoded with PyAV (H.264)."""
    import av

    with av.open(str(BIKES)) as source:
        frames = [
            frame.reformat(width=WIDTH, height=HEIGHT).to_ndarray(format="rgb24")
            for frame in source.decode(video=0)
        ]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(seconds * FPS):
            image = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            for packet in stream.encode(image):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def save_videomae(directory: Path, *, base: bool) -> Path:
    """Config and processor of a VideoMAE (weights drawn at load: ``untrained``)."""
    import transformers as tf

    if base:  # ViT-base: 768 dims, 12 blocks, 12 heads, 224 px, 16 frames
        config = tf.VideoMAEConfig()
        size = 224
    else:
        config = tf.VideoMAEConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            image_size=64,
            patch_size=16,
        )
        size = 64
    config.save_pretrained(directory)
    tf.VideoMAEImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    ).save_pretrained(directory)
    return directory


def clip_frame_indices(n_clips: int) -> np.ndarray:
    """Frame indices of the clips centred on every TR, clamped (as video_io picks them)."""
    from brainalign.encoders.video_io import clip_frame_times

    times = clip_frame_times(np.arange(n_clips) * TR, N_FRAMES, FPS / STEP)
    return np.floor(times * FPS + 1e-6).astype(int)


# --------------------------------------------------------------------------- decoding


def naive_clip(path: Path, indices: np.ndarray) -> np.ndarray:
    """transformers' ``read_video_pyav``: seek to 0, decode forward to the clip's end."""
    import av

    wanted = set(np.clip(indices, 0, None).tolist())
    kept = {}
    with av.open(str(path)) as container:
        container.seek(0)
        for index, frame in enumerate(container.decode(video=0)):
            if index > indices.max():
                break
            if index in wanted:
                kept[index] = frame.to_ndarray(format="rgb24")
    last = max(kept)
    return np.stack([kept[min(max(int(i), 0), last)] for i in indices])


def time_decoding(path: Path, n_clips: int) -> None:
    from brainalign.encoders.video_io import clip_frame_times, iter_clips

    times = clip_frame_times(np.arange(n_clips) * TR, N_FRAMES, FPS / STEP)
    start = time.perf_counter()
    streamed = dict(iter_clips(path, times))
    t_streamed = time.perf_counter() - start
    start = time.perf_counter()
    naive = [naive_clip(path, row) for row in clip_frame_indices(n_clips)]
    t_naive = time.perf_counter() - start
    same = all(np.array_equal(streamed[i], naive[i]) for i in range(n_clips))
    print(
        f"decoding {n_clips} clips of {N_FRAMES} frames (1-min video): streamed "
        f"{t_streamed:.2f} s, per-clip decode from the start {t_naive:.2f} s: "
        f"{t_naive / t_streamed:.1f}x faster; same frames: {same}"
    )


# --------------------------------------------------------------------------- throughput


def time_throughput(path: Path, model_dir: Path, n_clips: int) -> None:
    import torch

    from brainalign.encoders.video import VideoEncoder

    encoder = VideoEncoder(
        model_dir, weights="untrained", batch_size=1, frame_rate=FPS / STEP, progress=False
    )
    times = np.arange(1, n_clips + 1) * TR
    from brainalign.encoders.video_io import clip_frame_times, iter_clips

    clips = [clip for _, clip in iter_clips(path, clip_frame_times(times, N_FRAMES, FPS / STEP))]
    pixels = [encoder._preprocess([clip]) for clip in clips]
    with torch.inference_mode():  # warm-up
        encoder.model(pixel_values=pixels[0], output_hidden_states=True)
    start = time.perf_counter()
    with torch.inference_mode():
        for pixel_values in pixels:
            encoder.model(pixel_values=pixel_values, output_hidden_states=True)
    t_bare = time.perf_counter() - start
    start = time.perf_counter()
    encoder.encode_video(path, times=times)
    t_encoder = time.perf_counter() - start
    n_frames = n_clips * N_FRAMES
    print(
        f"ViT-base VideoMAE (1568 tokens/clip), {n_clips} clips on {torch.get_num_threads()} "
        f"threads: encode_video {n_frames / t_encoder:.2f} frames/s "
        f"({t_encoder / n_clips:.2f} s/clip), bare forward loop {n_frames / t_bare:.2f} "
        f"frames/s ({t_bare / n_clips:.2f} s/clip): encode_video / bare = "
        f"{t_encoder / t_bare:.2f}"
    )


# --------------------------------------------------------------------------- memory


def child(arm: str, path: Path, model_dir: Path, store_dir: Path) -> None:
    """One arm, in its own process: print the peak RSS in MB."""
    import resource

    import torch

    from brainalign.encoders.store import FeatureStore
    from brainalign.encoders.video import VideoEncoder
    from brainalign.encoders.video_io import probe_video

    encoder = VideoEncoder(
        model_dir, weights="untrained", batch_size=8, frame_rate=FPS / STEP, progress=False
    )
    info = probe_video(path)
    start = time.perf_counter()
    if arm == "streamed":
        features = encoder.encode_video(path, tr=TR, store=FeatureStore(store_dir))
        n_clips = features.n_items
    else:  # naive: the whole video decoded into one array, clips cut from it
        import av

        with av.open(str(path)) as container:
            video = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        n_clips = int(info.duration // TR) + 1
        indices = np.clip(clip_frame_indices(n_clips), 0, len(video) - 1)
        with torch.inference_mode():
            for first in range(0, n_clips, 8):
                batch = [video[row] for row in indices[first : first + 8]]
                encoder.model(pixel_values=encoder._preprocess(batch), output_hidden_states=True)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak_mb:.0f} {n_clips} {seconds:.1f}")


def measure_memory(videos: dict[str, Path], model_dir: Path, work: Path) -> None:
    results = {}
    for arm in ("streamed", "naive"):
        for name, path in videos.items():
            store = work / f"store-{arm}-{name}"
            command = [sys.executable, __file__, "--child", arm, str(path), str(model_dir)]
            done = subprocess.run(
                [*command, str(store)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{arm} {name} failed:\n{done.stderr[-3000:]}")
            peak, n_clips, seconds = done.stdout.split()[-3:]
            results[arm, name] = float(peak)
            print(
                f"peak RSS, {arm:8s} {name} video ({n_clips} clips, {seconds} s): "
                f"{float(peak):.0f} MB"
            )
    for arm in ("streamed", "naive"):
        ratio = results[arm, "10-min"] / results[arm, "1-min"]
        print(f"{arm}: peak RSS 10-min / 1-min = {ratio:.2f}")
    print(
        "10-min video, naive / streamed peak RSS = "
        f"{results['naive', '10-min'] / results['streamed', '10-min']:.1f}x"
    )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2, help="ViT-base clips to time")
    parser.add_argument("--child", nargs=4, metavar=("ARM", "VIDEO", "MODEL", "STORE"))
    args = parser.parse_args()
    if args.child:
        arm, video, model, store = args.child
        child(arm, Path(video), Path(model), Path(store))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        videos = {
            "1-min": make_video(work / "one_minute.mp4", 60),
            "10-min": make_video(work / "ten_minutes.mp4", 600),
        }
        print(
            f"videos built in {time.perf_counter() - start:.1f} s ({WIDTH} x {HEIGHT}, {FPS} fps)"
        )
        time_decoding(videos["1-min"], 30)
        small = save_videomae(work / "small", base=False)
        measure_memory(videos, small, work)
        base = save_videomae(work / "base", base=True)
        time_throughput(videos["1-min"], base, args.clips)


if __name__ == "__main__":
    main()
