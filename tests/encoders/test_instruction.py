"""Instruction-conditioned text features: TextEncoder(..., instruction=, instruction_format=).

Every check runs the model by hand on the string it should read (instruction, separator,
text, special tokens or chat template) and finds each word's tokens by character offsets
in that string, independently of the encoder's own planning.
"""

from __future__ import annotations

import hashlib
import math
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from brainalign.encoders.models import ModelLoadError
from brainalign.encoders.store import FeatureStore, key_sha256
from brainalign.encoders.text import TextEncoder

ATOL = 1e-5
TASK = "Read the story and picture each scene."
OTHER = "Count the animals in the story."
SENTENCES = [
    "Alice was beginning to get very tired.",
    "She had peeped into the book.",
    "It had no pictures in it.",
]
#: The tokenizer's own BOS, a role line and EOS after the turn: only tokens the tiny
#: LLaMA's tokenizer (and embedding matrix) already has.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}[{{ message['role'] }}]\n"
    "{{ message['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}[assistant]\n{% endif %}"
)


def hidden_states(model, ids: list[int]) -> np.ndarray:
    """All hidden states of one unpadded pass, shape (n_layers, n_tokens, n_dims)."""
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return np.stack([h[0].float().numpy() for h in output.hidden_states])


def stacked(features) -> np.ndarray:
    """Hidden-state features as one array, shape (n_layers, n_items, n_dims)."""
    return np.stack([features[name] for name in features.layer_names if "." not in name])


def token_at(offsets, char: int) -> int:
    """The token whose character span holds ``char``."""
    return next(t for t, (start, end) in enumerate(offsets) if start <= char < end)


def framed(tokenizer, string: str, text: str, *, special: bool):
    """Ids and offsets of ``string``, and where ``text`` (found in it once) starts."""
    encoding = tokenizer(string, add_special_tokens=special, return_offsets_mapping=True)
    return encoding["input_ids"], encoding["offset_mapping"], string.index(text)


def word_ends(words: list[str], start: int) -> list[int]:
    """Character index of each word's last character in ``" ".join(words)`` at ``start``."""
    ends, position = [], start
    for word in words:
        ends.append(position + len(word) - 1)
        position += len(word) + 1
    return ends


def chat_string(tokenizer, content: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=False
    )


@pytest.fixture(scope="module")
def chat_llama_dir(tmp_path_factory, tiny_llama_dir):
    """The session's tiny LLaMA, its tokenizer given :data:`CHAT_TEMPLATE`."""
    directory = tmp_path_factory.mktemp("tiny-llama-chat")
    shutil.copytree(tiny_llama_dir, directory, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_dir):
    return AutoModel.from_pretrained(tiny_gpt2_dir).eval(), AutoTokenizer.from_pretrained(
        tiny_gpt2_dir
    )


@pytest.fixture(scope="module")
def llama(chat_llama_dir):
    return AutoModel.from_pretrained(chat_llama_dir).eval(), AutoTokenizer.from_pretrained(
        chat_llama_dir
    )


@pytest.fixture(scope="module")
def gpt2_task(tiny_gpt2_dir):
    return TextEncoder(tiny_gpt2_dir, instruction=TASK, batch_size=8, progress=False)


# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_plain_gpt2_words_equal_one_pass_over_instruction_and_text(
    gpt2, gpt2_task, alice_words, pooling
):
    model, tokenizer = gpt2
    words = alice_words[:20]
    text = " ".join(words)
    ids, offsets, start = framed(tokenizer, TASK + "\n" + text, text, special=False)
    assert len(ids) <= 64
    hidden = hidden_states(model, ids)
    got = stacked(gpt2_task.encode_words(words, pooling=pooling))
    word_starts = [start] + [start + len(" ".join(words[: i + 1])) + 1 for i in range(19)]
    for i, end in enumerate(word_ends(words, start)):
        last = token_at(offsets, end)
        first = token_at(offsets, word_starts[i] - (i > 0))  # " word": the space opens it
        want = hidden[:, last] if pooling == "last" else hidden[:, first : last + 1].mean(axis=1)
        np.testing.assert_allclose(got[:, i], want, atol=ATOL, err_msg=f"word {i}")
    assert gpt2_task.n_instruction_tokens == len(
        tokenizer(TASK + "\n", add_special_tokens=False)["input_ids"]
    )


