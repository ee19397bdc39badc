"""Sweeps: config validation, local and Ray executors, resume after a kill, compare.

Real benchmarks (simlex999, wordsim353 on the published files in tests/data, in an
isolated offline cache that subprocesses and Ray workers inherit through the environment)
scored by the tiny random-weight BERT and GPT-2 of tests/conftest.py. The reference
table is brainalign.score over the same models and benchmarks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import brainalign
from brainalign.cli import main
from brainalign.parallel import LocalExecutor, RayConnectionError
from brainalign.results import LEADERBOARD_COLUMNS
from brainalign.runs import RUN_FILE, Cell, RunFolderError
from brainalign.sweeps import (
    SweepConfigError,
    SweepError,
    compare,
    load_config,
    run_settings,
    sweep,
)
from tests.test_scoring import place_word_pairs

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ["simlex999", "wordsim353"]
LAYERS = [0, 2]


@pytest.fixture(autouse=True)
def _word_pairs(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_word_pairs()


@pytest.fixture
def models(tiny_bert_dir, tiny_gpt2_dir):
    return [str(tiny_bert_dir), str(tiny_gpt2_dir)]


@pytest.fixture
def reference(models, tmp_path_factory):
    """brainalign.score over the same cells (its own store)."""
    store = tmp_path_factory.mktemp("reference-store")
    return brainalign.score(models, BENCHMARKS, layers=LAYERS, batch_size=64, store=store)


def write_config(path: Path, models, out: Path, **extra) -> Path:
    lines = [
        "models:",
        *[f"  - {m}" for m in models],
        f"benchmarks: [{', '.join(BENCHMARKS)}]",
        f"layers: {LAYERS}",
        "batch_size: 64",
        "device: cpu",
        f"out: {out}",
    ]
    for key, value in extra.items():
        lines.append(f"{key}: {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def markers(out: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((out / "cells").glob("*.done.json"))}


# ----------------------------------------------------------------------- config errors


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(SweepConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message
    return message


def test_config_errors_name_file_line_and_key(tmp_path):
    message = _error(tmp_path, "models: [gpt2]\nbenchmarks: [simlex999]\nmodles: [bert]\n")
    assert "line 3" in message and "'modles'" in message and "did you mean 'models'" in message

    message = _error(tmp_path, "models: [gpt2]\nbenchmarks: [simlex999]\ndtype: float64\n")
    assert "line 3" in message and "'dtype'" in message and "float32, float16, bfloat16" in message

    message = _error(tmp_path, "models: [gpt2]\n\nbenchmarks:\n  - simlex99\n")
    assert "line 3" in message and "'benchmarks'" in message
    assert "did you mean simlex999" in message

    message = _error(tmp_path, "models: [gpt2]\nbenchmarks: [men3k]\nray:\n  adress: x:1\n")
    assert "line 4" in message and "'ray.adress'" in message and "'address'" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\nbatch_size: 0\n")
    assert "line 3" in message and "'batch_size'" in message and "> 0" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\nlayers: [1, -2]\n")
    assert "line 3" in message and "non-negative" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\nengine: dask\n")
    assert "line 3" in message and "local, ray" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\nmodels: [b]\n")
    assert "line 3" in message and "given twice (first on line 1)" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\nseed: 1.5\n")
    assert "line 3" in message and "'seed'" in message and "integer" in message

    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\noptions: [1]\n")
    assert "line 3" in message and "'options'" in message and "mapping" in message

    assert "'models': is required" in _error(tmp_path, "benchmarks: [men3k]\n")
    assert "mapping" in _error(tmp_path, "- a\n- b\n")
    assert "not valid YAML" in _error(tmp_path, "models: [a\n")


def test_config_values_and_relative_paths(tmp_path):
    path = tmp_path / "conf" / "sweep.yaml"
    path.parent.mkdir()
    path.write_text(
        "models: [a, b]\nbenchmarks: [simlex999@1]\nlayers: all\nout: results\n"
        "engine: ray\nray: {num_cpus: 2, timeout_s: 5}\n"
    )
    config = load_config(path)
    assert config.models == ("a", "b") and config.benchmarks == ("simlex999@1",)
    assert config.layers is None and config.out == path.parent / "results"
    assert config.store_dir == path.parent / "results" / "features"
    assert config.ray.num_cpus == 2 and config.ray.timeout_s == 5.0 and config.device == "auto"
    assert config.instruction is None and config.instruction_format == "plain"
    path.write_text(
        "models: [a]\nbenchmarks: [simlex999]\ninstruction: Rate the pair.\n"
        "instruction_format: chat\nout: results\n"
    )
    config = load_config(path)
    assert (config.instruction, config.instruction_format) == ("Rate the pair.", "chat")
    settings = run_settings(config)[0]
    assert settings.text_instruction() == {
        "instruction": "Rate the pair.",
        "instruction_format": "chat",
    }
    message = _error(tmp_path, "models: [a]\nbenchmarks: [men3k]\ninstruction_format: html\n")
    assert "line 3" in message and "plain, chat" in message


# ----------------------------------------------------------------------- local sweep


def test_local_sweep_writes_cells_gathers_and_resumes(models, reference, tmp_path, capsys):
    out = tmp_path / "out"
    config = write_config(tmp_path / "sweep.yaml", models, out)
    results = brainalign.sweep(config)
    pd.testing.assert_frame_equal(results, reference)
    controls = results[results["control"] != ""]  # each model keeps its own control rows
    assert controls.groupby("benchmark")["control_of"].apply(list).tolist() == [models, models]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), reference)
    assert len(pd.read_csv(out / "results.csv")) == len(reference)

    cells = [Cell(m, f"{b}@1") for m in models for b in BENCHMARKS]
    record = json.loads((out / RUN_FILE).read_text())
    assert record["versions"]["brainalign"] == brainalign.__version__
    assert record["settings"]["layers"] == LAYERS and record["settings"]["heads"] is False
    assert set(record["models"]) == set(models)
    assert record["invocations"][0]["engine"] == "local"
    for cell in cells:
        rows = pd.read_parquet(cell.table_path(out))
        assert set(rows["benchmark"]) == {cell.benchmark}
        marker = json.loads(cell.marker_path(out).read_text())
        assert marker["model"] == cell.model and marker["benchmark"] == cell.benchmark
        assert marker["settings"] == record["settings"]
        assert marker["seconds"] > 0 and marker["n_rows"] == len(rows)
    first = json.loads(cells[0].marker_path(out).read_text())
    assert first["forward_passes"] > 0 and first["store_entries_written"] == 2
    # the BERT features of simlex999 and wordsim353 are different words: both computed
    assert json.loads(cells[1].marker_path(out).read_text())["forward_passes"] > 0

    # A rerun skips every cell (markers untouched) and gathers the same table.
    before = markers(out)
    logged = []
    again = sweep(config, log=logged.append)
    assert markers(out) == before
    assert len(logged) == 4 and all(line.startswith("skip ") for line in logged)
    pd.testing.assert_frame_equal(again, reference)

    # Other settings on the same out folder are refused rather than mixed.
    with pytest.raises(RunFolderError, match=r"layers: \[0, 2\] there, \[1\] now"):
        sweep({**_as_dict(config), "layers": [1]}, out=out)

    # compare: per benchmark x model the best layer by median score, with its controls.
    board = compare(out)
    assert len(board) == 4 and list(board.columns) == list(LEADERBOARD_COLUMNS)
    for row in board.itertuples():
        rows = reference[(reference["benchmark"] == row.benchmark)]
        own = rows[(rows["model"] == row.model) & (rows["weights"] == "pretrained")]
        own = own.set_index("layer")["score"]
        assert row.best_layer == own.idxmax() and row.median_score == own.max()
        twin = rows[(rows["model"] == row.model) & (rows["weights"] == "untrained")]["score"]
        assert row.untrained_score == twin.max()
        control = rows[rows["control_of"] == row.model]["score"].item()
        assert row.control == "random-word-vectors" and row.control_score == control
        assert np.isnan(row.median_ceiling) and np.isnan(row.normalized_score)
    assert board.groupby("benchmark")["rank"].apply(list).tolist() == [[1, 2], [1, 2]]

    capsys.readouterr()
    assert main(["sweep", str(config)]) == 0  # the CLI: every cell skipped, the leaderboard
    printed = capsys.readouterr().out
    assert printed.count("skip ") == 4 and "leaderboard (" in printed
    assert f"wrote {out / 'results.csv'}" in printed

    assert main(["compare", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "simlex999@1" in printed and "best_layer" in printed and models[0] in printed
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _as_dict(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_resume_after_killing_a_sweep_midway(models, reference, tmp_path):
    out = tmp_path / "out"
    config = write_config(tmp_path / "sweep.yaml", models, out)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "brainalign.cli", "sweep", str(config), "--quiet"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not markers(out) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    done_before = markers(out)
    assert len(done_before) == 1, stderr.decode()[-2000:]
    assert not (out / "results.parquet").exists()
    store = out / "features"
    entries_before = {p.name: p.stat().st_mtime_ns for p in store.iterdir() if p.is_dir()}

    logged = []
    results = sweep(config, log=logged.append)
    pd.testing.assert_frame_equal(results, reference)
    done_after = markers(out)
    assert len(done_after) == 4
    for name, mtime in done_before.items():
        assert done_after[name] == mtime  # the finished cell was not recomputed
    assert sum(line.startswith("skip ") for line in logged) == 1
    # The finished cell's features were not recomputed either: its store entries are
    # untouched, and the rerun wrote exactly the three other cells' missing entries.
    for name, mtime in entries_before.items():
        if not name.startswith("."):
            assert (store / name).stat().st_mtime_ns == mtime
    rerun = [
        json.loads(p.read_text())
        for p in (out / "cells").glob("*.done.json")
        if p.name not in done_before
    ]
    assert sum(m["store_entries_written"] for m in rerun) == 8 - len(
        [n for n in entries_before if not n.startswith(".")]
    )


# ----------------------------------------------------------------------- Ray


@pytest.fixture
def ray_module():
    ray = pytest.importorskip("ray")
    yield ray
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
def test_ray_sweep_equals_local_and_resumes(ray_module, models, reference, tmp_path):
    out = tmp_path / "out"
    # The first model's cells finished earlier (locally): the Ray sweep resumes from there.
    sweep(write_config(tmp_path / "first.yaml", models[:1], out))
    before = markers(out)
    assert len(before) == 2
    config = write_config(tmp_path / "sweep.yaml", models, out, engine="ray", ray={"num_cpus": 2})
    logged = []
    results = sweep(config, log=logged.append)
    assert not ray_module.is_initialized()  # the local Ray it started is shut down
    pd.testing.assert_frame_equal(results, reference)
    after = markers(out)
    assert len(after) == 4 and all(after[name] == mtime for name, mtime in before.items())
    assert sum(line.startswith("skip ") for line in logged) == 2
    on_ray = [json.loads((out / "cells" / n).read_text()) for n in after if n not in before]
    assert {c["model"] for c in on_ray} == {models[1]}
    record = json.loads((out / RUN_FILE).read_text())
    assert [i["engine"] for i in record["invocations"]] == ["local", "ray"]
    assert all(c["forward_passes"] > 0 for c in on_ray)
    assert len({c["pid"] for c in on_ray}) == 2  # two workers, one cell each
    assert all(c["pid"] != os.getpid() for c in on_ray)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ray_address_that_does_not_answer_fails_fast(
    ray_module, models, tmp_path, capsys, monkeypatch
):
    port = _closed_port()
    config = write_config(
        tmp_path / "sweep.yaml",
        models[:1],
        tmp_path / "out",
        engine="ray",
        ray={"address": f"127.0.0.1:{port}", "timeout_s": 5},
    )
    import brainalign.parallel

    waits = []
    connect = brainalign.parallel.socket.create_connection

    def recorded(address, timeout):
        waits.append(timeout)
        return connect(address, timeout=timeout)

    monkeypatch.setattr(brainalign.parallel.socket, "create_connection", recorded)
    message = f"127.0.0.1:{port}' does not answer .*waited up to 5 s"
    with pytest.raises(RayConnectionError, match=message):
        sweep(config)
    assert waits == [5]  # the configured bound reaches the connection, before ray.init
    assert not ray_module.is_initialized()

    code = main(["sweep", str(config), "--address", f"ray://127.0.0.1:{port}", "--quiet"])
    assert code == 2
    assert "does not answer" in capsys.readouterr().err
    assert not list((tmp_path / "out" / "cells").glob("*.done.json"))


def test_local_executor_reports_failures_per_task():
    def flaky(x):
        if x == 2:
            raise ValueError("two")
        return x * 10

    outcomes = dict(LocalExecutor().map_unordered(flaky, [1, 2, 3]))
    assert [outcomes[i].value for i in (0, 2)] == [10, 30]
    assert outcomes[1].error == "ValueError: two" and "Traceback" in outcomes[1].details


def test_failed_cells_are_named_and_finished_ones_kept(tiny_bert_dir, tmp_path):
    """men3k's file is not in the offline cache: its cell fails, the other is kept."""
    out = tmp_path / "out"
    config = {"models": [str(tiny_bert_dir)], "benchmarks": ["wordsim353", "men3k"],
              "layers": [1], "device": "cpu"}  # fmt: skip
    with pytest.raises(SweepError, match="1 of 2 cells failed") as error:
        sweep(config, out=out)
    assert "on men3k@1: MissingBenchmarkDataError" in str(error.value)
    assert len(markers(out)) == 1 and not (out / "results.parquet").exists()


