"""Per-layer features of multimodal language models reading an image and an instruction.

:class:`MultimodalEncoder` runs a multimodal LLM from ``transformers`` (LLaVA-style:
``LlavaModel``, a CLIP vision tower and a projector in front of a LLaMA/Mistral/...
language model; Qwen2-VL: ``Qwen2VLModel``) on one prompt per image: the image and an
instruction (``"Describe the image."``), through the processor's chat template or as a
plain prompt. For every hidden state of the *language model* (``"0"`` is its
embedding output, with the image features already merged in, then one per block) it
returns one row per image: the mean over a span of the prompt's tokens.

Spans
-----
``"visual"``
    The image's placeholder positions after the processor expanded them
    (``input_ids == image_token_id``: LLaVA's ``<image>`` copies, Qwen2-VL's
    ``<|image_pad|>`` tokens; Qwen2-VL's ``<|vision_start|>``/``<|vision_end|>`` markers
    are not in the span).
``"instruction"``
    The tokens holding a character of the instruction text (by the tokenizer's
    character offsets in the expanded prompt); a token that straddles the instruction's
    first or last character counts.
``"all"``
    Every real (non-padding) token of the prompt: template tokens, BOS, image and
    instruction.

The prompt
----------
With ``chat_template=True`` (default) the prompt is the processor's chat template
applied to one user message holding the image then the instruction, with the
generation prompt (``add_generation_prompt=True``); a processor without a template is
refused (:class:`ChatTemplateError`: pass ``chat_template=False`` or give the processor
one) -- never a silent fallback. With ``chat_template=False`` the prompt is the image
placeholder, a newline and the instruction (Qwen2-VL's placeholder wrapped in its
vision markers, which its position ids need). ``image_first=False`` puts the
instruction before the image.

The language models are causal, so with the image first (as LLaVA and Qwen2-VL were
trained) the ``"visual"`` span never sees the instruction: its features are the same
for every instruction (only the template text before the image matters). The
instruction reaches the ``"instruction"`` and ``"all"`` spans, and with
``image_first=False`` the visual tokens too. The instruction, template flag, order and
the rendered prompt are all part of the store key either way.

Batches are padded on the right, so every real token keeps the positions it has in a
prompt run alone (the models are causal: padding after a token never reaches it).

Per-head and per-block features -- ``heads=`` and ``blocks=``
    From the same forward passes, for every requested layer ``L >= 1`` (block
    ``L - 1`` of the language model): ``"L.heads"``, each head's output before the
    attention output projection, (n_images, n_heads, d_head), and ``"L.attention"`` /
    ``"L.mlp"``, the attention and MLP block outputs before the residual sum, each
    (n_images, d_model), pooled over the same span. Hooks
    (:class:`~brainalign.encoders.heads.LayerCapture`) sit on ``model.language_model``,
    whose own ``model_type`` (``llama``, ``mistral``, ``qwen2``, ``qwen2_vl_text``, ...)
    selects the module paths of :mod:`brainalign.encoders.hooks`.

Streaming into the feature store -- ``store=``
    As for the vision encoder: the key is built by the encoder from its own settings
    (model and weights, processor, prompt and instruction, template flag, span, layers,
    captures, dtype, image ids and digests); each batch is written into the entry as it
    is computed and a complete entry is returned without a forward pass.

Video frames (Qwen2-VL's video processor) are not supported: in transformers 5.25 it
needs torchvision.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_batch_size,
    check_layer_indices,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.loading import load_model
from brainalign.encoders.sinks import Sink, collect, load_stored
from brainalign.encoders.vision import ImageStimuli, _ImageReader, image_stimuli

if TYPE_CHECKING:
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "DEFAULT_INSTRUCTION",
    "SPANS",
    "ChatTemplateError",
    "EmptySpanError",
    "PLAIN_IMAGE_MARKUP",
    "MultimodalEncoder",
    "span_masks",
]

Span = Literal["visual", "instruction", "all"]

#: Token spans a row can be pooled over (see the module docstring).
SPANS: tuple[str, ...] = ("visual", "instruction", "all")

#: The instruction used when none is given.
DEFAULT_INSTRUCTION = "Describe the image."

#: How a plain prompt (``chat_template=False``) marks the image, per ``model_type``;
#: ``{image}`` is the processor's image token. Other types use the token alone.
PLAIN_IMAGE_MARKUP: dict[str, str] = {
    "qwen2_vl": "<|vision_start|>{image}<|vision_end|>",
    "qwen2_5_vl": "<|vision_start|>{image}<|vision_end|>",
}


class ChatTemplateError(ValueError):
    """The processor has no chat template, or the template hides the instruction."""


class EmptySpanError(ValueError):
    """A row's span holds no token, so its mean is undefined."""


