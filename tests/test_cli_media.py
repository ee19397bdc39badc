"""``brainalign extract`` on audio, video and images with an instruction: the model and
the stimuli choose the encoder.

Real files: tests/data/speech/jfk.wav and jfk.mp3 (11 s of recorded speech),
tests/data/video/bikes.mp4 (10 s, 25 fps, no sound track) and the photographs of
tests/data/images. Models: a tiny random Wav2Vec2, VideoMAE and LLaVA saved with their
feature extractor / processor.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from brainalign.cli import main
from brainalign.encoders.audio import AudioEncoder
from brainalign.encoders.extract import StimulusInputError, read_stimuli
from brainalign.encoders.media_stimuli import MediaStimuli
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.video import VideoEncoder

DATA = Path(__file__).resolve().parent / "data"
JFK_WAV, JFK_MP3 = DATA / "speech" / "jfk.wav", DATA / "speech" / "jfk.mp3"
BIKES = DATA / "video" / "bikes.mp4"


def test_audio_file_is_stored_then_reused(tiny_wav2vec2_dir, tmp_path, capsys):
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_wav2vec2_dir), "--stimuli", str(JFK_WAV)]
    assert main([*args, "--out", str(out), "--heads", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "1 audio file," in printed and "computed and stored" in printed
    name = next(line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("entry"))
    stored = FeatureStore(out).load(name)
    # the same numbers as the encoder in Python, frames stamped with their times
    direct = AudioEncoder(tiny_wav2vec2_dir, progress=False).encode_audio(JFK_WAV, heads=True)
    assert stored.layer_names == direct.layer_names
    for layer in direct.layer_names:
        np.testing.assert_allclose(stored[layer], direct[layer], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stored.onsets, direct.onsets)
    assert set(stored.stimulus_ids) == {"jfk"} and np.all(np.diff(stored.onsets) > 0)
    assert main([*args, "--out", str(out), "--heads", "--quiet"]) == 0
    assert "reused existing entry (no forward pass)" in capsys.readouterr().out


def test_video_file_gives_one_clip_per_tr(tiny_videomae_dir, tmp_path, capsys):
    out = tmp_path / "store"
    args = ["extract", "--model", str(tiny_videomae_dir), "--stimuli", str(BIKES), "--tr", "2"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "1 video, 6 clips from 0.00 s to 10.00 s, computed and stored" in printed
    name = next(line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("entry"))
    stored = FeatureStore(out).load(name)
    direct = VideoEncoder(tiny_videomae_dir, progress=False).encode_video(BIKES, tr=2.0)
    for layer in direct.layer_names:
        np.testing.assert_allclose(stored[layer], direct[layer], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stored.onsets, [0, 2, 4, 6, 8, 10])


def test_folders_and_tables_of_media(tmp_path):
    folder = tmp_path / "speech"
    folder.mkdir()
    shutil.copy(JFK_WAV, folder / "a.wav")
    shutil.copy(JFK_MP3, folder / "b.mp3")
    (folder / "notes.txt").write_text("skipped")
    stimuli = read_stimuli(folder)
    assert isinstance(stimuli, MediaStimuli) and stimuli.kind == "audio"
    assert stimuli.stimulus_ids.tolist() == ["a", "b"]
    table = tmp_path / "audio.csv"
    table.write_text(f"stimulus_id,audio\nfirst,{JFK_WAV}\nsecond,speech/b.mp3\n")
    listed = read_stimuli(table)
    assert listed.stimulus_ids.tolist() == ["first", "second"]
    assert listed.paths[1] == folder / "b.mp3"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("same_stems", r"stimulus ids repeat \(\['jfk'\]\)"),
        ("mixed", r"holds both images and audio files"),
        ("wrong_column", r"the 'audio' column lists video files; name the column 'video'"),
        ("missing", r"media file 0 not found"),
    ],
)
def test_bad_media_stimuli_are_named(tmp_path, setup, message):
    if setup == "same_stems":
        target = tmp_path / "speech"
        target.mkdir()
        shutil.copy(JFK_WAV, target)
        shutil.copy(JFK_MP3, target)
    elif setup == "mixed":
        target = tmp_path / "mixed"
        target.mkdir()
        shutil.copy(JFK_WAV, target)
        shutil.copy(next(iter(sorted((DATA / "images").glob("*.jpg")))), target)
    elif setup == "wrong_column":
        target = tmp_path / "table.csv"
        target.write_text(f"audio\n{BIKES}\n")
    else:
        target = tmp_path / "table.csv"
        target.write_text("video\nlost.mp4\n")
    with pytest.raises(StimulusInputError, match=message):
        read_stimuli(target)


@pytest.mark.parametrize(
    ("model", "stimuli", "extra", "message"),
    [
        ("videomae", BIKES, [], r"needs sample times: --tr SECONDS"),
        ("wav2vec2", JFK_WAV, ["--tr", "2"], r"--tr do not apply to audio"),
        ("wav2vec2", JFK_WAV, ["--pooling", "mean"], r"--pooling do not apply to audio"),
        ("wav2vec2", JFK_WAV, ["--context", "window"], r"--context apply to text"),
        ("videomae", JFK_WAV, [], r"cannot read audio stimuli; it reads video stimuli"),
        ("gpt2", JFK_WAV, [], r"cannot read audio stimuli; it reads text stimuli"),
        ("wav2vec2", BIKES, [], r"bikes.mp4.*(no audio|audio stream)"),
    ],
)
def test_options_that_do_not_fit_are_refused(
    request, tiny_wav2vec2_dir, tiny_videomae_dir, tmp_path, capsys, model, stimuli, extra, message
):
    directory = {
        "wav2vec2": tiny_wav2vec2_dir,
        "videomae": tiny_videomae_dir,
        "gpt2": request.getfixturevalue("tiny_gpt2_dir") if model == "gpt2" else None,
    }[model]
    out = tmp_path / "store"
    args = ["extract", "--model", str(directory), "--stimuli", str(stimuli), "--out", str(out)]
    assert main([*args, *extra, "--quiet"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not any(out.glob("*/manifest.json"))


def test_images_with_a_multimodal_model_and_an_instruction(tmp_path, capsys, alice_words):
    from brainalign.encoders.multimodal import MultimodalEncoder
    from tests.encoders.test_multimodal import save_llava

    llava = save_llava(tmp_path / "llava", alice_words)
    out = tmp_path / "store"
    args = ["extract", "--model", str(llava), "--stimuli", str(DATA / "images"), "--quiet"]
    chosen = ["--instruction", "Name the object.", "--instruction-format", "chat"]
    assert main([*args, "--out", str(out), *chosen, "--span", "all"]) == 0
    printed = capsys.readouterr().out
    assert "6 images, computed and stored" in printed
    name = next(line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("entry"))
    stored = FeatureStore(out).load(name)
    direct = MultimodalEncoder(llava, progress=False).encode(
        DATA / "images", "Name the object.", chat_template=True, span="all"
    )
    for layer in direct.layer_names:
        np.testing.assert_allclose(stored[layer], direct[layer], rtol=1e-5, atol=1e-6)
    assert main([*args, "--out", str(out), "--pooling", "mean"]) == 2
    assert "--pooling do not apply to a multimodal language model" in capsys.readouterr().err
