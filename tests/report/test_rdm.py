"""RDM pictures on the Kriegeskorte et al. (2008) 92-image RDMs."""

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import squareform

from brainalign.datasets.behaviour import read_rdms
from brainalign.report.rdm import _collect, plot_rdms, rank_transform
from tests.report.pictures import assert_picture

DATA = Path(__file__).resolve().parents[1] / "data" / "kriegeskorte2008_92"


@pytest.fixture(scope="module")
def figure1():
    """Monkey and human IT RDMs of figure 1, and each image's category."""
    data = np.load(DATA / "fig1_mIT_hIT_rdms.npz")
    columns = {name: data["category_vectors"][:, i] == 1 for i, name in
               enumerate(data["category_labels"])}  # fmt: skip
    animal = np.where(columns["human"], "human", "animal")
    part = np.where(columns["face"], "face", "body")
    thing = np.where(columns["natObj"], "natural", "artificial")
    categories = np.where(columns["animate"], np.char.add(animal, " " + part), thing)
    return data["mIT_674neurons"], data["hITvisStim_316vx"], categories


def test_rank_transform_matches_rsatoolbox(figure1):
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.rdm import rank_transform as rsa_rank

    condensed = np.stack(figure1[:2])
    condensed[0, :5] = np.nan
    expected = rsa_rank(RDMs(condensed)).get_vectors()
    counts = np.array([[condensed.shape[1] - 5], [condensed.shape[1]]])
    np.testing.assert_allclose(rank_transform(condensed), expected / counts, rtol=1e-12)


def test_rdmset_from_mat_file(tmp_path):
    rdms = read_rdms(DATA / "92_brainRDMs.mat")
    assert_picture(tmp_path / "r.png", plot_rdms(rdms, tmp_path / "r.png", n_columns=4))
    condensed, names, _ = _collect(rdms, None, 1e-8)
    assert names[0] == "hIT | BE | Session: 1" and condensed.shape == (8, 92 * 91 // 2)


def test_several_forms_with_categories(figure1, tmp_path):
    monkey, human, categories = figure1
    assert list(dict.fromkeys(categories)) == [
        "human body", "human face", "animal body", "animal face", "natural", "artificial"
    ]  # fmt: skip
    path = plot_rdms([monkey, squareform(human)], tmp_path / "f.png", names=["mIT", "hIT"],
                     categories=categories, rank=True)  # fmt: skip
    assert_picture(tmp_path / "f.png", path)
    condensed, _, _ = _collect([monkey, squareform(human)], None, 1e-8)
    np.testing.assert_array_equal(condensed, np.stack([monkey, human]))
    small = squareform(monkey)[:6, :6]
    path = plot_rdms(small, tmp_path / "s.png", labels=list("abcdef"), shared_scale=False)
    assert_picture(tmp_path / "s.png", path)


@pytest.mark.parametrize(
    ("rdms", "kwargs", "message"),
    [
        (np.arange(5.0), {}, "5 values, not n"),
        (np.array([[0, 1], [2, 0.0]]), {}, "not symmetric"),
        (np.eye(4) + 1, {}, "non-zero diagonal"),
        ([np.ones(6), np.ones(10)], {}, "share their conditions"),
        ([], {}, "rdms is empty"),
        (np.ones(6), {"labels": ["a"] * 4, "categories": [1] * 4}, "not both"),
        (np.ones(6), {"labels": ["a", "b"]}, "labels has 2 entries for 4 conditions"),
        (np.ones((2, 6)), {"names": ["x"]}, "names has 1 entries for 2 RDMs"),
        (np.full(6, np.nan), {}, "every dissimilarity is NaN"),
    ],
)
def test_bad_rdms(tmp_path, rdms, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_rdms(rdms, tmp_path / "r.png", **kwargs)
    assert not list(tmp_path.iterdir())
