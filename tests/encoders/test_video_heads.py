"""VideoEncoder heads=/blocks= against attention computed by hand (VideoMAE, ViViT,
TimeSformer).

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

from brainalign.encoders.heads import UnsupportedArchitectureError
from brainalign.encoders.store import FeatureStore
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


# --------------------------------------------------------------------------- TimeSformer
#
# Divided space-time blocks, written out by hand from hidden_states[L-1] of a plain
# forward pass: the temporal attention over each patch's frames (temporal_layernorm),
# the temporal update through temporal_attention's output projection and temporal_dense,
# then the spatial attention over each frame's patches after that update, with the CLS
# token in front of every frame (layernorm_before). Layer tokens are CLS, then patch p of
# frame f at 1 + p * n_frames + f.

N_PATCHES = 16  # (32 / 8) ** 2


def _timesformer_config(**kwargs):
    return tf.TimesformerConfig(**_COMMON, patch_size=8, **kwargs)


@pytest.fixture(scope="module")
def timesformer_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-timesformer")
    torch.manual_seed(310)
    model = tf.TimesformerModel(_timesformer_config())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    model.save_pretrained(directory)
    return directory


def attend(qkv, x: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_head)) v of (n, tokens, d_model) -> (n, tokens, heads, d_head)."""
    n, seq, _ = x.shape
    q, k, v = (t.transpose(1, 2) for t in qkv(x).reshape(n, seq, 3, N_HEADS, D_HEAD).unbind(2))
    weights = torch.softmax(q @ k.transpose(-1, -2) / D_HEAD**0.5, dim=-1)
    return (weights @ v).transpose(1, 2)


def spatial_to_tokens(per_frame: torch.Tensor, n: int) -> torch.Tensor:
    """(n * frames, 1 + patches, ...) -> layer tokens: CLS mean over frames, then patch p
    of frame f at 1 + p * frames + f."""
    per_frame = per_frame.reshape(n, N_FRAMES, 1 + N_PATCHES, *per_frame.shape[2:])
    tokens = [per_frame[:, :, 0].mean(1)]
    for p in range(N_PATCHES):
        for f in range(N_FRAMES):
            tokens.append(per_frame[:, f, 1 + p])
    return torch.stack(tokens, 1)


def timesformer_by_hand(directory: Path) -> dict[str, list]:
    clip_times = clip_frame_times(TIMES, N_FRAMES, 25.0)
    clips = [clip for _, clip in sorted(iter_clips(BIKES, clip_times))]
    pixel_values = torch.as_tensor(
        _processor()([list(clip) for clip in clips], return_tensors="pt")["pixel_values"]
    )
    model = tf.TimesformerModel.from_pretrained(directory).eval()
    out: dict[str, list] = {key: [] for key in ("spatial", "temporal", "s_out", "t_out", "attn")}
    with torch.inference_mode():
        hidden = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
        for index, block in enumerate(model.encoder.layer):
            h = hidden[index]
            n = h.shape[0]
            by_patch = h[:, 1:].reshape(n * N_PATCHES, N_FRAMES, D_MODEL)  # token p*F + f
            t_in = block.temporal_layernorm(by_patch)
            t_heads = attend(block.temporal_attention.attention.qkv, t_in)
            t_out = block.temporal_attention(t_in)[0]  # (n * patches, frames, d_model)
            t_update = block.temporal_dense(t_out.reshape(n, N_PATCHES * N_FRAMES, D_MODEL))
            mid = (h[:, 1:] + t_update).reshape(n, N_PATCHES, N_FRAMES, D_MODEL)
            s_in = torch.stack(
                [torch.cat([h[:, :1], mid[:, :, f]], 1) for f in range(N_FRAMES)], 1
            ).flatten(0, 1)  # (n * frames, 1 + patches, d_model), clip-major
            s_in = block.layernorm_before(s_in)
            s_out = spatial_to_tokens(block.attention(s_in)[0], n)
            attention = s_out.clone()
            attention[:, 1:] += t_update
            update = attention + block.output(
                block.intermediate(block.layernorm_after(h + attention))
            )
            torch.testing.assert_close(h + update, hidden[index + 1], atol=ATOL, rtol=0)
            out["spatial"].append(spatial_to_tokens(attend(block.attention.attention.qkv, s_in), n))
            out["temporal"].append(t_heads.reshape(n, N_PATCHES * N_FRAMES, N_HEADS, D_HEAD))
            out["s_out"].append(s_out.numpy())
            out["t_out"].append(t_out.reshape(n, -1, D_MODEL).numpy())
            out["attn"].append(attention.numpy())
    out["hidden"] = [h.numpy() for h in hidden]
    out["dense"] = [block.attention.output.dense for block in model.encoder.layer]
    out["t_dense"] = [block.temporal_attention.output.dense for block in model.encoder.layer]
    return out