def span_masks(
    input_ids: Any,
    attention_mask: Any,
    offsets: Any,
    *,
    span: str,
    image_token_id: int,
    instruction_chars: Sequence[tuple[int, int]] | None = None,
) -> Any:
    """Which tokens of each row are pooled: a boolean mask, (n_rows, n_tokens).

    Parameters
    ----------
    input_ids, attention_mask : torch.Tensor, shape (n_rows, n_tokens)
        The processor's output (right-padded).
    offsets : torch.Tensor, shape (n_rows, n_tokens, 2), or None
        ``"instruction"`` only: character offsets of each token in its row's expanded
        prompt (``(0, 0)`` for special tokens and padding).
    span : {"visual", "instruction", "all"}
    image_token_id : int
        Id of the expanded image placeholder.
    instruction_chars : sequence of (int, int), length n_rows
        ``"instruction"`` only: start and end character of the instruction in each
        row's expanded prompt.

    Returns
    -------
    torch.Tensor of bool, shape (n_rows, n_tokens)
    """
    real = attention_mask.bool()
    if span == "all":
        return real
    if span == "visual":
        return real & (input_ids == image_token_id)
    import torch

    starts = torch.as_tensor([c[0] for c in instruction_chars], device=offsets.device)[:, None]
    ends = torch.as_tensor([c[1] for c in instruction_chars], device=offsets.device)[:, None]
    token_start, token_end = offsets[..., 0], offsets[..., 1]
    overlaps = (token_start < ends) & (token_end > starts) & (token_end > token_start)
    return real & overlaps


