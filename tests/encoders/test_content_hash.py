"""content_sha256: an input file is hashed once per process, again when it changes."""

from __future__ import annotations

import hashlib
import os

from brainalign.encoders import common


def test_a_file_is_hashed_once_and_again_after_an_edit(tmp_path, monkeypatch):
    calls = []
    original = common.file_sha256

    def counting(path):
        calls.append(path)
        return original(path)

    monkeypatch.setattr(common, "file_sha256", counting)
    path = tmp_path / "story.wav"
    path.write_bytes(b"first")
    first = common.content_sha256(path)
    assert first == hashlib.sha256(b"first").hexdigest()
    assert common.content_sha256(tmp_path / "." / "story.wav") == first  # same file
    assert len(calls) == 1
    path.write_bytes(b"second, longer")
    assert common.content_sha256(path) == hashlib.sha256(b"second, longer").hexdigest()
    stat = path.stat()
    path.write_bytes(b"other, longer!")  # same size: the modification time tells
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert common.content_sha256(path) == hashlib.sha256(b"other, longer!").hexdigest()
    assert len(calls) == 3
