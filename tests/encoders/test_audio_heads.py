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

CLAP (HTS-AT, Swin): two tiny audio towers built here, window 4 with depths (2, 2, 2)
(shifted blocks on 16 x 16 and 8 x 8 maps, one unshifted window on the 4 x 4 map) and
window 3 with depths (2, 2) (every map padded to whole windows). For the last block of
each stage, its input and output come from forward hooks on a plain forward pass; its
heads are written out by hand (LayerNorm, padding, cyclic shift, windows, softmax(q k^T /
sqrt(d) + relative position bias from the block's own table [+ the shift mask]) v, windows
put back, shift undone, padding cropped) and pooled into frames as the encoder pools
hidden states. The heads through the output projection and the block's MLP are checked
against "L.attention" and "L.mlp", and block output = input + attention + mlp on the map.
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


# --------------------------------------------------------------------------- CLAP (Swin)

#: window_size -> depths: 3 pads every map (16, 8, 4 tokens) and shifts by 1; 4 tiles the
#: 16 x 16 and 8 x 8 maps exactly (shift 2) and is one unshifted window on the 4 x 4 map.
CLAP_SWIN = {4: [2, 2, 2], 3: [2, 2]}
CLAP_CHUNKS = 4  # freq_ratio = spec_size // num_mel_bins = 64 // 16


def _clap_config(window_size: int, depths: list[int]):
    import transformers as tf

    return tf.ClapConfig(
        audio_config=dict(
            hidden_size=8 * 2 ** (len(depths) - 1),
            num_attention_heads=[2, 4, 2][: len(depths)],
            depths=depths,
            patch_embeds_hidden_size=8,
            spec_size=64,
            window_size=window_size,
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
    )


@pytest.fixture(scope="module")
def clap_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[int, AudioEncoder]:
    import transformers as tf

    from tests.encoders.test_audio import perturb

    encoders = {}
    for window_size, depths in CLAP_SWIN.items():
        torch.manual_seed(window_size)
        model = tf.ClapModel(_clap_config(window_size, depths)).eval()
        perturb(model, window_size)
        path = tmp_path_factory.mktemp(f"clap-swin-{window_size}")
        model.save_pretrained(path)
        tf.ClapFeatureExtractor(
            feature_size=16,
            sampling_rate=RATE,
            hop_length=160,
            max_length_s=2,
            fft_window_size=400,
            frequency_max=8000,
        ).save_pretrained(path)
        encoders[window_size] = AudioEncoder(path, progress=False)
    return encoders


def _clap_blocks_io(encoder: AudioEncoder, samples: np.ndarray) -> dict:
    """Input, output and input dimensions of every Swin block in one plain forward pass,
    from forward hooks on the blocks; also the hidden states."""
    model = encoder.model
    prepared = encoder.feature_extractor(
        [samples], sampling_rate=RATE, return_tensors="pt", truncation="rand_trunc"
    )
    seen, handles = {}, []
    for s, stage in enumerate(model.audio_encoder.layers):
        for b, block in enumerate(stage.blocks):

            def hook(module, args, output, key=(s, b)):
                seen[key] = (args[0][0], output[0][0], tuple(args[1]))

            handles.append(block.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(
                input_features=torch.as_tensor(prepared["input_features"]),
                is_longer=torch.zeros(1, 1, dtype=torch.bool),
                output_hidden_states=True,
            )
    finally:
        for handle in handles:
            handle.remove()
    seen["hidden_states"] = [h[0] for h in out.hidden_states]
    return seen


def _swin_heads_by_hand(block, x: torch.Tensor, height: int, width: int, shifted: bool):
    """Heads of one Swin block written out: (height, width, n_heads, d_head).

    LayerNorm, zero padding to whole windows, cyclic shift by -window // 2 (shifted blocks
    on maps larger than a window), windows, softmax(q k^T / sqrt(d) + relative position
    bias [+ -100 between tokens of different shift regions]) v, windows put back, shift
    undone, padding cropped.
    """
    config = block.attention.self
    n_heads, d_head = config.num_attention_heads, config.attention_head_size
    window = block.attention.self.window_size[0]
    if min(height, width) <= window:  # one window holds the map: no partition, no shift
        window, shift = min(height, width), 0
    else:
        shift = window // 2 if shifted else 0
    assert (block.window_size, block.shift_size) == (window, shift)
    channels = x.shape[-1]
    grid = block.layernorm_before(x).reshape(height, width, channels)
    height_pad, width_pad = -(-height // window) * window, -(-width // window) * window
    grid = torch.nn.functional.pad(grid, (0, 0, 0, width_pad - width, 0, height_pad - height))
    grid = torch.roll(grid, shifts=(-shift, -shift), dims=(0, 1))
    n_rows, n_cols = height_pad // window, width_pad // window

    def windows(t: torch.Tensor) -> torch.Tensor:  # (Hp, Wp, ...) -> (n_win, window**2, ...)
        t = t.reshape(n_rows, window, n_cols, window, *t.shape[2:]).transpose(1, 2)
        return t.reshape(n_rows * n_cols, window * window, *t.shape[4:])

    tokens = windows(grid)

    def split(linear):
        return linear(tokens).reshape(len(tokens), -1, n_heads, d_head).transpose(1, 2)

    q, k, v = split(config.query), split(config.key), split(config.value)
    scores = q @ k.transpose(-1, -2) / d_head**0.5  # (n_win, heads, T, T)
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    relative = (rows[:, None] - rows[None, :] + window - 1) * (2 * window - 1) + (
        cols[:, None] - cols[None, :] + window - 1
    )
    bias = config.relative_position_bias_table[relative]  # (T, T, heads)
    scores = scores + bias.permute(2, 0, 1)
    if shift:

        def region(n: int) -> torch.Tensor:
            i = torch.arange(n)
            return (i >= n - window).long() + (i >= n - shift).long()

        label = region(height_pad)[:, None] * 3 + region(width_pad)[None, :]
        label = windows(label)  # (n_win, T)
        different = label[:, :, None] != label[:, None, :]
        scores = scores + torch.where(different, -100.0, 0.0)[:, None]
    heads = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2)  # (n_win, T, heads, d)
    heads = heads.reshape(n_rows, n_cols, window, window, n_heads, d_head).transpose(1, 2)
    heads = heads.reshape(height_pad, width_pad, n_heads, d_head)
    heads = torch.roll(heads, shifts=(shift, shift), dims=(0, 1))
    return heads[:height, :width]


def _clap_pool(grid: torch.Tensor, per_window: int, n_frames: int) -> np.ndarray:
    """A (rows, cols, ...) map -> (n_frames, ...) frames, as the encoder pools hidden
    states: rows in 4 chunks laid end to end in time, mean over each chunk's rows, then
    over the columns inside each of the window's ``per_window`` frames; real frames kept."""
    rows, cols = grid.shape[:2]
    rest = grid.shape[2:]
    chunks = grid.reshape(CLAP_CHUNKS, rows // CLAP_CHUNKS, cols, *rest).mean(1)
    times = chunks.reshape(CLAP_CHUNKS * cols, *rest)
    return times.reshape(per_window, -1, *rest).mean(1)[:n_frames].numpy()


@pytest.mark.parametrize("window_size", list(CLAP_SWIN))
def test_clap_heads_and_blocks_equal_swin_attention_by_hand(window_size, clap_encoders):
    encoder = clap_encoders[window_size]
    stages = encoder.model.audio_encoder.layers
    samples = jfk(1.9)
    features = encoder.encode_audio(samples, sampling_rate=RATE, heads=True, blocks=True)
    seen = _clap_blocks_io(encoder, samples)
    last = seen["hidden_states"][-1]  # (C, rows, cols) of the last stage
    per_window = CLAP_CHUNKS * last.shape[-1]
    n_frames = features.n_items
    assert 0 < n_frames < per_window  # 1.9 s of a 2 s window
    shifted, padded = set(), set()
    with torch.no_grad():
        for s, stage in enumerate(stages):
            index, block = len(stage.blocks) - 1, stage.blocks[-1]
            x, out, (height, width) = seen[(s, index)]
            heads = _swin_heads_by_hand(block, x, height, width, shifted=index % 2 == 1)
            shifted.add(block.shift_size > 0)
            padded.add(height % block.window_size > 0)
            attended = block.attention.output.dense(heads.flatten(-2))
            x, out = x.reshape(height, width, -1), out.reshape(height, width, -1)
            mlp = block.output(block.intermediate(block.layernorm_after(x + attended)))
            # the documented identity, on the un-shifted map before patch merging
            np.testing.assert_allclose(out, x + attended + mlp, atol=ATOL)
            layer = s + 1
            assert features[f"{layer}.heads"].shape == (n_frames, *heads.shape[2:])
            for name, grid in (("heads", heads), ("attention", attended), ("mlp", mlp)):
                np.testing.assert_allclose(
                    features[f"{layer}.{name}"],
                    _clap_pool(grid, per_window, n_frames),
                    atol=ATOL,
                    err_msg=f"{layer}.{name}",
                )
            # hidden state L is this block's output through the stage's patch merging
            if stage.downsample is not None:
                out = stage.downsample(out.reshape(1, height * width, -1), (height, width))[0]
                out = out.reshape(-(-height // 2), -(-width // 2), -1)
            np.testing.assert_allclose(
                features[str(layer)], _clap_pool(out, per_window, n_frames), atol=ATOL
            )
    assert True in shifted  # a shifted block was checked (mask and roll)
    if window_size == 3:
        assert padded == {True}  # every map padded to whole windows


def test_clap_capture_leaves_hidden_states_unchanged(clap_encoders):
    encoder = clap_encoders[3]  # 4 s: two 2 s windows in one batch
    samples = jfk(4)
    plain = encoder.encode_audio(samples, sampling_rate=RATE)
    captured = encoder.encode_audio(samples, sampling_rate=RATE, heads=True, blocks=True)
    assert set(captured.layers) == {
        *plain.layers,
        *(f"{layer}.{name}" for layer in (1, 2) for name in ("heads", "attention", "mlp")),
    }
    for name in plain.layers:
        np.testing.assert_array_equal(captured[name], plain[name])
    # the second window of the batch maps its own windows back, as when encoded alone
    second = encoder.encode_audio(samples[2 * RATE :], sampling_rate=RATE, heads=True)
    rows = captured.onsets >= 2.0
    assert rows.sum() == second.n_items
    for name in ("1.heads", "2.heads"):
        np.testing.assert_allclose(captured[name][rows], second[name], atol=ATOL)


def test_clap_heads_are_checked_on_every_pass(clap_encoders):
    encoder = clap_encoders[4]
    dense = encoder.model.audio_encoder.layers[0].blocks[-1].attention.output.dense
    handle = dense.register_forward_hook(lambda module, args, output: output + 1.0)
    try:
        with pytest.raises(RuntimeError, match="heads through attention.output.dense"):
            encoder.encode_audio(jfk(1), sampling_rate=RATE, heads=True)
    finally:
        handle.remove()
    assert encoder.encode_audio(jfk(1), sampling_rate=RATE, heads=True, layers=[1]).n_items


def test_clap_heads_stream_into_the_store(clap_encoders, tmp_path):
    from brainalign.encoders.store import FeatureStore

    encoder = clap_encoders[4]
    store = FeatureStore(tmp_path / "store")
    options = dict(sampling_rate=RATE, heads=True, blocks=True, layers=[0, 2, 3])
    in_memory = encoder.encode_audio(jfk(5), **options)
    streamed = encoder.encode_audio(jfk(5), store=store, **options)
    reloaded = encoder.encode_audio(jfk(5), store=store, **options)
    names = {"0", "2", "3", "2.heads", "2.attention", "2.mlp", "3.heads", "3.attention", "3.mlp"}
    assert set(streamed.layers) == set(reloaded.layers) == names
    for name in names:
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_memory[name])
        np.testing.assert_array_equal(np.asarray(reloaded[name]), in_memory[name])
    assert reloaded["3.heads"].shape == (in_memory.n_items, 2, 16)
