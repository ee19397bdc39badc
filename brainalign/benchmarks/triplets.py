"""THINGS odd-one-out benchmarks: does a model pick the odd one out that people pick?

Benchmarks ``things-triplets-words`` (text models) and ``things-triplets-images`` (vision
models) score a model's features on the odd-one-out choices of THINGS-data (Hebart et al.
2023; catalogue entry ``things-triplets``, a triplet file the user downloads from OSF and
names with the option ``triplets``).

Features. Only the concepts that occur in the triplets are encoded, each once.

- words: each concept's ``Word`` (things_concepts.tsv, e.g. ``"air conditioner"``) read
  alone by :func:`~brainalign.benchmarks.word_similarity.encode_isolated_words` (the
  tokenizer's special tokens around it, mean over its tokens, every hidden state; 0 =
  embeddings). Homonyms share a word (*bat* the animal and *bat* the club): their
  features are identical, so a triplet holding both is a tie (see below).
- images: one image per concept from the folder named by the option ``images``
  (``<uniqueID>.<ext>`` files, or ``<uniqueID>/`` subfolders whose first image by name is
  used, as in the THINGS image release), read by
  :func:`~brainalign.benchmarks.image_rsa.encode_image_set` (the model's own image
  processor, mean over patch tokens or spatial positions, every hidden state). People saw
  one of the concept's images, not necessarily this one.

Score. :func:`brainalign.alignment.triplets.odd_one_out_accuracy` per layer (and per head
with ``heads=True``, from each head's output before the attention output projection,
``"L.heads"``): the model's odd one out is the item outside the most similar pair, under
cosine similarity of the raw features (Muttenthaler et al. 2023; option ``similarity``
``"dot"`` for the dot product of SPoSE), ties split evenly; accuracy is the fraction of
trials where it matches the participant's choice, over all trials of the file (repeated
triplets count once per trial). Chance is 1/3 (``chance`` column).

Ceiling. From the trials answered more than once (the file's own repeats, or those of the
file named by the option ``ceiling_triplets``, e.g. a THINGS noise-ceiling set):
``ceiling`` is the mean agreement with each triplet's most frequent answer (Hebart et
al. 2023; Brain-Score's Hebart2023 ceiling 0.6767), ``ceiling_lower`` the expected
accuracy of predicting each answer by the majority of the other answers
(:func:`~brainalign.alignment.triplets.odd_one_out_ceiling`); NaN without repeats.

Controls, scored exactly as the model: the untrained twin, and ``random-concept-vectors``:
one standard-normal vector per concept (:func:`~brainalign.benchmarks.controls.
random_vectors` keyed by its uniqueID and the run's seed), as wide as the model's last
layer: concept identity and nothing else; its expected accuracy is 1/3.

Rows: one per (model variant, layer[, head]) with ``subject`` ``"all"`` (the trials of
all participants pooled), ``unit`` ``"odd_one_out"``, ``score``, and the extra columns
``chance``, ``n_triplets``, ``n_concepts``, ``ceiling_lower`` and ``ceiling_sets`` (the
repeated triplets behind the ceiling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.triplets import (
    CHANCE,
    SIMILARITIES,
    TripletCeiling,
    odd_one_out_accuracy,
    odd_one_out_ceiling,
)
from brainalign.benchmarks.benchmark import (
    MissingBenchmarkDataError,
    ModelScores,
    constant_feature_sets,
)
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.image_rsa import encode_image_set
from brainalign.benchmarks.settings import SettingsError
from brainalign.benchmarks.word_similarity import (
    head_layers,
    hidden_state_names,
    word_types,
    words_of_run,
)
from brainalign.datasets.catalogue import load
from brainalign.datasets.download import NotInCacheError

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.behaviour import Triplets
    from brainalign.encoders.features import Features
    from brainalign.planning.workload import Workload

__all__ = [
    "ALL_PARTICIPANTS",
    "RANDOM_CONTROL",
    "UNIT",
    "TripletTask",
    "concept_images",
    "prepare_images",
    "prepare_words",
]

#: Name of the content-free control.
RANDOM_CONTROL = "random-concept-vectors"
#: ``unit`` of every row.
UNIT = "odd_one_out"
#: ``subject`` of every row: the trials of all participants, pooled.
ALL_PARTICIPANTS = "all"


def concept_images(folder: str | Path, concept_ids: Sequence[str]) -> list[Path]:
    """The image of each concept in a folder of concept images.

    Parameters
    ----------
    folder : str or path-like
        Holds ``<uniqueID>.<ext>`` image files, or ``<uniqueID>/`` subfolders (the first
        image by file name is used, as in the THINGS image release).
    concept_ids : sequence of str, length n_concepts
        THINGS ``uniqueID`` of each concept.

    Returns
    -------
    list of pathlib.Path, length n_concepts

    Raises
    ------
    ValueError
        If ``folder`` is not a folder, or concepts have no image (naming the first few
        and how to name their files).
    """
    from brainalign.encoders.vision import IMAGE_SUFFIXES

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ValueError(f"option images={str(folder)!r} is not a folder of concept images")

    def images_in(directory: Path) -> list[Path]:
        return sorted(
            p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )

    flat = {path.stem: path for path in images_in(root)}
    found: list[Path | None] = []
    for concept in concept_ids:
        subfolder = root / concept
        inside = images_in(subfolder) if subfolder.is_dir() else []
        found.append(flat.get(concept) or (inside[0] if inside else None))
    missing = [c for c, path in zip(concept_ids, found, strict=True) if path is None]
    if missing:
        raise ValueError(
            f"option images={str(folder)!r}: no image for {len(missing)} of the "
            f"{len(concept_ids)} concepts in the triplets (e.g. {missing[:5]}); name each "
            "image <uniqueID>.jpg (or .png ...) or put it in a <uniqueID>/ subfolder"
        )
    return [path for path in found if path is not None]


@dataclass
class TripletTask:
    """The triplets of one run, on the concepts they use (module documentation).

    Attributes
    ----------
    triplets : numpy.ndarray of intp, shape (n_triplets, 3)
        Indices into ``concept_ids``, the participant's odd one out last.
    concept_ids : list of str, length n_concepts
        THINGS uniqueIDs of the concepts in the triplets, in index order.
    words : list of str, length n_concepts
    images : list of Path, length n_concepts, or None
        None for the word benchmark.
    similarity : {"cosine", "dot"}
    consistency : TripletCeiling or None
        People's consistency on the repeated triplets; None without repeats.
    """

    benchmark: Benchmark
    settings: RunSettings
    triplets: np.ndarray
    concept_ids: list[str]
    words: list[str]
    images: list[Path] | None
    similarity: str
    consistency: TripletCeiling | None

    def _rows(self, scores: np.ndarray, layers: list[Any], heads: list[Any]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "layer": pd.array(layers, dtype="Int64"),
                "head": pd.array(heads, dtype="Int64"),
                "subject": ALL_PARTICIPANTS,
                "unit": UNIT,
                "score": np.asarray(scores, dtype=np.float64),
                "chance": CHANCE,
                "n_triplets": len(self.triplets),
                "n_concepts": len(self.concept_ids),
            }
        )

    def _features(self, weights: str) -> tuple[Features, np.ndarray]:
        """The model's features and, per concept, its row in them."""
        settings = self.settings
        if self.images is None:
            types, (rows,) = word_types(self.words)  # homonyms share a word: encoded once
            return words_of_run(self.benchmark, settings, types, weights), rows
        features = encode_image_set(
            settings.model,
            self.images,
            self.concept_ids,
            heads=settings.heads,
            **settings.encoder_options(self.benchmark, weights),
        )
        return features, np.arange(len(self.concept_ids))

    def score_model(self, weights: str) -> ModelScores:
        """Odd-one-out accuracy of every layer (and head) of the model."""
        features, rows = self._features(weights)
        names = hidden_state_names(features)
        accuracy = [self._accuracy(np.asarray(features[name])[rows]) for name in names]
        frames = [self._rows(np.array(accuracy), [int(n) for n in names], [pd.NA] * len(names))]
        if self.settings.heads:
            for layer in head_layers(features):
                per_head = self._accuracy(np.asarray(features[f"{layer}.heads"])[rows])
                frames.append(
                    self._rows(per_head, [layer] * len(per_head), list(range(len(per_head))))
                )
        return ModelScores(
            pd.concat(frames, ignore_index=True),
            int(features[names[-1]].shape[-1]),
            constant=constant_feature_sets(features, self.settings.heads),
        )

    def _accuracy(self, X: np.ndarray) -> Any:
        """Accuracy of (n_concepts, n_dims) features (a float), or of (n_concepts,
        n_heads, d_head) per-head features (shape (n_heads,))."""
        return odd_one_out_accuracy(X, self.triplets, self.similarity)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The random-concept-vector control, as wide as the model's last layer."""
        vectors = random_vectors(self.concept_ids, model.n_dims, seed=self.settings.run_seed)
        return {RANDOM_CONTROL: self._rows(np.array([self._accuracy(vectors)]), [pd.NA], [pd.NA])}

    def ceiling(self) -> pd.DataFrame:
        """Agreement with the most frequent answer (upper) and leave-one-out majority
        accuracy (lower) on repeated triplets; NaN when no triplet was repeated."""
        c = self.consistency
        return pd.DataFrame(
            {
                "unit": [UNIT],
                "ceiling": [np.nan if c is None else c.agreement],
                "ceiling_lower": [np.nan if c is None else c.leave_one_out],
                "ceiling_sets": [0 if c is None else c.n_sets],
            }
        )

    def workload(self) -> Workload:
        """The concepts (words read alone, or images); odd-one-out per layer and head."""
        from brainalign.planning.workload import (
            StimulusSet,
            Width,
            Workload,
            feature_set_fits,
            text_set,
        )

        settings = self.settings
        if self.images is None:
            types, _ = word_types(self.words)
            read = text_set(types, "isolated", settings, f"{len(types)} words")
        else:
            n = len(self.concept_ids)
            read = StimulusSet("image", n, f"{n} images", heads=settings.heads)
        return Workload(
            stimuli=(read,),
            fits=feature_set_fits(
                settings,
                "triplets",
                n_samples=len(self.triplets),
                n_targets=1,
                control_width=Width(),
            ),  # fmt: skip
            data_bytes=int(self.triplets.nbytes),
        )


