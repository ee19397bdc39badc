"""Word-similarity benchmarks (SimLex-999, WordSim-353, MEN): cosine vs human ratings.

Every word type of the dataset is read by the model **alone**
(``TextEncoder.extract(words, context="isolated", level="sentence", pooling="mean")``):
the word wrapped in the tokenizer's own special tokens (``[CLS] word [SEP]`` for BERT,
nothing for GPT-2; no leading space, so GPT-2 sees ``"cat"``, not ``" cat"``), one
forward pass per word in batches, the word's representation the mean of its own tokens'
hidden states (special tokens excluded) at every hidden state (0 = embeddings). Words
are used as the dataset spells them (WordSim-353 has ``CD``, ``Jerusalem``); a word
that occurs in several pairs is encoded once.

Per layer, the score is Spearman's rank correlation (average ranks for ties, as
:func:`scipy.stats.spearmanr`) between the cosine similarity of the two words of each
pair and the human rating, over all pairs as listed. Pairs are used row by row rather
than as an RDM over word types (:func:`brainalign.alignment.similarity.rsa_ratings`)
because the published files repeat pairs (WordSim-353 lists money/cash twice, with two
ratings) and pair a word with itself (tiger/tiger).

Ceiling: the files hold only mean ratings, so no inter-annotator agreement can be
derived: ``ceiling`` is NaN (the papers report theirs: e.g. SimLex-999's inter-rater
Spearman 0.67).

Controls, reported as rows next to the model's and scored exactly as it is (cosine per
pair, Spearman with the ratings):

- the untrained twin (``weights="untrained"``): the same architecture with seeded random
  weights, same pipeline.
- the control ``random-word-vectors``: one Gaussian vector per word type, drawn from the
  run's seed and the word itself, with as many dimensions as the model's layers. For word pairs,
  "no stimulus content" cannot mean "nothing per item" (every pair would then tie): the
  minimum a representation must carry is word identity, and this control carries exactly
  that and nothing else (no spelling, length, frequency or meaning). Its only advantage
  is that identical words get cosine 1.

Heads (``heads=True``): every attention head of every layer ``L >= 1`` is scored exactly
as the layer is, from the head's output before the attention output projection
(``"L.heads"`` of :meth:`~brainalign.encoders.text.TextEncoder.extract`, shape
(n_words, n_heads, d_head), mean-pooled over the word's tokens like the hidden states):
cosine per pair and head, then Spearman with the ratings, all heads of all layers in one
call. Head rows carry the head's 0-based index in the ``head`` column (missing on the
whole-layer and control rows); the whole-layer rows are unchanged. Layer 0 (the
embeddings) has no heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.metrics import pearson_columns
from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.units import restrict_run_features
from brainalign.datasets.catalogue import load

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.encoders.features import Features
    from brainalign.encoders.store import FeatureStore
    from brainalign.planning.workload import Workload

__all__ = [
    "ALL_RATERS",
    "HEAD_CAPTURE",
    "RANDOM_CONTROL",
    "WordPairsTask",
    "encode_isolated_words",
    "head_layers",
    "hidden_state_names",
    "paired_cosine",
    "prepare",
    "random_word_vectors",
    "spearman_columns",
    "word_types",
    "words_of_run",
]

#: Name of the content-free control.
RANDOM_CONTROL = "random-word-vectors"
#: The ``subject`` of rows scored against ratings averaged over raters.
ALL_RATERS = "all"
#: Feature-store ``extra`` of per-head text features: the ``Captures`` asked for, as
#: the text encoder records them in its key (so the key says ``heads``).
HEAD_CAPTURE = {
    "capture": {
        "heads": True,
        "blocks": False,
        "contributions": False,
        "attention_summaries": False,
    }
}


def hidden_state_names(features: Features) -> list[str]:
    """Names of the whole-layer arrays (hidden-state indices ``"0"``, ``"1"``, ...).

    Parameters
    ----------
    features : Features
        Possibly with per-head arrays ``"L.heads"`` next to the hidden states.

    Returns
    -------
    list of str, length n_layers
        In model order.
    """
    return [name for name in features.layer_names if name.isdigit()]


def head_layers(features: Features) -> list[int]:
    """Layers ``L`` whose per-head array ``"L.heads"`` is in ``features``, in model order.

    Parameters
    ----------
    features : Features

    Returns
    -------
    list of int, length n_head_layers
        Each ``features[f"{L}.heads"]`` has shape (n_items, n_heads, d_head).
    """
    suffix = ".heads"
    return [
        int(name[: -len(suffix)])
        for name in features.layer_names
        if name.endswith(suffix) and name[: -len(suffix)].isdigit()
    ]


def word_types(*columns: Sequence[str]) -> tuple[list[str], list[np.ndarray]]:
    """Unique words (in order of first appearance) and each column's index into them.

    Parameters
    ----------
    *columns : sequence of str, each length n_rows

    Returns
    -------
    types : list of str, length n_types
    indices : list of numpy.ndarray of int, each shape (n_rows,)
    """
    lookup: dict[str, int] = {}
    for column in columns:
        for word in column:
            lookup.setdefault(str(word), len(lookup))
    indices = [np.array([lookup[str(w)] for w in column], dtype=np.intp) for column in columns]
    return list(lookup), indices


def encode_isolated_words(
    model: str,
    words: Sequence[str],
    *,
    weights: str = "pretrained",
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    seed: int = 0,
    store: FeatureStore | None = None,
    progress: bool | str = False,
    heads: bool = False,
    instruction: str | None = None,
    instruction_format: str = "plain",
) -> Features:
    """Every word read alone, mean-pooled over its tokens, at every requested layer.

    Parameters
    ----------
    model : str
        Hugging Face hub id or local model directory.
    words : sequence of str, length n_words
        Unique words (duplicates would only cost forward passes).
    weights : {"pretrained", "untrained"}
    layers : sequence of int, optional
        Hidden-state indices; all by default.
    device, dtype, batch_size, seed
        Passed to :class:`~brainalign.encoders.text.TextEncoder` (``seed``: of the
        untrained weights).
    store : FeatureStore, optional
        Read the features from it when the entry exists (no forward pass), else stream
        them into it. The key records ``heads`` (:data:`HEAD_CAPTURE`).
    progress : bool or str
        A progress bar (on a terminal), named by the string when one is given.
    heads : bool
        Also capture each head's output (``"L.heads"``, shape (n_words, n_heads, d_head),
        for every requested layer ``L >= 1``). A model without head capture support
        raises the encoder's error.
    instruction, instruction_format
        A task instruction read before every word, and how
        (:class:`~brainalign.encoders.text.TextEncoder`); never pooled, part of the key.

    Returns
    -------
    Features
        Float32 arrays of shape (n_words, n_dims) per layer (``"0"``, ``"1"``, ...), rows
        in the order of ``words``, then the ``"L.heads"`` arrays when asked for.
    """
    from brainalign.encoders.text import TextEncoder

    framing = {} if instruction is None else {"instruction": instruction}
    if instruction is not None:
        framing["instruction_format"] = instruction_format
    encoder = TextEncoder(
        model,
        weights=weights,
        seed=seed,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        pooling="mean",
        progress=progress,
        **framing,
    )
    options: dict[str, Any] = {
        "context": "isolated",
        "level": "sentence",
        "pooling": "mean",
        "layers": layers,
    }
    return encoder.extract(list(words), **options, heads=heads, store=store)


def words_of_run(
    benchmark: Benchmark, settings: RunSettings, words: Sequence[str], weights: str
) -> Features:
    """:func:`encode_isolated_words` of ``words`` with a run's settings and ``weights``
    (restricted to the run's ``units``, :func:`~brainalign.benchmarks.units.
    restrict_run_features`)."""
    features = encode_isolated_words(
        settings.model,
        words,
        heads=settings.heads,
        **settings.text_instruction(),
        **settings.encoder_options(benchmark, weights),
    )
    return restrict_run_features(features, settings, weights)


def random_word_vectors(words: Sequence[str], n_dims: int, *, seed: int = 0) -> np.ndarray:
    """One standard-normal vector per word, fixed by ``seed`` and the word's text.

    :func:`~brainalign.benchmarks.controls.random_vectors` keyed by the word's text, so a
    word gets the same vector in every dataset and run, whatever the other words.

    Parameters
    ----------
    words : sequence of str, length n_words
    n_dims : int
        Dimensions per vector (positive).
    seed : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_words, n_dims)
    """
    return random_vectors([str(word) for word in words], n_dims, seed=seed)


def paired_cosine(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows (over the last axis), in float64.

    Parameters
    ----------
    A, B : numpy.ndarray, shape (n_pairs, n_dims) or (n_pairs, ..., n_dims)
        E.g. per-head features (n_pairs, n_heads, d_head): every head at once.

    Returns
    -------
    numpy.ndarray, shape (n_pairs,) or (n_pairs, ...)
        NaN where a vector has zero norm (undefined).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape or A.ndim < 2:
        raise ValueError(
            f"A and B must be (n_pairs, ..., n_dims) arrays of the same shape; got {A.shape} "
            f"and {B.shape}"
        )
    norms = np.linalg.norm(A, axis=-1) * np.linalg.norm(B, axis=-1)
    dots = np.einsum("...i,...i->...", A, B)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.nan)


def spearman_columns(similarities: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column of ``similarities`` with ``ratings``.

    Average ranks for ties (:func:`scipy.stats.rankdata`), then Pearson r of the ranks
    (:func:`~brainalign.alignment.metrics.pearson_columns`).

    Parameters
    ----------
    similarities : numpy.ndarray, shape (n_pairs, n_columns)
    ratings : numpy.ndarray, shape (n_pairs,)

    Returns
    -------
    numpy.ndarray, shape (n_columns,)
        NaN for a column holding NaN (an undefined cosine) or constant values.
    """
    from scipy.stats import rankdata

    similarities = np.asarray(similarities, dtype=np.float64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if similarities.ndim != 2 or ratings.shape != (similarities.shape[0],):
        raise ValueError(
            f"similarities {similarities.shape} and ratings {ratings.shape}: expected "
            "(n_pairs, n_columns) and (n_pairs,)"
        )
    if not np.all(np.isfinite(ratings)):
        raise ValueError("ratings hold NaN or inf; every pair needs a finite rating")
    finite = np.all(np.isfinite(similarities), axis=0)
    scores = np.full(similarities.shape[1], np.nan)
    if finite.any():
        ranks = rankdata(similarities[:, finite], axis=0)
        rating_ranks = np.repeat(rankdata(ratings)[:, None], ranks.shape[1], axis=1)
        scores[finite] = pearson_columns(ranks, rating_ranks)
    return scores


def _head_pair_cosines(
    features: Features, first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, list[int], list[int]]:
    """Cosine per pair of every head of every layer, one column per (layer, head).

    Returns
    -------
    cosines : numpy.ndarray, shape (n_pairs, n_head_layers * n_heads)
    layers, heads : list of int, each of length n_head_layers * n_heads
        The (layer, head) of each column, layer-major.
    """
    columns, layers, heads = [], [], []
    for layer in head_layers(features):
        per_head = features[f"{layer}.heads"]  # (n_words, n_heads, d_head)
        columns.append(paired_cosine(per_head[first], per_head[second]))  # (n_pairs, n_heads)
        layers += [layer] * per_head.shape[1]
        heads += list(range(per_head.shape[1]))
    cosines = np.hstack(columns) if columns else np.empty((len(first), 0))
    return cosines, layers, heads


@dataclass
class WordPairsTask:
    """A word-pair dataset prepared for one run (see the module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    ratings: np.ndarray
    types: list[str]
    first: np.ndarray
    second: np.ndarray
    unit: str

    def _scores(self, cosines: np.ndarray, layers: list[Any], heads: list[Any]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "layer": pd.array(layers, dtype="Int64"),
                "head": pd.array(heads, dtype="Int64"),
                "subject": ALL_RATERS,
                "unit": self.unit,
                "score": spearman_columns(cosines, self.ratings),
                "n_pairs": len(self.ratings),
            }
        )

    def score_model(self, weights: str) -> ModelScores:
        """Spearman of the pair cosines with the ratings, per layer (and head)."""
        settings = self.settings
        features = words_of_run(self.benchmark, settings, self.types, weights)
        names = hidden_state_names(features)
        cosines = np.column_stack(
            [paired_cosine(features[n][self.first], features[n][self.second]) for n in names]
        )
        frames = [self._scores(cosines, [int(n) for n in names], [pd.NA] * len(names))]
        if settings.heads:
            cosines, head_layer_ids, head_ids = _head_pair_cosines(
                features, self.first, self.second
            )
            frames.append(self._scores(cosines, head_layer_ids, head_ids))
        return ModelScores(
            pd.concat(frames, ignore_index=True),
            features[names[-1]].shape[1],
            constant=constant_feature_sets(features, settings.heads),
        )

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The random-word-vector control, as wide as the model's last layer."""
        vectors = random_word_vectors(self.types, model.n_dims, seed=self.settings.run_seed)
        cosines = paired_cosine(vectors[self.first], vectors[self.second])[:, None]
        return {RANDOM_CONTROL: self._scores(cosines, [pd.NA], [pd.NA])}

    def ceiling(self) -> None:
        """None: the files hold mean ratings only (module documentation)."""
        return None

    def workload(self) -> Workload:
        """The word types read alone; a paired cosine per layer (and head) and control."""
        from brainalign.planning.workload import Width, Workload, feature_set_fits, text_set

        n_pairs = len(self.ratings)
        return Workload(
            stimuli=(text_set(self.types, "isolated", self.settings, f"{len(self.types)} words"),),
            fits=feature_set_fits(
                self.settings,
                "similarity",
                n_samples=n_pairs,
                n_targets=1,
                control_width=Width(),
            ),  # fmt: skip
        )


def prepare(benchmark: Benchmark, settings: RunSettings) -> WordPairsTask:
    """Load a word-pair dataset (``benchmark.dataset``) for a run.

    Returns
    -------
    WordPairsTask
        Rows: one per (layer[, head]) with ``subject`` ``"all"``, ``unit`` the ratings'
        name (``"rating"``), and ``n_pairs``.
    """
    recording = load(benchmark.dataset, progress=False)
    samples = recording.samples
    types, (first, second) = word_types(samples["word1"].tolist(), samples["word2"].tolist())
    return WordPairsTask(
        benchmark=benchmark,
        settings=settings,
        ratings=np.asarray(recording.data[:, 0], dtype=np.float64),
        types=types,
        first=first,
        second=second,
        unit=str(recording.units["unit"].iloc[0]),
    )
