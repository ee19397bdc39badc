"""Word-similarity benchmarks end to end on the real subsets, with a tiny random BERT.

The data are the first 25 lines of the published files (tests/data/behaviour), placed in
an isolated cache and read offline through the catalogue. The reference numbers are
recomputed here the plain way: encode the words with TextEncoder, cosine per pair in
numpy, scipy.stats.spearmanr.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from brainalign.benchmarks.registry import get
from brainalign.benchmarks.word_similarity import (
    RANDOM_CONTROL,
    paired_cosine,
    random_word_vectors,
    spearman_columns,
    word_types,
)
from brainalign.encoders import text
from brainalign.encoders.cards import CARD_COLUMNS
from brainalign.encoders.store import FeatureStore
from brainalign.results import RESULT_COLUMNS, validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

FILES = {
    "simlex999": "EN-SIMLEX-999.txt",
    "wordsim353": "EN-WS-353-ALL.txt",
    "men3k": "EN-MEN-TR-3k.txt",
}


@pytest.fixture(autouse=True)
def _offline_cache(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    for name, file in FILES.items():
        place_in_cache(monkeypatch, name, "pairs", TESTS_DATA / "behaviour" / file, subset=True)


@pytest.fixture
def forward_calls(monkeypatch):
    calls = []
    original = text.TextEncoder._forward

    def counting(self, batch, **kwargs):
        calls.append(len(batch))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(text.TextEncoder, "_forward", counting)
    return calls


def _pairs(name):
    rows = [
        line.split() for line in (TESTS_DATA / "behaviour" / FILES[name]).read_text().splitlines()
    ]
    rows = [r for r in rows if r]
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def _reference(model_dir, name, layer, weights="pretrained"):
    """Encode every word alone, cosine per pair, scipy's Spearman."""
    first, second, ratings = _pairs(name)
    words = sorted(set(first) | set(second))
    encoder = text.TextEncoder(model_dir, weights=weights, pooling="mean", progress=False)
    features = encoder.extract(words, context="isolated", level="sentence", layers=[layer])
    vectors = {
        w: np.asarray(features[str(layer)][i], dtype=np.float64) for i, w in enumerate(words)
    }
    cosines = [
        vectors[a] @ vectors[b] / (np.linalg.norm(vectors[a]) * np.linalg.norm(vectors[b]))
        for a, b in zip(first, second, strict=True)
    ]
    return spearmanr(cosines, ratings).statistic


def test_simlex_scores_equal_a_plain_reimplementation(tiny_bert_dir, tmp_path, forward_calls):
    model = str(tiny_bert_dir)
    store = FeatureStore(tmp_path / "store")
    results = get("simlex999").run(model, layers=[0, 2], store=store, batch_size=8)

    validate_results(results)
    assert list(results.columns[len(RESULT_COLUMNS) :]) == ["n_pairs", *CARD_COLUMNS]
    assert (results["benchmark"] == "simlex999@1").all()
    assert (results["metric"] == "spearman_r").all() and results["ceiling"].isna().all()
    assert (results["ceiling_flag"] == "none").all() and results["normalized_score"].isna().all()
    assert (results["dataset"] == "simlex999").all() and (results["n_pairs"] == 25).all()
    by_entity = results.groupby(["model", "weights", "control"], sort=False)["layer"]
    layers = by_entity.apply(list).to_dict()
    assert list(layers) == [
        (model, "pretrained", ""), (model, "untrained", ""), ("", "", RANDOM_CONTROL)
    ]  # fmt: skip
    assert layers[(model, "pretrained", "")] == [0, 2] == layers[(model, "untrained", "")]
    assert pd.isna(layers[("", "", RANDOM_CONTROL)][0])
    control_rows = results[results["control"] == RANDOM_CONTROL]
    assert (control_rows["control_of"] == model).all()

    score = results.set_index(["weights", "layer"])["score"]
    np.testing.assert_allclose(
        score[("pretrained", 2)], _reference(model, "simlex999", 2), rtol=1e-6
    )
    np.testing.assert_allclose(
        score[("untrained", 0)], _reference(model, "simlex999", 0, weights="untrained"), rtol=1e-6
    )
    first, second, ratings = _pairs("simlex999")
    types, (i, j) = word_types(first, second)
    vectors = random_word_vectors(types, 32)
    np.testing.assert_allclose(
        control_rows["score"].item(), spearmanr(paired_cosine(vectors[i], vectors[j]), ratings)[0]
    )
    assert score[("pretrained", 2)] != score[("untrained", 2)]  # the twin is another model

    # A second run with the store: zero forward passes, the same table.
    assert forward_calls
    forward_calls.clear()
    again = get("simlex999").run(model, layers=[0, 2], store=store, batch_size=8)
    assert forward_calls == []
    pd.testing.assert_frame_equal(results, again)


