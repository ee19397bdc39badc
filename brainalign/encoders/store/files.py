"""The files of a feature-store entry: writing them in chunks, reading them back.

:class:`EntryWriter` fills a temporary directory next to the entry with preallocated
``.npy`` files written row by row (``_RowFile``, positional writes), fsyncs and hashes
them, writes ``manifest.json`` last and renames the directory onto the entry under the
store's commit lock. ``_read_entry`` reads a complete entry's arrays back (memory-mapped)
as :class:`~brainalign.encoders.features.Features`. The JSON helpers write with fsync,
and ``_host`` / ``_pid_alive`` name the writer of a temporary directory so a dead one's
can be removed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainalign._io import DiskFullError, disk_full_message, is_disk_full
from brainalign.encoders.common import file_sha256
from brainalign.encoders.features import Features
from brainalign.encoders.store.errors import (
    EntryExistsError,
    FeatureStoreError,
    IncompleteEntryError,
)
from brainalign.encoders.store.keys import _canonical, _check_key, key_sha256

if TYPE_CHECKING:
    from brainalign.encoders.store.store import FeatureStore

__all__ = ["FORMAT_VERSION", "KEY_FILE", "MANIFEST", "EntryWriter", "StoreDiskFullError"]

#: Version of the entry layout; entries of another version count as incomplete.
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
KEY_FILE = "key.json"


class StoreDiskFullError(DiskFullError, FeatureStoreError):
    """The disk of a feature store filled up while an entry was written; the entry's
    temporary directory has been removed, so nothing half-written is left."""


def _fsync_path(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _jsonable(value: Any) -> Any:
    """Provenance as JSON: like the key, but anything else becomes its ``str``."""
    try:
        return _canonical(value, "provenance")
    except (TypeError, ValueError):
        pass
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", socket.gethostname()) or "host"


def _read_entry(path: Path, manifest: Mapping[str, Any], mmap: bool) -> Features:
    """Read a complete entry's arrays (memory-mapped when ``mmap``) as ``Features``."""
    mode = "r" if mmap else None
    arrays = {}
    for spec in manifest["arrays"]:
        array = np.load(path / spec["file"], mmap_mode=mode, allow_pickle=False)
        if list(array.shape) != spec["shape"] or array.dtype.str != spec["dtype"]:
            raise IncompleteEntryError(
                f"{str(path / spec['file'])!r} holds {array.dtype.str} {array.shape}; "
                f"the manifest says {spec['dtype']} {tuple(spec['shape'])}. The entry is "
                "damaged: remove(key) and compute it again"
            )
        arrays[spec["name"]] = array
    stimulus_ids = np.load(path / "stimulus_ids.npy", allow_pickle=False)
    onsets = None
    if manifest.get("has_onsets"):
        onsets = np.load(path / "onsets.npy", allow_pickle=False)
    return _to_features(arrays, stimulus_ids, onsets, manifest.get("provenance", {}))


def _to_features(
    arrays: dict[str, np.ndarray],
    stimulus_ids: np.ndarray,
    onsets: np.ndarray | None,
    provenance: dict[str, Any],
) -> Features:
    """The one place stored arrays become a :class:`Features` (any number of axes >= 2)."""
    return Features(layers=arrays, stimulus_ids=stimulus_ids, onsets=onsets, provenance=provenance)


