"""Items <-> tokens: character spans, token-to-item assignment and pooling.

The text is ``" ".join(items)`` (items are words, or whole sentences of a passage); it
is tokenized once and each token is given to an item by its character offsets (never by
matching strings), so the mapping holds for any fast tokenizer: WordPiece (``##``
pieces), byte-level BPE (a leading space inside the token's offsets) and SentencePiece
(``▁``).

Pooling an item's tokens (:data:`POOLINGS`): ``"last"`` (its last token, the only one
whose causal state has seen the whole item), ``"mean"`` (the mean over its tokens, a
leading whitespace-only token included) or ``"first"`` (the first subword of a word:
its first token holding a non-space character, see :func:`first_content_tokens`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

Pooling = Literal["last", "mean", "first"]

#: Every pooling :func:`pool_hidden` accepts.
POOLINGS: tuple[str, ...] = ("last", "mean", "first")


def clean_words(words: Sequence[str]) -> list[str]:
    """Check a word list and strip whitespace around each word.

    Raises
    ------
    ValueError
        If the list is empty, a word is not a string, is empty (or only whitespace), or
        has whitespace inside it.
    """
    if isinstance(words, str):
        raise ValueError("words must be a sequence of words, not one string; split it first")
    cleaned = []
    for index, word in enumerate(words):
        if not isinstance(word, str):
            raise ValueError(f"word {index} is {word!r} ({type(word).__name__}); words must be str")
        stripped = word.strip()
        if not stripped:
            raise ValueError(
                f"word {index} is empty ({word!r}); drop empty items (e.g. TextGrid silences) "
                "before encoding"
            )
        if any(char.isspace() for char in stripped):
            raise ValueError(
                f"word {index} ({word!r}) contains whitespace; pass single words (split on "
                "whitespace first)"
            )
        cleaned.append(stripped)
    if not cleaned:
        raise ValueError("no words to encode; pass a non-empty list of words")
    return cleaned


def word_char_spans(
    words: Sequence[str], space_before: Sequence[bool] | None = None
) -> tuple[str, np.ndarray, np.ndarray]:
    """Join words into one text and give each word's character span.

    Parameters
    ----------
    words : sequence of str, length n_words
    space_before : sequence of bool, length n_words, optional
        Whether a space separates word ``i`` from word ``i - 1`` (ignored for the first
        word). Default: always, ``" ".join(words)``. ``False`` attaches a clitic to the
        word before it, so ``["I", "'ll"]`` reads ``"I'll"`` as in running text.

    Returns
    -------
    text : str
    starts, ends : numpy.ndarray of int, shape (n_words,)
        Word ``i`` is ``text[starts[i]:ends[i]]``.
    """
    if space_before is None:
        separators = np.ones(len(words), dtype=np.int64)
    else:
        if len(space_before) != len(words):
            raise ValueError(
                f"space_before has {len(space_before)} entries but there are {len(words)} words"
            )
        separators = np.asarray(space_before, dtype=bool).astype(np.int64)
    separators[:1] = 0
    lengths = np.array([len(word) for word in words], dtype=np.int64)
    starts = np.cumsum(separators) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    text = "".join(" " * int(gap) + word for gap, word in zip(separators, words, strict=True))
    return text, starts.astype(np.int64), (starts + lengths).astype(np.int64)


def assign_tokens_to_words(
    offsets: Sequence[tuple[int, int]],
    text: str,
    starts: np.ndarray,
    ends: np.ndarray,
    item: str = "word",
) -> np.ndarray:
    """Which word each token belongs to, from the tokens' character offsets.

    A token belongs to the word holding its last non-space character. A token covering
    only whitespace (a lone ``Ġ`` or ``▁``) belongs to the next word, since such a token
    marks the start of the word after it. A token holding characters of two words (as
    ``"didn"`` in ``"didn't"`` split as ``did`` + ``n't``) is an error: pooling it would
    let a word see part of the next one.

    Parameters
    ----------
    offsets : sequence of (start, end), length n_tokens
        Character offsets into ``text`` from the fast tokenizer.
    text : str
    starts, ends : numpy.ndarray, shape (n_words,)
        From :func:`word_char_spans`.
    item : str
        What the spans are (``"word"``, ``"sentence"``), for error messages.

    Returns
    -------
    numpy.ndarray of int, shape (n_tokens,)
        Word index per token, non-decreasing.
    """
    char_word = np.full(len(text) + 1, -1, dtype=np.int64)
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        char_word[start:end] = index
    # next_word[c]: the first word starting at or after character c
    next_word = np.searchsorted(starts, np.arange(len(text) + 1), side="left")
    token_words = np.empty(len(offsets), dtype=np.int64)
    for token, (start, end) in enumerate(offsets):
        first_owner = char_word[start] if start < len(text) else -1
        last_owner = char_word[max(start, min(end, len(text)) - 1)]
        if 0 <= first_owner < last_owner:
            advice = (
                "Put a space before the second word (space_before=True)"
                if item == "word"
                else f"this tokenizer does not split at spaces between {item}s"
            )
            raise ValueError(
                f"a token ({text[start:end]!r}) spans {item}s {first_owner} "
                f"({text[starts[first_owner] : ends[first_owner]]!r}) and {last_owner}; its "
                f"state would mix them (and show the earlier {item} part of the next one). "
                + advice
            )
        owner = -1
        for char in range(min(end, len(text)) - 1, start - 1, -1):
            if char_word[char] >= 0:
                owner = char_word[char]
                break
        if owner < 0:
            owner = min(int(next_word[min(start, len(text))]), len(starts) - 1)
        token_words[token] = owner
    if np.any(np.diff(token_words) < 0):
        raise RuntimeError(
            "the tokenizer's offsets are out of order; cannot map tokens to words "
            "(please report this with the model name)"
        )
    return token_words


def word_token_ranges(
    token_words: np.ndarray, words: Sequence[str], item: str = "word"
) -> tuple[np.ndarray, np.ndarray]:
    """First and last token (inclusive) of every word (or other item).

    Parameters
    ----------
    token_words : numpy.ndarray of int, shape (n_tokens,)
        From :func:`assign_tokens_to_words`.
    words : sequence of str, length n_words
    item : str
        What the items are, for error messages.

    Returns
    -------
    first, last : numpy.ndarray of int, shape (n_words,)

    Raises
    ------
    ValueError
        If an item got no token (e.g. only characters the tokenizer drops).
    """
    n_words = len(words)
    counts = np.bincount(token_words, minlength=n_words)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        index = int(empty[0])
        raise ValueError(
            f"{item} {index} ({words[index]!r}) yields no token with this tokenizer "
            f"({empty.size} such word(s)); remove or replace it before encoding"
        )
    last = np.cumsum(counts) - 1
    return last - counts + 1, last


def first_content_tokens(
    offsets: Sequence[tuple[int, int]], text: str, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """Each item's first token holding a non-space character (its first subword).

    An item's tokens may open with a whitespace-only token (a lone ``Ġ`` or ``▁`` that
    the tokenizer could not merge with the next character); its state has seen nothing
    of the item, so ``pooling="first"`` reads the token after it.

    Parameters
    ----------
    offsets : sequence of (start, end), length n_tokens
    text : str
    first, last : numpy.ndarray of int, shape (n_items,)
        From :func:`word_token_ranges`.

    Returns
    -------
    numpy.ndarray of int, shape (n_items,)
    """
    out = np.array(first, dtype=np.int64, copy=True)
    for index, stop in enumerate(last):
        token = int(out[index])
        while token < stop and not text[offsets[token][0] : offsets[token][1]].strip():
            token += 1
        out[index] = token
    return out


def pool_hidden(
    hidden: Any, rows: np.ndarray, first: np.ndarray, last: np.ndarray, pooling: Pooling
) -> Any:
    """Pool one layer's hidden states over each item's tokens.

    Parameters
    ----------
    hidden : torch.Tensor, shape (batch, n_positions, n_dims)
    rows, first, last : numpy.ndarray of int, shape (n_items,)
        Batch row and first/last (inclusive) position of each item's tokens.
    pooling : {"last", "mean", "first"}
        The last token's state, the mean over the item's tokens, or the first token's.

    Returns
    -------
    torch.Tensor, float32, shape (n_items, n_dims)
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r}; use one of {list(POOLINGS)}")
    if pooling != "mean" or np.all(first == last):  # one token per item: gather, then cast
        positions = first if pooling == "first" else last
        return hidden[torch.as_tensor(rows), torch.as_tensor(positions)].float()
    out = hidden.new_empty((len(rows), hidden.shape[-1]), dtype=torch.float32)
    positions = np.arange(hidden.shape[1])
    for row in np.unique(rows):
        items = np.flatnonzero(rows == row)
        mask = (positions >= first[items, None]) & (positions <= last[items, None])
        weights = torch.as_tensor(
            mask / mask.sum(axis=1, keepdims=True), dtype=torch.float32, device=hidden.device
        )
        out[torch.as_tensor(items)] = weights @ hidden[int(row)].float()
    return out
