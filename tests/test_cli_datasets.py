"""``brainalign datasets list | info NAME | fetch NAME``: output, errors, speed.

Downloads go to a loopback HTTP server (tests/datasets/catalogue_helpers.py); nothing
reaches the internet.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from brainalign.cli import main
from brainalign.datasets.catalogue import INFO_FIELDS, available, info
from brainalign.datasets.download import cache_path
from tests.datasets.catalogue_helpers import LoopbackServer, serve_entry_file


@pytest.fixture(autouse=True)
def _isolated_cache(isolated_cache):
    return isolated_cache


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["datasets", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv", [("list",), ()])
def test_list_prints_one_row_per_dataset(capsys, argv):
    code, out, _ = run(capsys, *argv)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["name", "modality", "access", "size"]
    assert len(lines) == 1 + len(available())
    for line, name in zip(lines[1:], available(), strict=True):
        entry = info(name)
        assert line.split()[:2] == [name, entry.modality]
        assert f" {entry.access} " in line and line.endswith(entry.size)


def test_list_row_values():
    rows = subprocess.run(
        [sys.executable, "-m", "brainalign.cli", "datasets", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert any(line.split()[:3] == ["alice2016", "fmri", "bundled"] for line in rows.splitlines())
    assert any(line.split()[:3] == ["nsd", "fmri", "local"] for line in rows.splitlines())


def test_list_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from brainalign.cli import main\n"
        "main(['datasets', 'list'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'xarray', 'scipy', 'mne', 'nilearn', "
        "'h5netcdf') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("name", available())
def test_info_prints_every_field_non_empty(capsys, name):
    code, out, _ = run(capsys, "info", name)
    assert code == 0
    fields = {}
    for line in out.splitlines():
        if not line.startswith(" ") and ": " in line:
            key, value = line.split(": ", 1)
            fields[key] = value
    assert fields["name"] == name
    for field in INFO_FIELDS:
        label = field.replace("_", " ")
        assert fields.get(label, "").strip(), (name, label)
    entry = info(name)
    for key, remote in entry.files.items():
        assert f"  {key}: {remote.url}" in out
        assert f"{remote.algorithm}:{remote.digest}" in out
        assert f"not cached at {cache_path(remote)}" in out


def test_unknown_name_is_a_one_line_error_listing_names(capsys):
    code, out, err = run(capsys, "info", "pereira2019")
    assert code == 2 and not out
    assert "unknown dataset 'pereira2019'" in err and "pereira2018" in err
    code, _, err = run(capsys, "fetch", "pereira2019")
    assert code == 2 and "available: alice2016" in err


def test_fetch_offline_names_missing_file_path_and_url(capsys, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    code, out, err = run(capsys, "fetch", "wordsim353")
    remote = info("wordsim353").files["pairs"]
    assert code == 2 and not out
    assert "EN-WS-353-ALL.txt" in err and remote.url in err and str(cache_path(remote)) in err


def test_fetch_downloads_from_the_published_path_and_prints_where(capsys, monkeypatch, tmp_path):
    server = LoopbackServer()
    try:
        serve_entry_file(monkeypatch, server, "tuckute2024", "language", b"netcdf bytes" * 10)
        code, out, _ = run(capsys, "fetch", "tuckute2024", "--quiet")
        target = cache_path(info("tuckute2024").files["language"])
        assert code == 0 and out.strip() == f"language: {target}"
        assert target.read_bytes() == b"netcdf bytes" * 10
        assert server.requests == [
            ("/assy_Tuckute2024_language.nc", "versionId=BB.DbwqLB4OhDR64duqojNdL0CRd4RmG")
        ]
        code, out, _ = run(capsys, "info", "tuckute2024")
        assert f"; cached at {target}" in out
        other = tmp_path / "elsewhere"
        code, out, _ = run(capsys, "fetch", "tuckute2024", "--cache-dir", str(other), "--quiet")
        assert code == 0 and str(other) in out and len(server.requests) == 2
    finally:
        server.close()


def test_fetch_unknown_file_key_and_local_path_dataset(capsys):
    code, _, err = run(capsys, "fetch", "pereira2018", "--files", "visual")
    assert code == 2 and "unknown file key(s) ['visual']" in err
    code, _, err = run(capsys, "fetch", "nsd")
    assert code == 2 and "not downloadable" in err and "naturalscenesdataset.org" in err


def test_fetch_bundled_prints_the_folder_and_fetches_its_extra_files(capsys, monkeypatch):
    from tests.datasets.catalogue_helpers import TESTS_DATA, place_in_cache

    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    images = TESTS_DATA / "kriegeskorte2008_92" / "kriegeskorte2008_stimuli_first12.mat"
    cached = place_in_cache(monkeypatch, "kriegeskorte2008-92", "images", images, subset=True)
    code, out, _ = run(capsys, "fetch", "kriegeskorte2008-92")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("folder: ")
    assert lines[0].endswith("kriegeskorte2008_92") and lines[1] == f"images: {cached}"


def test_fetch_bundled_extras_offline_names_the_missing_file(capsys, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    code, _, err = run(capsys, "fetch", "kriegeskorte2008-92")
    assert code == 2 and "Kriegeskorte_Neuron2008_supplementalData.mat" in err
