"""Benchmarks: where a dataset, a model's features and an alignment metric meet.

:meth:`Benchmark.run` is the one path from run settings to result rows; the registry
names and versions every benchmark. The names users call are re-exported here and
imported on first use (``import brainalign.benchmarks`` imports no reader and no model
library):

- :class:`Benchmark`, :class:`BenchmarkTask`, :class:`ModelScores`,
  :class:`MissingBenchmarkDataError`: a benchmark, its task protocol, its errors;
- :class:`RunSettings`, :func:`check_settings`, :class:`SettingsError`: what a run uses,
  checked once, and refused where a benchmark would not use it;
- :func:`get`, :func:`available`, :func:`info`, :func:`register`,
  :class:`UnknownBenchmarkError`: the registry;
- :func:`position_features`, :func:`random_vectors`: the content-free controls;
- :class:`Study`, :class:`StudyInputError`: a user's own data run as a benchmark
  (:mod:`brainalign.benchmarks.study`).
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "Benchmark": "brainalign.benchmarks.benchmark",
    "BenchmarkTask": "brainalign.benchmarks.benchmark",
    "MissingBenchmarkDataError": "brainalign.benchmarks.benchmark",
    "ModelScores": "brainalign.benchmarks.benchmark",
    "RunSettings": "brainalign.benchmarks.settings",
    "SettingsError": "brainalign.benchmarks.settings",
    "check_settings": "brainalign.benchmarks.settings",
    "UnknownBenchmarkError": "brainalign.benchmarks.registry",
    "available": "brainalign.benchmarks.registry",
    "get": "brainalign.benchmarks.registry",
    "info": "brainalign.benchmarks.registry",
    "register": "brainalign.benchmarks.registry",
    "position_features": "brainalign.benchmarks.controls",
    "random_vectors": "brainalign.benchmarks.controls",
    "Study": "brainalign.benchmarks.study.study",
    "StudyInputError": "brainalign.benchmarks.study.inputs",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
