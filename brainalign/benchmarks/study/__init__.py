"""A user's own study, scored like a registered benchmark.

- :class:`Study`: the user's stimuli, responses (or RDMs, or ratings) and analysis;
  :meth:`Study.benchmark` is the :class:`~brainalign.benchmarks.benchmark.Benchmark`
  that ``score``, ``sweep`` and the command line run; :meth:`Study.from_yaml` reads a
  study file (:data:`STUDY_KEYS`);
- :class:`StudyInputError`: what is wrong with a study's inputs, named;
- :data:`OPTIONS`: the options of each analysis.
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "ANALYSES": "brainalign.benchmarks.study.study",
    "OPTIONS": "brainalign.benchmarks.study.study",
    "Study": "brainalign.benchmarks.study.study",
    "StudyInputError": "brainalign.benchmarks.study.inputs",
    "STUDY_KEYS": "brainalign.benchmarks.study.config",
    "load_study": "brainalign.benchmarks.study.config",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
