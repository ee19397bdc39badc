"""VisionEncoder against plain transformers forward passes, on tiny random-weight models.

Every model is built here from a small config (random weights, 32 x 32 pixel inputs) and
saved with ``save_pretrained`` next to an image processor of the kind its hub checkpoints
use; the images are six real photographs (tests/data/images, Algonauts 2019 via Net2Brain).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf
from PIL import Image

from brainalign.encoders.models import ModelLoadError
from brainalign.encoders.store import FeatureStore, feature_key, stimulus_hash
from brainalign.encoders.vision import VisionEncoder, list_image_files, pool_hidden_state

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
ATOL = 1e-5
_VIT = dict(
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    image_size=32,
    patch_size=8,
)


@dataclass
class Spec:
    """A tiny model: how to build it, its processor, and its layout written out by hand."""

    model_class: type
    config: object
    processor: object
    n_prefix: int | None  # CLS/distillation tokens before the 4 x 4 patch tokens; None = ConvNet
    n_layers: int


def _specs() -> dict[str, Spec]:
    conv = dict(hidden_sizes=[8, 16], depths=[1, 1])
    return {
        "vit": Spec(
            tf.ViTModel,
            tf.ViTConfig(**_VIT),
            tf.ViTImageProcessorPil(size={"height": 32, "width": 32}),
            1,
            3,
        ),
        "deit": Spec(
            tf.DeiTModel,
            tf.DeiTConfig(**_VIT),
            tf.DeiTImageProcessorPil(
                size={"height": 36, "width": 36}, crop_size={"height": 32, "width": 32}
            ),
            2,
            3,
        ),
        "beit": Spec(
            tf.BeitModel,
            tf.BeitConfig(**_VIT),
            tf.BeitImageProcessorPil(size={"height": 32, "width": 32}, do_center_crop=False),
            1,
            3,
        ),
        "dinov2": Spec(
            tf.Dinov2Model,
            tf.Dinov2Config(**_VIT),
            tf.BitImageProcessorPil(
                size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
            ),
            1,
            3,
        ),
        "clip": Spec(
            tf.CLIPVisionModel,
            tf.CLIPVisionConfig(**_VIT),
            tf.CLIPImageProcessorPil(
                size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
            ),
            1,
            3,
        ),
        "convnext": Spec(
            tf.ConvNextModel,
            tf.ConvNextConfig(num_stages=2, **conv),
            tf.ConvNextImageProcessorPil(size={"shortest_edge": 32}),
            None,
            3,
        ),
        "resnet": Spec(
            tf.ResNetModel,
            tf.ResNetConfig(embedding_size=8, layer_type="basic", **conv),
            tf.ConvNextImageProcessorPil(size={"shortest_edge": 32}),
            None,
            3,
        ),
    }


SPECS = _specs()
TRANSFORMERS = [name for name, spec in SPECS.items() if spec.n_prefix is not None]
CONVNETS = [name for name, spec in SPECS.items() if spec.n_prefix is None]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Every tiny model saved with its processor; seeds differ so no two share weights."""
    dirs = {}
    for seed, (name, spec) in enumerate(SPECS.items()):
        directory = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(seed)
        spec.model_class(spec.config).save_pretrained(directory)
        spec.processor.save_pretrained(directory)
        dirs[name] = directory
    return dirs


@pytest.fixture(scope="module")
def image_paths() -> list[Path]:
    return sorted(IMAGES.glob("*.jpg"))


@pytest.fixture(scope="module")
def pil_images(image_paths) -> list[Image.Image]:
    images = []
    for path in image_paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def plain_hidden_states(directory: Path, spec: Spec, images) -> list[np.ndarray]:
    """Every hidden state of one plain forward pass over all images."""
    model = spec.model_class.from_pretrained(directory).eval()
    pixel_values = spec.processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        output = model(pixel_values=torch.as_tensor(pixel_values), output_hidden_states=True)
    return [h.float().numpy() for h in output.hidden_states]


