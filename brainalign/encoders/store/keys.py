"""Feature-store keys: everything features depend on, as canonical JSON, and its hashes.

A key is a plain-JSON mapping (:func:`feature_key` builds and checks one;
:func:`text_encoder_key` and :func:`text_extract_key` build the keys of a
:class:`~brainalign.encoders.text.TextEncoder`'s calls). The stimulus set enters as
:func:`stimulus_hash`, a model configuration as :func:`config_sha256`, and an entry's
directory name is :func:`key_sha256` of the canonical JSON.

Instructions
------------
A text encoder built with a task ``instruction`` adds ``context["instruction"]``
(text, format, separator and, for chat, the template's sha256; see
:meth:`brainalign.encoders.context.Instruction.describe`) to its keys, so features read
under different instructions never share an entry. Without an instruction nothing is
added: keys are those of encoders built before instructions existed, and old entries
still hit.

What is not in the key
----------------------
Device, batch size and library versions change features only at the level of float
rounding; they are recorded in the stored provenance, not in the key. Pass them as
``extra=`` to :func:`feature_key` to make them part of it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from brainalign.encoders.common import check_layer_indices

__all__ = [
    "KEY_FORMAT",
    "config_sha256",
    "feature_key",
    "json_sha256",
    "key_sha256",
    "stimulus_hash",
    "text_encoder_key",
    "text_extract_key",
]

#: Version of the key layout built by :func:`feature_key`.
KEY_FORMAT = "brainalign.feature-key/1"

_SLUG_CHARS = 48
_HASHED_COLUMNS = ("stimulus_id", "text", "image", "onset", "duration", "space_before", "group")
_FLOAT_COLUMNS = ("onset", "duration")
# Config entries that describe how a model was loaded, not what it computes.
_CONFIG_IGNORED = ("_name_or_path", "_commit_hash", "transformers_version", "dtype", "torch_dtype")
_CONFIG_IGNORED += ("output_hidden_states", "output_attentions", "return_dict", "use_cache")


def _canonical(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}; keys hold finite numbers only")
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"{where} has a non-string key {name!r}; use strings")
            out[name] = _canonical(item, f"{where}[{name!r}]")
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(
        f"{where} is a {type(value).__name__} ({value!r}), which has no canonical JSON form; "
        "use str, int, float, bool, None, lists or dicts of them"
    )


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_key(key: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(key, Mapping):
        raise TypeError(f"a store key must be a mapping, not {type(key).__name__}")
    canonical = _canonical(key, "key")
    model = canonical.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError(
            f"key['model'] is {model!r}; every key needs the model id as a non-empty string "
            "(build keys with feature_key)"
        )
    return canonical


def key_sha256(key: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of a key.

    Canonical: keys sorted, no whitespace, UTF-8, tuples and arrays as lists, numpy
    scalars as Python numbers, paths as strings. Equal keys give equal digests whatever
    the order their dicts were built in.
    """
    return hashlib.sha256(_canonical_json(_check_key(key)).encode("utf-8")).hexdigest()


def _model_slug(model: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model)[-_SLUG_CHARS:].strip("-._")
    return slug or "model"


def stimulus_hash(stimuli: Any) -> str:
    """A sha256 (hex) identifying a stimulus set, for feature-store keys.

    Parameters
    ----------
    stimuli : Stimuli, pandas.DataFrame, mapping of column -> sequence, or sequence of str
        A table (``Stimuli`` or its ``.table``, or a dict of equal-length columns) or a
        list of words. The columns hashed are ``stimulus_id``, ``text``, ``image``,
        ``onset``, ``duration``, ``space_before`` and ``group``, where present; others
        are ignored (put anything else that changes the features into the key). A
        missing ``stimulus_id`` means ``0 .. n_items - 1``, so a word list equals the
        table ``{"stimulus_id": range(n), "text": words}``.

    Returns
    -------
    str
        64 hex characters. Row order matters; column order and dict key order do not.
        Onsets and durations are compared as float64 (``1`` and ``1.0`` are the same
        onset); ids keep their type (``1`` and ``"1"`` differ). Array images are hashed
        by bytes, shape and dtype; image paths by the path string.

    Raises
    ------
    TypeError
        For a bare string or an unsupported container.
    ValueError
        For columns of different lengths, or a table with no ``text`` or ``image``.
    """
    columns = _stimulus_columns(stimuli)
    n_items = {name: len(values) for name, values in columns.items()}
    if len(set(n_items.values())) > 1:
        raise ValueError(f"stimulus columns differ in length: {n_items}; give one row per item")
    if "text" not in columns and "image" not in columns:
        raise ValueError(
            f"stimuli have columns {sorted(columns)}; a 'text' or 'image' column is needed"
        )
    n = next(iter(n_items.values()))
    payload: dict[str, Any] = {"format": "brainalign.stimulus-hash/1", "n_items": n}
    encoded = {}
    for name in _HASHED_COLUMNS:
        if name in columns:
            encoded[name] = [_stimulus_value(name, value) for value in columns[name]]
        elif name == "stimulus_id":
            encoded[name] = list(range(n))
    payload["columns"] = encoded
    return hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()


