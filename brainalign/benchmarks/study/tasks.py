"""The tasks a study runs: its data prepared once, scored per model variant.

Each task follows :class:`~brainalign.benchmarks.benchmark.BenchmarkTask`: it computes
scores and nothing else (:meth:`Benchmark.run <brainalign.benchmarks.benchmark.
Benchmark.run>` labels the rows, adds the twin and joins the ceiling).

- :class:`EventEncodingTask`: one response per stimulus (repeats averaged), ridge with
  no delays and K-fold over stimuli (group folds with ``groups``); ceiling from repeats.
- :class:`ContinuousEncodingTask`: a time series; word features Lanczos-resampled to the
  samples, FIR delays, contiguous folds with a gap; inter-subject ceiling.
- :class:`RsaTask`: a layer's RDM against each data RDM; RDM noise ceiling over the
  data RDMs.
- Ratings reuse the registered benchmarks' tasks
  (:class:`~brainalign.benchmarks.word_similarity.WordPairsTask`,
  :class:`~brainalign.benchmarks.norms.NormProbeTask`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.benchmarks.benchmark import ModelScores, constant_feature_sets
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.norms import NormProbeTask

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study.study import Study
    from brainalign.datasets.recording import Recording
    from brainalign.encoders.features import Features

__all__ = [
    "RANDOM_CONTROL",
    "WORD_RATE_CONTROL",
    "ContinuousEncodingTask",
    "EventEncodingTask",
    "RatingNormsTask",
    "RsaTask",
    "stimulus_features",
]

#: The content-free control of event studies: one seeded random vector per stimulus.
RANDOM_CONTROL = "random-stimulus-features"
#: The content-free control of continuous studies: how many words fall in each sample.
WORD_RATE_CONTROL = "word-rate"


# ----------------------------------------------------------------------------- features


def stimulus_features(
    study: Study, benchmark: Benchmark, settings: RunSettings, weights: str
) -> Features:
    """Every stimulus's features, rows in the order of ``study.stimuli``.

    Text is read in the study's context mode (``isolated`` or ``passage``) and pooled
    with its ``pooling``; images go through the model's image processor, mean-pooled
    over patches (or spatial positions). Continuous studies read words instead
    (:meth:`ContinuousEncodingTask.score_model`).
    """
    from brainalign.benchmarks.image_rsa import encode_image_set
    from brainalign.benchmarks.language_ridge import extract_item_features

    table = study.stimuli.table
    options = settings.encoder_options(benchmark, weights)
    if study.modality == "image":
        return encode_image_set(settings.model, study.images, heads=settings.heads, **options)
    return extract_item_features(
        settings.model,
        table.assign(stimulus_id=table["stimulus_id"].astype(str)),
        context=study.context,
        pooling=study.pooling,
        heads=settings.heads,
        context_words=settings.context_words,
        **options,
    )


def feature_sets(features: Features, heads: bool) -> Iterator[tuple[Any, Any, np.ndarray]]:
    """(layer, head or NA, (n_items, n_dims) float64 array) of every hidden state and head."""
    from brainalign.benchmarks.word_similarity import head_layers, hidden_state_names

    for name in hidden_state_names(features):
        yield int(name), pd.NA, np.asarray(features[name], dtype=np.float64)
    if heads:
        for layer in head_layers(features):
            per_head = np.asarray(features[f"{layer}.heads"], dtype=np.float64)
            for head in range(per_head.shape[1]):
                yield layer, head, per_head[:, head, :]


def _last_width(features: Features) -> int:
    from brainalign.benchmarks.word_similarity import hidden_state_names

    return int(features[hidden_state_names(features)[-1]].shape[1])


def _unit_rows(
    units: pd.DataFrame, labels: np.ndarray, scores: np.ndarray, layer: Any, head: Any
) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "layer": pd.array([layer] * len(scores), dtype="Int64"),
            "head": pd.array([head] * len(scores), dtype="Int64"),
            "subject": _subjects(units),
            "unit": labels,
            "score": scores,
        }
    )
    if "roi" in units.columns and not np.array_equal(units["roi"].astype(str).to_numpy(), labels):
        rows["roi"] = units["roi"].astype(str).to_numpy()
    return rows


def _subjects(units: pd.DataFrame) -> np.ndarray:
    if "subject" in units.columns:
        return units["subject"].astype(str).to_numpy()
    return np.full(len(units), "all", dtype=object)


# ----------------------------------------------------------------------------- event encoding


@dataclass
class EventEncodingTask:
    """Ridge from each layer to every unit, one row per stimulus (module documentation)."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings
    responses: Recording  # repeats averaged, one row per stimulus
    rows_of_stimuli: np.ndarray  # row of study.stimuli for each response row
    groups: np.ndarray | None
    labels: np.ndarray

    def _scores(self, X: np.ndarray) -> np.ndarray:
        from brainalign.alignment.encoding import cross_validated_encoding

        options = self.study.ridge_options()
        result = cross_validated_encoding(
            X[self.rows_of_stimuli],
            self.responses.data,
            sampling="event",
            groups=self.groups,
            seed=self.settings.run_seed,
            **options,
        )
        return result.scores

    def _rows(self, X: np.ndarray, layer: Any = pd.NA, head: Any = pd.NA) -> pd.DataFrame:
        return _unit_rows(self.responses.units, self.labels, self._scores(X), layer, head)

    def score_model(self, weights: str) -> ModelScores:
        """Held-out r of every unit from every layer (and head)."""
        features = stimulus_features(self.study, self.benchmark, self.settings, weights)
        frames = [
            self._rows(X, layer, head)
            for layer, head, X in feature_sets(features, self.settings.heads)
        ]
        constant = constant_feature_sets(features, self.settings.heads)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """One seeded random vector per stimulus, as wide as the model's last layer."""
        ids = [str(i) for i in self.study.stimuli.stimulus_ids]
        vectors = random_vectors(ids, int(model.n_dims or 2), seed=self.settings.run_seed)
        return {RANDOM_CONTROL: self._rows(vectors)}

    def ceiling(self) -> pd.DataFrame | None:
        """Split-half reliability over repeats (Spearman-Brown), on the r scale; else none."""
        return self.study.repeat_ceiling(self.labels)


