"""The ``Stimuli`` table: one row per item the participant saw or heard.

A core module of its own, shared by both sides of the data flow: readers in
:mod:`brainalign.datasets` build ``Stimuli`` for their recordings, and the encoders in
:mod:`brainalign.encoders` read them, without either importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("stimulus_id", "group")
CONTENT_COLUMNS = ("text", "image", "audio", "video", "label")


@dataclass(frozen=True)
class Stimuli:
    """A table of stimuli, one row per item.

    Parameters
    ----------
    table : pandas.DataFrame, shape (n_items, n_columns)
        Must hold ``stimulus_id`` (unique), ``group`` (story, passage or run the
        item belongs to) and one content column: ``text``, ``image`` (a path or an
        array), ``audio`` or ``video`` (a media file, e.g. one per run of a naturalistic
        study), or ``label`` (a condition name with no content a model could read,
        e.g. a BIDS ``trial_type``). For timed presentation it also holds ``onset``
        (seconds on the recording's clock; negative before the first sample, as BIDS
        allows) and ``duration`` (non-negative seconds). Other columns are kept.

    Raises
    ------
    ValueError
        If a required column is missing, ``stimulus_id`` repeats, or timings are
        negative or not finite.
    """

    table: pd.DataFrame

    def __post_init__(self) -> None:
        table = self.table
        missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(
                f"Stimuli table is missing column(s) {missing}; it has {list(table.columns)}"
            )
        if not any(c in table.columns for c in CONTENT_COLUMNS):
            raise ValueError(
                f"Stimuli table needs a content column, one of {list(CONTENT_COLUMNS)}; "
                f"it has {list(table.columns)}"
            )
        duplicated = table["stimulus_id"][table["stimulus_id"].duplicated()]
        if len(duplicated):
            raise ValueError(
                f"Stimuli 'stimulus_id' must be unique; repeated: {duplicated.head(5).tolist()}"
            )
        for column, lowest in (("onset", -np.inf), ("duration", 0.0)):
            if column in table.columns:
                values = table[column].to_numpy(dtype=float)
                bad = np.flatnonzero(~np.isfinite(values) | (values < lowest))
                if bad.size:
                    kind = "finite seconds" if column == "onset" else "finite, non-negative seconds"
                    raise ValueError(
                        f"Stimuli column {column!r} must hold {kind}; rows {bad[:5].tolist()} "
                        f"hold {values[bad[:5]].tolist()}"
                    )
        object.__setattr__(self, "table", table.reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.table)

    @property
    def stimulus_ids(self) -> np.ndarray:
        """Stimulus identifiers, shape (n_items,) (named as :attr:`Features.stimulus_ids
        <brainalign.encoders.features.Features.stimulus_ids>`)."""
        return self.table["stimulus_id"].to_numpy()

    @property
    def text(self) -> list[str]:
        """The text of each item, in order (raises if the stimuli are not text)."""
        if "text" not in self.table.columns:
            raise ValueError("these stimuli have no 'text' column")
        return self.table["text"].astype(str).tolist()

    @property
    def onsets(self) -> np.ndarray:
        """Onsets in seconds, shape (n_items,) (raises if the stimuli are not timed)."""
        if "onset" not in self.table.columns:
            raise ValueError("these stimuli are not timed: no 'onset' column")
        return self.table["onset"].to_numpy(dtype=float)

    def groups(self) -> list[str]:
        """Distinct groups (stories, passages, runs) in order of first appearance."""
        return list(dict.fromkeys(self.table["group"].tolist()))

    def select(self, group: str) -> Stimuli:
        """Stimuli of one group, as a new ``Stimuli``."""
        mask = self.table["group"] == group
        if not mask.any():
            raise KeyError(f"no stimuli in group {group!r}; groups: {self.groups()}")
        return Stimuli(self.table[mask].copy())
