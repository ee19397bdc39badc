"""Feature-store entries shared through Ray's object store while cells run on Ray.

When a sweep runs on Ray, several cells often read the same entry (a model's features
scored by two benchmarks on the same stimuli, or reruns of a study). Without sharing,
every cell memory-maps the entry's files again, on every node. With sharing, the entry is
read from disk *once* per sweep, by the first cell that loads it, and put into Ray's
object store; every other cell, on any worker, gets the same arrays from there
(zero-copy: the arrays are read-only views of the object store's shared memory, as the
memory-mapped arrays of a normal read are read-only views of the files).

How it works
------------
:class:`~brainalign.parallel.RayExecutor` starts one named actor per sweep
(:func:`start_sharing`, named :data:`ACTOR_NAME` in the job's namespace, no CPU) and
kills it when the sweep ends, which frees the objects. :meth:`FeatureStore.load
<brainalign.encoders.store.FeatureStore.load>` and ``try_load`` hand every memory-mapped
read of a complete entry to :func:`read_entry`. Outside Ray, or in a Ray job without the
actor, :func:`read_entry` reads the files as before (it does not even import Ray). Inside
a sweep's worker it asks the actor for the entry, identified by its key's and files'
sha256 (:func:`entry_id`). The first request makes the actor read the files (with the
store's own reader) and put the arrays into the object store, owned by the actor, so
they outlive the cell that asked first and its worker; requests for the same entry made
meanwhile wait for that read, and every later request gets the object reference at once.
The actor serves several requests at a time (threads), so different entries are read in
parallel. (The store must be on a filesystem every node sees, as for any Ray sweep.)

The worker waits for the actor in a helper thread, not in its main thread: a task
blocked in ``ray.get`` on its main thread lends its CPU to the next pending cell, for
which Ray may start a new worker process (with a cold import of torch), which on a small
machine costs more than sharing saves.

Nothing about the numbers changes: the object holds the very arrays the files hold, and
any failure of the shared path (the actor died or could not read the entry, an object
was lost) falls back to reading the files in the cell, where a damaged entry raises the
store's own error. Reads with ``mmap=False`` (writable arrays in memory) never go
through the object store.

Memory: the objects stay in the object store until the sweep ends (Ray spills them to
disk when the store is full), so the object store should hold the sweep's features or
spill to a fast disk (``ray start --object-spilling-directory``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from brainalign.encoders.features import Features

__all__ = [
    "ACTOR_NAME",
    "ACTOR_THREADS",
    "entry_id",
    "read_entry",
    "sharing_stats",
    "start_sharing",
    "stop_sharing",
]

#: Name of the sweep's actor that maps entry ids to object references.
ACTOR_NAME = "brainalign-shared-feature-entries"

#: Requests the actor serves at once (each a thread; a request waiting for another's
#: read of the same entry holds one).
ACTOR_THREADS = 16

_LOG = logging.getLogger(__name__)

Reader = Callable[[Path, Mapping[str, Any], bool], Features]


def entry_id(manifest: Mapping[str, Any]) -> str:
    """sha256 of an entry's key digest and its files' digests (what the arrays are).

    Parameters
    ----------
    manifest : mapping
        The entry's ``manifest.json`` (``key_sha256`` and ``files`` with each file's
        ``sha256``).

    Returns
    -------
    str
        64 hex digits; two stores holding the same entry give the same id, and an entry
        removed and written again with other bytes gets another.
    """
    identity = {
        "key": manifest.get("key_sha256"),
        "files": {name: meta.get("sha256") for name, meta in manifest["files"].items()},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()


def read_entry(path: Path, manifest: Mapping[str, Any], mmap: bool, read: Reader) -> Features:
    """Read a complete entry: from the sweep's object store on Ray, else ``read`` it.

    Parameters
    ----------
    path : Path
        The entry directory.
    manifest : mapping
        Its manifest (already checked complete by the store).
    mmap : bool
        Memory-mapped (read-only) arrays; ``False`` always reads the files here.
    read : callable
        The store's reader, ``read(path, manifest, mmap) -> Features``.

    Returns
    -------
    Features
        The same arrays either way (read-only when ``mmap``).
    """
    registry = _registry() if mmap else None
    if registry is None:
        return read(path, manifest, mmap)
    import ray

    identity = entry_id(manifest)
    try:
        return _shared_read(ray, registry, identity, path, manifest)
    except ray.exceptions.RayError as error:  # fall back to the files; never lose a cell
        _LOG.warning("shared read of %s failed (%s); reading the files", path, error)
        registry.forget.remote(identity)
        return read(path, manifest, mmap)


def _shared_read(
    ray: Any, registry: Any, identity: str, path: Path, manifest: Mapping[str, Any]
) -> Features:
    """The entry from the object store (read there by the actor on the first request)."""
    [reference] = _poll(ray, registry.entry.remote(identity, str(path), dict(manifest)))
    shared = _poll(ray, reference)
    return Features(
        layers=dict(shared.layers),
        stimulus_ids=np.array(shared.stimulus_ids),  # small: writable, as from the files
        onsets=None if shared.onsets is None else np.array(shared.onsets),
        provenance=shared.provenance,
    )


def _poll(ray: Any, reference: Any) -> Any:
    """``ray.get`` in a helper thread, so the task keeps its CPU while it waits (see the
    module documentation): Ray lends a task's resources only while its main thread
    blocks in a Ray call."""
    with ThreadPoolExecutor(1, thread_name_prefix="brainalign-shared") as pool:
        return pool.submit(ray.get, reference).result()


def _registry() -> Any:
    """The sweep's actor when this process is a Ray worker of a sharing sweep, else None."""
    ray = sys.modules.get("ray")  # never import Ray here: outside Ray this is inert
    if ray is None or not ray.is_initialized():
        return None
    if ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
        return None
    try:
        return ray.get_actor(ACTOR_NAME)
    except ValueError:  # no sweep with sharing in this job
        return None


