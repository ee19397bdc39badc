"""brainalign.score: the one scoring path, run folders that resume, refusals, run.json.

Real benchmarks (simlex999, wordsim353 on the full published word-pair files in
tests/data/word_similarity, put in an isolated offline cache) scored by the tiny
random-weight BERT and GPT-2 of tests/conftest.py. The reference is each benchmark run on
its own through Benchmark.run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import brainalign
from brainalign._io import OutputDirectoryError
from brainalign.benchmarks import benchmark as benchmark_module
from brainalign.benchmarks.registry import UnknownBenchmarkError, get
from brainalign.benchmarks.settings import SettingsError
from brainalign.datasets import registry as dataset_registry
from brainalign.datasets.download import cache_path
from brainalign.encoders.models import ModelLoadError
from brainalign.encoders.store import FeatureStore
from brainalign.encoders.text import TextEncoder
from brainalign.results import validate_results
from brainalign.runs import RUN_FILE, Cell, RunFolderError
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


def test_score_equals_each_benchmark_run_alone_and_writes_a_run_folder(tiny_bert_dir, tmp_path):
    model = str(tiny_bert_dir)
    store = FeatureStore(tmp_path / "store")
    out = tmp_path / "out"
    with count_forward_passes() as first:
        results = score(
            model, ["simlex999", "wordsim353@1"], layers=[0, 2], store=store, out=out, batch_size=64
        )
    alone = [get(name).run(model, layers=[0, 2], batch_size=64) for name in FILES]
    pd.testing.assert_frame_equal(results, pd.concat(alone, ignore_index=True))
    validate_results(results)
    assert set(results["benchmark"]) == {"simlex999@1", "wordsim353@1"}

    written = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(written, results)
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(results) and list(csv.columns) == list(results.columns)
    assert not list(out.rglob("*.tmp"))  # atomic writes leave nothing behind
    cells = sorted(p.name for p in (out / "cells").iterdir())
    assert len(cells) == 4 and sum(name.endswith(".done.json") for name in cells) == 2
    figures = sorted(path.name for path in (out / "figures").glob("*.png"))
    assert "simlex999-1_by_layer.png" in figures and "wordsim353-1_models.png" in figures

    record = json.loads((out / RUN_FILE).read_text())
    assert record["versions"]["brainalign"] == brainalign.__version__
    assert record["versions"]["torch"] and record["versions"]["transformers"]
    assert record["settings"]["layers"] == [0, 2] and record["settings"]["seed"] == 0
    weights = record["models"][model]["weights_sha256"]
    assert list(weights) == ["model.safetensors"] and len(weights["model.safetensors"]) == 64
    assert [c["benchmark"] for c in record["cells"]] == ["simlex999@1", "wordsim353@1"]
    assert all(c["seconds"] > 0 and c["forward_passes"] > 0 for c in record["cells"])
    assert record["invocations"][0]["cells_computed"] == 2

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


def test_a_killed_run_resumes_without_recomputing_finished_cells(
    tiny_bert_dir, tmp_path, monkeypatch
):
    """Kill after the first cell (an interrupt the run does not catch), rerun: the first
    cell is read back, only the second is computed, and the table equals an
    uninterrupted run's."""
    model = str(tiny_bert_dir)
    benchmarks = ["simlex999", "wordsim353"]
    uninterrupted = score(model, benchmarks, layers=[1], out=tmp_path / "whole")

    real_run = benchmark_module.Benchmark.run
    ran = []

    def killed_on_the_second_cell(self, *args, **kwargs):
        ran.append(self.id)
        if self.id == "wordsim353":
            raise KeyboardInterrupt
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(benchmark_module.Benchmark, "run", killed_on_the_second_cell)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        score(model, benchmarks, layers=[1], out=out)
    assert ran == ["simlex999", "wordsim353"]
    first_marker = Cell(model, "simlex999@1").marker_path(out)
    assert first_marker.is_file() and not Cell(model, "wordsim353@1").marker_path(out).exists()
    assert not (out / "results.csv").exists()
    stamp = first_marker.stat().st_mtime_ns

    monkeypatch.setattr(benchmark_module.Benchmark, "run", real_run)
    with count_forward_passes() as passes:
        resumed = score(model, benchmarks, layers=[1], out=out)
    assert first_marker.stat().st_mtime_ns == stamp  # the finished cell was not rewritten
    record = json.loads((out / RUN_FILE).read_text())
    assert record["invocations"][-1]["cells_reused"] == 1
    assert record["invocations"][-1]["cells_computed"] == 1
    with count_forward_passes() as second_cell_alone:
        get("wordsim353").run(model, layers=[1])
    assert (passes.batches, passes.items) == (second_cell_alone.batches, second_cell_alone.items)
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), uninterrupted)


