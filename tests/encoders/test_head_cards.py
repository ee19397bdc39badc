"""head_properties: per-head induction, previous-token and attention scores.

The pure scores are checked on hand-built attention patterns (perfect induction and
previous-token heads score 1; uniform causal and bidirectional attention give their
exact expected values). On two tiny models built here (GPT-2 and BERT, 2 blocks, 4
heads, 32 dims, every parameter perturbed so attention is far from uniform, saved with
the session's real tokenizers), the attention probabilities are first checked against
softmax(q k^T / sqrt(d_head)) written out from each block's own q/k projections and its
input hidden state, then the table against a brute-force loop over heads, sequences and
queries of those probabilities. Seeds, the untrained twin, the store and bad input too.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import transformers as tf

from brainalign.encoders import head_cards
from brainalign.encoders.head_cards import (
    HEAD_PROPERTIES_VERSION,
    HEAD_PROPERTY_COLUMNS,
    head_properties,
    head_property_scores,
    induction_scores,
    previous_token_scores,
    repeated_random_tokens,
)
from brainalign.encoders.store import FeatureStore

ATOL = 1e-5
N_HEADS, D_MODEL = 4, 32
SETTINGS = {"n_sequences": 5, "sequence_length": 12, "batch_size": 2}


# ------------------------------------------------------------------ hand-built patterns


def _uniform(n: int, causal: bool) -> np.ndarray:
    """(n, n) attention spreading each query evenly over its keys."""
    allowed = np.tril(np.ones((n, n))) if causal else np.ones((n, n))
    return allowed / allowed.sum(axis=1, keepdims=True)


def _induction(n: int, repeat: int, offset: int) -> np.ndarray:
    """(n, n) causal attention: second-repeat queries on q - R + 1, the rest on themselves."""
    pattern = np.eye(n)
    for q in range(offset + repeat, offset + 2 * repeat):
        pattern[q] = 0.0
        pattern[q, q - repeat + 1] = 1.0
    return pattern


def _previous(n: int) -> np.ndarray:
    """(n, n) attention on the previous token (the first query on itself)."""
    pattern = np.eye(n, k=-1)
    pattern[0, 0] = 1.0
    return pattern


@pytest.mark.parametrize("offset", [0, 1])
def test_induction_scores_of_hand_built_patterns(offset):
    repeat = 5
    n = offset + 2 * repeat
    heads = [
        _induction(n, repeat, offset),
        _uniform(n, True),
        _uniform(n, False),
        _previous(n),
    ]
    attentions = np.stack([np.stack(heads)] * 3)  # (3 sequences, 4 heads, n, n)
    scores = induction_scores(attentions, repeat, offset)
    queries = np.arange(offset + repeat, offset + 2 * repeat)
    expected = [1.0, np.mean(1.0 / (queries + 1)), 1.0 / n, 0.0]
    np.testing.assert_allclose(scores, expected, atol=1e-7)
    assert scores.shape == (4,) and scores.dtype == np.float64
    # torch input gives the same numbers
    np.testing.assert_allclose(induction_scores(torch.tensor(attentions), repeat, offset), scores)


def test_previous_token_scores_of_hand_built_patterns():
    n = 9
    attentions = np.stack([_previous(n), _uniform(n, True), _uniform(n, False), np.eye(n)])[None]
    queries = np.arange(1, n)
    expected = [1.0, np.mean(1.0 / (queries + 1)), 1.0 / n, 0.0]
    np.testing.assert_allclose(previous_token_scores(attentions), expected, atol=1e-7)


def test_all_scores_of_uniform_causal_attention():
    """Uniform causal attention: every column has a closed form over queries 1 .. n - 1."""
    repeat, offset = 4, 1
    n = offset + 2 * repeat
    scores = head_property_scores(_uniform(n, True)[None, None], repeat, offset)
    q = np.arange(1, n)
    second = np.arange(offset + repeat, offset + 2 * repeat)
    expected = [
        np.mean(1.0 / (second + 1)),  # induction
        np.mean(1.0 / (q + 1)),  # previous token
        np.mean(1.0 / (q + 1)),  # first token
        np.mean(np.log(q + 1)),  # entropy, nats
        np.mean(q / 2),  # distance: sum_k (q - k) / (q + 1)
    ]
    np.testing.assert_allclose(scores, [expected], atol=1e-6)


@pytest.mark.parametrize(
    ("attentions", "repeat", "offset", "match"),
    [
        (np.ones((2, 3, 4)), 2, 0, "batch, n_heads, seq, seq"),
        (np.ones((1, 1, 4, 5)), 2, 0, "batch, n_heads, seq, seq"),
        (np.ones((1, 1, 6, 6)), 1, 0, "repeat_length=1"),
        (np.ones((1, 1, 6, 6)), 3, 1, "fewer than offset"),
        (np.ones((1, 1, 6, 6)), 2, -1, "offset=-1"),
    ],
)
def test_scores_refuse_bad_input(attentions, repeat, offset, match):
    with pytest.raises(ValueError, match=match):
        induction_scores(attentions, repeat, offset)


# ------------------------------------------------------------------ the sequences


def test_repeated_random_tokens(tiny_gpt2_dir, tiny_gpt2_lm_dir, tiny_bert_dir):
    for directory, prefix in (
        (tiny_gpt2_lm_dir, "<|endoftext|>"),  # its BOS
        (tiny_bert_dir, "[CLS]"),  # no BOS: its CLS
        (tiny_gpt2_dir, None),  # neither
    ):
        tokenizer = tf.AutoTokenizer.from_pretrained(directory)
        ids, offset = repeated_random_tokens(
            tokenizer, n_sequences=6, sequence_length=30, seed=3, vocab_size=len(tokenizer)
        )
        assert ids.shape == (6, offset + 60) and ids.dtype == np.int64
        assert offset == (prefix is not None)
        if prefix is not None:
            assert set(ids[:, 0]) == {tokenizer.convert_tokens_to_ids(prefix)}
        first, second = ids[:, offset : offset + 30], ids[:, offset + 30 :]
        np.testing.assert_array_equal(first, second)
        assert all(len(set(row)) == 30 for row in first)  # without replacement
        assert not set(first.ravel()) & set(tokenizer.all_special_ids)
        assert len({tuple(row) for row in first}) == 6
    again, _ = repeated_random_tokens(tokenizer, n_sequences=6, sequence_length=30, seed=3)
    other, _ = repeated_random_tokens(tokenizer, n_sequences=6, sequence_length=30, seed=4)
    np.testing.assert_array_equal(again, ids)
    assert not np.array_equal(other, ids)
    small, _ = repeated_random_tokens(
        tokenizer, n_sequences=50, sequence_length=5, seed=0, vocab_size=20
    )
    assert small.max() < 20
    with pytest.raises(ValueError, match="non-special tokens"):
        repeated_random_tokens(tokenizer, n_sequences=1, sequence_length=30, seed=0, vocab_size=20)


# ------------------------------------------------------------------ tiny models


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter moved by N(0, 0.3^2): sharp, head-specific attention patterns."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.add_(0.3 * noise)
    return model.eval()


@pytest.fixture(autouse=True)
def _fresh_memo():
    """Each test computes its tables (the memo is exercised by its own test)."""
    head_cards._MEMO.clear()
    yield
    head_cards._MEMO.clear()


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, tiny_gpt2_lm_dir) -> Path:
    """GPT-2, 2 blocks x 4 heads x 32 dims, 64 positions, BPE tokenizer with a BOS."""
    directory = tmp_path_factory.mktemp("head-properties-gpt2")
    tokenizer = tf.AutoTokenizer.from_pretrained(tiny_gpt2_lm_dir)
    tokenizer.save_pretrained(directory)
    config = tf.GPT2Config(
        vocab_size=len(tokenizer),
        n_layer=2,
        n_embd=D_MODEL,
        n_head=N_HEADS,
        n_positions=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(11)
    _perturbed(tf.GPT2Model(config), 12).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, tiny_bert_dir) -> Path:
    """BERT, 2 blocks x 4 heads x 32 dims, 64 positions, MiniLM's WordPiece tokenizer."""
    directory = tmp_path_factory.mktemp("head-properties-bert")
    tokenizer = tf.AutoTokenizer.from_pretrained(tiny_bert_dir)
    tokenizer.save_pretrained(directory)
    config = tf.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=D_MODEL,
        num_hidden_layers=2,
        num_attention_heads=N_HEADS,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(13)
    _perturbed(tf.BertModel(config), 14).save_pretrained(directory)
    return directory


