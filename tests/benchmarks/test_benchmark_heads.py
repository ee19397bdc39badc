"""Per-head benchmark scores (``Benchmark.run(..., heads=True)``), checked number by number.

Word pairs (SimLex-999, first 25 pairs) with a tiny random-weight GPT-2, the THINGS probe
(40 concepts), and the Kriegeskorte human-IT RSA (first 12 images) with a tiny ViT. The
reference scores are recomputed the plain way from the encoders' own per-head capture
(``heads=True``: each head's output before the attention output projection): cosine per
pair with numpy and ``scipy.stats.spearmanr`` per head; numpy's correlation-distance RDM
per head and ``spearmanr`` against each data RDM; the THINGS probe per head through
:func:`~brainalign.benchmarks.norms.probe_scores` (itself checked against scikit-learn in
test_norms.py).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from brainalign.benchmarks.image_rsa import RANDOM_CONTROL as IMAGE_CONTROL
from brainalign.benchmarks.norms import norm_table, probe_scores
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.word_similarity import RANDOM_CONTROL, paired_cosine
from brainalign.cli import build_parser, main
from brainalign.datasets.catalogue import load
from brainalign.encoders import text, vision
from brainalign.encoders.cards import CARD_COLUMNS
from brainalign.encoders.head_cards import HEAD_PROPERTY_MEASURES, head_properties
from brainalign.encoders.store import FeatureStore
from brainalign.results import RESULT_COLUMNS, validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

BEHAVIOUR = TESTS_DATA / "behaviour"
IMAGES = TESTS_DATA / "kriegeskorte2008_92" / "kriegeskorte2008_stimuli_first12.mat"
N_IMAGES = 12


@pytest.fixture(autouse=True)
def _offline_cache(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_in_cache(monkeypatch, "simlex999", "pairs", BEHAVIOUR / "EN-SIMLEX-999.txt", subset=True)
    for key, file in (
        ("concepts", "things_concepts_subset.tsv"),
        ("animacy", "things_animacy_subset.csv"),
    ):
        place_in_cache(monkeypatch, "things-concepts", key, BEHAVIOUR / file, subset=True)
    place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", IMAGES, subset=True)


@pytest.fixture(scope="module")
def tiny_convnext_dir(tmp_path_factory):
    """ConvNeXt (2 stages of 8 and 16 channels): no attention heads."""
    import torch
    import transformers as tf

    directory = tmp_path_factory.mktemp("tiny-convnext-heads")
    torch.manual_seed(7)
    tf.ConvNextModel(
        tf.ConvNextConfig(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1])
    ).save_pretrained(directory)
    tf.ConvNextImageProcessorPil(size={"shortest_edge": 32}).save_pretrained(directory)
    return directory


@pytest.fixture
def text_forwards(monkeypatch):
    calls = []
    original = text.TextEncoder._forward

    def counting(self, batch, **kwargs):
        calls.append(len(batch))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(text.TextEncoder, "_forward", counting)
    return calls


@pytest.fixture
def vision_forwards(monkeypatch):
    calls = []
    original = vision.VisionEncoder._forward

    def counting(self, pixel_values):
        calls.append(len(pixel_values))
        return original(self, pixel_values)

    monkeypatch.setattr(vision.VisionEncoder, "_forward", counting)
    return calls


def _simlex_pairs():
    rows = [line.split() for line in (BEHAVIOUR / "EN-SIMLEX-999.txt").read_text().splitlines()]
    rows = [r for r in rows if r]
    return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])


def _head_rows(results, weights):
    rows = results[(results["weights"] == weights) & results["head"].notna()]
    return rows.set_index(["layer", "head"])


def _reference_word_heads(model, weights):
    """{(layer, head): spearman} from the encoder's own head capture, one head at a time."""
    first, second, ratings = _simlex_pairs()
    words = sorted(set(first) | set(second))
    encoder = text.TextEncoder(model, weights=weights, pooling="mean", progress=False)
    features = encoder.extract(words, context="isolated", level="sentence", heads=True)
    row = {word: k for k, word in enumerate(words)}
    expected = {}
    for layer in (1, 2):
        per_head = np.asarray(features[f"{layer}.heads"], dtype=np.float64)
        assert per_head.shape == (len(words), 2, 16)  # (items, heads, head_dim)
        for head in range(per_head.shape[1]):
            cosines = []
            for a, b in zip(first, second, strict=True):
                u, v = per_head[row[a], head], per_head[row[b], head]
                cosines.append(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
            expected[(layer, head)] = spearmanr(cosines, ratings).statistic
    return expected


def test_simlex_head_scores_equal_scipy_per_head_and_reuse_the_store(
    tiny_gpt2_dir, tmp_path, text_forwards
):
    model = str(tiny_gpt2_dir)
    benchmark = get("simlex999")
    store = FeatureStore(tmp_path / "store")
    layers_only = benchmark.run(model, store=store)  # an entry without heads
    text_forwards.clear()
    results = benchmark.run(model, store=store, heads=True)
    assert text_forwards, "the heads entry must not be the layers-only entry"

    validate_results(results)
    assert list(results.columns[len(RESULT_COLUMNS) :]) == [
        "n_pairs", *CARD_COLUMNS, *HEAD_PROPERTY_MEASURES
    ]  # fmt: skip
    assert results["head"].dtype == "Int64"
    # Whole-layer and control rows are those of the layers-only run, with head missing.
    whole = results[results["head"].isna()].reset_index(drop=True)
    assert whole[list(HEAD_PROPERTY_MEASURES)].isna().all(axis=None)
    pd.testing.assert_frame_equal(whole.drop(columns=list(HEAD_PROPERTY_MEASURES)), layers_only)
    control = results[results["control"] == RANDOM_CONTROL]
    assert len(control) == 1 and control["head"].isna().all()

    for weights in ("pretrained", "untrained"):
        heads = _head_rows(results, weights)
        assert list(heads.index) == [(1, 0), (1, 1), (2, 0), (2, 1)]  # every (layer, head)
        assert (heads["metric"] == "spearman_r").all() and heads["ceiling"].isna().all()
        expected = _reference_word_heads(model, weights)
        scores = heads["score"]
        np.testing.assert_allclose(
            [scores[key] for key in expected], list(expected.values()), rtol=1e-6
        )
        assert len(set(np.round(scores, 6))) == 4  # the heads differ: a swap would show
        # each head row carries its own head's properties (its weights' model, same seed)
        cards = head_properties(model, weights=weights, sequence_length=32)
        cards = cards.set_index(["layer", "head"])  # 32: the longest R its 64 positions fit
        for measure in HEAD_PROPERTY_MEASURES:
            np.testing.assert_allclose(
                heads[measure].to_numpy(float), cards.loc[heads.index, measure], rtol=1e-6
            )

    # A second run reads the store: no forward pass, the same table.
    text_forwards.clear()
    again = benchmark.run(model, store=store, heads=True)
    assert text_forwards == []
    pd.testing.assert_frame_equal(results, again)


def test_things_probe_per_head(tiny_gpt2_dir):
    model = str(tiny_gpt2_dir)
    results = get("things-concepts").run(
        model,
        layers=[0, 2],
        heads=True,
        untrained_twin=False,
        options={"n_splits": 3, "inner_splits": 3},
    )
    results = results[results["control"] == ""]
    table = norm_table("things-concepts")
    n_dims = len(table.dimensions)
    layer_rows = results[results["head"].isna()]
    assert layer_rows["layer"].tolist() == [0] * n_dims + [2] * n_dims
    heads = results[results["head"].notna()]
    assert heads["layer"].tolist() == [2] * (2 * n_dims)  # layer 0 (embeddings) has no heads
    assert heads["head"].tolist() == [0] * n_dims + [1] * n_dims
    assert heads["unit"].tolist() == table.dimensions * 2
    np.testing.assert_allclose(heads["ceiling"], layer_rows["ceiling"].iloc[:n_dims].tolist() * 2)

    encoder = text.TextEncoder(model, pooling="mean", progress=False)
    words = list(dict.fromkeys(table.words))
    features = encoder.extract(words, context="isolated", level="sentence", layers=[2], heads=True)
    per_head = np.asarray(features["2.heads"], dtype=np.float64)
    index = [words.index(word) for word in table.words]
    for head in range(2):
        expected = probe_scores(
            per_head[index, head], table.means, n_splits=3, inner_splits=3, seed=0
        )
        got = heads.loc[heads["head"] == head, "score"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-8)


def _correlation_rdm(patterns):
    return squareform(1.0 - np.corrcoef(np.asarray(patterns, dtype=np.float64)), checks=False)


def test_human_it_head_scores_equal_plain_rdms_per_head(tiny_vit_dir, tmp_path, vision_forwards):
    model = str(tiny_vit_dir)
    store = FeatureStore(tmp_path / "store")
    subset = list(range(N_IMAGES))
    options = {"conditions": subset}
    results = get("kriegeskorte2008-hit-rsa").run(
        model, store=store, heads=True, options=options, untrained_twin=False
    )
    assert list(results.columns[len(RESULT_COLUMNS) :]) == [
        "session",
        "n_images",
        "ceiling_lower",
        *CARD_COLUMNS,
    ]
    results = results[results["control"] == ""]
    assert results["layer"][results["head"].isna()].tolist() == [0] * 8 + [1] * 8 + [2] * 8
    heads = results[results["head"].notna()]
    keys = list(dict.fromkeys(zip(heads["layer"], heads["head"], strict=True)))
    assert keys == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert heads.groupby(["layer", "head"]).size().eq(8).all()  # 4 subjects x 2 sessions
    assert (heads["ceiling"] == results["ceiling"].iloc[0]).all()

    data = load("kriegeskorte2008-92", images=True)
    data_rdms = [
        squareform(squareform(r)[:N_IMAGES, :N_IMAGES], checks=False)
        for r in data.human_it.dissimilarities
    ]
    encoder = vision.VisionEncoder(model, pooling="mean", progress=False)
    features = encoder.encode_images(list(data.images[:N_IMAGES]), layers=[1, 2], heads=True)
    for layer, head in keys:
        per_head = np.asarray(features[f"{layer}.heads"], dtype=np.float64)
        assert per_head.shape == (N_IMAGES, 2, 8)
        model_rdm = _correlation_rdm(per_head[:, head])
        expected = [spearmanr(model_rdm, d).statistic for d in data_rdms]
        got = heads.loc[(heads["layer"] == layer) & (heads["head"] == head), "score"]
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-8, atol=1e-12)

    vision_forwards.clear()
    again = get("kriegeskorte2008-hit-rsa").run(
        model, store=store, heads=True, options=options, untrained_twin=False
    )
    assert vision_forwards == []
    pd.testing.assert_frame_equal(results, again[again["control"] == ""])


