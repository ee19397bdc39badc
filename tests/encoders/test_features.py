import numpy as np
import pytest

from brainalign.encoders.features import Features


def _features():
    rng = np.random.default_rng(0)
    return Features(
        layers={"0": rng.normal(size=(5, 3)).astype(np.float32), "1": rng.normal(size=(5, 4))},
        stimulus_ids=np.array([f"w{i}" for i in range(5)]),
        onsets=np.arange(5.0),
        provenance={"model": "tiny", "weights": "untrained", "seed": 0},
    )


def test_shape_checks_and_layer_lookup():
    with pytest.raises(ValueError, match="expected \\(2, n_dims\\)"):
        Features(layers={"0": np.zeros(2)}, stimulus_ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="expected \\(2, n_dims\\)"):
        Features(layers={"0": np.zeros((3, 2))}, stimulus_ids=np.array(["a", "b"]))
    with pytest.raises(KeyError, match="layers are"):
        _features()[7]


def test_per_head_arrays_keep_their_axes():
    heads = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    features = Features(layers={"1.heads": heads}, stimulus_ids=np.arange(5))
    assert features["1.heads"].shape == (5, 2, 3) and features.n_items == 5


def test_repr_summarises_without_the_arrays():
    rng = np.random.default_rng(1)
    layers = {str(i): rng.normal(size=(92, 384)).astype(np.float32) for i in range(7)}
    layers |= {f"{i}.heads": np.zeros((92, 12, 32), np.float32) for i in range(1, 7)}
    features = Features(
        layers=layers,
        stimulus_ids=np.arange(92),
        provenance={"model": "/models/all-MiniLM-L6-v2", "weights": "pretrained"},
    )
    text = repr(features)
    assert text == (
        "<Features all-MiniLM-L6-v2 (pretrained): 7 layers x 384 dims, 92 items, float32; "
        "heads: 6 layers x (12, 32)>"
    )
    assert str(features) == text
    hub = Features(
        layers={"0": np.ones((2, 3))}, stimulus_ids=np.arange(2), provenance={"model": "org/m"}
    )
    assert repr(hub) == "<Features org/m: 1 layer x 3 dims, 2 items, float64>"
    assert repr(_features()) == (
        "<Features tiny (untrained): 2 layers x 3-4 dims, 5 items, float32/float64, with onsets>"
    )


def test_repr_of_encoder_features_names_model_layers_and_heads(tiny_bert_dir):
    from brainalign.encoders.text import TextEncoder

    encoder = TextEncoder(tiny_bert_dir, progress=False)
    features = encoder.encode_words(["Alice", "was", "tired"], heads=True, blocks=True)
    text = repr(features)
    assert text.startswith(f"<Features {tiny_bert_dir.name} (pretrained): 3 layers x 32 dims")
    assert "3 items, float32; attention: 2 layers x 32 dims; mlp: 2 layers x 32 dims" in text
    assert "heads: 2 layers x (2, 16)>" in text and len(text) < 200
