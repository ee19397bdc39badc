"""TextEncoder with heads and blocks: equal to a plain hooked forward pass."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from brainalign.encoders.heads import LayerCapture
from brainalign.encoders.text import TextEncoder

ATOL = 1e-5


def test_gpt2_heads_and_blocks_per_word_equal_one_hooked_pass(tiny_gpt2_dir, alice_words):
    words = alice_words[:20]
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    encoding = tokenizer(" ".join(words), add_special_tokens=False, return_offsets_mapping=True)
    token_ends = np.array([end for _, end in encoding["offset_mapping"]])
    word_ends = np.cumsum([len(w) + 1 for w in words]) - 1
    last_token = [int(np.flatnonzero(token_ends <= end)[-1]) for end in word_ends]
    with LayerCapture(model, heads=True, blocks=True) as capture, torch.inference_mode():
        model(input_ids=torch.tensor([encoding["input_ids"]]))
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    features = encoder.encode_words(words, layers=[0, 2], heads=True, blocks=True)
    assert features.layer_names == ["0", "2", "2.attention", "2.mlp", "2.heads"]
    n_heads = model.config.n_head
    assert features["2.heads"].shape == (20, n_heads, model.config.n_embd // n_heads)
    for name, tensor in (
        ("2.heads", capture.heads[1]),
        ("2.attention", capture.attention_output[1]),
        ("2.mlp", capture.mlp_output[1]),
    ):
        expected = tensor[0, last_token].float().numpy()
        np.testing.assert_allclose(features[name], expected, atol=ATOL, err_msg=name)


def test_minilm_heads_in_preceding_word_windows(minilm_path):
    words = "Alice was beginning to get very tired of sitting by her sister".split()
    model = AutoModel.from_pretrained(minilm_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder = TextEncoder(minilm_path, context_words=4, pooling="mean", progress=False)
    features = encoder.encode_words(words, layers=[3], heads=True)
    for i in (0, 5, len(words) - 1):
        ids = tokenizer(" ".join(words[max(0, i - 3) : i + 1]))["input_ids"]
        n_word_tokens = len(tokenizer(words[i], add_special_tokens=False)["input_ids"])
        with LayerCapture(model, [2], blocks=False) as capture, torch.inference_mode():
            model(input_ids=torch.tensor([ids]))
        expected = capture.heads[2][0, -1 - n_word_tokens : -1].mean(dim=0).numpy()
        np.testing.assert_allclose(features["3.heads"][i], expected, atol=ATOL)


def test_heads_need_a_block_layer(tiny_gpt2_dir, alice_words):
    features = TextEncoder(tiny_gpt2_dir, progress=False).encode_words(
        alice_words[:5], layers=[0], heads=True
    )
    assert features.layer_names == ["0"]  # the embedding output has no heads


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_hidden_states_unchanged_by_capture(tiny_gpt2_dir, alice_words, pooling):
    encoder = TextEncoder(tiny_gpt2_dir, pooling=pooling, progress=False)
    plain = encoder.encode_words(alice_words[:30])
    hooked = encoder.encode_words(alice_words[:30], heads=True, blocks=True)
    for name in plain.layer_names:
        np.testing.assert_array_equal(plain[name], hooked[name])
