"""Real-data conformance on Kriegeskorte et al. 2008 (Neuron), the 92-image RSA data.

Human IT fMRI RDMs (4 subjects x 2 sessions), the figure-1 human-IT and monkey-IT RDMs and
the model RDMs shipped with the rsatoolbox demos (tests/data/kriegeskorte2008_92, see its
SOURCE.txt); every number is checked against rsatoolbox on the same data.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from numpy.testing import assert_allclose
from scipy.spatial.distance import squareform

from brainalign.alignment.rsa import COMPARISONS, compare_rdms, rdm_noise_ceiling
from brainalign.alignment.rsa_inference import bootstrap_rdm_evaluation

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.inference import boot_noise_ceiling, cv_noise_ceiling, evaluate  # noqa: E402
from rsatoolbox.inference.crossvalsets import sets_leave_one_out_rdm  # noqa: E402
from rsatoolbox.model import ModelFixed  # noqa: E402
from rsatoolbox.rdm import RDMs, compare  # noqa: E402

DATA = Path(__file__).parents[1] / "data" / "kriegeskorte2008_92"
N_PAIRS = 92 * 91 // 2
#: Our comparison name -> rsatoolbox's.
RSATOOLBOX = {
    "spearman": "spearman",
    "pearson": "corr",
    "kendall_tau_a": "tau-a",
    "kendall_tau_b": "kendall",
    "cosine": "cosine",
    "corr_cov": "corr_cov",
    "cosine_cov": "cosine_cov",
}


def _load(name: str, variable: str) -> np.ndarray:
    return scipy.io.loadmat(DATA / name, struct_as_record=False, squeeze_me=True)[variable]


@pytest.fixture(scope="module")
def human_it() -> dict[str, object]:
    """The 8 human-IT RDMs (subject-major: BE s1, BE s2, KO s1, ...) and their names."""
    structs = _load("92_brainRDMs.mat", "RDMs")  # (4 subjects, 2 sessions)
    names = [s.name for s in structs.ravel()]
    rdms = np.array([squareform(s.RDM, checks=False) for s in structs.ravel()], dtype=np.float64)
    return {"sessions": rdms, "names": names, "subjects": rdms.reshape(4, 2, -1).mean(axis=1)}


@pytest.fixture(scope="module")
def models() -> tuple[list[str], np.ndarray]:
    structs = _load("92_modelRDMs.mat", "Models")
    rdms = np.array([squareform(s.RDM, checks=False) for s in structs], dtype=np.float64)
    return [s.name for s in structs], rdms


@pytest.fixture(scope="module")
def figure1() -> dict[str, np.ndarray]:
    with np.load(DATA / "fig1_mIT_hIT_rdms.npz") as saved:
        return {key: saved[key] for key in saved.files}


def test_fixture_is_the_published_data(human_it, models, figure1):
    assert human_it["sessions"].shape == (8, N_PAIRS)
    assert human_it["names"][:3] == [
        "hIT | BE | Session: 1",
        "hIT | BE | Session: 2",
        "hIT | KO | Session: 1",
    ]
    assert models[0] == [
        "animacy",
        "FaceBodyManmadeNatobj",
        "monkeyIT",
        "EVA",
        "HMAX",
        "V1",
        "Silhouette",
        "RADON",
    ]
    assert figure1["mIT_674neurons"].shape == figure1["hITvisStim_316vx"].shape == (N_PAIRS,)
    assert figure1["category_vectors"].shape == (92, 12)
    # the data README: sessions of one subject correlate at about 0.18 (Spearman)
    sessions = human_it["sessions"].reshape(4, 2, -1)
    within = [float(compare_rdms(s[0], s[1], "spearman")) for s in sessions]
    assert 0.1 < np.mean(within) < 0.3


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a", "cosine"])
@pytest.mark.parametrize("level", ["sessions", "subjects"])
def test_noise_ceiling_equals_rsatoolbox(human_it, method, level):
    """8 session RDMs each its own 'subject', and the 4 session-averaged subject RDMs."""
    rdms = human_it[level]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox: "Noise ceiling for tau based on ranks"
        expected = boot_noise_ceiling(RDMs(rdms), method=RSATOOLBOX[method])
    lower, upper = rdm_noise_ceiling(rdms, method)
    assert_allclose([float(lower), float(upper)], expected, rtol=1e-10)
    assert float(lower) < float(upper)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a", "cosine"])
def test_noise_ceiling_equals_rsatoolbox_cv_leave_one_subject_out(human_it, method):
    data = RDMs(human_it["subjects"])
    _, test_set, ceil_set = sets_leave_one_out_rdm(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cv_noise_ceiling(data, ceil_set, test_set, method=RSATOOLBOX[method])
    assert_allclose(rdm_noise_ceiling(human_it["subjects"], method), expected, rtol=1e-10)


@pytest.mark.parametrize("method", COMPARISONS)
def test_figure1_human_vs_monkey_it_equals_rsatoolbox(figure1, method):
    monkey, human = figure1["mIT_674neurons"], figure1["hITvisStim_316vx"]
    expected = compare(RDMs(monkey[None]), RDMs(human[None]), method=RSATOOLBOX[method])
    ours = compare_rdms(monkey, human, method)
    assert_allclose(float(ours), expected[0, 0], rtol=1e-8)
    assert 0.1 < float(ours) < 1.0  # matching representations in man and monkey


def _fixed_models(names: list[str], rdms: np.ndarray) -> list[ModelFixed]:
    return [ModelFixed(name, RDMs(rdm[None, :])) for name, rdm in zip(names, rdms, strict=True)]


def _rsatoolbox_with_indices(monkeypatch, evaluator: str, model_list, data, method, n):
    """Run an rsatoolbox evaluator, keeping the indices its samplers draw."""
    drawn: dict[str, list[np.ndarray]] = {"stimulus_indices": [], "subject_indices": []}
    originals = {
        name: getattr(evaluate, name)
        for name in ("bootstrap_sample_pattern", "bootstrap_sample_rdm", "bootstrap_sample")
    }

    def wrap(name, keys):
        def sample(*args, **kwargs):
            out = originals[name](*args, **kwargs)
            for key, value in zip(keys, out[1:], strict=True):
                drawn[key].append(value)
            return out

        return sample

    monkeypatch.setattr(
        evaluate, "bootstrap_sample_pattern", wrap("bootstrap_sample_pattern", ["stimulus_indices"])
    )
    monkeypatch.setattr(
        evaluate, "bootstrap_sample_rdm", wrap("bootstrap_sample_rdm", ["subject_indices"])
    )
    monkeypatch.setattr(
        evaluate,
        "bootstrap_sample",
        wrap("bootstrap_sample", ["subject_indices", "stimulus_indices"]),
    )
    np.random.seed(2008)  # noqa: NPY002 (rsatoolbox draws from the global RNG)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        result = getattr(evaluate, evaluator)(model_list, RDMs(data), method=method, N=n)
        interval = result.get_ci(0.95, test_type="bootstrap")
    return result, interval, {key: np.array(value) for key, value in drawn.items() if value}


@pytest.mark.parametrize(
    ("resample", "evaluator", "method", "level", "n"),
    [
        ("stimuli", "eval_bootstrap_pattern", "spearman", "sessions", 12),
        ("subjects", "eval_bootstrap_rdm", "pearson", "subjects", 50),
        ("both", "eval_bootstrap", "kendall_tau_a", "sessions", 3),
    ],
)
def test_model_rdms_bootstrap_equals_rsatoolbox(
    human_it, models, monkeypatch, resample, evaluator, method, level, n
):
    names, model_rdms = models
    data = human_it[level]
    reference, (low, high), indices = _rsatoolbox_with_indices(
        monkeypatch, evaluator, _fixed_models(names, model_rdms), data, RSATOOLBOX[method], n
    )
    ours = bootstrap_rdm_evaluation(model_rdms, data, method=method, resample=resample, **indices)
    assert_allclose(ours.distribution, reference.evaluations, rtol=1e-10, atol=1e-13)
    assert_allclose(ours.noise_ceiling_distribution, reference.noise_ceiling.T, rtol=1e-10)
    assert_allclose(ours.low, low, rtol=1e-10)
    assert_allclose(ours.high, high, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = evaluate.eval_fixed(
            _fixed_models(names, model_rdms), RDMs(data), method=RSATOOLBOX[method]
        )
    assert_allclose(ours.evaluation, fixed.evaluations[0].mean(axis=-1), rtol=1e-10)
    assert_allclose(ours.noise_ceiling, fixed.noise_ceiling, rtol=1e-10)
    # the paper's finding: the monkey-IT RDM explains human IT better than early models
    order = {name: i for i, name in enumerate(names)}
    assert ours.evaluation[order["monkeyIT"]] > ours.evaluation[order["V1"]]
