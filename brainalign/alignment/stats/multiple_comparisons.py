"""Multiple comparisons: Benjamini-Hochberg false discovery rate control.

:func:`fdr_bh` works on p-values of any shape (units x layers x heads), numpy or torch,
leaving NaN (tests not done) out of the family. The family-wise alternative for
permutation tests, :func:`~brainalign.alignment.stats.permutation.max_statistic_correction`,
lives with the permutation tests, since it needs their null distribution.

Part of :mod:`brainalign.alignment.stats`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import device as array_device
from numpy.typing import ArrayLike

from brainalign.alignment.backend import as_float, namespace

__all__ = ["fdr_bh"]


def _reverse_cumulative_min(x: Any, xp: Any) -> Any:
    """``out[i] = min(x[i:])`` of a 1-D array (not in the array API: one small branch)."""
    from array_api_compat import is_torch_array

    flipped = xp.flip(x)
    if is_torch_array(x):
        import torch

        return xp.flip(torch.cummin(flipped, dim=0).values)
    return xp.flip(np.minimum.accumulate(flipped))


def fdr_bh(p_values: ArrayLike, alpha: float = 0.05) -> tuple[Any, Any]:
    """Benjamini-Hochberg false discovery rate control for p-values of any shape.

    The family is every non-NaN element (e.g. units x layers x heads, flattened
    internally). Adjusted p-values equal
    ``scipy.stats.false_discovery_control(p, method="bh")`` on the non-NaN values.

    Parameters
    ----------
    p_values : array-like, shape (...)
        numpy or torch; values in [0, 1]. NaN marks a test that was not done (e.g. an
        undefined score): it is left out of the family (so does not count towards m)
        and comes back as NaN, not rejected.
    alpha : float, default 0.05
        Target false discovery rate, in (0, 1).

    Returns
    -------
    rejected : bool array, shape (...)
        ``adjusted <= alpha``.
    adjusted : array, shape (...)
        BH-adjusted p-values (q-values), NaN where the input was NaN.

    Raises
    ------
    ValueError
        For p-values outside [0, 1], infinite values, or alpha outside (0, 1).
    """
    level = float(alpha)
    if not 0.0 < level < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1; got {alpha!r} (e.g. 0.05).")
    xp = namespace(p_values)
    p = as_float(p_values, xp, xp.float64)
    shape = tuple(p.shape)
    flat = xp.reshape(p, (-1,))
    missing = xp.isnan(flat)
    valid = flat[~missing]
    if bool(xp.any((valid < 0) | (valid > 1))):
        raise ValueError(
            "p_values must lie in [0, 1] (NaN marks a missing test); got values from "
            f"{float(xp.min(valid))} to {float(xp.max(valid))}."
        )
    m = valid.shape[0]
    adjusted_valid = valid
    if m:
        order = xp.argsort(valid, stable=True)
        ranks = xp.arange(1, m + 1, dtype=xp.float64, device=array_device(valid))
        scaled = xp.take(valid, order, axis=0) * (m / ranks)
        stepped = xp.clip(_reverse_cumulative_min(scaled, xp), max=1.0)
        adjusted_valid = xp.take(stepped, xp.argsort(order, stable=True), axis=0)
    adjusted = xp.full(flat.shape, xp.nan, dtype=xp.float64, device=array_device(flat))
    position = xp.nonzero(~missing)[0]
    adjusted = _scatter(adjusted, position, adjusted_valid, xp)
    adjusted = xp.reshape(adjusted, shape)
    rejected = xp.where(xp.isnan(adjusted), False, adjusted <= level)
    return rejected, adjusted


def _scatter(target: Any, position: Any, values: Any, xp: Any) -> Any:
    """``target[position] = values`` for a 1-D array, as a new array."""
    out = xp.asarray(target, copy=True)
    out[position] = values
    return out
