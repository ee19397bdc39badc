"""Per-word surprisal against plain forward passes of tiny random-weight causal LMs.

The models are built here with their LM heads (GPT2LMHeadModel, LlamaForCausalLM) and
the session's byte-level BPE tokenizer trained on Alice; the references are one
unpadded ``model(input_ids)`` per text with ``log_softmax``, token log-probs summed by
hand for each word.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from brainalign.encoders import surprisal as surprisal_module
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.surprisal import (
    SURPRISAL_UNIT,
    NotCausalModelError,
    SurprisalModel,
    context_lengths,
    word_surprisal,
)
from tests.conftest import _bpe_tokenizer, save_tiny_gpt2

ATOL = 1e-5


@pytest.fixture(scope="module")
def gpt2_nobos_dir(tmp_path_factory, alice_words):
    """Tiny GPT-2 LM whose tokenizer has no BOS token at all."""
    return save_tiny_gpt2(
        tmp_path_factory.mktemp("gpt2-lm-nobos"), alice_words, lm_head=True, bos=False
    )


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, alice_words):
    """Tiny LLaMA LM (untied head); the tokenizer adds <s> itself."""
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("llama-lm")
    tokenizer = _bpe_tokenizer(alice_words, bos=True)
    tokenizer.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(4)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def _load(directory):
    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    return model, AutoTokenizer.from_pretrained(directory)


def _token_bits(model, ids: list[int]) -> np.ndarray:
    """-log2 p(ids[t] | ids[:t]) for t >= 1, from one unpadded forward pass."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    chosen = log_probs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return (-chosen / math.log(2)).numpy()


def _word_tokens(tokenizer, words):
    """Each word's token indices in " ".join(words), found by re-tokenizing prefixes."""
    spans, previous = [], 0
    for i in range(len(words)):
        n = len(tokenizer(" ".join(words[: i + 1]), add_special_tokens=False)["input_ids"])
        spans.append(range(previous, n))
        previous = n
    return spans


def _reference(directory, words, bos: list[int]) -> np.ndarray:
    """Full forward pass of BOS + text, token bits summed by hand per word."""
    model, tokenizer = _load(directory)
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    bits = _token_bits(model, bos + ids)  # bits[t] scores token t + 1 of bos + ids
    shift = len(bos) - 1
    out = []
    for span in _word_tokens(tokenizer, words):
        tokens = [t + shift for t in span]
        out.append(np.nan if min(tokens) < 0 else sum(bits[t] for t in tokens))
    return np.array(out)


WORDS = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
    "having nothing to do: once or twice she had peeped into the book"
).split()