def test_monkey_it_heads_and_a_convnet_refuses(tiny_vit_dir, tiny_convnext_dir):
    options = {"conditions": list(range(N_IMAGES))}
    monkey = get("kriegeskorte2008-mit-rsa").run(
        str(tiny_vit_dir), layers=[2], heads=True, options=options
    )
    assert (monkey["weights"] + monkey["control"]).tolist() == (
        ["pretrained"] * 3 + ["untrained"] * 3 + [IMAGE_CONTROL]
    )
    assert monkey["head"].fillna(-1).tolist() == [-1, 0, 1, -1, 0, 1, -1]
    assert monkey["layer"].fillna(-1).tolist() == [2, 2, 2, 2, 2, 2, -1]
    assert (monkey["unit"] == "mIT").all() and monkey["ceiling"].isna().all()
    with pytest.raises(ValueError, match="ConvNet"):
        get("kriegeskorte2008-hit-rsa").run(str(tiny_convnext_dir), heads=True, options=options)


def test_benchmarks_without_heads_refuse_them(tiny_gpt2_dir, capsys):
    assert not get("alice2016-encoding").scores_heads
    assert not get("futrell2018-surprisal").scores_heads
    with pytest.raises(ValueError, match="alice2016-encoding@2 does not use --heads"):
        get("alice2016-encoding").run(str(tiny_gpt2_dir), heads=True)
    with pytest.raises(ValueError, match="heads='yes': use True or False"):
        get("simlex999").run(str(tiny_gpt2_dir), heads="yes")

    args = build_parser().parse_args(["score", "m", "--benchmark", "simlex999", "--heads"])
    assert args.heads is True
    assert build_parser().parse_args(["score", "m"]).heads is False
    assert main(["score", "m", "--benchmark", "alice2016-encoding", "--heads"]) == 2
    assert "alice2016-encoding@2 does not use --heads" in capsys.readouterr().err


def test_paired_cosine_over_heads_equals_one_head_at_a_time():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((2, 30, 3, 5))
    A[4, 1] = 0.0  # a zero vector: undefined cosine for that (pair, head) only
    cosines = paired_cosine(A, B)
    assert cosines.shape == (30, 3)
    for head in range(3):
        np.testing.assert_allclose(cosines[:, head], paired_cosine(A[:, head], B[:, head]))
    with np.errstate(invalid="ignore"):
        expected = np.einsum("phd,phd->ph", A, B) / (
            np.linalg.norm(A, axis=-1) * np.linalg.norm(B, axis=-1)
        )
    np.testing.assert_allclose(np.delete(cosines.ravel(), 4 * 3 + 1), np.delete(expected, 13))
    assert np.isnan(cosines[4, 1]) and np.isfinite(np.delete(cosines.ravel(), 13)).all()
    with pytest.raises(ValueError, match="same shape"):
        paired_cosine(A, B[:, :2])