def test_no_instruction_reads_the_text_alone(gpt2, tiny_gpt2_dir, alice_words):
    model, tokenizer = gpt2
    words = alice_words[:20]
    text = " ".join(words)
    ids, offsets, _ = framed(tokenizer, text, text, special=False)
    want = hidden_states(model, ids)[:, [token_at(offsets, end) for end in word_ends(words, 0)]]
    features = TextEncoder(tiny_gpt2_dir, instruction=None, progress=False).encode_words(words)
    np.testing.assert_allclose(stacked(features), want, atol=ATOL)
    assert "instruction" not in features.provenance


def test_plain_llama_sliding_windows_repeat_bos_and_instruction(llama, chat_llama_dir, alice_words):
    model, tokenizer = llama
    words = alice_words[:60]
    text = " ".join(words)
    ids, offsets, start = framed(tokenizer, TASK + "\n" + text, text, special=True)
    first_text = next(t for t, (_, end) in enumerate(offsets) if end > start)
    prefix, text_ids = ids[:first_text], ids[first_text:]
    assert prefix[0] == tokenizer.bos_token_id and len(prefix) > 3
    max_length, stride = 40, 6
    encoder = TextEncoder(
        chat_llama_dir,
        instruction=TASK,
        max_length=max_length,
        stride=stride,
        batch_size=4,
        progress=False,
    )
    features = encoder.encode_words(words)
    got = stacked(features)
    length = max_length - len(prefix)  # the instruction shrinks every window
    for i, end in enumerate(word_ends(words, start)):
        last = token_at(offsets, end) - first_text
        k = 0 if last < length else math.ceil((last - length + 1) / stride)
        window = prefix + text_ids[k * stride : last + 1]
        assert len(window) <= max_length
        np.testing.assert_allclose(
            got[:, i], hidden_states(model, window)[:, -1], atol=ATOL, err_msg=f"word {i}"
        )
    assert features.provenance["n_windows"] > 1
    assert features.provenance["instruction"]["text"] == TASK


def test_plain_bert_windows_wrap_instruction_and_words(tiny_bert_dir, alice_words):
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    words = alice_words[:12]
    encoder = TextEncoder(
        tiny_bert_dir, instruction=TASK, context_words=4, batch_size=5, progress=False
    )
    got = stacked(encoder.encode_words(words))
    for i in range(len(words)):
        window = " ".join(words[max(0, i - 3) : i + 1])
        hidden = hidden_states(model, tokenizer(TASK + "\n" + window)["input_ids"])
        np.testing.assert_allclose(got[:, i], hidden[:, -2], atol=ATOL, err_msg=f"word {i}")


def test_chat_template_wraps_instruction_and_text_as_a_user_turn(
    llama, chat_llama_dir, alice_words
):
    model, tokenizer = llama
    words = alice_words[:15]
    text = " ".join(words)
    string = chat_string(tokenizer, TASK + "\n" + text)
    assert string.startswith("<s>[user]\n" + TASK + "\n") and string.endswith(
        text + "<|endoftext|>"
    )
    ids, offsets, start = framed(tokenizer, string, text, special=False)
    hidden = hidden_states(model, ids)  # causal: the end-of-turn token changes nothing
    encoder = TextEncoder(
        chat_llama_dir, instruction=TASK, instruction_format="chat", progress=False
    )
    features = encoder.encode_words(words)
    want = hidden[:, [token_at(offsets, end) for end in word_ends(words, start)]]
    np.testing.assert_allclose(stacked(features), want, atol=ATOL)
    plain = TextEncoder(chat_llama_dir, instruction=TASK, progress=False).encode_words(words)
    assert not np.allclose(stacked(plain), stacked(features), atol=1e-3)
    template_sha = hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()
    assert features.provenance["instruction"]["template_sha256"] == template_sha
    key = encoder.words_store_key(words)
    assert key["context"]["instruction"]["template_sha256"] == template_sha
    assert key_sha256(key) != key_sha256(
        TextEncoder(chat_llama_dir, instruction=TASK, progress=False).words_store_key(words)
    )


