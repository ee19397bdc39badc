"""kriegeskorte2008-judgement-rsa: a model's RDM placed within the spread of 16 people.

On the 12 real images of tests/data/kriegeskorte2008_92 (first 12 of the published 92,
see test_image_rsa.py) and the bundled similarity-judgement RDMs of 16 people (Mur et al.
2013), restricted to those images. Reference numbers: scipy's spearmanr against each
person and against the pooled (mean rank) RDM, each person against the mean rank-RDM of
the other 15 computed by hand, and rsatoolbox's noise ceiling.
"""

import numpy as np
import pytest
from scipy.spatial.distance import squareform
from scipy.stats import rankdata, spearmanr

from brainalign.alignment.rsa import rdm_noise_ceiling, subject_consistency
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.turing_rsa import GROUP, GROUP_UNIT, PERSON_UNIT, human_percentile
from brainalign.datasets.catalogue import load
from brainalign.encoders.vision import VisionEncoder
from brainalign.results import validate_results
from tests.benchmarks.test_image_rsa import FIXTURE, SUBSET_OPTION, N
from tests.datasets.catalogue_helpers import place_in_cache


@pytest.fixture
def cached_images(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    return place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", FIXTURE, subset=True)


def _people() -> np.ndarray:
    rdms = load("kriegeskorte2008-92").behaviour.dissimilarities
    return np.stack([squareform(squareform(r)[:N, :N], checks=False) for r in rdms])


def test_subject_consistency_by_hand_and_against_rsatoolbox():
    people = _people()
    consistency = subject_consistency(people, "spearman")
    ranks = np.stack([rankdata(r) for r in people])
    for p in range(len(people)):
        others = np.delete(ranks, p, axis=0).mean(axis=0)
        expected = spearmanr(people[p], others).statistic
        np.testing.assert_allclose(consistency.to_others[p], expected, atol=1e-12)
    np.testing.assert_allclose(consistency.pooled, ranks.mean(axis=0), atol=1e-12)
    lower, upper = rdm_noise_ceiling(people, "spearman")
    assert float(lower) == pytest.approx(consistency.to_others.mean(), abs=1e-12)
    assert float(upper) == pytest.approx(consistency.to_all.mean(), abs=1e-12)
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    reference = boot_noise_ceiling(RDMs(people), method="spearman", rdm_descriptor="index")
    np.testing.assert_allclose([float(lower), float(upper)], reference, atol=1e-10)


def test_human_percentile_counts_people_at_or_below():
    people = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(human_percentile([0.05, 0.2, 0.35, 0.9], people), [0, 50, 75, 100])


def test_judgement_rsa_places_each_layer_among_the_people(tiny_vit_dir, cached_images):
    rows = get("kriegeskorte2008-judgement-rsa").run(
        str(tiny_vit_dir), options=SUBSET_OPTION, untrained_twin=False
    )
    validate_results(rows)
    model = rows[rows["control"] == ""]
    people = _people()
    images = load("kriegeskorte2008-92", images=True).images[:N]
    features = VisionEncoder(str(tiny_vit_dir), pooling="mean", progress=False).encode_images(
        list(images)
    )
    consistency = subject_consistency(people, "spearman")
    for layer in (0, 1, 2):
        model_rdm = squareform(
            1.0 - np.corrcoef(np.asarray(features[str(layer)], dtype=np.float64)), checks=False
        )
        at = model[model["layer"] == layer]
        person_rows = at[at["unit"] == PERSON_UNIT]
        assert len(person_rows) == 16 and person_rows["subject"].iloc[0] == "subject1"
        expected = [spearmanr(model_rdm, person).statistic for person in people]
        np.testing.assert_allclose(person_rows["score"], expected, atol=1e-10)
        group = at[at["unit"] == GROUP_UNIT]
        assert group["subject"].tolist() == [GROUP]
        score = spearmanr(model_rdm, consistency.pooled).statistic
        np.testing.assert_allclose(group["score"], [score], atol=1e-10)
        percentile = 100 * np.mean(consistency.to_others <= score)
        np.testing.assert_allclose(group["human_percentile"], [percentile])
        np.testing.assert_allclose(group["human_median"], [np.median(consistency.to_others)])
        assert group["ceiling"].isna().all() and person_rows["human_percentile"].isna().all()
    lower, upper = (float(b) for b in rdm_noise_ceiling(people, "spearman"))
    assert np.allclose(model.loc[model["unit"] == PERSON_UNIT, "ceiling"], upper)
    assert np.allclose(model.loc[model["unit"] == PERSON_UNIT, "ceiling_lower"], lower)
    control = rows[rows["control"] != ""]
    assert set(control["unit"]) == {PERSON_UNIT, GROUP_UNIT} and len(control) == 17