def test_the_seed_seeds_the_random_word_vectors(tiny_bert_dir):
    model = str(tiny_bert_dir)
    first, second, ratings = _pairs("simlex999")
    types, (i, j) = word_types(first, second)
    results = get("simlex999").run(model, layers=[1], seed=3)
    vectors = random_word_vectors(types, 32, seed=3)
    control = results.loc[results["control"] == RANDOM_CONTROL, "score"].item()
    np.testing.assert_allclose(
        control, spearmanr(paired_cosine(vectors[i], vectors[j]), ratings)[0]
    )


@pytest.mark.parametrize("name", ["wordsim353", "men3k"])
def test_relatedness_sets_run_end_to_end(tiny_bert_dir, name):
    model = str(tiny_bert_dir)
    results = get(name).run(model, layers=[1], untrained_twin=False)
    scored = results[results["control"] == ""]
    assert scored["model"].tolist() == [model] and scored["layer"].tolist() == [1]
    np.testing.assert_allclose(scored["score"].item(), _reference(model, name, 1), rtol=1e-6)
    assert (results["benchmark"] == f"{name}@1").all()


def test_untrained_weights_score_only_the_untrained_model(tiny_bert_dir):
    model = str(tiny_bert_dir)
    results = get("simlex999").run(model, layers=[1], weights="untrained")
    assert results["weights"].tolist() == ["untrained", ""]
    assert results["model"].tolist() == [model, ""]
    assert results["control"].tolist() == ["", RANDOM_CONTROL]
    same = get("simlex999").run(f"{model}@untrained", layers=[1])
    pd.testing.assert_frame_equal(results, same)


def test_spearman_columns_matches_scipy_with_ties_and_nan():
    rng = np.random.default_rng(0)
    ratings = np.round(rng.uniform(0, 10, 40))  # many ties
    sims = np.column_stack(
        [rng.standard_normal(40), np.round(rng.standard_normal(40)), np.full(40, 0.3)]
    )
    sims[:, 1] += 0.5 * ratings
    nan_column = rng.standard_normal((40, 1))
    nan_column[3] = np.nan
    scores = spearman_columns(np.hstack([sims, nan_column]), ratings)
    for k in range(2):
        np.testing.assert_allclose(scores[k], spearmanr(sims[:, k], ratings)[0], rtol=1e-12)
    assert np.isnan(scores[2]) and np.isnan(scores[3])  # constant column, undefined cosine
    with pytest.raises(ValueError, match="expected"):
        spearman_columns(sims, ratings[:-1])
    with pytest.raises(ValueError, match="finite rating"):
        spearman_columns(sims, np.where(np.arange(40) == 0, np.nan, ratings))


def test_paired_cosine_and_random_vectors():
    A = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    B = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    np.testing.assert_allclose(paired_cosine(A, B), [1.0, np.nan, -1.0])
    with pytest.raises(ValueError, match="same shape"):
        paired_cosine(A, B[:2])
    alone = random_word_vectors(["cat"], 8, seed=1)
    among = random_word_vectors(["dog", "cat"], 8, seed=1)
    np.testing.assert_array_equal(alone[0], among[1])  # a word's vector ignores the others
    assert not np.allclose(random_word_vectors(["cat"], 8, seed=2), alone)
    with pytest.raises(ValueError, match="n_dims=0"):
        random_word_vectors(["cat"], 0)
    types, (i, j) = word_types(["a", "b", "a"], ["c", "a", "b"])
    assert types == ["a", "b", "c"] and i.tolist() == [0, 1, 0] and j.tolist() == [2, 0, 1]
