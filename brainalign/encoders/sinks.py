"""Sinks: where the encoders put pooled batches, in memory or straight into the store.

Both encoders run forward passes batch by batch and hand each batch's pooled rows to a
:class:`Sink`. :class:`ArraySink` fills float32 arrays of shape (n_items, ...) in memory;
:class:`StoreSink` writes them into a feature-store entry as they come (positional file
writes), so memory does not grow with the number of items. :func:`collect` runs a fill
function into one or the other and returns the :class:`~brainalign.encoders.features.Features`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from brainalign.encoders.features import Features, check_finite

if TYPE_CHECKING:
    from brainalign.encoders.store import FeatureStore

__all__ = ["ArraySink", "FiniteSink", "Sink", "StoreSink", "collect"]


class Sink:
    """Where an encoder puts pooled batches: RAM arrays or a store entry.

    A context manager: on a clean exit the result is complete (or an error says which
    rows are missing); on an exception nothing is kept.
    """

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def write(self, rows: np.ndarray, pooled: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        return None


class ArraySink(Sink):
    """Pooled batches into float32 arrays of shape (n_items, ...) held in memory."""

    def __init__(self, n_items: int) -> None:
        super().__init__(n_items)
        self.arrays: dict[str, np.ndarray] = {}

    def write(self, rows: np.ndarray, pooled: dict[str, np.ndarray]) -> None:
        for name, values in pooled.items():
            if name not in self.arrays:
                self.arrays[name] = np.empty((self.n_items, *values.shape[1:]), np.float32)
            self.arrays[name][rows] = values


class FiniteSink(Sink):
    """Checks every batch is finite, then hands it on to ``inner``.

    The one place every encoder's pooled batch passes before it is kept (in memory or in
    a store entry), so inf/NaN features are never returned or stored.

    Raises
    ------
    NonFiniteFeaturesError
        From ``write``, for a batch with an inf or NaN value (nothing of it is written).
    """

    def __init__(self, inner: Sink, provenance: dict[str, Any]) -> None:
        super().__init__(inner.n_items)
        self.inner, self.provenance = inner, provenance

    def write(self, rows: np.ndarray, pooled: dict[str, np.ndarray]) -> None:
        rows = np.asarray(rows)
        where = f"{len(rows)} of {self.n_items} items"
        if len(rows):
            where += f" (rows {int(rows.min())}-{int(rows.max())})"
        check_finite(pooled, self.provenance, where)
        self.inner.write(rows, pooled)


class StoreSink(Sink):
    """Pooled batches straight into a feature-store entry (never all items in memory).

    The entry writer is opened at the first batch, which gives every array's name,
    order and trailing shape (dtype: float32), so nothing about the model's output
    shapes needs predicting from its config. An exception discards the temporary
    directory; a clean exit commits the entry.

    Raises
    ------
    EntryExistsError
        From the first ``write`` when another process completed the entry meanwhile.
    """

    def __init__(
        self,
        store: FeatureStore,
        key: Mapping[str, Any],
        n_items: int,
        stimulus_ids: np.ndarray,
        onsets: np.ndarray | None,
        provenance: dict[str, Any],
    ) -> None:
        super().__init__(n_items)
        self.store, self.key = store, key
        self.stimulus_ids, self.onsets, self.provenance = stimulus_ids, onsets, provenance
        self._writer: Any = None

    def write(self, rows: np.ndarray, pooled: dict[str, np.ndarray]) -> None:
        if self._writer is None:
            specs = {name: (values.shape[1:], np.float32) for name, values in pooled.items()}
            writer = self.store.writer(
                self.key,
                self.n_items,
                specs,
                stimulus_ids=self.stimulus_ids,
                onsets=self.onsets,
                provenance=self.provenance,
            )
            writer.__enter__()
            self._writer = writer
        for name, values in pooled.items():
            self._writer.write(name, rows, values)

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            if exc_type is None:
                raise RuntimeError("no batch was run, so there is nothing to store")
            return
        writer.provenance = dict(self.provenance)
        writer.__exit__(exc_type, exc, traceback)


def load_stored(store: FeatureStore | None, key: Mapping[str, Any] | None) -> Features | None:
    """The store's complete entry of ``key`` (None without a store or entry), checked finite.

    Entries are checked when they are written; an entry written elsewhere (an older
    brainalign, another tool) is checked again here, before anything scores it.

    Raises
    ------
    NonFiniteFeaturesError
        Naming the model, the arrays with inf or NaN, and that it came from the store.
    """
    if store is None or key is None:
        return None
    found = store.try_load(key)
    if found is not None:
        check_finite(
            dict(found.layers), found.provenance, f"the stored entry {store.key_path(key)}"
        )
    return found


def collect(
    fill: Callable[[Sink], None],
    n_items: int,
    stimulus_ids: np.ndarray,
    onsets: np.ndarray | None,
    provenance: dict[str, Any],
    store: FeatureStore | None,
    key: Mapping[str, Any] | None,
) -> Features:
    """Run ``fill`` into memory (no store) or into the store entry of ``key``.

    Parameters
    ----------
    fill : callable
        Called once with the sink; it writes every item's rows.
    n_items : int
    stimulus_ids : numpy.ndarray, shape (n_items,)
    onsets : numpy.ndarray or None, shape (n_items,)
    provenance : dict
        May be updated by ``fill``; it is stored at the end.
    store, key
        Both or neither (the encoder builds the key of its call).

    Returns
    -------
    Features
        In memory, or the committed entry read back memory-mapped. When another
        process completes the same entry meanwhile, that entry.

    Raises
    ------
    NonFiniteFeaturesError
        When a batch holds inf or NaN (:class:`FiniteSink`); a store entry is abandoned.
    """
    if store is None:
        sink = ArraySink(n_items)
        with sink:
            fill(FiniteSink(sink, provenance))
        return Features(
            layers=sink.arrays, stimulus_ids=stimulus_ids, onsets=onsets, provenance=provenance
        )
    from brainalign.encoders.store import EntryExistsError

    assert key is not None
    try:
        with StoreSink(store, key, n_items, stimulus_ids, onsets, provenance) as sink:
            fill(FiniteSink(sink, provenance))
    except EntryExistsError:  # another process completed the entry meanwhile
        pass
    return store.load(key)
