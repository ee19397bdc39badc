"""What TimeSformer per-head capture costs, against recomputing the heads after the pass.

:class:`~brainalign.encoders.timesformer_heads.TimesformerCapture` (spatial and temporal
heads, attention and MLP outputs of every block, mapped onto the layer's tokens and
checked against the block's output on every pass) is timed against:

- ``bare``: a forward pass with ``output_hidden_states=True`` and nothing else;
- ``naive``: the same pass, then every block's temporal and spatial heads recomputed
  from ``hidden_states[L-1]`` with the block's own layernorms and q/k/v projections
  (what one would write without hooks: a second run of both attentions per block).

A random-weight TimeSformer of base width (768 dims, 12 heads, 3072 MLP) is built here
(no download), ``--blocks`` blocks, ``--frames`` frames of 224 px, ``--clips`` clips per
batch; arms run interleaved under ``torch.inference_mode()``, best of ``--repeats``
after a warm-up (``best_of`` of perf/capture_overhead.py). Run
``python perf/timesformer_capture.py`` (about a minute on 2 CPU cores); ``--device
cuda`` runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_overhead import _syncer, best_of, report  # noqa: E402


def build(blocks: int, frames: int, clips: int, device: str):
    """(model, pixel_values) with random weights and fixed random frames."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.TimesformerConfig(
        hidden_size=768,
        num_hidden_layers=blocks,
        num_attention_heads=12,
        intermediate_size=3072,
        num_frames=frames,
    )
    model = tf.TimesformerModel(config).eval().to(device)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(clips, frames, 3, 224, 224, generator=generator).to(device)
    return model, pixels


def _attend(qkv: Callable, x, n_heads: int):
    """Per-head softmax(q k^T / sqrt(d)) v of (n, tokens, d_model), (n, tokens, heads, d)."""
    import torch

    n, seq, width = x.shape
    q, k, v = qkv(x).reshape(n, seq, 3, n_heads, width // n_heads).permute(2, 0, 3, 1, 4)
    scale = (width // n_heads) ** -0.5
    return (torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v).transpose(1, 2)


def recompute(model, hidden_states) -> list:
    """Every block's (temporal, spatial) heads recomputed from its input hidden state."""
    import torch

    n_heads, n_frames = model.config.num_attention_heads, model.config.num_frames
    heads = []
    for block, h in zip(model.encoder.layer, hidden_states[:-1], strict=True):
        n, seq, width = h.shape
        n_patches = (seq - 1) // n_frames
        t_in = block.temporal_layernorm(h[:, 1:].reshape(n * n_patches, n_frames, width))
        temporal = _attend(block.temporal_attention.attention.qkv, t_in, n_heads)
        t_out = block.temporal_attention(t_in)[0].reshape(n, n_patches * n_frames, width)
        mid = h[:, 1:] + block.temporal_dense(t_out)
        per_frame = mid.reshape(n, n_patches, n_frames, width).transpose(1, 2)
        cls = h[:, :1].unsqueeze(1).expand(n, n_frames, 1, width)
        s_in = torch.cat((cls, per_frame), 2).flatten(0, 1)
        spatial = _attend(block.attention.attention.qkv, block.layernorm_before(s_in), n_heads)
        heads.append((temporal, spatial))
    return heads


def arms(model, pixels) -> dict[str, Callable[[], None]]:
    import torch

    from brainalign.encoders.timesformer_heads import TimesformerCapture

    layers = range(model.config.num_hidden_layers)

    def bare() -> None:
        with torch.inference_mode():
            model(pixel_values=pixels, output_hidden_states=True)

    def capture() -> None:
        with torch.inference_mode(), TimesformerCapture(model, layers, heads=True, blocks=True):
            model(pixel_values=pixels, output_hidden_states=True)

    def naive() -> None:
        with torch.inference_mode():
            hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states
            recompute(model, hidden)

    return {"bare": bare, "TimesformerCapture": capture, "naive recompute": naive}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--clips", type=int, default=1)
    args = parser.parse_args()

    import torch

    model, pixels = build(args.blocks, args.frames, args.clips, args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"best of {args.repeats}; TimeSformer {args.blocks} blocks x 768 dims, "
        f"pixel_values {tuple(pixels.shape)}"
    )
    times = best_of(arms(model, pixels), args.repeats, _syncer(args.device))
    report("bare forward vs capture vs recomputing the heads", times)
    ratio = times["naive recompute"] / times["TimesformerCapture"]
    print(f"  naive recompute / TimesformerCapture: {ratio:.2f}x")


if __name__ == "__main__":
    main()
