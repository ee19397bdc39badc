"""Untrained architectures built to order: random-weight language models of any size.

:func:`build_untrained` builds a language model of a family (GPT-2, LLaMA, BERT,
RoBERTa, GPT-NeoX) with the number of blocks, heads and dimensions asked for and a real
tokenizer, draws its weights from the family's own initialisation under a documented
seed, and saves it as a model folder (``save_pretrained``: config, safetensors weights,
tokenizer) that every brainalign command reads like a downloaded model. So grids of
shallow untrained networks (blocks x heads x width x tokenizer) can be scored through
``brainalign sweep`` exactly as pretrained models are.

Seeds
-----
The weights are drawn by ``AutoModel.from_config`` (the family's ``_init_weights``) in
float32 on the CPU under ``torch.manual_seed(seed)``, inside
``torch.random.fork_rng`` so the caller's random state is untouched: the same
arguments and seed give the same weights, byte for byte, on every machine with the
same torch and transformers versions (recorded in ``brainalign_build.json`` next to the
weights, with every argument).

Nothing heavy is imported at module level.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["BUILD_FILE", "UNTRAINED_FAMILIES", "build_untrained"]

#: Families :func:`build_untrained` builds, and whether each is causal.
UNTRAINED_FAMILIES: dict[str, bool] = {
    "gpt2": True,
    "gpt_neox": True,
    "llama": True,
    "bert": False,
    "roberta": False,
}

#: The file in the model folder recording how it was built.
BUILD_FILE = "brainalign_build.json"


def build_untrained(
    directory: str | os.PathLike,
    *,
    family: str,
    n_layers: int,
    n_heads: int,
    d_model: int,
    tokenizer: str | os.PathLike,
    d_ff: int | None = None,
    max_positions: int = 512,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Build a random-weight language model and save it as a model folder.

    Parameters
    ----------
    directory : path-like
        Where to save it (created; refused when it holds a model, unless ``overwrite``).
    family : {"gpt2", "gpt_neox", "llama", "bert", "roberta"}
        The architecture (:data:`UNTRAINED_FAMILIES`).
    n_layers : int
        Transformer blocks (1 or more).
    n_heads : int
        Attention heads per block; must divide ``d_model``.
    d_model : int
        Width of the residual stream.
    tokenizer : str or path-like
        A fast tokenizer to read text with: a hub id or folder
        (``transformers.AutoTokenizer``, ``trust_remote_code`` off). Its vocabulary
        size sets the embedding matrix; its special tokens set the config's ids.
    d_ff : int, optional
        Width of the MLP (default ``4 * d_model``).
    max_positions : int
        Longest input in tokens (position embeddings).
    seed : int
        Seed of the weights (module docstring).
    overwrite : bool
        Replace a model already in ``directory``.

    Returns
    -------
    pathlib.Path
        ``directory``, holding ``config.json``, ``model.safetensors``, the tokenizer's
        files and :data:`BUILD_FILE`.

    Raises
    ------
    ValueError
        For an unknown family, a size that is not a positive integer, ``n_heads`` not
        dividing ``d_model``, a slow or empty tokenizer, or a folder that already holds a
        model (without ``overwrite``).
    """
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from brainalign._io import atomic_path
    from brainalign.encoders.cards import checkpoint_parameters

    if family not in UNTRAINED_FAMILIES:
        raise ValueError(
            f"family={family!r}; build_untrained builds {', '.join(UNTRAINED_FAMILIES)}"
        )
    sizes = {"n_layers": n_layers, "n_heads": n_heads, "d_model": d_model}
    sizes["d_ff"] = 4 * d_model if d_ff is None else d_ff
    sizes["max_positions"] = max_positions
    for name, value in (*sizes.items(), ("seed", seed)):
        low = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r}; it must be an integer >= {low}")
    if d_model % n_heads:
        raise ValueError(
            f"n_heads={n_heads} does not divide d_model={d_model}; each head needs "
            f"d_model / n_heads dimensions (e.g. n_heads={_divisor(d_model, n_heads)})"
        )
    target = Path(directory)
    if (target / "config.json").exists() and not overwrite:
        raise ValueError(
            f"{target} already holds a model (config.json); pass overwrite=True to replace it"
        )
    try:
        text = AutoTokenizer.from_pretrained(os.fspath(tokenizer), trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"tokenizer {os.fspath(tokenizer)!r} could not be loaded: {error}"
        ) from error
    if not getattr(text, "is_fast", False) or len(text) <= len(set(text.all_special_tokens)):
        raise ValueError(
            f"tokenizer {os.fspath(tokenizer)!r} is slow or has an empty vocabulary; give a "
            "fast tokenizer with a real vocabulary (tokenizer.json)"
        )
    config = _config(family, sizes, text)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config, dtype=torch.float32)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    text.save_pretrained(target)
    record: dict[str, Any] = {
        "family": family,
        **sizes,
        "tokenizer": os.fspath(tokenizer),
        "vocab_size": config.vocab_size,
        "seed": seed,
        "n_parameters": checkpoint_parameters(target, config.to_dict()),
        "initialisation": "AutoModel.from_config under torch.manual_seed(seed), float32, CPU",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    with atomic_path(target / BUILD_FILE) as temp:
        Path(temp).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return target


def _config(family: str, sizes: dict[str, int], tokenizer: Any) -> Any:
    """The transformers config of ``family`` with the sizes and the tokenizer's ids."""
    import transformers

    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    # None where the tokenizer has no such token: a family's default id (GPT-2's 50256)
    # would point outside another tokenizer's vocabulary
    vocab = len(tokenizer)
    layers, heads, width = sizes["n_layers"], sizes["n_heads"], sizes["d_model"]
    ff, positions = sizes["d_ff"], sizes["max_positions"]
    if family == "gpt2":
        return transformers.GPT2Config(
            vocab_size=vocab, n_layer=layers, n_head=heads, n_embd=width, n_inner=ff,
            n_positions=positions, **ids,
        )  # fmt: skip
    if family == "gpt_neox":
        return transformers.GPTNeoXConfig(
            vocab_size=vocab, num_hidden_layers=layers, num_attention_heads=heads,
            hidden_size=width, intermediate_size=ff, max_position_embeddings=positions, **ids,
        )  # fmt: skip
    if family == "llama":
        return transformers.LlamaConfig(
            vocab_size=vocab, num_hidden_layers=layers, num_attention_heads=heads,
            num_key_value_heads=heads, hidden_size=width, intermediate_size=ff,
            max_position_embeddings=positions, **ids,
        )  # fmt: skip
    config_class = transformers.BertConfig if family == "bert" else transformers.RobertaConfig
    extra = 2 if family == "roberta" else 0  # RoBERTa's positions start after the padding
    return config_class(
        vocab_size=vocab, num_hidden_layers=layers, num_attention_heads=heads,
        hidden_size=width, intermediate_size=ff, max_position_embeddings=positions + extra,
        **ids,
    )  # fmt: skip


def _divisor(d_model: int, n_heads: int) -> int:
    """The divisor of ``d_model`` closest to ``n_heads`` (for the error message)."""
    divisors = [k for k in range(1, d_model + 1) if d_model % k == 0]
    return min(divisors, key=lambda k: (abs(k - n_heads), k))
