"""Model loading: encoder-decoder encoders, MODEL@untrained names, devices and memory."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer

from brainalign.encoders import models
from brainalign.encoders.loading import load_model
from brainalign.encoders.models import (
    ModelLoadError,
    check_device,
    check_fits,
    estimate_parameter_bytes,
    free_device_memory,
    split_model_spec,
)
from brainalign.encoders.text import TextEncoder

WORDS = "Alice was beginning to get very tired of sitting by her sister".split()


def tiny_t5_config(vocab_size: int) -> transformers.T5Config:
    return transformers.T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=3,
        num_heads=4,
        dropout_rate=0.0,
        pad_token_id=0,
        decoder_start_token_id=0,
    )


def save_with_tokenizer(model, directory, minilm_path) -> str:
    """Save a model with MiniLM's fast WordPiece tokenizer next to it."""
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def t5_encoder_dir(tmp_path_factory, minilm_path):
    vocab_size = AutoTokenizer.from_pretrained(minilm_path).vocab_size
    torch.manual_seed(0)
    model = transformers.T5EncoderModel(tiny_t5_config(vocab_size)).eval()
    return save_with_tokenizer(model, tmp_path_factory.mktemp("t5_encoder"), minilm_path)


@pytest.fixture(scope="module")
def t5_full_dir(tmp_path_factory, minilm_path):
    vocab_size = AutoTokenizer.from_pretrained(minilm_path).vocab_size
    torch.manual_seed(1)
    model = transformers.T5Model(tiny_t5_config(vocab_size)).eval()
    return save_with_tokenizer(model, tmp_path_factory.mktemp("t5_full"), minilm_path)


def hidden_states(model, ids: list[int]) -> np.ndarray:
    """All hidden states of one forward pass, shape (n_layers, n_tokens, n_dims)."""
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return np.stack([h[0].float().numpy() for h in output.hidden_states])


# --------------------------------------------------------------------------- encoder-decoder


def test_t5_encoder_hidden_states_equal_t5_encoder_model(t5_encoder_dir):
    loaded = load_model(t5_encoder_dir, modality="text")
    assert type(loaded.model).__name__ == "T5EncoderModel"
    assert not loaded.is_causal and loaded.n_layers == 3
    assert loaded.provenance["encoder_of"] == "t5"
    assert loaded.provenance["model"] == t5_encoder_dir
    reference = transformers.T5EncoderModel.from_pretrained(t5_encoder_dir).eval()
    ids = loaded.tokenizer(" ".join(WORDS))["input_ids"]
    got = hidden_states(loaded.model, ids)
    assert got.shape == (3, len(ids), 32)
    np.testing.assert_allclose(got, hidden_states(reference, ids), atol=1e-6)


def test_full_t5_checkpoint_loads_its_encoder_only(t5_full_dir):
    loaded = load_model(t5_full_dir, modality="text")
    assert type(loaded.model).__name__ == "T5EncoderModel"
    assert loaded.n_layers == 3  # 2 encoder blocks + embeddings, not the 3 decoder blocks
    full = transformers.T5Model.from_pretrained(t5_full_dir).eval()
    got = loaded.model.state_dict()
    assert not any(key.startswith("decoder.") for key in got)
    want = {f"encoder.{k}": v for k, v in full.encoder.state_dict().items()}
    want["shared.weight"] = full.shared.weight
    assert set(got) == set(want)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    ids = loaded.tokenizer("very tired of sitting")["input_ids"]
    with torch.inference_mode():
        encoder_out = full.encoder(input_ids=torch.tensor([ids]), output_hidden_states=True)
    want_hidden = np.stack([h[0].numpy() for h in encoder_out.hidden_states])
    np.testing.assert_allclose(hidden_states(loaded.model, ids), want_hidden, atol=1e-6)


