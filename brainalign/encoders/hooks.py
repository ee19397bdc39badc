"""Where to hook: module paths of the transformer blocks of each model family.

Per-layer and per-head capture (:mod:`brainalign.encoders.heads`) needs three modules
in every block: the block itself, the attention output projection (whose input is the
concatenation of the head outputs, head-major) and the module whose output is the MLP
block output (before the residual sum). Their paths are kept here, keyed by
``config.model_type``, as layers / out_proj / mlp:

- gpt2: ``h`` / ``attn.c_proj`` (a ``Conv1D``) / ``mlp``
- gpt_neox (Pythia): ``layers`` / ``attention.dense`` / ``mlp``
- llama, mistral, qwen2: ``layers`` / ``self_attn.o_proj`` / ``mlp``
- opt: ``decoder.layers`` / ``self_attn.out_proj`` / ``fc2``
- bert, roberta (MiniLM is bert): ``encoder.layer`` / ``attention.output.dense`` /
  ``output.dense``
- t5 (encoder side): ``encoder.block`` / ``layer.0.SelfAttention.o`` /
  ``layer.1.DenseReluDense``
- vit, deit: ``layers`` / ``attention.o_proj`` / ``mlp``
- dinov2: ``encoder.layer`` / ``attention.o_proj`` / ``mlp``
- beit: as vit
- clip_vision_model, siglip_vision_model (the vision towers): ``encoder.layers`` /
  ``self_attn.out_proj`` / ``mlp``
- videomae (video): as bert (``encoder.layer`` / ``attention.output.dense`` /
  ``output.dense``)
- vivit (video): as vit
- clip_text_model, siglip_text_model (the text towers): as the vision towers
- qwen2_vl_text, qwen2_5_vl_text (the language models of Qwen2-VL / Qwen2.5-VL, hooked
  by :class:`~brainalign.encoders.multimodal.MultimodalEncoder` on
  ``model.language_model``, whose own ``model_type`` this is; a LLaVA's language model
  is a llama, mistral, ... and uses that entry): as llama
- wav2vec2, hubert, data2vec-audio: ``encoder.layers`` / ``attention.out_proj`` /
  ``feed_forward`` (WavLM is not registered: its attention passes the output
  projection's weight to ``F.multi_head_attention_forward``, so no pre-hook sees the
  heads; :class:`~brainalign.encoders.audio.WavLMCapture` recomputes them)
- whisper (the encoder): ``layers`` (``encoder.layers`` of the whole model) /
  ``self_attn.out_proj`` / ``fc2``
- audio-spectrogram-transformer (AST): as vit
- xclip_vision_model (X-CLIP's vision tower, per frame): ``encoder.layers`` /
  ``self_attn.out_proj`` / ``mlp``; its attention also runs over an appended
  cross-frame message token, which :class:`~brainalign.encoders.video.VideoEncoder`
  leaves out when it pools

``layers`` is relative to the base model (``model.base_model``, so a ``...ForCausalLM``
and its ``AutoModel`` share one entry); ``out_proj`` and ``mlp`` are relative to one
block. A path may list alternatives separated by ``|``; the first that exists is used
(ViT and DeiT were restructured in transformers 5, so their entries also name the
transformers 4 paths ``encoder.layer``, ``attention.output.dense`` and
``output.dense``).

Another architecture is one line away::

    register_architecture("my_model", layers="model.blocks", out_proj="attn.proj", mlp="mlp")

Nothing heavy is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArchitectureSpec:
    """Module paths of one model family.

    Parameters
    ----------
    layers : str
        Dotted path, relative to ``model.base_model``, of the ``ModuleList`` of blocks.
    out_proj : str
        Dotted path, relative to one block, of the attention output projection
        (an ``nn.Linear`` or a GPT-2 ``Conv1D``). Its input, of shape
        ``(batch, seq, n_heads * d_head)``, must be the head outputs concatenated
        head-major, as in every Hugging Face attention implementation.
    mlp : str
        Dotted path, relative to one block, of the module whose output is the MLP
        block output before the residual sum.
    n_heads : str
        Name of the config attribute holding the number of query heads.

    Notes
    -----
    Each path may list alternatives separated by ``|``; the first that resolves wins.
    """

    layers: str
    out_proj: str
    mlp: str
    n_heads: str = "num_attention_heads"


_DECODER = ArchitectureSpec(layers="layers", out_proj="self_attn.o_proj", mlp="mlp")
_BERT = ArchitectureSpec(
    layers="encoder.layer", out_proj="attention.output.dense", mlp="output.dense"
)
_VIT = ArchitectureSpec(
    layers="layers|encoder.layer",
    out_proj="attention.o_proj|attention.output.dense",
    mlp="mlp|output.dense",
)

_CLIP_VISION = ArchitectureSpec(
    layers="encoder.layers|vision_model.encoder.layers",
    out_proj="self_attn.out_proj",
    mlp="mlp",
)

_CLIP_TEXT = ArchitectureSpec(
    layers="encoder.layers|text_model.encoder.layers",
    out_proj="self_attn.out_proj",
    mlp="mlp",
)

_WAV2VEC2 = ArchitectureSpec(
    layers="encoder.layers", out_proj="attention.out_proj", mlp="feed_forward"
)

_REGISTRY: dict[str, ArchitectureSpec] = {
    "gpt2": ArchitectureSpec(layers="h", out_proj="attn.c_proj", mlp="mlp"),
    "gpt_neox": ArchitectureSpec(layers="layers", out_proj="attention.dense", mlp="mlp"),
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
    "opt": ArchitectureSpec(layers="decoder.layers", out_proj="self_attn.out_proj", mlp="fc2"),
    "bert": _BERT,
    "roberta": _BERT,
    "t5": ArchitectureSpec(
        layers="encoder.block", out_proj="layer.0.SelfAttention.o", mlp="layer.1.DenseReluDense"
    ),
    "vit": _VIT,
    "deit": _VIT,
    "dinov2": ArchitectureSpec(
        layers="encoder.layer", out_proj="attention.o_proj|attention.output.dense", mlp="mlp"
    ),
    "beit": _VIT,
    "clip_vision_model": _CLIP_VISION,
    "siglip_vision_model": _CLIP_VISION,
    "videomae": _BERT,
    "vivit": _VIT,
    "clip_text_model": _CLIP_TEXT,
    "siglip_text_model": _CLIP_TEXT,
    "qwen2_vl_text": _DECODER,
    "qwen2_5_vl_text": _DECODER,
    "wav2vec2": _WAV2VEC2,
    "hubert": _WAV2VEC2,
    "data2vec-audio": _WAV2VEC2,
    "whisper": ArchitectureSpec(
        layers="layers|encoder.layers", out_proj="self_attn.out_proj", mlp="fc2"
    ),
    "audio-spectrogram-transformer": _VIT,
    "xclip_vision_model": ArchitectureSpec(
        layers="encoder.layers|vision_model.encoder.layers",
        out_proj="self_attn.out_proj",
        mlp="mlp",
    ),
}

_REGISTER_LINE = (
    'register_architecture("{model_type}", layers="model.blocks", out_proj="attn.proj", '
    'mlp="mlp", n_heads="num_attention_heads")'
)


class UnsupportedArchitectureError(ValueError):
    """No module paths are registered for this ``model_type``, or they do not resolve."""


def supported_architectures() -> tuple[str, ...]:
    """The registered ``model_type`` values, sorted."""
    return tuple(sorted(_REGISTRY))


def register_architecture(
    model_type: str,
    *,
    layers: str,
    out_proj: str,
    mlp: str,
    n_heads: str = "num_attention_heads",
) -> None:
    """Register (or replace) the module paths of a model family.

    Parameters
    ----------
    model_type : str
        The ``config.model_type`` the paths apply to.
    layers, out_proj, mlp, n_heads : str
        See :class:`ArchitectureSpec`.

    Examples
    --------
    >>> register_architecture("my_model", layers="model.blocks", out_proj="attn.proj",
    ...                       mlp="mlp")  # doctest: +SKIP
    """
    values = {"layers": layers, "out_proj": out_proj, "mlp": mlp, "n_heads": n_heads}
    for name, value in values.items():
        if not isinstance(value, str) or not value or any(not p for p in value.split("|")):
            raise ValueError(
                f"register_architecture({model_type!r}): {name}={value!r} must be a "
                "non-empty dotted module path (alternatives separated by '|')."
            )
    if not isinstance(model_type, str) or not model_type:
        raise ValueError(f"register_architecture: model_type={model_type!r} must be a string.")
    _REGISTRY[model_type] = ArchitectureSpec(**values)


def architecture_spec(model: Any) -> ArchitectureSpec:
    """The :class:`ArchitectureSpec` of a loaded Hugging Face model.

    Raises
    ------
    UnsupportedArchitectureError
        If ``model.config.model_type`` is not registered; the message lists the
        supported families and the one-line registration.
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type in _REGISTRY:
        return _REGISTRY[model_type]
    raise UnsupportedArchitectureError(
        f"No head-capture paths for model_type={model_type!r} "
        f"({type(model).__name__}). Supported: {', '.join(supported_architectures())}. "
        "Register the module paths of its blocks once, e.g.\n    "
        + _REGISTER_LINE.format(model_type=model_type or "my_model")
        + "\nwith `layers` relative to model.base_model and the others relative to one block."
    )


