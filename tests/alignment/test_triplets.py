"""Odd-one-out accuracy and ceiling against brute-force Python counts."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from brainalign.alignment import triplets as triplets_module
from brainalign.alignment.triplets import (
    CHANCE,
    check_triplets,
    odd_one_out_accuracy,
    odd_one_out_ceiling,
    odd_one_out_correct,
    triplet_similarities,
)
from tests.datasets.catalogue_helpers import TESTS_DATA

#: Triplets in the published THINGS / SPoSE format, with repeated sets (tests/data).
FIXTURE_TRIPLETS = TESTS_DATA / "things_triplets" / "triplets.txt"


def _similarity(a, b, kind):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    if kind == "dot":
        return dot
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _brute_force_correct(features, triplets, kind, ties):
    """One triplet at a time in plain Python: the odd one is outside the most similar pair."""
    scores = []
    for i, j, k in triplets:
        x = [list(map(float, features[n])) for n in (i, j, k)]
        pairs = {2: _similarity(x[0], x[1], kind), 1: _similarity(x[0], x[2], kind)}
        pairs[0] = _similarity(x[1], x[2], kind)
        best = max(pairs.values())
        odd_ones = [odd for odd, value in pairs.items() if value == best]
        if 2 not in odd_ones:
            scores.append(0.0)
        elif ties == "split":
            scores.append(1.0 / len(odd_ones))
        else:
            scores.append(1.0 if len(odd_ones) == 1 else 0.0)
    return np.array(scores)


def _random_triplets(rng, n_items, n_triplets):
    return np.argsort(rng.random((n_triplets, n_items)), axis=1)[:, :3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_accuracy_equals_a_brute_force_count(dtype, similarity):
    rng = np.random.default_rng(7)
    features = rng.standard_normal((30, 6)).astype(dtype)
    triplets = _random_triplets(rng, 30, 400)
    expected = _brute_force_correct(features.astype(np.float64), triplets, similarity, "split")
    assert 0 < expected.sum() < len(expected)
    correct = odd_one_out_correct(features, triplets, similarity)
    np.testing.assert_array_equal(correct, expected)
    assert odd_one_out_accuracy(features, triplets, similarity) == pytest.approx(expected.mean())


def test_cosine_and_dot_choose_differently_when_norms_differ():
    # Items 0 and 1 point the same way; item 2 is long and between them.
    features = np.array([[1.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    assert odd_one_out_accuracy(features, [[0, 1, 2]], "cosine") == 1.0
    assert odd_one_out_accuracy(features, [[0, 1, 2]], "dot") == 0.0


def test_chunked_path_equals_the_gram_path(monkeypatch):
    rng = np.random.default_rng(3)
    features = rng.standard_normal((40, 5))
    triplets = _random_triplets(rng, 40, 300)
    gram = triplet_similarities(features, triplets, "dot")
    monkeypatch.setattr(triplets_module, "GRAM_MAX_ITEMS", 10)
    monkeypatch.setattr(triplets_module, "_CHUNK", 64)
    np.testing.assert_allclose(triplet_similarities(features, triplets, "dot"), gram, rtol=1e-12)


def test_ties_split_or_count_as_wrong():
    # Integer features: every similarity is exact, so ties are exact.
    features = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [2, 0]], dtype=np.float64)
    triplets = np.array(
        [
            [0, 1, 2],  # the person's pair is strictly the most similar: correct
            [0, 2, 1],  # the pair (0, 1) is: wrong
            [0, 2, 4],  # (0, 4) and (2, 4) tie, the person's pair (0, 2) is not among them
            [2, 3, 0],  # correct
            [4, 0, 2],  # (4, 0) and (4, 2) tie for best: the person's pair is one of two
        ]
    )
    split = odd_one_out_correct(features, triplets, "cosine")
    np.testing.assert_array_equal(split, [1.0, 0.0, 0.0, 1.0, 0.5])
    wrong = odd_one_out_correct(features, triplets, "cosine", ties="wrong")
    np.testing.assert_array_equal(wrong, [1.0, 0.0, 0.0, 1.0, 0.0])
    for ties, got in (("split", split), ("wrong", wrong)):
        np.testing.assert_array_equal(got, _brute_force_correct(features, triplets, "cosine", ties))
    # The same features for every item: a three-way tie everywhere, exactly chance.
    constant = np.ones((6, 3), dtype=np.float32)
    assert odd_one_out_accuracy(constant, triplets) == pytest.approx(CHANCE)
    assert odd_one_out_accuracy(constant, triplets, ties="wrong") == 0.0


def test_a_zero_vector_has_cosine_zero():
    features = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.1]])
    assert odd_one_out_correct(features, [[1, 2, 0]]).tolist() == [1.0]


def test_heads_are_scored_like_separate_layers():
    rng = np.random.default_rng(11)
    per_head = rng.standard_normal((25, 3, 4))
    triplets = _random_triplets(rng, 25, 200)
    accuracy = odd_one_out_accuracy(per_head, triplets)
    assert accuracy.shape == (3,)
    for head in range(3):
        assert accuracy[head] == pytest.approx(odd_one_out_accuracy(per_head[:, head], triplets))


def test_random_features_score_chance():
    rng = np.random.default_rng(2024)
    features = rng.standard_normal((200, 16))
    triplets = _random_triplets(rng, 200, 60000)
    accuracy = odd_one_out_accuracy(features, triplets)
    # Binomial standard error sqrt(p (1 - p) / n) = 0.0019: five of them.
    assert abs(accuracy - CHANCE) < 0.0097


def _brute_force_ceiling(triplets):
    answers = {}
    for i, j, k in triplets:
        answers.setdefault(frozenset((i, j, k)), []).append(k)
    agreement, leave_one_out = [], []
    for choices in answers.values():
        if len(choices) < 2:
            continue
        agreement.append(Counter(choices).most_common(1)[0][1] / len(choices))
        hits = []
        for index, choice in enumerate(choices):
            others = Counter(choices[:index] + choices[index + 1 :])
            top = max(others.values())
            majority = [item for item, count in others.items() if count == top]
            hits.append(1 / len(majority) if choice in majority else 0.0)
        leave_one_out.append(sum(hits) / len(hits))
    return float(np.mean(agreement)), float(np.mean(leave_one_out)), len(agreement)


def test_ceiling_equals_a_brute_force_computation_on_the_fixture():
    triplets = np.loadtxt(FIXTURE_TRIPLETS, dtype=np.int64)
    agreement, leave_one_out, n_sets = _brute_force_ceiling(triplets.tolist())
    ceiling = odd_one_out_ceiling(triplets)
    assert n_sets >= 3 and ceiling.n_sets == n_sets
    assert ceiling.agreement == pytest.approx(agreement)
    assert ceiling.leave_one_out == pytest.approx(leave_one_out)
    assert ceiling.leave_one_out < ceiling.agreement
    counts = Counter(frozenset(row) for row in triplets.tolist())
    assert ceiling.n_answers == sum(n for n in counts.values() if n >= 2)


def test_ceiling_of_random_answers_and_of_no_repeats():
    rng = np.random.default_rng(5)
    sets = _random_triplets(rng, 30, 50)
    rows = [np.roll(s, rng.integers(3)) for s in sets for _ in range(6)]
    agreement, leave_one_out, _ = _brute_force_ceiling(np.array(rows).tolist())
    ceiling = odd_one_out_ceiling(rows)
    assert (ceiling.agreement, ceiling.leave_one_out) == pytest.approx((agreement, leave_one_out))
    assert odd_one_out_ceiling([[0, 1, 2], [0, 1, 3]]) is None
    unanimous = odd_one_out_ceiling([[0, 1, 2], [1, 0, 2], [0, 1, 2]])
    assert (unanimous.agreement, unanimous.leave_one_out) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("triplets", "message"),
    [
        (np.empty((0, 3), dtype=int), r"expected an \(n_triplets >= 1, 3\)"),
        ([[0, 1]], r"expected an \(n_triplets >= 1, 3\)"),
        ([[0.0, 1.0, 2.0]], "must be integers"),
        ([[0, 1, 2], [0, 1, 9]], r"triplets: row 1 holds \[0, 1, 9\], outside the 5 items"),
        ([[0, 1, -1]], "row 0 holds"),
        ([[0, 1, 2], [3, 3, 1]], r"row 1 repeats an item: \[3, 3, 1\]"),
    ],
)
def test_bad_triplets_are_clear_errors(triplets, message):
    with pytest.raises(ValueError, match=message):
        odd_one_out_accuracy(np.eye(5), triplets)


def test_bad_features_and_options_are_clear_errors():
    features = np.eye(5)
    features[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 item.s. hold NaN or inf, the first at row 3"):
        odd_one_out_accuracy(features, [[0, 1, 2]])
    with pytest.raises(ValueError, match="n_items >= 3"):
        odd_one_out_accuracy(np.eye(2), [[0, 1, 2]])
    with pytest.raises(ValueError, match="similarity='euclidean'"):
        odd_one_out_accuracy(np.eye(5), [[0, 1, 2]], "euclidean")
    with pytest.raises(ValueError, match="ties='first'"):
        odd_one_out_accuracy(np.eye(5), [[0, 1, 2]], ties="first")
    with pytest.raises(ValueError, match="fixture.txt: row 0 repeats"):
        check_triplets([[1, 1, 2]], 5, name="fixture.txt")


def test_every_pair_order_of_a_triplet_gives_the_same_similarities():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((4, 3))
    reference = triplet_similarities(features, [[0, 1, 2]])[0]
    for order in itertools.permutations([0, 1]):
        swapped = [[order[0], order[1], 2]]
        np.testing.assert_array_equal(
            triplet_similarities(features, swapped)[0], reference[[0, 2, 1]]
            if order == (1, 0) else reference
        )  # fmt: skip
    assert FIXTURE_TRIPLETS.is_file()