def _by_hand(model, hidden: torch.Tensor, block: int, family: str) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_head)) of a block from its own projections, (b, h, n, n)."""
    d_head = D_MODEL // N_HEADS
    if family == "gpt2":
        layer = model.h[block]
        q, k, _ = layer.attn.c_attn(layer.ln_1(hidden)).split(D_MODEL, dim=-1)
    else:
        attention = model.encoder.layer[block].attention.self
        q, k = attention.query(hidden), attention.key(hidden)
    q, k = (t.unflatten(-1, (N_HEADS, d_head)).transpose(1, 2) for t in (q, k))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d_head)
    if family == "gpt2":
        n = hidden.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, -math.inf)
    return scores.softmax(dim=-1)


def _brute_force(attentions: list[np.ndarray], repeat: int, offset: int) -> pd.DataFrame:
    """The table by loops over layers, heads, sequences and queries."""
    rows = []
    for block, layer in enumerate(attentions):
        n_sequences, n_heads, n, _ = layer.shape
        for head in range(n_heads):
            sums = dict.fromkeys(HEAD_PROPERTY_COLUMNS[2:], 0.0)
            for s in range(n_sequences):
                a = layer[s, head].astype(np.float64)
                for q in range(offset + repeat, offset + 2 * repeat):
                    sums["induction_score"] += a[q, q - repeat + 1] / repeat
                for q in range(1, n):
                    sums["previous_token_score"] += a[q, q - 1] / (n - 1)
                    sums["first_token_score"] += a[q, 0] / (n - 1)
                    entropy = -sum(p * math.log(p) for p in a[q] if p > 0)
                    sums["attention_entropy"] += entropy / (n - 1)
                    distance = sum(a[q, k] * abs(q - k) for k in range(n))
                    sums["attention_distance"] += distance / (n - 1)
            rows.append(
                {"layer": block + 1, "head": head, **{k: v / n_sequences for k, v in sums.items()}}
            )
    return pd.DataFrame(rows, columns=list(HEAD_PROPERTY_COLUMNS))


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_table_equals_a_brute_force_loop(family, gpt2_dir, bert_dir):
    directory = gpt2_dir if family == "gpt2" else bert_dir
    table = head_properties(directory, seed=5, **SETTINGS)
    assert list(table.columns) == list(HEAD_PROPERTY_COLUMNS)
    assert table[["layer", "head"]].values.tolist() == [[L, h] for L in (1, 2) for h in range(4)]
    assert table.attrs["provenance"]["definitions"] == HEAD_PROPERTIES_VERSION

    tokenizer = tf.AutoTokenizer.from_pretrained(directory)
    ids, offset = repeated_random_tokens(
        tokenizer, n_sequences=5, sequence_length=12, seed=5, vocab_size=len(tokenizer)
    )
    assert offset == 1
    model = tf.AutoModel.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.inference_mode():
        output = model(
            input_ids=torch.tensor(ids), output_attentions=True, output_hidden_states=True
        )
        for block in range(2):
            by_hand = _by_hand(model, output.hidden_states[block], block, family)
            torch.testing.assert_close(output.attentions[block], by_hand, atol=ATOL, rtol=0)
    expected = _brute_force([a.numpy() for a in output.attentions], 12, offset)
    pd.testing.assert_frame_equal(table, expected, atol=ATOL, rtol=0, check_dtype=False)
    # the patterns are far from uniform, so the comparison has teeth
    assert table["attention_entropy"].std() > 0.05
    assert table["induction_score"].max() - table["induction_score"].min() > 0.01


def test_minilm_has_a_previous_token_head(minilm_path):
    """The real all-MiniLM-L6-v2: block 0's head 2 attends to the previous token."""
    table = head_properties(minilm_path, n_sequences=4, sequence_length=20)
    assert len(table) == 6 * 12
    best = table.loc[table["previous_token_score"].idxmax()]
    assert (best["layer"], best["head"]) == (1, 2) and best["previous_token_score"] > 0.9
    assert best["attention_distance"] < 1.5  # it looks one token back
    untrained = head_properties(minilm_path, weights="untrained", n_sequences=4, sequence_length=20)
    assert untrained["previous_token_score"].max() < 0.1  # near-uniform over 41 tokens


