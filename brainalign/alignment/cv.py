"""Cross-validation splitters that respect time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import BaseCrossValidator

from brainalign.alignment._checks import check_int


class BlockedKFold(BaseCrossValidator):
    """K-fold over contiguous blocks of a time series, with a gap around each test block.

    The samples, in order, are cut into ``n_splits`` contiguous test blocks whose sizes
    differ by at most one (the first ``n_samples % n_splits`` blocks are one longer,
    exactly as :class:`sklearn.model_selection.KFold` without shuffling). The training
    set of a fold is every sample more than ``gap`` samples away from every test
    sample: the ``gap`` samples on each side of the test block are dropped. Samples are
    never shuffled.

    Why the gap: neighbouring samples of a time series are not independent. With FIR
    delays up to ``d`` samples (:func:`~brainalign.alignment.temporal.fir_delays`), a
    training row within ``d`` samples of the held-out block contains copies of the
    held-out stimuli, so a flexible model can score by recognising them; and the slow
    haemodynamic response (BOLD autocorrelation) lets held-out responses leak into
    their neighbours. Dropping ``gap`` samples on both sides removes both leaks; for
    delayed features use at least ``gap = max(delays)``, the default in
    :func:`~brainalign.alignment.encoding.cross_validated_encoding`.

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds (test blocks); at least 2.
    gap : int, default 0
        Samples dropped from training on each side of the test block; at least 0.
        With ``gap=0`` the splits equal ``KFold(n_splits)``.

    Raises
    ------
    ValueError
        From the constructor for ``n_splits < 2`` or ``gap < 0``; from :meth:`split`
        when there are fewer samples than folds or a fold would have no training
        samples.

    Examples
    --------
    >>> import numpy as np
    >>> cv = BlockedKFold(n_splits=3, gap=1)
    >>> for train, test in cv.split(np.zeros((9, 2))):
    ...     print(train, test)
    [4 5 6 7 8] [0 1 2]
    [0 1 7 8] [3 4 5]
    [0 1 2 3 4] [6 7 8]
    """

    def __init__(self, n_splits: int = 5, gap: int = 0) -> None:
        self.n_splits = check_int("n_splits", n_splits, minimum=2)
        self.gap = check_int("gap", gap, minimum=0)

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        """Number of folds.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for the scikit-learn splitter protocol.

        Returns
        -------
        n_splits : int
        """
        return self.n_splits

    def split(
        self, X: ArrayLike, y: object = None, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the training and test indices of each fold, in time order.

        Parameters
        ----------
        X : array-like, shape (n_samples, ...)
            Only its length is used.
        y, groups : object
            Ignored; present for the scikit-learn splitter protocol.

        Yields
        ------
        train : numpy.ndarray of int, shape (n_train,)
            Sorted indices more than ``gap`` samples from every test index.
        test : numpy.ndarray of int, shape (n_test,)
            One contiguous, sorted block of indices.

        Raises
        ------
        ValueError
            If ``n_samples < n_splits`` or a fold would have no training samples; all
            folds are checked before the first is yielded.
        """
        n_samples = _num_samples(X)
        if n_samples < self.n_splits:
            raise ValueError(
                f"BlockedKFold(n_splits={self.n_splits}) needs at least {self.n_splits} "
                f"samples; got {n_samples}. Lower n_splits or give more samples."
            )
        sizes = np.full(self.n_splits, n_samples // self.n_splits, dtype=np.int64)
        sizes[: n_samples % self.n_splits] += 1
        stops = np.cumsum(sizes)
        indices = np.arange(n_samples)
        folds = []
        for k, (start, stop) in enumerate(zip(stops - sizes, stops, strict=True)):
            train = np.concatenate(
                [indices[: max(start - self.gap, 0)], indices[stop + self.gap :]]
            )
            if train.size == 0:
                raise ValueError(
                    f"BlockedKFold(n_splits={self.n_splits}, gap={self.gap}) leaves fold {k} "
                    f"(test samples {start}..{stop - 1} of {n_samples}) with no training "
                    "samples. Lower gap, raise n_splits, or give more samples."
                )
            folds.append((train, indices[start:stop].copy()))
        yield from folds

    def _iter_test_indices(
        self, X: object = None, y: object = None, groups: object = None
    ) -> Iterator[np.ndarray]:
        for _, test in self.split(X, y, groups):
            yield test


def _num_samples(X: ArrayLike) -> int:
    """Length of the first axis of ``X``."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(X)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(
            f"split needs an array-like with a length (n_samples, ...); got {type(X).__name__}."
        ) from None
