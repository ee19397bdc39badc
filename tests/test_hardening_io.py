"""Broken files and full disks give one clear error, never a raw traceback or a half file.

Full disks are real where the test runs as root (a 64 kB tmpfs is mounted for the test)
and simulated otherwise by making the low-level write raise ENOSPC. Model directories
are real copies of the tiny BERT of tests/conftest.py, broken by the test.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainalign._io import DiskFullError
from brainalign.datasets.download import DownloadError, RemoteFile, fetch
from brainalign.encoders.store import FeatureStore, FeatureStoreError
from brainalign.encoders.store import files as store_files
from brainalign.results.io import write_results_csv, write_results_parquet
from brainalign.runs import Cell, RunFolder
from tests.datasets.test_download import payload, server, sha256  # noqa: F401 (fixture)
from tests.test_scoring import place_word_pairs

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB tmpfs (root only; skipped where it cannot be mounted)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def big_table(n_rows: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"score": rng.random(n_rows), "unit": [f"u{i}" for i in range(n_rows)]})


# (1) full disks -------------------------------------------------------------------------


def write_entry(store: FeatureStore) -> None:
    with store.writer({"model": "m", "n": 1}, 100, {"a": ((1000,), "float32")}) as writer:
        writer.write("a", slice(None), np.ones((100, 1000), "float32"))


def test_store_writer_disk_full_simulated(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_files.os, "pwrite", full)
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(FeatureStoreError, match="no space left") as info:
        write_entry(store)
    assert isinstance(info.value, DiskFullError)
    assert "feature-store entry" in str(info.value) and "free there" in str(info.value)
    assert "\n" not in str(info.value)
    assert [p.name for p in store.root.iterdir() if not p.name.endswith(".lock")] == []


def test_store_writer_disk_full_real(small_disk):
    store = FeatureStore(small_disk / "store")
    with pytest.raises(FeatureStoreError, match="no space left") as info:
        write_entry(store)
    assert str(store.key_path({"model": "m", "n": 1})) in str(info.value)
    assert [p.name for p in store.root.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("writer", [write_results_csv, write_results_parquet])
def test_results_writer_disk_full_real(small_disk, writer):
    target = small_disk / "results.file"
    target.write_text("earlier\n")
    with pytest.raises(DiskFullError, match="no space left") as info:
        writer(big_table(), target)
    assert str(target) in str(info.value) and "nothing half-written was kept" in str(info.value)
    assert target.read_text() == "earlier\n"  # untouched
    assert leftovers(small_disk) == []


def test_results_writer_disk_full_simulated(tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(DiskFullError, match="results file"):
        write_results_csv(big_table(10), tmp_path / "results.csv")
    assert list(tmp_path.iterdir()) == []


def test_run_folder_cell_disk_full_leaves_no_cell(small_disk):
    folder = RunFolder(small_disk / "run", {"a": 1})
    cell = Cell("model", "bench@1")
    with pytest.raises(DiskFullError, match="no space left"):
        folder.save_cell(cell, {"rows": big_table(), "seconds": 1.0})
    assert not cell.table_path(folder.path).exists()
    assert not cell.marker_path(folder.path).exists()
    assert leftovers(small_disk) == []


def test_run_folder_marker_disk_full_simulated(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run", {"a": 1})
    cell = Cell("model", "bench@1")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(DiskFullError, match="run file"):
        folder.save_cell(cell, {"rows": big_table(10), "seconds": 1.0})
    assert not cell.table_path(folder.path).exists()  # no table without its marker
    assert leftovers(tmp_path) == []


def test_download_disk_full_keeps_part_for_resume(server, small_disk):  # noqa: F811
    data = payload(200_000)
    remote = server.add("big.bin", data, size=len(data))
    with pytest.raises(DownloadError) as info:
        fetch(remote, cache_dir=small_disk / "cache", progress=False)
    message = str(info.value)
    part = small_disk / "cache" / "big.bin.part"
    assert "no space left" in message and str(part) in message
    assert "kept there on purpose" in message and "resumes" in message
    assert part.exists() and data.startswith(part.read_bytes())
    assert not (small_disk / "cache" / "big.bin").exists()


def test_download_disk_full_simulated(server, tmp_path, monkeypatch):  # noqa: F811
    from brainalign.datasets import download

    data = payload(50_000)
    remote = RemoteFile(url=server.add("a.bin", data).url, sha256=sha256(data), filename="a.bin")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download.os, "fsync", full)
    with pytest.raises(DownloadError, match="partial file .* is kept there on purpose"):
        fetch(remote, cache_dir=tmp_path / "c", progress=False)
    assert (tmp_path / "c" / "a.bin.part").exists()


# (2) model files ------------------------------------------------------------------------


def broken_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_truncated_safetensors_is_a_clear_error(tiny_bert_dir, tmp_path):
    from brainalign.encoders.loading import load_model
    from brainalign.encoders.models import ModelLoadError

    directory = broken_copy(tiny_bert_dir, tmp_path / "model")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as info:
        load_model(directory, modality="text")
    message = str(info.value)
    assert str(directory) in message and "model.safetensors" in message
    assert "truncated or corrupt" in message and "download it again" in message


def test_pickle_refused_by_weights_only_is_a_clear_error(tiny_bert_dir, tmp_path):
    import collections

    import torch

    from brainalign.encoders.loading import load_model
    from brainalign.encoders.models import ModelLoadError

    directory = broken_copy(tiny_bert_dir, tmp_path / "model")
    (directory / "model.safetensors").unlink()
    torch.save({"weights": collections.OrderedDict(), "thing": Path("x")},
               directory / "pytorch_model.bin")  # fmt: skip
    with pytest.raises(ModelLoadError) as info:
        load_model(directory, modality="text")
    message = str(info.value)
    assert str(directory) in message and "pytorch_model.bin" in message
    assert "refused for safety (weights_only)" in message and "safetensors" in message


def test_model_directory_without_tokenizer_files_is_refused(tiny_bert_dir, tmp_path):
    from brainalign.encoders.loading import load_model
    from brainalign.encoders.models import ModelLoadError

    directory = tmp_path / "model"
    directory.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(tiny_bert_dir / name, directory / name)
    with pytest.raises(ModelLoadError) as info:
        load_model(directory, modality="text")
    message = str(info.value)
    assert str(directory) in message and "no tokenizer files" in message
    assert "tokenizer.json" in message and "vocab.txt" in message


# (3) YAML that is not UTF-8 -------------------------------------------------------------


def test_non_utf8_sweep_config_names_file_and_byte(tmp_path):
    from brainalign.sweeps import SweepConfigError, load_config

    path = tmp_path / "sweep.yaml"
    path.write_bytes(b"models: [gpt2]\nbenchmarks: [caf\xe9]\n")
    with pytest.raises(SweepConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "line 2" in message and "column 17 (byte 31)" in message
    assert "UTF-8" in message


def test_non_utf8_study_file_names_file_and_byte(tmp_path):
    from brainalign.benchmarks.study.config import load_study

    path = tmp_path / "study.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(Exception) as info:
        load_study(path)
    assert not isinstance(info.value, UnicodeDecodeError)
    assert str(path) in str(info.value) and "byte 6" in str(info.value)


def test_cli_non_utf8_sweep_config_is_one_line(tmp_path, capsys):
    from brainalign.cli import main

    path = tmp_path / "sweep.yaml"
    path.write_bytes(b"models: [caf\xe9]\n")
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(path) in err


# (4) a cell table cut short after its done-marker --------------------------------------


def test_truncated_cell_table_is_recomputed(tiny_bert_dir, tmp_path, isolated_cache, monkeypatch,
                                            caplog):  # fmt: skip
    from brainalign.scoring import score

    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_word_pairs()
    out = tmp_path / "out"
    first = score(str(tiny_bert_dir), ["simlex999"], layers=[0], out=out, batch_size=64)
    tables = sorted((out / "cells").glob("*.parquet"))
    assert len(tables) == 1
    tables[0].write_bytes(tables[0].read_bytes()[:100])
    with caplog.at_level("WARNING", logger="brainalign.progress"):
        again = score(str(tiny_bert_dir), ["simlex999"], layers=[0], out=out, batch_size=64)
    assert "computing the cell again" in caplog.text and str(tables[0]) in caplog.text
    pd.testing.assert_frame_equal(again, first)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), first)
    record = (out / "run.json").read_text()
    assert '"cells_computed": 1' in record
