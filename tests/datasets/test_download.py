"""Tests of brainalign.datasets.download against a real HTTP server on the loopback.

The server (``http.server.ThreadingHTTPServer`` on 127.0.0.1, a free port) serves bytes
from memory, supports ``Range: bytes=N-`` and can be told to misbehave: close the
connection after N bytes, answer 500/404, ignore ``Range``, or serve other bytes than
the catalogue's. It records every request, so "no network access" is checked as "no
request reached the server". Nothing here touches the internet.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brainalign.datasets import download
from brainalign.datasets.download import (
    ArchiveError,
    ChecksumMismatchError,
    DownloadError,
    DownloadInterruptedError,
    NotInCacheError,
    RemoteFile,
    cache_path,
    default_cache_dir,
    fetch,
    fetch_archive,
    fetch_many,
    is_offline,
)

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "data" / "downloads.md"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload(n_bytes: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating bytes (so a wrong offset changes the checksum)."""
    out = bytearray()
    counter = 0
    while len(out) < n_bytes:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n_bytes])


@dataclass
class Behaviour:
    """What the server does; tests change it between fetches."""

    files: dict[str, bytes] = field(default_factory=dict)
    truncate_after: int | None = None  # close the connection after this many body bytes
    status: int | None = None  # answer this error status
    ignore_range: bool = False  # always send the whole file with 200
    wrong_bytes: bool = False  # serve other bytes of the same length
    send_length: bool = True  # send Content-Length
    requests: list[dict[str, str]] = field(default_factory=list)


def make_handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            behaviour.requests.append({"path": self.path, **dict(self.headers.items())})
            if behaviour.status is not None:
                self.send_error(behaviour.status)
                return
            body = behaviour.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if behaviour.wrong_bytes:
                body = bytes(reversed(body))
            start = self._range_start(len(body))
            if start is None:
                return
            chunk = body[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if behaviour.send_length:
                self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if behaviour.truncate_after is not None:
                chunk = chunk[: behaviour.truncate_after]
            self.wfile.write(chunk)
            self.wfile.flush()

        def _range_start(self, size: int) -> int | None:
            header = self.headers.get("Range")
            if header is None or behaviour.ignore_range:
                return 0
            match = re.fullmatch(r"bytes=(\d+)-", header)
            start = int(match.group(1))
            if start >= size:
                self.send_error(416)
                return None
            return start

    return Handler


@dataclass
class Server:
    behaviour: Behaviour
    base: str

    def add(self, name: str, data: bytes, **fields) -> RemoteFile:
        self.behaviour.files[f"/{name}"] = data
        return RemoteFile(url=f"{self.base}/{name}", sha256=sha256(data), filename=name, **fields)

    @property
    def requests(self) -> list[dict[str, str]]:
        return self.behaviour.requests


@pytest.fixture
def server():
    behaviour = Behaviour()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(behaviour))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield Server(behaviour, f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated_cache(isolated_cache):
    return isolated_cache


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".part"))


# (1) download, checksum, cache hit without requests -----------------------------------


def test_download_writes_verified_file_and_second_fetch_makes_no_request(server, tmp_path):
    data = payload(300_000)
    remote = server.add("a.bin", data, size=len(data))
    path = fetch(remote, progress=False)
    assert path == tmp_path / "cache" / "a.bin"
    assert path.read_bytes() == data
    assert sha256(path.read_bytes()) == remote.sha256
    assert len(server.requests) == 1
    assert "Range" not in server.requests[0]
    assert server.requests[0]["Accept-Encoding"] == "identity"
    record = json.loads((tmp_path / "cache" / "a.bin.verified").read_text())
    assert record == {
        "sha256": remote.sha256,
        "size": len(data),
        "mtime_ns": path.stat().st_mtime_ns,
    }
    assert leftovers(tmp_path) == []

    assert fetch(remote, progress=False) == path
    assert len(server.requests) == 1


def test_verified_record_avoids_rehashing_and_a_touched_file_is_hashed_again(server, monkeypatch):
    data = payload(5_000)
    remote = server.add("b.bin", data)
    path = fetch(remote, progress=False)
    calls = []
    original = download._hash_file
    monkeypatch.setattr(download, "_hash_file", lambda p, h=None: calls.append(p) or original(p, h))
    fetch(remote, progress=False)
    assert calls == []
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    fetch(remote, progress=False)
    assert calls == [path]
    assert len(server.requests) == 1


def test_file_placed_in_cache_without_record_is_hashed_once_and_never_downloaded(server):
    data = payload(2_000)
    remote = server.add("placed/c.bin", data)
    target = cache_path(remote)
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    assert fetch(remote, progress=False) == target
    assert target.with_name("c.bin.verified").exists()
    assert server.requests == []


