"""The text towers of CLIP and SigLIP through TextEncoder, next to their vision towers.

Each model is a tiny random-weight dual encoder (text: 2 blocks, 32 dims, 4 heads of 8;
vision: 2 blocks, 16 dims, 32 x 32 pixels) whose parameters are all perturbed, saved
whole (``CLIPModel`` / ``SiglipModel``) with a real fast tokenizer trained here on the
Alice words: CLIP's own ``CLIPTokenizer`` (byte-level BPE with ``</w>``, lower case,
``<|startoftext|> ... <|endoftext|>``) built from a trained vocabulary and merges, and
for SigLIP a Unigram tokenizer (Metaspace, ``... </s>``) as a ``PreTrainedTokenizerFast``
(SigLIP's own ``SiglipTokenizer`` is sentencepiece-only, i.e. slow).

``TextEncoder(directory)`` loads the text tower (``load_model(..., modality="text")``),
``VisionEncoder(directory)`` the vision tower, both from the one weights file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders.common import file_sha256
from brainalign.encoders.text import TextEncoder
from brainalign.encoders.vision import VisionEncoder

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
ATOL = 1e-5
N_HEADS, D_HEAD = 4, 8
CONTEXT_WORDS = 4
TEXT = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=N_HEADS,
    max_position_embeddings=64,
)
VISION = dict(
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=32,
    patch_size=8,
)
TOWERS = {"clip": tf.CLIPTextModel, "siglip": tf.SiglipTextModel}


@pytest.fixture(scope="module")
def words(alice_words) -> list[str]:
    """18 words of Alice, some split into several tokens by the tiny vocabularies."""
    return alice_words[:18]


def _clip_tokenizer(words: list[str]):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(words).lower()], trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return tf.CLIPTokenizer(vocab=model["vocab"], merges=merges)


def _siglip_tokenizer(words: list[str]):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.Lowercase()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        show_progress=False,
    )
    unigram.train_from_iterator([" ".join(words)], trainer=trainer)
    eos = ("</s>", unigram.token_to_id("</s>"))
    unigram.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[eos])
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=unigram, eos_token="</s>", pad_token="</s>", unk_token="<unk>"
    )


@pytest.fixture(scope="module")
def tower_dirs(tmp_path_factory, alice_words) -> dict[str, Path]:
    """Tiny CLIP and SigLIP, every parameter perturbed, with tokenizer and image processor."""
    dirs = {}
    clip_tokenizer, siglip_tokenizer = _clip_tokenizer(alice_words), _siglip_tokenizer(alice_words)
    builds = {
        "clip": (
            tf.CLIPModel,
            tf.CLIPConfig(
                text_config=dict(
                    TEXT,
                    vocab_size=len(clip_tokenizer),
                    bos_token_id=clip_tokenizer.bos_token_id,
                    eos_token_id=clip_tokenizer.eos_token_id,
                    pad_token_id=clip_tokenizer.pad_token_id,
                ),
                vision_config=VISION,
                projection_dim=8,
            ),
            clip_tokenizer,
            tf.CLIPImageProcessorPil(
                size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
            ),
        ),
        "siglip": (
            tf.SiglipModel,
            tf.SiglipConfig(
                text_config=dict(
                    TEXT,
                    vocab_size=len(siglip_tokenizer),
                    bos_token_id=None,
                    eos_token_id=siglip_tokenizer.eos_token_id,
                    pad_token_id=siglip_tokenizer.pad_token_id,
                ),
                vision_config=VISION,
            ),
            siglip_tokenizer,
            tf.SiglipImageProcessorPil(size={"height": 32, "width": 32}),
        ),
    }
    for seed, (name, (model_class, config, tokenizer, processor)) in enumerate(builds.items()):
        directory = tmp_path_factory.mktemp(f"tiny-{name}")
        torch.manual_seed(200 + seed)
        model = model_class(config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        processor.save_pretrained(directory)
        dirs[name] = directory
    return dirs


@pytest.fixture(scope="module")
def encoders(tower_dirs) -> dict[str, TextEncoder]:
    return {
        name: TextEncoder(directory, context_words=CONTEXT_WORDS, batch_size=5, progress=False)
        for name, directory in tower_dirs.items()
    }


def plain_tower(directory: Path, name: str):
    return TOWERS[name].from_pretrained(directory).eval()


def windows(tokenizer, words: list[str], n_words: int) -> list[list[int]]:
    """Token ids of each word's window (itself and the n_words - 1 before), special tokens on."""
    return [
        tokenizer(" ".join(words[max(0, i - n_words + 1) : i + 1]))["input_ids"]
        for i in range(len(words))
    ]


