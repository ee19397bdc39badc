"""AudioEncoder and audio reading against plain forward passes, scipy and real speech.

Every model is a tiny random-weight model built here (16 dims, 4 heads of 4 dims, 2
blocks; a 3-layer conv front end with the real 320-sample frame stride for the Wav2Vec2
family; Whisper with 5 s windows, AST with 128 fbank frames, CLAP with 2 s), perturbed so
no parameter keeps its initial value, saved with ``save_pretrained`` next to its feature
extractor and loaded through ``load_model``. The audio is the real jfk.wav / jfk.mp3
(tests/data/speech, 11 s of speech at 16 kHz).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
import transformers as tf
from scipy.signal import resample_poly

from brainalign.encoders import audio_io
from brainalign.encoders.audio import (
    AudioEncoder,
    FrameGrid,
    event_intervals,
    plan_windows,
    pool_intervals,
)
from brainalign.encoders.audio_io import AudioReadError
from brainalign.encoders.heads import UnsupportedArchitectureError
from brainalign.encoders.store import FeatureStore

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech"
JFK_WAV, JFK_MP3 = SPEECH / "jfk.wav", SPEECH / "jfk.mp3"
RATE = 16000
ATOL = 1e-5

_SMALL = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32)
_CONV = dict(
    conv_dim=(8, 8, 8),
    conv_stride=(5, 8, 8),
    conv_kernel=(10, 8, 4),
    num_feat_extract_layers=3,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
#: Seconds of jfk.wav that fit one window of each family.
ONE_WINDOW_S = {"wav2vec2": 11, "hubert": 11, "wavlm": 11, "whisper": 4.5, "ast": 1.2, "clap": 1.9}


def _configs() -> dict[str, tuple[type, object, object]]:
    wav2vec2_fe = tf.Wav2Vec2FeatureExtractor(sampling_rate=RATE, do_normalize=True)
    return {
        "wav2vec2": (tf.Wav2Vec2Model, tf.Wav2Vec2Config(**_SMALL, **_CONV), wav2vec2_fe),
        "hubert": (tf.HubertModel, tf.HubertConfig(**_SMALL, **_CONV), wav2vec2_fe),
        "wavlm": (
            tf.WavLMModel,
            tf.WavLMConfig(**_SMALL, **_CONV, num_buckets=16, max_bucket_distance=32),
            wav2vec2_fe,
        ),
        "whisper": (
            tf.WhisperModel,
            tf.WhisperConfig(
                d_model=16,
                encoder_layers=2,
                decoder_layers=1,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                num_mel_bins=16,
                max_source_positions=250,
                max_target_positions=32,
                vocab_size=100,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=1,
                suppress_tokens=None,
                begin_suppress_tokens=None,
            ),
            tf.WhisperFeatureExtractor(feature_size=16, chunk_length=5),
        ),
        "ast": (
            tf.ASTModel,
            tf.ASTConfig(**_SMALL, max_length=128, num_mel_bins=32),
            tf.ASTFeatureExtractor(num_mel_bins=32, max_length=128),
        ),
        "clap": (
            tf.ClapModel,
            tf.ClapConfig(
                audio_config=dict(
                    hidden_size=32,
                    num_attention_heads=[2, 2],
                    depths=[1, 1],
                    patch_embeds_hidden_size=8,
                    spec_size=64,
                    window_size=4,
                    num_mel_bins=16,
                    projection_dim=8,
                ),
                text_config=dict(
                    hidden_size=16,
                    num_hidden_layers=1,
                    num_attention_heads=2,
                    intermediate_size=16,
                    vocab_size=100,
                ),
                projection_dim=8,
            ),
            tf.ClapFeatureExtractor(
                feature_size=16,
                sampling_rate=RATE,
                hop_length=160,
                max_length_s=2,
                fft_window_size=400,
                frequency_max=8000,
            ),
        ),
    }


FAMILIES = tuple(_configs())


def perturb(model: torch.nn.Module, seed: int) -> None:
    """Move every parameter off its initial value (biases 0, LayerNorm gains 1, ...)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


