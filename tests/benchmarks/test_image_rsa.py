"""Kriegeskorte 2008 image-RSA benchmarks end to end on 12 real images, with a tiny ViT.

The images file is tests/data/kriegeskorte2008_92/kriegeskorte2008_stimuli_first12.mat
(the first 12 of the published 92, same struct layout; see its SOURCE.txt), placed in an
isolated cache under the catalogue's checksum-swapped entry and read offline. The
benchmarks run with ``conditions=range(12)``. Reference numbers are recomputed the plain
way: VisionEncoder features, numpy's correlation-distance RDM, scipy.stats.spearmanr per
data RDM, and rsatoolbox's noise ceiling.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from brainalign.benchmarks import image_rsa
from brainalign.benchmarks.image_rsa import (
    RANDOM_CONTROL,
    random_image_features,
    select_conditions,
)
from brainalign.benchmarks.registry import MissingBenchmarkDataError, get
from brainalign.datasets.catalogue import info, load
from brainalign.encoders import vision
from brainalign.encoders.cards import CARD_COLUMNS
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.vision import VisionEncoder
from brainalign.results import RESULT_COLUMNS, validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

FIXTURE = TESTS_DATA / "kriegeskorte2008_92" / "kriegeskorte2008_stimuli_first12.mat"
N = 12
SUBSET = list(range(N))
SUBSET_OPTION = {"conditions": SUBSET}


@pytest.fixture
def cached_images(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    return place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", FIXTURE, subset=True)


@pytest.fixture
def forward_calls(monkeypatch):
    calls = []
    original = vision.VisionEncoder._forward

    def counting(self, pixel_values):
        calls.append(len(pixel_values))
        return original(self, pixel_values)

    monkeypatch.setattr(vision.VisionEncoder, "_forward", counting)
    return calls


def _correlation_rdm(features):
    """Plain numpy: 1 - Pearson r between rows, condensed (scipy squareform order)."""
    return squareform(1.0 - np.corrcoef(np.asarray(features, dtype=np.float64)), checks=False)


def _data_rdms(rdms):
    """Condensed 92-image RDMs reduced to the first N images, scipy's way."""
    return np.stack([squareform(squareform(r)[:N, :N], checks=False) for r in rdms])


def _reference_scores(model, data_rdms, layers, weights="pretrained"):
    """Spearman (scipy) of each layer's RDM with each data RDM, shape (n_layers, n_data)."""
    images = load("kriegeskorte2008-92", images=True).images[:N]
    encoder = VisionEncoder(model, weights=weights, pooling="mean", progress=False)
    features = encoder.encode_images(list(images), layers=layers)
    return np.array(
        [
            [spearmanr(_correlation_rdm(features[str(layer)]), d).statistic for d in data_rdms]
            for layer in layers
        ]
    )


def _rsatoolbox_ceiling(data_rdms):
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    return boot_noise_ceiling(RDMs(data_rdms), method="spearman", rdm_descriptor="index")


def test_images_load_in_the_rdm_order_and_the_default_load_needs_no_download(cached_images):
    plain = load("kriegeskorte2008-92")  # offline, nothing cached for it: bundled only
    assert plain.images is None and plain.image_categories is None
    data = load("kriegeskorte2008-92", images=True)
    assert data.images.shape == (N, 175, 175, 3) and data.images.dtype == np.uint8
    categories = data.image_categories
    assert categories["category"].tolist() == ["human bodypart"] * N
    for flag, column in (("human", "human"), ("face", "face"), ("animal", "animate")):
        assert categories[flag].tolist() == data.conditions[column].iloc[:N].tolist()
    assert data.meta["images_file"] == str(cached_images)
    remote = info("kriegeskorte2008-92").files["images"]
    assert remote.url == (
        "https://raw.githubusercontent.com/rsagroup/rsatoolbox/"
        "f1f83cadb7243492a1aae7460466e0f0140b20ac/demos/92imageData/"
        "Kriegeskorte_Neuron2008_supplementalData.mat"
    )
    with pytest.raises(ValueError, match="images=1; use True or False"):
        load("kriegeskorte2008-92", images=1)


