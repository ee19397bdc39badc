"""Small pieces both encoders use: model access, layer-index checks, the CPU thread cap."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


class LoadedModelAccess:
    """Read access to an encoder's loaded model and its provenance.

    Encoders set ``_model`` and ``_provenance`` when they load a model.
    """

    _model: Any
    _provenance: dict[str, Any]

    @property
    def model(self) -> Any:
        """The loaded torch model (in eval mode)."""
        return self._model

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the model came from: source, weights, seed, revision, weight hashes."""
        return dict(self._provenance)


def check_batch_size(batch_size: object) -> int:
    """An encoder's ``batch_size``: a positive int (not a bool), else a ValueError naming it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; it must be a positive integer")
    return batch_size


def check_layer_indices(layers: Sequence[int] | None, n_layers: int, model_id: str) -> list[int]:
    """Validate hidden-state indices; ``None`` means all of them.

    Returns
    -------
    list of int
        Sorted, unique indices in ``0 .. n_layers - 1``.

    Raises
    ------
    ValueError
        For an empty list, a non-integer, or an index out of range (the message gives
        the valid range).
    """
    if layers is None:
        return list(range(n_layers))
    layers = list(layers)
    if not layers:
        raise ValueError(f"layers is empty; pass indices in 0..{n_layers - 1} or None")
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise ValueError(f"layer {layer!r} is not an integer index")
        if not 0 <= layer < n_layers:
            raise ValueError(
                f"layer {layer} is out of range for {model_id!r}; valid hidden-state "
                f"indices are 0..{n_layers - 1} (0 = embeddings)"
            )
    return sorted({int(layer) for layer in layers})


@contextlib.contextmanager
def thread_limit() -> Iterator[None]:
    """Cap torch's intra-op threads at the CPUs this process may use, then restore.

    Torch may count the host's cores in a container limited to fewer; oversubscribed
    threads slow CPU inference a lot. A user's own lower setting is kept.
    """
    import torch

    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    before = torch.get_num_threads()
    if before > available:
        torch.set_num_threads(available)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex, as ``sha256sum`` prints it) of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


_CONTENT_HASHES: dict[tuple[str, int, int], str] = {}


def content_sha256(path: str | os.PathLike) -> str:
    """:func:`file_sha256` of an input file (weights, audio, video), cached in this process
    per (resolved path, size, modification time in ns).

    Inputs are hashed to key features by content; one file is hashed once however often
    its key is built (a store lookup, then the encoding, then a study's digest). An
    edited file changes its size or modification time and is hashed again. Not for
    checking written files' integrity (the store reads those back with
    :func:`file_sha256`).
    """
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CONTENT_HASHES:
        _CONTENT_HASHES[key] = file_sha256(path)
    return _CONTENT_HASHES[key]


def progress_bar(items: Iterable[Any], progress: bool | str, default: str) -> Iterator[Any]:
    """Iterate ``items`` with a progress bar over batches, on a terminal only.

    Parameters
    ----------
    items : iterable
        The batches.
    progress : bool or str
        False: no bar; True: a bar named ``default``; a string: a bar with that name
        (e.g. ``"simlex999@1 gpt2 (untrained)"``, which a benchmark run passes so the
        bar says what it is encoding). Shown only when stderr is a terminal.
    default : str
        The bar's name for ``progress=True``.

    Yields
    ------
    object
        The items, in order.
    """
    import sys

    from tqdm.auto import tqdm

    name = progress if isinstance(progress, str) else default
    show = bool(progress) and sys.stderr.isatty()
    yield from tqdm(items, desc=name, unit="batch", disable=not show)
