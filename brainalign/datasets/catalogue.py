"""Named datasets: ``load(name)`` and the list of what exists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brainalign.datasets.recording import Recording


def _alice2016(**options: Any) -> Recording:
    from brainalign.datasets.alice2016 import load_alice2016

    return load_alice2016(**options)


LOADERS: dict[str, Callable[..., Recording]] = {"alice2016": _alice2016}


def available() -> list[str]:
    """Names of the datasets ``load`` knows."""
    return sorted(LOADERS)


class UnknownDatasetError(KeyError):
    """Raised for a dataset name the catalogue does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_name(name: str) -> None:
    """Raise :class:`UnknownDatasetError` (listing the known names) unless ``name`` is known."""
    if name not in LOADERS:
        raise UnknownDatasetError(f"unknown dataset {name!r}; available: {', '.join(available())}")


def load(name: str, **options: Any) -> Recording:
    """Load a dataset of the catalogue by name.

    Parameters
    ----------
    name : str
        Dataset name, one of :func:`available`.
    **options
        Passed to the dataset's loader (for ``alice2016``: ``radius_mm``, ``subjects``).

    Raises
    ------
    UnknownDatasetError
        If ``name`` is not in the catalogue (the message lists the known names).
    """
    check_name(name)
    return LOADERS[name](**options)