def _read_plain(path: str, manifest: Mapping[str, Any]) -> Features:
    """An entry read by the store's own reader, its arrays as plain ndarrays (which Ray
    copies into the object store without pickling them)."""
    from brainalign.encoders.store.files import _read_entry

    features = _read_entry(Path(path), manifest, True)
    return Features(
        layers={name: np.asarray(array) for name, array in features.layers.items()},
        stimulus_ids=features.stimulus_ids,
        onsets=features.onsets,
        provenance=features.provenance,
    )


class _Entries:
    """The sweep's actor: entry id -> object reference of the entry, read once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._references: dict[str, Any] = {}
        self._reading: dict[str, threading.Event] = {}
        self._reads = 0
        self._requests = 0

    def entry(self, identity: str, path: str, manifest: Mapping[str, Any]) -> list[Any]:
        """``[reference]`` of the entry in the object store (in a list: Ray passes the
        reference itself), read from ``path`` on the first request."""
        import ray

        with self._lock:
            self._requests += 1
            reference = self._references.get(identity)
            reading = self._reading.get(identity)
            first = reference is None and reading is None
            if first:
                reading = self._reading[identity] = threading.Event()
        if reference is not None:
            return [reference]
        assert reading is not None
        if not first:  # another request is reading it
            reading.wait()
            with self._lock:
                reference = self._references.get(identity)
            if reference is None:
                raise RuntimeError(f"the shared read of {path} failed in another request")
            return [reference]
        try:
            reference = ray.put(_read_plain(path, manifest))
            with self._lock:
                self._references[identity] = reference
                self._reads += 1
        finally:
            with self._lock:
                del self._reading[identity]
            reading.set()
        return [reference]

    def forget(self, identity: str) -> None:
        with self._lock:
            self._references.pop(identity, None)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._references),
                "reads": self._reads,
                "requests": self._requests,
            }


def start_sharing() -> Any:
    """Start this job's sharing actor (or get the one already running).

    Returns
    -------
    ray.actor.ActorHandle
        Pass it to :func:`stop_sharing` when the sweep ends.
    """
    import ray

    actor = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=ACTOR_THREADS)(_Entries)
    # The name is registered at once; requests made while it starts wait for it.
    return actor.options(name=ACTOR_NAME, get_if_exists=True).remote()


def sharing_stats(handle: Any) -> dict[str, int]:
    """What the actor did: ``entries`` held, ``reads`` (entries it read from disk into the
    object store) and ``requests`` (loads it answered; ``requests - reads`` of them came
    from the object store alone)."""
    import ray

    return ray.get(handle.stats.remote())


def stop_sharing(handle: Any) -> dict[str, int] | None:
    """Kill the actor (freeing its objects); return its :func:`sharing_stats` (None when
    it had died already)."""
    import ray

    try:
        stats = sharing_stats(handle)
    except ray.exceptions.RayError:
        stats = None
    ray.kill(handle)
    deadline = time.monotonic() + 10.0  # the name is free again once the actor is gone
    while time.monotonic() < deadline:
        try:
            ray.get_actor(ACTOR_NAME)
        except ValueError:
            break
        time.sleep(0.05)
    return stats
