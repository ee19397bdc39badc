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

A word's feature is its last token's hidden state (``pooling="last"``) or the mean
over its tokens (``pooling="mean"``), for every hidden state the model returns
(0 = embedding output, then one per block, as transformers returns them: the last one
has the final layer norm applied for models that have one).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from brainalign.encoders.common import check_layer_indices, thread_limit
from brainalign.encoders.features import Features
from brainalign.encoders.heads import LayerCapture
from brainalign.encoders.models import (
    ModelLoadError,
    load_text_model,
    resolve_model_source,
    special_token_affixes,
)
from brainalign.encoders.pooling import (
    Pooling,
    assign_tokens_to_words,
    clean_words,
    pool_hidden,
    word_char_spans,
    word_token_ranges,
)

__all__ = ["DEFAULT_CONTEXT_WORDS", "ModelLoadError", "TextEncoder", "resolve_model_source"]

#: Default number of words (the word itself plus the ones before it) in a bidirectional
#: model's window: the largest of 16/24/32 for which MiniLM encodes the 2,127 words of
#: Alice chapter 1 in under ~8 s on 2 CPU cores. Measured (float32, batch 32, torch 2.13):
#: N=16 6.3 s (39.5k window tokens), N=24 9.7 s (57k), N=32 12.6 s (74k). The cost is one
#: window per word, so it grows linearly with N and is dominated by the linear layers.
#: ``dtype="bfloat16"`` roughly halves it on CPUs with bf16 support, at ~1e-2 error.
DEFAULT_CONTEXT_WORDS = 16


@dataclass
class _Job:
    """One forward pass: token ids, and the words read from it.

    ``first``/``last`` are inclusive positions of each word's tokens in ``ids``.
    """

    ids: list[int]
    words: np.ndarray
    first: np.ndarray
    last: np.ndarray


