"""Studies through the command line, score() and sweeps: the same path as benchmarks.

The study is a word-pair file in the published SimLex-999 format (the first 120 pairs),
scored by the tiny random-weight BERT of tests/conftest.py; the registered simlex999
benchmark reads the whole published file from an isolated offline cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import brainalign
from brainalign.benchmarks.study import Study
from brainalign.cli import main
from brainalign.results import RESULT_COLUMNS, validate_results
from brainalign.sweeps import SweepConfigError, load_config, sweep
from tests.test_scoring import place_word_pairs

ROOT = Path(__file__).resolve().parents[1]
SIMLEX = ROOT / "tests" / "data" / "word_similarity" / "EN-SIMLEX-999.txt"
WORDSIM = ROOT / "tests" / "data" / "word_similarity" / "EN-WS-353-ALL.txt"


@pytest.fixture(autouse=True)
def _word_pairs(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_word_pairs()


def write_study(folder: Path, name: str = "my-pairs", source: Path = SIMLEX, n: int = 120) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = source.read_text().splitlines(keepends=True)[:n]
    (folder / f"{name}.txt").write_text("".join(lines))
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nratings: {name}.txt\ndescription: my own ratings\n")
    return path


def test_score_study_and_score_benchmark_give_rows_of_one_schema(tiny_bert_dir, tmp_path, capsys):
    study = write_study(tmp_path / "study")
    model = str(tiny_bert_dir)
    code = main(
        [
            "score",
            model,
            "--study",
            str(study),
            "--layers",
            "0,2",
            "--out",
            str(tmp_path / "a"),
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "my-pairs@1" in printed
    code = main(
        [
            "score",
            model,
            "--benchmark",
            "simlex999",
            "--layers",
            "0,2",
            "--out",
            str(tmp_path / "b"),
            "--quiet",
        ]
    )
    assert code == 0
    ours = pd.read_parquet(tmp_path / "a" / "results.parquet")
    theirs = pd.read_parquet(tmp_path / "b" / "results.parquet")
    validate_results(ours)
    assert list(ours.columns) == list(theirs.columns)
    assert list(ours.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    assert (ours.dtypes == theirs.dtypes).all()
    assert set(ours["benchmark"]) == {"my-pairs@1"} and set(ours["dataset"]) == {"my-pairs"}
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["cells"][0]["digest"] == Study.from_yaml(study).digest


def test_score_takes_studies_next_to_benchmarks_and_refuses_clashes(tiny_bert_dir, tmp_path):
    study = Study.from_yaml(write_study(tmp_path / "study"))
    results = brainalign.score(str(tiny_bert_dir), "wordsim353", study=study, layers=[2])
    assert set(results["benchmark"]) == {"wordsim353@1", "my-pairs@1"}
    with pytest.raises(ValueError, match="share the name my-pairs@1"):
        brainalign.score(str(tiny_bert_dir), study=[study, study])
    with pytest.raises(ValueError, match="at least one benchmark or study"):
        brainalign.score(str(tiny_bert_dir))


def test_a_changed_study_is_recomputed_in_the_same_run_folder(tiny_bert_dir, tmp_path):
    path = write_study(tmp_path / "study", n=60)
    out = tmp_path / "out"
    first = brainalign.score(str(tiny_bert_dir), study=path, layers=[2], out=out)
    again = brainalign.score(str(tiny_bert_dir), study=path, layers=[2], out=out)
    pd.testing.assert_frame_equal(first, again)
    write_study(tmp_path / "study", n=90)  # the user's file changed under the same name
    changed = brainalign.score(str(tiny_bert_dir), study=path, layers=[2], out=out)
    assert changed["n_pairs"].unique().tolist() == [90]
    gathered = pd.read_parquet(out / "results.parquet")
    assert gathered["n_pairs"].unique().tolist() == [90]


def test_cli_study_errors_are_clear(tiny_bert_dir, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: mine\nratngs: pairs.txt\n")
    assert (
        main(["score", str(tiny_bert_dir), "--study", str(bad), "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "did you mean 'ratings'" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- sweeps


def write_sweep(path: Path, model: str, studies: list[Path], out: Path) -> Path:
    lines = [f"models: [{model}]", "benchmarks: [simlex999]", "studies:"]
    lines += [f"  - {s}" for s in studies]
    lines += ["layers: [0, 2]", "batch_size: 64", "device: cpu", f"out: {out}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def markers(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "cells").glob("*.done.json"))}


def test_a_sweep_with_studies_resumes_after_kill_9(tiny_bert_dir, tmp_path):
    studies = [
        write_study(tmp_path / "s1", "pairs-a"),
        write_study(tmp_path / "s2", "pairs-b", WORDSIM, n=100),
    ]
    out = tmp_path / "out"
    config = write_sweep(tmp_path / "sweep.yaml", str(tiny_bert_dir), studies, out)
    reference = brainalign.score(
        str(tiny_bert_dir), "simlex999", study=studies, layers=[0, 2], batch_size=64
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "brainalign.cli", "sweep", str(config)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not markers(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    done_before = markers(out)
    assert 1 <= len(done_before) < 3, stderr.decode()[-2000:]
    logged: list[str] = []
    results = sweep(config, log=logged.append)
    done_after = markers(out)
    assert len(done_after) == 3
    for name, mtime in done_before.items():
        assert done_after[name] == mtime  # finished cells were not recomputed
    assert sum(line.startswith("skip ") for line in logged) == len(done_before)
    key = ["benchmark", "weights", "control", "layer"]
    pd.testing.assert_frame_equal(
        results.sort_values(key).reset_index(drop=True)[reference.columns],
        reference.sort_values(key).reset_index(drop=True),
    )


def test_sweep_config_names_a_missing_or_broken_study(tiny_bert_dir, tmp_path):
    config = write_sweep(
        tmp_path / "sweep.yaml", str(tiny_bert_dir), [tmp_path / "no.yaml"], tmp_path / "out"
    )
    with pytest.raises(SweepConfigError, match="'studies'.*no.yaml does not exist"):
        load_config(config)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nratings: missing.txt\n")
    config = write_sweep(tmp_path / "sweep.yaml", str(tiny_bert_dir), [broken], tmp_path / "out")
    with pytest.raises(SweepConfigError, match="study .*broken.yaml.*missing.txt does not exist"):
        sweep(config)
