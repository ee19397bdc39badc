"""Property: the outer folds of ``cross_validated_encoding`` never leak held-out time."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from brainalign.alignment import encoding
from brainalign.alignment.cv import BlockedKFold


class RecordingKFold(BlockedKFold):
    """BlockedKFold that remembers the splits it hands out."""

    made: list["RecordingKFold"] = []

    def __init__(self, n_splits=5, gap=0):
        super().__init__(n_splits, gap)
        self.splits = []
        RecordingKFold.made.append(self)

    def split(self, X, y=None, groups=None):
        for train, test in super().split(X, y, groups):
            self.splits.append((train, test))
            yield train, test


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(min_value=80, max_value=240),
    n_splits=st.integers(min_value=2, max_value=6),
    delays=st.sets(st.integers(min_value=0, max_value=6), min_size=1, max_size=5),
)
def test_no_held_out_volume_or_delayed_copy_reaches_training(n_samples, n_splits, delays):
    delays = tuple(sorted(delays))
    rng = np.random.default_rng(n_samples)
    X = rng.normal(size=(n_samples, 2))
    Y = rng.normal(size=(n_samples, 3))
    RecordingKFold.made.clear()
    original = encoding.BlockedKFold
    encoding.BlockedKFold = RecordingKFold
    try:
        encoding.cross_validated_encoding(
            X, Y, delays=delays, n_splits=n_splits, alphas=[1.0, 10.0], inner_splits=2
        )
    finally:
        encoding.BlockedKFold = original
    outer = RecordingKFold.made[0]
    gap = max(delays)
    assert outer.gap == gap and len(outer.splits) == n_splits
    for train, test in outer.splits:
        assert not np.intersect1d(train, test).size  # no held-out volume in training
        distance = np.abs(train[:, None] - test[None, :]).min(axis=1)
        assert (distance > gap).all()  # no volume within the gap in training
        # No training row's delayed design holds a stimulus sample from the test block.
        stimulus_rows = train[:, None] - np.asarray(delays)[None, :]
        assert not np.isin(stimulus_rows, test).any()
