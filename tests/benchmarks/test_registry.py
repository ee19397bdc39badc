"""The benchmark registry: lookup, close matches, missing data, the alice2016 wrapper."""

import dataclasses

import pandas as pd
import pytest

from brainalign.benchmarks import registry
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
from brainalign.results import RESULT_COLUMNS
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


def test_alice2016_encoding_wraps_run_alice2016(monkeypatch, tmp_path):
    from brainalign.benchmarks import alice2016
    from brainalign.encoders.store import FeatureStore

    calls = []
    table = pd.DataFrame({column: [1.0] for column in RESULT_COLUMNS} | {"extra": ["x"]}).astype(
        {"model": str}
    )

    def fake_run(model, **kwargs):
        calls.append((model, kwargs))
        return table

    monkeypatch.setattr(alice2016, "run_alice2016", fake_run)
    store = FeatureStore(tmp_path / "store")
    result = get("alice2016-encoding").run(
        "tiny", layers=[1], store=store, subjects=["s18"], batch_size=4
    )
    model, kwargs = calls[0]
    assert model == "tiny" and kwargs["feature_store"] == store.root
    assert kwargs["subjects"] == ["s18"] and kwargs["layers"] == [1] and kwargs["batch_size"] == 4
    assert list(result.columns) == [*RESULT_COLUMNS, "benchmark", "extra"]
    assert (result["benchmark"] == "alice2016-encoding@1").all()
    with pytest.raises(ValueError, match="untrained twin"):
        get("alice2016-encoding").run("tiny", weights="untrained")


def test_a_registered_callable_runner_gets_the_benchmark(monkeypatch):
    monkeypatch.setattr(registry, "BENCHMARKS", dict(registry.BENCHMARKS))
    seen = {}

    def runner(benchmark, model, **kwargs):
        seen.update(benchmark=benchmark, model=model, **kwargs)
        return pd.DataFrame({column: [0.5] for column in RESULT_COLUMNS})

    toy = Benchmark(
        id="toy",
        version=3,
        dataset="alice2016",
        description="d",
        presentation="p",
        context="isolated",
        pooling="mean",
        metric="m",
        cross_validation="none",
        ceiling="none",
        aggregation="a",
        controls="c",
        citation="c",
        runner=runner,
    )
    register(toy)
    result = get("toy@3").run("m", option=7)
    assert seen["benchmark"] is toy and seen["option"] == 7 and seen["store"] is None
    assert result["benchmark"].tolist() == ["toy@3"]