def test_chat_isolated_sentences_pool_the_sentence_only(llama, chat_llama_dir):
    model, tokenizer = llama
    encoder = TextEncoder(
        chat_llama_dir, instruction=TASK, instruction_format="chat", progress=False
    )
    got = stacked(encoder.extract(SENTENCES, context="isolated", pooling="mean"))
    for index, sentence in enumerate(SENTENCES):
        ids, offsets, start = framed(
            tokenizer, chat_string(tokenizer, TASK + "\n" + sentence), sentence, special=False
        )
        mine = [t for t, (s, e) in enumerate(offsets) if e > start and s < start + len(sentence)]
        want = hidden_states(model, ids)[:, mine].mean(axis=1)
        np.testing.assert_allclose(got[:, index], want, atol=ATOL, err_msg=f"sentence {index}")


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_instruction_tokens_are_pooled_only_when_asked(family, tiny_gpt2_dir, tiny_bert_dir):
    directory = tiny_gpt2_dir if family == "gpt2" else tiny_bert_dir
    model = AutoModel.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    encoder = TextEncoder(directory, instruction=TASK, batch_size=2, progress=False)
    alone = stacked(encoder.extract(SENTENCES, context="isolated", pooling="mean"))
    pooled = encoder.extract(
        SENTENCES, context="isolated", pooling="mean", include_instruction=True
    )
    assert pooled.provenance["instruction"]["pooled"] is True
    n_cls = 0 if family == "gpt2" else 1
    for index, sentence in enumerate(SENTENCES):
        ids, offsets, start = framed(
            tokenizer, TASK + "\n" + sentence, sentence, special=family == "bert"
        )
        hidden = hidden_states(model, ids)
        stop = len(ids) - n_cls  # before [SEP]
        mine = [t for t in range(stop) if offsets[t][1] > start]
        np.testing.assert_allclose(alone[:, index], hidden[:, mine].mean(axis=1), atol=ATOL)
        np.testing.assert_allclose(
            stacked(pooled)[:, index], hidden[:, n_cls:stop].mean(axis=1), atol=ATOL
        )


# ------------------------------------------------------------------ keys and the store


