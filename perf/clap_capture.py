"""What CLAP (HTS-AT) per-head capture costs, against recomputing the heads after the pass.

:class:`~brainalign.encoders.clap_heads.ClapCapture` (heads, attention and MLP outputs
of the last Swin block of every stage, mapped back onto the stage's token map and
checked against the block's output on every pass) is timed against:

- ``bare``: a forward pass with ``output_hidden_states=True`` and nothing else;
- ``naive recompute``: the same pass with forward pre-hooks keeping each stage's last
  block input, then every such block's window attention run again from that input
  (LayerNorm, padding, cyclic shift, windows, the block's own ``attention.self`` with
  its shift mask) and its head outputs put back on the map -- what one would write
  without the capture: a second run of the attention per block.

A random-weight HTS-AT of the published size (``ClapAudioConfig()`` defaults: 96-dim
patch embedding, depths 2/2/6/2, 4/8/16/32 heads, 256 x 256 spec, window 8) is built
here (no download) and run on ``--batch`` random 10 s log-mel inputs (1001 x 64);
arms run interleaved under ``torch.inference_mode()``, best of ``--repeats`` after a
warm-up (``best_of`` of perf/capture_overhead.py). Run ``python perf/clap_capture.py``
(under a minute on 2 CPU cores); ``--device cuda`` runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_overhead import _syncer, best_of, report  # noqa: E402


def build(batch: int, device: str):
    """(model, input_features) with random weights and fixed random inputs."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    model = tf.ClapAudioModel(tf.ClapAudioConfig()).eval().to(device)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch, 1, 1001, 64, generator=generator).to(device)
    return model, features


def recompute(block, x, dims):
    """One Swin block's heads recomputed from its input, (batch, H, W, heads, d_head)."""
    import torch
    from transformers.models.clap.modeling_clap import window_partition

    from brainalign.encoders.clap_heads import windows_to_map

    height, width = dims
    batch, _, channels = x.shape
    window, shift = int(block.window_size), int(block.shift_size)
    grid = block.layernorm_before(x).view(batch, height, width, channels)
    grid, _ = block.maybe_pad(grid, height, width)
    if shift:
        grid = torch.roll(grid, shifts=(-shift, -shift), dims=(1, 2))
    windows = window_partition(grid, window).view(-1, window * window, channels)
    mask = block.get_attn_mask(grid.shape[1], grid.shape[2], dtype=x.dtype, device=x.device)
    heads = block.attention.self(windows, mask)[0]
    n_heads = block.attention.self.num_attention_heads
    return windows_to_map(heads, batch, height, width, window, shift).unflatten(-1, (n_heads, -1))


def arms(model, features) -> dict:
    import torch

    from brainalign.encoders.clap_heads import ClapCapture

    stages = model.audio_encoder.layers
    inputs = {"input_features": features, "is_longer": torch.zeros(len(features), 1).bool()}

    def bare():
        with torch.inference_mode():
            return model(**inputs, output_hidden_states=True)

    def capture():
        with ClapCapture(model, range(len(stages)), heads=True, blocks=True) as captured:
            bare()
        return captured.heads

    def naive():
        seen, handles = {}, []
        for s, stage in enumerate(stages):

            def keep(module, args, s=s):
                seen[s] = (args[0], tuple(args[1]))

            handles.append(stage.blocks[-1].register_forward_pre_hook(keep))
        try:
            bare()
        finally:
            for handle in handles:
                handle.remove()
        with torch.inference_mode():
            return [recompute(stages[s].blocks[-1], *seen[s]) for s in range(len(stages))]

    # same heads from both (the check that makes the timing a fair comparison)
    for got, expected in zip(capture().values(), naive(), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    return {"bare": bare, "ClapCapture": capture, "naive recompute": naive}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()

    import torch

    model, features = build(args.batch, args.device)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"best of {args.repeats}; HTS-AT (ClapAudioConfig defaults), input_features "
        f"{tuple(features.shape)}"
    )
    times = best_of(arms(model, features), args.repeats, _syncer(args.device))
    report("bare forward vs capture vs recomputing the heads", times)
    ratio = times["naive recompute"] / times["ClapCapture"]
    print(f"  naive recompute / ClapCapture: {ratio:.2f}x")


if __name__ == "__main__":
    main()
