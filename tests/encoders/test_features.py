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
