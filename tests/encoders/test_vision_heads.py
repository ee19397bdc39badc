"""VisionEncoder heads=/blocks= against attention computed by hand, and store streaming.

Every model is a tiny random-weight vision transformer built here (16 dims, 4 heads of
4 dims, 2 blocks, 32 x 32 pixels in 8 x 8 patches) whose parameters, biases, LayerNorm
gains and layer scales included, are all perturbed so none is a trivial 0 or 1. The
images are the six photographs in tests/data/images.

The per-head outputs are checked against softmax(q k^T / sqrt(d_head)) v written out
from the block's own q/k/v projections and its input hidden state (from a plain
forward pass without hooks), pooled by hand; the attention output against the
concatenated heads through the output projection plus its bias; the MLP output against
the residual update ``h[L] - h[L-1] - attention`` (with layer scales for DINOv2/BEiT).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders import hooks
from brainalign.encoders.hooks import ArchitectureSpec, UnsupportedArchitectureError
from brainalign.encoders.store import (
    FeatureStore,
    IncompleteEntryError,
)
from brainalign.encoders.vision import VisionEncoder

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
ATOL = 1e-5
N_HEADS, D_HEAD, D_MODEL = 4, 4, 16
_VIT = dict(
    hidden_size=D_MODEL,
    num_hidden_layers=2,
    num_attention_heads=N_HEADS,
    intermediate_size=32,
    image_size=32,
    patch_size=8,
)


@dataclass
class Family:
    """A tiny model and where its block's parts are, for the computation by hand."""

    model_class: type
    config: object
    processor: object
    n_prefix: int  # CLS (and distillation) tokens before the 4 x 4 patch tokens
    blocks: str  # path of the block list
    norm: str  # pre-attention LayerNorm of a block
    attention: str  # the attention module (q_proj, k_proj, v_proj)
    out_proj: str
    scales: tuple[str, str] | None = None  # layer scales of attention and MLP outputs


def _families() -> dict[str, Family]:
    vit_processor = tf.ViTImageProcessorPil(size={"height": 32, "width": 32})
    return {
        "vit": Family(
            tf.ViTModel,
            tf.ViTConfig(**_VIT),
            vit_processor,
            1,
            "layers",
            "layernorm_before",
            "attention",
            "attention.o_proj",
        ),
        "deit": Family(
            tf.DeiTModel,
            tf.DeiTConfig(**_VIT),
            tf.DeiTImageProcessorPil(
                size={"height": 36, "width": 36}, crop_size={"height": 32, "width": 32}
            ),
            2,
            "layers",
            "layernorm_before",
            "attention",
            "attention.o_proj",
        ),
        "dinov2": Family(
            tf.Dinov2Model,
            tf.Dinov2Config(**_VIT),
            tf.BitImageProcessorPil(
                size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
            ),
            1,
            "encoder.layer",
            "norm1",
            "attention",
            "attention.o_proj",
            ("layer_scale1.lambda1", "layer_scale2.lambda1"),
        ),
        "clip": Family(
            tf.CLIPVisionModel,
            tf.CLIPVisionConfig(**_VIT),
            tf.CLIPImageProcessorPil(
                size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
            ),
            1,
            "encoder.layers",
            "layer_norm1",
            "self_attn",
            "self_attn.out_proj",
        ),
        "beit": Family(
            tf.BeitModel,
            tf.BeitConfig(**_VIT),
            tf.BeitImageProcessorPil(size={"height": 32, "width": 32}, do_center_crop=False),
            1,
            "layers",
            "layernorm_before",
            "attention",
            "attention.o_proj",
            ("lambda_1", "lambda_2"),
        ),
    }


