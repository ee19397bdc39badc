"""A run's --device reaches the encoding fits, and does not change the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from brainalign.alignment import ridge
from brainalign.alignment.backend import alignment_device, run_device
from brainalign.alignment.encoding import cross_validated_encoding
from brainalign.benchmarks.registry import get
from brainalign.benchmarks.settings import RunSettings


@pytest.fixture
def fitted_on(monkeypatch) -> list:
    """The kind and dtype of every X a RidgeCV is fitted on."""
    seen = []
    original = ridge.RidgeCV.fit

    def spy(self, X, y, *args, **kwargs):
        seen.append(("torch" if torch.is_tensor(X) else "numpy", str(X.dtype)))
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(ridge.RidgeCV, "fit", spy)
    return seen


def test_a_run_device_moves_numpy_fits_there_in_float64(fitted_on):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 10)).astype(np.float32)
    Y = (X @ rng.standard_normal((10, 6)) + rng.standard_normal((120, 6))).astype(np.float32)
    plain = cross_validated_encoding(X, Y, sampling="event")
    assert {kind for kind, _ in fitted_on} == {"numpy"}
    fitted_on.clear()
    assert run_device() is None
    with alignment_device("cpu"):
        assert run_device() == "cpu"
        moved = cross_validated_encoding(X, Y, sampling="event")
    assert run_device() is None
    assert set(fitted_on) == {("torch", "torch.float64")}
    np.testing.assert_allclose(moved.scores, plain.scores, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(moved.best_alphas, plain.best_alphas)
    with alignment_device("cpu"), pytest.raises(ValueError, match="not a device name"):
        cross_validated_encoding(X, Y, sampling="event", device="gpu-7")


def test_run_settings_name_the_alignment_device(monkeypatch):
    assert RunSettings("m").alignment_device() is None
    assert RunSettings("m", device="mps").alignment_device() is None
    assert RunSettings("m", device="cuda:1").alignment_device() == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert RunSettings("m", device="auto").alignment_device() is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert RunSettings("m", device="auto").alignment_device() == "cuda"


def test_benchmark_run_fits_on_the_run_device_with_the_same_numbers(
    tiny_bert_dir, monkeypatch, fitted_on
):
    settings = {"layers": [1], "context_words": 4, "options": {"subjects": ["s18", "s22"]}}
    benchmark = get("alice2016-encoding")
    plain = benchmark.run(str(tiny_bert_dir), **settings)
    assert {kind for kind, _ in fitted_on} == {"numpy"}
    fitted_on.clear()
    # what --device cuda does on a GPU machine, here with the CPU as the device
    monkeypatch.setattr(RunSettings, "alignment_device", lambda self: "cpu")
    moved = benchmark.run(str(tiny_bert_dir), **settings)
    assert fitted_on and {kind for kind, _ in fitted_on} == {"torch"}
    pd.testing.assert_frame_equal(
        moved.drop(columns=["score", "normalized_score"]),
        plain.drop(columns=["score", "normalized_score"]),
    )
    np.testing.assert_allclose(moved["score"], plain["score"], rtol=0, atol=1e-10)


def test_one_alice_subject_scores_without_a_ceiling(tiny_bert_dir):
    rows = get("alice2016-encoding").run(
        str(tiny_bert_dir), layers=[1], context_words=4, options={"subjects": ["s18"]},
        untrained_twin=False,
    )  # fmt: skip
    assert rows["ceiling"].isna().all() and set(rows["ceiling_flag"]) == {"none"}
    assert np.isfinite(rows["score"]).all()
