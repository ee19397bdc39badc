"""The error of a run that would not fit in memory."""

from __future__ import annotations

__all__ = ["DoesNotFitError"]


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


class DoesNotFitError(ValueError):
    """A cell's predicted peak memory is more than the machine has available.

    Raised before any forward pass (:func:`brainalign.planning.cost.check_fits`), with
    the numbers and the options that make the cell fit.

    Attributes
    ----------
    model, benchmark : str
        The cell.
    where : {"host", "device"}
        Which memory is short.
    needed_bytes, available_bytes : int
        The predicted peak and what is available (bytes).
    remedies : list of str
        Options of the run that make the plan fit (each checked by planning again).
    """

    def __init__(
        self,
        model: str,
        benchmark: str,
        *,
        where: str,
        needed_bytes: int,
        available_bytes: int,
        remedies: list[str],
    ) -> None:
        self.model = model
        self.benchmark = benchmark
        self.where = where
        self.needed_bytes = int(needed_bytes)
        self.available_bytes = int(available_bytes)
        self.remedies = list(remedies)
        fix = (
            "; to make it fit: " + " or ".join(self.remedies)
            if self.remedies
            else "; no option of the run makes it fit: use a machine with more memory"
        )
        super().__init__(
            f"{model} on {benchmark} would need about {_gib(self.needed_bytes)} of {where} "
            f"memory at its peak, but {_gib(self.available_bytes)} is available{fix}"
        )
