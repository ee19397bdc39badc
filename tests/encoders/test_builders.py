"""build_untrained: random-weight language models built to order, read like any model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainalign.encoders.builders import BUILD_FILE, UNTRAINED_FAMILIES, build_untrained
from brainalign.encoders.common import file_sha256
from brainalign.encoders.text import TextEncoder

WORDS = "Alice was beginning to get very tired of sitting by her sister".split()


@pytest.mark.parametrize("family", sorted(UNTRAINED_FAMILIES))
def test_every_family_builds_and_reads_like_a_downloaded_model(family, minilm_path, tmp_path):
    directory = build_untrained(
        tmp_path / family, family=family, n_layers=2, n_heads=4, d_model=32,
        tokenizer=minilm_path, max_positions=64, seed=3,
    )  # fmt: skip
    record = json.loads((directory / BUILD_FILE).read_text())
    window = {} if UNTRAINED_FAMILIES[family] else {"context_words": 4}
    encoder = TextEncoder(directory, max_length=64, progress=False, **window)
    assert encoder.n_layers == 3 and encoder.is_causal == UNTRAINED_FAMILIES[family]
    assert record["n_parameters"] == sum(p.numel() for p in encoder.model.parameters())
    assert (record["family"], record["n_heads"], record["seed"]) == (family, 4, 3)
    features = encoder.encode_words(WORDS, heads=True)
    assert features["2"].shape == (len(WORDS), 32)
    assert features["2.heads"].shape == (len(WORDS), 4, 8)
    assert np.isfinite(features["2"]).all()


def test_a_seed_gives_the_same_weights_and_leaves_the_caller_alone(minilm_path, tmp_path):
    options = dict(family="gpt2", n_layers=1, n_heads=2, d_model=16, tokenizer=minilm_path)
    torch.manual_seed(99)
    before = torch.rand(1)
    torch.manual_seed(99)
    first = build_untrained(tmp_path / "a", seed=5, **options)
    assert torch.equal(torch.rand(1), before)  # the caller's random state is untouched
    again = build_untrained(tmp_path / "b", seed=5, **options)
    other = build_untrained(tmp_path / "c", seed=6, **options)
    digest = [file_sha256(d / "model.safetensors") for d in (first, again, other)]
    assert digest[0] == digest[1] != digest[2]


def test_bad_requests_are_refused(minilm_path, tmp_path):
    with pytest.raises(ValueError, match="family='lstm'; build_untrained builds gpt2"):
        build_untrained(tmp_path, family="lstm", n_layers=1, n_heads=1, d_model=8,
                        tokenizer=minilm_path)  # fmt: skip
    with pytest.raises(ValueError, match=r"n_heads=5 does not divide d_model=32.*n_heads=4"):
        build_untrained(tmp_path, family="gpt2", n_layers=1, n_heads=5, d_model=32,
                        tokenizer=minilm_path)  # fmt: skip
    with pytest.raises(ValueError, match="n_layers=0; it must be an integer >= 1"):
        build_untrained(tmp_path, family="gpt2", n_layers=0, n_heads=1, d_model=8,
                        tokenizer=minilm_path)  # fmt: skip
    build_untrained(tmp_path / "m", family="bert", n_layers=1, n_heads=1, d_model=8,
                    tokenizer=minilm_path)  # fmt: skip
    with pytest.raises(ValueError, match="already holds a model"):
        build_untrained(tmp_path / "m", family="bert", n_layers=1, n_heads=1, d_model=8,
                        tokenizer=minilm_path)  # fmt: skip
    with pytest.raises(ValueError, match="could not be loaded"):
        build_untrained(tmp_path / "x", family="bert", n_layers=1, n_heads=1, d_model=8,
                        tokenizer=tmp_path / "no-tokenizer")  # fmt: skip


def test_special_token_ids_come_from_the_tokenizer_only(minilm_path, tmp_path):
    directory = build_untrained(tmp_path / "g", family="gpt2", n_layers=1, n_heads=2,
                                d_model=16, tokenizer=minilm_path)  # fmt: skip
    config = json.loads((directory / "config.json").read_text())
    # MiniLM's BERT tokenizer has no BOS/EOS: GPT-2's default 50256 must not remain
    assert config.get("bos_token_id") is None and config.get("eos_token_id") is None
    assert config["pad_token_id"] == 0 and config["vocab_size"] == 30522


def test_the_build_command_builds_and_refuses_with_the_flag_named(minilm_path, tmp_path, capsys):
    from brainalign.cli import main

    args = ["build", str(tmp_path / "m"), "--family", "llama", "--n-layers", "2", "--n-heads", "2",
            "--d-model", "16", "--tokenizer", minilm_path, "--seed", "4"]  # fmt: skip
    assert main(args) == 0
    record = json.loads((tmp_path / "m" / BUILD_FILE).read_text())
    assert (record["family"], record["n_layers"], record["seed"]) == ("llama", 2, 4)
    assert main(args) == 2
    assert "already holds a model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build", str(tmp_path / "x"), "--family", "llama", "--n-layers", "0",
              "--n-heads", "1", "--d-model", "8", "--tokenizer", minilm_path])  # fmt: skip
    assert "--n-layers" in capsys.readouterr().err
