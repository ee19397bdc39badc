"""Studies of media and of images read with an instruction, scored end to end.

Real files: the recorded speech of tests/data/speech/jfk.wav (tiled into two 60 s runs
of a story), tests/data/video/bikes.mp4 (10 s, 25 fps) and the photographs of
tests/data/images. Models: a tiny random Wav2Vec2, VideoMAE and LLaVA built here.
Responses are planted from the audio's envelope (three units follow it two samples
late, three are noise) or random (video, images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.controls import sound_envelope
from brainalign.benchmarks.study import Study, StudyInputError
from brainalign.benchmarks.study.tasks import ENVELOPE_CONTROL, LUMINANCE_CONTROL
from brainalign.encoders.audio_io import read_audio

DATA = Path(__file__).resolve().parents[1] / "data"
SPEECH, BIKES, IMAGES = DATA / "speech" / "jfk.wav", DATA / "video" / "bikes.mp4", DATA / "images"
RUN_S, TR = 60.0, 1.0
#: Where each run's audio starts on the run's clock (s).
ONSETS = {"run-1": 0.0, "run-2": 2.0}
N_UNITS, N_PLANTED = 6, 3

# tests/data/images holds its SOURCE.txt next to the photographs
pytestmark = pytest.mark.filterwarnings("ignore:stimuli folder .* not images are left out")


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory, alice_words) -> Path:
    from tests.encoders.test_multimodal import save_llava

    return save_llava(tmp_path_factory.mktemp("study-llava"), alice_words)


# ----------------------------------------------------------------------------- audio


def _story_run(run: int) -> tuple[np.ndarray, int]:
    """RUN_S seconds of the tiled speech, each run starting elsewhere in it."""
    speech, rate = soundfile.read(SPEECH, dtype="float32")
    tiled = np.tile(np.roll(speech, run * rate * 3), int(np.ceil(RUN_S * rate / speech.size)))
    return tiled[: int(RUN_S * rate)], rate


def _envelope_at(samples: np.ndarray, rate: int, times: np.ndarray, onset: float) -> np.ndarray:
    frame_times, envelope = sound_envelope(samples, rate)
    return lanczos_resample(envelope[:, None], frame_times + onset, times)[:, 0]


@pytest.fixture(scope="module")
def audio_study_dir(tmp_path_factory) -> Path:
    """runs.csv (stimulus_id, audio, group, onset), bold.csv (onset, run, u0..u5)."""
    folder = tmp_path_factory.mktemp("audio-study")
    (folder / "audio").mkdir()
    rng = np.random.default_rng(5)
    tables = []
    times = np.arange(int(RUN_S / TR)) * TR
    for index, (run, onset) in enumerate(ONSETS.items()):
        samples, rate = _story_run(index)
        soundfile.write(folder / "audio" / f"{run}.wav", samples, rate, subtype="PCM_16")
        drive = _envelope_at(*soundfile.read(folder / "audio" / f"{run}.wav"), times, onset)
        drive = (drive - drive.mean()) / drive.std()
        late = np.concatenate([np.zeros(2), drive[:-2]])
        data = rng.standard_normal((len(times), N_UNITS))
        data[:, :N_PLANTED] = 2.0 * late[:, None] + 0.5 * data[:, :N_PLANTED]
        table = pd.DataFrame(data, columns=[f"u{i}" for i in range(N_UNITS)])
        tables.append(table.assign(onset=times, run=run))
    pd.concat(tables).to_csv(folder / "bold.csv", index=False)
    pd.DataFrame(
        {
            "stimulus_id": [f"story-{run}" for run in ONSETS],
            "audio": [f"audio/{run}.wav" for run in ONSETS],
            "group": list(ONSETS),
            "onset": list(ONSETS.values()),
        }
    ).to_csv(folder / "runs.csv", index=False)
    return folder


def _audio_study(folder: Path, **keywords) -> Study:
    return Study(
        "story-audio",
        stimuli=folder / "runs.csv",
        responses=folder / "bold.csv",
        sampling="continuous",
        **keywords,
    )


def test_an_audio_study_scores_layers_twin_and_the_envelope(audio_study_dir, tiny_wav2vec2_dir):
    study = _audio_study(audio_study_dir)
    assert study.modality == "audio" and study.groups == "run"
    card = study.benchmark()
    assert "sound-envelope" in card.controls and "frame" in card.presentation
    rows = card.run(str(tiny_wav2vec2_dir), progress=False)
    model = rows[rows["control"] == ""]
    assert set(model["weights"]) == {"pretrained", "untrained"}
    assert set(model["layer"]) == {0, 1, 2}
    assert len(model) == 2 * 3 * N_UNITS and np.isfinite(model["score"]).all()
    envelope = rows[rows["control"] == ENVELOPE_CONTROL].set_index("unit")["score"]
    assert len(envelope) == N_UNITS
    # the planted units follow the envelope: the acoustic control finds them
    planted = [f"u{i}" for i in range(N_PLANTED)]
    noise = [f"u{i}" for i in range(N_PLANTED, N_UNITS)]
    assert envelope.loc[planted].min() > 0.5
    assert envelope.loc[noise].abs().max() < 0.4
    # the envelope is shifted by each run's onset and resampled onto that run's samples
    bold = pd.read_csv(audio_study_dir / "bold.csv")
    design = np.concatenate(
        [
            _envelope_at(
                *read_audio(audio_study_dir / "audio" / f"{run}.wav"),
                bold["onset"].to_numpy()[bold["run"] == run],
                onset,
            )[:, None]
            for run, onset in ONSETS.items()
        ]
    )
    expected = cross_validated_encoding(
        design,
        bold[[f"u{i}" for i in range(N_UNITS)]].to_numpy(),
        sampling="continuous",
        groups=bold["run"].to_numpy(),
    ).scores
    np.testing.assert_allclose(envelope.loc[[f"u{i}" for i in range(N_UNITS)]], expected, atol=1e-6)


def test_the_digest_holds_the_audio_bytes(audio_study_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(audio_study_dir, copy)
    before = _audio_study(copy).digest
    assert before == _audio_study(audio_study_dir).digest  # paths do not enter, bytes do
    samples, rate = soundfile.read(copy / "audio" / "run-2.wav", dtype="float32")
    soundfile.write(copy / "audio" / "run-2.wav", samples[::-1], rate, subtype="PCM_16")
    assert _audio_study(copy).digest != before


def test_a_model_of_another_kind_is_refused_before_any_forward_pass(
    audio_study_dir, tiny_videomae_dir, tiny_wav2vec2_dir, tmp_path
):
    study = _audio_study(audio_study_dir)
    with pytest.raises(StudyInputError, match="'videomae' cannot read audio stimuli"):
        study.benchmark().run(str(tiny_videomae_dir), progress=False)
    video = _video_study(tmp_path)
    with pytest.raises(StudyInputError, match="a video study needs a video model"):
        video.benchmark().run(str(tiny_wav2vec2_dir), progress=False)


def test_media_settings_that_do_not_apply_are_refused(audio_study_dir, tmp_path):
    with pytest.raises(StudyInputError, match="pooling is for text"):
        _audio_study(audio_study_dir, pooling="last")
    with pytest.raises(StudyInputError, match=r"\['instruction'\] do not apply to audio stimuli"):
        _audio_study(audio_study_dir, options={"instruction": "Listen."})
    with pytest.raises(StudyInputError, match="read for continuous responses"):
        Study("one-clip", stimuli=BIKES, responses=np.ones((1, 3)), sampling="event")
    one_run = pd.read_csv(audio_study_dir / "bold.csv").drop(columns="run")
    one_run.to_csv(tmp_path / "bold.csv", index=False)
    with pytest.raises(StudyInputError, match="2 audio files but the responses have no runs"):
        Study(
            "story-audio",
            stimuli=audio_study_dir / "runs.csv",
            responses=tmp_path / "bold.csv",
            sampling="continuous",
        )


# ----------------------------------------------------------------------------- video


def _video_study(folder: Path, n_samples: int = 10) -> Study:
    """bikes.mp4 in two runs, the second starting 0.5 s into its run; TR 1 s."""
    rng = np.random.default_rng(7)
    runs = pd.DataFrame(
        {"stimulus_id": ["bikes-a", "bikes-b"], "video": [str(BIKES)] * 2, "group": ["a", "b"]}
    ).assign(onset=[0.0, 0.5])
    runs.to_csv(folder / "runs.csv", index=False)
    onsets = np.arange(n_samples) * TR
    bold = pd.DataFrame(rng.standard_normal((2 * n_samples, 4)), columns=list("wxyz"))
    bold = bold.assign(onset=np.tile(onsets, 2) + np.repeat([0.0, 0.5], n_samples))
    bold.assign(run=np.repeat(["a", "b"], n_samples)).to_csv(folder / "bold.csv", index=False)
    return Study(
        "bikes-video",
        stimuli=folder / "runs.csv",
        responses=folder / "bold.csv",
        sampling="continuous",
        options={"delays": [1, 2], "inner_splits": 2},
    )


def test_a_video_study_scores_clips_at_the_samples(tiny_videomae_dir, tmp_path):
    from brainalign.benchmarks.study.tasks import frame_luminance

    study = _video_study(tmp_path)
    np.testing.assert_allclose(study.media_times("b", 0.5), np.arange(10.0))
    rows = study.benchmark().run(str(tiny_videomae_dir), progress=False)
    model = rows[rows["control"] == ""]
    assert set(model["weights"]) == {"pretrained", "untrained"}
    assert set(model["layer"]) == {0, 1, 2} and len(model) == 2 * 3 * 4
    assert np.isfinite(model["score"]).all()
    luminance = rows[rows["control"] == LUMINANCE_CONTROL]
    assert len(luminance) == 4 and np.isfinite(luminance["score"]).all()
    values = frame_luminance(str(BIKES), np.arange(10.0))
    assert values.shape == (10,) and 0 < values.min() and values.max() < 1 and values.std() > 0


def test_samples_outside_the_video_are_refused(tmp_path):
    with pytest.raises(
        StudyInputError, match=r"run 'a': 1 sample\(s\) fall outside the video.*times \[11.0\] s"
    ):
        _video_study(tmp_path, n_samples=12)


# ----------------------------------------------------------------------------- images


def _image_rsa(folder: Path, **options) -> Study:
    rng = np.random.default_rng(9)
    points = rng.normal(size=(6, 4))
    np.save(folder / "rdm.npy", np.linalg.norm(points[:, None] - points[None], axis=2))
    return Study("photos-llava", stimuli=IMAGES, rdms=folder / "rdm.npy", options=options)


def test_images_with_a_multimodal_model_and_an_instruction(llava_dir, tmp_path):
    from brainalign.alignment.rsa import compare_rdms, rdm
    from brainalign.encoders.multimodal import MultimodalEncoder

    scores = {}
    for instruction in ("Describe the image.", "Name the object."):
        study = _image_rsa(tmp_path, instruction=instruction, span="instruction")
        assert instruction in study.benchmark().presentation
        # layer 0 of the instruction's tokens is the same for every image: left out
        run = {"progress": False, "untrained_twin": False, "layers": [1, 2]}
        rows = study.benchmark().run(str(llava_dir), **run)
        model = rows[rows["control"] == ""].sort_values("layer")
        direct = MultimodalEncoder(llava_dir, progress=False).encode(
            IMAGES, instruction, span="instruction"
        )
        data = np.asarray(study.rdm_set.dissimilarities, dtype=np.float64)
        layers = [np.asarray(direct[str(layer)], np.float64) for layer in model["layer"]]
        expected = np.asarray(compare_rdms(np.stack([rdm(x) for x in layers]), data))[:, 0]
        np.testing.assert_allclose(model["score"].to_numpy(), expected, atol=1e-6)
        scores[instruction] = model["score"].to_numpy()
    assert not np.allclose(*scores.values())
    first = _image_rsa(tmp_path, instruction="Describe the image.")
    assert first.digest != _image_rsa(tmp_path, instruction="Name the object.").digest


def test_instruction_options_are_refused_with_a_vision_model(tiny_vit_dir, tmp_path):
    from brainalign.benchmarks.image_rsa import encode_image_set

    study = _image_rsa(tmp_path, span="all")
    with pytest.raises(StudyInputError, match=r"\['span'\] are for a multimodal language model"):
        study.benchmark().run(str(tiny_vit_dir), progress=False)
    with pytest.raises(ValueError, match="instruction are for multimodal language models"):
        encode_image_set(str(tiny_vit_dir), IMAGES, instruction="Look.")
    with pytest.raises(StudyInputError, match=r"span='some': use one of visual"):
        _image_rsa(tmp_path, span="some")


# ----------------------------------------------------------------------------- study files


def test_an_audio_study_file_round_trips(audio_study_dir):
    text = (
        "name: story-audio\n"
        "stimuli: runs.csv      # stimulus_id, audio, group (the run), onset\n"
        "responses: bold.csv    # onset, run, one column per unit\n"
        "sampling: continuous\n"
    )
    (audio_study_dir / "study.yaml").write_text(text)
    study = Study.from_yaml(audio_study_dir / "study.yaml")
    assert study.modality == "audio" and study.media["run"].tolist() == list(ONSETS)
    assert study.media["onset"].tolist() == list(ONSETS.values())
    assert study.digest == _audio_study(audio_study_dir).digest
    (audio_study_dir / "bad.yaml").write_text(text + "options: {span: visual}\n")
    with pytest.raises(StudyInputError, match="bad.yaml.*do not apply to audio stimuli"):
        Study.from_yaml(audio_study_dir / "bad.yaml")
