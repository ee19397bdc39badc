"""Streaming text features into the feature store, batch by batch.

``encode_words`` / ``extract`` with ``store=`` write each pooled batch into the entry
of the key they build from their arguments as it is computed; the result must equal the
in-memory path bit for bit, a complete entry must cost no forward pass, and a failure
mid-stream must leave nothing that reads as an entry.
"""

import numpy as np
import pytest

from brainalign.encoders.store import (
    FeatureStore,
    IncompleteEntryError,
    feature_key,
    stimulus_hash,
)
from brainalign.encoders.text import TextEncoder

SENTENCES = [
    "Alice was beginning to get very tired.",
    "She had peeped into the book.",
    "It had no pictures in it.",
    "So she was considering in her own mind.",
    "The rabbit ran close by her.",
    "There was nothing so very remarkable in that.",
]
GROUPS = ["a", "a", "a", "b", "b", "b"]


@pytest.fixture(scope="module", params=["gpt2", "bert"])
def encoder(request, tiny_gpt2_dir, tiny_bert_dir):
    directory = tiny_gpt2_dir if request.param == "gpt2" else tiny_bert_dir
    options = {"max_length": 32, "stride": 16} if request.param == "gpt2" else {}
    return TextEncoder(
        directory, batch_size=7, context_words=4, weights="untrained", progress=False, **options
    )


def count_forwards(monkeypatch, encoder: TextEncoder, fail_at: int | None = None) -> list[int]:
    calls: list[int] = []
    forward = encoder._forward

    def counted(batch, **kwargs):
        calls.append(1)
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("boom in batch 3")
        return forward(batch, **kwargs)

    monkeypatch.setattr(encoder, "_forward", counted)
    return calls


def assert_same(streamed, in_ram) -> None:
    assert streamed.layer_names == in_ram.layer_names
    for name in in_ram.layer_names:
        assert isinstance(streamed[name], np.memmap)
        assert streamed[name].dtype == np.float32
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_ram[name])
    np.testing.assert_array_equal(streamed.stimulus_ids, in_ram.stimulus_ids)
    if in_ram.onsets is None:
        assert streamed.onsets is None
    else:
        np.testing.assert_array_equal(streamed.onsets, in_ram.onsets)
    for name in ("n_words", "n_tokens", "n_windows", "n_items", "n_passes", "context"):
        assert streamed.provenance.get(name) == in_ram.provenance.get(name)


def test_words_stream_equals_in_memory(encoder, alice_words, tmp_path):
    words = alice_words[:90]
    options = {"onsets": np.arange(90) * 0.3, "stimulus_ids": [f"w{i}" for i in range(90)]}
    in_ram = encoder.encode_words(words, heads=True, blocks=True, **options)
    store = FeatureStore(tmp_path)
    key = encoder.words_store_key(words, heads=True, blocks=True, **options)
    streamed = encoder.encode_words(words, heads=True, blocks=True, store=store, **options)
    assert store.has(key) and store.verify(key)
    assert_same(streamed, in_ram)
    assert streamed["1.heads"].ndim == 3


def test_second_call_does_no_forward_pass(encoder, alice_words, tmp_path, monkeypatch):
    words = alice_words[:40]
    store = FeatureStore(tmp_path)
    key = encoder.words_store_key(words, layers=[0, 2])
    calls = count_forwards(monkeypatch, encoder)
    first = encoder.encode_words(words, layers=[0, 2], store=store)
    assert len(calls) > 0 and store.has(key)
    before = len(calls)
    second = encoder.encode_words(words, layers=[0, 2], store=store)
    assert len(calls) == before
    assert_same(second, first)


@pytest.mark.parametrize("context", ["passage", "isolated"])
def test_sentences_stream_equals_in_memory(encoder, tmp_path, context):
    in_ram = encoder.extract(SENTENCES, context=context, groups=GROUPS)
    store = FeatureStore(tmp_path)
    key = encoder.extract_store_key(SENTENCES, context=context, groups=GROUPS)
    streamed = encoder.extract(SENTENCES, context=context, groups=GROUPS, store=store)
    assert store.has(key)
    assert_same(streamed, in_ram)


