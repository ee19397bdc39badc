"""The feature store's exceptions, raised by both the entry files and the store."""

from __future__ import annotations

__all__ = [
    "EntryExistsError",
    "FeatureStoreError",
    "IncompleteEntryError",
    "ProvenanceMismatchError",
]


class FeatureStoreError(RuntimeError):
    """A feature store problem: unusable root, damaged or conflicting entry."""


class IncompleteEntryError(FeatureStoreError):
    """No complete entry for a key (never written, interrupted, or damaged)."""


class ProvenanceMismatchError(FeatureStoreError):
    """An entry's stored key differs from the requested key under the same path."""


class EntryExistsError(FeatureStoreError):
    """A writer was opened for a key whose entry is already complete."""