def test_corrupt_cached_file_is_downloaded_again_when_online(server):
    data = payload(2_000)
    remote = server.add("d.bin", data)
    target = cache_path(remote)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(data))
    assert fetch(remote, progress=False).read_bytes() == data
    assert len(server.requests) == 1


def test_progress_bar_path_runs(server):
    data = payload(3_000)
    remote = server.add("e.bin", data)
    assert fetch(remote, progress=True).read_bytes() == data


def test_without_content_length_the_size_is_still_checked(server, tmp_path):
    data = payload(10_000)
    remote = server.add("nolen.bin", data)
    server.behaviour.send_length = False
    assert fetch(remote, progress=False).read_bytes() == data


# (2) checksum mismatch ----------------------------------------------------------------


def test_checksum_mismatch_leaves_nothing_and_names_both_hashes(server, tmp_path):
    data = payload(50_000)
    remote = server.add("f.bin", data)
    server.behaviour.wrong_bytes = True
    with pytest.raises(ChecksumMismatchError) as info:
        fetch(remote, progress=False)
    got = sha256(bytes(reversed(data)))
    message = str(info.value)
    assert remote.sha256 in message and got in message and remote.url in message
    assert (info.value.expected, info.value.got, info.value.url) == (remote.sha256, got, remote.url)
    cache = tmp_path / "cache"
    assert not (cache / "f.bin").exists()
    assert not (cache / "f.bin.part").exists()
    assert not (cache / "f.bin.verified").exists()
    # a later run does not take anything as complete: it downloads again
    server.behaviour.wrong_bytes = False
    assert fetch(remote, progress=False).read_bytes() == data
    assert len(server.requests) == 2


def test_announced_size_differing_from_the_catalogue_is_refused_before_transfer(server, tmp_path):
    data = payload(1_000)
    remote = server.add("g.bin", data, size=999)
    with pytest.raises(DownloadError, match=r"announces 1000 bytes .* expects 999"):
        fetch(remote, progress=False)
    assert not (tmp_path / "cache" / "g.bin").exists()
    assert leftovers(tmp_path) == []


# (3) interrupted transfer, then resume -------------------------------------------------


def test_interrupted_transfer_keeps_part_and_next_fetch_resumes_with_range(server, tmp_path):
    data = payload(200_000)
    remote = server.add("big.bin", data, size=len(data))
    cut = 70_001
    server.behaviour.truncate_after = cut
    with pytest.raises(DownloadInterruptedError, match="run again to resume") as info:
        fetch(remote, progress=False)
    assert remote.url in str(info.value)
    part = tmp_path / "cache" / "big.bin.part"
    assert part.read_bytes() == data[:cut]
    assert not (tmp_path / "cache" / "big.bin").exists()

    server.behaviour.truncate_after = None
    path = fetch(remote, progress=False)
    assert server.requests[-1]["Range"] == f"bytes={cut}-"
    assert path.read_bytes() == data
    assert not part.exists()
    assert len(server.requests) == 2


def test_interruption_without_announced_size_is_recognised_from_catalogue_size(server, tmp_path):
    data = payload(40_000)
    remote = server.add("h.bin", data, size=len(data))
    server.behaviour.send_length = False
    server.behaviour.truncate_after = 10_000
    with pytest.raises(DownloadInterruptedError, match="10000 of 40000 bytes"):
        fetch(remote, progress=False)
    server.behaviour.truncate_after = None
    server.behaviour.send_length = True
    assert fetch(remote, progress=False).read_bytes() == data
    assert server.requests[-1]["Range"] == "bytes=10000-"


def test_wrong_partial_file_is_restarted_from_scratch_once(server, tmp_path):
    data = payload(30_000)
    remote = server.add("i.bin", data)
    part = tmp_path / "cache" / "i.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1_000)  # not a prefix of the real file
    assert fetch(remote, progress=False).read_bytes() == data
    assert [r.get("Range") for r in server.requests] == ["bytes=1000-", None]


def test_partial_file_longer_than_the_file_gets_416_and_restarts(server, tmp_path):
    data = payload(3_000)
    remote = server.add("j.bin", data)
    part = tmp_path / "cache" / "j.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 5_000)
    assert fetch(remote, progress=False).read_bytes() == data
    assert [r.get("Range") for r in server.requests] == ["bytes=5000-", None]


def test_complete_part_left_before_rename_is_finished_without_network(server, tmp_path):
    data = payload(4_000)
    remote = server.add("k.bin", data, size=len(data))
    part = tmp_path / "cache" / "k.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    assert fetch(remote, progress=False).read_bytes() == data
    assert server.requests == []


