"""The content-free controls: position_features (random_vectors is tested with its users)."""

import numpy as np
import pytest

from brainalign.benchmarks.controls import position_feature_names, position_features


def _expected_row(p: float, r: float) -> list[float]:
    return [
        p,
        np.log1p(p),
        r,
        np.sin(np.pi * r),
        np.cos(np.pi * r),
        np.sin(2 * np.pi * r),
        np.cos(2 * np.pi * r),
    ]


def test_hand_computed_values_with_interleaved_groups():
    features = position_features(["a", "b", "a", "a", "b"])
    expected = [
        _expected_row(0, 0.0),
        _expected_row(0, 0.0),
        _expected_row(1, 0.5),
        _expected_row(2, 1.0),
        _expected_row(1, 1.0),
    ]
    np.testing.assert_allclose(features, expected, rtol=1e-12, atol=1e-12)
    assert features.shape == (5, len(position_feature_names()))
    assert position_feature_names(1) == [
        "position",
        "log1p_position",
        "relative_position",
        "sin_1",
        "cos_1",
    ]


def test_explicit_positions_and_singletons():
    features = position_features([1, 1, 2], [3.0, 7.0, 5.0], n_harmonics=0)
    np.testing.assert_allclose(
        features, [[3, np.log1p(3), 0], [7, np.log1p(7), 1], [5, np.log1p(5), 0]], rtol=1e-12
    )
    default = position_features(np.array(["x", "y", "x"]))
    explicit = position_features(np.array(["x", "y", "x"]), [0, 0, 1])
    np.testing.assert_array_equal(default, explicit)


def test_only_position_enters():
    """Same groups and positions give the same rows whatever the items are."""
    groups = np.repeat(["p1", "p2", "p3"], 4)
    once = position_features(groups)
    relabelled = position_features(np.repeat(["zz", "aa", "mm"], 4))
    np.testing.assert_array_equal(once, relabelled)
    assert np.linalg.matrix_rank(once) == 4  # 4 distinct positions: 4 distinct rows


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": []}, "non-empty 1-D"),
        ({"groups": [[1, 2]]}, "non-empty 1-D"),
        ({"groups": [1, 1], "positions": [0]}, "one per item"),
        ({"groups": [1, 1], "positions": [0, -1]}, "finite and >= 0"),
        ({"groups": [1, 1], "positions": [0, np.nan]}, "finite and >= 0"),
        ({"groups": [1, 1], "n_harmonics": -1}, "n_harmonics=-1"),
        ({"groups": [1, 1], "n_harmonics": 1.5}, "n_harmonics=1.5"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        position_features(**kwargs)
