"""``lebel2023-audio-encoding``: an audio model's layers against every voxel of a listener.

Data: LeBel et al. (2023, OpenNeuro ds003020), subject UTS01 listening to the story
*cocoonoflove*: the preprocessed responses (``derivative/preprocessed_data/UTS01/
cocoonoflove.hf5``, (n_TRs, n_voxels) of the subject's cortex, row 0 at 10 s after the
audio onset, TR 2.0045 s; :func:`~brainalign.datasets.loaders.read_lebel_responses`) and
the story's audio (``stimuli/cocoonoflove.wav``), both from the catalogue with their
published checksums.

Model side: the story's waveform through an audio model
(:class:`~brainalign.encoders.audio.AudioEncoder`: Wav2Vec2, HuBERT, WavLM, Whisper's
encoder, AST, CLAP's audio tower), one feature vector per model frame and layer, each
frame stamped with its time on the audio clock; long audio is read in overlapping
windows (each frame from the window where it has the most left context). The frame
features are Lanczos-resampled to the volume onsets
(:func:`~brainalign.benchmarks.continuous.features_to_volumes`, as the word features of
``alice2016-encoding``).

Score: held-out Pearson r per voxel of FIR-delayed (1-4 volumes) ridge in 5 contiguous
blocks with a gap (:func:`~brainalign.benchmarks.continuous.score_design`).

Controls, scored exactly as the model is (the same resampling, delays, blocked folds,
ridge and metric):

- the untrained twin: the same architecture with seeded random weights;
- ``sound-envelope``: the waveform's RMS envelope in 10 ms frames
  (:func:`~brainalign.benchmarks.controls.sound_envelope`), the acoustic drive any
  auditory model must beat.

Ceiling: none. The catalogue lists one presentation of this story for one subject, so
neither a repeat nor an inter-subject ceiling exists; ``ceiling`` is NaN.

Options: ``voxels`` (score these voxel indices only; default every voxel) and
``nan_to_zero`` (set non-finite response values to 0 as the authors' code does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.benchmark import ModelScores
from brainalign.benchmarks.continuous import (
    EncodingSettings,
    score_design,
    score_timed_features,
)
from brainalign.benchmarks.controls import sound_envelope
from brainalign.datasets.catalogue import fetch, load

if TYPE_CHECKING:
    from collections.abc import Sequence

    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings
    from brainalign.datasets.recording import Recording
    from brainalign.encoders.features import Features
    from brainalign.planning.workload import Workload

__all__ = [
    "ENVELOPE_CONTROL",
    "LEBEL_AUDIO_FILES",
    "LebelAudioTask",
    "prepare",
    "score_envelope_control",
    "story_audio_features",
]

#: Subject and story of the benchmark.
SUBJECT, STORY = "UTS01", "cocoonoflove"
#: The catalogue files it reads (responses, audio).
LEBEL_AUDIO_FILES = (f"{SUBJECT}_{STORY}", f"audio_{STORY}")
#: Name of the acoustic control.
ENVELOPE_CONTROL = "sound-envelope"


def story_audio_features(
    benchmark: Benchmark, settings: RunSettings, audio: Path, story: str, weights: str
) -> Features:
    """Every layer's frame features of a story's audio, through the run's store.

    Parameters
    ----------
    benchmark : Benchmark
        Its batch size and name (for progress bars).
    settings : RunSettings
    audio : pathlib.Path
        The story's audio file.
    story : str
        Its stimulus id.
    weights : {"pretrained", "untrained"}

    Returns
    -------
    Features
        (n_frames, n_dims) per layer, ``onsets`` the frame times in seconds on the
        audio clock.
    """
    from brainalign.encoders.audio import AudioEncoder

    encoder = AudioEncoder(
        settings.model,
        **settings.model_options(benchmark, weights),
    )
    return encoder.encode_audio(
        [audio], stimulus_ids=[story], layers=settings.layers, store=settings.feature_store()
    )


def score_envelope_control(
    recording: Recording, audio: Path, settings: EncodingSettings
) -> pd.DataFrame:
    """Score the sound envelope through the model's pipeline.

    Returns
    -------
    pandas.DataFrame
        One row per voxel, ``layer`` missing.
    """
    from brainalign.encoders.audio_io import read_audio

    samples, rate = read_audio(audio)
    times, envelope = sound_envelope(samples, rate)
    design = lanczos_resample(
        envelope[:, None], times, recording.sample_times, window=settings.lanczos_window
    )
    return score_design(recording, {"0": design}, settings, layered=False)


@dataclass
class LebelAudioTask:
    """The lebel2023 story and its audio prepared for one run (module documentation)."""

    benchmark: Benchmark
    settings: RunSettings
    recording: Recording
    audio: Path
    encoding: EncodingSettings

    def score_model(self, weights: str) -> ModelScores:
        """Every layer's frame features, resampled to volumes and scored per voxel."""
        features = story_audio_features(self.benchmark, self.settings, self.audio, STORY, weights)
        _check_covers(features, self.recording, self.audio)
        return score_timed_features(self.recording, features, self.encoding)

    def score_controls(self, model: ModelScores) -> dict[str, pd.DataFrame]:
        """The sound envelope, through the same pipeline."""
        return {ENVELOPE_CONTROL: score_envelope_control(self.recording, self.audio, self.encoding)}

    def ceiling(self) -> None:
        """No ceiling: one presentation of one subject (module documentation)."""
        return None

    def workload(self) -> Workload:
        """The story's audio once per variant; the delayed ridge per layer onto every
        voxel, and the envelope control."""
        from brainalign.planning.workload import StimulusSet, Workload, feature_set_fits

        seconds = audio_seconds([self.audio])
        encoding = self.encoding
        return Workload(
            stimuli=(StimulusSet("audio", 0, f"{STORY} audio", seconds=seconds),),
            fits=feature_set_fits(
                self.settings,
                "ridge",
                n_samples=self.recording.n_samples,
                n_targets=self.recording.n_units,
                control_width=1,
                n_delays=len(encoding.delays),
                n_splits=encoding.n_splits,
                inner_splits=encoding.inner_splits,
                n_alphas=None if encoding.alphas is None else len(encoding.alphas),
            ),  # fmt: skip
            data_bytes=int(self.recording.data.nbytes),
            notes=() if seconds is not None else ("audio duration unknown",),
        )


