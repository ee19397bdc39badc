"""Each encoder builds the feature-store key of its own call (``store=`` only).

The keys must equal the ones callers used to build and pass themselves, with the
functions that still define them (``text_encoder_key``, ``text_extract_key``,
``image_features_key``), so entries written before still hit.
"""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign.benchmarks.word_similarity import HEAD_CAPTURE
from brainalign.encoders.extract import TextStimuli
from brainalign.encoders.store import FeatureStore, text_encoder_key, text_extract_key
from brainalign.encoders.text import Captures, TextEncoder
from brainalign.encoders.vision import VisionEncoder, image_features_key, image_stimuli
from brainalign.stimuli import Stimuli

IMAGES = sorted((Path(__file__).resolve().parents[1] / "data" / "images").glob("*.jpg"))
SENTENCES = [
    "Alice was beginning to get very tired.",
    "She had peeped into the book.",
    "It had no pictures in it.",
    "So she was considering in her own mind.",
]
GROUPS = np.array(["a", "a", "b", "b"])
CAPTURES = [Captures(), Captures(heads=True), Captures(heads=True, blocks=True)]


def capture_extra(captures: Captures) -> dict | None:
    """The ``extra`` callers passed: ``{"capture": asdict(captures)}`` when any is asked."""
    return {"capture": asdict(captures)} if captures != Captures() else None