def build_models(root: Path) -> dict[str, Path]:
    """Save every tiny family under ``root``; returns family -> directory."""
    paths = {}
    for index, (name, (model_class, config, extractor)) in enumerate(_configs().items()):
        torch.manual_seed(index)
        model = model_class(config).eval()
        perturb(model, index)
        path = root / name
        model.save_pretrained(path)
        extractor.save_pretrained(path)
        paths[name] = path
    return paths


def jfk(seconds: float | None = None) -> np.ndarray:
    """The real jfk.wav samples (16 kHz mono float32), optionally the first seconds."""
    samples, rate = soundfile.read(JFK_WAV, dtype="float32")
    assert rate == RATE
    return samples if seconds is None else samples[: int(seconds * RATE)]


@pytest.fixture(scope="session")
def audio_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_models(tmp_path_factory.mktemp("audio-models"))


@pytest.fixture(scope="session")
def encoders(audio_models: dict[str, Path]) -> dict[str, AudioEncoder]:
    return {name: AudioEncoder(path, progress=False) for name, path in audio_models.items()}


# --------------------------------------------------------------------------- plain forward


def plain_frames(encoder: AudioEncoder, samples: np.ndarray) -> list[np.ndarray]:
    """Every hidden state of one plain forward pass, as frames, written out per family.

    conv/whisper: the sequence itself (Whisper: the first ceil(n / 320) frames, those
    centred on real audio). AST: tokens after the 2 prefix tokens laid out as
    (frequency, time) and averaged over frequency. CLAP: each (C, rows, cols) map split
    into 4 row chunks laid end to end in time, averaged over rows, then over the
    columns of each of the last stage's frames.
    """
    model, extractor = encoder.model, encoder.feature_extractor
    options = {"truncation": "rand_trunc"} if encoder.family == "clap" else {}
    prepared = extractor([samples], sampling_rate=RATE, return_tensors="pt", **options)
    names = {"input_values", "input_features", "attention_mask"}
    inputs = {k: torch.as_tensor(v) for k, v in prepared.items() if k in names}
    if encoder.family == "clap":
        inputs["is_longer"] = torch.zeros(1, 1, dtype=torch.bool)
    with torch.no_grad():
        hidden_states = model(**inputs, output_hidden_states=True).hidden_states
    frames = []
    for hidden in hidden_states:
        hidden = hidden[0].float()
        if encoder.family == "whisper":
            hidden = hidden[: -(-len(samples) // 320)]
        elif encoder.family == "ast":
            config = model.config
            n_freq = (config.num_mel_bins - 16) // config.frequency_stride + 1
            n_time = (config.max_length - 16) // config.time_stride + 1
            assert hidden.shape[0] == 2 + n_freq * n_time
            hidden = hidden[2:].reshape(n_freq, n_time, -1).mean(0)
        elif encoder.family == "clap":
            channels, rows, cols = hidden.shape
            chunks = hidden.reshape(channels, 4, rows // 4, cols).mean(2).reshape(channels, -1)
            hidden = chunks.reshape(channels, 32, -1).mean(2).T
        frames.append(hidden.numpy())
    return frames


@pytest.mark.parametrize("family", FAMILIES)
def test_every_layer_equals_a_plain_forward_pass(family, encoders):
    encoder = encoders[family]
    samples = jfk(ONE_WINDOW_S[family])
    features = encoder.encode_audio(samples, sampling_rate=RATE, stimulus_ids=["jfk"])
    expected = plain_frames(encoder, samples)
    n_frames = features.n_items
    assert len(features.layers) == len(expected) == encoder.n_layers
    for layer, frames in enumerate(expected):
        if family in ("ast", "clap"):  # padded to the fixed input: only real frames kept
            assert n_frames <= len(frames)
        else:
            assert n_frames == len(frames)
        np.testing.assert_allclose(features[layer], frames[:n_frames], atol=ATOL, rtol=0)
    assert set(features.stimulus_ids.tolist()) == {"jfk"}
    onsets = features.onsets
    assert np.all(np.diff(onsets) > 0) and onsets[-1] < len(samples) / RATE
    assert features.provenance["audio"][0]["n_windows"] == 1


def test_frame_times_are_receptive_field_centres(encoders):
    # conv front end of the tiny models: kernels (10, 8, 4), strides (5, 8, 8)
    # -> stride 320, field 10 + 7 * 5 + 3 * 40 = 165 samples
    features = encoders["wav2vec2"].encode_audio(JFK_WAV)
    index = np.arange(features.n_items)
    np.testing.assert_allclose(features.onsets, (320 * index + 82) / RATE)
    assert features.n_items == (176000 - 165) // 320 + 1
    whisper = encoders["whisper"].encode_audio(jfk(4.5), sampling_rate=RATE)
    np.testing.assert_allclose(whisper.onsets, 0.02 * np.arange(whisper.n_items), atol=1e-12)
    assert whisper.n_items == 225  # frames centred before 4.5 s, not the 250 of 5 s
    ast = encoders["ast"].encode_audio(jfk(1.2), sampling_rate=RATE)
    np.testing.assert_allclose(ast.onsets, (1600 * np.arange(ast.n_items) + 1399.5) / RATE)


# --------------------------------------------------------------------------- windows


def test_window_plan_takes_each_frame_once_with_most_left_context():
    grid = FrameGrid(stride=320, field=400, offset=0)
    n_samples, window, hop = 16000 * 47 + 123, 16000 * 10, 16000 * 8
    windows, n_frames = plan_windows(n_samples, grid, window, hop)
    assert n_frames == (n_samples - 400) // 320 + 1
    rows = np.concatenate([np.arange(w.row, w.row + w.last - w.first) for w in windows])
    np.testing.assert_array_equal(rows, np.arange(n_frames))  # every frame exactly once
    for k, w in enumerate(windows):
        assert w.start == k * hop and w.stop == min(w.start + window, n_samples)
        frame_start = w.start + 320 * w.first  # first sample of the first frame taken
        if k:
            # the earliest window holding the frame's field: the previous window does not
            prev = windows[k - 1]
            assert frame_start + 400 > prev.stop
            assert frame_start - w.start >= (window - hop) - 400  # left context ~ overlap
    # a whisper-like centred grid: frames 0, 1 of later windows lack their left field
    whisper = FrameGrid(stride=320, field=1039, offset=-519, max_frames=250, padded=True)
    windows, n_frames = plan_windows(200000, whisper, 80000, 40000)
    assert n_frames == -(-200000 // 320)
    assert all(w.first >= 2 for w in windows[1:])
    assert sum(w.last - w.first for w in windows) == n_frames


def test_windows_are_batched_and_never_reencode_more_than_the_overlap(audio_models):
    encoder = AudioEncoder(
        audio_models["wav2vec2"], window_s=3, overlap_s=1, batch_size=2, progress=False
    )
    lengths = []
    handle = encoder.model.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(tuple(kwargs["input_values"].shape)),
        with_kwargs=True,
    )
    try:
        features = encoder.encode_audio(JFK_WAV)
    finally:
        handle.remove()
    # windows start every 2 s: 0, 2, 4, 6, 8 (3 s each, the last 8-11 s); batches of 2
    assert lengths == [(2, 48000), (2, 48000), (1, 48000)]
    n_windows = features.provenance["audio"][0]["n_windows"]
    assert n_windows == 5
    encoded = sum(shape[0] * shape[1] for shape in lengths)
    assert encoded == 176000 + (n_windows - 1) * 16000  # the audio + one overlap per window
    # the frames taken from window 2 (4-7 s) equal a plain forward pass on that window
    samples = jfk()
    window_frames = plain_frames(encoder, samples[64000:112000])
    windows, _ = plan_windows(176000, encoder.grid, encoder.window, encoder.hop)
    w = windows[2]
    for layer in range(encoder.n_layers):
        np.testing.assert_allclose(
            features[layer][w.row : w.row + w.last - w.first],
            window_frames[layer][w.first : w.last],
            atol=ATOL,
        )
    # one pass (the default 20 s window) and windows agree on the frame grid
    one_pass = AudioEncoder(audio_models["wav2vec2"], progress=False).encode_audio(JFK_WAV)
    np.testing.assert_allclose(features.onsets, one_pass.onsets)


def test_whisper_windows_cover_long_audio(encoders):
    features = encoders["whisper"].encode_audio(JFK_WAV)  # 11 s in 5 s windows
    assert features.n_items == 550
    np.testing.assert_allclose(features.onsets, 0.02 * np.arange(550), atol=1e-12)
    assert features.provenance["audio"][0]["n_windows"] == 4  # starts 0, 2.5, 5, 7.5 s


# --------------------------------------------------------------------------- reading


def test_wav_and_mp3_decode_alike():
    wav, wav_rate = audio_io.read_audio(JFK_WAV)
    mp3, mp3_rate = audio_io.read_audio(JFK_MP3)
    assert wav_rate == mp3_rate == RATE
    assert abs(len(wav) - len(mp3)) <= 320  # within one frame
    n = min(len(wav), len(mp3))
    assert np.corrcoef(wav[:n], mp3[:n])[0, 1] > 0.99
    np.testing.assert_array_equal(wav, jfk())


def test_mp4_audio_is_decoded_with_pyav(tmp_path):
    """An AAC track in an .m4a (MP4) container, written here from jfk.wav with PyAV."""
    import av

    samples = jfk(2)
    path = tmp_path / "jfk.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = RATE, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    decoded, rate = audio_io.read_audio(path)
    assert rate == RATE and 0 <= len(decoded) - len(samples) < 1024  # the last AAC frame
    assert np.corrcoef(samples, decoded[: len(samples)])[0, 1] > 0.99


def test_several_files_are_concatenated_with_times_from_zero(encoders):
    encoder = encoders["hubert"]
    with pytest.raises(ValueError, match="stems"):  # both are "jfk"
        encoder.encode_audio([JFK_WAV, JFK_MP3])
    features = encoder.encode_audio([JFK_WAV, JFK_MP3], stimulus_ids=["wav", "mp3"])
    ids = features.stimulus_ids
    n_wav, n_mp3 = int(np.sum(ids == "wav")), int(np.sum(ids == "mp3"))
    assert n_wav == 550 and abs(n_mp3 - n_wav) <= 1
    assert ids[:n_wav].tolist() == ["wav"] * n_wav  # in input order
    n = min(n_wav, n_mp3)
    np.testing.assert_allclose(features.onsets[:n], features.onsets[n_wav : n_wav + n])
    decoders = [entry["decoder"] for entry in features.provenance["audio"]]
    assert decoders == ["soundfile", "pyav"]
    # the same speech, decoded from MP3: features strongly correlated
    wav, mp3 = features["2"][:n], features["2"][n_wav : n_wav + n]
    assert np.corrcoef(wav.ravel(), mp3.ravel())[0, 1] > 0.9


def test_resampling_equals_resample_poly(encoders, caplog):
    samples = jfk(3)
    at_44k = resample_poly(samples, 441, 160).astype(np.float32)
    up, down = audio_io.resample_factors(44100, 16000)
    assert (up, down) == (160, 441)
    expected = resample_poly(at_44k, 160, 441).astype(np.float32)
    np.testing.assert_array_equal(audio_io.resample(at_44k, 44100, 16000), expected)
    source = audio_io.open_audio(at_44k, sampling_rate=16000, array_rate=44100)
    for start, stop in [(0, 5000), (20011, 31000), (source.n_samples - 999, source.n_samples)]:
        np.testing.assert_allclose(source.read(start, stop), expected[start:stop], atol=1e-6)
    encoder = encoders["wav2vec2"]
    with caplog.at_level(logging.INFO, logger="brainalign.encoders.audio"):
        resampled = encoder.encode_audio(at_44k, sampling_rate=44100)
    assert "from 44100 Hz to 16000 Hz" in caplog.text
    assert resampled.provenance["audio"][0]["resampled_from"] == 44100
    direct = encoder.encode_audio(expected, sampling_rate=16000)
    np.testing.assert_allclose(resampled["2"], direct["2"], atol=ATOL)


def test_stereo_is_the_mean_of_channels(tmp_path):
    samples = jfk(1)
    stereo = np.stack([samples, 0.5 * samples], axis=1)
    soundfile.write(tmp_path / "stereo.flac", stereo, RATE, subtype="PCM_24")
    mono, _ = audio_io.read_audio(tmp_path / "stereo.flac")
    np.testing.assert_allclose(mono, 0.75 * samples, atol=1e-4)


# --------------------------------------------------------------------------- store


def test_store_streaming_equals_memory_and_hits_the_store(audio_models, tmp_path):
    encoder = AudioEncoder(audio_models["wav2vec2"], window_s=4, overlap_s=1, progress=False)
    in_memory = encoder.encode_audio(JFK_WAV)
    store = FeatureStore(tmp_path / "store")
    streamed = encoder.encode_audio(JFK_WAV, store=store)
    for name in in_memory.layers:
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_memory[name])
    np.testing.assert_allclose(streamed.onsets, in_memory.onsets)
    np.testing.assert_array_equal(streamed.stimulus_ids, in_memory.stimulus_ids)
    calls = []
    handle = encoder.model.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        again = encoder.encode_audio(JFK_WAV, store=store)
    finally:
        handle.remove()
    assert calls == [] and again.n_items == in_memory.n_items
    key = encoder.audio_store_key(JFK_WAV)
    assert store.try_load(key) is not None
    # the same bytes decoded elsewhere, other layers or another file: other keys
    assert encoder.audio_store_key(JFK_MP3) != key
    assert encoder.audio_store_key(JFK_WAV, layers=[1]) != key
    assert encoder.audio_store_key(JFK_WAV, stimulus_ids=["x"]) != key


# --------------------------------------------------------------------------- errors


def test_unreadable_and_empty_audio_name_the_file(encoders, tmp_path):
    encoder = encoders["wav2vec2"]
    for name in ("broken.wav", "broken.mp3"):
        path = tmp_path / name
        path.write_bytes(b"this is not audio" * 10)
        with pytest.raises(AudioReadError, match=name) as error:
            encoder.encode_audio(path)
        assert "soundfile" in str(error.value) or "PyAV" in str(error.value)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), RATE)
    with pytest.raises(AudioReadError, match="empty.wav.*no audio samples"):
        encoder.encode_audio(empty)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        encoder.encode_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioReadError, match="sampling_rate"):
        encoder.encode_audio(jfk(1))
    bad = jfk(1).copy()
    bad[100] = np.nan
    with pytest.raises(AudioReadError, match="sample 100 is nan"):
        encoder.encode_audio(bad, sampling_rate=RATE)
    with pytest.raises(AudioReadError, match="shorter than one frame"):
        encoder.encode_audio(jfk(0.005), sampling_rate=RATE)


