"""Statistics for alignment scores: permutation tests, bootstrap intervals, corrections.

Everything here is one implementation for numpy arrays and torch tensors (CPU or GPU,
:mod:`brainalign.alignment.backend`): results come back as the inputs' kind of array.
Random permutations and resamples are always drawn on the CPU with
:func:`numpy.random.default_rng` and moved to the data's device, so numpy and torch
inputs given the same ``seed`` use identical permutations and give the same numbers.
Computation is float64.

The package's modules, each re-exported here (``from brainalign.alignment.stats import
permutation_test``):

:mod:`~brainalign.alignment.stats.permutation`
    Permutation tests of per-unit correlations (circular shift, blocks, shuffle) with
    max-statistic family-wise correction, permutation p-values and indices, the Mantel
    test of two RDMs.
:mod:`~brainalign.alignment.stats.bootstrap`
    Bootstrap intervals of mean scores over subjects, of correlations over stimuli
    and/or subjects, and of paired differences between two models.
:mod:`~brainalign.alignment.stats.multiple_comparisons`
    Benjamini-Hochberg FDR for p-values of any shape.
:mod:`~brainalign.alignment.stats.clusters`
    Cluster-based one-sample permutation tests over time and time x sensors (MNE's
    numbers, numpy only).
"""

from brainalign.alignment.stats.bootstrap import (
    BootstrapResult,
    bootstrap_correlation,
    bootstrap_difference,
    bootstrap_indices,
    bootstrap_mean,
)
from brainalign.alignment.stats.clusters import (
    ClusterResult,
    cluster_permutation_1samp,
    ttest_1samp,
)
from brainalign.alignment.stats.multiple_comparisons import fdr_bh
from brainalign.alignment.stats.permutation import (
    MantelResult,
    PermutationResult,
    mantel_test,
    max_statistic_correction,
    permutation_indices,
    permutation_p_values,
    permutation_test,
)

__all__ = [
    "BootstrapResult",
    "ClusterResult",
    "MantelResult",
    "PermutationResult",
    "bootstrap_correlation",
    "bootstrap_difference",
    "bootstrap_indices",
    "bootstrap_mean",
    "cluster_permutation_1samp",
    "fdr_bh",
    "mantel_test",
    "max_statistic_correction",
    "permutation_indices",
    "permutation_p_values",
    "permutation_test",
    "ttest_1samp",
]
