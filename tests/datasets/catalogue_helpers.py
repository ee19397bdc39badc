"""Shared helpers of tests/datasets/test_catalogue.py and tests/test_cli_datasets.py.

A loopback HTTP server (127.0.0.1, free port) serves bytes from memory and records every
request; catalogue entries are pointed at it with :func:`serve_entry_file` (URL and
checksum replaced through ``monkeypatch``, so the registry is restored after the test).
:func:`place_in_cache` puts a local file where the real download would land, replacing the
entry's checksum when the file is a subset of the published one. Nothing reaches the
internet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from brainalign.datasets import registry
from brainalign.datasets.download import RemoteFile, cache_path

ROOT = Path(__file__).resolve().parents[2]
TESTS_DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


class LoopbackServer:
    """Serve ``files`` (URL path -> bytes); ``requests`` lists (path, query) received."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                server.requests.append((parsed.path, parsed.query))
                data = server.files.get(parsed.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _replace_file(monkeypatch, name: str, key: str, remote: RemoteFile) -> RemoteFile:
    entry = registry.REGISTRY[name]
    files = {**entry.files, key: remote}
    monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(entry, files=files))
    return remote


def with_checksum(remote: RemoteFile, data: bytes, **fields) -> RemoteFile:
    """``remote`` with the checksum (same algorithm) and size of ``data``."""
    checksums = {"sha256": None, "sha1": None, "md5": None}
    checksums[remote.algorithm] = hashlib.new(remote.algorithm, data).hexdigest()
    return dataclasses.replace(remote, **checksums, size=len(data), **fields)


def serve_entry_file(
    monkeypatch, server: LoopbackServer, name: str, key: str, data: bytes
) -> RemoteFile:
    """Serve ``data`` as file ``key`` of entry ``name``: same path and query, same algorithm."""
    remote = registry.REGISTRY[name].files[key]
    parsed = urllib.parse.urlsplit(remote.url)
    server.files[parsed.path] = data
    url = server.base + parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return _replace_file(monkeypatch, name, key, with_checksum(remote, data, url=url))


def place_in_cache(monkeypatch, name: str, key: str, source: Path, *, subset: bool) -> Path:
    """Copy ``source`` to the cache path of file ``key`` of ``name``.

    With ``subset=True`` the entry's checksum is replaced by that of ``source`` (a subset
    of the published file); otherwise the published checksum must match.
    """
    remote = registry.REGISTRY[name].files[key]
    if subset:
        remote = _replace_file(monkeypatch, name, key, with_checksum(remote, source.read_bytes()))
    target = cache_path(remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def serve_new_entry_file(
    monkeypatch, server: LoopbackServer, name: str, key: str, data: bytes, *, like: str, path: str
) -> RemoteFile:
    """Add file ``key`` to entry ``name`` (a copy of file ``like`` with URL path ``path``).

    For a file in the published format that the entry does not list (e.g. a story whose
    responses and TextGrid are both needed), served with the checksum of ``data``.
    """
    template = registry.REGISTRY[name].files[like]
    server.files[path] = data
    remote = with_checksum(template, data, url=server.base + path, filename=path.lstrip("/"))
    return _replace_file(monkeypatch, name, key, remote)
