"""THINGS odd-one-out benchmarks end to end, with a tiny random BERT and a tiny random ViT.

The concept table is the first 6 rows of the published things_concepts.tsv, placed in an
isolated cache (or served by a loopback HTTP server); the triplets are a file in the
published THINGS / SPoSE format (tests/data/things_triplets, see its SOURCE.txt). The
reference numbers are recomputed the plain way: encode with the encoders directly, then
count, triplet by triplet, whether the pair outside the odd one is the most similar.
"""

import shutil

import numpy as np
import pandas as pd
import pytest

from brainalign.alignment.triplets import CHANCE, odd_one_out_ceiling
from brainalign.benchmarks.controls import random_vectors
from brainalign.benchmarks.image_rsa import encode_image_set
from brainalign.benchmarks.registry import MissingBenchmarkDataError, get
from brainalign.benchmarks.settings import RunSettings, SettingsError
from brainalign.benchmarks.triplets import RANDOM_CONTROL, concept_images, prepare_words
from brainalign.datasets.behaviour import BehaviourFormatError
from brainalign.datasets.catalogue import load
from brainalign.datasets.registry import CatalogueError
from brainalign.encoders import text
from brainalign.results import RESULT_COLUMNS, validate_results
from tests.datasets.catalogue_helpers import (
    TESTS_DATA,
    LoopbackServer,
    place_in_cache,
    serve_entry_file,
)

FOLDER = TESTS_DATA / "things_triplets"
CONCEPTS = FOLDER / "things_concepts_first6.tsv"
TRIPLETS = FOLDER / "triplets.txt"
IDS = ["aardvark", "abacus", "accordion", "acorn", "air_conditioner", "air_mattress"]
WORDS = ["aardvark", "abacus", "accordion", "acorn", "air conditioner", "air mattress"]
EXTRA = ["chance", "n_triplets", "n_concepts", "ceiling_lower", "ceiling_sets"]