FAMILIES = _families()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Each tiny model, every parameter perturbed, saved with its processor."""
    dirs = {}
    for seed, (name, family) in enumerate(FAMILIES.items()):
        directory = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(100 + seed)
        model = family.model_class(family.config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        model.save_pretrained(directory)
        family.processor.save_pretrained(directory)
        dirs[name] = directory
    resnet = tmp_path_factory.mktemp("tiny-resnet")
    tf.ResNetModel(
        tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    ).save_pretrained(resnet)
    tf.ConvNextImageProcessorPil(size={"shortest_edge": 32}).save_pretrained(resnet)
    dirs["resnet"] = resnet
    return dirs


@pytest.fixture(scope="module")
def image_paths() -> list[Path]:
    return sorted(IMAGES.glob("*.jpg"))


def encoder(directory, **kwargs) -> VisionEncoder:
    kwargs.setdefault("progress", False)
    return VisionEncoder(directory, **kwargs)


def _module(root, path: str):
    for part in path.split("."):
        root = root[int(part)] if part.isdigit() else getattr(root, part)
    return root


def by_hand(directory: Path, family: Family, image_paths) -> dict[str, object]:
    """Hidden states, per-head outputs and the block parts of a plain forward pass.

    Returns ``hidden`` (list of (n, seq, d_model)) and, per block ``b``,
    ``heads[b]`` (n, seq, n_heads, d_head) = softmax(q k^T / sqrt(d_head)) v from the
    block's own weights and input, plus its output projection and layer scales.
    """
    from PIL import Image

    model = family.model_class.from_pretrained(directory).eval()
    images = []
    for path in image_paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    pixel_values = torch.as_tensor(
        family.processor(images=images, return_tensors="pt")["pixel_values"]
    )
    with torch.inference_mode():
        hidden = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states
        heads, projections, scales = [], [], []
        for index, block in enumerate(_module(model, family.blocks)):
            attention = _module(block, family.attention)
            x = _module(block, family.norm)(hidden[index])
            n, seq, _ = x.shape
            q, k, v = (
                proj(x).reshape(n, seq, N_HEADS, D_HEAD).transpose(1, 2)
                for proj in (attention.q_proj, attention.k_proj, attention.v_proj)
            )
            weights = torch.softmax(q @ k.transpose(-1, -2) / D_HEAD**0.5, dim=-1)
            heads.append((weights @ v).transpose(1, 2))  # (n, seq, n_heads, d_head)
            projections.append(_module(block, family.out_proj))
            if family.scales is None:
                scales.append((torch.ones(D_MODEL), torch.ones(D_MODEL)))
            else:
                scales.append(tuple(_module(block, path).detach() for path in family.scales))
    return {
        "hidden": [h.numpy() for h in hidden],
        "heads": heads,
        "out": projections,
        "scales": scales,
    }


def pool(tokens: np.ndarray, pooling: str, n_prefix: int) -> np.ndarray:
    """Pool (n, seq, *channels) by hand: CLS, mean of the 4 x 4 patches, or 2 x 2 cells."""
    if pooling == "cls":
        return tokens[:, 0]
    patches = tokens[:, n_prefix:]
    assert patches.shape[1] == 16
    if pooling == "mean":
        return patches.mean(axis=1)
    # spatial: 2 x 2 cells of the 4 x 4 grid, per channel, cells last (row-major)
    grid = patches.reshape(len(tokens), 2, 2, 2, 2, *tokens.shape[2:])  # n, R, r, C, c, ...
    cells = grid.mean(axis=(2, 4)).reshape(len(tokens), 4, *tokens.shape[2:])
    return np.moveaxis(cells, 1, -1).reshape(len(tokens), *tokens.shape[2:-1], -1)


# --------------------------------------------------------------------------- correctness


CASES = [(name, pooling) for name in FAMILIES for pooling in ("cls", "mean", "spatial")]


@pytest.mark.parametrize(("name", "pooling"), CASES)
def test_heads_equal_attention_by_hand(model_dirs, image_paths, name, pooling):
    family = FAMILIES[name]
    features = encoder(model_dirs[name], pooling=pooling, batch_size=4).encode_images(
        image_paths, heads=True
    )
    assert features.layer_names == ["0", "1", "2", "1.heads", "2.heads"]
    expected = by_hand(model_dirs[name], family, image_paths)
    cells = 4 if pooling == "spatial" else 1
    for layer in (1, 2):
        got = features[f"{layer}.heads"]
        assert got.dtype == np.float32
        assert got.shape == (6, N_HEADS, D_HEAD * cells)
        want = pool(expected["heads"][layer - 1].numpy(), pooling, family.n_prefix)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"{name} {layer}")
        assert np.abs(want).max() > 0.05  # a real signal, not all zeros


@pytest.mark.parametrize(("name", "pooling"), [c for c in CASES if c[1] != "spatial"])
def test_blocks_equal_projection_and_residual_update(model_dirs, image_paths, name, pooling):
    """attention = heads @ W_o + b; h[L] = h[L-1] + s1 * attention + s2 * mlp."""
    family = FAMILIES[name]
    features = encoder(model_dirs[name], pooling=pooling, batch_size=4).encode_images(
        image_paths, heads=True, blocks=True
    )
    expected = by_hand(model_dirs[name], family, image_paths)
    for layer in (1, 2):
        out_proj = expected["out"][layer - 1]
        heads = features[f"{layer}.heads"].reshape(6, N_HEADS * D_HEAD)
        attention = heads @ out_proj.weight.detach().numpy().T + out_proj.bias.detach().numpy()
        np.testing.assert_allclose(features[f"{layer}.attention"], attention, atol=ATOL)
        s1, s2 = (s.numpy() for s in expected["scales"][layer - 1])
        update = features[str(layer)] - features[str(layer - 1)]
        np.testing.assert_allclose(
            s1 * features[f"{layer}.attention"] + s2 * features[f"{layer}.mlp"],
            update,
            atol=ATOL,
        )
        assert features[f"{layer}.mlp"].shape == (6, D_MODEL)


def test_spatial_blocks_pool_each_channel_on_the_grid(model_dirs, image_paths):
    features = encoder(model_dirs["vit"], pooling="spatial").encode_images(
        image_paths, layers=[2], blocks=True
    )
    assert features.layer_names == ["2", "2.attention", "2.mlp"]
    assert features["2.attention"].shape == (6, D_MODEL * 4)
    # heads of the attention output through the projection, by hand, then pooled
    expected = by_hand(model_dirs["vit"], FAMILIES["vit"], image_paths)
    with torch.inference_mode():
        tokens = expected["out"][1](expected["heads"][1].flatten(start_dim=2)).numpy()
    np.testing.assert_allclose(features["2.attention"], pool(tokens, "spatial", 1), atol=ATOL)


@pytest.mark.parametrize("pooling", ["cls", "spatial"])
def test_capture_changes_no_hidden_state_and_batches_agree(model_dirs, image_paths, pooling):
    deit = encoder(model_dirs["deit"], pooling=pooling, batch_size=6)
    plain = deit.encode_images(image_paths)
    hooked = deit.encode_images(image_paths, heads=True, blocks=True)
    for name in plain.layer_names:
        np.testing.assert_array_equal(plain[name], hooked[name])
    one = encoder(model_dirs["deit"], pooling=pooling, batch_size=1)
    single = one.encode_images(image_paths, heads=True, blocks=True)
    assert single.layer_names == hooked.layer_names
    for name in hooked.layer_names:
        np.testing.assert_allclose(single[name], hooked[name], atol=ATOL, rtol=0)


def test_layer_selection(model_dirs, image_paths):
    vit = encoder(model_dirs["vit"], pooling="mean")
    features = vit.encode_images(image_paths, layers=[2, 0], heads=True, blocks=True)
    assert features.layer_names == ["0", "2", "2.attention", "2.mlp", "2.heads"]
    only_embeddings = vit.encode_images(image_paths, layers=[0], heads=True)
    assert only_embeddings.layer_names == ["0"]  # the embedding output has no heads


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("switch", ["heads", "blocks"])
def test_convnet_is_refused(model_dirs, image_paths, switch, monkeypatch):
    resnet = encoder(model_dirs["resnet"], pooling="mean")
    monkeypatch.setattr(resnet, "_forward", _no_forward)
    with pytest.raises(ValueError, match=r"'.*' \(resnet\) is a ConvNet.*attention heads.*vit"):
        resnet.encode_images(image_paths, **{switch: True})


def test_unregistered_family_fails_before_any_forward_pass(model_dirs, image_paths, monkeypatch):
    monkeypatch.delitem(hooks._REGISTRY, "clip_vision_model", raising=False)
    clip = encoder(model_dirs["clip"], pooling="cls")
    monkeypatch.setattr(clip, "_forward", _no_forward)
    with pytest.raises(UnsupportedArchitectureError, match=r"clip_vision_model.*dinov2"):
        clip.encode_images(image_paths, heads=True)


def test_module_paths_that_do_not_resolve_fail_early(model_dirs, image_paths, monkeypatch):
    broken = ArchitectureSpec(layers="layers", out_proj="attention.nowhere", mlp="mlp")
    monkeypatch.setitem(hooks._REGISTRY, "vit", broken)
    vit = encoder(model_dirs["vit"])
    monkeypatch.setattr(vit, "_forward", _no_forward)
    with pytest.raises(UnsupportedArchitectureError, match="attention.nowhere"):
        vit.encode_images(image_paths, blocks=True)


def _no_forward(pixel_values):
    raise AssertionError("a forward pass ran before the request was checked")


# --------------------------------------------------------------------------- streaming


def count_forwards(monkeypatch, vit: VisionEncoder, during=None) -> list[int]:
    calls: list[int] = []
    forward = vit._forward

    def counted(pixel_values):
        calls.append(1)
        if during is not None:
            during(len(calls))
        return forward(pixel_values)

    monkeypatch.setattr(vit, "_forward", counted)
    return calls


@pytest.mark.parametrize("pooling", ["mean", "spatial"])
def test_stream_equals_in_memory_and_reuses_the_entry(
    model_dirs, image_paths, tmp_path, monkeypatch, pooling
):
    vit = encoder(model_dirs["dinov2"], pooling=pooling, batch_size=4)  # 2 batches: 4 + 2
    in_ram = vit.encode_images(image_paths, heads=True, blocks=True)
    store = FeatureStore(tmp_path)
    key = vit.images_store_key(image_paths, heads=True, blocks=True)
    temp_dirs: list[list[str]] = []

    def look_at_store(n_calls: int) -> None:  # the entry is being filled batch by batch
        temp_dirs.append(sorted(p.name for p in tmp_path.glob(".*.tmp-*")))

    calls = count_forwards(monkeypatch, vit, look_at_store)
    streamed = vit.encode_images(image_paths, heads=True, blocks=True, store=store)
    assert len(calls) == 2
    assert temp_dirs[0] == [] and len(temp_dirs[1]) == 1  # opened at the first batch
    assert store.has(key) and store.verify(key)
    assert streamed.layer_names == in_ram.layer_names
    for name in in_ram.layer_names:
        assert isinstance(streamed[name], np.memmap)
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_ram[name])
    np.testing.assert_array_equal(streamed.stimulus_ids, in_ram.stimulus_ids)
    assert streamed.provenance["pixel_size"] == [32, 32]
    assert streamed.provenance["n_layers"] == 3
    # a complete entry: no forward pass
    again = vit.encode_images(image_paths, heads=True, blocks=True, store=store)
    assert len(calls) == 2
    np.testing.assert_array_equal(np.asarray(again["2.heads"]), in_ram["2.heads"])


def test_error_mid_stream_leaves_no_entry(model_dirs, image_paths, tmp_path, monkeypatch):
    vit = encoder(model_dirs["vit"], pooling="cls", batch_size=2)
    store = FeatureStore(tmp_path)
    key = vit.images_store_key(image_paths, heads=True)

    def fail_at_second(n_calls: int) -> None:
        if n_calls == 2:
            raise RuntimeError("boom in batch 2")

    count_forwards(monkeypatch, vit, fail_at_second)
    with pytest.raises(RuntimeError, match="boom"):
        vit.encode_images(image_paths, heads=True, store=store)
    assert not store.has(key)
    assert list(tmp_path.glob(".*.tmp-*")) == []
    with pytest.raises(IncompleteEntryError):
        store.load(key)
    monkeypatch.undo()
    features = vit.encode_images(image_paths, heads=True, store=store)
    np.testing.assert_array_equal(
        np.asarray(features["1.heads"]), vit.encode_images(image_paths, heads=True)["1.heads"]
    )


def test_plain_layers_stream_too(model_dirs, image_paths, tmp_path):
    vit = encoder(model_dirs["vit"], pooling="mean", batch_size=5)
    store = FeatureStore(tmp_path)
    streamed = vit.encode_images(image_paths, store=store)
    assert store.has(vit.images_store_key(image_paths))
    in_ram = vit.encode_images(image_paths)
    assert streamed.layer_names == ["0", "1", "2"]
    for name in in_ram.layer_names:
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_ram[name])


def test_encoder_builds_its_own_key(model_dirs, image_paths, tmp_path):
    vit = encoder(model_dirs["vit"])
    with pytest.raises(TypeError, match="key"):
        vit.encode_images(image_paths, store=FeatureStore(tmp_path), key={"model": "m"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_heads_equal_cpu(model_dirs, image_paths):
    cpu = encoder(model_dirs["dinov2"], pooling="mean").encode_images(
        image_paths, heads=True, blocks=True
    )
    gpu = encoder(model_dirs["dinov2"], pooling="mean", device="cuda").encode_images(
        image_paths, heads=True, blocks=True
    )
    assert gpu.layer_names == cpu.layer_names
    for name in cpu.layer_names:
        np.testing.assert_allclose(gpu[name], cpu[name], atol=1e-4, rtol=1e-4)
