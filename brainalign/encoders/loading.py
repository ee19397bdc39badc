"""One model loader for every modality: text, causal LM, vision, audio, video, multimodal.

Every encoder loads its model through :func:`load_model`, so every modality takes the
same names and options and fails with the same errors:

1. the name: a hub id or a local directory (:func:`~brainalign.encoders.models.
   resolve_model_source`), optionally ``@untrained`` / ``@pretrained``
   (:func:`~brainalign.encoders.models.split_model_spec`);
2. the options: ``weights``, ``seed``, ``dtype``, ``device`` (``"auto"`` for the
   modalities in :data:`AUTO_DEVICE_MODALITIES`), all checked before anything loads;
3. the config (``trust_remote_code`` is always off) and, for a model with several
   towers, the tower of the modality (:data:`TOWERS`): CLIP's or SigLIP's text tower
   for ``"text"``, its vision tower for ``"vision"``, CLAP's audio tower for
   ``"audio"``, X-CLIP's vision tower for ``"video"``;
4. the model class (:func:`model_class_for`): ``AutoModel``'s base class, the
   encoder-only class of T5-like models and of Whisper (:data:`ENCODER_ONLY_CLASSES`:
   the decoder's weights are never built or read), or the causal-LM class (with its LM
   head) for ``"causal_lm"``; another encoder-decoder model (BART) is loaded whole and
   its encoder kept (``provenance["encoder_of"]``);
5. the preprocessor of the modality (:data:`PREPROCESSORS`): the fast tokenizer, the
   image processor (PIL backend), the audio feature extractor, the video processor or
   the multimodal processor, unless one is passed in;
6. the free-memory check (the weights at ``dtype``, sized on torch's meta device);
7. the weights: pretrained (a checkpoint missing weights of the class is refused,
   truncated or unsafe weight files are named) or seeded random
   (:func:`~brainalign.encoders.models.build_model`);
8. the provenance: source, weights, seed or weight sha256, revision, versions, tower.

Nothing heavy is imported at module level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from brainalign.encoders.models import (
    ModelLoadError,
    _offline_note,
    auto_model_class,
    build_model,
    check_device,
    check_load_options,
    check_size,
    check_tokenizer_vocabulary,
    is_causal_config,
    locate_model,
    max_positions,
    model_provenance,
    split_model_spec,
)

Modality = Literal["text", "causal_lm", "vision", "audio", "video", "multimodal"]

#: The modalities :func:`load_model` knows.
MODALITIES: tuple[str, ...] = ("text", "causal_lm", "vision", "audio", "video", "multimodal")

#: Modalities whose encoders accept ``device="auto"`` (accelerate's ``device_map``).
AUTO_DEVICE_MODALITIES = frozenset({"text", "causal_lm", "multimodal"})

#: For a model made of several towers, the config attribute holding the tower each
#: modality loads. ``"text"`` takes a text tower only from the dual encoders in
#: :data:`DUAL_ENCODER_TYPES` (a multimodal LLM's ``text_config`` is its language
#: model, loaded whole with ``"multimodal"``).
TOWERS: dict[str, str] = {
    "text": "text_config",
    "vision": "vision_config",
    "audio": "audio_config",
    "video": "vision_config",
}

#: ``model_type`` values of dual (contrastive) encoders whose towers load separately.
DUAL_ENCODER_TYPES = frozenset(
    {"altclip", "chinese_clip", "clap", "clip", "siglip", "siglip2", "xclip"}
)

#: Tower configs that transformers' ``AutoModel`` does not map, and the class to build
#: (X-CLIP's vision tower, SigLIP's and SigLIP 2's text towers; CLIP's towers and
#: SigLIP's vision towers are in ``AutoModel``'s mapping).
TOWER_MODEL_CLASSES: dict[str, str] = {
    "xclip_vision_model": "XCLIPVisionModel",
    "siglip_text_model": "SiglipTextModel",
    "siglip2_text_model": "Siglip2TextModel",
    "clap_audio_model": "ClapAudioModel",
}

#: Checkpoint-name rewrites (regex -> replacement) for those towers, so a full model's
#: checkpoint (X-CLIP's ``vision_model.*``) loads into the tower class.
TOWER_KEY_MAPPINGS: dict[str, dict[str, str]] = {
    "xclip_vision_model": {r"^vision_model\.": ""},
    "clap_audio_model": {r"^audio_model\.": ""},
}

#: Encoder-only classes of encoder-decoder models outside ``AutoModelForTextEncoding``
#: (``model_type`` -> the class's module and name, and the checkpoint-name rewrite that
#: reads a full model's encoder weights into it, ``model.encoder.*`` or ``encoder.*``):
#: the decoder's weights are never built or read.
ENCODER_ONLY_CLASSES: dict[str, tuple[str, str, dict[str, str]]] = {
    "whisper": (
        "transformers.models.whisper.modeling_whisper",
        "WhisperEncoder",
        {r"^(model\.)?encoder\.": ""},
    ),
}

#: What each modality reads its inputs with, and the file a saved directory holds.
PREPROCESSORS: dict[str, tuple[str, str]] = {
    "text": ("tokenizer", "tokenizer files"),
    "causal_lm": ("tokenizer", "tokenizer files"),
    "vision": ("image processor", "preprocessor_config.json"),
    "audio": ("feature extractor", "preprocessor_config.json"),
    "video": ("video processor", "video_preprocessor_config.json or preprocessor_config.json"),
    "multimodal": ("processor", "processor_config.json, tokenizer and preprocessor files"),
}

_WHAT = {
    "text": "a language model",
    "causal_lm": "a causal language model",
    "vision": "a vision model (ViT, DeiT, BEiT, DINOv2, CLIP, ConvNeXt, ResNet, ...)",
    "audio": "an audio model (Wav2Vec2, HuBERT, WavLM, Whisper, AST, CLAP, ...)",
    "video": "a video model (VideoMAE, TimeSformer, ViViT, X-CLIP, ...)",
    "multimodal": "a multimodal language model (LLaVA, Qwen2-VL, ...)",
}


class NotCausalModelError(ModelLoadError):
    """The model is not a causal (left-to-right) language model with an LM head."""


@dataclass
class LoadedModel:
    """A model ready for feature extraction, with what is known about it.

    Attributes
    ----------
    model : torch.nn.Module
        In eval mode, on the requested device and dtype: the base model, the tower of
        the modality, the encoder of an encoder-decoder model, or (``"causal_lm"``) the
        model with its LM head.
    preprocessor : object
        Tokenizer, image processor, feature extractor, video processor or processor
        (see :data:`PREPROCESSORS`); the one passed in, when one was.
    config : transformers config
        The config of ``model`` (the tower's, for a tower).
    modality : str
        One of :data:`MODALITIES`.
    source : str
        Where it was loaded from.
    is_causal : bool
        See :func:`~brainalign.encoders.models.is_causal_config`.
    n_layers : int or None
        Hidden states the model returns (blocks or stages + 1; 0 is the embedding
        output), ``None`` when the config does not say.
    max_positions : int or None
        The longest token input (text modalities).
    provenance : dict
        ``model`` (as given), ``source``, ``weights``, ``seed`` (untrained),
        ``revision``, ``weights_sha256`` (pretrained, local directory), ``model_type``,
        versions, and where they apply ``tower`` (the config attribute of the tower),
        ``encoder_of`` (the ``model_type`` of an encoder-decoder model whose encoder
        this is), ``head`` (``"lm"`` for a causal LM).
    input_device : str
        Where inputs go: ``device``, or for ``device="auto"`` the device of the input
        embeddings.
    """

    model: Any
    preprocessor: Any
    config: Any
    modality: str
    source: str
    is_causal: bool
    n_layers: int | None
    max_positions: int | None
    provenance: dict[str, Any] = field(default_factory=dict)
    input_device: str = "cpu"

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of a text model (the processor's, for a multimodal model)."""
        return getattr(self.preprocessor, "tokenizer", self.preprocessor)


def load_model(
    name: str | os.PathLike,
    *,
    modality: Modality,
    weights: Literal["pretrained", "untrained"] = "pretrained",
    seed: int = 0,
    device: str = "cpu",
    dtype: str = "float32",
    preprocessor: Any = None,
) -> LoadedModel:
    """Load a Hugging Face model of one modality with its preprocessor.

    See the module docstring for the steps.

    Parameters
    ----------
    name : str or path-like
        Hub id or local directory, optionally ending in ``@untrained``/``@pretrained``.
    modality : {"text", "causal_lm", "vision", "audio", "video", "multimodal"}
        What the model is loaded for.
    weights : {"pretrained", "untrained"}
        ``"untrained"`` builds the architecture from the config with random weights
        drawn by its own initialisation under ``torch.manual_seed(seed)``, in float32 on
        the CPU (the same weights on every device), inside ``torch.random.fork_rng``. An
        ``@untrained`` name overrides the default ``"pretrained"``.
    seed : int
        Seed of the untrained weights.
    device : {"cpu", "cuda", "cuda:N", "mps", "auto"}
        ``"auto"`` only for :data:`AUTO_DEVICE_MODALITIES` (needs ``accelerate``).
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the weights.
    preprocessor : object, optional
        Use this instead of loading the model's own (e.g. an image processor for a
        directory saved without one).

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelLoadError
        If the model, config, preprocessor or weights cannot be found or loaded, if a
        checkpoint lacks weights of the class, or if the weights do not fit in the
        device's free memory. :class:`NotCausalModelError` for ``"causal_lm"`` and a
        model that is not one.
    ValueError
        For a bad ``modality``, ``weights``, ``dtype``, ``device`` or ``@`` suffix.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality={modality!r}; use one of {', '.join(MODALITIES)}")
    spec = os.fspath(name)
    name, weights = split_model_spec(spec, weights)
    check_load_options(weights, dtype)
    check_device(device, allow_auto=modality in AUTO_DEVICE_MODALITIES)
    reads, files = PREPROCESSORS[modality]
    needs_tokenizer = reads == "tokenizer" and preprocessor is None
    given, source, local = locate_model(name, f"weights, {files}", tokenizer=needs_tokenizer)
    where = f"the local directory {source!r}" if local else f"the hub id {source!r}"
    if source != given:
        where = f"{where} (resolved from {given!r})"

    def fail(what: str, error: Exception) -> ModelLoadError:
        return ModelLoadError(
            f"could not load the {what} of model {given!r} from {where}: {error}. The model "
            "must be a Hugging Face hub id or a directory with config.json" + _offline_note()
        )

    from transformers import AutoConfig

    try:
        full_config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as error:
        raise fail("config", error) from error
    tower, config = select_tower(full_config, modality)
    model_class, encoder_of = model_class_for(config, modality, given)
    if preprocessor is None:
        try:
            preprocessor = load_preprocessor(source, modality)
        except (OSError, ValueError, KeyError, TypeError, ImportError) as error:
            raise ModelLoadError(
                f"could not load the {reads} of model {given!r} from {where} ({error}); "
                f"save it next to the model ({files}) or pass processor= to the encoder"
                + _offline_note()
            ) from error
    if reads == "tokenizer":
        _check_tokenizer(preprocessor, given)
    if modality in ("text", "causal_lm", "multimodal"):
        config.output_hidden_states = True
    check_size(spec, config, dtype, device, model_class)
    try:
        model = build_model(
            model_class,
            config,
            source=source,
            given=given,
            weights=weights,
            seed=seed,
            dtype=dtype,
            device=device,
            key_mapping=checkpoint_key_mapping(config),
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        if isinstance(error, ModelLoadError):
            raise
        raise fail("weights", error) from error
    if encoder_of and _is_encoder_decoder(model.config) and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # a full model (BART, ...): keep its encoder

    extra: dict[str, Any] = {"model": spec}
    if tower:
        extra["tower"] = tower
    if encoder_of:
        extra["encoder_of"] = encoder_of
    if modality == "causal_lm":
        extra["head"] = "lm"
    provenance = model_provenance(
        config, source=source, weights=weights, seed=seed, local=local, **extra
    )
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_layers = count_hidden_states(config if modality != "multimodal" else text_config)
    if n_layers is None and modality in ("text", "causal_lm"):
        raise ModelLoadError(
            f"model {given!r} ({config.model_type}) does not state num_hidden_layers in its "
            "config, so its layers cannot be counted"
        )
    tokenizer = getattr(preprocessor, "tokenizer", preprocessor)
    limit = max_positions(text_config, tokenizer) if modality in ("text", "causal_lm") else None
    return LoadedModel(
        model=model,
        preprocessor=preprocessor,
        config=config,
        modality=modality,
        source=source,
        is_causal=is_causal_config(config),
        n_layers=n_layers,
        max_positions=limit,
        provenance=provenance,
        input_device=input_device(model),
    )


def select_tower(config: Any, modality: str) -> tuple[str | None, Any]:
    """The tower of a multi-tower config a modality loads: ``(attribute, config)``.

    ``(None, config)`` when the model is loaded whole (see :data:`TOWERS`).
    """
    attribute = TOWERS.get(modality)
    if attribute is None:
        return None, config
    if modality == "text" and config.model_type not in DUAL_ENCODER_TYPES:
        return None, config
    tower = getattr(config, attribute, None)
    if tower is None or tower is config:
        return None, config
    return attribute, tower


def model_class_for(config: Any, modality: str, given: str) -> tuple[Any, str | None]:
    """The class to build for a modality, and the encoder-decoder type whose encoder it is.

    Returns
    -------
    model_class : type
        ``AutoModelForCausalLM``'s class for ``"causal_lm"``; the encoder-only class of
        T5-like models (``AutoModelForTextEncoding``) for ``"text"``; otherwise
        ``AutoModel``'s base class.
    encoder_of : str or None
        The ``model_type`` of an encoder-decoder model whose encoder is kept.
    """
    if modality == "causal_lm":
        return _causal_lm_class(config, given), None
    encoder_class = _text_encoder_class(config) if modality == "text" else None
    if encoder_class is not None:
        return encoder_class, config.model_type
    model_type = getattr(config, "model_type", None)
    tower_class = TOWER_MODEL_CLASSES.get(model_type)
    if tower_class is not None:
        import transformers

        return getattr(transformers, tower_class), None
    if model_type in ENCODER_ONLY_CLASSES:
        import importlib

        module, name, _ = ENCODER_ONLY_CLASSES[model_type]
        return getattr(importlib.import_module(module), name), model_type
    try:
        model_class = auto_model_class(config, given)
    except ModelLoadError as error:
        raise ModelLoadError(f"{error}; use {_WHAT[modality]}") from error
    encoder_of = config.model_type if _is_encoder_decoder(config) else None
    return model_class, encoder_of


def checkpoint_key_mapping(config: Any) -> dict[str, str] | None:
    """The checkpoint-name rewrite that reads a tower or an encoder out of a full model's
    checkpoint (:data:`TOWER_KEY_MAPPINGS`, :data:`ENCODER_ONLY_CLASSES`), else None."""
    model_type = getattr(config, "model_type", None)
    if model_type in ENCODER_ONLY_CLASSES:
        return ENCODER_ONLY_CLASSES[model_type][2]
    return TOWER_KEY_MAPPINGS.get(model_type)


def load_preprocessor(source: str, modality: str) -> Any:
    """Load a modality's preprocessor from a model directory or hub id.

    Image and video processors use the PIL backend where transformers offers a choice,
    so the numbers are the same with or without torchvision.
    """
    import transformers
    from transformers import (
        AutoFeatureExtractor,
        AutoImageProcessor,
        AutoProcessor,
        AutoTokenizer,
    )

    options: dict[str, Any] = {"trust_remote_code": False}
    if modality in ("text", "causal_lm"):
        return AutoTokenizer.from_pretrained(source, **options)
    if modality == "audio":
        return AutoFeatureExtractor.from_pretrained(source, **options)
    if modality == "multimodal":
        return AutoProcessor.from_pretrained(source, **options)
    if int(transformers.__version__.split(".")[0]) >= 5:
        options["backend"] = "pil"
    else:  # pragma: no cover - transformers 4
        options["use_fast"] = False
    if modality == "video":
        from transformers import AutoVideoProcessor

        try:
            return AutoVideoProcessor.from_pretrained(source, **options)
        except (OSError, ValueError, KeyError, TypeError, ImportError):
            pass  # no video processor config, or one needing torchvision: the image one
    return AutoImageProcessor.from_pretrained(source, **options)


def count_hidden_states(config: Any) -> int | None:
    """Hidden states a model returns (blocks or stages + 1), from its config; else None.

    An encoder-decoder config counts its encoder's blocks (``encoder_layers``).
    """
    keys = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    if _is_encoder_decoder(config):
        keys = ("encoder_layers", "num_layers", "num_hidden_layers")
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value + 1
    depths = getattr(config, "depths", None)
    if isinstance(depths, (list, tuple)) and depths:
        return len(depths) + 1
    return None


def input_device(model: Any) -> str:
    """The device of the input embeddings (the first parameter's, failing that)."""
    try:
        return str(model.get_input_embeddings().weight.device)
    except (AttributeError, NotImplementedError, TypeError):
        return str(next(model.parameters()).device)


def _is_encoder_decoder(config: Any) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


def _check_tokenizer(tokenizer: Any, given: str) -> None:
    check_tokenizer_vocabulary(tokenizer, given)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {given!r} only has a slow tokenizer ({type(tokenizer).__name__}); "
            "brainalign needs a fast (Rust `tokenizers`) tokenizer for character offsets, "
            "which map tokens to words. Save one with tokenizer.json next to the model "
            "(e.g. convert it with transformers' convert_slow_tokenizer and save_pretrained)"
        )


def _causal_lm_class(config: Any, given: str) -> Any:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    if not is_causal_config(config):
        raise NotCausalModelError(
            f"model {given!r} (model_type {config.model_type!r}) is not a causal language "
            "model; surprisal needs a causal (left-to-right) LM with a next-token head, such "
            "as GPT-2 or LLaMA. Bidirectional models (BERT, RoBERTa, T5 encoders) do not "
            "define p(word | preceding words)"
        )
    model_class = MODEL_FOR_CAUSAL_LM_MAPPING.get(type(config), None)
    if model_class is None:
        raise NotCausalModelError(
            f"model {given!r} (model_type {config.model_type!r}) has no causal-LM class in "
            "transformers (AutoModelForCausalLM); surprisal needs a causal LM with an LM head"
        )
    return model_class


def _text_encoder_class(config: Any) -> Any:
    """The ``*EncoderModel`` class of a T5-like config (T5, mT5, UMT5), else ``None``.

    Found in transformers' ``AutoModelForTextEncoding`` mapping, so new types come with
    transformers; it never reads the decoder weights.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING

    model_class = MODEL_FOR_TEXT_ENCODING_MAPPING.get(type(config), None)
    if model_class is None or not model_class.__name__.endswith("EncoderModel"):
        return None
    return model_class


#: ``model_type`` values read as audio models by :func:`modality_of`.
AUDIO_MODEL_TYPES = frozenset(
    {
        "audio-spectrogram-transformer",
        "clap",
        "data2vec-audio",
        "hubert",
        "unispeech",
        "unispeech-sat",
        "wav2vec2",
        "wav2vec2-bert",
        "wav2vec2-conformer",
        "wavlm",
        "whisper",
    }
)
#: ``model_type`` values read as video models by :func:`modality_of`.
VIDEO_MODEL_TYPES = frozenset({"timesformer", "videomae", "vivit", "xclip"})
#: ``model_type`` values of multimodal language models (an image plus an instruction).
MULTIMODAL_MODEL_TYPES = frozenset(
    {"idefics3", "llava", "llava_next", "llava_onevision", "qwen2_5_vl", "qwen2_vl", "smolvlm"}
)


def modality_of(config: dict | None, stimuli: str) -> str:
    """The modality a model is loaded for, given its config and the stimuli's kind.

    Parameters
    ----------
    config : dict or None
        The model's ``config.json`` (None when it cannot be read without a download:
        the stimuli decide).
    stimuli : {"text", "image", "audio", "video"}
        What the stimuli are.

    Returns
    -------
    str
        ``"text"``, ``"vision"``, ``"audio"``, ``"video"`` or ``"multimodal"``: images
        with a multimodal LLM (:data:`MULTIMODAL_MODEL_TYPES`) are read with an
        instruction (``"multimodal"``); a video file with an audio model is read for its
        sound (``"audio"``); a dual encoder (CLIP, SigLIP, CLAP, X-CLIP) reads each kind
        with the matching tower.

    Raises
    ------
    ValueError
        When the model cannot read these stimuli, naming both and what it reads.
    """
    if config is None:
        return {"image": "vision"}.get(stimuli, stimuli)
    model_type = config.get("model_type")
    if stimuli == "video" and model_type in AUDIO_MODEL_TYPES:
        return "audio"
    if stimuli == "image" and model_type in MULTIMODAL_MODEL_TYPES:
        return "multimodal"
    media = AUDIO_MODEL_TYPES | VIDEO_MODEL_TYPES
    readers = {
        "text": (
            model_type not in media | MULTIMODAL_MODEL_TYPES or model_type in DUAL_ENCODER_TYPES
        )
        and ("vocab_size" in config or "text_config" in config),
        "image": model_type not in media
        and ("image_size" in config or "vision_config" in config or "num_channels" in config),
        "audio": model_type in AUDIO_MODEL_TYPES,
        "video": model_type in VIDEO_MODEL_TYPES,
    }
    if not readers.get(stimuli, False):
        kinds = [kind for kind, reads in readers.items() if reads]
        raise ValueError(
            f"model_type {model_type!r} cannot read {stimuli} stimuli; it reads "
            f"{' or '.join(kinds) or 'none of text, image, audio or video'} stimuli"
        )
    return {"image": "vision"}.get(stimuli, stimuli)