@pytest.fixture(scope="module", params=["gpt2", "bert"])
def text(request, tiny_gpt2_dir, tiny_bert_dir) -> TextEncoder:
    directory = tiny_gpt2_dir if request.param == "gpt2" else tiny_bert_dir
    return TextEncoder(directory, context_words=4, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def vit(tiny_vit_dir) -> VisionEncoder:
    return VisionEncoder(tiny_vit_dir, pooling="mean", batch_size=4, progress=False)


@pytest.mark.parametrize("captures", CAPTURES)
def test_words_key_equals_the_old_key(text, alice_words, captures):
    words = alice_words[:30]
    columns = {
        "layers": [0, 2],
        "stimulus_ids": np.array([f"w{i}" for i in range(30)]),
        "onsets": np.arange(30) * 0.25,
        "space_before": np.ones(30, dtype=bool),
    }
    old = text_encoder_key(text, words, **columns, extra=capture_extra(captures))
    assert text.words_store_key(words, **columns, **asdict(captures)) == old
    # plain words (benchmarks/continuous.py passed no extra)
    assert text.words_store_key(words) == text_encoder_key(text, words)
    # a pooling override is part of the key; the encoder's own pooling is the old key
    assert text.words_store_key(words, pooling=text.pooling) == text_encoder_key(text, words)
    other = "mean" if text.pooling != "mean" else "last"
    assert text.words_store_key(words, pooling=other) != text_encoder_key(text, words)


def test_encode_words_writes_the_old_entry(text, alice_words, tmp_path):
    words = alice_words[:20]
    store = FeatureStore(tmp_path)
    text.encode_words(words, layers=[1], heads=True, store=store)
    old = text_encoder_key(text, words, layers=[1], extra=capture_extra(Captures(heads=True)))
    assert store.has(old) and len(store.entries()) == 1


@pytest.mark.parametrize("captures", CAPTURES)
@pytest.mark.parametrize("context", ["isolated", "passage"])
def test_extract_key_of_a_table_equals_the_old_key(text, context, captures):
    # benchmarks/language_ridge.py: a Stimuli table, key from its columns
    table = pd.DataFrame({"stimulus_id": ["s1", "s2", "s3", "s4"], "text": SENTENCES})
    table["group"] = GROUPS
    options = {"context": context, "level": "sentence", "pooling": "mean", "layers": [0, 1]}
    old = text_extract_key(
        text,
        table["text"].tolist(),
        groups=table["group"].to_numpy(),
        stimulus_ids=table["stimulus_id"].to_numpy(),
        extra=capture_extra(captures),
        **options,
    )
    assert text.extract_store_key(Stimuli(table), **options, **asdict(captures)) == old
    # level and pooling left to their defaults give the same key
    if text.pooling == "mean":
        plain = {"context": context, "layers": [0, 1], **asdict(captures)}
        assert text.extract_store_key(Stimuli(table), **plain) == old


@pytest.mark.parametrize("context", ["isolated", "passage", "window"])
def test_extract_key_of_texts_equals_the_old_key(text, alice_words, context):
    items = alice_words[:12] if context == "window" else SENTENCES
    level = "word" if context == "window" else "sentence"
    groups = np.repeat(["x", "y"], len(items) // 2)
    # a sequence of texts with groups
    old = text_extract_key(text, items, context=context, level=level, groups=groups)
    assert text.extract_store_key(items, context=context, groups=groups) == old
    # benchmarks/word_similarity.py: isolated words, mean pooling, heads (HEAD_CAPTURE)
    options = {"context": context, "level": level, "pooling": "mean", "layers": [1]}
    old = text_extract_key(text, items, **options, extra=HEAD_CAPTURE)
    assert text.extract_store_key(items, **options, heads=True) == old


@pytest.mark.parametrize("captures", CAPTURES)
@pytest.mark.parametrize("context", ["isolated", "passage", "window"])
def test_extract_key_of_cli_stimuli_equals_the_old_key(text, alice_words, context, captures):
    # brainalign extract: TextStimuli, key from its fields (groups None: no group column)
    items = alice_words[:12] if context == "window" else SENTENCES
    n_items = len(items)
    for groups in (np.repeat(["x", "y"], n_items // 2), None):
        if context == "passage" and groups is None:
            continue  # the CLI refuses passage without groups
        stimuli = TextStimuli(
            texts=list(items),
            stimulus_ids=np.array([f"i{k}" for k in range(n_items)]),
            onsets=np.arange(n_items) * 0.5,
            space_before=None if context != "window" else np.ones(n_items, dtype=bool),
            source="test",
            groups=groups,
        )
        old = text_extract_key(
            text,
            stimuli.texts,
            context=context,
            level="word" if context == "window" else "sentence",
            groups=stimuli.groups,
            layers=[0, 1],
            stimulus_ids=stimuli.stimulus_ids,
            onsets=stimuli.onsets,
            space_before=stimuli.space_before,
            extra=capture_extra(captures),
        )
        new = text.extract_store_key(stimuli, context=context, layers=[0, 1], **asdict(captures))
        assert new == old


def test_extract_writes_the_old_entry(text, tmp_path):
    store = FeatureStore(tmp_path)
    text.extract(SENTENCES, context="passage", groups=GROUPS, layers=[1], store=store)
    old = text_extract_key(
        text, SENTENCES, context="passage", level="sentence", groups=GROUPS, layers=[1]
    )
    assert store.has(old) and len(store.entries()) == 1


@pytest.mark.parametrize("heads", [False, True])
def test_images_key_equals_the_old_key(vit, heads):
    stimuli = image_stimuli(IMAGES)
    all_layers = list(range(vit.n_layers))
    # benchmarks/image_rsa.py: layers resolved to all, captures None without heads
    captures = {"heads": True, "blocks": False} if heads else None
    old = image_features_key(vit, stimuli, all_layers, captures=captures)
    assert vit.images_store_key(IMAGES, heads=heads) == old
    assert vit.images_store_key(IMAGES, layers=all_layers, heads=heads) == old
    # brainalign extract: checked layers, captures always given
    old = image_features_key(vit, stimuli, [0, 2], captures={"heads": heads, "blocks": False})
    assert vit.images_store_key(stimuli, layers=[0, 2], heads=heads) == old
    # other ids: another key
    ids = [f"im{k}" for k in range(len(IMAGES))]
    renamed = image_features_key(vit, image_stimuli(IMAGES, stimulus_ids=ids), [0, 2])
    assert vit.images_store_key(IMAGES, layers=[0, 2], stimulus_ids=ids) == renamed


def test_encode_images_writes_the_old_entry(vit, tmp_path):
    store = FeatureStore(tmp_path)
    vit.encode_images(IMAGES, layers=[1], heads=True, store=store)
    old = image_features_key(
        vit, image_stimuli(IMAGES), [1], captures={"heads": True, "blocks": False}
    )
    assert store.has(old) and len(store.entries()) == 1