def test_different_instructions_give_different_features_and_keys(gpt2_task, tiny_gpt2_dir):
    other = TextEncoder(tiny_gpt2_dir, instruction=OTHER, batch_size=8, progress=False)
    none = TextEncoder(tiny_gpt2_dir, batch_size=8, progress=False)
    features = [e.extract(SENTENCES, context="passage") for e in (gpt2_task, other, none)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not np.allclose(stacked(features[a])[1:], stacked(features[b])[1:], atol=1e-3)
    keys = [e.extract_store_key(SENTENCES, context="passage") for e in (gpt2_task, other, none)]
    assert len({key_sha256(key) for key in keys}) == 3
    assert keys[0]["context"]["instruction"] == {"text": TASK, "format": "plain", "separator": "\n"}
    assert "instruction" not in keys[2]["context"] and "instruction" not in features[2].provenance
    pooled = gpt2_task.extract_store_key(
        SENTENCES, context="isolated", pooling="mean", include_instruction=True
    )
    assert key_sha256(pooled) != key_sha256(
        gpt2_task.extract_store_key(SENTENCES, context="isolated", pooling="mean")
    )


def test_no_instruction_keeps_the_keys_of_before():
    """Keys of MiniLM computed before instructions existed (hub name, offline copy)."""
    encoder = TextEncoder("sentence-transformers/all-MiniLM-L6-v2", context_words=5, progress=False)
    assert encoder.instruction is None and encoder.n_instruction_tokens == 0
    words = ["Alice", "was", "beginning", "to", "get", "very", "tired"]
    items = ["She", "had", "peeped", "into", "the", "book."]
    keys = [
        encoder.words_store_key(words, layers=[0, 3], onsets=np.arange(7) * 0.5),
        encoder.extract_store_key(items, context="isolated", pooling="mean"),
        encoder.extract_store_key(items, context="passage", groups=["a"] * 3 + ["b"] * 3),
    ]
    assert [key_sha256(key) for key in keys] == [
        "0d139387139faab9c46ac8bb002453bdc746b0079934eaa1a7c964ba92e99b57",
        "663dbe85f403daf18656266f9a2f3124f97b605727c995cfcfa4cb375a123823",
        "d1668ff058ef9228f95f4c598d6b75e79f957ef660cd596012eb26170408c947",
    ]


def test_store_round_trip_keeps_instructions_apart(gpt2_task, tiny_gpt2_dir, alice_words, tmp_path):
    words = alice_words[:25]
    store = FeatureStore(tmp_path)
    first = gpt2_task.encode_words(words, layers=[1, 2], store=store)
    assert store.has(gpt2_task.words_store_key(words, layers=[1, 2]))
    again = gpt2_task.encode_words(words, layers=[1, 2], store=store)
    np.testing.assert_array_equal(stacked(again), stacked(first))
    np.testing.assert_allclose(
        stacked(first), stacked(gpt2_task.encode_words(words, layers=[1, 2])), atol=0
    )
    assert again.provenance["instruction"]["text"] == TASK
    other = TextEncoder(tiny_gpt2_dir, instruction=OTHER, progress=False)
    other.encode_words(words, layers=[1, 2], store=store)
    TextEncoder(tiny_gpt2_dir, progress=False).encode_words(words, layers=[1, 2], store=store)
    assert len(store.entries()) == 3


# ------------------------------------------------------------------------------ errors


def test_chat_without_a_template_is_refused(tiny_gpt2_dir):
    with pytest.raises(ModelLoadError, match="no chat template|has none") as error:
        TextEncoder(tiny_gpt2_dir, instruction=TASK, instruction_format="chat", progress=False)
    assert "instruction_format='plain'" in str(error.value)


def test_instruction_longer_than_the_window_is_an_error(tiny_gpt2_dir, tiny_bert_dir):
    long = " ".join([TASK] * 12)
    with pytest.raises(ValueError, match=r"instruction takes \d+ tokens.*max_length 64"):
        TextEncoder(tiny_gpt2_dir, instruction=long, progress=False)
    n_task = len(AutoTokenizer.from_pretrained(tiny_bert_dir)(TASK + "\n")["input_ids"])
    with pytest.raises(ValueError, match=f"max_length {n_task}"):
        TextEncoder(tiny_bert_dir, instruction=TASK, max_length=n_task, progress=False)
    fits = TextEncoder(tiny_bert_dir, instruction=TASK, max_length=n_task + 1, progress=False)
    assert fits.n_instruction_tokens == n_task - 2  # [CLS] and [SEP] are not the instruction


def test_a_long_instruction_shrinks_the_default_stride(tiny_gpt2_dir, gpt2_task):
    assert gpt2_task.stride == 32
    long = TextEncoder(tiny_gpt2_dir, instruction=" ".join([TASK] * 2), progress=False)
    assert 1 <= long.stride <= 64 - long.n_instruction_tokens < 32


def test_bad_instruction_settings_are_clear_errors(tiny_gpt2_dir, gpt2_task):
    with pytest.raises(ValueError, match="without an instruction"):
        TextEncoder(tiny_gpt2_dir, instruction_format="chat", progress=False)
    with pytest.raises(ValueError, match="instruction_format='html'"):
        TextEncoder(tiny_gpt2_dir, instruction=TASK, instruction_format="html", progress=False)
    with pytest.raises(ValueError, match="non-empty string"):
        TextEncoder(tiny_gpt2_dir, instruction="  ", progress=False)
    with pytest.raises(ValueError, match="context='isolated'"):
        gpt2_task.extract(SENTENCES, context="passage", pooling="mean", include_instruction=True)
    with pytest.raises(ValueError, match="has no instruction"):
        TextEncoder(tiny_gpt2_dir, progress=False).extract(
            SENTENCES, context="isolated", pooling="mean", include_instruction=True
        )