def test_heads_refused_for_families_without_capture(encoders, monkeypatch):
    # a conv front end of a type without capture paths (found by its conv_kernel)
    monkeypatch.setattr(encoders["wav2vec2"], "model_type", "unispeech")
    with pytest.raises(UnsupportedArchitectureError, match="unispeech") as error:
        encoders["wav2vec2"].encode_audio(jfk(1), sampling_rate=RATE, blocks=True)
    assert "wav2vec2, hubert, data2vec-audio, wavlm, whisper" in str(error.value)
    assert "clap_audio_model" in str(error.value)


def test_window_settings_are_checked(audio_models):
    with pytest.raises(ValueError, match="at most 5 s"):
        AudioEncoder(audio_models["whisper"], window_s=10, progress=False)
    with pytest.raises(ValueError, match="cannot overlap"):
        AudioEncoder(audio_models["clap"], overlap_s=0.5, progress=False)


# --------------------------------------------------------------------------- pooling


def speech_segments(samples: np.ndarray) -> list[tuple[float, float]]:
    """Stretches of speech in jfk.wav found from its energy (our stand-in for word times).

    The RMS of 20 ms frames (hop 10 ms) in dB relative to the loudest frame; a frame is
    speech above -30 dB; runs of speech separated by less than 150 ms of silence are
    joined, and runs shorter than 100 ms dropped. Each segment is (first speech frame's
    start, last speech frame's end) in seconds. On jfk.wav this finds four phrases, which
    match the transcript's pauses: "And so, my fellow Americans" (0.31-2.19 s), "ask not"
    (3.27-4.43 s), "what your country can do for you" (5.40-7.84 s), "ask what you can do
    for your country" (8.18-10.99 s). They serve as the word (phrase) intervals.
    """
    frame, hop = 320, 160
    starts = np.arange(0, len(samples) - frame, hop)
    rms = np.array([np.sqrt(np.mean(samples[s : s + frame] ** 2)) for s in starts])
    level = 20 * np.log10(np.maximum(rms, 1e-10) / rms.max())
    speech = level > -30
    segments: list[list[int]] = []
    for index in np.flatnonzero(speech):
        if segments and index - segments[-1][1] <= 15:
            segments[-1][1] = index
        else:
            segments.append([index, index])
    return [(starts[a] / RATE, (starts[b] + frame) / RATE) for a, b in segments if b - a >= 10]