def test_other_settings_are_refused_and_overwrite_replaces_them(tiny_bert_dir, tmp_path):
    model = str(tiny_bert_dir)
    out = tmp_path / "out"
    score(model, "simlex999", layers=[1], out=out)
    with pytest.raises(RunFolderError, match=r"layers: \[1\] there, \[0\] now") as refused:
        score(model, "simlex999", layers=[0], out=out)
    assert "--overwrite" in str(refused.value)
    assert pd.read_parquet(out / "results.parquet")["layer"].dropna().unique().tolist() == [1]
    replaced = score(model, "simlex999", layers=[0], out=out, overwrite=True)
    on_disk = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, replaced)
    assert on_disk["layer"].dropna().unique().tolist() == [0]

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunFolderError, match="without a run.json"):
        score(model, "simlex999", layers=[1], out=foreign)


def test_two_models_keep_their_own_controls_and_accumulate(tiny_bert_dir, tiny_gpt2_dir, tmp_path):
    bert, gpt2 = str(tiny_bert_dir), str(tiny_gpt2_dir)
    out = tmp_path / "out"
    both = score([bert, gpt2], "simlex999", layers=[1], out=out)
    controls = both[both["control"] != ""]
    assert controls["control_of"].tolist() == [bert, gpt2]  # one row each, never merged
    assert controls["model"].eq("").all()
    # scoring a model into the folder later adds its cells to the gathered table
    out2 = tmp_path / "out2"
    score(bert, "simlex999", layers=[1], out=out2)
    score(gpt2, "simlex999", layers=[1], out=out2)
    gathered = pd.read_parquet(out2 / "results.parquet")
    pd.testing.assert_frame_equal(gathered, both)


def test_settings_a_benchmark_would_not_use_are_refused_before_anything_runs(
    tiny_bert_dir, tmp_path
):
    model = str(tiny_bert_dir)
    out = tmp_path / "out"
    with count_forward_passes() as passes:
        with pytest.raises(SettingsError, match="alice2016-encoding@2 does not use --heads"):
            score(model, ["simlex999", "alice2016-encoding"], heads=True, out=out)
        with pytest.raises(SettingsError, match="simlex999@1 does not use --context-words"):
            score(model, "simlex999", context_words=4)
        with pytest.raises(SettingsError, match="does not take option"):
            score(model, "simlex999", options={"radius_mm": 10})
        with pytest.raises(SettingsError, match="layer 9 is out of range"):
            score(model, "simlex999", layers=[9])
    assert passes.batches == 0 and not out.exists()


