"""Alignment: how alike a model's features and the brain's (or a person's) responses are.

Arrays in (numpy, or torch on CPU or GPU; see :mod:`brainalign.alignment.backend`),
arrays, small dataclasses or tidy DataFrames out; nothing here loads a model or a
dataset. The names users call are re-exported here, scikit-learn style, and imported
on first use (so ``import brainalign.alignment`` stays fast and imports neither torch
nor scikit-learn):

- encoding models: :class:`RidgeCV`, :class:`KernelRidgeCV`, :class:`BandedRidgeCV`
  (with :func:`variance_partitioning`), :class:`OLS`, :class:`PLSRegression`,
  :func:`cross_validated_encoding` (:class:`EncodingOutOfMemoryError`), :class:`BlockedKFold`;
- whole-brain targets out of core: :class:`ArrayTargets`, :class:`TargetSource`; the
  memory model :func:`encoding_peak_bytes`, :func:`auto_target_batch_size`,
  :func:`available_memory_bytes`;
- time: :func:`lanczos_resample`, :func:`fir_delays`, :func:`hrf_regressors`; on the
  M/EEG clock: :func:`impulse_features`, :func:`onset_impulses`,
  :func:`resample_features`;
- temporal response functions: :class:`TemporalResponseFunction` (``TRF``),
  :func:`cross_validated_trf`, :func:`lag_samples`, :func:`lagged_design`,
  :func:`laplacian_penalty`;
- time-resolved M/EEG: :func:`sliding_scores`, :func:`generalization_scores`,
  :func:`time_resolved_encoding`, :func:`concatenate_epochs`,
  :func:`cluster_permutation_1samp`;
- scores: :func:`pearson_columns`, :func:`r2_columns`, :func:`explained_variance_columns`;
- RSA: :func:`rdm`, :func:`compare_rdms`, :func:`rdm_noise_ceiling`,
  :func:`time_resolved_rdms`, :func:`compare_time_resolved`,
  :func:`bootstrap_rdm_evaluation`, :func:`searchlight_rsa`,
  :func:`volume_searchlights`, :func:`sensor_searchlights`;
- representational similarity: :func:`cka`, :func:`linear_cka_matrix`,
  :func:`procrustes_distance`, :func:`mutual_knn`, :func:`cca`, :func:`svcca`,
  :func:`pwcca`, :func:`rsa_ratings`;
- statistics: :func:`permutation_test`, :func:`mantel_test`,
  :func:`max_statistic_correction`, :func:`bootstrap_mean`,
  :func:`bootstrap_correlation`, :func:`bootstrap_difference`, :func:`fdr_bh`;
- ceilings: :func:`leave_one_out_isc`;
- backends: :func:`to_backend`, :func:`to_numpy`.

Each name's module is in ``_EXPORTS``; the modules themselves stay importable
(``from brainalign.alignment import rsa``).
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "BandedRidgeCV": "brainalign.alignment.banded",
    "variance_partitioning": "brainalign.alignment.banded",
    "to_backend": "brainalign.alignment.backend",
    "to_numpy": "brainalign.alignment.backend",
    "leave_one_out_isc": "brainalign.alignment.ceiling",
    "BlockedKFold": "brainalign.alignment.cv",
    "cross_validated_encoding": "brainalign.alignment.encoding",
    "EncodingOutOfMemoryError": "brainalign.alignment.encoding",
    "KernelRidgeCV": "brainalign.alignment.kernel_ridge",
    "OLS": "brainalign.alignment.linear",
    "PLSRegression": "brainalign.alignment.linear",
    "explained_variance_columns": "brainalign.alignment.metrics",
    "pearson_columns": "brainalign.alignment.metrics",
    "r2_columns": "brainalign.alignment.metrics",
    "RidgeCV": "brainalign.alignment.ridge",
    "RidgeDecomposition": "brainalign.alignment.ridge",
    "auto_target_batch_size": "brainalign.alignment.memory",
    "available_memory_bytes": "brainalign.alignment.memory",
    "encoding_peak_bytes": "brainalign.alignment.memory",
    "ArrayTargets": "brainalign.alignment.targets",
    "TargetSource": "brainalign.alignment.targets",
    "compare_rdms": "brainalign.alignment.rsa",
    "compare_time_resolved": "brainalign.alignment.rsa",
    "rdm": "brainalign.alignment.rsa",
    "rdm_noise_ceiling": "brainalign.alignment.rsa",
    "time_resolved_rdms": "brainalign.alignment.rsa",
    "bootstrap_rdm_evaluation": "brainalign.alignment.rsa_inference",
    "searchlight_rsa": "brainalign.alignment.searchlight",
    "sensor_searchlights": "brainalign.alignment.searchlight",
    "volume_searchlights": "brainalign.alignment.searchlight",
    "cca": "brainalign.alignment.similarity",
    "cka": "brainalign.alignment.similarity",
    "linear_cka_matrix": "brainalign.alignment.similarity",
    "mutual_knn": "brainalign.alignment.similarity",
    "procrustes_distance": "brainalign.alignment.similarity",
    "pwcca": "brainalign.alignment.similarity",
    "rsa_ratings": "brainalign.alignment.similarity",
    "svcca": "brainalign.alignment.similarity",
    "bootstrap_correlation": "brainalign.alignment.stats",
    "bootstrap_difference": "brainalign.alignment.stats",
    "bootstrap_mean": "brainalign.alignment.stats",
    "fdr_bh": "brainalign.alignment.stats",
    "mantel_test": "brainalign.alignment.stats",
    "max_statistic_correction": "brainalign.alignment.stats",
    "permutation_test": "brainalign.alignment.stats",
    "fir_delays": "brainalign.alignment.temporal",
    "hrf_regressors": "brainalign.alignment.temporal",
    "lanczos_resample": "brainalign.alignment.temporal",
    "impulse_features": "brainalign.alignment.meeg_clock",
    "onset_impulses": "brainalign.alignment.meeg_clock",
    "resample_features": "brainalign.alignment.meeg_clock",
    "concatenate_epochs": "brainalign.alignment.time_resolved",
    "generalization_scores": "brainalign.alignment.time_resolved",
    "sliding_scores": "brainalign.alignment.time_resolved",
    "time_resolved_encoding": "brainalign.alignment.time_resolved",
    "cluster_permutation_1samp": "brainalign.alignment.stats",
    "TRF": "brainalign.alignment.trf",
    "TemporalResponseFunction": "brainalign.alignment.trf",
    "cross_validated_trf": "brainalign.alignment.trf",
    "lag_samples": "brainalign.alignment.trf",
    "lagged_design": "brainalign.alignment.trf",
    "laplacian_penalty": "brainalign.alignment.trf",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
