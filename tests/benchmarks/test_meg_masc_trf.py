"""meg-masc-trf: MEG-MASC's layout through the scoring path, checked against MNE."""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

from brainalign.benchmarks.registry import get
from brainalign.benchmarks.settings import SettingsError
from brainalign.datasets.meg_masc import load_meg_masc
from brainalign.encoders.text import TextEncoder

ROOT = Path(__file__).parents[1] / "data" / "meg_masc"
OPTIONS = {"sfreq": 100, "tmin": 0.0, "tmax": 0.1, "n_components": 3, "alphas": [10.0]}


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory) -> Path:
    """The fixture with its run copied as session 1 (same story, same recording)."""
    root = tmp_path_factory.mktemp("meg_masc") / "root"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("make_fixture.py"))
    source, target = root / "sub-01" / "ses-0", root / "sub-01" / "ses-1"
    shutil.copytree(source, target)
    for path in sorted(target.rglob("*ses-0*")):
        text_file = path.suffix in (".tsv", ".json")
        renamed = path.with_name(path.name.replace("ses-0", "ses-1"))
        path.rename(renamed)
        if text_file:
            renamed.write_text(renamed.read_text().replace("ses-0", "ses-1"))
    return root


@pytest.fixture(scope="module")
def rows(two_sessions, tiny_gpt2_dir) -> pd.DataFrame:
    options = {"root": str(two_sessions), **OPTIONS}
    return get("meg-masc-trf").run(str(tiny_gpt2_dir), layers=[0, 2], options=options)


def _mne_scores(X: list[np.ndarray], y: list[np.ndarray]) -> np.ndarray:
    """Leave one run out with MNE's ReceptiveField and scikit-learn's Ridge: mean r."""
    folds = []
    for test in range(len(X)):
        train = [i for i in range(len(X)) if i != test]
        rf = mne.decoding.ReceptiveField(
            OPTIONS["tmin"], OPTIONS["tmax"], OPTIONS["sfreq"],
            estimator=Ridge(alpha=OPTIONS["alphas"][0]), scoring="corrcoef",
        )  # fmt: skip
        # (n_times, n_epochs, n_features): each training run one epoch
        rf.fit(np.stack([X[i] for i in train], axis=1), np.stack([y[i] for i in train], axis=1))
        predicted = rf.predict(X[test])
        folds.append(
            [np.corrcoef(predicted[:, j], y[test][:, j])[0, 1] for j in range(y[test].shape[1])]
        )
    return np.mean(folds, axis=0)


def test_model_rows_equal_mne_receptive_field_on_the_same_design(rows, two_sessions, tiny_gpt2_dir):
    runs = [load_meg_masc(two_sessions, "01", "0", s, sfreq=100.0, l_freq=0.5, h_freq=30.0)
            for s in ("0", "1")]  # fmt: skip
    words = runs[0].words
    features = TextEncoder(str(tiny_gpt2_dir)).encode_words(
        words["text"].tolist(), layers=[2], stimulus_ids=words["stimulus_id"].tolist()
    )
    reduced = PCA(3, whiten=True, svd_solver="full").fit_transform(features.layers["2"])
    designs, responses = [], []
    for run in runs:
        X = np.zeros((run.recording.n_samples, 3))
        np.add.at(X, np.round(run.words["onset"].to_numpy() * 100).astype(int), reduced)
        designs.append(X)
        responses.append(np.asarray(run.recording.data, dtype=np.float64))
    expected = _mne_scores(designs, responses)
    got = rows.query("weights == 'pretrained' and layer == 2").sort_values("unit")
    channels = runs[0].recording.units["channel"].to_numpy()
    order = np.argsort(channels)
    assert got["unit"].tolist() == channels[order].tolist()
    np.testing.assert_allclose(got["score"].to_numpy(), expected[order], rtol=1e-6, atol=1e-9)


def test_rows_controls_and_ceiling(rows):
    n_channels = 157
    model = rows[rows["control"] == ""]
    assert sorted(model["weights"].unique()) == ["pretrained", "untrained"]
    assert len(model) == 2 * 2 * n_channels  # weights x layers x sensors
    assert set(model["n_runs"]) == {2}
    controls = rows[rows["control"] != ""]
    assert sorted(controls["control"].unique()) == ["sound-envelope", "word-onsets"]
    assert controls.groupby("control").size().tolist() == [n_channels, n_channels]
    # the two sessions hold the same recording: each sensor's reliability is 1
    np.testing.assert_allclose(rows["reliability"], 1.0, atol=1e-9)
    np.testing.assert_allclose(rows["ceiling"], 1.0, atol=1e-9)
    assert set(rows["ceiling_stories"]) == {1}
    assert np.isfinite(rows["score"]).all()


def test_bad_options_are_refused_by_name(two_sessions, tiny_gpt2_dir):
    benchmark = get("meg-masc-trf")
    with pytest.raises(SettingsError, match="option root"):
        benchmark.run(str(tiny_gpt2_dir), options={})
    cases = {
        "sfreq=5000": ({"sfreq": 5000}, "above the recording's 1000 Hz"),
        "subjects": ({"subjects": ["07"]}, r"subjects=\['07'\]: \['07'\] not found"),
        "a number": ({"subjects": [7]}, r"subjects=\[7\]: \['7'\] not found"),
        "alphas": ({"alphas": [-1]}, "alphas"),
        "n_components": ({"n_components": 0}, "n_components"),
        "tmin": ({"tmin": 0.5, "tmax": 0.1}, "tmin=0.5 below tmax=0.1"),
    }
    for options, message in cases.values():
        with pytest.raises(SettingsError, match=message):
            benchmark.run(str(tiny_gpt2_dir), options={"root": str(two_sessions), **options})
    with pytest.raises(FileNotFoundError, match="no MEG-MASC run"):
        benchmark.run(str(tiny_gpt2_dir), options={"root": str(ROOT / "stimuli")})


def test_rows_carry_sensor_positions_and_the_report_draws_a_topomap(rows, tmp_path):
    from brainalign.report.figures import write_benchmark_figures

    positions = rows[["ch_type", "x", "y", "z"]]
    assert positions.notna().all().all() and set(rows["ch_type"]) == {"mag"}
    paths = write_benchmark_figures(rows, tmp_path)
    assert any(p.name.endswith("_topomap.png") for p in paths)


def test_selections_match_zero_padded_labels(two_sessions):
    from brainalign.benchmarks.meg_masc_trf import _selection

    have = ["01", "02", "10"]
    assert _selection({"subjects": [1, 10]}, "subjects", have, two_sessions) == ["01", "10"]
    assert _selection({"sessions": 0}, "sessions", ["0", "1"], two_sessions) == ["0"]
    assert _selection({}, "tasks", ["0"], two_sessions) is None
