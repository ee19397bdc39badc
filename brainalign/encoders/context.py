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
:func:`tokenize_texts`
    Tokenize texts alone, or framed by a task :class:`Instruction`: the tokens read before
    and after each text (special tokens, instruction, chat template) come back apart
    from the text's own tokens, whose character offsets still point into the text.

Instructions
------------
An :class:`Instruction` puts a task instruction before every window and passage, in one
of two formats (:data:`INSTRUCTION_FORMATS`):

``"plain"``
    The model reads ``instruction + "\n" + text`` (:data:`INSTRUCTION_SEPARATOR`), with
    the tokenizer's own special tokens around it (``[BOS]``, or ``[CLS] ... [SEP]``).
``"chat"``
    The tokenizer's chat template renders one user turn whose content is
    ``instruction + "\n" + text`` (``apply_chat_template`` with
    ``add_generation_prompt=False``, no system message, so templates without a system
    role work too); the rendered string is tokenized without the tokenizer's special
    tokens, since the template writes its own (BOS included), as ``apply_chat_template``
    itself tokenizes.

Either way the whole framed string is tokenized once with character offsets, so the
tokens are exactly those of the string the model would read; the text's tokens are
those overlapping its span. A token holding characters of both the instruction (or the
template) and the text is an error. Tokens before the text form the window's prefix;
tokens after it (the chat template's end of turn) are read by bidirectional models only,
since a causal state never depends on later tokens.

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

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from brainalign.encoders.pooling import assign_tokens_to_words, word_char_spans, word_token_ranges

__all__ = [
    "INSTRUCTION_FORMATS",
    "INSTRUCTION_SEPARATOR",
    "Instruction",
    "Job",
    "TokenizedText",
    "causal_window_jobs",
    "clean_sentences",
    "group_rows",
    "preceding_jobs",
    "tokenize_passages",
    "tokenize_texts",
]

#: Formats of an :class:`Instruction`.
INSTRUCTION_FORMATS: tuple[str, ...] = ("plain", "chat")
#: What separates an instruction from the text after it (both formats).
INSTRUCTION_SEPARATOR = "\n"


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


@dataclass(frozen=True)
class Instruction:
    """A task instruction read before every window and passage.

    Attributes
    ----------
    text : str
        The instruction, surrounding whitespace stripped.
    format : {"plain", "chat"}
        See the module docstring.
    template : str or None
        The chat template used (``"chat"`` only).
    """

    text: str
    format: Literal["plain", "chat"] = "plain"
    template: str | None = None

    @classmethod
    def build(cls, tokenizer: Any, text: Any, format: str, model: str) -> Instruction:
        """Check an instruction against a tokenizer and build it.

        Parameters
        ----------
        tokenizer : transformers fast tokenizer
        text : str
            The instruction; may not be empty.
        format : {"plain", "chat"}
        model : str
            For error messages.

        Raises
        ------
        ValueError
            For an empty or non-string instruction or an unknown format.
        ModelLoadError
            For ``"chat"`` when the tokenizer has no chat template.
        """
        from brainalign.encoders.models import ModelLoadError

        if format not in INSTRUCTION_FORMATS:
            raise ValueError(
                f"instruction_format={format!r}; use one of {list(INSTRUCTION_FORMATS)}"
            )
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"instruction={text!r}; give the instruction as a non-empty string, or "
                "instruction=None for none"
            )
        if format == "plain":
            return cls(text.strip(), "plain")
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default")
        if not isinstance(template, str) or not template:
            raise ModelLoadError(
                f"instruction_format='chat' needs a chat template, and the tokenizer of "
                f"model {model!r} has none; use instruction_format='plain' (the instruction "
                "as a text prefix) or a chat model"
            )
        return cls(text.strip(), "chat", template)

    def describe(self) -> dict[str, Any]:
        """What the features depend on, for store keys and provenance.

        Returns
        -------
        dict
            ``text``, ``format``, ``separator`` and, for ``"chat"``, ``template_sha256``
            (sha256 of the template string) and ``add_generation_prompt`` (False).
        """
        out: dict[str, Any] = {
            "text": self.text,
            "format": self.format,
            "separator": INSTRUCTION_SEPARATOR,
        }
        if self.template is not None:
            out["template_sha256"] = hashlib.sha256(self.template.encode("utf-8")).hexdigest()
            out["add_generation_prompt"] = False
        return out

    def render(self, tokenizer: Any, text: str) -> tuple[str, int]:
        """The string the model reads for ``text``, and where ``text`` starts in it.

        Raises
        ------
        ValueError
            If the chat template does not copy the message into its output unchanged.
        """
        content = self.text + INSTRUCTION_SEPARATOR + text
        lead = len(self.text) + len(INSTRUCTION_SEPARATOR)
        if self.format == "plain":
            return content, lead
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}],
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=False,
        )
        at = rendered.find(content) if isinstance(rendered, str) else -1
        if at < 0:
            raise ValueError(
                "the chat template does not copy the user message into its output "
                f"unchanged (message {json.dumps(content[:60])}...), so the text's tokens "
                "cannot be found; use instruction_format='plain'"
            )
        return rendered, at + lead


