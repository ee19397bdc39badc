"""The ``brainalign score`` command end to end on alice2016, and what it refuses.

Scoring goes through the registered benchmarks only; every setting a benchmark would not
use is refused with its flag and the benchmark named, before any model loads.
"""

import subprocess
import sys

import pandas as pd
import pytest

from brainalign.benchmarks.registry import available, get
from brainalign.benchmarks.settings import RunSettings, SettingsError, check_settings
from brainalign.cli import main
from brainalign.results import RESULT_COLUMNS, validate_results


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys; from brainalign.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_score_alice2016_writes_results_ceilings_and_logs_each_stage(
    tiny_bert_dir, tmp_path, capsys
):
    out = tmp_path / "run"
    args = ["score", str(tiny_bert_dir), "--benchmark", "alice2016-encoding", "--layers", "0,2"]
    args += ["--out", str(out), "--context-words", "8", "--option", "subjects=[s18,s22,s23,s24]"]
    assert main(args) == 0
    results = pd.read_parquet(out / "results.parquet")
    validate_results(results)
    assert tuple(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    entities = set(zip(results["weights"], results["control"], strict=True))
    assert entities == {
        ("pretrained", ""), ("untrained", ""), ("", "position"), ("", "word-rate+sound-power")
    }  # fmt: skip
    pretrained = results[results["weights"] == "pretrained"]
    assert sorted(pretrained["layer"].unique()) == [0, 2]
    assert len(pretrained) == 2 * 4 * 6
    assert results["subject"].nunique() == 4 and results["score"].between(-1, 1).all()
    assert results["ceiling"].notna().all()
    assert set(results["ceiling_flag"]) <= {"ok", "below_floor"}
    assert (out / "run.json").is_file() and list((out / "figures").glob("*_by_layer.png"))
    captured = capsys.readouterr()
    assert "noise ceiling" in captured.out and "LIFG" in captured.out
    assert "alice2016-encoding@2: pearson_r, median over units per layer" in captured.out
    # no terminal here: every stage is a log line with the elapsed time
    for stage in ("(pretrained): features and scores", "(untrained): 2 layers, 24 units in"):
        assert stage in captured.err
    assert "s] alice2016-encoding@2 " in captured.err
    assert not list(out.glob(".*tmp"))


def test_quiet_logs_nothing(tiny_bert_dir, tmp_path, capsys):
    args = ["score", str(tiny_bert_dir), "--benchmark", "alice2016-encoding", "--layers", "1"]
    args += ["--out", str(tmp_path / "run"), "--option", "subjects=[s18,s22]", "--quiet"]
    args += ["--no-untrained"]
    assert main(args) == 0
    assert capsys.readouterr().err == ""


def test_no_untrained_gives_no_untrained_rows(tiny_bert_dir, tmp_path):
    out = tmp_path / "run"
    args = ["score", str(tiny_bert_dir), "--benchmark", "alice2016-encoding", "--layers", "1"]
    args += ["--out", str(out), "--option", "subjects=[s18,s22]", "--no-untrained", "--quiet"]
    assert main(args) == 0
    results = pd.read_parquet(out / "results.parquet")
    assert "untrained" not in set(results["weights"])
    assert set(results["weights"]) == {"pretrained", ""}


#: Each setting, its command-line flags, and whether a benchmark uses it.
SETTINGS = {
    "layers": (["--layers", "0"], lambda b: b.uses_layers),
    "heads": (["--heads"], lambda b: b.scores_heads),
    "context_words": (["--context-words", "4"], lambda b: b.uses_context_words),
    "seed": (["--seed", "1", "--no-untrained"], lambda b: bool(b.seeded)),
    "untrained_twin": (["--untrained", "--no-untrained"], lambda b: False),
    "options": (["--option", "bogus=1"], lambda b: False),
}
FLAG_NAMES = {
    "layers": "--layers",
    "heads": "--heads",
    "context_words": "--context-words",
    "seed": "--seed",
    "untrained_twin": "--no-untrained",
    "options": "bogus",
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("name", available())
def test_every_option_a_benchmark_does_not_use_is_refused(name, setting, tmp_path, capsys):
    flags, used = SETTINGS[setting]
    benchmark = get(name)
    if used(benchmark):
        settings = {"layers": [0], "heads": True, "context_words": 4}
        kwargs = {setting: settings[setting]} if setting in settings else {"seed": 1}
        if setting == "seed":
            kwargs["untrained_twin"] = False
        check_settings(benchmark, RunSettings("m", **kwargs))  # accepted
        return
    out = tmp_path / "run"
    code = main(["score", "m", "--benchmark", name, "--out", str(out), "--quiet", *flags])
    assert code == 2
    error = capsys.readouterr().err
    assert benchmark.versioned_id in error and FLAG_NAMES[setting] in error
    assert not out.exists()  # refused before anything was written


def test_settings_are_checked_once_when_built():
    with pytest.raises(SettingsError, match="batch_size=0"):
        RunSettings("m", batch_size=0)
    with pytest.raises(SettingsError, match="dtype='float8'"):
        RunSettings("m", dtype="float8")
    with pytest.raises(SettingsError, match="'@frozen'"):
        RunSettings("m@frozen")
    run = RunSettings("gpt2@untrained", layers=[6, 0, 6])
    assert (run.model, run.weights, run.layers, run.variants) == (
        "gpt2", "untrained", (0, 6), ("untrained",)
    )  # fmt: skip
    assert RunSettings("gpt2").variants == ("pretrained", "untrained")
    assert RunSettings("gpt2").fingerprint()["seed"] == 0


def test_model_path_and_layer_range_are_checked_before_torch_is_imported(tiny_bert_dir, tmp_path):
    for args, message in (
        (["--layers", "0,9"], "layer 9 is out of range"),
        (["--context-words", "4", "--model", "GPT2"], "is causal"),
    ):
        model = str(tiny_bert_dir) if "--model" not in args else None
        argv = ["score", *([model] if model else []), "--benchmark", "alice2016-encoding"]
        argv += ["--out", str(tmp_path / "o"), *args]
        if "--model" in args:
            (tmp_path / "gpt2").mkdir(exist_ok=True)
            (tmp_path / "gpt2" / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}')
            argv[argv.index("GPT2")] = str(tmp_path / "gpt2")
        code = (
            "import sys; from brainalign.cli import main; "
            f"c = main({argv!r}); print(c, 'torch' in sys.modules)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.stdout.strip().splitlines()[-1] == "2 False", done.stderr
        assert message in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmark", "alice2017"], "unknown benchmark 'alice2017'; did you mean"),
        ([], "score needs --benchmark"),
        (["--benchmark", "alice2016-encoding", "--layers", "0,9"], "out of range"),
        (
            [
                "--benchmark",
                "alice2016-encoding",
                "--option",
                "radius_mm=10",
                "--option",
                "radius_mm=6",
            ],
            "same option twice",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    tiny_bert_dir, tmp_path, capsys, args, message
):
    out = tmp_path / "run"
    code = main(["score", "--model", str(tiny_bert_dir), "--out", str(out), "--quiet", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (out / "results.csv").exists()


def test_the_dataset_option_is_gone(capsys):
    with pytest.raises(SystemExit):
        main(["score", "m", "--dataset", "alice2016"])
    assert "unrecognized arguments: --dataset" in capsys.readouterr().err


def test_path_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["score", str(tmp_path / "empty"), "--benchmark", "simlex999", "--out"]
    code = main([*argv, str(tmp_path / "o")])
    assert code == 2
    assert "config.json" in capsys.readouterr().err


def test_unknown_hub_id_offline_names_what_exists(tmp_path, capsys, isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    from tests.test_scoring import place_word_pairs

    place_word_pairs()
    argv = ["score", "no-such-org/no-such-model", "--benchmark", "simlex999", "--quiet"]
    code = main([*argv, "--out", str(tmp_path / "o")])
    assert code == 2
    message = capsys.readouterr().err
    assert "no-such-org/no-such-model" in message
    assert "available offline here: sentence-transformers/all-MiniLM-L6-v2" in message


def test_unwritable_output_directory(tiny_bert_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = ["score", str(tiny_bert_dir), "--benchmark", "simlex999", "--out", str(blocker)]
    assert main(argv) == 2
    assert "not a directory" in capsys.readouterr().err


def test_bad_layers_argument(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--model", "m", "--layers", "first"])
    assert "comma-separated" in capsys.readouterr().err
