"""brainalign: how closely do neural networks align with human brains and behaviour?

The public API, imported lazily (so ``import brainalign`` does not pull in torch):

- :class:`Stimuli`, :class:`Recording`, :class:`Features`: the data model;
- :func:`load_dataset`, :func:`available_datasets`: the dataset catalogue;
- :class:`TextEncoder`: word-level features of every layer (and head) of a language model;
- :class:`VisionEncoder`: per-layer image features of vision models;
- :class:`FeatureStore`: provenance-keyed, memory-mapped feature sets on disk;
- :class:`LayerCapture`: per-layer and per-head activations through hooks;
- :func:`cross_validated_encoding`, :class:`RidgeCV`, :class:`BlockedKFold`,
  :func:`lanczos_resample`, :func:`fir_delays`, :func:`leave_one_out_isc`: alignment;
- :func:`run_alice2016`: the alice2016 encoding study with its controls and ceiling.
- :func:`score`, :func:`sweep`, :func:`compare`: models x benchmarks into one tidy table
  (a resumable sweep, locally or on Ray) and its leaderboard.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Stimuli": ("brainalign.datasets.stimuli", "Stimuli"),
    "Recording": ("brainalign.datasets.recording", "Recording"),
    "Features": ("brainalign.encoders.features", "Features"),
    "load_dataset": ("brainalign.datasets.catalogue", "load"),
    "available_datasets": ("brainalign.datasets.catalogue", "available"),
    "TextEncoder": ("brainalign.encoders.text", "TextEncoder"),
    "VisionEncoder": ("brainalign.encoders.vision", "VisionEncoder"),
    "FeatureStore": ("brainalign.encoders.store", "FeatureStore"),
    "LayerCapture": ("brainalign.encoders.heads", "LayerCapture"),
    "cross_validated_encoding": ("brainalign.alignment.encoding", "cross_validated_encoding"),
    "RidgeCV": ("brainalign.alignment.ridge", "RidgeCV"),
    "BlockedKFold": ("brainalign.alignment.cv", "BlockedKFold"),
    "lanczos_resample": ("brainalign.alignment.temporal", "lanczos_resample"),
    "fir_delays": ("brainalign.alignment.temporal", "fir_delays"),
    "leave_one_out_isc": ("brainalign.alignment.ceiling", "leave_one_out_isc"),
    "run_alice2016": ("brainalign.benchmarks.alice2016", "run_alice2016"),
    "score": ("brainalign.scoring", "score"),
    "sweep": ("brainalign.sweeps", "sweep"),
    "compare": ("brainalign.sweeps", "compare"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'brainalign' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
