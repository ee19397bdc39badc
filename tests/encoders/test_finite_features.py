"""Features that are not finite (float16 overflowing) are an error where they are made.

The models are the session's tiny random GPT-2 and ViT, copied with their embedding
weights scaled by 1e7: in float16 (largest value 65504) the embeddings overflow to inf
and every block after them turns it into NaN, as a model with large activations does.
Nothing is returned, nothing is left in a feature store, and a benchmark run stops
with the model, the layers and the fix instead of scoring NaN.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from brainalign.encoders.features import NonFiniteFeaturesError
from brainalign.encoders.store import FeatureStore

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
SCALE = 1e7


def _scaled_copy(source: Path, target: Path, model_class: str, prefixes: tuple[str, ...]) -> Path:
    """``source`` saved to ``target`` with every parameter under ``prefixes`` times SCALE."""
    import torch
    import transformers

    shutil.copytree(source, target)
    model = getattr(transformers, model_class).from_pretrained(target)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(prefixes):
                parameter.mul_(SCALE)
    model.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def huge_gpt2_dir(tiny_gpt2_dir, tmp_path_factory) -> Path:
    """The tiny GPT-2 with word embeddings ~2e5: fine in float32, inf in float16."""
    target = tmp_path_factory.mktemp("huge") / "huge-gpt2"
    return _scaled_copy(tiny_gpt2_dir, target, "GPT2Model", ("wte.",))


@pytest.fixture(scope="module")
def huge_vit_dir(tiny_vit_dir, tmp_path_factory) -> Path:
    """The tiny ViT with its embeddings (patch projection, CLS, positions) scaled."""
    target = tmp_path_factory.mktemp("huge") / "huge-vit"
    return _scaled_copy(tiny_vit_dir, target, "ViTModel", ("embeddings.",))


def _says_what_and_what_to_do(error: pytest.ExceptionInfo, model: Path, layers: list[str]):
    message = str(error.value)
    assert f"model {str(model)!r}" in message
    assert "dtype float16" in message and "(pretrained weights" in message
    for layer in layers:
        assert f"layer {layer}: " in message
    assert "inf" in message and "NaN" in message and " of " in message
    assert "float32 or bfloat16" in message and "--dtype float32" in message
    assert isinstance(error.value, ValueError)


def test_float32_is_finite_and_float16_is_a_clear_error(huge_gpt2_dir, alice_words):
    from brainalign.encoders.text import TextEncoder

    words = alice_words[:40]
    fine = TextEncoder(str(huge_gpt2_dir), progress=False).encode_words(words, layers=[0, 2])
    assert all(np.isfinite(array).all() for array in fine.layers.values())

    encoder = TextEncoder(str(huge_gpt2_dir), dtype="float16", progress=False)
    with pytest.raises(NonFiniteFeaturesError) as words_error:
        encoder.encode_words(words, layers=[0, 1, 2])
    _says_what_and_what_to_do(words_error, huge_gpt2_dir, ["0", "1", "2"])
    assert "Nothing was stored or returned" in str(words_error.value)

    with pytest.raises(NonFiniteFeaturesError) as heads_error:
        encoder.extract(["Alice was beginning.", "So she was considering."], layers=[1],
                        context="isolated", level="sentence", heads=True)  # fmt: skip
    _says_what_and_what_to_do(heads_error, huge_gpt2_dir, ["1"])
    assert "layer 1 (heads array '1.heads'): " in str(heads_error.value)


def test_streaming_into_a_store_leaves_no_entry(huge_gpt2_dir, alice_words, tmp_path):
    from brainalign.encoders.store import text_encoder_key
    from brainalign.encoders.text import TextEncoder

    encoder = TextEncoder(str(huge_gpt2_dir), dtype="float16", batch_size=4, progress=False)
    store = FeatureStore(tmp_path / "store")
    words = alice_words[:40]
    key = text_encoder_key(encoder, words, layers=[0, 1])
    with pytest.raises(NonFiniteFeaturesError):
        encoder.encode_words(words, layers=[0, 1], store=store)
    assert store.try_load(key) is None
    assert FeatureStore(tmp_path / "store").entries().empty
    leftovers = [p.name for p in (tmp_path / "store").glob("*") if not p.name.endswith(".lock")]
    assert leftovers == []


def test_a_stored_entry_with_inf_is_refused_when_read(tiny_gpt2_dir, alice_words, tmp_path):
    """An entry written elsewhere (an older brainalign, another tool) is checked on read."""
    from brainalign.encoders.store import text_encoder_key
    from brainalign.encoders.text import TextEncoder

    encoder = TextEncoder(str(tiny_gpt2_dir), batch_size=8, progress=False)
    store = FeatureStore(tmp_path / "store")
    words = alice_words[:20]
    key = text_encoder_key(encoder, words, layers=[0, 1])
    encoder.encode_words(words, layers=[0, 1], store=store)
    manifest = json.loads((store.key_path(key) / "manifest.json").read_text())
    file = next(entry["file"] for entry in manifest["arrays"] if entry["name"] == "1")
    array = np.load(store.key_path(key) / file, mmap_mode="r+")
    array[3, 0] = np.inf  # same size, so the entry still counts as complete
    array.flush()
    del array
    with pytest.raises(NonFiniteFeaturesError, match=r"stored entry .*layer 1: 1 of"):
        encoder.encode_words(words, layers=[0, 1], store=store)


def test_images_in_float16(huge_vit_dir):
    from brainalign.encoders.vision import VisionEncoder

    paths = [str(p) for p in sorted(IMAGES.glob("*.jpg"))]
    fine = VisionEncoder(str(huge_vit_dir), progress=False).encode_images(paths)
    assert all(np.isfinite(array).all() for array in fine.layers.values())
    encoder = VisionEncoder(str(huge_vit_dir), dtype="float16", progress=False)
    with pytest.raises(NonFiniteFeaturesError) as error:
        encoder.encode_images(paths, layers=[0, 2])
    _says_what_and_what_to_do(error, huge_vit_dir, ["0", "2"])
    assert f"{len(paths)} of {len(paths)} items" in str(error.value)


def test_cli_extract_exits_2_with_one_line_and_stores_nothing(huge_gpt2_dir, tmp_path, capsys):
    from brainalign.cli import main

    out = tmp_path / "store"
    code = main(["extract", "--model", str(huge_gpt2_dir), "--dataset", "alice2016",
                 "--dtype", "float16", "--out", str(out), "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("brainalign: error: ")
    assert f"model {str(huge_gpt2_dir)!r}" in lines[0] and "--dtype float32" in lines[0]
    assert "layer 0: " in lines[0]
    assert not out.exists() or FeatureStore(out).entries().empty
    assert captured.out == ""


def test_a_benchmark_run_names_the_model_not_the_events(huge_gpt2_dir):
    import brainalign

    benchmark = brainalign.get_benchmark("alice2016-encoding")
    with pytest.raises(NonFiniteFeaturesError) as error:
        benchmark.run(str(huge_gpt2_dir), layers=[0, 1], dtype="float16",
                      options={"subjects": ["s18", "s22"]})  # fmt: skip
    _says_what_and_what_to_do(error, huge_gpt2_dir, ["0", "1"])
    assert "events" not in str(error.value)


def test_check_finite_counts_each_array():
    from brainalign.encoders.features import check_finite

    provenance = {"model": "m", "weights": "untrained", "dtype": "float32"}
    check_finite({"0": np.zeros((2, 3))}, provenance, "2 items")
    pooled = {
        "0": np.zeros((2, 3)),
        "1": np.array([[np.inf, -np.inf, 0], [np.nan, 0, 0]]),
        "1.attention_entropy": np.full((2, 2), np.nan),
    }
    with pytest.raises(NonFiniteFeaturesError) as error:
        check_finite(pooled, provenance, "2 items")
    message = str(error.value)
    assert "model 'm' (untrained weights, dtype float32) gave non-finite features for 2 items" in (
        message
    )
    assert "layer 1: 3 of 6 values (2 inf, 1 NaN)" in message
    assert "layer 1 (attention_entropy array '1.attention_entropy'): 4 of 4 values" in message
    assert "layer 0" not in message
    assert "check the model's weights" in message  # float32 already: no dtype advice


def test_surprisal_in_float16_is_a_clear_error(tiny_gpt2_lm_dir, alice_words, tmp_path):
    from brainalign.encoders.surprisal import SurprisalModel

    huge = _scaled_copy(tiny_gpt2_lm_dir, tmp_path / "huge-lm", "GPT2LMHeadModel",
                        ("transformer.wte.",))  # fmt: skip
    model = SurprisalModel(str(huge), dtype="float16", progress=False)
    with pytest.raises(NonFiniteFeaturesError) as error:
        model.word_surprisal(alice_words[:30])
    message = str(error.value)
    assert f"model {str(huge)!r}" in message and "logits" in message
    assert "--dtype float32" in message
