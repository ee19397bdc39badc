"""``futrell2018-surprisal`` end to end on real Natural Stories reading times.

The data are the first 120 words of stories 1-3 of the published
``processed_wordinfo.tsv`` (tests/data/futrell2018, original lines), placed in an
isolated cache and read offline through the catalogue; the model is a tiny random-weight
GPT-2 with its LM head (64 positions, so the stories are read in sliding windows). The
reference numbers are recomputed here the plain way: surprisal from
``word_surprisal``, sentence starts by the rule written out again, leave-one-story-out
fits with numpy's polyfit, scipy's pearsonr.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from brainalign.benchmarks.futrell2018 import (
    POSITION_CONTROL,
    heldout_fit_score,
    sentence_initial,
)
from brainalign.benchmarks.registry import get
from brainalign.encoders import surprisal as surprisal_module
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.surprisal import word_surprisal
from brainalign.results import validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

SUBSET = TESTS_DATA / "futrell2018" / "processed_wordinfo_stories1-3_zones1-120.tsv"
ENDINGS = (".", "?", "!", ".'", "?'", "!'", ";'")


@pytest.fixture(autouse=True)
def _offline_cache(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_in_cache(monkeypatch, "futrell2018", "processed_wordinfo", SUBSET, subset=True)


def _table(stories=(1, 2, 3)):
    table = pd.read_csv(SUBSET, sep="\t", keep_default_na=False, dtype={"word": str})
    table = table[table["item"].isin(stories)]
    return table.sort_values(["item", "zone"]).reset_index(drop=True)


def _initial_by_hand(table):
    """Brain-Score's loop over the words (story starts are sentence starts)."""
    words = table["word"].tolist()
    out = []
    for i, word in enumerate(words):
        if i == 0 or table["item"].iloc[i] != table["item"].iloc[i - 1]:
            out.append(True)
            continue
        previous = words[i - 1]
        out.append(previous.endswith(ENDINGS) and not (word.islower() or previous == "Mr."))
    return np.array(out)


def _heldout_fit(x, y, story):
    """Leave-one-story-out straight-line fits (numpy polyfit), pooled Pearson r."""
    predictions = np.empty_like(y)
    for s in np.unique(story):
        test = story == s
        slope, intercept = np.polyfit(x[~test], y[~test], 1)
        predictions[test] = intercept + slope * x[test]
    return pearsonr(predictions, y).statistic


def test_rows_scores_ceiling_and_controls_equal_a_plain_recomputation(tiny_gpt2_lm_dir):
    model = str(tiny_gpt2_lm_dir)
    rows = get("futrell2018-surprisal").run(model, options={"stories": [1, 3]}, batch_size=4)
    validate_results(rows)
    assert rows["benchmark"].eq("futrell2018-surprisal@2").all()
    assert rows["weights"].tolist() == ["pretrained", "untrained", ""]
    assert rows["control"].tolist() == ["", "", POSITION_CONTROL]
    assert rows["layer"].isna().all() and rows["metric"].eq("pearson_r").all()
    assert rows["subject"].eq("mean").all() and rows["unit"].eq("reading_time").all()

    table = _table((1, 3))
    assert len(table) == 240
    initial = _initial_by_hand(table)
    assert initial.sum() >= 4 and initial[0] and initial[120]  # sentences + story starts
    keep = ~initial
    # first-word exclusion applied: counts
    assert rows["n_sentence_initial"].eq(int(initial.sum())).all()
    assert rows["n_words"].eq(240 - int(initial.sum())).all()
    assert rows["n_missing"].eq(0).all() and rows["n_stories"].eq(2).all()

    # the catalogue's Recording holds the RTs as float32 (its data dtype)
    rt = table["meanItemRT"].to_numpy().astype(np.float32).astype(np.float64)
    words, story = table["word"].tolist(), table["item"].to_numpy()
    surprisal = word_surprisal(model, words, groups=story, batch_size=4)
    untrained = word_surprisal(model, words, groups=story, weights="untrained", batch_size=4)
    predictors = [surprisal, untrained, table["zone"].to_numpy(float)]
    raw = [pearsonr(x[keep], rt[keep]).statistic for x in predictors]
    np.testing.assert_allclose(rows["raw_pearson_r"], raw, rtol=1e-10, atol=1e-12)
    fitted = [_heldout_fit(x[keep], rt[keep], story[keep]) for x in predictors]
    np.testing.assert_allclose(rows["score"], fitted, rtol=1e-8, atol=1e-10)
    assert abs(fitted[0] - fitted[1]) > 1e-6  # the twin really is another model

    sd, n = table["sdItemRT"].to_numpy()[keep], table["nItem"].to_numpy()[keep]
    reliability = 1 - np.mean(sd**2 / n) / np.var(rt[keep], ddof=1)
    assert 0.3 < reliability < 1
    np.testing.assert_allclose(rows["ceiling"], np.sqrt(reliability), rtol=1e-12)
    np.testing.assert_allclose(
        rows["normalized_score"], rows["score"] / np.sqrt(reliability), rtol=1e-12
    )


