"""The ``brainalign`` command, end to end on alice2016 with a tiny random-weight model."""

import subprocess
import sys

import pandas as pd
import pytest

from brainalign.cli import main
from brainalign.results import RESULT_COLUMNS


def test_help_is_fast_and_does_not_import_torch():
    code = (
        "import sys; from brainalign.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_score_writes_tidy_results_and_png(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "score",
            "--model",
            str(tiny_bert_dir),
            "--dataset",
            "alice2016",
            "--layers",
            "0,2",
            "--out",
            str(out),
            "--quiet",
            "--context-words",
            "8",
        ]
    )
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert tuple(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    models = set(results["model"])
    assert models == {
        str(tiny_bert_dir),
        f"{tiny_bert_dir}@untrained",
        "nuisance:word_rate+sound_power",
        "control:position",
    }
    model_rows = results[results["model"] == str(tiny_bert_dir)]
    assert sorted(model_rows["layer"].unique()) == [0, 2]
    assert len(model_rows) == 2 * 27 * 6
    assert results["subject"].nunique() == 27 and "s33" not in set(results["subject"])
    assert results["score"].between(-1, 1).all()
    assert results["ceiling"].notna().all()
    assert (out / "score_by_layer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    parquet = pd.read_parquet(out / "results.parquet")
    assert len(parquet) == len(pd.read_csv(out / "results.csv"))
    printed = capsys.readouterr().out
    assert "noise ceiling" in printed and "LIFG" in printed
    assert not list(out.glob(".*tmp"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "alice2017"], "unknown dataset 'alice2017'; available: alice2016"),
        (["--dataset", "simlex999"], "dataset 'simlex999' has no scoring study yet"),
        (["--layers", "0,9"], "out of range"),
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


def test_path_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["score", "--model", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "config.json" in capsys.readouterr().err


def test_unknown_hub_id_offline_names_what_exists(tmp_path, capsys):
    code = main(["score", "--model", "no-such-org/no-such-model", "--out", str(tmp_path / "o")])
    assert code == 2
    message = capsys.readouterr().err
    assert "no-such-org/no-such-model" in message
    assert "available offline here: sentence-transformers/all-MiniLM-L6-v2" in message


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["score", "--model", "whatever", "--out", str(blocker)])
    assert code == 2
    assert "not a directory" in capsys.readouterr().err


def test_bad_layers_argument(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--model", "m", "--layers", "first"])
    assert "comma-separated" in capsys.readouterr().err