class MultimodalEncoder(LoadedModelAccess):
    """Language-model hidden states of every layer for an image and an instruction.

    Parameters
    ----------
    model : str or path-like
        Hugging Face hub id or local directory of a multimodal LLM (``LlavaModel``,
        ``Qwen2VLModel``, ...): ``config.json``, weights and the processor files
        (``processor_config.json``/``chat_template.jinja``, tokenizer, image processor).
        Loaded with :func:`~brainalign.encoders.loading.load_model` (``modality=
        "multimodal"``: ``AutoModel``'s base class and ``AutoProcessor``).
    weights : {"pretrained", "untrained"}
        ``"untrained"``: random weights from the model's own initialisation under
        ``torch.manual_seed(seed)``.
    seed : int
        Seed of the untrained weights.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; features are always float32.
    batch_size : int
        Images (prompts) per forward pass.
    processor : object, optional
        The multimodal processor to use instead of the model's own: called as
        ``processor(images=[...], text=[...], padding=True, return_tensors="pt",
        return_offsets_mapping=True)``, with ``image_token``, ``tokenizer`` and (for
        ``chat_template=True``) ``apply_chat_template``.
    progress : bool or str
        Progress bar over batches (only on a terminal), named by the string if given.

    Attributes
    ----------
    model_id, source, model_type : str
    n_layers : int
        Hidden states of the language model per prompt (blocks + 1).
    image_token_id : int
        Id of the expanded image placeholder.

    Raises
    ------
    ModelLoadError
        If the model or its processor cannot be loaded.
    ValueError
        For a bad ``batch_size``, or a model without an image token.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        weights: Literal["pretrained", "untrained"] = "pretrained",
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 8,
        processor: Any = None,
        progress: bool | str = True,
    ) -> None:
        check_batch_size(batch_size)
        loaded = load_model(
            model,
            modality="multimodal",
            weights=weights,
            seed=seed,
            device=device,
            dtype=dtype,
            preprocessor=processor,
        )
        self._model = loaded.model
        self._processor = loaded.preprocessor
        self._provenance = loaded.provenance
        self.model_id = os.fspath(model)
        self.source = loaded.source
        self.model_type = loaded.provenance["model_type"]
        self.n_layers = loaded.n_layers
        self.weights = loaded.provenance["weights"]
        self.seed = seed
        self.device = loaded.input_device
        self.dtype = dtype
        self.batch_size = batch_size
        self.progress = progress
        self.image_token = getattr(self._processor, "image_token", None)
        token_id = getattr(loaded.config, "image_token_id", None)
        if token_id is None:
            token_id = getattr(self._processor, "image_token_id", None)
        if self.image_token is None or token_id is None or self.n_layers is None:
            raise ValueError(
                f"model {self.model_id!r} ({self.model_type}) has no image token (config."
                "image_token_id, processor.image_token) or no layer count; MultimodalEncoder "
                "reads LLaVA-style and Qwen2-VL-style models"
            )
        self.image_token_id = int(token_id)

    @property
    def processor(self) -> Any:
        """The multimodal processor (tokenizer, image processor, chat template)."""
        return self._processor

    @property
    def language_model(self) -> Any:
        """The language model whose hidden states are returned (hooks sit on it)."""
        return getattr(self._model, "language_model", self._model)

    def __repr__(self) -> str:
        return f"MultimodalEncoder({self.model_id!r}, {self.weights})"

    # ----------------------------------------------------------------- prompts

    def prompt(
        self,
        instruction: str = DEFAULT_INSTRUCTION,
        *,
        chat_template: bool = True,
        image_first: bool = True,
    ) -> str:
        """The prompt text one image is read with, before the image token is expanded.

        Parameters
        ----------
        instruction : str
            Non-empty text.
        chat_template : bool
            Through the processor's chat template (one user turn: the image and the
            instruction; generation prompt added), or plain: image placeholder and
            instruction joined by a newline.
        image_first : bool
            The image before the instruction (as LLaVA and Qwen2-VL were trained), or
            after it.

        Returns
        -------
        str
            Holding the image placeholder and the instruction exactly once each.

        Raises
        ------
        ChatTemplateError
            Without a template (``chat_template=True``), or when the rendered prompt
            does not hold the instruction or the placeholder exactly once.
        ValueError
            For an empty or non-string instruction.
        """
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"instruction={instruction!r}; give a non-empty text")
        if chat_template:
            if not getattr(self._processor, "chat_template", None):
                raise ChatTemplateError(
                    f"the processor of {self.model_id!r} ({type(self._processor).__name__}) "
                    "has no chat template; pass chat_template=False to read the plain prompt "
                    "'<image>\\n<instruction>', or give the processor a template "
                    "(processor.chat_template = '...', saved as chat_template.jinja)"
                )
            content = [{"type": "image"}, {"type": "text", "text": instruction}]
            if not image_first:
                content.reverse()
            text = self._processor.apply_chat_template(
                [{"role": "user", "content": content}],
                add_generation_prompt=True,
                tokenize=False,
            )
        else:
            markup = PLAIN_IMAGE_MARKUP.get(self.model_type, "{image}")
            parts = [markup.format(image=self.image_token), instruction]
            text = "\n".join(parts if image_first else parts[::-1])
        for what, part in (("instruction", instruction), ("image placeholder", self.image_token)):
            if text.count(part) != 1:
                raise ChatTemplateError(
                    f"the prompt of {self.model_id!r} holds the {what} {part!r} "
                    f"{text.count(part)} times, not once: {text!r}; the tokens of the spans "
                    "cannot be found. Use another instruction or chat_template=False"
                )
        return text

    # ----------------------------------------------------------------- keys

    def store_key(
        self,
        images: Any,
        instruction: str = DEFAULT_INSTRUCTION,
        *,
        chat_template: bool = True,
        image_first: bool = True,
        span: Span = "visual",
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        root: str | os.PathLike | None = None,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`encode` with the same arguments.

        :meth:`encode` builds it itself (``store=`` only); this is for inspecting the
        entry. It reads and hashes the images.
        """
        stimuli = image_stimuli(images, stimulus_ids=stimulus_ids, root=root)
        self._check_span(span)
        text = self.prompt(instruction, chat_template=chat_template, image_first=image_first)
        return self._key(
            stimuli,
            text,
            instruction,
            chat_template=chat_template,
            image_first=image_first,
            span=span,
            layer_ids=self._check_layers(layers),
            captures={"heads": bool(heads), "blocks": bool(blocks)},
        )

    def _key(
        self,
        stimuli: ImageStimuli,
        text: str,
        instruction: str,
        *,
        chat_template: bool,
        image_first: bool,
        span: str,
        layer_ids: list[int],
        captures: dict[str, bool],
    ) -> dict[str, Any]:
        from brainalign.encoders.store import (
            feature_key,
            json_sha256,
            stimulus_hash,
            weights_fingerprint,
        )
        from brainalign.encoders.store.keys import _tokenizer_fingerprint

        provenance = self._provenance
        weights = weights_fingerprint(provenance, self._model.config)
        image_processor = getattr(self._processor, "image_processor", None)
        image_config = image_processor.to_dict() if hasattr(image_processor, "to_dict") else None
        context = {
            "mode": "image-instruction",
            "instruction": instruction,
            "chat_template": bool(chat_template),
            "image_first": bool(image_first),
            "prompt": text,
            "span": span,
            "processor": type(self._processor).__name__,
            "image_processor_sha256": json_sha256(image_config),
        }
        table = {"stimulus_id": np.asarray(stimuli.stimulus_ids).tolist(), "image": stimuli.sha256}
        return feature_key(
            model=self.model_id,
            weights=weights,
            tokenizer=_tokenizer_fingerprint(self._processor.tokenizer),
            layers=[str(layer) for layer in layer_ids],
            pooling="mean",
            context=context,
            dtype=self.dtype,
            stimuli=stimulus_hash(table),
            extra={"capture": captures} if any(captures.values()) else None,
        )

    # ----------------------------------------------------------------- encoding

    def encode(
        self,
        images: Any,
        instruction: str = DEFAULT_INSTRUCTION,
        *,
        chat_template: bool = True,
        image_first: bool = True,
        span: Span = "visual",
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        root: str | os.PathLike | None = None,
        store: FeatureStore | None = None,
    ) -> Features:
        """Encode each image with the instruction: one row per image and layer.

        Parameters
        ----------
        images : Stimuli, folder, .zip, path, PIL image, array, or a sequence of them
            Everything :func:`~brainalign.encoders.vision.image_stimuli` accepts; every
            image is read and hashed before the first forward pass.
        instruction : str
            The text read with every image.
        chat_template : bool
            Build the prompt with the processor's chat template (refused, with
            :class:`ChatTemplateError`, when it has none) or plainly (see :meth:`prompt`).
        image_first : bool
            The image before the instruction (default) or after it. The models are
            causal: with the image first, the ``"visual"`` span cannot see the
            instruction, so its features do not depend on it.
        span : {"visual", "instruction", "all"}
            Which tokens each row is the mean of (see the module docstring).
        layers : sequence of int, optional
            Hidden-state indices of the language model (0 = embedding output). Default:
            all.
        heads : bool
            Also return ``"L.heads"``, (n_images, n_heads, d_head), for every requested
            ``L >= 1``: each head's output before the output projection, averaged over
            the span.
        blocks : bool
            Also return ``"L.attention"`` and ``"L.mlp"``, (n_images, d_model): the
            attention and MLP block outputs before the residual sum, averaged over the
            span.
        stimulus_ids : array-like, shape (n_images,), optional
            Row labels (default: file stems, else ``0 .. n_images - 1``).
        root : str or path-like, optional
            Folder relative image paths are taken from.
        store : FeatureStore, optional
            Stream the rows into the entry of :meth:`store_key` of the same arguments;
            a complete entry is returned without a forward pass.

        Returns
        -------
        Features
            ``str(layer)``: float32 (n_images, d_model), then per captured block the
            ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"`` arrays asked for.
            ``provenance`` holds the prompt, instruction, span and the number of span
            tokens of each row (``span_tokens``).

        Raises
        ------
        ValueError
            For a bad span, layer or instruction; :class:`ChatTemplateError` without a
            template; :class:`EmptySpanError` when a row's span has no token.
        UnsupportedArchitectureError
            For ``heads``/``blocks`` with a language model of an unregistered family.
        """
        self._check_span(span)
        text = self.prompt(instruction, chat_template=chat_template, image_first=image_first)
        layer_ids = self._check_layers(layers)
        heads, blocks = bool(heads), bool(blocks)
        capture = self._layer_capture(layer_ids, heads=heads, blocks=blocks)
        stimuli = image_stimuli(images, stimulus_ids=stimulus_ids, root=root)
        key = None
        if store is not None:
            key = self._key(
                stimuli,
                text,
                instruction,
                chat_template=chat_template,
                image_first=image_first,
                span=span,
                layer_ids=layer_ids,
                captures={"heads": heads, "blocks": blocks},
            )
        found = load_stored(store, key)
        if found is not None:
            return found
        provenance = {
            "model": self.model_id,
            **self._provenance,
            "pooling": "mean",
            "span": span,
            "instruction": instruction,
            "chat_template": bool(chat_template),
            "image_first": bool(image_first),
            "prompt": text,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "n_images": len(stimuli),
            "image_source": stimuli.source,
            "processor": type(self._processor).__name__,
            "span_tokens": [],
        }

        def fill(sink: Sink) -> None:
            self._run(stimuli, text, instruction, span, layer_ids, capture, sink, provenance)

        return collect(fill, len(stimuli), stimuli.stimulus_ids, None, provenance, store, key)

    # ----------------------------------------------------------------- running

    def _run(
        self,
        stimuli: ImageStimuli,
        text: str,
        instruction: str,
        span: str,
        layer_ids: list[int],
        capture: Any,
        sink: Sink,
        provenance: dict[str, Any],
    ) -> None:
        """Run the prompts in batches, pool every layer over the span, hand rows to ``sink``."""
        import torch

        items, n_images = stimuli.paths, len(stimuli)
        starts = range(0, n_images, self.batch_size)
        with (
            thread_limit(),
            torch.inference_mode(),
            capture or contextlib.nullcontext(),
            _ImageReader() as reader,
        ):
            for start in progress_bar(starts, self.progress, f"encoding ({self.model_id})"):
                stop = min(start + self.batch_size, n_images)
                batch = [reader.rgb(items[i], i) for i in range(start, stop)]
                inputs, mask = self.inputs(batch, text, instruction, span, first_row=start)
                hidden_states = self._forward(inputs)
                pooled = {str(layer): _mean(hidden_states[layer], mask) for layer in layer_ids}
                if capture is not None:
                    pooled.update(_pool_captures(capture, mask))
                sink.write(np.arange(start, stop), pooled)
                provenance["span_tokens"].extend(int(n) for n in mask.sum(dim=1))

    def inputs(
        self,
        images: list[Any],
        text: str,
        instruction: str,
        span: str,
        *,
        first_row: int = 0,
    ) -> tuple[dict[str, Any], Any]:
        """The model inputs of a batch of images read with ``text``, and the span mask.

        Parameters
        ----------
        images : list of PIL images (RGB), length n_rows
        text : str
            The prompt (:meth:`prompt`).
        instruction : str
            The instruction inside ``text``.
        span : {"visual", "instruction", "all"}
        first_row : int
            Index of the first image, for messages.

        Returns
        -------
        inputs : dict of str to torch.Tensor
            The processor's output, right-padded, on the model's input device.
        mask : torch.Tensor of bool, shape (n_rows, n_tokens)
            The tokens each row's mean is taken over (:func:`span_masks`), on the CPU.

        Raises
        ------
        EmptySpanError
            When a row's span holds no token.
        """
        inputs = self._processor(
            images=images,
            text=[text] * len(images),
            padding=True,
            padding_side="right",
            return_tensors="pt",
            return_offsets_mapping=span == "instruction",
        )
        inputs = dict(inputs)
        offsets = inputs.pop("offset_mapping", None)
        input_ids = inputs["input_ids"]
        chars = None
        if span == "instruction":
            n_image_tokens = (input_ids == self.image_token_id).sum(dim=1).tolist()
            chars = []
            for n in n_image_tokens:  # the image placeholder is expanded n times
                expanded = text.replace(self.image_token, self.image_token * int(n))
                begin = expanded.index(instruction)
                chars.append((begin, begin + len(instruction)))
        mask = span_masks(
            input_ids,
            inputs["attention_mask"],
            offsets,
            span=span,
            image_token_id=self.image_token_id,
            instruction_chars=chars,
        )
        empty = [first_row + row for row, n in enumerate(mask.sum(dim=1).tolist()) if n == 0]
        if empty:
            raise EmptySpanError(
                f"span={span!r} holds no token for image(s) {empty[:5]} of {self.model_id!r} "
                f"(prompt {text!r}); its mean is undefined. Use another span (one of "
                f"{', '.join(SPANS)}), or check that the processor expands the image token "
                f"{self.image_token!r}"
            )
        model_dtype = next(self._model.parameters()).dtype
        moved = {}
        for name, value in inputs.items():
            if hasattr(value, "to"):
                floating = value.is_floating_point()
                value = (
                    value.to(self.device, dtype=model_dtype) if floating else value.to(self.device)
                )
            moved[name] = value
        return moved, mask

    def _forward(self, inputs: dict[str, Any]) -> tuple[Any, ...]:
        """Run one batch; the language model's hidden states (embedding output + blocks)."""
        output = self._model(**inputs, output_hidden_states=True, use_cache=False)
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is None or len(hidden_states) != self.n_layers:
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected "
                f"{self.n_layers} (language-model blocks + 1)"
            )
        return hidden_states

    # ----------------------------------------------------------------- checks

    def _check_layers(self, layers: Sequence[int] | None) -> list[int]:
        return check_layer_indices(layers, self.n_layers, self.model_id)

    def _check_span(self, span: str) -> None:
        if span not in SPANS:
            raise ValueError(f"span={span!r}; use one of {', '.join(SPANS)}")
        tokenizer = getattr(self._processor, "tokenizer", None)
        if span == "instruction" and not getattr(tokenizer, "is_fast", False):
            raise ValueError(
                f"span='instruction' needs the character offsets of a fast tokenizer, but "
                f"the processor of {self.model_id!r} has {type(tokenizer).__name__}; save "
                "a tokenizer.json with the model, or use span='visual' or 'all'"
            )

    def _layer_capture(self, layer_ids: list[int], *, heads: bool, blocks: bool) -> Any:
        """Hooks on the language model's blocks of the requested layers ``L >= 1``, or None.

        Built before any forward pass, so an unregistered family fails early.
        """
        if not (heads or blocks):
            return None
        from brainalign.encoders.heads import LayerCapture

        captured = [layer - 1 for layer in layer_ids if layer >= 1]
        if not captured:
            return None
        return LayerCapture(self.language_model, captured, heads=heads, blocks=blocks)


