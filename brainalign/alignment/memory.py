"""The memory model of a cross-validated encoding fit, and target batches sized from it.

:func:`encoding_peak_bytes` is the one definition of how many bytes
:func:`~brainalign.alignment.encoding.cross_validated_encoding` holds at its peak;
:func:`auto_target_batch_size` inverts it for a memory budget (``target_batch_size=
"auto"``), and cost plans call it to say whether a run fits. The model counts the
arrays of the numpy path (a torch device holds the same arrays in its own memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from brainalign.alignment.ridge import DEFAULT_ALPHAS

__all__ = [
    "MEMORY_FRACTION",
    "available_memory_bytes",
    "auto_target_batch_size",
    "encoding_peak_bytes",
]

MEMORY_FRACTION = 0.5
"""Share of the available memory that :func:`auto_target_batch_size` plans to use by
default: the rest is headroom for the allocator, the page cache of memory-mapped
targets and other processes."""

_DTYPES = {"float64": 8, "float32": 4}
_MAX_BATCH = 2**24  # targets per batch beyond which auto_target_batch_size stops looking


@dataclass(frozen=True)
class _Shape:
    """Row counts of one outer and one inner fold (the largest of each)."""

    n_samples: int
    n_design: int  # delayed features, n_features * n_delays
    n_train: int  # outer training rows
    n_test: int  # outer held-out rows
    n_inner_train: int
    n_inner_val: int

    @classmethod
    def of(cls, n_samples: int, n_design: int, n_splits: int, inner_splits: int) -> _Shape:
        n_test = math.ceil(n_samples / n_splits)
        n_train = n_samples - n_samples // n_splits
        n_inner_val = math.ceil(n_train / inner_splits)
        n_inner_train = n_train - n_train // inner_splits
        return cls(n_samples, n_design, n_train, n_test, n_inner_train, n_inner_val)

    @property
    def k_inner(self) -> int:
        """Rank kept by an inner fold's decomposition (the smaller Gram side)."""
        return min(self.n_inner_train, self.n_design)

    @property
    def k_full(self) -> int:
        """Rank kept by the refit's decomposition on all outer training rows."""
        return min(self.n_train, self.n_design)


def _split_factors(n_rows: int, n_val: int, n_design: int) -> int:
    """Elements of one factored subset of rows (:class:`~brainalign.alignment.ridge._SplitSVD`).

    Dual form (fewer rows than features): ``U`` (n_rows^2) and the validation
    predictor ``K_val U`` (n_val x n_rows). Primal form: ``V`` (n_design^2), the
    validation predictor ``X_val V`` (n_val x n_design) and the centred training rows
    or their projection ``X_c V`` (n_rows x n_design).
    """
    if n_rows < n_design:
        return n_rows**2 + n_val * n_rows
    return n_design**2 + n_val * n_design + n_rows * n_design


def _per_target_fit(shape: _Shape, n_alphas: int) -> int:
    """Elements per target at the peak of one RidgeCV fit, beyond its checked ``Y``.

    The larger of an inner fold's scoring (its training and validation rows, their
    centred copy and projection: ``2 n_inner_train + n_val + k_inner``) and the refit
    (centred rows, projection, its scaled copy and the coefficients: ``n_train +
    2 k_full + n_design``), plus the penalties' scores (``2 n_alphas``).
    """
    s = shape
    inner = 2 * s.n_inner_train + s.n_inner_val + s.k_inner
    refit = s.n_train + 2 * s.k_full + s.n_design
    return max(inner, refit) + 2 * n_alphas


