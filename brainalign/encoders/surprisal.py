"""Per-word surprisal from a causal language model's next-token distribution.

The surprisal of token ``t`` is ``-log2 p(t | tokens before it)`` **in bits** (base 2;
divide by ``log2(e)``, i.e. multiply by ``ln 2``, for nats). A word's surprisal is the
sum over its tokens, which is ``-log2 p(word | preceding text)`` by the chain rule.

Words and tokens
----------------
Each group (story) is read as its words joined by single spaces, tokenized once, and
every token is given to a word by character offsets with the text encoder's own
alignment (:func:`~brainalign.encoders.pooling.word_char_spans`,
:func:`~brainalign.encoders.pooling.assign_tokens_to_words`,
:func:`~brainalign.encoders.pooling.word_token_ranges`): a leading whitespace-only
token belongs to the word after it, and so counts towards that word's surprisal.
Context never crosses groups: each group is its own text.

The first token and the beginning-of-text token
-----------------------------------------------
The first token of a text has no left context. When the model has a beginning-of-text
token, every forward pass opens with it and the first token is predicted from it: the
tokenizer's own leading special tokens where it adds some (LLaMA's ``<s>``), else the
tokenizer's ``bos_token`` (GPT-2's ``<|endoftext|>``, which its tokenizer does not add
by itself). A model with neither gets **NaN** for the first word of every group (its
first token cannot be predicted); every other word is defined.

Long texts: sliding windows (the Hugging Face perplexity recipe)
-----------------------------------------------------------------
A forward pass holds at most ``window`` positions, the prefix included, so
``L = window - n_prefix`` text tokens. Passes start every ``stride = L - min_context``
text tokens (pass ``k`` reads text tokens ``k * stride .. k * stride + L - 1``). Pass 0
scores its tokens ``0 .. L - 1``; pass ``k >= 1`` scores only the tokens no earlier pass
scored, ``(k - 1) * stride + L .. k * stride + L - 1``. So text token ``j`` is predicted
from ``c_j`` text tokens of left context (plus the prefix):

- ``c_j = j`` for ``j < L`` (everything before it);
- ``c_j = min_context + (j - min_context) mod stride`` for ``j >= L``, which lies in
  ``min_context .. L - 1``: never less than ``min_context``.

A text of at most ``L`` tokens is one pass and equals a single full forward pass. All
passes of all groups are batched (right-padded, attention mask), longest first.

Feature store
-------------
With ``store=``, the per-word surprisal is an entry of the
:class:`~brainalign.encoders.store.FeatureStore` (array ``"surprisal"``, shape
(n_words, 1), float64) keyed by the model id, its weights (file hashes, hub revision or
seed, config hash), the tokenizer, the words and groups, ``window``, ``min_context``,
the prefix and the dtype; a second call with the same key returns it without a forward
pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import (
    LoadedModelAccess,
    check_batch_size,
    progress_bar,
    thread_limit,
)
from brainalign.encoders.context import group_rows
from brainalign.encoders.loading import NotCausalModelError, load_model
from brainalign.encoders.models import special_token_affixes
from brainalign.encoders.pooling import (
    assign_tokens_to_words,
    clean_words,
    word_char_spans,
    word_token_ranges,
)

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore

__all__ = ["SURPRISAL_UNIT", "NotCausalModelError", "SurprisalModel", "word_surprisal"]

#: Unit of every surprisal returned here: ``-log2 p``.
SURPRISAL_UNIT = "bits"
#: Name of the array in a feature-store entry.
STORE_ARRAY = "surprisal"
_LN2 = math.log(2.0)


@dataclass
class _Pass:
    """One forward pass: token ids and which text tokens it scores.

    ``positions`` are the positions (in ``ids``) of the scored tokens; each is predicted
    from the logits at ``position - 1``. ``targets`` are the scored tokens' indices in
    the concatenated token array of all groups.
    """

    ids: list[int]
    positions: np.ndarray
    targets: np.ndarray


class SurprisalModel(LoadedModelAccess):
    """A causal language model with its LM head, for per-word surprisal.

    Parameters
    ----------
    model : str or path-like
        Hugging Face hub id or local directory of a causal LM (GPT-2, LLaMA, ...),
        optionally ending in ``@untrained`` (see
        :func:`~brainalign.encoders.models.split_model_spec`).
    weights : {"pretrained", "untrained"}
        ``"untrained"``: the same architecture with seeded random weights.
    seed : int
        Seed of the untrained weights.
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"``).
    dtype : {"float32", "float16", "bfloat16"}
        Dtype of the model; log-probabilities are computed in float32 from its logits.
    batch_size : int
        Forward passes (windows) per batch.
    window : int, optional
        Positions per forward pass, prefix included. Default: the model's maximum.
    min_context : int, optional
        Text tokens of left context every token past the first window is predicted
        from, at least. Default ``(window - n_prefix) // 2`` (stride of half a window).
    progress : bool or str
        Show a progress bar over batches (only when stderr is a terminal), named by the
        string when one is given.

    Attributes
    ----------
    model_id : str
    prefix : list of int
        Token ids opening every pass (BOS), possibly empty.
    window, min_context, stride : int
        The resolved window settings.

    Raises
    ------
    NotCausalModelError
        For a model that is not a causal LM (BERT, RoBERTa, T5 ...).
    ModelLoadError
        If the model cannot be found or loaded, or has no LM-head weights.
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
        batch_size: int = 8,
        window: int | None = None,
        min_context: int | None = None,
        progress: bool | str = False,
    ) -> None:
        check_batch_size(batch_size)
        loaded = load_model(
            model, modality="causal_lm", weights=weights, seed=seed, device=device, dtype=dtype
        )
        self._model, self._tokenizer = loaded.model, loaded.preprocessor
        self._provenance, limit = loaded.provenance, loaded.max_positions
        self.model_id = os.fspath(model)
        self.dtype = dtype
        self.batch_size = batch_size
        self.progress = progress
        self.device = loaded.input_device
        self.prefix = _bos_prefix(self._tokenizer)
        self.window, self.min_context = _check_window(
            window, min_context, limit, len(self.prefix), self.model_id
        )
        self.stride = self.window - len(self.prefix) - self.min_context
        pad = self._tokenizer.pad_token_id
        if pad is None:
            pad = self._tokenizer.eos_token_id
        self._pad_id = 0 if pad is None else int(pad)

    @property
    def tokenizer(self) -> Any:
        """The fast tokenizer."""
        return self._tokenizer

    def __repr__(self) -> str:
        return (
            f"SurprisalModel({self.model_id!r}, {self._provenance['weights']}, "
            f"window={self.window}, min_context={self.min_context})"
        )

    # ----------------------------------------------------------------- public

    def store_key(
        self, words: Sequence[str], groups: Sequence[Any] | np.ndarray | None = None
    ) -> dict[str, Any]:
        """The feature-store key of :meth:`word_surprisal` for these words and groups.

        Parameters
        ----------
        words : sequence of str, length n_words
        groups : array-like, shape (n_words,), optional

        Returns
        -------
        dict
            Model id, weights (kind, file sha256 / revision / seed, config sha256),
            tokenizer fingerprint, ``["surprisal"]``, context (window, min_context,
            prefix), dtype, stimulus hash of the words and groups, and the unit.
        """
        from brainalign.encoders.store.keys import (
            _text_weights,
            _tokenizer_fingerprint,
            feature_key,
            stimulus_hash,
        )

        table: dict[str, Any] = {"text": [str(word) for word in words]}
        if groups is not None:
            table["group"] = np.asarray(groups, dtype=object).tolist()
        return feature_key(
            model=self.model_id,
            weights=_text_weights(self),
            tokenizer=_tokenizer_fingerprint(self._tokenizer),
            layers=[STORE_ARRAY],
            pooling="sum over the word's tokens",
            context={
                "mode": "causal-surprisal",
                "window": self.window,
                "min_context": self.min_context,
                "prefix": list(self.prefix),
                "words_joined": "single space",
            },
            dtype=self.dtype,
            stimuli=stimulus_hash(table),
            extra={"unit": SURPRISAL_UNIT},
        )

    def word_surprisal(
        self,
        words: Sequence[str],
        *,
        groups: Sequence[Any] | np.ndarray | None = None,
        store: FeatureStore | None = None,
    ) -> np.ndarray:
        """Surprisal in bits of every word given the words before it in its group.

        Parameters
        ----------
        words : sequence of str, length n_words
            Words in reading order; whitespace around a word is stripped, a word may not
            be empty or contain whitespace.
        groups : array-like, shape (n_words,), optional
            Story (text) of every word; context never crosses groups. Default: one text.
        store : FeatureStore, optional
            Read the result from the store when present (no forward pass), else write it.

        Returns
        -------
        numpy.ndarray of float64, shape (n_words,)
            ``-log2 p(word | preceding words of its group)``, bits. NaN only for the
            first word of each group when the model has no beginning-of-text token.

        Raises
        ------
        ValueError
            For an empty or bad word list, groups of the wrong length, or a word with no
            token.
        """
        words = clean_words(words)
        rows = group_rows(groups, len(words))
        key = None
        if store is not None:
            key = self.store_key(words, groups)
            found = store.try_load(key, mmap=False)
            if found is not None:
                return np.array(found[STORE_ARRAY][:, 0], dtype=np.float64)
        result = self._compute(words, rows)
        if store is not None:
            self._save(store, key, result, len(rows))
        return result

    # ----------------------------------------------------------------- internals

    def _compute(self, words: list[str], rows: list[np.ndarray]) -> np.ndarray:
        """Tokenize every group, plan the passes, run them and sum per word."""
        token_offset = 0
        passes: list[_Pass] = []
        word_first = np.empty(len(words), dtype=np.int64)
        for members in rows:
            ids, first, _ = _tokenize_words(self._tokenizer, [words[r] for r in members])
            passes.extend(
                _plan_passes(
                    len(ids),
                    ids,
                    token_offset,
                    prefix=self.prefix,
                    text_length=self.window - len(self.prefix),
                    stride=self.stride,
                )
            )
            word_first[members] = first + token_offset
            token_offset += len(ids)
        token_bits = np.full(token_offset, np.nan)
        self._run(passes, token_bits)
        # tokens are contiguous per word, words in order within a group; a group's
        # tokens follow the previous group's
        order = np.argsort(word_first, kind="stable")
        sums = np.add.reduceat(token_bits, word_first[order])
        out = np.empty(len(words))
        out[order] = sums
        return out

    def _run(self, passes: list[_Pass], token_bits: np.ndarray) -> None:
        """Run the passes in batches and write each scored token's bits."""
        import torch

        with thread_limit(), torch.inference_mode():
            for batch in self._batches(passes):
                logits = self._forward(batch)
                for row, job in enumerate(batch):
                    if not len(job.positions):
                        continue
                    predicting = torch.as_tensor(job.positions - 1, device=logits.device)
                    targets = torch.as_tensor(
                        [job.ids[p] for p in job.positions], device=logits.device
                    )
                    log_probs = torch.log_softmax(logits[row, predicting].float(), dim=-1)
                    chosen = log_probs.gather(1, targets[:, None])[:, 0]
                    bits = -chosen.double().cpu().numpy() / _LN2
                    if not np.isfinite(bits).all():
                        self._non_finite(logits[row, predicting])
                    token_bits[job.targets] = bits

    def _non_finite(self, logits: Any) -> None:
        """Raise :class:`NonFiniteFeaturesError` for one pass's inf/NaN logits."""
        from brainalign.encoders.features import NonFiniteFeaturesError, non_finite_message

        values = logits.float().cpu().numpy()
        n_nan = int(np.isnan(values).sum())
        n_inf = int(np.isinf(values).sum())
        what = (
            f"the logits of a pass ({n_nan + n_inf} of {values.size} values: {n_inf} inf, "
            f"{n_nan} NaN), so its surprisal is not finite"
        )
        provenance = {"model": self.model_id, **self._provenance, "dtype": self.dtype}
        raise NonFiniteFeaturesError(non_finite_message(provenance, what, "surprisal"))

    def _batches(self, passes: list[_Pass]) -> Iterator[list[_Pass]]:
        order = sorted(range(len(passes)), key=lambda j: -len(passes[j].ids))
        batches = [
            [passes[j] for j in order[i : i + self.batch_size]]
            for i in range(0, len(order), self.batch_size)
        ]
        yield from progress_bar(batches, self.progress, f"surprisal ({self.model_id})")

    def _forward(self, batch: list[_Pass]) -> Any:
        """Logits of one right-padded batch, shape (batch, width, vocab)."""
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
            use_cache=False,
        )
        return output.logits

    def _save(
        self, store: FeatureStore, key: dict[str, Any], values: np.ndarray, n_groups: int
    ) -> None:
        from brainalign.encoders.features import Features
        from brainalign.encoders.store import EntryExistsError

        provenance = {
            "model": self.model_id,
            **self._provenance,
            "unit": SURPRISAL_UNIT,
            "window": self.window,
            "min_context": self.min_context,
            "stride": self.stride,
            "prefix": list(self.prefix),
            "dtype": self.dtype,
            "device": self.device,
            "n_groups": n_groups,
        }
        features = Features(
            layers={STORE_ARRAY: values[:, None]},
            stimulus_ids=np.arange(len(values)),
            provenance=provenance,
        )
        try:
            store.put(key, features)
        except EntryExistsError:  # another process wrote the same computation first
            pass


