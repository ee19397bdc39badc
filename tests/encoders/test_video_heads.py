"""VideoEncoder heads=/blocks= against attention computed by hand (VideoMAE, ViViT).

Tiny random-weight models (16 dims, 4 heads of 4 dims, 2 blocks, 4 frames of 32 x 32
pixels), every parameter perturbed, on clips of the real tests/data/video/bikes.mp4.
Each head's output is softmax(q k^T / sqrt(d_head)) v written out from the block's own
q/k/v projections applied to its pre-attention LayerNorm of the block's input hidden
state (from a plain forward pass without hooks), then pooled by hand; the attention
output is checked against the concatenated heads through the output projection plus
its bias, and the MLP output against the residual update ``h[L] - h[L-1] - attention``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders.video import VideoEncoder
from brainalign.encoders.video_io import clip_frame_times, iter_clips

BIKES = Path(__file__).resolve().parents[1] / "data" / "video" / "bikes.mp4"
ATOL = 1e-5
N_HEADS, D_HEAD, D_MODEL, N_FRAMES = 4, 4, 16, 4
_COMMON = dict(
    hidden_size=D_MODEL,
    num_hidden_layers=2,
    num_attention_heads=N_HEADS,
    intermediate_size=32,
    image_size=32,
    num_frames=N_FRAMES,
)
TIMES = np.array([0.0, 4.0, 9.5])

# model class, config, q/k/v (module path in a block, names), output projection path
FAMILIES = {
    "videomae": (
        tf.VideoMAEModel,
        tf.VideoMAEConfig(**_COMMON, patch_size=8, tubelet_size=2),
        ("attention.attention", ("query", "key", "value")),
        "attention.output.dense",
        "encoder.layer",
    ),
    "vivit": (
        tf.VivitModel,
        tf.VivitConfig(**_COMMON, tubelet_size=[2, 8, 8]),
        ("attention", ("q_proj", "k_proj", "v_proj")),
        "attention.o_proj",
        "layers",
    ),
}


def _processor():
    return tf.VideoMAEImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    dirs = {}
    for seed, (name, (model_class, config, *_)) in enumerate(FAMILIES.items()):
        directory = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(300 + seed)
        model = model_class(config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        model.save_pretrained(directory)
        dirs[name] = directory
    return dirs


def _module(root, path: str):
    for part in path.split("."):
        root = root[int(part)] if part.isdigit() else getattr(root, part)
    return root


def by_hand(directory: Path, name: str) -> dict[str, list]:
    """Hidden states and per-head outputs of a plain forward pass, attention by hand."""
    model_class, _, (attention_path, qkv_names), out_path, blocks_path = FAMILIES[name]
    clip_times = clip_frame_times(TIMES, N_FRAMES, 25.0)
    clips = [clip for _, clip in sorted(iter_clips(BIKES, clip_times))]
    pixel_values = torch.as_tensor(
        _processor()([list(clip) for clip in clips], return_tensors="pt")["pixel_values"]
    )
    model = model_class.from_pretrained(directory).eval()
    with torch.inference_mode():
        hidden = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
        heads, projections = [], []
        for index, block in enumerate(_module(model, blocks_path)):
            x = block.layernorm_before(hidden[index])
            n, seq, _ = x.shape
            attention = _module(block, attention_path)
            q, k, v = (
                getattr(attention, proj)(x).reshape(n, seq, N_HEADS, D_HEAD).transpose(1, 2)
                for proj in qkv_names
            )
            weights = torch.softmax(q @ k.transpose(-1, -2) / D_HEAD**0.5, dim=-1)
            heads.append((weights @ v).transpose(1, 2).numpy())  # (n, seq, heads, d_head)
            projections.append(_module(block, out_path))
    return {"hidden": [h.numpy() for h in hidden], "heads": heads, "out": projections}


def pool(tokens: np.ndarray, pooling: str, n_prefix: int) -> np.ndarray:
    return tokens[:, 0] if pooling == "cls" else tokens[:, n_prefix:].mean(axis=1)


CASES = [("videomae", "mean"), ("vivit", "cls"), ("vivit", "mean")]


@pytest.mark.parametrize(("name", "pooling"), CASES)
def test_heads_and_blocks_equal_attention_by_hand(model_dirs, name, pooling):
    video = VideoEncoder(
        model_dirs[name], pooling=pooling, batch_size=2, processor=_processor(), progress=False
    )
    features = video.encode_video(BIKES, times=TIMES, heads=True, blocks=True)
    assert features.layer_names == [
        "0", "1", "2", "1.attention", "1.mlp", "1.heads", "2.attention", "2.mlp", "2.heads"
    ]  # fmt: skip
    expected = by_hand(model_dirs[name], name)
    n_prefix = 0 if name == "videomae" else 1
    for layer in (1, 2):
        np.testing.assert_allclose(
            features[str(layer)], pool(expected["hidden"][layer], pooling, n_prefix), atol=ATOL
        )
        got = features[f"{layer}.heads"]
        assert got.dtype == np.float32 and got.shape == (3, N_HEADS, D_HEAD)
        want = pool(expected["heads"][layer - 1], pooling, n_prefix)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"{name} {layer}")
        assert np.abs(want).max() > 0.05  # a real signal
        out_proj = expected["out"][layer - 1]
        attention = (
            got.reshape(3, N_HEADS * D_HEAD) @ out_proj.weight.detach().numpy().T
            + out_proj.bias.detach().numpy()
        )
        np.testing.assert_allclose(features[f"{layer}.attention"], attention, atol=ATOL)
        update = features[str(layer)] - features[str(layer - 1)]
        np.testing.assert_allclose(
            features[f"{layer}.attention"] + features[f"{layer}.mlp"], update, atol=ATOL
        )


def test_capture_changes_no_hidden_state(model_dirs):
    video = VideoEncoder(model_dirs["vivit"], processor=_processor(), progress=False)
    plain = video.encode_video(BIKES, times=TIMES)
    hooked = video.encode_video(BIKES, times=TIMES, layers=[0, 2], heads=True)
    assert hooked.layer_names == ["0", "2", "2.heads"]
    for name in ("0", "2"):
        np.testing.assert_array_equal(plain[name], hooked[name])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(model_dirs):
    kwargs = dict(processor=_processor(), progress=False)
    cpu = VideoEncoder(model_dirs["videomae"], **kwargs).encode_video(
        BIKES, times=TIMES, heads=True, blocks=True
    )
    gpu = VideoEncoder(model_dirs["videomae"], device="cuda", **kwargs).encode_video(
        BIKES, times=TIMES, heads=True, blocks=True
    )
    assert gpu.layer_names == cpu.layer_names
    for name in cpu.layer_names:
        np.testing.assert_allclose(gpu[name], cpu[name], atol=1e-4, rtol=1e-4)