def test_untrained_t5_encoder_is_seeded(t5_full_dir):
    first = load_model(t5_full_dir + "@untrained", seed=3, modality="text")
    again = load_model(t5_full_dir, weights="untrained", seed=3, modality="text")
    other = load_model(t5_full_dir + "@untrained", seed=4, modality="text")
    assert first.provenance["weights"] == "untrained" and first.provenance["seed"] == 3
    assert first.provenance["model"] == t5_full_dir + "@untrained"
    weight = "encoder.block.0.layer.0.SelfAttention.q.weight"
    a, b, c = (m.model.state_dict()[weight] for m in (first, again, other))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_text_encoder_reads_t5_encoder_bidirectionally(t5_encoder_dir):
    encoder = TextEncoder(t5_encoder_dir, context_words=4, progress=False)
    assert not encoder.is_causal and encoder.n_layers == 3
    features = encoder.encode_words(WORDS)
    got = np.stack([features[name] for name in features.layer_names])
    assert got.shape == (3, len(WORDS), 32)
    reference = transformers.T5EncoderModel.from_pretrained(t5_encoder_dir).eval()
    tokenizer = encoder.tokenizer
    for i in (0, 5, len(WORDS) - 1):
        window = " ".join(WORDS[max(0, i - 3) : i + 1])
        # the word's last token is the one before [SEP]
        want = hidden_states(reference, tokenizer(window)["input_ids"])[:, -2]
        np.testing.assert_allclose(got[:, i], want, atol=1e-5, err_msg=f"word {i}")


def test_bart_without_encoder_class_uses_get_encoder(tmp_path, minilm_path):
    vocab_size = AutoTokenizer.from_pretrained(minilm_path).vocab_size
    config = transformers.BartConfig(
        vocab_size=vocab_size,
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )
    torch.manual_seed(0)
    full = transformers.BartModel(config).eval()
    directory = save_with_tokenizer(full, tmp_path, minilm_path)
    loaded = load_model(directory, modality="text")
    assert type(loaded.model).__name__ == "BartEncoder"
    assert not loaded.is_causal and loaded.n_layers == 3
    assert loaded.provenance["encoder_of"] == "bart"
    ids = loaded.tokenizer("very tired of sitting")["input_ids"]
    want = hidden_states(full.get_encoder(), ids)
    np.testing.assert_allclose(hidden_states(loaded.model, ids), want, atol=1e-6)


# --------------------------------------------------------------------------- MODEL@weights


@pytest.mark.parametrize(
    ("name", "weights", "expected"),
    [
        ("gpt2", "pretrained", ("gpt2", "pretrained")),
        ("gpt2@untrained", "pretrained", ("gpt2", "untrained")),
        ("org/model@pretrained", "pretrained", ("org/model", "pretrained")),
        ("gpt2@untrained", "untrained", ("gpt2", "untrained")),
        ("path/to/dir@untrained", "pretrained", ("path/to/dir", "untrained")),
        ("/data/user@host/model", "pretrained", ("/data/user@host/model", "pretrained")),
        ("gpt2", "untrained", ("gpt2", "untrained")),
    ],
)
def test_split_model_spec(name, weights, expected):
    assert split_model_spec(name, weights) == expected


def test_split_model_spec_errors(tmp_path):
    with pytest.raises(ValueError, match=r"'@random'.*@pretrained, @untrained"):
        split_model_spec("gpt2@random")
    with pytest.raises(ValueError, match="weights='untrained'"):
        split_model_spec("gpt2@pretrained", "untrained")
    with pytest.raises(ValueError, match="no name before '@'"):
        split_model_spec("@untrained")
    odd = tmp_path / "model@v1"
    odd.mkdir()
    assert split_model_spec(odd) == (str(odd), "pretrained")  # an existing directory


def test_untrained_suffix_through_load_and_text_encoder(minilm_path):
    pretrained = AutoModel.from_pretrained(minilm_path)
    loaded = load_model(minilm_path + "@untrained", seed=2, modality="text")
    assert loaded.provenance["weights"] == "untrained" and loaded.provenance["seed"] == 2
    assert loaded.provenance["model"] == minilm_path + "@untrained"
    assert "weights_sha256" not in loaded.provenance
    key = "embeddings.word_embeddings.weight"
    assert not torch.equal(loaded.model.state_dict()[key], pretrained.state_dict()[key])
    encoder = TextEncoder(minilm_path + "@untrained", seed=2, context_words=3, progress=False)
    assert encoder.provenance["weights"] == "untrained"
    torch.testing.assert_close(
        encoder.model.state_dict()[key], loaded.model.state_dict()[key], rtol=0, atol=0
    )
    with pytest.raises(ValueError, match="must be one of"):
        load_model(minilm_path + "@trained", modality="text")


