"""load_model: one loader for every modality (towers, classes, preprocessors, errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders.loading import (
    MODALITIES,
    NotCausalModelError,
    count_hidden_states,
    load_model,
    model_class_for,
    select_tower,
)
from brainalign.encoders.models import ModelLoadError

_TINY_TEXT = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
_TINY_VISION = dict(_TINY_TEXT, image_size=32, patch_size=8)


def _clip_config() -> tf.CLIPConfig:
    return tf.CLIPConfig(
        text_config=dict(_TINY_TEXT, vocab_size=99, max_position_embeddings=16),
        vision_config=dict(_TINY_VISION, num_hidden_layers=3),
        projection_dim=8,
    )


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    """A tiny Whisper (3 encoder blocks, 2 decoder blocks) with its feature extractor."""
    directory = tmp_path_factory.mktemp("tiny-whisper")
    config = tf.WhisperConfig(
        d_model=16,
        encoder_layers=3,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=16,
        max_source_positions=50,
        max_target_positions=20,
        vocab_size=60,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(5)
    tf.WhisperModel(config).save_pretrained(directory)
    tf.WhisperFeatureExtractor(feature_size=16, chunk_length=1).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(7)
    tf.CLIPModel(_clip_config()).save_pretrained(directory)
    tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32).save_pretrained(directory)
    return directory


def test_unknown_modality_is_refused(tiny_gpt2_dir):
    with pytest.raises(ValueError, match=r"modality='speech'; use one of text, causal_lm"):
        load_model(tiny_gpt2_dir, modality="speech")
    assert set(MODALITIES) == {"text", "causal_lm", "vision", "audio", "video", "multimodal"}


def test_auto_device_only_where_the_encoder_takes_it(tiny_vit_dir):
    with pytest.raises(ValueError, match="device='auto' is not supported here"):
        load_model(tiny_vit_dir, modality="vision", device="auto")


def test_towers_of_a_dual_encoder_and_a_multimodal_llm():
    clip = _clip_config()
    assert select_tower(clip, "text") == ("text_config", clip.text_config)
    assert select_tower(clip, "vision") == ("vision_config", clip.vision_config)
    assert select_tower(clip, "video") == ("vision_config", clip.vision_config)
    llava = tf.LlavaConfig(
        text_config=tf.LlamaConfig(**_TINY_TEXT), vision_config=clip.vision_config
    )
    # a multimodal LLM's text_config is its language model: "text" does not split it off
    assert select_tower(llava, "text") == (None, llava)
    assert select_tower(llava, "multimodal") == (None, llava)
    bert = tf.BertConfig(**_TINY_TEXT)
    assert select_tower(bert, "text") == (None, bert)


def test_model_classes_per_modality():
    t5 = tf.T5Config(d_model=16, d_ff=32, num_layers=2, num_heads=2, d_kv=8, vocab_size=50)
    assert model_class_for(t5, "text", "t5") == (tf.T5EncoderModel, "t5")
    gpt2 = tf.GPT2Config(n_embd=16, n_layer=2, n_head=2)
    assert model_class_for(gpt2, "causal_lm", "gpt2") == (tf.GPT2LMHeadModel, None)
    assert model_class_for(gpt2, "text", "gpt2") == (tf.GPT2Model, None)
    whisper = tf.WhisperConfig(d_model=16, encoder_layers=3, decoder_layers=2)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    assert model_class_for(whisper, "audio", "w") == (WhisperEncoder, "whisper")
    with pytest.raises(NotCausalModelError, match="is not a causal language model"):
        model_class_for(tf.BertConfig(**_TINY_TEXT), "causal_lm", "bert")


def test_hidden_states_are_counted_from_the_config():
    assert count_hidden_states(tf.BertConfig(**_TINY_TEXT)) == 3
    assert count_hidden_states(tf.GPT2Config(n_layer=4)) == 5
    # an encoder-decoder model counts its encoder
    assert count_hidden_states(tf.WhisperConfig(encoder_layers=3, decoder_layers=5)) == 4
    assert count_hidden_states(tf.ConvNextConfig(depths=[1, 1, 1, 1])) == 5
    assert count_hidden_states(tf.PretrainedConfig()) is None


def test_whisper_loads_its_encoder_for_audio(whisper_dir):
    loaded = load_model(whisper_dir, modality="audio")
    assert type(loaded.model).__name__ == "WhisperEncoder"
    assert loaded.provenance["encoder_of"] == "whisper"
    assert loaded.n_layers == 4
    assert type(loaded.preprocessor).__name__ == "WhisperFeatureExtractor"
    reference = tf.WhisperModel.from_pretrained(whisper_dir).eval()
    features = torch.randn(1, 16, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = loaded.model(features, output_hidden_states=True).hidden_states
        theirs = reference.encoder(features, output_hidden_states=True).hidden_states
    assert len(ours) == loaded.n_layers
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # encoder-only: the decoder's weights are neither built nor read
    n_encoder = sum(p.numel() for p in reference.encoder.parameters())
    assert sum(p.numel() for p in loaded.model.parameters()) == n_encoder


def test_whisper_encoder_reads_a_full_generation_checkpoint(tmp_path, caplog):
    config = tf.WhisperConfig(
        d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=16,
        max_source_positions=50, max_target_positions=20, vocab_size=60, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    torch.manual_seed(6)
    full = tf.WhisperForConditionalGeneration(config)
    full.save_pretrained(tmp_path)
    tf.WhisperFeatureExtractor(feature_size=16, chunk_length=1).save_pretrained(tmp_path)
    with caplog.at_level("WARNING"):
        loaded = load_model(tmp_path, modality="audio")
    assert "LOAD REPORT" not in caplog.text  # the decoder's weights are unexpected by design
    theirs = full.model.encoder.state_dict()
    for name, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, theirs[name], rtol=0, atol=0)


def test_untrained_weights_are_seeded_and_never_read(whisper_dir):
    first = load_model(f"{whisper_dir}@untrained", modality="audio", seed=3)
    again = load_model(whisper_dir, modality="audio", weights="untrained", seed=3)
    pretrained = load_model(whisper_dir, modality="audio")
    state, same = first.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(state[name], same[name]) for name in state)
    weight = "layers.0.fc1.weight"
    assert not torch.equal(state[weight], pretrained.model.state_dict()[weight])
    assert first.provenance["seed"] == 3 and "weights_sha256" not in first.provenance
    assert "model.safetensors" in pretrained.provenance["weights_sha256"]


def test_clip_towers_share_one_checkpoint(clip_dir, minilm_path):
    tokenizer = tf.AutoTokenizer.from_pretrained(minilm_path)
    text = load_model(clip_dir, modality="text", preprocessor=tokenizer)
    vision = load_model(clip_dir, modality="vision")
    assert type(text.model).__name__ == "CLIPTextModel"
    assert type(vision.model).__name__ == "CLIPVisionModel"
    assert (text.provenance["tower"], vision.provenance["tower"]) == (
        "text_config",
        "vision_config",
    )
    assert text.provenance["weights_sha256"] == vision.provenance["weights_sha256"]
    assert (text.n_layers, vision.n_layers) == (3, 4)
    full = tf.CLIPModel.from_pretrained(clip_dir)
    # the tower's own weights are the checkpoint's, not a fresh draw
    theirs = full.state_dict()
    for name, value in text.model.state_dict().items():
        torch.testing.assert_close(value, theirs[f"text_model.{name}"], rtol=0, atol=0)


def test_a_missing_preprocessor_is_named(tmp_path):
    torch.manual_seed(0)
    tf.ViTModel(tf.ViTConfig(**_TINY_VISION)).save_pretrained(tmp_path)
    with pytest.raises(
        ModelLoadError, match=r"image processor .*preprocessor_config.json.*processor="
    ):
        load_model(tmp_path, modality="vision")
    with pytest.raises(ModelLoadError, match=r"feature extractor .*preprocessor_config.json"):
        load_model(tmp_path, modality="audio")


def test_a_model_of_another_kind_is_named(tmp_path):
    config = tf.PretrainedConfig()
    config.model_type = "not-a-model"
    with pytest.raises(ModelLoadError, match="use an audio model"):
        model_class_for(config, "audio", "x")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (tf.GPT2Config(), {"text": "text"}),
        (tf.ViTConfig(), {"image": "vision"}),
        (tf.ResNetConfig(), {"image": "vision"}),
        (tf.CLIPConfig(), {"text": "text", "image": "vision"}),
        (tf.Wav2Vec2Config(), {"audio": "audio", "video": "audio"}),
        (tf.WhisperConfig(), {"audio": "audio", "video": "audio"}),
        (tf.ClapConfig(), {"text": "text", "audio": "audio", "video": "audio"}),
        (tf.VideoMAEConfig(), {"video": "video"}),
        (tf.XCLIPConfig(), {"text": "text", "video": "video"}),
        (tf.LlavaConfig(), {"image": "multimodal"}),
    ],
    ids=lambda value: getattr(value, "model_type", ""),
)
def test_the_model_and_the_stimuli_choose_the_modality(config, expected):
    from brainalign.encoders.loading import modality_of

    for kind in ("text", "image", "audio", "video"):
        if kind in expected:
            assert modality_of(config.to_dict(), kind) == expected[kind]
        else:
            with pytest.raises(ValueError, match=f"cannot read {kind} stimuli; it reads"):
                modality_of(config.to_dict(), kind)
    assert modality_of(None, "image") == "vision"