def test_bad_input_is_named_before_anything_runs(tiny_bert_dir, tmp_path):
    with pytest.raises(UnknownBenchmarkError, match="did you mean simlex999"):
        score(str(tiny_bert_dir), ["simlex99"])
    with pytest.raises(ValueError, match="models is empty"):
        score([], ["simlex999"])
    with pytest.raises(SettingsError, match="batch_size=0"):
        score(str(tiny_bert_dir), ["simlex999"], batch_size=0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirectoryError):
        score(str(tiny_bert_dir), ["simlex999"], out=blocker)
    with pytest.raises(ModelLoadError, match="not an existing directory"):
        score(str(tmp_path / "no-such-model"), ["simlex999"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        score(str(tmp_path / "empty"), ["simlex999"])


def test_a_failing_cell_is_named_and_the_others_are_kept(tiny_bert_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("BRAINALIGN_OFFLINE")
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    target = cache_path(dataset_registry.REGISTRY["wordsim353"].files["pairs"])
    target.unlink()  # wordsim353 is now missing offline
    out = tmp_path / "out"
    with pytest.raises(BenchmarkRunError, match=r"wordsim353@1: benchmark wordsim353@1 needs"):
        score(str(tiny_bert_dir), ["simlex999", "wordsim353"], layers=[1], out=out)
    assert Cell(str(tiny_bert_dir), "simlex999@1").marker_path(out).is_file()


def test_preflight_reads_configs_but_hashes_no_weights(tiny_bert_dir, monkeypatch):
    from brainalign.encoders import models
    from brainalign.scoring import make_settings, preflight, resolve_benchmarks

    def no_hashing(directory):
        raise AssertionError("preflight must not hash weight files")

    monkeypatch.setattr(models, "weights_sha256", no_hashing)
    runs = make_settings(str(tiny_bert_dir), layers=[0, 2])
    preflight(runs, resolve_benchmarks("simlex999"))
    with pytest.raises(SettingsError, match="layer 3 is out of range"):
        preflight(make_settings(str(tiny_bert_dir), layers=[3]), resolve_benchmarks("simlex999"))


def test_a_task_instruction_reaches_the_text_encoder_and_labels_the_rows(tiny_bert_dir, tmp_path):
    """The instruction is read before every word (the scores equal the instructed
    features' cosines), each row carries it, a run folder of another instruction is
    refused, and a benchmark whose features are not read as text refuses it."""
    from brainalign.benchmarks.word_similarity import encode_isolated_words

    model, out = str(tiny_bert_dir), tmp_path / "out"
    task = "How similar are these words?"
    rows = score(model, "simlex999", layers=[2], instruction=task, untrained_twin=False, out=out)
    assert (rows["instruction"] == task).all() and (rows["instruction_format"] == "plain").all()
    plain = score(model, "simlex999", layers=[2], untrained_twin=False)
    assert "instruction" not in plain.columns
    model_rows = rows[rows["control"] == ""]
    assert not np.isclose(
        model_rows["score"].iloc[0], plain[plain["control"] == ""]["score"].iloc[0]
    )
    pairs = pd.read_csv(
        WORD_SIMILARITY / FILES["simlex999"], sep=r"\s+", header=None, names=["a", "b", "r"]
    )
    words = sorted(set(pairs["a"]) | set(pairs["b"]))
    features = encode_isolated_words(model, words, layers=[2], instruction=task)["2"]
    vectors = dict(zip(words, np.asarray(features, dtype=np.float64), strict=True))
    cosine = [
        vectors[a] @ vectors[b] / np.linalg.norm(vectors[a]) / np.linalg.norm(vectors[b])
        for a, b in zip(pairs["a"], pairs["b"], strict=True)
    ]
    expected = pd.Series(cosine).corr(pairs["r"], method="spearman")
    np.testing.assert_allclose(model_rows["score"].iloc[0], expected, atol=1e-6)
    with pytest.raises(RunFolderError, match="instruction"):
        score(model, "simlex999", layers=[2], instruction="Other.", untrained_twin=False, out=out)
    with pytest.raises(SettingsError, match="does not use --instruction"):
        score(model, "kriegeskorte2008-hit-rsa", instruction=task)
    with pytest.raises(SettingsError, match="--instruction-format.*applies with an instruction"):
        score(model, "simlex999", instruction_format="chat")
