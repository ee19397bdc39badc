"""The feature store: model features on disk, keyed by their full provenance.

Computing the features of a large model for a long story takes minutes to hours; the
store makes the second run free. Each entry holds the arrays of one
(model, weights, tokenizer, layers, pooling, context, dtype, stimulus set) combination,
written in chunks and read back memory-mapped, so neither the writer nor the reader ever
needs all items in memory.

Layout
------
::

    <root>/
      <model-slug>-<sha256[:16]>/      one complete entry
        key.json                       the full key (canonical JSON, indented)
        array-000.npy ...              one array per layer (or head), shape (n_items, ...)
        stimulus_ids.npy [onsets.npy]  what each row is
        manifest.json                  written last: names, shapes, dtypes, sizes, sha256
      .<entry>.tmp-<pid>-<token>-<host>/   a write in progress (or a killed one)
      .<entry>.lock                    taken only for the final rename

The entry name is ``sha256`` of the canonical JSON of the key (sorted keys, no
whitespace, tuples as lists, numpy scalars as Python numbers; see :func:`key_sha256`),
after a readable slug of the model id. That name is what ``brainalign extract`` prints
and :meth:`FeatureStore.entries` lists (a table: name, model, weights, layers, items,
bytes, created, ...; ``brainalign store list DIR`` prints it), and
:meth:`FeatureStore.load` takes it as well as the full key:
``FeatureStore(DIR).load(name)``. Build keys with :func:`feature_key` (or
:func:`text_encoder_key` for a :class:`~brainalign.encoders.text.TextEncoder`); the
stimulus set enters the key as :func:`stimulus_hash`.

Why ``.npy`` files
------------------
- No extra dependency: numpy is already required; zarr and h5py are not, and h5py
  brings a C library whose version must match the files.
- Memory-mapped reads for free (``np.load(mmap_mode="r")``); the OS page cache serves
  repeated reads, and only the rows used are read.
- One array per file, so a writer fills arrays independently, a damaged file is found
  by its size alone, and nothing needs a global index that could be half-written (HDF5
  can corrupt a whole file when a writer is killed; zarr's many chunk files make
  removal and copying slow).
- Any tool that reads ``.npy`` (numpy, MATLAB/Julia/R readers, ``np.load`` in one line)
  reads an entry; the manifest is plain JSON.
- Writes use plain positional file I/O (``os.pwrite`` after the ``.npy`` header), not a
  writable memory map: pages dirtied through a map count in the writer's resident
  memory until written back, pages written with ``pwrite`` only in the page cache. So a
  writer's peak RSS does not grow with the number of items (``perf/memory_growth.py``).

What zarr/HDF5 would add -- compression and chunked appends of unknown length -- is not
needed: the number of items is known before the first forward pass, and float features
compress poorly.

Completeness and crashes
------------------------
A writer fills a temporary directory next to the entry (same filesystem), preallocated
(header by ``open_memmap``, rows by ``os.pwrite``). On success it fsyncs every array,
hashes it, writes ``manifest.json`` last, fsyncs, and ``os.replace``-s the directory
onto the entry name. An entry is *complete* only when ``manifest.json`` parses, has this
format version, names the same key as ``key.json``, and every file it lists exists with
the recorded size. Anything else (a killed writer's temporary directory, a deleted
manifest, a truncated array) is never served: :meth:`FeatureStore.has` is ``False`` and
:meth:`FeatureStore.load` raises :class:`IncompleteEntryError`. A new write of the same
key replaces an incomplete entry and removes temporary directories whose writer is dead
(same host, process gone) or, for other hosts, older than :data:`STALE_AFTER_S`.
:meth:`FeatureStore.verify` re-hashes the files for damage that keeps sizes.

Concurrent writers
------------------
Two processes computing the same key both write their own temporary directory. The
final step runs under an advisory lock (``fcntl.flock`` on ``.<entry>.lock``, where
available): if the entry is already complete, the later writer discards its temporary
directory (the arrays are the same computation) and returns; if an incomplete entry is
in the way it is moved aside and deleted. ``os.replace`` onto a non-empty directory
fails on POSIX, which is why the check is needed.

What is not in the key
----------------------
Device, batch size and library versions change features only at the level of float
rounding; they are recorded in the stored provenance, not in the key. Pass them as
``extra=`` to :func:`feature_key` to make them part of it.

The package's public names are re-exported here (``from brainalign.encoders.store
import FeatureStore``) from its modules:

- :mod:`~brainalign.encoders.store.keys`: keys and the hashes in them
  (:func:`feature_key`, :func:`text_encoder_key`, :func:`text_extract_key`,
  :func:`stimulus_hash`, :func:`key_sha256`, :func:`json_sha256`,
  :func:`config_sha256`);
- :mod:`~brainalign.encoders.store.files`: the files of an entry (:class:`EntryWriter`,
  preallocated row files, fsynced JSON, reading a complete entry back);
- :mod:`~brainalign.encoders.store.errors`: the store's exceptions;
- :mod:`~brainalign.encoders.store.store`: :class:`FeatureStore`.
"""

from brainalign.encoders.store.errors import (
    EntryExistsError,
    FeatureStoreError,
    IncompleteEntryError,
    ProvenanceMismatchError,
)
from brainalign.encoders.store.files import FORMAT_VERSION, KEY_FILE, MANIFEST, EntryWriter
from brainalign.encoders.store.keys import (
    KEY_FORMAT,
    config_sha256,
    feature_key,
    json_sha256,
    key_sha256,
    stimulus_hash,
    text_encoder_key,
    text_extract_key,
    weights_fingerprint,
)
from brainalign.encoders.store.store import (
    CHUNK_BYTES,
    ENTRY_COLUMNS,
    STALE_AFTER_S,
    EntryRef,
    FeatureStore,
)

__all__ = [
    "CHUNK_BYTES",
    "ENTRY_COLUMNS",
    "FORMAT_VERSION",
    "KEY_FILE",
    "KEY_FORMAT",
    "MANIFEST",
    "STALE_AFTER_S",
    "EntryExistsError",
    "EntryRef",
    "EntryWriter",
    "FeatureStore",
    "FeatureStoreError",
    "IncompleteEntryError",
    "ProvenanceMismatchError",
    "config_sha256",
    "feature_key",
    "json_sha256",
    "key_sha256",
    "stimulus_hash",
    "text_encoder_key",
    "text_extract_key",
    "weights_fingerprint",
]
