"""``brainalign benchmarks`` and ``brainalign score --benchmark`` on real data subsets."""

import pandas as pd
import pytest

from brainalign.cli import main
from brainalign.encoders.store import FeatureStore
from brainalign.results import read_results
from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache


@pytest.fixture
def word_pairs_offline(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    for name, file in (("simlex999", "EN-SIMLEX-999.txt"), ("men3k", "EN-MEN-TR-3k.txt")):
        place_in_cache(monkeypatch, name, "pairs", TESTS_DATA / "behaviour" / file, subset=True)


def test_benchmarks_list_and_info(capsys):
    assert main(["benchmarks", "list"]) == 0
    listed = capsys.readouterr().out
    assert "simlex999@1" in listed and "alice2016-encoding@2" in listed
    assert main(["benchmarks", "info", "men3k"]) == 0
    described = capsys.readouterr().out
    for field in ("dataset: men3k", "metric: spearman_r", "controls:", "citation:", "seeded:"):
        assert field in described


def test_unknown_benchmark_lists_close_matches(capsys):
    assert main(["benchmarks", "info", "simlex"]) == 2
    assert "did you mean simlex999?" in capsys.readouterr().err


def test_score_two_benchmarks_into_one_tidy_table(
    word_pairs_offline, tiny_bert_dir, tmp_path, capsys
):
    out, store = tmp_path / "run", tmp_path / "store"
    args = ["score", "--model", str(tiny_bert_dir), "--benchmark", "simlex999", "men3k"]
    args += ["--out", str(out), "--store", str(store), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "simlex999@1" in printed and "men3k@1" in printed
    results = read_results(out)
    assert set(results["benchmark"]) == {"simlex999@1", "men3k@1"}
    assert set(results["model"]) == {str(tiny_bert_dir), ""}
    assert set(results["weights"]) == {"pretrained", "untrained", ""}
    assert set(results["control"]) == {"", "random-word-vectors"}  # content-free control
    assert not FeatureStore(store).entries().empty  # features kept for the next run
    # a second run with the same settings reuses every cell
    assert main(args) == 0
    assert "time:" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_results(out), results)


def test_score_with_missing_data_says_how_to_fetch(
    isolated_cache, monkeypatch, tiny_bert_dir, tmp_path, capsys
):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    args = ["score", "--model", str(tiny_bert_dir), "--benchmark", "wordsim353"]
    assert main([*args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "brainalign datasets fetch wordsim353" in capsys.readouterr().err


def test_several_models_in_one_table_with_parquet(
    word_pairs_offline, tiny_bert_dir, tiny_gpt2_dir, tmp_path, capsys
):
    out = tmp_path / "run"
    args = ["score", str(tiny_bert_dir), str(tiny_gpt2_dir), "--benchmark", "simlex999"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    csv = pd.read_csv(out / "results.csv")
    parquet = pd.read_parquet(out / "results.parquet")
    assert {str(tiny_bert_dir), str(tiny_gpt2_dir)} <= set(parquet["model"])
    assert len(parquet) == len(csv)
    assert str(parquet["layer"].dtype) == "Int64"  # parquet keeps the nullable layer
    # each model keeps the control computed for it (their widths may differ)
    controls = parquet[parquet["control"] != ""]
    assert sorted(controls["control_of"]) == sorted([str(tiny_bert_dir), str(tiny_gpt2_dir)])


def test_score_without_a_model_is_a_clear_error(capsys):
    assert main(["score", "--benchmark", "simlex999"]) == 2
    assert "score needs a model" in capsys.readouterr().err


def test_the_printed_table_shows_the_ceiling_where_one_exists(
    word_pairs_offline, tiny_bert_dir, tmp_path, capsys, monkeypatch
):
    norms = TESTS_DATA / "behaviour" / "GlasgowNorms_subset.csv"
    place_in_cache(monkeypatch, "glasgow-norms", "norms", norms, subset=True)
    args = ["score", str(tiny_bert_dir), "--benchmark", "glasgow-norms", "simlex999"]
    assert main([*args, "--layers", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    norms_part, simlex_part = printed.split("simlex999@1: spearman_r")
    assert "noise ceiling: median over the units whose ceiling is usable" in norms_part
    ceiling_line = next(
        line for line in norms_part.splitlines() if line.startswith("noise ceiling ")
    )
    results = read_results(tmp_path / "run")
    glasgow = results[(results["benchmark"] == "glasgow-norms@1") & (results["control"] == "")]
    valence = glasgow.loc[glasgow["unit"] == "valence", "ceiling"].iloc[0]
    assert f"{valence:.3f}" in ceiling_line
    assert "(no noise ceiling" in simlex_part
