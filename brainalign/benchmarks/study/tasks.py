"""The tasks a study runs: its data prepared once, scored per model variant.

Each task follows :class:`~brainalign.benchmarks.benchmark.BenchmarkTask`: it computes
scores and nothing else (:meth:`Benchmark.run <brainalign.benchmarks.benchmark.
Benchmark.run>` labels the rows, adds the twin and joins the ceiling).

- :class:`EventEncodingTask`: one response per stimulus (repeats averaged), ridge with
  no delays and K-fold over stimuli (group folds with ``groups``); ceiling from repeats.
- :class:`ContinuousEncodingTask`: a time series; word features Lanczos-resampled to the
  samples, FIR delays, contiguous folds with a gap; inter-subject ceiling. On the M/EEG
  clock (:attr:`~brainalign.benchmarks.study.study.Study.on_meeg_clock`) instead: word
  features as whitened principal components placed as impulses at the word onsets
  (control ``word-onsets``), and a temporal response function from ``tmin`` to ``tmax``
  seconds (:func:`~brainalign.alignment.trf.cross_validated_trf`), whole runs held out.
- :class:`AudioEncodingTask`: the same, from the frames of each run's audio file
  (control ``sound-envelope``).
- :class:`VideoEncodingTask`: the same, from a clip of each run's video centred on every
  sample (control ``frame-luminance``).
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
from brainalign.benchmarks.lebel_audio import (  # the audio control's name, durations
    ENVELOPE_CONTROL,
    audio_seconds,
)
from brainalign.benchmarks.norms import NormProbeTask
from brainalign.benchmarks.story_trf import ONSET_CONTROL  # on the M/EEG clock
from brainalign.benchmarks.units import restrict_run_features

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.benchmarks.study.study import Study
    from brainalign.datasets.recording import Recording
    from brainalign.encoders.features import Features
    from brainalign.planning.workload import Workload

__all__ = [
    "ENVELOPE_CONTROL",
    "LUMINANCE_CONTROL",
    "RANDOM_CONTROL",
    "WORD_RATE_CONTROL",
    "AudioEncodingTask",
    "ContinuousEncodingTask",
    "EventEncodingTask",
    "RatingNormsTask",
    "RsaTask",
    "StimulusLayersTask",
    "VideoEncodingTask",
    "frame_luminance",
    "stimulus_features",
]

#: The content-free control of event studies: one seeded random vector per stimulus.
RANDOM_CONTROL = "random-stimulus-features"
#: The content-free control of continuous studies: how many words fall in each sample.
WORD_RATE_CONTROL = "word-rate"
#: The content-free control of video studies: the mean intensity of the frame shown.
LUMINANCE_CONTROL = "frame-luminance"
#: Frames decoded at a time by :func:`frame_luminance`.
_FRAME_CHUNK = 64


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
        multimodal = {k: study.options[k] for k in ("instruction", "span") if k in study.options}
        return encode_image_set(
            settings.model, study.images, heads=settings.heads, **multimodal, **options
        )
    features = extract_item_features(
        settings.model,
        table.assign(stimulus_id=table["stimulus_id"].astype(str)),
        context=study.context,
        pooling=study.pooling,
        heads=settings.heads,
        context_words=settings.context_words,
        **study.text_instruction(),
        **options,
    )
    return restrict_run_features(features, settings, weights)


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


# ----------------------------------------------------------------------------- workloads


def stimulus_workload_set(study: Study, settings: RunSettings) -> Any:
    """The :class:`~brainalign.planning.workload.StimulusSet` that
    :func:`stimulus_features` reads: the study's texts in its context mode, or images."""
    from brainalign.planning.workload import StimulusSet, text_set

    n = len(study.stimuli)
    if study.modality == "image":
        return StimulusSet("image", n, f"{n} images", heads=settings.heads)
    texts = study.stimuli.table["text"].astype(str).tolist()
    table = study.stimuli.table
    groups = table["group"].astype(str).tolist() if "group" in table.columns else ()
    return text_set(texts, study.context, settings, f"{n} texts", groups=groups)