def pool_by_hand(hidden: np.ndarray, pooling: str, n_prefix: int | None) -> np.ndarray:
    """The pooling written out with numpy, for 4 x 4 patch grids and even feature maps."""
    if n_prefix is None:  # feature maps (n, C, H, W)
        maps = hidden
    else:
        if pooling == "cls":
            return hidden[:, 0]
        patches = hidden[:, n_prefix:]
        assert patches.shape[1] == 16
        if pooling == "mean":
            return patches.mean(axis=1)
        maps = patches.reshape(len(hidden), 4, 4, -1).transpose(0, 3, 1, 2)
    if pooling == "mean":
        return maps.mean(axis=(2, 3))
    n, c, h, w = maps.shape
    cells = maps.reshape(n, c, 2, h // 2, 2, w // 2).mean(axis=(3, 5))
    return cells.reshape(n, c * 4)


def encoder(directory, **kwargs) -> VisionEncoder:
    kwargs.setdefault("progress", False)
    return VisionEncoder(directory, **kwargs)


# --------------------------------------------------------------------------- correctness


@pytest.mark.parametrize(
    ("name", "pooling"),
    [(name, p) for name in TRANSFORMERS for p in ("cls", "mean", "spatial")]
    + [(name, p) for name in CONVNETS for p in ("mean", "spatial")],
)
def test_features_equal_plain_forward(model_dirs, image_paths, pil_images, name, pooling):
    spec = SPECS[name]
    features = encoder(model_dirs[name], pooling=pooling, batch_size=4).encode_images(image_paths)
    expected = plain_hidden_states(model_dirs[name], spec, pil_images)
    assert features.layer_names == [str(i) for i in range(spec.n_layers)]
    assert len(expected) == spec.n_layers
    assert list(features.stimulus_ids) == [p.stem for p in image_paths]
    for index, hidden in enumerate(expected):
        want = pool_by_hand(hidden, pooling, spec.n_prefix)
        got = features[index]
        assert got.dtype == np.float32
        assert got.shape == (len(image_paths), want.shape[1])
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_spatial_dims_and_layout(model_dirs, image_paths):
    """ViT spatial: 16 dims x 2 x 2 cells; ConvNeXt: channels x 2 x 2 at each stage."""
    vit = encoder(model_dirs["vit"], pooling="spatial").encode_images(image_paths)
    assert [vit[i].shape for i in range(3)] == [(6, 64)] * 3
    conv = encoder(model_dirs["convnext"], pooling="spatial", grid=(1, 3))
    features = conv.encode_images(image_paths)
    assert [features[i].shape for i in range(3)] == [(6, 24), (6, 24), (6, 48)]
    assert features.provenance["grid"] == [1, 3]


def test_pool_hidden_state_spatial_order():
    """Dimension c * 4 + row * 2 + col is channel c in cell (row, col)."""
    maps = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    pooled = pool_hidden_state(maps, "spatial", grid=(2, 2))[0]
    cells = [
        maps[0, c, 2 * r : 2 * r + 2, 2 * k : 2 * k + 2].mean()
        for c in range(2)
        for r in range(2)
        for k in range(2)
    ]
    assert torch.equal(pooled, torch.stack(cells))
    tokens = torch.cat([torch.full((1, 1, 2), -1.0), maps.flatten(2).transpose(1, 2)], dim=1)
    assert torch.equal(
        pool_hidden_state(tokens, "spatial", n_prefix=1, patch_grid=(4, 4)), pooled[None]
    )
    assert torch.equal(pool_hidden_state(tokens, "cls", n_prefix=1)[0], torch.tensor([-1.0, -1.0]))


def test_full_clip_model_uses_its_vision_tower(tmp_path, image_paths, pil_images):
    config = tf.CLIPConfig(
        text_config=dict(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            vocab_size=64,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        ),
        vision_config=_VIT,
        projection_dim=8,
    )
    torch.manual_seed(11)
    clip = tf.CLIPModel(config).eval()
    clip.save_pretrained(tmp_path)
    SPECS["clip"].processor.save_pretrained(tmp_path)
    features = encoder(tmp_path, pooling="mean").encode_images(image_paths)
    assert features.provenance["tower"] == "vision_config"
    assert features.provenance["model_type"] == "clip_vision_model"
    pixel_values = SPECS["clip"].processor(images=pil_images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        output = clip.vision_model(pixel_values=pixel_values, output_hidden_states=True)
    for index, hidden in enumerate(output.hidden_states):
        want = pool_by_hand(hidden.numpy(), "mean", 1)
        np.testing.assert_allclose(features[index], want, atol=ATOL, rtol=0)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(("name", "pooling"), [("dinov2", "spatial"), ("resnet", "mean")])
def test_batching_does_not_change_features(model_dirs, image_paths, name, pooling):
    one = encoder(model_dirs[name], pooling=pooling, batch_size=1).encode_images(image_paths)
    four = encoder(model_dirs[name], pooling=pooling, batch_size=4).encode_images(image_paths)
    for layer in one.layer_names:
        np.testing.assert_allclose(one[layer], four[layer], atol=ATOL, rtol=0)


def test_folder_equals_list_of_paths(model_dirs, image_paths, tmp_path):
    # tests/data/images also holds SOURCE.txt, which is not an image and is skipped
    assert (IMAGES / "SOURCE.txt").exists()
    assert list_image_files(IMAGES) == image_paths
    vit = encoder(model_dirs["vit"], pooling="mean")
    from_folder = vit.encode_images(IMAGES)
    from_list = vit.extract([str(p) for p in image_paths])
    assert list(from_folder.stimulus_ids) == [f"image_0{i}" for i in range(1, 7)]
    assert list(from_folder.stimulus_ids) == list(from_list.stimulus_ids)
    for layer in from_folder.layer_names:
        np.testing.assert_array_equal(from_folder[layer], from_list[layer])
    # other suffixes, in any case, are found too
    shutil.copy(image_paths[0], tmp_path / "b.JPEG")
    Image.open(image_paths[1]).save(tmp_path / "a.png")
    assert [p.name for p in list_image_files(tmp_path)] == ["a.png", "b.JPEG"]


def test_arrays_equal_pil_images(model_dirs, pil_images):
    conv = encoder(model_dirs["convnext"], pooling="spatial", batch_size=4)
    from_pil = conv.encode_images(pil_images)
    arrays = [np.asarray(image) for image in pil_images]
    from_arrays = conv.encode_images(arrays)
    from_floats = conv.encode_images([a.astype(np.float32) / 255 for a in arrays])
    from_stack = conv.encode_images(np.stack(arrays[:3]))
    assert list(from_pil.stimulus_ids) == list(range(6))
    for layer in from_pil.layer_names:
        np.testing.assert_array_equal(from_arrays[layer], from_pil[layer])
        np.testing.assert_array_equal(from_floats[layer], from_pil[layer])
        np.testing.assert_array_equal(from_stack[layer], from_pil[layer][:3])


def test_grey_and_rgba_become_rgb(model_dirs, pil_images):
    vit = encoder(model_dirs["vit"], pooling="cls")
    grey = np.asarray(pil_images[0].convert("L"))
    rgba = np.asarray(pil_images[1].convert("RGBA"))
    got = vit.encode_images([grey, rgba], stimulus_ids=["g", "a"])
    want = vit.encode_images([pil_images[0].convert("L"), pil_images[1]])
    assert list(got.stimulus_ids) == ["g", "a"]
    np.testing.assert_array_equal(got["2"], want["2"])


def test_bad_arrays_are_refused(model_dirs, pil_images):
    vit = encoder(model_dirs["vit"])
    array = np.asarray(pil_images[0])
    with pytest.raises(ValueError, match=r"image 1 .*float.*\[0, 1\]"):
        vit.encode_images([array, array.astype(np.float32)])
    with pytest.raises(ValueError, match="channel-first"):
        vit.encode_images([array.transpose(2, 0, 1)])
    with pytest.raises(ValueError, match="shape"):
        vit.encode_images([array[:, :, :2]])


def test_layers_and_ids(model_dirs, image_paths):
    vit = encoder(model_dirs["vit"], pooling="mean")
    features = vit.encode_images(image_paths, layers=[2, 0], stimulus_ids=list("abcdef"))
    assert features.layer_names == ["0", "2"]
    assert list(features.stimulus_ids) == list("abcdef")
    with pytest.raises(ValueError, match=r"layer 3 is out of range.*0\.\.2"):
        vit.encode_images(image_paths, layers=[3])
    with pytest.raises(ValueError, match=r"expected \(6,\)"):
        vit.encode_images(image_paths, stimulus_ids=["a"])
    with pytest.raises(ValueError, match="repeat"):
        vit.encode_images(image_paths, stimulus_ids=list("aabcde"))
    with pytest.raises(ValueError, match="empty"):
        vit.encode_images([])
    with pytest.raises(ValueError, match="empty"):
        vit.encode_images(np.zeros((0, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="images is a int"):
        vit.encode_images(3)
    with pytest.raises(TypeError, match="image 1 is a dict"):
        vit.encode_images([image_paths[0], {}])


def test_provenance_and_round_trip(model_dirs, image_paths, tmp_path):
    features = encoder(model_dirs["dinov2"], pooling="cls").encode_images(image_paths)
    prov = features.provenance
    assert prov["model"] == str(model_dirs["dinov2"])
    assert prov["weights"] == "pretrained"
    assert prov["model_type"] == "dinov2"
    assert prov["pooling"] == "cls"
    assert prov["dtype"] == "float32"
    assert prov["processor"] == "BitImageProcessorPil"
    assert prov["processor_config"]["crop_size"] == {"height": 32, "width": 32}
    assert prov["pixel_size"] == [32, 32]
    assert set(prov["weights_sha256"]) == {"model.safetensors"}
    store = FeatureStore(tmp_path / "features")
    key = feature_key(
        model=prov["model"],
        weights={"kind": "pretrained", "sha256": prov["weights_sha256"]},
        tokenizer=None,
        layers=features.layer_names,
        pooling="cls",
        context={"mode": "image"},
        dtype="float32",
        stimuli=stimulus_hash(list(features.stimulus_ids)),
    )
    store.put(key, features)
    loaded = store.load(key)
    np.testing.assert_array_equal(loaded["1"], features["1"])
    assert loaded.provenance["weights_sha256"] == prov["weights_sha256"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", CONVNETS)
def test_cls_pooling_on_convnet_is_refused(model_dirs, name):
    with pytest.raises(
        ValueError, match=rf"pooling='cls'.*ConvNet \({name}\).*'mean' or 'spatial'"
    ):
        VisionEncoder(model_dirs[name], pooling="cls")


def test_bad_file_fails_before_any_forward_pass(model_dirs, image_paths, tmp_path, monkeypatch):
    vit = encoder(model_dirs["vit"], batch_size=2)

    def no_forward(pixel_values):
        raise AssertionError("a forward pass ran before every image was checked")

    monkeypatch.setattr(vit, "_forward", no_forward)
    missing = tmp_path / "missing.jpg"
    with pytest.raises(FileNotFoundError, match=r"image 6: .*missing\.jpg.*does not exist"):
        vit.encode_images([*image_paths, missing])
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a jpeg")
    with pytest.raises(ValueError, match=r"image 2: could not read .*broken\.jpg"):
        vit.encode_images([*image_paths[:2], broken])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vit.encode_images(tmp_path / "no-such-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image file"):
        vit.encode_images(tmp_path / "empty")


def test_missing_processor_is_a_clear_error(model_dirs, tmp_path, image_paths):
    for path in model_dirs["vit"].iterdir():
        if path.name != "preprocessor_config.json":
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(ModelLoadError, match=r"image processor.*processor="):
        VisionEncoder(tmp_path)
    given = encoder(tmp_path, processor=SPECS["vit"].processor, pooling="mean")
    saved = encoder(model_dirs["vit"], pooling="mean")
    np.testing.assert_array_equal(
        given.encode_images(image_paths)["2"], saved.encode_images(image_paths)["2"]
    )


def test_checkpoint_missing_weights_is_refused(model_dirs, tmp_path):
    from safetensors.torch import load_file, save_file

    for path in model_dirs["vit"].iterdir():
        shutil.copy(path, tmp_path / path.name)
    tensors = load_file(tmp_path / "model.safetensors")
    dropped = next(key for key in tensors if "encoder.layer.1" in key)
    save_file(
        {k: v for k, v in tensors.items() if k != dropped},
        tmp_path / "model.safetensors",
        metadata={"format": "pt"},
    )
    with pytest.raises(ModelLoadError, match="lacks 1 weights"):
        VisionEncoder(tmp_path)


def test_bad_settings(model_dirs, tmp_path):
    with pytest.raises(ValueError, match="pooling='max'"):
        VisionEncoder(model_dirs["vit"], pooling="max")
    with pytest.raises(ValueError, match="batch_size=0"):
        VisionEncoder(model_dirs["vit"], batch_size=0)
    with pytest.raises(ValueError, match="grid=0"):
        VisionEncoder(model_dirs["vit"], grid=0)
    with pytest.raises(ValueError, match="weights='random'"):
        VisionEncoder(model_dirs["vit"], weights="random")
    with pytest.raises(ModelLoadError, match="no config.json"):
        VisionEncoder(tmp_path)


# --------------------------------------------------------------------------- untrained


def test_untrained_weights_are_seeded_and_differ_from_saved(model_dirs, image_paths):
    directory = model_dirs["beit"]
    saved = tf.BeitModel.from_pretrained(directory).state_dict()
    state = torch.random.get_rng_state()
    first = encoder(directory, weights="untrained", seed=3, pooling="mean")
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    again = encoder(directory, weights="untrained", seed=3, pooling="mean")
    other = encoder(directory, weights="untrained", seed=4, pooling="mean")
    weights, same = first._model.state_dict(), again._model.state_dict()
    different = other._model.state_dict()
    assert weights.keys() == saved.keys()
    matrices = [k for k, v in weights.items() if v.ndim >= 2 and saved[k].std() > 0]
    assert len(matrices) >= 10
    for key in matrices:  # every random weight matrix is new, and fixed by the seed
        assert not torch.equal(weights[key], saved[key]), key
        assert torch.equal(weights[key], same[key]), key
        assert not torch.equal(weights[key], different[key]), key
    features = first.encode_images(image_paths)
    assert features.provenance["weights"] == "untrained"
    assert features.provenance["seed"] == 3
    assert "weights_sha256" not in features.provenance
    np.testing.assert_array_equal(features["2"], again.encode_images(image_paths)["2"])
    assert not np.allclose(features["2"], other.encode_images(image_paths)["2"])
    named = encoder(f"{directory}@untrained", seed=3, pooling="mean")  # as for text models
    assert named.provenance["weights"] == "untrained"
    np.testing.assert_array_equal(named.encode_images(image_paths)["2"], features["2"])


# --------------------------------------------------------------------------- dtype, device


def test_bfloat16_returns_float32_close_to_float32(model_dirs, image_paths):
    full = encoder(model_dirs["convnext"], pooling="mean").encode_images(image_paths)
    half = encoder(model_dirs["convnext"], pooling="mean", dtype="bfloat16")
    features = half.encode_images(image_paths)
    assert features.provenance["dtype"] == "bfloat16"
    for layer in full.layer_names:
        assert features[layer].dtype == np.float32
        np.testing.assert_allclose(features[layer], full[layer], atol=0.1, rtol=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["vit", "resnet"])
def test_cuda_equals_cpu(model_dirs, image_paths, name):
    cpu = encoder(model_dirs[name], pooling="spatial").encode_images(image_paths)
    gpu = encoder(model_dirs[name], pooling="spatial", device="cuda").encode_images(image_paths)
    for layer in cpu.layer_names:
        np.testing.assert_allclose(gpu[layer], cpu[layer], atol=1e-4, rtol=1e-4)