def test_pool_intervals_averages_the_frames_of_each_word(encoders):
    features = encoders["hubert"].encode_audio(JFK_WAV, blocks=False)
    segments = speech_segments(jfk())
    expected = [(0.31, 2.19), (3.27, 4.43), (5.40, 7.84), (8.18, 10.99)]
    np.testing.assert_allclose(segments, expected, atol=0.011)
    table = pd.DataFrame(segments, columns=["onset", "offset"])
    pooled = pool_intervals(features, table)
    assert pooled.n_items == len(segments)
    for row, (start, stop) in enumerate(segments):
        inside = (features.onsets >= start) & (features.onsets < stop)
        for name in features.layers:
            np.testing.assert_allclose(pooled[name][row], features[name][inside].mean(0), atol=1e-6)
    np.testing.assert_array_equal(pooled.onsets, table["onset"].to_numpy())
    # an interval between frame times gets the nearest frame, never NaN
    tiny = pool_intervals(features, [0.0301], [0.0302])
    nearest = int(np.argmin(np.abs(features.onsets - 0.03015)))
    np.testing.assert_allclose(tiny["1"][0], features["1"][nearest])
    # M/EEG-style epochs around events
    starts, stops = event_intervals([1.0, 2.5], -0.1, 0.4)
    np.testing.assert_allclose(starts, [0.9, 2.4])
    epochs = pool_intervals(features, starts, stops)
    assert np.all(np.isfinite(epochs["2"]))


def test_pool_intervals_refuses_times_past_the_audio(encoders):
    features = encoders["hubert"].encode_audio(JFK_WAV)
    with pytest.raises(ValueError, match=r"stop 12\.5 s is outside audio 'jfk', which lasts 11 s"):
        pool_intervals(features, [10.0], [12.5])
    two = encoders["hubert"].encode_audio([JFK_WAV, JFK_MP3], stimulus_ids=["a", "b"])
    with pytest.raises(ValueError, match="stimulus_ids="):
        pool_intervals(two, [1.0], [2.0])
    with pytest.raises(ValueError, match="'c' is not among"):
        pool_intervals(two, [1.0], [2.0], stimulus_ids=["c"])
    pooled = pool_intervals(two, [1.0, 1.0], [2.0, 2.0], stimulus_ids=["a", "b"])
    assert pooled.stimulus_ids.tolist() == ["a", "b"]
