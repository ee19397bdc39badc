"""Private helpers shared by the statistics modules: option checks, seeds, devices.

Used by :mod:`~brainalign.alignment.stats.permutation` and
:mod:`~brainalign.alignment.stats.bootstrap`; nothing here is public.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import device as array_device

from brainalign.alignment._checks import check_int

Seed = int | np.random.Generator

#: Floats per batch of intermediate arrays (about 256 MB in float64).
_BATCH_FLOATS = 2**25


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; use one of {list(choices)}.")
    return str(value)


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int("seed", seed, minimum=0))


def _check_finite(name: str, arr: Any, xp: Any) -> None:
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(
            f"{name} holds NaN or inf values; drop or impute them first (a statistic of "
            "missing data would be silently wrong)."
        )


def _to_device(x: np.ndarray, xp: Any, like: Any) -> Any:
    """A CPU numpy array as an ``xp`` array on the device of ``like``."""
    return xp.asarray(x, device=array_device(like))


def _standardize_columns(A: Any, xp: Any) -> tuple[Any, Any]:
    """Columns centred and scaled to unit norm, and which columns were constant."""
    centred = A - xp.mean(A, axis=0)
    norm = xp.sqrt(xp.sum(centred * centred, axis=0))
    constant = (xp.max(A, axis=0) == xp.min(A, axis=0)) | (norm == 0)
    return centred / xp.where(constant, xp.ones_like(norm), norm), constant