def audio_seconds(paths: Sequence[str | Path]) -> float | None:
    """Total duration (seconds) of audio files that soundfile reads; None when one is in
    a format only PyAV decodes (its duration is then not known without decoding)."""
    try:
        import soundfile

        return float(sum(soundfile.info(str(path)).duration for path in paths))
    except Exception:  # noqa: BLE001 - soundfile cannot read it: unknown, never guessed
        return None


def _check_covers(features: Features, recording: Recording, audio: Path) -> None:
    """Refuse audio that ends before the last volume (the wrong file for the responses)."""
    assert features.onsets is not None
    end = float(np.max(features.onsets))
    last = float(recording.sample_times[-1])
    if end < last - recording.tr:
        raise ValueError(
            f"{audio}: the audio ends at {end:.1f} s but the responses run to {last:.1f} s "
            "on the audio clock; the audio and the responses are of different stories"
        )


def _check_audio_model(model: str) -> None:
    """Refuse a model that cannot read audio, from its config, before any data is read."""
    from brainalign.encoders.loading import modality_of
    from brainalign.encoders.models import inspect_model, split_model_spec

    config = inspect_model(split_model_spec(model)[0]).config
    try:
        modality_of(config, "audio")
    except ValueError as error:
        raise ValueError(
            f"lebel2023-audio-encoding scores audio models (Wav2Vec2, HuBERT, WavLM, "
            f"Whisper, AST, CLAP); model {model!r}: {error}"
        ) from error


def _voxels(value: Any, n_voxels: int) -> np.ndarray | None:
    if value is None:
        return None
    indices = np.asarray(value)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"voxels={value!r}; give a non-empty list of voxel indices")
    if indices.min() < 0 or indices.max() >= n_voxels:
        raise ValueError(
            f"voxels={value!r}: indices must lie in 0..{n_voxels - 1} (the file has "
            f"{n_voxels} voxels)"
        )
    if len(np.unique(indices)) != len(indices):
        raise ValueError(f"voxels={value!r} repeats an index")
    return indices


def prepare(benchmark: Benchmark, settings: RunSettings) -> LebelAudioTask:
    """Load UTS01's *cocoonoflove* responses and the story's audio for a run.

    Returns
    -------
    LebelAudioTask
        Rows: one per (layer, voxel), the voxel index in ``unit``.

    Raises
    ------
    ValueError
        For a model that cannot read audio (before any file is read), a bad ``voxels``
        option (named), or responses with non-finite values without ``nan_to_zero``
        (named by the reader).
    """
    _check_audio_model(settings.model)
    options = settings.options
    paths = fetch(benchmark.dataset, files=list(LEBEL_AUDIO_FILES), progress=False)
    recording = load(
        benchmark.dataset,
        subject=SUBJECT,
        story=STORY,
        nan_to_zero=bool(options.get("nan_to_zero", False)),
    )
    voxels = _voxels(options.get("voxels"), recording.n_units)
    if voxels is not None:
        recording = recording.select(voxel=voxels.tolist())
    return LebelAudioTask(
        benchmark, settings, recording, paths[f"audio_{STORY}"], EncodingSettings()
    )