def test_seed_and_weights_change_the_table(gpt2_dir):
    table = head_properties(gpt2_dir, seed=5, **SETTINGS)
    head_cards._MEMO.clear()  # computed again, not read from the process's memo
    pd.testing.assert_frame_equal(head_properties(gpt2_dir, seed=5, **SETTINGS), table)
    other = head_properties(gpt2_dir, seed=6, **SETTINGS)
    assert not np.allclose(other["induction_score"], table["induction_score"])
    untrained = head_properties(gpt2_dir, weights="untrained", seed=5, **SETTINGS)
    assert untrained.attrs["provenance"]["weights"] == "untrained"
    assert not np.allclose(untrained["attention_entropy"], table["attention_entropy"], atol=1e-3)
    spelled = head_properties(f"{gpt2_dir}@untrained", seed=5, **SETTINGS)
    pd.testing.assert_frame_equal(spelled, untrained)


def test_store_roundtrip_runs_no_forward_pass(gpt2_dir, tmp_path, monkeypatch):
    store = FeatureStore(tmp_path / "store")
    first = head_properties(gpt2_dir, seed=5, store=store, **SETTINGS)
    entries = store.entries()
    assert len(entries) == 1

    calls = []
    forward = tf.GPT2Model.forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(tf.GPT2Model, "forward", counting)
    head_cards._MEMO.clear()  # read the store, not the process's memo
    again = head_properties(gpt2_dir, seed=5, store=store, **SETTINGS)
    assert calls == []
    pd.testing.assert_frame_equal(again, first)
    assert again.attrs["provenance"]["n_sequences"] == 5
    # the same numbers as without a store
    pd.testing.assert_frame_equal(head_properties(gpt2_dir, seed=5, **SETTINGS), first)
    assert calls  # counted: the patch sees real forward passes
    # other settings are another entry
    head_properties(gpt2_dir, seed=5, store=store, **{**SETTINGS, "n_sequences": 4})
    assert len(store.entries()) == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sequence_length": 1}, "sequence_length=1"),
        ({"n_sequences": 0}, "n_sequences=0"),
        ({"weights": "random"}, "weights='random'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"sequence_length": 40}, "sequence_length <= 31"),
    ],
)
def test_bad_input_is_a_clear_error(gpt2_dir, options, match):
    with pytest.raises(ValueError, match=match):
        head_properties(gpt2_dir, **options)


