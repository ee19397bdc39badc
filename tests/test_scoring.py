"""brainalign.score: models x benchmarks into one table, the shared store, errors, the CLI.

Real benchmarks (simlex999, wordsim353 on the published files in tests/data/word_similarity,
put in an isolated offline cache) scored by the tiny random-weight BERT of tests/conftest.py.
The reference is each benchmark run on its own through Benchmark.run.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

import brainalign
from brainalign._io import OutputDirectoryError
from brainalign.benchmarks import registry
from brainalign.benchmarks.registry import UnknownBenchmarkError, get
from brainalign.cli import main
from brainalign.datasets import registry as dataset_registry
from brainalign.datasets.download import cache_path
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.text import TextEncoder
from brainalign.results import make_results
from brainalign.scoring import BenchmarkRunError, count_forward_passes, score

WORD_SIMILARITY = Path(__file__).resolve().parent / "data" / "word_similarity"
FILES = {"simlex999": "EN-SIMLEX-999.txt", "wordsim353": "EN-WS-353-ALL.txt"}


def place_word_pairs() -> None:
    """Put the published word-pair files where the catalogue's offline cache looks."""
    for name, file in FILES.items():
        target = cache_path(dataset_registry.REGISTRY[name].files["pairs"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(WORD_SIMILARITY / file, target)


@pytest.fixture(autouse=True)
def _word_pairs(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_word_pairs()


def test_score_equals_each_benchmark_run_alone_and_writes_tables(tiny_bert_dir, tmp_path):
    model = str(tiny_bert_dir)
    store = FeatureStore(tmp_path / "store")
    with count_forward_passes() as first:
        results = score(
            model,
            ["simlex999", "wordsim353@1"],
            layers=[0, 2],
            store=store,
            out=tmp_path / "out",
            batch_size=64,
        )
    alone = [get(name).run(model, layers=[0, 2], batch_size=64) for name in FILES]
    expected = pd.concat(alone, ignore_index=True)
    pd.testing.assert_frame_equal(results, expected)
    assert set(results["benchmark"]) == {"simlex999@1", "wordsim353@1"}
    assert {model, f"{model}@untrained", "control:random-word-vectors"} == set(results["model"])
    assert not results.duplicated().any()

    written = pd.read_parquet(tmp_path / "out" / "results.parquet")
    pd.testing.assert_frame_equal(written, results)
    csv = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(csv) == len(results) and list(csv.columns) == list(results.columns)
    assert not list((tmp_path / "out").glob("*.tmp*"))  # atomic writes leave nothing behind
    figures = sorted(path.name for path in (tmp_path / "out" / "figures").glob("*.png"))
    assert figures == [
        "simlex999-1_by_layer.png",
        "simlex999-1_models.png",
        "wordsim353-1_by_layer.png",
        "wordsim353-1_models.png",
    ]

    # The same store again: every feature read back, zero forward passes, same table.
    assert first.batches > 0 and first.items >= first.batches
    with count_forward_passes() as second:
        again = brainalign.score([model], ["simlex999", "wordsim353"], layers=[0, 2], store=store)
    assert second.batches == 0 and second.items == 0
    pd.testing.assert_frame_equal(again, results)


def test_count_forward_passes_counts_batches_and_restores(tiny_bert_dir):
    original = TextEncoder.__dict__["_forward"]
    encoder = TextEncoder(str(tiny_bert_dir), batch_size=4, progress=False)
    with count_forward_passes() as count:
        encoder.extract(["cat", "dog", "tree", "house", "sun"], context="isolated")
    assert (count.batches, count.items) == (2, 5)
    assert TextEncoder.__dict__["_forward"] is original


def test_heads_is_passed_only_when_true(monkeypatch):
    calls = []

    def runner(benchmark, model, **kwargs):
        calls.append(kwargs)
        row = {"model": model, "dataset": "d", "layer": 0, "subject": "all", "roi": "r"}
        return make_results(pd.DataFrame([{**row, "metric": "m", "score": 0.5, "ceiling": 1.0}]))

    fake = dataclasses.replace(get("simlex999"), id="fake-heads", runner=runner)
    monkeypatch.setitem(registry.BENCHMARKS, "fake-heads", fake)
    plain = score("m", "fake-heads")
    with_heads = score("m", "fake-heads", heads=True)
    assert "heads" not in calls[0] and calls[1]["heads"] is True
    assert plain["benchmark"].tolist() == with_heads["benchmark"].tolist() == ["fake-heads@1"]

    # a benchmark that scores no heads, in the same call: a warning, its layers only
    layers_only = dataclasses.replace(fake, id="fake-layers", scores_heads=False)
    monkeypatch.setitem(registry.BENCHMARKS, "fake-layers", layers_only)
    with pytest.warns(UserWarning, match="fake-layers@1 does not score attention heads"):
        mixed = score("m", ["fake-heads", "fake-layers"], heads=True)
    assert calls[2]["heads"] is True and "heads" not in calls[3]
    assert mixed["benchmark"].tolist() == ["fake-heads@1", "fake-layers@1"]


def test_bad_input_is_named_before_anything_runs(tiny_bert_dir, tmp_path):
    with pytest.raises(UnknownBenchmarkError, match="did you mean simlex999"):
        score(str(tiny_bert_dir), ["simlex99"])
    with pytest.raises(ValueError, match="models is empty"):
        score([], ["simlex999"])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        score(str(tiny_bert_dir), ["simlex999"], batch_size=0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirectoryError):
        score(str(tiny_bert_dir), ["simlex999"], out=blocker)
    with pytest.raises(BenchmarkRunError, match=r"^simlex999@1: ") as error:
        score(str(tmp_path / "no-such-model"), ["simlex999"])
    assert error.value.model == str(tmp_path / "no-such-model")
    assert error.value.benchmark == "simlex999@1"


def test_cli_score_benchmarks_goes_through_score(tiny_bert_dir, tmp_path, capsys):
    model = str(tiny_bert_dir)
    out = tmp_path / "out"
    code = main(
        ["score", model, "--benchmark", "wordsim353", "--layers", "1", "--out", str(out)]
        + ["--quiet"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "median score per layer" in printed and "wordsim353@1" in printed
    assert f"wrote {out / 'results.csv'}" in printed
    expected = get("wordsim353").run(model, layers=[1])
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), expected)

    code = main(["score", str(tmp_path / "missing"), "--benchmark", "wordsim353", "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.startswith("brainalign: error: wordsim353@1: ")