def test_gpt2_equals_one_full_forward_pass_with_endoftext_as_bos(tiny_gpt2_lm_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_lm_dir)
    scorer = SurprisalModel(tiny_gpt2_lm_dir, batch_size=4)
    assert scorer.prefix == [tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    assert scorer.window == 64  # the model's n_positions
    n_tokens = len(tokenizer(" ".join(WORDS), add_special_tokens=False)["input_ids"])
    assert n_tokens + 1 <= scorer.window  # one pass: the window covers the text
    got = scorer.word_surprisal(WORDS)
    expected = _reference(tiny_gpt2_lm_dir, WORDS, scorer.prefix)
    assert got.shape == (len(WORDS),) and got.dtype == np.float64
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    assert SURPRISAL_UNIT == "bits"


def test_llama_with_its_own_bos_equals_one_full_forward_pass(llama_dir):
    tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    got = word_surprisal(llama_dir, WORDS, batch_size=2)
    bos = [tokenizer.bos_token_id]
    np.testing.assert_allclose(got, _reference(llama_dir, WORDS, bos), atol=ATOL, rtol=0)


def test_no_bos_token_gives_nan_for_each_groups_first_word_only(gpt2_nobos_dir):
    groups = ["a"] * 10 + ["b"] * (len(WORDS) - 10)
    got = word_surprisal(gpt2_nobos_dir, WORDS, groups=groups)
    assert np.isnan(got[0]) and np.isnan(got[10])
    assert np.isfinite(np.delete(got, [0, 10])).all()
    first = _reference(gpt2_nobos_dir, WORDS[:10], [])
    second = _reference(gpt2_nobos_dir, WORDS[10:], [])
    np.testing.assert_allclose(got, np.concatenate([first, second]), atol=ATOL, rtol=0)


def test_groups_never_share_context(tiny_gpt2_lm_dir):
    scorer = SurprisalModel(tiny_gpt2_lm_dir)
    together = scorer.word_surprisal(WORDS)
    split = scorer.word_surprisal(WORDS, groups=[0] * 12 + [1] * (len(WORDS) - 12))
    alone = scorer.word_surprisal(WORDS[12:])
    np.testing.assert_allclose(split[12:], alone, atol=ATOL, rtol=0)
    np.testing.assert_allclose(split[:12], together[:12], atol=ATOL, rtol=0)
    assert abs(split[12] - together[12]) > 1e-3  # word 12 lost its context


def test_window_covering_the_text_equals_the_default(tiny_gpt2_lm_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_lm_dir)
    n_tokens = len(tokenizer(" ".join(WORDS), add_special_tokens=False)["input_ids"])
    full = word_surprisal(tiny_gpt2_lm_dir, WORDS)
    exact = word_surprisal(tiny_gpt2_lm_dir, WORDS, window=n_tokens + 1, min_context=5)
    np.testing.assert_allclose(exact, full, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    ("directory", "window", "min_context"),
    [
        ("tiny_gpt2_lm_dir", 12, 4),
        ("tiny_gpt2_lm_dir", 9, 7),
        ("llama_dir", 10, 3),
        ("gpt2_nobos_dir", 8, 3),
    ],
)
def test_short_window_equals_per_position_recomputation(request, directory, window, min_context):
    directory = request.getfixturevalue(directory)
    model, tokenizer = _load(directory)
    scorer = SurprisalModel(directory, window=window, min_context=min_context, batch_size=3)
    prefix = scorer.prefix
    ids = tokenizer(" ".join(WORDS), add_special_tokens=False)["input_ids"]
    text_length = window - len(prefix)
    assert len(ids) > 3 * text_length  # several windows
    context = context_lengths(len(ids), text_length, text_length - min_context)
    assert context[text_length:].min() >= min_context
    assert context.max() <= text_length - 1
    # each token j recomputed alone from prefix + its c_j tokens of left context
    token_bits = np.full(len(ids), np.nan)
    for j in range(len(ids)):
        window_ids = prefix + ids[j - context[j] : j + 1]
        if len(window_ids) >= 2:
            token_bits[j] = _token_bits(model, window_ids)[-1]
    expected = np.array([token_bits[list(span)].sum() for span in _word_tokens(tokenizer, WORDS)])
    got = scorer.word_surprisal(WORDS)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    # and the short window really changed late words (less context than the full pass)
    full = word_surprisal(directory, WORDS)
    assert np.nanmax(np.abs(got - full)) > 1e-3


def test_context_lengths_follow_the_documented_rule():
    got = context_lengths(20, text_length=6, stride=4)  # min_context 2
    assert got.tolist() == [0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3, 4, 5, 2, 3]


def test_bert_is_refused_with_its_name(tiny_bert_dir):
    with pytest.raises(NotCausalModelError, match=r"not a causal language model") as error:
        word_surprisal(tiny_bert_dir, WORDS)
    assert str(tiny_bert_dir) in str(error.value) and "bert" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_bad_settings_are_named(tiny_gpt2_lm_dir):
    with pytest.raises(ValueError, match="min_context=40"):
        SurprisalModel(tiny_gpt2_lm_dir, window=20, min_context=40)
    with pytest.raises(ValueError, match="window=100 exceeds the 64 positions"):
        SurprisalModel(tiny_gpt2_lm_dir, window=100)
    with pytest.raises(ValueError, match="batch_size=0"):
        SurprisalModel(tiny_gpt2_lm_dir, batch_size=0)
    with pytest.raises(ValueError, match="groups has shape"):
        word_surprisal(tiny_gpt2_lm_dir, WORDS, groups=[0, 1])
    with pytest.raises(ValueError, match="contains whitespace"):
        word_surprisal(tiny_gpt2_lm_dir, ["two words"])


def test_store_hit_does_no_forward_pass(tiny_gpt2_lm_dir, tmp_path, monkeypatch):
    calls = []
    original = surprisal_module.SurprisalModel._forward

    def counting(self, batch):
        calls.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(surprisal_module.SurprisalModel, "_forward", counting)
    store = FeatureStore(tmp_path / "store")
    groups = [0] * 15 + [1] * (len(WORDS) - 15)
    first = word_surprisal(tiny_gpt2_lm_dir, WORDS, groups=groups, window=16, store=store)
    assert calls and len(store.entries()) == 1
    n_calls = len(calls)
    again = word_surprisal(tiny_gpt2_lm_dir, WORDS, groups=groups, window=16, store=store)
    assert len(calls) == n_calls  # read back, no forward pass
    np.testing.assert_array_equal(again, first)
    entry = store.entries().iloc[0]
    assert entry["key"]["context"]["window"] == 16 and entry["key"]["extra"]["unit"] == "bits"
    # another window, other groups or untrained weights are other entries
    word_surprisal(tiny_gpt2_lm_dir, WORDS, groups=groups, window=20, store=store)
    word_surprisal(tiny_gpt2_lm_dir, WORDS, window=16, store=store)
    word_surprisal(
        tiny_gpt2_lm_dir, WORDS, groups=groups, window=16, weights="untrained", store=store
    )
    assert len(store.entries()) == 4
