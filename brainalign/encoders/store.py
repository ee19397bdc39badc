"""The feature store: model features on disk, keyed by their full provenance.

Computing the features of a large model for a long story takes minutes to hours; the
store makes the second run free. Each entry holds the arrays of one
(model, weights, tokenizer, layers, pooling, context, dtype, stimulus set) combination,
written in chunks and read back memory-mapped, so neither the writer nor the reader ever
needs all items in memory.

Layout
------
::

    <root>/
      <model-slug>-<sha256[:16]>/      one complete entry
        key.json                       the full key (canonical JSON, indented)
        array-000.npy ...              one array per layer (or head), shape (n_items, ...)
        stimulus_ids.npy [onsets.npy]  what each row is
        manifest.json                  written last: names, shapes, dtypes, sizes, sha256
      .<entry>.tmp-<pid>-<token>-<host>/   a write in progress (or a killed one)
      .<entry>.lock                    taken only for the final rename

The entry name is ``sha256`` of the canonical JSON of the key (sorted keys, no
whitespace, tuples as lists, numpy scalars as Python numbers; see :func:`key_sha256`),
after a readable slug of the model id. Build keys with :func:`feature_key` (or
:func:`text_encoder_key` for a :class:`~brainalign.encoders.text.TextEncoder`); the
stimulus set enters the key as :func:`stimulus_hash`.

Why ``.npy`` files
------------------
- No extra dependency: numpy is already required; zarr and h5py are not, and h5py
  brings a C library whose version must match the files.
- Memory-mapped reads for free (``np.load(mmap_mode="r")``); the OS page cache serves
  repeated reads, and only the rows used are read.
- One array per file, so a writer fills arrays independently, a damaged file is found
  by its size alone, and nothing needs a global index that could be half-written (HDF5
  can corrupt a whole file when a writer is killed; zarr's many chunk files make
  removal and copying slow).
- Any tool that reads ``.npy`` (numpy, MATLAB/Julia/R readers, ``np.load`` in one line)
  reads an entry; the manifest is plain JSON.
- Writes use plain positional file I/O (``os.pwrite`` after the ``.npy`` header), not a
  writable memory map: pages dirtied through a map count in the writer's resident
  memory until written back, pages written with ``pwrite`` only in the page cache. So a
  writer's peak RSS does not grow with the number of items (``perf/memory_growth.py``).

What zarr/HDF5 would add -- compression and chunked appends of unknown length -- is not
needed: the number of items is known before the first forward pass, and float features
compress poorly.

Completeness and crashes
------------------------
A writer fills a temporary directory next to the entry (same filesystem), preallocated
(header by ``open_memmap``, rows by ``os.pwrite``). On success it fsyncs every array,
hashes it, writes ``manifest.json`` last, fsyncs, and ``os.replace``-s the directory
onto the entry name. An entry is *complete* only when ``manifest.json`` parses, has this
format version, names the same key as ``key.json``, and every file it lists exists with
the recorded size. Anything else (a killed writer's temporary directory, a deleted
manifest, a truncated array) is never served: :meth:`FeatureStore.has` is ``False`` and
:meth:`FeatureStore.load` raises :class:`IncompleteEntryError`. A new write of the same
key replaces an incomplete entry and removes temporary directories whose writer is dead
(same host, process gone) or, for other hosts, older than :data:`STALE_AFTER_S`.
:meth:`FeatureStore.verify` re-hashes the files for damage that keeps sizes.

Concurrent writers
------------------
Two processes computing the same key both write their own temporary directory. The
final step runs under an advisory lock (``fcntl.flock`` on ``.<entry>.lock``, where
available): if the entry is already complete, the later writer discards its temporary
directory (the arrays are the same computation) and returns; if an incomplete entry is
in the way it is moved aside and deleted. ``os.replace`` onto a non-empty directory
fails on POSIX, which is why the check is needed.

What is not in the key
----------------------
Device, batch size and library versions change features only at the level of float
rounding; they are recorded in the stored provenance, not in the key. Pass them as
``extra=`` to :func:`feature_key` to make them part of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from brainalign.encoders.common import check_layer_indices, file_sha256
from brainalign.encoders.features import Features

__all__ = [
    "FORMAT_VERSION",
    "EntryExistsError",
    "EntryWriter",
    "FeatureStore",
    "FeatureStoreError",
    "IncompleteEntryError",
    "ProvenanceMismatchError",
    "feature_key",
    "key_sha256",
    "stimulus_hash",
    "text_encoder_key",
    "text_extract_key",
]

#: Version of the entry layout; entries of another version count as incomplete.
FORMAT_VERSION = 1
#: Version of the key layout built by :func:`feature_key`.
KEY_FORMAT = "brainalign.feature-key/1"
#: Seconds after which another host's temporary directory is considered abandoned.
STALE_AFTER_S = 24 * 3600
#: Rows written per chunk by :meth:`FeatureStore.put` are capped at this many bytes.
CHUNK_BYTES = 64 << 20

MANIFEST = "manifest.json"
KEY_FILE = "key.json"
_HASH_CHARS = 16
_SLUG_CHARS = 48
_HASHED_COLUMNS = ("stimulus_id", "text", "image", "onset", "duration", "space_before", "group")
_FLOAT_COLUMNS = ("onset", "duration")
# Config entries that describe how a model was loaded, not what it computes.
_CONFIG_IGNORED = ("_name_or_path", "_commit_hash", "transformers_version", "dtype", "torch_dtype")
_CONFIG_IGNORED += ("output_hidden_states", "output_attentions", "return_dict", "use_cache")


class FeatureStoreError(RuntimeError):
    """A feature store problem: unusable root, damaged or conflicting entry."""


class IncompleteEntryError(FeatureStoreError):
    """No complete entry for a key (never written, interrupted, or damaged)."""


class ProvenanceMismatchError(FeatureStoreError):
    """An entry's stored key differs from the requested key under the same path."""