def get_module(root: Any, path: str, *, what: str) -> Any:
    """The submodule of ``root`` at a dotted ``path`` (``|``-separated alternatives).

    Raises
    ------
    UnsupportedArchitectureError
        If no alternative resolves; the message names the path and ``what`` it was for.
    """
    for alternative in path.split("|"):
        module = root
        try:
            for part in alternative.split("."):
                module = module[int(part)] if part.isdigit() else getattr(module, part)
        except (AttributeError, IndexError, TypeError):
            continue
        return module
    raise UnsupportedArchitectureError(
        f"{what} path {path!r} does not exist in {type(root).__name__}. The registered "
        "paths may be for another transformers version; fix them with "
        "register_architecture(model_type, layers=..., out_proj=..., mlp=...)."
    )


class CaptureLifecycle:
    """Entering and leaving a capture: what every capture class shares.

    :class:`~brainalign.encoders.heads.LayerCapture`,
    :class:`~brainalign.encoders.timesformer_heads.TimesformerCapture` and
    :class:`~brainalign.encoders.clap_heads.ClapCapture` register their hooks for each
    layer in :meth:`_install` (appending the handles to ``_handles``) and keep what they
    capture in the dicts :meth:`_stores` returns. Entering clears those stores and
    installs the hooks of every layer in ``layers``, removing the ones already installed
    if one fails; leaving (or :meth:`remove`) removes them all and calls :meth:`_forget`.
    A capture cannot be entered while active.
    """

    layers: tuple[int, ...]
    _handles: list[Any]

    def _stores(self) -> tuple[dict[int, Any], ...]:
        """The dicts of captured arrays, cleared on entering."""
        raise NotImplementedError

    def _install(self, layer: int) -> None:
        """Register the hooks of one layer (their handles into ``_handles``)."""
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop per-pass scratch state when the hooks are removed (nothing by default)."""

    def __enter__(self) -> Any:
        if self._handles:
            raise RuntimeError(
                f"{type(self).__name__} is already active; it cannot be entered twice."
            )
        for store in self._stores():
            store.clear()
        try:
            for layer in self.layers:
                self._install(layer)
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this capture installed (idempotent)."""
        while self._handles:
            self._handles.pop().remove()
        self._forget()
