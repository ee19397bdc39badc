"""AudioEncoder heads=/blocks= against attention computed by hand from each block.

The tiny perturbed models of test_audio.py (4 heads of 4 dims, 2 blocks) and the real
jfk.wav. For every block, each head's output is softmax(q k^T / sqrt(d_head)) v written
out from the block's own q/k/v projections applied to its input hidden state (taken from
a plain forward pass without hooks; through the block's pre-attention LayerNorm in the
pre-LN Whisper and AST blocks, directly in the post-LN Wav2Vec2/HuBERT blocks), then
turned into frames as the encoder documents (Whisper: the frames on real audio; AST:
the mean over the frequency patches of each time column). The attention output is
checked against the hand-made heads through the output projection plus its bias, and
the MLP output against the block's feed-forward applied to its own LayerNorm of the
residual sum.

WavLM's attention adds a gated relative position bias and never calls its output
projection as a module; its heads are checked against the attention module's own output
on the same input (called directly, with the position bias of the first block),
reconstructed through the output projection, rather than written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainalign.encoders.audio import AudioEncoder
from tests.encoders.test_audio import ATOL, RATE, build_models, jfk

SECONDS = {"wav2vec2": 3, "hubert": 3, "whisper": 4.5, "ast": 1.2}


@pytest.fixture(scope="module")
def capture_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AudioEncoder]:
    paths = build_models(tmp_path_factory.mktemp("audio-heads"))
    return {name: AudioEncoder(paths[name], progress=False) for name in (*SECONDS, "wavlm")}


def _parts(family: str, model, block):
    """(pre-attention norm, attention module, output projection, mlp of the residual sum)."""
    if family in ("wav2vec2", "hubert"):  # post-LN: attention reads the block input
        attention = block.attention
        return (
            lambda x: x,
            attention,
            attention.out_proj,
            lambda r: block.feed_forward(block.layer_norm(r)),
        )
    if family == "whisper":
        attention = block.self_attn
        return (
            block.self_attn_layer_norm,
            attention,
            attention.out_proj,
            lambda r: block.fc2(block.activation_fn(block.fc1(block.final_layer_norm(r)))),
        )
    attention = block.attention  # AST (ViT-like, pre-LN)
    return (
        block.layernorm_before,
        attention,
        attention.o_proj,
        lambda r: block.mlp(block.layernorm_after(r)),
    )


def _blocks(family: str, model):
    return model.encoder.layers if family in ("wav2vec2", "hubert") else model.layers


def _frames(family: str, model, tokens: torch.Tensor, n_frames: int) -> np.ndarray:
    """(seq, ...) tokens of one window -> (n_frames, ...) frames, as the encoder defines."""
    if family == "ast":
        config = model.config
        n_freq = (config.num_mel_bins - 16) // config.frequency_stride + 1
        n_time = (config.max_length - 16) // config.time_stride + 1
        tokens = tokens[2:].reshape(n_freq, n_time, *tokens.shape[1:]).mean(0)
    return tokens[:n_frames].numpy()


@pytest.mark.parametrize("family", list(SECONDS))
def test_heads_and_blocks_equal_attention_by_hand(family, capture_encoders):
    encoder = capture_encoders[family]
    model = encoder.model
    samples = jfk(SECONDS[family])
    features = encoder.encode_audio(samples, sampling_rate=RATE, heads=True, blocks=True)
    n_frames = features.n_items
    prepared = encoder.feature_extractor([samples], sampling_rate=RATE, return_tensors="pt")
    names = {"input_values", "input_features"}
    inputs = {k: torch.as_tensor(v) for k, v in prepared.items() if k in names}
    with torch.no_grad():
        hidden_states = model(**inputs, output_hidden_states=True).hidden_states
        for index, block in enumerate(_blocks(family, model)):
            norm, attention, out_proj, mlp = _parts(family, model, block)
            h_in = hidden_states[index][0]
            x = norm(h_in)
            n_heads, d_head = 4, 4
            q = attention.q_proj(x).reshape(-1, n_heads, d_head).transpose(0, 1)
            k = attention.k_proj(x).reshape(-1, n_heads, d_head).transpose(0, 1)
            v = attention.v_proj(x).reshape(-1, n_heads, d_head).transpose(0, 1)
            weights = torch.softmax(q @ k.transpose(1, 2) / d_head**0.5, dim=-1)
            heads = (weights @ v).transpose(0, 1)  # (seq, n_heads, d_head)
            attended = out_proj(heads.reshape(len(h_in), -1))
            layer = index + 1
            np.testing.assert_allclose(
                features[f"{layer}.heads"], _frames(family, model, heads, n_frames), atol=ATOL
            )
            np.testing.assert_allclose(
                features[f"{layer}.attention"],
                _frames(family, model, attended, n_frames),
                atol=ATOL,
            )
            np.testing.assert_allclose(
                features[f"{layer}.mlp"],
                _frames(family, model, mlp(h_in + attended), n_frames),
                atol=ATOL,
            )
    assert features[f"{layer}.heads"].shape == (n_frames, 4, 4)


def test_heads_stream_into_the_store(capture_encoders, tmp_path):
    from brainalign.encoders.store import FeatureStore

    encoder = capture_encoders["whisper"]  # 11 s in 5 s windows
    store = FeatureStore(tmp_path / "store")
    in_memory = encoder.encode_audio(jfk(), sampling_rate=RATE, heads=True, layers=[2])
    streamed = encoder.encode_audio(jfk(), sampling_rate=RATE, heads=True, layers=[2], store=store)
    assert set(streamed.layers) == {"2", "2.heads"}
    np.testing.assert_array_equal(np.asarray(streamed["2.heads"]), in_memory["2.heads"])
    assert encoder.audio_store_key(jfk(), sampling_rate=RATE, heads=True, layers=[2]) != (
        encoder.audio_store_key(jfk(), sampling_rate=RATE, layers=[2])
    )


def test_wavlm_heads_rebuild_the_attention_output(capture_encoders):
    encoder = capture_encoders["wavlm"]
    model = encoder.model
    samples = jfk(3)
    features = encoder.encode_audio(samples, sampling_rate=RATE, heads=True, blocks=True)
    prepared = encoder.feature_extractor([samples], sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        hidden_states = model(torch.as_tensor(prepared["input_values"]), output_hidden_states=True)
        hidden_states = hidden_states.hidden_states
        n_frames = hidden_states[0].shape[1]
        bias = model.encoder.layers[0].attention.compute_bias(n_frames, n_frames)
        for index, block in enumerate(model.encoder.layers):
            h_in = hidden_states[index]
            attended = block.attention(h_in, position_bias=bias, index=index)[0][0]
            layer = index + 1
            heads = torch.as_tensor(features[f"{layer}.heads"])
            assert heads.shape == (n_frames, 4, 4)
            rebuilt = block.attention.out_proj(heads.reshape(n_frames, 16))
            np.testing.assert_allclose(rebuilt.numpy(), attended.numpy(), atol=ATOL)
            np.testing.assert_allclose(features[f"{layer}.attention"], attended.numpy(), atol=ATOL)
            mlp = block.feed_forward(block.layer_norm(h_in[0] + attended))
            np.testing.assert_allclose(features[f"{layer}.mlp"], mlp.numpy(), atol=ATOL)
