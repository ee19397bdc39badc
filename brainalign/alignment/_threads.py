"""Threads for independent chunks of array work (numpy and torch release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, TypeVar

from brainalign.alignment._checks import check_int

T = TypeVar("T")


def resolve_n_jobs(n_jobs: int) -> int:
    """Threads for ``n_jobs``: itself when positive, every core when -1.

    Raises
    ------
    ValueError
        For 0, values below -1 or non-integers.
    """
    n_jobs = check_int("n_jobs", n_jobs, minimum=-1)
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of threads, or -1 for all cores.")
    if n_jobs == -1:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1
    return n_jobs


def thread_map(function: Callable[[Any], T], items: Iterable[Any], n_threads: int) -> list[T]:
    """``[function(item) for item in items]``, on ``n_threads`` threads when above 1.

    While the threads run, numpy's BLAS is held to one thread each (threadpoolctl, as
    scikit-learn does), so threads and BLAS do not compete for the same cores.

    Returns
    -------
    list
        The results in the order of ``items``.
    """
    items = list(items)
    if n_threads <= 1 or len(items) < 2:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with one_blas_thread():
        with ThreadPoolExecutor(max_workers=min(n_threads, len(items))) as pool:
            return list(pool.map(function, items))


def one_blas_thread() -> AbstractContextManager:
    """Limit the BLAS libraries to one thread inside a ``with`` block (process-wide)."""
    return blas_controller().limit(limits=1, user_api="blas")


@cache
def blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded, found once per process.

    Finding them reads the process's memory map (4 ms, measured: a third of a
    demo-size ridge fit when it was done per eigendecomposition). numpy's BLAS, the one
    numpy arrays use, is loaded with numpy, before the first call.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
