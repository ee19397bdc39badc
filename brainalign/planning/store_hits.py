"""Forward passes the feature store saves: the weights variants of a cell already stored.

:meth:`Benchmark.run <brainalign.benchmarks.benchmark.Benchmark.run>` records, for each
weights variant it scores, the store entries that variant read
(:mod:`brainalign.encoders.store.usage`) under :func:`variant_identity`: the model, the
benchmark (versioned id and data digest), the settings that change scores
(:meth:`~brainalign.benchmarks.settings.RunSettings.fingerprint`) and the variant.
:func:`stored_variants` counts the variants of a planned cell whose recorded entries are
all complete: those read the store and run no model. A variant never run with this store
(or whose entries were removed) counts as needing its passes, even when another cell's
entries would serve it, so the plan never promises fewer passes than the run makes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brainalign.benchmarks.benchmark import Benchmark
    from brainalign.benchmarks.settings import RunSettings

__all__ = ["record_variant", "stored_variants", "variant_identity"]


def variant_identity(settings: RunSettings, benchmark: Benchmark, weights: str) -> dict[str, Any]:
    """The identity under which a weights variant's store entries are recorded."""
    return {
        "model": settings.model,
        "benchmark": benchmark.versioned_id,
        "digest": benchmark.digest,
        "settings": settings.fingerprint(),
        "unit_draw": settings.unit_draw,
        "variant": weights,
    }


def record_variant(
    settings: RunSettings, benchmark: Benchmark, weights: str, entries: list[str]
) -> None:
    """Remember the entries one weights variant read (nothing without a store)."""
    store = settings.feature_store()
    if store is None or not entries:
        return
    from brainalign.encoders.store.usage import remember

    remember(store, variant_identity(settings, benchmark, weights), entries)


def stored_variants(settings: RunSettings, benchmark: Benchmark) -> int | None:
    """How many of the cell's weights variants will read the store instead of a model.

    Returns
    -------
    int or None
        None when the run has no store.
    """
    store = settings.feature_store()
    if store is None:
        return None
    from brainalign.encoders.store.usage import stored

    return sum(
        stored(store, variant_identity(settings, benchmark, weights))
        for weights in settings.variants
    )