def test_tiny_tokenizers_are_real_and_fast(encoders, words):
    for name, encoder in encoders.items():
        tokenizer = encoder.tokenizer
        assert tokenizer.is_fast and len(tokenizer) > 150, name
        ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
        assert len(ids) > len(words)  # some words take several tokens
        assert tokenizer.unk_token_id not in ids, name


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_text_tower_words_equal_plain_forward(tower_dirs, encoders, words, name):
    encoder = encoders[name]
    assert encoder.provenance["tower"] == "text_config"
    assert encoder.provenance["model_type"] == f"{name}_text_model"
    assert encoder.n_layers == 3
    features = encoder.encode_words(words)
    assert features.layer_names == ["0", "1", "2"]
    model = plain_tower(tower_dirs[name], name)
    for i, ids in enumerate(windows(encoder.tokenizer, words, CONTEXT_WORDS)):
        with torch.inference_mode():
            hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        assert ids[-1] == encoder.tokenizer.eos_token_id  # the word's last token is before it
        for layer in range(3):
            np.testing.assert_allclose(
                features[str(layer)][i],
                hidden[layer][0, -2].numpy(),
                atol=ATOL,
                rtol=0,
                err_msg=f"{name} word {i} layer {layer}",
            )


def _heads_by_hand(block, hidden: torch.Tensor, causal: bool) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_head) [+ causal mask]) v of one block, (seq, n_heads, d_head)."""
    attention = block.self_attn
    x = block.layer_norm1(hidden)
    seq = x.shape[0]
    q, k, v = (
        proj(x).reshape(seq, N_HEADS, D_HEAD).transpose(0, 1)
        for proj in (attention.q_proj, attention.k_proj, attention.v_proj)
    )
    scores = q @ k.transpose(-1, -2) / D_HEAD**0.5
    if causal:
        future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).transpose(0, 1)


@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_text_tower_heads_equal_attention_by_hand(tower_dirs, encoders, words, name):
    """CLIP's text blocks mask the future (causal), SigLIP's do not."""
    encoder = encoders[name]
    features = encoder.encode_words(words, heads=True)
    assert features.layer_names == ["0", "1", "2", "1.heads", "2.heads"]
    model = plain_tower(tower_dirs[name], name)
    blocks = model.encoder.layers if hasattr(model, "encoder") else model.text_model.encoder.layers
    for i, ids in enumerate(windows(encoder.tokenizer, words, CONTEXT_WORDS)):
        with torch.inference_mode():
            hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
            for b, block in enumerate(blocks):
                want = _heads_by_hand(block, hidden[b][0], causal=name == "clip")[-2]
                got = features[f"{b + 1}.heads"][i]
                assert got.shape == (N_HEADS, D_HEAD)
                np.testing.assert_allclose(got, want.numpy(), atol=ATOL, rtol=0)
    assert np.abs(features["2.heads"]).max() > 0.05


def test_clip_text_is_causal_and_siglip_text_is_not(tower_dirs, words):
    """With every preceding word in the window, CLIP's word features equal one pass over
    the whole text (its states never see later tokens), SigLIP's do not. So CLIP's text
    tower could take TextEncoder's causal path; ``is_causal_config`` calls it
    bidirectional, which is right but slower (one window per word)."""
    for name, causal in (("clip", True), ("siglip", False)):
        encoder = TextEncoder(tower_dirs[name], context_words=len(words), progress=False)
        features = encoder.encode_words(words)
        tokenizer = encoder.tokenizer
        ids = tokenizer(" ".join(words))["input_ids"]
        ends = [len(w) - 2 for w in windows(tokenizer, words, len(words))]  # last token, per word
        model = plain_tower(tower_dirs[name], name)
        with torch.inference_mode():
            hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        one_pass = hidden[2][0, ends].numpy()
        if causal:
            np.testing.assert_allclose(features["2"], one_pass, atol=ATOL, rtol=0)
        else:
            assert np.abs(features["2"][:-1] - one_pass[:-1]).max() > 1e-3


def test_text_and_vision_towers_come_from_one_weights_file(tower_dirs, encoders):
    for name, directory in tower_dirs.items():
        text = encoders[name].provenance
        vision = VisionEncoder(directory, progress=False, pooling="mean").provenance
        assert (text["tower"], vision["tower"]) == ("text_config", "vision_config")
        assert text["weights_sha256"] == vision["weights_sha256"]
        assert text["weights_sha256"] == {
            "model.safetensors": file_sha256(directory / "model.safetensors")
        }


def test_text_and_image_features_of_one_checkpoint(tower_dirs, encoders, words):
    """Both sides of one model encode: words through the text tower, images through the
    vision tower, each with its own width."""
    images = sorted(IMAGES.glob("*.jpg"))[:2]
    for name, directory in tower_dirs.items():
        text = encoders[name].encode_words(words[:3])
        vision = VisionEncoder(directory, progress=False, pooling="mean").encode_images(images)
        assert text["2"].shape == (3, TEXT["hidden_size"])
        assert vision["2"].shape == (2, VISION["hidden_size"])