def word_surprisal(
    model: str | os.PathLike,
    words: Sequence[str],
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    weights: Literal["pretrained", "untrained"] = "pretrained",
    seed: int = 0,
    window: int | None = None,
    min_context: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 8,
    store: FeatureStore | None = None,
    progress: bool | str = False,
) -> np.ndarray:
    """Surprisal in bits of every word given the preceding words of its group.

    Loads the model (:class:`SurprisalModel`) and calls
    :meth:`SurprisalModel.word_surprisal`; see the module documentation for the
    tokenization, the beginning-of-text token and the sliding windows.

    Parameters
    ----------
    model : str or path-like
        Hub id or directory of a causal LM (``@untrained`` suffix accepted).
    words : sequence of str, length n_words
    groups : array-like, shape (n_words,), optional
        Story of every word; context never crosses stories.
    weights, seed, window, min_context, device, dtype, batch_size, progress
        See :class:`SurprisalModel`.
    store : FeatureStore, optional
        Read from / write to the feature store.

    Returns
    -------
    numpy.ndarray of float64, shape (n_words,)
        Bits (``-log2 p``). NaN for each group's first word only when the model has no
        beginning-of-text token.

    Raises
    ------
    NotCausalModelError
        For a model that is not a causal LM.
    ValueError
        For bad words, groups or settings.
    """
    scorer = SurprisalModel(
        model,
        weights=weights,
        seed=seed,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        window=window,
        min_context=min_context,
        progress=progress,
    )
    return scorer.word_surprisal(words, groups=groups, store=store)