def _ridge_fit_options(study: Study) -> dict[str, Any]:
    """:class:`~brainalign.planning.workload.Fit` fields of the study's ridge options."""
    options = study.ridge_options()
    alphas = options.get("alphas")
    return {
        "n_splits": options["n_splits"],
        "inner_splits": options["inner_splits"],
        "n_alphas": None if alphas is None else len(alphas),
    }


# ----------------------------------------------------------------------------- event encoding


class StimulusLayersTask:
    """``score_model`` of the tasks with one feature vector per stimulus: every layer
    (and head) through the task's ``_rows(X, layer, head)``."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings

    def _rows(self, X: np.ndarray, layer: Any = pd.NA, head: Any = pd.NA) -> pd.DataFrame:
        raise NotImplementedError

    def score_model(self, weights: str) -> ModelScores:
        """Held-out r of every unit from every layer (and head)."""
        features = stimulus_features(self.study, self.benchmark, self.settings, weights)
        frames = [
            self._rows(X, layer, head)
            for layer, head, X in feature_sets(features, self.settings.heads)
        ]
        constant = constant_feature_sets(features, self.settings.heads)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)


@dataclass
class EventEncodingTask(StimulusLayersTask):
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

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """One seeded random vector per stimulus, as wide as the model's last layer."""
        ids = [str(i) for i in self.study.stimuli.stimulus_ids]
        vectors = random_vectors(ids, int(model.n_dims or 2), seed=self.settings.run_seed)
        return {RANDOM_CONTROL: self._rows(vectors)}

    def ceiling(self) -> pd.DataFrame | None:
        """Split-half reliability over repeats (Spearman-Brown), on the r scale; else none."""
        return self.study.repeat_ceiling(self.labels)

    def workload(self) -> Workload:
        """The stimuli once per variant; a ridge per layer (and head) and the control."""
        from brainalign.planning.workload import Width, Workload, feature_set_fits

        held = self.responses.data.nbytes + _study_data_bytes(self.study)
        return Workload(
            stimuli=(stimulus_workload_set(self.study, self.settings),),
            fits=feature_set_fits(
                self.settings,
                "ridge",
                n_samples=len(self.rows_of_stimuli),
                n_targets=self.responses.n_units,
                control_width=Width(),
                **_ridge_fit_options(self.study),
            ),  # fmt: skip
            data_bytes=int(held),
        )


# ----------------------------------------------------------------------------- continuous