def test_word_groups_stream_equals_in_memory(encoder, alice_words, tmp_path):
    words = alice_words[:60]
    groups = np.repeat(["x", "y", "z"], 20)[np.r_[20:60, 0:20]]  # groups not in row order
    in_ram = encoder.extract(words, context="window", groups=groups)
    store = FeatureStore(tmp_path)
    key = encoder.extract_store_key(words, context="window", groups=groups)
    streamed = encoder.extract(words, context="window", groups=groups, store=store)
    assert store.has(key)
    assert_same(streamed, in_ram)
    assert streamed.provenance["n_groups"] == 3


def test_error_mid_stream_leaves_no_entry(encoder, alice_words, tmp_path, monkeypatch):
    words = alice_words[:60]
    store = FeatureStore(tmp_path)
    key = encoder.words_store_key(words)
    monkeypatch.setattr(encoder, "batch_size", 1)  # GPT-2 reads 60 words in a few windows
    calls = count_forwards(monkeypatch, encoder, fail_at=3)
    with pytest.raises(RuntimeError, match="boom in batch 3"):
        encoder.encode_words(words, store=store)
    assert len(calls) == 3
    assert not store.has(key)
    with pytest.raises(IncompleteEntryError):
        store.load(key)
    assert list(tmp_path.iterdir()) in ([], [tmp_path / f".{store.key_path(key).name}.lock"])
    monkeypatch.undo()
    streamed = encoder.encode_words(words, store=store)  # a clean retry
    assert_same(streamed, encoder.encode_words(words))


def test_encoder_builds_its_own_key(encoder, alice_words, tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(TypeError, match="key"):
        encoder.encode_words(alice_words[:5], store=store, key={"model": "m"})
    with pytest.raises(TypeError, match="key"):
        encoder.extract(SENTENCES, store=store, key={"model": "m"})


def test_writer_scattered_and_repeated_rows(tmp_path):
    store = FeatureStore(tmp_path)
    key = feature_key(
        model="m",
        weights={"seed": 0},
        tokenizer=None,
        layers=["a"],
        pooling="last",
        context={},
        dtype="float32",
        stimuli=stimulus_hash(["x"] * 10),
    )
    expected = np.arange(30, dtype=np.float32).reshape(10, 3)
    with store.writer(key, 10, {"a": ((3,), np.float32)}) as entry:
        entry.write("a", np.array([7, 2, 3, 9]), np.zeros((4, 3)))
        entry.write("a", np.array([3, 2, 7, 9, 3]), expected[[3, 2, 7, 9, 3]])
        entry.write("a", slice(0, 2), expected[:2])
        entry.write("a", 4, expected[4])
        entry.write("a", np.arange(10) >= 5, expected[5:])
        entry.write("a", [6], expected[[6]])
    np.testing.assert_array_equal(store.load(key)["a"], expected)


def test_extract_features_streams_text(tiny_gpt2_dir, alice_words, tmp_path, monkeypatch):
    from brainalign.encoders.extract import extract_features, read_stimuli

    table = tmp_path / "words.csv"
    table.write_text("text\n" + "\n".join(alice_words[:50]) + "\n", encoding="utf-8")
    stimuli = read_stimuli(table)
    store = FeatureStore(tmp_path / "store")

    def no_put(*args, **kwargs):
        raise AssertionError("text extraction must stream, not put()")

    monkeypatch.setattr(store, "put", no_put)
    options = {"batch_size": 2, "progress": False}
    first = extract_features(tiny_gpt2_dir, stimuli, store, **options)
    assert not first.reused and store.has(first.key)
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    assert_same(
        first.features, encoder.encode_words(stimuli.texts, stimulus_ids=stimuli.stimulus_ids)
    )
    second = extract_features(tiny_gpt2_dir, stimuli, store, **options)
    assert second.reused
