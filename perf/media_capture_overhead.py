"""What capturing every layer and head costs for audio and video models.

Issue 15 speed goal: capturing all layers and heads (``LayerCapture(heads=True,
blocks=True)``) costs at most 25 % more than a bare forward pass with
``output_hidden_states=True``, as for text (``perf/capture_overhead.py``).

Three random-weight models of base-like width are built here (no download):

- Wav2Vec2 (6 blocks, 768 dims, 12 heads) on batches of 10 s of 16 kHz audio;
- Whisper's encoder (6 blocks, 512 dims, 8 heads) on 30 s log-mel inputs (80 bins);
- VideoMAE (6 blocks, 768 dims, 12 heads, 16 frames of 224 px, tubelets 2 x 16 x 16).

Each arm runs the same fixed random inputs under ``torch.inference_mode()``, best of
``--repeats`` after a warm-up, arms interleaved within each repeat (``best_of`` of
perf/capture_overhead.py); each batch's outputs are held until the next batch, as the
encoders hold them while pooling. Run ``python perf/media_capture_overhead.py`` (about
3 minutes on 2 CPU cores); ``--device cuda`` runs on a GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_overhead import _syncer, best_of, report  # noqa: E402

GOALS = {"LayerCapture heads+blocks": 0.25}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def build(name: str):
    """(model, batches) of one family, random weights, fixed random inputs."""
    import torch
    import transformers as tf

    generator = torch.Generator().manual_seed(0)
    if name == "wav2vec2":
        config = tf.Wav2Vec2Config(
            hidden_size=768, num_hidden_layers=6, num_attention_heads=12, intermediate_size=3072
        )
        model = tf.Wav2Vec2Model(config)
        inputs = [{"input_values": torch.randn(2, 160_000, generator=generator)}]
    elif name == "whisper":
        config = tf.WhisperConfig(
            d_model=512,
            encoder_layers=6,
            decoder_layers=1,
            encoder_attention_heads=8,
            decoder_attention_heads=8,
            encoder_ffn_dim=2048,
            decoder_ffn_dim=2048,
            num_mel_bins=80,
        )
        model = tf.WhisperModel(config).get_encoder()
        inputs = [{"input_features": torch.randn(2, 80, 3000, generator=generator)}]
    elif name == "videomae":
        config = tf.VideoMAEConfig(
            hidden_size=768, num_hidden_layers=6, num_attention_heads=12, intermediate_size=3072
        )
        model = tf.VideoMAEModel(config)
        inputs = [{"pixel_values": torch.randn(1, 16, 3, 224, 224, generator=generator)}]
    else:
        raise SystemExit(f"unknown model {name!r}; use wav2vec2, whisper and/or videomae")
    return model.eval(), inputs


def arms(model, batches: list[dict], device: str) -> dict[str, Callable[[], None]]:
    import torch

    from brainalign.encoders.heads import LayerCapture

    model = model.to(device)
    batches = [{key: value.to(device) for key, value in batch.items()} for batch in batches]

    def loop(**capture) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                if capture:
                    with LayerCapture(model, **capture) as hooked:
                        for batch in batches:
                            hidden = model(**batch, output_hidden_states=True).hidden_states
                            kept = (hidden, hooked.heads, hooked.mlp_output)
                else:
                    for batch in batches:
                        kept = model(**batch, output_hidden_states=True).hidden_states
            del kept

        return run

    return {
        "bare": loop(),
        "LayerCapture blocks": loop(heads=False, blocks=True),
        "LayerCapture heads": loop(heads=True, blocks=False),
        "LayerCapture heads+blocks": loop(heads=True, blocks=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--models", default="wav2vec2,whisper,videomae")
    args = parser.parse_args()

    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"best of {args.repeats}, {args.clock} clock"
    )
    for name in args.models.split(","):
        torch.manual_seed(0)
        model, batches = build(name)
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batches[0].items())
        print(f"\n{name}: {model.config.model_type}, {shapes}")
        times = best_of(
            arms(model, batches, args.device),
            args.repeats,
            _syncer(args.device),
            CLOCKS[args.clock],
        )
        report("bare forward vs LayerCapture", times, GOALS)


if __name__ == "__main__":
    main()