# ----------------------------------------------------------------------------- continuous


@dataclass
class ContinuousEncodingTask:
    """Word features resampled to the samples, delayed, ridge (module documentation)."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings
    runs: np.ndarray | None  # run of each sample, None for one run
    labels: np.ndarray

    def _design(self, word_features: np.ndarray) -> np.ndarray:
        """Word-level columns Lanczos-resampled onto the samples, run by run."""
        from brainalign.alignment.temporal import lanczos_resample

        recording = self.study.recording
        words = self.study.stimuli.table
        times = recording.sample_times
        if self.runs is None:
            return lanczos_resample(word_features, words["onset"].to_numpy(float), times)
        blocks = []
        for run in dict.fromkeys(self.runs.tolist()):
            in_run = (words["group"].astype(str) == str(run)).to_numpy()
            samples = self.runs == run
            blocks.append(
                lanczos_resample(
                    word_features[in_run], words["onset"].to_numpy(float)[in_run], times[samples]
                )
            )
        return np.concatenate(blocks)

    def _rows(self, design: np.ndarray, layer: Any = pd.NA, head: Any = pd.NA) -> pd.DataFrame:
        from brainalign.alignment.encoding import cross_validated_encoding

        result = cross_validated_encoding(
            design,
            self.study.recording.data,
            sampling="continuous",
            groups=self.runs,
            **self.study.ridge_options(),
        )
        return _unit_rows(self.study.recording.units, self.labels, result.scores, layer, head)

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's word features, resampled and scored against every unit."""
        from brainalign.benchmarks.continuous import story_word_features

        words = self.study.stimuli.table
        features = story_word_features(self.benchmark, self.settings, words, weights)
        frames = [
            self._rows(self._design(X), layer, head)
            for layer, head, X in feature_sets(features, False)
        ]
        constant = constant_feature_sets(features)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """Word rate: a column of ones per word, resampled like the model's features."""
        ones = np.ones((len(self.study.stimuli), 1))
        return {WORD_RATE_CONTROL: self._rows(self._design(ones))}

    def ceiling(self) -> pd.DataFrame | None:
        """Leave-one-subject-out ISC of units shared by every subject; else none."""
        return self.study.isc_ceiling(self.labels, self.runs)


