"""Tests of the behavioural readers on real files (small copies in tests/data/behaviour)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import squareform

from brainalign.datasets.behaviour import (
    BehaviourFormatError,
    read_glasgow_norms,
    read_natural_stories,
    read_rdms,
    read_things_concepts,
    read_triplets,
    read_word_norms,
    read_word_pairs,
)

DATA = Path(__file__).resolve().parents[1] / "data"
BEHAVIOUR = DATA / "behaviour"
KRIEGESKORTE = DATA / "kriegeskorte2008_92"
PROCESSED = BEHAVIOUR / "naturalstories_processed_wordinfo_subset.tsv"
SCHRIMPF = BEHAVIOUR / "naturalstories_stories_data_subset.csv"


# ----------------------------------------------------------------------------- natural stories


def test_natural_stories_in_story_order_with_reference_values():
    rec = read_natural_stories(PROCESSED)
    raw = pd.read_csv(PROCESSED, sep="\t", keep_default_na=False, quoting=3)
    raw = raw.sort_values(["item", "zone"]).reset_index(drop=True)
    assert rec.sampling == "event" and rec.data.shape == (len(raw), 1)
    assert_allclose(rec.data[:, 0], raw["meanItemRT"].to_numpy(), rtol=1e-6)
    assert rec.stimuli.text[:5] == ["If", "you", "were", "to", "journey"]
    assert rec.stimuli.groups() == ["story01", "story03"]
    assert rec.samples["stimulus_id"].iloc[0] == "s01-w0001"
    assert_array_equal(rec.samples["n_subjects"], raw["nItem"])
    assert rec.units["unit"].tolist() == ["reading_time"]
    assert rec.meta["known_issues"] == [] and rec.meta["licence"] == "CC BY-NC-SA 4.0"


def test_natural_stories_schrimpf_file_warns_and_is_shifted_in_story3():
    processed = read_natural_stories(PROCESSED)
    with pytest.warns(UserWarning, match="story 3"):
        schrimpf = read_natural_stories(SCHRIMPF)
    assert schrimpf.meta["variant"] == "schrimpf2021" and schrimpf.meta["known_issues"]
    a = processed.samples.assign(rt=processed.data[:, 0]).set_index(["story", "position"])
    b = schrimpf.samples.assign(rt=schrimpf.data[:, 0]).set_index(["story", "position"])
    early = [k for k in a.index if k[0] == 1 or k[1] < 229]
    assert_allclose(b.loc[early, "rt"], a.loc[early, "rt"], rtol=1e-6)
    # Word 229 holds the blank token's RT, later words the RT of the word before them.
    assert not np.isclose(b.loc[(3, 229), "rt"], a["rt"].to_numpy(), rtol=1e-6).any()
    for position in range(230, 241):
        assert b.loc[(3, position), "rt"] == pytest.approx(a.loc[(3, position - 1), "rt"])
    assert b.loc[(1, 984), "word"] == "true"  # R wrote TRUE


def test_natural_stories_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("word\tzone\nIf\t1\n")
    with pytest.raises(BehaviourFormatError, match=r"bad.tsv.*missing column"):
        read_natural_stories(bad)
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("word,zone,item,meanItemRT\nIf,1,1,300\nyou,1,1,310\n")
    with pytest.raises(BehaviourFormatError, match="more than once"):
        read_natural_stories(repeated)
    negative = tmp_path / "negative.csv"
    negative.write_text("word,zone,item,meanItemRT\nIf,1,1,-3\n")
    with pytest.raises(BehaviourFormatError, match="positive milliseconds"):
        read_natural_stories(negative)
    with pytest.raises(FileNotFoundError):
        read_natural_stories(tmp_path / "missing.tsv")


# ----------------------------------------------------------------------------- word pairs


@pytest.mark.parametrize(
    "name", ["EN-SIMLEX-999.txt", "EN-WS-353-ALL.txt", "EN-MEN-TR-3k.txt", "EN-SimVerb-3500.txt"]
)
def test_word_pairs_match_a_plain_parse(name):
    path = BEHAVIOUR / name
    rec = read_word_pairs(path)
    reference = pd.read_csv(path, sep="\t", header=None, names=["w1", "w2", "r"], quoting=3)
    assert rec.data.shape == (len(reference), 1) == (25, 1)
    assert_allclose(rec.data[:, 0], reference["r"].to_numpy(), rtol=1e-6)
    assert rec.samples["word1"].tolist() == reference["w1"].str.strip().tolist()
    assert rec.samples["word2"].tolist() == reference["w2"].str.strip().tolist()
    assert rec.stimuli.text[0] == f"{reference['w1'][0]} {reference['w2'][0]}"
    assert rec.meta["header"] is False and rec.meta["name"] == path.stem


def test_word_pairs_first_rows_of_each_dataset():
    assert read_word_pairs(BEHAVIOUR / "EN-SIMLEX-999.txt").samples.iloc[0][
        ["word1", "word2"]
    ].tolist() == ["old", "new"]
    assert read_word_pairs(BEHAVIOUR / "EN-SIMLEX-999.txt").data[0, 0] == pytest.approx(1.58)
    assert read_word_pairs(BEHAVIOUR / "EN-MEN-TR-3k.txt").data[0, 0] == pytest.approx(50.0)


def test_word_pairs_original_formats(tmp_path):
    # Format fixtures: SimVerb's original 5-column layout and WordSim-353's combined.csv.
    simverb = tmp_path / "SimVerb-3500.txt"
    simverb.write_text("take\tremove\tV\t6.81\tANTONYMS\nwalk\ttrail\tV\t4.81\tCOHYPONYMS\n")
    rec = read_word_pairs(simverb)
    assert_allclose(rec.data[:, 0], [6.81, 4.81], rtol=1e-6)
    assert rec.samples["pos"].tolist() == ["V", "V"]
    assert rec.samples["column_4"].tolist() == ["ANTONYMS", "COHYPONYMS"]
    wordsim = tmp_path / "combined.csv"
    wordsim.write_text("Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger,cat,7.35\n")
    rec = read_word_pairs(wordsim, name="ws353")
    assert rec.meta["header"] is True and rec.units["source_column"][0] == "Human (mean)"
    assert_allclose(rec.data[:, 0], [6.77, 7.35], rtol=1e-6)
    assert rec.stimuli.groups() == ["ws353"]


def test_word_pairs_errors(tmp_path):
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("a\tb\t1.0\nc\td\n")
    with pytest.raises(BehaviourFormatError, match=r"ragged.txt: line 2 has 2 fields"):
        read_word_pairs(ragged)
    no_rating = tmp_path / "words.txt"
    no_rating.write_text("a\tb\tc\nd\te\tf\n")
    with pytest.raises(BehaviourFormatError, match="cannot tell the word and rating"):
        read_word_pairs(no_rating)
    no_number = tmp_path / "no_number.txt"
    no_number.write_text("cat\tdog\t5\tx\nbig\tlarge\tn/a\ty\n")
    with pytest.raises(BehaviourFormatError, match="no numeric rating"):
        read_word_pairs(no_number)
    header = tmp_path / "header.csv"
    header.write_text("left,right,value\na,b,1\n")
    with pytest.raises(BehaviourFormatError, match="cannot tell the word and rating"):
        read_word_pairs(header)


# ----------------------------------------------------------------------------- triplets


def _write_things_triplets(path: Path, triplets: np.ndarray) -> None:
    """THINGS/SPoSE layout: three 0-based indices per line, odd one out last."""
    path.write_text("".join(f"{i}\t{j}\t{k}\n" for i, j, k in triplets))


def _random_triplets(n_concepts: int, n_trials: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n_concepts, 3, replace=False) for _ in range(n_trials)])


def test_triplets_things_format_and_choice_probability(tmp_path):
    triplets = _random_triplets(6, 200)
    path = tmp_path / "trainset.txt"
    _write_things_triplets(path, triplets)
    concepts = ["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "airplane"]
    result = read_triplets(path, concepts=concepts)
    assert_array_equal(result.triplets, triplets)
    assert result.concepts["concept"].tolist() == concepts and len(result) == 200
    probability = result.choice_probability()
    for i, j in [(0, 1), (2, 5), (3, 4)]:  # brute force for a few pairs
        both = [t for t in triplets if i in t and j in t]
        kept = [t for t in both if {i, j} == set(t[:2])]
        assert probability[i, j] == pytest.approx(len(kept) / len(both))
        assert probability[j, i] == probability[i, j]
    assert np.isnan(np.diag(probability)).all()


def test_triplets_choice_column_and_one_based(tmp_path):
    path = tmp_path / "choices.tsv"
    path.write_text("subject\ti\tj\tk\tchoice\ns1\t1\t2\t3\t1\ns2\t4\t2\t3\t3\n")
    result = read_triplets(path, index_base=1)
    assert_array_equal(result.triplets, [[1, 2, 0], [3, 1, 2]])
    assert result.trials["subject"].tolist() == ["s1", "s2"]


def test_triplets_errors(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("0\t1\t1\n")
    with pytest.raises(BehaviourFormatError, match="repeats an item"):
        read_triplets(path)
    path.write_text("0\t1\t7\n")
    with pytest.raises(BehaviourFormatError, match="must lie in"):
        read_triplets(path, concepts=["a", "b", "c"])
    path.write_text("i\tj\tk\tchoice\n0\t1\t2\t5\n")
    with pytest.raises(BehaviourFormatError, match="not one of its items"):
        read_triplets(path)
    path.write_text("0\t1\tx\n")
    with pytest.raises(BehaviourFormatError, match="integers"):
        read_triplets(path)
    path.write_text("i\tj\tk\n")
    with pytest.raises(BehaviourFormatError, match="no trials"):
        read_triplets(path)
    with pytest.raises(ValueError, match="index_base"):
        read_triplets(path, index_base=2)


# ----------------------------------------------------------------------------- norms

GLASGOW = BEHAVIOUR / "GlasgowNorms_subset.csv"


def _glasgow_reference() -> pd.DataFrame:
    return pd.read_csv(GLASGOW, lineterminator="\r", encoding="utf-8-sig")


def test_glasgow_one_row_header_matches_pandas():
    rec = read_glasgow_norms(GLASGOW)
    reference = _glasgow_reference()
    assert rec.data.shape == (70, 27)
    codes = rec.units["code"].tolist()
    assert_allclose(rec.data, reference[codes].to_numpy(), rtol=1e-6)
    means = rec.select(statistic="mean")
    assert means.units["dimension"].tolist()[:2] == ["arousal", "valence"]
    row = rec.samples.set_index("stimulus_id").loc["address (postal)"]
    assert (row["text"], row["sense"]) == ("address", "postal")
    assert rec.samples["stimulus_id"].iloc[0] == "abattoir"


def test_glasgow_two_row_header_published_layout(tmp_path):
    # The published ESM file: dimension names over "M, SD, N" (written from the subset).
    reference = _glasgow_reference()
    long = [
        "Arousal",
        "Valence",
        "Dominance",
        "Concreteness",
        "Imageability",
        "Familiarity",
        "Age of Acquisition",
        "Semantic Size",
        "Gender Association",
    ]
    top = ["Words", "Length"] + [x for name in long for x in (name, "", "")]
    bottom = ["", ""] + ["M", "SD", "N"] * 9
    lines = [",".join(top), ",".join(bottom)]
    lines += [",".join(map(str, r)) for r in reference.itertuples(index=False)]
    path = tmp_path / "GlasgowNorms_published.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    two_rows = read_glasgow_norms(path)
    assert two_rows.meta["header_rows"] == 2
    assert_array_equal(two_rows.data, read_glasgow_norms(GLASGOW).data)
    assert two_rows.stimuli.stimulus_ids.tolist() == reference["word"].tolist()


def test_glasgow_errors(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("word,length,AROU_M\nabbey,5,3.2\n")
    with pytest.raises(BehaviourFormatError, match="missing column"):
        read_glasgow_norms(path)
    text = GLASGOW.read_bytes().replace(b"4.3333", b"n/a", 1)
    path.write_bytes(text)
    with pytest.raises(BehaviourFormatError, match="not numeric"):
        read_glasgow_norms(path)


def test_things_concepts_tables():
    path = BEHAVIOUR / "things_concepts_subset.tsv"
    rec = read_things_concepts(path)
    reference = pd.read_csv(path, sep="\t")
    assert rec.stimuli.stimulus_ids.tolist() == reference["uniqueID"].tolist()
    assert rec.stimuli.text == reference["Word"].tolist()
    assert "Concreteness (M)" in rec.units["unit"].tolist()
    assert_allclose(
        rec.select(unit="Concreteness (M)").data[:, 0], reference["Concreteness (M)"], rtol=1e-6
    )
    with pytest.raises(BehaviourFormatError, match="BNC freq.*dropna=True"):
        read_things_concepts(path, measures=["BNC freq"])
    kept = read_things_concepts(path, measures=["BNC freq"], dropna=True)
    assert kept.n_samples == reference["BNC freq"].notna().sum() and kept.meta["dropped"]
    animacy = read_things_concepts(BEHAVIOUR / "things_animacy_subset.csv")
    raw = pd.read_csv(BEHAVIOUR / "things_animacy_subset.csv")
    assert_allclose(animacy.select(unit="lives_mean").data[:, 0], raw["lives_mean"], rtol=1e-6)
    assert animacy.meta["licence"] == "CC0-1.0"


def test_word_norms_errors(tmp_path):
    path = tmp_path / "norms.csv"
    path.write_text("word,score\na,1\na,2\n")
    with pytest.raises(BehaviourFormatError, match="repeat"):
        read_word_norms(path, id_column="word")
    with pytest.raises(BehaviourFormatError, match="no column 'item'"):
        read_word_norms(path, id_column="item")


# ----------------------------------------------------------------------------- RDMs


def _loadmat(path: Path, key: str) -> np.ndarray:
    return scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)[key]


def test_rdms_kriegeskorte_brain_struct_array():
    path = KRIEGESKORTE / "92_brainRDMs.mat"
    rdms = read_rdms(path)
    structs = _loadmat(path, "RDMs")  # (4 subjects, 2 sessions)
    assert rdms.dissimilarities.shape == (8, 4186) and rdms.n_conditions == 92
    assert rdms.descriptors["subject"].tolist() == [
        s for s in ["BE", "KO", "SN", "TI"] for _ in range(2)
    ]
    assert rdms.descriptors["session"].tolist() == [1, 2] * 4
    assert set(rdms.descriptors["label"]) == {"hIT"}
    one = rdms.select(subject="KO", session=2)
    assert_array_equal(one.dissimilarities[0], squareform(structs[1, 1].RDM.astype(float)))
    assert_allclose(one.matrices()[0], structs[1, 1].RDM, rtol=1e-12)


def test_rdms_match_rsatoolbox_vectors():
    rsatoolbox = pytest.importorskip("rsatoolbox")
    path = KRIEGESKORTE / "92_modelRDMs.mat"
    rdms = read_rdms(path)
    squares = np.stack([m.RDM.astype(float) for m in _loadmat(path, "Models")])
    reference = rsatoolbox.rdm.RDMs(squares).dissimilarities
    assert_allclose(rdms.dissimilarities, reference, rtol=1e-12)
    assert rdms.descriptors["name"].tolist()[:3] == ["animacy", "FaceBodyManmadeNatobj", "monkeyIT"]


def test_rdms_behavioural_subjects():
    rdms = read_rdms(BEHAVIOUR / "92_behavRDMs_subjects1-3.mat")
    assert rdms.descriptors["subject"].tolist() == ["subject1", "subject2", "subject3"]
    assert set(rdms.descriptors["label"]) == {"simJudge"}
    assert np.all(rdms.dissimilarities >= 0)


def test_rdm_118_animacy_file_is_refused():
    path = BEHAVIOUR / "118_animate_RDM.npy"
    with pytest.raises(BehaviourFormatError, match=r"118_animate_RDM.npy.*zero diagonal"):
        read_rdms(path)
    with pytest.raises(BehaviourFormatError, match="unit diagonal"):
        read_rdms(path, similarity=True)


def test_rdms_array_formats_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    condensed = rng.random((3, 10))  # 5 conditions
    squares = np.stack([squareform(v) for v in condensed])
    np.save(tmp_path / "stack.npy", squares)
    np.save(tmp_path / "vectors.npy", condensed)
    np.savez(tmp_path / "two.npz", a=squares[0], b=condensed[1], labels=np.array(["x"] * 5))
    pd.DataFrame(squares[2], index=list("ABCDE"), columns=list("ABCDE")).to_csv(
        tmp_path / "labelled.csv"
    )
    np.savetxt(tmp_path / "plain.tsv", squares[2], delimiter="\t")
    assert_allclose(read_rdms(tmp_path / "stack.npy").dissimilarities, condensed, rtol=1e-12)
    assert_allclose(read_rdms(tmp_path / "vectors.npy").dissimilarities, condensed, rtol=1e-12)
    two = read_rdms(tmp_path / "two.npz")
    assert two.descriptors["name"].tolist() == ["a", "b"]
    assert_allclose(two.dissimilarities, condensed[:2], rtol=1e-12)
    labelled = read_rdms(tmp_path / "labelled.csv")
    assert labelled.conditions["label"].tolist() == list("ABCDE")
    assert_allclose(labelled.dissimilarities[0], condensed[2], rtol=1e-12)
    assert_allclose(read_rdms(tmp_path / "plain.tsv").dissimilarities[0], condensed[2])
    similarity = (
        read_rdms(tmp_path / "sim.npy", similarity=True)
        if np.save(tmp_path / "sim.npy", 1 - squares[0]) is None
        else None
    )
    assert_allclose(similarity.dissimilarities[0], condensed[0], rtol=1e-12)


def test_rdms_errors(tmp_path):
    rng = np.random.default_rng(2)
    asymmetric = rng.random((4, 4))
    np.fill_diagonal(asymmetric, 0)
    np.save(tmp_path / "asym.npy", asymmetric)
    with pytest.raises(BehaviourFormatError, match=r"asym.npy.*not symmetric"):
        read_rdms(tmp_path / "asym.npy")
    np.save(tmp_path / "odd.npy", np.ones(7))
    with pytest.raises(BehaviourFormatError, match="n\\(n-1\\)/2"):
        read_rdms(tmp_path / "odd.npy")
    np.savez(tmp_path / "sizes.npz", a=np.ones(3), b=np.ones(6))
    with pytest.raises(BehaviourFormatError, match="different numbers of conditions"):
        read_rdms(tmp_path / "sizes.npz")
    np.save(tmp_path / "ok.npy", np.ones(3))
    with pytest.raises(BehaviourFormatError, match="2 condition labels for 3"):
        read_rdms(tmp_path / "ok.npy", conditions=["a", "b"])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(BehaviourFormatError, match="unsupported RDM file type"):
        read_rdms(tmp_path / "x.json")
    scipy.io.savemat(tmp_path / "plain.mat", {"M": np.eye(3)})
    with pytest.raises(BehaviourFormatError, match="no RDM found"):
        read_rdms(tmp_path / "plain.mat")
    with pytest.raises(BehaviourFormatError, match="zero diagonal"):
        read_rdms(tmp_path / "plain.mat", variable="M")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_rdms(tmp_path / "ok.npy")) == 1