@dataclass
class ContinuousEncodingTask:
    """Word features resampled to the samples, delayed, ridge (module documentation)."""

    study: Study
    benchmark: Benchmark
    settings: RunSettings
    runs: np.ndarray | None  # run of each sample, None for one run
    labels: np.ndarray

    def _design(self, word_features: np.ndarray, *, reduce: bool = True) -> np.ndarray:
        """Word-level columns on the samples, run by run: Lanczos-resampled, or on the
        M/EEG clock whitened principal components (``reduce``) as impulses."""
        words = self.study.stimuli.table
        onsets = words["onset"].to_numpy(float)
        runs = words["group"].astype(str).to_numpy()
        if self.study.on_meeg_clock:
            return self._impulses(word_features, onsets, runs, reduce=reduce)
        return self._resample(word_features, onsets, runs)

    def _run_slices(self) -> list[tuple[str | None, slice]]:
        """Each run and its samples (contiguous), in order."""
        if self.runs is None:
            return [(None, slice(0, self.study.recording.n_samples))]
        slices = []
        for run in dict.fromkeys(self.runs.tolist()):
            index = np.flatnonzero(self.runs == run)
            if index[-1] - index[0] + 1 != index.size:
                raise ValueError(
                    f"the samples of run {run!r} are not contiguous; order the samples by run"
                )
            slices.append((str(run), slice(index[0], index[-1] + 1)))
        return slices

    def _impulses(
        self, values: np.ndarray, onsets: np.ndarray, runs: np.ndarray, *, reduce: bool
    ) -> np.ndarray:
        """Each word's (reduced) features as an impulse at its run's nearest sample."""
        from brainalign.alignment.meeg_clock import impulse_features
        from brainalign.benchmarks.story_trf import whitened_components

        settings = self.study.trf_settings()
        if reduce:
            values = whitened_components(values, settings.n_components)
        times = self.study.recording.sample_times
        design = np.zeros((len(times), values.shape[1]))
        for run, samples in self._run_slices():
            rows = np.ones(len(runs), bool) if run is None else runs == run
            design[samples] = impulse_features(
                onsets[rows],
                values[rows],
                sfreq=settings.sfreq,
                n_samples=samples.stop - samples.start,
                start=float(times[samples.start]),
            )
        return design

    def _resample(self, values: np.ndarray, onsets: np.ndarray, runs: np.ndarray) -> np.ndarray:
        """Timed rows Lanczos-resampled onto the samples of their run.

        Parameters
        ----------
        values : numpy.ndarray, shape (n_rows, n_dims)
        onsets : numpy.ndarray, shape (n_rows,)
            Seconds on the clock of each row's run.
        runs : numpy.ndarray of str, shape (n_rows,)
            The run of each row (ignored with one run).

        Returns
        -------
        numpy.ndarray of float64, shape (n_samples, n_dims)
        """
        from brainalign.alignment.temporal import lanczos_resample

        times = self.study.recording.sample_times
        if self.runs is None:
            return lanczos_resample(values, onsets, times)
        design = np.empty((len(times), values.shape[1]))
        for run in dict.fromkeys(self.runs.tolist()):
            rows, samples = runs == str(run), self.runs == run
            design[samples] = lanczos_resample(values[rows], onsets[rows], times[samples])
        return design

    def _rows(self, design: np.ndarray, layer: Any = pd.NA, head: Any = pd.NA) -> pd.DataFrame:
        from brainalign.alignment.encoding import cross_validated_encoding

        if self.study.on_meeg_clock:
            result = self._trf(design)
        else:
            result = cross_validated_encoding(
                design,
                self.study.recording.data,
                sampling="continuous",
                groups=self.runs,
                **self.study.ridge_options(),
            )
        return _unit_rows(self.study.recording.units, self.labels, result.scores, layer, head)

    def _trf(self, design: np.ndarray) -> Any:
        """A TRF per unit; whole runs held out (blocked folds with a gap for one run)."""
        from brainalign.benchmarks.story_trf import runs_trf

        lengths = [s.stop - s.start for _, s in self._run_slices()]
        return runs_trf(design, self.study.recording.data, lengths, self.study.trf_settings())

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's word features, resampled and scored against every unit."""
        from brainalign.benchmarks.continuous import story_word_features

        words = self.study.stimuli.table
        features = story_word_features(
            self.benchmark, self.settings, words, weights, **self.study.text_instruction()
        )
        frames = [
            self._rows(self._design(X), layer, head)
            for layer, head, X in feature_sets(features, False)
        ]
        constant = constant_feature_sets(features)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """Word rate: a column of ones per word, resampled like the model's features; on
        the M/EEG clock an impulse at each word onset (``word-onsets``)."""
        ones = np.ones((len(self.study.stimuli), 1))
        name = ONSET_CONTROL if self.study.on_meeg_clock else WORD_RATE_CONTROL
        return {name: self._rows(self._design(ones, reduce=False))}

    def ceiling(self) -> pd.DataFrame | None:
        """Leave-one-subject-out ISC of units shared by every subject; else none."""
        return self.study.isc_ceiling(self.labels, self.runs)

    def _fits(self, width: Any) -> tuple[Any, ...]:
        """The model's fits on ``width`` columns per layer and the one-column control:
        delayed ridge, or on the M/EEG clock a TRF on the whitened components."""
        from brainalign.planning.workload import Fit, Width

        recording = self.study.recording
        shape = {"n_samples": recording.n_samples, "n_targets": recording.n_units}
        if self.study.on_meeg_clock:
            trf = self.study.trf_settings()
            n_runs = len(self._run_slices())
            options = {
                "n_delays": int(round(trf.tmax * trf.sfreq)) - int(round(trf.tmin * trf.sfreq)) + 1,
                "n_splits": n_runs if n_runs > 1 else trf.n_splits,
                "inner_splits": trf.inner_splits,
                "n_alphas": None if trf.alphas is None else len(trf.alphas),
            }
            kind, width = "trf", Width("fixed", trf.n_components)
        else:
            delays = self.study.ridge_options().get("delays", (1, 2, 3, 4))
            options = {**_ridge_fit_options(self.study), "n_delays": len(delays)}
            kind = "ridge"
        return (
            Fit(kind, **shape, width=width, **options),
            Fit(kind, **shape, width=Width("fixed", 1), over="once", **options),
        )

    def workload(self) -> Workload:
        """The words (preceding-word or causal windows) once per variant, then per layer
        the delayed ridge (or TRF) onto every unit, and the one-column control."""
        from brainalign.planning.workload import Width, Workload, text_set

        words = self.study.stimuli.table["text"].astype(str).tolist()
        return Workload(
            stimuli=(
                text_set(
                    words,
                    "window",
                    self.settings,
                    f"{len(words)} words",
                    groups=self.study.stimuli.table["group"].astype(str).tolist(),
                ),
            ),  # fmt: skip
            fits=self._fits(Width()),
            data_bytes=int(self.study.recording.data.nbytes),
        )


