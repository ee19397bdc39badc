"""Which store entries a piece of work read, remembered for the next plan of the same work.

A cost plan (:mod:`brainalign.planning`) says how many forward passes a cell still needs
once the store's entries are subtracted. The exact key of an entry holds hashes of the
loaded model's config and tokenizer and of each encoder call's arguments, so it cannot
be rebuilt without loading the model and repeating the call. Instead, the store
remembers what each piece of work *used*:

- :func:`recording_entries` collects the name of every entry that
  :meth:`~brainalign.encoders.store.FeatureStore.load` or
  :meth:`~brainalign.encoders.store.FeatureStore.try_load` returns inside the block
  (an entry found, or one just written and read back: every feature array a task gets
  from the store goes through one of them);
- :func:`remember` writes the names under an identity (any JSON-able mapping, e.g. a
  model, a benchmark, the run's settings and a weights variant) into
  ``<root>/.usage/<sha256>.json``, atomically;
- :func:`stored` says whether the same identity's entries are all still complete, in
  which case the same work will read them instead of running the model.

The record is exact for the work that wrote it and says nothing about other work that
may share entries (then the plan counts the passes as needed, never fewer than the run
makes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainalign._io import atomic_path

if TYPE_CHECKING:
    from brainalign.encoders.store.store import FeatureStore

__all__ = ["USAGE_DIR", "note_entry", "recording_entries", "remember", "stored"]

#: Folder of the usage records inside a store (hidden: not an entry).
USAGE_DIR = ".usage"

_USED: ContextVar[list[str] | None] = ContextVar("brainalign_store_used", default=None)


@contextmanager
def recording_entries() -> Iterator[list[str]]:
    """Collect the names of the store entries read inside the block (in order, once each).

    Yields
    ------
    list of str
        Filled as entries are read; blocks may nest (each sees its own reads).
    """
    used: list[str] = []
    outer = _USED.get()
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)
        if outer is not None:
            outer.extend(name for name in used if name not in outer)


def note_entry(path: Path) -> None:
    """Record that the entry at ``path`` was read (no-op outside :func:`recording_entries`)."""
    used = _USED.get()
    if used is not None and path.name not in used:
        used.append(path.name)


def _record_path(store: FeatureStore, identity: Mapping[str, Any]) -> Path:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return store.root / USAGE_DIR / f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}.json"


def remember(store: FeatureStore, identity: Mapping[str, Any], entries: list[str]) -> None:
    """Save which entries the work named by ``identity`` read (atomically; replaces).

    Parameters
    ----------
    store : FeatureStore
    identity : mapping
        JSON-able description of the work (the same mapping finds it again).
    entries : list of str
        Entry names (:func:`recording_entries`); nothing is saved when empty.
    """
    if not entries:
        return
    path = _record_path(store, identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"identity": identity, "entries": list(entries)}
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))


def stored(store: FeatureStore, identity: Mapping[str, Any]) -> bool:
    """Whether the work named by ``identity`` was recorded and all its entries are complete.

    A missing, unreadable or foreign record, or any entry missing or incomplete, gives
    False (the work will run its model).
    """
    path = _record_path(store, identity)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        entries = record["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not entries or not isinstance(entries, list):
        return False
    try:
        return all(store.has(str(name)) for name in entries)
    except Exception:  # noqa: BLE001 - a damaged entry is simply not stored
        return False
