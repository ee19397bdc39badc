"""MultimodalEncoder on tiny LLaVA and Qwen2-VL models against plain forward passes.

Each model is built here from a config with random weights, every parameter perturbed:

- LLaVA: ``LlavaModel`` with a CLIP vision tower (2 blocks, 16 dims, 32 x 32 pixels in
  8 x 8 patches: 16 image tokens) and a LLaMA language model (2 blocks, 32 dims, 4
  query heads of 8 dims sharing 2 key/value heads), saved with a ``LlavaProcessor``
  (``CLIPImageProcessorPil``, a byte-level BPE tokenizer trained on the Alice words with
  ``<image>``, and a chat template): loaded the ordinary way (``AutoProcessor``).
- Qwen2-VL: ``Qwen2VLModel`` (vision: 2 blocks, 14-pixel patches merged 2 x 2; text: 2
  blocks, 32 dims, 4 heads, 2 key/value heads, multimodal rotary sections [2, 1, 1]).
  ``Qwen2VLProcessor`` cannot be built in transformers 5.25 without torchvision (its
  video processor needs it), so the test assembles one from its image processor,
  tokenizer and chat template and passes it as ``processor=``.

Images: three of tests/data/images, the third cropped to 200 x 400 as an array, so
Qwen2-VL's rows differ in length and its batches are padded.

Checks: every layer equals the span mean of a plain forward pass of each image alone
(same processor inputs); span masks against ``input_ids == image_token_id`` and the
decoded instruction; LLaVA's per-head outputs against attention written out by hand
(RMSNorm input, q/k/v projections, rotary embeddings, grouped-query heads, causal
softmax); Qwen2-VL's per-head outputs through its output projection against the
attention output and the residual update; instruction, store and errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers as tf

from brainalign.encoders.multimodal import (
    ChatTemplateError,
    EmptySpanError,
    MultimodalEncoder,
)
from brainalign.encoders.store import FeatureStore

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
ATOL = 1e-5
N_HEADS, N_KV, D_HEAD, D_MODEL = 4, 2, 8, 32
INSTRUCTION = "Describe the image."
OTHER = "What is in this picture?"
LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}<image>\n"
    "{% else %}{{ content['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
TEXT = dict(
    hidden_size=D_MODEL,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=N_HEADS,
    num_key_value_heads=N_KV,
    max_position_embeddings=512,
)


def _bpe(alice_words: list[str], special: list[str], bos: str | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([" ".join(alice_words), INSTRUCTION, OTHER], trainer=trainer)
    if bos:
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, bpe.token_to_id(bos))]
        )
    return bpe


def _perturbed(model_class, config, seed: int):
    torch.manual_seed(seed)
    model = model_class(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model


def save_llava(directory: Path, alice_words: list[str]) -> Path:
    bpe = _bpe(alice_words, ["<unk>", "<s>", "</s>", "<image>", "<pad>"], bos="<s>")
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor = tf.CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    tf.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    ).save_pretrained(directory)
    config = tf.LlavaConfig(
        text_config=tf.LlamaConfig(
            **TEXT,
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=tf.CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    _perturbed(tf.LlavaModel, config, 301).save_pretrained(directory)
    return directory


def _qwen_tokenizer(directory: Path):
    return tf.PreTrainedTokenizerFast.from_pretrained(directory)


def qwen_processor(directory: Path):
    """A Qwen2VLProcessor without a video processor (which needs torchvision)."""
    processor = tf.Qwen2VLProcessor.__new__(tf.Qwen2VLProcessor)
    tokenizer = _qwen_tokenizer(directory)
    processor.tokenizer = tokenizer
    processor.image_processor = tf.Qwen2VLImageProcessorPil.from_pretrained(directory)
    processor.video_processor = None
    processor.chat_template = QWEN_TEMPLATE
    processor.image_token, processor.video_token = "<|image_pad|>", "<|video_pad|>"
    processor.image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    processor.video_token_id = tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return processor


def save_qwen2_vl(directory: Path, alice_words: list[str]) -> Path:
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=_bpe(alice_words, QWEN_SPECIAL),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(directory)
    tf.Qwen2VLImageProcessorPil(
        size={"shortest_edge": 28 * 28 * 4, "longest_edge": 28 * 28 * 16},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    ).save_pretrained(directory)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL}
    config = tf.Qwen2VLConfig(
        text_config=dict(
            **TEXT,
            vocab_size=len(tokenizer),
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 1, 1],
            },
        ),
        vision_config=dict(
            depth=2,
            embed_dim=16,
            hidden_size=D_MODEL,
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    _perturbed(tf.Qwen2VLModel, config, 302).save_pretrained(directory)
    return directory


MODEL_CLASSES = {"llava": tf.LlavaModel, "qwen2_vl": tf.Qwen2VLModel}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, alice_words) -> dict[str, Path]:
    return {
        "llava": save_llava(tmp_path_factory.mktemp("tiny-llava"), alice_words),
        "qwen2_vl": save_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"), alice_words),
    }


@pytest.fixture(scope="module")
def encoders(model_dirs) -> dict[str, MultimodalEncoder]:
    return {
        "llava": MultimodalEncoder(model_dirs["llava"], batch_size=2, progress=False),
        "qwen2_vl": MultimodalEncoder(
            model_dirs["qwen2_vl"],
            batch_size=2,
            processor=qwen_processor(model_dirs["qwen2_vl"]),
            progress=False,
        ),
    }


@pytest.fixture(scope="module")
def images() -> list:
    """Two photographs as paths and a 200 x 400 crop of the third as an array."""
    from PIL import Image

    paths = sorted(IMAGES.glob("*.jpg"))
    with Image.open(paths[2]) as image:
        crop = np.asarray(image.convert("RGB"))[:200]
    return [paths[0], paths[1], crop]


def rgb(image):
    from PIL import Image

    if isinstance(image, np.ndarray):
        return Image.fromarray(image)
    with Image.open(image) as opened:
        return opened.convert("RGB")


@pytest.fixture(scope="module")
def plain_models(model_dirs) -> dict[str, object]:
    return {name: MODEL_CLASSES[name].from_pretrained(d).eval() for name, d in model_dirs.items()}


def plain_pass(encoder: MultimodalEncoder, model, image, prompt: str):
    """One image alone through the processor and a plain forward pass, no hooks."""
    inputs = encoder.processor(images=[rgb(image)], text=[prompt], return_tensors="pt")
    with torch.inference_mode():
        output = model(**inputs, output_hidden_states=True, use_cache=False)
    return inputs, output.hidden_states


def expected_mask(encoder: MultimodalEncoder, input_ids: torch.Tensor, span: str, instruction):
    """The span's positions in one unpadded row, found without character offsets."""
    ids = input_ids.tolist()
    if span == "all":
        return np.ones(len(ids), bool)
    if span == "visual":
        return np.array([i == encoder.image_token_id for i in ids])
    decode = encoder.processor.tokenizer.decode
    runs = [
        (start, stop)
        for start in range(len(ids))
        for stop in range(start + 1, len(ids) + 1)
        if decode(ids[start:stop]).strip() == instruction
    ]
    start, stop = min(runs, key=lambda run: run[1] - run[0])
    mask = np.zeros(len(ids), bool)
    mask[start:stop] = True
    return mask