def test_store_rerun_does_no_forward_pass(tiny_gpt2_lm_dir, tmp_path, monkeypatch):
    calls = []
    original = surprisal_module.SurprisalModel._forward

    def counting(self, batch):
        calls.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(surprisal_module.SurprisalModel, "_forward", counting)
    store = FeatureStore(tmp_path / "store")
    benchmark = get("futrell2018-surprisal")
    settings = {"options": {"stories": [1, 2]}, "store": store, "untrained_twin": False}
    first = benchmark.run(str(tiny_gpt2_lm_dir), **settings)
    assert calls
    n_calls = len(calls)
    again = benchmark.run(str(tiny_gpt2_lm_dir), **settings)
    assert len(calls) == n_calls
    pd.testing.assert_frame_equal(first, again)
    assert first["model"].tolist() == [str(tiny_gpt2_lm_dir), ""]


def test_sentence_rule_matches_the_hand_loop_and_resets_at_stories():
    table = _table()
    got = sentence_initial(table["word"].tolist(), table["item"].to_numpy())
    np.testing.assert_array_equal(got, _initial_by_hand(table))
    words = ["Mr.", "Smith", "said", "hi.", "then", "left.", "The", "end.", "New"]
    assert np.flatnonzero(sentence_initial(words, [1] * 8 + [2])).tolist() == [0, 6, 8]


def test_bad_options_are_named(tiny_gpt2_lm_dir, tiny_bert_dir):
    benchmark = get("futrell2018-surprisal")
    with pytest.raises(ValueError, match="stories=\\[11\\]"):
        benchmark.run(str(tiny_gpt2_lm_dir), options={"stories": [11]})
    with pytest.raises(ValueError, match="needs at least 2 stories"):
        benchmark.run(str(tiny_gpt2_lm_dir), options={"stories": [1]})
    with pytest.raises(ValueError, match="not a causal language model"):
        benchmark.run(str(tiny_bert_dir), options={"stories": [1, 2]})
    with pytest.raises(ValueError, match="does not use --layers"):
        benchmark.run(str(tiny_gpt2_lm_dir), layers=[1])


def test_a_story_with_gaps_is_refused(monkeypatch, tiny_gpt2_lm_dir):
    gappy = TESTS_DATA / "behaviour" / "naturalstories_processed_wordinfo_subset.tsv"
    place_in_cache(monkeypatch, "futrell2018", "processed_wordinfo", gappy, subset=True)
    with pytest.raises(ValueError, match="story 1 lacks words at positions"):
        get("futrell2018-surprisal").run(str(tiny_gpt2_lm_dir), options={"stories": [1]})


def test_a_predictor_scores_by_what_it_explains_whatever_its_sign():
    """A predictor and its negation score the same: a control whose raw r is negative
    (reading speeds up over a story) is as strong as one with the same positive r."""
    table = _table()
    rt = table["meanItemRT"].to_numpy(float)
    story = table["item"].to_numpy()
    position = table["zone"].to_numpy(float)
    assert pearsonr(position, rt).statistic < 0
    up, down = heldout_fit_score(position, rt, story), heldout_fit_score(-position, rt, story)
    assert up == pytest.approx(down, abs=1e-12)
    assert up == pytest.approx(_heldout_fit(position, rt, story), abs=1e-10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300)
    y = -0.5 * x + rng.standard_normal(300)
    groups = np.repeat([1, 2, 3], 100)
    raw = pearsonr(x, y).statistic
    assert raw < -0.3
    assert heldout_fit_score(x, y, groups) == pytest.approx(-raw, abs=0.02)