def encoding_peak_bytes(
    n_samples: int,
    n_features: int,
    n_targets: int,
    *,
    n_delays: int = 1,
    n_alphas: int = len(DEFAULT_ALPHAS),
    n_splits: int = 5,
    inner_splits: int = 5,
    dtype: str = "float64",
    target_batch_size: int | None = None,
    targets_in_memory: bool = True,
) -> int:
    """Peak bytes that :func:`cross_validated_encoding` allocates.

    The one memory model of an encoding fit: ``target_batch_size="auto"`` and cost
    plans use it. In elements of ``dtype``, with ``n_design = n_features * n_delays``;
    ``n_train``, ``n_test``: the rows of the largest outer fold; ``n_inner_train``,
    ``n_val``: of the largest inner fold; ``k_inner = min(n_inner_train, n_design)``,
    ``k_full = min(n_train, n_design)`` (the rank each decomposition keeps; the dual
    form when the rows are fewer than the features, else the primal form):

    - **targets** (``targets_in_memory=True``): ``Y`` itself, ``n_samples x n_targets``,
      and per outer fold its training rows, their z-scored and checked copies and the
      penalties' scores, ``(3 n_train + 2 n_alphas) n_targets`` (plus ``2 n_design
      n_targets`` when there are several batches: the refit's coefficients in parts,
      then concatenated). Out of core, ``Y`` stays on disk and only a batch is read.
    - **design**: the delayed features (``n_samples n_design``), the training rows
      and their z-scored and centred copies, RidgeCV's checked copy in memory
      (``3 n_train n_design`` out of core, ``4 n_train n_design`` in memory), and the
      z-scored held-out rows (``n_test n_design``).
    - **factors**: of a subset of ``r`` rows, ``r^2 + n_val r`` in the dual form or
      ``n_design^2 + (n_val + r) n_design`` in the primal form. Out of core every
      inner fold's factors are kept for all batches, with the refit's; in memory one
      at a time, with the Gram matrix of the training rows (``n_train^2``, when an
      inner fold is dual) and the eigendecomposition's workspace (``3 k^2``: LAPACK's
      ``syevd`` work arrays and the copies of the input and the vectors).
    - **batch**: per target of a batch (``target_batch_size``, capped at ``n_targets``;
      all targets when None), the larger of an inner fold's scoring (``2 n_inner_train
      + n_val + k_inner``) and the refit (``n_train + 2 k_full + n_design``), plus
      ``2 n_alphas`` scores; out of core also the columns read (``n_samples``) and
      their training rows, z-scored and checked copies (``3 n_train``). Out of core
      the peak is the larger of the batch and the decomposition (the Gram matrix and
      ``3 k^2`` of workspace) on top of design and factors.
    - **results**: per target, the fold scores and penalties and a few per-target
      vectors, ``(2 n_splits + 4) x 8`` bytes whatever ``dtype``.

    Accuracy, stated and tested (``tests/alignment/test_memory.py``): within 25 % of
    the peak resident memory of the numpy path on one BLAS thread, measured as
    ``ru_maxrss`` minus the resident size before the fit (which already holds ``X``,
    and ``Y`` in memory), for fits of 50 MB or more, with glibc's ``malloc`` returning
    freed blocks to the system (``MALLOC_MMAP_THRESHOLD_=1048576``; measured 0.81-1.15
    of the peak). With glibc's default dynamic threshold, freed arrays under 32 MB can
    stay resident: the measured peak was up to 45 MB above the model for fits of
    100 MB (its arrays of a few MB each); large fits, whose arrays exceed 32 MB, are
    not affected. Not counted: ``X`` as given (the caller's), the returned
    predictions, the interpreter and libraries, and the page cache of files read.

    Parameters
    ----------
    n_samples, n_features, n_targets : int
        Rows of ``X`` and ``Y``, columns of ``X`` (before delays), columns of ``Y``.
    n_delays : int, default 1
        FIR delays (``len(delays)``).
    n_alphas : int, default len(DEFAULT_ALPHAS)
        Penalties tried.
    n_splits, inner_splits : int, default 5
        Outer and inner folds.
    dtype : {"float64", "float32"}, default "float64"
        Working precision (numpy inputs compute in float64).
    target_batch_size : int, optional
        Targets per batch; None: all targets at once.
    targets_in_memory : bool, default True
        Whether ``Y`` is an array in memory (counted) or read from disk per batch.

    Returns
    -------
    int
        Bytes.

    Raises
    ------
    ValueError
        For a count below 1 (below 2 for the folds) or an unknown ``dtype``.
    """
    itemsize = _itemsize(dtype)
    counts = {"n_samples": n_samples, "n_features": n_features, "n_delays": n_delays}
    counts |= {"n_alphas": n_alphas, "n_targets": n_targets}
    for name, value in counts.items():
        _check_count(name, value, 1)
    for name, value in {"n_splits": n_splits, "inner_splits": inner_splits}.items():
        _check_count(name, value, 2)
    batch = n_targets if target_batch_size is None else min(target_batch_size, n_targets)
    _check_count("target_batch_size", batch, 1)
    n_design = n_features * n_delays
    shape = _Shape.of(n_samples, n_design, n_splits, inner_splits)
    if targets_in_memory:
        elements = n_samples * n_targets + _in_memory(shape, n_alphas, n_targets, batch)
    else:
        elements = _out_of_core(shape, n_alphas, inner_splits, batch)
    results = (2 * n_splits + 4) * n_targets * 8
    return int(itemsize * elements + results)


def _dual_gram(shape: _Shape) -> int:
    """The Gram matrix of all outer training rows, when some fit takes the dual form."""
    return shape.n_train**2 if shape.n_inner_train < shape.n_design else 0


def _in_memory(shape: _Shape, n_alphas: int, n_targets: int, batch: int) -> int:
    """Working elements of the in-memory path (``Y`` itself not included).

    Design: delays, training rows, their z-scored, checked and centred copies, the
    z-scored held-out rows and the Gram matrix (``n_samples n_design + (4 n_train +
    n_test) n_design + n_train^2`` when dual). Targets: the training rows, z-scored
    and checked copies and the penalties' scores (``(3 n_train + 2 n_alphas)
    n_targets``), and with several batches the refit's coefficients in parts and
    concatenated (``2 n_design n_targets``). Then the larger of an inner fold's
    factors and the refit's, with ``batch`` targets' working arrays
    (:func:`_per_target_fit`) and the eigendecomposition's workspace (``3 k^2``).
    """
    s = shape
    design = s.n_samples * s.n_design + (4 * s.n_train + s.n_test) * s.n_design
    design += _dual_gram(s)
    factors = max(
        _split_factors(s.n_inner_train, s.n_inner_val, s.n_design) + 3 * s.k_inner**2,
        _split_factors(s.n_train, 0, s.n_design) + 3 * s.k_full**2,
    )
    targets = (3 * s.n_train + 2 * n_alphas) * n_targets
    if batch < n_targets:  # the refit's coefficients, in parts then concatenated
        targets += 2 * s.n_design * n_targets
    return design + factors + targets + batch * _per_target_fit(s, n_alphas)


