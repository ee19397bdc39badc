"""Per-head attention properties of a text model, measured on repeated random tokens.

:func:`head_properties` reads ``n_sequences`` sequences of random tokens, each a block
of ``R = sequence_length`` tokens read twice, and scores every attention head of every
block from its attention probabilities. The scores describe the model alone (no brain
data), so they can be joined onto per-head alignment rows by ``(layer, head)``.

The sequences
-------------
Each sequence is ``prefix + x_1 .. x_R + x_1 .. x_R`` (``2 R`` random tokens after the
prefix), the repeated-random-token test of Olsson et al. (2022):

- ``x_1 .. x_R`` are drawn with ``numpy.random.default_rng(seed)``, sequence after
  sequence, each block without replacement (so every token of a block occurs once in
  each repeat and "its previous occurrence" is unique), uniformly from the token ids
  ``0 .. V - 1`` (``V``: the smaller of the tokenizer's length and the model's
  ``vocab_size``) that are neither special nor added tokens of the tokenizer;
- the prefix is one token: the tokenizer's ``bos_token`` when it has one (GPT-2's
  ``<|endoftext|>``, LLaMA's and RoBERTa's ``<s>``), failing that its ``cls_token``
  (BERT's ``[CLS]``), failing that nothing (``p = 0``). No token is appended.

Positions are 0-based over the whole sequence of ``n = p + 2 R`` tokens, prefix
included; ``a[q, k]`` is a head's attention probability from query ``q`` to key ``k``.

The scores
----------
Every score is a mean over the ``n_sequences`` sequences and over queries:

- ``induction_score``: the mean of ``a[q, q - R + 1]`` over the ``R`` queries of the
  second repeat, ``q = p + R .. p + 2 R - 1``. The query's token occurred ``R``
  positions earlier; ``q - R + 1`` is the token that followed it there, the one an
  induction head attends to (Olsson et al. 2022). 1 for a perfect induction head.
- ``previous_token_score``: the mean of ``a[q, q - 1]`` over the queries
  ``q = 1 .. n - 1`` (every query but the first, which has no previous token).
- ``first_token_score``: the mean of ``a[q, 0]`` (the prefix, or ``x_1`` without one)
  over ``q = 1 .. n - 1`` (a causal model's first query can attend only to itself).
- ``attention_entropy``: the mean of ``-sum_k a[q, k] log a[q, k]`` in nats over
  ``q = 1 .. n - 1``.
- ``attention_distance``: the mean of ``sum_k a[q, k] |q - k|`` in tokens over
  ``q = 1 .. n - 1``.

The last four come from :func:`~brainalign.encoders.heads.attention_summaries` (the
one definition of each per-query measure), averaged here. For bidirectional models
(BERT, RoBERTa) attention runs over all ``n`` positions, later ones included, and every
score is computed the same way: an induction score still measures attention from the
second repeat to the token after the query's earlier occurrence.

Uniform attention gives known baselines: a causal query ``q`` spreads ``1 / (q + 1)``
over its keys, a bidirectional one ``1 / n``, so the induction score of uniform causal
attention is ``mean_q 1 / (q + 1)`` over the second repeat's queries.

Layers follow the project's convention for per-head results: the heads of block ``i``
(0-based) are reported at ``layer = i + 1``, the hidden state the block writes.

Reference
---------
Olsson, C., Elhage, N., Nanda, N., et al. (2022). In-context learning and induction
heads. Transformer Circuits Thread. https://transformer-circuits.pub/2022/
in-context-learning-and-induction-heads/
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainalign.encoders.common import check_batch_size, progress_bar, thread_limit
from brainalign.encoders.heads import attention_summaries
from brainalign.encoders.sinks import Sink, collect, load_stored

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from brainalign.encoders.features import Features
    from brainalign.encoders.loading import LoadedModel
    from brainalign.encoders.store import FeatureStore

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_N_SEQUENCES",
    "DEFAULT_SEQUENCE_LENGTH",
    "HEAD_PROPERTIES_VERSION",
    "HEAD_PROPERTY_COLUMNS",
    "HEAD_PROPERTY_MEASURES",
    "head_properties",
    "head_property_scores",
    "induction_scores",
    "previous_token_scores",
    "repeated_random_tokens",
]

#: The score columns of :func:`head_properties`, in the order they are stored.
HEAD_PROPERTY_MEASURES: tuple[str, ...] = (
    "induction_score",
    "previous_token_score",
    "first_token_score",
    "attention_entropy",
    "attention_distance",
)
#: All columns of :func:`head_properties`' table.
HEAD_PROPERTY_COLUMNS: tuple[str, ...] = ("layer", "head", *HEAD_PROPERTY_MEASURES)
#: Version of the definitions (module docstring); part of every store key.
HEAD_PROPERTIES_VERSION = "brainalign.head-properties/1"
#: Sequences averaged over: 20 x 50 second-repeat queries per induction score, 20 x 100
#: queries per other score (a GPT-2-small-sized model takes ~4 s on 2 CPU cores).
DEFAULT_N_SEQUENCES = 20
#: Random tokens per repeat, ``R``: 2 x 50 random tokens after BOS, as the
#: TransformerLens induction-head tutorials read.
DEFAULT_SEQUENCE_LENGTH = 50
#: Sequences per forward pass.
DEFAULT_BATCH_SIZE = 10

# attention_summaries' measures behind the columns averaged over queries 1 .. n - 1
_SUMMARY_COLUMNS = {
    "previous_token": "previous_token_score",
    "first_token": "first_token_score",
    "entropy": "attention_entropy",
    "distance": "attention_distance",
}
_ARRAY = "head_properties"  # the stored array, (n_blocks, n_heads, n_measures)

#: Tables already computed in this process, keyed by the call's settings and the model's
#: weight hashes: every benchmark of a run with heads joins the same heads' properties,
#: and would otherwise load the model again to find them (even in the store).
_MEMO: dict[tuple, pd.DataFrame] = {}
_MEMO_LOCK = threading.Lock()


# ------------------------------------------------------------------ pure functions


def _probabilities(attentions: Any, what: str) -> torch.Tensor:
    """``attentions`` as a float32 torch tensor ``(batch, n_heads, seq, seq)``, checked."""
    import torch

    probs = torch.as_tensor(attentions).detach()
    if probs.ndim != 4 or probs.shape[-1] != probs.shape[-2] or probs.shape[0] == 0:
        raise ValueError(
            f"{what}: attentions has shape {tuple(probs.shape)}; expected self-attention "
            "probabilities (batch, n_heads, seq, seq) of one layer with batch >= 1"
        )
    return probs.float()


def induction_scores(attentions: Any, repeat_length: int, offset: int = 0) -> np.ndarray:
    """Induction score of each head (Olsson et al. 2022) on repeated random tokens.

    Parameters
    ----------
    attentions : array-like, shape (batch, n_heads, seq, seq)
        One layer's attention probabilities (numpy or torch), query by key, on
        sequences whose tokens ``offset .. offset + R - 1`` are repeated at
        ``offset + R .. offset + 2 R - 1``.
    repeat_length : int
        ``R``, tokens per repeat (at least 2).
    offset : int
        Tokens before the first repeat (1 for a BOS token, else 0).

    Returns
    -------
    numpy.ndarray, shape (n_heads,)
        float64: the mean over sequences and over the ``R`` queries
        ``q = offset + R .. offset + 2 R - 1`` of ``a[q, q - R + 1]``, the attention from
        each token of the second repeat to the token after its first occurrence.

    Raises
    ------
    ValueError
        For a shape other than (batch, n_heads, seq, seq), ``repeat_length < 2``,
        ``offset < 0`` or ``seq < offset + 2 R``.
    """
    import torch

    probs = _probabilities(attentions, "induction_scores")
    _check_repeats(repeat_length, offset, probs.shape[-1])
    queries = torch.arange(offset + repeat_length, offset + 2 * repeat_length)
    stripe = probs[..., queries, queries - repeat_length + 1]  # (batch, n_heads, R)
    return stripe.double().mean(dim=(0, 2)).cpu().numpy()


def _check_repeats(repeat_length: int, offset: int, seq: int) -> None:
    if isinstance(repeat_length, bool) or not isinstance(repeat_length, int) or repeat_length < 2:
        raise ValueError(f"repeat_length={repeat_length!r}; it must be an integer >= 2")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset={offset!r}; it must be an integer >= 0")
    if seq < offset + 2 * repeat_length:
        raise ValueError(
            f"the attention covers {seq} tokens, fewer than offset + 2 * repeat_length = "
            f"{offset + 2 * repeat_length}; pass the repeat length and offset of these sequences"
        )


def _query_means(probs: torch.Tensor) -> dict[str, np.ndarray]:
    """Column name -> ``(n_heads,)`` mean of each attention summary over sequences and
    the queries ``1 .. seq - 1`` (see the module docstring)."""
    if probs.shape[-1] < 2:
        raise ValueError(f"attentions cover {probs.shape[-1]} token; at least 2 are needed")
    summaries = attention_summaries([probs])  # each (1, batch, n_heads, seq)
    return {
        column: summaries[measure][0, :, :, 1:].double().mean(dim=(0, 2)).cpu().numpy()
        for measure, column in _SUMMARY_COLUMNS.items()
    }


def previous_token_scores(attentions: Any) -> np.ndarray:
    """Previous-token score of each head: mean attention to the token just before.

    Parameters
    ----------
    attentions : array-like, shape (batch, n_heads, seq, seq)
        One layer's attention probabilities (numpy or torch), query by key; ``seq >= 2``.

    Returns
    -------
    numpy.ndarray, shape (n_heads,)
        float64: the mean over sequences and over the queries ``q = 1 .. seq - 1`` of
        ``a[q, q - 1]`` (:func:`~brainalign.encoders.heads.attention_summaries`'
        ``"previous_token"``).
    """
    return _query_means(_probabilities(attentions, "previous_token_scores"))["previous_token_score"]


def head_property_scores(attentions: Any, repeat_length: int, offset: int = 0) -> np.ndarray:
    """Every score of :data:`HEAD_PROPERTY_MEASURES` for each head of one layer.

    Parameters
    ----------
    attentions : array-like, shape (batch, n_heads, seq, seq)
        One layer's attention probabilities on repeated random tokens (see
        :func:`induction_scores`).
    repeat_length, offset : int
        As for :func:`induction_scores`.

    Returns
    -------
    numpy.ndarray, shape (n_heads, n_measures)
        float64, columns in the order of :data:`HEAD_PROPERTY_MEASURES`, each a mean
        over the sequences (module docstring).
    """
    probs = _probabilities(attentions, "head_property_scores")
    scores = {
        "induction_score": induction_scores(probs, repeat_length, offset),
        **_query_means(probs),
    }
    return np.stack([scores[name] for name in HEAD_PROPERTY_MEASURES], axis=-1)


# ------------------------------------------------------------------ the sequences


def _prefix_ids(tokenizer: Any) -> list[int]:
    """The BOS token, else the CLS token, else nothing (module docstring)."""
    for name in ("bos_token_id", "cls_token_id"):
        token = getattr(tokenizer, name, None)
        if isinstance(token, int):
            return [token]
    return []


def _candidate_ids(tokenizer: Any, vocab_size: int | None) -> np.ndarray:
    """Token ids ``0 .. V - 1`` that are neither special nor added tokens."""
    size = len(tokenizer) if vocab_size is None else min(len(tokenizer), int(vocab_size))
    excluded = [
        *getattr(tokenizer, "all_special_ids", ()),
        *getattr(tokenizer, "added_tokens_decoder", {}),
    ]
    return np.setdiff1d(np.arange(size, dtype=np.int64), np.array(excluded, dtype=np.int64))


def repeated_random_tokens(
    tokenizer: Any,
    *,
    n_sequences: int,
    sequence_length: int,
    seed: int,
    vocab_size: int | None = None,
) -> tuple[np.ndarray, int]:
    """The token ids :func:`head_properties` reads: a prefix, then R random tokens twice.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Its special and added tokens are never drawn; its BOS (else CLS) token is the
        prefix.
    n_sequences : int
        Sequences (at least 1).
    sequence_length : int
        ``R``, random tokens per repeat (at least 2).
    seed : int
        Seed of ``numpy.random.default_rng``; each sequence's block is drawn in turn
        with ``rng.choice(candidates, R, replace=False)``.
    vocab_size : int, optional
        The model's vocabulary size; ids at or above it are never drawn.

    Returns
    -------
    input_ids : numpy.ndarray, shape (n_sequences, p + 2 R)
        int64.
    offset : int
        ``p``, the prefix length (0 or 1).

    Raises
    ------
    ValueError
        For ``n_sequences < 1``, ``sequence_length < 2``, or fewer candidate tokens than
        ``sequence_length``.
    """
    _check_counts(n_sequences, sequence_length)
    candidates = _candidate_ids(tokenizer, vocab_size)
    if len(candidates) < sequence_length:
        raise ValueError(
            f"sequence_length={sequence_length} exceeds the {len(candidates)} non-special "
            "tokens of the tokenizer; a repeat holds each token once, so use a shorter one"
        )
    rng = np.random.default_rng(seed)
    blocks = np.stack(
        [rng.choice(candidates, sequence_length, replace=False) for _ in range(n_sequences)]
    )
    prefix = np.array(_prefix_ids(tokenizer), dtype=np.int64)
    prefixes = np.broadcast_to(prefix, (n_sequences, len(prefix)))
    return np.concatenate([prefixes, blocks, blocks], axis=1), len(prefix)


def _check_counts(n_sequences: object, sequence_length: object) -> None:
    if isinstance(n_sequences, bool) or not isinstance(n_sequences, int) or n_sequences < 1:
        raise ValueError(f"n_sequences={n_sequences!r}; it must be an integer >= 1")
    if (
        isinstance(sequence_length, bool)
        or not isinstance(sequence_length, int)
        or sequence_length < 2
    ):
        raise ValueError(
            f"sequence_length={sequence_length!r}; it must be an integer >= 2 (random tokens "
            "per repeat: each sequence reads them twice)"
        )


# ------------------------------------------------------------------ the model


def head_properties(
    model: str | os.PathLike,
    *,
    weights: Literal["pretrained", "untrained"] = "pretrained",
    seed: int = 0,
    n_sequences: int = DEFAULT_N_SEQUENCES,
    sequence_length: int | None = DEFAULT_SEQUENCE_LENGTH,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    store: FeatureStore | None = None,
    progress: bool | str = False,
) -> pd.DataFrame:
    """Induction, previous-token and other scores of every attention head of a text model.

    Definitions in the module docstring (:mod:`brainalign.encoders.head_cards`).

    Parameters
    ----------
    model : str or path-like
        Hub id or local directory of a text model (GPT-2, GPT-NeoX, LLaMA, BERT,
        RoBERTa, ...), loaded with :func:`~brainalign.encoders.loading.load_model`
        (``modality="text"``, the base model) and switched to eager attention.
    weights : {"pretrained", "untrained"}
        ``"untrained"``: the model's seeded random twin (weights seeded by ``seed``).
    seed : int
        Seed of the random tokens (:func:`repeated_random_tokens`) and, for
        ``weights="untrained"``, of the weights.
    n_sequences : int
        Sequences averaged over.
    sequence_length : int or None
        ``R``, random tokens per repeat; the model reads ``p + 2 R`` tokens per
        sequence (``p``: 1 with a BOS or CLS token, else 0), at most its maximum length.
        None: :data:`DEFAULT_SEQUENCE_LENGTH`, or the longest ``R`` the model reads
        when it reads fewer tokens (the ``R`` used is in the provenance; this is how
        :meth:`~brainalign.benchmarks.benchmark.Benchmark.run` calls it).
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
    dtype : {"float32", "float16", "bfloat16"}
        Dtype the model runs in; scores are averaged in float64.
    batch_size : int
        Sequences per forward pass.
    store : FeatureStore, optional
        Read the scores from, or write them to, this store: the key holds the weights'
        fingerprint, ``weights``, ``seed``, ``n_sequences``, ``sequence_length``, the
        token ids, ``dtype`` and :data:`HEAD_PROPERTIES_VERSION`; a stored entry is read
        back without a forward pass. Within one process a repeated call (same settings,
        same weight files) returns the table it computed without loading the model.
    progress : bool or str
        A progress bar over batches (a string names it).

    Returns
    -------
    pandas.DataFrame
        One row per (layer, head), columns :data:`HEAD_PROPERTY_COLUMNS`: ``layer``
        (hidden-state index of the block's output, block ``i`` -> ``i + 1``), ``head``
        (0-based), then the scores (float64 columns of the float32 values features are
        kept in; entropy in nats, distance in tokens).
        ``attrs["provenance"]`` records the model, weights, settings and definitions.

    Raises
    ------
    ValueError
        For ``n_sequences < 1``, ``sequence_length < 2``, a bad ``batch_size``,
        ``weights``, ``dtype`` or ``device``, sequences longer than the model reads, or
        a model that refuses eager attention.
    ModelLoadError
        When the model cannot be loaded.
    """
    from brainalign.encoders.models import check_load_options, weights_state

    fit = sequence_length is None
    sequence_length = DEFAULT_SEQUENCE_LENGTH if fit else sequence_length
    _check_counts(n_sequences, sequence_length)
    check_batch_size(batch_size)
    check_load_options(weights, dtype)
    root = None if store is None else str(store.root)
    length = None if fit else sequence_length
    memo = (os.fspath(model), weights, seed, n_sequences, length, device, dtype, root,
            weights_state(model))  # fmt: skip
    with _MEMO_LOCK:
        if memo in _MEMO:
            return _MEMO[memo].copy()
    table = _head_properties(model, weights, seed, n_sequences, sequence_length, fit, device,
                             dtype, batch_size, store, progress)  # fmt: skip
    with _MEMO_LOCK:
        _MEMO[memo] = table.copy()
    return table


def _head_properties(
    model: str | os.PathLike,
    weights: str,
    seed: int,
    n_sequences: int,
    sequence_length: int,
    fit: bool,
    device: str,
    dtype: str,
    batch_size: int,
    store: FeatureStore | None,
    progress: bool | str,
) -> pd.DataFrame:
    """:func:`head_properties` without its per-process memo."""
    from brainalign.encoders.loading import load_model

    loaded = load_model(
        model, modality="text", weights=weights, seed=seed, device=device, dtype=dtype
    )

    def draw(length: int) -> tuple[np.ndarray, int]:
        return repeated_random_tokens(
            loaded.tokenizer,
            n_sequences=n_sequences,
            sequence_length=length,
            seed=seed,
            vocab_size=getattr(loaded.config, "vocab_size", None),
        )

    input_ids, offset = draw(sequence_length)
    limit = loaded.max_positions
    if fit and limit is not None and input_ids.shape[1] > limit:
        sequence_length = (limit - offset) // 2
        _check_counts(n_sequences, sequence_length)
        input_ids, offset = draw(sequence_length)
    _check_length(loaded, input_ids.shape[1], sequence_length)
    settings = {
        "n_sequences": n_sequences,
        "sequence_length": sequence_length,
        "seed": seed,
        "prefix_length": offset,
        "dtype": dtype,
    }
    key = None if store is None else _store_key(loaded, os.fspath(model), settings, input_ids)
    features = load_stored(store, key)
    if features is None:
        provenance = {
            **loaded.provenance,
            **settings,
            "device": device,
            "batch_size": batch_size,
            "measures": list(HEAD_PROPERTY_MEASURES),
            "definitions": HEAD_PROPERTIES_VERSION,
        }
        features = _compute(loaded, input_ids, offset, batch_size, progress, provenance, store, key)
    return _table(features)


def _compute(
    loaded: LoadedModel,
    input_ids: np.ndarray,
    offset: int,
    batch_size: int,
    progress: bool | str,
    provenance: dict[str, Any],
    store: FeatureStore | None,
    key: Mapping[str, Any] | None,
) -> Features:
    """Run the model and keep the scores, ``{"head_properties": (n_blocks, n_heads,
    n_measures)}`` with one item per block (id: its layer), in memory or in the store."""
    n_blocks = loaded.n_layers - 1
    repeat_length = (input_ids.shape[1] - offset) // 2

    def fill(sink: Sink) -> None:
        scores = _scores(loaded, input_ids, offset, repeat_length, batch_size, progress)
        sink.write(np.arange(n_blocks), {_ARRAY: scores})

    layers = np.arange(1, n_blocks + 1)
    return collect(fill, n_blocks, layers, None, provenance, store, key)


def _check_length(loaded: LoadedModel, n_tokens: int, sequence_length: int) -> None:
    limit = loaded.max_positions
    if limit is not None and n_tokens > limit:
        raise ValueError(
            f"sequence_length={sequence_length} makes sequences of {n_tokens} tokens "
            f"(prefix + 2 repeats), more than model {loaded.provenance.get('model')!r} reads "
            f"({limit}); use sequence_length <= {(limit - (n_tokens - 2 * sequence_length)) // 2}"
        )


def _store_key(
    loaded: LoadedModel,
    model_id: str,
    settings: Mapping[str, Any],
    input_ids: np.ndarray,
) -> dict[str, Any]:
    """The store key of one :func:`head_properties` call (see its ``store``)."""
    from brainalign.encoders.store import feature_key, json_sha256, weights_fingerprint
    from brainalign.encoders.store.keys import _tokenizer_fingerprint

    return feature_key(
        model=model_id,
        weights=weights_fingerprint(loaded.provenance, loaded.config),
        tokenizer=_tokenizer_fingerprint(loaded.tokenizer),
        layers=[str(layer) for layer in range(1, loaded.n_layers)],
        pooling="mean over sequences and queries",
        context={"mode": "repeated-random-tokens", **settings},
        dtype=settings["dtype"],
        stimuli=json_sha256({"input_ids": input_ids.tolist()}),
        extra={"definitions": HEAD_PROPERTIES_VERSION, "measures": list(HEAD_PROPERTY_MEASURES)},
    )


def _scores(
    loaded: LoadedModel,
    input_ids: np.ndarray,
    offset: int,
    sequence_length: int,
    batch_size: int,
    progress: bool | str,
) -> np.ndarray:
    """``(n_blocks, n_heads, n_measures)`` float64: the scores of every head, batch
    means weighted by the batch's number of sequences."""
    import torch

    _use_eager_attention(loaded)
    n_sequences = len(input_ids)
    batches = [input_ids[i : i + batch_size] for i in range(0, n_sequences, batch_size)]
    name = f"head properties ({loaded.provenance.get('model')})"
    total: np.ndarray | float = 0.0
    with thread_limit(), torch.inference_mode():
        for batch in progress_bar(batches, progress, name):
            attentions = _attentions(loaded, batch)
            layer_scores = [head_property_scores(a, sequence_length, offset) for a in attentions]
            total = total + np.stack(layer_scores) * (len(batch) / n_sequences)
    return np.asarray(total)


def _use_eager_attention(loaded: LoadedModel) -> None:
    """Switch the loaded model to eager attention, the one that returns probabilities."""
    if getattr(loaded.model.config, "_attn_implementation", None) == "eager":
        return
    try:
        loaded.model.set_attn_implementation("eager")
    except (ValueError, ImportError, AttributeError) as error:
        raise ValueError(
            f"head_properties needs attention probabilities (eager attention), which model "
            f"{loaded.provenance.get('model')!r} refused: {error}"
        ) from error


def _attentions(loaded: LoadedModel, batch: np.ndarray) -> tuple[torch.Tensor, ...]:
    """One forward pass: every block's attention probabilities, ``(b, n_heads, n, n)``."""
    import torch

    ids = torch.as_tensor(batch, device=loaded.input_device)
    output = loaded.model(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        output_attentions=True,
        output_hidden_states=False,
    )
    attentions = output.attentions
    n_blocks = loaded.n_layers - 1
    if attentions is None or len(attentions) != n_blocks or any(a is None for a in attentions):
        raise ValueError(
            f"model {loaded.provenance.get('model')!r} returned no attention probabilities "
            f"for its {n_blocks} blocks under eager attention; head_properties cannot score it"
        )
    return attentions


def _table(features: Features) -> pd.DataFrame:
    """The long table (one row per layer and head) of a stored or computed entry."""
    import pandas as pd

    scores = np.asarray(features[_ARRAY], dtype=np.float64)  # (n_blocks, n_heads, n_measures)
    n_blocks, n_heads, _ = scores.shape
    layers = np.asarray(features.stimulus_ids, dtype=np.int64)
    table = pd.DataFrame(
        {
            "layer": np.repeat(layers, n_heads),
            "head": np.tile(np.arange(n_heads, dtype=np.int64), n_blocks),
            **{name: scores[:, :, m].reshape(-1) for m, name in enumerate(HEAD_PROPERTY_MEASURES)},
        },
        columns=list(HEAD_PROPERTY_COLUMNS),
    )
    table.attrs["provenance"] = dict(features.provenance)
    return table