def _option_path(benchmark: Benchmark, settings: RunSettings, option: str) -> str:
    value = settings.options.get(option)
    if value is None:
        raise SettingsError(
            f"{benchmark.versioned_id} needs the option {option} (--option {option}=PATH): "
            f"{benchmark.options[option]}"
        )
    return str(value)


def _load_triplets(benchmark: Benchmark, path: str) -> Triplets:
    """The triplet file read through the catalogue (concept names from things-concepts)."""
    try:
        return load(benchmark.dataset, path=path, progress=False)
    except NotInCacheError as error:
        raise MissingBenchmarkDataError(
            f"{benchmark.versioned_id} names its concepts from the dataset things-concepts, "
            "which is not in the cache and downloads are off: run `brainalign datasets fetch "
            f"things-concepts` online once, or save the file as listed below.\n{error}"
        ) from error


def _prepare(benchmark: Benchmark, settings: RunSettings, images: bool) -> TripletTask:
    similarity = settings.options.get("similarity", "cosine")
    if similarity not in SIMILARITIES:
        raise SettingsError(
            f"{benchmark.versioned_id}: option similarity={similarity!r}; use one of "
            f"{list(SIMILARITIES)}"
        )
    data = _load_triplets(benchmark, _option_path(benchmark, settings, "triplets"))
    used = np.unique(data.triplets)
    concepts = data.concepts.iloc[used]
    concept_ids = concepts["concept"].astype(str).tolist()
    ceiling_file = settings.options.get("ceiling_triplets")
    repeats = data if ceiling_file is None else _load_triplets(benchmark, str(ceiling_file))
    return TripletTask(
        benchmark=benchmark,
        settings=settings,
        triplets=np.searchsorted(used, data.triplets),
        concept_ids=concept_ids,
        words=concepts["word"].astype(str).tolist(),
        images=(
            concept_images(_option_path(benchmark, settings, "images"), concept_ids)
            if images
            else None
        ),
        similarity=similarity,
        consistency=odd_one_out_ceiling(repeats.triplets),
    )


def prepare_words(benchmark: Benchmark, settings: RunSettings) -> TripletTask:
    """``things-triplets-words``: each concept's word read alone (module documentation).

    Options: ``triplets`` (required: a THINGS triplet file), ``ceiling_triplets``,
    ``similarity``.
    """
    return _prepare(benchmark, settings, images=False)


def prepare_images(benchmark: Benchmark, settings: RunSettings) -> TripletTask:
    """``things-triplets-images``: one image per concept (module documentation).

    Options: ``triplets`` and ``images`` (required: a triplet file, a folder of concept
    images), ``ceiling_triplets``, ``similarity``.
    """
    return _prepare(benchmark, settings, images=True)
