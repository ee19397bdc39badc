"""Fixtures for the alignment tests."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices: one BLAS thread is as fast, and immune to a busy machine.

    Multi-threaded OpenBLAS spin-waits when another process holds a core, which makes
    each small eigh/matmul up to 100x slower; single-threaded keeps the tests fast.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