class AudioEncodingTask(ContinuousEncodingTask):
    """Each run's audio frames, resampled to its samples, delayed, ridge (module doc)."""

    def _frame_clock(self, ids: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times on the run's clock and the run of rows stamped with file ids and times."""
        media = self.study.media.set_index("stimulus_id")
        files = np.asarray(ids).astype(str)
        shift = media["onset"].loc[files].to_numpy(dtype=float)
        runs = media["run"].astype(str).loc[files].to_numpy()
        return np.asarray(onsets, dtype=float) + shift, runs

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's frame features, resampled run by run and scored per unit."""
        from brainalign.encoders.audio import AudioEncoder

        settings, media = self.settings, self.study.media
        encoder = AudioEncoder(
            settings.model,
            **settings.model_options(self.benchmark, weights),
        )
        features = encoder.encode_audio(
            media["path"].tolist(),
            stimulus_ids=media["stimulus_id"].tolist(),
            layers=settings.layers,
            store=settings.feature_store(),
        )
        onsets, runs = self._frame_clock(features.stimulus_ids, features.onsets)
        frames = [
            self._rows(self._resample(X, onsets, runs), layer, head)
            for layer, head, X in feature_sets(features, False)
        ]
        constant = constant_feature_sets(features)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The RMS envelope of each run's audio, resampled like the frames."""
        from brainalign.benchmarks.controls import sound_envelope
        from brainalign.encoders.audio_io import read_audio

        values, times, ids = [], [], []
        for row in self.study.media.itertuples():
            frame_times, envelope = sound_envelope(*read_audio(row.path))
            values.append(envelope)
            times.append(frame_times)
            ids.append(np.full(len(envelope), row.stimulus_id))
        onsets, runs = self._frame_clock(np.concatenate(ids), np.concatenate(times))
        design = self._resample(np.concatenate(values)[:, None], onsets, runs)
        return {ENVELOPE_CONTROL: self._rows(design)}

    def workload(self) -> Workload:
        """Each run's audio once per variant; the delayed ridge per layer and the
        envelope control."""
        from brainalign.planning.workload import StimulusSet, Width, Workload

        paths = self.study.media["path"].astype(str).tolist()
        seconds = audio_seconds(paths)
        notes = () if seconds is not None else ("audio duration unknown (not a soundfile format)",)
        audio = StimulusSet("audio", 0, f"{len(paths)} audio files", seconds=seconds)
        return Workload(
            stimuli=(audio,),
            fits=self._fits(Width()),
            data_bytes=int(self.study.recording.data.nbytes),
            notes=notes,
        )


def frame_luminance(path: str, times: np.ndarray) -> np.ndarray:
    """Mean pixel intensity (0-1, over pixels and RGB) of the frame shown at each time.

    Parameters
    ----------
    path : str
        The video file.
    times : numpy.ndarray, shape (n_times,)
        Seconds on the video's clock, within ``[0, duration]``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_times,)
    """
    from brainalign.encoders.video_io import read_frames

    chunks = [
        read_frames(path, times[start : start + _FRAME_CHUNK]).mean(axis=(1, 2, 3)) / 255.0
        for start in range(0, len(times), _FRAME_CHUNK)
    ]
    return np.concatenate(chunks).astype(np.float64)


class VideoEncodingTask(ContinuousEncodingTask):
    """A clip of each run's video centred on every sample, delayed, ridge (module doc)."""

    def _by_sample(self, per_run: list[np.ndarray]) -> np.ndarray:
        """Rows computed run by run (in the media table's order) placed at their samples."""
        out = np.empty((self.study.recording.n_samples, *per_run[0].shape[1:]), per_run[0].dtype)
        for row, values in zip(self.study.media.itertuples(), per_run, strict=True):
            out[self.study.run_samples(row.run)] = values
        return out

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's clip features at the samples, scored per unit."""
        from brainalign.encoders.features import Features
        from brainalign.encoders.video import VideoEncoder

        settings = self.settings
        encoder = VideoEncoder(
            settings.model,
            **settings.model_options(self.benchmark, weights),
        )
        runs = [
            encoder.encode_video(
                row.path,
                times=self.study.media_times(row.run, row.onset),
                video_id=row.stimulus_id,
                layers=settings.layers,
                store=settings.feature_store(),
            )
            for row in self.study.media.itertuples()
        ]
        features = Features(
            {name: self._by_sample([run[name] for run in runs]) for name in runs[0].layer_names},
            self._by_sample([np.asarray(run.stimulus_ids, dtype=object) for run in runs]),
            self.study.recording.sample_times,
            runs[0].provenance,
        )
        frames = [
            self._rows(np.asarray(X, dtype=np.float64), layer, head)
            for layer, head, X in feature_sets(features, False)
        ]
        constant = constant_feature_sets(features)
        return ModelScores(pd.concat(frames, ignore_index=True), _last_width(features), constant)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The luminance of the frame shown at each sample."""
        luminance = [
            frame_luminance(row.path, self.study.media_times(row.run, row.onset))
            for row in self.study.media.itertuples()
        ]
        return {LUMINANCE_CONTROL: self._rows(self._by_sample(luminance)[:, None])}

    def workload(self) -> Workload:
        """A clip per sample once per variant; the delayed ridge per layer and the
        luminance control."""
        from brainalign.planning.workload import StimulusSet, Width, Workload

        n = self.study.recording.n_samples
        return Workload(
            stimuli=(StimulusSet("video", n, f"{n} clips"),),
            fits=self._fits(Width()),
            data_bytes=int(self.study.recording.data.nbytes),
        )


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

    def workload(self) -> Workload:
        """The stimuli once per variant; every layer's (and head's) RDM held at once and
        compared with every data RDM, and the control's RDM."""
        from brainalign.planning.workload import Width, Workload, feature_set_fits

        n = len(self.study.stimuli)
        return Workload(
            stimuli=(stimulus_workload_set(self.study, self.settings),),
            fits=feature_set_fits(
                self.settings,
                "rsa",
                n_samples=n,
                n_targets=len(self.data_rdms),
                control_width=Width(),
                stacked=True,
            ),  # fmt: skip
            data_bytes=int(self.data_rdms.nbytes) + _study_data_bytes(self.study),
        )


def _study_data_bytes(study: Study) -> int:
    """Bytes of the responses a study holds (recording or epochs)."""
    if study.recording is not None:
        return int(study.recording.data.nbytes)
    epochs = getattr(study, "epochs", None)
    return 0 if epochs is None else sum(int(s.data.nbytes) for s in epochs.subjects)


# ----------------------------------------------------------------------------- ratings


@dataclass
class RatingNormsTask(NormProbeTask):
    """A norms table of the user's: the registered norms probe, without SD-based ceiling
    unless the table gives each dimension's SD and number of raters."""

    has_spread: bool = False

    def ceiling(self) -> pd.DataFrame | None:
        """The reliability ceiling where SDs and rater counts were given; else none."""
        return super().ceiling() if self.has_spread else None
