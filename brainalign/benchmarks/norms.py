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
  dimensions, in the ``unit`` column).

Items and words: Glasgow lists ambiguous words once per sense (``"address (postal)"``);
the model reads the word without the sense, so the senses share a representation.
THINGS concepts are read as their ``Word`` (``"air conditioner"``; homonyms such as
bat1/bat2 share a word). A word is encoded once however often it occurs.

Ceiling: the published tables give per item the mean, SD and number of raters of every
dimension, so the reliability of the item means is estimated as
``1 - mean_i(SD_i^2 / N_i) / var_i(mean_i)`` (rater noise independent between raters)
and the ceiling is its square root, the largest Pearson r any predictor of the true
means can reach against the observed means
(:func:`~brainalign.alignment.ceiling.ceiling_from_reliability`). NaN where the
estimate is negative.

Controls: the untrained twin and the control ``random-word-vectors`` (see
:mod:`brainalign.benchmarks.word_similarity`), scored exactly as the model: the same
probe, folds and metric. The run's seed seeds the folds and the random vectors.

Heads (``heads=True``): every attention head of every layer ``L >= 1`` gets its own
probe, exactly as a layer does (same folds, inner CV, z-scoring, metric), from the
head's output before the attention output projection (``"L.heads"``, shape
(n_words, n_heads, d_head), mean-pooled over the word's tokens). A ridge fit cannot be
shared between heads (each has its own features), so the heads of a layer are probed
one after the other; each probe is small (d_head features). Head rows carry the 0-based
head index in the ``head`` column (missing on whole-layer and control rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.ceiling import ceiling_from_reliability
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.word_similarity import (
    ALL_RATERS,
    RANDOM_CONTROL,
    head_layers,
    hidden_state_names,
    random_word_vectors,
    word_types,
    words_of_run,
)
from brainalign.datasets.catalogue import load

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.planning.workload import Workload

__all__ = [
    "NormProbeTask",
    "NormTable",
    "norm_table",
    "prepare",
    "probe_scores",
    "reliability_ceiling",
]


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
        :func:`~brainalign.alignment.ceiling.ceiling_from_reliability` of the
        reliability: NaN where it is negative or the means are constant.
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
        reliability = np.where(variance > 0, 1.0 - noise / variance, np.nan)
    return ceiling_from_reliability(reliability)


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
            sampling="event",
            delays=(0,),
            cv=KFold(n_splits, shuffle=True, random_state=seed),
            inner_cv=KFold(inner_splits, shuffle=True, random_state=seed),
            **options,
        )
    return result.scores


@dataclass
class NormProbeTask:
    """A norm table prepared for one run (see the module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    table: NormTable
    types: list[str]
    index: np.ndarray
    probe: dict[str, Any]

    def _rows(self, X: Any, layer: object, head: object = pd.NA) -> pd.DataFrame:
        scores = probe_scores(np.asarray(X, dtype=np.float64)[self.index], self.table.means,
                              **self.probe)  # fmt: skip
        return pd.DataFrame(
            {
                "layer": pd.array([layer] * len(scores), dtype="Int64"),
                "head": pd.array([head] * len(scores), dtype="Int64"),
                "subject": ALL_RATERS,
                "unit": self.table.dimensions,
                "score": scores,
                "n_items": len(self.table.item_ids),
            }
        )

    def score_model(self, weights: str) -> ModelScores:
        """A probe per layer (and per head of every layer ``L >= 1``)."""
        settings = self.settings
        features = words_of_run(self.benchmark, settings, self.types, weights)
        names = hidden_state_names(features)
        frames = [self._rows(features[name], int(name)) for name in names]
        if settings.heads:
            for layer in head_layers(features):
                per_head = np.asarray(features[f"{layer}.heads"])
                frames += [self._rows(per_head[:, h], layer, h) for h in range(per_head.shape[1])]
        return ModelScores(
            pd.concat(frames, ignore_index=True),
            features[names[-1]].shape[1],
            constant=constant_feature_sets(features, settings.heads),
        )

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The random-word-vector control through the same probe."""
        vectors = random_word_vectors(self.types, model.n_dims, seed=self.settings.run_seed)
        return {RANDOM_CONTROL: self._rows(vectors, pd.NA)}

    def ceiling(self) -> pd.DataFrame:
        """The reliability ceiling of each dimension (``unit``)."""
        table = self.table
        return pd.DataFrame(
            {
                "unit": table.dimensions,
                "ceiling": reliability_ceiling(table.means, table.sds, table.counts),
            }
        )

    def workload(self) -> Workload:
        """The word types read alone; a ridge probe per layer (and head) and control."""
        from brainalign.planning.workload import Width, Workload, feature_set_fits, text_set

        alphas = self.probe.get("alphas")
        return Workload(
            stimuli=(text_set(self.types, "isolated", self.settings, f"{len(self.types)} words"),),
            fits=feature_set_fits(
                self.settings,
                "ridge",
                n_samples=len(self.index),
                n_targets=len(self.table.dimensions),
                control_width=Width(),
                n_splits=self.probe["n_splits"],
                inner_splits=self.probe["inner_splits"],
                n_alphas=None if alphas is None else len(alphas),
            ),  # fmt: skip
            data_bytes=3 * self.table.means.nbytes,
        )


def prepare(benchmark: Benchmark, settings: RunSettings) -> NormProbeTask:
    """Load ``"glasgow-norms"`` or ``"things-concepts"`` for a run.

    Options (``settings.options``): ``n_splits``, ``inner_splits`` (outer and inner
    folds, default 5) and ``alphas`` (ridge penalties); the run's seed seeds the folds.

    Returns
    -------
    NormProbeTask
        Rows: one per (layer[, head], dimension), the dimension in ``unit``, ``subject``
        ``"all"``, and ``n_items``.
    """
    options = settings.options
    table = norm_table(benchmark.dataset)
    types, (index,) = word_types(table.words)
    probe = {
        "n_splits": options.get("n_splits", 5),
        "inner_splits": options.get("inner_splits", 5),
        "seed": settings.run_seed,
        "alphas": options.get("alphas"),
    }
    return NormProbeTask(benchmark, settings, table, types, index, probe)
