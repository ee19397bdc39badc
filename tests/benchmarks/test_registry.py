"""The benchmark registry and Benchmark.run: lookup, missing data, labelling, ceilings."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from brainalign.benchmarks import registry
from brainalign.benchmarks.benchmark import ModelScores
from brainalign.benchmarks.registry import (
    Benchmark,
    MissingBenchmarkDataError,
    UnknownBenchmarkError,
    available,
    get,
    info,
    register,
)
from brainalign.datasets.catalogue import info as dataset_info
from brainalign.datasets.download import NotInCacheError, cache_path
from brainalign.results import validate_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

EXPECTED = {
    "alice2016-encoding",
    "simlex999",
    "wordsim353",
    "men3k",
    "glasgow-norms",
    "things-concepts",
}


@pytest.fixture(autouse=True)
def _isolated_cache(isolated_cache):
    return isolated_cache


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")


def test_the_registered_benchmarks_are_complete():
    assert EXPECTED <= set(available())
    assert available() == sorted(available())
    for name in available():
        benchmark = info(name)
        assert benchmark.id == name and benchmark.version >= 1
        assert benchmark.versioned_id == f"{name}@{benchmark.version}"
        for field in ("dataset", "description", "presentation", "metric", "ceiling", "controls"):
            assert getattr(benchmark, field), (name, field)
        assert callable(benchmark.resolve_runner())
    simlex = get("simlex999")
    assert (simlex.context, simlex.pooling, simlex.metric) == ("isolated", "mean", "spearman_r")
    assert get("SimLex999@1") is simlex


def test_unknown_benchmark_lists_close_matches_and_every_name():
    with pytest.raises(UnknownBenchmarkError) as caught:
        get("simlex99")
    message = str(caught.value)
    assert "did you mean simlex999" in message
    for name in EXPECTED:
        assert name in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    with pytest.raises(UnknownBenchmarkError, match="did you mean glasgow-norms"):
        get("glasgow_norm")
    with pytest.raises(UnknownBenchmarkError) as far:
        get("zzzz")
    assert "did you mean" not in str(far.value) and "men3k" in str(far.value)


def test_another_version_is_refused():
    with pytest.raises(UnknownBenchmarkError, match="version 1 here, not '2'"):
        get("men3k@2")


def test_register_refuses_duplicates_and_bad_records(monkeypatch):
    monkeypatch.setattr(registry, "BENCHMARKS", dict(registry.BENCHMARKS))
    existing = get("men3k")
    with pytest.raises(ValueError, match="already registered"):
        register(existing)
    bumped = dataclasses.replace(existing, version=2)
    assert register(bumped, replace=True) is bumped
    assert get("men3k@2") is bumped
    with pytest.raises(ValueError, match="version"):
        dataclasses.replace(existing, version=0)
    with pytest.raises(ValueError, match="without '@'"):
        dataclasses.replace(existing, id="men@3k")
    with pytest.raises(ValueError, match="takes a Benchmark"):
        register("men3k")


@pytest.mark.parametrize("name", ["simlex999", "glasgow-norms"])
def test_missing_data_offline_says_how_to_fetch(offline, name):
    benchmark = get(name)
    with pytest.raises(MissingBenchmarkDataError) as caught:
        benchmark.run("no-model-needed")
    message = str(caught.value)
    assert f"brainalign datasets fetch {name}" in message
    assert isinstance(caught.value, NotInCacheError)
    for file in dataset_info(name).files.values():
        assert str(cache_path(file)) in message and file.url in message


def test_missing_second_file_is_named(monkeypatch, offline):
    source = TESTS_DATA / "behaviour" / "things_concepts_subset.tsv"
    place_in_cache(monkeypatch, "things-concepts", "concepts", source, subset=True)
    with pytest.raises(MissingBenchmarkDataError, match="animacy.csv") as caught:
        get("things-concepts").run("no-model-needed")
    assert "things_concepts.tsv" not in str(caught.value)


def test_bad_weights_are_refused_before_anything_runs():
    with pytest.raises(ValueError, match="weights='random'"):
        get("simlex999").run("model", weights="random")


def _toy(runner, **fields) -> Benchmark:
    return Benchmark(
        id="toy",
        version=3,
        dataset="alice2016",
        description="d",
        presentation="p",
        context="isolated",
        pooling="mean",
        metric="m",
        cross_validation="none",
        ceiling="c",
        aggregation="a",
        controls="c",
        citation="c",
        runner=runner,
        **fields,
    )


class _Task:
    """Two subjects, one unit, layers 0 and 1; a control 'flat'; a ceiling per subject."""

    def __init__(self, benchmark, settings, calls):
        self.settings = settings
        self.calls = calls
        calls.append(("prepare", benchmark.id, settings.model))

    def score_model(self, weights):
        self.calls.append(("model", weights))
        value = 0.4 if weights == "pretrained" else 0.1
        rows = pd.DataFrame(
            {"layer": [0, 0, 1, 1], "subject": ["a", "b"] * 2, "unit": "u",
             "score": [value, value, value + 0.1, value + 0.1]}
        )  # fmt: skip
        return ModelScores(rows, n_dims=5)

    def score_controls(self, model):
        self.calls.append(("controls", model.n_dims))
        return {"flat": pd.DataFrame({"subject": ["a", "b"], "unit": "u", "score": [0.2, 0.2]})}

    def ceiling(self):
        return pd.DataFrame({"subject": ["a", "b"], "ceiling": [0.5, 0.05]})


def test_run_labels_rows_adds_the_twin_controls_and_ceiling(monkeypatch):
    calls = []
    toy = _toy(lambda benchmark, settings: _Task(benchmark, settings, calls))
    rows = toy.run("m")
    validate_results(rows)
    assert calls == [("prepare", "toy", "m"), ("model", "pretrained"), ("model", "untrained"),
                     ("controls", 5)]  # fmt: skip
    assert rows["benchmark"].unique().tolist() == ["toy@3"]
    assert rows["metric"].unique().tolist() == ["m"] and (rows["dataset"] == "alice2016").all()
    model = rows[rows["control"] == ""]
    assert set(zip(model["model"], model["weights"], strict=True)) == {
        ("m", "pretrained"), ("m", "untrained")
    }  # fmt: skip
    control = rows[rows["control"] != ""]
    assert (control["control"] == "flat").all() and (control["control_of"] == "m").all()
    assert (control[["model", "weights"]] == "").all(axis=None)
    # the ceiling joins by subject; 0.05 is below the floor: kept, never divided by
    by_subject = rows.drop_duplicates("subject").set_index("subject")
    assert by_subject.loc["a", "ceiling_flag"] == "ok"
    assert by_subject.loc["b", "ceiling_flag"] == "below_floor"
    assert by_subject.loc["b", "ceiling"] == 0.05
    assert rows.loc[rows["subject"] == "b", "normalized_score"].isna().all()
    np.testing.assert_allclose(
        rows.loc[rows["subject"] == "a", "normalized_score"],
        rows.loc[rows["subject"] == "a", "score"] / 0.5,
    )

    calls.clear()
    alone = toy.run("m", untrained_twin=False)
    assert ("model", "untrained") not in calls and set(alone["weights"]) == {"pretrained", ""}
    calls.clear()
    untrained = toy.run("m@untrained")
    assert ("model", "pretrained") not in calls
    assert set(untrained.loc[untrained["control"] == "", "weights"]) == {"untrained"}


def test_a_benchmark_without_ceiling_flags_none():
    calls = []

    class NoCeiling(_Task):
        def ceiling(self):
            return None

    rows = _toy(lambda b, s: NoCeiling(b, s, calls)).run("m")
    assert (rows["ceiling_flag"] == "none").all() and rows["ceiling"].isna().all()
    assert rows["normalized_score"].isna().all()


def test_the_registered_runners_follow_the_task_protocol(monkeypatch):
    monkeypatch.setattr(registry, "BENCHMARKS", dict(registry.BENCHMARKS))
    calls = []
    register(_toy(lambda b, s: _Task(b, s, calls)))
    assert get("toy@3").run("m", options={}).shape[0] == 4 + 4 + 2
    with pytest.raises(ValueError, match="toy@3 does not take option"):
        get("toy").run("m", options={"radius_mm": 10})