class EntryExistsError(FeatureStoreError):
    """A writer was opened for a key whose entry is already complete."""


# --------------------------------------------------------------------------- keys


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
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The store key of ``encoder.encode_words(words, ...)`` with the same arguments.

    Parameters
    ----------
    encoder : TextEncoder
        The encoder whose features are stored.
    words, layers, stimulus_ids, onsets, space_before
        As for :meth:`~brainalign.encoders.text.TextEncoder.encode_words`.
    extra : mapping, optional
        Passed to :func:`feature_key`.

    Returns
    -------
    dict
        Model id; weights (kind, per-file sha256 for a local pretrained model, hub
        revision, seed for random weights, sha256 of the config); tokenizer class,
        vocabulary size and sha256 of its serialisation; hidden-state indices; pooling;
        context mode and window; dtype; stimulus hash of words, ids, onsets and
        ``space_before``.
    """
    layer_ids = check_layer_indices(layers, encoder.n_layers, encoder.model_id)
    table = _text_table(words, stimulus_id=stimulus_ids, onset=onsets, space_before=space_before)
    return feature_key(
        model=encoder.model_id,
        weights=_text_weights(encoder),
        tokenizer=_tokenizer_fingerprint(encoder.tokenizer),
        layers=[str(layer) for layer in layer_ids],
        pooling=encoder.pooling,
        context=_word_window_context(encoder),
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
) -> dict[str, Any]:
    """The store key of ``encoder.extract(texts, context=..., level=..., ...)``.

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

    Returns
    -------
    dict
        As :func:`text_encoder_key`, with the context mode (``isolated``, ``passage``
        or ``window``), the item level and how passages are read, and the groups in the
        stimulus hash.
    """
    layer_ids = check_layer_indices(layers, encoder.n_layers, encoder.model_id)
    reading: dict[str, Any] = {"mode": context, "level": level, "max_length": encoder.max_length}
    if context == "window":
        reading["window"] = _word_window_context(encoder)
    elif context == "passage":
        reading["sentences_joined"] = "single space"
        if encoder.is_causal:
            reading["stride"] = encoder.stride
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


def _text_weights(encoder: Any) -> dict[str, Any]:
    """The weights part of a text encoder's key: kind, sha256 or revision or seed, config."""
    provenance = encoder.provenance
    return {
        "kind": provenance.get("weights"),
        "sha256": provenance.get("weights_sha256") or None,
        "revision": provenance.get("revision"),
        "seed": provenance.get("seed"),
        "model_type": provenance.get("model_type"),
        "config_sha256": config_sha256(encoder.model.config),
    }


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


