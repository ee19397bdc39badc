"""Model cards: properties read from config and weight files equal the instantiated models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import transformers

from brainalign.encoders.builders import build_untrained
from brainalign.encoders.cards import (
    CARD_COLUMNS,
    attach_model_card,
    checkpoint_parameters,
    model_card,
    objective_of,
)


def _distinct_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields tied ones once


@pytest.mark.parametrize(
    ("fixture", "cls", "objective"),
    [
        ("tiny_gpt2_lm_dir", transformers.GPT2LMHeadModel, "causal"),
        ("tiny_gpt2_dir", transformers.GPT2Model, "causal"),
        ("tiny_llama_dir", transformers.LlamaModel, "causal"),
        ("tiny_bert_dir", transformers.BertModel, "masked"),
        ("tiny_vit_dir", transformers.ViTModel, "vision"),
        ("tiny_wav2vec2_dir", transformers.Wav2Vec2Model, "audio"),
        ("tiny_videomae_dir", transformers.VideoMAEModel, "video"),
    ],
)
def test_cards_equal_counts_from_the_instantiated_models(request, fixture, cls, objective):
    directory = request.getfixturevalue(fixture)
    config = transformers.AutoConfig.from_pretrained(directory)
    model = cls.from_pretrained(directory)
    card = model_card(str(directory), stimuli="text")
    assert card["n_parameters"] == _distinct_parameters(model)
    assert card["n_layers"] == config.num_hidden_layers
    assert card["n_heads"] == config.num_attention_heads
    assert card["d_model"] == config.hidden_size
    expected_head_dim = getattr(config, "head_dim", None) or (
        config.hidden_size // config.num_attention_heads
    )
    assert card["head_dim"] == expected_head_dim
    assert card["family"] == config.model_type
    assert card["objective"] == objective
    assert card["has_chat_template"] is False


def test_a_bin_checkpoint_is_counted_on_the_meta_device(tiny_bert_dir, tmp_path):
    model = transformers.BertModel.from_pretrained(tiny_bert_dir)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    config = json.loads((tmp_path / "config.json").read_text())
    assert checkpoint_parameters(tmp_path, config) == _distinct_parameters(model)


def test_dual_encoders_describe_the_tower_the_benchmark_reads(tmp_path):
    config = transformers.CLIPConfig(
        text_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "intermediate_size": 37, "vocab_size": 99},
        vision_config={"hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 6,
                       "intermediate_size": 37, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )  # fmt: skip
    model = transformers.CLIPModel(config)
    model.save_pretrained(tmp_path)
    text, image = model_card(str(tmp_path)), model_card(str(tmp_path), stimuli="image")
    assert (text["n_layers"], text["n_heads"], text["d_model"]) == (2, 4, 32)
    assert (image["n_layers"], image["n_heads"], image["d_model"]) == (3, 6, 48)
    assert text["n_parameters"] == image["n_parameters"] == _distinct_parameters(model)
    assert text["objective"] == "contrastive"


def test_a_chat_template_is_found_in_either_place(minilm_path, tmp_path):
    directory = build_untrained(tmp_path / "m", family="llama", n_layers=1, n_heads=2,
                                d_model=16, tokenizer=minilm_path)  # fmt: skip
    assert model_card(str(directory))["has_chat_template"] is False
    settings = json.loads((directory / "tokenizer_config.json").read_text())
    settings["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (directory / "tokenizer_config.json").write_text(json.dumps(settings))
    assert model_card(str(directory))["has_chat_template"] is True
    del settings["chat_template"]
    (directory / "tokenizer_config.json").write_text(json.dumps(settings))
    (directory / "chat_template.jinja").write_text("{{ messages }}")
    assert model_card(str(directory))["has_chat_template"] is True


def test_an_uncached_hub_model_has_an_empty_card(isolated_cache):
    card = model_card("some-org/not-downloaded")
    assert card["n_parameters"] is None and card["n_layers"] is None
    assert card["family"] == "" and card["has_chat_template"] is None


def test_objectives_from_configs():
    assert objective_of({"model_type": "t5", "is_encoder_decoder": True}) == "encoder-decoder"
    assert objective_of({"model_type": "whisper", "is_encoder_decoder": True}) == (
        "encoder-decoder"
    )
    assert objective_of({"model_type": "llava"}) == "vision-language"
    assert objective_of({"model_type": "clip"}) == "contrastive"
    assert objective_of({"model_type": "roberta", "vocab_size": 50}) == "masked"
    assert objective_of({"model_type": "dinov2", "image_size": 224}) == "vision"


def test_attach_puts_the_card_on_model_rows_only():
    rows = pd.DataFrame(
        {
            "layer": pd.array([0, 2, 4, pd.NA, 3], dtype="Int64"),
            "control": ["", "", "", "", "random-word-vectors"],
            "score": np.arange(5.0),
        }
    )
    card = {"n_parameters": 1000, "n_layers": 4, "n_heads": 2, "head_dim": 8, "d_model": 16,
            "family": "gpt2", "objective": "causal", "has_chat_template": False}  # fmt: skip
    table = attach_model_card(rows, card)
    assert list(table.columns[-len(CARD_COLUMNS) :]) == list(CARD_COLUMNS)
    np.testing.assert_array_equal(table["relative_depth"], [0.0, 0.5, 1.0, np.nan, np.nan])
    assert table["n_parameters"].tolist()[:4] == [1000] * 4
    assert table["n_parameters"].isna().tolist() == [False] * 4 + [True]
    assert table["family"].tolist() == ["gpt2"] * 4 + [""]
    assert str(table["has_chat_template"].dtype) == "boolean"
    assert table["has_chat_template"].isna().tolist() == [False] * 4 + [True]
