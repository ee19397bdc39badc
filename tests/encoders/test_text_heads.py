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


def test_gpt2_contributions_sum_to_the_attention_output(tiny_gpt2_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    encoder = TextEncoder(tiny_gpt2_dir, pooling="mean", progress=False)
    features = encoder.encode_words(
        alice_words[:25], layers=[1, 2], heads=True, blocks=True, contributions=True
    )
    n_heads, d_model = model.config.n_head, model.config.n_embd
    for layer in (1, 2):
        contributions = features[f"{layer}.contributions"]
        assert contributions.shape == (25, n_heads, d_model)
        bias = model.h[layer - 1].attn.c_proj.bias.detach().numpy()
        np.testing.assert_allclose(
            contributions.sum(axis=1) + bias, features[f"{layer}.attention"], atol=ATOL
        )
        # each head's contribution is its own output through its slice of the projection
        weight = model.h[layer - 1].attn.c_proj.weight.detach().numpy()  # (in, out)
        d_head = d_model // n_heads
        head = 1
        expected = features[f"{layer}.heads"][:, head] @ weight[head * d_head : (head + 1) * d_head]
        np.testing.assert_allclose(contributions[:, head], expected, atol=ATOL)


def test_llama_gqa_contributions_sum_to_the_attention_output(tiny_llama_dir, alice_words):
    encoder = TextEncoder(tiny_llama_dir, progress=False)
    features = encoder.encode_words(alice_words[:12], layers=[1], blocks=True, contributions=True)
    assert features.layer_names == ["1", "1.attention", "1.mlp", "1.contributions"]
    np.testing.assert_allclose(  # LLaMA's o_proj has no bias
        features["1.contributions"].sum(axis=1), features["1.attention"], atol=ATOL
    )


def _last_token_positions(tokenizer, words):
    encoding = tokenizer(" ".join(words), add_special_tokens=False, return_offsets_mapping=True)
    token_ends = np.array([end for _, end in encoding["offset_mapping"]])
    word_ends = np.cumsum([len(w) + 1 for w in words]) - 1
    return encoding["input_ids"], [int(np.flatnonzero(token_ends <= e)[-1]) for e in word_ends]


def test_gpt2_attention_summaries_equal_an_eager_pass(tiny_gpt2_dir, alice_words):
    from brainalign.encoders.heads import attention_summaries

    words = alice_words[:20]
    model = AutoModel.from_pretrained(tiny_gpt2_dir, attn_implementation="eager").eval()
    ids, last_token = _last_token_positions(AutoTokenizer.from_pretrained(tiny_gpt2_dir), words)
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([ids]), output_attentions=True)
    expected = attention_summaries(output.attentions)
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    before = encoder.encode_words(words, layers=[2])
    features = encoder.encode_words(words, layers=[2], attention_summaries=True)
    assert features.layer_names == [
        "2",
        "2.attention_entropy",
        "2.attention_distance",
        "2.attention_first_token",
        "2.attention_previous_token",
    ]
    for measure in ("entropy", "distance", "first_token", "previous_token"):
        got = features[f"2.attention_{measure}"]
        assert got.shape == (20, model.config.n_head)
        want = expected[measure][1, 0][:, last_token].T.numpy()
        np.testing.assert_allclose(got, want, atol=ATOL, err_msg=measure)
    assert features["2.attention_first_token"][0].tolist() == [1.0] * model.config.n_head
    # the encoder's model is back on its own attention implementation, same states
    assert encoder._model.config._attn_implementation != "eager"
    np.testing.assert_allclose(features["2"], before["2"], atol=ATOL)
    np.testing.assert_array_equal(encoder.encode_words(words, layers=[2])["2"], before["2"])


def test_minilm_attention_summaries_in_padded_windows(minilm_path):
    """Windows of different lengths share a batch: padding must not leak into summaries."""
    from brainalign.encoders.heads import attention_summaries

    words = "Alice was beginning to get very tired of sitting by her sister".split()
    model = AutoModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoder = TextEncoder(minilm_path, context_words=4, pooling="mean", progress=False)
    features = encoder.encode_words(words, layers=[3], attention_summaries=True)
    for i in (0, 2, len(words) - 1):  # windows of 1, 3 and 4 words
        ids = tokenizer(" ".join(words[max(0, i - 3) : i + 1]))["input_ids"]
        n_word_tokens = len(tokenizer(words[i], add_special_tokens=False)["input_ids"])
        with torch.inference_mode():
            output = model(input_ids=torch.tensor([ids]), output_attentions=True)
        expected = attention_summaries(output.attentions)
        span = slice(len(ids) - 1 - n_word_tokens, len(ids) - 1)
        for measure in ("entropy", "distance"):
            want = expected[measure][2, 0][:, span].mean(dim=1).numpy()
            np.testing.assert_allclose(
                features[f"3.attention_{measure}"][i], want, atol=ATOL, err_msg=f"{measure} {i}"
            )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_features_are_float32_and_close(tiny_gpt2_dir, alice_words, dtype):
    words = alice_words[:20]
    full = TextEncoder(tiny_gpt2_dir, progress=False).encode_words(words, heads=True)
    half = TextEncoder(tiny_gpt2_dir, dtype=dtype, progress=False)
    assert next(half.model.parameters()).dtype == getattr(torch, dtype)
    features = half.encode_words(words, heads=True)
    assert features.provenance["dtype"] == dtype
    tolerance = 0.05 if dtype == "bfloat16" else 0.01  # 8 vs 11 bits of mantissa
    for name in full.layer_names:
        assert features[name].dtype == np.float32
        scale = np.abs(full[name]).max()
        np.testing.assert_allclose(features[name], full[name], atol=tolerance * scale, err_msg=name)