def test_settings_a_benchmark_would_not_use_are_config_errors(tiny_bert_dir, tmp_path):
    config = {"models": [str(tiny_bert_dir)], "benchmarks": ["simlex999", "futrell2018-surprisal"],
              "layers": [1]}  # fmt: skip
    with pytest.raises(SweepConfigError, match="futrell2018-surprisal@2 does not use --layers"):
        sweep(config, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_compare_leaves_head_rows_out_of_the_best_layer(tmp_path):
    from brainalign.results import make_results, write_results_parquet

    rows = [
        {"model": "m", "weights": "pretrained", "control": "", "control_of": "",
         "layer": layer, "head": head, "score": score}
        for layer, head, score in [(0, None, 0.4), (1, None, 0.5), (1, 0, 0.1), (1, 1, 0.0)]
    ] + [{"model": "", "weights": "", "control": "position", "control_of": "m", "layer": None,
          "head": None, "score": 0.3}]  # fmt: skip
    table = pd.DataFrame(rows).assign(
        dataset="d", subject="all", unit="r", metric="pearson_r", ceiling=0.8, benchmark="b@1"
    )
    table["head"] = table["head"].astype("Int64")
    write_results_parquet(make_results(table), tmp_path / "results.parquet")
    board = compare(tmp_path)
    assert board[["model", "best_layer", "median_score"]].values.tolist() == [["m", 1, 0.5]]
    assert board.loc[0, "normalized_score"] == pytest.approx(0.5 / 0.8)
    assert board.loc[0, "control"] == "position" and board.loc[0, "control_score"] == 0.3
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compare(tmp_path / "nowhere")
