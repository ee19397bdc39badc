"""Model cards: a model's properties, read from its config and weight files, for every row.

Comparing models is asking how a score changes with what a model *is*: its size, depth,
width, objective, whether it was instruction-tuned. :func:`model_card` reads those
properties without torch and without loading weights, and
:func:`attach_model_card` puts them on a benchmark's result rows
(:meth:`brainalign.benchmarks.benchmark.Benchmark.run` does it for every run), so every
model row says what was scored. Control rows get none (a control is not the model).

The properties (:data:`CARD_COLUMN_DOCS`):

- ``n_parameters``: tensor elements stored in the checkpoint's weight files, each
  stored tensor counted once (tied weights are stored once), read from the safetensors
  headers; for ``.bin`` checkpoints the architecture named in ``config.json`` is built
  on torch's ``meta`` device (no memory, no weights) and its distinct parameters are
  counted. It is the whole checkpoint as published (both towers of a CLIP, the language
  model head of a causal LM), the number papers report;
- ``n_layers``, ``n_heads``, ``head_dim``, ``d_model``: of the part of the model a
  benchmark reads (the text tower of a dual encoder for text, its vision tower for
  images; the encoder of an encoder-decoder; the language model of a vision-language
  model); ``n_layers`` is the number of blocks, so hidden states are ``0 .. n_layers``,
  and ``head_dim`` is the config's ``head_dim`` or ``d_model // n_heads``;
- ``family``: the config's ``model_type``;
- ``objective``: ``causal``, ``masked`` (bidirectional text encoders), ``encoder-decoder``
  (whose encoder is read), ``contrastive`` (dual encoders), ``vision``, ``audio``,
  ``video`` or ``vision-language`` (:func:`objective_of`);
- ``has_chat_template``: the tokenizer ships a chat template (``chat_template`` in
  ``tokenizer_config.json``, or ``chat_template.jinja`` / ``chat_template.json``), a
  proxy for instruction tuning; a user's own property of the same name overrides it
  (:func:`brainalign.results.properties.attach_properties`);
- ``relative_depth``: per row, ``layer / n_layers`` (0 = embeddings, 1 = last block),
  so layer curves of models of different depths share one axis.

A property that cannot be read (a hub model not in the local cache, a config without
the key) is missing (``<NA>``), never guessed.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CARD_COLUMNS",
    "CARD_COLUMN_DOCS",
    "attach_model_card",
    "checkpoint_parameters",
    "has_chat_template",
    "model_card",
    "objective_of",
]

CARD_COLUMN_DOCS = {
    "n_parameters": "tensor elements in the checkpoint's weight files, each stored tensor "
    "once (the whole checkpoint as published)",
    "n_layers": "blocks of the part of the model the benchmark reads (hidden states 0..n_layers)",
    "n_heads": "attention heads per block",
    "head_dim": "width of one head (config head_dim, else d_model // n_heads)",
    "d_model": "width of the hidden states",
    "family": "the config's model_type",
    "objective": "causal, masked, encoder-decoder, contrastive, vision, audio, video or "
    "vision-language",
    "has_chat_template": "the tokenizer ships a chat template (a proxy for instruction tuning; "
    "a user property of the same name overrides it)",
    "relative_depth": "layer / n_layers: 0 = embeddings, 1 = last block",
}
"""Every model-card column and its meaning (the documentation's table)."""

CARD_COLUMNS = tuple(CARD_COLUMN_DOCS)
"""Columns :func:`attach_model_card` adds, in this order."""

_INTEGER_PROPERTIES = ("n_parameters", "n_layers", "n_heads", "head_dim", "d_model")
_STRING_PROPERTIES = ("family", "objective")

_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_ENCODER_LAYER_KEYS = ("encoder_layers", "num_layers", "num_hidden_layers")
_HEAD_KEYS = ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads")
_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim")

#: Which tower of a multi-tower config each stimulus kind reads.
_TOWER_OF = {"text": "text_config", "image": "vision_config", "video": "vision_config",
             "audio": "audio_config"}  # fmt: skip


def _integer(config: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return int(sum(value)) if key in _LAYER_KEYS else int(max(value))
    return None


def _read_part(config: Mapping[str, Any], stimuli: str) -> dict[str, Any]:
    """The sub-config of the part of a model that reads ``stimuli``.

    The matching tower of a dual encoder, the language model of a vision-language model
    (``text_config``), or the config itself.
    """
    from brainalign.encoders.loading import DUAL_ENCODER_TYPES, MULTIMODAL_MODEL_TYPES

    model_type = config.get("model_type")
    key = None
    if model_type in DUAL_ENCODER_TYPES:
        key = _TOWER_OF.get(stimuli)
    elif model_type in MULTIMODAL_MODEL_TYPES:
        key = "text_config"
    part = config.get(key) if key else None
    return dict(part) if isinstance(part, Mapping) else dict(config)


def objective_of(config: Mapping[str, Any]) -> str:
    """What a model was trained to do, from its config (see the module documentation)."""
    import types

    from brainalign.encoders.loading import (
        AUDIO_MODEL_TYPES,
        DUAL_ENCODER_TYPES,
        MULTIMODAL_MODEL_TYPES,
        VIDEO_MODEL_TYPES,
    )
    from brainalign.encoders.models import is_causal_config

    model_type = config.get("model_type")
    if model_type in DUAL_ENCODER_TYPES:
        return "contrastive"
    if model_type in MULTIMODAL_MODEL_TYPES:
        return "vision-language"
    if config.get("is_encoder_decoder"):
        return "encoder-decoder"
    if model_type in AUDIO_MODEL_TYPES:
        return "audio"
    if model_type in VIDEO_MODEL_TYPES:
        return "video"
    if is_causal_config(types.SimpleNamespace(**config)):
        return "causal"
    if "vocab_size" in config:
        return "masked"
    return "vision"


def has_chat_template(directory: str | Path | None) -> bool | None:
    """Whether a model folder's tokenizer ships a chat template; None without a folder."""
    if directory is None:
        return None
    directory = Path(directory)
    if (directory / "chat_template.jinja").is_file() or (
        directory / "chat_template.json"
    ).is_file():
        return True
    path = directory / "tokenizer_config.json"
    if not path.is_file():
        return False
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return bool(isinstance(settings, Mapping) and settings.get("chat_template"))


def _safetensors_elements(path: Path) -> int:
    """Tensor elements listed in one safetensors file's header (no tensor is read)."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return sum(
        math.prod(entry["shape"])
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, Mapping)
    )


def _meta_parameters(config: Mapping[str, Any]) -> int | None:
    """Distinct parameters of the architecture ``config.json`` names, built on ``meta``."""
    import torch
    import transformers

    names = config.get("architectures") or []
    cls = getattr(transformers, str(names[0]), None) if names else None
    if cls is None:
        return None
    built = transformers.AutoConfig.for_model(**dict(config))
    with torch.device("meta"):
        model = cls(built)
    return int(sum(p.numel() for p in model.parameters()))


def checkpoint_parameters(directory: str | Path | None, config: Mapping[str, Any]) -> int | None:
    """``n_parameters`` of a model folder (see the module documentation); None unknown.

    Parameters
    ----------
    directory : path or None
        The folder holding the weight files (None for a hub model not in the cache).
    config : mapping
        Its ``config.json``.
    """
    if directory is None:
        return None
    files = sorted(Path(directory).glob("*.safetensors"))
    if files:
        return int(sum(_safetensors_elements(path) for path in files))
    if any(Path(directory).glob("*.bin")):
        return _meta_parameters(config)
    return None


def model_card(model: str, *, stimuli: str = "text") -> dict[str, Any]:
    """The properties of a model (:data:`CARD_COLUMNS` except ``relative_depth``).

    Parameters
    ----------
    model : str
        Hub id (read from the local Hugging Face cache) or model directory.
    stimuli : {"text", "image", "audio", "video"}
        What the benchmark reads, which picks the tower of a multi-tower model.

    Returns
    -------
    dict
        ``n_parameters``, ``n_layers``, ``n_heads``, ``head_dim``, ``d_model`` (int or
        None), ``family``, ``objective`` (str, "" unknown), ``has_chat_template`` (bool
        or None). All unknown for a hub model that is not in the cache.

    Raises
    ------
    brainalign.encoders.models.ModelLoadError
        For a path that is not a model directory.
    """
    from brainalign.encoders.models import inspect_model

    info = inspect_model(model)
    card: dict[str, Any] = dict.fromkeys(_INTEGER_PROPERTIES)
    card.update(family="", objective="", has_chat_template=None)
    if info.config is None:
        return card
    part = _read_part(info.config, stimuli)
    encoder = bool(part.get("is_encoder_decoder"))
    n_layers = _integer(part, _ENCODER_LAYER_KEYS if encoder else _LAYER_KEYS)
    if n_layers is None and isinstance(part.get("depths"), list):
        n_layers = len(part["depths"])
    n_heads = _integer(part, _HEAD_KEYS)
    d_model = _integer(part, _WIDTH_KEYS)
    head_dim = _integer(part, ("head_dim",))
    if head_dim is None and n_heads and d_model and d_model % n_heads == 0:
        head_dim = d_model // n_heads
    card.update(
        n_parameters=checkpoint_parameters(info.directory, info.config),
        n_layers=n_layers,
        n_heads=n_heads,
        head_dim=head_dim,
        d_model=d_model,
        family=str(info.config.get("model_type") or ""),
        objective=objective_of(info.config),
        has_chat_template=has_chat_template(info.directory),
    )
    return card


def attach_model_card(rows: pd.DataFrame, card: Mapping[str, Any]) -> pd.DataFrame:
    """Add the card's columns to the model rows of a benchmark's table.

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n_rows, ...)
        With ``control`` (model rows have it empty or missing) and ``layer``.
    card : mapping
        :func:`model_card` of the rows' model.

    Returns
    -------
    pandas.DataFrame
        A copy with :data:`CARD_COLUMNS` appended: nullable integers, strings (``""`` on
        control rows), ``has_chat_template`` nullable boolean, ``relative_depth``
        float64 (NaN on control rows and rows without a layer).
    """
    table = rows.copy()
    control = table["control"].fillna("").astype(str) != "" if "control" in table else None
    is_model = np.ones(len(table), bool) if control is None else ~control.to_numpy()
    for name in _INTEGER_PROPERTIES:
        value = card.get(name)
        table[name] = pd.array([value if m and value is not None else pd.NA for m in is_model],
                               dtype="Int64")  # fmt: skip
    for name in _STRING_PROPERTIES:
        table[name] = np.where(is_model, str(card.get(name) or ""), "")
    chat = card.get("has_chat_template")
    table["has_chat_template"] = pd.array(
        [chat if m and chat is not None else pd.NA for m in is_model], dtype="boolean"
    )
    layers = pd.to_numeric(table.get("layer", pd.Series(np.nan, index=table.index)))
    n_layers = card.get("n_layers")
    depth = layers.to_numpy(dtype=np.float64, na_value=np.nan) / float(n_layers or np.nan)
    table["relative_depth"] = np.where(is_model, depth, np.nan)
    return table