def _project(heads: np.ndarray, linear) -> np.ndarray:
    weight, bias = linear.weight.detach().numpy(), linear.bias.detach().numpy()
    return heads.reshape(len(heads), N_HEADS * D_HEAD) @ weight.T + bias


def timesformer(directory: Path, **kwargs) -> VideoEncoder:
    return VideoEncoder(directory, batch_size=2, processor=_processor(), progress=False, **kwargs)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_timesformer_heads_equal_attention_by_hand(timesformer_dir, pooling):
    features = timesformer(timesformer_dir, pooling=pooling).encode_video(
        BIKES, times=TIMES, heads=True, blocks=True
    )
    per_layer = ["attention", "mlp", "heads"] + (["temporal_heads"] if pooling == "mean" else [])
    assert features.layer_names == ["0", "1", "2"] + [
        f"{layer}.{kind}" for layer in (1, 2) for kind in per_layer
    ]
    assert ("left out" in features.provenance["temporal_heads"]) == (pooling == "cls")
    expected = timesformer_by_hand(timesformer_dir)
    for layer in (1, 2):
        block = layer - 1
        np.testing.assert_allclose(
            features[str(layer)], pool(expected["hidden"][layer], pooling, 1), atol=ATOL
        )
        got = features[f"{layer}.heads"]
        assert got.dtype == np.float32 and got.shape == (3, N_HEADS, D_HEAD)
        want = pool(expected["spatial"][block].numpy(), pooling, 1)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"spatial {layer}")
        assert np.abs(want).max() > 0.05  # a real signal
        spatial_out = pool(expected["s_out"][block], pooling, 1)
        np.testing.assert_allclose(_project(got, expected["dense"][block]), spatial_out, atol=ATOL)
        if pooling == "mean":
            got_t = features[f"{layer}.temporal_heads"]
            assert got_t.shape == (3, N_HEADS, D_HEAD)
            want_t = expected["temporal"][block].numpy().mean(1)  # patch tokens only
            np.testing.assert_allclose(
                got_t, want_t, atol=ATOL, rtol=0, err_msg=f"temporal {layer}"
            )
            assert np.abs(want_t).max() > 0.05
            temporal_out = expected["t_out"][block].mean(1)
            np.testing.assert_allclose(
                _project(got_t, expected["t_dense"][block]), temporal_out, atol=ATOL
            )
        np.testing.assert_allclose(
            features[f"{layer}.attention"], pool(expected["attn"][block], pooling, 1), atol=ATOL
        )
        update = features[str(layer)] - features[str(layer - 1)]
        np.testing.assert_allclose(
            features[f"{layer}.attention"] + features[f"{layer}.mlp"], update, atol=ATOL
        )


def test_timesformer_capture_changes_no_hidden_state(timesformer_dir):
    video = timesformer(timesformer_dir, pooling="mean")
    plain = video.encode_video(BIKES, times=TIMES)
    hooked = video.encode_video(BIKES, times=TIMES, layers=[0, 2], heads=True, blocks=True)
    assert hooked.layer_names == [
        "0", "2", "2.attention", "2.mlp", "2.heads", "2.temporal_heads"
    ]  # fmt: skip
    for name in ("0", "2"):
        np.testing.assert_array_equal(plain[name], hooked[name])
    only_embedding = video.encode_video(BIKES, times=TIMES, layers=[0], heads=True)
    assert only_embedding.layer_names == ["0"]


def test_timesformer_heads_round_trip_through_the_store(timesformer_dir, tmp_path):
    video = timesformer(timesformer_dir, pooling="mean")
    in_ram = video.encode_video(BIKES, times=TIMES, heads=True)
    store = FeatureStore(tmp_path / "store")
    streamed = video.encode_video(BIKES, times=TIMES, heads=True, store=store)
    assert store.has(video.video_store_key(BIKES, times=TIMES, heads=True))
    again = video.encode_video(BIKES, times=TIMES, heads=True, store=store)
    assert streamed.layer_names == again.layer_names == in_ram.layer_names
    assert "2.temporal_heads" in in_ram.layer_names
    for name in in_ram.layer_names:
        np.testing.assert_array_equal(np.asarray(again[name]), in_ram[name])
    assert video.video_store_key(BIKES, times=TIMES, heads=True) != video.video_store_key(
        BIKES, times=TIMES
    )