# --------------------------------------------------------------------------- layers


@pytest.mark.parametrize("name", ["llava", "qwen2_vl"])
@pytest.mark.parametrize("span", ["visual", "instruction", "all"])
def test_layers_equal_plain_forward_span_means(encoders, plain_models, images, name, span):
    encoder, model = encoders[name], plain_models[name]
    features = encoder.encode(images, INSTRUCTION, span=span)
    assert features.layer_names == ["0", "1", "2"]
    assert features.provenance["span"] == span and features.provenance["chat_template"]
    prompt = encoder.prompt(INSTRUCTION)
    counts = []
    for row, image in enumerate(images):
        inputs, hidden = plain_pass(encoder, model, image, prompt)
        mask = expected_mask(encoder, inputs["input_ids"][0], span, INSTRUCTION)
        counts.append(int(mask.sum()))
        for layer in range(3):
            want = hidden[layer][0, torch.from_numpy(mask)].mean(dim=0).numpy()
            np.testing.assert_allclose(
                features[str(layer)][row],
                want,
                atol=ATOL,
                rtol=0,
                err_msg=f"{name} {span} image {row} layer {layer}",
            )
    assert features.provenance["span_tokens"] == counts
    assert features["2"].dtype == np.float32 and features["2"].shape == (3, D_MODEL)