# ----------------------------------------------------------------------------- RSA


@dataclass
class RsaTask:
    """Each layer's RDM compared with every data RDM (module documentation)."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings
    data_rdms: np.ndarray  # (n_rdms, n_pairs)
    targets: pd.DataFrame  # subject, unit of each data RDM

    def _rows(self, model_rdms: np.ndarray, layers: list[Any], heads: list[Any]) -> pd.DataFrame:
        from brainalign.alignment.rsa import compare_rdms

        scores = np.asarray(compare_rdms(model_rdms, self.data_rdms, self.study.comparison))
        n_rdms, n_targets = scores.shape
        rows = pd.DataFrame(
            {
                "layer": pd.array(
                    np.repeat(np.asarray(layers, dtype=object), n_targets).tolist(), dtype="Int64"
                ),
                "head": pd.array(
                    np.repeat(np.asarray(heads, dtype=object), n_targets).tolist(), dtype="Int64"
                ),
            }
        )
        for column in self.targets.columns:  # subject, unit (and session)
            rows[column] = np.tile(self.targets[column].to_numpy(), n_rdms)
            if column == "session":
                rows[column] = pd.array(rows[column].tolist(), dtype="Int64")
        rows["score"] = scores.ravel()
        return rows

    def _rdms(self, arrays: list[np.ndarray]) -> np.ndarray:
        from brainalign.alignment.rsa import rdm

        return np.stack([rdm(X, metric=self.study.dissimilarity) for X in arrays])

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's (and head's) RDM against every data RDM."""
        features = stimulus_features(self.study, self.benchmark, self.settings, weights)
        sets = list(feature_sets(features, self.settings.heads))
        model_rdms = self._rdms([X for _, _, X in sets])
        rows = self._rows(model_rdms, [s[0] for s in sets], [s[1] for s in sets])
        constant = constant_feature_sets(features, self.settings.heads)
        return ModelScores(rows, _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The RDM of one seeded random vector per stimulus."""
        ids = [str(i) for i in self.study.stimuli.stimulus_ids]
        vectors = random_vectors(ids, max(int(model.n_dims or 2), 2), seed=self.settings.run_seed)
        return {RANDOM_CONTROL: self._rows(self._rdms([vectors]), [pd.NA], [pd.NA])}

    def ceiling(self) -> pd.DataFrame | None:
        """RDM noise ceiling over the data RDMs of each unit (at least 2); else none."""
        from brainalign.alignment.rsa import rdm_noise_ceiling

        frames = []
        for unit, rows in self.targets.groupby("unit", sort=False):
            if len(rows) < 2:
                continue
            lower, upper = rdm_noise_ceiling(
                self.data_rdms[rows.index.to_numpy()], self.study.comparison
            )
            frames.append({"unit": unit, "ceiling": float(upper), "ceiling_lower": float(lower)})
        return pd.DataFrame(frames) if frames else None


# ----------------------------------------------------------------------------- ratings


@dataclass
class RatingNormsTask(NormProbeTask):
    """A norms table of the user's: the registered norms probe, without SD-based ceiling
    unless the table gives each dimension's SD and number of raters."""

    has_spread: bool = False

    def ceiling(self) -> pd.DataFrame | None:
        """The reliability ceiling where SDs and rater counts were given; else none."""
        return super().ceiling() if self.has_spread else None
