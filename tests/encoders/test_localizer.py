"""The sentences > non-words language localizer: statistics, selection, stimuli, models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from brainalign.encoders.features import Features
from brainalign.encoders.localizer import (
    LocalizerResult,
    _english_check_set,
    default_localizer_stimuli,
    encode_stimuli,
    language_localizer,
    localize_model,
    localizer_data_dir,
    make_nonwords,
    n_top_units,
    restrict,
    welch_t,
)
from brainalign.encoders.text import TextEncoder

PLANTED = {"1": [3, 7], "2": [10]}


def planted_features(seed: int = 0, n_sentences: int = 30, n_nonwords: int = 25):
    """Three layers of 50 noise units; PLANTED units respond more to sentences."""
    rng = np.random.default_rng(seed)
    sentences, nonwords = {}, {}
    for name in ("0", "1", "2"):
        sentences[name] = rng.normal(size=(n_sentences, 50))
        nonwords[name] = rng.normal(size=(n_nonwords, 50))
        for unit in PLANTED.get(name, []):
            sentences[name][:, unit] += 4.0
    return sentences, nonwords


# ------------------------------------------------------------------ statistics


@pytest.mark.parametrize("absolute", [True, False])
def test_welch_t_matches_scipy_unit_by_unit(absolute):
    sentences, nonwords = planted_features()
    result = language_localizer(sentences, nonwords, absolute=absolute)
    for name in sentences:
        for unit in (0, 3, 7, 10, 49):
            a, b = sentences[name][:, unit], nonwords[name][:, unit]
            if absolute:
                a, b = np.abs(a), np.abs(b)
            expected = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
            assert result.t_values[name][unit] == pytest.approx(expected.statistic, rel=1e-12)
            assert result.p_values[name][unit] == pytest.approx(expected.pvalue, rel=1e-9)


def test_planted_units_are_exactly_the_selection():
    sentences, nonwords = planted_features()
    # 2% of 150 units = 3 units: the three planted ones.
    result = language_localizer(sentences, nonwords, top_percent=2.0)
    assert isinstance(result, LocalizerResult)
    assert result.scope == "model" and result.top_percent == 2.0
    assert result.n_sentences == 30 and result.n_nonwords == 25
    for name, mask in result.mask.items():
        assert mask.dtype == np.bool_ and mask.shape == (50,)
        assert list(np.flatnonzero(mask)) == PLANTED.get(name, [])
        assert list(result.selected_units(name)) == PLANTED.get(name, [])
    assert result.n_selected == {"0": 0, "1": 2, "2": 1}
    for t in result.t_values.values():
        assert t.shape == (50,) and np.isfinite(t).all()


def test_scope_layer_selects_within_each_layer():
    sentences, nonwords = planted_features()
    result = language_localizer(sentences, nonwords, top_percent=2.0, scope="layer")
    # ceil(2% of 50) = 1 unit per layer, the largest t of that layer.
    assert result.n_selected == {"0": 1, "1": 1, "2": 1}
    for name, mask in result.mask.items():
        assert np.flatnonzero(mask)[0] == np.argmax(result.t_values[name])
    assert result.mask["2"][10]
    assert np.flatnonzero(result.mask["1"])[0] in PLANTED["1"]


def test_features_objects_and_extra_axes_are_accepted():
    sentences, nonwords = planted_features()
    as_features = [
        Features(
            layers={k: v.reshape(len(v), 5, 10) for k, v in group.items()},
            stimulus_ids=np.arange(len(next(iter(group.values())))),
        )
        for group in (sentences, nonwords)
    ]
    result = language_localizer(*as_features, top_percent=2.0)
    assert [list(np.flatnonzero(result.mask[name])) for name in "012"] == [[], [3, 7], [10]]


@pytest.mark.parametrize(
    ("top_percent", "n_units", "expected"),
    [
        (1.0, 300, 3),
        (1.0, 301, 4),
        (1.0, 50, 1),
        (0.001, 10, 1),
        (100, 77, 77),
        (50, 7, 4),
        (10, 2304, 231),
    ],
)
def test_n_top_units_is_the_ceiling(top_percent, n_units, expected):
    assert n_top_units(top_percent, n_units) == expected


def test_top_percent_counts_across_the_model():
    sentences, nonwords = planted_features()
    for top_percent in (1.0, 5.0, 33.3, 100.0):
        result = language_localizer(sentences, nonwords, top_percent=top_percent)
        assert sum(result.n_selected.values()) == math.ceil(top_percent / 100 * 150 - 1e-9)
        per_layer = language_localizer(sentences, nonwords, top_percent=top_percent, scope="layer")
        assert set(per_layer.n_selected.values()) == {math.ceil(top_percent / 100 * 50 - 1e-9)}


def test_selected_units_have_the_largest_t():
    sentences, nonwords = planted_features(seed=3)
    result = language_localizer(sentences, nonwords, top_percent=10.0)
    t = np.concatenate([result.t_values[name] for name in "012"])
    chosen = np.concatenate([result.mask[name] for name in "012"])
    assert chosen.sum() == 15
    assert t[chosen].min() > t[~chosen].max()


def test_ties_go_to_the_first_unit():
    sentences = {"a": np.tile([[1.0], [2.0]], (1, 4)), "b": np.tile([[1.0], [2.0]], (1, 4))}
    nonwords = {"a": np.zeros((3, 4)) + [[0.0], [0.5], [0.1]], "b": np.zeros((3, 4))}
    nonwords["b"] = nonwords["a"].copy()
    result = language_localizer(sentences, nonwords, top_percent=25.0)
    # All 8 units have the same t: the first ceil(2) in layer order, then unit order.
    assert len({float(t) for v in result.t_values.values() for t in v}) == 1
    assert list(result.mask["a"]) == [True, True, False, False]
    assert not result.mask["b"].any()


def test_constant_units_get_t_zero_and_nan_units_are_never_selected():
    sentences, nonwords = planted_features()
    sentences["0"][:, 0] = 2.0
    nonwords["0"][:, 0] = 1.0  # constant in both groups: t undefined, set to 0
    sentences["0"][:, 1] = 5.0
    nonwords["0"][:, 1] = 5.0
    sentences["0"][4, 2] = np.nan
    nonwords["0"][0, 3] = np.inf
    result = language_localizer(sentences, nonwords, top_percent=100.0)
    t, p = result.t_values["0"], result.p_values["0"]
    assert t[0] == 0 and t[1] == 0 and p[0] == 1 and p[1] == 1
    assert np.isnan(t[2]) and np.isnan(t[3]) and np.isnan(p[2])
    assert not result.mask["0"][2] and not result.mask["0"][3]
    assert sum(result.n_selected.values()) == 148


def test_welch_t_two_sided_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 6)), rng.normal(0.5, 2.0, size=(9, 6))
    t, p = welch_t(a, b, alternative="two-sided")
    expected = stats.ttest_ind(a, b, axis=0, equal_var=False)
    np.testing.assert_allclose(t, expected.statistic, rtol=1e-12)
    np.testing.assert_allclose(p, expected.pvalue, rtol=1e-9)


# --------------------------------------------------------------------- restrict


def test_restrict_keeps_the_selected_units():
    sentences, nonwords = planted_features()
    result = language_localizer(sentences, nonwords, top_percent=2.0)
    features = Features(
        layers={name: array.astype(np.float32) for name, array in sentences.items()},
        stimulus_ids=np.arange(30),
        onsets=np.linspace(0, 10, 30),
        provenance={"model": "synthetic"},
    )
    kept = restrict(features, result)
    assert kept.layer_names == ["1", "2"]  # layer "0" has no selected unit
    assert kept["1"].shape == (30, 2) and kept["2"].shape == (30, 1)
    np.testing.assert_array_equal(kept["1"], features["1"][:, [3, 7]])
    np.testing.assert_array_equal(kept.onsets, features.onsets)
    assert kept.provenance["model"] == "synthetic"
    assert kept.provenance["localizer"]["n_selected"] == {"0": 0, "1": 2, "2": 1}

    joined = restrict(features, result, concatenate=True)
    assert joined.layer_names == ["language"]
    np.testing.assert_array_equal(
        joined["language"], np.column_stack([features["1"][:, [3, 7]], features["2"][:, 10]])
    )


def test_restrict_refuses_features_of_another_model():
    sentences, nonwords = planted_features()
    result = language_localizer(sentences, nonwords)
    wrong_units = Features(
        layers={name: np.zeros((4, 40)) for name in "012"}, stimulus_ids=np.arange(4)
    )
    with pytest.raises(ValueError, match="layer '0' has 40 units.*50"):
        restrict(wrong_units, result)
    missing = Features(layers={"0": np.zeros((4, 50))}, stimulus_ids=np.arange(4))
    with pytest.raises(ValueError, match="no layer '1'"):
        restrict(missing, result)


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize("top_percent", [0, -1.0, 100.5, float("nan"), True, "1"])
def test_top_percent_must_be_in_range(top_percent):
    sentences, nonwords = planted_features()
    with pytest.raises(ValueError, match="top_percent"):
        language_localizer(sentences, nonwords, top_percent=top_percent)


def test_mismatched_layers_and_units_are_refused():
    sentences, nonwords = planted_features()
    with pytest.raises(ValueError, match="different layers"):
        language_localizer(sentences, {k: v for k, v in nonwords.items() if k != "2"})
    nonwords["1"] = nonwords["1"][:, :40]
    with pytest.raises(ValueError, match="layer '1' has 50 units .* but 40"):
        language_localizer(sentences, nonwords)


def test_too_few_stimuli_and_bad_scope_are_refused():
    sentences, nonwords = planted_features()
    with pytest.raises(ValueError, match="at least 2 stimuli"):
        language_localizer({k: v[:1] for k, v in sentences.items()}, nonwords)
    with pytest.raises(ValueError, match="at least 2 stimuli"):
        language_localizer(sentences, {k: v[:1] for k, v in nonwords.items()})
    with pytest.raises(ValueError, match="scope='voxel'"):
        language_localizer(sentences, nonwords, scope="voxel")
    with pytest.raises(ValueError, match="non-empty mapping"):
        language_localizer({}, nonwords)


def test_localize_model_checks_its_stimuli_before_encoding():
    encoder = object()  # never reached
    with pytest.raises(ValueError, match="both sentences and nonwords"):
        localize_model(encoder, sentences=["a b", "c d"])
    with pytest.raises(ValueError, match="at least 2"):
        localize_model(encoder, sentences=["the cat sat"], nonwords=["ba ko fim", "te lu"])
    with pytest.raises(ValueError, match="top_percent"):
        localize_model(encoder, sentences=["a b", "c d"], nonwords=["e f", "g h"], top_percent=0)


# ---------------------------------------------------------------------- stimuli


def test_default_stimuli_are_matched_pairs():
    sentences, nonwords = default_localizer_stimuli()
    assert len(sentences) == len(nonwords) == 120
    assert len(set(sentences)) == 120 and len(set(nonwords)) == 120
    vocabulary = {word for sentence in sentences for word in sentence.split()}
    check = _english_check_set()
    for sentence, nonword in zip(sentences, nonwords, strict=True):
        words, fake = sentence.split(), nonword.split()
        assert len(words) == len(fake) == 12
        assert [len(w) for w in words] == [len(w) for w in fake]  # tolerance zero
        assert all(w.isascii() and w.isalpha() and w.islower() for w in words + fake)
        assert not set(fake) & vocabulary
        assert not set(fake) & check


def test_regenerating_the_nonwords_gives_the_shipped_file():
    folder = localizer_data_dir()
    sentences = (folder / "sentences.txt").read_text(encoding="utf-8").splitlines()
    shipped = (folder / "nonwords.txt").read_text(encoding="utf-8")
    assert "\n".join(make_nonwords(sentences)) + "\n" == shipped
    assert make_nonwords(sentences, seed=1) != shipped.splitlines()
    assert (folder / "README.md").is_file()


def test_make_nonwords_refuses_non_letters():
    with pytest.raises(ValueError, match="don't"):
        make_nonwords(["i don't know"])


# ---------------------------------------------------------------- real models


def test_encode_stimuli_reads_each_stimulus_alone(tiny_gpt2_dir):
    encoder = TextEncoder(tiny_gpt2_dir, progress=False)
    stimuli = ["alice was tired", "the rabbit ran down the hole"]
    last = encode_stimuli(encoder, stimuli)
    mean = encode_stimuli(encoder, stimuli, layers=[0, 2], pooling="mean")
    assert last.layer_names == ["1", "2"]  # block outputs only, by default
    assert mean.layer_names == ["0", "2"]
    assert last["1"].shape == (2, 32) and last["1"].dtype == np.float32
    assert last.provenance["stimulus_pooling"] == "last"
    for row, stimulus in enumerate(stimuli):
        alone = encoder.encode_words(stimulus.split(), layers=[0, 1, 2])
        np.testing.assert_allclose(last["2"][row], alone["2"][-1], atol=1e-5)  # batched together
        np.testing.assert_allclose(mean["0"][row], alone["0"].mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="pooling='first'"):
        encode_stimuli(encoder, stimuli, pooling="first")


def test_short_bidirectional_context_warns(tiny_bert_dir):
    encoder = TextEncoder(tiny_bert_dir, context_words=3, progress=False)
    with pytest.warns(UserWarning, match="context_words >= 5"):
        encode_stimuli(encoder, ["one two three four five", "six seven"])


def test_minilm_separates_sentences_from_nonwords(minilm_path):
    encoder = TextEncoder(minilm_path, progress=False)
    sentences, nonwords = default_localizer_stimuli()
    # 16 + 16 stimuli keep the test fast (the bidirectional path encodes every word of a
    # stimulus in its own window); the full set gives a larger t.
    result = localize_model(encoder, sentences=sentences[:16], nonwords=nonwords[:16])
    assert result.layer_names == ["1", "2", "3", "4", "5", "6"]
    for name in result.layer_names:
        assert result.mask[name].shape == (384,) and result.mask[name].dtype == np.bool_
        assert np.isfinite(result.t_values[name]).all()
    assert sum(result.n_selected.values()) == math.ceil(0.01 * 6 * 384)  # 24
    assert max(t.max() for t in result.t_values.values()) > 5
    selected = np.concatenate([result.t_values[k][result.mask[k]] for k in result.mask])
    assert selected.min() > 3
    assert result.n_sentences == result.n_nonwords == 16