def test_qwen_rows_differ_in_length_so_batches_are_padded(encoders, images):
    encoder = encoders["qwen2_vl"]
    visual = encoder.encode(images, INSTRUCTION, span="visual").provenance["span_tokens"]
    assert visual[0] == visual[1] != visual[2]


@pytest.mark.parametrize("name", ["llava", "qwen2_vl"])
def test_span_masks_pick_the_right_positions(encoders, images, name):
    encoder = encoders[name]
    prompt = encoder.prompt(INSTRUCTION)
    batch = [rgb(image) for image in images]
    masks = {}
    for span in ("visual", "instruction", "all"):
        inputs, masks[span] = encoder.inputs(batch, prompt, INSTRUCTION, span)
        ids, real = inputs["input_ids"], inputs["attention_mask"].bool()
        for row in range(len(batch)):
            n = int(real[row].sum())
            assert not masks[span][row, n:].any()  # never the padding
            want = expected_mask(encoder, ids[row, :n], span, INSTRUCTION)
            np.testing.assert_array_equal(masks[span][row, :n].numpy(), want)
    np.testing.assert_array_equal(masks["visual"], (ids == encoder.image_token_id) & real)
    assert not (masks["visual"] & masks["instruction"]).any()
    assert masks["visual"].sum(1).min() >= 4 and masks["instruction"].sum(1).min() >= 3