class TextEncoder:
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
    pooling : {"last", "mean"}
        Word feature: the last token's state or the mean of the word's tokens.
    progress : bool
        Show a progress bar over batches (only when stderr is a terminal).

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

    Raises
    ------
    ModelLoadError
        If the model cannot be found or loaded.
    ValueError
        For out-of-range settings.
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
        progress: bool = True,
    ) -> None:
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling={pooling!r}; use 'last' or 'mean'")
        for name, value in (("batch_size", batch_size), ("context_words", context_words)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; it must be a positive integer")
        loaded = load_text_model(model, weights=weights, seed=seed, device=device, dtype=dtype)
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._provenance = loaded.provenance
        self.model_id = os.fspath(model)
        self.source = loaded.source
        self.is_causal = loaded.is_causal
        self.n_layers = loaded.n_layers
        self.weights = weights
        self.seed = seed
        self.device = device
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
        self._text_length = max_length - n_special
        if self.is_causal:
            stride = max_length // 2 if stride is None else stride
            if not isinstance(stride, int) or not 1 <= stride <= self._text_length:
                raise ValueError(
                    f"stride={stride!r}; it must be between 1 and {self._text_length} "
                    f"(max_length {max_length} minus {n_special} special token(s))"
                )
        self.stride = stride if self.is_causal else None
        pad = self._tokenizer.pad_token_id
        if pad is None:
            pad = self._tokenizer.eos_token_id
        self._pad_id = 0 if pad is None else int(pad)

    @property
    def model(self) -> Any:
        """The loaded torch model (in eval mode)."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The fast tokenizer."""
        return self._tokenizer

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the model came from: source, weights, seed, revision, weight hashes."""
        return dict(self._provenance)

    def __repr__(self) -> str:
        mode = "causal" if self.is_causal else f"preceding {self.context_words} words"
        return f"TextEncoder({self.model_id!r}, {self.weights}, {mode}, pooling={self.pooling!r})"

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

        Returns
        -------
        Features
            ``layers`` maps ``str(index)`` to float32 arrays of shape (n_words, n_dims),
            plus the ``"L.heads"``, ``"L.attention"`` and ``"L.mlp"`` arrays asked for.

        Raises
        ------
        ValueError
            For an empty word list, a bad word, a word with no token, a layer out of
            range, or ids/onsets of the wrong length.
        """
        import torch

        words = clean_words(words)
        n_words = len(words)
        layer_ids = self._check_layers(layers)
        stimulus_ids = self._check_rows("stimulus_ids", stimulus_ids, n_words)
        if onsets is not None:
            onsets = np.asarray(self._check_rows("onsets", onsets, n_words), dtype=np.float64)

        text, starts, ends = word_char_spans(words, space_before)
        encoding = self._tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        ids = list(encoding["input_ids"])
        token_words = assign_tokens_to_words(encoding["offset_mapping"], text, starts, ends)
        first, last = word_token_ranges(token_words, words)
        if self.is_causal:
            jobs = self._causal_jobs(ids, first, last, words)
            context = {
                "context": "causal-window",
                "max_length": self.max_length,
                "stride": self.stride,
                "n_windows": len(jobs),
            }
        else:
            jobs = self._preceding_word_jobs(ids, first, last, words)
            context = {
                "context": "preceding-words",
                "context_words": self.context_words,
                "max_length": self.max_length,
            }

        outputs: dict[str, np.ndarray] = {}

        def store(name: str, word_ids: np.ndarray, pooled: Any) -> None:
            if name not in outputs:
                outputs[name] = np.empty((n_words, *pooled.shape[1:]), dtype=np.float32)
            outputs[name][word_ids] = pooled.cpu().numpy()

        captured_blocks = [layer - 1 for layer in layer_ids if layer >= 1]
        capture = (
            LayerCapture(self._model, captured_blocks, heads=heads, blocks=blocks)
            if (heads or blocks) and captured_blocks
            else contextlib.nullcontext()
        )
        with thread_limit(), torch.inference_mode(), capture:
            for batch in self._batches(jobs):
                hidden_states = self._forward(batch)
                rows = np.concatenate([np.full(len(job.words), r) for r, job in enumerate(batch)])
                word_ids = np.concatenate([job.words for job in batch])
                job_first = np.concatenate([job.first for job in batch])
                job_last = np.concatenate([job.last for job in batch])
                pool = functools.partial(
                    pool_hidden, rows=rows, first=job_first, last=job_last, pooling=self.pooling
                )
                for layer in layer_ids:
                    store(str(layer), word_ids, pool(hidden_states[layer]))
                for block in captured_blocks if heads or blocks else ():
                    if heads:
                        per_head = capture.heads[block]
                        flat = pool(per_head.flatten(start_dim=2))
                        store(f"{block + 1}.heads", word_ids, flat.unflatten(1, per_head.shape[2:]))
                    if blocks:
                        store(
                            f"{block + 1}.attention",
                            word_ids,
                            pool(capture.attention_output[block]),
                        )
                        store(f"{block + 1}.mlp", word_ids, pool(capture.mlp_output[block]))

        provenance = {
            "model": self.model_id,
            **self._provenance,
            "pooling": self.pooling,
            **context,
            "dtype": self.dtype,
            "device": self.device,
            "n_layers": self.n_layers,
            "n_words": n_words,
            "n_tokens": len(ids),
            "words_joined": "as given by space_before" if space_before is not None else "spaces",
        }
        order = [str(layer) for layer in layer_ids] + [
            f"{block + 1}.{part}"
            for block in captured_blocks
            for part, wanted in (("attention", blocks), ("mlp", blocks), ("heads", heads))
            if wanted
        ]
        return Features(
            layers={name: outputs[name] for name in order},
            stimulus_ids=stimulus_ids,
            onsets=onsets,
            provenance=provenance,
        )

    # ----------------------------------------------------------------- windows

    def _causal_jobs(
        self, ids: list[int], first: np.ndarray, last: np.ndarray, words: list[str]
    ) -> list[_Job]:
        """One job per window; each word goes to the earliest window holding its last token."""
        length, stride = self._text_length, self.stride
        window = np.where(last < length, 0, -((length - 1 - last) // stride))  # ceil
        starts = window * stride
        if self.pooling == "mean":
            cut = np.flatnonzero(first < starts)
            if cut.size:
                index = int(cut[0])
                raise ValueError(
                    f"word {index} ({words[index]!r}) has {last[index] - first[index] + 1} "
                    f"tokens, too many to average inside one window of max_length "
                    f"{self.max_length} with stride {self.stride}; use a smaller stride, a "
                    "larger max_length or pooling='last'"
                )
        prefix = self._prefix
        jobs = []
        for k in np.unique(window):
            members = np.flatnonzero(window == k)
            start = int(k) * stride
            end = int(last[members[-1]]) + 1
            offset = len(prefix) - start
            jobs.append(
                _Job(
                    ids=prefix + ids[start:end],
                    words=members,
                    first=first[members] + offset,
                    last=last[members] + offset,
                )
            )
        return jobs

    def _preceding_word_jobs(
        self, ids: list[int], first: np.ndarray, last: np.ndarray, words: list[str]
    ) -> list[_Job]:
        """One job per word: words i-N+1..i, whole words dropped from the left to fit."""
        length = self._text_length
        too_long = np.flatnonzero(last - first + 1 > length)
        if too_long.size:
            index = int(too_long[0])
            raise ValueError(
                f"word {index} ({words[index]!r}) has {last[index] - first[index] + 1} tokens, "
                f"more than fit in a window of max_length {self.max_length}; use a larger "
                "max_length"
            )
        prefix, suffix = self._prefix, self._suffix
        jobs = []
        for i in range(len(words)):
            start_word = max(0, i - self.context_words + 1)
            # drop whole words from the left until the window fits
            start_word = max(
                start_word, int(np.searchsorted(first, last[i] - length + 1, side="left"))
            )
            start = int(first[start_word])
            offset = len(prefix) - start
            jobs.append(
                _Job(
                    ids=prefix + ids[start : int(last[i]) + 1] + suffix,
                    words=np.array([i]),
                    first=first[i : i + 1] + offset,
                    last=last[i : i + 1] + offset,
                )
            )
        return jobs

    # ----------------------------------------------------------------- running

    def _batches(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        """Jobs sorted by length (longest first) in batches, with a progress bar."""
        from tqdm.auto import tqdm

        order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j].ids))
        batches = [
            [jobs[j] for j in order[i : i + self.batch_size]]
            for i in range(0, len(order), self.batch_size)
        ]
        show = self.progress and sys.stderr.isatty()
        yield from tqdm(batches, desc=f"encoding ({self.model_id})", unit="batch", disable=not show)

    def _forward(self, batch: list[_Job]) -> tuple[Any, ...]:
        """Run one padded batch (padding on the right) and return all hidden states."""
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
        )
        hidden_states = output.hidden_states
        if hidden_states is None or len(hidden_states) != self.n_layers:
            got = None if hidden_states is None else len(hidden_states)
            raise RuntimeError(
                f"model {self.model_id!r} returned {got} hidden states; expected "
                f"{self.n_layers} (num_hidden_layers + 1)"
            )
        return hidden_states

    # ----------------------------------------------------------------- checks

    def _check_layers(self, layers: Sequence[int] | None) -> list[int]:
        return check_layer_indices(layers, self.n_layers, self.model_id)

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
