"""Word-by-word features from language models, each word seeing only the words before it.

A listener hearing a story has not yet heard the next word, so the feature of word
``i`` must depend on words ``..i`` only. :class:`TextEncoder` guarantees that for both
kinds of model:

Causal models (GPT-2, LLaMA, ...) -- ``context="causal-window"``
    The whole text is tokenized once. If it fits in ``max_length`` tokens it is run in
    one forward pass. Otherwise windows of ``max_length`` tokens start every ``stride``
    tokens (token ``k * stride``); the tokenizer's own leading special tokens (BOS for
    LLaMA, none for GPT-2) open every window and count towards ``max_length``, so each
    window holds ``L = max_length - n_prefix`` text tokens. Each word is read from the
    *earliest* window that contains its last token ``j``, which is the window where it
    has the most left context: window ``k = 0`` if ``j < L``, else
    ``k = ceil((j - L + 1) / stride)``. Minimality of ``k`` gives
    ``(k - 1) * stride + L <= j``, so ``j - k * stride >= L - stride``: every word past
    the first window sees at least ``L - stride`` text tokens before its last token
    (``max_length - stride`` positions counting the prefix). A causal model's state at
    ``j`` ignores later tokens, so each window is cut after the last token it serves.
Bidirectional models (BERT, MiniLM, RoBERTa, ...) -- ``context="preceding-words"``
    Word ``i`` is encoded with its own window holding words ``i - N + 1 .. i``
    (``N = context_words``) wrapped in the tokenizer's special tokens
    (``[CLS] ... [SEP]``), so it never sees word ``i + 1``. When the window is longer
    than ``max_length`` tokens, whole words are dropped from its left. Windows are
    sorted by length and batched to limit padding.

A word's feature is its last token's hidden state (``pooling="last"``), the mean over
its tokens (``pooling="mean"``) or its first subword's state (``pooling="first"``), for
every hidden state the model returns (0 = embedding output, then one per block, as
transformers returns them: the last one has the final layer norm applied for models
that have one).

Sentences and passages -- :meth:`TextEncoder.extract`
    Sentence stimuli (one row per sentence, ``group`` = passage) are read in isolation
    (``context="isolated"``) or after the earlier sentences of their passage
    (``context="passage"``); a sentence's feature is its last token or the mean over its
    tokens. Causal models read a whole passage in one forward pass (sliding windows, as
    above, past ``max_length``) and take each sentence at its own position, which equals
    re-encoding the growing prefix once per sentence; bidirectional models encode
    sentence ``k`` with sentences ``1..k`` only. ``context="window"`` routes word stimuli
    to :meth:`TextEncoder.encode_words`. The forward-pass plans live in
    :mod:`brainalign.encoders.context`.

Task instructions -- ``instruction=``
    ``TextEncoder(model, instruction="...", instruction_format="plain" | "chat")``
    reads every window and passage after a task instruction, so the same stimuli can be
    encoded under several instructions. ``"plain"``: the model reads
    ``instruction + "\n" + text`` after the tokenizer's leading special tokens.
    ``"chat"``: the tokenizer's chat template renders one user turn holding
    ``instruction + "\n" + text`` (no system message, ``add_generation_prompt=False``);
    a tokenizer without a chat template is refused (use ``"plain"``). The framed string
    is tokenized once with character offsets, so the text's tokens still map to words
    (:func:`~brainalign.encoders.context.tokenize_texts`). The instruction's (and the
    template's) tokens are read in every window and count against ``max_length``, so
    windows hold fewer text tokens; an instruction that leaves no room is an error.
    Features never pool them: every word and sentence is pooled over its own tokens
    only, except with ``extract(..., include_instruction=True)`` (isolated sentences,
    mean pooling), which averages the instruction's tokens with the sentence's. The
    instruction (text, format, separator and, for chat, the template's sha256) is in
    the provenance and in every store key; without one the keys are those of an encoder
    built before instructions existed.

Streaming into the feature store -- ``store=`` and ``key=``
    By default the pooled rows of each batch fill float32 arrays of shape
    (n_items, ...) in memory. Given a :class:`~brainalign.encoders.store.FeatureStore`
    and a key, :meth:`TextEncoder.encode_words` and :meth:`TextEncoder.extract` write
    each batch straight into the entry's preallocated ``.npy`` files instead (positional
    file writes, never a writable map) and return the committed entry, memory-mapped;
    peak memory then depends on batch and model size, not on the number of items
    (``perf/memory_growth.py``). The entry writer is opened at the first batch, which
    gives every array's name, order and trailing shape. A complete entry is returned
    without a forward pass; an error mid-stream discards the temporary entry.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_layer_indices,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.context import (
    Instruction,
    Job,
    TokenizedText,
    causal_window_jobs,
    clean_sentences,
    group_rows,
    preceding_jobs,
    tokenize_passages,
    tokenize_texts,
)
from brainalign.encoders.features import Features
from brainalign.encoders.heads import SUMMARY_MEASURES, LayerCapture, attention_summaries
from brainalign.encoders.loading import load_model
from brainalign.encoders.models import (
    ModelLoadError,
    resolve_model_source,
    special_token_affixes,
)
from brainalign.encoders.pooling import (
    POOLINGS,
    Pooling,
    assign_tokens_to_words,
    clean_words,
    first_content_tokens,
    pool_hidden,
    word_char_spans,
    word_token_ranges,
)
from brainalign.encoders.sinks import Sink, collect, load_stored

if TYPE_CHECKING:
    from brainalign.encoders.extract import TextStimuli
    from brainalign.encoders.store import FeatureStore
    from brainalign.stimuli import Stimuli

__all__ = [
    "CONTEXTS",
    "Captures",
    "DEFAULT_CONTEXT_WORDS",
    "LEVELS",
    "ModelLoadError",
    "TextEncoder",
    "resolve_model_source",
]

#: Context modes of :meth:`TextEncoder.extract`.
CONTEXTS: tuple[str, ...] = ("isolated", "passage", "window")
#: Item levels of :meth:`TextEncoder.extract`.
LEVELS: tuple[str, ...] = ("sentence", "word")

#: Default number of words (the word itself plus the ones before it) in a bidirectional
#: model's window: the largest of 16/24/32 for which MiniLM encodes the 2,127 words of
#: Alice chapter 1 in under ~8 s on 2 CPU cores. Measured (float32, batch 32, torch 2.13):
#: N=16 6.3 s (39.5k window tokens), N=24 9.7 s (57k), N=32 12.6 s (74k). The cost is one
#: window per word, so it grows linearly with N and is dominated by the linear layers.
#: ``dtype="bfloat16"`` roughly halves it on CPUs with bf16 support, at ~1e-2 error.
DEFAULT_CONTEXT_WORDS = 16


@dataclass(frozen=True)
class Captures:
    """Which per-block outputs a run adds to the hidden states.

    Attributes
    ----------
    heads, blocks, contributions, attention_summaries : bool
        See :meth:`TextEncoder.encode_words`.
    """

    heads: bool = False
    blocks: bool = False
    contributions: bool = False
    attention_summaries: bool = False

    @property
    def needs_hooks(self) -> bool:
        """Whether a :class:`~brainalign.encoders.heads.LayerCapture` must run."""
        return self.heads or self.blocks or self.contributions


def _capture_extra(captures: Captures) -> dict[str, Any] | None:
    """The key's ``extra`` for ``captures``: ``{"capture": {...}}``, or None for none."""
    if captures == Captures():
        return None
    return {"capture": asdict(captures)}