def test_timesformer_capture_checks_its_token_mapping(timesformer_dir, monkeypatch):
    from brainalign.encoders import timesformer_heads

    def frame_major(x, batch, n_frames):  # the wrong order: frames outermost
        per_frame = x.unflatten(0, (batch, n_frames))
        cls = per_frame[:, :, 0].mean(1, keepdim=True)
        return torch.cat((cls, per_frame[:, :, 1:].flatten(1, 2)), 1)

    monkeypatch.setattr(timesformer_heads, "_spatial_to_layer", frame_major)
    with pytest.raises(RuntimeError, match=r"block 0: hidden_states\[L\] = .* does not hold"):
        timesformer(timesformer_dir).encode_video(BIKES, times=TIMES, blocks=True)


def test_other_timesformer_attention_types_are_refused(tmp_path):
    torch.manual_seed(311)
    tf.TimesformerModel(_timesformer_config(attention_type="joint_space_time")).save_pretrained(
        tmp_path
    )
    video = timesformer(tmp_path)
    plain = video.encode_video(BIKES, times=TIMES[:1])  # hidden states still work
    assert plain.layer_names == ["0", "1", "2"]
    with pytest.raises(UnsupportedArchitectureError, match="attention_type='joint_space_time'"):
        video.encode_video(BIKES, times=TIMES[:1], heads=True)


# --------------------------------------------------------------------------- X-CLIP


@pytest.fixture(scope="module")
def xclip_dir(tmp_path_factory) -> Path:
    """A tiny random X-CLIP saved whole (its vision tower is read from the checkpoint)."""
    config = tf.XCLIPConfig(
        text_config=dict(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        ),
        vision_config=dict(
            hidden_size=D_MODEL,
            num_hidden_layers=2,
            num_attention_heads=N_HEADS,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
            num_frames=N_FRAMES,
        ),
        projection_dim=16,
        prompt_layers=1,
        mit_hidden_size=16,
        mit_intermediate_size=32,
        mit_num_hidden_layers=1,
        mit_num_attention_heads=2,
    )
    directory = tmp_path_factory.mktemp("tiny-xclip")
    torch.manual_seed(310)
    model = tf.XCLIPModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    model.save_pretrained(directory)
    return directory


def xclip_by_hand(video: VideoEncoder) -> dict[str, list]:
    """Per-frame hidden states, and each block's heads written out by hand: the message
    token from the block's own message_fc / message_ln / message_attn on every frame's
    CLS token, appended to the frame's tokens, then softmax(q k^T / sqrt(d)) v from the
    block's own q/k/v projections of layer_norm1; the message token's row dropped."""
    clip_times = clip_frame_times(TIMES, N_FRAMES, 25.0)
    clips = [clip for _, clip in sorted(iter_clips(BIKES, clip_times))]
    pixel_values = torch.as_tensor(
        _processor()([list(clip) for clip in clips], return_tensors="pt")["pixel_values"]
    ).flatten(0, 1)
    model = video.model
    with torch.inference_mode():
        hidden = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
        heads, projections = [], []
        for index, block in enumerate(model.encoder.layers):
            x = hidden[index]
            n, seq, width = x.shape
            message = block.message_fc(x[:, 0]).view(-1, N_FRAMES, width)
            message = message + block.message_attn(block.message_ln(message))[0]
            tokens = block.layer_norm1(torch.cat([x, message.view(n, 1, width)], dim=1))
            attention = block.self_attn
            q, k, v = (
                getattr(attention, proj)(tokens)
                .reshape(n, seq + 1, N_HEADS, D_HEAD)
                .transpose(1, 2)
                for proj in ("q_proj", "k_proj", "v_proj")
            )
            weights = torch.softmax(q @ k.transpose(-1, -2) / D_HEAD**0.5, dim=-1)
            heads.append((weights @ v).transpose(1, 2)[:, :seq].numpy())
            projections.append(attention.out_proj)
    return {"hidden": [h.numpy() for h in hidden], "heads": heads, "out": projections}


def per_clip(tokens: np.ndarray, pooling: str) -> np.ndarray:
    """Pool each frame's tokens, then average a clip's frames."""
    pooled = pool(tokens, pooling, 1)
    return pooled.reshape(-1, N_FRAMES, *pooled.shape[1:]).mean(axis=1)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_xclip_heads_leave_out_the_message_token(xclip_dir, pooling):
    video = VideoEncoder(xclip_dir, pooling=pooling, processor=_processor(), progress=False)
    features = video.encode_video(BIKES, times=TIMES, heads=True, blocks=True)
    expected = xclip_by_hand(video)
    for layer in (1, 2):
        np.testing.assert_allclose(
            features[str(layer)], per_clip(expected["hidden"][layer], pooling), atol=ATOL
        )
        got = features[f"{layer}.heads"]
        want = per_clip(expected["heads"][layer - 1], pooling)
        assert got.shape == (3, N_HEADS, D_HEAD) and np.abs(want).max() > 0.05
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"xclip {layer}")
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
