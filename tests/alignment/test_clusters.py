"""Cluster-based permutation tests: equal to mne.stats.permutation_cluster_1samp_test
over time (1-D) and over time x sensors with the real magnetometer adjacency of
sample_audvis_trunc_sss_raw.fif, with planted effects; clear errors for bad input."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from brainalign.alignment.stats import cluster_permutation_1samp

mne = pytest.importorskip("mne")

FIF = Path(__file__).resolve().parents[1] / "data" / "meeg" / "sample_audvis_trunc_sss_raw.fif"


@pytest.fixture(scope="module")
def mag_adjacency():
    """The 102 magnetometers' adjacency (scipy sparse) from a real Neuromag info."""
    mne.set_log_level("error")
    info = mne.io.read_info(FIF)
    info = mne.pick_info(info, mne.pick_types(info, meg="mag"))
    adjacency, names = mne.channels.find_ch_adjacency(info, "mag")
    return adjacency, names


def _mne_test(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MNE warns when it finds no cluster
        return mne.stats.permutation_cluster_1samp_test(X, out_type="indices", **kwargs)


def _assert_equal_to_mne(ours, ref):
    t_obs, clusters, p_values, H0 = ref
    np.testing.assert_allclose(ours.t_obs, t_obs, rtol=1e-12)
    assert len(ours.clusters) == len(clusters)
    for mine, theirs in zip(ours.clusters, clusters, strict=True):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.H0, H0, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ours.cluster_p_values, p_values)


def _planted_1d(n_obs, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_obs, 60))
    X[:, 20:32] += 1.2
    X[:, 45:50] -= 0.9
    return X


@pytest.mark.parametrize(
    ("n_obs", "n_permutations", "tail"),
    [
        (12, 200, 0),  # random flips drawn without replacement (n <= 20)
        (12, 200, 1),
        (12, 200, -1),
        (8, 1000, 0),  # exact: all 2**7 - 1 flips
        (25, 150, 0),  # random flips with the hash table (n > 20)
        (25, 150, 1),
    ],
)
def test_time_clusters_equal_mne(n_obs, n_permutations, tail):
    X = _planted_1d(n_obs)
    ours = cluster_permutation_1samp(X, n_permutations=n_permutations, tail=tail, seed=3)
    ref = _mne_test(X, n_permutations=n_permutations, tail=tail, rng=3)
    _assert_equal_to_mne(ours, ref)
    assert ours.exact == (n_obs == 8)
    if tail >= 0:  # significant clusters cover most of the planted positive effect
        significant = {
            int(t)
            for cluster, p in zip(ours.clusters, ours.cluster_p_values, strict=True)
            if p < 0.05
            for t in cluster[0]
        }
        assert len(significant & set(range(20, 32))) >= 8
        if tail == 1:  # the negative effect is never a positive cluster
            assert not significant & set(range(45, 50))


def test_time_by_sensor_clusters_equal_mne_with_real_adjacency(mag_adjacency):
    adjacency, names = mag_adjacency
    rng = np.random.default_rng(4)
    X = rng.standard_normal((14, 12, len(names)))
    # a planted effect on one sensor and its neighbours, samples 4..8
    sensors = adjacency[[10]].nonzero()[1]
    X[:, 4:9, sensors] += 1.5
    ours = cluster_permutation_1samp(X, n_permutations=100, adjacency=adjacency, seed=0)
    _assert_equal_to_mne(ours, _mne_test(X, n_permutations=100, adjacency=adjacency, rng=0))
    best = int(np.argmin(ours.cluster_p_values))
    assert ours.cluster_p_values[best] < 0.05
    times, channels = ours.clusters[best]
    assert set(sensors.tolist()) <= set(channels.tolist()) and set(times.tolist()) >= {5, 6, 7}
    # the lattice (channel index as the neighbour) when no adjacency is given
    lattice = cluster_permutation_1samp(X, n_permutations=50, seed=1)
    _assert_equal_to_mne(lattice, _mne_test(X, n_permutations=50, rng=1))


def test_no_cluster_gives_empty_results_and_unpacks():
    X = np.random.default_rng(5).standard_normal((10, 20)) * 0.01
    t_obs, clusters, p_values, H0 = cluster_permutation_1samp(X, threshold=100.0)
    assert t_obs.shape == (20,) and clusters == [] and p_values.size == 0 and H0.size == 0


def test_custom_stat_fun_equals_mne():
    X = _planted_1d(10)

    def mean_stat(data):
        return data.mean(axis=0) * 10

    ours = cluster_permutation_1samp(
        X, threshold=5.0, n_permutations=64, stat_fun=mean_stat, seed=2
    )
    ref = _mne_test(X, threshold=5.0, n_permutations=64, stat_fun=mean_stat, rng=2)
    _assert_equal_to_mne(ours, ref)


def test_bad_input_gives_clear_errors(mag_adjacency):
    adjacency, names = mag_adjacency
    X = _planted_1d(10)
    with pytest.raises(ValueError, match="does not fit tail=-1"):
        cluster_permutation_1samp(X, threshold=2.0, tail=-1)
    with pytest.raises(ValueError, match="tail=2"):
        cluster_permutation_1samp(X, tail=2)
    with pytest.raises(ValueError, match="adjacency has 102 rows"):
        cluster_permutation_1samp(X[:, :, None].repeat(5, axis=2), adjacency=adjacency)
    with pytest.raises(ValueError, match="scipy sparse"):
        cluster_permutation_1samp(X, adjacency=np.eye(60))
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        cluster_permutation_1samp(bad)
    with pytest.raises(ValueError, match="at least 2 observations"):
        cluster_permutation_1samp(X[:1])
