import json

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


def test_save_and_load_round_trip_memory_mapped(tmp_path):
    original = _features()
    original.save(tmp_path / "feat")
    loaded = Features.load(tmp_path / "feat")
    assert loaded.layer_names == ["0", "1"]
    assert isinstance(loaded["1"], np.memmap)
    np.testing.assert_array_equal(loaded["0"], original["0"])
    np.testing.assert_array_equal(loaded.onsets, original.onsets)
    assert loaded.stimulus_ids.tolist() == original.stimulus_ids.tolist()
    assert loaded.provenance == original.provenance
    assert not list((tmp_path / "feat").glob("*.tmp"))


def test_incomplete_directory_is_refused(tmp_path):
    _features().save(tmp_path / "feat")
    (tmp_path / "feat" / "features.json").unlink()
    with pytest.raises(FileNotFoundError, match="no complete feature set"):
        Features.load(tmp_path / "feat")


def test_format_version_is_checked(tmp_path):
    _features().save(tmp_path / "feat")
    meta = tmp_path / "feat" / "features.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        Features.load(tmp_path / "feat")


def test_shape_checks_and_layer_lookup():
    with pytest.raises(ValueError, match="expected \\(2, n_dims\\)"):
        Features(layers={"0": np.zeros(2)}, stimulus_ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="expected \\(2, n_dims\\)"):
        Features(layers={"0": np.zeros((3, 2))}, stimulus_ids=np.array(["a", "b"]))
    with pytest.raises(KeyError, match="layers are"):
        _features()[7]


def test_per_head_arrays_round_trip(tmp_path):
    heads = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    features = Features(layers={"1.heads": heads}, stimulus_ids=np.arange(5))
    loaded = Features.load(features.save(tmp_path / "heads"))
    np.testing.assert_array_equal(loaded["1.heads"], heads)