# (4) server ignoring Range ------------------------------------------------------------


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    data = payload(120_000)
    remote = server.add("l.bin", data)
    server.behaviour.truncate_after = 50_000
    with pytest.raises(DownloadInterruptedError):
        fetch(remote, progress=False)
    server.behaviour.truncate_after = None
    server.behaviour.ignore_range = True
    path = fetch(remote, progress=False)
    assert server.requests[-1]["Range"] == "bytes=50000-"
    assert path.read_bytes() == data
    assert len(server.requests) == 2  # truncated and started over, not resumed-then-retried
    assert leftovers(tmp_path) == []


# (5) HTTP and connection errors -------------------------------------------------------


@pytest.mark.parametrize("status", [500, 404])
def test_http_error_is_reported_with_url_and_status(server, tmp_path, status):
    remote = server.add("m.bin", b"abc")
    server.behaviour.status = status
    with pytest.raises(DownloadError) as info:
        fetch(remote, progress=False)
    assert f"HTTP error {status}" in str(info.value)
    assert remote.url in str(info.value)
    assert not (tmp_path / "cache" / "m.bin").exists()
    assert leftovers(tmp_path) == []


def test_connection_error_names_url_reason_and_where_to_put_the_file(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = RemoteFile(url=f"http://127.0.0.1:{port}/n.bin", sha256="0" * 64, filename="n.bin")
    with pytest.raises(DownloadError, match="cannot download") as info:
        fetch(remote, progress=False)
    message = str(info.value)
    assert remote.url in message and "refused" in message.lower()
    assert str(tmp_path / "cache" / "n.bin") in message


# (6) offline mode ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_offline_missing_file_fails_at_once_naming_path_and_url(server, monkeypatch, how):
    remote = server.add("sub/o.bin", payload(100))
    kwargs = {"offline": True} if how == "argument" else {}
    if how == "environment":
        monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    with pytest.raises(NotInCacheError) as info:
        fetch(remote, progress=False, **kwargs)
    message = str(info.value)
    assert str(cache_path(remote)) in message
    assert remote.url in message and "sub/o.bin" in message
    assert ("offline=True" if how == "argument" else "BRAINALIGN_OFFLINE=1") in message
    assert isinstance(info.value, FileNotFoundError)
    assert server.requests == []


def test_offline_present_file_is_returned_without_requests(server, monkeypatch):
    data = payload(1_000)
    remote = server.add("p.bin", data)
    target = cache_path(remote)
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    assert fetch(remote) == target
    assert fetch(remote) == target  # second time from the verified record
    assert server.requests == []


def test_offline_corrupt_cached_file_is_an_error_not_a_download(server):
    remote = server.add("q.bin", payload(1_000))
    target = cache_path(remote)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"y" * 1_000)
    with pytest.raises(ChecksumMismatchError, match=remote.sha256):
        fetch(remote, offline=True)
    assert server.requests == []


def test_offline_argument_overrides_environment_and_hf_offline_is_ignored(server, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline() is False
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    assert is_offline() is True
    remote = server.add("r.bin", b"data")
    assert fetch(remote, offline=False, progress=False).read_bytes() == b"data"
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="BRAINALIGN_OFFLINE='maybe'"):
        is_offline()


def test_fetch_many_offline_lists_every_missing_file(server, monkeypatch):
    present = server.add("s1.bin", b"one")
    missing = [server.add("s2.bin", b"two"), server.add("s3.bin", b"three")]
    fetch(present, progress=False)
    count = len(server.requests)
    with pytest.raises(NotInCacheError) as info:
        fetch_many([present, *missing], offline=True)
    message = str(info.value)
    assert "2 file(s)" in message
    for remote in missing:
        assert remote.url in message and str(cache_path(remote)) in message
    assert "s1.bin:" not in message
    assert len(server.requests) == count


def test_fetch_many_downloads_in_order_and_rejects_duplicate_names(server):
    remotes = [server.add(f"t{i}.bin", payload(100 + i, seed=i)) for i in range(3)]
    paths = fetch_many(remotes, progress=False)
    assert [p.name for p in paths] == ["t0.bin", "t1.bin", "t2.bin"]
    assert [p.read_bytes() for p in paths] == [
        server.behaviour.files[f"/t{i}.bin"] for i in range(3)
    ]
    clash = RemoteFile(url=remotes[0].url + "?v2", sha256="1" * 64, filename="t0.bin")
    with pytest.raises(ValueError, match="share filename='t0.bin'"):
        fetch_many([remotes[0], clash])


