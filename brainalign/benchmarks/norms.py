"""Norm probes (Glasgow Norms, THINGS concept ratings): ridge from a layer to each rating.

Words are read as in the word-similarity benchmarks
(:func:`~brainalign.benchmarks.word_similarity.encode_isolated_words`: each word alone,
``context="isolated"``, mean over its tokens, every hidden state). Per layer, a ridge
probe maps the word's representation to every rating dimension at once, scored by
:func:`brainalign.alignment.encoding.cross_validated_encoding` with ``delays=(0,)``:

- outer ``KFold(n_splits=5, shuffle=True, random_state=seed)`` over words. Words are
  independent items (no time series, no passages), so shuffled folds leak nothing; the
  default blocked folds would instead hold out alphabetical runs of words (the files are
  sorted), a distribution shift with no scientific meaning. The encoding function's
  warning about shuffled splitters (meant for time series) is silenced here for that
  reason.
- inside each outer training set, :class:`~brainalign.alignment.ridge.RidgeCV` chooses
  each dimension's penalty by an inner shuffled ``KFold(5)``; features and ratings are
  z-scored with the training rows' statistics.
- score: held-out Pearson r per dimension, averaged over the outer folds (units =
  dimensions, in the ``roi`` column).

Items and words: Glasgow lists ambiguous words once per sense (``"address (postal)"``);
the model reads the word without the sense, so the senses share a representation.
THINGS concepts are read as their ``Word`` (``"air conditioner"``; homonyms such as
bat1/bat2 share a word). A word is encoded once however often it occurs.

Ceiling: the published tables give per item the mean, SD and number of raters of every
dimension, so the reliability of the item means is estimated as
``1 - mean_i(SD_i^2 / N_i) / var_i(mean_i)`` (rater noise independent between raters)
and the ceiling is its square root, the largest Pearson r any predictor of the true
means can reach against the observed means. NaN where the estimate is not positive.

Controls: ``MODEL@untrained`` and ``control:random-word-vectors`` (see
:mod:`brainalign.benchmarks.word_similarity`), through the same probe.

Heads (``heads=True``): every attention head of every layer ``L >= 1`` gets its own
probe, exactly as a layer does (same folds, inner CV, z-scoring, metric), from the
head's output before the attention output projection (``"L.heads"``, shape
(n_words, n_heads, d_head), mean-pooled over the word's tokens). A ridge fit cannot be
shared between heads (each has its own features), so the heads of a layer are probed
one after the other; each probe is small (d_head features). Head rows carry the 0-based
head index in a ``head`` column (nullable int, missing on whole-layer and control rows).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.benchmarks.word_similarity import (
    ALL_RATERS,
    RANDOM_CONTROL,
    encode_isolated_words,
    head_layers,
    hidden_state_names,
    model_variants,
    random_word_vectors,
    word_types,
)
from brainalign.datasets.catalogue import load
from brainalign.results import make_results

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from brainalign.benchmarks.registry import Benchmark
    from brainalign.encoders.store import FeatureStore

__all__ = ["NormTable", "norm_table", "probe_scores", "reliability_ceiling", "run_norm_probe"]


@dataclass(frozen=True)
class NormTable:
    """Mean ratings of items on several dimensions, with their spread.

    Parameters
    ----------
    item_ids : list of str, length n_items
    words : list of str, length n_items
        What the model reads for each item.
    dimensions : list of str, length n_dims
    means, sds, counts : numpy.ndarray of float64, shape (n_items, n_dims)
        Mean rating, its SD over raters and the number of raters.
    """

    item_ids: list[str]
    words: list[str]
    dimensions: list[str]
    means: np.ndarray
    sds: np.ndarray
    counts: np.ndarray


def _glasgow(dataset: str) -> NormTable:
    recording = load(dataset, progress=False)
    parts = {statistic: recording.select(statistic=statistic) for statistic in ("mean", "sd", "n")}
    dimensions = parts["mean"].units["dimension"].tolist()
    for statistic, part in parts.items():
        if part.units["dimension"].tolist() != dimensions:
            raise ValueError(f"{dataset}: the {statistic} columns are not in dimension order")
    return NormTable(
        item_ids=recording.samples["stimulus_id"].astype(str).tolist(),
        words=recording.samples["text"].astype(str).tolist(),
        dimensions=dimensions,
        means=np.asarray(parts["mean"].data, dtype=np.float64),
        sds=np.asarray(parts["sd"].data, dtype=np.float64),
        counts=np.asarray(parts["n"].data, dtype=np.float64),
    )


def _things(dataset: str) -> NormTable:
    ratings = load(dataset, table="animacy", progress=False)
    concepts = load(dataset, table="concepts", progress=False)
    columns = ratings.units["unit"].tolist()
    dimensions = [c[: -len("_mean")] for c in columns if c.endswith("_mean")]
    if not dimensions or "n" not in columns:
        raise ValueError(f"{dataset}: animacy table without *_mean and n columns: {columns}")
    ids = ratings.samples["stimulus_id"].astype(str)
    text = dict(
        zip(concepts.samples["stimulus_id"].astype(str), concepts.samples["text"], strict=True)
    )
    missing = [i for i in ids if i not in text]
    if missing:
        raise ValueError(
            f"{dataset}: {len(missing)} rated concepts are not in things_concepts.tsv "
            f"(e.g. {missing[:5]}); the concept words cannot be looked up"
        )
    data = np.asarray(ratings.data, dtype=np.float64)
    index = {c: k for k, c in enumerate(columns)}
    means = data[:, [index[f"{d}_mean"] for d in dimensions]]
    sds = data[:, [index[f"{d}_sd"] for d in dimensions]]
    counts = np.repeat(data[:, [index["n"]]], len(dimensions), axis=1)
    return NormTable(
        item_ids=ids.tolist(),
        words=[str(text[i]) for i in ids],
        dimensions=dimensions,
        means=means,
        sds=sds,
        counts=counts,
    )


_READERS = {"glasgow-norms": _glasgow, "things-concepts": _things}


def norm_table(dataset: str) -> NormTable:
    """The rating table of ``"glasgow-norms"`` or ``"things-concepts"`` (animacy ratings).

    Raises
    ------
    ValueError
        For another dataset.
    """
    if dataset not in _READERS:
        raise ValueError(f"dataset={dataset!r} has no norm reader; use one of {sorted(_READERS)}")
    return _READERS[dataset](dataset)


def reliability_ceiling(means: ArrayLike, sds: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """Square root of the estimated reliability of item means, per dimension.

    ``reliability = 1 - mean_i(sd_i**2 / n_i) / var_i(mean_i)`` (``var`` with ddof 1).

    Parameters
    ----------
    means, sds, counts : array-like, shape (n_items, n_dims)

    Returns
    -------
    numpy.ndarray, shape (n_dims,)
        NaN where the reliability is not positive or the means are constant.
    """
    means, sds, counts = (np.asarray(a, dtype=np.float64) for a in (means, sds, counts))
    if not (means.shape == sds.shape == counts.shape) or means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(
            f"means {means.shape}, sds {sds.shape}, counts {counts.shape}: expected the same "
            "(n_items >= 2, n_dims) shape"
        )
    if np.any(counts < 1):
        raise ValueError("counts must be >= 1 (raters per item)")
    noise = np.mean(sds**2 / counts, axis=0)
    variance = np.var(means, axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        reliability = 1.0 - noise / variance
    return np.where((variance > 0) & (reliability > 0), np.sqrt(np.abs(reliability)), np.nan)


def probe_scores(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    n_splits: int = 5,
    inner_splits: int = 5,
    seed: int = 0,
    alphas: ArrayLike | None = None,
) -> np.ndarray:
    """Held-out Pearson r of a ridge probe from ``X`` to each column of ``Y``.

    Parameters
    ----------
    X : array-like, shape (n_items, n_features)
    Y : array-like, shape (n_items, n_dims)
    n_splits, inner_splits : int
        Outer and inner shuffled KFold folds (independent items).
    seed : int
        ``random_state`` of both KFolds.
    alphas : array-like, optional
        Ridge penalties (default :data:`~brainalign.alignment.ridge.DEFAULT_ALPHAS`).

    Returns
    -------
    numpy.ndarray, shape (n_dims,)
        Mean over outer folds of the held-out Pearson r.
    """
    from sklearn.model_selection import KFold

    options = {} if alphas is None else {"alphas": alphas}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*shuffles samples", category=UserWarning)
        result = cross_validated_encoding(
            np.asarray(X, dtype=np.float64),
            np.asarray(Y, dtype=np.float64),
            delays=(0,),
            cv=KFold(n_splits, shuffle=True, random_state=seed),
            inner_cv=KFold(inner_splits, shuffle=True, random_state=seed),
            **options,
        )
    return result.scores


def _rows(
    scores: np.ndarray, layer: object, label: str, table: NormTable, head: object = None
) -> pd.DataFrame:
    rows = pd.DataFrame({"model": label, "layer": layer, "roi": table.dimensions, "score": scores})
    if head is not None:
        rows["head"] = pd.array([head] * len(rows), dtype="Int64")
    return rows


def _head_rows(
    features: Any,
    index: np.ndarray,
    label: str,
    table: NormTable,
    probe: dict[str, Any],
) -> list[pd.DataFrame]:
    """Probe rows of every head of every layer ``L >= 1`` (``"L.heads"`` arrays)."""
    frames = []
    for layer in head_layers(features):
        per_head = np.asarray(features[f"{layer}.heads"], dtype=np.float64)[index]
        for head in range(per_head.shape[1]):
            scores = probe_scores(per_head[:, head], table.means, **probe)
            frames.append(_rows(scores, layer, label, table, head))
    return frames


def run_norm_probe(
    benchmark: Benchmark,
    model: str,
    *,
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    store: FeatureStore | None = None,
    weights: str = "pretrained",
    progress: bool = False,
    seed: int = 0,
    n_splits: int = 5,
    inner_splits: int = 5,
    alphas: ArrayLike | None = None,
    controls: bool = True,
    control_seed: int = 0,
    heads: bool = False,
) -> pd.DataFrame:
    """Score a model's layers by ridge probes to every rating dimension.

    Parameters
    ----------
    benchmark : Benchmark
        ``dataset`` is ``"glasgow-norms"`` or ``"things-concepts"``.
    model : str
    layers, device, dtype, batch_size, store, weights, progress
        See :meth:`~brainalign.benchmarks.registry.Benchmark.run`.
    seed : int
        Seed of the folds and of the untrained twin's weights.
    n_splits, inner_splits : int
        Outer and inner folds.
    alphas : array-like, optional
        Ridge penalties.
    controls : bool
        Add the untrained twin and the random-word-vector control.
    control_seed : int
        Seed of the random word vectors.
    heads : bool
        Also probe every head of every layer ``L >= 1`` (module documentation).

    Returns
    -------
    pandas.DataFrame
        Tidy rows (``make_results``): one per (model variant, layer, dimension), the
        dimension in ``roi``, ``metric`` ``pearson_r``, ``subject`` ``"all"``, the
        dimension's reliability ceiling, and ``n_items``. With ``heads``, each variant's
        layer rows are followed by one row per (layer, head, dimension), and a ``head``
        column (0-based; missing elsewhere) comes before ``n_items``.
    """
    table = norm_table(benchmark.dataset)
    types, (index,) = word_types(table.words)
    probe = {"n_splits": n_splits, "inner_splits": inner_splits, "seed": seed, "alphas": alphas}

    frames = []
    n_dims = None
    for variant_weights, label in model_variants(model, weights, controls):
        features = encode_isolated_words(
            model,
            types,
            weights=variant_weights,
            layers=layers,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            seed=seed,
            store=store,
            progress=progress,
            heads=heads,
        )
        no_head = pd.NA if heads else None
        names = hidden_state_names(features)
        for name in names:
            X = np.asarray(features[name], dtype=np.float64)[index]
            scores = probe_scores(X, table.means, **probe)
            frames.append(_rows(scores, int(name), label, table, no_head))
        if heads:
            frames += _head_rows(features, index, label, table, probe)
        n_dims = features[names[-1]].shape[1]
    if controls and n_dims is not None:
        X = random_word_vectors(types, n_dims, seed=control_seed)[index]
        scores = probe_scores(X, table.means, **probe)
        frames.append(_rows(scores, pd.NA, RANDOM_CONTROL, table, pd.NA if heads else None))

    rows = pd.concat(frames, ignore_index=True)
    ceiling = dict(
        zip(
            table.dimensions, reliability_ceiling(table.means, table.sds, table.counts), strict=True
        )
    )
    rows["dataset"] = benchmark.dataset
    rows["subject"] = ALL_RATERS
    rows["metric"] = "pearson_r"
    rows["ceiling"] = rows["roi"].map(ceiling).astype(float)
    rows["n_items"] = len(table.item_ids)
    return make_results(rows)
