"""Figures and reports built from tidy result tables.

Every plotted or tabulated number comes from :mod:`brainalign.results`. The names users
call are re-exported here and imported on first use (``import brainalign.report``
imports neither matplotlib nor nilearn):

- :func:`build_report`: one self-contained HTML report of a run folder;
- :func:`write_benchmark_figures`, :func:`comparison_table`: each benchmark's figures,
  and the numbers of its model-comparison bars;
- :func:`plot_layer_curves`, :func:`plot_head_heatmap`, :func:`plot_model_comparison`:
  score by layer, layers x heads, models at their best layer;
- :func:`plot_rdms`, :func:`plot_glass_brain`, :func:`plot_surface_map`,
  :func:`plot_topomap`: RDMs and brain maps, from arrays;
- :func:`plot_scaling`, :func:`plot_depth_curves`, :func:`plot_pairs`,
  :func:`write_model_figures`: scores across models (against a property, against
  relative depth, paired variants);
- :func:`plot_trf_kernels`, :func:`plot_time_course`, :func:`plot_generalization`,
  :func:`peak_times`: scores in time (TRF kernels per sensor group, time courses with
  their significant clusters, temporal generalisation);
- :func:`time_course`: a model's time course at its best layer from time-resolved result
  rows, with its interval and the clusters where it beats its strongest control.
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "build_report": "brainalign.report.html",
    "comparison_table": "brainalign.report.figures",
    "write_benchmark_figures": "brainalign.report.figures",
    "plot_head_heatmap": "brainalign.report.plots",
    "plot_layer_curves": "brainalign.report.plots",
    "plot_model_comparison": "brainalign.report.comparison",
    "plot_rdms": "brainalign.report.rdm",
    "plot_glass_brain": "brainalign.report.brain_maps",
    "plot_surface_map": "brainalign.report.brain_maps",
    "plot_topomap": "brainalign.report.brain_maps",
    "plot_depth_curves": "brainalign.report.scaling",
    "plot_pairs": "brainalign.report.scaling",
    "plot_scaling": "brainalign.report.scaling",
    "write_model_figures": "brainalign.report.scaling",
    "peak_times": "brainalign.report.time_plots",
    "plot_generalization": "brainalign.report.time_plots",
    "plot_time_course": "brainalign.report.time_plots",
    "plot_trf_kernels": "brainalign.report.time_plots",
    "time_course": "brainalign.report.meeg_figures",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