def _out_of_core(shape: _Shape, n_alphas: int, inner_splits: int, batch: int) -> int:
    """Working elements of the out-of-core path, targets read ``batch`` at a time.

    Design: delays, training rows, their z-scored and centred copies, the z-scored
    held-out rows (``n_samples n_design + (3 n_train + n_test) n_design``), and every
    inner fold's factors with the refit's, kept for all batches. The larger of the
    decomposition (plus the Gram matrix and ``3 k^2`` of workspace) and a batch: per
    target the columns read (``n_samples``), their training rows, z-scored and
    checked copies (``3 n_train``) and :func:`_per_target_fit`.
    """
    s = shape
    design = s.n_samples * s.n_design + (3 * s.n_train + s.n_test) * s.n_design
    factors = inner_splits * _split_factors(s.n_inner_train, s.n_inner_val, s.n_design)
    factors += _split_factors(s.n_train, 0, s.n_design)
    decomposing = _dual_gram(s) + 3 * max(s.k_inner, s.k_full) ** 2
    per_target = s.n_samples + 3 * s.n_train + _per_target_fit(s, n_alphas)
    return design + factors + max(decomposing, batch * per_target)


def auto_target_batch_size(
    n_samples: int,
    n_features: int,
    *,
    n_delays: int = 1,
    dtype: str = "float64",
    memory_bytes: int | None = None,
    device: str | None = None,
) -> int:
    """Targets per batch whose fit fits in ``memory_bytes`` by :func:`encoding_peak_bytes`.

    The largest batch whose modelled peak, with the targets read from disk
    (``targets_in_memory=False``) and the default folds and penalties, stays within
    the budget; at least 1 (a budget below the fit's fixed part still gets one target
    per batch: the model then says the fit will not fit, and the caller can check).

    Parameters
    ----------
    n_samples, n_features : int
        Rows and columns (before delays) of ``X``.
    n_delays : int, default 1
    dtype : {"float64", "float32"}, default "float64"
    memory_bytes : int, optional
        Budget in bytes. Default: :data:`MEMORY_FRACTION` of
        :func:`available_memory_bytes` of ``device``.
    device : str, optional
        ``None`` or ``"cpu"``: host memory; ``"cuda"`` or ``"cuda:N"``: that GPU.

    Returns
    -------
    int
        Targets per batch, at least 1.
    """
    if memory_bytes is None:
        memory_bytes = int(MEMORY_FRACTION * available_memory_bytes(device))
    _check_count("memory_bytes", memory_bytes, 1)

    def peak(batch: int) -> int:
        return encoding_peak_bytes(
            n_samples,
            n_features,
            batch,
            n_delays=n_delays,
            dtype=dtype,
            target_batch_size=batch,
            targets_in_memory=False,
        )

    low, high = 1, 2
    while peak(high) <= memory_bytes and high < _MAX_BATCH:
        low, high = high, 2 * high
    while high - low > 1:  # peak(low) fits (or low == 1), peak(high) does not
        middle = (low + high) // 2
        low, high = (middle, high) if peak(middle) <= memory_bytes else (low, middle)
    return low


def available_memory_bytes(device: str | None = None) -> int:
    """Memory available for new arrays on ``device``, in bytes.

    Parameters
    ----------
    device : str, optional
        ``None`` or ``"cpu"``: ``psutil.virtual_memory().available`` (free memory plus
        reclaimable caches). ``"cuda"`` or ``"cuda:N"``: the free memory of that GPU,
        ``torch.cuda.mem_get_info`` (memory torch has cached but not used is not
        counted as free).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For another device, or a CUDA device torch does not see.
    """
    name = "cpu" if device is None else str(device)
    if name == "cpu":
        import psutil

        return int(psutil.virtual_memory().available)
    if not name.startswith("cuda"):
        raise ValueError(f"device={device!r}; pass None, 'cpu', 'cuda' or 'cuda:N'.")
    import torch

    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but torch sees no CUDA device; pass device=None or 'cpu'."
        )
    free, _total = torch.cuda.mem_get_info(torch.device(name))
    return int(free)


def _itemsize(dtype: str) -> int:
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r}; pass one of {sorted(_DTYPES)}.")
    return _DTYPES[dtype]


def _check_count(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}; pass an int of at least {minimum}.")
