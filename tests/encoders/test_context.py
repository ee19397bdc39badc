"""TextEncoder.extract: sentences in isolation or with their passage, against plain passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from brainalign.encoders.features import Features
from brainalign.encoders.text import TextEncoder
from brainalign.stimuli import Stimuli

ATOL = 1e-4
SENTENCE_WORDS = (4, 3, 5, 2, 6, 3)  # words per sentence, cycled
PASSAGE_SIZES = (3, 5, 6)  # sentences per passage


@pytest.fixture(scope="module")
def passages(alice_words) -> list[list[str]]:
    """Three passages of 3, 5 and 6 short sentences, consecutive Alice words."""
    out, position, count = [], 0, 0
    for size in PASSAGE_SIZES:
        sentences = []
        for _ in range(size):
            n = SENTENCE_WORDS[count % len(SENTENCE_WORDS)]
            sentences.append(" ".join(alice_words[position : position + n]) + ".")
            position, count = position + n, count + 1
        out.append(sentences)
    return out


def flat(passages: list[list[str]]) -> tuple[list[str], list[str]]:
    """Sentences and their passage labels, in reading order."""
    sentences = [s for passage in passages for s in passage]
    groups = [f"p{g}" for g, passage in enumerate(passages) for _ in passage]
    return sentences, groups


def stacked(features: Features) -> np.ndarray:
    """Hidden states as one array, shape (n_layers, n_items, n_dims)."""
    return np.stack([features[name] for name in features.layer_names if "." not in name])


def read_last_sentence(model, tokenizer, sentences: list[str]) -> dict[str, np.ndarray]:
    """Encode ``" ".join(sentences)`` afresh with its special tokens; pool the last sentence.

    The last sentence's tokens are found by character offsets: those ending after the
    space before it (a whitespace-only token there opens the sentence; special tokens
    have empty offsets at 0, so they are never counted). Pooled both ways:
    ``{"last": ..., "mean": ...}``, each shape (n_layers, n_dims).
    """
    start = len(" ".join(sentences[:-1]))
    encoding = tokenizer(" ".join(sentences), return_offsets_mapping=True)
    ends = np.array([end for _, end in encoding["offset_mapping"]])
    mine = np.flatnonzero(ends > start)
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([encoding["input_ids"]]), output_hidden_states=True)
    hidden = np.stack([h[0].numpy() for h in output.hidden_states])
    return {"last": hidden[:, mine[-1]], "mean": hidden[:, mine].mean(axis=1)}


_PER_PREFIX: dict[int, tuple[object, dict[str, np.ndarray]]] = {}


def per_prefix(model, tokenizer, passages, pooling: str) -> np.ndarray:
    """Brain-Score style: one pass per sentence over the growing prefix of its passage.

    Both poolings come from the same passes, computed once per model (the fixture
    passages never change). Shape (n_layers, n_sentences, n_dims).
    """
    cached = _PER_PREFIX.get(id(model))
    if cached is None or cached[0] is not model:
        rows = [
            read_last_sentence(model, tokenizer, passage[: k + 1])
            for passage in passages
            for k in range(len(passage))
        ]
        pooled = {name: np.stack([row[name] for row in rows], axis=1) for name in ("last", "mean")}
        cached = _PER_PREFIX[id(model)] = (model, pooled)
    return cached[1][pooling]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def causal(request, tiny_gpt2_dir, tiny_llama_dir):
    directory = tiny_gpt2_dir if request.param == "gpt2" else tiny_llama_dir
    model = AutoModel.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    encoder = TextEncoder(directory, batch_size=8, progress=False)
    return model, tokenizer, encoder


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    return model, tokenizer, TextEncoder(tiny_bert_dir, batch_size=8, progress=False)


# ------------------------------------------------------------------- causal models


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_causal_passage_equals_per_prefix_reencoding(causal, passages, pooling):
    model, tokenizer, encoder = causal
    sentences, groups = flat(passages)
    longest = max(len(tokenizer(" ".join(p))["input_ids"]) for p in passages)
    assert longest <= encoder.max_length  # each passage is one forward pass
    features = encoder.extract(sentences, groups=groups, pooling=pooling)
    got = stacked(features)
    assert got.shape == (encoder.n_layers, len(sentences), model.config.hidden_size)
    np.testing.assert_allclose(got, per_prefix(model, tokenizer, passages, pooling), atol=ATOL)
    prov = features.provenance
    assert prov["context"] == "passage" and prov["level"] == "sentence"
    assert prov["pooling"] == pooling and prov["n_passes"] == len(passages)
    assert prov["n_groups"] == len(passages)


def test_causal_batching_across_passages_changes_nothing(causal, passages):
    _, _, encoder = causal
    sentences, groups = flat(passages)
    batched = stacked(encoder.extract(sentences, groups=groups, pooling="mean"))
    encoder.batch_size = 1
    try:
        alone = stacked(encoder.extract(sentences, groups=groups, pooling="mean"))
    finally:
        encoder.batch_size = 8
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_causal_isolated_is_one_pass_per_sentence(causal, passages):
    model, tokenizer, encoder = causal
    sentences, groups = flat(passages)
    references = [read_last_sentence(model, tokenizer, [s]) for s in sentences]
    for pooling in ("last", "mean"):
        features = encoder.extract(sentences, groups=groups, context="isolated", pooling=pooling)
        expected = np.stack([reference[pooling] for reference in references], axis=1)
        np.testing.assert_allclose(stacked(features), expected, atol=ATOL)
        assert features.provenance["n_passes"] == len(sentences)
        assert features.provenance["context"] == "isolated"


def test_causal_long_passage_uses_sliding_windows(tiny_gpt2_dir, passages):
    """A passage over max_length: sentences inside the first window still equal per-prefix."""
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    encoder = TextEncoder(tiny_gpt2_dir, max_length=24, stride=12, progress=False)
    passage = [s for p in passages for s in p][:10]
    features = encoder.extract(passage)
    assert features.provenance["n_passes"] > 1
    got = stacked(features)
    assert np.all(np.isfinite(got))
    for k in range(len(passage)):
        if len(tokenizer(" ".join(passage[: k + 1]))["input_ids"]) > 24:
            break
        expected = read_last_sentence(model, tokenizer, passage[: k + 1])["last"]
        np.testing.assert_allclose(got[:, k], expected, atol=ATOL)
    assert k >= 2


def test_passage_heads_and_blocks_come_from_the_same_passes(tiny_gpt2_dir, passages):
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    sentences, groups = flat(passages)
    plain = encoder.extract(sentences, groups=groups, pooling="mean", layers=[0, 1])
    full = encoder.extract(
        sentences, groups=groups, pooling="mean", layers=[0, 1], heads=True, blocks=True
    )
    assert full.layer_names == ["0", "1", "1.attention", "1.mlp", "1.heads"]
    assert full["1.heads"].shape == (len(sentences), 2, 16)
    np.testing.assert_array_equal(full["1"], plain["1"])
    # GPT-2 residual stream: block 1's output is its input plus its attention and MLP outputs
    np.testing.assert_allclose(
        full["0"] + full["1.attention"] + full["1.mlp"], full["1"], atol=1e-5
    )


# ------------------------------------------------------------- bidirectional models


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_bert_passage_sentence_k_reads_sentences_up_to_k(bert, passages, pooling):
    model, tokenizer, encoder = bert
    sentences, groups = flat(passages)
    features = encoder.extract(sentences, groups=groups, pooling=pooling)
    np.testing.assert_allclose(
        stacked(features), per_prefix(model, tokenizer, passages, pooling), atol=ATOL
    )
    assert features.provenance["n_passes"] == len(sentences)


def test_bert_passage_never_looks_ahead(bert, passages):
    _, _, encoder = bert
    passage = list(passages[2])
    before = stacked(encoder.extract(passage))
    passage[3] = "The Queen of Hearts shouted loudly."
    after = stacked(encoder.extract(passage))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    assert not np.allclose(after[:, 3], before[:, 3])


def test_bert_isolated_and_left_truncation_by_whole_sentences(tiny_bert_dir, bert, passages):
    model, tokenizer, encoder = bert
    passage = passages[2]
    isolated = stacked(encoder.extract(passage, context="isolated"))
    for k, sentence in enumerate(passage):
        np.testing.assert_allclose(
            isolated[:, k], read_last_sentence(model, tokenizer, [sentence])["last"], atol=ATOL
        )
    short = TextEncoder(tiny_bert_dir, max_length=16, progress=False)
    got = stacked(short.extract(passage))
    for k in range(len(passage)):
        start = k  # drop whole sentences from the left until "[CLS] ... [SEP]" fits
        while start > 0 and len(tokenizer(" ".join(passage[start - 1 : k + 1]))["input_ids"]) <= 16:
            start -= 1
        expected = read_last_sentence(model, tokenizer, passage[start : k + 1])["last"]
        np.testing.assert_allclose(got[:, k], expected, atol=ATOL, err_msg=f"sentence {k}")


# ------------------------------------------------------------------ inputs and words


def test_stimuli_table_gives_ids_groups_and_onsets(causal, passages):
    _, _, encoder = causal
    sentences, groups = flat(passages)
    # groups interleaved row by row; rows of one group keep their reading order
    by_group = [[i for i, g in enumerate(groups) if g == label] for label in dict.fromkeys(groups)]
    order = [i for column in zip(*by_group, strict=False) for i in column]
    order += [i for rows in by_group for i in rows if i not in order]
    table = pd.DataFrame(
        {
            "stimulus_id": [f"s{i}" for i in order],
            "group": [groups[i] for i in order],
            "text": [sentences[i] for i in order],
            "onset": np.arange(len(order), dtype=float),
        }
    )
    features = encoder.extract(Stimuli(table), layers=[0, 2])
    reference = encoder.extract(sentences, groups=groups, layers=[0, 2])
    assert features.layer_names == ["0", "2"]
    assert list(features.stimulus_ids) == [f"s{i}" for i in order]
    np.testing.assert_array_equal(features.onsets, np.arange(len(order)))
    np.testing.assert_allclose(features["2"], reference["2"][order], atol=1e-5)


def test_first_pooling_of_a_multi_token_word(tiny_gpt2_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_gpt2_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    words = alice_words[:8] + ["unbelievableness"] + alice_words[8:12]
    encoding = tokenizer(" ".join(words), return_offsets_mapping=True)
    target = len(" ".join(words[:8])) + 1  # first character of the long word
    ends = np.array([end for _, end in encoding["offset_mapping"]])
    starts = np.array([start for start, _ in encoding["offset_mapping"]])
    tokens = np.flatnonzero((ends > target) & (starts < target + len("unbelievableness")))
    assert len(tokens) > 1
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([encoding["input_ids"]]), output_hidden_states=True)
    hidden = np.stack([h[0].numpy() for h in output.hidden_states])
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    for features in (
        encoder.encode_words(words, pooling="first"),
        encoder.extract(words, context="window", pooling="first"),
    ):
        np.testing.assert_allclose(stacked(features)[:, 8], hidden[:, tokens[0]], atol=ATOL)
        assert features.provenance["pooling"] == "first"
    last = stacked(encoder.extract(words, context="window", level="word"))
    np.testing.assert_allclose(last[:, 8], hidden[:, tokens[-1]], atol=ATOL)


def test_word_level_window_routes_to_encode_words_per_group(tiny_gpt2_dir, alice_words):
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    story_a, story_b = alice_words[:20], alice_words[20:35]
    words = story_a + story_b
    groups = ["a"] * len(story_a) + ["b"] * len(story_b)
    features = encoder.extract(words, context="window", groups=groups, pooling="mean")
    expected = np.concatenate(
        [stacked(encoder.encode_words(s, pooling="mean")) for s in (story_a, story_b)], axis=1
    )
    np.testing.assert_allclose(stacked(features), expected, atol=1e-6)
    prov = features.provenance
    assert prov["level"] == "word" and prov["context"] == "causal-window"
    assert prov["n_words"] == len(words) and prov["n_groups"] == 2


def test_word_stimuli_table_keeps_space_before_and_onsets(tiny_gpt2_dir):
    words = ["Alice", "thought", "I", "'ll", "go", "to", "her", "sister", "'s", "bank"]
    attached = [not word.startswith("'") for word in words]
    table = pd.DataFrame(
        {
            "stimulus_id": [f"w{i}" for i in range(len(words))],
            "group": "story",
            "text": words,
            "onset": np.arange(len(words)) * 0.3,
            "space_before": attached,
        }
    )
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    features = encoder.extract(Stimuli(table), context="window")
    expected = encoder.encode_words(words, space_before=attached)
    np.testing.assert_array_equal(stacked(features), stacked(expected))
    np.testing.assert_allclose(features.onsets, table["onset"])
    assert list(features.stimulus_ids) == list(table["stimulus_id"])


def test_first_pooling_on_a_bidirectional_model(bert, alice_words):
    model, tokenizer, _ = bert
    encoder = TextEncoder(bert[2].source, context_words=3, progress=False)
    words = alice_words[:3] + ["unbelievableness"]
    got = stacked(encoder.encode_words(words, pooling="first"))
    ids = tokenizer(" ".join(words[1:]))["input_ids"]  # [CLS] was beginning unbeliev... [SEP]
    first_subword = 1 + len(tokenizer(" ".join(words[1:3]), add_special_tokens=False)["input_ids"])
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    hidden = np.stack([h[0].numpy() for h in output.hidden_states])
    assert len(ids) - 1 - first_subword > 1  # the word has several tokens
    np.testing.assert_allclose(got[:, 3], hidden[:, first_subword], atol=ATOL)


def test_bad_arguments_are_clear_errors(tiny_gpt2_dir, passages):
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    sentences, groups = flat(passages)
    with pytest.raises(ValueError, match="context='sliding'"):
        encoder.extract(sentences, context="sliding")
    with pytest.raises(ValueError, match="pooling='max'"):
        encoder.extract(sentences, pooling="max")
    with pytest.raises(ValueError, match="pooling='first'.*sentence"):
        encoder.extract(sentences, pooling="first")
    with pytest.raises(ValueError, match="level='token'"):
        encoder.extract(sentences, level="token")
    with pytest.raises(ValueError, match="level='word'"):
        encoder.extract(sentences, level="word", context="passage")
    with pytest.raises(ValueError, match="level='word'"):
        encoder.extract(sentences, level="sentence", context="window")
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        encoder.extract(["Alice was tired.", "  ", "She sat."])
    with pytest.raises(ValueError, match=r"groups has shape \(3,\); expected \(4,\)"):
        encoder.extract(sentences[:4], groups=groups[:3])
    with pytest.raises(ValueError, match="not a str"):
        encoder.extract("Alice was tired.")
    with pytest.raises(ValueError, match="no sentences"):
        encoder.extract([])
    table = pd.DataFrame({"stimulus_id": [0, 1], "group": ["a", "a"], "text": sentences[:2]})
    with pytest.raises(ValueError, match="groups= is taken from the Stimuli"):
        encoder.extract(Stimuli(table), groups=["a", "b"])
    with pytest.raises(ValueError, match="more than fit"):
        TextEncoder(tiny_gpt2_dir, max_length=8, progress=False).extract(
            [" ".join(sentences)], context="isolated"
        )