def test_hit_scores_equal_a_plain_reimplementation(
    tiny_vit_dir, cached_images, tmp_path, forward_calls
):
    model = str(tiny_vit_dir)
    store = FeatureStore(tmp_path / "store")
    results = get("kriegeskorte2008-hit-rsa").run(model, store=store, options=SUBSET_OPTION)

    validate_results(results)
    extra = list(results.columns[len(RESULT_COLUMNS) :])
    assert extra == ["session", "n_images", "ceiling_lower", *CARD_COLUMNS]
    assert (results["benchmark"] == "kriegeskorte2008-hit-rsa@1").all()
    assert (results["unit"] == "hIT").all() and (results["metric"] == "spearman_r").all()
    assert (results["n_images"] == N).all()
    by_entity = results.groupby(["weights", "control"], sort=False)["layer"].apply(list).to_dict()
    assert list(by_entity) == [("pretrained", ""), ("untrained", ""), ("", RANDOM_CONTROL)]
    assert by_entity[("pretrained", "")] == [0] * 8 + [1] * 8 + [2] * 8
    control_layers = by_entity[("", RANDOM_CONTROL)]
    assert pd.isna(control_layers).all() and len(control_layers) == 8
    first = results[results["weights"] == "pretrained"].iloc[:8]
    assert first["subject"].tolist() == [s for s in ("BE", "KO", "SN", "TI") for _ in (1, 2)]
    assert first["session"].tolist() == [1, 2] * 4

    data_rdms = _data_rdms(load("kriegeskorte2008-92").human_it.dissimilarities)
    for weights in ("pretrained", "untrained"):
        scores = results.loc[results["weights"] == weights, "score"].to_numpy().reshape(3, 8)
        expected = _reference_scores(model, data_rdms, [0, 1, 2], weights)
        np.testing.assert_allclose(scores, expected, rtol=1e-8, atol=1e-12)
    assert not np.allclose(
        results.loc[results["weights"] == "pretrained", "score"],
        results.loc[results["weights"] == "untrained", "score"],
    )
    control = results.loc[results["control"] == RANDOM_CONTROL, "score"].to_numpy()
    random_rdm = _correlation_rdm(random_image_features(SUBSET, 16))
    np.testing.assert_allclose(
        control, [spearmanr(random_rdm, d).statistic for d in data_rdms], rtol=1e-8
    )

    # The ceiling: rsatoolbox's noise-ceiling bounds over the 8 reduced RDMs.
    lower, upper = _rsatoolbox_ceiling(data_rdms)
    np.testing.assert_allclose(results["ceiling"], upper, rtol=1e-8)
    np.testing.assert_allclose(results["ceiling_lower"], lower, rtol=1e-8)
    assert 0 < lower < upper <= 1
    np.testing.assert_allclose(results["normalized_score"], results["score"] / upper)

    # A second run reads the store: no forward pass, the same table.
    assert forward_calls
    forward_calls.clear()
    again = get("kriegeskorte2008-hit-rsa").run(model, store=store, options=SUBSET_OPTION)
    assert forward_calls == []
    pd.testing.assert_frame_equal(results, again)


def test_mit_rows_per_layer_without_a_ceiling(tiny_vit_dir, cached_images):
    model = str(tiny_vit_dir)
    results = get("kriegeskorte2008-mit-rsa").run(model, layers=[2], options=SUBSET_OPTION)
    validate_results(results)
    assert results["weights"].tolist() == ["pretrained", "untrained", ""]
    assert results["control"].tolist() == ["", "", RANDOM_CONTROL]
    assert results["layer"].iloc[:2].tolist() == [2, 2] and pd.isna(results["layer"].iloc[2])
    assert (results["unit"] == "mIT").all() and (results["subject"] == "monkeys-pooled").all()
    assert results["ceiling"].isna().all() and results["normalized_score"].isna().all()
    assert (results["ceiling_flag"] == "none").all()
    assert results["session"].isna().all()
    monkey = _data_rdms(load("kriegeskorte2008-92").monkey_it.dissimilarities)
    expected = _reference_scores(model, monkey, [2])[0, 0]
    np.testing.assert_allclose(results["score"].iloc[0], expected, rtol=1e-8)


def test_untrained_weights_and_no_twin(tiny_vit_dir, cached_images):
    model = str(tiny_vit_dir)
    benchmark = get("kriegeskorte2008-mit-rsa")
    untrained = benchmark.run(model, layers=[1], weights="untrained", options=SUBSET_OPTION)
    assert untrained["weights"].tolist() == ["untrained", ""]
    no_twin = benchmark.run(model, layers=[1], untrained_twin=False, options=SUBSET_OPTION)
    assert no_twin["weights"].tolist() == ["pretrained", ""]


def test_bad_subsets_and_missing_images_are_clear_errors(tiny_vit_dir, isolated_cache, monkeypatch):
    model = str(tiny_vit_dir)
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    with pytest.raises(
        MissingBenchmarkDataError, match="brainalign datasets fetch kriegeskorte2008-92"
    ):
        get("kriegeskorte2008-hit-rsa").run(model, options=SUBSET_OPTION)
    place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", FIXTURE, subset=True)
    with pytest.raises(ValueError, match="holds 12 images but the RDMs 92"):
        get("kriegeskorte2008-hit-rsa").run(model)
    with pytest.raises(ValueError, match=r"indices must lie in 0\.\.11"):
        get("kriegeskorte2008-hit-rsa").run(model, options={"conditions": [0, 1, 12]})
    with pytest.raises(ValueError, match="repeats an index"):
        select_conditions([0, 1, 1], 92)
    with pytest.raises(ValueError, match="at least 3 integer"):
        select_conditions([0, 1], 92)
    with pytest.raises(ValueError, match="at least 3 integer"):
        select_conditions([0.0, 1.0, 2.0], 92)


def test_random_image_features_are_per_image_and_seeded():
    alone = random_image_features([5], 8, seed=1)
    among = random_image_features([3, 5], 8, seed=1)
    np.testing.assert_array_equal(alone[0], among[1])  # an image's vector ignores the others
    assert not np.allclose(random_image_features([5], 8, seed=2), alone)
    with pytest.raises(ValueError, match="n_dims=1"):
        random_image_features([0], 1)
    assert image_rsa.POOLING == "mean" and image_rsa.COMPARISON == "spearman"
