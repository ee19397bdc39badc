"""Per-layer and per-head capture (brainalign.encoders.heads) on tiny random-weight models.

Every family is built from a small config with seeded random weights and the eager
attention implementation; inputs are random token ids or pixel values.
"""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from brainalign.encoders import hooks  # noqa: E402
from brainalign.encoders.heads import (  # noqa: E402
    LayerCapture,
    UnsupportedArchitectureError,
    architecture_spec,
    attention_summaries,
    register_architecture,
    supported_architectures,
)

BATCH, SEQ, HIDDEN, HEADS, VOCAB = 2, 6, 16, 4, 50
TEXT = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=HEADS)
IMAGE = dict(
    hidden_size=HIDDEN,
    num_hidden_layers=2,
    num_attention_heads=HEADS,
    image_size=8,
    patch_size=4,
    num_channels=3,
)


def _config(family: str):
    t = transformers
    if family == "gpt2":
        return t.GPT2Config(
            n_layer=2, n_embd=HIDDEN, n_head=HEADS, vocab_size=VOCAB, n_positions=32,
            bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
    if family == "gpt_neox":
        return t.GPTNeoXConfig(**TEXT, intermediate_size=32, max_position_embeddings=32)
    if family in ("llama", "mistral", "qwen2"):
        cls = {"llama": t.LlamaConfig, "mistral": t.MistralConfig, "qwen2": t.Qwen2Config}
        return cls[family](**TEXT, intermediate_size=32, num_key_value_heads=2)
    if family == "opt":
        return t.OPTConfig(
            **TEXT, ffn_dim=32, word_embed_proj_dim=HIDDEN, max_position_embeddings=32,
            pad_token_id=1, bos_token_id=2, eos_token_id=2,
        )  # fmt: skip
    if family == "bert":
        return t.BertConfig(**TEXT, intermediate_size=32, max_position_embeddings=32)
    if family == "roberta":
        return t.RobertaConfig(**TEXT, intermediate_size=32, max_position_embeddings=40)
    if family == "t5":
        return t.T5Config(
            vocab_size=VOCAB, d_model=HIDDEN, num_layers=2, num_heads=HEADS, d_kv=4, d_ff=32
        )
    if family == "vit":
        return t.ViTConfig(**IMAGE, intermediate_size=32)
    if family == "deit":
        return t.DeiTConfig(**IMAGE, intermediate_size=32)
    if family == "dinov2":
        return t.Dinov2Config(**IMAGE)
    raise KeyError(family)


def _model(family: str, seed: int = 0):
    torch.manual_seed(seed)
    config = _config(family)
    if family == "t5":
        model = transformers.T5EncoderModel._from_config(config, attn_implementation="eager")
    else:
        model = transformers.AutoModel.from_config(config, attn_implementation="eager")
    return model.eval()


def _inputs(family: str, seed: int = 1) -> dict:
    generator = torch.Generator().manual_seed(seed)
    if family in ("vit", "deit", "dinov2"):
        return {"pixel_values": torch.randn(BATCH, 3, 8, 8, generator=generator)}
    return {"input_ids": torch.randint(3, VOCAB, (BATCH, SEQ), generator=generator)}


def _hooks(model) -> set:
    """Every installed forward (pre-)hook; transformers 5 installs its own, lazily."""
    return {
        (name, kind, key)
        for name, module in model.named_modules()
        for kind, registry in (("pre", module._forward_pre_hooks), ("post", module._forward_hooks))
        for key in registry
    }


FAMILIES = [
    "gpt2", "gpt_neox", "llama", "mistral", "qwen2", "opt",
    "bert", "roberta", "t5", "vit", "deit", "dinov2",
]  # fmt: skip
#: Families whose block is x + attention(...) + mlp(...), nothing else on the residual.
PLAIN_RESIDUAL = {"gpt2", "gpt_neox", "llama", "mistral", "qwen2", "opt", "t5", "vit", "deit"}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_contributions_sum_to_attention_output(family):
    model = _model(family)
    inputs = _inputs(family)
    with torch.inference_mode():
        reference = model(**inputs, output_hidden_states=True).hidden_states
        before = _hooks(model)
        with LayerCapture(model, contributions=True) as capture:
            assert len(_hooks(model)) == len(before) + 4 * 2  # block, pre, out_proj, mlp
            captured = model(**inputs, output_hidden_states=True).hidden_states
    # Hooks leave outputs untouched and are gone afterwards.
    assert all(torch.equal(a, b) for a, b in zip(reference, captured, strict=True))
    assert _hooks(model) == before
    assert not any(m._forward_pre_hooks for m in capture._out_projs.values())

    seq = reference[0].shape[1]
    d_head = HIDDEN // HEADS
    assert capture.layers == (0, 1) and capture.n_heads == HEADS
    for layer in capture.layers:
        heads = capture.heads[layer]
        contributions = capture.contributions[layer]
        attention_output = capture.attention_output[layer]
        assert heads.shape == (BATCH, seq, HEADS, d_head)
        assert contributions.shape == (BATCH, seq, HEADS, HIDDEN)
        assert attention_output.shape == capture.mlp_output[layer].shape == (BATCH, seq, HIDDEN)
        assert not heads.requires_grad
        bias = capture.out_proj_bias(layer)
        total = contributions.sum(-2) + (0 if bias is None else bias)
        assert (total - attention_output).abs().max() <= 1e-5
    if family in PLAIN_RESIDUAL:
        # Block 0's write to the residual stream is exactly attention + MLP output.
        delta = reference[1] - reference[0]
        assert torch.allclose(delta, capture.attention_output[0] + capture.mlp_output[0], atol=1e-5)


def _split(x, n_heads):
    batch, seq, width = x.shape
    return x.view(batch, seq, n_heads, width // n_heads).transpose(1, 2)  # (B, H, S, d)


def test_gpt2_heads_match_manual_attention():
    model = _model("gpt2")
    inputs = _inputs("gpt2")
    with torch.inference_mode(), LayerCapture(model, layers=[0]) as capture:
        h0 = model(**inputs, output_hidden_states=True).hidden_states[0]
    block = model.h[0]
    with torch.inference_mode():
        q, k, v = block.attn.c_attn(block.ln_1(h0)).split(HIDDEN, dim=-1)
    q, k, v = (_split(t, HEADS) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
    causal = torch.ones(SEQ, SEQ, dtype=torch.bool).tril()
    probs = scores.masked_fill(~causal, -torch.inf).softmax(-1)
    manual = (probs @ v).transpose(1, 2)  # (B, S, H, d)
    assert list(capture.heads) == [0]
    assert torch.allclose(capture.heads[0], manual, atol=1e-6)


def test_bert_heads_match_manual_attention_with_padding():
    model = _model("bert")
    inputs = _inputs("bert")
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, -2:] = 0
    with torch.inference_mode(), LayerCapture(model, layers=[1], blocks=False) as capture:
        hidden = model(**inputs, attention_mask=mask, output_hidden_states=True).hidden_states
    attn = model.encoder.layer[1].attention.self
    with torch.inference_mode():
        q, k, v = (_split(f(hidden[1]), HEADS) for f in (attn.query, attn.key, attn.value))
    scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
    scores = scores.masked_fill(~mask.bool()[:, None, None, :], -torch.inf)
    manual = (scores.softmax(-1) @ v).transpose(1, 2)
    assert torch.allclose(capture.heads[1], manual, atol=1e-6)
    assert capture.attention_output == {} and capture.mlp_output == {}


def test_grouped_query_attention_causal_lm():
    torch.manual_seed(0)
    config = _config("qwen2")
    assert config.num_key_value_heads < config.num_attention_heads
    model = transformers.Qwen2ForCausalLM._from_config(config, attn_implementation="eager")
    model.eval()
    inputs = _inputs("qwen2")
    with torch.inference_mode(), LayerCapture(model, contributions=True) as capture:
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
    d_head = HIDDEN // HEADS
    assert capture.heads[1].shape == (BATCH, SEQ, HEADS, d_head)
    # Query head h reads key/value head h // (n_heads / n_kv_heads).
    layer = model.model.layers[0]
    with torch.inference_mode():
        v = _split(layer.self_attn.v_proj(layer.input_layernorm(out.hidden_states[0])), 2)
    group = HEADS // 2
    for head in range(HEADS):
        expected = out.attentions[0][:, head] @ v[:, head // group]
        assert torch.allclose(capture.heads[0][:, :, head], expected, atol=1e-6)
    total = capture.contributions[0].sum(-2)  # Qwen2's o_proj has no bias
    assert capture.out_proj_bias(0) is None
    assert (total - capture.attention_output[0]).abs().max() <= 1e-5


def test_batched_right_padding_matches_single_sequences(tiny_llama_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_llama_dir)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = transformers.AutoModelForCausalLM.from_pretrained(
        tiny_llama_dir, attn_implementation="eager"
    ).eval()
    texts = ["Alice was beginning to get very tired", "of sitting"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    capture = LayerCapture(model, layers=[-1], contributions=True)
    before = _hooks(model)
    with torch.inference_mode(), capture:
        model(**batch)
        batched = {name: getattr(capture, name)[1] for name in ("heads", "mlp_output")}
        for i, text in enumerate(texts):
            single = tokenizer(text, return_tensors="pt")
            n = single["input_ids"].shape[1]
            model(**single)
            assert torch.allclose(batched["heads"][i, :n], capture.heads[1][0], atol=1e-5)
            assert torch.allclose(batched["mlp_output"][i, :n], capture.mlp_output[1][0], atol=1e-5)
    assert capture.layers == (1,)
    assert _hooks(model) == before


def test_minilm_real_weights_contributions_sum(minilm_path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    model = transformers.AutoModel.from_pretrained(minilm_path).eval()
    assert architecture_spec(model).layers == "encoder.layer"
    batch = tokenizer(
        ["Alice was beginning to get very tired of sitting by her sister on the bank.", "Hi."],
        return_tensors="pt",
        padding=True,
    )
    with torch.inference_mode(), LayerCapture(model, contributions=True) as capture:
        model(**batch)
    assert capture.heads[5].shape[2:] == (12, 32)
    for layer in capture.layers:
        total = capture.contributions[layer].sum(-2) + capture.out_proj_bias(layer)
        assert (total - capture.attention_output[layer]).abs().max() <= 1e-5


def test_hooks_removed_on_error_and_no_reentry():
    model = _model("gpt2")
    capture = LayerCapture(model)
    with pytest.raises(RuntimeError, match="boom"), capture:
        assert _hooks(model)
        raise RuntimeError("boom")
    assert not _hooks(model)
    with capture, pytest.raises(RuntimeError, match="already active"):
        capture.__enter__()
    assert not _hooks(model)


def test_capture_with_autograd_stores_detached_tensors():
    model = _model("opt")  # OPT flattens (batch, seq) in its MLP; capture restores it
    with LayerCapture(model, layers=[0], contributions=True) as capture:
        out = model(**_inputs("opt")).last_hidden_state
    assert out.requires_grad
    assert capture.mlp_output[0].shape == (BATCH, SEQ, HIDDEN)
    for store in (capture.heads, capture.contributions, capture.attention_output):
        assert not store[0].requires_grad


def test_bad_layer_index_is_named():
    model = _model("gpt2")
    with pytest.raises(ValueError, match=r"layer 5 .* 2 blocks"):
        LayerCapture(model, layers=[5])
    with pytest.raises(ValueError, match="all False"):
        LayerCapture(model, heads=False, blocks=False)


class _Unknown(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = transformers.PretrainedConfig()


def test_unknown_architecture_error_lists_families_and_register_line():
    with pytest.raises(UnsupportedArchitectureError) as info:
        LayerCapture(_Unknown())
    message = str(info.value)
    for family in ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "opt", "bert", "t5", "vit"):
        assert family in message
    assert 'register_architecture("' in message
    assert 'layers="model.blocks", out_proj="attn.proj", mlp="mlp"' in message
    assert set(supported_architectures()) >= set(FAMILIES)


def test_register_architecture_makes_a_new_model_type_work():
    model = _model("gpt2")
    model.config = copy.deepcopy(model.config)
    model.config.model_type = "gpt2-alias-for-test"
    with pytest.raises(UnsupportedArchitectureError):
        architecture_spec(model)
    try:
        # "blocks|h": alternatives are tried in order; the first that exists is used.
        register_architecture(
            "gpt2-alias-for-test", layers="blocks|h", out_proj="attn.c_proj", mlp="mlp",
            n_heads="n_head",
        )  # fmt: skip
        inputs = _inputs("gpt2")
        with torch.inference_mode(), LayerCapture(model, contributions=True) as capture:
            model(**inputs)
        total = capture.contributions[1].sum(-2) + capture.out_proj_bias(1)
        assert (total - capture.attention_output[1]).abs().max() <= 1e-5
    finally:
        hooks._REGISTRY.pop("gpt2-alias-for-test", None)
    with pytest.raises(ValueError, match="out_proj=''"):
        register_architecture("x", layers="h", out_proj="", mlp="mlp")
    register_architecture("gpt2-alias-for-test", layers="nope", out_proj="x", mlp="y")
    try:
        with pytest.raises(UnsupportedArchitectureError, match="layers path 'nope'"):
            LayerCapture(model)
    finally:
        hooks._REGISTRY.pop("gpt2-alias-for-test", None)


def test_attention_summaries_hand_example():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.2, 0.3]])
    out = attention_summaries((a[None, None],))
    assert set(out) == {"entropy", "distance", "first_token", "previous_token"}
    assert all(v.shape == (1, 1, 1, 3) for v in out.values())
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    h3 = -(0.5 * math.log(0.5) + 0.2 * math.log(0.2) + 0.3 * math.log(0.3))
    assert torch.allclose(out["entropy"][0, 0, 0], torch.tensor([0.0, entropy, h3]))
    assert torch.allclose(out["distance"][0, 0, 0], torch.tensor([0.0, 0.25, 1.2]))
    assert torch.allclose(out["first_token"][0, 0, 0], torch.tensor([1.0, 0.25, 0.5]))
    assert torch.allclose(out["previous_token"][0, 0, 0], torch.tensor([0.0, 0.25, 0.2]))


def test_attention_summaries_left_padding_is_masked():
    # Position 0 is padding: the first real token is position 1.
    a = torch.tensor([[0.3, 0.3, 0.4], [0.0, 1.0, 0.0], [0.0, 0.4, 0.6]])
    out = attention_summaries((a[None, None],), attention_mask=torch.tensor([[0, 1, 1]]))
    for value in out.values():
        assert torch.isnan(value[0, 0, 0, 0])
    assert torch.allclose(out["first_token"][0, 0, 0, 1:], torch.tensor([1.0, 0.4]))
    assert torch.allclose(out["previous_token"][0, 0, 0, 1:], torch.tensor([0.0, 0.4]))
    assert torch.allclose(out["distance"][0, 0, 0, 1:], torch.tensor([0.0, 0.4]))


def test_attention_summaries_of_a_model_with_right_padding():
    model = _model("bert")
    inputs = _inputs("bert")
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    mask[1, 4:] = 0
    with torch.inference_mode():
        padded = model(**inputs, attention_mask=mask, output_attentions=True).attentions
        alone = model(input_ids=inputs["input_ids"][1:, :4], output_attentions=True).attentions
    assert all(torch.allclose(a.sum(-1), torch.ones(())) for a in padded)
    out = attention_summaries(padded, attention_mask=mask)
    assert out["entropy"].shape == (2, BATCH, HEADS, SEQ)
    real = out["entropy"][:, 0]
    assert (real >= 0).all() and (real <= math.log(SEQ) + 1e-6).all()
    expected = torch.stack([a[:, :, torch.arange(1, SEQ), torch.arange(SEQ - 1)] for a in padded])
    assert torch.allclose(out["previous_token"][:, 0, :, 1:], expected[:, 0])
    assert torch.isnan(out["entropy"][:, 1, :, 4:]).all()
    single = attention_summaries(alone)
    for name, value in single.items():
        assert torch.allclose(out[name][:, 1, :, :4], value[:, 0], atol=1e-5), name
        assert (value[:, 0] <= math.log(4) + 1e-6).all() if name == "entropy" else True


def test_attention_summaries_without_eager_attentions_says_what_to_do():
    with pytest.raises(ValueError, match='attn_implementation="eager"'):
        attention_summaries(())
    with pytest.raises(ValueError, match=r"attention_mask has shape \(3,\)"):
        attention_summaries((torch.ones(1, 1, 2, 2) / 2,), attention_mask=torch.ones(3))