@pytest.fixture
def cached_concepts(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    return place_in_cache(monkeypatch, "things-concepts", "concepts", CONCEPTS, subset=True)


@pytest.fixture
def image_folder(tmp_path):
    """The six real test images under the concepts' uniqueIDs; one in a subfolder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for n, concept in enumerate(IDS[:-1], start=1):
        shutil.copyfile(TESTS_DATA / "images" / f"image_0{n}.jpg", folder / f"{concept}.jpg")
    (folder / IDS[-1]).mkdir()
    shutil.copyfile(TESTS_DATA / "images" / "image_06.jpg", folder / IDS[-1] / "b_01.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def _triplets():
    return np.loadtxt(TRIPLETS, dtype=np.int64)


def _brute_force_accuracy(features):
    """Cosine of each pair, the odd one outside the best pair; ties split evenly."""
    X = np.asarray(features, dtype=np.float64)
    scores = []
    for i, j, k in _triplets():
        cos = {}
        for odd, (a, b) in {k: (i, j), j: (i, k), i: (j, k)}.items():
            cos[odd] = X[a] @ X[b] / (np.linalg.norm(X[a]) * np.linalg.norm(X[b]))
        best = [odd for odd, value in cos.items() if value == max(cos.values())]
        scores.append(1 / len(best) if k in best else 0.0)
    return float(np.mean(scores))


def test_words_score_equal_a_plain_reimplementation(tiny_bert_dir, cached_concepts):
    model = str(tiny_bert_dir)
    benchmark = get("things-triplets-words")
    options = {"triplets": str(TRIPLETS)}
    results = benchmark.run(model, layers=[0, 2], options=options, batch_size=4)
    validate_results(results)
    assert list(results.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert set(EXTRA) <= set(results.columns)
    assert (results["benchmark"] == "things-triplets-words@1").all()
    assert (results["metric"] == "odd_one_out_accuracy").all()
    assert (results["chance"] == CHANCE).all() and (results["n_triplets"] == 19).all()
    assert (results["n_concepts"] == 6).all() and (results["subject"] == "all").all()

    encoder = text.TextEncoder(model, pooling="mean", progress=False)
    features = encoder.extract(WORDS, context="isolated", level="sentence", heads=True)
    model_rows = results[(results["weights"] == "pretrained") & (results["control"] == "")]
    whole = model_rows[model_rows["head"].isna()].set_index("layer")["score"]
    assert list(whole.index) == [0, 2]
    for layer in (0, 2):
        assert whole[layer] == pytest.approx(_brute_force_accuracy(features[str(layer)]))
    assert model_rows["head"].isna().all()
    # Heads: the task's own scores (Benchmark.run adds only labels and joins to them).
    settings = RunSettings(model, layers=[2], heads=True, options=options)
    scored = prepare_words(benchmark, settings).score_model("pretrained").rows
    heads = scored.dropna(subset=["head"]).set_index(["layer", "head"])["score"]
    assert list(heads.index) == [(2, 0), (2, 1)]
    for head in (0, 1):
        expected = _brute_force_accuracy(features["2.heads"][:, head])
        assert heads[(2, head)] == pytest.approx(expected)
    assert scored.loc[scored["head"].isna(), "score"].item() == pytest.approx(whole[2])

    control = results[results["control"] == RANDOM_CONTROL]
    assert len(control) == 1 and (control["control_of"] == model).all()
    vectors = random_vectors(IDS, 32, seed=0)
    assert control["score"].item() == pytest.approx(_brute_force_accuracy(vectors))

    ceiling = odd_one_out_ceiling(_triplets())
    assert (results["ceiling"] == ceiling.agreement).all()
    assert (results["ceiling_lower"] == ceiling.leave_one_out).all()
    assert (results["ceiling_sets"] == 4).all() and (results["ceiling_flag"] == "ok").all()
    np.testing.assert_allclose(results["normalized_score"], results["score"] / ceiling.agreement)
    untrained = results[results["weights"] == "untrained"]
    assert len(untrained) == len(model_rows)


def test_images_score_equal_a_plain_reimplementation(tiny_vit_dir, cached_concepts, image_folder):
    model = str(tiny_vit_dir)
    options = {"triplets": str(TRIPLETS), "images": str(image_folder), "similarity": "dot"}
    results = get("things-triplets-images").run(
        model, heads=True, options=options, untrained_twin=False
    )
    validate_results(results)
    assert set(results["weights"].dropna()) <= {"pretrained", ""}
    paths = concept_images(image_folder, IDS)
    assert paths[-1] == image_folder / IDS[-1] / "b_01.jpg"
    features = encode_image_set(model, paths, IDS, heads=True)
    model_rows = results[results["control"] == ""]
    whole = model_rows[model_rows["head"].isna()].set_index("layer")["score"]
    assert list(whole.index) == [0, 1, 2]
    triplets = _triplets()
    for layer in (0, 1, 2):
        X = np.asarray(features[str(layer)], dtype=np.float64)
        dots = np.stack(
            [np.einsum("nd,nd->n", X[triplets[:, a]], X[triplets[:, b]]) for a, b in
             ((0, 1), (0, 2), (1, 2))], axis=1
        )  # fmt: skip
        assert whole[layer] == pytest.approx(np.mean(dots.argmax(axis=1) == 0))
    heads = model_rows.dropna(subset=["head"])
    assert sorted(heads["layer"].unique()) == [1, 2] and sorted(heads["head"].unique()) == [0, 1]


def test_the_concept_table_downloads_through_the_catalogue(isolated_cache, monkeypatch):
    server = LoopbackServer()
    try:
        serve_entry_file(monkeypatch, server, "things-concepts", "concepts", CONCEPTS.read_bytes())
        data = load("things-triplets", path=TRIPLETS)
    finally:
        server.close()
    assert [path for path, _ in server.requests] == [
        "/ViCCo-Group/thingsvision/57e91c9754dfea8579ffc58c0ae42d9dc60080af/data/files/"
        "things_concepts.tsv"
    ]
    np.testing.assert_array_equal(data.triplets, _triplets())
    assert data.concepts["concept"].tolist() == IDS and data.concepts["word"].tolist() == WORDS
    assert data.meta["name"] == "things-triplets" and data.meta["file"] == str(TRIPLETS)


def test_bad_triplet_files_are_clear_errors(cached_concepts, tmp_path):
    with pytest.raises(CatalogueError, match="things-triplets cannot be downloaded"):
        load("things-triplets")
    with pytest.raises(CatalogueError, match="is a folder; pass one triplet file"):
        load("things-triplets", path=tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("0 1 2\n0 1 6\n")
    with pytest.raises(BehaviourFormatError, match=r"outside.txt: concept indices must lie in"):
        load("things-triplets", path=outside)
    repeated = tmp_path / "repeated.txt"
    repeated.write_text("0 1 2\n3 3 1\n")
    with pytest.raises(BehaviourFormatError, match=r"repeated.txt: line 2 repeats an item"):
        load("things-triplets", path=repeated)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(BehaviourFormatError, match="empty.txt: file is empty"):
        load("things-triplets", path=empty)


def test_offline_without_the_concept_table_says_what_to_fetch(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    words = get("things-triplets-words")
    with pytest.raises(MissingBenchmarkDataError, match="datasets fetch things-concepts"):
        words.run("any-model", options={"triplets": str(TRIPLETS)})


def test_bad_options_are_clear_errors(tiny_vit_dir, cached_concepts, tmp_path):
    images = get("things-triplets-images")
    with pytest.raises(SettingsError, match="needs the option triplets"):
        images.run(str(tiny_vit_dir))
    with pytest.raises(SettingsError, match="needs the option images"):
        images.run(str(tiny_vit_dir), options={"triplets": str(TRIPLETS)})
    with pytest.raises(SettingsError, match="similarity='euclidean'"):
        images.run(
            str(tiny_vit_dir), options={"triplets": str(TRIPLETS), "similarity": "euclidean"}
        )
    with pytest.raises(ValueError, match=r"no image for 6 of the 6 concepts .*'aardvark'"):
        images.run(str(tiny_vit_dir), options={"triplets": str(TRIPLETS), "images": str(tmp_path)})
    with pytest.raises(ValueError, match="is not a folder of concept images"):
        concept_images(tmp_path / "nope", IDS)


def test_without_repeats_the_ceiling_is_nan(tiny_vit_dir, cached_concepts, image_folder, tmp_path):
    single = tmp_path / "single.txt"
    single.write_text("0 1 2\n3 4 5\n0 4 2\n")
    options = {"triplets": str(single), "images": str(image_folder)}
    results = get("things-triplets-images").run(
        str(tiny_vit_dir), layers=[2], options=options, untrained_twin=False
    )
    assert results["ceiling"].isna().all() and (results["ceiling_sets"] == 0).all()
    assert (results["n_triplets"] == 3).all()
    # The ceiling may come from another file's repeats.
    options["ceiling_triplets"] = str(TRIPLETS)
    again = get("things-triplets-images").run(
        str(tiny_vit_dir), layers=[2], options=options, untrained_twin=False
    )
    assert (again["ceiling"] == odd_one_out_ceiling(_triplets()).agreement).all()
    pd.testing.assert_series_equal(again["score"], results["score"])
