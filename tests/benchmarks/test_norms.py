"""Norm probes end to end on the real Glasgow and THINGS subsets, with a tiny random BERT.

The reference probe is written here with scikit-learn only: shuffled KFold, z-scoring
with training statistics, sklearn Ridge per alpha, the alpha with the best mean inner
Pearson r per dimension, held-out Pearson r averaged over the outer folds.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from brainalign.alignment.ridge import DEFAULT_ALPHAS
from brainalign.benchmarks.norms import norm_table, reliability_ceiling
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.word_similarity import RANDOM_CONTROL
from brainalign.encoders import text
from brainalign.encoders.cards import CARD_COLUMNS
from brainalign.encoders.store import FeatureStore
from brainalign.results import RESULT_COLUMNS, validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

BEHAVIOUR = TESTS_DATA / "behaviour"


@pytest.fixture(autouse=True)
def _offline_cache(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_in_cache(
        monkeypatch, "glasgow-norms", "norms", BEHAVIOUR / "GlasgowNorms_subset.csv", subset=True
    )
    for key, file in (
        ("concepts", "things_concepts_subset.tsv"),
        ("animacy", "things_animacy_subset.csv"),
    ):
        place_in_cache(monkeypatch, "things-concepts", key, BEHAVIOUR / file, subset=True)


def _zscore(train, data):
    mean, std = train.mean(0), train.std(0)
    return (data - mean) / np.where(std > 0, std, 1.0)


def _pearson(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def _reference_probe(X, Y, seed=0):
    outer = KFold(5, shuffle=True, random_state=seed)
    fold_scores = []
    for train, test in outer.split(X):
        Xtr, Ytr = _zscore(X[train], X[train]), _zscore(Y[train], Y[train])
        inner = list(KFold(5, shuffle=True, random_state=seed).split(Xtr))
        cv = np.array(
            [
                np.mean(
                    [
                        _pearson(Ridge(alpha=a).fit(Xtr[t], Ytr[t]).predict(Xtr[v]), Ytr[v])
                        for t, v in inner
                    ],
                    axis=0,
                )
                for a in DEFAULT_ALPHAS
            ]
        )
        best = np.asarray(DEFAULT_ALPHAS)[np.argmax(cv, axis=0)]
        pred = np.column_stack(
            [
                Ridge(alpha=a).fit(Xtr, Ytr[:, k]).predict(_zscore(X[train], X[test]))
                for k, a in enumerate(best)
            ]
        )
        fold_scores.append(_pearson(pred, Y[test]))
    return np.mean(fold_scores, axis=0)


def test_glasgow_probe_equals_a_sklearn_reimplementation(tiny_bert_dir, tmp_path, monkeypatch):
    calls = []
    original = text.TextEncoder._forward

    def counting(self, batch, **kwargs):
        calls.append(len(batch))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(text.TextEncoder, "_forward", counting)
    model = str(tiny_bert_dir)
    store = FeatureStore(tmp_path / "store")
    results = get("glasgow-norms").run(model, layers=[2], store=store)

    validate_results(results)
    assert list(results.columns) == [*RESULT_COLUMNS, "n_items", *CARD_COLUMNS]
    assert (results["benchmark"] == "glasgow-norms@1").all() and (results["n_items"] == 70).all()
    entities = results.groupby(["model", "weights", "control"], sort=False).size()
    assert entities.to_dict() == {
        (model, "pretrained", ""): 9, (model, "untrained", ""): 9, ("", "", RANDOM_CONTROL): 9
    }  # fmt: skip
    assert (results["metric"] == "pearson_r").all()

    table = norm_table("glasgow-norms")
    words = list(dict.fromkeys(table.words))
    encoder = text.TextEncoder(model, pooling="mean", progress=False)
    features = encoder.extract(words, context="isolated", level="sentence", layers=[2])
    vectors = np.asarray(features["2"], dtype=np.float64)
    X = vectors[[words.index(w) for w in table.words]]
    pretrained = results[results["weights"] == "pretrained"]
    mine = pretrained.set_index("unit")["score"][table.dimensions]
    np.testing.assert_allclose(mine.to_numpy(), _reference_probe(X, table.means), rtol=1e-6)

    # Ceiling: sqrt(1 - mean(SD^2/N) / var(M)) per dimension, from the raw CSV.
    raw = pd.read_csv(
        BEHAVIOUR / "GlasgowNorms_subset.csv", lineterminator="\r", encoding="utf-8-sig"
    )
    reliability = 1 - (raw["VAL_SD"] ** 2 / raw["VAL_N"]).mean() / raw["VAL_M"].var(ddof=1)
    valence = results[(results["unit"] == "valence")]
    np.testing.assert_allclose(valence["ceiling"], np.sqrt(reliability), rtol=1e-5)
    assert (valence["ceiling_flag"] == "ok").all()
    np.testing.assert_allclose(valence["normalized_score"], valence["score"] / valence["ceiling"])

    calls.clear()
    again = get("glasgow-norms").run(model, layers=[2], store=store)
    assert calls == []
    pd.testing.assert_frame_equal(results, again)


def test_things_probe_reads_concept_words_and_eleven_dimensions(tiny_bert_dir):
    table = norm_table("things-concepts")
    assert len(table.dimensions) == 11 and "lives" in table.dimensions
    assert table.words[4] == "air conditioner" and table.item_ids[4] == "air_conditioner"
    model = str(tiny_bert_dir)
    results = get("things-concepts").run(model, layers=[1], options={"n_splits": 4})
    assert results.groupby(["weights", "control"], sort=False).size().to_dict() == {
        ("pretrained", ""): 11,
        ("untrained", ""): 11,
        ("", RANDOM_CONTROL): 11,
    }
    assert results["score"].between(-1, 1).all() and results["ceiling"].between(0, 1).all()
    assert results.loc[results["control"] == RANDOM_CONTROL, "layer"].isna().all()


def test_reliability_ceiling_edge_cases():
    means = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    sds = np.ones_like(means)
    counts = np.full_like(means, 4.0)
    ceiling = reliability_ceiling(means, sds, counts)
    np.testing.assert_allclose(ceiling[0], np.sqrt(1 - 0.25 / 4.0))
    assert np.isnan(ceiling[1])  # constant means
    assert np.isnan(reliability_ceiling(means, 100 * sds, counts)[0])  # noise > variance
    with pytest.raises(ValueError, match="counts"):
        reliability_ceiling(means, sds, 0 * counts)
    with pytest.raises(ValueError, match="same"):
        reliability_ceiling(means, sds[:2], counts)
