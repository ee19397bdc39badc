"""The alice2016 encoding study: a language model's layers against six language ROIs.

Every run reports, next to the model's layers: the same architecture with random
weights (``MODEL@untrained``), the dataset's own word-rate and sound-power regressors
through the same pipeline, a position-only control (``control:position``: each word's
index in the story through
:func:`~brainalign.benchmarks.controls.position_features`, Lanczos-resampled to the
volumes and scored with the model's FIR delays and ridge) and the leave-one-subject-out
noise ceiling.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.continuous import (
    EncodingSettings,
    features_to_volumes,
    noise_ceiling,
    score_design,
    score_regressors,
)
from brainalign.benchmarks.controls import position_features
from brainalign.datasets.catalogue import load
from brainalign.datasets.recording import Recording
from brainalign.results import make_results

logger = logging.getLogger(__name__)

DATASET = "alice2016"
NUISANCE_REGRESSORS = ["word_rate", "sound_power"]
NUISANCE_MODEL = "nuisance:word_rate+sound_power"
POSITION_MODEL = "control:position"


@dataclass
class Timings:
    """Seconds spent in each stage of a run."""

    load: float = 0.0
    extraction: float = 0.0
    encoding: float = 0.0
    by_model: dict[str, float] = field(default_factory=dict)


def _progress(description: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return lambda items: tqdm(items, desc=description, unit="layer", leave=False)


def score_position_control(
    recording: Recording, words: pd.DataFrame, settings: EncodingSettings
) -> pd.DataFrame:
    """Score the position-only control: each word's index in the story, nothing else.

    :func:`~brainalign.benchmarks.controls.position_features` of the word index (the
    words in story order form one group), Lanczos-resampled from the word onsets to the
    volumes like the model's features, then the model's pipeline (FIR delays, ridge,
    contiguous folds) via :func:`~brainalign.benchmarks.continuous.score_design`.

    Parameters
    ----------
    recording : Recording
        Continuous recording, (n_volumes, n_units).
    words : pandas.DataFrame, shape (n_words, ...)
        The story's words in order, with ``onset`` in seconds.
    settings : EncodingSettings

    Returns
    -------
    pandas.DataFrame
        One row per unit, ``model`` ``control:position``, ``layer`` missing.
    """
    onsets = words["onset"].to_numpy(dtype=float)
    features = position_features(np.zeros(len(onsets), dtype=int), np.arange(len(onsets)))
    design = lanczos_resample(
        features, onsets, recording.sample_times, window=settings.lanczos_window
    )
    rows = score_design(recording, {"0": design}, POSITION_MODEL, settings)
    rows["layer"] = pd.NA
    return rows


def run_alice2016(
    model: str,
    *,
    layers: Sequence[int] | None = None,
    radius_mm: int = 6,
    subjects: Sequence[str] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    context_words: int | None = None,
    untrained_baseline: bool = True,
    seed: int = 0,
    settings: EncodingSettings | None = None,
    feature_store: str | os.PathLike | None = None,
    progress: bool = True,
    timings: Timings | None = None,
) -> pd.DataFrame:
    """Score a language model's layers on alice2016, with controls and the ceiling.

    Parameters
    ----------
    model : str
        Hugging Face hub id or local model directory.
    layers : sequence of int, optional
        Hidden-state indices (0 = embeddings); all by default.
    radius_mm : {6, 10}
        ROI radius.
    subjects : sequence of str, optional
        Subset of subjects (default: all 27).
    device, dtype, batch_size, context_words
        Passed to :class:`brainalign.encoders.text.TextEncoder`.
    untrained_baseline : bool
        Also score the same architecture with seeded random weights.
    seed : int
        Seed of the random weights.
    settings : EncodingSettings, optional
        Delays, folds, gap and alphas (defaults documented there).
    feature_store : path, optional
        A :class:`~brainalign.encoders.store.FeatureStore` directory: features are read
        from it when an entry with the same provenance exists (no forward pass), and
        written to it otherwise.
    progress : bool
        Show progress bars.
    timings : Timings, optional
        Filled with the seconds spent per stage.

    Returns
    -------
    pandas.DataFrame
        Tidy results (:data:`brainalign.results.RESULT_COLUMNS`): one row per
        (model, layer, subject, roi) for the model and its untrained twin, one row per
        (subject, roi) for the nuisance and the position controls; ``ceiling`` is that subject's
        leave-one-subject-out ISC for the ROI.
    """
    from brainalign.encoders.store import FeatureStore, text_encoder_key
    from brainalign.encoders.text import TextEncoder

    settings = settings or EncodingSettings()
    store = FeatureStore(feature_store) if feature_store is not None else None
    timings = timings if timings is not None else Timings()

    start = time.perf_counter()
    recording = load(DATASET, radius_mm=radius_mm, subjects=list(subjects) if subjects else None)
    words = recording.stimuli.table
    timings.load = time.perf_counter() - start

    variants = [("pretrained", model)]
    if untrained_baseline:
        variants.append(("untrained", f"{model}@untrained"))

    encoder_options = {"device": device, "dtype": dtype, "batch_size": batch_size, "seed": seed}
    if context_words is not None:
        encoder_options["context_words"] = context_words

    word_options = {
        "layers": layers,
        "stimulus_ids": words["stimulus_id"].to_numpy(),
        "onsets": words["onset"].to_numpy(),
        "space_before": words["space_before"].to_numpy(),
    }
    texts = words["text"].tolist()

    frames = []
    for weights, label in variants:
        start = time.perf_counter()
        encoder = TextEncoder(model, weights=weights, progress=progress, **encoder_options)
        key = None if store is None else text_encoder_key(encoder, texts, **word_options)
        # With a store, a complete entry is read back and a missing one is streamed into it.
        features = encoder.encode_words(texts, **word_options, store=store, key=key)
        extracted = time.perf_counter()
        timings.extraction += extracted - start
        design = features_to_volumes(features, recording.sample_times, settings.lanczos_window)
        frames.append(
            score_design(recording, design, label, settings, _progress(f"fit {label}", progress))
        )
        timings.encoding += time.perf_counter() - extracted
        timings.by_model[label] = time.perf_counter() - start

    start = time.perf_counter()
    frames.append(score_regressors(recording, NUISANCE_REGRESSORS, NUISANCE_MODEL, settings))
    frames.append(score_position_control(recording, words, settings))
    ceiling = noise_ceiling(recording)
    timings.encoding += time.perf_counter() - start

    rows = pd.concat(frames, ignore_index=True).merge(ceiling, on=["subject", "roi"], how="left")
    rows["dataset"] = DATASET
    return make_results(rows)