# --------------------------------------------------------------------------- heads


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def llama_heads_by_hand(block, hidden: torch.Tensor, theta: float) -> torch.Tensor:
    """Per-head outputs of one LLaMA block for one sequence, (seq, n_heads, d_head).

    RMSNorm input, q/k/v projections, rotary embeddings at positions 0..seq-1
    (``inv_freq = theta ** (-2i / d_head)``, the halves rotated), each query head
    reading key/value head ``h // (n_heads / n_kv)``, causal softmax(q k^T / sqrt(d)) v.
    """
    attention = block.self_attn
    x = block.input_layernorm(hidden)
    seq = x.shape[0]
    q = attention.q_proj(x).reshape(seq, N_HEADS, D_HEAD).transpose(0, 1)
    k = attention.k_proj(x).reshape(seq, N_KV, D_HEAD).transpose(0, 1)
    v = attention.v_proj(x).reshape(seq, N_KV, D_HEAD).transpose(0, 1)
    inv_freq = theta ** (-torch.arange(0, D_HEAD, 2, dtype=torch.float32) / D_HEAD)
    angles = torch.arange(seq, dtype=torch.float32)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
    k = k.repeat_interleave(N_HEADS // N_KV, dim=0)
    v = v.repeat_interleave(N_HEADS // N_KV, dim=0)
    scores = q @ k.transpose(-1, -2) / D_HEAD**0.5
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (weights @ v).transpose(0, 1)


@pytest.mark.parametrize("span", ["visual", "instruction"])
def test_llava_heads_equal_attention_by_hand(encoders, plain_models, images, span):
    encoder, model = encoders["llava"], plain_models["llava"]
    features = encoder.encode(images, INSTRUCTION, span=span, heads=True)
    assert features.layer_names == ["0", "1", "2", "1.heads", "2.heads"]
    theta = model.config.text_config.rope_parameters["rope_theta"]
    prompt = encoder.prompt(INSTRUCTION)
    for row, image in enumerate(images):
        inputs, hidden = plain_pass(encoder, model, image, prompt)
        mask = torch.from_numpy(expected_mask(encoder, inputs["input_ids"][0], span, INSTRUCTION))
        with torch.inference_mode():
            for b, block in enumerate(model.language_model.layers):
                heads = llama_heads_by_hand(block, hidden[b][0], theta)
                want = heads[mask].mean(dim=0).numpy()
                got = features[f"{b + 1}.heads"][row]
                assert got.shape == (N_HEADS, D_HEAD)
                np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=f"{row} {b}")
    assert np.abs(features["2.heads"]).max() > 0.05


@pytest.mark.parametrize("name", ["llava", "qwen2_vl"])
def test_heads_through_the_output_projection_give_the_block_update(
    encoders, plain_models, images, name
):
    """Qwen2-VL's rotary sections make attention by hand long; instead its per-head span
    means, through the block's own o_proj, must give the attention output, and attention
    plus MLP the residual update h[1] - h[0] (both linear, so they commute with the mean)."""
    encoder, model = encoders[name], plain_models[name]
    features = encoder.encode(images, INSTRUCTION, span="all", heads=True, blocks=True)
    assert features.layer_names == [
        "0",
        "1",
        "2",
        "1.attention",
        "1.mlp",
        "1.heads",
        "2.attention",
        "2.mlp",
        "2.heads",
    ]
    for layer, block in zip((1, 2), model.language_model.layers, strict=True):
        o_proj = block.self_attn.o_proj
        heads = features[f"{layer}.heads"].reshape(len(images), N_HEADS * D_HEAD)
        attention = heads @ o_proj.weight.detach().numpy().T
        np.testing.assert_allclose(features[f"{layer}.attention"], attention, atol=ATOL)
    # the last hidden state has the final norm applied, so block 1's update only
    update = features["1"] - features["0"]
    np.testing.assert_allclose(features["1.attention"] + features["1.mlp"], update, atol=ATOL)


def test_capture_changes_no_hidden_state(encoders, images):
    encoder = encoders["qwen2_vl"]
    plain = encoder.encode(images, INSTRUCTION, span="all")
    hooked = encoder.encode(images, INSTRUCTION, span="all", heads=True, layers=[0, 2])
    assert hooked.layer_names == ["0", "2", "2.heads"]
    for name in ("0", "2"):
        np.testing.assert_array_equal(plain[name], hooked[name])


# --------------------------------------------------------------------------- instruction


def test_instruction_changes_features_and_key(encoders, images):
    encoder = encoders["llava"]
    first = encoder.encode(images, INSTRUCTION, span="all")
    second = encoder.encode(images, OTHER, span="all")
    assert np.abs(first["2"] - second["2"]).max() > 1e-3
    assert encoder.store_key(images, INSTRUCTION) != encoder.store_key(images, OTHER)
    # causal: the image tokens come before the instruction, so they cannot see it ...
    visual = [encoder.encode(images, text, span="visual")["2"] for text in (INSTRUCTION, OTHER)]
    np.testing.assert_allclose(visual[0], visual[1], atol=ATOL, rtol=0)
    # ... unless the instruction comes first
    late = [
        encoder.encode(images, text, span="visual", image_first=False)["2"]
        for text in (INSTRUCTION, OTHER)
    ]
    assert np.abs(late[0] - late[1]).max() > 1e-3
    assert "image_first" in encoder.store_key(images, image_first=False)["context"]


def test_template_flag_and_span_change_the_key(encoders, images):
    encoder = encoders["qwen2_vl"]
    base = encoder.store_key(images, INSTRUCTION)
    assert base != encoder.store_key(images, INSTRUCTION, chat_template=False)
    assert base != encoder.store_key(images, INSTRUCTION, span="all")
    assert base != encoder.store_key(images, INSTRUCTION, layers=[2])
    assert base != encoder.store_key(images[:2], INSTRUCTION)
    assert base == encoder.store_key(list(images), INSTRUCTION)


@pytest.mark.parametrize("name", ["llava", "qwen2_vl"])
def test_plain_prompt_without_template(encoders, plain_models, images, name):
    encoder, model = encoders[name], plain_models[name]
    prompt = encoder.prompt(INSTRUCTION, chat_template=False)
    assert prompt.endswith("\n" + INSTRUCTION)
    features = encoder.encode(images[:1], INSTRUCTION, chat_template=False, span="visual")
    inputs, hidden = plain_pass(encoder, model, images[0], prompt)
    mask = inputs["input_ids"][0] == encoder.image_token_id
    want = hidden[2][0, mask].mean(dim=0).numpy()
    np.testing.assert_allclose(features["2"][0], want, atol=ATOL, rtol=0)
    assert features.provenance["prompt"] == prompt


# --------------------------------------------------------------------------- store


def test_store_streaming_equals_in_memory_and_is_reused(encoders, images, tmp_path, monkeypatch):
    encoder = encoders["qwen2_vl"]  # 2 batches (2 + 1), padded rows
    in_ram = encoder.encode(images, INSTRUCTION, span="instruction", heads=True)
    store = FeatureStore(tmp_path)
    calls = []
    forward = encoder._forward
    monkeypatch.setattr(encoder, "_forward", lambda inputs: calls.append(1) or forward(inputs))
    streamed = encoder.encode(images, INSTRUCTION, span="instruction", heads=True, store=store)
    assert len(calls) == 2
    key = encoder.store_key(images, INSTRUCTION, span="instruction", heads=True)
    assert store.has(key) and store.verify(key)
    assert streamed.layer_names == in_ram.layer_names
    for name in in_ram.layer_names:
        assert isinstance(streamed[name], np.memmap)
        np.testing.assert_array_equal(np.asarray(streamed[name]), in_ram[name])
    assert streamed.provenance["span_tokens"] == in_ram.provenance["span_tokens"]
    again = encoder.encode(images, INSTRUCTION, span="instruction", heads=True, store=store)
    assert len(calls) == 2  # read from the store, no forward pass
    np.testing.assert_array_equal(np.asarray(again["1.heads"]), in_ram["1.heads"])
    other = encoder.encode(images, OTHER, span="instruction", heads=True, store=store)
    assert len(calls) == 4  # another instruction, another entry
    assert np.abs(np.asarray(other["2"]) - in_ram["2"]).max() > 1e-3


def test_encoder_builds_its_own_key(encoders, images, tmp_path):
    with pytest.raises(TypeError, match="key"):
        encoders["llava"].encode(images, store=FeatureStore(tmp_path), key={"model": "m"})


def test_loads_through_load_model_with_its_processor(encoders, model_dirs):
    encoder = encoders["llava"]
    assert type(encoder.model).__name__ == "LlavaModel"
    assert type(encoder.processor).__name__ == "LlavaProcessor"
    assert encoder.n_layers == 3 and encoder.model_type == "llava"
    assert encoder.provenance["weights_sha256"]
    assert type(encoders["qwen2_vl"].language_model).__name__ == "Qwen2VLTextModel"


# --------------------------------------------------------------------------- errors


def test_no_chat_template_is_refused(encoders, images, monkeypatch):
    encoder = encoders["llava"]
    monkeypatch.setattr(encoder.processor, "chat_template", None)
    with pytest.raises(ChatTemplateError, match="no chat template.*chat_template=False"):
        encoder.encode(images)
    assert encoder.encode(images[:1], chat_template=False)["2"].shape == (1, D_MODEL)


def test_instruction_the_template_repeats_is_refused(encoders, images):
    with pytest.raises(ChatTemplateError, match="'USER' 2 times"):
        encoders["llava"].encode(images, "USER")


def test_span_with_no_token_is_refused(encoders, images, monkeypatch):
    encoder = encoders["llava"]
    monkeypatch.setattr(encoder, "image_token_id", encoder.processor.tokenizer.eos_token_id)
    with pytest.raises(EmptySpanError, match=r"span='visual' holds no token for image\(s\) \[0, 1"):
        encoder.encode(images, span="visual")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"span": "image"}, "span='image'; use one of visual, instruction, all"),
        ({"layers": [3]}, "layer 3 is out of range"),
        ({"instruction": "  "}, "instruction='  '; give a non-empty text"),
    ],
)
def test_bad_arguments(encoders, images, monkeypatch, arguments, message):
    encoder = encoders["llava"]
    monkeypatch.setattr(encoder, "_forward", _no_forward)
    with pytest.raises(ValueError, match=message):
        encoder.encode(images, **arguments)


def _no_forward(inputs):
    raise AssertionError("a forward pass ran before the request was checked")
