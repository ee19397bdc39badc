"""Forward-pass plans ("jobs") for the text encoder: which tokens each pass reads, and
which items (words or sentences) are read from it.

Everything here is plain numpy on token ids; :class:`~brainalign.encoders.text.TextEncoder`
runs the jobs. Three plans exist:

:func:`causal_window_jobs`
    Causal models: one pass per window of a tokenized text (the whole text when it fits
    ``max_length``), each item read from the earliest window holding its last token.
    Serves words of a story (``encode_words``) and sentences of a passage
    (``extract(context="passage")``) alike.
:func:`preceding_jobs`
    One pass per item, holding the item and at most ``n_context - 1`` items before it
    (whole items dropped from the left to fit), wrapped in the tokenizer's special tokens.
    Bidirectional models use it for words (``n_context = context_words``) and for
    passages (``n_context`` = the whole passage: sentence ``k`` sees sentences ``1..k``).
    Isolated sentences are one-sentence passages, for both kinds of model.
:func:`tokenize_passages`
    Tokenize each passage once (its sentences joined by single spaces) and give every
    token to a sentence by character offsets.

Sentences in one text
---------------------
A passage is read as ``" ".join(sentences)`` (each sentence stripped of surrounding
whitespace), tokenized once with character offsets. A token is given to the sentence
holding its last non-space character; a token covering only whitespace goes to the
sentence after it; a token holding characters of two sentences is an error (its state
would mix them). With the whitespace-splitting pre-tokenizers of byte-level BPE (GPT-2,
LLaMA 3, Qwen), SentencePiece/Metaspace (LLaMA 2, Mistral) and WordPiece (BERT), a
token never crosses a space, so this cannot happen.

Tokenizing the whole passage once gives, for sentences ``1..k``, the same tokens as
tokenizing the prefix ``"s1 ... sk"`` on its own whenever the pre-tokenizer splits at
the space after ``sk``: then the prefix's pre-tokens are exactly the passage's first
pre-tokens. A tokenizer that merges across a space (none of the above) could tokenize
the end of a prefix differently; the test suite checks the equality with per-prefix
re-encoding for byte-level BPE with and without a BOS token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainalign.encoders.pooling import assign_tokens_to_words, word_char_spans, word_token_ranges

__all__ = [
    "Job",
    "causal_window_jobs",
    "clean_sentences",
    "group_rows",
    "preceding_jobs",
    "tokenize_passages",
]


@dataclass
class Job:
    """One forward pass: token ids, and the items read from it.

    Attributes
    ----------
    ids : list of int, length n_positions
        Token ids, special tokens included.
    items : numpy.ndarray of int, shape (n_read,)
        Row (item index in the output) of each item read from this pass.
    first, last : numpy.ndarray of int, shape (n_read,)
        Inclusive positions of each item's tokens in ``ids``.
    """

    ids: list[int]
    items: np.ndarray
    first: np.ndarray
    last: np.ndarray


def causal_window_jobs(
    ids: list[int],
    first: np.ndarray,
    last: np.ndarray,
    names: Sequence[str],
    *,
    text_length: int,
    stride: int,
    prefix: list[int],
    pooling: str,
    max_length: int,
    item: str = "word",
) -> list[Job]:
    """One job per window; each item goes to the earliest window holding its last token.

    Windows of ``text_length`` text tokens start every ``stride`` tokens, each opened by
    ``prefix`` (BOS), and are cut after the last token they serve (a causal state never
    depends on later tokens). A text that fits is a single job.

    Parameters
    ----------
    ids : list of int, length n_tokens
        The text's token ids, without special tokens.
    first, last : numpy.ndarray of int, shape (n_items,)
        Each item's first and last token (inclusive) in ``ids``.
    names : sequence of str, length n_items
        The items, for error messages.
    text_length : int
        Text tokens per window (``max_length - len(prefix)``).
    stride : int
        Tokens between window starts.
    prefix : list of int
        Leading special tokens of every window.
    pooling : {"last", "mean", "first"}
        With ``"mean"`` or ``"first"`` every item's first token must lie in its window.
    max_length : int
        For error messages.
    item : str
        What the items are, for error messages.

    Returns
    -------
    list of Job
        ``items`` are indices into ``first``/``last``.

    Raises
    ------
    ValueError
        If ``pooling`` needs tokens that fall before the start of the item's window.
    """
    window = np.where(last < text_length, 0, -((text_length - 1 - last) // stride))  # ceil
    starts = window * stride
    if pooling != "last":
        cut = np.flatnonzero(first < starts)
        if cut.size:
            index = int(cut[0])
            raise ValueError(
                f"{item} {index} ({names[index]!r}) has {last[index] - first[index] + 1} "
                f"tokens, too many for pooling={pooling!r} inside one window of max_length "
                f"{max_length} with stride {stride}; use a smaller stride, a larger "
                "max_length or pooling='last'"
            )
    jobs = []
    for k in np.unique(window):
        members = np.flatnonzero(window == k)
        start = int(k) * stride
        end = int(last[members[-1]]) + 1
        offset = len(prefix) - start
        jobs.append(
            Job(
                ids=prefix + ids[start:end],
                items=members,
                first=first[members] + offset,
                last=last[members] + offset,
            )
        )
    return jobs


def preceding_jobs(
    ids: list[int],
    first: np.ndarray,
    last: np.ndarray,
    names: Sequence[str],
    *,
    n_context: int,
    text_length: int,
    prefix: list[int],
    suffix: list[int],
    max_length: int,
    item: str = "word",
) -> list[Job]:
    """One job per item: items ``i - n_context + 1 .. i``, whole items dropped from the left.

    Parameters
    ----------
    ids : list of int, length n_tokens
        The text's token ids, without special tokens.
    first, last : numpy.ndarray of int, shape (n_items,)
        Each item's first and last token (inclusive) in ``ids``.
    names : sequence of str, length n_items
        The items, for error messages.
    n_context : int
        Items per window at most (the item itself and ``n_context - 1`` before it).
    text_length : int
        Text tokens per window (``max_length`` minus the special tokens).
    prefix, suffix : list of int
        Special tokens around every window (``[CLS]``/``[SEP]``).
    max_length : int
        For error messages.
    item : str
        What the items are, for error messages.

    Returns
    -------
    list of Job
        One per item, in order; ``items`` are indices into ``first``/``last``.

    Raises
    ------
    ValueError
        If an item alone has more tokens than fit in a window.
    """
    too_long = np.flatnonzero(last - first + 1 > text_length)
    if too_long.size:
        index = int(too_long[0])
        raise ValueError(
            f"{item} {index} ({names[index]!r}) has {last[index] - first[index] + 1} tokens, "
            f"more than fit in a window of max_length {max_length}; use a larger "
            f"max_length or a shorter {item}"
        )
    jobs = []
    for i in range(len(first)):
        start_item = max(0, i - n_context + 1)
        # drop whole items from the left until the window fits
        start_item = max(
            start_item, int(np.searchsorted(first, last[i] - text_length + 1, side="left"))
        )
        start = int(first[start_item])
        offset = len(prefix) - start
        jobs.append(
            Job(
                ids=prefix + ids[start : int(last[i]) + 1] + suffix,
                items=np.array([i]),
                first=first[i : i + 1] + offset,
                last=last[i : i + 1] + offset,
            )
        )
    return jobs


def clean_sentences(texts: Sequence[str]) -> list[str]:
    """Check sentence texts and strip whitespace around each.

    Parameters
    ----------
    texts : sequence of str, length n_sentences

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        For one string instead of a sequence, an empty sequence, a non-string or an
        empty (whitespace-only) sentence.
    """
    if isinstance(texts, str):
        raise ValueError(
            "stimuli must be a sequence of sentences (or a Stimuli table), not one string"
        )
    cleaned = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"sentence {index} is {text!r} ({type(text).__name__}); sentences must be str"
            )
        stripped = text.strip()
        if not stripped:
            raise ValueError(f"sentence {index} is empty ({text!r}); drop empty rows first")
        cleaned.append(stripped)
    if not cleaned:
        raise ValueError("no sentences to encode; pass a non-empty list of sentences")
    return cleaned


def group_rows(groups: Sequence[Any] | np.ndarray | None, n_items: int) -> list[np.ndarray]:
    """Rows of each group, groups in order of first appearance, rows in input order.

    Parameters
    ----------
    groups : array-like, shape (n_items,), optional
        Passage (story) label of every item; ``None`` puts all items in one group.
    n_items : int

    Returns
    -------
    list of numpy.ndarray of int
        The row indices of each group.

    Raises
    ------
    ValueError
        If ``groups`` does not have one label per item.
    """
    if groups is None:
        return [np.arange(n_items)]
    if isinstance(groups, str):
        raise ValueError("groups must hold one label per item, not one string")
    labels = np.asarray(groups, dtype=object)
    if labels.ndim != 1 or len(labels) != n_items:
        raise ValueError(
            f"groups has shape {labels.shape}; expected ({n_items},), one label per item"
        )
    rows: dict[Any, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        rows.setdefault(label, []).append(row)
    return [np.asarray(members, dtype=np.int64) for members in rows.values()]


def tokenize_passages(
    tokenizer: Any, passages: list[list[str]]
) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """Tokenize each passage once and find every sentence's tokens.

    Parameters
    ----------
    tokenizer : transformers fast tokenizer
    passages : list of list of str
        The (cleaned) sentences of each passage, in reading order.

    Returns
    -------
    list of (ids, first, last)
        Per passage: token ids of ``" ".join(sentences)`` without special tokens, and the
        first and last token (inclusive) of each sentence, arrays of shape
        (n_sentences,).

    Raises
    ------
    ValueError
        If a token spans two sentences or a sentence yields no token.
    """
    spans = [word_char_spans(sentences) for sentences in passages]
    encodings = tokenizer(
        [text for text, _, _ in spans],
        add_special_tokens=False,
        return_offsets_mapping=True,
        verbose=False,
    )
    out = []
    for index, (sentences, (text, starts, ends)) in enumerate(zip(passages, spans, strict=True)):
        try:
            owner = assign_tokens_to_words(
                encodings["offset_mapping"][index], text, starts, ends, item="sentence"
            )
            first, last = word_token_ranges(owner, sentences, item="sentence")
        except ValueError as error:
            raise ValueError(f"passage {index} (sentences counted within it): {error}") from error
        out.append((list(encodings["input_ids"][index]), first, last))
    return out