class EntryWriter:
    """Writes one store entry in chunks; made by :meth:`FeatureStore.writer`.

    On entering, stale temporary directories of the key are removed and a new one is
    created next to the entry with every array preallocated (header by ``open_memmap``;
    rows are written with ``os.pwrite``, never through a map, so the writer's memory does
    not grow with the rows written). On a clean exit every row of every array must have
    been written; the arrays are fsynced and hashed, ``manifest.json`` is written last and
    the directory is renamed onto the entry. On an exception the temporary directory is
    removed and the exception propagates; if the process is killed it stays, is never
    read as an entry, and is removed by the next write of the key.

    Attributes
    ----------
    path : Path
        The final entry directory.
    provenance : dict
        Stored with the entry; may be updated until the block ends.
    """

    def __init__(
        self,
        store: FeatureStore,
        key: Mapping[str, Any],
        n_items: int,
        arrays: Mapping[str, tuple[tuple[int, ...], Any]],
        *,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._key = _check_key(key)
        self.path = store.key_path(self._key)
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
            raise ValueError(f"n_items={n_items!r}; it must be a positive integer")
        self.n_items = int(n_items)
        if not arrays:
            raise ValueError("arrays is empty; name at least one array with (shape_tail, dtype)")
        self._specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for name, spec in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"array name {name!r}; names must be non-empty strings")
            try:
                tail, dtype = spec
                tail = tuple(int(n) for n in tail)
                dtype = np.dtype(dtype)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"array {name!r}: spec {spec!r} is not (shape_tail, dtype), e.g. "
                    f"((768,), 'float32') ({error})"
                ) from error
            if not tail or any(n < 1 for n in tail):
                raise ValueError(
                    f"array {name!r}: shape after the items {tail} must have at least one "
                    "axis, all positive (use (1,) for one number per item)"
                )
            if dtype.kind not in "biufc":
                raise ValueError(
                    f"array {name!r}: dtype {dtype} is not numeric; the store holds bool, "
                    "integer, float and complex arrays"
                )
            self._specs[name] = (tail, dtype)
        self.stimulus_ids = self._rows("stimulus_ids", stimulus_ids)
        if self.stimulus_ids.dtype.kind == "O":
            self.stimulus_ids = self.stimulus_ids.astype(str)
        self.onsets = None
        if onsets is not None:
            self.onsets = self._rows("onsets", onsets).astype(np.float64)
        self.provenance: dict[str, Any] = dict(provenance or {})
        self._temp: Path | None = None
        self._files: dict[str, _RowFile] = {}
        self._written: dict[str, np.ndarray] = {}
        self._closed = False

    def _rows(self, name: str, values: Any) -> np.ndarray:
        if values is None:
            return np.arange(self.n_items)
        values = np.asarray(values)
        if values.shape != (self.n_items,):
            raise ValueError(
                f"{name} has shape {values.shape}; expected ({self.n_items},), one per item"
            )
        return values

    def __enter__(self) -> EntryWriter:
        store = self._store
        if store._inspect(self._key)[0] is not None:
            raise EntryExistsError(
                f"the entry {str(self.path)!r} is already complete; load it, or remove(key) "
                "before writing it again"
            )
        store._ensure_root()
        store._clean_stale(self.path)
        token = f"{os.getpid()}-{secrets.token_hex(4)}-{_host()}"
        self._temp = self.path.with_name(f".{self.path.name}.tmp-{token}")
        self._temp.mkdir()
        try:
            _write_json(self._temp / KEY_FILE, self._key)
            for index, (name, (tail, dtype)) in enumerate(self._specs.items()):
                self._files[name] = _RowFile(
                    self._temp / f"array-{index:03d}.npy", (self.n_items, *tail), dtype
                )
                self._written[name] = np.zeros(self.n_items, dtype=bool)
        except BaseException as error:
            self._discard()
            self._raise_if_disk_full(error)
            raise
        return self

    def _raise_if_disk_full(self, error: BaseException) -> None:
        """Raise :class:`StoreDiskFullError` from ``error`` when the disk is full."""
        if is_disk_full(error) and not isinstance(error, StoreDiskFullError):
            raise StoreDiskFullError(
                disk_full_message(
                    self.path,
                    "feature-store entry",
                    kept="the unfinished entry was removed, nothing half-written was kept",
                )
            ) from error

    def write(self, name: str, rows: slice | int | Sequence[int] | np.ndarray, values: Any) -> None:
        """Write ``values`` into rows ``rows`` of array ``name``.

        Parameters
        ----------
        name : str
            One of the array names given to the writer.
        rows : slice, int or array of int
            Item rows.
        values : array-like, shape (n_rows, *shape_tail)
            Cast to the array's dtype (same kind only: no float into an int array).
        """
        if self._temp is None or self._closed:
            raise RuntimeError("write() is only possible inside the writer's with-block")
        if name not in self._files:
            raise KeyError(f"no array {name!r} in this writer; arrays are {list(self._files)}")
        target = self._files[name]
        try:
            indices = np.arange(self.n_items)[rows]
        except (IndexError, TypeError, ValueError) as error:
            raise ValueError(
                f"array {name!r}: rows {rows!r} do not select rows of {self.n_items} items "
                f"({error})"
            ) from error
        values = np.asarray(values)
        expected = (*np.shape(indices), *target.shape[1:])
        if values.shape != expected:
            raise ValueError(
                f"array {name!r}, rows {rows!r}: values have shape {values.shape}; "
                f"expected {expected}"
            )
        if not np.can_cast(values.dtype, target.dtype, casting="same_kind"):
            raise ValueError(
                f"array {name!r}: cannot store {values.dtype} values in a {target.dtype} array "
                "without changing their kind; convert them first"
            )
        try:
            target.write_rows(np.atleast_1d(indices), values.reshape(-1, *target.shape[1:]))
        except OSError as error:
            if not is_disk_full(error):
                raise
            self._discard()  # the with-block's exit then has nothing left to remove
            self._raise_if_disk_full(error)
        self._written[name][indices] = True

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._finish()
        except BaseException as error:
            self._discard()
            self._raise_if_disk_full(error)
            raise

    def _finish(self) -> None:
        assert self._temp is not None
        for name, written in self._written.items():
            if not written.all():
                missing = np.flatnonzero(~written)
                raise ValueError(
                    f"array {name!r}: {missing.size} of {self.n_items} rows were never written "
                    f"(first: {missing[:5].tolist()}); nothing was stored"
                )
        files: dict[str, dict[str, Any]] = {}
        specs = []
        for index, (name, target) in enumerate(self._files.items()):
            specs.append(
                {
                    "name": name,
                    "file": f"array-{index:03d}.npy",
                    "shape": list(target.shape),
                    "dtype": target.dtype.str,
                }
            )
        self._close_files()
        np.save(self._temp / "stimulus_ids.npy", self.stimulus_ids, allow_pickle=False)
        if self.onsets is not None:
            np.save(self._temp / "onsets.npy", self.onsets, allow_pickle=False)
        names = [spec["file"] for spec in specs] + ["stimulus_ids.npy", KEY_FILE]
        names += ["onsets.npy"] if self.onsets is not None else []
        for name in names:
            file = self._temp / name
            _fsync_path(file)
            files[name] = {"bytes": file.stat().st_size, "sha256": file_sha256(file)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "key": self._key,
            "key_sha256": key_sha256(self._key),
            "n_items": self.n_items,
            "arrays": specs,
            "has_onsets": self.onsets is not None,
            "files": files,
            "provenance": _jsonable(self.provenance),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_json(self._temp / MANIFEST, manifest)
        _fsync_path(self._temp, directory=True)
        self._commit()

    def _commit(self) -> None:
        """Rename the temporary directory onto the entry, under the store's commit lock."""
        store, temp, path = self._store, self._temp, self.path
        assert temp is not None
        with store._commit_lock(path):
            if path.exists():
                if store._inspect(self._key)[0] is not None:  # another writer finished first
                    self._discard()
                    return
                trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
                os.replace(path, trash)  # an incomplete entry: move it out of the way
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(temp, path)
            self._temp = None
            self._closed = True
        _fsync_path(store.root, directory=True)

    def _close_files(self) -> None:
        for target in self._files.values():
            target.close()
        self._files.clear()

    def _discard(self) -> None:
        self._close_files()
        self._closed = True
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


class _RowFile:
    """A preallocated ``.npy`` file written row by row with positional writes.

    The header is written by ``numpy.lib.format.open_memmap`` (which also sizes the file,
    sparsely); rows are then written with ``os.pwrite`` at ``offset + row * row_bytes``,
    contiguous runs of rows in one call. Unlike writing through a memory map, the
    written pages are never mapped into the process, so they do not count in its
    resident memory: the page cache holds them and the kernel writes them back.

    Parameters
    ----------
    path : Path
    shape : tuple of int
        (n_items, *shape_tail).
    dtype : numpy.dtype
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        created = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        offset = created.offset
        del created  # the only reference: closes the map without touching a page
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self._row_bytes = int(np.prod(shape[1:])) * self.dtype.itemsize
        self._offset = int(offset)
        self._fd: int | None = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))

    def write_rows(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Write ``values[i]`` to row ``rows[i]``; a repeated row keeps the last value.

        Parameters
        ----------
        rows : numpy.ndarray of int, shape (n_rows,)
        values : numpy.ndarray, shape (n_rows, *shape_tail)
        """
        if self._fd is None:
            raise RuntimeError(f"{str(self.path)!r} is closed")
        if rows.size == 0:
            return
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        values = np.ascontiguousarray(values[order], dtype=self.dtype)
        keep = np.append(rows[1:] != rows[:-1], True)  # last of each repeated row
        rows, values = rows[keep], values[keep]
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for start, stop in zip(
            np.concatenate([[0], breaks]), np.concatenate([breaks, [rows.size]]), strict=True
        ):
            data = memoryview(values[start:stop].reshape(-1).view(np.uint8))
            position = self._offset + int(rows[start]) * self._row_bytes
            while data:
                written = os.pwrite(self._fd, data, position)
                data, position = data[written:], position + written

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
