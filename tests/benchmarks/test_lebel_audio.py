"""lebel2023-audio-encoding end to end, on files in the published layout over loopback.

The story audio is the real recorded speech of tests/data/speech/jfk.wav (16 kHz) played
back to back for 150 s; the responses are an ``.hf5`` in the layout of ds003020's
``derivative/preprocessed_data/UTS01/cocoonoflove.hf5`` (one dataset ``data``,
(n_TRs, n_voxels), row 0 at 10 s after the audio onset): six voxels, three of which
follow the audio's RMS envelope two volumes late (plus noise), three pure noise. Both
are served from a loopback HTTP server at the catalogue's own URL paths.
"""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from brainalign.alignment.temporal import lanczos_resample
from brainalign.benchmarks.controls import sound_envelope
from brainalign.benchmarks.lebel_audio import ENVELOPE_CONTROL
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.settings import RunSettings
from brainalign.datasets.loaders import LEBEL_FIRST_ONSET, LEBEL_TR
from tests.datasets.catalogue_helpers import LoopbackServer, serve_entry_file

SPEECH = Path(__file__).resolve().parents[1] / "data" / "speech" / "jfk.wav"
DURATION_S = 150.0
N_VOXELS, N_PLANTED = 6, 3


@pytest.fixture(scope="module")
def story() -> tuple[np.ndarray, int]:
    speech, rate = soundfile.read(SPEECH, dtype="float32")
    repeats = int(np.ceil(DURATION_S * rate / speech.size))
    return np.tile(speech, repeats)[: int(DURATION_S * rate)], rate


def _responses(samples: np.ndarray, rate: int) -> np.ndarray:
    times, envelope = sound_envelope(samples, rate)
    n_trs = int((DURATION_S - LEBEL_FIRST_ONSET - 8) // LEBEL_TR)
    volume_times = LEBEL_FIRST_ONSET + np.arange(n_trs) * LEBEL_TR
    drive = lanczos_resample(envelope[:, None], times, volume_times)[:, 0]
    drive = (drive - drive.mean()) / drive.std()
    late = np.concatenate([np.zeros(2), drive[:-2]])
    noise = np.random.default_rng(3).standard_normal((n_trs, N_VOXELS))
    data = noise.copy()
    data[:, :N_PLANTED] = 2.0 * late[:, None] + 0.5 * noise[:, :N_PLANTED]
    return data.astype(np.float32)


@pytest.fixture
def served(tmp_path, monkeypatch, isolated_cache, story):
    samples, rate = story
    audio = io.BytesIO()
    soundfile.write(audio, samples, rate, format="WAV", subtype="PCM_16")
    hf5 = tmp_path / "cocoonoflove.hf5"
    with h5py.File(hf5, "w") as handle:
        handle.create_dataset("data", data=_responses(samples, rate))
    server = LoopbackServer()
    serve_entry_file(monkeypatch, server, "lebel2023", "audio_cocoonoflove", audio.getvalue())
    serve_entry_file(monkeypatch, server, "lebel2023", "UTS01_cocoonoflove", hf5.read_bytes())
    yield server
    server.close()


def test_audio_benchmark_end_to_end(served, tiny_wav2vec2_dir, tmp_path):
    benchmark = get("lebel2023-audio-encoding")
    rows = benchmark.run(str(tiny_wav2vec2_dir), progress=False, store=str(tmp_path / "store"))
    requested = {path for path, _ in served.requests}
    assert requested == {
        "/openneuro.org/ds003020/stimuli/cocoonoflove.wav",
        "/openneuro.org/ds003020/derivative/preprocessed_data/UTS01/cocoonoflove.hf5",
    }
    model = rows[rows["control"] == ""]
    assert set(model["weights"]) == {"pretrained", "untrained"}
    assert set(model["layer"]) == {0, 1, 2}
    assert len(model) == 2 * 3 * N_VOXELS
    assert np.isfinite(model["score"]).all()
    assert model["ceiling"].isna().all()
    envelope = rows[rows["control"] == ENVELOPE_CONTROL]
    envelope = envelope.set_index(envelope["unit"].astype(int))["score"]
    assert len(envelope) == N_VOXELS
    # the planted voxels follow the envelope: the acoustic control finds them
    assert envelope.loc[list(range(N_PLANTED))].min() > 0.5
    assert envelope.loc[list(range(N_PLANTED, N_VOXELS))].abs().max() < 0.4
    # the same features are read back from the run's store on a second run
    again = benchmark.run(
        str(tiny_wav2vec2_dir), progress=False, store=str(tmp_path / "store"), untrained_twin=False
    )
    first = model[model["weights"] == "pretrained"].sort_values(["layer", "unit"])
    second = again[again["control"] == ""].sort_values(["layer", "unit"])
    np.testing.assert_allclose(first["score"].to_numpy(), second["score"].to_numpy())


def test_voxels_option_selects_and_checks(served, tiny_wav2vec2_dir):
    benchmark = get("lebel2023-audio-encoding")
    rows = benchmark.run(
        str(tiny_wav2vec2_dir), progress=False, untrained_twin=False, options={"voxels": [4, 0]}
    )
    assert set(rows["unit"].astype(int)) == {0, 4}
    with pytest.raises(ValueError, match=r"voxels=\[6\]: indices must lie in 0..5"):
        benchmark.run(str(tiny_wav2vec2_dir), progress=False, options={"voxels": [6]})


def test_sound_envelope_is_the_frame_rms():
    rate = 1000
    samples = np.concatenate([np.full(10, 2.0), np.full(10, -1.0), np.ones(5)])
    times, envelope = sound_envelope(samples, rate)
    np.testing.assert_allclose(times, [0.005, 0.015])
    np.testing.assert_allclose(envelope, [2.0, 1.0])
    with pytest.raises(ValueError, match="shorter than one 10 ms frame"):
        sound_envelope(np.ones(5), rate)
    with pytest.raises(ValueError, match="NaN or infinite"):
        sound_envelope(np.array([np.nan] * 20), rate)


def test_a_model_that_cannot_hear_is_refused_before_any_download(
    tiny_gpt2_dir, isolated_cache, monkeypatch
):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")  # the files are not in the cache either
    benchmark = get("lebel2023-audio-encoding")
    with pytest.raises(ValueError, match=r"scores audio models .* cannot read audio stimuli"):
        benchmark.resolve_runner()(benchmark, RunSettings(str(tiny_gpt2_dir)))