def _stimulus_columns(stimuli: Any) -> dict[str, Sequence[Any]]:
    # Stimuli -> its DataFrame (a DataFrame's own .table would be a column)
    table = stimuli if hasattr(stimuli, "columns") else getattr(stimuli, "table", stimuli)
    if isinstance(table, str):
        raise TypeError("stimuli is a single string; pass a list of words or a table")
    if hasattr(table, "columns") and hasattr(table, "__getitem__"):  # DataFrame
        return {str(c): table[c].tolist() for c in table.columns if str(c) in _HASHED_COLUMNS}
    if isinstance(table, Mapping):
        return {
            str(c): list(np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
            for c, v in table.items()
            if str(c) in _HASHED_COLUMNS
        }
    if isinstance(table, (Sequence, np.ndarray)):
        words = list(table)
        for index, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(
                    f"word {index} is a {type(word).__name__} ({word!r}); a word list holds "
                    "strings (pass a table for other stimuli)"
                )
        return {"text": words}
    raise TypeError(
        f"stimuli is a {type(stimuli).__name__}; pass Stimuli, a DataFrame, a dict of "
        "columns or a list of words"
    )


def _stimulus_value(column: str, value: Any) -> Any:
    if column in _FLOAT_COLUMNS:
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {
            "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
            "shape": list(array.shape),
            "dtype": array.dtype.str,
        }
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return repr(float(value))
    return _canonical(value, f"stimuli column {column!r} value")


def feature_key(
    *,
    model: str,
    weights: Mapping[str, Any],
    tokenizer: Mapping[str, Any] | None,
    layers: Sequence[str | int],
    pooling: str,
    context: Mapping[str, Any],
    dtype: str,
    stimuli: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build and check a feature-store key: everything the features depend on.

    Parameters
    ----------
    model : str
        Model id (hub id or directory) as the user gave it.
    weights : mapping
        What identifies the weights: at least one of ``sha256`` (per-file digests or one
        digest), ``revision`` (hub commit) or, for random weights, ``seed``; plus
        ``kind`` (``"pretrained"``/``"untrained"``) and e.g. ``config_sha256``.
    tokenizer : mapping or None
        ``class``, ``vocab_size`` and ``sha256`` of its files or serialisation; ``None``
        for models without one (vision).
    layers : sequence of str or int
        Hook or layer names, in order.
    pooling : str
        How tokens (or patches) become one row per item.
    context : mapping
        Context mode and window, e.g. ``{"mode": "causal-window", "max_length": 1024,
        "stride": 512}``.
    dtype : str
        Dtype the model ran in.
    stimuli : str
        :func:`stimulus_hash` of the stimulus set.
    extra : mapping, optional
        Anything else that changes the features (e.g. ``{"device": "cuda"}``).

    Returns
    -------
    dict
        The key, canonical (plain JSON types).

    Raises
    ------
    ValueError
        If the weights cannot be identified, ``stimuli`` is not a sha256 hex digest,
        ``layers`` is empty, or a value has no canonical JSON form.
    """
    identified = [name for name in ("sha256", "revision", "seed") if weights.get(name) is not None]
    if not identified:
        raise ValueError(
            f"weights={dict(weights)!r} does not identify the weights; give 'sha256' (hash "
            "of the weight files), 'revision' (hub commit) or 'seed' (random weights)"
        )
    if not isinstance(stimuli, str) or not re.fullmatch(r"[0-9a-f]{64}", stimuli):
        raise ValueError(f"stimuli={stimuli!r}; pass stimulus_hash(...) of the stimulus set")
    layers = [str(layer) for layer in layers]
    if not layers:
        raise ValueError("layers is empty; name the layers (or hooks) the features come from")
    key = {
        "format": KEY_FORMAT,
        "model": model,
        "weights": dict(weights),
        "tokenizer": None if tokenizer is None else dict(tokenizer),
        "layers": layers,
        "pooling": pooling,
        "context": dict(context),
        "dtype": dtype,
        "stimuli": stimuli,
        "extra": dict(extra or {}),
    }
    return _check_key(key)


def _tokenizer_fingerprint(tokenizer: Any) -> dict[str, Any]:
    """Class, vocabulary size and sha256 of a fast tokenizer's full serialisation."""
    fingerprint: dict[str, Any] = {"class": type(tokenizer).__name__, "vocab_size": len(tokenizer)}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        fingerprint["sha256"] = hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()
    return fingerprint


def json_sha256(value: Any) -> str:
    """sha256 of a JSON-like value as sorted, compact JSON (other objects as ``str``)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_sha256(config: Any) -> str:
    """sha256 of a transformers config, without the entries that describe loading."""
    return json_sha256({k: v for k, v in config.to_dict().items() if k not in _CONFIG_IGNORED})


def text_encoder_key(
    encoder: Any,
    words: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    stimulus_ids: Sequence[Any] | np.ndarray | None = None,
    onsets: Sequence[float] | np.ndarray | None = None,
    space_before: Sequence[bool] | np.ndarray | None = None,
    pooling: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The store key of ``encoder.encode_words(words, ...)`` with the same arguments.

    :meth:`~brainalign.encoders.text.TextEncoder.encode_words` builds it itself (via
    :meth:`~brainalign.encoders.text.TextEncoder.words_store_key`); this is the one
    definition of that key.

    Parameters
    ----------
    encoder : TextEncoder
        The encoder whose features are stored.
    words, layers, stimulus_ids, onsets, space_before, pooling
        As for :meth:`~brainalign.encoders.text.TextEncoder.encode_words`
        (``pooling=None``: the encoder's).
    extra : mapping, optional
        Passed to :func:`feature_key` (the captures asked for).

    Returns
    -------
    dict
        Model id; weights (kind, per-file sha256 for a local pretrained model, hub
        revision, seed for random weights, sha256 of the config); tokenizer class,
        vocabulary size and sha256 of its serialisation; hidden-state indices; pooling;
        context mode and window (and the encoder's instruction, when it has one); dtype;
        stimulus hash of words, ids, onsets and ``space_before``.
    """
    layer_ids = check_layer_indices(layers, encoder.n_layers, encoder.model_id)
    table = _text_table(words, stimulus_id=stimulus_ids, onset=onsets, space_before=space_before)
    return feature_key(
        model=encoder.model_id,
        weights=_text_weights(encoder),
        tokenizer=_tokenizer_fingerprint(encoder.tokenizer),
        layers=[str(layer) for layer in layer_ids],
        pooling=encoder.pooling if pooling is None else pooling,
        context={**_word_window_context(encoder), **_instruction_context(encoder)},
        dtype=encoder.dtype,
        stimuli=stimulus_hash(table),
        extra=extra,
    )


def text_extract_key(
    encoder: Any,
    texts: Sequence[str],
    *,
    context: str,
    level: str,
    groups: Sequence[Any] | np.ndarray | None = None,
    pooling: str | None = None,
    layers: Sequence[int] | None = None,
    stimulus_ids: Sequence[Any] | np.ndarray | None = None,
    onsets: Sequence[float] | np.ndarray | None = None,
    space_before: Sequence[bool] | np.ndarray | None = None,
    extra: Mapping[str, Any] | None = None,
    include_instruction: bool = False,
) -> dict[str, Any]:
    """The store key of ``encoder.extract(texts, context=..., level=..., ...)``.

    :meth:`~brainalign.encoders.text.TextEncoder.extract` builds it itself (via
    :meth:`~brainalign.encoders.text.TextEncoder.extract_store_key`); this is the one
    definition of that key.

    Parameters
    ----------
    encoder : TextEncoder
    texts : sequence of str, length n_items
        The items (sentences or words) in reading order.
    context, level, groups, pooling, layers
        As for :meth:`~brainalign.encoders.text.TextEncoder.extract` (``pooling=None``:
        the encoder's).
    stimulus_ids, onsets, space_before : array-like, optional
        Columns of the stimulus table, part of the stimulus hash.
    extra : mapping, optional
        Passed to :func:`feature_key` (e.g. the captures asked for).
    include_instruction : bool
        As for :meth:`~brainalign.encoders.text.TextEncoder.extract`; recorded as
        ``context["instruction"]["pooled"]`` (only with an instruction).

    Returns
    -------
    dict
        As :func:`text_encoder_key`, with the context mode (``isolated``, ``passage``
        or ``window``), the item level and how passages are read, the encoder's
        instruction (when it has one), and the groups in the stimulus hash.
    """
    layer_ids = check_layer_indices(layers, encoder.n_layers, encoder.model_id)
    reading: dict[str, Any] = {"mode": context, "level": level, "max_length": encoder.max_length}
    if context == "window":
        reading["window"] = _word_window_context(encoder)
    elif context == "passage":
        reading["sentences_joined"] = "single space"
        if encoder.is_causal:
            reading["stride"] = encoder.stride
    reading.update(_instruction_context(encoder, include_instruction))
    table = _text_table(
        texts, stimulus_id=stimulus_ids, onset=onsets, space_before=space_before, group=groups
    )
    return feature_key(
        model=encoder.model_id,
        weights=_text_weights(encoder),
        tokenizer=_tokenizer_fingerprint(encoder.tokenizer),
        layers=[str(layer) for layer in layer_ids],
        pooling=encoder.pooling if pooling is None else pooling,
        context=reading,
        dtype=encoder.dtype,
        stimuli=stimulus_hash(table),
        extra=extra,
    )


def weights_fingerprint(provenance: Mapping[str, Any], config: Any, **extra: Any) -> dict[str, Any]:
    """The weights part of every encoder's store key.

    Parameters
    ----------
    provenance : mapping
        The loaded model's provenance (:func:`~brainalign.encoders.loading.load_model`).
    config : transformers config
        The loaded model's config (hashed with :func:`config_sha256`).
    **extra
        Further fields of the encoder's own (a tower, the encoder-decoder model whose
        encoder it is).

    Returns
    -------
    dict
        ``kind`` (pretrained/untrained), ``sha256`` (per weight file, local pretrained
        models), ``revision`` (hub snapshot), ``seed`` (untrained), ``model_type`` and
        ``config_sha256``, then ``extra``.
    """
    return {
        "kind": provenance.get("weights"),
        "sha256": provenance.get("weights_sha256") or None,
        "revision": provenance.get("revision"),
        "seed": provenance.get("seed"),
        "model_type": provenance.get("model_type"),
        "config_sha256": config_sha256(config),
        **extra,
    }


def _text_weights(encoder: Any) -> dict[str, Any]:
    """The weights part of a text encoder's key (:func:`weights_fingerprint`)."""
    return weights_fingerprint(encoder.provenance, encoder.model.config)


def _word_window_context(encoder: Any) -> dict[str, Any]:
    """How :meth:`~brainalign.encoders.text.TextEncoder.encode_words` reads a text."""
    if encoder.is_causal:
        return {
            "mode": "causal-window",
            "max_length": encoder.max_length,
            "stride": encoder.stride,
        }
    return {
        "mode": "preceding-words",
        "max_length": encoder.max_length,
        "context_words": encoder.context_words,
    }


def _instruction_context(encoder: Any, pooled: bool = False) -> dict[str, Any]:
    """``{"instruction": {...}}`` of an encoder with an instruction, else ``{}``.

    Empty without an instruction, so such keys stay those of encoders built before
    instructions existed. ``pooled`` (``include_instruction``) is recorded only when True.
    """
    instruction = getattr(encoder, "instruction", None)
    if instruction is None:
        return {}
    described = instruction.describe()
    if pooled:
        described["pooled"] = True
    return {"instruction": described}


def _text_table(texts: Sequence[str], **columns: Any) -> dict[str, Any]:
    """The stimulus table hashed into a text key: texts plus the columns given.

    ``columns`` are named as :func:`stimulus_hash` reads them (``stimulus_id``,
    ``onset``, ``space_before``, ``group``); ``None`` columns are left out.
    """
    table: dict[str, Any] = {"text": [str(text) for text in texts]}
    for name, values in columns.items():
        if values is not None:
            table[name] = list(np.asarray(values).tolist())
    return table