# --------------------------------------------------------------------------- devices


def test_invalid_device_strings():
    for device in ("gpu", "cuda:", "cuda:x", "CPU", "tpu", ""):
        with pytest.raises(ValueError, match="is not a device"):
            check_device(device)
    with pytest.raises(ValueError, match="not supported here"):
        check_device("auto", allow_auto=False)
    assert check_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error_before_loading(tmp_path):
    missing = str(tmp_path / "no_such_model")
    for device in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model(missing, device=device, modality="text")
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        load_model(missing, device="gpu", modality="text")


def test_cuda_index_beyond_device_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"1 CUDA device\(s\)"):
        check_device("cuda:3")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_mps_without_mps():
    with pytest.raises(ValueError, match="MPS is not available"):
        check_device("mps")


def test_auto_needs_accelerate(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "accelerate" else real(name)
    )
    with pytest.raises(ValueError, match="pip install accelerate"):
        check_device("auto")


@pytest.mark.parametrize("weights", ["pretrained", "untrained"])
def test_device_map_auto_gives_the_same_features(tiny_gpt2_dir, alice_words, weights):
    """device="auto" goes through accelerate's device map (here: all on the CPU)."""
    pytest.importorskip("accelerate")
    words = alice_words[:15]
    options = {"weights": weights, "progress": False}
    auto = TextEncoder(tiny_gpt2_dir, device="auto", **options)
    assert auto.device == "cpu"
    placed = auto.encode_words(words, heads=True)
    plain = TextEncoder(tiny_gpt2_dir, **options).encode_words(words, heads=True)
    for name in plain.layer_names:
        np.testing.assert_allclose(placed[name], plain[name], atol=1e-6, err_msg=name)


# --------------------------------------------------------------------------- memory


def real_bytes(model, dtype) -> int:
    return sum(p.numel() * p.element_size() for p in model.to(dtype).parameters())


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_bert_dir", "tiny_llama_dir"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_estimate_parameter_bytes_matches_real_model(fixture, dtype, request):
    directory = request.getfixturevalue(fixture)
    config = AutoConfig.from_pretrained(directory)
    model = AutoModel.from_pretrained(directory)
    want = real_bytes(model, getattr(torch, dtype))
    assert estimate_parameter_bytes(config, dtype) == pytest.approx(want, rel=0.02)


def test_estimate_parameter_bytes_of_t5_encoder_only(t5_full_dir):
    config = AutoConfig.from_pretrained(t5_full_dir)
    encoder = transformers.T5EncoderModel.from_pretrained(t5_full_dir)
    full = transformers.T5Model.from_pretrained(t5_full_dir)
    got = estimate_parameter_bytes(config, "float16", transformers.T5EncoderModel)
    assert got == pytest.approx(real_bytes(encoder, torch.float16), rel=0.02)
    assert got < real_bytes(full, torch.float16)


def test_free_device_memory():
    free = free_device_memory("cpu")
    assert isinstance(free, int) and free > 0
    assert free_device_memory("mps") is None and free_device_memory("auto") is None


def test_too_big_for_device_is_a_clear_error_before_loading(monkeypatch, tiny_gpt2_dir):
    needed = estimate_parameter_bytes(AutoConfig.from_pretrained(tiny_gpt2_dir), "float32")
    monkeypatch.setattr(models, "free_device_memory", lambda device: needed // 2)
    calls = []
    monkeypatch.setattr(AutoModel, "from_pretrained", lambda *a, **k: calls.append(a))
    with pytest.raises(ModelLoadError, match=r"needs ~.* GiB .* in float32.*dtype='bfloat16'"):
        load_model(tiny_gpt2_dir, modality="text")
    assert not calls  # refused before any weights were read
    with pytest.raises(ModelLoadError, match="has 0.00 GiB free; use device='auto'"):
        check_fits("m", 10, "cpu", "bfloat16", free=lambda device: 1)
    check_fits("m", 10, "cpu", "float32", free=lambda device: 10)
    check_fits("m", 10, "mps", "float32", free=lambda device: None)
