"""The :class:`FeatureStore`: entries looked up, loaded, written and removed by key.

The keys come from :mod:`~brainalign.encoders.store.keys`, the entry files are written
and read by :mod:`~brainalign.encoders.store.files`; this module finds entries, checks
that they are complete and consistent with their key, and cleans up after dead writers.

An entry is named two ways, and every method that reads or removes one takes either:
its full key (a mapping, from :func:`~brainalign.encoders.store.feature_key` and its
kin) or its *name*, the entry directory's name ``<model-slug>-<sha256[:16]>`` that
``brainalign extract`` prints and :meth:`FeatureStore.entries` lists. A name is checked
against the ``key.json`` inside, so a renamed or edited directory is never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainalign.encoders.common import file_sha256
from brainalign.encoders.features import Features
from brainalign.encoders.store.errors import (
    EntryExistsError,
    FeatureStoreError,
    IncompleteEntryError,
    ProvenanceMismatchError,
)
from brainalign.encoders.store.files import (
    FORMAT_VERSION,
    KEY_FILE,
    MANIFEST,
    EntryWriter,
    _host,
    _pid_alive,
    _read_entry,
    _read_json,
)
from brainalign.encoders.store.keys import _canonical_json, _check_key, _model_slug
from brainalign.encoders.store.shared import read_entry as _shared_read
from brainalign.encoders.store.usage import note_entry

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CHUNK_BYTES", "ENTRY_COLUMNS", "STALE_AFTER_S", "EntryRef", "FeatureStore"]

#: An entry: its full key, or its name (the entry directory's name, as printed by
#: ``brainalign extract`` and listed by :meth:`FeatureStore.entries`).
EntryRef = Mapping[str, Any] | str | os.PathLike

#: Columns of :meth:`FeatureStore.entries`, in order.
ENTRY_COLUMNS = (
    "name",
    "model",
    "weights",
    "n_layers",
    "layers",
    "n_items",
    "bytes",
    "created",
    "complete",
    "pooling",
    "context",
    "dtype",
    "arrays",
    "reason",
    "path",
    "key",
)

#: Seconds after which another host's temporary directory is considered abandoned.
STALE_AFTER_S = 24 * 3600
#: Rows written per chunk by :meth:`FeatureStore.put` are capped at this many bytes.
CHUNK_BYTES = 64 << 20

_HASH_CHARS = 16


class FeatureStore:
    """Chunked, memory-mapped feature arrays on disk, one entry per provenance key.

    Parameters
    ----------
    root : str or path-like
        Store directory. Created on the first write; a read-only store can be read.

    Raises
    ------
    FeatureStoreError
        If ``root`` exists and is not a directory.

    Examples
    --------
    >>> store = FeatureStore("~/.cache/brainalign/features")  # doctest: +SKIP
    >>> features = encoder.encode_words(words, store=store)  # doctest: +SKIP
    >>> store.key_path(encoder.words_store_key(words))  # its entry  # doctest: +SKIP
    >>> store.entries()[["name", "model", "n_layers", "n_items"]]  # doctest: +SKIP
    >>> store.load("tiny-gpt2-0123456789abcdef")  # the name extract printed  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise FeatureStoreError(
                f"feature store root {str(self.root)!r} exists and is not a directory; "
                "pass a directory path (it is created if missing)"
            )

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    # ----------------------------------------------------------------- lookup

    def key_path(self, key: Mapping[str, Any]) -> Path:
        """Entry directory of a key: ``<root>/<model-slug>-<sha256[:16]>``."""
        canonical = _check_key(key)
        digest = hashlib.sha256(_canonical_json(canonical).encode("utf-8")).hexdigest()
        return self.root / f"{_model_slug(canonical['model'])}-{digest[:_HASH_CHARS]}"

    def has(self, entry: EntryRef) -> bool:
        """Whether a complete entry exists for ``entry`` (a key or an entry name).

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory of a key holds a different key.
        """
        return self._inspect_ref(entry)[0] is not None

    def load(self, entry: EntryRef, mmap: bool = True) -> Features:
        """Read an entry, given by its key or by its name.

        Parameters
        ----------
        entry : mapping, str or path-like
            The entry's full key, or its name: the entry directory's name
            (``<model-slug>-<sha256[:16]>``, as ``brainalign extract`` prints it and
            :meth:`entries` lists it in ``name``). The entry's path (``root / name``)
            is accepted too.
        mmap : bool
            Memory-map the arrays (read-only ``numpy.memmap``); ``False`` reads them.

        Returns
        -------
        Features
            Arrays keyed by name, each shape (n_items, ...) with the stored dtype, the
            stored ``stimulus_ids`` and ``onsets``, and the provenance given when writing.

        Raises
        ------
        IncompleteEntryError
            If there is no complete entry (never written, interrupted or damaged), or
            no entry of that name.
        ProvenanceMismatchError
            If the entry directory holds a different key.
        FeatureStoreError
            If a path names a directory outside this store.
        """
        key = self._key_of(entry)
        manifest, reason = self._inspect(key)
        path = self.key_path(key)
        if manifest is None:
            raise IncompleteEntryError(
                f"no complete feature-store entry for model {key['model']!r} at "
                f"{str(path)!r}: {reason}; compute it (get_or_compute) to (re)write it"
            )
        note_entry(path)
        return _shared_read(path, manifest, mmap, _read_entry)

    def try_load(self, entry: EntryRef, mmap: bool = True) -> Features | None:
        """The entry (key or name) if it is complete, else ``None`` (one look at the entry).

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory of a key holds a different key.
        """
        manifest, _ = self._inspect_ref(entry)
        if manifest is None:
            return None
        path = self.key_path(manifest["key"])
        note_entry(path)
        return _shared_read(path, manifest, mmap, _read_entry)

    def verify(self, entry: EntryRef) -> bool:
        """Re-hash every file of a complete entry against its manifest (slow: reads all).

        ``entry`` is a key or an entry name. Returns ``False`` when the entry is
        missing, incomplete or any digest differs.
        """
        manifest, _ = self._inspect_ref(entry)
        if manifest is None:
            return False
        path = self.key_path(manifest["key"])
        return all(
            file_sha256(path / name) == meta["sha256"] for name, meta in manifest["files"].items()
        )

    def entries(self) -> pd.DataFrame:
        """Every entry directory, complete or not, one row each, sorted by name.

        Returns
        -------
        pandas.DataFrame, shape (n_entries, 16)
            The columns of :data:`ENTRY_COLUMNS`:

            - ``name`` (str): the entry's name, accepted by :meth:`load` and the other
              methods that take an entry;
            - ``model`` (str or None): the model id as given when the entry was made;
            - ``weights`` (str or None): ``"pretrained"`` or ``"untrained"``;
            - ``n_layers`` (int) and ``layers`` (list of str): the hidden-state layers
              stored (array names without a dot; per-head and per-block arrays such as
              ``"3.heads"`` are in ``arrays``); for an incomplete entry, the layers its
              key asks for;
            - ``n_items`` (nullable int, ``<NA>`` when incomplete): rows of every array
              (images, words, ...);
            - ``bytes`` (int): size of the entry's array, id and key files, as its
              manifest records them (0 when incomplete);
            - ``created`` (pandas.Timestamp, UTC, or NaT): when the entry was committed;
            - ``complete`` (bool) and ``reason`` (str: why not complete; empty when
              complete);
            - ``pooling``, ``context`` (the context mode) and ``dtype`` from the key;
            - ``arrays`` (list of str): every array's name, in order;
            - ``path`` (str): the entry directory;
            - ``key`` (dict or None): the full key (None when key.json is unreadable).

            An empty table (with these columns) when the store holds no entry.
        """
        import pandas as pd

        rows = [self._entry_row(path) for path in self._entry_dirs()]
        table = pd.DataFrame(rows, columns=list(ENTRY_COLUMNS))
        table["created"] = pd.to_datetime(table["created"], utc=True)
        for column in ("bytes", "n_layers"):
            table[column] = table[column].astype("int64")
        table["n_items"] = table["n_items"].astype("Int64")  # <NA> when incomplete
        return table

    def _entry_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(
            path for path in self.root.iterdir() if not path.name.startswith(".") and path.is_dir()
        )

    def _entry_row(self, path: Path) -> dict[str, Any]:
        """One row of :meth:`entries`."""
        try:
            key = _read_json(path / KEY_FILE)
        except (OSError, ValueError):
            key = None
        manifest, reason = (None, "key.json missing or unreadable")
        if isinstance(key, Mapping):
            try:
                if self.key_path(key) != path:
                    reason = "key.json does not hash to this directory name (renamed?)"
                else:
                    manifest, reason = self._inspect(key)
            except (TypeError, ValueError, FeatureStoreError) as error:
                reason = f"key.json is not a valid key ({error})"
        else:
            key = None
        arrays = [spec["name"] for spec in manifest["arrays"]] if manifest else []
        if manifest:
            layers = [name for name in arrays if "." not in name]
        else:
            layers = [str(layer) for layer in (key or {}).get("layers") or []]
        weights = (key or {}).get("weights")
        context = (key or {}).get("context")
        return {
            "name": path.name,
            "model": (key or {}).get("model"),
            "weights": weights.get("kind") if isinstance(weights, Mapping) else None,
            "n_layers": len(layers),
            "layers": layers,
            "n_items": manifest["n_items"] if manifest else None,
            "bytes": sum(m["bytes"] for m in manifest["files"].values()) if manifest else 0,
            "created": manifest.get("created") if manifest else None,
            "complete": manifest is not None,
            "pooling": (key or {}).get("pooling"),
            "context": context.get("mode") if isinstance(context, Mapping) else None,
            "dtype": (key or {}).get("dtype"),
            "arrays": arrays,
            "reason": reason,
            "path": str(path),
            "key": key,
        }

    # ----------------------------------------------------------------- writing

    def writer(
        self,
        key: Mapping[str, Any],
        n_items: int,
        arrays: Mapping[str, tuple[tuple[int, ...], Any]],
        *,
        stimulus_ids: Sequence[Any] | np.ndarray | None = None,
        onsets: Sequence[float] | np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> EntryWriter:
        """A context manager that writes the entry of ``key`` in chunks.

        Parameters
        ----------
        key : mapping
            The full provenance (see :func:`feature_key`).
        n_items : int
            Rows of every array.
        arrays : mapping of str to (shape_tail, dtype)
            Array names in order, each with the shape after the item axis (at least one
            axis, e.g. ``(n_dims,)`` or ``(n_heads, d_head)``) and a numeric dtype.
        stimulus_ids : array-like, shape (n_items,), optional
            Default ``0 .. n_items - 1``.
        onsets : array-like of float, shape (n_items,), optional
            Item onsets in seconds.
        provenance : mapping, optional
            Stored with the entry and returned by :meth:`load`; the writer's
            ``provenance`` dict may be updated until the block ends.

        Returns
        -------
        EntryWriter
            Use as ``with store.writer(...) as w: w.write(name, rows, values)``.

        Raises
        ------
        EntryExistsError
            If a complete entry exists already (load it, or :meth:`remove` it first).
        ProvenanceMismatchError
            If the entry directory holds a different key.
        ValueError
            For a bad shape, dtype, ``n_items`` or ids/onsets of the wrong length.
        """
        return EntryWriter(
            self,
            key,
            n_items,
            arrays,
            stimulus_ids=stimulus_ids,
            onsets=onsets,
            provenance=provenance,
        )

    def put(self, key: Mapping[str, Any], features: Features) -> Path:
        """Write a :class:`Features` as the entry of ``key`` (in row chunks).

        Returns the entry directory. Raises like :meth:`writer`.
        """
        if not isinstance(features, Features):
            raise TypeError(f"expected Features, got {type(features).__name__}")
        specs = {
            name: (tuple(np.shape(array)[1:]), np.asarray(array[:0]).dtype)
            for name, array in features.layers.items()
        }
        with self.writer(
            key,
            features.n_items,
            specs,
            stimulus_ids=features.stimulus_ids,
            onsets=features.onsets,
            provenance=features.provenance,
        ) as entry:
            for name, array in features.layers.items():
                row_bytes = max(1, int(np.prod(specs[name][0])) * specs[name][1].itemsize)
                step = max(1, CHUNK_BYTES // row_bytes)
                for start in range(0, features.n_items, step):
                    rows = slice(start, min(start + step, features.n_items))
                    entry.write(name, rows, np.asarray(array[rows]))
        return self.key_path(key)

    def get_or_compute(self, key: Mapping[str, Any], compute: Callable[[], Features]) -> Features:
        """Load the entry of ``key``, or call ``compute()``, store its result and load that.

        When a complete entry exists, ``compute`` is not called. The result is always
        read back from the store (memory-mapped), so a first and a later run return the
        same arrays. If another process completes the entry meanwhile, its entry is kept.

        To stream the items into the entry batch by batch instead of holding them in
        memory, call :meth:`~brainalign.encoders.text.TextEncoder.encode_words` or
        :meth:`~brainalign.encoders.text.TextEncoder.extract` with ``store=`` and
        ``key=``; they also return a complete entry without a forward pass.

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory holds a different key.
        TypeError
            If ``compute`` does not return :class:`Features`.
        """
        found = self.try_load(key)
        if found is not None:
            return found
        features = compute()
        try:
            self.put(key, features)
        except EntryExistsError:  # another writer finished first
            pass
        return self.load(key)

    def remove(self, entry: EntryRef) -> bool:
        """Delete an entry (complete or not) and its stale temporary directories.

        Parameters
        ----------
        entry : mapping, str or path-like
            The entry's key, or its name (then the directory of that name is removed
            even when its ``key.json`` is damaged).

        Returns
        -------
        bool
            Whether an entry directory was removed.

        Raises
        ------
        ProvenanceMismatchError
            If the entry directory of a key holds a different key (it is left alone).
        FeatureStoreError
            If a path names a directory outside this store.
        """
        if isinstance(entry, Mapping):
            path = self.key_path(entry)
            self._inspect(entry)  # refuses to delete another key's entry
        else:
            path = self._named_path(entry)
        self._clean_stale(path)
        if not path.exists():
            return False
        trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    # ----------------------------------------------------------------- internals

    def _named_path(self, name: str | os.PathLike) -> Path:
        """The directory of an entry name (or of a path inside this store)."""
        if not isinstance(name, (str, os.PathLike)):
            raise TypeError(
                f"an entry is a key (mapping) or an entry name (str), not {type(name).__name__}"
            )
        given = Path(name).expanduser()
        if not given.name or given.name.startswith("."):
            raise IncompleteEntryError(
                f"{os.fspath(name)!r} is not an entry name; names look like "
                "'<model>-<16 hex digits>' (see FeatureStore(root).entries() or "
                f"brainalign store list {str(self.root)!r})"
            )
        if given.parent != Path(".") and given.parent.resolve() != self.root.resolve():
            raise FeatureStoreError(
                f"{str(given)!r} is not in the feature store {str(self.root)!r}; open it with "
                f"FeatureStore({str(given.parent)!r}).load({given.name!r})"
            )
        return self.root / given.name

    def _key_of(self, entry: EntryRef) -> dict[str, Any]:
        """The canonical key of an entry given by key or by name.

        Raises
        ------
        IncompleteEntryError
            If no entry of that name exists or its ``key.json`` is unreadable, not a key,
            or hashes to another name.
        """
        if isinstance(entry, Mapping):
            return _check_key(entry)
        path = self._named_path(entry)
        where = f"the feature store {str(self.root)!r}"
        if not path.is_dir():
            names = [p.name for p in self._entry_dirs()]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise IncompleteEntryError(
                f"no entry named {path.name!r} in {where}; "
                + (f"its entries: {shown}" if names else "it holds no entries")
                + f" (list them with brainalign store list {str(self.root)!r})"
            )
        try:
            key = _check_key(_read_json(path / KEY_FILE))
        except (OSError, ValueError, TypeError) as error:
            raise IncompleteEntryError(
                f"entry {path.name!r} in {where} has no readable key.json ({error}); it is "
                "damaged: remove it (FeatureStore(root).remove(name)) and compute it again"
            ) from error
        if self.key_path(key) != path:
            raise IncompleteEntryError(
                f"entry {path.name!r} in {where}: its key.json hashes to "
                f"{self.key_path(key).name!r}, not to this name (renamed or edited); remove it "
                "and compute it again"
            )
        return key

    def _inspect_ref(self, entry: EntryRef) -> tuple[dict[str, Any] | None, str]:
        """:meth:`_inspect` of a key or a name; a name that is no usable entry is incomplete."""
        try:
            key = self._key_of(entry)
        except IncompleteEntryError as error:
            return None, str(error)
        return self._inspect(key)

    def _inspect(self, key: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(manifest, "") for a complete entry, else (None, why not)."""
        canonical = _check_key(key)
        path = self.key_path(canonical)
        if not path.is_dir():
            return None, "no entry directory"
        try:
            stored = _read_json(path / KEY_FILE)
        except FileNotFoundError:
            return None, "key.json is missing"
        except (OSError, ValueError) as error:
            return None, f"key.json is unreadable ({error})"
        if _canonical_json(stored) != _canonical_json(canonical):
            raise ProvenanceMismatchError(
                f"existing store with a different provenance under the same path "
                f"{str(path)!r}: its key.json differs from the requested key (hash "
                "collision or edited files). Nothing was read or written; inspect "
                f"{str(path / KEY_FILE)!r} and remove the directory if it is wrong"
            )
        try:
            manifest = _read_json(path / MANIFEST)
        except FileNotFoundError:
            return None, "manifest.json is missing (interrupted or damaged write)"
        except (OSError, ValueError) as error:
            return None, f"manifest.json is unreadable ({error})"
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version") if isinstance(manifest, dict) else None
            return None, f"manifest format_version {found!r} is not {FORMAT_VERSION}"
        if _canonical_json(manifest.get("key")) != _canonical_json(canonical):
            return None, "manifest.json names a different key than key.json"
        for name, meta in manifest.get("files", {}).items():
            file = path / name
            if not file.is_file():
                return None, f"{name} is missing"
            size = file.stat().st_size
            if size != meta["bytes"]:
                return None, f"{name} has {size} bytes, not {meta['bytes']} (truncated?)"
        return manifest, ""

    def _ensure_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise FeatureStoreError(
                f"feature store root {str(self.root)!r} is not a directory; pass a directory"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise FeatureStoreError(
                f"cannot write to feature store root {str(self.root)!r} "
                f"({error.strerror or error}); choose a directory you can write to"
            ) from error

    def _clean_stale(self, path: Path) -> None:
        """Remove dead writers' temporary directories and leftover trash of one entry."""
        if not self.root.is_dir():
            return
        temp_prefix, trash_prefix = f".{path.name}.tmp-", f".{path.name}.trash-"
        host = _host()
        for candidate in self.root.iterdir():
            name = candidate.name
            if name.startswith(trash_prefix):
                shutil.rmtree(candidate, ignore_errors=True)
            elif name.startswith(temp_prefix):
                stale = False
                parts = name[len(temp_prefix) :].split("-", 2)
                if len(parts) == 3 and parts[0].isdigit() and parts[2] == host:
                    stale = not _pid_alive(int(parts[0]))
                else:
                    with contextlib.suppress(OSError):
                        age = time.time() - candidate.stat().st_mtime
                        stale = age > STALE_AFTER_S
                if stale:
                    shutil.rmtree(candidate, ignore_errors=True)

    @contextlib.contextmanager
    def _commit_lock(self, path: Path) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: rely on the completeness checks alone
            yield
            return
        with open(self.root / f".{path.name}.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
