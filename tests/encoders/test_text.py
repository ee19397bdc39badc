"""TextEncoder against plain transformers forward passes, on real and tiny models."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from brainalign.encoders.features import Features
from brainalign.encoders.models import ModelLoadError, is_causal_config, resolve_model_source
from brainalign.encoders.text import TextEncoder

SENTENCE = (
    "Alice was beginning to get very tired of sitting by her sister on the bank "
    "unbelievableness and of having nothing to do"
).split()
ATOL = 1e-5


def plain_hidden(model, ids: list[int]) -> np.ndarray:
    """All hidden states of one unpadded forward pass, shape (n_layers, n_tokens, n_dims)."""
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return np.stack([h[0].float().numpy() for h in output.hidden_states])


def n_tokens(tokenizer, words: list[str]) -> int:
    """Tokens of the words joined by spaces, without special tokens."""
    if not words:
        return 0
    return len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"])


def stacked(features: Features) -> np.ndarray:
    """Features as one array, shape (n_layers, n_words, n_dims)."""
    return np.stack([features[name] for name in features.layer_names])


# --------------------------------------------------------------------------- MiniLM


@pytest.fixture(scope="module")
def minilm(minilm_path):
    model = AutoModel.from_pretrained(minilm_path).eval()
    return model, AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def minilm_encoder():
    return TextEncoder(
        "sentence-transformers/all-MiniLM-L6-v2", context_words=5, batch_size=8, progress=False
    )


def test_minilm_last_token_equals_plain_forward_per_window(minilm, minilm_encoder):
    model, tokenizer = minilm
    features = minilm_encoder.encode_words(SENTENCE)
    assert minilm_encoder.n_layers == 7 and not minilm_encoder.is_causal
    assert features.layer_names == [str(i) for i in range(7)]
    got = stacked(features)
    assert got.dtype == np.float32 and got.shape == (7, len(SENTENCE), 384)
    assert len(tokenizer("unbelievableness", add_special_tokens=False)["input_ids"]) > 1
    for i in range(len(SENTENCE)):
        window = " ".join(SENTENCE[max(0, i - 4) : i + 1])
        hidden = plain_hidden(model, tokenizer(window)["input_ids"])
        # the word's last token is the one before [SEP]
        np.testing.assert_allclose(got[:, i], hidden[:, -2], atol=ATOL, err_msg=f"word {i}")


def test_minilm_mean_pooling_over_word_tokens(minilm, minilm_path):
    model, tokenizer = minilm
    encoder = TextEncoder(minilm_path, context_words=5, pooling="mean", progress=False)
    got = stacked(encoder.encode_words(SENTENCE))
    target = SENTENCE.index("unbelievableness")
    for i in (0, 3, target, target + 1):
        window = SENTENCE[max(0, i - 4) : i + 1]
        before = n_tokens(tokenizer, window[:-1])
        size = n_tokens(tokenizer, window[-1:])
        if i == target:
            assert size > 1
        hidden = plain_hidden(model, tokenizer(" ".join(window))["input_ids"])
        expected = hidden[:, 1 + before : 1 + before + size].mean(axis=1)
        np.testing.assert_allclose(got[:, i], expected, atol=ATOL, err_msg=f"word {i}")


def test_minilm_no_look_ahead(minilm_encoder):
    changed = SENTENCE[:8] + ["Queen", "croquet", "flamingo", "hedgehog"] + SENTENCE[12:]
    original = stacked(minilm_encoder.encode_words(SENTENCE))
    edited = stacked(minilm_encoder.encode_words(changed))
    np.testing.assert_allclose(edited[:, :8], original[:, :8], atol=ATOL)
    assert not np.allclose(edited[:, 8], original[:, 8], atol=1e-3)


def test_minilm_window_drops_whole_words_to_fit_max_length(minilm, minilm_path):
    model, tokenizer = minilm
    encoder = TextEncoder(minilm_path, context_words=5, max_length=8, progress=False)
    got = stacked(encoder.encode_words(SENTENCE))
    for i in range(len(SENTENCE)):
        start = max(0, i - 4)
        while n_tokens(tokenizer, SENTENCE[start : i + 1]) > 8 - 2:
            start += 1
        hidden = plain_hidden(model, tokenizer(" ".join(SENTENCE[start : i + 1]))["input_ids"])
        np.testing.assert_allclose(got[:, i], hidden[:, -2], atol=ATOL, err_msg=f"word {i}")


def test_minilm_layers_ids_onsets_and_provenance(minilm_encoder):
    onsets = np.arange(5, dtype=float) * 0.3
    features = minilm_encoder.encode_words(
        SENTENCE[:5], layers=[6, 0, 3], stimulus_ids=list("abcde"), onsets=onsets
    )
    assert features.layer_names == ["0", "3", "6"]
    assert list(features.stimulus_ids) == list("abcde")
    np.testing.assert_array_equal(features.onsets, onsets)
    full = minilm_encoder.encode_words(SENTENCE[:5])
    np.testing.assert_allclose(features["3"], full["3"], atol=ATOL)
    assert list(full.stimulus_ids) == [0, 1, 2, 3, 4] and full.onsets is None
    prov = features.provenance
    assert prov["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert prov["source"] == resolve_model_source("all-MiniLM-L6-v2")
    assert prov["weights"] == "pretrained" and "seed" not in prov
    assert len(prov["weights_sha256"]["model.safetensors"]) == 64
    assert prov["context"] == "preceding-words" and prov["context_words"] == 5
    assert prov["pooling"] == "last" and prov["dtype"] == "float32" and prov["n_layers"] == 7
    assert prov["transformers_version"]


def test_untrained_weights_are_seeded_and_leave_global_rng_alone(minilm_path, minilm_encoder):
    words = SENTENCE[:6]
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    first = TextEncoder(minilm_path, weights="untrained", seed=0, progress=False)
    np.testing.assert_array_equal(torch.rand(3), expected_draw)
    again = TextEncoder(minilm_path, weights="untrained", seed=0, progress=False)
    other = TextEncoder(minilm_path, weights="untrained", seed=1, progress=False)
    a, b, c = (stacked(e.encode_words(words)) for e in (first, again, other))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[1:], c[1:])
    pretrained = stacked(minilm_encoder.encode_words(words))
    assert not np.allclose(a[1:], pretrained[1:])
    prov = first.encode_words(words).provenance
    assert prov["weights"] == "untrained" and prov["seed"] == 0
    assert "weights_sha256" not in prov


# --------------------------------------------------------------------------- causal


def causal_expected(model, tokenizer, words, prefix, max_length, stride):
    """Reference: each word from the earliest window holding its last token.

    Returns the features (n_layers, n_words, n_dims) and each word's left context in
    window positions (prefix included), or None for words in the first window.
    """
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    length = max_length - len(prefix)
    rows, contexts = [], []
    for i in range(len(words)):
        last = n_tokens(tokenizer, words[: i + 1]) - 1
        k = 0 if last < length else math.ceil((last - length + 1) / stride)
        window = prefix + ids[k * stride : last + 1]
        assert len(window) <= max_length
        rows.append(plain_hidden(model, window)[:, -1])
        contexts.append(None if k == 0 else len(window) - 1)
    return np.stack(rows, axis=1), contexts


def test_gpt2_text_that_fits_is_one_forward_pass(tiny_gpt2_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    words = alice_words[:20]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    assert 20 < len(ids) <= 64
    hidden = plain_hidden(model, ids)
    last = [n_tokens(tokenizer, words[: i + 1]) - 1 for i in range(len(words))]
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    assert encoder.is_causal and encoder.n_layers == 3 and encoder.max_length == 64
    features = encoder.encode_words(words)
    np.testing.assert_allclose(stacked(features), hidden[:, last], atol=ATOL)
    assert features.provenance["context"] == "causal-window"
    assert features.provenance["n_windows"] == 1
    # sliding-window settings change nothing while the text fits in max_length
    sliding = TextEncoder(tiny_gpt2_dir, max_length=60, stride=7, progress=False)
    np.testing.assert_allclose(stacked(sliding.encode_words(words)), hidden[:, last], atol=ATOL)


@pytest.mark.parametrize("max_length, stride", [(24, 8), (16, 16), (20, 3)])
def test_gpt2_sliding_windows_match_reference(tiny_gpt2_dir, alice_words, max_length, stride):
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    words = alice_words[:120]
    encoder = TextEncoder(
        tiny_gpt2_dir, max_length=max_length, stride=stride, batch_size=4, progress=False
    )
    features = encoder.encode_words(words)
    expected, contexts = causal_expected(model, tokenizer, words, [], max_length, stride)
    np.testing.assert_allclose(stacked(features), expected, atol=ATOL)
    later = [c for c in contexts if c is not None]
    assert later and min(later) >= max_length - stride
    assert features.provenance["n_windows"] > 1
    assert features.provenance["stride"] == stride


def test_gpt2_mean_pooling_in_windows(tiny_gpt2_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    words = alice_words[:60]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    encoder = TextEncoder(tiny_gpt2_dir, max_length=32, stride=16, pooling="mean", progress=False)
    got = stacked(encoder.encode_words(words))
    checked_multi = False
    for i in range(len(words)):
        first, last = n_tokens(tokenizer, words[:i]), n_tokens(tokenizer, words[: i + 1]) - 1
        start = 0 if last < 32 else math.ceil((last - 31) / 16) * 16
        hidden = plain_hidden(model, ids[start : last + 1])
        expected = hidden[:, first - start :].mean(axis=1)
        checked_multi |= last > first
        np.testing.assert_allclose(got[:, i], expected, atol=ATOL, err_msg=f"word {i}")
    assert checked_multi


def test_llama_windows_start_with_bos(tiny_llama_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_llama_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    bos = tokenizer.bos_token_id
    assert tokenizer("a")["input_ids"][0] == bos
    words = alice_words[:60]
    encoder = TextEncoder(tiny_llama_dir, max_length=20, stride=6, batch_size=3, progress=False)
    assert encoder.is_causal
    features = encoder.encode_words(words)
    expected, contexts = causal_expected(model, tokenizer, words, [bos], 20, 6)
    np.testing.assert_allclose(stacked(features), expected, atol=ATOL)
    assert min(c for c in contexts if c is not None) >= 20 - 6


# --------------------------------------------------------------------------- bidirectional


def test_tiny_bert_equals_plain_forward_per_window(tiny_bert_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    words = alice_words[:40]
    encoder = TextEncoder(tiny_bert_dir, context_words=7, batch_size=5, progress=False)
    assert not encoder.is_causal and encoder.n_layers == 3
    got = stacked(encoder.encode_words(words))
    for i in range(len(words)):
        hidden = plain_hidden(model, tokenizer(" ".join(words[max(0, i - 6) : i + 1]))["input_ids"])
        np.testing.assert_allclose(got[:, i], hidden[:, -2], atol=ATOL, err_msg=f"word {i}")


def test_causal_rule_from_config(tiny_gpt2_dir, tiny_llama_dir, tiny_bert_dir):
    from transformers import AutoConfig, BertConfig, T5Config

    assert is_causal_config(AutoConfig.from_pretrained(tiny_gpt2_dir))
    assert is_causal_config(AutoConfig.from_pretrained(tiny_llama_dir))
    assert not is_causal_config(AutoConfig.from_pretrained(tiny_bert_dir))
    assert is_causal_config(BertConfig(is_decoder=True))
    assert not is_causal_config(T5Config())  # its encoder is loaded, bidirectional


# --------------------------------------------------------------------------- errors


def test_resolve_model_source(tmp_path, minilm_path):
    assert resolve_model_source(tmp_path) == str(tmp_path)
    assert resolve_model_source("sentence-transformers/all-MiniLM-L6-v2") == minilm_path
    assert resolve_model_source("all-MiniLM-L6-v2") == minilm_path
    assert resolve_model_source("gpt2") == "gpt2"
    with pytest.raises(ModelLoadError, match="not a valid Hugging Face hub id"):
        resolve_model_source(os.path.join(tmp_path, "missing", "model"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        resolve_model_source(tmp_path / "weights.bin")


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        TextEncoder(tmp_path, progress=False)


def test_unknown_name_offline_is_a_clear_error():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(ModelLoadError) as info:
        TextEncoder("brainalign-test/no-such-model", progress=False)
    message = str(info.value)
    assert "'brainalign-test/no-such-model'" in message
    assert "hub id" in message and "config.json" in message and "HF_HUB_OFFLINE" in message
    assert isinstance(info.value.__cause__, OSError)


def test_bad_inputs_are_clear_errors(minilm_encoder):
    with pytest.raises(ValueError, match=r"0\.\.6"):
        minilm_encoder.encode_words(SENTENCE[:3], layers=[7])
    with pytest.raises(ValueError, match=r"0\.\.6"):
        minilm_encoder.encode_words(SENTENCE[:3], layers=[-1])
    with pytest.raises(ValueError, match="no words"):
        minilm_encoder.encode_words([])
    with pytest.raises(ValueError, match="word 1 is empty"):
        minilm_encoder.encode_words(["Alice", "  "])
    with pytest.raises(ValueError, match="whitespace"):
        minilm_encoder.encode_words(["Alice was"])
    with pytest.raises(ValueError, match="one per word"):
        minilm_encoder.encode_words(SENTENCE[:3], onsets=[0.0, 1.0])
    with pytest.raises(ValueError, match="yields no token"):
        minilm_encoder.encode_words(["Alice", "\u200b", "was"])


def test_bad_settings_are_clear_errors(tiny_gpt2_dir, minilm_path):
    with pytest.raises(ValueError, match="stride=40"):
        TextEncoder(tiny_gpt2_dir, max_length=32, stride=40, progress=False)
    with pytest.raises(ValueError, match="exceeds the 64 positions"):
        TextEncoder(tiny_gpt2_dir, max_length=65, progress=False)
    with pytest.raises(ValueError, match="pooling="):
        TextEncoder(minilm_path, pooling="max", progress=False)
    with pytest.raises(ValueError, match="dtype="):
        TextEncoder(minilm_path, dtype="float64", progress=False)


# ------------------------------------------------------------------- joining words


def test_space_before_attaches_clitics_as_in_running_text(tiny_gpt2_dir):
    """``["I", "'ll", ...]`` with no space before the clitic reads "I'll" (one pass)."""
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    words = ["Alice", "thought", "I", "'ll", "go", "to", "her", "sister", "'s", "bank"]
    attached = [not word.startswith("'") for word in words]
    text = "Alice thought I'll go to her sister's bank"
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    hidden = plain_hidden(model, encoding["input_ids"])
    features = TextEncoder(tiny_gpt2_dir, progress=False).encode_words(words, space_before=attached)
    got = stacked(features)
    # Each word's last token is the last token ending inside the word's characters.
    ends, position = [], 0
    for word, space in zip(words, attached, strict=True):
        position += int(space and position > 0) + len(word)
        ends.append(position)
    token_ends = np.array([end for _, end in encoding["offset_mapping"]])
    for i, end in enumerate(ends):
        last_token = int(np.flatnonzero(token_ends <= end)[-1])
        np.testing.assert_allclose(got[:, i], hidden[:, last_token], atol=ATOL, err_msg=words[i])
    spaced = stacked(TextEncoder(tiny_gpt2_dir, progress=False).encode_words(words))
    assert not np.allclose(spaced[:, 4], got[:, 4])  # "go" after "I'll" differs from "I 'll"


def test_token_spanning_two_words_is_an_error(minilm_encoder):
    # WordPiece reads "didn't" as "didn" "'" "t": "didn" would mix "did" and "n't".
    with pytest.raises(ValueError, match="spans words 0"):
        minilm_encoder.encode_words(["did", "n't"], space_before=[True, False])
    with pytest.raises(ValueError, match="space_before has 1 entries"):
        minilm_encoder.encode_words(["did", "not"], space_before=[True])


def test_untrained_suffix_selects_random_weights(tiny_gpt2_dir, alice_words):
    named = TextEncoder(f"{tiny_gpt2_dir}@untrained", progress=False)
    explicit = TextEncoder(tiny_gpt2_dir, weights="untrained", progress=False)
    assert named.weights == "untrained" and named.provenance["weights"] == "untrained"
    words = alice_words[:10]
    np.testing.assert_array_equal(
        stacked(named.encode_words(words)), stacked(explicit.encode_words(words))
    )