def test_no_sequence_length_fits_the_longest_repeat_the_model_reads(tiny_gpt2_dir):
    # the tiny GPT-2 reads 64 tokens and its tokenizer has no BOS token: R = 64 // 2
    fitted = head_properties(str(tiny_gpt2_dir), sequence_length=None, n_sequences=3)
    assert fitted.attrs["provenance"]["sequence_length"] == 32
    explicit = head_properties(str(tiny_gpt2_dir), sequence_length=32, n_sequences=3)
    pd.testing.assert_frame_equal(fitted, explicit)


def test_a_repeated_call_loads_no_model_unless_the_weights_changed(
    tmp_path, tiny_gpt2_lm_dir, monkeypatch
):
    from brainalign.encoders import loading

    directory = tmp_path / "gpt2"
    tf.AutoTokenizer.from_pretrained(tiny_gpt2_lm_dir).save_pretrained(directory)
    config = tf.GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=32,
                           vocab_size=len(tf.AutoTokenizer.from_pretrained(directory)))  # fmt: skip
    _perturbed(tf.GPT2Model(config), 1).save_pretrained(directory)
    loads = []
    original = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: loads.append(1) or original(*a, **k))
    options = {"n_sequences": 2, "sequence_length": 5}
    first = head_properties(str(directory), **options)
    again = head_properties(str(directory), **options)
    assert len(loads) == 1
    pd.testing.assert_frame_equal(again, first)
    again["induction_score"] = 0.0  # a copy: the memo keeps its own table
    pd.testing.assert_frame_equal(head_properties(str(directory), **options), first)
    _perturbed(tf.GPT2Model(config), 2).save_pretrained(directory)  # rewritten in place
    rewritten = head_properties(str(directory), **options)
    assert len(loads) == 2
    assert not np.allclose(rewritten["attention_entropy"], first["attention_entropy"])