# --------------------------------------------------------------------------- helpers


def _tokenize_words(tokenizer: Any, words: list[str]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Token ids of the words joined by spaces, and each word's first/last token."""
    text, starts, ends = word_char_spans(words)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    owner = assign_tokens_to_words(encoding["offset_mapping"], text, starts, ends)
    first, last = word_token_ranges(owner, words)
    return list(encoding["input_ids"]), first, last


def context_lengths(n_tokens: int, text_length: int, stride: int) -> np.ndarray:
    """Left context (text tokens) each token is predicted from under the window plan.

    Parameters
    ----------
    n_tokens : int
        Text tokens.
    text_length : int
        Text tokens per pass (``window - n_prefix``).
    stride : int
        Text tokens between pass starts (``text_length - min_context``).

    Returns
    -------
    numpy.ndarray of int, shape (n_tokens,)
        ``j`` for ``j < text_length``, else ``min_context + (j - min_context) % stride``.
    """
    j = np.arange(n_tokens)
    min_context = text_length - stride
    return np.where(j < text_length, j, min_context + (j - min_context) % stride)


def _plan_passes(
    n_tokens: int,
    ids: list[int],
    offset: int,
    *,
    prefix: list[int],
    text_length: int,
    stride: int,
) -> list[_Pass]:
    """The passes over one group's tokens (see the module documentation).

    ``offset`` is the index of the group's first token among all groups' tokens.
    """
    passes = []
    k = 0
    scored_until = 0
    while scored_until < n_tokens:
        start = k * stride
        end = min(start + text_length, n_tokens)
        scored = np.arange(scored_until, end)
        positions = len(prefix) + scored - start
        keep = positions >= 1  # position 0 without a prefix: nothing predicts it
        passes.append(
            _Pass(
                ids=list(prefix) + ids[start:end],
                positions=positions[keep],
                targets=scored[keep] + offset,
            )
        )
        scored_until = end
        k += 1
    return passes


def _bos_prefix(tokenizer: Any) -> list[int]:
    """Tokens opening every pass: the tokenizer's own prefix, else its BOS, else none."""
    prefix, _ = special_token_affixes(tokenizer)
    if prefix:
        return list(prefix)
    bos = getattr(tokenizer, "bos_token_id", None)
    return [] if bos is None else [int(bos)]


def _check_window(
    window: int | None, min_context: int | None, limit: int | None, n_prefix: int, model: str
) -> tuple[int, int]:
    """Resolve and check ``window`` and ``min_context`` (see :class:`SurprisalModel`)."""
    if window is None:
        if limit is None:
            raise ValueError(
                f"model {model!r} does not state its maximum input length; pass window= "
                "(positions per forward pass)"
            )
        window = limit
    if isinstance(window, bool) or not isinstance(window, int) or window < n_prefix + 2:
        raise ValueError(
            f"window={window!r}; it must be an integer of at least {n_prefix + 2} (the "
            f"{n_prefix} prefix token(s) plus two text tokens)"
        )
    if limit is not None and window > limit:
        raise ValueError(
            f"window={window} exceeds the {limit} positions model {model!r} accepts; use "
            f"window <= {limit}"
        )
    text_length = window - n_prefix
    if min_context is None:
        min_context = max(1, text_length // 2)
    if (
        isinstance(min_context, bool)
        or not isinstance(min_context, int)
        or not 1 <= min_context < text_length
    ):
        raise ValueError(
            f"min_context={min_context!r}; it must be between 1 and {text_length - 1} (window "
            f"{window} minus {n_prefix} prefix token(s), minus at least one new token per pass)"
        )
    return window, min_context