class TextEncoder(LoadedModelAccess):
    """Hidden states of every layer for every word of a text, with preceding context only.

    Parameters
    ----------
    model : str or path-like
        Hugging Face hub id or local directory of a causal or masked language model
        (see :func:`~brainalign.encoders.models.resolve_model_source`).
    weights : {"pretrained", "untrained"}
        ``"untrained"``: the same architecture with random weights from the model's own
        initialisation (``AutoModel.from_config`` under ``torch.manual_seed(seed)``).
    seed : int
        Seed of the untrained weights.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; features are always returned as float32.
    batch_size : int
        Windows per forward pass.
    context_words : int
        Bidirectional models only: words per window (the word and the ``N - 1`` before
        it). Default :data:`DEFAULT_CONTEXT_WORDS`.
    max_length : int, optional
        Tokens per window, special tokens included. Default: the model's maximum
        positions (config and tokenizer limits).
    stride : int, optional
        Causal models only: tokens between the starts of consecutive windows.
        Default ``max_length // 2``. Must leave room for at least one text token.
    pooling : {"last", "mean", "first"}
        Default pooling of an item's tokens: the last token's state, the mean over the
        item's tokens, or (words only) the first token's state (first subword).
    progress : bool or str
        Show a progress bar over batches (only when stderr is a terminal), named by the
        string when one is given.
    instruction : str, optional
        A task instruction read before every window and passage (see the module
        docstring); surrounding whitespace is stripped. Its tokens count against
        ``max_length`` and are never pooled into a word's or sentence's features
        (except with ``extract(..., include_instruction=True)``). Default: none.
    instruction_format : {"plain", "chat"}
        ``"plain"``: ``instruction + "\n" + text`` after the tokenizer's special
        tokens. ``"chat"``: one user turn of the tokenizer's chat template holding
        ``instruction + "\n" + text``. Only with an ``instruction``.

    Attributes
    ----------
    model_id : str
        The model as given.
    source : str
        Where it was loaded from.
    is_causal : bool
        Whether the causal-window path is used (see
        :func:`~brainalign.encoders.models.is_causal_config`).
    n_layers : int
        Number of hidden states (blocks + 1).
    max_length, stride : int
        The resolved window settings (``stride`` is ``None`` for bidirectional models).
        Default stride with an instruction too long for half a window: half the text
        tokens per window.
    instruction : Instruction or None
        The instruction, as read.
    n_instruction_tokens : int
        Tokens the instruction (with its template, separator and special tokens) adds
        to every window, beyond the tokenizer's own special tokens; 0 without one.

    Raises
    ------
    ModelLoadError
        If the model cannot be found or loaded, or ``instruction_format="chat"`` is
        asked of a tokenizer without a chat template.
    ValueError
        For out-of-range settings, or an instruction that leaves no room for text in a
        window of ``max_length`` tokens.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        weights: Literal["pretrained", "untrained"] = "pretrained",
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 32,
        context_words: int = DEFAULT_CONTEXT_WORDS,
        max_length: int | None = None,
        stride: int | None = None,
        pooling: Pooling = "last",
        progress: bool | str = True,
        instruction: str | None = None,
        instruction_format: Literal["plain", "chat"] = "plain",
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; use one of {list(POOLINGS)}")
        for name, value in (("batch_size", batch_size), ("context_words", context_words)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; it must be a positive integer")
        loaded = load_model(
            model, modality="text", weights=weights, seed=seed, device=device, dtype=dtype
        )
        self._model = loaded.model
        self._tokenizer = loaded.preprocessor
        self._provenance = loaded.provenance
        self.model_id = os.fspath(model)
        self.source = loaded.source
        self.is_causal = loaded.is_causal
        self.n_layers = loaded.n_layers
        self.weights = loaded.provenance["weights"]
        self.seed = seed
        self.device = loaded.input_device
        self.dtype = dtype
        self.batch_size = batch_size
        self.context_words = context_words
        self.pooling = pooling
        self.progress = progress

        prefix, suffix = special_token_affixes(self._tokenizer)
        # A causal state never depends on later tokens, so a trailing special token
        # (EOS) would only cost a position: causal windows get the prefix only.
        self._prefix, self._suffix = (prefix, []) if self.is_causal else (prefix, suffix)
        n_special = len(self._prefix) + len(self._suffix)
        self.instruction = self._check_instruction(instruction, instruction_format)
        limit = loaded.max_positions
        if max_length is None:
            if limit is None:
                raise ValueError(
                    f"model {self.model_id!r} does not state its maximum input length; "
                    "pass max_length= (tokens per window)"
                )
            max_length = limit
        if not isinstance(max_length, int) or max_length <= n_special:
            raise ValueError(
                f"max_length={max_length!r} leaves no room for text after the {n_special} "
                "special token(s) per window; use a larger max_length"
            )
        if limit is not None and max_length > limit:
            raise ValueError(
                f"max_length={max_length} exceeds the {limit} positions model "
                f"{self.model_id!r} accepts; use max_length <= {limit}"
            )
        self.max_length = max_length
        probe = self._tokenize(["x"])[0]
        n_frame = len(probe.prefix) + len(probe.suffix)
        self.n_instruction_tokens = n_frame - n_special if self.instruction else 0
        self._text_length = max_length - n_frame
        if self._text_length < 1:
            raise ValueError(
                f"the instruction takes {self.n_instruction_tokens} tokens, {n_frame} with "
                f"the special and template tokens, more than the windows of max_length "
                f"{max_length} leave room for; use a shorter instruction or a larger "
                "max_length"
            )
        if self.is_causal:
            if stride is None:
                stride = max_length // 2
                if stride > self._text_length:  # a long instruction: half the text tokens
                    stride = max(1, self._text_length // 2)
            if not isinstance(stride, int) or not 1 <= stride <= self._text_length:
                raise ValueError(
                    f"stride={stride!r}; it must be between 1 and {self._text_length} "
                    f"(max_length {max_length} minus {n_frame} special and instruction "
                    "token(s))"
                )
        self.stride = stride if self.is_causal else None
        pad = self._tokenizer.pad_token_id
        if pad is None:
            pad = self._tokenizer.eos_token_id
        self._pad_id = 0 if pad is None else int(pad)

    @property
    def tokenizer(self) -> Any:
        """The fast tokenizer."""
        return self._tokenizer

    def _check_instruction(self, instruction: str | None, format: str) -> Instruction | None:
        """The :class:`~brainalign.encoders.context.Instruction` asked for, checked."""
        if instruction is None:
            if format != "plain":
                raise ValueError(
                    f"instruction_format={format!r} without an instruction; pass "
                    "instruction='...' or leave instruction_format at 'plain'"
                )
            return None
        return Instruction.build(self._tokenizer, instruction, format, self.model_id)

    def _tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        """Each text's tokens with what every window reads around them (see
        :func:`~brainalign.encoders.context.tokenize_texts`)."""
        return tokenize_texts(
            self._tokenizer,
            texts,
            prefix=self._prefix,
            suffix=self._suffix,
            instruction=self.instruction,
            read_after=not self.is_causal,
        )

    def _window_text_length(self, tokens: TokenizedText) -> int:
        """Text tokens per window around ``tokens``' prefix and suffix."""
        text_length = self.max_length - len(tokens.prefix) - len(tokens.suffix)
        if text_length < 1 or (self.is_causal and self.stride > text_length):
            raise ValueError(
                f"this text's instruction framing takes {len(tokens.prefix) + len(tokens.suffix)}"
                f" tokens, leaving {text_length} of max_length {self.max_length} for text "
                f"(stride {self.stride}); use a shorter instruction or a larger max_length"
            )
        return text_length

    def _instruction_provenance(self, include_instruction: bool = False) -> dict[str, Any]:
        """``{"instruction": {...}}`` for the provenance, or nothing without one."""
        if self.instruction is None:
            return {}
        described = self.instruction.describe()
        described["n_tokens"] = self.n_instruction_tokens
        described["pooled"] = include_instruction
        return {"instruction": described}

    def __repr__(self) -> str:
        mode = "causal" if self.is_causal else f"preceding {self.context_words} words"
        told = "" if self.instruction is None else f", instruction={self.instruction.format!r}"
        return (
            f"TextEncoder({self.model_id!r}, {self.weights}, {mode}, "
            f"pooling={self.pooling!r}{told})"
        )

    def words_store_key(
        self,
        words: Sequence[str],
        *,
        layers: Sequence[int] | None = None,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        space_before: Sequence[bool] | np.ndarray | None = None,
        heads: bool = False,
        blocks: bool = False,
        contributions: bool = False,
        attention_summaries: bool = False,
        pooling: Pooling | None = None,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`encode_words` with the same arguments.

        :meth:`encode_words` builds it itself (``store=`` only); this is for inspecting
        the entry (e.g. ``store.key_path(key)``). See
        :func:`~brainalign.encoders.store.text_encoder_key`; captures asked for are
        recorded as ``extra={"capture": {...}}``.
        """
        from brainalign.encoders.store import text_encoder_key

        return text_encoder_key(
            self,
            words,
            layers=layers,
            stimulus_ids=stimulus_ids,
            onsets=onsets,
            space_before=space_before,
            pooling=pooling,
            extra=_capture_extra(Captures(heads, blocks, contributions, attention_summaries)),
        )

    def extract_store_key(
        self,
        stimuli: Stimuli | TextStimuli | Sequence[str],
        *,
        context: Literal["isolated", "passage", "window"] = "passage",
        groups: Sequence[Any] | np.ndarray | None = None,
        pooling: Pooling | None = None,
        level: Literal["sentence", "word"] | None = None,
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
        contributions: bool = False,
        attention_summaries: bool = False,
        include_instruction: bool = False,
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`extract` with the same arguments.

        :meth:`extract` builds it itself (``store=`` only); this is for inspecting the
        entry. See :func:`~brainalign.encoders.store.text_extract_key`; captures asked
        for are recorded as ``extra={"capture": {...}}``.
        """
        from brainalign.encoders.store import text_extract_key

        if level is None:
            level = "word" if context == "window" else "sentence"
        texts, labels, ids, onsets, space_before = self._stimuli_columns(stimuli, groups)
        return text_extract_key(
            self,
            texts,
            context=context,
            level=level,
            groups=labels,
            pooling=pooling,
            layers=layers,
            stimulus_ids=ids,
            onsets=onsets,
            space_before=space_before,
            extra=_capture_extra(Captures(heads, blocks, contributions, attention_summaries)),
            include_instruction=include_instruction,
        )

    def encode_words(
        self,
        words: Sequence[str],
        *,
        layers: Sequence[int] | None = None,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        space_before: Sequence[bool] | np.ndarray | None = None,
        heads: bool = False,
        blocks: bool = False,
        contributions: bool = False,
        attention_summaries: bool = False,
        pooling: Pooling | None = None,
        store: FeatureStore | None = None,
    ) -> Features:
        """Encode a text given as words, each word seeing only the words before it.

        Parameters
        ----------
        words : sequence of str, length n_words
            The words in order. Whitespace around a word is stripped; a word may not be
            empty or contain whitespace.
        layers : sequence of int, optional
            Hidden-state indices to keep, each in ``0 .. n_layers - 1`` (0 = embedding
            output). Default: all.
        stimulus_ids : array-like, shape (n_words,), optional
            Row labels for the features. Default: word indices ``0 .. n_words - 1``.
        onsets : array-like of float, shape (n_words,), optional
            Word onsets in seconds, passed through to the features.
        space_before : array-like of bool, shape (n_words,), optional
            Whether a space precedes each word in the text the model reads (default:
            always). ``False`` attaches clitics split off by aligners (``"I"``,
            ``"'ll"`` -> ``"I'll"``); a token that would then span two words raises.
        heads : bool
            Also return, for every requested layer ``L >= 1`` (the block whose output is
            hidden state ``L``), each head's output before the output projection as
            ``"L.heads"``, shape (n_words, n_heads, d_head), pooled like the hidden states.
        blocks : bool
            Also return the attention block output ``"L.attention"`` and the MLP block
            output ``"L.mlp"``, each (n_words, d_model), for every requested ``L >= 1``.
        contributions : bool
            Also return each head's write to the residual stream, ``"L.contributions"``,
            shape (n_words, n_heads, d_model): the pooled head output through its slice
            of the attention output projection. Summed over heads, plus the projection's
            bias, it is ``"L.attention"``.
        attention_summaries : bool
            Also return per-head summaries of the attention pattern of the word's tokens
            (as queries), pooled like the hidden states, each (n_words, n_heads):
            ``"L.attention_entropy"`` (nats), ``"L.attention_distance"`` (mean distance
            to the attended tokens, in tokens), ``"L.attention_first_token"`` and
            ``"L.attention_previous_token"`` (see
            :func:`~brainalign.encoders.heads.attention_summaries`). Attention
            probabilities need the eager attention implementation, which the model is
            switched to for this call (and back after); its hidden states then agree
            with the default implementation's to float rounding (~1e-6), not bitwise.
            "First token" is the first token of the forward pass: the BOS token where
            the tokenizer adds one, else the instruction's (or chat template's) first
            token where there is one, else the window's first text token.
        pooling : {"last", "mean", "first"}, optional
            A word's last token, the mean of its tokens, or its first subword (first
            token holding a non-space character). Default: the encoder's ``pooling``.
        store : FeatureStore, optional
            Stream the features into this store instead of memory: each batch's pooled
            rows are written to the entry of :meth:`words_store_key` of the same
            arguments as soon as they are computed, so memory does not grow with the
            number of words. If the entry is complete already, it is returned without a
            forward pass.

        Returns
        -------
        Features
            ``layers`` maps ``str(index)`` to float32 arrays of shape (n_words, n_dims),
            plus the ``"L.heads"``, ``"L.attention"`` and ``"L.mlp"`` arrays asked for.
            With a store, the entry read back memory-mapped.

        Raises
        ------
        ValueError
            For an empty word list, a bad word, a word with no token, a layer out of
            range, an unknown pooling, or ids/onsets of the wrong length.
        FeatureStoreError
            If the store cannot be written or holds a conflicting entry.
        """
        key = None
        if store is not None:
            key = self.words_store_key(
                words,
                layers=layers,
                stimulus_ids=stimulus_ids,
                onsets=onsets,
                space_before=space_before,
                heads=heads,
                blocks=blocks,
                contributions=contributions,
                attention_summaries=attention_summaries,
                pooling=pooling,
            )
        found = load_stored(store, key)
        if found is not None:
            return found
        pooling = self._check_pooling(pooling, "word")
        words = clean_words(words)
        n_words = len(words)
        layer_ids = self._check_layers(layers)
        stimulus_ids = self._check_rows("stimulus_ids", stimulus_ids, n_words)
        if onsets is not None:
            onsets = np.asarray(self._check_rows("onsets", onsets, n_words), dtype=np.float64)
        jobs, provenance = self._plan_words(words, space_before, pooling)
        captures = Captures(heads, blocks, contributions, attention_summaries)

        def fill(sink: Sink) -> None:
            self._run(jobs, layer_ids, sink, captures=captures, pooling=pooling)

        return collect(fill, n_words, stimulus_ids, onsets, provenance, store, key)

    def _plan_words(
        self, words: list[str], space_before: Any, pooling: str
    ) -> tuple[list[Job], dict[str, Any]]:
        """The forward passes reading ``words`` (cleaned) and the features' provenance."""
        text, starts, ends = word_char_spans(words, space_before)
        tokens = self._tokenize([text])[0]
        ids = tokens.ids
        token_words = assign_tokens_to_words(tokens.offsets, text, starts, ends)
        first, last = word_token_ranges(token_words, words)
        text_length = self._window_text_length(tokens)
        if self.is_causal:
            jobs = causal_window_jobs(
                ids,
                first,
                last,
                words,
                text_length=text_length,
                stride=self.stride,
                prefix=tokens.prefix,
                pooling=pooling,
                max_length=self.max_length,
            )
            context = {
                "context": "causal-window",
                "max_length": self.max_length,
                "stride": self.stride,
                "n_windows": len(jobs),
            }
        else:
            jobs = preceding_jobs(
                ids,
                first,
                last,
                words,
                n_context=self.context_words,
                text_length=text_length,
                prefix=tokens.prefix,
                suffix=tokens.suffix,
                max_length=self.max_length,
            )
            context = {
                "context": "preceding-words",
                "context_words": self.context_words,
                "max_length": self.max_length,
            }

        if pooling == "first":
            # windows keep a word's leading whitespace-only token; "first" reads the one after
            skip = first_content_tokens(tokens.offsets, text, first, last) - first
            for job in jobs:
                job.first = job.first + skip[job.items]
        provenance = {
            "model": self.model_id,
            **self._provenance,
            "pooling": pooling,
            **context,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "n_words": len(words),
            "n_tokens": len(ids),
            "words_joined": "as given by space_before" if space_before is not None else "spaces",
            **self._instruction_provenance(),
        }
        return jobs, provenance

    def extract(
        self,
        stimuli: Stimuli | Sequence[str],
        *,
        context: Literal["isolated", "passage", "window"] = "passage",
        groups: Sequence[Any] | np.ndarray | None = None,
        pooling: Pooling | None = None,
        level: Literal["sentence", "word"] | None = None,
        layers: Sequence[int] | None = None,
        heads: bool = False,
        blocks: bool = False,
        contributions: bool = False,
        attention_summaries: bool = False,
        include_instruction: bool = False,
        store: FeatureStore | None = None,
    ) -> Features:
        """Features of sentences (with their passage as context) or of continuous words.

        Parameters
        ----------
        stimuli : Stimuli, TextStimuli or sequence of str, length n_items
            A :class:`~brainalign.stimuli.Stimuli` table (its ``text``,
            ``group``, ``stimulus_id`` and, when present, ``onset`` and
            ``space_before`` columns are used), a
            :class:`~brainalign.encoders.extract.TextStimuli` (its texts, groups, ids,
            onsets and ``space_before``; no groups: one passage) or the items' texts in
            reading order.
        context : {"isolated", "passage", "window"}
            ``"isolated"``: each sentence alone. ``"passage"``: each sentence read after
            all earlier sentences (rows) of its group, never the later ones (see Notes).
            ``"window"``: continuous text read word by word with a preceding-context
            window, as :meth:`encode_words` does (one text per group).
        groups : array-like, shape (n_items,), optional
            Passage (story) of each item, for a sequence of texts; a ``Stimuli`` table
            brings its own ``group`` column. Default: all items form one passage.
        pooling : {"last", "mean", "first"}, optional
            How an item's tokens are pooled: its last token, the mean over its tokens,
            or (words only) its first token. Default: the encoder's ``pooling``.
        level : {"sentence", "word"}, optional
            What an item is. Default: ``"word"`` for ``context="window"``, else
            ``"sentence"``. Words are read with ``context="window"`` only; sentences
            with ``"isolated"`` or ``"passage"``.
        layers : sequence of int, optional
            Hidden-state indices to keep (0 = embedding output). Default: all.
        heads, blocks, contributions, attention_summaries : bool
            Also return per-head outputs (``"L.heads"``), per-block outputs
            (``"L.attention"``, ``"L.mlp"``), per-head contributions to the residual
            stream (``"L.contributions"``) and attention summaries
            (``"L.attention_entropy"``, ...), pooled like the hidden states (see
            :meth:`encode_words`).
        include_instruction : bool
            With the encoder's ``instruction``, ``context="isolated"`` and
            ``pooling="mean"`` only: average each sentence's tokens together with the
            instruction's, i.e. every token of the pass from the first one after the
            leading special tokens (BOS, ``[CLS]``, and for chat the template's leading
            special markers) to the sentence's last token (``"plain"``: instruction,
            separator and sentence; ``"chat"``: also the template's text before the
            sentence). Default False: features pool the sentence's own tokens only.
        store : FeatureStore, optional
            Stream the features batch by batch into the store entry of
            :meth:`extract_store_key` of the same arguments instead of memory (see
            :meth:`encode_words`); a complete entry is returned without a forward pass.

        Returns
        -------
        Features
            Float32 arrays of shape (n_items, n_dims) per layer, rows in the order of
            ``stimuli``; provenance records ``context``, ``pooling`` and ``level``.
            With a store, the entry read back memory-mapped.

        Raises
        ------
        ValueError
            For an unknown context, pooling or level, an impossible combination of them,
            an empty sentence, ``groups`` of the wrong length (or given with a
            ``Stimuli`` table), a token spanning two sentences, a sentence longer
            than ``max_length`` where it must fit in one pass, or
            ``include_instruction=True`` without an instruction, isolated sentences and
            mean pooling.

        Notes
        -----
        Each passage is read as its sentences joined by single spaces, tokenized once;
        tokens are given to sentences by character offsets (see
        :mod:`brainalign.encoders.context`).

        Causal models, ``"passage"``: one forward pass per passage serves all its
        sentences, each read at its own position; the states equal those of re-encoding
        the growing prefix ``"s1 ... sk"`` once per sentence (tested to 1e-4). A passage
        longer than ``max_length`` tokens is read in sliding windows, as
        :meth:`encode_words` reads a long story, each sentence from the earliest window
        holding its last token. Passages are batched together, right-padded with an
        attention mask.

        Bidirectional models, ``"passage"``: sentence ``k`` is encoded with sentences
        ``1..k`` of its group wrapped in the special tokens (``[CLS] s1 ... sk [SEP]``),
        one pass per sentence, batched; a sentence never sees a later one. When the
        window is over ``max_length`` tokens, whole sentences are dropped from its left.

        ``"isolated"``: each sentence is tokenized and encoded alone, with the special
        tokens, one (batched) pass per sentence.
        """
        key = None
        if store is not None:
            key = self.extract_store_key(
                stimuli,
                context=context,
                groups=groups,
                pooling=pooling,
                level=level,
                layers=layers,
                heads=heads,
                blocks=blocks,
                contributions=contributions,
                attention_summaries=attention_summaries,
                include_instruction=include_instruction,
            )
        found = load_stored(store, key)
        if found is not None:
            return found
        if context not in CONTEXTS:
            raise ValueError(f"context={context!r}; use one of {list(CONTEXTS)}")
        if level is None:
            level = "word" if context == "window" else "sentence"
        if level not in LEVELS:
            raise ValueError(f"level={level!r}; use one of {list(LEVELS)}")
        if level == "word" and context != "window":
            raise ValueError(
                f"level='word' with context={context!r}: words are read as continuous text "
                "with context='window'; for sentences use level='sentence'"
            )
        if level == "sentence" and context == "window":
            raise ValueError(
                "context='window' reads continuous text word by word; use level='word' "
                "(one word per item), or context='passage' or 'isolated' for sentences"
            )
        pooling = self._check_pooling(pooling, level)
        self._check_include_instruction(include_instruction, context, pooling)
        captures = Captures(heads, blocks, contributions, attention_summaries)
        texts, labels, ids, onsets, space_before = self._stimuli_columns(stimuli, groups)
        if level == "word":
            return self._extract_words(
                texts, labels, ids, onsets, space_before, pooling, layers, captures, store, key
            )

        sentences = clean_sentences(texts)
        n_items = len(sentences)
        layer_ids = self._check_layers(layers)
        rows = group_rows(labels, n_items)
        if context == "isolated":
            rows = [np.array([row]) for row in range(n_items)]
        tokenized = tokenize_passages(
            self._tokenizer,
            [[sentences[r] for r in g] for g in rows],
            prefix=self._prefix,
            suffix=self._suffix,
            instruction=self.instruction,
            read_after=not self.is_causal,
        )
        jobs: list[Job] = []
        for members, (tokens, first, last) in zip(rows, tokenized, strict=True):
            names = [sentences[r] for r in members]
            text_length = self._window_text_length(tokens)
            if self.is_causal and context == "passage":
                group_jobs = causal_window_jobs(
                    tokens.ids,
                    first,
                    last,
                    names,
                    text_length=text_length,
                    stride=self.stride,
                    prefix=tokens.prefix,
                    pooling=pooling,
                    max_length=self.max_length,
                    item="sentence",
                )
            else:
                group_jobs = preceding_jobs(
                    tokens.ids,
                    first,
                    last,
                    names,
                    n_context=len(members),
                    text_length=text_length,
                    prefix=tokens.prefix,
                    suffix=tokens.suffix,
                    max_length=self.max_length,
                    item="sentence",
                )
            for job in group_jobs:
                job.items = members[job.items]
                if include_instruction:  # isolated: the pass is [special] instruction sentence
                    job.first = np.full_like(job.first, tokens.n_special)
            jobs.extend(group_jobs)

        reading: dict[str, Any] = {"max_length": self.max_length}
        if context == "passage":
            reading["sentences_joined"] = "single space"
            reading["n_groups"] = len(rows)
            if self.is_causal:
                reading["passage_reading"] = "one pass per passage, sliding windows past max_length"
                reading["stride"] = self.stride
            else:
                reading["passage_reading"] = "sentence k with sentences 1..k of its passage"
        provenance = {
            "model": self.model_id,
            **self._provenance,
            "pooling": pooling,
            "context": context,
            "level": "sentence",
            **reading,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "n_items": n_items,
            "n_passes": len(jobs),
            "n_tokens": sum(len(tokens.ids) for tokens, _, _ in tokenized),
            **self._instruction_provenance(include_instruction),
        }

        def fill(sink: Sink) -> None:
            self._run(jobs, layer_ids, sink, captures=captures, pooling=pooling)

        return collect(fill, n_items, ids, onsets, provenance, store, key)

    def _extract_words(
        self,
        words: list[str],
        labels: np.ndarray | None,
        ids: np.ndarray,
        onsets: np.ndarray | None,
        space_before: np.ndarray | None,
        pooling: str,
        layers: Sequence[int] | None,
        captures: Captures,
        store: FeatureStore | None,
        key: Mapping[str, Any] | None,
    ) -> Features:
        """``extract(level="word")``: each group's words read as :meth:`encode_words` does.

        Every group is planned on its own (no context crosses groups); the forward
        passes of all groups are then batched together, each item written at its row
        of ``words``.
        """
        words = clean_words(words)
        layer_ids = self._check_layers(layers)
        rows = group_rows(labels, len(words))
        plans = [
            self._plan_words(
                [words[r] for r in members],
                None if space_before is None else space_before[members],
                pooling,
            )
            for members in rows
        ]
        provenance = {**plans[0][1], "level": "word", "n_groups": len(rows)}
        for name in ("n_words", "n_tokens", "n_windows"):
            if name in provenance:
                provenance[name] = sum(plan[name] for _, plan in plans)

        jobs: list[Job] = []
        for members, (group_jobs, _) in zip(rows, plans, strict=True):
            for job in group_jobs:
                job.items = members[job.items]  # group rows -> rows of ``words``
            jobs.extend(group_jobs)

        def fill(sink: Sink) -> None:
            self._run(jobs, layer_ids, sink, captures=captures, pooling=pooling)

        return collect(fill, len(words), ids, onsets, provenance, store, key)

    # ----------------------------------------------------------------- running

    def _run(
        self,
        jobs: list[Job],
        layer_ids: list[int],
        sink: Sink,
        *,
        captures: Captures,
        pooling: str,
    ) -> None:
        """Run the jobs in batches, pool every item's tokens and hand each batch to ``sink``.

        Parameters
        ----------
        jobs : list of Job
            Forward passes; ``job.items`` are the sink rows of the items each serves.
        layer_ids : list of int
            Hidden states to keep.
        sink : Sink
            Receives, per batch, the item rows and ``{name: (n_batch_items, ...)}``
            float32 arrays: ``str(layer)``, then per block the arrays the captures ask
            for, in model order (the order of the stored arrays).
        captures : Captures
            Which per-head and per-block outputs to add.
        pooling : str
        """
        import torch

        captured_blocks = [layer - 1 for layer in layer_ids if layer >= 1]
        hooked = captures.needs_hooks and bool(captured_blocks)
        capture = (
            LayerCapture(
                self._model,
                captured_blocks,
                heads=captures.heads or captures.contributions,
                blocks=captures.blocks,
            )
            if hooked
            else contextlib.nullcontext()
        )
        summaries = captures.attention_summaries and bool(captured_blocks)
        eager = self._eager_attention() if summaries else contextlib.nullcontext()

        def numpy(pooled: Any) -> np.ndarray:
            return pooled.cpu().numpy().astype(np.float32, copy=False)

        with thread_limit(), torch.inference_mode(), eager, capture:
            head_weights = {
                block: capture.head_weights(block).float()
                for block in (captured_blocks if captures.contributions else ())
            }
            for batch in self._batches(jobs):
                hidden_states, attentions, mask = self._forward(batch, attentions=summaries)
                batch_rows = np.concatenate(
                    [np.full(len(job.items), r) for r, job in enumerate(batch)]
                )
                item_ids = np.concatenate([job.items for job in batch])
                job_first = np.concatenate([job.first for job in batch])
                job_last = np.concatenate([job.last for job in batch])
                pool = functools.partial(
                    pool_hidden, rows=batch_rows, first=job_first, last=job_last, pooling=pooling
                )
                pooled = {str(layer): numpy(pool(hidden_states[layer])) for layer in layer_ids}
                if summaries:
                    summary = attention_summaries(
                        [attentions[block] for block in captured_blocks], mask
                    )
                for index, block in enumerate(captured_blocks):
                    name = f"{block + 1}."
                    if captures.blocks:
                        pooled[name + "attention"] = numpy(pool(capture.attention_output[block]))
                        pooled[name + "mlp"] = numpy(pool(capture.mlp_output[block]))
                    if captures.heads or captures.contributions:
                        per_head = capture.heads[block]
                        flat = pool(per_head.flatten(start_dim=2))
                        heads_pooled = flat.unflatten(1, per_head.shape[2:])
                        if captures.heads:
                            pooled[name + "heads"] = numpy(heads_pooled)
                        if captures.contributions:
                            pooled[name + "contributions"] = numpy(
                                torch.einsum("nhd,hdm->nhm", heads_pooled, head_weights[block])
                            )
                    if summaries:
                        for measure in SUMMARY_MEASURES:
                            per_query = summary[measure][index].transpose(1, 2)  # (B, seq, H)
                            pooled[f"{name}attention_{measure}"] = numpy(pool(per_query))
                sink.write(item_ids, pooled)

    @contextlib.contextmanager
    def _eager_attention(self) -> Iterator[None]:
        """Switch the model to eager attention (which returns probabilities), then back."""
        config = self._model.config
        previous = getattr(config, "_attn_implementation", None)
        if previous == "eager":
            yield
            return
        try:
            self._model.set_attn_implementation("eager")
        except (ValueError, ImportError) as error:
            raise ValueError(
                f"attention_summaries=True needs the eager attention implementation, which "
                f"model {self.model_id!r} refused: {error}"
            ) from error
        try:
            yield
        finally:
            self._model.set_attn_implementation(previous or "sdpa")

    def _batches(self, jobs: list[Job]) -> Iterator[list[Job]]:
        """Jobs sorted by length (longest first) in batches, with a progress bar."""
        order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j].ids))
        batches = [
            [jobs[j] for j in order[i : i + self.batch_size]]
            for i in range(0, len(order), self.batch_size)
        ]
        yield from progress_bar(batches, self.progress, f"encoding ({self.model_id})")

    def _forward(
        self, batch: list[Job], *, attentions: bool = False
    ) -> tuple[tuple[Any, ...], tuple[Any, ...] | None, Any]:
        """Run one padded batch (padding on the right).

        Returns all hidden states, the attention probabilities of every block (when
        ``attentions``, else None) and the attention mask, ``(batch, width)``.
        """
        import torch

        width = max(len(job.ids) for job in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, job in enumerate(batch):
            input_ids[row, : len(job.ids)] = torch.as_tensor(job.ids, dtype=torch.long)
            attention_mask[row, : len(job.ids)] = 1
        output = self._model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            output_hidden_states=True,
            output_attentions=attentions,
        )
        hidden_states = output.hidden_states
        if hidden_states is None or len(hidden_states) != self.n_layers:
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected "
                f"{self.n_layers} (num_hidden_layers + 1)"
            )
        probabilities = output.attentions if attentions else None
        if attentions and (probabilities is None or len(probabilities) != self.n_layers - 1):
            raise RuntimeError(
                f"model {self.model_id!r} returned no attention probabilities per block "
                "under eager attention; attention_summaries is not available for it"
            )
        return hidden_states, probabilities, attention_mask

    # ----------------------------------------------------------------- checks

    def _check_layers(self, layers: Sequence[int] | None) -> list[int]:
        return check_layer_indices(layers, self.n_layers, self.model_id)

    def _check_include_instruction(self, include: bool, context: str, pooling: str) -> None:
        """``include_instruction=True`` needs an instruction, isolated sentences, mean pooling."""
        if not include:
            return
        if self.instruction is None:
            raise ValueError(
                "include_instruction=True, but this encoder has no instruction; build it "
                "with TextEncoder(..., instruction='...')"
            )
        if context != "isolated" or pooling != "mean":
            raise ValueError(
                f"include_instruction=True with context={context!r}, pooling={pooling!r}: "
                "the instruction is averaged with a sentence only for context='isolated' "
                "and pooling='mean' (elsewhere other sentences would fall in between)"
            )

    @staticmethod
    def _check_rows(name: str, values: Any, n_words: int) -> np.ndarray:
        if values is None:
            return np.arange(n_words)
        values = np.asarray(values)
        if values.ndim != 1 or len(values) != n_words:
            raise ValueError(
                f"{name} has shape {values.shape}; expected ({n_words},), one per word"
            )
        return values

    def _check_pooling(self, pooling: str | None, level: str) -> str:
        """The pooling to use: the one given, else the encoder's; ``first`` is for words."""
        pooling = self.pooling if pooling is None else pooling
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; use one of {list(POOLINGS)}")
        if level == "sentence" and pooling == "first":
            raise ValueError(
                "pooling='first' reads a sentence's first token, which has not seen the rest "
                "of the sentence; use pooling='last' or 'mean' for sentences"
            )
        return pooling

    @staticmethod
    def _stimuli_columns(
        stimuli: Any, groups: Any
    ) -> tuple[list[str], Any, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Texts, group labels, ids, onsets and ``space_before`` of the stimuli.

        Returns
        -------
        texts : list of str, length n_items
        labels : array-like, shape (n_items,), or None (one group)
        ids : numpy.ndarray, shape (n_items,)
        onsets : numpy.ndarray of float, shape (n_items,), or None
        space_before : numpy.ndarray of bool, shape (n_items,), or None
        """
        from brainalign.encoders.extract import TextStimuli
        from brainalign.stimuli import Stimuli

        if isinstance(stimuli, TextStimuli):
            if groups is not None:
                raise ValueError(
                    "groups= is taken from the TextStimuli's groups; do not pass it with them"
                )
            ids = stimuli.stimulus_ids
            return (
                list(stimuli.texts),
                stimuli.groups,
                np.arange(len(stimuli)) if ids is None else np.asarray(ids),
                None if stimuli.onsets is None else np.asarray(stimuli.onsets, dtype=np.float64),
                None if stimuli.space_before is None else np.asarray(stimuli.space_before),
            )
        if isinstance(stimuli, Stimuli):
            if groups is not None:
                raise ValueError(
                    "groups= is taken from the Stimuli table's 'group' column; do not pass "
                    "it with a Stimuli table"
                )
            table = stimuli.table
            if "text" not in table.columns:
                raise ValueError("these stimuli have no 'text' column; the text encoder reads text")
            texts = table["text"].tolist()
            onsets = stimuli.onsets if "onset" in table.columns else None
            space_before = (
                table["space_before"].to_numpy(dtype=bool)
                if "space_before" in table.columns
                else None
            )
            return texts, table["group"].to_numpy(), stimuli.stimulus_ids, onsets, space_before
        if isinstance(stimuli, str):
            raise ValueError("stimuli must be a sequence of texts or a Stimuli table, not a str")
        texts = list(stimuli)
        return texts, groups, np.arange(len(texts)), None, None


# --------------------------------------------------------------------------- sinks