# (7) cache location -------------------------------------------------------------------


def test_brainalign_data_moves_the_cache(server, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("BRAINALIGN_DATA", str(elsewhere))
    remote = server.add("u.bin", b"moved")
    assert fetch(remote, progress=False) == elsewhere / "u.bin"
    assert not (tmp_path / "cache").exists()
    explicit = tmp_path / "explicit"
    assert fetch(remote, cache_dir=explicit, progress=False) == explicit / "u.bin"


def test_default_cache_dir_respects_xdg_and_home(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAINALIGN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "brainalign"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "brainalign"


def test_concurrent_fetches_download_once(server):
    data = payload(400_000)
    remote = server.add("v.bin", data)
    results, errors = [], []

    def worker():
        try:
            results.append(fetch(remote, progress=False))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(set(results)) == 1 and results[0].read_bytes() == data
    if os.name == "posix":
        assert len(server.requests) == 1


# (8) archives -------------------------------------------------------------------------

MEMBERS = {"ds/README": b"readme\n", "ds/sub-01/data.tsv": b"a\tb\n1\t2\n"}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "build"), [("set.tar.gz", tar_gz), ("set.zip", zip_bytes)])
def test_archive_is_extracted_and_later_calls_make_no_request(server, tmp_path, name, build):
    remote = server.add(name, build(MEMBERS))
    folder = fetch_archive(remote, progress=False)
    assert folder == tmp_path / "cache" / "set"
    for member, content in MEMBERS.items():
        assert (folder / member).read_bytes() == content
    marker = json.loads((folder / ".brainalign-extracted.json").read_text())
    assert marker["sha256"] == remote.sha256
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".set")] == []
    assert len(server.requests) == 1
    (tmp_path / "cache" / name).unlink()  # the archive may be deleted to save space
    (tmp_path / "cache" / f"{name}.verified").unlink()
    assert fetch_archive(remote, offline=True) == folder
    assert len(server.requests) == 1


def test_failed_extraction_leaves_no_folder(server, tmp_path):
    remote = server.add("broken.tar.gz", b"not a tar archive at all")
    with pytest.raises(ArchiveError, match="cannot unpack archive"):
        fetch_archive(remote, progress=False)
    cache = tmp_path / "cache"
    assert sorted(
        p.name for p in cache.iterdir() if "broken" in p.name and "lock" not in p.name
    ) == [
        "broken.tar.gz",
        "broken.tar.gz.verified",
    ]


def test_unsafe_archive_members_are_refused(server, tmp_path):
    remote = server.add("evil.tar.gz", tar_gz({"../outside.txt": b"x"}))
    with pytest.raises(ArchiveError, match="outside the destination"):
        fetch_archive(remote, progress=False)
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "cache" / "evil").exists()
    zipped = server.add("evil.zip", zip_bytes({"/abs.txt": b"x"}))
    with pytest.raises(ArchiveError, match="outside the destination"):
        fetch_archive(zipped, progress=False, extract_dir="evil-zip")


def test_new_archive_version_replaces_the_extracted_folder(server, tmp_path):
    old = server.add("w.zip", zip_bytes({"old.txt": b"1"}))
    folder = fetch_archive(old, progress=False)
    new = server.add("w.zip", zip_bytes({"new.txt": b"2"}))
    assert fetch_archive(new, progress=False) == folder
    assert sorted(p.name for p in folder.iterdir()) == [".brainalign-extracted.json", "new.txt"]
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".w")] == []


# argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"url": "ftp://x/y"}, "not an http"),
        ({"sha256": "abc"}, "not 64 hex digits"),
        ({"filename": "../x"}, "relative path inside the cache"),
        ({"filename": "/abs"}, "relative path inside the cache"),
        ({"filename": "x.part"}, "suffix the cache uses"),
        ({"size": -1}, "non-negative"),
    ],
)
def test_remote_file_rejects_bad_fields(fields, match):
    arguments = {"url": "https://example.org/x", "sha256": "A" * 64, "filename": "x"}
    with pytest.raises(ValueError, match=match):
        RemoteFile(**{**arguments, **fields})


def test_remote_file_normalises_sha_and_unknown_archive_type_is_refused():
    remote = RemoteFile(url="https://example.org/x", sha256="AB" * 32, filename="x.rar")
    assert remote.sha256 == "ab" * 32
    with pytest.raises(ArchiveError, match="archive type"):
        fetch_archive(remote)


# the docs page ------------------------------------------------------------------------


def test_docs_page_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOCS_PAGE.read_text(encoding="utf-8"), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(DOCS_PAGE), "exec"), {})
