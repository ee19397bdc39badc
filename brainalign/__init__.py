"""brainalign: how closely do neural networks align with human brains and behaviour?

The public API, imported lazily (so ``import brainalign`` does not pull in torch):

- :func:`score`, :func:`sweep`, :func:`compare`: models x benchmarks into one tidy
  table (resumable, locally or on Ray) and its leaderboard; :func:`plan`: what a run
  would cost (forward passes, feature bytes, peak memory, time) before it runs;
  :class:`Study`: a user's own data scored like a benchmark; :class:`Benchmark`,
  :class:`RunSettings`, :func:`get_benchmark`, :func:`available_benchmarks`: the
  registered benchmarks and the settings a run uses;
- :func:`load_dataset`, :func:`available_datasets`; :class:`Stimuli`,
  :class:`Recording`, :class:`Features`: the data model;
- :class:`TextEncoder`, :class:`VisionEncoder`: per-layer (and per-head) features;
  :class:`FeatureStore`: provenance-keyed, memory-mapped features on disk;
  :class:`LayerCapture`: per-layer and per-head activations through hooks;
- :func:`cross_validated_encoding`, :class:`RidgeCV`, :class:`BlockedKFold`,
  :func:`lanczos_resample`, :func:`fir_delays`, :func:`rdm`, :func:`compare_rdms`,
  :func:`cka`, :func:`leave_one_out_isc`: alignment;
- :func:`read_results`, :func:`leaderboard`: result tables (:mod:`brainalign.results`).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "score": ("brainalign.scoring", "score"),
    "plan": ("brainalign.scoring", "plan"),
    "sweep": ("brainalign.sweeps", "sweep"),
    "compare": ("brainalign.sweeps", "compare"),
    "Benchmark": ("brainalign.benchmarks.benchmark", "Benchmark"),
    "Study": ("brainalign.benchmarks.study.study", "Study"),
    "RunSettings": ("brainalign.benchmarks.settings", "RunSettings"),
    "get_benchmark": ("brainalign.benchmarks.registry", "get"),
    "available_benchmarks": ("brainalign.benchmarks.registry", "available"),
    "load_dataset": ("brainalign.datasets.catalogue", "load"),
    "available_datasets": ("brainalign.datasets.catalogue", "available"),
    "Stimuli": ("brainalign.stimuli", "Stimuli"),
    "Recording": ("brainalign.datasets.recording", "Recording"),
    "Features": ("brainalign.encoders.features", "Features"),
    "TextEncoder": ("brainalign.encoders.text", "TextEncoder"),
    "VisionEncoder": ("brainalign.encoders.vision", "VisionEncoder"),
    "FeatureStore": ("brainalign.encoders.store", "FeatureStore"),
    "LayerCapture": ("brainalign.encoders.heads", "LayerCapture"),
    "cross_validated_encoding": ("brainalign.alignment.encoding", "cross_validated_encoding"),
    "RidgeCV": ("brainalign.alignment.ridge", "RidgeCV"),
    "BlockedKFold": ("brainalign.alignment.cv", "BlockedKFold"),
    "lanczos_resample": ("brainalign.alignment.temporal", "lanczos_resample"),
    "fir_delays": ("brainalign.alignment.temporal", "fir_delays"),
    "rdm": ("brainalign.alignment.rsa", "rdm"),
    "compare_rdms": ("brainalign.alignment.rsa", "compare_rdms"),
    "cka": ("brainalign.alignment.similarity", "cka"),
    "leave_one_out_isc": ("brainalign.alignment.ceiling", "leave_one_out_isc"),
    "read_results": ("brainalign.results.io", "read_results"),
    "leaderboard": ("brainalign.results.summary", "leaderboard"),
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
