"""A cost plan before a run: forward passes, feature bytes, peak memory and time per cell.

- :mod:`~brainalign.planning.workload`: what a prepared task will compute
  (:class:`Workload` of :class:`StimulusSet` and :class:`Fit`, widths as :class:`Width`
  of the model's card), returned by each task's ``workload()``;
- :mod:`~brainalign.planning.calibration`: this machine's baseline memory and GEMM
  rates, measured once and cached (:func:`machine_calibration`);
- :mod:`~brainalign.planning.cost`: :class:`CellPlan`, :func:`plan_cell`,
  :func:`plan_cells`, :func:`plan_sweep` and the table :func:`format_plans`;
- :class:`DoesNotFitError`: a cell refused before any forward pass, with the options
  that make it fit.

Names are imported on first use, so ``import brainalign.planning`` imports neither
torch nor the benchmarks.
"""

from brainalign._lazy import lazy_exports

_EXPORTS = {
    "Calibration": "brainalign.planning.calibration",
    "machine_calibration": "brainalign.planning.calibration",
    "calibrate": "brainalign.planning.calibration",
    "CellPlan": "brainalign.planning.cost",
    "format_plans": "brainalign.planning.cost",
    "plan_cell": "brainalign.planning.cost",
    "plan_cells": "brainalign.planning.cost",
    "plan_sweep": "brainalign.planning.cost",
    "DoesNotFitError": "brainalign.planning.errors",
    "Fit": "brainalign.planning.workload",
    "StimulusSet": "brainalign.planning.workload",
    "Width": "brainalign.planning.workload",
    "Workload": "brainalign.planning.workload",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