@dataclass
class TokenizedText:
    """One text's tokens and what a window reads around them.

    Attributes
    ----------
    ids : list of int, length n_tokens
        The text's own tokens.
    offsets : list of (int, int), length n_tokens
        Character offsets of each token into the text (clipped to it).
    prefix, suffix : list of int
        Tokens read before and after the text in every window: special tokens, and the
        instruction and chat template where there is one.
    n_special : int
        Leading tokens of ``prefix`` that are special tokens (BOS, ``[CLS]``, chat
        template markers); the instruction's tokens start after them.
    """

    ids: list[int]
    offsets: list[tuple[int, int]]
    prefix: list[int]
    suffix: list[int]
    n_special: int = 0


def tokenize_texts(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    prefix: Sequence[int],
    suffix: Sequence[int],
    instruction: Instruction | None = None,
    read_after: bool = True,
) -> list[TokenizedText]:
    """Tokenize texts (in one batch), alone or framed by an instruction.

    Parameters
    ----------
    tokenizer : transformers fast tokenizer
    texts : sequence of str, length n_texts
    prefix, suffix : sequence of int
        The tokenizer's special tokens around a sequence, as the windows use them (the
        encoder's: causal windows have no suffix). Not used with a ``"chat"``
        instruction, whose template writes its own.
    instruction : Instruction, optional
        Read before every text (see the module docstring).
    read_after : bool
        Whether the chat template's tokens after the text are read (bidirectional
        models); a causal model's states never depend on them.

    Returns
    -------
    list of TokenizedText
        Without an instruction, each text's tokens alone with ``prefix``/``suffix``
        unchanged: exactly what the encoder reads without one.

    Raises
    ------
    ValueError
        If a token holds characters of the instruction (or template) and of the text,
        or a text yields no token.
    """
    if instruction is None:
        rendered, spans = list(texts), [(0, len(text)) for text in texts]
    else:
        framed = [instruction.render(tokenizer, text) for text in texts]
        rendered = [string for string, _ in framed]
        spans = [(at, at + len(text)) for (_, at), text in zip(framed, texts, strict=True)]
    encodings = tokenizer(
        rendered, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    special = set(tokenizer.all_special_ids)
    out = []
    for index, (string, (start, end)) in enumerate(zip(rendered, spans, strict=True)):
        ids = list(encodings["input_ids"][index])
        offsets = [tuple(pair) for pair in encodings["offset_mapping"][index]]
        if instruction is None:
            out.append(TokenizedText(ids, offsets, list(prefix), list(suffix), len(prefix)))
            continue
        a, b = _text_tokens(offsets, string, start, end, index)
        chat = instruction.format == "chat"
        before = ([] if chat else list(prefix)) + ids[:a]
        after = (ids[b:] if read_after else []) if chat else list(suffix)
        n_special = next((i for i, token in enumerate(before) if token not in special), len(before))
        text_offsets = [
            (min(max(s - start, 0), end - start), min(max(e - start, 0), end - start))
            for s, e in offsets[a:b]
        ]
        out.append(TokenizedText(ids[a:b], text_offsets, before, after, n_special))
    return out


def _text_tokens(
    offsets: list[tuple[int, int]], string: str, start: int, end: int, index: int
) -> tuple[int, int]:
    """The tokens ``a .. b - 1`` of the text ``string[start:end]`` inside a framed string."""
    inside = [t for t, (s, e) in enumerate(offsets) if e > start and s < end]
    if not inside:
        raise ValueError(f"text {index} yields no token after the instruction")
    a, b = inside[0], inside[-1] + 1
    lead, tail = offsets[a][0], offsets[b - 1][1]
    if string[lead:start].strip() or string[end:tail].strip():
        token = string[lead:start] if string[lead:start].strip() else string[end:tail]
        raise ValueError(
            f"text {index}: a token ({string[min(lead, start) : max(tail, end)][:40]!r}) "
            f"holds characters of both the instruction (or chat template) and the text "
            f"({token!r}); the text's features would mix them. Start the text with a "
            "word the tokenizer splits from what comes before it"
        )
    return a, b


def tokenize_passages(
    tokenizer: Any,
    passages: list[list[str]],
    *,
    prefix: Sequence[int] = (),
    suffix: Sequence[int] = (),
    instruction: Instruction | None = None,
    read_after: bool = True,
) -> list[tuple[TokenizedText, np.ndarray, np.ndarray]]:
    """Tokenize each passage once and find every sentence's tokens.

    Parameters
    ----------
    tokenizer : transformers fast tokenizer
    passages : list of list of str
        The (cleaned) sentences of each passage, in reading order.
    prefix, suffix, instruction, read_after
        As for :func:`tokenize_texts`.

    Returns
    -------
    list of (tokens, first, last)
        Per passage: :class:`TokenizedText` of ``" ".join(sentences)`` (its ``ids``
        without special tokens or instruction), and the first and last token (inclusive)
        of each sentence in ``ids``, arrays of shape (n_sentences,).

    Raises
    ------
    ValueError
        If a token spans two sentences (or the instruction and a sentence) or a sentence
        yields no token.
    """
    spans = [word_char_spans(sentences) for sentences in passages]
    tokenized = tokenize_texts(
        tokenizer,
        [text for text, _, _ in spans],
        prefix=prefix,
        suffix=suffix,
        instruction=instruction,
        read_after=read_after,
    )
    out = []
    for index, (sentences, (text, starts, ends), tokens) in enumerate(
        zip(passages, spans, tokenized, strict=True)
    ):
        try:
            owner = assign_tokens_to_words(tokens.offsets, text, starts, ends, item="sentence")
            first, last = word_token_ranges(owner, sentences, item="sentence")
        except ValueError as error:
            raise ValueError(f"passage {index} (sentences counted within it): {error}") from error
        out.append((tokens, first, last))
    return out