# --------------------------------------------------------------------------- files


def _fsync_path(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _jsonable(value: Any) -> Any:
    """Provenance as JSON: like the key, but anything else becomes its ``str``."""
    try:
        return _canonical(value, "provenance")
    except (TypeError, ValueError):
        pass
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", socket.gethostname()) or "host"


# --------------------------------------------------------------------------- store


class FeatureStore:
    """Chunked, memory-mapped feature arrays on disk, one entry per provenance key.

    Parameters
    ----------
    root : str or path-like
        Store directory. Created on the first write; a read-only store can be read.

    Raises
    ------
    FeatureStoreError
        If ``root`` exists and is not a directory.

    Examples
    --------
    >>> store = FeatureStore("~/.cache/brainalign/features")  # doctest: +SKIP
    >>> key = text_encoder_key(encoder, words)  # doctest: +SKIP
    >>> features = store.get_or_compute(key, lambda: encoder.encode_words(words))  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise FeatureStoreError(
                f"feature store root {str(self.root)!r} exists and is not a directory; "
                "pass a directory path (it is created if missing)"
            )

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    # ----------------------------------------------------------------- lookup

    def key_path(self, key: Mapping[str, Any]) -> Path:
        """Entry directory of a key: ``<root>/<model-slug>-<sha256[:16]>``."""
        canonical = _check_key(key)
        digest = hashlib.sha256(_canonical_json(canonical).encode("utf-8")).hexdigest()
        return self.root / f"{_model_slug(canonical['model'])}-{digest[:_HASH_CHARS]}"

    def has(self, key: Mapping[str, Any]) -> bool:
        """Whether a complete entry exists for ``key``.

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory holds a different key.
        """
        return self._inspect(key)[0] is not None

    def load(self, key: Mapping[str, Any], mmap: bool = True) -> Features:
        """Read the entry of ``key``.

        Parameters
        ----------
        key : mapping
        mmap : bool
            Memory-map the arrays (read-only ``numpy.memmap``); ``False`` reads them.

        Returns
        -------
        Features
            Arrays keyed by name, each shape (n_items, ...) with the stored dtype, the
            stored ``stimulus_ids`` and ``onsets``, and the provenance given when writing.

        Raises
        ------
        IncompleteEntryError
            If there is no complete entry (never written, interrupted or damaged).
        ProvenanceMismatchError
            If the entry directory holds a different key.
        """
        manifest, reason = self._inspect(key)
        path = self.key_path(key)
        if manifest is None:
            raise IncompleteEntryError(
                f"no complete feature-store entry for model {key['model']!r} at "
                f"{str(path)!r}: {reason}; compute it (get_or_compute) to (re)write it"
            )
        return _read_entry(path, manifest, mmap)

    def try_load(self, key: Mapping[str, Any], mmap: bool = True) -> Features | None:
        """The entry of ``key`` if it is complete, else ``None`` (one look at the entry).

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory holds a different key.
        """
        manifest, _ = self._inspect(key)
        return None if manifest is None else _read_entry(self.key_path(key), manifest, mmap)

    def verify(self, key: Mapping[str, Any]) -> bool:
        """Re-hash every file of a complete entry against its manifest (slow: reads all).

        Returns ``False`` when the entry is missing, incomplete or any digest differs.
        """
        manifest, _ = self._inspect(key)
        if manifest is None:
            return False
        path = self.key_path(key)
        return all(
            file_sha256(path / name) == meta["sha256"] for name, meta in manifest["files"].items()
        )

    def entries(self) -> list[dict[str, Any]]:
        """Every entry directory, complete or not, sorted by name.

        Returns
        -------
        list of dict
            ``path``, ``model``, ``complete`` (bool), ``reason`` (why not complete, or
            ``None``), ``key`` (or ``None`` if unreadable), ``n_items``, ``arrays``
            (names), ``bytes`` (sum of file sizes) and ``created`` (UTC, ISO 8601).
        """
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                key = _read_json(path / KEY_FILE)
            except (OSError, ValueError):
                key = None
            manifest, reason = (None, "key.json missing or unreadable")
            if isinstance(key, Mapping):
                try:
                    if self.key_path(key) != path:
                        reason = "key.json does not hash to this directory name (renamed?)"
                    else:
                        manifest, reason = self._inspect(key)
                except (TypeError, ValueError, FeatureStoreError) as error:
                    reason = f"key.json is not a valid key ({error})"
            found.append(
                {
                    "path": str(path),
                    "model": key.get("model") if isinstance(key, Mapping) else None,
                    "complete": manifest is not None,
                    "reason": reason,
                    "key": key,
                    "n_items": manifest["n_items"] if manifest else None,
                    "arrays": [spec["name"] for spec in manifest["arrays"]] if manifest else [],
                    "bytes": sum(m["bytes"] for m in manifest["files"].values()) if manifest else 0,
                    "created": manifest.get("created") if manifest else None,
                }
            )
        return found

    # ----------------------------------------------------------------- writing

    def writer(
        self,
        key: Mapping[str, Any],
        n_items: int,
        arrays: Mapping[str, tuple[tuple[int, ...], Any]],
        *,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> EntryWriter:
        """A context manager that writes the entry of ``key`` in chunks.

        Parameters
        ----------
        key : mapping
            The full provenance (see :func:`feature_key`).
        n_items : int
            Rows of every array.
        arrays : mapping of str to (shape_tail, dtype)
            Array names in order, each with the shape after the item axis (at least one
            axis, e.g. ``(n_dims,)`` or ``(n_heads, d_head)``) and a numeric dtype.
        stimulus_ids : array-like, shape (n_items,), optional
            Default ``0 .. n_items - 1``.
        onsets : array-like of float, shape (n_items,), optional
            Item onsets in seconds.
        provenance : mapping, optional
            Stored with the entry and returned by :meth:`load`; the writer's
            ``provenance`` dict may be updated until the block ends.

        Returns
        -------
        EntryWriter
            Use as ``with store.writer(...) as w: w.write(name, rows, values)``.

        Raises
        ------
        EntryExistsError
            If a complete entry exists already (load it, or :meth:`remove` it first).
        ProvenanceMismatchError
            If the entry directory holds a different key.
        ValueError
            For a bad shape, dtype, ``n_items`` or ids/onsets of the wrong length.
        """
        return EntryWriter(
            self,
            key,
            n_items,
            arrays,
            stimulus_ids=stimulus_ids,
            onsets=onsets,
            provenance=provenance,
        )

    def put(self, key: Mapping[str, Any], features: Features) -> Path:
        """Write a :class:`Features` as the entry of ``key`` (in row chunks).

        Returns the entry directory. Raises like :meth:`writer`.
        """
        if not isinstance(features, Features):
            raise TypeError(f"expected Features, got {type(features).__name__}")
        specs = {
            name: (tuple(np.shape(array)[1:]), np.asarray(array[:0]).dtype)
            for name, array in features.layers.items()
        }
        with self.writer(
            key,
            features.n_items,
            specs,
            stimulus_ids=features.stimulus_ids,
            onsets=features.onsets,
            provenance=features.provenance,
        ) as entry:
            for name, array in features.layers.items():
                row_bytes = max(1, int(np.prod(specs[name][0])) * specs[name][1].itemsize)
                step = max(1, CHUNK_BYTES // row_bytes)
                for start in range(0, features.n_items, step):
                    rows = slice(start, min(start + step, features.n_items))
                    entry.write(name, rows, np.asarray(array[rows]))
        return self.key_path(key)

    def get_or_compute(self, key: Mapping[str, Any], compute: Callable[[], Features]) -> Features:
        """Load the entry of ``key``, or call ``compute()``, store its result and load that.

        When a complete entry exists, ``compute`` is not called. The result is always
        read back from the store (memory-mapped), so a first and a later run return the
        same arrays. If another process completes the entry meanwhile, its entry is kept.

        To stream the items into the entry batch by batch instead of holding them in
        memory, call :meth:`~brainalign.encoders.text.TextEncoder.encode_words` or
        :meth:`~brainalign.encoders.text.TextEncoder.extract` with ``store=`` and
        ``key=``; they also return a complete entry without a forward pass.

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory holds a different key.
        TypeError
            If ``compute`` does not return :class:`Features`.
        """
        found = self.try_load(key)
        if found is not None:
            return found
        features = compute()
        try:
            self.put(key, features)
        except EntryExistsError:  # another writer finished first
            pass
        return self.load(key)

    def remove(self, key: Mapping[str, Any]) -> bool:
        """Delete the entry of ``key`` (complete or not) and its stale temporary directories.

        Returns whether an entry directory was removed.

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory holds a different key (it is left alone).
        """
        path = self.key_path(key)
        self._inspect(key)  # refuses to delete another key's entry
        self._clean_stale(path)
        if not path.exists():
            return False
        trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    # ----------------------------------------------------------------- internals

    def _inspect(self, key: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(manifest, "") for a complete entry, else (None, why not)."""
        canonical = _check_key(key)
        path = self.key_path(canonical)
        if not path.is_dir():
            return None, "no entry directory"
        try:
            stored = _read_json(path / KEY_FILE)
        except FileNotFoundError:
            return None, "key.json is missing"
        except (OSError, ValueError) as error:
            return None, f"key.json is unreadable ({error})"
        if _canonical_json(stored) != _canonical_json(canonical):
            raise ProvenanceMismatchError(
                f"existing store with a different provenance under the same path "
                f"{str(path)!r}: its key.json differs from the requested key (hash "
                "collision or edited files). Nothing was read or written; inspect "
                f"{str(path / KEY_FILE)!r} and remove the directory if it is wrong"
            )
        try:
            manifest = _read_json(path / MANIFEST)
        except FileNotFoundError:
            return None, "manifest.json is missing (interrupted or damaged write)"
        except (OSError, ValueError) as error:
            return None, f"manifest.json is unreadable ({error})"
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version") if isinstance(manifest, dict) else None
            return None, f"manifest format_version {found!r} is not {FORMAT_VERSION}"
        if _canonical_json(manifest.get("key")) != _canonical_json(canonical):
            return None, "manifest.json names a different key than key.json"
        for name, meta in manifest.get("files", {}).items():
            file = path / name
            if not file.is_file():
                return None, f"{name} is missing"
            size = file.stat().st_size
            if size != meta["bytes"]:
                return None, f"{name} has {size} bytes, not {meta['bytes']} (truncated?)"
        return manifest, ""

    def _ensure_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise FeatureStoreError(
                f"feature store root {str(self.root)!r} is not a directory; pass a directory"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise FeatureStoreError(
                f"cannot write to feature store root {str(self.root)!r} "
                f"({error.strerror or error}); choose a directory you can write to"
            ) from error

    def _clean_stale(self, path: Path) -> None:
        """Remove dead writers' temporary directories and leftover trash of one entry."""
        if not self.root.is_dir():
            return
        temp_prefix, trash_prefix = f".{path.name}.tmp-", f".{path.name}.trash-"
        host = _host()
        for candidate in self.root.iterdir():
            name = candidate.name
            if name.startswith(trash_prefix):
                shutil.rmtree(candidate, ignore_errors=True)
            elif name.startswith(temp_prefix):
                stale = False
                parts = name[len(temp_prefix) :].split("-", 2)
                if len(parts) == 3 and parts[0].isdigit() and parts[2] == host:
                    stale = not _pid_alive(int(parts[0]))
                else:
                    with contextlib.suppress(OSError):
                        age = time.time() - candidate.stat().st_mtime
                        stale = age > STALE_AFTER_S
                if stale:
                    shutil.rmtree(candidate, ignore_errors=True)

    @contextlib.contextmanager
    def _commit_lock(self, path: Path) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: rely on the completeness checks alone
            yield
            return
        with open(self.root / f".{path.name}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_entry(path: Path, manifest: Mapping[str, Any], mmap: bool) -> Features:
    """Read a complete entry's arrays (memory-mapped when ``mmap``) as ``Features``."""
    mode = "r" if mmap else None
    arrays = {}
    for spec in manifest["arrays"]:
        array = np.load(path / spec["file"], mmap_mode=mode, allow_pickle=False)
        if list(array.shape) != spec["shape"] or array.dtype.str != spec["dtype"]:
            raise IncompleteEntryError(
                f"{str(path / spec['file'])!r} holds {array.dtype.str} {array.shape}; "
                f"the manifest says {spec['dtype']} {tuple(spec['shape'])}. The entry is "
                "damaged: remove(key) and compute it again"
            )
        arrays[spec["name"]] = array
    stimulus_ids = np.load(path / "stimulus_ids.npy", allow_pickle=False)
    onsets = None
    if manifest.get("has_onsets"):
        onsets = np.load(path / "onsets.npy", allow_pickle=False)
    return _to_features(arrays, stimulus_ids, onsets, manifest.get("provenance", {}))


def _to_features(
    arrays: dict[str, np.ndarray],
    stimulus_ids: np.ndarray,
    onsets: np.ndarray | None,
    provenance: dict[str, Any],
) -> Features:
    """The one place stored arrays become a :class:`Features` (any number of axes >= 2)."""
    return Features(layers=arrays, stimulus_ids=stimulus_ids, onsets=onsets, provenance=provenance)


class EntryWriter:
    """Writes one store entry in chunks; made by :meth:`FeatureStore.writer`.

    On entering, stale temporary directories of the key are removed and a new one is
    created next to the entry with every array preallocated (header by ``open_memmap``;
    rows are written with ``os.pwrite``, never through a map, so the writer's memory does
    not grow with the rows written). On a clean exit every row of every array must have
    been written; the arrays are fsynced and hashed, ``manifest.json`` is written last and
    the directory is renamed onto the entry. On an exception the temporary directory is
    removed and the exception propagates; if the process is killed it stays, is never
    read as an entry, and is removed by the next write of the key.

    Attributes
    ----------
    path : Path
        The final entry directory.
    provenance : dict
        Stored with the entry; may be updated until the block ends.
    """

    def __init__(
        self,
        store: FeatureStore,
        key: Mapping[str, Any],
        n_items: int,
        arrays: Mapping[str, tuple[tuple[int, ...], Any]],
        *,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._key = _check_key(key)
        self.path = store.key_path(self._key)
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
            raise ValueError(f"n_items={n_items!r}; it must be a positive integer")
        self.n_items = int(n_items)
        if not arrays:
            raise ValueError("arrays is empty; name at least one array with (shape_tail, dtype)")
        self._specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for name, spec in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"array name {name!r}; names must be non-empty strings")
            try:
                tail, dtype = spec
                tail = tuple(int(n) for n in tail)
                dtype = np.dtype(dtype)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"array {name!r}: spec {spec!r} is not (shape_tail, dtype), e.g. "
                    f"((768,), 'float32') ({error})"
                ) from error
            if not tail or any(n < 1 for n in tail):
                raise ValueError(
                    f"array {name!r}: shape after the items {tail} must have at least one "
                    "axis, all positive (use (1,) for one number per item)"
                )
            if dtype.kind not in "biufc":
                raise ValueError(
                    f"array {name!r}: dtype {dtype} is not numeric; the store holds bool, "
                    "integer, float and complex arrays"
                )
            self._specs[name] = (tail, dtype)
        self.stimulus_ids = self._rows("stimulus_ids", stimulus_ids)
        if self.stimulus_ids.dtype.kind == "O":
            self.stimulus_ids = self.stimulus_ids.astype(str)
        self.onsets = None
        if onsets is not None:
            self.onsets = self._rows("onsets", onsets).astype(np.float64)
        self.provenance: dict[str, Any] = dict(provenance or {})
        self._temp: Path | None = None
        self._files: dict[str, _RowFile] = {}
        self._written: dict[str, np.ndarray] = {}
        self._closed = False

    def _rows(self, name: str, values: Any) -> np.ndarray:
        if values is None:
            return np.arange(self.n_items)
        values = np.asarray(values)
        if values.shape != (self.n_items,):
            raise ValueError(
                f"{name} has shape {values.shape}; expected ({self.n_items},), one per item"
            )
        return values

    def __enter__(self) -> EntryWriter:
        store = self._store
        if store._inspect(self._key)[0] is not None:
            raise EntryExistsError(
                f"the entry {str(self.path)!r} is already complete; load it, or remove(key) "
                "before writing it again"
            )
        store._ensure_root()
        store._clean_stale(self.path)
        token = f"{os.getpid()}-{secrets.token_hex(4)}-{_host()}"
        self._temp = self.path.with_name(f".{self.path.name}.tmp-{token}")
        self._temp.mkdir()
        try:
            _write_json(self._temp / KEY_FILE, self._key)
            for index, (name, (tail, dtype)) in enumerate(self._specs.items()):
                self._files[name] = _RowFile(
                    self._temp / f"array-{index:03d}.npy", (self.n_items, *tail), dtype
                )
                self._written[name] = np.zeros(self.n_items, dtype=bool)
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, name: str, rows: slice | int | Sequence[int] | np.ndarray, values: Any) -> None:
        """Write ``values`` into rows ``rows`` of array ``name``.

        Parameters
        ----------
        name : str
            One of the array names given to the writer.
        rows : slice, int or array of int
            Item rows.
        values : array-like, shape (n_rows, *shape_tail)
            Cast to the array's dtype (same kind only: no float into an int array).
        """
        if self._temp is None or self._closed:
            raise RuntimeError("write() is only possible inside the writer's with-block")
        if name not in self._files:
            raise KeyError(f"no array {name!r} in this writer; arrays are {list(self._files)}")
        target = self._files[name]
        try:
            indices = np.arange(self.n_items)[rows]
        except (IndexError, TypeError, ValueError) as error:
            raise ValueError(
                f"array {name!r}: rows {rows!r} do not select rows of {self.n_items} items "
                f"({error})"
            ) from error
        values = np.asarray(values)
        expected = (*np.shape(indices), *target.shape[1:])
        if values.shape != expected:
            raise ValueError(
                f"array {name!r}, rows {rows!r}: values have shape {values.shape}; "
                f"expected {expected}"
            )
        if not np.can_cast(values.dtype, target.dtype, casting="same_kind"):
            raise ValueError(
                f"array {name!r}: cannot store {values.dtype} values in a {target.dtype} array "
                "without changing their kind; convert them first"
            )
        target.write_rows(np.atleast_1d(indices), values.reshape(-1, *target.shape[1:]))
        self._written[name][indices] = True

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._finish()
        except BaseException:
            self._discard()
            raise

    def _finish(self) -> None:
        assert self._temp is not None
        for name, written in self._written.items():
            if not written.all():
                missing = np.flatnonzero(~written)
                raise ValueError(
                    f"array {name!r}: {missing.size} of {self.n_items} rows were never written "
                    f"(first: {missing[:5].tolist()}); nothing was stored"
                )
        files: dict[str, dict[str, Any]] = {}
        specs = []
        for index, (name, target) in enumerate(self._files.items()):
            specs.append(
                {
                    "name": name,
                    "file": f"array-{index:03d}.npy",
                    "shape": list(target.shape),
                    "dtype": target.dtype.str,
                }
            )
        self._close_files()
        np.save(self._temp / "stimulus_ids.npy", self.stimulus_ids, allow_pickle=False)
        if self.onsets is not None:
            np.save(self._temp / "onsets.npy", self.onsets, allow_pickle=False)
        names = [spec["file"] for spec in specs] + ["stimulus_ids.npy", KEY_FILE]
        names += ["onsets.npy"] if self.onsets is not None else []
        for name in names:
            file = self._temp / name
            _fsync_path(file)
            files[name] = {"bytes": file.stat().st_size, "sha256": file_sha256(file)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "key": self._key,
            "key_sha256": key_sha256(self._key),
            "n_items": self.n_items,
            "arrays": specs,
            "has_onsets": self.onsets is not None,
            "files": files,
            "provenance": _jsonable(self.provenance),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_json(self._temp / MANIFEST, manifest)
        _fsync_path(self._temp, directory=True)
        self._commit()

    def _commit(self) -> None:
        """Rename the temporary directory onto the entry, under the store's commit lock."""
        store, temp, path = self._store, self._temp, self.path
        assert temp is not None
        with store._commit_lock(path):
            if path.exists():
                if store._inspect(self._key)[0] is not None:  # another writer finished first
                    self._discard()
                    return
                trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
                os.replace(path, trash)  # an incomplete entry: move it out of the way
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(temp, path)
            self._temp = None
            self._closed = True
        _fsync_path(store.root, directory=True)

    def _close_files(self) -> None:
        for target in self._files.values():
            target.close()
        self._files.clear()

    def _discard(self) -> None:
        self._close_files()
        self._closed = True
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


class _RowFile:
    """A preallocated ``.npy`` file written row by row with positional writes.

    The header is written by ``numpy.lib.format.open_memmap`` (which also sizes the file,
    sparsely); rows are then written with ``os.pwrite`` at ``offset + row * row_bytes``,
    contiguous runs of rows in one call. Unlike writing through a memory map, the
    written pages are never mapped into the process, so they do not count in its
    resident memory: the page cache holds them and the kernel writes them back.

    Parameters
    ----------
    path : Path
    shape : tuple of int
        (n_items, *shape_tail).
    dtype : numpy.dtype
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        created = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        offset = created.offset
        del created  # the only reference: closes the map without touching a page
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self._row_bytes = int(np.prod(shape[1:])) * self.dtype.itemsize
        self._offset = int(offset)
        self._fd: int | None = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))

    def write_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Write ``values[i]`` to row ``rows[i]``; a repeated row keeps the last value.

        Parameters
        ----------
        rows : numpy.ndarray of int, shape (n_rows,)
        values : numpy.ndarray, shape (n_rows, *shape_tail)
        """
        if self._fd is None:
            raise RuntimeError(f"{str(self.path)!r} is closed")
        if rows.size == 0:
            return
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        values = np.ascontiguousarray(values[order], dtype=self.dtype)
        keep = np.append(rows[1:] != rows[:-1], True)  # last of each repeated row
        rows, values = rows[keep], values[keep]
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for start, stop in zip(
            np.concatenate([[0], breaks]), np.concatenate([breaks, [rows.size]]), strict=True
        ):
            data = memoryview(values[start:stop].reshape(-1).view(np.uint8))
            position = self._offset + int(rows[start]) * self._row_bytes
            while data:
                written = os.pwrite(self._fd, data, position)
                data, position = data[written:], position + written

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