def _mean(hidden: Any, mask: Any) -> np.ndarray:
    """Mean of (n_rows, n_tokens, ...) over the tokens of ``mask`` (n_rows, n_tokens).

    Tokens outside the span are zeroed (not multiplied by 0), so a non-finite value at
    a padding position cannot leak in. Returns float32 numpy, (n_rows, ...).
    """
    mask = mask.to(hidden.device)
    flat = hidden.float().flatten(start_dim=2)
    total = flat.masked_fill(~mask[:, :, None], 0.0).sum(dim=1)
    pooled = total / mask.sum(dim=1, keepdim=True).to(total.dtype)
    return pooled.unflatten(1, hidden.shape[2:]).cpu().numpy().astype(np.float32, copy=False)


def _pool_captures(capture: Any, mask: Any) -> dict[str, np.ndarray]:
    """Span means of the captured ``"L.attention"``, ``"L.mlp"`` and ``"L.heads"``."""
    pooled: dict[str, np.ndarray] = {}
    for block in capture.layers:
        name = f"{block + 1}."
        if capture.store_blocks:
            pooled[name + "attention"] = _mean(capture.attention_output[block], mask)
            pooled[name + "mlp"] = _mean(capture.mlp_output[block], mask)
        if capture.store_heads:
            pooled[name + "heads"] = _mean(capture.heads[block], mask)
    return pooled
